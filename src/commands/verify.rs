//! `pyswap verify [--repair]`: re-hash the store against the database, cross-check links, and
//! with `--repair` fix what can be fixed (see `verify` for what each finding means).

use std::collections::HashSet;

use serde::Serialize;

use super::{Changes, Verb};
use crate::domain::install;
use crate::domain::verify::{Finding, Findings, Problem, VerifyError, audit};
use crate::ground::text::human_bytes;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::lock::{self, Mode};
use crate::storage::profile::Profiles;
use crate::storage::store::Store;

#[derive(Serialize)]
struct Verified {
    ok: bool,
    repair: bool,
    entries_checked: u64,
    /// Every entry's files, as their trees hold them.
    files_hashed: u64,
    bytes_hashed: u64,
    /// What was read: a file entries share (one inode) once.
    files_read: u64,
    bytes_read: u64,
    problems: Vec<Finding>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Verify {
    /// Re-fetch corrupt or missing entries, remove unregistered ones, re-create broken links
    #[arg(long)]
    repair: bool,
}

impl Verb for Verify {
    fn reads() -> &'static [Group] {
        &[
            Group::Network,
            Group::Cache,
            Group::Install,
            Group::Validation,
        ]
    }

    fn changes(&self) -> Changes {
        Changes::state(self.repair)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.repair)
    }
}

fn run(s: &Settings, out: Output, repair: bool) -> anyhow::Result<Outcome> {
    // Repairing writes: the home must be pyswap's and safe, and a lost database is created
    // empty, then rebuilt from the store and the profiles below.
    let db = if repair {
        Some(crate::storage::db::Db::open_existing_home(&s.home)?)
    } else {
        crate::storage::db::Db::open_home_read(&s.home)?
    };
    let Some(mut db) = db else {
        out.say("nothing installed yet; nothing to verify");
        return report(out, repair, &Findings::default());
    };
    let locked = lock::gc(&s.home.locks(), Mode::Exclusive, s.lock_wait, &|| {
        out.say("waiting for running pyswap commands to finish…");
    });
    let _lock = match locked {
        // A user who may only read the home cannot take its locks: it verifies all the same.
        Err(lock::LockError::Io { error, .. })
            if !repair && error.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            out.warn(
                "cannot take the store lock (no write access to this home): a command running meanwhile may show up as a problem",
            );
            None
        }
        other => Some(other?),
    };
    let started = std::time::Instant::now();
    let mut findings = audit(&s.home, &db)?;
    let took = started.elapsed();
    out.say(&format!(
        "checked {} ({} files, {}; shared files read once: {} files, {}) in {:.2}s",
        crate::ground::text::count(findings.entries, "store entry", "store entries"),
        findings.files,
        human_bytes(findings.bytes),
        findings.read_files,
        human_bytes(findings.read_bytes),
        took.as_secs_f64()
    ));
    if repair {
        // Entries found intact get the file index they lack: a later damage is named by path.
        for (name, index) in &findings.unindexed {
            db.record_tree(name, index)?;
        }
        let mut roots = Profiles::new(s.home.profiles()).reachable_entries(&HashSet::new())?;
        roots.extend(crate::ground::inuse::entries_in_use(&s.home.store()).into_keys());
        for p in findings
            .problems
            .iter_mut()
            .filter(|p| p.problem.repairable())
        {
            match fix(s, out, &mut db, &p.problem, &roots) {
                Ok(()) => p.repaired = true,
                Err(e) => p.detail = format!("{}; repair failed: {e:#}", p.detail),
            }
        }
        // An entry whose own archive could not be had may hold only files that another
        // entry's restored archive put back into the objects.
        for p in findings.problems.iter_mut().filter(|p| !p.repaired) {
            if let Problem::Corrupt { entry } = &p.problem
                && let Some(row) = db.entry_by_name(entry)?
                && healed(s, out, &db, &row)?
            {
                p.detail = format!(
                    "{}), restored from the store's objects",
                    p.detail.replacen(
                        "; repair failed: ",
                        "; its own archive could not be had (",
                        1
                    )
                );
                p.repaired = true;
            }
        }
        // A current link that pointed at a generation without a row points at one with a row
        // now if that generation was registered above.
        let known = db.all_generations()?;
        let profiles = Profiles::new(s.home.profiles());
        for p in &mut findings.problems {
            if let Problem::DanglingCurrent { profile } = &p.problem
                && let Ok(Some(n)) = profiles.current(profile)
            {
                p.repaired = known.iter().any(|g| &g.profile == profile && g.number == n);
            }
        }
    }
    report(out, repair, &findings)
}

/// Whether damaged entry `row` is whole again from the store's objects alone (said when it is).
fn healed(
    s: &Settings,
    out: Output,
    db: &crate::storage::db::Db,
    row: &crate::storage::db::EntryRow,
) -> anyhow::Result<bool> {
    let Some(n) = crate::domain::optimise::heal(&s.home, db, row)? else {
        return Ok(false);
    };
    out.say(&format!(
        "{}: restored {} from the store's objects (no download)",
        row.name,
        crate::ground::text::count(n as u64, "file", "files")
    ));
    Ok(true)
}

