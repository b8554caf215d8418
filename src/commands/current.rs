//! `pyswap current`: the profile's current generation, version and path. Under `--json` a
//! profile without a generation is a document too (`"generation": null`, exit 0), so that
//! automation can ask "what runs here?" of a fresh host.

use serde::Serialize;

use super::CommandError;
use crate::profile::Profiles;
use crate::settings::Settings;

#[derive(Serialize, Default)]
struct Current {
    profile: String,
    /// `null` (and every field below too) when the profile has no generation yet.
    generation: Option<u64>,
    version: Option<String>,
    build: Option<String>,
    key: Option<String>,
    store_path: Option<String>,
    python: Option<String>,
}

pub fn run(s: &Settings) -> anyhow::Result<()> {
    let no_current = || CommandError::NoCurrent(s.profile.clone());
    let profiles = Profiles::new(s.home.profiles());
    let found = match profiles.current(&s.profile)? {
        Some(n) => Some((n, super::open_ro(s)?.ok_or_else(no_current)?)),
        None => None,
    };
    let Some((n, db)) = found else {
        if s.out.json {
            return s.out.json(&Current {
                profile: s.profile.clone(),
                ..Current::default()
            });
        }
        return Err(no_current().into());
    };
    let g = super::generation(s, &db, n)?;
    crate::activation::check_current_intact(&profiles, &g)?;
    let store_path = s.home.store().join(&g.entry_name).display().to_string();
    s.out.data(&format!(
        "{} generation {}: CPython {} at {}\n",
        s.profile,
        n,
        g.label(),
        store_path
    ))?;
    s.out.json(&Current {
        profile: s.profile.clone(),
        generation: Some(n),
        version: Some(g.version.clone()),
        build: g.build.clone(),
        key: Some(g.key().to_owned()),
        store_path: Some(store_path),
        python: Some(
            profiles
                .profile_path(&s.profile)
                .join("bin/python3")
                .display()
                .to_string(),
        ),
    })
}
