//! Profiles, their generation directories and minor links under `$PYSWAP_HOME/profiles/`.
//!
//! Generation N of profile `<p>` is a small read-only directory `profiles/<p>-<N>/` that mirrors
//! the top level of its store entry: `bin/` is a real directory holding one symlink per file of
//! the entry's `bin/` (`bin/python3 -> ../../../store/<entry>/bin/python3`), every other
//! top-level name (`include`, `lib`, `share`) is a symlink to the entry's (`lib ->
//! ../../store/<entry>/lib`), and `.entry -> ../../store/<entry>` names the entry. Because the
//! executables themselves are symlinks into the store, `CPython` (which follows the links of its
//! executable *file* to find its prefix, normalising `..` lexically) takes its prefix from the
//! store entry: a process started as `profiles/<p>/bin/python3` imports from that entry for as
//! long as it runs, whatever the profile points at later. The targets are relative, so a home
//! can be moved or bind-mounted elsewhere; they are written for the depth of `profiles/<x>/`,
//! which is why the current link and the minor links live beside the generation directories.
//!
//! `profiles/<p> -> <p>-<N>` says which generation is current; `profiles/<p>@<minor> -> <p>-<M>`
//! (e.g. `default@3.11`, `default@3.13t`) is the newest generation of that minor version and
//! variant that was made current, a stable path for venvs that must stay on their minor
//! version. Every change of a link creates it under a temporary dot-name and `rename(2)`s it over
//! the old one, then fsyncs `profiles/`; a generation directory is built under a temporary
//! dot-name, fsynced and made read-only before it is renamed into place. At every instant a path
//! resolves to a complete runtime, old or new, never to nothing.
//!
//! Homes made before generation directories have `<p>-<N>-link -> ../store/<entry>` symlinks
//! ("legacy links"); they keep working, and [`Profiles::migrate`] turns them into directories.
//!
//! The database holds the generations; the directories are their materialisation. A directory
//! without a row (left by a crash) is garbage that `gc` removes; a row whose directory is missing
//! or altered is rebuilt when it is next used.

mod listing;
mod seals;

pub(crate) use seals::Seals;
use seals::{seal, stamp};

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProfileError {
    #[error("invalid profile name `{0}`: use 1 to 64 letters, digits and `_`")]
    BadName(String),
    #[error("profile link {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error(
        "profile link {} points at `{target}`, which is not a generation of this profile",
        path.display()
    )]
    Foreign { path: PathBuf, target: String },
    #[error("store entry name `{0}` is not one pyswap makes; refusing to use it as a path")]
    BadEntry(String),
    #[error("profile link {} is {what}", path.display())]
    NotALink { path: PathBuf, what: String },
    #[error("`{0}` is not a minor version (3.11; 3.13t free-threaded, 3.13d debug, 3.13td)")]
    BadMinor(String),
    #[error("{} is not a symlink; pyswap removes only the links it makes", .0.display())]
    NotOurs(PathBuf),
    #[error("profile `{profile}` has no minor path {minor}")]
    NoMinor { profile: String, minor: String },
}

crate::ground::exit::register!(ProfileError);
impl crate::ground::exit::Reason for ProfileError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Io { error, .. } => crate::ground::exit::Reason::status(error),
            _ => crate::ground::exit::ExitStatus::Failure,
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Foreign { .. } | Self::NotALink { .. } => Some(
                "`pyswap rollback --to N` or `pyswap switch VERSION` puts the profile link back"
                    .into(),
            ),
            Self::Io { error, .. } => crate::ground::exit::Reason::help(error),
            Self::NoMinor { .. } => Some("`pyswap minors` lists them".into()),
            _ => None,
        }
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), ProfileError> {
    if (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(ProfileError::BadName(name.to_owned()))
    }
}

fn check_minor(minor: &str) -> bool {
    let (num, flags) = minor.split_at(
        minor
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(minor.len()),
    );
    let mut parts = num.split('.');
    let ok_num = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.len() <= 4);
    ok_num(parts.next())
        && ok_num(parts.next())
        && parts.next().is_none()
        && matches!(flags, "" | "t" | "d" | "td")
}

