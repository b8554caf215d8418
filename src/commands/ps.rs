//! `pyswap ps`: the running processes that run a runtime of the store (its executable or a mapped
//! library is in the entry, found through `/proc` like gc's runtime roots), with the generations that use that runtime and whether it is what
//! the profile runs now: the list of services to restart after a switch (Debian's
//! `needrestart` is the model). Each process's systemd unit comes from its control group
//! (`units`); `ps --units` prints the services to restart, one per line, for `systemctl restart`.

use serde::Serialize;

use super::{Changes, Verb};
use crate::ground::text::{Column, Table};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::profile::Profiles;

/// One element of `pyswap ps --json` (docs/json.md): its flags are the document's fields.
#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)]
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
    /// It runs a build the profile moved away from: the entry is one of the profile's
    /// generations but neither its current one nor one of its minor links' (a restart through
    /// the profile's paths picks up the build it runs now).
    old_runtime: bool,
    /// The systemd unit it runs in (`nginx.service`, `session-3.scope`), from its control group.
    unit: Option<String>,
    /// Under a user's service manager (`user@1000.service`): that user's unit.
    user_unit: Option<String>,
    #[serde(skip)]
    restartable: bool,
    /// The venv it runs from, as its command line (or `VIRTUAL_ENV`) says, if any.
    venv: Option<String>,
    /// That venv's `home` is a profile or minor path: its next stdlib import reads whatever
    /// the profile runs now, not `entry` (restart it, or `pyswap venv adopt` the venv).
    venv_follows_profile: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Ps {
    /// Print only the systemd services that run a build the profile moved away from, one per
    /// line, for `systemctl restart` (processes outside a system service are counted on stderr)
    #[arg(long)]
    units: bool,
}

impl Verb for Ps {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.units)
    }
}

/// Every (process, entry) pair of the store's running processes, and how many processes could
/// not be inspected (said on stderr here).
fn scan(s: &Settings, out: Output) -> anyhow::Result<(Vec<Running>, usize)> {
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
    let old = profiles.old_entries(&s.profile, &gens);
    let mut rows = Vec::new();
    let scan = crate::ground::inuse::scan(&s.home.store(), crate::ground::inuse::Uses::Runs, None);
    // Another user's processes cannot be inspected unless pyswap is root: say how many, on
    // stderr (the JSON array stays the rows), so that "nothing runs" is never said for them.
    let hidden = scan.hidden.len();
    if hidden > 0 {
        let n = crate::ground::text::count(hidden as u64, "process", "processes");
        out.warn(&if rustix::process::geteuid().is_root() {
            format!("{n} could not be inspected (`/proc` refused their mappings); they may run a runtime of this store")
        } else {
            format!("{n} of other users could not be inspected (they may run a runtime of this store); root sees them: `sudo pyswap ps`")
        });
    }
    for p in scan.processes {
        let venv = crate::domain::venv::of_process(p.pid);
        let follows = venv
            .as_deref()
            .is_some_and(|v| crate::domain::venv::following(&s.home, v).is_some());
        let unit = crate::ground::units::of_process(p.pid);
        for entry in &p.entries {
            let row = entries.iter().find(|e| &e.name == entry);
            let generation = gens.iter().rev().find(|g| &g.entry_name == entry);
            rows.push(Running {
                pid: p.pid,
                user: crate::ground::inuse::user_name(p.uid),
                command: p.command.clone(),
                entry: entry.clone(),
                version: row.map(|r| r.version.to_string()),
                build: row.and_then(|r| r.build.clone()),
                variant: row.map(|r| r.variant.name().to_owned()).unwrap_or_default(),
                profile: generation.map(|g| g.profile.clone()),
                generation: generation.map(|g| g.number),
                current: current.as_deref() == Some(entry.as_str()),
                old_runtime: old.contains(entry),
                unit: unit.as_ref().map(|u| u.system.clone()),
                user_unit: unit.as_ref().and_then(|u| u.user.clone()),
                restartable: unit
                    .as_ref()
                    .is_some_and(crate::ground::units::Unit::restartable),
                venv: venv.as_ref().map(|v| v.display().to_string()),
                venv_follows_profile: follows,
            });
        }
    }
    Ok((rows, hidden))
}

