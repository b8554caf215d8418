//! Activation: how a runtime becomes a profile's current generation, and how it stops being
//! one. Install it if needed, validate it under the policy (or reuse a passing run), record the
//! generation, swap the profile link atomically, health-check it through the profile path, and
//! restore the previous generation if that fails. `switch`, `upgrade`, `rollback` and `check`
//! are scripts over this module.

mod events;
mod links;
mod outcome;
mod plan;
mod resolve;

pub(crate) use events::{Ctx, Event, Tell};
pub(crate) use links::{check_current_intact, profile_lock};
pub(crate) use outcome::{Following, MinorChange, NextImport, Switched};
pub(crate) use plan::{Effects, Target, plan};
pub(crate) use resolve::{catalogue_for, load_catalogue, record_accepted, resolve, with_trust};

use crate::catalogue::Entry;
use crate::domain::install::{self, Installed};
use crate::domain::validate::{self, Expected, Phase, Report};
use crate::ground::clock::{now_unix, rfc3339};
use crate::ground::crash;
use crate::interface::settings::Settings;
use crate::network::fetch::Fetcher;
use crate::storage::db::{Db, GenerationRow, ValidationRow};
use crate::storage::profile::{CurrentLink, Profiles};

/// Failures of an activation the operator can act on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActivationError {
    #[error("store entry {0} of this generation is missing; reinstall it with `pyswap switch`")]
    EntryMissing(String),
    #[error(
        "the health check of generation {generation} failed after the switch ({summary}); rolled back to {restored}"
    )]
    HealthFailed {
        generation: u64,
        summary: String,
        restored: String,
    },
    #[error(
        "generation {number} of profile `{profile}` is current, but its directory {} is missing or altered, so the profile's python may not run",
        path.display()
    )]
    BrokenGeneration {
        profile: String,
        number: u64,
        path: std::path::PathBuf,
    },
}

crate::ground::exit::register!(ActivationError);
impl crate::ground::exit::Reason for ActivationError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::HealthFailed { .. } => Some(
                "the failed generation stays listed; `pyswap check N` re-runs its checks".into(),
            ),
            Self::BrokenGeneration { .. } => Some(
                "`pyswap rollback --to N` (N: the current generation) or `pyswap switch VERSION` puts it back"
                    .into(),
            ),
            Self::EntryMissing(_) => None,
        }
    }
}

