//! `pyswap current`: the profile's current generation, version and path. Under `--json` a
//! profile without a generation is a document too (`"generation": null`, exit 0), so that
//! automation can ask "what runs here?" of a fresh host.

use serde::Serialize;

use super::{Changes, CommandError, Verb};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::profile::Profiles;

#[derive(Serialize, Default)]
struct Shown {
    profile: String,
    /// `null` (and every field below too) when the profile has no generation yet.
    generation: Option<u64>,
    version: Option<String>,
    build: Option<String>,
    key: Option<String>,
    store_path: Option<String>,
    python: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Current {}

impl Verb for Current {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out)
    }
}

fn run(s: &Settings, out: Output) -> anyhow::Result<Outcome> {
    let no_current = || CommandError::NoCurrent(s.profile.clone());
    let profiles = Profiles::new(s.home.profiles());
    let found = match profiles.current(&s.profile)? {
        Some(n) => Some((
            n,
            crate::storage::db::Db::open_home_read(&s.home)?.ok_or_else(no_current)?,
        )),
        None => None,
    };
    let Some((n, db)) = found else {
        if out.json {
            return Outcome::of(&Shown {
                profile: s.profile.clone(),
                ..Shown::default()
            });
        }
        return Err(no_current().into());
    };
    let g = super::error::generation(s, &db, n)?;
    crate::activation::check_current_intact(&profiles, &g)?;
    let store_path = s.home.store().join(&g.entry_name).display().to_string();
    out.data(&format!(
        "{} generation {}: CPython {} at {}\n",
        s.profile,
        n,
        g.label(),
        crate::ground::text::printable(&store_path)
    ))?;
    Outcome::of(&Shown {
        profile: s.profile.clone(),
        generation: Some(n),
        version: Some(g.version.to_string()),
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
