//! `pyswap venv create|adopt|list|remove`: venvs whose `pyvenv.cfg` and links name a store
//! entry, so that a running process keeps its build, registered so that they move with their
//! profile's minor version (see `venv`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::report::Teller;
use super::{Changes, Verb};
use crate::activation::Ctx;
use crate::domain::venv::{self, Points, State, VenvError};
use crate::ground::spawn::Start;
use crate::ground::text::{Column, Table};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::db::{Db, VenvRow};
use crate::storage::profile::Profiles;

/// `pyswap venv [COMMAND]`: alone, it lists the registered venvs (as `pyswap minors` lists).
#[derive(Debug, clap::Args)]
pub(crate) struct Venv {
    #[command(subcommand)]
    command: Option<VenvCommand>,
}

impl Verb for Venv {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        self.command
            .as_ref()
            .map_or(Changes::NOTHING, Verb::changes)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        self.command
            .as_ref()
            .map_or_else(|| list(s, out), |c| c.run(s, out))
    }
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum VenvCommand {
    /// Make a venv on the profile's current runtime (or its newest of --minor) and register it
    Create {
        /// Where to make it
        path: PathBuf,
        /// The minor version (3.12; 3.13t free-threaded) [default: the profile's current one]
        #[arg(long, value_name = "MINOR")]
        minor: Option<String>,
        /// Arguments for `python -m venv` (`--prompt X`, `--system-site-packages`, `--without-pip`; not `--copies`)
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Register an existing venv of a runtime of this store (or made from a profile or minor path), pointing it at a runtime of its own minor version
    Adopt {
        /// The venv's directory
        path: PathBuf,
    },
    /// List the registered venvs, their runtime and state
    List,
    /// Forget a registered venv (and delete its directory with --delete)
    Remove {
        /// The venv's directory
        path: PathBuf,
        /// Also delete the directory (only if it is still the venv registered, and no running
        /// process runs from it)
        #[arg(long)]
        delete: bool,
        /// With --delete: delete it even while processes run from it (they fail at their next
        /// import)
        #[arg(long, requires = "delete")]
        force: bool,
    },
}

impl Verb for VenvCommand {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        match self {
            Self::Create { .. } | Self::Adopt { .. } | Self::Remove { .. } => Changes::state(true),
            Self::List => Changes::NOTHING,
        }
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        match self {
            Self::Create { path, minor, args } => create(s, out, path, minor.as_deref(), args),
            Self::Adopt { path } => adopt(s, out, path),
            Self::List => list(s, out),
            Self::Remove {
                path,
                delete,
                force,
            } => remove(s, out, path, *delete, *force),
        }
    }
}

/// The locks and the finished journal of a command that writes venv rows.
fn open(
    s: &Settings,
    out: Output,
) -> anyhow::Result<(Db, crate::storage::lock::GcLock, crate::storage::lock::Lock)> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let mut db = crate::storage::db::Db::open_existing_home(&s.home)?;
    let gc = super::gc_shared_lock(s, out)?;
    let profile = crate::activation::profile_lock(cx)?;
    let finished = venv::recover(&s.venvs(), &mut db)?;
    tell.venvs(&finished, false);
    Ok((db, gc, profile))
}

#[derive(Serialize)]
struct Registered<'a> {
    path: &'a str,
    profile: &'a str,
    minor: &'a str,
    entry: &'a str,
    version: &'a str,
    store_path: String,
}

fn registered(
    s: &Settings,
    out: Output,
    row: &VenvRow,
    version: &str,
    verb: &str,
) -> anyhow::Result<Outcome> {
    out.say(&format!(
        "{verb} venv {} on CPython {version} ({}): it keeps this build while it runs and moves with profile `{}`'s {} runtime",
        row.path, row.entry, row.profile, row.minor
    ));
    document(s, row, version)
}

/// The JSON document of a venv `create` or `adopt` registered.
fn document(s: &Settings, row: &VenvRow, version: &str) -> anyhow::Result<Outcome> {
    Outcome::of(&Registered {
        path: &row.path,
        profile: &row.profile,
        minor: &row.minor,
        entry: &row.entry,
        version,
        store_path: s.home.store().join(&row.entry).display().to_string(),
    })
}

