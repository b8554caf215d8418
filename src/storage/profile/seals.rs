//! Generation seals: the modification-time nanoseconds a generation directory and its `bin/`
//! get once every link is in place (store-layout.md), so that a listing knows a generation is
//! intact from two `stat`s, and the full audit of its links when the seal is gone.

use std::path::Path;
use std::{fs, io};

use super::{Name, Profiles, legacy_name, parse};

impl Profiles {
    /// True if generation `n` is a generation directory exactly as [`Self::write_generation`]
    /// makes it for `entry` (a legacy link counts when it points at `entry`). Two `stat`s when
    /// the directory still carries its seal (store-layout.md): nothing in it or in its `bin/` was
    /// added, removed or replaced since it was written for `(profile, n, entry)`; otherwise
    /// every link is read ([`Self::generation_audit`]). `verify` always audits.
    pub(crate) fn generation_intact(&self, profile: &str, n: u64, entry: &str) -> bool {
        seal_times(rustix::fs::CWD, &self.generation_path(profile, n))
            .is_some_and(|s| bears_seal(s, seal(profile, n, entry)))
            || self.generation_audit(profile, n, entry)
    }

    /// The seals of every generation directory of `profile`, read in one pass over
    /// `profiles/` (each `stat` relative to it: a lookup of one name, not of the whole path),
    /// without the database: a listing reads them while it reads the rows.
    pub(crate) fn seals(&self, profile: &str) -> Seals {
        let Ok(dir) = fs::File::open(&self.dir) else {
            return Seals::default();
        };
        Seals(
            self.names()
                .unwrap_or_default()
                .iter()
                .filter_map(|name| match parse(name) {
                    Name::Generation(p, n) if p == profile => {
                        Some((n, seal_times(&dir, Path::new(name))?))
                    }
                    _ => None,
                })
                .collect(),
        )
    }

    /// [`Self::generation_intact`] with the seals read by [`Self::seals`].
    pub(crate) fn intact_by(&self, seals: &Seals, profile: &str, n: u64, entry: &str) -> bool {
        seals
            .0
            .get(&n)
            .is_some_and(|&s| bears_seal(s, seal(profile, n, entry)))
            || self.generation_audit(profile, n, entry)
    }

    /// True if generation `n`'s directory holds exactly the links [`Self::write_generation`]
    /// makes for `entry`, every one read: every link present, pointing where it should,
    /// nothing else (a legacy link counts when it points at `entry`).
    pub(crate) fn generation_audit(&self, profile: &str, n: u64, entry: &str) -> bool {
        let dir = self.generation_path(profile, n);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            _ => {
                let legacy = fs::read_link(self.dir.join(legacy_name(profile, n)));
                return legacy.is_ok_and(|t| t == Path::new("../store").join(entry));
            }
        }
        let Ok(wanted) = self.layout(entry) else {
            return false;
        };
        let listed = |d: &Path| -> Option<Vec<String>> {
            let mut v: Vec<String> = fs::read_dir(d)
                .ok()?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            Some(v)
        };
        let mut top: Vec<String> = wanted
            .iter()
            .filter_map(|(rel, _)| rel.split('/').next().map(str::to_owned))
            .collect();
        top.sort();
        top.dedup();
        let mut bin: Vec<String> = wanted
            .iter()
            .filter_map(|(rel, _)| rel.strip_prefix("bin/").map(str::to_owned))
            .collect();
        bin.sort();
        if listed(&dir) != Some(top) || (!bin.is_empty() && listed(&dir.join("bin")) != Some(bin)) {
            return false;
        }
        wanted
            .iter()
            .all(|(rel, target)| fs::read_link(dir.join(rel)).is_ok_and(|t| &t == target))
    }
}

/// The seal of generation `n` of `profile` on `entry`: the nanoseconds of the modification
/// time [`Profiles::write_generation`] gives the directory and its `bin/` once every link is in
/// place (store-layout.md). Adding, removing or replacing anything in either sets that time to
/// the moment it happened, which carries these nanoseconds by a one-in-10^9 chance; a copy of
/// another generation's directory carries that generation's seal.
pub(super) fn seal(profile: &str, n: u64, entry: &str) -> u32 {
    let h = blake3::hash(format!("pyswap generation seal\0{profile}\0{n}\0{entry}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    // < 10^9: a valid `tv_nsec`.
    (u64::from_le_bytes(first) % 1_000_000_000) as u32
}

/// The modification-time nanoseconds of a profile's generation directories and of their
/// `bin/` (`None`: it has none), by number, as [`Profiles::seals`] read them.
#[derive(Default)]
pub(crate) struct Seals(std::collections::HashMap<u64, (u64, Option<u64>)>);

/// The modification-time nanoseconds of the generation directory `dir` (relative to `at`) and
/// of its `bin/` (`None`: it has none); `None` when either is not a directory or cannot be read.
fn seal_times(at: impl rustix::fd::AsFd, dir: &Path) -> Option<(u64, Option<u64>)> {
    use rustix::fs::{AtFlags, FileType, statat};
    let nanos = |p: &Path| {
        statat(&at, p, AtFlags::SYMLINK_NOFOLLOW).map(|st| {
            (FileType::from_raw_mode(st.st_mode) == FileType::Directory).then_some(st.st_mtime_nsec)
        })
    };
    let top = nanos(dir).ok()??;
    match nanos(&dir.join("bin")) {
        Ok(Some(bin)) => Some((top, Some(bin))),
        Err(rustix::io::Errno::NOENT) => Some((top, None)),
        _ => None,
    }
}

/// Whether a generation directory's modification times ([`seal_times`]) are the seal `nanos`:
/// nothing in it or in its `bin/` was added, removed or replaced since they were written.
fn bears_seal((top, bin): (u64, Option<u64>), nanos: u32) -> bool {
    let nanos = u64::from(nanos);
    top == nanos && bin.is_none_or(|b| b == nanos)
}

/// Sets `dir`'s modification time to now's second with `nanos` as its nanoseconds.
pub(super) fn stamp(dir: &Path, nanos: u32) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let now = crate::ground::clock::now_unix();
    let at = |nsec: i64| Timespec {
        tv_sec: now,
        tv_nsec: nsec,
    };
    let times = Timestamps {
        last_access: at(0),
        last_modification: at(i64::from(nanos)),
    };
    utimensat(CWD, dir, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}
