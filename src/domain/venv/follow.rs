//! Moving venvs: checking a venv against a runtime without touching it, moving the venvs
//! a profile change meets (and previewing that for a dry run), and finishing journaled moves.

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::domain::validate::VenvVerdict;
use crate::storage::db::{Db, GenerationRow, VenvMove, VenvRow};

use super::{Context, Opened, open, open_registered};

/// Checks the venv against runtime `entry` without touching the venv: an interpreter of that
/// runtime starts as the venv's would (a venv-shaped directory of pyswap's in `/tmp`, with `home`
/// at the runtime and the venv's own site-packages reached through the venv's directory as
/// pyswap opened and checked it, `/proc/self/fd/3/lib/python3.X/site-packages`, so that nobody
/// who owns a directory above the venv can swap what is read) and imports the venv's modules,
/// isolated (`-I`), as the venv's owner when pyswap is root, writing no bytecode.
pub(crate) fn check(ctx: &Context<'_>, venv: &Opened, entry: &str, version: &str) -> VenvVerdict {
    let bin = ctx.bin(entry);
    // In `/tmp` itself, not `$TMPDIR`: a directory the caller's environment names may belong to
    // someone who could swap the shim; `/tmp` is root's and sticky.
    let shim = match tempfile::Builder::new()
        .prefix("pyswap-venv-check-")
        .tempdir_in("/tmp")
    {
        Ok(d) => d,
        Err(e) => return VenvVerdict::Failed(format!("cannot make a directory to check in: {e}")),
    };
    let made = (|| -> io::Result<()> {
        use std::os::unix::fs::{PermissionsExt, symlink};
        std::fs::set_permissions(shim.path(), std::fs::Permissions::from_mode(0o755))?;
        let system = venv
            .config
            .get("include-system-site-packages")
            .unwrap_or("false");
        std::fs::write(
            shim.path().join("pyvenv.cfg"),
            format!(
                "home = {}\ninclude-system-site-packages = {system}\nversion = {version}\n",
                bin.display()
            ),
        )?;
        std::fs::create_dir(shim.path().join("bin"))?;
        symlink(bin.join("python3"), shim.path().join("bin/python3"))?;
        for sp in venv.site_packages() {
            let at = shim.path().join(&sp);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            symlink(
                format!("/proc/self/fd/{}/{sp}", crate::ground::spawn::PASSED_FD),
                at,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        return VenvVerdict::Failed(format!("cannot make a directory to check in: {e}"));
    }
    let user =
        (rustix::process::geteuid().is_root() && venv.uid != 0).then_some((venv.uid, venv.gid));
    crate::domain::validate::venv(
        &shim.path().join("bin/python3"),
        std::os::fd::AsFd::as_fd(&venv.dir),
        ctx.modules,
        user,
        ctx.timeout,
    )
}

/// What happened to one venv when its profile changed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Update {
    pub(crate) path: String,
    /// `moved` (checked and moved), `returned` (moved back to an entry it ran on before, no
    /// check), `held` (its check failed: it stays on its runtime and works), `stays` (another
    /// minor version: it stays on its own), `changed` (the directory is no longer the venv
    /// registered, or unreadable: left alone), `finished` (an interrupted move completed),
    /// `unchecked` (a signal to pyswap cut its check short: left where it was, unmarked).
    pub(crate) state: &'static str,
    pub(crate) minor: String,
    /// The entry it ran before, and runs now.
    pub(crate) from: String,
    pub(crate) to: String,
    /// Why it was held, or what changed.
    pub(crate) detail: Option<String>,
}

impl Update {
    /// A venv of the minor version the profile left: it stays on its own runtime.
    fn stays(v: &VenvRow) -> Self {
        Self {
            path: v.path.clone(),
            state: "stays",
            minor: v.minor.clone(),
            from: v.entry.clone(),
            to: v.entry.clone(),
            detail: None,
        }
    }
}

/// After the profile made generation `g` current: every venv of the profile and `g`'s minor
/// version that runs another entry moves to `g`'s, if its check passes (`check_returns`: also
/// when it ran on that entry before; rollback passes `false`); when the profile left minor
/// version `left` for another, its venvs of `left` are reported as staying. Moves that a killed
/// command left are finished first.
pub(crate) fn follow(
    ctx: &Context<'_>,
    db: &mut Db,
    g: &GenerationRow,
    left: Option<&str>,
    check_returns: bool,
) -> anyhow::Result<Vec<Update>> {
    let mut out = recover(ctx, db)?;
    let Some(minor) = g.minor() else {
        return Ok(out);
    };
    let Meeting { stays, moving } = meeting(db, &g.profile, &minor, Some(&g.entry_name), left)?;
    out.extend(stays.iter().map(Update::stays));
    let moving: Vec<(VenvRow, bool, bool)> = moving
        .into_iter()
        .map(|(v, returning)| (v, returning, check_returns || !returning))
        .collect();
    // The checks run side by side (each is interpreters starting and importing); the moves,
    // which write the journal, one after another.
    let wanted: Vec<&VenvRow> = moving.iter().filter(|m| m.2).map(|m| &m.0).collect();
    let verdicts = checks(ctx, &wanted, &g.entry_name, &g.version.to_string());
    let mut verdicts = verdicts.into_iter();
    for (v, returning, checked) in &moving {
        let verdict = if *checked {
            verdicts.next().flatten()
        } else {
            Some(VenvVerdict::Passed)
        };
        out.push(move_one(
            ctx,
            db,
            v,
            &g.entry_name,
            &g.version.to_string(),
            *returning,
            verdict,
        )?);
    }
    Ok(out)
}

/// How `profile`'s registered venvs meet a runtime of `minor` (store entry `to`, `None` when it
/// is not installed yet) becoming current: those of the minor version `left` behind, which stay
/// on their own (only when the profile leaves a minor), and those of `minor` not on `to`
/// already, each with whether it ran on `to` before (it returns). What [`follow`] moves and
/// [`preview`] reports.
fn meeting(
    db: &Db,
    profile: &str,
    minor: &str,
    to: Option<&str>,
    left: Option<&str>,
) -> anyhow::Result<Meeting> {
    let (mut stays, mut moving) = (Vec::new(), Vec::new());
    for v in db.venvs()? {
        if v.profile != profile || to == Some(v.entry.as_str()) {
            continue;
        }
        if v.minor != minor {
            if left == Some(v.minor.as_str()) {
                stays.push(v);
            }
            continue;
        }
        let returning = match to {
            Some(to) => db.venv_ran_on(&v.path, to)?,
            None => false,
        };
        moving.push((v, returning));
    }
    Ok(Meeting { stays, moving })
}

/// What [`meeting`] finds.
struct Meeting {
    stays: Vec<VenvRow>,
    /// Each with whether it ran on the new runtime before.
    moving: Vec<(VenvRow, bool)>,
}

/// What [`follow`] would do if `profile` made a runtime of `minor` current, without moving or
/// marking anything (a `--dry-run`): each venv of the profile is reported in the state its move
/// would end in (`moved`, `returned`, `held` with the reason, `stays`, `changed`), its check run
/// for real but read-only where the runtime is in the store. `to` is that runtime's entry, `None`
/// when it is not installed yet: then a venv that would be checked is `to_check` (its check runs
/// at the switch, on the installed runtime), and `to` in its row is `key`, the catalogue key.
#[allow(clippy::too_many_arguments)]
pub(crate) fn preview(
    ctx: &Context<'_>,
    db: &Db,
    profile: &str,
    to: Option<&str>,
    key: &str,
    minor: &str,
    version: &str,
    left: Option<&str>,
    check_returns: bool,
) -> anyhow::Result<Vec<Update>> {
    let Meeting { stays, moving } = meeting(db, profile, minor, to, left)?;
    let mut out: Vec<Update> = stays.iter().map(Update::stays).collect();
    let mut wanted = Vec::new();
    for (v, returning) in moving {
        let row = |state, to: &str, detail: Option<String>| Update {
            path: v.path.clone(),
            state,
            minor: v.minor.clone(),
            from: v.entry.clone(),
            to: to.to_owned(),
            detail,
        };
        let Some(to) = to else {
            out.push(row(
                "to_check",
                key,
                Some("the runtime is not installed yet: its check runs at the switch".into()),
            ));
            continue;
        };
        if open_registered(ctx.home, &v, &[&v.entry]).is_err() {
            out.push(row(
                "changed",
                &v.entry,
                Some("no longer the venv registered".into()),
            ));
        } else if returning && !check_returns {
            out.push(row("returned", to, None));
        } else {
            wanted.push((v, returning));
        }
    }
    let rows: Vec<&VenvRow> = wanted.iter().map(|(v, _)| v).collect();
    let Some(to) = to else { return Ok(out) };
    for ((v, returning), verdict) in wanted.iter().zip(checks(ctx, &rows, to, version)) {
        let (state, detail, now) = match verdict {
            Some(VenvVerdict::Passed) => (if *returning { "returned" } else { "moved" }, None, to),
            Some(VenvVerdict::Failed(why)) => ("held", Some(why), v.entry.as_str()),
            Some(VenvVerdict::Interrupted) => ("unchecked", None, v.entry.as_str()),
            None => (
                "changed",
                Some("it changed while it was being checked".into()),
                v.entry.as_str(),
            ),
        };
        out.push(Update {
            path: v.path.clone(),
            state,
            minor: v.minor.clone(),
            from: v.entry.clone(),
            to: now.to_owned(),
            detail,
        });
    }
    Ok(out)
}

/// Each venv's check on runtime `to` (see [`check`]), several at once; `None` for a venv that
/// cannot be opened as the one registered (its move reports that).
fn checks(
    ctx: &Context<'_>,
    venvs: &[&VenvRow],
    to: &str,
    version: &str,
) -> Vec<Option<VenvVerdict>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<VenvVerdict>>> =
        venvs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    // One check per core at once (a check's own interpreters mostly wait on imports).
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(venvs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(v) = venvs.get(i) else { break };
                    let verdict = open(Path::new(&v.path)).ok().filter(|o| o.is(v)).map(|o| {
                        crate::ground::crash::pause("venv:check-opened");
                        check(ctx, &o, to, version)
                    });
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = verdict;
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Moves one venv to `to` if its check (`verdict`; `None`: it could not be checked) passed.
/// `returning`: it ran on `to` before. A check that pyswap's interruption cut short decides
/// nothing: the venv stays where it is, unmarked, and the next command that makes its minor's
/// runtime current checks it again.
fn move_one(
    ctx: &Context<'_>,
    db: &mut Db,
    v: &VenvRow,
    to: &str,
    version: &str,
    returning: bool,
    verdict: Option<VenvVerdict>,
) -> anyhow::Result<Update> {
    let outcome = |state, detail| Update {
        path: v.path.clone(),
        state,
        minor: v.minor.clone(),
        from: v.entry.clone(),
        to: if state == "moved" || state == "returned" {
            to.to_owned()
        } else {
            v.entry.clone()
        },
        detail,
    };
    let opened = match open_registered(ctx.home, v, &[&v.entry]) {
        Ok(o) => o,
        Err((_, why)) => {
            return Ok(outcome(
                "changed",
                Some(format!(
                    "no longer the venv registered ({why}); `pyswap venv adopt {}` registers it again",
                    v.path
                )),
            ));
        }
    };
    match verdict {
        Some(VenvVerdict::Passed) => {}
        Some(VenvVerdict::Failed(why)) => {
            let held = format!("held from {to}: {why}");
            db.set_venv_held(&v.path, Some(&held))?;
            return Ok(outcome("held", Some(why)));
        }
        Some(VenvVerdict::Interrupted) => {
            return Ok(outcome(
                "unchecked",
                Some("pyswap was interrupted before its check finished; the next switch to this runtime checks it again".into()),
            ));
        }
        None => {
            return Ok(outcome(
                "changed",
                Some("it changed while it was being checked".into()),
            ));
        }
    }
    let m = VenvMove {
        path: v.path.clone(),
        from: v.entry.clone(),
        to: to.to_owned(),
        version: version.to_owned(),
    };
    db.begin_venv_move(&m, ctx.now)?;
    crate::ground::crash::point("venv:journaled");
    if let Err(e) = opened.point_at(&ctx.bin(to), version, &ctx.leads_into()) {
        // Put it back as it was; if even that fails, the journal stays and the next command
        // finishes the move.
        let back = db
            .entry_by_name(&v.entry)?
            .map_or_else(|| version.to_owned(), |e| e.version.to_string());
        if opened
            .point_at(&ctx.bin(&v.entry), &back, &ctx.leads_into())
            .is_ok()
        {
            db.end_venv_move(&m, &v.entry)?;
            let held = format!("held from {to}: cannot move it: {e}");
            db.set_venv_held(&v.path, Some(&held))?;
            return Ok(outcome("held", Some(format!("cannot move it: {e}"))));
        }
        return Ok(outcome(
            "changed",
            Some(format!(
                "cannot move it ({e}); the next pyswap command tries again"
            )),
        ));
    }
    db.end_venv_move(&m, to)?;
    crate::ground::crash::point("venv:moved");
    Ok(outcome(if returning { "returned" } else { "moved" }, None))
}

/// Finishes the moves a killed command left journaled: each venv is pointed at the entry it was
/// moving to (its check had passed), or, when that entry is gone, back at the one it came from.
/// A directory that is no longer the venv registered is left alone and the journal row dropped.
pub(crate) fn recover(ctx: &Context<'_>, db: &mut Db) -> anyhow::Result<Vec<Update>> {
    let mut out = Vec::new();
    for m in db.venv_moves()? {
        let Some(v) = db.venv(&m.path)? else {
            db.forget_venv(&m.path)?;
            continue;
        };
        let usable = |e: &str| {
            crate::storage::store::is_entry_name(e)
                && ctx.bin(e).join("python3").symlink_metadata().is_ok()
        };
        let (target, version) = if usable(&m.to) {
            (m.to.clone(), m.version.clone())
        } else {
            let version = db
                .entry_by_name(&m.from)?
                .map_or_else(|| m.version.clone(), |e| e.version.to_string());
            (m.from.clone(), version)
        };
        let mut outcome = Update {
            path: m.path.clone(),
            state: "finished",
            minor: v.minor.clone(),
            from: m.from.clone(),
            to: target.clone(),
            detail: Some("a move that a killed pyswap left half done".into()),
        };
        let opened = open_registered(ctx.home, &v, &[&m.from, &m.to]).ok();
        match opened {
            Some(o) if usable(&target) => {
                o.point_at(&ctx.bin(&target), &version, &ctx.leads_into())?;
                db.end_venv_move(&m, &target)?;
            }
            _ => {
                db.end_venv_move(&m, &v.entry)?;
                outcome.state = "changed";
                outcome.to.clone_from(&v.entry);
                outcome.detail =
                    Some("an interrupted move could not be finished: the directory changed".into());
            }
        }
        out.push(outcome);
    }
    Ok(out)
}
