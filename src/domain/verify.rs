//! Auditing a home: re-hash every store entry against its recorded tree digest, and cross-check
//! the database, the store directory and the profile links (`pyswap verify`).
//!
//! Findings, each with what `--repair` does about it:
//! - `corrupt`: the tree's digest (or file count or size) differs from its row → re-fetch the
//!   archive it came from and swap the restored tree in;
//! - `missing`: a row whose directory is gone → re-fetch it the same way;
//! - `unregistered`: a directory in `store/` with no row → delete it;
//! - `broken-link`: a generation's link is missing or points elsewhere → re-create it;
//! - `stray-link`: a generation link with no row → delete it;
//! - `dangling-current`: a profile's current link names a generation with no row → not
//!   repaired (which generation to use is the operator's choice: `pyswap rollback --to N`);
//! - `database`: `SQLite`'s integrity or foreign-key check fails → not repaired;
//! - `added`: files were added to an entry after it was installed and the installed ones are
//!   intact (its digest holds without them: a root process wrote bytecode, pip wrote a package)
//!   → they are deleted in place (no download), which gives the entry its digest back; plain
//!   `verify` names them first, so that a package can be moved into a venv before.
//!
//! Runs under the exclusive gc lock, so no install is half-way through publishing.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::ground::tree;
use crate::storage::db::{Db, EntryRow};
use crate::storage::home::Home;
use crate::storage::profile::Profiles;
use crate::storage::store::Store;

#[derive(Debug, thiserror::Error)]
pub(crate) enum VerifyError {
    #[error("verify found {found} problem(s), {unrepaired} not repaired")]
    Problems { found: usize, unrepaired: usize },
}

crate::ground::exit::register!(VerifyError);
impl crate::ground::exit::Reason for VerifyError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some(
            "`pyswap verify --repair` re-fetches damaged entries, registers unregistered ones and deletes bytecode written into the store"
                .into(),
        )
    }
}

/// One kind of thing found wrong, with what it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The entry's tree differs from its row.
    Corrupt { entry: String },
    /// The entry's row has no directory.
    Missing { entry: String },
    /// A store directory without a row.
    Unregistered { entry: String },
    /// Files added to an intact entry after it was installed.
    Added { entry: String },
    /// A generation's link is missing or leads elsewhere than its row says.
    BrokenLink { profile: String, generation: u64 },
    /// A generation link without a row.
    StrayLink { profile: String, generation: u64 },
    /// A profile's current link names a generation without a row (or cannot be read).
    DanglingCurrent { profile: String },
    /// `SQLite`'s integrity or foreign-key check failed, or a row is unusable.
    Database,
    /// A name in `store/` that pyswap never makes: reported, never touched.
    Foreign,
}

impl Problem {
    /// The kebab-case name that `verify` prints and its JSON carries as `kind`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Corrupt { .. } => "corrupt",
            Self::Missing { .. } => "missing",
            Self::Unregistered { .. } => "unregistered",
            Self::Added { .. } => "added",
            Self::BrokenLink { .. } => "broken-link",
            Self::StrayLink { .. } => "stray-link",
            Self::DanglingCurrent { .. } => "dangling-current",
            Self::Database => "database",
            Self::Foreign => "foreign",
        }
    }

    /// Whether `--repair` acts on it (see the module doc for what it does); a dangling current
    /// link, the database and foreign names are the operator's to decide.
    pub(crate) fn repairable(&self) -> bool {
        !matches!(
            self,
            Self::DanglingCurrent { .. } | Self::Database | Self::Foreign
        )
    }

    fn entry(&self) -> Option<&str> {
        match self {
            Self::Corrupt { entry }
            | Self::Missing { entry }
            | Self::Unregistered { entry }
            | Self::Added { entry } => Some(entry),
            _ => None,
        }
    }

    fn profile(&self) -> Option<&str> {
        match self {
            Self::BrokenLink { profile, .. }
            | Self::StrayLink { profile, .. }
            | Self::DanglingCurrent { profile } => Some(profile),
            _ => None,
        }
    }

    fn generation(&self) -> Option<u64> {
        match self {
            Self::BrokenLink { generation, .. } | Self::StrayLink { generation, .. } => {
                Some(*generation)
            }
            _ => None,
        }
    }
}

/// One problem found, where, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) problem: Problem,
    pub(crate) path: PathBuf,
    pub(crate) detail: String,
    pub(crate) repaired: bool,
}