/// What a name directly in `profiles/` is.
#[derive(Debug, PartialEq, Eq)]
enum Name<'a> {
    /// `<p>-<N>`: a generation directory.
    Generation(&'a str, u64),
    /// `<p>-<N>-link`: a generation link from before generation directories.
    Legacy(&'a str, u64),
    /// `<p>@<minor>`: a minor link.
    Minor(&'a str, &'a str),
    /// `.tmp-*`: work in progress (garbage unless its command still runs).
    Temporary,
    /// `<p>`, or anything else.
    Other,
}

fn parse(name: &str) -> Name<'_> {
    if name.starts_with(".tmp-") {
        return Name::Temporary;
    }
    if let Some((p, minor)) = name.split_once('@') {
        return if check_name(p).is_ok() && check_minor(minor) {
            Name::Minor(p, minor)
        } else {
            Name::Other
        };
    }
    let (rest, legacy) = match name.strip_suffix("-link") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    let Some((p, n)) = rest.rsplit_once('-') else {
        return Name::Other;
    };
    let number = match n.parse::<u64>() {
        Ok(v) if check_name(p).is_ok() && !n.starts_with('0') => v,
        _ => return Name::Other,
    };
    if legacy {
        Name::Legacy(p, number)
    } else {
        Name::Generation(p, number)
    }
}

fn generation_name(profile: &str, n: u64) -> String {
    format!("{profile}-{n}")
}

fn legacy_name(profile: &str, n: u64) -> String {
    format!("{profile}-{n}-link")
}

/// What the current link of a profile is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CurrentLink {
    /// No link: the profile has no runtime.
    Missing,
    /// Generation N (a directory, or a legacy link).
    Generation(u64),
    /// A symlink to something that is not one of the profile's generations.
    Foreign(String),
    /// Not a symlink at all (a directory or file put there by hand), or unreadable.
    Broken(String),
}

pub(crate) struct Profiles {
    dir: PathBuf,
}

impl Profiles {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The path users put on PATH, minus `/bin`.
    pub(crate) fn profile_path(&self, profile: &str) -> PathBuf {
        self.dir.join(profile)
    }

    /// Generation `n`'s directory.
    pub(crate) fn generation_path(&self, profile: &str, n: u64) -> PathBuf {
        self.dir.join(generation_name(profile, n))
    }

    /// The stable per-minor path (`profiles/<p>@3.11`), minus `/bin`.
    pub(crate) fn minor_path(&self, profile: &str, minor: &str) -> PathBuf {
        self.dir.join(format!("{profile}@{minor}"))
    }

    fn store(&self) -> PathBuf {
        self.dir
            .parent()
            .map_or_else(|| PathBuf::from("store"), |home| home.join("store"))
    }

