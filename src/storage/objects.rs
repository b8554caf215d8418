//! The objects directory (issue 40, work in progress on this branch): every regular file of the
//! store kept once per content and mode, entries hard-linking it.
//!
//! `objects/<first two hex digits>/<blake3 of the content, 64 hex>.<r|x>`: `r` a file sealed 0444,
//! `x` one sealed 0555. An entry's regular file and its object are the same inode, so an object's
//! link count is 1 (the objects directory's own name) plus the entries (and staging trees) that
//! hold it. An object with a link count of 1 is used by nothing: gc removes it, under the
//! exclusive gc lock, when no install can be linking it.
//!
//! A fresh install writes its files as it does without sharing, then *adopts* each as its object
//! (`link(2)`, no second write); a later build's file whose object exists is replaced by a link
//! to it. An entry's name and tree digest come from its tree, never from what it shares. Where a
//! link cannot be made (`EMLINK`: the object has the filesystem's maximum of links; `EXDEV`;
//! `EPERM` on a filesystem without hard links) the file stays the entry's own copy.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What became of one file of a staging tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shared {
    /// Its object existed: the file is now a link to it.
    Linked,
    /// It became the object (a second name for the same inode).
    Adopted,
    /// It stays the entry's own copy: the link could not be made (the reason, an `errno`).
    Private(i32),
}

/// Objects removed by [`Objects::prune`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

/// How far [`Objects::share_tree`] believes a file's recorded hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// The hash was taken as the file was written (an install's staging tree).
    Trusted,
    /// Hashed again first; a file whose content is not its hash is left as it is (a published
    /// entry's files, which may have changed since their index).
    Hashed,
    /// Hashed again first; a file whose content is not its hash is replaced by a link to its
    /// object when that holds the right content (`verify --repair`).
    Heal,
}

/// A regular file of a tree: its path under the root, content hash and exec bit.
pub(crate) type TreeFile<'a> = (&'a str, [u8; 32], bool);

/// The regular files among `nodes`, as [`Objects::share_tree`] takes them.
pub(crate) fn tree_files(nodes: &[crate::ground::tree::Node]) -> Vec<TreeFile<'_>> {
    nodes
        .iter()
        .filter_map(|n| match n.kind {
            crate::ground::tree::Kind::File { exec, hash, .. } => {
                Some((n.path.as_str(), hash, exec))
            }
            _ => None,
        })
        .collect()
}

/// What [`Objects::share_tree`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Sharing {
    /// Files that became their object, were replaced by a link to theirs, were already theirs.
    pub(crate) adopted: u64,
    pub(crate) linked: u64,
    pub(crate) already: u64,
    /// Files kept as the tree's own copies (the link could not be made), and the first of them
    /// with the reason (an `errno`).
    pub(crate) private: u64,
    #[serde(skip)]
    pub(crate) first_private: Option<(String, i32)>,
    /// Bytes that linking freed (a replaced file nothing else linked).
    pub(crate) freed: u64,
    /// Files whose content was not their recorded hash: left as they are, or replaced by a
    /// link to their object (healed, [`Check::Heal`]).
    pub(crate) damaged: Vec<String>,
    pub(crate) healed: Vec<String>,
}

pub(crate) struct Objects {
    dir: PathBuf,
    /// The shards this value made or found (a first install links ~3,000 files into them).
    shards: std::sync::Mutex<[bool; 256]>,
}

/// The directory of `objects/` where a file's new name is made before it is renamed into place.
const TMP: &str = "tmp";