/// Installs `entry` if needed, validates it under the policy, records and activates a new
/// generation (unless the profile already uses the entry), then runs the health check.
pub(crate) fn activate(
    cx: Ctx<'_>,
    db: &mut Db,
    fetcher: &Fetcher,
    entry: &Entry,
    request: &str,
    command: &str,
) -> anyhow::Result<Switched> {
    let s = cx.s;
    let installed = install_entry(cx, db, fetcher, entry)?;
    let expected = Expected::of(entry).with_digest(&installed.row.tree_digest);

    let _profile = links::profile_lock(cx)?;
    let profiles = Profiles::new(s.home.profiles());
    profiles.migrate(&s.profile)?;
    let mut repaired = Vec::new();
    let current = current_generation(db, &profiles, &s.profile, &mut repaired)?;
    if let Some(g) = current.as_ref().filter(|g| g.entry_id == installed.row.id) {
        return already_current(cx, db, &profiles, &installed, &expected, g, repaired);
    }
    let verdict = if s.validation.enabled {
        Some(validated_report(s, db, &installed, &expected)?)
    } else {
        None
    };
    let new = new_generation(s, db, &profiles, &installed, request, command)?;
    let n = new.number;
    crash::point("switch:generation-committed");
    // The health check's interpreter starts now, through the new generation's directory (the
    // path the profile link is about to name), while the rows are written and the link
    // swapped; its verdict is awaited after the swap, which a failure undoes as before.
    let probe = s.validation.health().then(|| {
        let python = profiles.generation_path(&s.profile, n).join("bin/python3");
        validate::HealthProbe::start(&python, &installed.path, &expected, &s.validation)
    });
    // Counting the processes still on the previous runtime reads `/proc`: meanwhile too.
    let still_running = current
        .as_ref()
        .filter(|g| g.entry_id != new.entry_id)
        .map(|g| links::count_processes_using(s, &g.entry_name));
    if let Some((validation, _)) = &verdict {
        record(db, installed.row.id, &s.profile, Some(n), validation)?;
    }
    links::make_current(cx, &profiles, n)?;
    crash::point("switch:activated");
    tracing::info!(profile = %s.profile, generation = n, "generation {n} is current");
    db.unstage(installed.row.id)?;
    let previous = current.as_ref().map(|g| g.number);
    let health_check = if let Some(probe) = probe {
        let report = probe.finish(
            &profiles.profile_path(&s.profile).join("bin/python3"),
            &installed.path,
            &expected,
            &s.validation,
        );
        health_or_restore(cx, db, &profiles, &installed, &report, n, current.as_ref())?;
        crash::timing("switch:health-checked");
        Some(true)
    } else {
        None
    };
    // Unsynced: a crash that loses this rename leaves the minor path on an older generation of
    // the same minor version, which is as valid (and pinned); the next link change syncs it.
    let minor_path = links::set_minor_link(&profiles, &new, false)?;
    let (previous_runtime_processes, following_venv_processes) =
        still_running.map(|c| c.settle(&s.home, db)).unzip();
    let left = current.as_ref().and_then(GenerationRow::minor);
    let venvs = follow_venvs(cx, db, &new, left.as_deref(), true);
    Ok(Switched {
        profile: s.profile.clone(),
        generation: n,
        previous,
        minor_change: MinorChange::between(&profiles, current.as_ref(), &new),
        key: new.key().to_owned(),
        older_than_build: plan::older_build(
            current.as_ref(),
            &new.version.to_string(),
            new.variant.name(),
            new.build.as_deref(),
        ),
        variant: new.variant.name().to_owned(),
        build: new.build.clone(),
        version: new.version.to_string(),
        store_path: installed.path.display().to_string(),
        installed: installed.fresh,
        changed: true,
        validated: Some(verdict.map_or("disabled", |(_, how)| how)),
        health_check,
        created: rfc3339(new.created),
        minor_path,
        previous_runtime_processes,
        following_venv_processes: following_venv_processes.unwrap_or_default(),
        venvs,
        repaired,
        dry_run: false,
    })
}

/// `entry` in the store (installed now, or found there), said when it was installed now.
fn install_entry(
    cx: Ctx<'_>,
    db: &mut Db,
    fetcher: &Fetcher,
    entry: &Entry,
) -> anyhow::Result<install::Installed> {
    let Ctx { s, tell } = cx;
    let cache = s.download_cache();
    let opts = s.install_options(&cache);
    let started = std::time::Instant::now();
    let installed = install::ensure(
        &s.home,
        db,
        fetcher,
        entry,
        &opts,
        || tell.progress(&entry.key),
        &|note| tell.tell(Event::InstallNote(note)),
    )?;
    crash::point("switch:installed");
    if installed.fresh {
        tell.tell(Event::Installed {
            key: &entry.key,
            installed: &installed,
            took: started.elapsed(),
        });
    }
    tracing::info!(key = %entry.key, entry = %installed.row.name, fresh = installed.fresh, "installed");
    Ok(installed)
}

/// Moves the profile's venvs after `g` became current (see [`crate::domain::venv::follow`]); a failure
/// to do so is a warning: the profile's change stands, and every venv still runs a runtime.
fn follow_venvs(
    cx: Ctx<'_>,
    db: &mut Db,
    g: &GenerationRow,
    left: Option<&str>,
    check_returns: bool,
) -> Vec<crate::domain::venv::Update> {
    let Ctx { s, tell } = cx;
    match crate::domain::venv::follow(&s.venvs(), db, g, left, check_returns) {
        Ok(v) => v,
        Err(e) => {
            tell.tell(Event::VenvsNotMoved {
                profile: &s.profile,
                why: format!("{e:#}"),
            });
            Vec::new()
        }
    }
}

