//! Store entries that running processes still use ("runtime roots").
//!
//! A Python process started on a runtime keeps importing from its prefix for as long as it
//! runs, long after a switch has made another runtime current. Deleting its entry would break it
//! at its next import, so `gc` keeps every entry that a process on this host has as its
//! executable, working directory or root, holds open, or maps (shared libraries), as read from
//! `/proc/<pid>/{exe,cwd,root,fd/*,maps}`.
//!
//! Use is decided by **device and inode**, not by path text: the store's files and directories
//! are indexed by `(st_dev, st_ino)` first, then `exe`, `cwd`, `root` and each `fd/*` are
//! `stat`ed through `/proc` (which follows the kernel's own reference to the object, so a
//! process that runs the store through another path, such as the home bind-mounted into a
//! container's mount namespace, is seen), and each `maps` line is parsed by position (device
//! and inode columns; the path is the rest of the line and may hold spaces). Where the device in
//! `maps` is not the one `stat` reports (overlayfs and btrfs subvolumes can show the backing
//! device), a mapping whose inode number occurs in the store is `stat`ed through
//! `/proc/<pid>/map_files/` (root can); the path text, when it names the store, counts too. So
//! each way only adds uses: gc can only keep more.
//!
//! Limits, said where they apply: a process pyswap may not inspect (another user's, without
//! root) is not seen: [`Scan::hidden`] counts them, and gc keeps what such processes could use
//! (see `gc`); a pyswap inside a PID namespace (a container) sees only the processes of that
//! namespace, and `/proc` mounted with `hidepid` hides others' processes entirely. A process
//! that exits is seen no more and its entry goes at the next `gc`. Elsewhere than Linux (no
//! `/proc`) the scan finds nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A process that uses store entries.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub(crate) pid: u32,
    /// Its real user id (the owner of `/proc/<pid>`).
    pub(crate) uid: u32,
    /// Its command line, arguments joined by spaces (`[name]` when it has none).
    pub(crate) command: String,
    /// The entries it uses, sorted.
    pub(crate) entries: Vec<String>,
}

/// How much of a process counts as using an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Uses {
    /// Runs it: its executable or a mapped file (a shared library, `libpython` embedded in a
    /// server) is in the entry. What `ps` lists and a switch counts: the processes to restart.
    Runs,
    /// Anything that would break if the entry went away: also its working directory, root and
    /// open files. What gc keeps.
    Anything,
}

/// What a scan of `/proc` found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The processes (but this one) that use an entry, by pid.
    pub(crate) processes: Vec<Process>,
    /// Processes whose executable or mappings this user may not read (another user's, when
    /// pyswap is not root): they may use any entry they can reach.
    pub(crate) hidden: Vec<Hidden>,
}

/// A process that could not be inspected, and who it runs as (from `/proc/<pid>/status`, which
/// anyone may read).
#[derive(Debug, Clone)]
pub(crate) struct Hidden {
    /// Its effective user id, and every group id it has (effective and supplementary).
    pub(crate) uid: u32,
    pub(crate) gids: Vec<u32>,
}

