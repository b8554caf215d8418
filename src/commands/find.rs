//! `pyswap find [REQUEST]`: the path of an installed interpreter that fits, as `uv python find`,
//! preferring a path that stays valid:
//!
//! - no REQUEST: the profile's `bin/python3`, which follows every switch;
//! - a REQUEST: of the installed runtimes that fit, the one the profile runs now, else the
//!   newest a minor path leads to, else the newest; its path is the minor path's (`<profile>@3.11`,
//!   which follows patch upgrades of 3.11 and never moves to 3.12), else the profile's (when it
//!   is the current runtime), else its store path (valid until it is uninstalled or collected).
//!
//! Exit 1 when nothing installed fits. Nothing is downloaded.

use serde::Serialize;

use super::{Changes, CommandError, Verb};
use crate::ground::version::Request;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::db::{Db, EntryRow};
use crate::storage::profile::Profiles;
use crate::storage::store::Store;

/// `pyswap find --json` (docs/json.md).
#[derive(Serialize)]
struct Found {
    /// The interpreter: `…/bin/python3`.
    path: String,
    /// `profile`, `minor` or `store`: what the path is, and so what a venv made from it does.
    kind: &'static str,
    version: String,
    build: Option<String>,
    entry: String,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
What a venv made from each kind of path does:
  profile  (profiles/<p>/bin/python3) follows every switch of the profile, to another minor
           version too, where it stops working; `pyswap switch` warns before that happens
  minor    (profiles/<p>@3.11/bin/python3) follows patch upgrades of 3.11 and never leaves it
  store    (store/<entry>/bin/python3) stays on that one build, and stops working when the
           runtime is uninstalled or collected: register it with `pyswap venv adopt` to keep it

Examples:
  pyswap find                   the profile's interpreter
  pyswap find 3.11              an installed 3.11, through its minor path when there is one
  \"$(pyswap find 3.11)\" -m venv /srv/app/venv    a venv that stays on 3.11")]
pub(crate) struct Find {
    /// A request (`3.11`, `3.12.1+20260101`, `cpython@3.13t`); without one, the profile's
    /// current interpreter
    request: Option<String>,
}

impl Verb for Find {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        let found = find(s, self.request.as_deref())?;
        out.data(&format!(
            "{}\n",
            crate::ground::text::printable(&found.path)
        ))?;
        Outcome::of(&found)
    }
}

fn find(s: &Settings, request: Option<&str>) -> anyhow::Result<Found> {
    let request = request.map(Request::parse).transpose()?;
    let profiles = Profiles::new(s.home.profiles());
    let db = Db::open_home_read(&s.home)?;
    let current = profiles
        .current(&s.profile)?
        .and_then(|n| profiles.generation_entry(&s.profile, n));
    let entries = match &db {
        Some(db) => db.entries()?,
        None => Vec::new(),
    };
    let python = |dir: std::path::PathBuf| dir.join("bin/python3").display().to_string();
    let Some(request) = request else {
        let entry = current
            .as_ref()
            .and_then(|c| entries.iter().find(|e| &e.name == c))
            .ok_or_else(|| CommandError::NoCurrent(s.profile.clone()))?;
        return Ok(Found::of(
            python(profiles.profile_path(&s.profile)),
            "profile",
            entry,
        ));
    };
    // Newest first, so that "the first that..." below is the newest that does.
    let mut fitting: Vec<&EntryRow> = entries.iter().filter(|e| e.fits(&request)).collect();
    fitting.sort_by_cached_key(|e| {
        std::cmp::Reverse((
            Some(e.version.clone()),
            crate::ground::version::build_rank(e.build.as_deref()),
        ))
    });
    let minors: Vec<(String, String)> = profiles
        .minors()?
        .into_iter()
        .filter(|(p, _, _)| *p == s.profile)
        .filter_map(|(p, minor, n)| Some((minor, profiles.generation_entry(&p, n?)?)))
        .collect();
    let minor_of = |e: &EntryRow| minors.iter().find(|(_, entry)| *entry == e.name);
    let chosen = fitting
        .iter()
        .find(|e| current.as_deref() == Some(e.name.as_str()))
        .or_else(|| fitting.iter().find(|e| minor_of(e).is_some()))
        .or_else(|| fitting.first())
        .ok_or_else(|| CommandError::NotInstalled(request.to_string()))?;
    Ok(if let Some((minor, _)) = minor_of(chosen) {
        Found::of(
            python(profiles.minor_path(&s.profile, minor)),
            "minor",
            chosen,
        )
    } else if current.as_deref() == Some(chosen.name.as_str()) {
        Found::of(python(profiles.profile_path(&s.profile)), "profile", chosen)
    } else {
        Found::of(
            python(Store::new(s.home.store()).path(&chosen.name)),
            "store",
            chosen,
        )
    })
}

impl Found {
    fn of(path: String, kind: &'static str, e: &EntryRow) -> Self {
        Self {
            path,
            kind,
            version: e.version.to_string(),
            build: e.build.clone(),
            entry: e.name.clone(),
        }
    }
}
