//! `pyswap gc`: prune generations by policy and unreferenced store entries. Meant for cron: if
//! another command holds the store for longer than `--wait`, it skips this run and exits 0.

use std::time::Duration;

use serde::Serialize;

use super::{Changes, Verb};
use crate::domain::gc::{self, Kept, Retention, Scope};
use crate::ground::text::{count, human_bytes};
use crate::interface::output::Outcome;
use crate::interface::settings::Settings;
use crate::storage::lock::{self, LockError, Mode};

#[derive(Serialize, Default)]
struct GcReport {
    dry_run: bool,
    skipped: bool,
    generations_removed: Vec<RemovedGeneration>,
    entries_removed: Vec<String>,
    leftover_dirs: u64,
    leftover_links: u64,
    bytes_freed: u64,
    cache_files_removed: u64,
    cache_bytes_freed: u64,
    entries_in_use: Vec<InUse>,
    /// Generations the policy would have deleted but a minor path (`profiles/<p>@3.11`) keeps.
    kept_for_minor_paths: Vec<KeptForMinor>,
    /// With a policy given: every generation kept and why (`current`, `newest`, `younger`,
    /// `minor_path`).
    kept: Vec<KeptGeneration>,
    /// Store directories without a database row: kept (`verify --repair` registers them).
    unregistered_entries: Vec<String>,
    /// Generation directories without a row: kept, they are roots.
    unregistered_generations: Vec<GenerationKey>,
    /// Names in `store/` that pyswap never makes: left alone.
    foreign: Vec<String>,
    /// Registered venvs whose directory is gone, or is no longer the venv registered: forgotten
    /// (their rows only; nothing outside the home is touched).
    venvs_forgotten: Vec<crate::domain::venv::Forgotten>,
    /// Entries nothing visible uses, kept because processes gc may not inspect (other users',
    /// when gc is not root) could run them; `unseen_why` says how many and the way out.
    kept_unseen: Vec<String>,
    unseen_why: Option<String>,
}

#[derive(Serialize)]
struct KeptGeneration {
    profile: String,
    generation: u64,
    reason: &'static str,
}

#[derive(Serialize)]
struct KeptForMinor {
    profile: String,
    generation: u64,
    minor: String,
}

#[derive(Serialize)]
struct InUse {
    entry: String,
    pid: u32,
}

#[derive(Serialize)]
struct GenerationKey {
    profile: String,
    number: u64,
}

#[derive(Serialize)]
struct RemovedGeneration {
    profile: String,
    number: u64,
    version: String,
}