impl Finding {
    fn new(problem: Problem, path: PathBuf, detail: String) -> Self {
        Self {
            problem,
            path,
            detail,
            repaired: false,
        }
    }
}

/// The JSON shape: flat, with `entry`, `profile` and `generation` null where they do not apply.
impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = ser.serialize_struct("Finding", 7)?;
        st.serialize_field("kind", self.problem.kind())?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("entry", &self.problem.entry())?;
        st.serialize_field("profile", &self.problem.profile())?;
        st.serialize_field("generation", &self.problem.generation())?;
        st.serialize_field("detail", &self.detail)?;
        st.serialize_field("repaired", &self.repaired)?;
        st.end()
    }
}

/// The whole audit.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) entries: u64,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    pub(crate) problems: Vec<Finding>,
    /// The files read and their bytes, each once however many entries share it.
    pub(crate) read_files: u64,
    pub(crate) read_bytes: u64,
    /// Intact entries without a file index they can be checked by (installed before pyswap kept
    /// one, or altered): (name, the index of the tree found, for `--repair` to record).
    pub(crate) unindexed: Vec<(String, Vec<u8>)>,
}

/// Audits everything; changes nothing.
pub(crate) fn audit(home: &Home, db: &Db) -> anyhow::Result<Findings> {
    let store = Store::new(home.store());
    let profiles = Profiles::new(home.profiles());
    let mut f = Findings::default();
    if !db.integrity_ok()? {
        f.problems.push(Finding::new(
            Problem::Database,
            home.db(),
            "SQLite integrity_check or foreign_key_check failed".into(),
        ));
    }
    let rows = db.entries()?;
    let all_generations = db.all_generations()?;
    check_entries(home, &store, db, &rows, &all_generations, &mut f)?;
    let registered: HashSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    f.problems.extend(strangers(&store, &registered)?);
    let gens = all_generations;
    let known: HashSet<(&str, u64)> = gens
        .iter()
        .map(|g| (g.profile.as_str(), g.number))
        .collect();
    for g in &gens {
        if !profiles.generation_audit(&g.profile, g.number, &g.entry_name) {
            let target = profiles.generation_entry(&g.profile, g.number);
            f.problems.push(Finding::new(
                Problem::BrokenLink {
                    profile: g.profile.clone(),
                    generation: g.number,
                },
                profiles.generation_path(&g.profile, g.number),
                match target {
                    None => format!("missing; it should lead to store entry {}", g.entry_name),
                    Some(t) if t == g.entry_name => format!(
                        "altered: its links are not exactly those of store entry {}",
                        g.entry_name
                    ),
                    Some(t) => format!("leads to {t}, not to store entry {}", g.entry_name),
                },
            ));
        }
    }
    for (profile, n) in profiles.generations_on_disk()? {
        if !known.contains(&(profile.as_str(), n)) {
            let path = profiles.generation_path(&profile, n);
            f.problems.push(Finding::new(
                Problem::StrayLink {
                    profile,
                    generation: n,
                },
                path,
                "a generation with no database row".into(),
            ));
        }
    }
    let mut names: Vec<String> = db.profiles()?;
    names.sort();
    for profile in names {
        let detail = match profiles.current(&profile) {
            Ok(Some(n)) if !known.contains(&(profile.as_str(), n)) => {
                format!("current generation {n} has no database row")
            }
            Err(e) => e.to_string(),
            Ok(_) => continue,
        };
        let path = profiles.profile_path(&profile);
        f.problems.push(Finding::new(
            Problem::DanglingCurrent { profile },
            path,
            detail,
        ));
    }
    Ok(f)
}

/// Re-hashes every entry of `rows` (a file entries share once), naming for a damaged one the
/// generations that run it.
fn check_entries(
    home: &Home,
    store: &Store,
    db: &Db,
    rows: &[EntryRow],
    generations: &[crate::storage::db::GenerationRow],
    f: &mut Findings,
) -> anyhow::Result<()> {
    let hashed = tree::Hashed::default();
    let mut users: std::collections::HashMap<&str, Vec<String>> = std::collections::HashMap::new();
    for g in generations {
        users
            .entry(g.entry_name.as_str())
            .or_default()
            .push(format!("{}:{}", g.profile, g.number));
    }
    for row in rows {
        if !crate::storage::store::is_entry_name(&row.name) {
            f.problems.push(Finding::new(
                Problem::Database,
                home.db(),
                format!(
                    "an entries row names `{}`, which is not a store entry name; it is never used as a path",
                    crate::ground::text::printable(&row.name)
                ),
            ));
            continue;
        }
        f.entries += 1;
        let index = db.entry_tree(&row.name)?;
        if let Some(mut p) = check_entry(store, row, index.as_deref(), &hashed, f) {
            if let (Problem::Corrupt { .. }, Some(gens)) =
                (&p.problem, users.get(row.name.as_str()))
            {
                p.detail = format!("{}; generations running it: {}", p.detail, gens.join(" "));
            }
            f.problems.push(p);
        }
    }
    (f.read_files, f.read_bytes) = hashed.totals();
    Ok(())
}