/// The generation of `profile` a new venv of `minor` (or of the current minor) runs.
fn runtime_for(
    s: &Settings,
    db: &Db,
    minor: Option<&str>,
) -> anyhow::Result<crate::storage::db::GenerationRow> {
    let profiles = Profiles::new(s.home.profiles());
    let current = profiles
        .current(&s.profile)?
        .map(|n| db.generation(&s.profile, n))
        .transpose()?
        .flatten();
    let Some(minor) = minor else {
        return current.ok_or_else(|| super::CommandError::NoCurrent(s.profile.clone()).into());
    };
    if let Some(g) = current.filter(|g| g.minor().as_deref() == Some(minor)) {
        return Ok(g);
    }
    // The minor paths as `profiles/` holds them (names checked by their grammar there).
    let n = profiles
        .minors()?
        .into_iter()
        .find_map(|(p, m, n)| (p == s.profile && m == minor).then_some(n).flatten())
        .and_then(|n| db.generation(&s.profile, n).ok().flatten());
    n.ok_or_else(|| {
        VenvError::NoRuntime {
            profile: s.profile.clone(),
            minor: minor.to_owned(),
        }
        .into()
    })
}

fn create(
    s: &Settings,
    out: Output,
    path: &Path,
    minor: Option<&str>,
    args: &[String],
) -> anyhow::Result<Outcome> {
    if args.iter().any(|a| a == "--copies") {
        return Err(VenvError::Copies.into());
    }
    let (mut db, _gc, _profile) = open(s, out)?;
    let path = std::path::absolute(path)?;
    // Provisioning runs `create` again and again: a registered venv is left as it is (a held
    // one moves only through a check that passes).
    if let Some(done) = already_registered(s, out, &db, &path)? {
        return Ok(done);
    }
    venv::check_target(&path)?;
    let g = runtime_for(s, &db, minor)?;
    let python = s.home.store().join(&g.entry_name).join("bin/python3");
    // Isolated (`-I`): the caller's working directory, which may be another user's, is not on
    // `sys.path`. `-B`: the interpreter that makes the venv writes no bytecode into its runtime
    // (the venv's own pip, installed by ensurepip, compiles into the venv as usual). As the
    // caller: the venv is theirs.
    let ran = Start::python(&python, &["-B", "-m", "venv"])
        .args(args)
        .arg(&path)
        .run(s.venv.timeout.max(Duration::from_secs(300)), 64 << 10);
    if ran.exit_code != Some(0) {
        let why = if ran.timed_out {
            "timed out".to_owned()
        } else if ran.exit_code.is_none() && ran.signal.is_none() {
            ran.stderr
        } else {
            ran.stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("failed")
                .to_owned()
        };
        return Err(VenvError::Create { path, why }.into());
    }
    let real = std::fs::canonicalize(&path)?;
    let opened = venv::open(&real)?;
    if venv::classify(&s.home, opened.home()) != Points::Entry(g.entry_name.clone()) {
        return Err(VenvError::Foreign {
            path: real,
            home: opened.home().to_owned(),
        }
        .into());
    }
    let row = row_of(
        s,
        &opened,
        &real,
        &s.profile,
        &g.entry_name,
        &g.minor().unwrap_or_default(),
    );
    db.put_venv(&row)?;
    registered(s, out, &row, &g.version.to_string(), "created")
}

/// `create` on a venv that is already registered (the same directory): nothing changes, and it
/// says what the venv runs.
fn already_registered(
    s: &Settings,
    out: Output,
    db: &Db,
    path: &Path,
) -> anyhow::Result<Option<Outcome>> {
    let Ok(real) = std::fs::canonicalize(path) else {
        return Ok(None);
    };
    let Some(row) = db.venv(&real.display().to_string())? else {
        return Ok(None);
    };
    let Ok(opened) = venv::open(&real) else {
        return Ok(None);
    };
    if !opened.is(&row) {
        return Ok(None);
    }
    let version = db
        .entry_by_name(&row.entry)?
        .map_or_else(|| "?".to_owned(), |e| e.version.to_string());
    out.say(&format!(
        "venv {} is already registered, on CPython {version} ({}): left as it is",
        row.path, row.entry
    ));
    if let Some(held) = &row.held {
        out.warn(&format!("venv {}: {held}", row.path));
    }
    document(s, &row, &version).map(Some)
}

fn row_of(
    s: &Settings,
    opened: &venv::Opened,
    real: &Path,
    profile: &str,
    entry: &str,
    minor: &str,
) -> VenvRow {
    VenvRow {
        path: real.display().to_string(),
        profile: profile.to_owned(),
        minor: minor.to_owned(),
        entry: entry.to_owned(),
        dev: opened.dev,
        ino: opened.ino,
        uid: opened.uid,
        created: s.now,
        held: None,
    }
}

