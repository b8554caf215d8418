//! Garbage collection: which generations to delete, then which store entries nothing uses.
//!
//! Retention: a generation is deleted only if it is not its profile's current generation, no
//! minor path (`profiles/<p>@3.11`) leads to it, it is
//! not among the profile's newest `keep` generations (when `--keep` is given), and it was
//! created before the cutoff (when `--older-than` is given). With neither option no generation
//! is deleted, only unreferenced entries and leftovers. Every check must agree to delete: each
//! option can only protect more.
//!
//! Order (each step crash-safe): delete generation directories, then their rows; delete rows of
//! entries nothing references (no row, no link under `profiles/`, no staging, no running
//! process), then their directories (rename to trash, then delete); then sweep what crashes
//! left: staging/trash directories, minor paths leading nowhere, temporary links and downloads.
//! Entry and generation directories without rows are reported, never deleted. Entries pre-staged by
//! `install` count as used unless `--staged` is given. Last, the download cache is pruned to its
//! bound (least recently used first) and partial downloads older than a day are deleted. Runs
//! under the exclusive gc lock, so no other command is between steps.
//!
//! An entry that nothing references but that a running process still uses (see
//! [`crate::ground::inuse`]) is kept, and reported, until a `gc` after that process has exited.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use crate::ground::text::count;
use crate::network::cache::{DownloadCache, PARTIAL_MAX_AGE};
use crate::storage::db::{Db, EntryRow, GenerationRow};
use crate::storage::home::Home;
use crate::storage::profile::Profiles;
use crate::storage::store::Store;

/// The retention policy: which generations gc deletes (see the module doc), the download cache's
/// bound, whether unused staged entries go too.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Retention {
    pub(crate) keep: Option<u64>,
    pub(crate) older_than: Option<Duration>,
    pub(crate) now: i64,
    /// Also delete entries pre-staged by `install` that no generation uses.
    pub(crate) staged: bool,
    /// Bound on the download cache, in bytes.
    pub(crate) cache_max: u64,
}

impl Retention {
    /// Whether the policy deletes generations at all (without `keep` or `older_than` it does not).
    fn deletes(&self) -> bool {
        self.keep.is_some() || self.older_than.is_some()
    }

