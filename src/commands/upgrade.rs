//! `pyswap upgrade`: the newest patch release of the profile's current minor version (same
//! variant) that the version policy admits, through the same validation, health check and
//! automatic rollback as `switch`. A no-op that says so when the profile is already there.

use super::CommandError;
use crate::profile::Profiles;
use crate::settings::Settings;
use crate::version::{PythonVersion, Request};

pub fn run(s: &Settings, force: bool) -> anyhow::Result<()> {
    super::within_window(s, force)?;
    let mut db = super::open_rw(s)?;
    let _gc = super::gc_shared(s)?;
    let profiles = Profiles::new(s.home.profiles());
    let no_current = || CommandError::NoCurrent(s.profile.clone());
    let n = profiles.current(&s.profile)?.ok_or_else(no_current)?;
    let g = super::generation(s, &db, n)?;
    let row = db
        .entry_by_name(&g.entry_name)?
        .ok_or_else(|| CommandError::EntryMissing(g.entry_name.clone()))?;
    let version = PythonVersion::parse(&row.version)
        .ok_or_else(|| CommandError::EntryMissing(g.entry_name.clone()))?;
    let suffix = if row.variant.is_empty() {
        String::new()
    } else {
        format!("+{}", row.variant)
    };
    let request = Request::parse(&format!("{}.{}{suffix}", version.major(), version.minor()))?;
    let platform = s.platform()?;
    let fetcher = s.fetcher();
    let catalogue = super::catalogue_for(s, &db, &fetcher, &request, &platform, false)?;
    let newest = crate::activation::resolve(s, &catalogue, &request, &platform, false)?;
    let same = newest.key == row.catalogue_key && newest.build == row.build;
    if same || (&newest.version, &newest.build) < (&version, &row.build) {
        s.out.say(&format!(
            "profile `{}` is already at the newest CPython {}.{} the catalogue and policy allow ({}, generation {n}); nothing changed",
            s.profile,
            version.major(),
            version.minor(),
            crate::version::label(&row.version, row.build.as_deref())
        ));
        let path = crate::store::Store::new(s.home.store()).path(&g.entry_name);
        return s.out.json(&crate::activation::Switched::unchanged(
            &s.profile, &g, &path,
        ));
    }
    s.out.say(&format!(
        "upgrading profile `{}`: CPython {} -> {}",
        s.profile,
        crate::version::label(&row.version, row.build.as_deref()),
        crate::version::label(&newest.version.to_string(), newest.build.as_deref())
    ));
    let done = crate::activation::activate(
        s,
        &mut db,
        &fetcher,
        &newest,
        &request.to_string(),
        "upgrade",
    )?;
    done.report(s)
}