fn adopt(s: &Settings, out: Output, path: &Path) -> anyhow::Result<Outcome> {
    let (mut db, _gc, _profile) = open(s, out)?;
    let real = std::fs::canonicalize(path).map_err(|_| VenvError::Missing {
        path: path.to_owned(),
    })?;
    let opened = venv::open(&real)?;
    let foreign = || VenvError::Foreign {
        path: real.clone(),
        home: opened.home().to_owned(),
    };
    // The profile a venv made from a profile path belongs to is that path's; one made on an
    // entry directly joins the selected profile.
    let (entry, profile) = match venv::classify(&s.home, opened.home()) {
        Points::Entry(e) | Points::Generation(e) => (Some(e), s.profile.clone()),
        Points::Follows { link, entry } => (
            entry,
            link.split_once('@')
                .map_or(link.as_str(), |(p, _)| p)
                .to_owned(),
        ),
        Points::Foreign => return Err(foreign().into()),
    };
    let now = entry.map(|e| db.entry_by_name(&e)).transpose()?.flatten();
    let minor_of = |r: &crate::storage::db::EntryRow| r.minor().unwrap_or_default();
    // A venv's packages are built for its minor version: it is adopted onto a runtime of that
    // minor (the path it follows may lead to another one now), never moved across.
    let row = match (opened.minor(), now) {
        (Some(m), Some(r)) if minor_of(&r) == m => r,
        (Some(m), _) => runtime_of_minor(s, &db, &profile, &m, opened.config.get("version"))?
            .ok_or_else(|| VenvError::NoMinorRuntime {
                path: real.clone(),
                minor: m.clone(),
            })?,
        (None, Some(r)) => r,
        (None, None) => return Err(foreign().into()),
    };
    let minor = minor_of(&row);
    let bin = s.home.store().join(&row.name).join("bin");
    opened.point_at(&bin, &row.version.to_string(), &s.venvs().leads_into())?;
    let venv_row = row_of(s, &opened, &real, &profile, &row.name, &minor);
    db.put_venv(&venv_row)?;
    registered(s, out, &venv_row, &row.version.to_string(), "adopted")
}

/// The runtime of the store a venv of `minor` is adopted onto: the one `profile`'s minor path
/// leads to, else the store's build of the venv's own `version` (the one it was made from),
/// else its newest of that minor.
fn runtime_of_minor(
    s: &Settings,
    db: &Db,
    profile: &str,
    minor: &str,
    version: Option<&str>,
) -> anyhow::Result<Option<crate::storage::db::EntryRow>> {
    let path = Profiles::new(s.home.profiles())
        .minors()?
        .into_iter()
        .find_map(|(p, m, n)| (p == profile && m == minor).then_some(n)?);
    if let Some(g) = path
        .map(|n| db.generation(profile, n))
        .transpose()?
        .flatten()
        && let Some(row) = db.entry_by_name(&g.entry_name)?
    {
        return Ok(Some(row));
    }
    let of_minor = db
        .entries()?
        .into_iter()
        .filter(|r| r.minor().as_deref() == Some(minor));
    Ok(of_minor.max_by_key(|r| {
        (
            Some(r.version.to_string().as_str()) == version,
            Some(r.version.clone()),
            r.build.clone(),
            r.created,
        )
    }))
}

/// One element of `pyswap venv list --json` (docs/json.md).
#[derive(Serialize)]
struct Listed {
    path: String,
    profile: String,
    minor: String,
    entry: String,
    version: Option<String>,
    build: Option<String>,
    #[serde(skip)]
    variant: String,
    /// `ok`, `missing` (gc forgets it), `changed` (no longer the venv registered).
    state: State,
    detail: Option<String>,
    /// Why its last move was refused, if it was.
    held: Option<String>,
    /// The profile runs another minor version: how to move this venv deliberately.
    other_minor: Option<String>,
}

