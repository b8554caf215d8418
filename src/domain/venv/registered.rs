//! The registered venvs as gc, `venv list` and `ps` see them: their state, the ones gc forgets,
//! the processes that run from a venv, the venvs that follow a profile, and lines that say what
//! happened to them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::storage::db::{Db, VenvRow};
use crate::storage::home::Home;

use super::{Opened, Points, Update, VenvError, classify, open};

/// A venv's state for `venv list` and gc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Its directory is the one registered and names the registered entry.
    Ok,
    /// Its directory is gone.
    Missing,
    /// The path names something else now (another directory, a symlink, a venv of another
    /// runtime), or cannot be read.
    Changed,
}

/// Opens the registered venv `v`, confirmed to be the directory registered and to name one of
/// `entries` as its home; else its state and why (nothing followed, nothing written).
pub(super) fn open_registered(
    home: &Home,
    v: &VenvRow,
    entries: &[&str],
) -> Result<Opened, (State, String)> {
    match open(Path::new(&v.path)) {
        Ok(o) if !o.is(v) => Err((
            State::Changed,
            "another directory stands at its path".into(),
        )),
        Ok(o) => match classify(home, o.home()) {
            Points::Entry(e) if entries.contains(&e.as_str()) => Ok(o),
            _ => Err((
                State::Changed,
                format!("its pyvenv.cfg home is {} now", o.home()),
            )),
        },
        Err(VenvError::Missing { .. }) => Err((State::Missing, "its directory is gone".into())),
        Err(e) => Err((State::Changed, e.to_string())),
    }
}

/// The state of a registered venv (nothing followed, nothing written).
pub(crate) fn state(home: &Home, v: &VenvRow) -> (State, Option<String>) {
    match open_registered(home, v, &[&v.entry]) {
        // A venv pointed at a runtime of another minor (as `adopt` did before it checked) finds
        // none of its packages: its `lib/python3.X` is not the runtime's.
        Ok(o) => match o.minor() {
            Some(m) if m != v.minor => (
                State::Changed,
                Some(format!(
                    "its packages are in lib/python{m}, its runtime is Python {}",
                    v.minor
                )),
            ),
            _ => (State::Ok, None),
        },
        Err((State::Missing, _)) => (State::Missing, None),
        Err((state, why)) => (state, Some(why)),
    }
}

/// What gc did with a registered venv it could not find.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Forgotten {
    pub(crate) path: String,
    pub(crate) entry: String,
    pub(crate) why: String,
}

/// gc's part: registered venvs whose directory is gone, or is no longer a venv of this store's
/// runtime it was registered with, are forgotten (their rows only: nothing is followed or
/// deleted outside the home). With `dry_run` only reported.
pub(crate) fn sweep(home: &Home, db: &mut Db, dry_run: bool) -> anyhow::Result<Vec<Forgotten>> {
    let mut out = Vec::new();
    let moving: Vec<String> = db.venv_moves()?.into_iter().map(|m| m.path).collect();
    for v in db.venvs()? {
        if moving.contains(&v.path) {
            continue;
        }
        let (state, why) = state(home, &v);
        if state == State::Ok {
            continue;
        }
        if !dry_run {
            db.forget_venv(&v.path)?;
        }
        out.push(Forgotten {
            why: why.unwrap_or_else(|| "its directory is gone".into()),
            entry: v.entry,
            path: v.path,
        });
    }
    Ok(out)
}

/// The processes that run from the venv at `path` (as [`of_process`] reads each process that
/// runs a runtime of the store at `store`), by pid.
pub(crate) fn processes_of(store: &Path, path: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    crate::ground::inuse::scan(store, crate::ground::inuse::Uses::Runs, None)
        .processes
        .into_iter()
        .map(|p| p.pid)
        .filter(|&pid| {
            of_process(pid).is_some_and(|v| std::fs::canonicalize(&v).unwrap_or(v) == want)
        })
        .collect()
}

