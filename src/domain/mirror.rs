//! A mirror directory that any static web server (or a shared directory) can serve to a fleet:
//! archives at the same relative paths as upstream's release URLs
//! (`<release>/<file name>`, so that `--mirror` works against it too), and a catalogue
//! `download-metadata.json` beside them in upstream's format, with `url` pointing into the
//! mirror and a `size` added. An existing mirror is extended, never rewritten from scratch.
//!
//! Every path segment comes from a catalogue URL, so each is checked before it touches the
//! filesystem: percent-decoded, then non-empty, at most 255 bytes, not starting with `.`, and
//! only ASCII letters, digits and `._+-~`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::catalogue::{Catalogue, Entry, Location, UPSTREAM_PREFIX};

pub(crate) const CATALOGUE_FILE: &str = "download-metadata.json";

#[derive(Debug, thiserror::Error)]
pub(crate) enum MirrorError {
    #[error("refusing to mirror {url}: path segment `{segment}` is not a safe file name")]
    UnsafeName { url: String, segment: String },
    #[error("{} is not a catalogue pyswap can extend: {reason}", path.display())]
    Catalogue { path: PathBuf, reason: String },
    #[error("mirror {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("base URL `{0}` is not an http(s):// or file:// URL")]
    BaseUrl(String),
    #[error("refusing to write the mirror through {}: {why}", path.display())]
    Untrusted { path: PathBuf, why: String },
}

