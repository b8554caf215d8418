//! One module per verb, each a short script over the domain modules.

mod current;
mod env;
mod gc;
mod generations;
mod list;
mod rollback;
mod switch;

use crate::catalog::Catalogue;
use crate::cli::Action;
use crate::db::Db;
use crate::fetch::Fetcher;
use crate::lock::{self, Lock, Mode};
use crate::platform::Platform;
use crate::settings::Settings;

/// Failures of a command's own logic that the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("profile `{profile}` has no generation {number}")]
    NoGeneration { profile: String, number: u64 },
    #[error("profile `{0}` has no generation yet; run `pyswap switch VERSION` first")]
    NoCurrent(String),
    #[error("profile `{profile}` has no generation older than the current one ({current})")]
    NothingOlder { profile: String, current: u64 },
    #[error("store entry {0} of this generation is missing; reinstall it with `pyswap switch`")]
    EntryMissing(String),
}

pub fn run(settings: &Settings, action: Action) -> anyhow::Result<()> {
    match action {
        Action::Switch { request, pre } => switch::run(settings, &request, pre),
        Action::Generations => generations::run(settings),
        Action::Rollback { to } => rollback::run(settings, to),
        Action::Gc {
            keep,
            older_than,
            dry_run,
            wait,
        } => gc::run(settings, keep, older_than, dry_run, wait),
        Action::ListAvailable { pre } => list::available(settings, pre),
        Action::ListInstalled => list::installed(settings),
        Action::Current => current::run(settings),
        Action::Env { fish } => env::run(settings, fish),
    }
}

/// Opens the home for a command that writes: directories created, database migrated.
fn open_rw(s: &Settings) -> anyhow::Result<Db> {
    s.home.create()?;
    Ok(Db::open(&s.home.db())?)
}

/// Opens the database for a read-only command; `None` when nothing was ever installed.
fn open_ro(s: &Settings) -> anyhow::Result<Option<Db>> {
    if !s.home.exists() {
        return Ok(None);
    }
    Ok(Some(Db::open(&s.home.db())?))
}

/// The shared side of the gc lock, held by every command that adds or activates.
fn gc_shared(s: &Settings) -> anyhow::Result<Lock> {
    let lock = lock::acquire(
        &s.home.locks().join("gc.lock"),
        Mode::Shared,
        s.lock_wait,
        &|| s.out.say("waiting for a running `pyswap gc` to finish…"),
    )?;
    Ok(lock)
}

/// The profile's own lock, held while its current generation changes.
fn profile_lock(s: &Settings) -> anyhow::Result<Lock> {
    let path = s.home.locks().join(format!("profile-{}.lock", s.profile));
    let lock = lock::acquire(&path, Mode::Exclusive, s.lock_wait, &|| {
        s.out.say(&format!(
            "waiting for another pyswap command changing profile `{}`…",
            s.profile
        ));
    })?;
    Ok(lock)
}

/// Loads the configured catalogue; `platform` lets the embedded one skip other platforms.
fn load_catalogue(
    s: &Settings,
    fetcher: &Fetcher,
    platform: Option<&Platform>,
) -> anyhow::Result<Catalogue> {
    let cat = Catalogue::load(&s.catalogue, fetcher, platform)?;
    for w in &cat.warnings {
        s.out.warn(w);
    }
    Ok(cat)
}