    /// Unix seconds: generations created at or after this are too young to delete.
    fn cutoff(&self) -> Option<i64> {
        self.older_than
            .map(|d| self.now - i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// What a run may delete: generations by the retention policy and every entry nothing uses
/// (`gc`), or only the named entries and the generations that use them (`uninstall`). Either
/// way an entry goes only when nothing (current link, minor path, venv, staging, process) uses
/// it any more.
/// With `forced`, minor paths and registered venvs do not hold the named entries (`uninstall
/// --force` removes those links and venvs itself; a dry run sees what it would free).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    Policy(Retention),
    Entries {
        names: &'a HashSet<String>,
        forced: bool,
    },
}

/// What gc will do (dry run) or did; serialized as `pyswap gc --json`'s document.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) dry_run: bool,
    /// Another command held the store longer than gc would wait: this run did nothing (set by
    /// the command; exit 0).
    pub(crate) skipped: bool,
    #[serde(rename = "generations_removed", serialize_with = "removed_generations")]
    pub(crate) generations: Vec<GenerationRow>,
    #[serde(rename = "entries_removed", serialize_with = "entry_names")]
    pub(crate) entries: Vec<EntryRow>,
    pub(crate) leftover_dirs: u64,
    pub(crate) leftover_links: u64,
    pub(crate) bytes_freed: u64,
    /// Cached archives and stale partial downloads deleted.
    pub(crate) cache_files_removed: u64,
    pub(crate) cache_bytes_freed: u64,
    /// Entries nothing references any more but a running process uses. Kept.
    #[serde(rename = "entries_in_use")]
    pub(crate) in_use: Vec<InUse>,
    /// Generations the policy alone would delete but a minor path (`profiles/<p>@3.11`) keeps.
    #[serde(rename = "kept_for_minor_paths")]
    pub(crate) kept_for_minor: Vec<KeptForMinor>,
    /// Every generation kept while a policy (`keep`, `older_than`) was given, and the rule
    /// that kept it.
    pub(crate) kept: Vec<KeptGeneration>,
    /// Entry directories without a row (kept; `verify --repair` registers them).
    #[serde(rename = "unregistered_entries")]
    pub(crate) unregistered: Vec<String>,
    /// Generation directories without a row (kept: they are roots; `verify --repair` registers
    /// them).
    pub(crate) unregistered_generations: Vec<GenerationKey>,
    /// Names in `store/` that pyswap never makes (left alone).
    pub(crate) foreign: Vec<String>,
    /// Registered venvs whose directory is gone or no longer the venv registered: forgotten
    /// (their rows only; nothing outside the home is touched).
    #[serde(rename = "venvs_forgotten")]
    pub(crate) venvs_forgotten: Vec<crate::domain::venv::Forgotten>,
    /// Entries nothing visible uses, kept because processes gc may not inspect (other users',
    /// when gc is not root) could use them.
    pub(crate) kept_unseen: Vec<String>,
    /// Why: how many such processes, and the way out.
    pub(crate) unseen_why: Option<String>,
    /// Venv moves a killed command left journaled, finished first (never in a dry run); said,
    /// not in the document.
    #[serde(skip)]
    pub(crate) venvs_finished: Vec<crate::domain::venv::Update>,
}

/// An entry a running process uses.
#[derive(Debug, Serialize)]
pub(crate) struct InUse {
    pub(crate) entry: String,
    pub(crate) pid: u32,
}

/// A generation a minor path keeps.
#[derive(Debug, Serialize)]
pub(crate) struct KeptForMinor {
    pub(crate) profile: String,
    pub(crate) generation: u64,
    pub(crate) minor: String,
}

/// A generation kept, and the rule that kept it.
#[derive(Debug, Serialize)]
pub(crate) struct KeptGeneration {
    pub(crate) profile: String,
    pub(crate) generation: u64,
    pub(crate) reason: Kept,
}

/// A generation named by its profile and number.
#[derive(Debug, Serialize, PartialEq, Eq, Hash)]
pub(crate) struct GenerationKey {
    pub(crate) profile: String,
    pub(crate) number: u64,
}

/// `generations_removed`: each as profile, number and version.
fn removed_generations<S: serde::Serializer>(
    gens: &[GenerationRow],
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Removed<'a> {
        profile: &'a str,
        number: u64,
        version: String,
    }
    s.collect_seq(gens.iter().map(|g| Removed {
        profile: &g.profile,
        number: g.number,
        version: g.version.to_string(),
    }))
}

/// `entries_removed`: the entries' names.
fn entry_names<S: serde::Serializer>(entries: &[EntryRow], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(entries.iter().map(|e| &e.name))
}

/// Why gc kept a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kept {
    /// It is the profile's current generation.
    Current,
    /// It is among the newest `keep`.
    Newest,
    /// It is younger than `older_than`.
    Younger,
    /// A minor path (`profiles/<p>@3.11`) leads to it.
    MinorPath,
}

/// The rule that kept each generation not in `doomed`, when a policy was given (without one gc
/// deletes no generation, and there is nothing to explain).
fn kept(
    all: &[GenerationRow],
    current: &HashSet<(String, u64)>,
    doomed: &[GenerationRow],
    for_minor: &[KeptForMinor],
    retention: Retention,
) -> Vec<KeptGeneration> {
    if !retention.deletes() {
        return Vec::new();
    }
    let cutoff = retention.cutoff();
    // Each generation's rank among its profile's, newest first (one sort, not a scan per row).
    let mut numbers: HashMap<&str, Vec<u64>> = HashMap::new();
    for g in all {
        numbers.entry(&g.profile).or_default().push(g.number);
    }
    for list in numbers.values_mut() {
        list.sort_unstable_by(|a, b| b.cmp(a));
    }
    let doomed: HashSet<(&str, u64)> = doomed
        .iter()
        .map(|g| (g.profile.as_str(), g.number))
        .collect();
    let mut out = Vec::new();
    for g in all
        .iter()
        .filter(|g| !doomed.contains(&(g.profile.as_str(), g.number)))
    {
        let key = (g.profile.clone(), g.number);
        let newer = numbers[g.profile.as_str()]
            .iter()
            .take_while(|&&n| n > g.number)
            .count() as u64;
        let reason = if current.contains(&key) {
            Kept::Current
        } else if retention.keep.is_some_and(|k| newer < k) {
            Kept::Newest
        } else if cutoff.is_some_and(|c| g.created >= c) {
            Kept::Younger
        } else if for_minor
            .iter()
            .any(|k| k.profile == g.profile && k.generation == g.number)
        {
            Kept::MinorPath
        } else {
            continue;
        };
        out.push(KeptGeneration {
            profile: key.0,
            generation: key.1,
            reason,
        });
    }
    out
}

