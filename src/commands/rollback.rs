//! `pyswap rollback [--to N]`: point the profile at an earlier (or any existing) generation.
//! Nothing is downloaded or unpacked; newer generations stay listed until gc removes them.

use crate::activation::ActivationError;
use serde::Serialize;

use super::report::Teller;
use super::{Changes, CommandError, Force, Verb};
use crate::activation::{self, Ctx, Event, MinorChange, Tell};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::profile::{CurrentLink, ProfileError, Profiles};
use crate::storage::store::Store;

#[derive(Serialize)]
struct RolledBack<'a> {
    profile: &'a str,
    /// `null` when the profile link was damaged (repaired by this rollback).
    from: Option<u64>,
    generation: u64,
    version: &'a str,
    build: Option<&'a str>,
    key: &'a str,
    /// `false` when the generation was already current.
    changed: bool,
    store_path: String,
    /// See `switch`'s document.
    minor_path: Option<String>,
    minor_change: Option<MinorChange>,
    previous_runtime_processes: Option<u64>,
    following_venv_processes: Vec<activation::Following>,
    venvs: Vec<crate::domain::venv::Update>,
    repaired: Vec<String>,
    /// Nothing was changed: this is what the command would do.
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap rollback                     back to the previous generation (no download)
  pyswap rollback --to 4              back to generation 4 (`pyswap generations` lists them)")]
pub(crate) struct Rollback {
    /// The generation to return to [default: the one before the current, if it runs the same minor version]
    #[arg(long, value_name = "N", value_parser = super::args::generation_number())]
    to: Option<u64>,
    /// Go ahead outside the maintenance windows, onto a generation whose last validation
    /// failed, and (without --to) onto another minor version
    #[arg(long)]
    force: bool,
    /// Report what would happen (the same document and exit status), changing nothing
    #[arg(long)]
    dry_run: bool,
}

impl Verb for Rollback {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::attempt("rollback", self.dry_run)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.to, Force { force: self.force }, self.dry_run)
    }
}

fn run(
    s: &Settings,
    out: Output,
    to: Option<u64>,
    force: Force,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let mut gate = force.gate(s, out);
    let chosen = gate.found(choose(s, out, to, dry_run))?;
    let RollbackTarget {
        mut db,
        profiles,
        current,
        target,
        _locks,
    } = chosen;
    let changed = current != Some(target.number);
    gate.pass(changed)?;
    // A plain rollback stays on the current minor version: after gc, the generation before the
    // current one may be one kept only for another minor's path (a switch across minor versions
    // is asked for by name, and so is this).
    if to.is_none() && changed && !force.force {
        let from = current
            .map(|n| db.generation(&s.profile, n))
            .transpose()?
            .flatten();
        if let (Some(from), Some(to)) = (
            from.as_ref()
                .and_then(crate::storage::db::GenerationRow::minor),
            target.minor(),
        ) && from != to
        {
            return Err(CommandError::OtherMinor {
                profile: s.profile.clone(),
                number: target.number,
                version: target.label(),
                from,
                to,
            }
            .into());
        }
    }
    if !crate::storage::store::is_entry_name(&target.entry_name) {
        return Err(ProfileError::BadEntry(target.entry_name.clone()).into());
    }
    let path = Store::new(s.home.store()).path(&target.entry_name);
    if path.join("bin/python3").symlink_metadata().is_err() {
        return Err(ActivationError::EntryMissing(path.display().to_string()).into());
    }
    // A generation whose last validation (its health check, a `check`) failed is returned to
    // only on purpose: the way back must not lead onto a runtime known not to work.
    if let Some(v) = db.latest_validation(&s.profile, target.number)?
        && !v.ok
        && changed
    {
        let at = crate::ground::clock::rfc3339(v.created);
        if !force.force {
            return Err(CommandError::FailedGeneration {
                profile: s.profile.clone(),
                number: target.number,
                phase: v.phase,
                at,
            }
            .into());
        }
        out.warn(&format!(
            "generation {} failed its last validation ({}, {at}); going ahead because of --force",
            target.number, v.phase
        ));
    }
    let done = if dry_run {
        dry_run_report(s, out, &db, &profiles, &target, current, changed)?
    } else {
        activation::return_to(cx, &mut db, &profiles, &target, current)?
    };
    Outcome::of(&RolledBack {
        profile: &s.profile,
        from: current,
        generation: target.number,
        version: &target.version.to_string(),
        build: target.build.as_deref(),
        key: target.key(),
        changed,
        store_path: path.display().to_string(),
        minor_path: done.minor_path,
        minor_change: done.minor_change,
        previous_runtime_processes: done.previous_runtime_processes,
        following_venv_processes: done.following_venv_processes,
        venvs: done.venvs,
        repaired: done.repaired,
        dry_run,
    })
}