/// The generation the profile's link points at; a link that is not one of pyswap's is noted in
/// `repaired` (the activation replaces it).
fn current_generation(
    db: &Db,
    profiles: &Profiles,
    profile: &str,
    repaired: &mut Vec<String>,
) -> anyhow::Result<Option<GenerationRow>> {
    Ok(match profiles.current_link(profile) {
        CurrentLink::Generation(n) => db.generation(profile, n)?,
        CurrentLink::Missing => None,
        CurrentLink::Foreign(what) | CurrentLink::Broken(what) => {
            repaired.push(format!("the current link (it was `{what}`)"));
            None
        }
    })
}

/// Records a new generation of the profile for `installed`, its directory written (and
/// fsynced) before the row commits.
fn new_generation(
    s: &Settings,
    db: &mut Db,
    profiles: &Profiles,
    installed: &Installed,
    request: &str,
    command: &str,
) -> anyhow::Result<GenerationRow> {
    let row = GenerationRow {
        profile: s.profile.clone(),
        number: 0,
        entry_id: installed.row.id,
        entry_name: installed.row.name.clone(),
        version: installed.row.version.clone(),
        request: request.to_owned(),
        command: command.into(),
        created: now_unix(),
        variant: installed.row.variant,
        build: installed.row.build.clone(),
    };
    let number = db.add_generation(&row, |n| {
        profiles
            .write_generation(&s.profile, n, &installed.row.name)
            .map_err(|e| e.to_string())
    })?;
    Ok(GenerationRow { number, ..row })
}

/// The profile already uses the requested entry: idempotent means "make it so", so the
/// generation directory and the minor link are put back if something removed or redirected
/// them, and a health check that a killed switch never ran is run now.
fn already_current(
    cx: Ctx<'_>,
    db: &mut Db,
    profiles: &Profiles,
    installed: &Installed,
    expected: &Expected,
    g: &GenerationRow,
    mut repaired: Vec<String>,
) -> anyhow::Result<Switched> {
    let s = cx.s;
    // Idempotent means "make it so": the generation directory and the links are put back
    // if something removed or redirected them.
    repaired.extend(links::ensure_links(profiles, g)?);
    // A switch killed between the swap and its health check left this generation current
    // unchecked (or checked and failed, not yet undone): finish that switch's work now.
    let checked = db
        .latest_validation(&s.profile, g.number)?
        .is_some_and(|v| v.ok && v.phase == Phase::Health.as_str());
    if s.validation.health() && !checked {
        let fallback = last_good_before(db, &s.profile, g.number)?;
        let python = profiles.profile_path(&s.profile).join("bin/python3");
        let report = validate::health(&python, &installed.path, expected, &s.validation);
        health_or_restore(
            cx,
            db,
            profiles,
            installed,
            &report,
            g.number,
            fallback.as_ref(),
        )?;
    }
    let minor_link = g.minor().map(|m| profiles.minor_path(&s.profile, &m));
    let pointed = minor_link
        .as_ref()
        .and_then(|l| std::fs::read_link(l).ok())
        .is_some_and(|t| {
            Some(t.as_path())
                == profiles
                    .generation_path(&s.profile, g.number)
                    .file_name()
                    .map(std::path::Path::new)
        });
    let mut done = Switched::unchanged(&s.profile, g, &installed.path);
    done.minor_path = links::set_minor_link(profiles, g, true)?;
    done.venvs = follow_venvs(cx, db, g, None, true);
    if minor_link.is_some() && !pointed {
        repaired.push("the minor link".into());
    }
    done.repaired = repaired;
    Ok(done)
}