impl Objects {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            shards: std::sync::Mutex::new([false; 256]),
        }
    }

    /// Where the object of content `hash` and mode (`exec`: 0555, else 0444) lives.
    pub(crate) fn path(&self, hash: &[u8; 32], exec: bool) -> PathBuf {
        let hex = blake3::Hash::from(*hash).to_hex();
        let name = format!("{hex}.{}", if exec { 'x' } else { 'r' });
        self.dir.join(&hex[..2]).join(name)
    }

    /// Shares `file`, a sealed file whose content hashes to `hash` (the caller knows it):
    /// replaced by a link to its object when there is one whose content is what its name says,
    /// else linked into the objects as that object. An object whose content is not its name
    /// (damaged) is never linked: the file takes its name instead.
    pub(crate) fn share(&self, file: &Path, hash: &[u8; 32], exec: bool) -> io::Result<Shared> {
        let object = self.path(hash, exec);
        let mut made = self
            .shards
            .lock()
            .map_err(|_| io::Error::other("a poisoned lock"))?;
        if !made[usize::from(hash[0])] {
            if let Some(shard) = object.parent() {
                fs::create_dir_all(shard)?;
            }
            made[usize::from(hash[0])] = true;
        }
        drop(made);
        match fs::hard_link(file, &object) {
            Ok(()) => return Ok(Shared::Adopted),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return private(e),
        }
        // Already its object (a `.pyc` linked from it by `link_to`, which checked its content).
        if same_inode(file, &object)? {
            return Ok(Shared::Linked);
        }
        if !holds(&object, hash, exec)? {
            // A damaged object (bit rot, or written past its seal): the caller's file, whose
            // content is known, takes its name. Entries that link the damaged inode stay
            // damaged until `verify --repair` heals them from it.
            return match self.link_over(file, &object) {
                Ok(()) => Ok(Shared::Adopted),
                Err(e) => private(e),
            };
        }
        match self.link_over(&object, file) {
            Ok(()) => Ok(Shared::Linked),
            Err(e) => private(e),
        }
    }

    /// Makes `dest` a name of `source`'s inode: a new name in `tmp/`, renamed over `dest`, so
    /// `dest` is whole at every moment and a name a killed command leaves is in `tmp/` (cleared
    /// by `prune`), never in an entry.
    fn link_over(&self, source: &Path, dest: &Path) -> io::Result<()> {
        let tmp = self.scratch()?;
        fs::hard_link(source, &tmp)?;
        crate::ground::crash::point("objects:new-name");
        fs::rename(&tmp, dest).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// A new, unused name in `tmp/`.
    fn scratch(&self) -> io::Result<PathBuf> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = self.dir.join(TMP);
        fs::create_dir_all(&dir)?;
        Ok(dir.join(format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// Shares the regular `files` (path under `root`, content hash, exec bit) of a sealed tree,
    /// a directory at a time, each opened to its owner meanwhile (see [`Check`] for how far a
    /// file's content is believed).
    pub(crate) fn share_tree(
        &self,
        root: &Path,
        files: &[TreeFile<'_>],
        check: Check,
    ) -> io::Result<Sharing> {
        let mut by_dir: std::collections::BTreeMap<&str, Vec<&TreeFile<'_>>> =
            std::collections::BTreeMap::new();
        for f in files {
            by_dir
                .entry(f.0.rsplit_once('/').map_or("", |(d, _)| d))
                .or_default()
                .push(f);
        }
        let mut done = Sharing::default();
        // Root writes into a sealed directory as it is; its owner opens it (`u+w`) meanwhile,
        // and seals it again (0555, also one a killed command left open).
        let open = !rustix::process::geteuid().is_root();
        for (dir, files) in by_dir {
            let dir = root.join(dir);
            if check != Check::Trusted && !dir.is_dir() {
                done.damaged.extend(files.iter().map(|f| f.0.to_owned()));
                continue;
            }
            if open {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
            }
            let shared = files.iter().try_for_each(|&&(path, hash, exec)| {
                self.share_one(root, path, &hash, exec, check, &mut done)
            });
            if open {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o555))?;
            }
            shared?;
        }
        Ok(done)
    }

    fn share_one(
        &self,
        root: &Path,
        path: &str,
        hash: &[u8; 32],
        exec: bool,
        check: Check,
        done: &mut Sharing,
    ) -> io::Result<()> {
        let file = root.join(path);
        // What linking frees: the file's own copy, when nothing else links it.
        let mut own = 0;
        if check != Check::Trusted {
            let meta = match fs::symlink_metadata(&file) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                other => Some(other?),
            };
            // Already its object: nothing to do, unless healing (the object may be damaged).
            if let Some(meta) = &meta
                && check != Check::Heal
                && fs::symlink_metadata(self.path(hash, exec))
                    .is_ok_and(|o| o.dev() == meta.dev() && o.ino() == meta.ino())
            {
                done.already += 1;
                return Ok(());
            }
            let intact = match &meta {
                None => false,
                Some(meta) => {
                    meta.is_file()
                        && meta.permissions().mode() & 0o777 == if exec { 0o555 } else { 0o444 }
                        && &crate::ground::tree::hash_file(&file, meta.len())? == hash
                }
            };
            if !intact {
                let object = self.path(hash, exec);
                let replaceable = meta.as_ref().is_none_or(fs::Metadata::is_file);
                if check == Check::Heal && replaceable && holds(&object, hash, exec)? {
                    self.link_over(&object, &file)?;
                    done.healed.push(path.to_owned());
                } else {
                    done.damaged.push(path.to_owned());
                }
                return Ok(());
            }
            own = meta.filter(|m| m.nlink() == 1).map_or(0, |m| m.len());
        }
        match self.share(&file, hash, exec)? {
            Shared::Adopted => done.adopted += 1,
            Shared::Linked => {
                done.linked += 1;
                done.freed += own;
            }
            Shared::Private(code) => {
                done.private += 1;
                done.first_private.get_or_insert((path.to_owned(), code));
            }
        }
        Ok(())
    }

    /// Links the object of content `hash` (mode `exec`) as the new file `dest`, when there is
    /// one whose content is what its name says: its size. `None` when there is none, or it is
    /// damaged, or the link cannot be made (the caller makes the file itself). The caller holds
    /// the shared gc lock: the object is not pruned meanwhile.
    pub(crate) fn link_to(
        &self,
        hash: &[u8; 32],
        exec: bool,
        dest: &Path,
    ) -> io::Result<Option<u64>> {
        let object = self.path(hash, exec);
        if !holds(&object, hash, exec)? {
            return Ok(None);
        }
        match fs::hard_link(&object, dest) {
            Ok(()) => Ok(Some(fs::symlink_metadata(dest)?.len())),
            // Refused, or pruned after all by a gc that did not wait for the caller's lock.
            Err(e) if refused(&e).is_some() || e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the objects nothing links any more (a link count of 1), and shards left empty.
    /// The caller holds the exclusive gc lock: no install is linking one meanwhile.
    pub(crate) fn prune(&self, dry_run: bool) -> io::Result<Pruned> {
        let mut pruned = Pruned::default();
        let shards = match fs::read_dir(&self.dir) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(pruned),
            Err(e) => return Err(e),
        };
        // Names a killed `share` left: under the exclusive gc lock no command is using one.
        if !dry_run {
            match fs::remove_dir_all(self.dir.join(TMP)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        for shard in shards {
            let shard = shard?;
            if shard.file_name() == TMP {
                continue;
            }
            let shard = shard.path();
            if !shard.is_dir() {
                continue;
            }
            let mut left = 0u64;
            for object in fs::read_dir(&shard)? {
                let object = object?.path();
                let meta = fs::symlink_metadata(&object)?;
                if !meta.is_file() || meta.nlink() > 1 {
                    left += 1;
                    continue;
                }
                pruned.files += 1;
                pruned.bytes += meta.len();
                if !dry_run {
                    fs::remove_file(&object)?;
                }
            }
            if left == 0 && !dry_run {
                let _ = fs::remove_dir(&shard);
            }
        }
        Ok(pruned)
    }
}

/// The disk store entries take, each file counted once: their regular files by inode (a file an
/// entry shares with others, or with itself, is one inode), and those of `objects/`.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    /// Per inode: its size and the entries (their positions in the list given) that hold it.
    inodes: std::collections::HashMap<(u64, u64), (u64, Vec<u32>)>,
}

impl Usage {
    /// The store entries of `home` that `rows` name, and its objects.
    pub(crate) fn of_home(
        home: &crate::storage::home::Home,
        rows: &[crate::storage::db::EntryRow],
    ) -> io::Result<Self> {
        let store = crate::storage::store::Store::new(home.store());
        let paths: Vec<PathBuf> = rows.iter().map(|e| store.path(&e.name)).collect();
        Self::of(&paths, &home.objects())
    }

    /// Reads the trees at `entries` (one missing is left out) and the objects at `objects`.
    fn of(entries: &[PathBuf], objects: &Path) -> io::Result<Self> {
        let mut u = Self::default();
        for (i, root) in entries.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            u.walk(root, Some(i))?;
        }
        u.walk(objects, None)?;
        Ok(u)
    }

    fn walk(&mut self, dir: &Path, holder: Option<u32>) -> io::Result<()> {
        let list = match fs::read_dir(dir) {
            Ok(l) => l,
            // Gone meanwhile, or `objects/` made private by its owner's umask while another
            // user reads the home: what cannot be read is not counted.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for item in list {
            let item = item?;
            let meta = item.metadata()?;
            if meta.is_dir() {
                self.walk(&item.path(), holder)?;
            } else if meta.is_file() {
                let (_, holders) = self
                    .inodes
                    .entry((meta.dev(), meta.ino()))
                    .or_insert((meta.len(), Vec::new()));
                if let Some(h) = holder
                    && holders.last() != Some(&h)
                {
                    holders.push(h);
                }
            }
        }
        Ok(())
    }

    /// Every file's bytes, once.
    pub(crate) fn bytes(&self) -> u64 {
        self.inodes.values().map(|(size, _)| size).sum()
    }

    /// The bytes of the files that the entries at positions `which` hold and no other entry
    /// does: what removing them all frees once gc prunes the objects.
    pub(crate) fn alone(&self, which: &[usize]) -> u64 {
        self.inodes
            .values()
            .filter(|(_, h)| !h.is_empty() && h.iter().all(|&i| which.contains(&(i as usize))))
            .map(|(size, _)| size)
            .sum()
    }

    /// The bytes of objects no entry links any more (gc prunes them).
    pub(crate) fn unlinked(&self) -> u64 {
        self.inodes
            .values()
            .filter(|(_, h)| h.is_empty())
            .map(|(size, _)| size)
            .sum()
    }
}

/// Whether `object` is a regular file of mode `exec` whose content hashes to `hash`.
fn holds(object: &Path, hash: &[u8; 32], exec: bool) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(object) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        other => other?,
    };
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_file() || mode != if exec { 0o555 } else { 0o444 } {
        return Ok(false);
    }
    Ok(&crate::ground::tree::hash_file(object, meta.len())? == hash)
}