crate::ground::exit::register!(MirrorError);
impl crate::ground::exit::Reason for MirrorError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Untrusted { .. } => Some(
                "mirror into a directory that you (or root) own and nobody else may write (chmod go-w), given by its own path"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Where an entry's archive goes in the mirror: (URL path relative to the mirror root, still
/// percent-encoded; the same path on disk, decoded).
pub(crate) fn layout(entry: &Entry) -> Result<(String, PathBuf), MirrorError> {
    let upstream = entry
        .url
        .strip_prefix(UPSTREAM_PREFIX)
        .and_then(|r| r.strip_prefix('/'));
    let segments: Vec<&str> = if let Some(rest) = upstream {
        rest.split('/').collect()
    } else {
        let last = entry
            .url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or("");
        vec![entry.build.as_deref().unwrap_or("other"), last]
    };
    let mut disk = PathBuf::new();
    for seg in &segments {
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8().ok();
        let safe = decoded.as_deref().filter(|d| {
            !d.is_empty()
                && d.len() <= 255
                && !d.starts_with('.')
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._+-~".contains(&b))
        });
        match safe {
            Some(d) => disk.push(d),
            None => {
                return Err(MirrorError::UnsafeName {
                    url: entry.url.clone(),
                    segment: (*seg).to_owned(),
                });
            }
        }
    }
    Ok((segments.join("/"), disk))
}

/// The base URL entries get: `base` (with a trailing `/`), or the directory as a file:// URL.
pub(crate) fn base_url(dir: &Path, base: Option<&str>) -> Result<url::Url, MirrorError> {
    match base {
        Some(b) => {
            let with_slash = if b.ends_with('/') {
                b.to_owned()
            } else {
                format!("{b}/")
            };
            url::Url::parse(&with_slash)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https" | "file"))
                .ok_or_else(|| MirrorError::BaseUrl(b.to_owned()))
        }
        None => url::Url::from_directory_path(dir)
            .map_err(|()| MirrorError::BaseUrl(dir.display().to_string())),
    }
}

/// The largest catalogue a mirror keeps (upstream's is about 3 MiB).
const MAX_CATALOGUE: u64 = 256 << 20;

/// A mirror directory, opened: `DIR` itself not a symlink, owned by pyswap's user or root and
/// writable by nobody else (else another user could plant links in it), and everything below
/// reached through its descriptor without following a symlink, each directory checked the same
/// way. Root mirroring into a directory another user controls wrote through links that user
/// planted (issue 35).
pub(crate) struct MirrorDir {
    pub(crate) path: PathBuf,
    fd: OwnedFd,
}

impl MirrorDir {
    /// Opens `path` (absolute), making it if it is missing.
    pub(crate) fn open(path: &Path) -> Result<Self, MirrorError> {
        let io_err = |error: io::Error| MirrorError::Io {
            path: path.to_owned(),
            error,
        };
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(MirrorError::Untrusted {
                    path: path.to_owned(),
                    why: "it is a symlink; give the directory itself".into(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(path).map_err(io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        }
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(e.into()))?;
        if let Some(why) = crate::ground::nofollow::untrusted(&fd).map_err(|e| io_err(e.into()))? {
            return Err(MirrorError::Untrusted {
                path: path.to_owned(),
                why,
            });
        }
        Ok(Self {
            path: path.to_owned(),
            fd,
        })
    }

    /// The mirror's current catalogue entries (none when it has no catalogue yet): a regular
    /// file, read without following a link or waiting on a FIFO, at most 256 MiB.
    pub(crate) fn load(&self) -> Result<BTreeMap<String, serde_json::Value>, MirrorError> {
        let path = self.path.join(CATALOGUE_FILE);
        let bad = |reason: String| MirrorError::Catalogue {
            path: path.clone(),
            reason,
        };
        let Some(bytes) =
            crate::ground::nofollow::read_file(&self.fd, CATALOGUE_FILE, MAX_CATALOGUE)
                .map_err(|e| bad(e.to_string()))?
        else {
            return Ok(BTreeMap::new());
        };
        // It must be a catalogue pyswap accepts, and then is kept entry by entry as JSON.
        let cat = Catalogue::from_bytes(&bytes, Location::Path(path.clone()))
            .map_err(|e| bad(e.to_string()))?;
        if let Some(w) = cat.warnings.first() {
            return Err(bad(w.clone()));
        }
        serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
    }

    /// Writes the catalogue atomically (temporary file, fsync, rename, all in the directory
    /// opened); returns its path and its bytes.
    pub(crate) fn save(
        &self,
        entries: &BTreeMap<String, serde_json::Value>,
    ) -> Result<(PathBuf, Vec<u8>), MirrorError> {
        let mut bytes = serde_json::to_vec_pretty(entries).map_err(|e| MirrorError::Io {
            path: self.path.join(CATALOGUE_FILE),
            error: e.into(),
        })?;
        bytes.push(b'\n');
        let path = self.write(CATALOGUE_FILE, &bytes)?;
        Ok((path, bytes))
    }

    /// The signature beside the catalogue, if there is one (read as the catalogue is).
    pub(crate) fn signature(&self) -> Result<Option<String>, MirrorError> {
        let name = format!("{CATALOGUE_FILE}.minisig");
        crate::ground::nofollow::read_file(
            &self.fd,
            &name,
            crate::catalogue::trust::MAX_SIGNATURE_BYTES,
        )
        .map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .map_err(|error| MirrorError::Io {
            path: self.path.join(&name),
            error,
        })
    }

    /// Writes `bytes` as the file `name` of the mirror (by rename); returns its path.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, MirrorError> {
        let path = self.path.join(name);
        let io_err = |error| MirrorError::Io {
            path: path.clone(),
            error,
        };
        let (mut f, tmp) = crate::ground::nofollow::temp_file(&self.fd, name).map_err(io_err)?;
        let written = f
            .write_all(bytes)
            .and_then(|()| f.sync_all())
            .and_then(|()| crate::ground::nofollow::publish(&self.fd, &tmp, name));
        if let Err(e) = written {
            crate::ground::nofollow::discard(&self.fd, &tmp);
            return Err(io_err(e));
        }
        Ok(path)
    }

    /// Opens (making what is missing) the directory `rel` below the mirror, each component
    /// reached through the one above without following a symlink and checked as the mirror is.
    pub(crate) fn subdir(&self, rel: &Path) -> Result<OwnedFd, MirrorError> {
        let mut at = self.path.clone();
        let mut fd: Option<OwnedFd> = None;
        for part in rel.components() {
            let std::path::Component::Normal(name) = part else {
                return Err(MirrorError::Untrusted {
                    path: self.path.join(rel),
                    why: "not a plain path below the mirror".into(),
                });
            };
            at.push(name);
            let parent = fd.as_ref().unwrap_or(&self.fd);
            let sub = crate::ground::nofollow::subdir(parent, name).map_err(|e| match e {
                rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => MirrorError::Untrusted {
                    path: at.clone(),
                    why: "it is a symlink or not a directory".into(),
                },
                e => MirrorError::Io {
                    path: at.clone(),
                    error: e.into(),
                },
            })?;
            if let Some(why) =
                crate::ground::nofollow::untrusted(&sub).map_err(|e| MirrorError::Io {
                    path: at.clone(),
                    error: e.into(),
                })?
            {
                return Err(MirrorError::Untrusted { path: at, why });
            }
            fd = Some(sub);
        }
        match fd {
            Some(fd) => Ok(fd),
            None => rustix::fs::openat(
                &self.fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| MirrorError::Io {
                path: self.path.clone(),
                error: e.into(),
            }),
        }
    }
}

/// A path that reads the file `name` of the open directory `dir` itself (through
/// `/proc/self/fd`), when it is a regular file there (not a symlink).
pub(crate) fn regular_in(dir: &OwnedFd, name: &str) -> Option<PathBuf> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
        .then(|| PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(url: &str) -> Entry {
        let mut e = Catalogue::embedded().entries[0].clone();
        e.url = url.to_owned();
        e.build = Some("20260101".into());
        e
    }

    #[test]
    fn upstream_paths_are_kept_and_decoded_on_disk() {
        let e = entry(&format!(
            "{UPSTREAM_PREFIX}/20260101/cpython-3.12.4%2B20260101-x86_64-unknown-linux-gnu-install_only.tar.gz"
        ));
        let (rel, disk) = layout(&e).unwrap();
        assert_eq!(
            rel,
            "20260101/cpython-3.12.4%2B20260101-x86_64-unknown-linux-gnu-install_only.tar.gz"
        );
        assert_eq!(
            disk,
            PathBuf::from(
                "20260101/cpython-3.12.4+20260101-x86_64-unknown-linux-gnu-install_only.tar.gz"
            )
        );
        let other = entry("https://files.corp/a/b/python.tar.zst?x=1");
        assert_eq!(
            layout(&other).unwrap().1,
            PathBuf::from("20260101/python.tar.zst")
        );
    }

    #[test]
    fn hostile_segments_are_refused() {
        for url in [
            format!("{UPSTREAM_PREFIX}/../x.tar.gz"),
            format!("{UPSTREAM_PREFIX}/%2e%2e/x.tar.gz"),
            format!("{UPSTREAM_PREFIX}/a/%2fetc%2fpasswd"),
            format!("{UPSTREAM_PREFIX}/a//b"),
            format!("{UPSTREAM_PREFIX}/.hidden/x"),
            "https://files.corp/".to_owned(),
        ] {
            assert!(layout(&entry(&url)).is_err(), "{url}");
        }
    }
}