fn list(s: &Settings, out: Output) -> anyhow::Result<Outcome> {
    let Some(db) = crate::storage::db::Db::open_home_read(&s.home)? else {
        return Outcome::of(&Vec::<Listed>::new());
    };
    let profiles = Profiles::new(s.home.profiles());
    let current_minor = |p: &str| {
        profiles
            .current(p)
            .ok()
            .flatten()
            .and_then(|n| db.generation(p, n).ok().flatten())
            .and_then(|g| g.minor())
    };
    let mut rows = Vec::new();
    for v in db.venvs()? {
        let (state, detail) = venv::state(&s.home, &v);
        let e = db.entry_by_name(&v.entry)?;
        let other_minor = current_minor(&v.profile)
            .filter(|m| *m != v.minor)
            .map(|m| {
                format!(
                    "profile `{}` runs {m}; this venv stays on {} (its packages are built for it). To move it: `pyswap venv create NEW --minor {m}`, `{}/bin/pip freeze > req.txt`, `NEW/bin/pip install -r req.txt`, then point the service at NEW and `pyswap venv remove {} --delete`",
                    v.profile, v.minor, v.path, v.path
                )
            });
        rows.push(Listed {
            version: e.as_ref().map(|e| e.version.to_string()),
            variant: e
                .as_ref()
                .map(|e| e.variant.name().to_owned())
                .unwrap_or_default(),
            build: e.and_then(|e| e.build),
            path: v.path,
            profile: v.profile,
            minor: v.minor,
            entry: v.entry,
            state,
            detail,
            held: v.held,
            other_minor,
        });
    }
    if out.json {
        return Outcome::of(&rows);
    }
    if rows.is_empty() {
        out.say("no venv is registered; `pyswap venv create PATH` makes one");
        return Ok(Outcome::none());
    }
    let mut t = Table::new([
        Column::left("PROFILE").min(10),
        Column::left("MINOR").min(6),
        Column::left("VERSION").min(16),
        Column::left("STATE").min(8),
        Column::left("PATH").elide(),
    ]);
    for r in &rows {
        let version = crate::ground::version::label(
            r.version.as_deref().unwrap_or("?"),
            &r.variant,
            r.build.as_deref(),
        );
        t.row([
            r.profile.clone(),
            r.minor.clone(),
            version,
            // A held venv works, on its old runtime: the table says it stayed behind (why is
            // said below it, and in `held` of the JSON).
            match (r.state, &r.held) {
                (State::Ok, Some(_)) => "ok, held",
                (State::Ok, None) => "ok",
                (State::Missing, _) => "missing",
                (State::Changed, _) => "changed",
            }
            .to_owned(),
            crate::ground::text::printable(&r.path).into_owned(),
        ]);
    }
    out.data(&t.render())?;
    for r in &rows {
        if let Some(d) = &r.detail {
            out.warn(&format!("venv {}: {d}", r.path));
        }
        if let Some(h) = &r.held {
            out.warn(&format!("venv {}: {h}", r.path));
        }
        if let Some(m) = &r.other_minor {
            out.say(&format!("venv {}: {m}", r.path));
        }
    }
    Ok(Outcome::none())
}

fn remove(
    s: &Settings,
    out: Output,
    path: &Path,
    delete: bool,
    force: bool,
) -> anyhow::Result<Outcome> {
    let (mut db, _gc, _profile) = open(s, out)?;
    let absolute = std::path::absolute(path)?;
    let key = std::fs::canonicalize(&absolute).unwrap_or(absolute.clone());
    let Some(row) = [key.as_path(), absolute.as_path()]
        .iter()
        .find_map(|p| db.venv(&p.display().to_string()).ok().flatten())
    else {
        return Err(VenvError::NotRegistered { path: absolute }.into());
    };
    let mut deleted = false;
    if delete && venv::state(&s.home, &row).0 != State::Missing {
        // Nothing live is deleted unasked: a service running from the venv would fail at its
        // next import.
        let running = venv::processes_of(&s.home.store(), Path::new(&row.path));
        if !running.is_empty() {
            let pids = crate::ground::text::comma_list(&running);
            if !force {
                return Err(VenvError::Running {
                    path: PathBuf::from(&row.path),
                    pids,
                }
                .into());
            }
            out.warn(&format!(
                "deleting {} while process(es) {pids} run from it (--force): they fail at their next import",
                row.path
            ));
        }
        venv::delete(&s.home, &row)?;
        deleted = true;
    }
    db.forget_venv(&row.path)?;
    out.say(&format!(
        "{} venv {}; `pyswap gc` may now delete the runtime only it used",
        if deleted { "deleted" } else { "forgot" },
        row.path
    ));
    Outcome::of(&serde_json::json!({ "path": row.path, "deleted": deleted }))
}