/// Who a process runs as, from `/proc/<pid>/status`: (effective uid, effective and
/// supplementary gids).
fn credentials(proc_dir: &Path) -> Option<(u32, Vec<u32>)> {
    let status = fs::read_to_string(proc_dir.join("status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|v| v.parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
    };
    let uid = *field("Uid:")?.get(1)?;
    let mut gids = field("Gid:")?
        .get(1)
        .copied()
        .into_iter()
        .collect::<Vec<_>>();
    gids.extend(field("Groups:").unwrap_or_default());
    Some((uid, gids))
}

/// The store's files and directories by `(device, inode)`, each with every entry that holds it
/// (entries share the files they have in common: one inode, several names), and the set of
/// their inode numbers.
#[derive(Default)]
struct Index {
    by_id: HashMap<(u64, u64), Vec<String>>,
    inodes: HashSet<u64>,
}

impl Index {
    /// Every node of the entries of `store` (all of them, or those named in `only`), not
    /// following symlinks. For [`Uses::Runs`] only what a process can run or map as code: the
    /// executables in `bin/` and shared libraries (`*.so`, `*.so.N`), which spares a `stat` of
    /// each of the standard library's thousands of `.py` and `.pyc` files (a switch counts the
    /// processes on the old runtime this way: issue 27 measured 15 ms of a 22 ms rollback in
    /// that walk). gc's [`Uses::Anything`] indexes every node.
    fn of(store: &Path, only: Option<&[String]>, how: Uses) -> Self {
        let mut index = Self::default();
        let Ok(rd) = fs::read_dir(store) else {
            return index;
        };
        for e in rd.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') || only.is_some_and(|o| !o.contains(&name)) {
                continue;
            }
            let mut stack = vec![e.path()];
            while let Some(dir) = stack.pop() {
                let Ok(m) = fs::symlink_metadata(&dir) else {
                    continue;
                };
                index.add(&m, &name);
                if !m.is_dir() {
                    continue;
                }
                let Ok(children) = fs::read_dir(&dir) else {
                    continue;
                };
                let in_bin = dir.file_name().is_some_and(|n| n == "bin");
                for c in children.flatten() {
                    match c.file_type() {
                        Ok(t) if t.is_dir() => stack.push(c.path()),
                        Ok(t) if t.is_symlink() => {}
                        Ok(_) if how == Uses::Runs && !in_bin && !is_library(&c.file_name()) => {}
                        Ok(_) => {
                            if let Ok(m) = c.metadata() {
                                index.add(&m, &name);
                            }
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        index
    }

    fn add(&mut self, m: &fs::Metadata, entry: &str) {
        let holders = self.by_id.entry((m.dev(), m.ino())).or_default();
        if !holders.iter().any(|h| h == entry) {
            holders.push(entry.to_owned());
        }
        self.inodes.insert(m.ino());
    }

    /// The entries that hold the object `(dev, ino)`.
    fn holders(&self, dev: u64, ino: u64) -> &[String] {
        self.by_id.get(&(dev, ino)).map_or(&[], Vec::as_slice)
    }
}

/// The entries a reference to one object uses: the one its path names, when the path is in the
/// store (a shared file is used through the entry it was opened in), else every entry that
/// holds the object (reached through another path, such as a bind mount: all are kept).
fn used_by(holders: &[String], named: Option<String>) -> Vec<String> {
    match named {
        Some(entry) => vec![entry],
        None => holders.to_vec(),
    }
}

/// `libpython3.12.so.1.0`, `_ssl.cpython-312-x86_64-linux-gnu.so`: a file a process maps as code.
fn is_library(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.ends_with(b".so") || name.windows(4).any(|w| w == b".so.")
}

/// Scans `/proc` for the processes that use the entries of `store` (all of them, or those named
/// in `only`), and those it cannot inspect.
pub(crate) fn scan(store: &Path, how: Uses, only: Option<&[String]>) -> Scan {
    let store = fs::canonicalize(store).unwrap_or_else(|_| store.to_owned());
    let index = Index::of(&store, only, how);
    let mut found = Scan::default();
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    let me = std::process::id();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let uid = fs::metadata(p.path()).map_or(u32::MAX, |m| m.uid());
        let (mut entries, hidden) = uses(&p.path(), &store, &index, how);
        if hidden {
            let (uid, gids) = credentials(&p.path()).unwrap_or((uid, Vec::new()));
            found.hidden.push(Hidden { uid, gids });
        }
        if let Some(only) = only {
            entries.retain(|e| only.contains(e));
        }
        if entries.is_empty() {
            continue;
        }
        found.processes.push(Process {
            pid,
            uid,
            command: command_line(&p.path()),
            entries,
        });
    }
    found.processes.sort_by_key(|p| p.pid);
    found
}

/// Entry name -> how many processes use it (anything gc counts as use).
pub(crate) fn process_counts(store: &Path) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for p in scan(store, Uses::Anything, None).processes {
        for name in p.entries {
            *counts.entry(name).or_insert(0) += 1;
        }
    }
    counts
}

/// Entry name -> the lowest pid using it.
pub(crate) fn entries_in_use(store: &Path) -> BTreeMap<String, u32> {
    in_use(&scan(store, Uses::Anything, None))
}

/// Entry name -> the lowest pid using it, from a scan.
pub(crate) fn in_use(scan: &Scan) -> BTreeMap<String, u32> {
    let mut found = BTreeMap::new();
    for p in &scan.processes {
        for name in &p.entries {
            found.entry(name.clone()).or_insert(p.pid);
        }
    }
    found
}

/// A `/proc` file read whole in as few reads as possible (they report size 0, so `read_to_string`
/// would start with small reads: the post-switch count reads every process's maps).
fn read_proc_file(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64 * 1024);
    fs::File::open(path)?.read_to_end(&mut buf)?;
    Ok(buf)
}

/// `/proc/<pid>/cmdline` as a shell would read it back (`text::shell_words`), or `[comm]` for
/// a process without one.
fn command_line(proc_dir: &Path) -> String {
    let raw = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.is_empty() {
        let comm = fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
        format!("[{}]", comm.trim())
    } else {
        crate::ground::text::shell_words(&words)
    }
}

/// The name of user `uid` from `/etc/passwd`, else the number.
pub(crate) fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

fn denied(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::PermissionDenied) || e.raw_os_error() == Some(libc::EPERM)
}

/// One line of `/proc/<pid>/maps`: `address perms offset dev inode [path]`, by position (the
/// path is the rest of the line and may hold spaces).
struct Mapping<'a> {
    address: &'a str,
    dev: u64,
    ino: u64,
    path: &'a str,
}