fn same_inode(a: &Path, b: &Path) -> io::Result<bool> {
    let (a, b) = (fs::symlink_metadata(a)?, fs::symlink_metadata(b)?);
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// A link refused for a reason that leaves the file private; any other error is returned.
fn private(e: io::Error) -> io::Result<Shared> {
    refused(&e).map(Shared::Private).ok_or(e)
}

/// The `errno` of a link refused because the filesystem cannot make it (`EMLINK`: the file has
/// its maximum of links; `EXDEV`; `EPERM`: no hard links there), not because of a fault.
fn refused(e: &io::Error) -> Option<i32> {
    use rustix::io::Errno;
    let codes = [Errno::MLINK, Errno::XDEV, Errno::PERM].map(Errno::raw_os_error);
    e.raw_os_error().filter(|code| codes.contains(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(path: &Path, content: &[u8], exec: bool) -> [u8; 32] {
        fs::write(path, content).unwrap();
        let mode = if exec { 0o555 } else { 0o444 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        *blake3::hash(content).as_bytes()
    }

    #[test]
    fn a_file_is_adopted_once_and_linked_after() {
        let d = tempfile::tempdir().unwrap();
        let objects = Objects::new(d.path().join("objects"));
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let h = sealed(&a, b"import os\n", false);
        sealed(&b, b"import os\n", false);
        assert_eq!(objects.share(&a, &h, false).unwrap(), Shared::Adopted);
        assert_eq!(objects.share(&b, &h, false).unwrap(), Shared::Linked);
        assert!(same_inode(&a, &b).unwrap());
        assert_eq!(fs::metadata(&a).unwrap().nlink(), 3);
        assert_eq!(fs::read(&b).unwrap(), b"import os\n");
        // Sharing again changes nothing.
        assert_eq!(objects.share(&b, &h, false).unwrap(), Shared::Linked);
        assert_eq!(fs::metadata(&a).unwrap().nlink(), 3);
    }

    #[test]
    fn the_mode_is_part_of_an_object() {
        let d = tempfile::tempdir().unwrap();
        let objects = Objects::new(d.path().join("objects"));
        let (r, x) = (d.path().join("r"), d.path().join("x"));
        let h = sealed(&r, b"#!/bin/sh\n", false);
        sealed(&x, b"#!/bin/sh\n", true);
        assert_eq!(objects.share(&r, &h, false).unwrap(), Shared::Adopted);
        assert_eq!(objects.share(&x, &h, true).unwrap(), Shared::Adopted);
        assert!(!same_inode(&r, &x).unwrap());
        assert_eq!(
            fs::metadata(&x).unwrap().permissions().mode() & 0o777,
            0o555
        );
    }

    #[test]
    fn a_damaged_object_is_never_linked_and_a_good_file_takes_its_name() {
        let d = tempfile::tempdir().unwrap();
        let objects = Objects::new(d.path().join("objects"));
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let h = sealed(&a, b"good", false);
        sealed(&b, b"good", false);
        objects.share(&a, &h, false).unwrap();
        // Bit rot in the shared inode (written as root would, past its 0444).
        let object = objects.path(&h, false);
        fs::set_permissions(&object, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&object, b"evil").unwrap();
        fs::set_permissions(&object, fs::Permissions::from_mode(0o444)).unwrap();
        assert_eq!(objects.share(&b, &h, false).unwrap(), Shared::Adopted);
        assert_eq!(fs::read(&b).unwrap(), b"good");
        assert!(same_inode(&b, &object).unwrap());
        assert_eq!(
            fs::read(&a).unwrap(),
            b"evil",
            "a stays damaged, for verify"
        );
        // Healing `a` links the good object over it.
        let done = objects
            .share_tree(d.path(), &[("a", h, false)], Check::Heal)
            .unwrap();
        assert_eq!(done.healed, ["a"]);
        assert!(same_inode(&a, &object).unwrap());
        assert_eq!(fs::read(&a).unwrap(), b"good");
    }

    #[test]
    fn prune_removes_only_what_nothing_links() {
        let d = tempfile::tempdir().unwrap();
        let objects = Objects::new(d.path().join("objects"));
        let (kept, gone) = (d.path().join("kept"), d.path().join("gone"));
        let hk = sealed(&kept, b"kept", false);
        let hg = sealed(&gone, b"gone!", false);
        objects.share(&kept, &hk, false).unwrap();
        objects.share(&gone, &hg, false).unwrap();
        fs::remove_file(&gone).unwrap();
        assert_eq!(objects.prune(true).unwrap(), Pruned { files: 1, bytes: 5 });
        assert!(
            objects.path(&hg, false).exists(),
            "a dry run removes nothing"
        );
        assert_eq!(objects.prune(false).unwrap(), Pruned { files: 1, bytes: 5 });
        assert!(!objects.path(&hg, false).exists());
        assert!(objects.path(&hk, false).exists());
        assert_eq!(objects.prune(false).unwrap(), Pruned::default());
    }
}
