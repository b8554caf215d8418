//! Deleting inside the home, and nothing outside it.
//!
//! `gc` runs from root's cron on hosts where other users live. A path-based delete
//! (`remove_dir_all("$HOME/store/.trash-1")`) follows any symlink an attacker put on the way
//! (`store -> /etc`) and descends into whatever is mounted below. [`remove_tree`] instead opens
//! the parent directory with `O_NOFOLLOW` on its last component, then works only relative to
//! directory descriptors: every directory below is opened `O_DIRECTORY|O_NOFOLLOW`, checked to
//! be the one just listed (same device and inode) and on the same mount (the `statx` mount id,
//! which also tells bind mounts apart), then emptied with `unlinkat`. A symlink is unlinked,
//! never followed; a mount point is refused with an error naming it. Read-only directories (store
//! entries are 0555) are made writable through their descriptor first.
//!
//! Which names may be deleted at all is the callers' business: each checks a name against the
//! grammar that made it (`store::is_entry_name`, `.staging-`, `.trash-`, `.tmp-`, ...) before
//! asking. The directories above the parent are the home itself, which `home` checks (a real
//! directory, owned by this user or root, writable by nobody else) before anything deletes.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags};

fn other(path: &Path, why: &str) -> io::Error {
    io::Error::other(format!("{}: {why}", path.display()))
}

/// The device and mount of an open directory (the mount id where the kernel tells it).
fn mount_of(fd: &OwnedFd) -> io::Result<(u64, u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    let mnt = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)
        .ok()
        .filter(|x| x.stx_mask & StatxFlags::MNT_ID.bits() != 0)
        .map_or(0, |x| x.stx_mnt_id);
    Ok((st.st_dev, mnt, st.st_ino))
}

/// Opens the directory `path` for deleting in it: `O_NOFOLLOW` on its last component, so a
/// symlink put in place of a home subdirectory is refused (`ELOOP`), not followed.
fn open_parent(path: &Path) -> io::Result<OwnedFd> {
    let dir = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
            other(
                dir,
                "is a symlink or not a directory; pyswap deletes nothing through it",
            )
        } else {
            e.into()
        }
    })
}

/// The open parent directory of `path` and its last component; `None` when the parent does not
/// exist (then neither does `path`).
fn parent_of(path: &Path) -> io::Result<Option<(OwnedFd, &OsStr)>> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(other(path, "has no parent directory"));
    };
    match open_parent(parent) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        r => r.map(|dir| Some((dir, name))),
    }
}

/// Deletes `path` (a file, a symlink, or a directory tree) without following a symlink or
/// crossing a mount point; a missing path is not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let Some((dir, name)) = parent_of(path)? else {
        return Ok(());
    };
    let (dev, mount, _) = mount_of(&dir)?;
    remove_at(&dir, name, None, dev, mount, path)
}

/// Deletes the entry `name` of the open directory `dir` (a file, a symlink or a tree) as
/// [`remove_tree`] does: nothing followed, no mount crossed. `shown` is `dir`'s path, for errors.
pub(crate) fn remove_in(dir: &OwnedFd, name: &OsStr, shown: &Path) -> io::Result<()> {
    let (dev, mount, _) = mount_of(dir)?;
    remove_at(dir, name, None, dev, mount, shown)
}

/// Makes the calling thread (and only it: raw system calls, not glibc's process-wide
/// wrappers) act on files as user `uid`:`gid` with no supplementary groups. A file-system uid
/// other than 0 also drops root's file capabilities (`CAP_DAC_OVERRIDE`, `CAP_FOWNER`, ...), so
/// the thread can delete only what that user could. Meant for a thread that ends afterwards.
#[allow(unsafe_code)]
pub(crate) fn act_as_owner(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: three system calls with integer arguments (and a null list for no groups),
    // affecting the calling thread's credentials only.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::syscall(libc::SYS_setfsgid, gid);
        libc::syscall(libc::SYS_setfsuid, uid);
        // setfsuid reports the previous id, never an error: ask again to confirm.
        let now = libc::syscall(libc::SYS_setfsuid, u32::MAX);
        if u32::try_from(now).ok() != Some(uid) {
            return Err(io::Error::other(format!(
                "could not act as uid {uid} to delete as the owner"
            )));
        }
    }
    Ok(())
}