/// Generations the policy deletes. `pinned` generations (current, or the target of a minor link)
/// are never deleted.
pub(crate) fn doomed_generations<S: std::hash::BuildHasher>(
    all: &[GenerationRow],
    pinned: &HashSet<(String, u64), S>,
    retention: Retention,
) -> Vec<GenerationRow> {
    let mut by_profile: HashMap<&str, Vec<&GenerationRow>> = HashMap::new();
    for g in all {
        by_profile.entry(&g.profile).or_default().push(g);
    }
    if !retention.deletes() {
        return Vec::new();
    }
    let cutoff = retention.cutoff();
    let mut out = Vec::new();
    for (profile, mut gens) in by_profile {
        gens.sort_by_key(|g| std::cmp::Reverse(g.number));
        for (rank, g) in gens.into_iter().enumerate() {
            let is_current = pinned.contains(&(profile.to_owned(), g.number));
            let in_newest = retention.keep.is_some_and(|k| (rank as u64) < k);
            let too_young = cutoff.is_some_and(|c| g.created >= c);
            if !is_current && !in_newest && !too_young {
                out.push(g.clone());
            }
        }
    }
    out.sort_by(|a, b| (&a.profile, a.number).cmp(&(&b.profile, b.number)));
    out
}

/// Runs gc (or, with `dry_run`, only reports what it would do).
///
/// Roots come from the filesystem as well as the database (Nix's way): every entry a link under
/// `profiles/` leads to, every entry a running process uses, every staged entry and every entry a
/// remaining generation row uses is kept. Only entries with a row are ever deleted: a directory
/// without one is reported, for `verify --repair` to register (a database restored from a backup
/// does not know what was installed after it, and may be what the profile runs).
///
/// `held` is the exclusive gc lock, which the caller takes (gc from cron skips a busy store,
/// uninstall waits): under it no other command runs, so the venv moves a killed command left
/// journaled are finished here first (`venvs` is how venvs are checked and moved).
pub(crate) fn run(
    home: &Home,
    db: &mut Db,
    held: &crate::storage::lock::GcLock,
    venvs: &crate::domain::venv::Context<'_>,
    scope: Scope<'_>,
    dry_run: bool,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        held.is_exclusive(),
        "gc runs only under the exclusive gc lock"
    );
    let venvs_finished = if dry_run {
        Vec::new()
    } else {
        crate::domain::venv::recover(venvs, db)?
    };
    let pass = Pass {
        home,
        profiles: Profiles::new(home.profiles()),
        store: Store::new(home.store()),
        dry_run,
    };
    let names = db.profiles()?;
    if !dry_run {
        for p in &names {
            pass.profiles.migrate(p)?;
        }
    }
    let all = db.all_generations()?;
    let minors = pass.profiles.minors()?;
    let current = pinned(&pass.profiles, &all, &names, &[]);
    let pinned = pinned(&pass.profiles, &all, &names, &minors);
    let mut report = doomed(&all, &current, &pinned, &minors, scope);
    report.dry_run = dry_run;
    report.venvs_finished = venvs_finished;
    let doomed_keys: HashSet<(String, u64)> = report
        .generations
        .iter()
        .map(|g| (g.profile.clone(), g.number))
        .collect();
    if !dry_run {
        delete_generations(&pass.profiles, db, &doomed_keys)?;
    }
    // Registered venvs that are gone are forgotten first, so what only they used can go now.
    report.venvs_forgotten = crate::domain::venv::sweep(home, db, dry_run)?;
    let used = pass.used_entries(db, &all, &doomed_keys, scope, &mut report)?;
    pass.remove_entries(db, &used, &mut report)?;
    if let Scope::Policy(retention) = scope {
        pass.sweep_leftovers(db, &minors, &doomed_keys, retention, &mut report)?;
    }
    Ok(report)
}

