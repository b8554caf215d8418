//! Directories outside the home, opened so that nobody who owns a directory on the way can
//! redirect what pyswap reads or writes: one path component at a time from `/`, `O_NOFOLLOW` at
//! each (a symlink anywhere on the path is `ELOOP`), and everything below done relative to the
//! descriptor. Used for registered venvs and for mirror directories, which other users may own
//! the parents of.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the directory `path` (absolute) one component at a time from `/`, following no symlink
/// on the way: what is opened is what the path names now.
pub(crate) fn open_dir(path: &Path) -> rustix::io::Result<OwnedFd> {
    if !path.is_absolute() {
        return Err(rustix::io::Errno::INVAL);
    }
    let mut dir = rustix::fs::open("/", DIR_FLAGS, Mode::empty())?;
    for c in path.components() {
        match c {
            Component::Normal(name) => {
                dir = rustix::fs::openat(&dir, name, DIR_FLAGS, Mode::empty())?;
            }
            Component::RootDir | Component::CurDir => {}
            // A canonical path has none; `..` would climb out of what was checked.
            _ => return Err(rustix::io::Errno::INVAL),
        }
    }
    Ok(dir)
}

/// Opens (making it first, mode 0755, if it is missing) the directory `name` of `dir`, not
/// following a symlink.
pub(crate) fn subdir(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e),
    }
    rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())
}

/// Why the open directory `dir` cannot be trusted by pyswap's user: owned by another user than
/// pyswap's or root, or writable by anyone but its owner (a sticky world-writable directory
/// included: another user could still plant names in it).
pub(crate) fn untrusted(dir: &OwnedFd) -> rustix::io::Result<Option<String>> {
    let st = rustix::fs::fstat(dir)?;
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me && st.st_uid != 0 {
        return Ok(Some(format!(
            "it is owned by uid {}, not by this user (uid {me}) or root",
            st.st_uid
        )));
    }
    if st.st_mode & 0o022 != 0 {
        return Ok(Some(format!(
            "it is writable by others (mode {:o})",
            st.st_mode & 0o7777
        )));
    }
    Ok(None)
}

/// Reads the regular file `name` of `dir`, at most `limit` bytes: opened without following a
/// symlink and without blocking (a FIFO planted there is refused, never waited on), then checked
/// to be a regular file. `Ok(None)` when it does not exist.
pub(crate) fn read_file(dir: &OwnedFd, name: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) => {
            return Err(io::Error::other(
                "it is a symlink; pyswap reads no file through one",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other("it is not a regular file"));
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > limit {
        return Err(io::Error::other(format!("it is larger than {limit} bytes")));
    }
    let mut out = Vec::new();
    io::Read::read_to_end(
        &mut io::Read::take(std::fs::File::from(fd), limit),
        &mut out,
    )?;
    Ok(Some(out))
}

/// A new file in `dir` under a temporary name (`.NAME.pyswap-<pid>-<n>`, created exclusively,
/// never through a symlink, mode 0644), for [`publish`] once written.
pub(crate) fn temp_file(dir: &OwnedFd, name: &str) -> io::Result<(std::fs::File, String)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    loop {
        let tmp = format!(
            ".{name}.pyswap-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        match rustix::fs::openat(
            dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(fd) => return Ok((std::fs::File::from(fd), tmp)),
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Renames the temporary file `tmp` of `dir` over `name` (a symlink there is replaced, never
/// followed), then syncs `dir`.
pub(crate) fn publish(dir: &OwnedFd, tmp: &str, name: &str) -> io::Result<()> {
    rustix::fs::renameat(dir, tmp, dir, name)?;
    rustix::fs::fsync(dir)?;
    Ok(())
}

/// Removes the temporary file `tmp` of `dir` (after a failure).
pub(crate) fn discard(dir: &OwnedFd, tmp: &str) {
    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_anywhere_on_the_way_is_refused_and_a_fifo_is_not_waited_on() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir_all(real.join("x")).unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
        assert!(open_dir(&real.join("x")).is_ok());
        // O_DIRECTORY|O_NOFOLLOW on a symlink: ENOTDIR (ELOOP without O_DIRECTORY).
        assert!(matches!(
            open_dir(&d.path().join("link/x")).unwrap_err(),
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR
        ));
        let fifo = real.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let dir = open_dir(&real).unwrap();
        let e = read_file(&dir, "fifo", 1 << 20).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_file(&dir, "missing", 1).unwrap().is_none());
    }
}
