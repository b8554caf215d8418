//! `pyswap pin [REQUEST] [--global]`: write the request into `.python-version` in the working
//! directory (or the home's own with `--global`), as `uv python pin` does; without REQUEST,
//! print the request that applies and the file it comes from.

use serde::Serialize;

use crate::pin::{self, PinError};
use crate::settings::Settings;

#[derive(Serialize)]
struct Pinned {
    request: String,
    file: String,
    global: bool,
    /// `true` when this command wrote the file.
    written: bool,
}

pub fn run(s: &Settings, request: Option<&str>, global: bool) -> anyhow::Result<()> {
    let (request, file, written) = if let Some(r) = request {
        let file = if global {
            s.home.create()?;
            s.home.pin_file()
        } else {
            std::env::current_dir()?.join(pin::FILE)
        };
        let parsed = pin::write(&file, r)?;
        s.out
            .say(&format!("pinned `{}` in {}", parsed.raw(), file.display()));
        (parsed.raw().to_owned(), file, true)
    } else {
        let cwd = std::env::current_dir()?;
        let found = if global {
            pin::global_pin(&s.home.pin_file())?
        } else {
            pin::find(&cwd, &s.home.pin_file())?
        };
        let p = found.ok_or(PinError::Missing(cwd))?;
        s.out
            .data(&format!("{} (from {})\n", p.request, p.file.display()))?;
        (p.request, p.file, false)
    };
    s.out.json(&Pinned {
        global: file == s.home.pin_file(),
        request,
        file: file.display().to_string(),
        written,
    })
}
