//! `$PYSWAP_HOME` and the fixed places inside it (see `store-layout.md`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot create {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error("no pyswap home: set PYSWAP_HOME or HOME")]
    Unknown,
    #[error("cannot use PYSWAP_HOME {}: {error}", path.display())]
    Unusable {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
}

/// The root of one pyswap installation.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$XDG_DATA_HOME/pyswap`, else `$HOME/.local/share/pyswap`.
    pub fn default_root() -> Result<PathBuf, HomeError> {
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| Path::new(x).is_absolute()) {
            return Ok(PathBuf::from(x).join("pyswap"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".local/share/pyswap"))
            .ok_or(HomeError::Unknown)
    }

    /// A home whose directories may not exist yet (for read-only commands).
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    /// Why the filesystem holding the home refuses writes, if it does: read-only (EROFS) or
    /// full (ENOSPC). Used to explain a failure whose own message does not (SQLite's
    /// "unable to open database file", "disk I/O error").
    pub fn unusable(&self) -> Option<HomeError> {
        let c = std::ffi::CString::new(self.root.as_os_str().as_encoded_bytes()).ok()?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
        // SAFETY: `c` is NUL-terminated and `st` is a valid place for one statvfs.
        #[allow(unsafe_code)]
        let (rc, st) = unsafe { (libc::statvfs(c.as_ptr(), st.as_mut_ptr()), st.assume_init()) };
        let code = if rc != 0 {
            return None;
        } else if st.f_flag & libc::ST_RDONLY != 0 {
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

    /// Creates the fixed directories if missing.
    pub fn create(&self) -> Result<(), HomeError> {
        for dir in [
            self.root.clone(),
            self.store(),
            self.profiles(),
            self.tmp(),
            self.locks(),
            self.cache(),
            self.catalogues(),
        ] {
            fs::create_dir_all(&dir).map_err(|error| HomeError::Create {
                path: dir.clone(),
                error,
            })?;
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }
    pub fn profiles(&self) -> PathBuf {
        self.root.join("profiles")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    /// Verified archives and partial downloads, named by sha256.
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
    /// Copies of remote catalogues with their validators.
    pub fn catalogues(&self) -> PathBuf {
        self.root.join("catalogues")
    }
    pub fn db(&self) -> PathBuf {
        self.root.join("pyswap.db")
    }
    pub fn exists(&self) -> bool {
        self.db().exists()
    }
}