    fn io(path: &Path) -> impl FnOnce(io::Error) -> ProfileError + '_ {
        move |error| ProfileError::Io {
            path: path.to_owned(),
            error,
        }
    }

    /// What `profiles/<profile>` is, without failing on a damaged link.
    pub(crate) fn current_link(&self, profile: &str) -> CurrentLink {
        let path = self.profile_path(profile);
        match fs::read_link(&path) {
            Ok(t) => {
                let target = t.to_string_lossy().into_owned();
                match parse(&target) {
                    Name::Generation(p, n) | Name::Legacy(p, n) if p == profile => {
                        CurrentLink::Generation(n)
                    }
                    _ => CurrentLink::Foreign(target),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => CurrentLink::Missing,
            Err(e) => CurrentLink::Broken(match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => "a directory, not a link".into(),
                Ok(_) => "a file, not a link".into(),
                Err(_) => e.to_string(),
            }),
        }
    }

    /// The current generation of `profile`, from its link; `None` if it has none yet.
    pub(crate) fn current(&self, profile: &str) -> Result<Option<u64>, ProfileError> {
        let path = self.profile_path(profile);
        match self.current_link(profile) {
            CurrentLink::Missing => Ok(None),
            CurrentLink::Generation(n) => Ok(Some(n)),
            CurrentLink::Foreign(target) => Err(ProfileError::Foreign { path, target }),
            CurrentLink::Broken(what) => Err(ProfileError::NotALink { path, what }),
        }
    }

    /// The store entry generation `n` uses, read from its directory (or legacy link).
    pub(crate) fn generation_entry(&self, profile: &str, n: u64) -> Option<String> {
        let t = fs::read_link(self.generation_path(profile, n).join(".entry"))
            .or_else(|_| fs::read_link(self.dir.join(legacy_name(profile, n))))
            .ok()?;
        Some(t.file_name()?.to_string_lossy().into_owned())
    }

    /// The links a generation directory for `entry` holds: (relative path, target).
    fn layout(&self, entry: &str) -> Result<Vec<(String, PathBuf)>, ProfileError> {
        if !crate::storage::store::is_entry_name(entry) {
            return Err(ProfileError::BadEntry(entry.to_owned()));
        }
        let root = self.store().join(entry);
        let up2 = Path::new("../../store").join(entry);
        let up3 = Path::new("../../../store").join(entry);
        let mut out = vec![(".entry".to_owned(), up2.clone())];
        let mut names: Vec<(String, bool)> = fs::read_dir(&root)
            .map_err(Self::io(&root))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                let dir = e.file_type().ok()?.is_dir();
                (!name.starts_with('.')).then_some((name, dir))
            })
            .collect();
        names.sort();
        for (name, is_dir) in names {
            if name == "bin" && is_dir {
                let bin = root.join("bin");
                let mut files: Vec<String> = fs::read_dir(&bin)
                    .map_err(Self::io(&bin))?
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .filter(|n| !n.starts_with('.'))
                    .collect();
                files.sort();
                out.extend(
                    files
                        .into_iter()
                        .map(|f| (format!("bin/{f}"), up3.join("bin").join(&f))),
                );
            } else {
                out.push((name.clone(), up2.join(&name)));
            }
        }
        Ok(out)
    }

    /// Creates (or re-creates) generation `n`'s directory for store entry `entry`: built under a
    /// temporary name, fsynced and made read-only, then renamed into place (an existing one is
    /// exchanged atomically with it, then deleted).
    pub(crate) fn write_generation(
        &self,
        profile: &str,
        n: u64,
        entry: &str,
    ) -> Result<(), ProfileError> {
        let layout = self.layout(entry)?;
        let name = generation_name(profile, n);
        let tmp = self.temporary(&name);
        let built = (|| -> io::Result<()> {
            fs::create_dir(&tmp)?;
            if layout.iter().any(|(rel, _)| rel.starts_with("bin/")) {
                fs::create_dir(tmp.join("bin"))?;
            }
            for (rel, target) in &layout {
                symlink(target, tmp.join(rel))?;
            }
            let nanos = seal(profile, n, entry);
            let bin = tmp.join("bin");
            if bin.is_dir() {
                stamp(&bin, nanos)?;
                fs::set_permissions(&bin, fs::Permissions::from_mode(0o555))?;
                crate::storage::store::sync_dir(&bin)?;
            }
            stamp(&tmp, nanos)?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o555))?;
            crate::storage::store::sync_dir(&tmp)
        })();
        if let Err(e) = built {
            let _ = crate::storage::store::remove_tree(&tmp);
            return Err(Self::io(&tmp)(e));
        }
        crate::ground::crash::point("generation-dir:built");
        let dest = self.dir.join(&name);
        let placed = if fs::symlink_metadata(&dest).is_ok() {
            crate::storage::store::exchange(&tmp, &dest)
                .and_then(|()| crate::storage::store::remove_tree(&tmp))
        } else {
            fs::rename(&tmp, &dest)
        };
        if let Err(e) = placed {
            let _ = crate::storage::store::remove_tree(&tmp);
            return Err(Self::io(&dest)(e));
        }
        crate::ground::crash::point("generation-dir:renamed");
        self.sync()?;
        crate::ground::crash::point("generation-dir:synced");
        Ok(())
    }

    /// Makes generation `n` current: `<profile> -> <profile>-<n>`, atomically. Something that is
    /// not a link standing at `<profile>` (a directory put there by hand) is moved aside to
    /// `<profile>.displaced-<unix time>`, never deleted; returns that path when it happened.
    pub(crate) fn activate(&self, profile: &str, n: u64) -> Result<Option<PathBuf>, ProfileError> {
        let path = self.profile_path(profile);
        let displaced = match fs::symlink_metadata(&path) {
            Ok(m) if !m.file_type().is_symlink() => {
                let aside = self.dir.join(format!(
                    "{profile}.displaced-{}",
                    crate::ground::clock::now_unix()
                ));
                fs::rename(&path, &aside).map_err(Self::io(&path))?;
                Some(aside)
            }
            _ => None,
        };
        self.replace_symlink(
            profile,
            Path::new(&generation_name(profile, n)),
            CURRENT_LINK,
            true,
        )?;
        Ok(displaced)
    }

    /// Points the minor link `<profile>@<minor>` at generation `n`, atomically. With `sync`
    /// false `profiles/` is not fsynced: the caller's next link change (an [`Self::activate`])
    /// makes both durable at once; a crash before that leaves the old link, which is as valid.
    pub(crate) fn set_minor(
        &self,
        profile: &str,
        minor: &str,
        n: u64,
        sync: bool,
    ) -> Result<(), ProfileError> {
        if !check_minor(minor) {
            return Err(ProfileError::BadName(format!("{profile}@{minor}")));
        }
        self.replace_symlink(
            &format!("{profile}@{minor}"),
            Path::new(&generation_name(profile, n)),
            MINOR_LINK,
            sync,
        )
    }
    /// Removes the minor link `<profile>@<minor>`, durably; `false` if there was none. `minor`
    /// is checked against the grammar first (it becomes part of a path), and only a symlink is
    /// removed.
    pub(crate) fn remove_minor(&self, profile: &str, minor: &str) -> Result<bool, ProfileError> {
        check_name(profile)?;
        if !check_minor(minor) {
            return Err(ProfileError::BadMinor(minor.to_owned()));
        }
        let path = self.minor_path(profile, minor);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Self::io(&path)(e)),
            Ok(m) if !m.file_type().is_symlink() => {
                return Err(ProfileError::NotOurs(path));
            }
            Ok(_) => {}
        }
        match fs::remove_file(&path) {
            Ok(()) => self.sync().map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::io(&path)(e)),
        }
    }

    /// Removes the profile's current link (the profile then has no runtime), durably.
    pub(crate) fn deactivate(&self, profile: &str) -> Result<(), ProfileError> {
        let path = self.profile_path(profile);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Self::io(&path)(e)),
            _ => {}
        }
        self.sync()
    }

    /// Deletes generation `n`'s directory (and a legacy link of the same number).
    pub(crate) fn remove_generation(&self, profile: &str, n: u64) -> Result<(), ProfileError> {
        for path in [
            self.generation_path(profile, n),
            self.dir.join(legacy_name(profile, n)),
        ] {
            crate::storage::store::remove_tree(&path).map_err(Self::io(&path))?;
        }
        Ok(())
    }

    pub(crate) fn sync(&self) -> Result<(), ProfileError> {
        crate::storage::store::sync_dir(&self.dir).map_err(Self::io(&self.dir))
    }

    fn temporary(&self, name: &str) -> PathBuf {
        self.dir
            .join(format!(".tmp-{}-{}-{name}", std::process::id(), nonce()))
    }

    /// Points `profiles/<name>` at `target` by creating a temporary link and renaming it over
    /// `name`.
    fn replace_symlink(
        &self,
        name: &str,
        target: &Path,
        points: Points,
        sync: bool,
    ) -> Result<(), ProfileError> {
        let tmp = self.temporary(name);
        symlink(target, &tmp).map_err(Self::io(&tmp))?;
        crate::ground::crash::point(points[0]);
        let dest = self.dir.join(name);
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(Self::io(&dest)(e));
        }
        crate::ground::crash::point(points[1]);
        if sync {
            self.sync()?;
            crate::ground::crash::point(points[2]);
        }
        Ok(())
    }
}

