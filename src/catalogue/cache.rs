//! Remote catalogues kept under `$PYSWAP_HOME/catalogues/`, so that commands do not fetch the
//! catalogue every time and still work offline.
//!
//! One file per URL, `catalogues/<first 32 hex digits of blake3(url)>.cache`: a first line of
//! JSON `{"url", "etag", "last_modified"}`, then the catalogue exactly as served. Its mtime is
//! when it was last fetched or confirmed unchanged. It is replaced only by a body that parsed
//! as a catalogue with at least one valid entry and is under the size cap, written to a
//! temporary file and renamed over the old one.
//!
//! The rule: a copy younger than the TTL (`--catalogue-ttl`, default 1 hour) is used without
//! asking. An older one is revalidated with `If-None-Match`/`If-Modified-Since` (a `304` only
//! refreshes its time). If the server cannot be reached, or `--offline` is given, the copy is
//! used whatever its age, with a note saying how old it is. `pyswap catalogue update` always
//! revalidates.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::catalogue::trust::{self, Accepted, Trust};
use crate::catalogue::{Catalogue, CatalogueError, Location, MAX_CATALOGUE_BYTES};
use crate::ground::mapped::Mapped;
use crate::network::fetch::{Failure, FetchError, Fetched, Fetcher, Validators};

/// What the server gave for a catalogue's signature.
enum Served {
    /// `URL.minisig`, or `None` when it has none.
    Signature(Option<String>),
    /// It could not be asked (a network failure): as when the catalogue itself cannot be.
    Unreachable(FetchError),
}

/// How the catalogue came to be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// The cached copy, younger than the TTL.
    Fresh { age: Duration },
    /// The server said the cached copy is current.
    Unchanged,
    /// A new copy was downloaded.
    Downloaded,
    /// The cached copy, because the server could not be asked (offline or failing).
    Stale { age: Duration, why: String },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    url: String,
    #[serde(flatten)]
    validators: Validators,
}

pub(crate) struct CatalogueCache {
    dir: PathBuf,
    /// Read the cached copies, never write them (a dry run writes nothing).
    read_only: bool,
}

/// A cached copy, mapped (`crate::ground::mapped`: pyswap wrote it and replaces it only by a rename).
struct Cached {
    header: Header,
    file: Mapped,
    /// Where the body starts in `file`, after the header line.
    body: usize,
    age: Duration,
}

impl Cached {
    fn body(&self) -> &[u8] {
        &self.file[self.body..]
    }
}

