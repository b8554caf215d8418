//! `pyswap uninstall REQUEST...`: removes installed runtimes, as `uv python uninstall` does, and
//! what `gc` would free for them: their generations that are not current, then the entries.
//!
//! It never removes a runtime a profile runs now (switch away first) or one a running process
//! uses (it would be kept anyway: see [`crate::domain::gc`]). A runtime a minor path leads to or a
//! registered venv runs on is removed only with `--force`, which says what that breaks: the
//! minor path is removed (venvs made from it stop working) and the venv is forgotten (it stops
//! working). Everything else is done by gc's own steps under the exclusive gc lock, limited to
//! the named entries ([`gc::Scope::Entries`]).

use std::collections::HashSet;

use serde::Serialize;

use super::report::Teller;
use super::{Changes, CommandError, Verb};
use crate::domain::gc::{self, Scope};
use crate::ground::text::{count, human_bytes};
use crate::ground::version::Request;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::db::{Db, EntryRow};
use crate::storage::lock::{self, Mode};
use crate::storage::profile::Profiles;

/// Why an uninstall was refused; nothing was removed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UninstallError {
    #[error(
        "CPython {runtime} is what profile `{profile}` runs now (generation {generation}); not removing it"
    )]
    Current {
        runtime: String,
        profile: String,
        generation: u64,
    },
    #[error("CPython {runtime} is used by {}; not removing it", count(*.processes, "running process", "running processes"))]
    Running { runtime: String, processes: u64 },
    #[error("not removing CPython {runtime} without --force: {}", .holders.join("; "))]
    Held {
        runtime: String,
        holders: Vec<String>,
    },
}

crate::ground::exit::register!(UninstallError);
impl crate::ground::exit::Reason for UninstallError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some(
            match self {
                Self::Current { .. } => "switch the profile to another runtime first",
                Self::Running { .. } => "`pyswap ps` lists them; stop them first",
                Self::Held { .. } => "--force removes it anyway, and with it what it says breaks",
            }
            .into(),
        )
    }
}

/// `pyswap uninstall --json` (docs/json.md).
#[derive(Serialize, Default)]
struct Report {
    /// Store entries removed (or, in a dry run, that would be).
    removed: Vec<Removed>,
    generations_removed: Vec<String>,
    /// Minor paths `--force` removed: venvs made from them stop working.
    minor_paths_removed: Vec<String>,
    /// Registered venvs `--force` forgot: they stop working.
    venvs_broken: Vec<String>,
    /// Entries gc kept after all (a process it could not see beforehand uses them).
    kept: Vec<String>,
    bytes_freed: u64,
    dry_run: bool,
}

#[derive(Serialize)]
struct Removed {
    entry: String,
    version: String,
    build: Option<String>,
    bytes: u64,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap uninstall 3.10               every installed 3.10 (never the current runtime)
  pyswap uninstall 3.11.9+20260101    one build, as `list --installed` prints it
  pyswap uninstall 3.11 --dry-run     what would be freed")]
pub(crate) struct Uninstall {
    /// Runtimes to remove, as `list --installed` prints them (`3.12.1+20260101`) or any request
    /// (`3.11` removes every installed 3.11)
    #[arg(required = true, value_name = "REQUEST")]
    requests: Vec<String>,
    /// Also remove a runtime a minor path leads to or a registered venv runs on (they stop
    /// working)
    #[arg(long)]
    force: bool,
    /// Say what would be removed, changing nothing
    #[arg(long)]
    dry_run: bool,
}

impl Verb for Uninstall {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::state(!self.dry_run)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        let tell = Teller::new(out, &s.home);
        let requests = self
            .requests
            .iter()
            .map(|r| Request::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(mut db) = (if self.dry_run {
            Db::open_home_read(&s.home)?
        } else {
            Some(Db::open_existing_home(&s.home)?)
        }) else {
            return Err(CommandError::NotInstalled(self.requests[0].clone()).into());
        };
        let held = lock::gc(&s.home.locks(), Mode::Exclusive, s.lock_wait, &|| {
            out.say("waiting for running pyswap commands to finish…");
        })?;
        let targets = targets(&db, &requests)?;
        let holders = check(s, &db, &targets)?;
        if let Some(first) = holders.first()
            && !self.force
        {
            let runtime = first.runtime().to_owned();
            return Err(UninstallError::Held {
                holders: holders
                    .iter()
                    .filter(|h| h.runtime() == runtime)
                    .map(|h| h.says("it"))
                    .collect(),
                runtime,
            }
            .into());
        }
        let mut report = Report {
            dry_run: self.dry_run,
            ..Report::default()
        };
        release(s, out, &mut db, &holders, self.dry_run, &mut report)?;
        let names: HashSet<String> = targets.iter().map(|e| e.name.clone()).collect();
        let scope = Scope::Entries {
            names: &names,
            forced: self.force,
        };
        let done = gc::run(&s.home, &mut db, &held, &s.venvs(), scope, self.dry_run)?;
        tell.venvs(&done.venvs_finished, false);
        report.generations_removed = done
            .generations
            .iter()
            .map(|g| format!("{}:{}", g.profile, g.number))
            .collect();
        report.removed = done
            .entries
            .iter()
            .map(|e| Removed {
                entry: e.name.clone(),
                version: e.version.to_string(),
                build: e.build.clone(),
                bytes: e.bytes,
            })
            .collect();
        report.kept = targets
            .iter()
            .filter(|t| !done.entries.iter().any(|e| e.name == t.name))
            .map(|t| t.name.clone())
            .collect();
        report.bytes_freed = done.bytes_freed;
        let label = |name: &str| {
            targets
                .iter()
                .find(|t| t.name == name)
                .map_or_else(|| name.to_owned(), crate::storage::db::EntryRow::label)
        };
        say(out, &report, &done, &label);
        Outcome::of(&report)
    }
}

/// The installed entries the requests name; a request that names none is an error.
fn targets(db: &Db, requests: &[Request]) -> anyhow::Result<Vec<EntryRow>> {
    let entries = db.entries()?;
    let mut out: Vec<EntryRow> = Vec::new();
    for r in requests {
        let matching: Vec<&EntryRow> = entries.iter().filter(|e| e.fits(r)).collect();
        if matching.is_empty() {
            return Err(CommandError::NotInstalled(r.to_string()).into());
        }
        for e in matching {
            if !out.iter().any(|o| o.id == e.id) {
                out.push(e.clone());
            }
        }
    }
    Ok(out)
}

/// What holds a target that `--force` releases.
enum Holder {
    /// A minor path leads to a generation of it: profile, minor, the runtime's label.
    Minor(String, String, String),
    /// A registered venv runs on it: its path, the runtime's label.
    Venv(String, String),
}

impl Holder {
    fn runtime(&self) -> &str {
        match self {
            Self::Minor(_, _, runtime) | Self::Venv(_, runtime) => runtime,
        }
    }

