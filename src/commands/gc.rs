//! `pyswap gc`: prune generations by policy and unreferenced store entries. Meant for cron: if
//! another command holds the store for longer than `--wait`, it skips this run and exits 0.

use std::time::Duration;

use super::report::Teller;
use super::{Changes, Verb};
use crate::domain::gc::{self, Kept, Retention, Scope};
use crate::ground::text::{count, human_bytes};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::lock::{self, LockError, Mode};

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
    fn reads() -> &'static [Group] {
        &[Group::Cache, Group::Gc]
    }

    // gc takes the network flags a wrapper passes to every command, and reads none of them.
    fn accepts() -> &'static [Group] {
        &[Group::Network, Group::Cache, Group::Gc]
    }

    fn changes(&self) -> Changes {
        Changes::state(!self.dry_run)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        // Maintenance windows gate what hosts run; gc deletes only what nothing runs or can
        // reach (module doc), so a cron gc runs at any hour instead of failing every night.
        run(
            s,
            out,
            s.gc.keep,
            s.gc.older_than,
            self.dry_run,
            Duration::from_secs(self.wait),
            self.staged,
        )
    }
}

fn run(
    s: &Settings,
    out: Output,
    keep: Option<u64>,
    older_than: Option<Duration>,
    dry_run: bool,
    wait: Duration,
    staged: bool,
) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
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
        out.say("nothing to collect: this home has no database yet");
        return Outcome::of(&gc::Report {
            dry_run,
            ..gc::Report::default()
        });
    };
    let lock = lock::gc(&s.home.locks(), Mode::Exclusive, wait, &|| {
        out.say("waiting for running pyswap commands to finish…");
    });
    let held = match lock {
        Ok(l) => l,
        Err(LockError::Timeout { .. }) => {
            out.say(&format!("gc skipped: other pyswap commands were still running after {}s; nothing was changed", wait.as_secs()));
            return Outcome::of(&gc::Report {
                dry_run,
                skipped: true,
                ..gc::Report::default()
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
            cache_max: s.downloads.cache_max,
        }),
        dry_run,
    )?;
    tell.venvs(&report.venvs_finished, false);
    say(s, out, &report, dry_run, &|e: &str| db.runtime_label(e));
    Outcome::of(&report)
}

/// The human report.
/// Runtimes are named by `label` (`3.11.7+20260201`, what types back); `--json` and `-v` give
/// their store entries.
fn say(
    s: &Settings,
    out: Output,
    report: &gc::Report,
    dry_run: bool,
    label: &dyn Fn(&str) -> String,
) {
    let verb = if dry_run { "would remove" } else { "removed" };
    out.say(&format!(
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
    if report.cache_files_removed > 0 {
        out.say(&format!(
            "{verb} {} file(s) from the download cache; {} freed",
            report.cache_files_removed,
            human_bytes(report.cache_bytes_freed)
        ));
    }
    say_kept(s, out, report, dry_run, label);
    for k in &report.kept {
        let (profile, n) = (&k.profile, k.generation);
        let why = match k.reason {
            Kept::Current => "it is current".to_owned(),
            Kept::Newest => format!(
                "it is among the newest {} (gc.keep / --keep)",
                s.gc.keep.unwrap_or_default()
            ),
            Kept::Younger => format!(
                "it is younger than {} (gc.older_than / --older-than)",
                s.gc.older_than
                    .map(|d| humantime::format_duration(d).to_string())
                    .unwrap_or_default()
            ),
            // Said below, with how to release it.
            Kept::MinorPath => continue,
        };
        out.say(&format!("kept generation {n} of `{profile}`: {why}"));
    }
    for k in &report.kept_for_minor {
        let (profile, n, minor) = (&k.profile, k.generation, &k.minor);
        out.say(&format!(
            "kept generation {n} of `{profile}`: minor path {profile}@{minor} leads to it (venvs may use it); `pyswap --profile {profile} minors --remove {minor}` releases it"
        ));
    }
    for g in &report.generations {
        out.say(&format!(
            "  generation {} of `{}` (CPython {})",
            g.number,
            g.profile,
            g.label()
        ));
    }
    for e in &report.entries {
        tracing::info!(entry = %e.name, bytes = e.bytes, "store entry {}", if dry_run { "to remove" } else { "removed" });
        out.say(&format!(
            "  the runtime CPython {} ({})",
            e.label(),
            human_bytes(e.bytes)
        ));
    }
}

/// What gc kept or forgot besides its policy, and why.
fn say_kept(
    s: &Settings,
    out: Output,
    report: &gc::Report,
    dry_run: bool,
    label: &dyn Fn(&str) -> String,
) {
    for f in &report.venvs_forgotten {
        out.warn(&format!(
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
        out.warn(&format!(
            "kept {} store entr{} that nothing visible uses: {why}",
            report.kept_unseen.len(),
            if report.kept_unseen.len() == 1 {
                "y"
            } else {
                "ies"
            },
        ));
    }
    for gc::InUse { entry, pid } in &report.in_use {
        tracing::info!(entry = %entry, pid, "kept: a process runs from it");
        out.say(&format!(
            "kept CPython {}: nothing references it, but process {pid} still runs from it (the next gc after it exits removes it)",
            label(entry)
        ));
    }
    if !report.unregistered.is_empty() || !report.unregistered_generations.is_empty() {
        out.warn(&format!(
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
        out.warn(&format!(
            "left {} alone: pyswap never makes that name",
            s.home
                .store()
                .join(crate::ground::text::printable(name).as_ref())
                .display()
        ));
    }
}
