//! Venvs that keep their build while they run and move with their profile's minor version.
//!
//! `CPython` takes a venv's `pyvenv.cfg` `home` as written, once, at start, and reads every module
//! it imports later through it. A venv made from the profile path (`profiles/default/bin`)
//! therefore reads the stdlib of whatever build the profile runs *now*: after a switch a running
//! process mixes two builds. A pyswap venv names its store entry instead (`home =
//! $PYSWAP_HOME/store/<entry>/bin`, and `bin/python3 -> …/store/<entry>/bin/python3`), which
//! never changes, so a running process keeps the build it started with; pyswap moves the venv
//! itself when the profile makes another runtime of its minor version current (see
//! [`follow`]).
//!
//! A move rewrites two names, each by `rename(2)`: `pyvenv.cfg` first, then the links in `bin/`
//! that lead into the store, back to back. A process that starts between the two renames runs
//! one build's interpreter binary with the other build's standard library (same minor version,
//! same ABI). The move is journaled in the database before the first rename (`venv_moves`);
//! the next command that holds the profile lock finishes it ([`recover`]), since its check
//! had passed.
//!
//! Nothing here trusts a path: a venv is opened with `O_NOFOLLOW`, checked to be the directory
//! registered (device and inode) and owned by the uid registered, and everything below it is
//! done relative to its descriptor without following links. Files pyswap writes into a venv get
//! the venv owner's uid and gid.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use serde::Serialize;

use crate::domain::validate::VenvVerdict;
use crate::storage::db::{Db, GenerationRow, VenvMove, VenvRow};
use crate::storage::home::Home;

#[derive(Debug, thiserror::Error)]
pub(crate) enum VenvError {
    #[error("{}: not a venv ({why})", path.display())]
    NotAVenv { path: PathBuf, why: String },
    #[error("{}: not a venv (it does not exist)", path.display())]
    Missing { path: PathBuf },
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error(
        "`--copies` is refused: a python-build-standalone interpreter finds its libpython through $ORIGIN/../lib, which a copy in a venv does not have"
    )]
    Copies,
    #[error("{}: its pyvenv.cfg home {home} is not a runtime of this store or a path of its profiles", path.display())]
    Foreign { path: PathBuf, home: String },
    #[error("{} is not a registered venv", path.display())]
    NotRegistered { path: PathBuf },
    #[error("profile `{profile}` has no runtime of Python {minor}")]
    NoRuntime { profile: String, minor: String },
    #[error("`python -m venv` failed for {}: {why}", path.display())]
    Create { path: PathBuf, why: String },
    #[error("{}: not made a venv: {what}", path.display())]
    Occupied { path: PathBuf, what: String },
    #[error("{} is already a venv, not registered", path.display())]
    Unregistered { path: PathBuf },
    #[error("{}: not deleted: it holds more than a venv ({what})", path.display())]
    HoldsMore { path: PathBuf, what: String },
    #[error("{}: a venv of Python {minor} (its packages are in lib/python{minor}), and the store holds no {minor} runtime to adopt it onto", path.display())]
    NoMinorRuntime { path: PathBuf, minor: String },
    #[error("{}: not deleted: running process{} {pids} run{} from it", path.display(), if pids.contains(',') { "es" } else { "" }, if pids.contains(',') { "" } else { "s" })]
    Running { path: PathBuf, pids: String },
}

crate::ground::exit::register!(VenvError);
impl crate::ground::exit::Reason for VenvError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Io { .. } => crate::ground::exit::ExitStatus::Error,
            _ => crate::ground::exit::ExitStatus::Failure,
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::NoRuntime { minor, .. } => Some(
                format!("`pyswap switch {minor}` installs one (then switch back if need be)")
                    .into(),
            ),
            Self::NotRegistered { .. } => {
                Some("`pyswap venv list` shows the registered venvs".into())
            }
            Self::Occupied { .. } => Some(
                "name a new directory, or an empty one, for the venv (`PROJECT/.venv`, not the project)"
                    .into(),
            ),
            Self::Unregistered { path } => Some(
                format!("`pyswap venv adopt {}` registers it", path.display()).into(),
            ),
            Self::NoMinorRuntime { path, minor } => Some(
                format!(
                    "`pyswap install {minor}` puts one in the store, then `pyswap venv adopt {}` again; or make a new venv on the profile's runtime (`pyswap venv create NEW`) and reinstall its packages there",
                    path.display()
                )
                .into(),
            ),
            Self::Running { .. } => Some(
                "stop them first (`pyswap ps` lists them); --force deletes it anyway, and they fail at their next import"
                    .into(),
            ),
            Self::HoldsMore { .. } => Some(
                "move what is not the venv's elsewhere and run it again, or `pyswap venv remove` without --delete to only forget it"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl Fn(rustix::io::Errno) -> VenvError + Copy + '_ {
    move |e| VenvError::Io {
        path: path.to_owned(),
        error: e.into(),
    }
}

/// The `key = value` lines of a `pyvenv.cfg`, kept in order.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    lines: Vec<String>,
}