/// Deletes `path` as [`remove_tree`] does from a read-only directory (a store entry's): the
/// parent is made writable through its descriptor for the deletion and given its mode back.
pub(crate) fn remove_from_sealed(path: &Path) -> io::Result<()> {
    let Some((dir, name)) = parent_of(path)? else {
        return Ok(());
    };
    let (dev, mount, _) = mount_of(&dir)?;
    let mode = rustix::fs::fstat(&dir)?.st_mode & 0o7777;
    let sealed = mode & 0o700 != 0o700;
    if sealed {
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode | 0o700))?;
    }
    let removed = remove_at(&dir, name, None, dev, mount, path);
    if sealed {
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode))?;
    }
    removed
}

/// Directory descriptors a deletion keeps open at most (a deeper tree is walked back up through
/// `..`, checked to be the directory it came down from): deleting a tree of any depth never runs
/// out of descriptors under `ulimit -n 1024`.
const KEEP_OPEN: usize = 32;

/// Deletes the entry `name` of the open directory `dir`; `kind` is its type when the directory
/// listing said so (saves a stat per file).
fn remove_at(
    dir: &OwnedFd,
    name: &OsStr,
    kind: Option<FileType>,
    dev: u64,
    mount: u64,
    shown: &Path,
) -> io::Result<()> {
    let kind = match kind.filter(|k| *k != FileType::Unknown) {
        Some(k) => k,
        None => match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => FileType::from_raw_mode(st.st_mode),
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        },
    };
    if kind != FileType::Directory {
        return unlink(dir, name, AtFlags::empty());
    }
    remove_dir(dir, name, dev, mount, shown)
}

fn unlink(dir: &OwnedFd, name: &OsStr, flags: AtFlags) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, flags) {
        Err(rustix::io::Errno::NOENT) => Ok(()),
        r => r.map_err(Into::into),
    }
}

/// A directory being emptied: its descriptor (while among the innermost [`KEEP_OPEN`]), its
/// device and inode, its name in its parent and the children still to delete.
struct Frame {
    fd: Option<OwnedFd>,
    id: (u64, u64),
    name: OsString,
    shown: std::path::PathBuf,
    pending: Vec<(OsString, FileType)>,
}

/// An opened directory, its device and inode, and its children (name, type).
type Opened = (OwnedFd, (u64, u64), Vec<(OsString, FileType)>);

/// Opens the subdirectory `name` of `dir` for emptying: checked to be what the listing named,
/// on the same mount, and made writable; `None` if it is gone.
fn open_dir(
    dir: &OwnedFd,
    name: &OsStr,
    dev: u64,
    mount: u64,
    here: &Path,
) -> io::Result<Option<Opened>> {
    let listed = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        r => r?,
    };
    let sub = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        r => r?,
    };
    let (sub_dev, sub_mount, sub_ino) = mount_of(&sub)?;
    if (sub_dev, sub_ino) != (listed.st_dev, listed.st_ino) {
        return Err(other(
            here,
            "changed while it was being deleted; left alone",
        ));
    }
    if sub_dev != dev || sub_mount != mount {
        return Err(other(
            here,
            "is a mount point; pyswap deletes nothing across a mount",
        ));
    }
    if listed.st_mode & 0o700 != 0o700 {
        rustix::fs::fchmod(&sub, Mode::from_raw_mode(0o700))?;
    }
    let mut children: Vec<(OsString, FileType)> = Vec::new();
    for entry in rustix::fs::Dir::read_from(&sub)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push((OsStr::from_bytes(child).to_owned(), entry.file_type()));
        }
    }
    Ok(Some((sub, (sub_dev, sub_ino), children)))
}

