//! Flags several commands share, each with what it means for the command.

use crate::domain::window::WindowError;
use crate::interface::output::Output;
use crate::interface::settings::Settings;

/// `--force`: run even outside the configured maintenance windows.
#[derive(Clone, Copy, Debug, clap::Args)]
pub(crate) struct Force {
    /// Run even outside the configured maintenance windows
    #[arg(long)]
    pub(crate) force: bool,
}

impl Force {
    /// The maintenance-window gate of a command that changes a profile.
    pub(crate) fn gate(self, s: &Settings, out: Output) -> Gate {
        Gate(match s.schedule.check(s.now) {
            Ok(_) => None,
            Err(e) if self.force => {
                out.warn(&format!("{e}; going ahead because of --force"));
                None
            }
            Err(e) => Some(e),
        })
    }
}

/// The one gate of `switch`, `upgrade` and `rollback` (their dry runs too): outside the
/// maintenance windows (and without `--force`, which only warns) a command first finds out what
/// it would do, and is refused only if that changes the profile, so that re-running a rollout on
/// a converged host succeeds at any hour.
#[derive(Debug)]
pub(crate) struct Gate(Option<WindowError>);

impl Gate {
    /// Whether the window is closed (the command must find out whether it changes anything).
    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_some()
    }

    /// What the command found it would do. When finding that out failed: the failure itself
    /// when the request is at fault (an unknown version, a policy refusal, no such generation:
    /// exit 1, which no window opening would fix), else the closed window (exit 3; an
    /// unreachable catalogue server, say, may answer by then).
    pub(crate) fn found<T>(&mut self, found: anyhow::Result<T>) -> anyhow::Result<T> {
        found.map_err(|failed| match self.0.take() {
            Some(window)
                if crate::ground::exit::classify(&failed)
                    != crate::ground::exit::ExitStatus::Failure =>
            {
                window.into()
            }
            _ => failed,
        })
    }

    /// Lets the command through: inside a window, or when it `changes` nothing.
    pub(crate) fn pass(self, changes: bool) -> Result<(), WindowError> {
        match self.0 {
            Some(window) if changes => Err(window),
            _ => Ok(()),
        }
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
    ) -> crate::catalogue::trust::Signing<'a> {
        crate::catalogue::trust::Signing {
            key,
            password: std::env::var("PYSWAP_SIGN_PASSWORD").ok(),
            version: self.version,
            name: self.name.clone(),
            expires_in: self.expires_in,
            now: crate::ground::clock::now_unix(),
        }
    }
}
