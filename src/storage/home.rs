//! `$PYSWAP_HOME` and the fixed places inside it (see `store-layout.md`), and the rules that make
//! a directory one pyswap may write and delete in.
//!
//! A home is pyswap's only when it says so: [`MARKER`] (`pyswap-home.tag`, in the spirit of
//! `CACHEDIR.TAG` and a restic repository's `config`) is written when pyswap creates the home,
//! and every command that writes or deletes refuses a non-empty directory without it, so
//! `PYSWAP_HOME=$HOME` or `/` never gets its `store/` or `tmp/` swept. A home made by an earlier
//! pyswap (its `pyswap.db`, `store/` and `profiles/` are there) is adopted: it gets the marker on
//! first use. Like ssh's `StrictModes` for `~/.ssh`, the home and its fixed subdirectories must
//! be real directories (not symlinks), owned by the user running pyswap or by root, and not
//! writable by group or others; otherwise a command that writes refuses, naming the path and the
//! fix. Deleting then goes through [`crate::ground::remove`], which never follows a symlink.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum HomeError {
    #[error("cannot create {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error("no pyswap home: set PYSWAP_HOME or HOME")]
    Unknown,
    #[error("no pyswap home at {}: nothing was installed there", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read {} as uid {uid}: its owner keeps the pyswap home private", path.display())]
    Private { path: PathBuf, uid: u32 },
    #[error("PYSWAP_HOME {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot use PYSWAP_HOME {}: {error}", path.display())]
    Unusable {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error(
        "{} is not a pyswap home: it is not empty and has no {MARKER}; pyswap writes and deletes only in its own homes",
        path.display()
    )]
    NotAHome { path: PathBuf },
    #[error(
        "{} is not writable by this user (uid {uid}); only the read commands (`current`, `generations`, `list`, `find`, `ps`, `verify`, `metrics`, `minors`, `venv list`) work here",
        path.display()
    )]
    ReadOnly { path: PathBuf, uid: u32 },
    #[error("refusing to use {}: {why} (to fix: {fix})", path.display())]
    Insecure {
        path: PathBuf,
        why: String,
        /// The command that fixes it.
        fix: String,
    },
}

crate::ground::exit::register!(HomeError);
impl crate::ground::exit::Reason for HomeError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Create { error, .. } | Self::Unusable { error, .. } => {
                crate::ground::exit::Reason::status(error)
            }
            _ => crate::ground::exit::ExitStatus::Failure,
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Missing { .. } => Some(format!(
                "`pyswap switch VERSION` creates it; or name the home to use with PYSWAP_HOME or --home (root's default is {SYSTEM_HOME}, a user's ~/.local/share/pyswap)"
            ).into()),
            Self::Private { .. } => Some("run it as the home's owner, or have the owner open the home to you (`chmod o+rx` on it and `chmod o+r` on its pyswap.db, or the same for a group of yours)".into()),
            Self::NotAHome { .. } | Self::NotADirectory { .. } => Some("point PYSWAP_HOME at a new or empty directory (pyswap creates it), or at an existing pyswap home".into()),
            Self::Create { error, .. } | Self::Unusable { error, .. } => crate::ground::exit::Reason::help(error),
            _ => None,
        }
    }
}

/// The file that marks a directory as a pyswap home.
pub(crate) const MARKER: &str = "pyswap-home.tag";
const MARKER_TEXT: &str = "Signature: pyswap home, layout 1\n\
# This directory is a pyswap home. pyswap writes and deletes only in directories with this file.\n\
# See store-layout.md for what is inside.\n";

/// The root of one pyswap installation.
#[derive(Clone, Debug)]
pub(crate) struct Home {
    root: PathBuf,
}

/// Root's home (the state directory of the FHS): the same from a shell, cron's bare environment
/// or a unit with no HOME, outside any user's home.
pub(crate) const SYSTEM_HOME: &str = "/var/lib/pyswap";

impl Home {
    /// The home when neither `PYSWAP_HOME` nor `--home` names one, and a warning to give with it:
    /// [`SYSTEM_HOME`] for root; a user's `$XDG_DATA_HOME/pyswap`, else
    /// `$HOME/.local/share/pyswap`. A root home at that user default from before (when root's
    /// default was the same as a user's) is kept, with a warning, while [`SYSTEM_HOME`] does
    /// not exist.
    pub(crate) fn default_root() -> Result<(PathBuf, Option<String>), HomeError> {
        let user = Self::user_default();
        if !rustix::process::geteuid().is_root() {
            return user.map(|p| (p, None));
        }
        let system = PathBuf::from(SYSTEM_HOME);
        if let Ok(old) = user
            && !system.exists()
            && (old.join(MARKER).is_file() || old.join("pyswap.db").is_file())
        {
            let note = format!(
                "using root's pyswap home {old}, the default before {SYSTEM_HOME}: to keep it, set PYSWAP_HOME={old} in the units and cron lines that run pyswap; to move, install into {SYSTEM_HOME} (`pyswap --home {SYSTEM_HOME} switch VERSION`, `venv create` each service's venv again) and uninstall here",
                old = old.display()
            );
            return Ok((old, Some(note)));
        }
        Ok((system, None))
    }