/// One gc run's places, and whether it only reports (`dry_run`).
struct Pass<'a> {
    home: &'a Home,
    profiles: Profiles,
    store: Store,
    dry_run: bool,
}

impl Pass<'_> {
    /// The entries still used: by the generation rows that stay, by anything a link under
    /// `profiles/` leads to, by staged installs, by registered venvs (and moves under way), by
    /// running processes (noted in the report), and those processes gc may not inspect could use.
    fn used_entries(
        &self,
        db: &Db,
        all: &[GenerationRow],
        doomed: &HashSet<(String, u64)>,
        scope: Scope<'_>,
        report: &mut Report,
    ) -> anyhow::Result<HashSet<String>> {
        let venv_roots = venv_roots(db, &report.venvs_forgotten, self.dry_run)?;
        let mut used: HashSet<String> = all
            .iter()
            .filter(|g| !doomed.contains(&(g.profile.clone(), g.number)))
            .map(|g| g.entry_name.clone())
            .collect();
        used.extend(self.profiles.reachable_entries(doomed)?);
        used.extend(scope_roots(db, scope, venv_roots)?);
        let scan = crate::ground::inuse::scan(
            &self.home.store(),
            crate::ground::inuse::Uses::Anything,
            None,
        );
        let in_use: Vec<InUse> = crate::ground::inuse::in_use(&scan)
            .into_iter()
            .filter(|(name, _)| !used.contains(name) && db_has(db, name))
            .map(|(entry, pid)| InUse { entry, pid })
            .collect();
        used.extend(in_use.iter().map(|u| u.entry.clone()));
        report.in_use = in_use;
        keep_unseen(self.home, db, &scan, &mut used, report)?;
        Ok(used)
    }

    /// Deletes (or, in a dry run, lists) the entries nothing uses: rows first, then
    /// directories, so a crash in between leaves directories without rows, which the next gc
    /// sweeps.
    fn remove_entries(
        &self,
        db: &mut Db,
        used: &HashSet<String>,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        // What the store takes now, each file once: what the removal frees is what only the
        // removed entries hold, and the objects nothing links already.
        let all = db.entries()?;
        let usage = crate::storage::objects::Usage::of_home(self.home, &all)?;
        if self.dry_run {
            report.entries = all
                .iter()
                .filter(|e| !used.contains(&e.name))
                .cloned()
                .collect();
        } else {
            let keep: Vec<String> = used.iter().cloned().collect();
            // What a gc killed after deleting rows left (see `doomed` in store-layout.md).
            let unfinished = db.doomed()?;
            report.entries = db.delete_unreferenced_entries(&keep)?;
            crate::ground::crash::point("gc:entries-deleted");
            for e in &report.entries {
                tracing::info!(entry = %e.name, "deleting store entry");
            }
            for name in &unfinished {
                tracing::info!(entry = %name, "deleting store entry an interrupted gc left");
            }
            let names: Vec<&str> = report
                .entries
                .iter()
                .map(|e| e.name.as_str())
                .chain(unfinished.iter().map(String::as_str))
                .filter(|n| crate::storage::store::is_entry_name(n))
                .collect();
            self.store.remove_all(&names)?;
            crate::ground::crash::point("gc:entries-removed");
            // What only the removed entries held: their objects now have no other link.
            crate::storage::objects::Objects::new(self.home.objects()).prune(false)?;
            db.forget_doomed()?;
        }
        let removed: Vec<usize> = report
            .entries
            .iter()
            .filter_map(|r| all.iter().position(|e| e.name == r.name))
            .collect();
        report.bytes_freed = usage.alone(&removed) + usage.unlinked();
        Ok(())
    }

    /// A policy run's sweep of what crashes left (work areas, temporary links, stale minor
    /// links, entry locks) and of the download cache; entries and generation directories
    /// without rows are reported, not deleted.
    fn sweep_leftovers(
        &self,
        db: &Db,
        minors: &[(String, String, Option<u64>)],
        doomed: &HashSet<(String, u64)>,
        retention: Retention,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let dry_run = self.dry_run;
        let registered: HashSet<String> = db.entries()?.into_iter().map(|e| e.name).collect();
        let swept = self.store.sweep(&registered, dry_run)?;
        crate::ground::crash::point("gc:swept");
        report.leftover_dirs = swept.dirs;
        report.bytes_freed += swept.bytes;
        report.unregistered = swept.unregistered;
        report.foreign = swept.foreign;
        report.unregistered_generations = unregistered_generations(&self.profiles, db, doomed)?;
        report.leftover_links += sweep_minor_links(&self.profiles, minors, dry_run)?;
        report.leftover_links += self.profiles.sweep_temporaries(dry_run);
        if !dry_run {
            sweep_tmp(self.home);
            sweep_entry_locks(self.home);
        }
        let cache = DownloadCache::new(self.home.cache(), retention.cache_max);
        let pruned = cache.prune(retention.cache_max, None, dry_run)?;
        let partials = cache.sweep_partials(PARTIAL_MAX_AGE, dry_run);
        report.cache_files_removed = pruned.files + partials.files;
        report.cache_bytes_freed = pruned.bytes + partials.bytes;
        Ok(())
    }
}

