//! Getting bytes from `http(s)://` and `file://` URLs. The only module that uses reqwest: if we
//! move to another HTTP library, this facade is what changes.
//!
//! Policy: https anywhere; plain http only to a loopback host (`127.0.0.0/8`, `::1`,
//! `localhost`), checked on the first request and on every redirect (at most 10). No transparent
//! decompression: the bytes hashed are the bytes served.
//!
//! [`Fetcher::download`] streams an artifact on a producer thread that hashes it (sha256) and
//! tees it to a temporary file inside `$PYSWAP_HOME/tmp` as the bytes arrive, while the caller
//! decompresses and unpacks them on its own thread from the [`Download`] reader. The whole body
//! is always read and hashed, even when the consumer stops early, so that a bad archive is
//! reported as a digest mismatch when that is what it is.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Largest artifact pyswap downloads when the catalogue gives no size.
pub const MAX_ARTIFACT_BYTES: u64 = 4 << 30;
const CHUNK: usize = 256 << 10;
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refusing {url}: {why}")]
    Refused { url: String, why: String },
    #[error("cannot fetch {url}: {error}")]
    Http { url: String, error: String },
    #[error("cannot fetch {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("cannot read {}: {error}", path.display())]
    File { path: PathBuf, error: io::Error },
    #[error("{url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("cannot write download of {url} to {}: {error}", path.display())]
    Write {
        url: String,
        path: PathBuf,
        error: io::Error,
    },
}

/// `file:///a/b` -> `/a/b` (percent-escapes decoded); `None` for anything else.
pub fn file_url_path(s: &str) -> Option<PathBuf> {
    let rest = s.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len() + 1
            && let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// Checks the scheme and host policy for one URL (a request or a redirect target).
fn check_policy(url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err("plain http is only allowed to a loopback host; use https".into())
            }
        }
        other => Err(format!("scheme `{other}` is not http or https")),
    }
}