    /// What holds the runtime, called `it` (`"it"`, or its label).
    fn says(&self, it: &str) -> String {
        match self {
            Self::Minor(profile, minor, _) => format!(
                "minor path {profile}@{minor} leads to {it} (venvs made from that path stop working)"
            ),
            Self::Venv(path, _) => {
                format!("registered venv {path} runs on {it} (it stops working)")
            }
        }
    }
}

/// Refuses a target that a profile runs now or a running process uses; returns what holds the
/// others (minor paths, registered venvs), which only `--force` releases.
fn check(s: &Settings, db: &Db, targets: &[EntryRow]) -> anyhow::Result<Vec<Holder>> {
    let profiles = Profiles::new(s.home.profiles());
    let in_use = crate::ground::inuse::process_counts(&s.home.store());
    for e in targets {
        for p in db.profiles()? {
            if let Some(n) = profiles.current(&p)?
                && profiles.generation_entry(&p, n).as_deref() == Some(e.name.as_str())
            {
                return Err(UninstallError::Current {
                    runtime: e.label(),
                    profile: p,
                    generation: n,
                }
                .into());
            }
        }
        if let Some(&n) = in_use.get(&e.name) {
            return Err(UninstallError::Running {
                runtime: e.label(),
                processes: u64::from(n),
            }
            .into());
        }
    }
    let mut holders = Vec::new();
    for (profile, minor, n) in profiles.minors()? {
        let leads_to = n.and_then(|n| profiles.generation_entry(&profile, n));
        if let Some(e) = targets
            .iter()
            .find(|e| leads_to.as_deref() == Some(e.name.as_str()))
        {
            holders.push(Holder::Minor(profile, minor, e.label()));
        }
    }
    for v in db.venvs()? {
        if let Some(e) = targets.iter().find(|e| e.name == v.entry) {
            holders.push(Holder::Venv(v.path, e.label()));
        }
    }
    Ok(holders)
}

/// Removes the minor paths and forgets the venvs `--force` releases (in a dry run, only says so).
fn release(
    s: &Settings,
    out: Output,
    db: &mut Db,
    holders: &[Holder],
    dry_run: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let profiles = Profiles::new(s.home.profiles());
    for h in holders {
        out.warn(&format!(
            "{}: {}",
            if dry_run {
                "would release"
            } else {
                "releasing"
            },
            h.says(&format!("CPython {}", h.runtime()))
        ));
        match h {
            Holder::Minor(profile, minor, _) => {
                if !dry_run {
                    profiles.remove_minor(profile, minor)?;
                }
                report
                    .minor_paths_removed
                    .push(profiles.minor_path(profile, minor).display().to_string());
            }
            Holder::Venv(path, _) => {
                if !dry_run {
                    db.forget_venv(path)?;
                }
                report.venvs_broken.push(path.clone());
            }
        }
    }
    Ok(())
}

fn say(out: Output, report: &Report, done: &gc::Report, label: &dyn Fn(&str) -> String) {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for e in &done.entries {
        tracing::info!(entry = %e.name, "{verb}");
        out.say(&format!(
            "{verb} CPython {} ({})",
            e.label(),
            human_bytes(e.bytes)
        ));
    }
    if !done.generations.is_empty() {
        out.say(&format!(
            "{verb} {} that used {}: {}",
            count(done.generations.len() as u64, "generation", "generations"),
            if done.entries.len() == 1 {
                "it"
            } else {
                "them"
            },
            report.generations_removed.join(", ")
        ));
    }
    for name in &report.kept {
        out.warn(&format!(
            "kept CPython {}: something still uses it (`pyswap gc --dry-run` says what)",
            label(name)
        ));
    }
    out.say(&format!(
        "{}: {} freed",
        if report.dry_run {
            "dry run, nothing was changed"
        } else {
            "done"
        },
        human_bytes(report.bytes_freed)
    ));
}