impl Config {
    pub(crate) fn parse(text: &str) -> Self {
        Self {
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    /// The value of `key` (keys compared as `CPython`'s `site` does: case-insensitively).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    }

    /// The text pointing at runtime `bin` (`…/store/<entry>/bin`) of version `version`: `home`,
    /// `executable` and `version`/`version_info` replaced, the old home in `command` replaced,
    /// every other line as it was.
    pub(crate) fn pointed_at(&self, bin: &Path, version: &str) -> String {
        let old_home = self.get("home").unwrap_or_default().to_owned();
        let new_home = bin.display().to_string();
        let mut out = String::new();
        for l in &self.lines {
            let key = l
                .split_once('=')
                .map(|(k, _)| k.trim().to_ascii_lowercase());
            let line = match key.as_deref() {
                Some("home") => format!("home = {new_home}"),
                Some("version") => format!("version = {version}"),
                Some("version_info") => {
                    let v = l.split_once('=').map_or("", |(_, v)| v.trim());
                    let tail: Vec<&str> = v.splitn(4, '.').skip(3).collect();
                    match tail.first() {
                        Some(t) => format!("version_info = {version}.{t}"),
                        None => format!("version_info = {version}"),
                    }
                }
                Some("executable") => {
                    let v = l.split_once('=').map_or("", |(_, v)| v.trim());
                    let name = Path::new(v)
                        .file_name()
                        .map_or_else(|| "python3".into(), |n| n.to_string_lossy().into_owned());
                    format!("executable = {}", bin.join(name).display())
                }
                Some("command") if !old_home.is_empty() => l.replace(&old_home, &new_home),
                _ => l.clone(),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// A venv directory, opened.
pub(crate) struct Opened {
    pub(crate) path: PathBuf,
    dir: OwnedFd,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) config: Config,
    config_mode: u32,
}

/// Opens the venv at `path` (its last component not followed) and reads its `pyvenv.cfg`.
pub(crate) fn open(path: &Path) -> Result<Opened, VenvError> {
    let not = |why: &str| VenvError::NotAVenv {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    let dir = crate::ground::nofollow::open_dir(path).map_err(|e| match e {
        rustix::io::Errno::NOENT => VenvError::Missing {
            path: path.to_owned(),
        },
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
            not("a symlink, a path through one, or not a directory")
        }
        e => io_err(path)(e),
    })?;
    let st = rustix::fs::fstat(&dir).map_err(io_err(path))?;
    let cfg = rustix::fs::openat(
        &dir,
        "pyvenv.cfg",
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOENT => not("it has no pyvenv.cfg"),
        rustix::io::Errno::LOOP => not("its pyvenv.cfg is a symlink"),
        e => io_err(path)(e),
    })?;
    let cst = rustix::fs::fstat(&cfg).map_err(io_err(path))?;
    if FileType::from_raw_mode(cst.st_mode) != FileType::RegularFile {
        return Err(not("its pyvenv.cfg is not a regular file"));
    }
    // A hard link to another file (`/etc/shadow` linked in by the venv's owner) would have root
    // copy that file's lines into a new `pyvenv.cfg` the owner can read.
    if cst.st_nlink != 1 {
        return Err(not("its pyvenv.cfg has other hard links"));
    }
    let mut text = String::new();
    std::fs::File::from(cfg)
        .take(64 << 10)
        .read_to_string(&mut text)
        .map_err(|error| VenvError::Io {
            path: path.join("pyvenv.cfg"),
            error,
        })?;
    Ok(Opened {
        path: path.to_owned(),
        dir,
        dev: st.st_dev,
        ino: st.st_ino,
        uid: st.st_uid,
        gid: st.st_gid,
        config: Config::parse(&text),
        config_mode: cst.st_mode & 0o7777,
    })
}

/// What may stand at the top of a venv directory for `venv remove --delete` to delete it:
/// what `python -m venv`, pip and the tools that install into a venv make (`src/` holds pip's
/// editable checkouts, `share/` and `etc/` data files, `.gitignore` is written by 3.13's venv).
pub(crate) const VENV_NAMES: &[&str] = &[
    "bin",
    "include",
    "lib",
    "lib64",
    "pyvenv.cfg",
    "share",
    "etc",
    "src",
    "man",
    ".gitignore",
];

/// The names at the top of the open directory `dir` (`.` and `..` left out).
fn names_in(dir: &OwnedFd) -> rustix::io::Result<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Names of `dir` that a venv does not hold (pyswap's own temporary names are a venv's).
fn foreign_names(dir: &OwnedFd) -> rustix::io::Result<Vec<String>> {
    Ok(names_in(dir)?
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !VENV_NAMES.contains(&n.as_str()) && !n.contains(".pyswap-"))
        .collect())
}

/// Where `venv create` may make a venv: nothing there yet, or an empty directory. A venv that
/// is not registered is for `adopt`; anything else is refused, naming what is there.
pub(crate) fn check_target(path: &Path) -> Result<(), VenvError> {
    let occupied = |what: String| VenvError::Occupied {
        path: path.to_owned(),
        what,
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(VenvError::Io {
                path: path.to_owned(),
                error,
            });
        }
        Ok(m) if m.file_type().is_symlink() => {
            return Err(occupied("it is a symlink".into()));
        }
        Ok(m) if !m.is_dir() => return Err(occupied("it is a file".into())),
        Ok(_) => {}
    }
    let dir = crate::ground::nofollow::open_dir(path).map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
            occupied("a symlink stands on its path".into())
        }
        e => io_err(path)(e),
    })?;
    let names = names_in(&dir).map_err(io_err(path))?;
    if names.is_empty() {
        return Ok(());
    }
    if names.iter().any(|n| n == "pyvenv.cfg") {
        return Err(VenvError::Unregistered {
            path: path.to_owned(),
        });
    }
    Err(occupied(format!("it holds {}", listed(&names))))
}

/// Up to three names, quoted, and how many more.
fn listed(names: &[impl AsRef<OsStr>]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(3)
        .map(|n| {
            format!(
                "`{}`",
                crate::ground::text::printable(&n.as_ref().to_string_lossy())
            )
        })
        .collect();
    if names.len() > 3 {
        shown.push(format!("{} more", names.len() - 3));
    }
    shown.join(", ")
}

