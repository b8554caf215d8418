//! What an activation tells as it goes. A workflow prints nothing: it hands each happening to
//! the [`Tell`] its command gave it, and the command words it (`commands::report::Teller`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Following, MinorChange};
use crate::domain::install::Installed;
use crate::domain::venv::Update;
use crate::interface::settings::Settings;
use crate::network::fetch::Progress;

/// One thing an activation tells while it works.
pub(crate) enum Event<'a> {
    /// The cached copy of catalogue `url` was used because the server could not be asked;
    /// `expected` when that is the normal case (offline, with a copy the TTL still covers).
    CatalogueCopy {
        url: &'a str,
        age: Duration,
        why: &'a str,
        expected: bool,
    },
    /// Entries the catalogue had and that were skipped, a line each.
    SkippedEntries(&'a [String]),
    /// The accepted catalogue signature could not be recorded in the database.
    SignatureNotRecorded(String),
    /// The catalogue cannot be had (`why`): `request` is resolved among the installed runtimes.
    ResolvingInstalled { why: String, request: String },
    /// What the install says as it goes (where the archive is read from).
    InstallNote(&'a str),
    /// Runtime `key` was installed now, in `took`.
    Installed {
        key: &'a str,
        installed: &'a Installed,
        took: Duration,
    },
    /// Another command holds the profile's lock: waiting for it.
    WaitingForProfile { profile: &'a str },
    /// Something that was not a profile link stood at `link`: moved to `aside`.
    MovedAside { link: &'a Path, aside: &'a Path },
    /// A link or directory of the profile (`what`) was missing or altered, and was put back.
    PutBack { profile: &'a str, what: &'a str },
    /// The profile changed, but its venvs could not be moved (`why`).
    VenvsNotMoved { profile: &'a str, why: String },
    /// A dry run could not read the venvs a switch would move (`why`).
    VenvsUnreadable { why: String },
    /// The generation asked for is current already.
    AlreadyAt { profile: &'a str, generation: u64 },
    /// The profile went back from generation `from` to `to`, whose runtime's label is `label`.
    Returned {
        profile: &'a str,
        from: Option<u64>,
        to: u64,
        label: String,
    },
    /// The profile moved to another minor version (or variant), or would (`ahead`).
    MinorChanged {
        profile: &'a str,
        change: &'a MinorChange,
        ahead: bool,
    },
    /// `processes` running processes still use generation `generation`'s runtime.
    StillRunning { processes: u64, generation: u64 },
    /// Processes of venvs made from a profile path, and what their next import meets.
    Following(&'a [Following]),
    /// What happened to the registered venvs, or would (`ahead`).
    Venvs { updates: &'a [Update], ahead: bool },
}

/// Who an activation runs for: the settings it reads, and where it tells what happens.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) s: &'a Settings,
    pub(crate) tell: &'a dyn Tell,
}

/// Where an activation's events go: the command that runs it.
pub(crate) trait Tell {
    fn tell(&self, event: Event<'_>);
    /// A progress display for installing runtime `key`.
    fn progress(&self, key: &str) -> Arc<dyn Progress>;
}
