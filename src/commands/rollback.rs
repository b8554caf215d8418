//! `pyswap rollback [--to N]`: point the profile at an earlier (or any existing) generation.
//! Nothing is downloaded or unpacked; newer generations stay listed until gc removes them.

use serde::Serialize;

use super::CommandError;
use super::switch::{MinorChange, say_still_running};
use crate::profile::{CurrentLink, ProfileError, Profiles};
use crate::settings::Settings;
use crate::store::Store;

#[derive(Serialize)]
struct RolledBack<'a> {
    profile: &'a str,
    /// `null` when the profile link was damaged (repaired by this rollback).
    from: Option<u64>,
    generation: u64,
    version: &'a str,
    store_path: String,
    /// See `switch`'s document.
    minor_path: Option<String>,
    minor_change: Option<MinorChange>,
    previous_runtime_processes: Option<u64>,
    repaired: Vec<String>,
}

pub fn run(s: &Settings, to: Option<u64>, force: bool) -> anyhow::Result<()> {
    super::within_window(s, force)?;
    let db = super::open_rw(s)?;
    let _gc = super::gc_shared(s)?;
    let _profile = super::profile_lock(s)?;
    let profiles = Profiles::new(s.home.profiles());
    profiles.migrate(&s.profile)?;
    // A damaged profile link (a directory in its place, or a link elsewhere) is repaired by
    // `rollback --to N`; without `--to` there is no "previous" to go back to.
    let current = match (profiles.current_link(&s.profile), to) {
        (CurrentLink::Generation(n), _) => Some(n),
        (CurrentLink::Missing, None) => {
            return Err(CommandError::NoCurrent(s.profile.clone()).into());
        }
        (CurrentLink::Foreign(_) | CurrentLink::Broken(_), None) => {
            profiles.current(&s.profile)?;
            None
        }
        (_, Some(_)) => None,
    };
    let target = match (to, current) {
        (Some(n), _) => super::generation(s, &db, n)?,
        (None, None) => return Err(CommandError::NoCurrent(s.profile.clone()).into()),
        (None, Some(current)) => db
            .generations(&s.profile)?
            .into_iter()
            .rev()
            .find(|g| g.number < current)
            .ok_or_else(|| CommandError::NothingOlder {
                profile: s.profile.clone(),
                current,
            })?,
    };
    if !crate::store::is_entry_name(&target.entry_name) {
        return Err(ProfileError::BadEntry(target.entry_name.clone()).into());
    }
    let path = Store::new(s.home.store()).path(&target.entry_name);
    if path.join("bin/python3").symlink_metadata().is_err() {
        return Err(CommandError::EntryMissing(path.display().to_string()).into());
    }
    if let Some(v) = db.latest_validation(&s.profile, target.number)?
        && !v.ok
    {
        s.out.warn(&format!(
            "generation {} failed its last validation ({}); `pyswap check {}` re-runs it",
            target.number, v.phase, target.number
        ));
    }
    let from = match current {
        Some(n) => db.generation(&s.profile, n)?,
        None => None,
    };
    let repaired = super::ensure_links(&profiles, &target)?;
    for what in &repaired {
        s.out.warn(&format!(
            "profile `{}`: {what} was missing or altered; put back",
            s.profile
        ));
    }
    let (minor_change, previous_runtime_processes) = if Some(target.number) == current {
        s.out.say(&format!(
            "profile `{}` is already at generation {}",
            s.profile, target.number
        ));
        (None, None)
    } else {
        // The minor path first, unsynced: activating fsyncs `profiles/` for both renames.
        super::set_minor_link(&profiles, &target, false)?;
        super::make_current(s, &profiles, target.number)?;
        crate::crash::point("rollback:activated");
        s.out.say(&format!(
            "profile `{}`: generation {} -> {} (CPython {})",
            s.profile,
            current.map_or_else(|| "(none)".to_owned(), |n| n.to_string()),
            target.number,
            target.version
        ));
        let change = MinorChange::between(&profiles, from.as_ref(), &target);
        if let Some(c) = &change {
            c.warn(s, &s.profile);
        }
        let still = from
            .as_ref()
            .filter(|g| g.entry_id != target.entry_id)
            .map(|g| super::processes_using(s, &g.entry_name));
        if let (Some(n), Some(from)) = (still.filter(|&n| n > 0), current) {
            say_still_running(s, n, from);
        }
        (change, still)
    };
    let minor_path = super::set_minor_link(&profiles, &target, true)?;
    s.out.json(&RolledBack {
        profile: &s.profile,
        from: current,
        generation: target.number,
        version: &target.version,
        store_path: path.display().to_string(),
        minor_path,
        minor_change,
        previous_runtime_processes,
        repaired,
    })
}
