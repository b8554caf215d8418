//! The download cache: `$PYSWAP_HOME/cache/<sha256>` holds archives that verified, so that a
//! runtime removed by `gc` and asked for again is not downloaded twice, and `--offline` can
//! still install it. `cache/<sha256>.partial` (with its `.partial.meta`) is a download in
//! progress or interrupted, which the next try resumes.
//!
//! A cached file is never trusted: it goes through the same streaming sha256 check as a
//! download, and is deleted when it no longer matches. The cache is bounded: after a file is
//! added, and in `gc`, the least recently used complete files are deleted until the total is
//! at most the bound (`--cache-max`). Partial files are deleted by `gc` after a day. File names
//! are built only from a checked sha256, never from catalogue text.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::network::fetch;

/// Partial downloads older than this are deleted by `gc`.
pub(crate) const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error("`{0}` is not a sha256 (64 lowercase hex digits)")]
    BadDigest(String),
    #[error("download cache {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

crate::ground::exit::register!(CacheError);
impl crate::ground::exit::Reason for CacheError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }
}

/// What a prune removed (or would remove).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

pub(crate) struct DownloadCache {
    dir: PathBuf,
    max_bytes: u64,
}

fn check(sha256: &str) -> Result<(), CacheError> {
    if sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(CacheError::BadDigest(sha256.to_owned()))
    }
}

impl DownloadCache {
    pub(crate) fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self { dir, max_bytes }
    }

    fn io(&self, error: io::Error) -> CacheError {
        CacheError::Io {
            path: self.dir.clone(),
            error,
        }
    }

    /// Where a verified archive with this digest is kept.
    pub(crate) fn path(&self, sha256: &str) -> Result<PathBuf, CacheError> {
        check(sha256)?;
        Ok(self.dir.join(sha256))
    }

    /// Where a download of this digest accumulates.
    pub(crate) fn partial(&self, sha256: &str) -> Result<PathBuf, CacheError> {
        check(sha256)?;
        Ok(self.dir.join(format!("{sha256}.partial")))
    }

    /// The cached archive for this digest, if there is one (not yet re-verified).
    pub(crate) fn lookup(&self, sha256: &str) -> Option<PathBuf> {
        let path = self.path(sha256).ok()?;
        path.symlink_metadata()
            .is_ok_and(|m| m.is_file())
            .then_some(path)
    }

    /// Marks a cached file as just used (the prune order is least recently used first).
    pub(crate) fn touch(path: &Path) {
        if let Ok(f) = fs::File::options().append(true).open(path) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// Moves a verified `.partial` into the cache, then prunes to the bound. With a bound of
    /// 0 the cache keeps nothing and the partial is deleted.
    pub(crate) fn admit(&self, sha256: &str) -> Result<(), CacheError> {
        let partial = self.partial(sha256)?;
        let _ = fs::remove_file(fetch::meta_path(&partial));
        if self.max_bytes == 0 {
            let _ = fs::remove_file(&partial);
            return Ok(());
        }
        let path = self.path(sha256)?;
        fs::rename(&partial, &path).map_err(|e| self.io(e))?;
        crate::ground::crash::point("cache:admitted");
        Self::touch(&path);
        self.prune(self.max_bytes, Some(sha256), false)?;
        Ok(())
    }

    /// Deletes a cached archive (one that no longer verifies).
    pub(crate) fn evict(&self, sha256: &str) {
        if let Ok(p) = self.path(sha256) {
            let _ = fs::remove_file(p);
        }
    }

    /// Complete cached files: (path, size, last used), oldest first.
    fn files(&self) -> Result<Vec<(PathBuf, u64, SystemTime)>, CacheError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name();
            if check(&name.to_string_lossy()).is_err() {
                continue;
            }
            if let Ok(m) = e.metadata()
                && m.is_file()
            {
                out.push((
                    e.path(),
                    m.len(),
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                ));
            }
        }
        out.sort_by_key(|(p, _, t)| (*t, p.clone()));
        Ok(out)
    }

    /// Total size of the complete cached files.
    #[cfg(test)]
    pub(crate) fn usage(&self) -> Result<Pruned, CacheError> {
        let files = self.files()?;
        Ok(Pruned {
            files: files.len() as u64,
            bytes: files.iter().map(|(_, n, _)| n).sum(),
        })
    }

    /// Deletes least recently used files until the cache holds at most `max` bytes, sparing
    /// `keep`.
    pub(crate) fn prune(
        &self,
        max: u64,
        keep: Option<&str>,
        dry_run: bool,
    ) -> Result<Pruned, CacheError> {
        let files = self.files()?;
        let mut total: u64 = files.iter().map(|(_, n, _)| n).sum();
        let mut pruned = Pruned::default();
        for (path, size, _) in files {
            if total <= max {
                break;
            }
            if keep.is_some_and(|k| path.file_name().is_some_and(|n| n == k)) {
                continue;
            }
            if dry_run || crate::ground::remove::remove_tree(&path).is_ok() {
                total -= size;
                pruned.files += 1;
                pruned.bytes += size;
            }
        }
        Ok(pruned)
    }

    /// Deletes `.partial` files (and their sidecars) not written to for `older_than`.
    pub(crate) fn sweep_partials(&self, older_than: Duration, dry_run: bool) -> Pruned {
        let mut pruned = Pruned::default();
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return pruned;
        };
        let now = SystemTime::now();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(sha) = name.strip_suffix(".partial") else {
                continue;
            };
            if check(sha).is_err() {
                continue;
            }
            let Ok(m) = e.metadata() else { continue };
            let age = m
                .modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or(Duration::MAX);
            if age >= older_than {
                pruned.files += 1;
                pruned.bytes += m.len();
                if !dry_run {
                    fetch::remove_partial(&e.path());
                }
            }
        }
        pruned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn names_come_only_from_digests() {
        let c = DownloadCache::new(PathBuf::from("/c"), 1);
        assert!(c.path("../../etc/passwd").is_err());
        assert!(
            c.path(&"A".repeat(64)).is_err(),
            "upper case is not canonical"
        );
        assert_eq!(
            c.path(&sha('a')).unwrap(),
            PathBuf::from("/c").join(sha('a'))
        );
    }

    #[test]
    fn admit_prunes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let c = DownloadCache::new(dir.path().to_owned(), 2500);
        for (i, ch) in ['a', 'b', 'c'].into_iter().enumerate() {
            fs::write(c.partial(&sha(ch)).unwrap(), vec![0u8; 1000]).unwrap();
            c.admit(&sha(ch)).unwrap();
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + i as u64);
            fs::File::options()
                .append(true)
                .open(c.path(&sha(ch)).unwrap())
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        // Three files of 1000 bytes under a bound of 2500: the admit of `c` evicted `a`.
        assert!(c.lookup(&sha('a')).is_none());
        assert!(c.lookup(&sha('b')).is_some() && c.lookup(&sha('c')).is_some());
        DownloadCache::touch(&c.path(&sha('b')).unwrap());
        let pruned = c.prune(1000, None, false).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                files: 1,
                bytes: 1000
            }
        );
        assert!(c.lookup(&sha('b')).is_some(), "recently used survives");
        assert_eq!(c.usage().unwrap().bytes, 1000);
    }

    #[test]
    fn a_zero_bound_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = DownloadCache::new(dir.path().to_owned(), 0);
        fs::write(c.partial(&sha('d')).unwrap(), b"x").unwrap();
        c.admit(&sha('d')).unwrap();
        assert!(c.lookup(&sha('d')).is_none());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