/// The report's start: the generations `scope` deletes, those a minor path alone kept, and
/// (with a policy) why each other one was kept.
fn doomed(
    all: &[GenerationRow],
    current: &HashSet<(String, u64)>,
    pinned: &HashSet<(String, u64)>,
    minors: &[(String, String, Option<u64>)],
    scope: Scope<'_>,
) -> Report {
    match scope {
        Scope::Policy(retention) => {
            let doomed = doomed_generations(all, pinned, retention);
            let kept_for_minor = kept_for_minor(all, current, &doomed, minors, retention);
            Report {
                kept: kept(all, current, &doomed, &kept_for_minor, retention),
                generations: doomed,
                kept_for_minor,
                ..Report::default()
            }
        }
        Scope::Entries { names, forced } => {
            let holds = if forced { current } else { pinned };
            let doomed = all
                .iter()
                .filter(|g| {
                    names.contains(&g.entry_name) && !holds.contains(&(g.profile.clone(), g.number))
                })
                .cloned()
                .collect();
            Report {
                generations: doomed,
                ..Report::default()
            }
        }
    }
}

/// Entries the scope keeps besides generations and links: registered venvs' (less those a
/// forced uninstall releases), staged ones (unless `--staged`), and for an uninstall every entry
/// it does not name (staged or not, it deletes only what it names).
fn scope_roots(db: &Db, scope: Scope<'_>, venv_roots: Vec<String>) -> anyhow::Result<Vec<String>> {
    Ok(match scope {
        Scope::Policy(r) if !r.staged => {
            let mut roots = venv_roots;
            roots.extend(db.staged_names()?);
            roots
        }
        Scope::Policy(_) => venv_roots,
        Scope::Entries { names, forced } => venv_roots
            .into_iter()
            .filter(|n| !forced || !names.contains(n))
            .chain(
                db.entries()?
                    .into_iter()
                    .map(|e| e.name)
                    .filter(|n| !names.contains(n)),
            )
            .collect(),
    })
}

/// The entries registered venvs and moves under way use (in a dry run, less the venvs gc would
/// forget).
fn venv_roots(
    db: &Db,
    forgotten: &[crate::domain::venv::Forgotten],
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    if !dry_run {
        return Ok(db.venv_entries()?);
    }
    let forgotten: HashSet<&str> = forgotten.iter().map(|f| f.path.as_str()).collect();
    Ok(db
        .venvs()?
        .into_iter()
        .filter(|v| !forgotten.contains(v.path.as_str()))
        .map(|v| v.entry)
        .chain(db.venv_moves()?.into_iter().flat_map(|m| [m.from, m.to]))
        .collect())
}

/// Deletes the doomed generations: directories first, rows second, so a crash in between
/// leaves rows whose directory is gone (the next gc deletes them again), never directories
/// without rows (which would be roots).
fn delete_generations(
    profiles: &Profiles,
    db: &mut Db,
    doomed: &HashSet<(String, u64)>,
) -> anyhow::Result<()> {
    for (p, n) in doomed {
        tracing::info!(profile = %p, generation = n, "deleting generation");
        profiles.remove_generation(p, *n)?;
    }
    profiles.sync()?;
    crate::ground::crash::point("gc:links-removed");
    let keys: Vec<(String, u64)> = doomed.iter().cloned().collect();
    db.delete_generations(&keys)?;
    crate::ground::crash::point("gc:generations-deleted");
    Ok(())
}

