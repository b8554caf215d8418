//! One module per verb: its arguments (a `clap::Args` struct), what running it changes, and the
//! [`Outcome`] it returns for `main` to print. The command line (`cli`) names these structs;
//! nothing here knows the command line beyond them.

pub(crate) mod catalogue;
pub(crate) mod check;
pub(crate) mod config;
pub(crate) mod current;
pub(crate) mod env;
pub(crate) mod find;
pub(crate) mod gc;
pub(crate) mod generations;
pub(crate) mod install;
pub(crate) mod list;
pub(crate) mod metrics;
pub(crate) mod minors;
pub(crate) mod mirror;
pub(crate) mod pin;
pub(crate) mod ps;
pub(crate) mod rollback;
pub(crate) mod store;
pub(crate) mod switch;
pub(crate) mod uninstall;
pub(crate) mod upgrade;
pub(crate) mod venv;
pub(crate) mod verify;

mod args;
mod error;
mod report;

pub(crate) use args::{Force, Pre, Signature};
pub(crate) use error::CommandError;

use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;

/// A command: what running it changes, and running it.
pub(crate) trait Verb {
    /// What running it changes, for the metrics. Every verb says (no default), so a new one
    /// that changes state cannot skip the metrics by being forgotten.
    fn changes(&self) -> Changes;

    /// The groups of setting flags it reads: its help lists those flags. No default either, so
    /// a command shows what it reads and nothing else.
    fn reads() -> &'static [Group]
    where
        Self: Sized;

    /// The groups it takes on its command line: what it reads, and flags of a lenient group
    /// (`Group::lenient`) that every command takes.
    fn accepts() -> &'static [Group]
    where
        Self: Sized,
    {
        Self::reads()
    }

    /// Runs it under the settings `s`, saying what it does on `out`.
    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome>;
}

/// What a command changes, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// `switch`, `upgrade` or `rollback` (not a dry run): recorded as an attempt.
    pub(crate) attempt: Option<&'static str>,
    /// Writes the metrics textfile afterwards.
    pub(crate) state: bool,
}

impl Changes {
    /// Reads only (or writes nothing the metrics show).
    pub(crate) const NOTHING: Self = Self {
        attempt: None,
        state: false,
    };

    /// Changes what the metrics show when `yes`.
    pub(crate) fn state(yes: bool) -> Self {
        Self {
            attempt: None,
            state: yes,
        }
    }

    /// An attempt to change the profile (`switch`, `upgrade`, `rollback`), unless a dry run.
    pub(crate) fn attempt(command: &'static str, dry_run: bool) -> Self {
        Self {
            attempt: (!dry_run).then_some(command),
            state: !dry_run,
        }
    }
}

/// Runs `verb`, then records what it changed for the metrics: the attempt (for
/// `pyswap_last_switch_*`) and the textfile. A metrics failure never fails the command; it is
/// an alert and the document's `metrics_error`.
pub(crate) fn run(s: &Settings, out: Output, verb: &dyn Verb) -> anyhow::Result<Outcome> {
    let changes = verb.changes();
    // A command that reads a home this user may not enter says so in one line, before any of
    // its reads fails with its own words (a profile link, SQLite).
    if !changes.state {
        s.home.readable()?;
    }
    let result = verb.run(s, out);
    crate::ground::crash::timing("command:finished");
    if let Some(command) = changes.attempt {
        let refused = result
            .as_ref()
            .err()
            .is_some_and(crate::ground::exit::refuses_request);
        crate::interface::metrics::record_attempt(s, command, result.is_ok(), refused);
        crate::ground::crash::timing("command:change-recorded");
    }
    if !changes.state {
        return result;
    }
    let Err(message) = crate::interface::metrics::refresh_textfile(s) else {
        return result;
    };
    out.alert(&message);
    let note = serde_json::Value::String(message);
    match result {
        Ok(mut outcome) => {
            outcome.annotate("metrics_error", note);
            Ok(outcome)
        }
        Err(mut err) => {
            if let Some(doc) = err.downcast_mut::<crate::interface::output::Documented>()
                && let serde_json::Value::Object(map) = &mut doc.document
            {
                map.insert("metrics_error".into(), note);
            }
            Err(err)
        }
    }
}

/// A fetcher under the settings `s`, saying each retry on `out`.
pub(crate) fn fetcher(s: &Settings, out: Output) -> crate::network::fetch::Fetcher {
    s.fetcher().on_retry(move |note| out.warn(note))
}

/// The shared side of the gc lock (see [`Settings::gc_shared_lock`]), saying on `out` when it
/// waits for a running gc.
pub(crate) fn gc_shared_lock(
    s: &Settings,
    out: Output,
) -> Result<crate::storage::lock::GcLock, crate::storage::lock::LockError> {
    s.gc_shared_lock(&|| out.say("waiting for a running `pyswap gc` to finish…"))
}
