//! Venvs that keep their build while they run and move with their profile's minor version.
//!
//! `CPython` takes a venv's `pyvenv.cfg` `home` as written, once, at start, and reads every module
//! it imports later through it. A venv made from the profile path (`profiles/default/bin`)
//! therefore reads the stdlib of whatever build the profile runs *now*: after a switch a running
//! process mixes two builds. A pyswap venv names its store entry instead (`home =
//! $PYSWAP_HOME/store/<entry>/bin`, and `bin/python3 -> …/store/<entry>/bin/python3`), which
//! never changes, so a running process keeps the build it started with; pyswap moves the venv
//! itself when the profile makes another runtime of its minor version current (see
//! [`follow()`]).
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

mod follow;
mod registered;

pub(crate) use follow::{Update, follow, preview, recover};
use registered::open_registered;
pub(crate) use registered::{
    Forgotten, State, describe, following, leads_to, of_process, processes_of, state, sweep,
};

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::storage::db::VenvRow;
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