/// The generation to return to, and what was needed to find it.
struct RollbackTarget {
    db: crate::storage::db::Db,
    profiles: Profiles,
    /// The current generation, when the profile link is intact.
    current: Option<u64>,
    target: crate::storage::db::GenerationRow,
    /// The gc and profile locks (none in a dry run, which writes nothing).
    _locks: Option<(crate::storage::lock::GcLock, crate::storage::lock::Lock)>,
}

fn choose(
    s: &Settings,
    out: Output,
    to: Option<u64>,
    dry_run: bool,
) -> anyhow::Result<RollbackTarget> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let no_current = || CommandError::NoCurrent(s.profile.clone());
    let (db, locks) = if dry_run {
        (
            crate::storage::db::Db::open_home_read(&s.home)?.ok_or_else(no_current)?,
            None,
        )
    } else {
        let db = crate::storage::db::Db::open_existing_home(&s.home)?;
        let gc = super::gc_shared_lock(s, out)?;
        (db, Some((gc, activation::profile_lock(cx)?)))
    };
    let profiles = Profiles::new(s.home.profiles());
    if !dry_run {
        profiles.migrate(&s.profile)?;
    }
    // A damaged profile link (a directory in its place, or a link elsewhere) is repaired by
    // `rollback --to N`; without `--to` there is no "previous" to go back to.
    let current = match (profiles.current_link(&s.profile), to) {
        (CurrentLink::Generation(n), _) => Some(n),
        (CurrentLink::Missing, None) => return Err(no_current().into()),
        (CurrentLink::Foreign(_) | CurrentLink::Broken(_), None) => {
            profiles.current(&s.profile)?;
            None
        }
        (_, Some(_)) => None,
    };
    let target = match (to, current) {
        (Some(n), _) => super::error::generation(s, &db, n)?,
        (None, None) => return Err(no_current().into()),
        (None, Some(current)) => db.generation_before(&s.profile, current)?.ok_or_else(|| {
            CommandError::NothingOlder {
                profile: s.profile.clone(),
                current,
            }
        })?,
    };
    Ok(RollbackTarget {
        db,
        profiles,
        current,
        target,
        _locks: locks,
    })
}

/// What a rollback to `target` would do, said and returned without changing anything.
fn dry_run_report(
    s: &Settings,
    out: Output,
    db: &crate::storage::db::Db,
    profiles: &Profiles,
    target: &crate::storage::db::GenerationRow,
    current: Option<u64>,
    changed: bool,
) -> anyhow::Result<activation::ReturnReport> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    out.say(&format!(
        "would make generation {} (CPython {}) of `{}` current{} (dry run: nothing was changed)",
        target.number,
        target.label(),
        s.profile,
        if changed { "" } else { "; it already is" }
    ));
    let from = match current {
        Some(n) if changed => db.generation(&s.profile, n)?,
        _ => None,
    };
    let minor_change = MinorChange::between(profiles, from.as_ref(), target);
    if let Some(c) = &minor_change {
        tell.tell(Event::MinorChanged {
            profile: &s.profile,
            change: c,
            ahead: true,
        });
    }
    // What the rollback would do to processes and venvs; a venv going back to a runtime it
    // ran on is not checked again, as in the real run.
    let effects = if changed {
        let minor = target.minor().unwrap_or_default();
        activation::Effects::of(
            cx,
            db,
            from.as_ref(),
            activation::Target {
                entry: Some(&target.entry_name),
                key: target.key(),
                minor: &minor,
                version: &target.version.to_string(),
            },
            false,
        )
    } else {
        activation::Effects::default()
    };
    tell.effects_ahead(
        effects.previous_runtime_processes,
        current,
        &effects.following,
        &effects.venvs,
    );
    Ok(activation::ReturnReport {
        minor_change,
        previous_runtime_processes: effects.previous_runtime_processes,
        following_venv_processes: effects.following,
        venvs: effects.venvs,
        ..activation::ReturnReport::default()
    })
}
