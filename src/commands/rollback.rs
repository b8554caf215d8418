//! `pyswap rollback [--to N]`: point the profile at an earlier (or any existing) generation.
//! Nothing is downloaded or unpacked; newer generations stay listed until gc removes them.

use serde::Serialize;

use super::CommandError;
use crate::activation::{self, MinorChange};
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
    build: Option<&'a str>,
    key: &'a str,
    /// `false` when the generation was already current.
    changed: bool,
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
    let _profile = activation::profile_lock(s)?;
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
    let done = activation::return_to(s, &db, &profiles, &target, current)?;
    s.out.json(&RolledBack {
        profile: &s.profile,
        from: current,
        generation: target.number,
        version: &target.version,
        build: target.build.as_deref(),
        key: target.key(),
        changed: current != Some(target.number),
        store_path: path.display().to_string(),
        minor_path: done.minor_path,
        minor_change: done.minor_change,
        previous_runtime_processes: done.previous_runtime_processes,
        repaired: done.repaired,
    })
}
