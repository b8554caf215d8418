//! `pyswap store optimise`: shares the identical files of entries that are not sharing them yet
//! (installed by a pyswap before the objects directory, or left private when a link failed), in
//! place, under the shared gc lock.
//!
//! Each entry's files are checked against its file index first (a file whose content is no
//! longer its recorded hash is left for `verify` to name), then each becomes its object or is
//! replaced by a link to the object of the same content and mode (`storage::objects`): a new
//! name made in `objects/tmp` and renamed over the file. The content and mode of every path stay
//! what they were at every moment, and a process that has the old file open or mapped keeps that
//! inode (its space is freed when the last such process ends). An entry without a file index
//! (installed before schema 10) is left as it is: `verify --repair` records one.

use std::time::Duration;

use serde::Serialize;

use crate::ground::tree;
use crate::storage::db::Db;
use crate::storage::home::Home;
use crate::storage::lock::{self, Mode};
use crate::storage::objects::{Objects, Sharing};
use crate::storage::store::Store;

/// One entry `optimise` went through.
#[derive(Debug, Serialize)]
pub(crate) struct Optimised {
    pub(crate) name: String,
    #[serde(flatten)]
    pub(crate) sharing: Sharing,
}

/// One entry it left as it is, and why.
#[derive(Debug, Serialize)]
pub(crate) struct Skipped {
    pub(crate) name: String,
    pub(crate) why: String,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) entries: Vec<Optimised>,
    pub(crate) skipped: Vec<Skipped>,
    /// Bytes its links freed (a file a running process still has open is freed when it ends).
    pub(crate) bytes_freed: u64,
}

/// Shares the files of every registered entry of `home`. The caller holds the shared gc lock
/// (gc prunes no object meanwhile); each entry's archive lock is taken while it is gone through
/// (no `verify --repair` swaps it meanwhile).
pub(crate) fn optimise(
    home: &Home,
    db: &Db,
    lock_wait: Duration,
    waiting: &dyn Fn(&str),
) -> anyhow::Result<Report> {
    let store = Store::new(home.store());
    let objects = Objects::new(home.objects());
    let mut report = Report::default();
    for row in db.entries()? {
        let skip = |why: &str| Skipped {
            name: row.name.clone(),
            why: why.to_owned(),
        };
        let root = store.path(&row.name);
        if !root.is_dir() {
            report
                .skipped
                .push(skip("its directory is missing (`pyswap verify` says more)"));
            continue;
        }
        let Some(nodes) = file_index(db, &row)? else {
            report.skipped.push(skip(
                "it has no file index (installed before schema 10): `pyswap verify --repair` records one",
            ));
            continue;
        };
        let _lock = (!row.archive_sha256.is_empty())
            .then(|| {
                lock::acquire(
                    &home
                        .locks()
                        .join(format!("entry-{}.lock", row.archive_sha256)),
                    Mode::Exclusive,
                    lock_wait,
                    &|| waiting(&row.name),
                )
            })
            .transpose()?;
        let files = crate::storage::objects::tree_files(&nodes);
        let sharing = objects.share_tree(&root, &files, crate::storage::objects::Check::Hashed)?;
        crate::ground::crash::point("optimise:entry-shared");
        report.bytes_freed += sharing.freed;
        report.entries.push(Optimised {
            name: row.name.clone(),
            sharing,
        });
    }
    Ok(report)
}

/// `verify --repair` of a damaged entry, before any download: each file whose content is no
/// longer its recorded hash is replaced by a link to the object of that hash when the object
/// holds it (an archive restored for another entry put it there, or it was never damaged).
/// Returns how many files were healed when the entry is whole again, `None` when it is not (its
/// archive is needed) or it has no file index.
pub(crate) fn heal(
    home: &Home,
    db: &Db,
    row: &crate::storage::db::EntryRow,
) -> anyhow::Result<Option<usize>> {
    let root = Store::new(home.store()).path(&row.name);
    let Some(nodes) = file_index(db, row)? else {
        return Ok(None);
    };
    if !root.is_dir() {
        return Ok(None);
    }
    let files = crate::storage::objects::tree_files(&nodes);
    let done = Objects::new(home.objects()).share_tree(
        &root,
        &files,
        crate::storage::objects::Check::Heal,
    )?;
    if done.healed.is_empty() {
        return Ok(None);
    }
    let whole = tree::scan(&root).map(|mut found| tree::digest(&mut found) == row.tree_digest)?;
    Ok(whole.then_some(done.healed.len()))
}

/// Entry `row`'s file index, if it has one that hashes to its digest.
fn file_index(
    db: &Db,
    row: &crate::storage::db::EntryRow,
) -> anyhow::Result<Option<Vec<tree::Node>>> {
    Ok(db
        .entry_tree(&row.name)?
        .and_then(|blob| tree::read_index(&blob, &row.tree_digest)))
}