/// Crash points of one link replacement: temporary link made, renamed over, directory synced.
type Points = [&'static str; 3];
const CURRENT_LINK: Points = [
    "current-link:temp-link",
    "current-link:renamed",
    "current-link:synced",
];
const MINOR_LINK: Points = [
    "minor-link:temp-link",
    "minor-link:renamed",
    "minor-link:synced",
];

fn nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    nanos ^ (COUNTER.fetch_add(1, Ordering::Relaxed) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-cpython-3.11.7-linux-x86_64-gnu";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-cpython-3.12.1-linux-x86_64-gnu";

    fn home_with(entries: &[&str]) -> (tempfile::TempDir, Profiles) {
        let home = tempfile::tempdir().unwrap();
        for e in entries {
            let root = home.path().join("store").join(e);
            fs::create_dir_all(root.join("bin")).unwrap();
            fs::create_dir_all(root.join("lib/python3.11")).unwrap();
            fs::create_dir_all(root.join("include")).unwrap();
            fs::write(root.join("bin/python3.11"), b"#!/bin/sh\n").unwrap();
            symlink("python3.11", root.join("bin/python3")).unwrap();
        }
        fs::create_dir(home.path().join("profiles")).unwrap();
        let p = Profiles::new(home.path().join("profiles"));
        (home, p)
    }

    #[test]
    fn names_parse() {
        assert_eq!(parse("default-12"), Name::Generation("default", 12));
        assert_eq!(parse("default-12-link"), Name::Legacy("default", 12));
        assert_eq!(parse("my_prof-1"), Name::Generation("my_prof", 1));
        assert_eq!(parse("default@3.11"), Name::Minor("default", "3.11"));
        assert_eq!(parse("default@3.13td"), Name::Minor("default", "3.13td"));
        assert_eq!(parse(".tmp-1-2-default-3"), Name::Temporary);
        for other in [
            "default",
            "a-b-1",
            "default-01",
            "default@3",
            "default@3.x",
            "x@../y",
        ] {
            assert_eq!(parse(other), Name::Other, "{other}");
        }
        assert!(
            check_name("ci_3").is_ok()
                && check_name("a-b").is_err()
                && check_name("").is_err()
                && check_name("../x").is_err()
        );
    }

    #[test]
    fn generation_directories_point_into_the_store_and_swap_atomically() {
        let (home, p) = home_with(&[A, B]);
        assert_eq!(p.current("default").unwrap(), None);
        p.write_generation("default", 1, A).unwrap();
        p.activate("default", 1).unwrap();
        p.write_generation("default", 2, B).unwrap();
        p.activate("default", 2).unwrap();
        assert_eq!(p.current("default").unwrap(), Some(2));
        assert_eq!(p.generation_entry("default", 1).as_deref(), Some(A));
        let real = fs::canonicalize(p.profile_path("default").join("bin/python3")).unwrap();
        assert_eq!(
            real,
            fs::canonicalize(home.path().join("store").join(B).join("bin/python3.11")).unwrap()
        );
        assert!(p.profile_path("default").join("lib/python3.11").is_dir());
        assert!(p.generation_intact("default", 1, A));
        assert!(!p.generation_intact("default", 1, B));
        assert_eq!(
            p.generations_on_disk().unwrap(),
            vec![("default".into(), 1), ("default".into(), 2)]
        );
        // Re-writing an existing directory replaces it in one exchange.
        p.write_generation("default", 1, B).unwrap();
        assert!(p.generation_intact("default", 1, B));
        assert_eq!(p.sweep_temporaries(false), 0, "nothing temporary survives");
        p.set_minor("default", "3.12", 2, true).unwrap();
        assert_eq!(
            p.minors().unwrap(),
            vec![("default".into(), "3.12".into(), Some(2))]
        );
        p.remove_generation("default", 1).unwrap();
        assert_eq!(
            p.generations_on_disk().unwrap(),
            vec![("default".into(), 2)]
        );
    }

    #[test]
    fn a_hijacked_generation_is_not_intact() {
        let (_home, p) = home_with(&[A]);
        p.write_generation("default", 1, A).unwrap();
        let bin = p.generation_path("default", 1).join("bin");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        fs::remove_file(bin.join("python3")).unwrap();
        symlink("/bin/sh", bin.join("python3")).unwrap();
        assert!(!p.generation_intact("default", 1, A));
        assert!(matches!(
            p.write_generation("default", 2, "../../etc"),
            Err(ProfileError::BadEntry(_))
        ));
    }

    #[test]
    fn a_sealed_generation_is_checked_by_two_stats_and_a_touched_one_is_read() {
        let (home, p) = home_with(&[A, B]);
        p.write_generation("default", 1, A).unwrap();
        let dir = p.generation_path("default", 1);
        for d in [dir.clone(), dir.join("bin")] {
            let m = fs::symlink_metadata(&d).unwrap();
            assert_eq!(m.mtime_nsec(), i64::from(seal("default", 1, A)), "{d:?}");
        }
        assert_ne!(seal("default", 1, A), seal("default", 2, A));
        assert_ne!(seal("default", 1, A), seal("default", 1, B));
        // The seal alone vouches for the directory: with the entry's own listing unreadable,
        // the links cannot be compared, and the sealed directory still counts as intact.
        let entry = home.path().join("store").join(A);
        fs::rename(&entry, home.path().join("aside")).unwrap();
        assert!(p.generation_intact("default", 1, A));
        assert!(!p.generation_audit("default", 1, A));
        fs::rename(home.path().join("aside"), &entry).unwrap();
        // Anything added to the directory breaks the seal: the links are read, and an extra
        // name is not what write_generation makes.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        symlink("/etc", dir.join("extra")).unwrap();
        assert!(!p.generation_intact("default", 1, A));
        fs::remove_file(dir.join("extra")).unwrap();
        // Unsealed but exactly right again: the audit says so.
        assert!(p.generation_intact("default", 1, A));
        // Generation 2's directory copied over as generation 3 keeps generation 2's seal (its
        // times copied too), which is not 3's: read, and found right or wrong by its links.
        p.write_generation("default", 2, B).unwrap();
        let copy = |from: u64, to: u64| {
            let to = p.generation_path("default", to);
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(p.generation_path("default", from))
                .arg(&to)
                .status()
                .unwrap();
            assert!(status.success());
            to
        };
        let three = copy(2, 3);
        assert_eq!(
            fs::symlink_metadata(&three).unwrap().mtime_nsec(),
            i64::from(seal("default", 2, B))
        );
        assert!(p.generation_intact("default", 3, B));
        assert!(!p.generation_intact("default", 3, A));
    }

    #[test]
    fn legacy_links_migrate_to_directories() {
        let (_home, p) = home_with(&[A]);
        symlink(Path::new("../store").join(A), p.dir.join("default-3-link")).unwrap();
        symlink("default-3-link", p.profile_path("default")).unwrap();
        assert_eq!(p.current("default").unwrap(), Some(3));
        assert_eq!(p.generation_entry("default", 3).as_deref(), Some(A));
        assert!(p.generation_intact("default", 3, A));
        assert_eq!(p.migrate("default").unwrap(), 1);
        assert_eq!(
            fs::read_link(p.profile_path("default")).unwrap(),
            Path::new("default-3")
        );
        assert!(!p.dir.join("default-3-link").exists());
        assert!(p.generation_path("default", 3).is_dir());
        assert_eq!(p.migrate("default").unwrap(), 0);
    }
}
