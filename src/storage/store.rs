//! The immutable, content-addressed store: `$PYSWAP_HOME/store/<digest>-<catalogue key>/`.
//!
//! An entry is unpacked into a private staging directory `store/.staging-*`, made read-only,
//! flushed to disk (`syncfs(2)` on the store's filesystem: one call that covers every file and
//! directory written, instead of an fsync per file), then renamed into place in the same
//! directory and `store/` itself fsynced. Only after that does its row get committed. Removal is
//! the reverse: row first, then rename to `store/.trash-*`, then delete. Dot-directories are the
//! only work areas, so `ls store/` shows entries and nothing else, and anything a crash leaves
//! behind is a dot-directory (or an unregistered entry) that `gc` sweeps.

use std::collections::HashSet;

use rayon::prelude::*;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("store {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

crate::ground::exit::register!(StoreError);
impl crate::ground::exit::Reason for StoreError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        let Self::Io { error, .. } = self;
        crate::ground::exit::Reason::status(error)
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        let Self::Io { error, .. } = self;
        crate::ground::exit::Reason::help(error)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_owned(),
        error,
    }
}

pub(crate) struct Store {
    dir: PathBuf,
}

/// A staging directory that is deleted on drop unless published.
pub(crate) struct Staging {
    path: PathBuf,
    published: bool,
    /// The `syncfs` started by [`Staging::start_flush`], if any.
    flush: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Staging {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Starts flushing the finished tree to disk on another thread, so that the flush overlaps
    /// whatever comes before [`Store::publish`] (validation runs the interpreter meanwhile).
    /// The tree must be complete: what is written to it after this call may not be covered.
    pub(crate) fn start_flush(&mut self) {
        if self.flush.is_none() {
            let path = self.path.clone();
            self.flush = Some(std::thread::spawn(move || sync_filesystem(&path)));
        }
    }

    /// Waits for the flush started by [`Staging::start_flush`], or flushes now.
    fn flushed(&mut self) -> io::Result<()> {
        match self.flush.take() {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the flushing thread panicked"))),
            None => sync_filesystem(&self.path),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = remove_tree(&self.path);
        }
    }
}

/// What a sweep removed, and what it found and left alone.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Work areas (`.staging-*`, `.trash-*`) deleted.
    pub(crate) dirs: u64,
    pub(crate) bytes: u64,
    /// Entry directories without a database row: never deleted by a sweep (a database restored
    /// from a backup does not know the runtime it may be running); `verify --repair` registers
    /// them.
    pub(crate) unregistered: Vec<String>,
    /// Names pyswap never makes: left alone.
    pub(crate) foreign: Vec<String>,
}

/// A work area's name: `.staging-` or `.trash-` and then letters, digits, `-` and `_` only.
fn is_work_area(name: &str) -> bool {
    [".staging-", ".trash-"].iter().any(|p| {
        name.strip_prefix(p).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    })
}

/// `<digest>-<key>`: the directory name of an entry.
pub(crate) fn entry_name(digest: &str, key: &str) -> String {
    format!("{digest}-{key}")
}

/// The catalogue key in entry name `name` (all of it if it has no digest prefix).
pub(crate) fn key_of(name: &str) -> &str {
    match name.split_at_checked(65) {
        Some((digest, key)) if digest.ends_with('-') => key,
        _ => name,
    }
}