fn run(s: &Settings, out: Output, units: bool) -> anyhow::Result<Outcome> {
    let (rows, hidden) = scan(s, out)?;
    if units {
        return restart_list(out, &rows);
    }
    if out.json {
        return Outcome::of(&rows);
    }
    if rows.is_empty() {
        out.say(if hidden > 0 {
            "no process this user may inspect uses a runtime of this store"
        } else {
            "no running process uses a runtime of this store"
        });
        return Ok(Outcome::none());
    }
    out.data(&table(&rows))?;
    let stale = rows.iter().filter(|r| !r.current).count();
    if stale > 0 {
        out.say(&format!(
            "{stale} of {} run an older runtime than profile `{}`'s current one: restart them to pick it up",
            rows.len(),
            s.profile
        ));
    }
    Ok(Outcome::none())
}

/// `ps --units`: each system service with a process on a build the profile moved away from,
/// once, sorted, on stdout (a `--json` array of their names); the rest of those processes
/// (login sessions, user services, no unit) counted on stderr with what to do about them.
fn restart_list(out: Output, rows: &[Running]) -> anyhow::Result<Outcome> {
    let old: Vec<&Running> = rows.iter().filter(|r| r.old_runtime).collect();
    let units: std::collections::BTreeSet<&str> = old
        .iter()
        .filter(|r| r.restartable)
        .filter_map(|r| r.unit.as_deref())
        .collect();
    let others: std::collections::BTreeSet<u32> = old
        .iter()
        .filter(|r| !r.restartable)
        .map(|r| r.pid)
        .collect();
    if !others.is_empty() {
        let pids = crate::ground::text::comma_list(&others);
        out.warn(&format!(
            "{} on an older build {} outside a system service (a login session, a user's own unit, or no unit: pid {pids}); restart {} by hand",
            crate::ground::text::count(others.len() as u64, "process", "processes"),
            crate::ground::text::plural(others.len() as u64, "runs", "run"),
            crate::ground::text::plural(others.len() as u64, "it", "them"),
        ));
    }
    if out.json {
        return Outcome::of(&units);
    }
    let mut text = String::new();
    for u in &units {
        text.push_str(u);
        text.push('\n');
    }
    out.data(&text)?;
    Ok(Outcome::none())
}

/// The human listing: one row per (process, entry), its venv on a line below.
fn table(rows: &[Running]) -> String {
    let mut t = Table::new([
        Column::right("PID").min(7),
        Column::left("USER").min(10).droppable(),
        Column::right("GEN").min(3),
        Column::left("VERSION").min(16),
        Column::left("CURRENT").min(7),
        Column::left("UNIT").elide(),
        Column::left("COMMAND").elide(),
    ]);
    for r in rows {
        let version = r.version.as_deref().map_or_else(
            || "(unregistered)".into(),
            |v| crate::ground::version::label(v, &r.variant, r.build.as_deref()),
        );
        t.row([
            r.pid.to_string(),
            r.user.clone(),
            r.generation.map_or_else(|| "-".into(), |g| g.to_string()),
            version,
            if r.current { "yes" } else { "no" }.to_owned(),
            r.user_unit.as_ref().map_or_else(
                || r.unit.clone().unwrap_or_else(|| "-".into()),
                |u| format!("{u} (user)"),
            ),
            crate::ground::text::printable(&r.command).into_owned(),
        ]);
        if let Some(v) = &r.venv {
            let v = crate::ground::text::printable(v);
            t.note(if r.venv_follows_profile {
                format!(
                    "         venv {v} (made from a profile path: it follows the profile; `pyswap venv adopt {v}` keeps it on one build)"
                )
            } else {
                format!("         venv {v}")
            });
        }
    }
    t.render()
}