/// Runs the health check of generation `n` (current) through the profile path and records it;
/// on failure puts the profile back at `previous` (or at no runtime) and fails naming both.
fn health_or_restore(
    cx: Ctx<'_>,
    db: &mut Db,
    profiles: &Profiles,
    installed: &Installed,
    report: &Report,
    n: u64,
    previous: Option<&GenerationRow>,
) -> anyhow::Result<()> {
    let s = cx.s;
    record(db, installed.row.id, &s.profile, Some(n), report)?;
    if report.ok {
        return Ok(());
    }
    let restored = restore(cx, profiles, previous)?;
    Err(ActivationError::HealthFailed {
        generation: n,
        summary: report.summary(),
        restored,
    }
    .into())
}

/// The newest generation before `n` whose last validation did not fail: where an unfinished
/// switch to `n` goes back to when its health check fails on the re-run (the generation it
/// came from is not recorded).
fn last_good_before(db: &Db, profile: &str, n: u64) -> anyhow::Result<Option<GenerationRow>> {
    let latest = db.latest_validations(profile)?;
    Ok(db
        .generations(profile)?
        .into_iter()
        .rfind(|g| g.number < n && latest.get(&g.number).is_none_or(|v| v.ok)))
}

/// The pre-activation verdict: the install's own run when the entry was just unpacked, a stored
/// passing run under the same policy, or a new run now. A failure is recorded and returned.
fn validated_report(
    s: &Settings,
    db: &mut Db,
    installed: &Installed,
    expected: &Expected,
) -> anyhow::Result<(Report, &'static str)> {
    let fingerprint = s.validation.fingerprint();
    let stored = |json: &str| serde_json::from_str::<Report>(json).ok();
    if installed.fresh
        && let Some(r) = stored(&installed.row.validation)
    {
        return Ok((r, "install"));
    }
    if let Some(r) = db
        .validated(installed.row.id, &fingerprint)?
        .as_deref()
        .and_then(stored)
    {
        return Ok((r, "stored"));
    }
    let report = validate::validate(&installed.path, expected, &s.validation, Phase::Activate);
    record(db, installed.row.id, &s.profile, None, &report)?;
    Ok((report.into_result()?, "activate"))
}

/// Stores a validation run for the entry (and the generation, once there is one).
pub(crate) fn record(
    db: &mut Db,
    entry_id: i64,
    profile: &str,
    generation: Option<u64>,
    report: &Report,
) -> anyhow::Result<()> {
    db.record_validation(&ValidationRow {
        entry_id,
        profile: generation.map(|_| profile.to_owned()),
        generation,
        phase: report.phase.as_str().into(),
        policy: report.policy.clone(),
        ok: report.ok,
        report: serde_json::to_string(report)?,
        created: now_unix(),
    })?;
    Ok(())
}

/// Puts the profile back where it was before a failed health check; says where.
fn restore(
    cx: Ctx<'_>,
    profiles: &Profiles,
    previous: Option<&GenerationRow>,
) -> anyhow::Result<String> {
    let s = cx.s;
    let Some(g) = previous else {
        profiles.deactivate(&s.profile)?;
        crash::point("switch:rolled-back");
        return Ok(format!(
            "no runtime (profile `{}` had none before)",
            s.profile
        ));
    };
    links::ensure_links(profiles, g)?;
    links::make_current(cx, profiles, g.number)?;
    crash::point("switch:rolled-back");
    Ok(format!("generation {} (CPython {})", g.number, g.label()))
}

/// What [`return_to`] did.
#[derive(Default)]
pub(crate) struct ReturnReport {
    pub(crate) minor_path: Option<String>,
    pub(crate) minor_change: Option<MinorChange>,
    /// Running processes still on the runtime left; `None` when nothing changed.
    pub(crate) previous_runtime_processes: Option<u64>,
    pub(crate) following_venv_processes: Vec<Following>,
    pub(crate) venvs: Vec<crate::domain::venv::Update>,
    pub(crate) repaired: Vec<String>,
}

