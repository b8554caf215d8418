//! `pyswap pin [REQUEST] [--global]`: write the request into `.python-version` in the working
//! directory (or the home's own with `--global`), as `uv python pin` does; without REQUEST,
//! print the request that applies and the file it comes from.

use serde::Serialize;

use super::report::Teller;
use super::{Changes, Verb};
use crate::activation::Ctx;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::pin::{self, PinError};

#[derive(Serialize)]
struct Pinned {
    request: String,
    file: String,
    global: bool,
    /// `true` when this command wrote the file.
    written: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap pin 3.12                     write .python-version here
  pyswap pin --global 3.11            the home's own pin
  pyswap pin                          show the pin that applies, and its file")]
pub(crate) struct Pin {
    /// A request, as for `switch` [default: print the pin that applies and its file]
    request: Option<String>,
    /// The home's own pin (`$PYSWAP_HOME/.python-version`), used where no directory has one
    #[arg(long)]
    global: bool,
}

impl Verb for Pin {
    fn reads() -> &'static [Group] {
        &[Group::Catalogue]
    }

    fn changes(&self) -> Changes {
        // A pin is a file in a project (or the home's); the metrics do not show it.
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.request.as_deref(), self.global)
    }
}

fn run(s: &Settings, out: Output, request: Option<&str>, global: bool) -> anyhow::Result<Outcome> {
    let (request, file, written) = if let Some(r) = request {
        let file = if global {
            s.home.create()?;
            s.home.pin_file()
        } else {
            std::env::current_dir()?.join(pin::FILE)
        };
        let parsed = pin::write(&file, r)?;
        out.say(&format!("pinned `{}` in {}", parsed.raw(), file.display()));
        if fits_nothing(s, out, &parsed) {
            out.warn(&format!(
                "nothing installed or in the catalogue fits `{}` on this platform and policy: `pyswap switch` under this pin fails until something does; `pyswap list --available` shows what there is",
                parsed.raw()
            ));
        }
        (parsed.raw().to_owned(), file, true)
    } else {
        let cwd = std::env::current_dir()?;
        let found = if global {
            pin::global_pin(&s.home.pin_file())?
        } else {
            pin::find(&cwd, &s.home.pin_file())?
        };
        let p = found.ok_or(PinError::Missing(cwd))?;
        out.data(&format!(
            "{} (from {})\n",
            p.request,
            crate::ground::text::printable(&p.file.display().to_string())
        ))?;
        (p.request, p.file, false)
    };
    Outcome::of(&Pinned {
        global: file == s.home.pin_file(),
        request,
        file: file.display().to_string(),
        written,
    })
}

/// Whether nothing could satisfy `request`: no runtime in the store fits it, and the catalogue
/// (read without the network: the embedded one, or the cached copy of a remote one) resolves
/// nothing for it. A catalogue that cannot be read offline decides nothing: no warning then.
fn fits_nothing(s: &Settings, out: Output, request: &crate::ground::version::Request) -> bool {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let installed = crate::storage::db::Db::open_home_read(&s.home)
        .ok()
        .flatten()
        .and_then(|db| db.entries().ok())
        .unwrap_or_default();
    if installed.iter().any(|e| e.fits(request)) {
        return false;
    }
    let Ok(platform) = s.platform() else {
        return false;
    };
    let mut net = s.net.clone();
    net.offline = true;
    let fetcher = crate::network::fetch::Fetcher::new(net);
    match crate::activation::load_catalogue(cx, &fetcher, Some(&platform), true) {
        Ok(catalogue) => {
            crate::activation::resolve(s, &catalogue, request, &platform, false).is_err()
        }
        Err(_) => false,
    }
}
