//! `pyswap current`: the profile's current generation, version and path.

use serde::Serialize;

use super::CommandError;
use crate::profile::Profiles;
use crate::settings::Settings;

#[derive(Serialize)]
struct Current {
    profile: String,
    generation: u64,
    version: String,
    build: Option<String>,
    key: String,
    store_path: String,
    python: String,
}

pub fn run(s: &Settings) -> anyhow::Result<()> {
    let no_current = || CommandError::NoCurrent(s.profile.clone());
    let profiles = Profiles::new(s.home.profiles());
    let n = profiles.current(&s.profile)?.ok_or_else(no_current)?;
    let db = super::open_ro(s)?.ok_or_else(no_current)?;
    let g = super::generation(s, &db, n)?;
    crate::activation::check_current_intact(&profiles, &g)?;
    let c = Current {
        profile: s.profile.clone(),
        generation: n,
        store_path: s.home.store().join(&g.entry_name).display().to_string(),
        python: profiles
            .profile_path(&s.profile)
            .join("bin/python3")
            .display()
            .to_string(),
        key: g.key().to_owned(),
        build: g.build.clone(),
        version: g.version.clone(),
    };
    s.out.data(&format!(
        "{} generation {}: CPython {} at {}\n",
        c.profile,
        c.generation,
        g.label(),
        c.store_path
    ))?;
    s.out.json(&c)
}