/// Generation directories on disk that no row describes (reported, never deleted).
fn unregistered_generations(
    profiles: &Profiles,
    db: &Db,
    doomed: &HashSet<(String, u64)>,
) -> anyhow::Result<Vec<GenerationKey>> {
    let rows: HashSet<(String, u64)> = db
        .all_generations()?
        .into_iter()
        .map(|g| (g.profile, g.number))
        .collect();
    Ok(profiles
        .generations_on_disk()?
        .into_iter()
        .filter(|k| !rows.contains(k) && !doomed.contains(k))
        .map(|(profile, number)| GenerationKey { profile, number })
        .collect())
}

/// Generations the policy alone would delete but a minor link keeps.
fn kept_for_minor(
    all: &[GenerationRow],
    current: &HashSet<(String, u64)>,
    doomed: &[GenerationRow],
    minors: &[(String, String, Option<u64>)],
    retention: Retention,
) -> Vec<KeptForMinor> {
    doomed_generations(all, current, retention)
        .into_iter()
        .filter(|g| !doomed.contains(g))
        .filter_map(|g| {
            let (_, minor, _) = minors
                .iter()
                .find(|(p, _, n)| *p == g.profile && *n == Some(g.number))?;
            Some(KeptForMinor {
                profile: g.profile,
                generation: g.number,
                minor: minor.clone(),
            })
        })
        .collect()
}

/// Generations gc never deletes: each profile's current one and every minor link's target. A
/// profile whose current link is damaged (not a link, or leading elsewhere) has every generation
/// pinned: which one it ran is unknown, so none may go.
fn pinned(
    profiles: &Profiles,
    all: &[GenerationRow],
    names: &[String],
    minors: &[(String, String, Option<u64>)],
) -> HashSet<(String, u64)> {
    use crate::storage::profile::CurrentLink;
    let mut pinned = HashSet::new();
    for p in names {
        match profiles.current_link(p) {
            CurrentLink::Generation(n) => {
                pinned.insert((p.clone(), n));
            }
            CurrentLink::Missing => {}
            CurrentLink::Foreign(_) | CurrentLink::Broken(_) => pinned.extend(
                all.iter()
                    .filter(|g| &g.profile == p)
                    .map(|g| (p.clone(), g.number)),
            ),
        }
    }
    pinned.extend(
        minors
            .iter()
            .filter_map(|(p, _, n)| n.map(|n| (p.clone(), n))),
    );
    pinned
}

/// Removes minor links that lead to no generation directory; returns how many. (Generation
/// directories without a row are roots and stay; see [`run`].)
fn sweep_minor_links(
    profiles: &Profiles,
    minors: &[(String, String, Option<u64>)],
    dry_run: bool,
) -> anyhow::Result<u64> {
    let mut swept = 0;
    for (p, minor, n) in minors {
        if n.is_none_or(|n| !profiles.generation_path(p, n).is_dir()) {
            swept += 1;
            if !dry_run {
                profiles.remove_minor(p, minor)?;
            }
        }
    }
    Ok(swept)
}

/// Processes this user may not inspect could run any entry they can reach: when there are such
/// processes (see [`blind_spot`]), every entry is kept, and the report says which and why.
fn keep_unseen(
    home: &Home,
    db: &Db,
    scan: &crate::ground::inuse::Scan,
    used: &mut HashSet<String>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(why) = blind_spot(home, scan) else {
        return Ok(());
    };
    let unseen: Vec<String> = db
        .entries()?
        .into_iter()
        .map(|e| e.name)
        .filter(|n| !used.contains(n))
        .collect();
    used.extend(unseen.iter().cloned());
    report.kept_unseen = unseen;
    report.unseen_why = Some(why);
    Ok(())
}

