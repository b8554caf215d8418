//! `pyswap ps`: the running processes that run a runtime of the store (its executable or a mapped
//! library is in the entry, found through `/proc` like gc's runtime roots), with the generations that use that runtime and whether it is what
//! the profile runs now: the list of services to restart after a switch (Debian's
//! `needrestart` is the model).

use serde::Serialize;

use super::{Changes, Verb};
use crate::output::Outcome;
use crate::settings::Settings;
use crate::storage::profile::Profiles;
use crate::text::{Column, Table};

/// One element of `pyswap ps --json` (docs/json.md).
#[derive(Serialize)]
struct Running {
    pid: u32,
    user: String,
    command: String,
    /// The store entry it uses (a process using several is listed once per entry).
    entry: String,
    version: Option<String>,
    build: Option<String>,
    #[serde(skip)]
    variant: String,
    /// The selected profile's newest generation that uses this entry, if any.
    profile: Option<String>,
    generation: Option<u64>,
    /// Whether the entry is what the profile's current generation uses.
    current: bool,
    /// The venv it runs from, as its command line (or `VIRTUAL_ENV`) says, if any.
    venv: Option<String>,
    /// That venv's `home` is a profile or minor path: its next stdlib import reads whatever
    /// the profile runs now, not `entry` (restart it, or `pyswap venv adopt` the venv).
    venv_follows_profile: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Ps {}

impl Verb for Ps {
    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings) -> anyhow::Result<Outcome> {
        run(s)
    }
}

fn run(s: &Settings) -> anyhow::Result<Outcome> {
    let db = crate::storage::db::Db::open_home_read(&s.home)?;
    let (gens, entries) = match &db {
        Some(db) => (db.generations(&s.profile)?, db.entries()?),
        None => Default::default(),
    };
    let profiles = Profiles::new(s.home.profiles());
    let current = profiles
        .current(&s.profile)
        .ok()
        .flatten()
        .and_then(|n| profiles.generation_entry(&s.profile, n));
    let mut rows = Vec::new();
    let scan = crate::inuse::scan(&s.home.store(), crate::inuse::Uses::Runs, None);
    // Another user's processes cannot be inspected unless pyswap is root: say how many, on
    // stderr (the JSON array stays the rows), so that "nothing runs" is never said for them.
    let hidden = scan.hidden.len();
    if hidden > 0 {
        let n = crate::text::count(hidden as u64, "process", "processes");
        s.out.warn(&if rustix::process::geteuid().is_root() {
            format!("{n} could not be inspected (`/proc` refused their mappings); they may run a runtime of this store")
        } else {
            format!("{n} of other users could not be inspected (they may run a runtime of this store); root sees them: `sudo pyswap ps`")
        });
    }
    for p in scan.processes {
        let venv = crate::venv::of_process(p.pid);
        let follows = venv
            .as_deref()
            .is_some_and(|v| crate::venv::following(&s.home, v).is_some());
        for entry in &p.entries {
            let row = entries.iter().find(|e| &e.name == entry);
            let generation = gens.iter().rev().find(|g| &g.entry_name == entry);
            rows.push(Running {
                pid: p.pid,
                user: crate::inuse::user_name(p.uid),
                command: p.command.clone(),
                entry: entry.clone(),
                version: row.map(|r| r.version.clone()),
                build: row.and_then(|r| r.build.clone()),
                variant: row.map(|r| r.variant.clone()).unwrap_or_default(),
                profile: generation.map(|g| g.profile.clone()),
                generation: generation.map(|g| g.number),
                current: current.as_deref() == Some(entry.as_str()),
                venv: venv.as_ref().map(|v| v.display().to_string()),
                venv_follows_profile: follows,
            });
        }
    }
    if s.out.json {
        return Outcome::of(&rows);
    }
    if rows.is_empty() {
        s.out.say(if hidden > 0 {
            "no process this user may inspect uses a runtime of this store"
        } else {
            "no running process uses a runtime of this store"
        });
        return Ok(Outcome::none());
    }
    let mut t = Table::new([
        Column::right("PID").min(7),
        Column::left("USER").min(10),
        Column::right("GEN").min(3),
        Column::left("VERSION").min(16),
        Column::left("CURRENT").min(7),
        Column::left("COMMAND"),
    ]);
    for r in &rows {
        let version = r.version.as_deref().map_or_else(
            || "(unregistered)".into(),
            |v| crate::version::label(v, &r.variant, r.build.as_deref()),
        );
        t.row([
            r.pid.to_string(),
            r.user.clone(),
            r.generation.map_or_else(|| "-".into(), |g| g.to_string()),
            version,
            if r.current { "yes" } else { "no" }.to_owned(),
            crate::text::printable(&r.command).into_owned(),
        ]);
        if let Some(v) = &r.venv {
            let v = crate::text::printable(v);
            t.note(if r.venv_follows_profile {
                format!(
                    "         venv {v} (made from a profile path: it follows the profile; `pyswap venv adopt {v}` keeps it on one build)"
                )
            } else {
                format!("         venv {v}")
            });
        }
    }
    s.out.data(&t.render())?;
    let stale = rows.iter().filter(|r| !r.current).count();
    if stale > 0 {
        s.out.say(&format!(
            "{stale} of {} run an older runtime than profile `{}`'s current one: restart them to pick it up",
            rows.len(),
            s.profile
        ));
    }
    Ok(Outcome::none())
}