/// The venv a process runs from, as its command line says (`argv[0]` `…/bin/python*`, relative
/// to its working directory), else `VIRTUAL_ENV` in its environment when readable: text, for
/// showing only (what gc may delete never depends on it).
pub(crate) fn of_process(pid: u32) -> Option<PathBuf> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let raw = std::fs::read(proc_dir.join("cmdline")).ok()?;
    let argv0 = raw.split(|&b| b == 0).next().filter(|a| !a.is_empty());
    let from_argv = argv0.and_then(|a| {
        let p = Path::new(OsStr::from_bytes(a));
        let p = if p.is_absolute() {
            p.to_owned()
        } else if p.components().count() > 1 {
            std::fs::read_link(proc_dir.join("cwd")).ok()?.join(p)
        } else {
            return None;
        };
        let bin = p.parent()?;
        let venv = bin.parent()?;
        (bin.file_name()? == "bin"
            && p.file_name()?.as_bytes().starts_with(b"python")
            && venv.join("pyvenv.cfg").is_file())
        .then(|| venv.to_owned())
    });
    from_argv.or_else(|| {
        let env = std::fs::read(proc_dir.join("environ")).ok()?;
        let v = env
            .split(|&b| b == 0)
            .find_map(|kv| kv.strip_prefix(b"VIRTUAL_ENV"))?
            .strip_prefix(b"=")?;
        let p = PathBuf::from(OsStr::from_bytes(v));
        p.join("pyvenv.cfg").is_file().then_some(p)
    })
}

/// A venv whose `home` is a profile or minor path: what a switch changes under its processes.
#[derive(Debug, Clone)]
pub(crate) struct Follower {
    /// Its `pyvenv.cfg` `home`.
    pub(crate) home: String,
    /// Its own minor version ([`Opened::minor`]).
    pub(crate) minor: Option<String>,
}

/// The venv at `venv` (opened without following a symlink), when it follows a profile or minor
/// path (its standard library changes under it).
pub(crate) fn following(home: &Home, venv: &Path) -> Option<Follower> {
    let o = open(venv).ok()?;
    matches!(classify(home, o.home()), Points::Follows { .. }).then(|| Follower {
        home: o.home().to_owned(),
        minor: o.minor(),
    })
}

/// The store entry a venv `home` that follows a profile or minor path leads to now.
pub(crate) fn leads_to(home: &Home, value: &str) -> Option<String> {
    match classify(home, value) {
        Points::Follows { entry, .. } => entry,
        _ => None,
    }
}

/// Lines that say what happened to the venvs (for human output).
pub(crate) fn describe(
    outcomes: &[Update],
    label: &dyn Fn(&str) -> String,
    dry_run: bool,
) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| {
            let (path, from, to) = (&o.path, label(&o.from), label(&o.to));
            let why = o.detail.as_deref().unwrap_or("it changed");
            match (o.state, dry_run) {
                ("moved", false) => format!(
                    "venv {path}: moved to {to} (checked); running processes keep {from}"
                ),
                ("moved", true) => format!(
                    "venv {path} would move from {from} to {to} (its check on it passes); running processes would keep {from}"
                ),
                ("returned", false) => format!("venv {path}: back on {to} (it ran there before)"),
                ("returned", true) => {
                    format!("venv {path} would go back to {to} (it ran there before)")
                }
                ("held", false) => format!(
                    "venv {path} stays on {from} and works: its check on the new runtime failed: {why}"
                ),
                ("held", true) => format!(
                    "venv {path} would stay on {from} and work: its check on the new runtime fails: {why}"
                ),
                ("stays", _) => format!(
                    "venv {path} {} on Python {} ({from}); `pyswap venv` says how to move it",
                    if dry_run { "would stay" } else { "stays" },
                    o.minor
                ),
                ("finished", _) => {
                    format!("venv {path}: finished an interrupted move to {to}")
                }
                ("to_check", _) => format!(
                    "venv {path} (on {from}) is checked at the switch: the runtime is not installed yet"
                ),
                (_, false) => format!("venv {path} left alone: {why}"),
                (_, true) => format!("venv {path} would be left alone: {why}"),
            }
        })
        .collect()
}