/// Why gc cannot know what the store's users run, if it cannot: it is not root, and processes
/// of other users exist that it may not inspect and that can reach `store/` (every directory
/// from `/` down to it searchable by that process's user or one of its groups). Root's own
/// processes are not counted: a non-root gc can never inspect them, and root running a
/// runtime out of another user's store is the administrator's to clean up (gc as root).
fn blind_spot(home: &Home, scan: &crate::ground::inuse::Scan) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if me == 0 {
        return None;
    }
    let store = std::fs::canonicalize(home.store()).ok()?;
    let dirs: Vec<(u32, u32, u32)> = store
        .ancestors()
        .filter_map(|d| std::fs::metadata(d).ok())
        .map(|m| (m.mode(), m.uid(), m.gid()))
        .collect();
    let reaches = |uid: u32, gids: &[u32]| {
        dirs.iter().all(|&(mode, owner, group)| {
            let bit = if owner == uid {
                0o100
            } else if gids.contains(&group) {
                0o010
            } else {
                0o001
            };
            mode & bit != 0
        })
    };
    let blind: Vec<&crate::ground::inuse::Hidden> = scan
        .hidden
        .iter()
        .filter(|h| h.uid != 0 && h.uid != me && reaches(h.uid, &h.gids))
        .collect();
    if blind.is_empty() {
        return None;
    }
    let mut uids: Vec<u32> = blind.iter().map(|h| h.uid).collect();
    uids.sort_unstable();
    uids.dedup();
    Some(format!(
        "{} of {} (uid {}) cannot be inspected by uid {me} and can reach the store; run gc as root, or make the home private (`chmod 700 {}`) so that no one else can use it",
        count(blind.len() as u64, "process", "processes"),
        count(uids.len() as u64, "other user", "other users"),
        uids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        home.root().display()
    ))
}

fn db_has(db: &Db, name: &str) -> bool {
    db.entry_by_name(name).is_ok_and(|e| e.is_some())
}

/// Deletes per-archive lock files (`entry-<sha256>.lock`, nothing else): under the exclusive gc
/// lock no install holds or waits on one (installs take `gc.lock` shared first), so none can be
/// unlinked from under a holder.
fn sweep_entry_locks(home: &Home) {
    let is_entry_lock = |name: &str| {
        name.strip_prefix("entry-")
            .and_then(|n| n.strip_suffix(".lock"))
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if let Ok(rd) = std::fs::read_dir(home.locks()) {
        for e in rd.flatten() {
            if e.file_name().to_str().is_some_and(is_entry_lock) {
                let _ = crate::ground::remove::remove_tree(&e.path());
            }
        }
    }
}

/// Deletes the files that older pyswap versions left in `tmp/` (downloads: regular files only;
/// a directory or anything else there was not made by pyswap and stays).
fn sweep_tmp(home: &Home) {
    if let Ok(rd) = std::fs::read_dir(home.tmp()) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = crate::ground::remove::remove_tree(&e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(profile: &str, number: u64, created: i64) -> GenerationRow {
        GenerationRow {
            profile: profile.into(),
            number,
            entry_id: 1,
            entry_name: "e".into(),
            version: crate::ground::version::PythonVersion::parse("3.12.4").unwrap(),
            request: "3.12".into(),
            command: "switch".into(),
            created,
            variant: crate::ground::version::Variant::Default,
            build: None,
        }
    }

    #[test]
    fn policy_options_only_protect_more() {
        let all: Vec<_> = (1..=6)
            .map(|n| g("default", n, i64::try_from(n).unwrap() * 100))
            .collect();
        let current: HashSet<(String, u64)> = [("default".to_owned(), 2)].into();
        let numbers = |p: Retention| {
            doomed_generations(&all, &current, p)
                .iter()
                .map(|g| g.number)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            numbers(Retention::default()),
            Vec::<u64>::new(),
            "no options: no generation deleted"
        );
        assert_eq!(
            numbers(Retention {
                keep: Some(3),
                ..Retention::default()
            }),
            vec![1, 3],
            "newest 3 and current kept"
        );
        assert_eq!(
            numbers(Retention {
                keep: Some(0),
                ..Retention::default()
            }),
            vec![1, 3, 4, 5, 6],
            "current always kept"
        );
        let older = Retention {
            older_than: Some(Duration::from_secs(250)),
            now: 600,
            ..Retention::default()
        };
        assert_eq!(numbers(older), vec![1, 3], "created before 350");
        assert_eq!(
            numbers(Retention {
                keep: Some(5),
                ..older
            }),
            vec![1]
        );
    }
}
