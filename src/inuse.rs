//! Store entries that running processes still use ("runtime roots").
//!
//! A Python process started on a runtime keeps importing from its prefix for as long as it
//! runs, long after a switch has made another runtime current. Deleting its entry would break it
//! at its next import, so `gc` keeps every entry that a process on this host has as its
//! executable, working directory or root, holds open, or maps (shared libraries), as read from
//! `/proc/<pid>/{exe,cwd,root,fd/*,maps}`. A process pyswap may not inspect (another user's,
//! without root) is not seen; a process that exits is seen no more and its entry goes at the
//! next `gc`. Elsewhere than Linux (no `/proc`) the scan finds nothing.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A process that uses store entries.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    /// Its real user id (the owner of `/proc/<pid>`).
    pub uid: u32,
    /// Its command line, arguments joined by spaces (`[name]` when it has none).
    pub command: String,
    /// The entries it uses, sorted.
    pub entries: Vec<String>,
}

/// How much of a process counts as using an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Uses {
    /// Runs it: its executable or a mapped file (a shared library, `libpython` embedded in a
    /// server) is in the entry. What `ps` lists and a switch counts: the processes to restart.
    Runs,
    /// Anything that would break if the entry went away: also its working directory, root and
    /// open files. What gc keeps.
    Anything,
}

/// Every process (but this one) that uses an entry of `store`, by pid.
pub fn processes(store: &Path, how: Uses) -> Vec<Process> {
    let store = fs::canonicalize(store).unwrap_or_else(|_| store.to_owned());
    let mut found = Vec::new();
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
        let entries = uses(&p.path(), &store, how);
        if entries.is_empty() {
            continue;
        }
        let uid = fs::metadata(p.path()).map_or(u32::MAX, |m| m.uid());
        found.push(Process {
            pid,
            uid,
            command: command_line(&p.path()),
            entries,
        });
    }
    found.sort_by_key(|p| p.pid);
    found
}

/// Entry name -> the lowest pid using it.
pub fn entries_in_use(store: &Path) -> BTreeMap<String, u32> {
    let mut found = BTreeMap::new();
    for p in processes(store, Uses::Anything) {
        for name in p.entries {
            found.entry(name).or_insert(p.pid);
        }
    }
    found
}

/// A `/proc` file read whole in as few reads as possible (they report size 0, so `read_to_string`
/// would start with small reads: the post-switch count reads every process's maps).
fn read_proc_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64 * 1024);
    fs::File::open(path).ok()?.read_to_end(&mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// `/proc/<pid>/cmdline` with NULs as spaces, or `[comm]` for a process without one.
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
        words.join(" ")
    }
}

/// The name of user `uid` from `/etc/passwd`, else the number.
pub fn user_name(uid: u32) -> String {
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

/// The entries one process uses (best effort: a vanished process or a denied read is skipped).
fn uses(proc_dir: &Path, store: &Path, how: Uses) -> Vec<String> {
    let links: &[&str] = match how {
        Uses::Runs => &["exe"],
        Uses::Anything => &["exe", "cwd", "root"],
    };
    let mut paths: Vec<PathBuf> = links
        .iter()
        .filter_map(|l| fs::read_link(proc_dir.join(l)).ok())
        .collect();
    if how == Uses::Anything
        && let Ok(fds) = fs::read_dir(proc_dir.join("fd"))
    {
        paths.extend(fds.flatten().filter_map(|fd| fs::read_link(fd.path()).ok()));
    }
    // A process whose executable is a runtime runs it: its maps need not be read.
    let runs_one = how == Uses::Runs && paths.iter().any(|p| entry_of(p, store).is_some());
    if !runs_one && let Some(maps) = read_proc_file(&proc_dir.join("maps")) {
        // `address perms offset dev inode   /path`: the path is the sixth field, if any.
        paths.extend(
            maps.lines()
                .filter_map(|l| l.split_whitespace().nth(5))
                .filter(|p| p.starts_with('/'))
                .map(PathBuf::from),
        );
    }
    let mut names: Vec<String> = paths.iter().filter_map(|p| entry_of(p, store)).collect();
    names.sort_unstable();
    names.dedup();
    names
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
