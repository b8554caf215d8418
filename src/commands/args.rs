//! Flags several commands share, each with what it means for the command.

use crate::settings::Settings;
use crate::window::WindowError;

/// `--force`: run even outside the configured maintenance windows.
#[derive(Clone, Copy, Debug, clap::Args)]
pub(crate) struct Force {
    /// Run even outside the configured maintenance windows
    #[arg(long)]
    pub(crate) force: bool,
}

impl Force {
    /// The refusal of a closed maintenance window, unless `--force` (which only warns); `None`
    /// inside a window. Commands that turn out to change nothing run anyway.
    pub(crate) fn closed_window(self, s: &Settings) -> Option<WindowError> {
        match s.schedule.check(s.now) {
            Ok(_) => None,
            Err(e) if self.force => {
                s.out.warn(&format!("{e}; going ahead because of --force"));
                None
            }
            Err(e) => Some(e),
        }
    }
}

/// What a command says when finding out what it would do `failed`, with the window `closed`
/// (if it is): the failure itself when the request is at fault (an unknown version, a policy
/// refusal, no such generation: exit 1, which no window opening would fix), else the window
/// (exit 3; an unreachable catalogue server, say, may answer by then).
pub(crate) fn refusal(closed: Option<WindowError>, failed: anyhow::Error) -> anyhow::Error {
    match closed {
        Some(window) if crate::exit::classify(&failed) != crate::exit::ExitStatus::Failure => {
            window.into()
        }
        _ => failed,
    }
}

/// `--pre`: prereleases may resolve.
#[derive(Clone, Copy, Debug, clap::Args)]
pub(crate) struct Pre {
    /// Allow prereleases (alpha, beta, rc)
    #[arg(long)]
    pub(crate) pre: bool,
}

/// A generation number as typed: 1 or more, and one SQLite stores (at most `i64::MAX`).
pub(super) fn generation_number() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=i64::MAX as u64)
}

/// `--sign-key FILE` and what the signature says: signing a catalogue (`mirror`, `catalogue
/// sign`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Signature {
    /// The version to sign [default: one more than the signature already beside the catalogue,
    /// else 1]
    #[arg(long, value_name = "N")]
    pub(crate) version: Option<u64>,
    /// How long the signature is accepted, e.g. 30d, 12h
    #[arg(long, value_name = "AGE", default_value = "30d", value_parser = humantime::parse_duration)]
    pub(crate) expires_in: std::time::Duration,
    /// The catalogue line (`staging`, `production`) [default: the name of the signature already
    /// there, else none]
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
}

impl Signature {
    /// How to sign with `key` (its password, for an encrypted key, from `PYSWAP_SIGN_PASSWORD`).
    pub(crate) fn with<'a>(
        &self,
        key: &'a std::path::Path,
    ) -> crate::network::catalogue::trust::Signing<'a> {
        crate::network::catalogue::trust::Signing {
            key,
            password: std::env::var("PYSWAP_SIGN_PASSWORD").ok(),
            version: self.version,
            name: self.name.clone(),
            expires_in: self.expires_in,
            now: crate::clock::now_unix(),
        }
    }
}