/// Deletes the directory `name` of `dir` and everything below it, depth first, without
/// recursion and with at most [`KEEP_OPEN`] descriptors open.
fn remove_dir(dir: &OwnedFd, name: &OsStr, dev: u64, mount: u64, shown: &Path) -> io::Result<()> {
    let here = shown.join(name);
    let Some((fd, id, pending)) = open_dir(dir, name, dev, mount, &here)? else {
        return Ok(());
    };
    let mut stack = vec![Frame {
        fd: Some(fd),
        id,
        name: name.to_owned(),
        shown: here,
        pending,
    }];
    while let Some(top) = stack.last_mut() {
        let Some((child, kind)) = top.pending.pop() else {
            // Emptied: delete it from its parent, reopening that through `..` if it was closed.
            let Some(done) = stack.pop() else { break };
            let Some(up) = stack.last_mut() else {
                drop(done.fd);
                return unlink(dir, name, AtFlags::REMOVEDIR);
            };
            if up.fd.is_none() {
                let Some(below) = done.fd.as_ref() else {
                    return Err(other(&done.shown, "lost its descriptor"));
                };
                let parent = rustix::fs::openat(
                    below,
                    "..",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let st = rustix::fs::fstat(&parent)?;
                if (st.st_dev, st.st_ino) != up.id {
                    return Err(other(
                        &up.shown,
                        "moved while it was being deleted; left alone",
                    ));
                }
                up.fd = Some(parent);
            }
            drop(done.fd);
            let Some(up_fd) = up.fd.as_ref() else {
                return Err(other(&up.shown, "lost its descriptor"));
            };
            unlink(up_fd, &done.name, AtFlags::REMOVEDIR)?;
            continue;
        };
        let Some(fd) = top.fd.as_ref() else {
            return Err(other(&top.shown, "lost its descriptor"));
        };
        let kind = if kind == FileType::Unknown {
            match rustix::fs::statat(fd, &child, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FileType::from_raw_mode(st.st_mode),
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            }
        } else {
            kind
        };
        if kind != FileType::Directory {
            unlink(fd, &child, AtFlags::empty())?;
            continue;
        }
        let sub_shown = top.shown.join(&child);
        let Some((sub, id, pending)) = open_dir(fd, &child, dev, mount, &sub_shown)? else {
            continue;
        };
        stack.push(Frame {
            fd: Some(sub),
            id,
            name: child,
            shown: sub_shown,
            pending,
        });
        if stack.len() > KEEP_OPEN {
            let far = stack.len() - KEEP_OPEN - 1;
            stack[far].fd = None;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    #[test]
    fn deletes_read_only_trees_and_never_follows_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("passwd"), b"root:x:0:0").unwrap();
        let tree = dir.path().join("home/store/.trash-1");
        fs::create_dir_all(tree.join("lib/deep")).unwrap();
        fs::write(tree.join("lib/deep/f"), b"x").unwrap();
        symlink(&outside, tree.join("lib/escape")).unwrap();
        symlink(outside.join("passwd"), tree.join("lib/deep/passwd")).unwrap();
        for d in [tree.join("lib/deep"), tree.join("lib"), tree.clone()] {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o555)).unwrap();
        }
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert!(
            outside.join("passwd").exists(),
            "nothing outside was touched"
        );
        remove_tree(&tree).unwrap();
        remove_tree(&dir.path().join("no/such/thing")).unwrap();
    }

    // Issue 25.

    #[test]
    fn a_tree_deeper_than_the_descriptor_limit_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join(".trash-deep");
        // 1,100 levels, made relative to a descriptor (the absolute path is over PATH_MAX).
        fs::create_dir(&tree).unwrap();
        let mut fd =
            rustix::fs::open(&tree, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        for i in 0..1100 {
            rustix::fs::mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).unwrap();
            if i % 100 == 0 {
                fs::write(
                    format!("/proc/self/fd/{}/f", std::os::fd::AsRawFd::as_raw_fd(&fd)),
                    b"x",
                )
                .unwrap();
            }
            fd = rustix::fs::openat(&fd, "d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
                .unwrap();
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o555)).unwrap();
        drop(fd);
        // (That it does so with few descriptors is tested under `ulimit -n 64` in
        // tests/it/gc_safety.rs: other tests of this process open files meanwhile.)
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
    }

    #[test]
    fn a_symlinked_parent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("etc");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("shadow"), b"secret").unwrap();
        fs::create_dir(dir.path().join("home")).unwrap();
        symlink(&outside, dir.path().join("home/store")).unwrap();
        let err = remove_tree(&dir.path().join("home/store/shadow")).unwrap_err();
        assert!(err.to_string().contains("is a symlink"), "{err}");
        assert!(outside.join("shadow").exists());
    }
}