/// Directories in `store/` without a row, and names pyswap never makes.
fn strangers(store: &Store, registered: &HashSet<&str>) -> anyhow::Result<Vec<Finding>> {
    let mut out = Vec::new();
    for name in store.entry_names()? {
        if !crate::storage::store::is_entry_name(&name) {
            out.push(Finding::new(
                Problem::Foreign,
                store.path(&crate::ground::text::printable(&name)),
                "not a name pyswap makes; left alone (remove it by hand if it is not yours)".into(),
            ));
        } else if !registered.contains(name.as_str()) {
            let path = store.path(&name);
            out.push(Finding::new(
                Problem::Unregistered { entry: name },
                path,
                "a store directory with no database row".into(),
            ));
        }
    }
    Ok(out)
}

/// Re-hashes one entry (files in parallel) against its row and file index; `None` if it
/// matches its row.
fn check_entry(
    store: &Store,
    row: &EntryRow,
    index: Option<&[u8]>,
    hashed: &tree::Hashed,
    f: &mut Findings,
) -> Option<Finding> {
    let path = store.path(&row.name);
    let entry = row.name.clone();
    let found = |problem, detail| Some(Finding::new(problem, path.clone(), detail));
    if std::fs::symlink_metadata(&path).is_err() {
        return found(Problem::Missing { entry }, "the directory is gone".into());
    }
    let mut nodes = match tree::scan_once(&path, hashed) {
        Ok(n) => n,
        Err(e) => {
            return found(
                Problem::Corrupt { entry },
                format!("cannot read the tree: {e}"),
            );
        }
    };
    let totals = tree::totals(&nodes);
    f.files += totals.files;
    f.bytes += totals.bytes;
    let named = match standing(&path, &mut nodes, row, index) {
        Standing::Intact => {
            if index.is_none_or(|b| tree::read_index(b, &row.tree_digest).is_none()) {
                f.unindexed.push((entry, tree::index(&mut nodes)));
            }
            return None;
        }
        Standing::Added(added) => {
            return found(Problem::Added { entry }, describe_added(&added, row));
        }
        Standing::Damaged(Some(diff)) => describe_damage(&diff),
        Standing::Damaged(None) => {
            let changed = changed_since(&path, row.created, 5);
            format!(
                "{}{}; ",
                if index.is_some() {
                    "its file index does not hash to its tree digest (its database row was altered; `verify --repair` records it again)"
                } else {
                    "it has no file index (installed before pyswap kept one; `verify --repair` records it)"
                },
                if changed.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", and by file times these changed after it was installed: {}",
                        changed.join(", ")
                    )
                }
            )
        }
    };
    // Only a damaged tree's digest is said: `standing` computed it already for the others.
    let digest = tree::digest(&mut nodes);
    found(
        Problem::Corrupt { entry },
        format!(
            "{named}tree digest {} differs from the recorded {} ({} files, {} bytes; recorded {}, {})",
            &digest[..16.min(digest.len())],
            &row.tree_digest[..16.min(row.tree_digest.len())],
            totals.files,
            totals.bytes,
            row.files,
            row.bytes
        ),
    )
}

/// How an entry's tree on disk stands against what was installed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Its digest is the recorded one.
    Intact,
    /// Files were only added since (relative paths, sorted); the installed ones are intact.
    Added(Vec<String>),
    /// Installed files changed or are gone: by path, when the entry has a file index.
    Damaged(Option<tree::Diff>),
}