/// Repairs one problem: re-fetches a damaged entry, registers an intact directory without a row
/// (deletes one that cannot be registered, unless a profile or process uses it), rebuilds a
/// generation directory from its row, registers a generation directory without a row.
fn fix(
    s: &Settings,
    out: Output,
    db: &mut crate::storage::db::Db,
    problem: &Problem,
    roots: &HashSet<String>,
) -> anyhow::Result<()> {
    let store = Store::new(s.home.store());
    let profiles = Profiles::new(s.home.profiles());
    match problem {
        Problem::Corrupt { entry } | Problem::Missing { entry } => match db.entry_by_name(entry)? {
            Some(row) => {
                if healed(s, out, db, &row)? {
                    return Ok(());
                }
                let fetcher = super::fetcher(s, out);
                let cache = s.download_cache();
                let opts = s.install_options(&cache);
                install::restore(
                    &s.home,
                    &fetcher,
                    &row,
                    &opts,
                    &out.progress(&row.catalogue_key),
                    &|note| out.say(note),
                )
                .and_then(|index| Ok(db.record_tree(&row.name, &index)?))
            }
            None => Ok(()),
        },
        Problem::Unregistered { entry } => match install::recover(&s.home, db, entry) {
            Ok(_) => Ok(()),
            Err(e) if !roots.contains(entry) => {
                out.warn(&format!("{e:#}; deleting it (nothing uses it)"));
                store.remove(entry).map_err(Into::into)
            }
            Err(e) => Err(e),
        },
        &Problem::BrokenLink {
            ref profile,
            generation: n,
        } => match db.generation(profile, n)? {
            Some(g) => profiles
                .write_generation(profile, n, &g.entry_name)
                .map_err(Into::into),
            None => Ok(()),
        },
        &Problem::StrayLink {
            ref profile,
            generation: n,
        } => {
            let entry = profiles
                .generation_entry(profile, n)
                .ok_or_else(|| anyhow::anyhow!("it leads to no store entry"))?;
            let row = match db.entry_by_name(&entry)? {
                Some(row) => row,
                None => install::recover(&s.home, db, &entry)?,
            };
            let created = std::fs::symlink_metadata(profiles.generation_path(profile, n))
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or_else(crate::ground::clock::now_unix, |d| {
                    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
                });
            db.insert_recovered_generation(profile, n, &row, created)?;
            if !profiles.generation_audit(profile, n, &entry) {
                profiles.write_generation(profile, n, &entry)?;
            }
            Ok(())
        }
        Problem::Added { entry } => remove_added(&store, db, entry),
        Problem::DanglingCurrent { .. } | Problem::Database | Problem::Foreign => Ok(()),
    }
}

/// Deletes what was written into entry `name` after it was installed, in place (no download:
/// the installed files are intact), which gives the entry its recorded digest back.
fn remove_added(store: &Store, db: &crate::storage::db::Db, name: &str) -> anyhow::Result<()> {
    let row = db
        .entry_by_name(name)?
        .ok_or_else(|| anyhow::anyhow!("it has no row any more"))?;
    let root = store.path(name);
    let mut nodes = crate::ground::tree::scan(&root)?;
    let index = db.entry_tree(name)?;
    let added = match crate::domain::verify::standing(&root, &mut nodes, &row, index.as_deref()) {
        crate::domain::verify::Standing::Added(added) => added,
        crate::domain::verify::Standing::Intact => return Ok(()),
        crate::domain::verify::Standing::Damaged(_) => {
            anyhow::bail!("its installed files changed too")
        }
    };
    // Deepest first, so that an added directory is empty by its turn.
    let mut ordered: Vec<&String> = added.iter().collect();
    ordered.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    for rel in ordered {
        crate::ground::remove::remove_from_sealed(&root.join(rel))?;
    }
    Ok(())
}

fn report(out: Output, repair: bool, f: &Findings) -> anyhow::Result<Outcome> {
    for p in &f.problems {
        let state = if p.repaired { " (repaired)" } else { "" };
        out.warn(&format!(
            "{}: {}: {}{state}",
            p.problem.kind(),
            p.path.display(),
            p.detail
        ));
    }
    let unrepaired = f.problems.iter().filter(|p| !p.repaired).count();
    let outcome = Outcome::of(&Verified {
        ok: unrepaired == 0,
        repair,
        entries_checked: f.entries,
        files_hashed: f.files,
        bytes_hashed: f.bytes,
        files_read: f.read_files,
        bytes_read: f.read_bytes,
        problems: f.problems.clone(),
    })?;
    if unrepaired > 0 {
        return Err(outcome.failed(VerifyError::Problems {
            found: f.problems.len(),
            unrepaired,
        }));
    }
    if f.problems.is_empty() {
        out.say("all store entries match their digests; database and links agree");
    } else {
        out.say(&format!("all {} problem(s) repaired", f.problems.len()));
    }
    Ok(outcome)
}