impl CatalogueCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            read_only: false,
        }
    }

    /// The cache, used without writing to it.
    #[must_use]
    pub(crate) fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The cache file for `url`.
    pub(crate) fn path(&self, url: &str) -> PathBuf {
        let id = blake3::hash(url.as_bytes()).to_hex();
        self.dir.join(format!("{}.cache", &id[..32]))
    }

    fn read(&self, url: &str) -> Option<Cached> {
        let path = self.path(url);
        let meta = path.metadata().ok()?;
        if meta.len() > MAX_CATALOGUE_BYTES + 64 * 1024 {
            return None;
        }
        let file = Mapped::own_file(&fs::File::open(&path).ok()?).ok()?;
        let split = file.iter().position(|&b| b == b'\n')?;
        let header: Header = serde_json::from_slice(&file[..split]).ok()?;
        if header.url != crate::ground::secret::strip(url) {
            return None;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        Some(Cached {
            header,
            file,
            body: split + 1,
            age,
        })
    }

    fn write(&self, url: &str, validators: Validators, body: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        // The header names the URL without credentials; the file (0600, as `tempfile` makes
        // it) holds the body as served.
        let header = Header {
            url: crate::ground::secret::strip(url),
            validators,
        };
        serde_json::to_writer(&mut tmp, &header)?;
        tmp.write_all(b"\n")?;
        tmp.write_all(body)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path(url)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Where the signature accepted for `location` is kept: beside its cached copy,
    /// `<id>.minisig`.
    pub(crate) fn signature_path(&self, location: &str) -> PathBuf {
        self.path(location).with_extension("minisig")
    }

    /// The signature kept for `location` (pyswap's own file: one it cannot read only lowers
    /// the floor to the database's).
    fn kept_signature(&self, location: &str) -> Option<String> {
        trust::read_signature(location, &self.signature_path(location))
            .ok()
            .flatten()
    }

    /// Checks `bytes` and its signature `sig` under `trust` (nothing to check without keys).
    /// The floor of versions is the higher of what the database and the signature kept for
    /// `location` say. A signature accepted is kept (unless read-only).
    pub(crate) fn gate(
        &self,
        trust: Option<&Trust<'_>>,
        location: &str,
        bytes: &[u8],
        sig: Option<&str>,
    ) -> Result<Option<Accepted>, CatalogueError> {
        let Some(t) = trust else { return Ok(None) };
        let kept_text = self.kept_signature(location);
        let kept = kept_text.as_deref().and_then(trust::read_comment);
        let floor = |name: &str| {
            let beside = kept
                .as_ref()
                .filter(|(_, c)| c.name == name)
                .map_or(0, |(_, c)| c.version);
            (t.seen)(name).max(beside)
        };
        let shown = crate::ground::secret::strip(location);
        let accepted = trust::check(t, &floor, &shown, bytes, sig)?;
        if !self.read_only
            && let Some(sig) = sig
            && kept_text.as_deref() != Some(sig)
        {
            // A signature we cannot keep is not a reason to fail: the database has the floor.
            let _ = fs::create_dir_all(&self.dir).and_then(|()| {
                let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
                tmp.write_all(sig.as_bytes())?;
                tmp.as_file().sync_all()?;
                tmp.persist(self.signature_path(location))
                    .map(|_| ())
                    .map_err(|e| e.error)
            });
        }
        Ok(Some(accepted))
    }

    /// `URL.minisig`, fetched beside the catalogue: `None` when the server has none (404, 410).
    /// One too large or not text is refused (see [`trust::signature_text`]).
    pub(crate) fn fetch_signature(
        fetcher: &Fetcher,
        url: &str,
    ) -> Result<Option<String>, CatalogueError> {
        let sig_url = format!("{url}.minisig");
        let shown = crate::ground::secret::strip(url);
        let from = crate::ground::secret::strip(&sig_url);
        match fetcher.get(&sig_url, trust::MAX_SIGNATURE_BYTES, None) {
            Ok(Fetched::Body { bytes, .. }) => {
                Ok(Some(trust::signature_text(&shown, &from, bytes)?))
            }
            Err(FetchError::TooLarge { .. }) => Err(trust::too_large(&shown, &from).into()),
            // No validators were sent, so a 304 cannot come; a missing file is "not signed".
            Ok(Fetched::NotModified)
            | Err(FetchError::Failed {
                failure: Failure::Status {
                    code: 404 | 410, ..
                },
                ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn touch(path: &Path) {
        if let Ok(f) = fs::File::options().append(true).open(path) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// The catalogue at `url` under the rule above; `force` revalidates even a fresh copy. With
    /// `trust`, every copy used is checked against its signature first (a cached one against
    /// the signature kept beside it, a new one against `URL.minisig` fetched now), and a
    /// refused copy neither is used nor replaces the cached one. A signature the server fails
    /// to send (a network failure, not a 404) counts as the server not being reached: the cached
    /// copy serves, checked against the signature kept for it.
    pub(crate) fn load(
        &self,
        url: &str,
        fetcher: &Fetcher,
        ttl: Duration,
        force: bool,
        trust: Option<&Trust<'_>>,
    ) -> Result<(Catalogue, Freshness, Option<Accepted>), CatalogueError> {
        let location = Location::Url(url.to_owned());
        let cached = self.read(url);
        let kept = self.kept_signature(url);
        let parse_cached = |c: Cached, sig: Option<&str>| {
            let accepted = self.gate(trust, url, c.body(), sig)?;
            Ok::<_, CatalogueError>((Catalogue::from_bytes(c.body(), location.clone())?, accepted))
        };
        if fetcher.config().offline {
            let c = cached.ok_or_else(|| CatalogueError::NotCached {
                url: url.to_owned(),
            })?;
            let age = c.age;
            let why = "offline".to_owned();
            let (cat, accepted) = parse_cached(c, kept.as_deref())?;
            return Ok((cat, Freshness::Stale { age, why }, accepted));
        }
        if !force
            && let Some(c) = &cached
            && c.age < ttl
            && let Ok(accepted) = self.gate(trust, url, c.body(), kept.as_deref())
            && let Ok(cat) = Catalogue::from_bytes(c.body(), location.clone())
        {
            return Ok((cat, Freshness::Fresh { age: c.age }, accepted));
        }
        // The server could not be asked (for the catalogue or for its signature): the cached
        // copy, checked against the signature kept for it.
        let stale = |c: Cached, e: &FetchError| {
            let age = c.age;
            let why = if matches!(e, FetchError::Offline { .. }) {
                "offline".to_owned()
            } else {
                e.to_string()
            };
            let (cat, accepted) = parse_cached(c, kept.as_deref())?;
            Ok((cat, Freshness::Stale { age, why }, accepted))
        };
        // `URL.minisig` now (with trust).
        let signature = || match trust {
            None => Ok(Served::Signature(None)),
            Some(_) => match Self::fetch_signature(fetcher, url) {
                Ok(sig) => Ok(Served::Signature(sig)),
                Err(CatalogueError::Fetch(e)) if e.is_network() => Ok(Served::Unreachable(e)),
                Err(e) => Err(e),
            },
        };
        let validators = cached.as_ref().map(|c| c.header.validators.clone());
        match fetcher.get(url, MAX_CATALOGUE_BYTES, validators.as_ref()) {
            Ok(Fetched::NotModified) => {
                let c = cached.ok_or_else(|| {
                    CatalogueError::Fetch(FetchError::Failed {
                        url: url.to_owned(),
                        failure: crate::network::fetch::Failure::Protocol(
                            "304 Not Modified to a request that had no validators".into(),
                        ),
                    })
                })?;
                // The catalogue is unchanged; its signature may have been renewed (a missing one,
                // or one the server fails to send, leaves the kept one).
                let sig = match signature()? {
                    Served::Signature(sig) => sig.or_else(|| kept.clone()),
                    Served::Unreachable(_) => kept.clone(),
                };
                let (cat, accepted) = parse_cached(c, sig.as_deref())?;
                if !self.read_only {
                    Self::touch(&self.path(url));
                }
                Ok((cat, Freshness::Unchanged, accepted))
            }
            Ok(Fetched::Body { bytes, validators }) => {
                let sig = match (signature()?, cached) {
                    (Served::Signature(sig), _) => sig,
                    (Served::Unreachable(e), Some(c)) => return stale(c, &e),
                    (Served::Unreachable(e), None) => return Err(e.into()),
                };
                // Checked before it is parsed or kept: a refused copy replaces nothing.
                let accepted = self.gate(trust, url, &bytes, sig.as_deref())?;
                let cat = Catalogue::from_bytes(&bytes, location.clone())?;
                // A copy we cannot keep is not a reason to fail the command.
                if !self.read_only {
                    let _ = self.write(url, validators, &bytes);
                }
                Ok((cat, Freshness::Downloaded, accepted))
            }
            Err(e) if e.is_network() && cached.is_some() => match cached {
                Some(c) => stale(c, &e),
                None => Err(e.into()),
            },
            Err(FetchError::Offline { url }) => Err(CatalogueError::NotCached { url }),
            Err(e) => Err(e.into()),
        }
    }
}

/// `2h 5m`, `40s`: an age for messages.
pub(crate) fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}