    /// `$XDG_DATA_HOME/pyswap`, else `$HOME/.local/share/pyswap`.
    fn user_default() -> Result<PathBuf, HomeError> {
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| Path::new(x).is_absolute()) {
            return Ok(PathBuf::from(x).join("pyswap"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".local/share/pyswap"))
            .ok_or(HomeError::Unknown)
    }

    /// The mode of the database files: the owner's, and readable by the group and others as far
    /// as they may enter the home (a home made 0700 keeps its database 0600).
    pub(crate) fn shared_mode(&self) -> u32 {
        let home = fs::metadata(&self.root).map_or(0o700, |m| m.mode());
        let mut mode = 0o600;
        if home & 0o050 == 0o050 {
            mode |= 0o040;
        }
        if home & 0o005 == 0o005 {
            mode |= 0o004;
        }
        mode
    }

    /// Refuses, with what to do, a home this user may not read (a home that does not exist is
    /// readable: it holds nothing).
    pub(crate) fn readable(&self) -> Result<(), HomeError> {
        let denied = |path: &Path| matches!(fs::File::open(path), Err(e) if e.kind() == io::ErrorKind::PermissionDenied);
        for path in [self.root.clone(), self.db()] {
            if denied(&path) {
                return Err(HomeError::Private {
                    path,
                    uid: rustix::process::geteuid().as_raw(),
                });
            }
        }
        Ok(())
    }

    /// Refuses a home that does not exist, for a command that only reads, prunes or changes
    /// what is there (it never creates one as a side effect).
    pub(crate) fn require(&self) -> Result<(), HomeError> {
        if self.root.exists() {
            Ok(())
        } else {
            Err(HomeError::Missing {
                path: self.root.clone(),
            })
        }
    }

    /// A home whose directories may not exist yet (for read-only commands).
    pub(crate) fn at(root: PathBuf) -> Self {
        Self { root }
    }

    /// [`Home::at`], refusing a path that exists and is not a directory (or a link to one).
    pub(crate) fn checked(root: PathBuf) -> Result<Self, HomeError> {
        match fs::metadata(&root) {
            Ok(m) if !m.is_dir() => Err(HomeError::NotADirectory { path: root }),
            _ => Ok(Self { root }),
        }
    }