/// Checks that `name` is an entry name pyswap makes (`<64 lowercase hex>-<catalogue key>`, the
/// key of ASCII letters, digits, `.`, `_`, `+` and `-`), so that a name read from the database
/// or a link is never a path that leads elsewhere (`..`, `/`).
pub(crate) fn is_entry_name(name: &str) -> bool {
    let Some((digest, key)) = name.split_at_checked(64) else {
        return false;
    };
    let key_ok = key.len() > 1
        && key.len() <= 200
        && key.starts_with('-')
        && key[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
    let digest_ok = digest
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    key_ok && digest_ok && !key[1..].starts_with('.')
}

impl Store {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `store/<name>` for a name about to be written or deleted: refused unless it is an entry
    /// name pyswap makes (a name from the database is never trusted as a path).
    fn entry_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(name);
        if is_entry_name(name) {
            Ok(path)
        } else {
            Err(StoreError::Io {
                path,
                error: io::Error::other("not a store entry name; refusing to write or delete it"),
            })
        }
    }

    /// A fresh, empty staging directory on the store's filesystem (0755; only pyswap writes).
    pub(crate) fn stage(&self) -> Result<Staging, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&self.dir)
            .map_err(io_err(&self.dir))?;
        // Readable by others, as the entry it becomes: root's unprivileged sandbox user
        // compiles and validates the tree in it (`spawn::Sandbox`). Only pyswap writes in it.
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
                .map_err(io_err(dir.path()))?;
        }
        Ok(Staging {
            path: dir.keep(),
            published: false,
            flush: None,
        })
    }

    /// Makes the staged tree durable and moves it to `store/<name>`. An unregistered directory
    /// already there (left by a crash between rename and commit) is replaced; the caller holds
    /// the entry lock, so no other command is publishing the same name.
    pub(crate) fn publish(&self, mut staging: Staging, name: &str) -> Result<PathBuf, StoreError> {
        let target = self.entry_path(name)?;
        staging.flushed().map_err(io_err(&staging.path))?;
        crate::ground::crash::point("store:synced");
        if fs::symlink_metadata(&target).is_ok() {
            self.remove(name)?;
        }
        fs::rename(&staging.path, &target).map_err(io_err(&target))?;
        staging.published = true;
        crate::ground::crash::point("store:renamed");
        sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        crate::ground::crash::point("store:dir-synced");
        Ok(target)
    }

    /// Makes the staged tree durable and puts it at `store/<name>` in place of what is there
    /// (`verify --repair`): on Linux the two are swapped by one `renameat2(RENAME_EXCHANGE)`, so
    /// the path never goes missing for a running interpreter's new lookups; the old tree ends up
    /// in the staging directory and is deleted with it. Elsewhere (or on a filesystem without
    /// exchange) the old tree is moved to trash first.
    pub(crate) fn replace(&self, mut staging: Staging, name: &str) -> Result<PathBuf, StoreError> {
        let target = self.entry_path(name)?;
        if fs::symlink_metadata(&target).is_err() {
            return self.publish(staging, name);
        }
        staging.flushed().map_err(io_err(&staging.path))?;
        match exchange(&staging.path, &target) {
            Ok(()) => {
                crate::ground::crash::point("store:exchanged");
                sync_dir(&self.dir).map_err(io_err(&self.dir))?;
                // `staging` now holds the old tree; dropping it deletes that.
                drop(staging);
                Ok(target)
            }
            Err(_) => self.publish(staging, name),
        }
    }

    /// Removes an entry: rename to a trash directory (atomic), then delete.
    pub(crate) fn remove(&self, name: &str) -> Result<(), StoreError> {
        self.remove_all(&[name])
    }

    /// Removes entries: each is renamed to a trash directory (atomic; one fsync of `store/` for
    /// all of them), then the trash trees are deleted in parallel (deletion is the cost of gc:
    /// ~0.1 ms per file on ext4, mostly in the kernel, so it spreads over the cores).
    pub(crate) fn remove_all(&self, names: &[&str]) -> Result<(), StoreError> {
        let mut trashes = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let from = self.entry_path(name)?;
            let trash = self.dir.join(format!(
                ".trash-{}-{i}-{}",
                std::process::id(),
                name.get(..16).unwrap_or(name)
            ));
            match fs::rename(&from, &trash) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                r => r.map_err(io_err(&from))?,
            }
            crate::ground::crash::point("store:moved-to-trash");
            trashes.push(trash);
        }
        if trashes.is_empty() {
            return Ok(());
        }
        sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        crate::ground::crash::point("store:trashed");
        trashes
            .par_iter()
            .try_for_each(|trash| remove_tree(trash).map_err(io_err(trash)))?;
        crate::ground::crash::point("store:trash-deleted");
        Ok(())
    }

    /// Every name directly in `store/`, dot-names included; empty if it does not exist yet.
    fn names(&self) -> Result<Vec<String>, StoreError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd {
            out.push(
                e.map_err(io_err(&self.dir))?
                    .file_name()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        out.sort();
        Ok(out)
    }

    /// Entry directory names (no dot-directories).
    pub(crate) fn entry_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .names()?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect())
    }

    /// Deletes staging and trash directories; lists entry directories not in `registered` and
    /// names pyswap never makes, deleting neither. Only safe while holding the gc lock
    /// exclusively (no install is unpacking into a staging directory then).
    pub(crate) fn sweep(
        &self,
        registered: &HashSet<String>,
        dry_run: bool,
    ) -> Result<Swept, StoreError> {
        let mut swept = Swept::default();
        for name in self.names()? {
            let path = self.dir.join(&name);
            if is_work_area(&name) {
                swept.dirs += 1;
                swept.bytes += du(&path);
                if !dry_run {
                    remove_tree(&path).map_err(io_err(&path))?;
                }
            } else if !is_entry_name(&name) {
                swept.foreign.push(name);
            } else if !registered.contains(&name) {
                swept.unregistered.push(name);
            }
        }
        Ok(swept)
    }
}

/// Bytes of regular files under `path` (not following symlinks).
pub(crate) fn du(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        fs::read_dir(path).map_or(0, |rd| rd.flatten().map(|e| du(&e.path())).sum())
    } else if meta.is_file() {
        meta.len()
    } else {
        0
    }
}

/// Deletes a tree whose directories may be read-only, never following a symlink or crossing a
/// mount (see [`crate::ground::remove`]).
pub use crate::ground::remove::remove_tree;

/// fsync of a directory, so a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Swaps two paths atomically (Linux `renameat2` with `RENAME_EXCHANGE`).
#[cfg(target_os = "linux")]
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Flushes everything written to the filesystem holding `path`: one `syncfs(2)`.
fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    rustix::fs::syncfs(&dir).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const NAME: &str = "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd-cpython-3.12.4-linux-x86_64-gnu";

    #[test]
    fn staging_is_removed_unless_published() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_owned());
        let s = store.stage().unwrap();
        let p = s.path().to_owned();
        fs::create_dir(p.join("ro")).unwrap();
        fs::write(p.join("ro/f"), b"x").unwrap();
        fs::set_permissions(p.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
        drop(s);
        assert!(!p.exists());
        let s = store.stage().unwrap();
        fs::write(s.path().join("f"), b"y").unwrap();
        let out = store.publish(s, NAME).unwrap();
        assert_eq!(fs::read(out.join("f")).unwrap(), b"y");
        assert_eq!(store.entry_names().unwrap(), vec![NAME.to_owned()]);
        store.remove(NAME).unwrap();
        assert!(store.entry_names().unwrap().is_empty());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no trash left"
        );
    }
}