/// Where the tree at `root` (scanned into `nodes`) stands against `row`: by its file index
/// (`index`, believed only if it hashes to the recorded digest), path by path and by content;
/// for an entry without one, by [`added_after_install`].
pub(crate) fn standing(
    root: &std::path::Path,
    nodes: &mut [tree::Node],
    row: &EntryRow,
    index: Option<&[u8]>,
) -> Standing {
    if tree::digest(nodes) == row.tree_digest {
        return Standing::Intact;
    }
    if let Some(mut recorded) = index.and_then(|b| tree::read_index(b, &row.tree_digest)) {
        let diff = tree::diff(&mut recorded, nodes);
        return if diff.changed.is_empty() && diff.missing.is_empty() {
            Standing::Added(diff.added)
        } else {
            Standing::Damaged(Some(diff))
        };
    }
    match added_after_install(root, nodes, &row.tree_digest) {
        Some(added) => Standing::Added(added),
        None => Standing::Damaged(None),
    }
}

/// The paths a damaged entry's file index names: up to five of each kind, with their counts.
fn describe_damage(d: &tree::Diff) -> String {
    let mut parts = Vec::new();
    for (list, what) in [
        (&d.changed, "changed since it was installed"),
        (&d.missing, "gone"),
        (&d.added, "added"),
    ] {
        if list.is_empty() {
            continue;
        }
        let shown: Vec<String> = list
            .iter()
            .take(5)
            .map(|p| crate::ground::text::printable(p).into_owned())
            .collect();
        let more = if list.len() > 5 { ", …" } else { "" };
        parts.push(format!("{} {what}: {}{more}", list.len(), shown.join(", ")));
    }
    format!("{}; ", parts.join("; "))
}

/// Whether `path` is bytecode (a `.pyc` in a `__pycache__` directory, a temporary file of
/// `CPython`'s writing one, or such a directory): a cache that can be deleted at any time.
pub(crate) fn is_bytecode(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or_default();
    if name == "__pycache__" {
        return true;
    }
    let pyc = name.rsplit_once('.').is_some_and(|(_, ext)| ext == "pyc");
    parts.next() == Some("__pycache__")
        && (pyc
            || name
                .rsplit_once(".pyc.")
                .is_some_and(|(_, tail)| tail.bytes().all(|b| b.is_ascii_digit())))
}

/// The paths of an entry at `root` (its scanned `nodes`) that were added after it was
/// installed, if without them the tree has the `recorded` digest. No manifest of the installed
/// files is kept, so the change time tells them apart: every file pyswap installed has the
/// change time of its install (or of a `--repair` that restored it), and anything written
/// since, a later one. For each distinct change time, oldest first, the nodes changed up to it
/// (and every directory that still holds one of them) are hashed; the first cut whose digest is
/// the recorded one is the installed tree, and the rest was added.
pub(crate) fn added_after_install(
    root: &std::path::Path,
    nodes: &[tree::Node],
    recorded: &str,
) -> Option<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let ctimes: Vec<i64> = nodes
        .iter()
        .map(|n| {
            root.join(&n.path)
                .symlink_metadata()
                .map_or(i64::MAX, |m| m.ctime())
        })
        .collect();
    let mut cuts: Vec<i64> = ctimes.clone();
    cuts.sort_unstable();
    cuts.dedup();
    // The last cut is the whole tree, whose digest is known to differ.
    cuts.pop();
    for cut in cuts.into_iter().take(64) {
        let mut kept: Vec<bool> = ctimes.iter().map(|&c| c <= cut).collect();
        // A directory older than the cut's files changed when they were added into it: it is
        // installed if anything installed is inside it.
        let holds: HashSet<&str> = nodes
            .iter()
            .zip(&kept)
            .filter(|(n, k)| **k && n.kind != tree::Kind::Dir)
            .flat_map(|(n, _)| ancestors(&n.path))
            .collect();
        for (i, n) in nodes.iter().enumerate() {
            if n.kind == tree::Kind::Dir && holds.contains(n.path.as_str()) {
                kept[i] = true;
            }
        }
        let mut installed: Vec<tree::Node> = nodes
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(n, _)| n.clone())
            .collect();
        if tree::digest(&mut installed) == recorded {
            let mut added: Vec<String> = nodes
                .iter()
                .zip(&kept)
                .filter(|(_, k)| !**k)
                .map(|(n, _)| n.path.clone())
                .collect();
            added.sort();
            return Some(added);
        }
    }
    None
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// What `verify` says of an entry with files added: how many, which, whether they are bytecode
/// only, and how to get a clean entry.
fn describe_added(added: &[String], row: &EntryRow) -> String {
    let files: Vec<&String> = added
        .iter()
        .filter(|p| !p.ends_with("__pycache__"))
        .collect();
    let bytecode = files.iter().filter(|p| is_bytecode(p)).count();
    let others: Vec<&&String> = files.iter().filter(|p| !is_bytecode(p)).collect();
    let sample = |list: &[&String]| {
        let shown: Vec<&str> = list.iter().take(3).map(|s| s.as_str()).collect();
        shown.join(", ")
    };
    let compiled = crate::domain::bytecode::Recipe::parse(&row.recipe)
        .is_some_and(crate::domain::bytecode::Recipe::bytecode);
    let what = if others.is_empty() {
        format!(
            "{bytecode} bytecode file(s), e.g. {}, by a Python process that could write the store (one run as root)",
            sample(&files)
        )
    } else {
        let others: Vec<&String> = others.into_iter().copied().collect();
        format!(
            "{bytecode} bytecode file(s) and {} other(s), e.g. {} (pip run as root with --break-system-packages, --target, --prefix or --root writes such files)",
            others.len(),
            sample(&others)
        )
    };
    let todo = if compiled {
        "`pyswap verify --repair` deletes them and so restores the entry as installed (bytecode is a cache; a package belongs in a venv: install it there first)".to_owned()
    } else {
        format!(
            "this entry was installed without bytecode, so every root process writes some: `pyswap switch {}` again installs a new entry with its bytecode compiled (its digest differs) and `pyswap gc` frees this one once nothing uses it; `verify --repair` deletes the added files meanwhile",
            row.version
        )
    };
    format!(
        "{} file(s) were written into it after it was installed (its installed files are intact): {what}; {todo}",
        files.len()
    )
}

