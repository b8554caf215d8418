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
use std::path::{Path, PathBuf};

use crate::network::catalogue::{Catalogue, Entry, Location, UPSTREAM_PREFIX};

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
}

crate::exit::register!(MirrorError);
impl crate::exit::Reason for MirrorError {
    fn status(&self) -> crate::exit::ExitStatus {
        crate::exit::ExitStatus::Failure
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

/// The mirror's current catalogue entries (none when it has no catalogue yet).
pub(crate) fn load(dir: &Path) -> Result<BTreeMap<String, serde_json::Value>, MirrorError> {
    let path = dir.join(CATALOGUE_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(error) => return Err(MirrorError::Io { path, error }),
    };
    let bad = |reason: String| MirrorError::Catalogue {
        path: path.clone(),
        reason,
    };
    // It must be a catalogue pyswap accepts, and then is kept entry by entry as JSON.
    let cat = Catalogue::from_bytes(&bytes, Location::Path(path.clone()))
        .map_err(|e| bad(e.to_string()))?;
    if let Some(w) = cat.warnings.first() {
        return Err(bad(w.clone()));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
}

/// Writes the catalogue atomically (temporary file, fsync, rename); returns its path.
pub(crate) fn save(
    dir: &Path,
    entries: &BTreeMap<String, serde_json::Value>,
) -> Result<PathBuf, MirrorError> {
    let path = dir.join(CATALOGUE_FILE);
    let io_err = |error| MirrorError::Io {
        path: path.clone(),
        error,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err)?;
    serde_json::to_writer_pretty(&mut tmp, entries).map_err(|e| io_err(e.into()))?;
    tmp.write_all(b"\n").map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(&path).map_err(|e| io_err(e.error))?;
    crate::storage::store::sync_dir(dir).map_err(io_err)?;
    Ok(path)
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
