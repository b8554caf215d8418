//! One module per verb, each a short script over the domain modules.

mod catalogue;
mod check;
mod config;
mod current;
mod env;
mod gc;
mod generations;
mod install;
mod list;
mod minors;
mod mirror;
mod pin;
mod ps;
mod rollback;
mod switch;
mod upgrade;
mod venv;
mod verify;

use crate::catalogue::cache::{CatalogueCache, Freshness, human_age};
use crate::catalogue::{Catalogue, CatalogueError, Location};
use crate::cli::{CatalogueCommand, Command, ConfigCommand, Shell, VenvCommand};
use crate::db::Db;
use crate::fetch::Fetcher;
use crate::lock::{self, Mode};
use crate::platform::Platform;
use crate::settings::Settings;
use crate::version::Request;

/// Failures of a command's own logic that the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("profile `{profile}` has no generation {number}; {}", existing_list(.existing))]
    NoGeneration {
        profile: String,
        number: u64,
        /// The generations it has, oldest first.
        existing: Vec<u64>,
    },
    #[error("profile `{0}` has no generation yet; run `pyswap switch VERSION` first")]
    NoCurrent(String),
    #[error("profile `{profile}` has no generation older than the current one ({current})")]
    NothingOlder { profile: String, current: u64 },
    #[error("{why} (the copy cached {age} ago is still used)")]
    CatalogueUpdate { why: String, age: String },
    #[error("{bin} cannot be put on PATH: {why}")]
    NotOnPath { bin: String, why: &'static str },
}

crate::exit::register!(CommandError);
impl crate::exit::Reason for CommandError {
    fn status(&self) -> crate::exit::ExitStatus {
        crate::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::NotOnPath { .. } => Some(
                "use a home whose path has no `:` and no control characters (`--home DIR`, `PYSWAP_HOME`)"
                    .into(),
            ),
            Self::NoGeneration { .. } => {
                Some("`pyswap generations` lists them with their versions".into())
            }
            _ => None,
        }
    }
}

/// What a command changes, for the metrics.
struct Changes {
    /// `switch`, `upgrade` or `rollback` (not a dry run): recorded as an attempt.
    attempt: Option<&'static str>,
    /// Writes the metrics textfile afterwards.
    state: bool,
}

fn changes(command: &Command) -> Changes {
    let (attempt, state) = match command {
        Command::Switch { dry_run, .. } => ((!dry_run).then_some("switch"), !dry_run),
        Command::Upgrade { dry_run, .. } => ((!dry_run).then_some("upgrade"), !dry_run),
        Command::Rollback { dry_run, .. } => ((!dry_run).then_some("rollback"), !dry_run),
        Command::Install { dry_run, .. } | Command::Gc { dry_run, .. } => (None, !dry_run),
        Command::Verify { repair, .. } => (None, *repair),
        Command::Minors { remove, .. } => (None, remove.is_some()),
        Command::Check { .. }
        | Command::Venv(
            VenvCommand::Create { .. } | VenvCommand::Adopt { .. } | VenvCommand::Remove { .. },
        ) => (None, true),
        _ => (None, false),
    };
    Changes { attempt, state }
}

pub fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    let changes = changes(&command);
    let result = dispatch(settings, command);
    crate::crash::timing("command:finished");
    if let Some(command) = changes.attempt {
        record_change(settings, command, result.is_ok());
        crate::crash::timing("command:change-recorded");
    }
    if changes.state
        && let Some(path) = &settings.metrics_textfile
    {
        let written = open_ro(settings)
            .and_then(|db| crate::metrics::render(settings, db.as_ref()))
            .and_then(|text| Ok(crate::metrics::write_textfile(path, &text)?));
        if let Err(e) = written {
            let message = format!("cannot write the metrics to {}: {e:#}", path.display());
            settings.out.alert(&message);
            settings
                .out
                .annotate("metrics_error", serde_json::Value::String(message));
        }
    }
    result
}

/// Records an attempt to change the profile (for `pyswap_last_switch_*`); only in a home that
/// is pyswap's already, and never failing the command.
fn record_change(s: &Settings, command: &str, ok: bool) {
    if !s.home.is_marked() {
        return;
    }
    let generation = crate::profile::Profiles::new(s.home.profiles())
        .current(&s.profile)
        .ok()
        .flatten();
    let recorded = Db::open(&s.home.db()).and_then(|mut db| {
        db.record_change(&crate::db::ChangeRow {
            profile: s.profile.clone(),
            command: command.to_owned(),
            ok,
            generation,
            created: s.now,
        })
    });
    if let Err(e) = recorded {
        tracing::warn!("cannot record the {command} for the metrics: {e}");
    }
}