/// Deletes the registered venv `v`: its directory opened with no symlink followed on its path
/// (`nofollow::open_dir`), confirmed to be the directory registered and a venv of the entry
/// registered, holding only what a venv holds ([`VENV_NAMES`]); then emptied through that
/// descriptor and removed from its parent. As root, the emptying runs with the venv owner's
/// file-system identity (`setfsuid`), so it deletes nothing its owner could not delete: a
/// directory of someone else's moved into it is refused. Nothing is deleted unless every check
/// passed.
pub(crate) fn delete(home: &Home, v: &VenvRow) -> Result<(), VenvError> {
    let path = Path::new(&v.path);
    let opened = open_registered(home, v, &[&v.entry]).map_err(|(_, why)| VenvError::NotAVenv {
        path: path.to_owned(),
        why: format!("{why}; nothing was deleted (without --delete it is only forgotten)"),
    })?;
    let foreign = foreign_names(&opened.dir).map_err(io_err(path))?;
    if !foreign.is_empty() {
        return Err(VenvError::HoldsMore {
            path: path.to_owned(),
            what: listed(&foreign),
        });
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io_err(path)(rustix::io::Errno::INVAL));
    };
    let up = crate::ground::nofollow::open_dir(parent).map_err(io_err(parent))?;
    let st = rustix::fs::statat(&up, name, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err(path))?;
    if (st.st_dev, st.st_ino) != (opened.dev, opened.ino) {
        return Err(VenvError::NotAVenv {
            path: path.to_owned(),
            why: "another directory stands at its path now; nothing was deleted".into(),
        });
    }
    let owner = (rustix::process::geteuid().is_root() && opened.uid != 0)
        .then_some((opened.uid, opened.gid));
    crate::ground::crash::pause("venv:delete-checked");
    let names = names_in(&opened.dir).map_err(io_err(path))?;
    let emptied = std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<()> {
                if let Some((uid, gid)) = owner {
                    crate::ground::remove::act_as_owner(uid, gid)?;
                }
                for n in &names {
                    crate::ground::remove::remove_in(&opened.dir, n, path)?;
                }
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the deleting thread panicked")))
    });
    emptied.map_err(|error| VenvError::Io {
        path: path.to_owned(),
        error,
    })?;
    // Empty now; removed by name from the parent opened above, if it is still the same one.
    let st = rustix::fs::statat(&up, name, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err(path))?;
    if (st.st_dev, st.st_ino) == (opened.dev, opened.ino) {
        rustix::fs::unlinkat(&up, name, AtFlags::REMOVEDIR).map_err(io_err(path))?;
    }
    Ok(())
}

/// What a venv's `home` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Points {
    /// `…/store/<entry>/bin`: a runtime of this store, for good.
    Entry(String),
    /// A profile or minor path (`profiles/default/bin`, `profiles/default@3.11/bin`): whatever
    /// that leads to now, which a switch changes under running processes. The entry it leads
    /// to now, if any.
    Follows { link: String, entry: Option<String> },
    /// A generation directory's `bin` (fixed: it leads to one entry).
    Generation(String),
    /// Anything else (another Python, another home).
    Foreign,
}

/// What `home` (a `pyvenv.cfg` value) names in this pyswap home.
pub(crate) fn classify(home: &Home, value: &str) -> Points {
    let path = Path::new(value);
    let store = home.store();
    let store_real = std::fs::canonicalize(&store).unwrap_or_else(|_| store.clone());
    let entry_in = |p: &Path| -> Option<String> {
        let rest = p
            .strip_prefix(&store)
            .or_else(|_| p.strip_prefix(&store_real))
            .ok()?;
        let mut parts = rest.components();
        let name = parts.next()?.as_os_str().to_str()?.to_owned();
        let bin = parts.next()?.as_os_str();
        (crate::storage::store::is_entry_name(&name) && bin == "bin" && parts.next().is_none())
            .then_some(name)
    };
    if let Some(e) = entry_in(path) {
        return Points::Entry(e);
    }
    let profiles = home.profiles();
    let profiles_real = std::fs::canonicalize(&profiles).unwrap_or_else(|_| profiles.clone());
    let Some(rest) = path
        .strip_prefix(&profiles)
        .or_else(|_| path.strip_prefix(&profiles_real))
        .ok()
    else {
        return Points::Foreign;
    };
    let mut parts = rest.components();
    let (Some(name), Some(bin), None) = (parts.next(), parts.next(), parts.next()) else {
        return Points::Foreign;
    };
    if bin.as_os_str() != "bin" {
        return Points::Foreign;
    }
    let name = name.as_os_str().to_string_lossy().into_owned();
    // A generation's `bin/` is a directory of links: its `python3` leads into the store.
    let now = std::fs::canonicalize(path.join("python3"))
        .ok()
        .and_then(|real| entry_in(real.parent()?));
    match std::fs::symlink_metadata(profiles.join(&name)) {
        Ok(m) if m.file_type().is_symlink() => Points::Follows {
            link: name,
            entry: now,
        },
        Ok(m) if m.is_dir() => now.map_or(Points::Foreign, Points::Generation),
        _ => Points::Foreign,
    }
}

impl Opened {
    /// The `home` value.
    pub(crate) fn home(&self) -> &str {
        self.config.get("home").unwrap_or_default()
    }

    /// Whether this is the venv `row` registered: the same directory (device and inode). Its
    /// owner may have changed since (an operator handing it to a service user); checks run as
    /// whoever owns it now.
    pub(crate) fn is(&self, row: &VenvRow) -> bool {
        self.dev == row.dev && self.ino == row.ino
    }