    /// Why the filesystem holding the home refuses writes, if it does: read-only (EROFS) or
    /// full (ENOSPC). Used to explain a failure whose own message does not (SQLite's
    /// "unable to open database file", "disk I/O error").
    pub(crate) fn unusable(&self) -> Option<HomeError> {
        let st = rustix::fs::statvfs(&self.root).ok()?;
        let code = if st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
            libc::EROFS
        } else if st.f_bavail == 0 {
            libc::ENOSPC
        } else {
            return None;
        };
        Some(HomeError::Unusable {
            path: self.root.clone(),
            error: io::Error::from_raw_os_error(code),
        })
    }

    /// Makes the home ready for a command that writes or deletes: creates it (with its marker)
    /// if it is new, adopts a home of an earlier pyswap, refuses a directory that is not a pyswap
    /// home or that others could write to, and creates the fixed directories if missing.
    pub(crate) fn create(&self) -> Result<(), HomeError> {
        let create = |dir: &Path| {
            fs::create_dir_all(dir).map_err(|error| HomeError::Create {
                path: dir.to_owned(),
                error,
            })
        };
        create(&self.root)?;
        if !self.writable_dir() {
            if let Some(full_or_read_only) = self.unusable() {
                return Err(full_or_read_only);
            }
            return Err(HomeError::ReadOnly {
                path: self.root.clone(),
                uid: rustix::process::geteuid().as_raw(),
            });
        }
        self.claim()?;
        check_dir(&self.root, true)?;
        for dir in [
            self.store(),
            self.profiles(),
            self.tmp(),
            self.locks(),
            self.cache(),
            self.catalogues(),
        ] {
            match fs::symlink_metadata(&dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => create(&dir)?,
                _ => check_dir(&dir, false)?,
            }
        }
        // Lock files are opened by every command: nobody else may hold them.
        let _ = fs::set_permissions(self.locks(), fs::Permissions::from_mode(0o700));
        Ok(())
    }

    /// Refuses a directory that exists, is not marked as a pyswap home, and holds more than a
    /// new home may (an operator's `config.toml`) unless an earlier pyswap made it: what
    /// [`Home::create`] would refuse, checked without writing (dry runs, read-only commands).
    pub(crate) fn check_ours(&self) -> Result<(), HomeError> {
        let marker = self.root.join(MARKER);
        if !self.root.is_dir()
            || fs::read_to_string(&marker).is_ok_and(|t| t.starts_with("Signature: pyswap home"))
        {
            return Ok(());
        }
        let names: Vec<std::ffi::OsString> = fs::read_dir(&self.root)
            .map_err(|error| HomeError::Unusable {
                path: self.root.clone(),
                error,
            })?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        // Fresh: nothing but an operator's manifest, or another pyswap claiming it right now.
        let fresh = names.iter().all(|n| {
            n == "config.toml"
                || n == MARKER
                || n.to_str()
                    .is_some_and(|n| n.starts_with(".pyswap-home.tag."))
        });
        let earlier_pyswap =
            self.db().is_file() && self.store().is_dir() && self.profiles().is_dir();
        // Another pyswap may have claimed it (and begun filling it) since the marker was read.
        let claimed_meanwhile = names.iter().any(|n| n == MARKER)
            && fs::read_to_string(&marker).is_ok_and(|t| t.starts_with("Signature: pyswap home"));
        if !fresh && !earlier_pyswap && !claimed_meanwhile {
            return Err(HomeError::NotAHome {
                path: self.root.clone(),
            });
        }
        Ok(())
    }

    /// Writes the marker into a new (empty, or holding only an operator's `config.toml`) home
    /// or into one an earlier pyswap made; refuses anything else without it.
    fn claim(&self) -> Result<(), HomeError> {
        let marker = self.root.join(MARKER);
        if fs::read_to_string(&marker).is_ok_and(|t| t.starts_with("Signature: pyswap home")) {
            return Ok(());
        }
        self.check_ours()?;
        // Written whole and renamed into place, so a concurrent first command never reads half.
        let write = || -> io::Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(".pyswap-home.tag.")
                .tempfile_in(&self.root)?;
            io::Write::write_all(&mut tmp, MARKER_TEXT.as_bytes())?;
            tmp.as_file().sync_all()?;
            tmp.persist(&marker).map_err(|e| e.error)?;
            fs::set_permissions(&marker, fs::Permissions::from_mode(0o644))
        };
        write().map_err(|error| HomeError::Create {
            path: marker.clone(),
            error,
        })
    }

    /// True when this user may write the home's database (and so migrate it).
    pub(crate) fn writable(&self) -> bool {
        self.writable_dir() && rustix::fs::access(self.db(), rustix::fs::Access::WRITE_OK).is_ok()
    }

    fn writable_dir(&self) -> bool {
        rustix::fs::access(&self.root, rustix::fs::Access::WRITE_OK).is_ok()
    }

    /// True when the home carries its marker.
    pub(crate) fn is_marked(&self) -> bool {
        self.root.join(MARKER).is_file()
    }

    /// The home's own `.python-version` (`pyswap pin --global`).
    pub(crate) fn pin_file(&self) -> PathBuf {
        self.root.join(crate::storage::pin::FILE)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
    pub(crate) fn store(&self) -> PathBuf {
        self.root.join("store")
    }
    pub(crate) fn profiles(&self) -> PathBuf {
        self.root.join("profiles")
    }
    pub(crate) fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub(crate) fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    /// Verified archives and partial downloads, named by sha256.
    pub(crate) fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
    /// Every regular file of the store, once per content and mode (`storage::objects`).
    pub(crate) fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }
    /// Copies of remote catalogues with their validators.
    pub(crate) fn catalogues(&self) -> PathBuf {
        self.root.join("catalogues")
    }
    pub(crate) fn db(&self) -> PathBuf {
        self.root.join("pyswap.db")
    }
    pub(crate) fn exists(&self) -> bool {
        self.db().exists()
    }
}

/// A home directory (or one of its fixed subdirectories) must be a real directory, owned by this
/// user or root, and writable by nobody else. The root itself may be reached through a symlink
/// (`follow`), as an operator may configure it; below it nothing is.
fn check_dir(dir: &Path, follow: bool) -> Result<(), HomeError> {
    let meta = if follow {
        fs::metadata(dir)
    } else {
        fs::symlink_metadata(dir)
    };
    let meta = meta.map_err(|error| HomeError::Unusable {
        path: dir.to_owned(),
        error,
    })?;
    let insecure = |why: String, fix: String| HomeError::Insecure {
        path: dir.to_owned(),
        why,
        fix,
    };
    if !meta.is_dir() {
        return Err(insecure(
            if meta.file_type().is_symlink() {
                "it is a symlink, and pyswap follows none inside its home".into()
            } else {
                "it is not a directory".into()
            },
            format!(
                "move it away; pyswap re-creates {} as a directory",
                dir.display()
            ),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(insecure(
            format!(
                "it is owned by uid {}, not by this user (uid {me}) or root",
                meta.uid()
            ),
            // Never "chown it to me": the home is its owner's (a service user's runtimes), and
            // root taking it would break that user's pyswap.
            {
                let owner = crate::ground::inuse::user_name(meta.uid());
                format!(
                    "run pyswap as its owner (`sudo -u {owner} pyswap …`), or use a home of your own (--home or PYSWAP_HOME)"
                )
            },
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(insecure(
            format!(
                "it is writable by {} (mode {:o})",
                if meta.mode() & 0o002 != 0 {
                    "anyone"
                } else {
                    "its group"
                },
                meta.mode() & 0o7777
            ),
            format!("chmod go-w {}", dir.display()),
        ));
    }
    Ok(())
}