/// Makes existing generation `target` current again (`current`: the generation current
/// before, if the link was intact): nothing is installed or validated, its directory and
/// minor path are put back if something removed them. The caller holds the profile lock.
pub(crate) fn return_to(
    cx: Ctx<'_>,
    db: &mut Db,
    profiles: &Profiles,
    target: &GenerationRow,
    current: Option<u64>,
) -> anyhow::Result<ReturnReport> {
    let Ctx { s, tell } = cx;
    let from = match current {
        Some(n) => db.generation(&s.profile, n)?,
        None => None,
    };
    let repaired = links::ensure_links(profiles, target)?;
    for what in &repaired {
        tell.tell(Event::PutBack {
            profile: &s.profile,
            what,
        });
    }
    let (minor_change, previous_runtime_processes, following) = if Some(target.number) == current {
        tell.tell(Event::AlreadyAt {
            profile: &s.profile,
            generation: target.number,
        });
        (None, None, Vec::new())
    } else {
        // The minor path first, unsynced: activating fsyncs `profiles/` for both renames.
        let still_running = from
            .as_ref()
            .filter(|g| g.entry_id != target.entry_id)
            .map(|g| links::count_processes_using(s, &g.entry_name));
        links::set_minor_link(profiles, target, false)?;
        links::make_current(cx, profiles, target.number)?;
        crate::ground::crash::point("rollback:activated");
        tell.tell(Event::Returned {
            profile: &s.profile,
            from: current,
            to: target.number,
            label: target.label(),
        });
        let change = MinorChange::between(profiles, from.as_ref(), target);
        if let Some(c) = &change {
            tell.tell(Event::MinorChanged {
                profile: &s.profile,
                change: c,
                ahead: false,
            });
        }
        let (still, following) = still_running.map(|c| c.settle(&s.home, db)).unzip();
        if let (Some(n), Some(from)) = (still.filter(|&n| n > 0), current) {
            tell.tell(Event::StillRunning {
                processes: n,
                generation: from,
            });
        }
        let following = following.unwrap_or_default();
        tell.tell(Event::Following(&following));
        // One spelling of "no process is left on the old runtime": 0, also when the generation
        // returned to runs the same runtime; `null` only when nothing changed.
        (change, still.or(Some(0)), following)
    };
    let minor_path = links::set_minor_link(profiles, target, true)?;
    // Emergency path: the profile has been swapped already; venvs returning to an entry they
    // ran on are moved without a check, the others are checked now.
    let left = from.as_ref().and_then(GenerationRow::minor);
    let venvs = follow_venvs(cx, db, target, left.as_deref(), false);
    tell.tell(Event::Venvs {
        updates: &venvs,
        ahead: false,
    });
    Ok(ReturnReport {
        minor_path,
        minor_change,
        previous_runtime_processes,
        following_venv_processes: following,
        venvs,
        repaired,
    })
}

/// Re-runs the validation policy on generation `n`'s runtime (`row`) and records each result;
/// for the current generation the health check through the profile path runs first. Nothing
/// is switched or rolled back.
pub(crate) fn recheck(
    s: &Settings,
    db: &mut Db,
    profiles: &Profiles,
    row: &crate::storage::db::EntryRow,
    n: u64,
    is_current: bool,
) -> anyhow::Result<Vec<Report>> {
    let path = crate::storage::store::Store::new(s.home.store()).path(&row.name);
    let expected = Expected::from_row(&row.version.to_string(), row.variant.name(), &row.platform)
        .ok_or_else(|| ActivationError::EntryMissing(row.name.clone()))?
        .with_digest(&row.tree_digest);
    // Health first (is the profile alive?), then the whole policy, whose row is then the
    // newest one `generations` shows.
    let mut reports = Vec::new();
    if is_current && s.validation.health() {
        let python = profiles.profile_path(&s.profile).join("bin/python3");
        reports.push(validate::health(&python, &path, &expected, &s.validation));
    }
    reports.push(validate::validate(
        &path,
        &expected,
        &s.validation,
        Phase::Check,
    ));
    for r in &reports {
        record(db, row.id, &s.profile, Some(n), r)?;
    }
    Ok(reports)
}