impl GcReport {
    fn of(report: &gc::Report, dry_run: bool) -> Self {
        Self {
            dry_run,
            skipped: false,
            generations_removed: report
                .generations
                .iter()
                .map(|g| RemovedGeneration {
                    profile: g.profile.clone(),
                    number: g.number,
                    version: g.version.clone(),
                })
                .collect(),
            entries_removed: report.entries.iter().map(|e| e.name.clone()).collect(),
            leftover_dirs: report.leftover_dirs,
            leftover_links: report.leftover_links,
            bytes_freed: report.bytes_freed,
            cache_files_removed: report.cache.files,
            cache_bytes_freed: report.cache.bytes,
            entries_in_use: report
                .in_use
                .iter()
                .map(|(entry, pid)| InUse {
                    entry: entry.clone(),
                    pid: *pid,
                })
                .collect(),
            kept_for_minor_paths: report
                .kept_for_minor
                .iter()
                .map(|(profile, generation, minor)| KeptForMinor {
                    profile: profile.clone(),
                    generation: *generation,
                    minor: minor.clone(),
                })
                .collect(),
            kept: report
                .kept
                .iter()
                .map(|(profile, generation, why)| KeptGeneration {
                    profile: profile.clone(),
                    generation: *generation,
                    reason: why.as_str(),
                })
                .collect(),
            unregistered_entries: report.unregistered.clone(),
            unregistered_generations: report
                .unregistered_generations
                .iter()
                .map(|(profile, number)| GenerationKey {
                    profile: profile.clone(),
                    number: *number,
                })
                .collect(),
            foreign: report.foreign.clone(),
            venvs_forgotten: report.venvs_forgotten.clone(),
            kept_unseen: report.kept_unseen.clone(),
            unseen_why: report.unseen_why.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap gc --keep 3                  keep each profile's newest 3 generations
  pyswap gc --older-than 30d --dry-run
  15 4 * * * pyswap gc --keep 5 --quiet    a crontab line: runs at any hour, exits 0 when busy")]
pub(crate) struct Gc {
    /// Report what would be deleted without deleting it
    #[arg(long)]
    dry_run: bool,
    /// Seconds to wait for running commands before skipping (exit 0) this run
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    wait: u64,
    /// Also delete runtimes pre-staged by `install` that no generation uses
    #[arg(long)]
    staged: bool,
    /// Accepted for cron lines written when windows held gc back; gc runs at any hour
    #[arg(long, hide = true)]
    force: bool,
}

impl Verb for Gc {
    fn changes(&self) -> Changes {
        Changes::state(!self.dry_run)
    }

    fn run(&self, s: &Settings) -> anyhow::Result<Outcome> {
        // Maintenance windows gate what hosts run; gc deletes only what nothing runs or can
        // reach (module doc), so a cron gc runs at any hour instead of failing every night.
        run(
            s,
            s.gc_keep,
            s.gc_older_than,
            self.dry_run,
            Duration::from_secs(self.wait),
            self.staged,
        )
    }
}

fn run(
    s: &Settings,
    keep: Option<u64>,
    older_than: Option<Duration>,
    dry_run: bool,
    wait: Duration,
    staged: bool,
) -> anyhow::Result<Outcome> {
    // Run from cron with a home that does not exist (a wrong or missing PYSWAP_HOME), gc says
    // so rather than create one and collect nothing.
    s.home.require()?;
    // A dry run writes nothing: the database is opened read-only.
    let db = if dry_run {
        s.home.check_ours()?;
        crate::storage::db::Db::open_home_read(&s.home)?
    } else {
        Some(crate::storage::db::Db::open_existing_home(&s.home)?)
    };
    let Some(mut db) = db else {
        s.out
            .say("nothing to collect: this home has no database yet");
        return Outcome::of(&GcReport {
            dry_run,
            ..GcReport::default()
        });
    };
    let lock = lock::gc(&s.home.locks(), Mode::Exclusive, wait, &|| {
        s.out.say("waiting for running pyswap commands to finish…");
    });
    let held = match lock {
        Ok(l) => l,
        Err(LockError::Timeout { .. }) => {
            s.out.say(&format!("gc skipped: other pyswap commands were still running after {}s; nothing was changed", wait.as_secs()));
            return Outcome::of(&GcReport {
                dry_run,
                skipped: true,
                ..GcReport::default()
            });
        }
        Err(e) => return Err(e.into()),
    };
    let report = gc::run(
        &s.home,
        &mut db,
        &held,
        &s.venvs(),
        Scope::Policy(Retention {
            keep,
            older_than,
            now: s.now,
            staged,
            cache_max: s.cache_max,
        }),
        dry_run,
    )?;
    crate::activation::say_venvs(s, &report.venvs_finished);
    say(s, &report, dry_run, &|e: &str| db.runtime_label(e));
    Outcome::of(&GcReport::of(&report, dry_run))
}

/// The human report.
/// Runtimes are named by `label` (`3.11.7+20260201`, what types back); `--json` and `-v` give
/// their store entries.
fn say(s: &Settings, report: &gc::Report, dry_run: bool, label: &dyn Fn(&str) -> String) {
    let verb = if dry_run { "would remove" } else { "removed" };
    s.out.say(&format!(
        "{verb} {} generation(s), {} store entr{} and {} leftover(s); {} freed",
        report.generations.len(),
        report.entries.len(),
        if report.entries.len() == 1 {
            "y"
        } else {
            "ies"
        },
        report.leftover_dirs + report.leftover_links,
        human_bytes(report.bytes_freed)
    ));
    if report.cache.files > 0 {
        s.out.say(&format!(
            "{verb} {} file(s) from the download cache; {} freed",
            report.cache.files,
            human_bytes(report.cache.bytes)
        ));
    }
    say_kept(s, report, dry_run, label);
    for (profile, n, why) in &report.kept {
        let why = match why {
            Kept::Current => "it is current".to_owned(),
            Kept::Newest => format!(
                "it is among the newest {} (gc.keep / --keep)",
                s.gc_keep.unwrap_or_default()
            ),
            Kept::Younger => format!(
                "it is younger than {} (gc.older_than / --older-than)",
                s.gc_older_than
                    .map(|d| humantime::format_duration(d).to_string())
                    .unwrap_or_default()
            ),
            // Said below, with how to release it.
            Kept::MinorPath => continue,
        };
        s.out
            .say(&format!("kept generation {n} of `{profile}`: {why}"));
    }
    for (profile, n, minor) in &report.kept_for_minor {
        s.out.say(&format!(
            "kept generation {n} of `{profile}`: minor path {profile}@{minor} leads to it (venvs may use it); `pyswap --profile {profile} minors --remove {minor}` releases it"
        ));
    }
    for g in &report.generations {
        s.out.say(&format!(
            "  generation {} of `{}` (CPython {})",
            g.number,
            g.profile,
            g.label()
        ));
    }
    for e in &report.entries {
        tracing::info!(entry = %e.name, bytes = e.bytes, "store entry {}", if dry_run { "to remove" } else { "removed" });
        s.out.say(&format!(
            "  the runtime CPython {} ({})",
            e.label(),
            human_bytes(e.bytes)
        ));
    }
}

/// What gc kept or forgot besides its policy, and why.
fn say_kept(s: &Settings, report: &gc::Report, dry_run: bool, label: &dyn Fn(&str) -> String) {
    for f in &report.venvs_forgotten {
        s.out.warn(&format!(
            "{} the venv registered at {}: {} (it ran {}); nothing there was touched",
            if dry_run { "would forget" } else { "forgot" },
            crate::ground::text::printable(&f.path),
            f.why,
            label(&f.entry)
        ));
    }
    if let Some(why) = &report.unseen_why
        && !report.kept_unseen.is_empty()
    {
        s.out.warn(&format!(
            "kept {} store entr{} that nothing visible uses: {why}",
            report.kept_unseen.len(),
            if report.kept_unseen.len() == 1 {
                "y"
            } else {
                "ies"
            },
        ));
    }
    for (entry, pid) in &report.in_use {
        tracing::info!(entry = %entry, pid, "kept: a process runs from it");
        s.out.say(&format!(
            "kept CPython {}: nothing references it, but process {pid} still runs from it (the next gc after it exits removes it)",
            label(entry)
        ));
    }
    if !report.unregistered.is_empty() || !report.unregistered_generations.is_empty() {
        s.out.warn(&format!(
            "kept {} and {} that the database does not know (restored from a backup, or left by a crash); `pyswap verify --repair` registers them",
            count(report.unregistered.len() as u64, "store entry", "store entries"),
            count(
                report.unregistered_generations.len() as u64,
                "generation directory",
                "generation directories"
            ),
        ));
    }
    for name in &report.foreign {
        s.out.warn(&format!(
            "left {} alone: pyswap never makes that name",
            s.home
                .store()
                .join(crate::ground::text::printable(name).as_ref())
                .display()
        ));
    }
}