    /// Its `lib/python3.X[t]/site-packages` directories, relative, read through its descriptor
    /// (no symlink followed on the way).
    pub(crate) fn site_packages(&self) -> Vec<String> {
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let Ok(lib) = rustix::fs::openat(&self.dir, "lib", dir_flags, Mode::empty()) else {
            return Vec::new();
        };
        let Ok(entries) = rustix::fs::Dir::read_from(&lib) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().ok().map(str::to_owned))
            .filter(|n| n.starts_with("python3") && !n.contains('/'))
            .filter(|n| {
                rustix::fs::statat(
                    &lib,
                    format!("{n}/site-packages").as_str(),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
                    && rustix::fs::statat(&lib, n.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
            })
            .map(|n| format!("lib/{n}/site-packages"))
            .collect();
        out.sort();
        out
    }

    /// Its own minor version (`3.12`, `3.13t`): the `lib/python3.X[t]` that holds its
    /// site-packages (what its packages were installed for), else its `pyvenv.cfg` `version`.
    pub(crate) fn minor(&self) -> Option<String> {
        if let [one] = self.site_packages().as_slice() {
            return one
                .strip_prefix("lib/python")
                .and_then(|r| r.strip_suffix("/site-packages"))
                .map(str::to_owned);
        }
        let v = self
            .config
            .get("version")
            .or_else(|| self.config.get("version_info"))?;
        crate::ground::version::minor_tag(v, "")
    }

    /// Points the venv at runtime `bin` (`…/store/<entry>/bin`, version `version`):
    /// `pyvenv.cfg` replaced by rename, then each link of `bin/` that leads into the store or to
    /// a profile path (`leads_into`) replaced by rename, then both directories synced. Files get
    /// the venv's owner. Idempotent: pointing again at the same runtime writes the same names.
    pub(crate) fn point_at(
        &self,
        bin: &Path,
        version: &str,
        leads_into: &dyn Fn(&Path) -> bool,
    ) -> Result<(), VenvError> {
        let err = io_err(&self.path);
        let text = self.config.pointed_at(bin, version);
        let tmp = format!(".pyvenv.cfg.pyswap-{}", std::process::id());
        let _ = rustix::fs::unlinkat(&self.dir, tmp.as_str(), AtFlags::empty());
        let fd = rustix::fs::openat(
            &self.dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(self.config_mode),
        )
        .map_err(err)?;
        self.own(|| rustix::fs::fchown(&fd, Some(uid(self.uid)), Some(gid(self.gid))))
            .map_err(err)?;
        let mut f = std::fs::File::from(fd);
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|error| VenvError::Io {
                path: self.path.join(&tmp),
                error,
            })?;
        drop(f);
        rustix::fs::renameat(&self.dir, tmp.as_str(), &self.dir, "pyvenv.cfg").map_err(err)?;
        crate::ground::crash::point("venv:config-renamed");
        let bindir = rustix::fs::openat(
            &self.dir,
            "bin",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        for (name, target) in links(&bindir).map_err(err)? {
            let t = Path::new(OsStr::from_bytes(&target));
            if !t.is_absolute() || !leads_into(t) {
                continue;
            }
            let Some(file) = t.file_name() else { continue };
            let new = bin.join(file);
            if new.as_os_str().as_bytes() == target.as_slice() {
                continue;
            }
            let tmp = format!(".{}.pyswap-{}", name.to_string_lossy(), std::process::id());
            let _ = rustix::fs::unlinkat(&bindir, tmp.as_str(), AtFlags::empty());
            rustix::fs::symlinkat(&new, &bindir, tmp.as_str()).map_err(err)?;
            self.own(|| {
                rustix::fs::chownat(
                    &bindir,
                    tmp.as_str(),
                    Some(uid(self.uid)),
                    Some(gid(self.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
            })
            .map_err(err)?;
            rustix::fs::renameat(&bindir, tmp.as_str(), &bindir, name.as_os_str()).map_err(err)?;
        }
        crate::ground::crash::point("venv:linked");
        rustix::fs::fsync(&bindir).map_err(err)?;
        rustix::fs::fsync(&self.dir).map_err(err)?;
        Ok(())
    }

    /// Runs `chown` when pyswap is root (otherwise the files are this user's, the venv's).
    fn own(&self, f: impl FnOnce() -> rustix::io::Result<()>) -> rustix::io::Result<()> {
        if rustix::process::geteuid().is_root() && self.uid != 0 {
            f()
        } else {
            Ok(())
        }
    }
}

fn uid(u: u32) -> rustix::process::Uid {
    rustix::process::Uid::from_raw(u)
}

fn gid(g: u32) -> rustix::process::Gid {
    rustix::process::Gid::from_raw(g)
}

/// The symlinks of an open directory: (name, target).
fn links(dir: &OwnedFd) -> rustix::io::Result<Vec<(std::ffi::OsString, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut rd = rustix::fs::Dir::read_from(dir)?;
    for e in rd.by_ref() {
        let e = e?;
        let name = OsStr::from_bytes(e.file_name().to_bytes()).to_owned();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        let st = rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            continue;
        }
        let target = rustix::fs::readlinkat(dir, name.as_os_str(), Vec::new())?;
        out.push((name, target.into_bytes()));
    }
    Ok(out)
}

/// Where everything a venv operation needs lives.
pub(crate) struct Context<'a> {
    pub(crate) home: &'a Home,
    /// `venv.check_modules`: what a check imports (empty: from the venv's metadata).
    pub(crate) modules: &'a [String],
    pub(crate) timeout: Duration,
    pub(crate) now: i64,
}

impl Context<'_> {
    /// `…/store/<entry>/bin`.
    fn bin(&self, entry: &str) -> PathBuf {
        self.home.store().join(entry).join("bin")
    }

    /// Whether a link target leads into the store or to a path of the profiles.
    pub(crate) fn leads_into(&self) -> impl Fn(&Path) -> bool + '_ {
        let roots: Vec<PathBuf> = [self.home.store(), self.home.profiles()]
            .into_iter()
            .flat_map(|p| {
                let real = std::fs::canonicalize(&p).ok();
                std::iter::once(p).chain(real)
            })
            .collect();
        move |t: &Path| roots.iter().any(|r| t.starts_with(r))
    }
}