fn dispatch(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Metrics => {
            let db = open_ro(settings)?;
            let text = crate::metrics::render(settings, db.as_ref())?;
            settings.out.data(&text)?;
            settings.out.json(&serde_json::json!({ "text": text }))
        }
        Command::Switch {
            request,
            pre,
            force,
            dry_run,
        } => switch::run(settings, request.as_deref(), pre, force, dry_run),
        Command::Upgrade { force, dry_run } => upgrade::run(settings, force, dry_run),
        Command::Generations => generations::run(settings),
        Command::Pin { request, global } => pin::run(settings, request.as_deref(), global),
        Command::Rollback { to, force, dry_run } => rollback::run(settings, to, force, dry_run),
        Command::Gc {
            dry_run,
            wait,
            staged,
            force,
        } => {
            within_window(settings, force)?;
            let wait = std::time::Duration::from_secs(wait);
            gc::run(
                settings,
                settings.gc_keep,
                settings.gc_older_than,
                dry_run,
                wait,
                staged,
            )
        }
        Command::Check { generation } => check::run(settings, generation),
        Command::Verify { repair } => verify::run(settings, repair),
        Command::List {
            request,
            available,
            installed,
            pre,
        } => {
            let side = match (available, installed) {
                (true, _) => list::Side::Available,
                (_, true) => list::Side::Installed,
                _ => list::Side::Both,
            };
            list::run(settings, request.as_deref(), side, pre)
        }
        Command::Current => current::run(settings),
        Command::Ps => ps::run(settings),
        Command::Minors { remove } => minors::run(settings, remove.as_deref()),
        Command::Venv(command) => venv::run(settings, command),
        Command::Env { shell } => env::run(settings, shell == Shell::Fish),
        Command::Install {
            requests,
            pre,
            jobs,
            dry_run,
        } => install::run(settings, &requests, pre, jobs as usize, dry_run),
        Command::Mirror {
            dir,
            requests,
            platforms,
            base_url,
            pre,
        } => {
            let platforms = platforms
                .iter()
                .map(|p| Platform::parse(p))
                .collect::<Result<Vec<_>, _>>()?;
            let dir = std::path::absolute(dir)?;
            mirror::run(
                settings,
                &dir,
                &requests,
                &platforms,
                base_url.as_deref(),
                pre,
            )
        }
        Command::Catalogue(CatalogueCommand::Update) => catalogue::update(settings),
        Command::Config(ConfigCommand::Show) => config::show(settings),
        Command::Config(ConfigCommand::Check { file }) => {
            config::check(settings, &std::path::absolute(file)?)
        }
        Command::Completions { shell } => {
            let script = crate::cli::completions(shell);
            settings.out.data(&script)?;
            settings
                .out
                .json(&serde_json::json!({ "shell": shell.to_string(), "script": script }))
        }
        Command::Man => {
            let page = crate::cli::man()?;
            settings.out.data(&page)?;
            settings.out.json(&serde_json::json!({ "page": page }))
        }
    }
}

/// The refusal of a closed maintenance window, unless `force` (which only warns); `None` inside
/// a window. Commands that turn out to change nothing run anyway.
fn closed_window(s: &Settings, force: bool) -> Option<crate::window::WindowError> {
    match s.schedule.check(s.now) {
        Ok(_) => None,
        Err(e) if force => {
            s.out.warn(&format!("{e}; going ahead because of --force"));
            None
        }
        Err(e) => Some(e),
    }
}

/// Refuses (exit 3) outside the maintenance windows unless `force`, which only warns.
pub(crate) fn within_window(s: &Settings, force: bool) -> anyhow::Result<()> {
    closed_window(s, force).map_or(Ok(()), |e| Err(e.into()))
}

/// The profile's generation `n`, or the error saying it does not exist.
fn generation(s: &Settings, db: &Db, n: u64) -> anyhow::Result<crate::db::GenerationRow> {
    if let Some(g) = db.generation(&s.profile, n)? {
        return Ok(g);
    }
    let existing = db
        .generations(&s.profile)?
        .iter()
        .map(|g| g.number)
        .collect();
    Err(CommandError::NoGeneration {
        profile: s.profile.clone(),
        number: n,
        existing,
    }
    .into())
}

/// `it has 1-3, 5 and 9` (runs of consecutive numbers collapsed), or `it has none`.
fn existing_list(numbers: &[u64]) -> String {
    let mut runs: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j] + 1 {
            j += 1;
        }
        if j > i + 1 {
            runs.push(format!("{}-{}", numbers[i], numbers[j]));
        } else {
            runs.extend(numbers[i..=j].iter().map(ToString::to_string));
        }
        i = j + 1;
    }
    match runs.split_last() {
        None => "it has none".into(),
        Some((last, [])) => format!("it has {last}"),
        Some((last, rest)) => format!("it has {} and {last}", rest.join(", ")),
    }
}

