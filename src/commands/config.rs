//! `pyswap config show` (every effective setting and where it came from) and
//! `pyswap config check FILE` (is this manifest valid?).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Changes, Verb};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::interface::settings::manifest;

#[derive(Serialize)]
struct Shown {
    /// The manifest that was read, if any.
    file: Option<String>,
    settings: Vec<Setting>,
    /// Whether catalogues must be signed by a `[trust] keys` key to be used.
    catalogues_verified: bool,
}

#[derive(Serialize)]
struct Setting {
    key: String,
    value: serde_json::Value,
    /// `flag`, `env`, `file` or `default`.
    source: &'static str,
    /// The flag, the variable, or `path:line`; `null` for a default.
    origin: Option<String>,
}

#[derive(Serialize)]
struct Checked {
    file: String,
    ok: bool,
    settings: usize,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print every effective setting and where it came from (flag, env, `file:line` or default)
    Show,
    /// Check a manifest: exit 0 if it is valid, else 1 naming the key and line
    Check {
        /// The manifest to check
        file: PathBuf,
    },
}

impl Verb for ConfigCommand {
    fn reads() -> &'static [Group] {
        Group::INSTALLING
    }

    fn changes(&self) -> Changes {
        match self {
            Self::Show | Self::Check { .. } => Changes::NOTHING,
        }
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        match self {
            Self::Show => show(s, out),
            Self::Check { file } => check(out, &std::path::absolute(file)?),
        }
    }
}

fn show(s: &Settings, out: Output) -> anyhow::Result<Outcome> {
    // Sources line up in one column, set by the short lines: a long value (the validation
    // checks) does not push every other line out to its width.
    const MAX_WIDTH: usize = 48;
    let doc = Shown {
        file: s.config_path.as_ref().map(|p| p.display().to_string()),
        settings: s
            .shown
            .iter()
            .map(|v| Setting {
                key: v.key.clone(),
                value: v.value.clone(),
                source: v.source.kind(),
                origin: v.source.origin(),
            })
            .collect(),
        catalogues_verified: !s.trust.keys.is_empty(),
    };
    if out.json {
        return Outcome::of(&doc);
    }
    let mut t = match &doc.file {
        Some(f) => format!("# manifest: {f}\n"),
        None => "# no manifest (looked for $PYSWAP_HOME/config.toml and /etc/pyswap/config.toml)\n"
            .to_owned(),
    };
    let width = doc
        .settings
        .iter()
        .map(|v| v.key.len() + v.value.to_string().len() + 3)
        .filter(|&w| w <= MAX_WIDTH)
        .max()
        .unwrap_or(0);
    if s.trust.keys.is_empty() {
        t.push_str("# catalogues: not verified (no [trust] keys; the embedded catalogue is trusted as part of the binary)\n");
    } else {
        let ids: Vec<String> = s
            .trust
            .keys
            .iter()
            .map(crate::catalogue::trust::Key::id)
            .collect();
        let lines = if s.trust.names.is_empty() {
            String::new()
        } else {
            format!(", for catalogue line {}", s.trust.names.join(" or "))
        };
        let _ = writeln!(
            t,
            "# catalogues: verified, signed by one of {} ({}){lines}",
            crate::ground::text::count(s.trust.keys.len() as u64, "trusted key", "trusted keys"),
            ids.join(", ")
        );
    }
    for v in &doc.settings {
        let line = format!("{} = {}", v.key, v.value);
        let from = match &v.origin {
            Some(o) => format!("{} {o}", v.source),
            None => v.source.to_owned(),
        };
        let _ = writeln!(t, "{line:<width$}  # {from}");
    }
    out.data(&t)?;
    Ok(Outcome::none())
}

fn check(out: Output, file: &Path) -> anyhow::Result<Outcome> {
    // `load` refuses a missing file and a directory, and reads `/dev/null` as an empty manifest.
    let parsed = manifest::check(file)?;
    out.say(&format!(
        "{}: valid ({})",
        file.display(),
        crate::ground::text::count(parsed.count() as u64, "setting", "settings")
    ));
    Outcome::of(&Checked {
        file: file.display().to_string(),
        ok: true,
        settings: parsed.count(),
    })
}