/// Checks the venv against runtime `entry` without touching the venv: an interpreter of that
/// runtime starts as the venv's would (a venv-shaped directory of pyswap's in `/tmp`, with `home`
/// at the runtime and the venv's own site-packages reached through the venv's directory as
/// pyswap opened and checked it, `/proc/self/fd/3/lib/python3.X/site-packages`, so that nobody
/// who owns a directory above the venv can swap what is read) and imports the venv's modules,
/// isolated (`-I`), as the venv's owner when pyswap is root, writing no bytecode.
pub(crate) fn check(ctx: &Context<'_>, venv: &Opened, entry: &str, version: &str) -> VenvVerdict {
    let bin = ctx.bin(entry);
    // In `/tmp` itself, not `$TMPDIR`: a directory the caller's environment names may belong to
    // someone who could swap the shim; `/tmp` is root's and sticky.
    let shim = match tempfile::Builder::new()
        .prefix("pyswap-venv-check-")
        .tempdir_in("/tmp")
    {
        Ok(d) => d,
        Err(e) => return VenvVerdict::Failed(format!("cannot make a directory to check in: {e}")),
    };
    let made = (|| -> io::Result<()> {
        use std::os::unix::fs::{PermissionsExt, symlink};
        std::fs::set_permissions(shim.path(), std::fs::Permissions::from_mode(0o755))?;
        let system = venv
            .config
            .get("include-system-site-packages")
            .unwrap_or("false");
        std::fs::write(
            shim.path().join("pyvenv.cfg"),
            format!(
                "home = {}\ninclude-system-site-packages = {system}\nversion = {version}\n",
                bin.display()
            ),
        )?;
        std::fs::create_dir(shim.path().join("bin"))?;
        symlink(bin.join("python3"), shim.path().join("bin/python3"))?;
        for sp in venv.site_packages() {
            let at = shim.path().join(&sp);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            symlink(
                format!("/proc/self/fd/{}/{sp}", crate::ground::spawn::PASSED_FD),
                at,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        return VenvVerdict::Failed(format!("cannot make a directory to check in: {e}"));
    }
    let user =
        (rustix::process::geteuid().is_root() && venv.uid != 0).then_some((venv.uid, venv.gid));
    crate::domain::validate::venv(
        &shim.path().join("bin/python3"),
        std::os::fd::AsFd::as_fd(&venv.dir),
        ctx.modules,
        user,
        ctx.timeout,
    )
}

/// What happened to one venv when its profile changed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Update {
    pub(crate) path: String,
    /// `moved` (checked and moved), `returned` (moved back to an entry it ran on before, no
    /// check), `held` (its check failed: it stays on its runtime and works), `stays` (another
    /// minor version: it stays on its own), `changed` (the directory is no longer the venv
    /// registered, or unreadable: left alone), `finished` (an interrupted move completed),
    /// `unchecked` (a signal to pyswap cut its check short: left where it was, unmarked).
    pub(crate) state: &'static str,
    pub(crate) minor: String,
    /// The entry it ran before, and runs now.
    pub(crate) from: String,
    pub(crate) to: String,
    /// Why it was held, or what changed.
    pub(crate) detail: Option<String>,
}

impl Update {
    /// A venv of the minor version the profile left: it stays on its own runtime.
    fn stays(v: &VenvRow) -> Self {
        Self {
            path: v.path.clone(),
            state: "stays",
            minor: v.minor.clone(),
            from: v.entry.clone(),
            to: v.entry.clone(),
            detail: None,
        }
    }
}

/// After the profile made generation `g` current: every venv of the profile and `g`'s minor
/// version that runs another entry moves to `g`'s, if its check passes (`check_returns`: also
/// when it ran on that entry before; rollback passes `false`); when the profile left minor
/// version `left` for another, its venvs of `left` are reported as staying. Moves that a killed
/// command left are finished first.
pub(crate) fn follow(
    ctx: &Context<'_>,
    db: &mut Db,
    g: &GenerationRow,
    left: Option<&str>,
    check_returns: bool,
) -> anyhow::Result<Vec<Update>> {
    let mut out = recover(ctx, db)?;
    let Some(minor) = g.minor() else {
        return Ok(out);
    };
    let Meeting { stays, moving } = meeting(db, &g.profile, &minor, Some(&g.entry_name), left)?;
    out.extend(stays.iter().map(Update::stays));
    let moving: Vec<(VenvRow, bool, bool)> = moving
        .into_iter()
        .map(|(v, returning)| (v, returning, check_returns || !returning))
        .collect();
    // The checks run side by side (each is interpreters starting and importing); the moves,
    // which write the journal, one after another.
    let wanted: Vec<&VenvRow> = moving.iter().filter(|m| m.2).map(|m| &m.0).collect();
    let verdicts = checks(ctx, &wanted, &g.entry_name, &g.version);
    let mut verdicts = verdicts.into_iter();
    for (v, returning, checked) in &moving {
        let verdict = if *checked {
            verdicts.next().flatten()
        } else {
            Some(VenvVerdict::Passed)
        };
        out.push(move_one(
            ctx,
            db,
            v,
            &g.entry_name,
            &g.version,
            *returning,
            verdict,
        )?);
    }
    Ok(out)
}

/// How `profile`'s registered venvs meet a runtime of `minor` (store entry `to`, `None` when it
/// is not installed yet) becoming current: those of the minor version `left` behind, which stay
/// on their own (only when the profile leaves a minor), and those of `minor` not on `to`
/// already, each with whether it ran on `to` before (it returns). What [`follow`] moves and
/// [`preview`] reports.
fn meeting(
    db: &Db,
    profile: &str,
    minor: &str,
    to: Option<&str>,
    left: Option<&str>,
) -> anyhow::Result<Meeting> {
    let (mut stays, mut moving) = (Vec::new(), Vec::new());
    for v in db.venvs()? {
        if v.profile != profile || to == Some(v.entry.as_str()) {
            continue;
        }
        if v.minor != minor {
            if left == Some(v.minor.as_str()) {
                stays.push(v);
            }
            continue;
        }
        let returning = match to {
            Some(to) => db.venv_ran_on(&v.path, to)?,
            None => false,
        };
        moving.push((v, returning));
    }
    Ok(Meeting { stays, moving })
}

/// What [`meeting`] finds.
struct Meeting {
    stays: Vec<VenvRow>,
    /// Each with whether it ran on the new runtime before.
    moving: Vec<(VenvRow, bool)>,
}

/// What [`follow`] would do if `profile` made a runtime of `minor` current, without moving or
/// marking anything (a `--dry-run`): each venv of the profile is reported in the state its move
/// would end in (`moved`, `returned`, `held` with the reason, `stays`, `changed`), its check run
/// for real but read-only where the runtime is in the store. `to` is that runtime's entry, `None`
/// when it is not installed yet: then a venv that would be checked is `to_check` (its check runs
/// at the switch, on the installed runtime), and `to` in its row is `key`, the catalogue key.
#[allow(clippy::too_many_arguments)]
pub(crate) fn preview(
    ctx: &Context<'_>,
    db: &Db,
    profile: &str,
    to: Option<&str>,
    key: &str,
    minor: &str,
    version: &str,
    left: Option<&str>,
    check_returns: bool,
) -> anyhow::Result<Vec<Update>> {
    let Meeting { stays, moving } = meeting(db, profile, minor, to, left)?;
    let mut out: Vec<Update> = stays.iter().map(Update::stays).collect();
    let mut wanted = Vec::new();
    for (v, returning) in moving {
        let row = |state, to: &str, detail: Option<String>| Update {
            path: v.path.clone(),
            state,
            minor: v.minor.clone(),
            from: v.entry.clone(),
            to: to.to_owned(),
            detail,
        };
        let Some(to) = to else {
            out.push(row(
                "to_check",
                key,
                Some("the runtime is not installed yet: its check runs at the switch".into()),
            ));
            continue;
        };
        if open_registered(ctx.home, &v, &[&v.entry]).is_err() {
            out.push(row(
                "changed",
                &v.entry,
                Some("no longer the venv registered".into()),
            ));
        } else if returning && !check_returns {
            out.push(row("returned", to, None));
        } else {
            wanted.push((v, returning));
        }
    }
    let rows: Vec<&VenvRow> = wanted.iter().map(|(v, _)| v).collect();
    let Some(to) = to else { return Ok(out) };
    for ((v, returning), verdict) in wanted.iter().zip(checks(ctx, &rows, to, version)) {
        let (state, detail, now) = match verdict {
            Some(VenvVerdict::Passed) => (if *returning { "returned" } else { "moved" }, None, to),
            Some(VenvVerdict::Failed(why)) => ("held", Some(why), v.entry.as_str()),
            Some(VenvVerdict::Interrupted) => ("unchecked", None, v.entry.as_str()),
            None => (
                "changed",
                Some("it changed while it was being checked".into()),
                v.entry.as_str(),
            ),
        };
        out.push(Update {
            path: v.path.clone(),
            state,
            minor: v.minor.clone(),
            from: v.entry.clone(),
            to: now.to_owned(),
            detail,
        });
    }
    Ok(out)
}

/// Each venv's check on runtime `to` (see [`check`]), several at once; `None` for a venv that
/// cannot be opened as the one registered (its move reports that).
fn checks(
    ctx: &Context<'_>,
    venvs: &[&VenvRow],
    to: &str,
    version: &str,
) -> Vec<Option<VenvVerdict>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<VenvVerdict>>> =
        venvs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    // One check per core at once (a check's own interpreters mostly wait on imports).
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(venvs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(v) = venvs.get(i) else { break };
                    let verdict = open(Path::new(&v.path)).ok().filter(|o| o.is(v)).map(|o| {
                        crate::ground::crash::pause("venv:check-opened");
                        check(ctx, &o, to, version)
                    });
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = verdict;
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Moves one venv to `to` if its check (`verdict`; `None`: it could not be checked) passed.
/// `returning`: it ran on `to` before. A check that pyswap's interruption cut short decides
/// nothing: the venv stays where it is, unmarked, and the next command that makes its minor's
/// runtime current checks it again.
fn move_one(
    ctx: &Context<'_>,
    db: &mut Db,
    v: &VenvRow,
    to: &str,
    version: &str,
    returning: bool,
    verdict: Option<VenvVerdict>,
) -> anyhow::Result<Update> {
    let outcome = |state, detail| Update {
        path: v.path.clone(),
        state,
        minor: v.minor.clone(),
        from: v.entry.clone(),
        to: if state == "moved" || state == "returned" {
            to.to_owned()
        } else {
            v.entry.clone()
        },
        detail,
    };
    let opened = match open_registered(ctx.home, v, &[&v.entry]) {
        Ok(o) => o,
        Err((_, why)) => {
            return Ok(outcome(
                "changed",
                Some(format!(
                    "no longer the venv registered ({why}); `pyswap venv adopt {}` registers it again",
                    v.path
                )),
            ));
        }
    };
    match verdict {
        Some(VenvVerdict::Passed) => {}
        Some(VenvVerdict::Failed(why)) => {
            let held = format!("held from {to}: {why}");
            db.set_venv_held(&v.path, Some(&held))?;
            return Ok(outcome("held", Some(why)));
        }
        Some(VenvVerdict::Interrupted) => {
            return Ok(outcome(
                "unchecked",
                Some("pyswap was interrupted before its check finished; the next switch to this runtime checks it again".into()),
            ));
        }
        None => {
            return Ok(outcome(
                "changed",
                Some("it changed while it was being checked".into()),
            ));
        }
    }
    let m = VenvMove {
        path: v.path.clone(),
        from: v.entry.clone(),
        to: to.to_owned(),
        version: version.to_owned(),
    };
    db.begin_venv_move(&m, ctx.now)?;
    crate::ground::crash::point("venv:journaled");
    if let Err(e) = opened.point_at(&ctx.bin(to), version, &ctx.leads_into()) {
        // Put it back as it was; if even that fails, the journal stays and the next command
        // finishes the move.
        let back = db
            .entry_by_name(&v.entry)?
            .map_or_else(|| version.to_owned(), |e| e.version);
        if opened
            .point_at(&ctx.bin(&v.entry), &back, &ctx.leads_into())
            .is_ok()
        {
            db.end_venv_move(&m, &v.entry)?;
            let held = format!("held from {to}: cannot move it: {e}");
            db.set_venv_held(&v.path, Some(&held))?;
            return Ok(outcome("held", Some(format!("cannot move it: {e}"))));
        }
        return Ok(outcome(
            "changed",
            Some(format!(
                "cannot move it ({e}); the next pyswap command tries again"
            )),
        ));
    }
    db.end_venv_move(&m, to)?;
    crate::ground::crash::point("venv:moved");
    Ok(outcome(if returning { "returned" } else { "moved" }, None))
}

/// Finishes the moves a killed command left journaled: each venv is pointed at the entry it was
/// moving to (its check had passed), or, when that entry is gone, back at the one it came from.
/// A directory that is no longer the venv registered is left alone and the journal row dropped.
pub(crate) fn recover(ctx: &Context<'_>, db: &mut Db) -> anyhow::Result<Vec<Update>> {
    let mut out = Vec::new();
    for m in db.venv_moves()? {
        let Some(v) = db.venv(&m.path)? else {
            db.forget_venv(&m.path)?;
            continue;
        };
        let usable = |e: &str| {
            crate::storage::store::is_entry_name(e)
                && ctx.bin(e).join("python3").symlink_metadata().is_ok()
        };
        let (target, version) = if usable(&m.to) {
            (m.to.clone(), m.version.clone())
        } else {
            let version = db
                .entry_by_name(&m.from)?
                .map_or_else(|| m.version.clone(), |e| e.version);
            (m.from.clone(), version)
        };
        let mut outcome = Update {
            path: m.path.clone(),
            state: "finished",
            minor: v.minor.clone(),
            from: m.from.clone(),
            to: target.clone(),
            detail: Some("a move that a killed pyswap left half done".into()),
        };
        let opened = open_registered(ctx.home, &v, &[&m.from, &m.to]).ok();
        match opened {
            Some(o) if usable(&target) => {
                o.point_at(&ctx.bin(&target), &version, &ctx.leads_into())?;
                db.end_venv_move(&m, &target)?;
            }
            _ => {
                db.end_venv_move(&m, &v.entry)?;
                outcome.state = "changed";
                outcome.to.clone_from(&v.entry);
                outcome.detail =
                    Some("an interrupted move could not be finished: the directory changed".into());
            }
        }
        out.push(outcome);
    }
    Ok(out)
}

/// A venv's state for `venv list` and gc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Its directory is the one registered and names the registered entry.
    Ok,
    /// Its directory is gone.
    Missing,
    /// The path names something else now (another directory, a symlink, a venv of another
    /// runtime), or cannot be read.
    Changed,
}

/// Opens the registered venv `v`, confirmed to be the directory registered and to name one of
/// `entries` as its home; else its state and why (nothing followed, nothing written).
fn open_registered(home: &Home, v: &VenvRow, entries: &[&str]) -> Result<Opened, (State, String)> {
    match open(Path::new(&v.path)) {
        Ok(o) if !o.is(v) => Err((
            State::Changed,
            "another directory stands at its path".into(),
        )),
        Ok(o) => match classify(home, o.home()) {
            Points::Entry(e) if entries.contains(&e.as_str()) => Ok(o),
            _ => Err((
                State::Changed,
                format!("its pyvenv.cfg home is {} now", o.home()),
            )),
        },
        Err(VenvError::Missing { .. }) => Err((State::Missing, "its directory is gone".into())),
        Err(e) => Err((State::Changed, e.to_string())),
    }
}

/// The state of a registered venv (nothing followed, nothing written).
pub(crate) fn state(home: &Home, v: &VenvRow) -> (State, Option<String>) {
    match open_registered(home, v, &[&v.entry]) {
        // A venv pointed at a runtime of another minor (as `adopt` did before it checked) finds
        // none of its packages: its `lib/python3.X` is not the runtime's.
        Ok(o) => match o.minor() {
            Some(m) if m != v.minor => (
                State::Changed,
                Some(format!(
                    "its packages are in lib/python{m}, its runtime is Python {}",
                    v.minor
                )),
            ),
            _ => (State::Ok, None),
        },
        Err((State::Missing, _)) => (State::Missing, None),
        Err((state, why)) => (state, Some(why)),
    }
}

/// What gc did with a registered venv it could not find.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Forgotten {
    pub(crate) path: String,
    pub(crate) entry: String,
    pub(crate) why: String,
}

/// gc's part: registered venvs whose directory is gone, or is no longer a venv of this store's
/// runtime it was registered with, are forgotten (their rows only: nothing is followed or
/// deleted outside the home). With `dry_run` only reported.
pub(crate) fn sweep(home: &Home, db: &mut Db, dry_run: bool) -> anyhow::Result<Vec<Forgotten>> {
    let mut out = Vec::new();
    let moving: Vec<String> = db.venv_moves()?.into_iter().map(|m| m.path).collect();
    for v in db.venvs()? {
        if moving.contains(&v.path) {
            continue;
        }
        let (state, why) = state(home, &v);
        if state == State::Ok {
            continue;
        }
        if !dry_run {
            db.forget_venv(&v.path)?;
        }
        out.push(Forgotten {
            why: why.unwrap_or_else(|| "its directory is gone".into()),
            entry: v.entry,
            path: v.path,
        });
    }
    Ok(out)
}

/// The processes that run from the venv at `path` (as [`of_process`] reads each process that
/// runs a runtime of the store at `store`), by pid.
pub(crate) fn processes_of(store: &Path, path: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    crate::ground::inuse::scan(store, crate::ground::inuse::Uses::Runs, None)
        .processes
        .into_iter()
        .map(|p| p.pid)
        .filter(|&pid| {
            of_process(pid).is_some_and(|v| std::fs::canonicalize(&v).unwrap_or(v) == want)
        })
        .collect()
}

/// The venv a process runs from, as its command line says (`argv[0]` `…/bin/python*`, relative
/// to its working directory), else `VIRTUAL_ENV` in its environment when readable: text, for
/// showing only (what gc may delete never depends on it).
pub(crate) fn of_process(pid: u32) -> Option<PathBuf> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let raw = std::fs::read(proc_dir.join("cmdline")).ok()?;
    let argv0 = raw.split(|&b| b == 0).next().filter(|a| !a.is_empty());
    let from_argv = argv0.and_then(|a| {
        let p = Path::new(OsStr::from_bytes(a));
        let p = if p.is_absolute() {
            p.to_owned()
        } else if p.components().count() > 1 {
            std::fs::read_link(proc_dir.join("cwd")).ok()?.join(p)
        } else {
            return None;
        };
        let bin = p.parent()?;
        let venv = bin.parent()?;
        (bin.file_name()? == "bin"
            && p.file_name()?.as_bytes().starts_with(b"python")
            && venv.join("pyvenv.cfg").is_file())
        .then(|| venv.to_owned())
    });
    from_argv.or_else(|| {
        let env = std::fs::read(proc_dir.join("environ")).ok()?;
        let v = env
            .split(|&b| b == 0)
            .find_map(|kv| kv.strip_prefix(b"VIRTUAL_ENV"))?
            .strip_prefix(b"=")?;
        let p = PathBuf::from(OsStr::from_bytes(v));
        p.join("pyvenv.cfg").is_file().then_some(p)
    })
}