fn mapping(line: &str) -> Option<Mapping<'_>> {
    let mut rest = line;
    let mut field = || {
        let t = rest.trim_start_matches(' ');
        let end = t.find(' ').unwrap_or(t.len());
        let (f, r) = t.split_at(end);
        rest = r;
        f
    };
    let address = field();
    let _perms = field();
    let _offset = field();
    let (major, minor) = field().split_once(':')?;
    let ino = field().parse().ok()?;
    let dev = libc::makedev(
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    let path = rest.trim_start_matches(' ');
    Some(Mapping {
        address,
        dev,
        ino,
        path: path.strip_suffix(" (deleted)").unwrap_or(path),
    })
}

/// The entries one process uses (best effort: a vanished process is skipped), and whether this
/// user was denied what would tell.
fn uses(proc_dir: &Path, store: &Path, index: &Index, how: Uses) -> (Vec<String>, bool) {
    let mut names: Vec<String> = Vec::new();
    let mut hidden = false;
    // The object itself, through the kernel's reference; then the path text. Says whether this
    // user was denied the link.
    let note = |p: &Path, names: &mut Vec<String>| -> bool {
        let holders = fs::metadata(p).map_or(&[][..], |m| index.holders(m.dev(), m.ino()));
        match fs::read_link(p) {
            Ok(text) => {
                names.extend(used_by(holders, entry_of(&text, store)));
                false
            }
            Err(e) => {
                names.extend(holders.iter().cloned());
                denied(&e)
            }
        }
    };
    let links: &[&str] = match how {
        Uses::Runs => &["exe"],
        Uses::Anything => &["exe", "cwd", "root"],
    };
    for l in links {
        hidden |= note(&proc_dir.join(l), &mut names);
    }
    if how == Uses::Anything {
        match fs::read_dir(proc_dir.join("fd")) {
            Ok(fds) => {
                for fd in fds.flatten() {
                    note(&fd.path(), &mut names);
                }
            }
            Err(e) if denied(&e) => hidden = true,
            Err(_) => {}
        }
    }
    // A process whose executable is a runtime runs it: its maps need not be read.
    if how == Uses::Runs && !names.is_empty() {
        names.sort_unstable();
        names.dedup();
        return (names, hidden);
    }
    match read_proc_file(&proc_dir.join("maps")) {
        Ok(maps) => {
            let maps = String::from_utf8_lossy(&maps);
            for m in maps.lines().filter_map(mapping) {
                if m.ino == 0 {
                    continue;
                }
                let path_entry = Some(m.path)
                    .filter(|p| p.starts_with('/'))
                    .and_then(|p| entry_of(Path::new(p), store));
                let holders = index.holders(m.dev, m.ino);
                if !holders.is_empty() || path_entry.is_some() {
                    names.extend(used_by(holders, path_entry));
                    continue;
                }
                // Another device number for a file that may be ours (overlayfs, btrfs): ask
                // the kernel what the mapping is.
                if index.inodes.contains(&m.ino)
                    && let Ok(st) = fs::metadata(proc_dir.join("map_files").join(m.address))
                {
                    names.extend(index.holders(st.dev(), st.ino()).iter().cloned());
                }
            }
        }
        Err(e) if denied(&e) => hidden = true,
        Err(_) => {}
    }
    names.sort_unstable();
    names.dedup();
    (names, hidden)
}

/// `store/<entry>/...` -> `<entry>` (work directories, whose names start with `.`, excluded).
fn entry_of(path: &Path, store: &Path) -> Option<String> {
    let rest = path.strip_prefix(store).ok()?;
    let first = rest.components().next()?.as_os_str().to_str()?;
    (!first.starts_with('.')).then(|| first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn finds_a_process_by_its_working_directory_and_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        fs::create_dir_all(store.join("aaa-entry/lib")).unwrap();
        fs::create_dir_all(store.join("bbb-entry/lib")).unwrap();
        fs::create_dir_all(store.join(".staging-x")).unwrap();
        fs::write(store.join("bbb-entry/lib/data"), b"x").unwrap();
        let mut by_cwd = Command::new("sleep")
            .arg("30")
            .current_dir(store.join("aaa-entry/lib"))
            .spawn()
            .unwrap();
        let mut by_fd = Command::new("sh")
            .args(["-c", "exec 3<\"$1\"; exec sleep 30", "sh"])
            .arg(store.join("bbb-entry/lib/data"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut in_staging = Command::new("sleep")
            .arg("30")
            .current_dir(store.join(".staging-x"))
            .spawn()
            .unwrap();
        // Give the shell a moment to open its file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut found = entries_in_use(&store);
        while found.len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            found = entries_in_use(&store);
        }
        for c in [&mut by_cwd, &mut by_fd, &mut in_staging] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        assert_eq!(found.get("aaa-entry"), Some(&by_cwd.id()));
        assert_eq!(found.get("bbb-entry"), Some(&by_fd.id()));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(entries_in_use(&store).is_empty(), "gone once they exit");
    }
}
