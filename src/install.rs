//! Admission of a catalogue entry into the store: fetch (sha256 while streaming), unpack safely
//! into staging (blake3 while writing), validate, publish, register. Shared by `switch` and, in
//! time, `install`. Idempotent and crash-safe: if the archive is already registered and its
//! directory present, nothing is downloaded.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::archive::{self, Limits};
use crate::catalog::Entry;
use crate::db::{Db, EntryRow};
use crate::fetch::{Fetcher, Progress};
use crate::home::Home;
use crate::lock::{self, Mode};
use crate::store::{self, Store};
use crate::{crash, tree, validate};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("sha256 mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        url: String,
        expected: String,
        actual: String,
    },
}

/// An entry in the store, and whether this call put it there.
pub struct Installed {
    pub row: EntryRow,
    pub path: PathBuf,
    pub fresh: bool,
}

pub struct Options {
    pub lock_wait: Duration,
    pub validate_timeout: Duration,
}

/// Returns the store entry for `entry`, fetching and unpacking it if needed.
pub fn ensure(
    home: &Home,
    db: &mut Db,
    fetcher: &Fetcher,
    entry: &Entry,
    opts: &Options,
    progress: impl FnOnce() -> Box<dyn Progress>,
    on_wait: &dyn Fn(),
) -> anyhow::Result<Installed> {
    let store = Store::new(home.store());
    let sha256 = entry
        .sha256
        .as_deref()
        .context("catalogue entry has no sha256")?;
    if let Some(found) = registered(db, &store, sha256, &entry.key)? {
        return Ok(found);
    }
    let _entry_lock = lock::acquire(
        &home.locks().join(format!("entry-{sha256}.lock")),
        Mode::Exclusive,
        opts.lock_wait,
        on_wait,
    )?;
    if let Some(found) = registered(db, &store, sha256, &entry.key)? {
        return Ok(found);
    }
    let staging = store.stage()?;
    let mut download = fetcher.download(&entry.url, &home.tmp(), progress())?;
    let unpacked = archive::unpack(&mut download, staging.path(), Limits::default());
    let downloaded = download.finish()?;
    if downloaded.sha256 != sha256 {
        return Err(InstallError::DigestMismatch {
            url: entry.url.clone(),
            expected: sha256.to_owned(),
            actual: downloaded.sha256,
        }
        .into());
    }
    let mut unpacked = unpacked.with_context(|| format!("cannot unpack {}", entry.url))?;
    drop(downloaded);
    crash::point("install:unpacked");
    let digest = tree::digest(&mut unpacked.nodes);
    let totals = tree::totals(&unpacked.nodes);
    let diagnostic = validate::check(staging.path(), &entry.version, opts.validate_timeout)?;
    let name = store::entry_name(&digest, &entry.key);
    let path = store.publish(staging, &name)?;
    crash::point("install:published");
    let row = db.insert_entry(&EntryRow {
        id: 0,
        name,
        tree_digest: digest,
        catalogue_key: entry.key.clone(),
        version: entry.version.to_string(),
        platform: entry.platform(),
        variant: entry
            .variant
            .key_suffix()
            .trim_start_matches('+')
            .to_owned(),
        build: entry.build.clone(),
        archive_url: entry.url.clone(),
        archive_sha256: sha256.to_owned(),
        files: totals.files,
        bytes: totals.bytes,
        validation: serde_json::to_string(&diagnostic)?,
        created: crate::output::now_unix(),
    })?;
    crash::point("install:committed");
    Ok(Installed {
        row,
        path,
        fresh: true,
    })
}

/// A registered entry whose directory is present.
fn registered(
    db: &Db,
    store: &Store,
    sha256: &str,
    key: &str,
) -> anyhow::Result<Option<Installed>> {
    Ok(db.entry_by_archive(sha256, key)?.and_then(|row| {
        let path = store.path(&row.name);
        path.join("bin/python3")
            .symlink_metadata()
            .is_ok()
            .then_some(Installed {
                row,
                path,
                fresh: false,
            })
    }))
}