/// Opens URLs under pyswap's network policy. The HTTP client is built on first use.
#[derive(Default)]
pub struct Fetcher {
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

/// A body being read: its length when the server said it.
struct Body {
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
}

impl Fetcher {
    fn client(&self) -> Result<&reqwest::blocking::Client, String> {
        self.client
            .get_or_init(|| {
                // reqwest is built without a default crypto provider; ring is ours.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::blocking::Client::builder()
                    .user_agent(concat!("pyswap/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(Duration::from_secs(15))
                    // The blocking client applies this to each read: it is a stall timeout.
                    .timeout(Duration::from_secs(60))
                    .redirect(reqwest::redirect::Policy::custom(|attempt| {
                        if attempt.previous().len() >= MAX_REDIRECTS {
                            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                        }
                        match check_policy(attempt.url()) {
                            Ok(()) => attempt.follow(),
                            Err(why) => {
                                let to = attempt.url().to_string();
                                attempt.error(format!("redirect to {to} refused: {why}"))
                            }
                        }
                    }))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn open(&self, url: &str) -> Result<Body, FetchError> {
        if let Some(path) = file_url_path(url) {
            let file = File::open(&path).map_err(|error| FetchError::File {
                path: path.clone(),
                error,
            })?;
            let len = file.metadata().ok().map(|m| m.len());
            return Ok(Body {
                reader: Box::new(file),
                len,
            });
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::Refused {
            url: url.to_owned(),
            why: format!("not a URL: {e}"),
        })?;
        check_policy(&parsed).map_err(|why| FetchError::Refused {
            url: url.to_owned(),
            why,
        })?;
        let client = self.client().map_err(|error| FetchError::Http {
            url: url.to_owned(),
            error,
        })?;
        let response = client.get(parsed).send().map_err(|e| FetchError::Http {
            url: url.to_owned(),
            error: error_chain(&e),
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let len = response.content_length();
        Ok(Body {
            reader: Box::new(response),
            len,
        })
    }

    /// The whole body of a small resource (a catalogue), refused past `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        let body = self.open(url)?;
        if body.len.is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let mut out = Vec::new();
        body.reader
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| FetchError::Http {
                url: url.to_owned(),
                error: e.to_string(),
            })?;
        if out.len() as u64 > limit {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        Ok(out)
    }

    /// Starts streaming `url` into a temporary file in `tmp_dir`, hashing as it goes.
    /// `on_bytes` is told the total length (when known) and then each chunk's size.
    pub fn download(
        &self,
        url: &str,
        tmp_dir: &Path,
        progress: Box<dyn Progress>,
    ) -> Result<Download, FetchError> {
        let body = self.open(url)?;
        let temp = tempfile::Builder::new()
            .prefix("download-")
            .suffix(".partial")
            .tempfile_in(tmp_dir)
            .map_err(|error| FetchError::Write {
                url: url.to_owned(),
                path: tmp_dir.to_owned(),
                error,
            })?;
        let (file, path) = temp.into_parts();
        progress.start(body.len);
        let (tx, rx) = sync_channel(16);
        let url_owned = url.to_owned();
        let handle = std::thread::Builder::new()
            .name("pyswap-download".into())
            .spawn(move || {
                pump(&url_owned, body, file, &path, &tx, progress.as_ref()).map(
                    |(sha256, bytes)| Downloaded {
                        sha256,
                        bytes,
                        file: path,
                    },
                )
            })
            .map_err(|error| FetchError::Write {
                url: url.to_owned(),
                path: tmp_dir.to_owned(),
                error,
            })?;
        Ok(Download {
            rx: Some(rx),
            chunk: Vec::new(),
            pos: 0,
            handle: Some(handle),
        })
    }
}

/// Told how a download goes; the output layer draws it.
pub trait Progress: Send {
    fn start(&self, total: Option<u64>);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {
    fn start(&self, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

type Chunk = io::Result<Vec<u8>>;

/// The producer: read, hash, write to the temporary file, hand to the consumer.
fn pump(
    url: &str,
    mut body: Body,
    mut file: File,
    path: &Path,
    tx: &SyncSender<Chunk>,
    progress: &dyn Progress,
) -> Result<(String, u64), FetchError> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut consumer_alive = true;
    let fail = |tx: &SyncSender<Chunk>, e: FetchError| {
        let _ = tx.send(Err(io::Error::other(e.to_string())));
        progress.finish();
        Err(e)
    };
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match body.reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return fail(
                    tx,
                    FetchError::Http {
                        url: url.to_owned(),
                        error: format!(
                            "connection failed after {total} bytes: {}",
                            error_chain(&e)
                        ),
                    },
                );
            }
        };
        buf.truncate(n);
        total += n as u64;
        if total > MAX_ARTIFACT_BYTES {
            return fail(
                tx,
                FetchError::TooLarge {
                    url: url.to_owned(),
                    limit: MAX_ARTIFACT_BYTES,
                },
            );
        }
        hasher.update(&buf);
        if let Err(error) = file.write_all(&buf) {
            return fail(
                tx,
                FetchError::Write {
                    url: url.to_owned(),
                    path: path.to_owned(),
                    error,
                },
            );
        }
        progress.advance(n as u64);
        if consumer_alive && tx.send(Ok(buf)).is_err() {
            consumer_alive = false;
        }
    }
    if let Some(expected) = body.len
        && expected != total
    {
        return fail(
            tx,
            FetchError::Http {
                url: url.to_owned(),
                error: format!("body ended after {total} of {expected} bytes"),
            },
        );
    }
    progress.finish();
    Ok((hex(&hasher.finalize()), total))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What a finished download produced. The temporary file is deleted when this is dropped.
pub struct Downloaded {
    pub sha256: String,
    pub bytes: u64,
    pub file: tempfile::TempPath,
}

/// The consumer side of a download: a `Read` of the body as it arrives.
pub struct Download {
    rx: Option<Receiver<Chunk>>,
    chunk: Vec<u8>,
    pos: usize,
    handle: Option<JoinHandle<Result<Downloaded, FetchError>>>,
}

impl Read for Download {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            let Some(rx) = &self.rx else { return Ok(0) };
            match rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Download {
    /// Lets the producer read the rest of the body (without handing it over), then reports
    /// the digest of everything served.
    pub fn finish(mut self) -> Result<Downloaded, FetchError> {
        self.rx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(FetchError::Http {
                url: String::new(),
                error: "download thread panicked".into(),
            }),
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.rx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_decode() {
        assert_eq!(
            file_url_path("file:///tmp/a%20b.json"),
            Some(PathBuf::from("/tmp/a b.json"))
        );
        assert_eq!(
            file_url_path("file://localhost/x"),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(file_url_path("file://host/x"), None);
        assert_eq!(file_url_path("https://x/y"), None);
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let ok = |u: &str| check_policy(&reqwest::Url::parse(u).unwrap()).is_ok();
        assert!(ok("https://example.org/a"));
        assert!(
            ok("http://127.0.0.1:8000/a")
                && ok("http://127.8.0.1/a")
                && ok("http://[::1]:80/a")
                && ok("http://localhost/a")
        );
        assert!(
            !ok("http://example.org/a") && !ok("http://10.0.0.1/a") && !ok("ftp://127.0.0.1/a")
        );
    }

    #[test]
    fn download_tees_hashes_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("blob");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let url = format!("file://{}", src.display());
        let mut dl = Fetcher::default()
            .download(&url, dir.path(), Box::new(NoProgress))
            .unwrap();
        let mut head = vec![0u8; 1000];
        dl.read_exact(&mut head).unwrap();
        assert_eq!(head, data[..1000]);
        // Stop early: the producer still hashes and keeps the whole body.
        let done = dl.finish().unwrap();
        assert_eq!(done.bytes, data.len() as u64);
        assert_eq!(done.sha256, hex(&Sha256::digest(&data)));
        assert_eq!(std::fs::read(&done.file).unwrap(), data);
        let path = done.file.to_path_buf();
        drop(done);
        assert!(!path.exists(), "temporary download is removed when dropped");
    }
}