/// Opens the home for a command that writes: directories created, database migrated.
fn open_rw(s: &Settings) -> anyhow::Result<Db> {
    s.home.create()?;
    let new = !s.home.db().exists();
    let db = open_db(s)?;
    if new {
        // The database is the owner's alone (SQLite gives -wal and -shm the same mode). An
        // operator may open it to a group later; pyswap never widens or narrows it again.
        use std::os::unix::fs::PermissionsExt;
        for name in ["pyswap.db", "pyswap.db-wal", "pyswap.db-shm"] {
            let _ = std::fs::set_permissions(
                s.home.root().join(name),
                std::fs::Permissions::from_mode(0o600),
            );
        }
    }
    Ok(db)
}

/// The database, or, when it cannot be opened because the home is read-only or full, that.
fn open_db(s: &Settings) -> anyhow::Result<Db> {
    Db::open(&s.home.db()).map_err(|e| match s.home.unusable() {
        Some(why) => anyhow::Error::new(why),
        None => e.into(),
    })
}

/// Opens the database for a read-only command; `None` when nothing was ever installed. Reads
/// only, so a user who may read the home but not write it can use it; a database of an older
/// schema is upgraded first when this user may write it.
fn open_ro(s: &Settings) -> anyhow::Result<Option<Db>> {
    if !s.home.exists() {
        return Ok(None);
    }
    match Db::open_read_only(&s.home.db()) {
        Err(crate::db::DbError::TooOld { .. }) if s.home.writable() => open_db(s).map(Some),
        r => Ok(Some(r?)),
    }
}

/// The shared side of the gc lock, held by every command that adds or activates.
fn gc_shared(s: &Settings) -> anyhow::Result<lock::GcLock> {
    Ok(lock::gc(
        &s.home.locks(),
        Mode::Shared,
        s.lock_wait,
        &|| {
            s.out.say("waiting for a running `pyswap gc` to finish…");
        },
    )?)
}

/// Loads the configured catalogue; `platform` lets the embedded one skip other platforms. A
/// remote one goes through the catalogue cache (see `catalogue::cache`), which a dry run
/// (`dry_run`) reads but does not write.
fn load_catalogue(
    s: &Settings,
    fetcher: &Fetcher,
    platform: Option<&Platform>,
    dry_run: bool,
) -> anyhow::Result<Catalogue> {
    let cat = match &s.catalogue {
        // The cache lives in the home: a home that is not pyswap's yet (a dry run on a fresh
        // host, a read-only command) is not written into; the catalogue is fetched directly.
        Location::Url(url) if s.home.is_marked() => {
            let cache = CatalogueCache::new(s.home.catalogues());
            let cache = if dry_run { cache.read_only() } else { cache };
            let (cat, freshness) = cache.load(url, fetcher, s.catalogue_ttl, false)?;
            if let Freshness::Stale { age, why } = freshness {
                let note = format!(
                    "using the copy of catalogue {url} cached {} ago ({why})",
                    human_age(age)
                );
                // Offline with a copy the TTL still covers is the normal case: a note, not a
                // warning.
                if s.net.offline && age < s.catalogue_ttl {
                    s.out.say(&note);
                } else {
                    s.out.warn(&note);
                }
            }
            cat
        }
        other => Catalogue::load(other, fetcher, platform)?,
    };
    s.out.warn_all(&cat.warnings);
    Ok(cat)
}

/// The configured catalogue, or, when a remote one cannot be fetched and the request is
/// satisfied by a runtime already in the store, the store's own runtimes (with a warning).
fn catalogue_for(
    s: &Settings,
    db: Option<&Db>,
    fetcher: &Fetcher,
    request: &Request,
    platform: &Platform,
    pre: bool,
    dry_run: bool,
) -> anyhow::Result<Catalogue> {
    // A full key may name another platform: load everything so the error can say so.
    let narrow = request.key().is_none().then_some(platform);
    match load_catalogue(s, fetcher, narrow, dry_run) {
        Err(err)
            if matches!(
                err.downcast_ref::<CatalogueError>(),
                Some(CatalogueError::Fetch(_) | CatalogueError::NotCached { .. })
            ) =>
        {
            let Some(db) = db else { return Err(err) };
            let installed = installed_catalogue(s, db)?;
            if crate::activation::resolve(s, &installed, request, platform, pre).is_err() {
                return Err(err);
            }
            s.out.warn(&format!(
                "{err:#}; resolving `{request}` among the runtimes already installed"
            ));
            Ok(installed)
        }
        other => other,
    }
}

/// The runtimes in the store, as a catalogue (for resolving while the real one is unreachable).
fn installed_catalogue(s: &Settings, db: &Db) -> anyhow::Result<Catalogue> {
    Ok(Catalogue {
        source: Location::Path(s.home.db()),
        entries: db
            .entries()?
            .iter()
            .filter_map(crate::install::entry_of)
            .collect(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn existing_generations_are_listed_briefly() {
        let l = |n: &[u64]| super::existing_list(n);
        assert_eq!(l(&[]), "it has none");
        assert_eq!(l(&[4]), "it has 4");
        assert_eq!(l(&[1, 2, 3, 5, 7, 8]), "it has 1-3, 5, 7 and 8");
    }
}