/// A venv whose `home` is a profile or minor path: what a switch changes under its processes.
#[derive(Debug, Clone)]
pub(crate) struct Follower {
    /// Its `pyvenv.cfg` `home`.
    pub(crate) home: String,
    /// Its own minor version ([`Opened::minor`]).
    pub(crate) minor: Option<String>,
}

/// The venv at `venv` (opened without following a symlink), when it follows a profile or minor
/// path (its standard library changes under it).
pub(crate) fn following(home: &Home, venv: &Path) -> Option<Follower> {
    let o = open(venv).ok()?;
    matches!(classify(home, o.home()), Points::Follows { .. }).then(|| Follower {
        home: o.home().to_owned(),
        minor: o.minor(),
    })
}

/// The store entry a venv `home` that follows a profile or minor path leads to now.
pub(crate) fn leads_to(home: &Home, value: &str) -> Option<String> {
    match classify(home, value) {
        Points::Follows { entry, .. } => entry,
        _ => None,
    }
}

/// Lines that say what happened to the venvs (for human output).
pub(crate) fn describe(
    outcomes: &[Update],
    label: &dyn Fn(&str) -> String,
    dry_run: bool,
) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| {
            let (path, from, to) = (&o.path, label(&o.from), label(&o.to));
            let why = o.detail.as_deref().unwrap_or("it changed");
            match (o.state, dry_run) {
                ("moved", false) => format!(
                    "venv {path}: moved to {to} (checked); running processes keep {from}"
                ),
                ("moved", true) => format!(
                    "venv {path} would move from {from} to {to} (its check on it passes); running processes would keep {from}"
                ),
                ("returned", false) => format!("venv {path}: back on {to} (it ran there before)"),
                ("returned", true) => {
                    format!("venv {path} would go back to {to} (it ran there before)")
                }
                ("held", false) => format!(
                    "venv {path} stays on {from} and works: its check on the new runtime failed: {why}"
                ),
                ("held", true) => format!(
                    "venv {path} would stay on {from} and work: its check on the new runtime fails: {why}"
                ),
                ("stays", _) => format!(
                    "venv {path} {} on Python {} ({from}); `pyswap venv` says how to move it",
                    if dry_run { "would stay" } else { "stays" },
                    o.minor
                ),
                ("finished", _) => {
                    format!("venv {path}: finished an interrupted move to {to}")
                }
                ("to_check", _) => format!(
                    "venv {path} (on {from}) is checked at the switch: the runtime is not installed yet"
                ),
                (_, false) => format!("venv {path} left alone: {why}"),
                (_, true) => format!("venv {path} would be left alone: {why}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyvenv_cfg_is_pointed_at_a_runtime_keeping_other_lines() {
        let c = Config::parse(
            "home = /h/profiles/default/bin\ninclude-system-site-packages = false\nversion = 3.11.6\nexecutable = /h/store/a-k/bin/python3.11\ncommand = /h/profiles/default/bin/python3 -m venv /v\nprompt = 'app'\n",
        );
        let text = c.pointed_at(Path::new("/h/store/b-k/bin"), "3.11.7");
        assert_eq!(
            text,
            "home = /h/store/b-k/bin\ninclude-system-site-packages = false\nversion = 3.11.7\nexecutable = /h/store/b-k/bin/python3.11\ncommand = /h/store/b-k/bin/python3 -m venv /v\nprompt = 'app'\n"
        );
        let again = Config::parse(&text).pointed_at(Path::new("/h/store/b-k/bin"), "3.11.7");
        assert_eq!(again, text, "idempotent");
        let info = Config::parse("home = /x\nversion_info = 3.12.1.final.0\n")
            .pointed_at(Path::new("/y"), "3.12.2");
        assert!(info.contains("version_info = 3.12.2.final.0"), "{info}");
        assert_eq!(Config::parse("Home=/a").get("home"), Some("/a"));
    }

    #[test]
    fn a_pyvenv_cfg_that_is_a_symlink_or_a_hard_link_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "home = /root\nsecret = 1\n").unwrap();
        let v = dir.path().join("v");
        std::fs::create_dir(&v).unwrap();
        std::os::unix::fs::symlink(&secret, v.join("pyvenv.cfg")).unwrap();
        assert!(
            matches!(open(&v), Err(VenvError::NotAVenv { why, .. }) if why.contains("symlink"))
        );
        std::fs::remove_file(v.join("pyvenv.cfg")).unwrap();
        std::fs::hard_link(&secret, v.join("pyvenv.cfg")).unwrap();
        assert!(
            matches!(open(&v), Err(VenvError::NotAVenv { why, .. }) if why.contains("hard links"))
        );
        std::fs::remove_file(&secret).unwrap();
        assert_eq!(open(&v).unwrap().home(), "/root");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&v, &link).unwrap();
        assert!(
            matches!(open(&link), Err(VenvError::NotAVenv { why, .. }) if why.contains("symlink"))
        );
    }
}