/// For an entry without a file index (installed before pyswap kept one), a hint only: up to
/// `most` paths under `root` (relative, sorted) that changed after the entry was installed at
/// `installed` (Unix seconds): a file written since (its modification time is
/// no longer the archive's, which is older than the install) or whose inode changed in a later
/// second (re-moded, renamed, added), and a directory whose entries changed in a later second
/// (where a file was added or deleted). No per-file manifest is kept, so a deleted file is
/// named by its directory.
fn changed_since(root: &std::path::Path, installed: i64, most: usize) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            let changed = if meta.is_dir() {
                dirs.push(e.path());
                meta.ctime() > installed
            } else {
                meta.mtime() >= installed || meta.ctime() > installed
            };
            if changed && let Ok(rel) = e.path().strip_prefix(root) {
                found.push(rel.display().to_string());
            }
        }
    }
    found.sort();
    found.truncate(most);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn wait_next_second() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_nanos(
            1_000_000_000 - u64::from(now.subsec_nanos()) + 20_000_000,
        ));
    }

    #[test]
    fn files_added_later_are_told_from_a_changed_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("entry");
        std::fs::create_dir_all(root.join("lib/pkg")).unwrap();
        std::fs::write(root.join("lib/pkg/mod.py"), b"x = 1\n").unwrap();
        std::fs::write(root.join("lib/os.py"), b"import sys\n").unwrap();
        let mut nodes = tree::scan(&root).unwrap();
        let recorded = tree::digest(&mut nodes);
        assert_eq!(
            added_after_install(&root, &nodes, "0".repeat(64).as_str()),
            None
        );
        wait_next_second();
        std::fs::create_dir(root.join("lib/pkg/__pycache__")).unwrap();
        std::fs::write(
            root.join("lib/pkg/__pycache__/mod.cpython-312.opt-1.pyc"),
            b"pyc",
        )
        .unwrap();
        std::fs::write(root.join("lib/extra.py"), b"").unwrap();
        let mut nodes = tree::scan(&root).unwrap();
        assert_ne!(tree::digest(&mut nodes), recorded);
        let added = added_after_install(&root, &nodes, &recorded).unwrap();
        assert_eq!(
            added,
            [
                "lib/extra.py",
                "lib/pkg/__pycache__",
                "lib/pkg/__pycache__/mod.cpython-312.opt-1.pyc"
            ]
        );
        assert!(is_bytecode(&added[1]) && is_bytecode(&added[2]) && !is_bytecode(&added[0]));
        // An installed file rewritten is not an addition: the entry is corrupt.
        std::fs::set_permissions(
            root.join("lib/os.py"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::write(root.join("lib/os.py"), b"import os\n").unwrap();
        let nodes = tree::scan(&root).unwrap();
        assert_eq!(added_after_install(&root, &nodes, &recorded), None);
    }
}
