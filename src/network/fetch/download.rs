//! Streaming an artifact: a producer thread per try reads the body, hashes it, appends it to
//! the `.partial` file and hands it to the consumer; resuming replays the `.partial` first.
//! A download-cache archive is mapped instead (`crate::ground::mapped`: pyswap wrote it, nobody
//! truncates it): the consumer reads the mapping and a thread hashes the same pages, so no
//! byte is copied through a channel.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::ground::mapped::Mapped;

use super::{
    Failure, FetchError, Fetcher, MAX_ARTIFACT_BYTES, Progress, Validators, error_chain,
    file_url_path, hex, read_failure, send_failure, status_failure, validators_of,
};

const CHUNK: usize = 256 << 10;

/// One artifact to download and verify.
#[derive(Clone, Debug)]
pub(crate) struct DownloadSpec {
    pub(crate) url: String,
    /// The expected sha256 (lowercase hex).
    pub(crate) sha256: String,
    /// The size the catalogue gives, if any: the body is refused past it.
    pub(crate) size: Option<u64>,
    /// Where the bytes are kept as they arrive, so that a later try resumes (http(s) only).
    pub(crate) partial: Option<PathBuf>,
    /// Read this local file instead of the URL (a cached copy); it is verified all the same.
    pub(crate) local: Option<PathBuf>,
}

/// A verified download.
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
    /// Bytes that came over the network in the successful try.
    pub(crate) transferred: u64,
    /// Bytes reused from an earlier interrupted try.
    pub(crate) resumed_from: u64,
}

/// Where a try reads from.
#[derive(Clone)]
enum Source {
    File(PathBuf),
    /// A download-cache archive: mapped.
    Cached(PathBuf),
    Http(url::Url, reqwest::blocking::Client),
}

/// The sidecar of a `.partial`: the validators of the response it came from (for `If-Range`).
pub(crate) fn meta_path(partial: &Path) -> PathBuf {
    let mut s = partial.as_os_str().to_owned();
    s.push(".meta");
    PathBuf::from(s)
}

/// Deletes a `.partial` and its sidecar.
pub(crate) fn remove_partial(partial: &Path) {
    let _ = std::fs::remove_file(partial);
    let _ = std::fs::remove_file(meta_path(partial));
}

impl Fetcher {
    /// Downloads `spec.url`, retrying transient failures (resuming from the `.partial` when
    /// there is one), and verifies its sha256. `consume` is called once per try with a reader
    /// of the body from its first byte; its result is returned from the try that verified.
    /// A digest mismatch is never retried (except once from scratch when the bytes came partly
    /// from an earlier try), and its `.partial` is deleted.
    pub(crate) fn download<T>(
        &self,
        spec: &DownloadSpec,
        progress: &Arc<dyn Progress>,
        mut consume: impl FnMut(&mut Download) -> T,
    ) -> Result<(T, Downloaded), FetchError> {
        let source = match (&spec.local, file_url_path(&spec.url)) {
            (Some(cached), _) => Source::Cached(cached.clone()),
            (None, Some(path)) => Source::File(path),
            (None, None) => Source::Http(self.admit(&spec.url)?, self.client()?),
        };
        let deadline = Instant::now() + self.cfg.download_timeout;
        let result = self.retrying(&spec.url, deadline, || {
            let producer = Producer {
                source: source.clone(),
                spec: spec.clone(),
                cap: spec.size.unwrap_or(MAX_ARTIFACT_BYTES),
                deadline,
                total_secs: self.cfg.download_timeout.as_secs(),
                progress: Arc::clone(progress),
            };
            let mut download = producer.spawn()?;
            crate::ground::crash::timing("download:started");
            let out = consume(&mut download);
            let done = download.finish()?;
            if done.sha256 != spec.sha256 {
                if let Some(p) = &spec.partial {
                    remove_partial(p);
                }
                if done.resumed_from > 0 {
                    return Err(FetchError::Failed {
                        url: spec.url.clone(),
                        failure: Failure::BadResume {
                            from: done.resumed_from,
                        },
                    });
                }
                return Err(FetchError::DigestMismatch {
                    url: spec.url.clone(),
                    expected: spec.sha256.clone(),
                    actual: done.sha256,
                });
            }
            Ok((out, done))
        });
        progress.finish();
        result
    }
}

type Chunk = io::Result<Vec<u8>>;

/// Why pumping stopped: the source failed, or the sink refused (cap, disk).
enum PumpError {
    Read(io::Error),
    Sink(FetchError),
}

struct Producer {
    source: Source,
    spec: DownloadSpec,
    cap: u64,
    deadline: Instant,
    total_secs: u64,
    progress: Arc<dyn Progress>,
}

/// Hashes, keeps and hands over bytes; counts them.
struct Sink<'a> {
    url: &'a str,
    hasher: Sha256,
    total: u64,
    cap: u64,
    file: Option<(File, &'a Path)>,
    tx: &'a SyncSender<Chunk>,
    consumer_alive: bool,
    progress: &'a dyn Progress,
}

impl Sink<'_> {
    /// Takes one chunk. `keep`: also append it to the partial file.
    fn take(&mut self, buf: Vec<u8>, keep: bool) -> Result<(), FetchError> {
        self.total += buf.len() as u64;
        if self.total > self.cap {
            return Err(FetchError::TooLarge {
                url: self.url.to_owned(),
                limit: self.cap,
            });
        }
        self.hasher.update(&buf);
        if keep && let Some((file, path)) = &mut self.file {
            file.write_all(&buf).map_err(|error| FetchError::Write {
                url: self.url.to_owned(),
                path: path.to_path_buf(),
                error,
            })?;
        }
        self.progress.advance(buf.len() as u64);
        if self.consumer_alive && self.tx.send(Ok(buf)).is_err() {
            self.consumer_alive = false;
        }
        Ok(())
    }

    /// Reads `r` to its end into the sink.
    fn pump(&mut self, mut r: impl Read, keep: bool) -> Result<(), PumpError> {
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(PumpError::Read(e)),
            };
            buf.truncate(n);
            self.take(buf, keep).map_err(PumpError::Sink)?;
        }
    }
}

type Try = Result<Downloaded, FetchError>;

/// Starts the thread of one try (`name` shows in `ps -T`); a failure to start one names `url`.
fn start(
    name: &str,
    url: String,
    work: impl FnOnce() -> Try + Send + 'static,
) -> Result<JoinHandle<Try>, FetchError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map_err(|error| FetchError::Write {
            url,
            path: PathBuf::new(),
            error,
        })
}

impl Producer {
    fn spawn(self) -> Result<Download, FetchError> {
        if let Source::Cached(path) = &self.source {
            let path = path.clone();
            return self.spawn_mapped(&path);
        }
        let (tx, rx) = sync_channel(16);
        let url = self.spec.url.clone();
        let handle = start("pyswap-download", url, move || {
            let result = self.run(&tx);
            if let Err(e) = &result {
                let _ = tx.send(Err(io::Error::other(e.to_string())));
            }
            result
        })?;
        Ok(Download {
            body: Body::Chunks {
                rx: Some(rx),
                chunk: Vec::new(),
                pos: 0,
            },
            handle: Some(handle),
        })
    }

    /// A download-cache archive: mapped whole, read by the consumer from the mapping while a
    /// thread hashes the same pages (each is read from disk once, by whichever comes first).
    fn spawn_mapped(self, path: &Path) -> Result<Download, FetchError> {
        let unreadable = |error| FetchError::File {
            path: path.to_path_buf(),
            error,
        };
        let file = File::open(path).map_err(unreadable)?;
        let map = Arc::new(Mapped::own_file(&file).map_err(unreadable)?);
        let len = map.len() as u64;
        if len > self.cap {
            return Err(FetchError::TooLarge {
                url: self.spec.url.clone(),
                limit: self.cap,
            });
        }
        self.progress.start(Some(len), super::Via::Path(path));
        let pages = Arc::clone(&map);
        let url = self.spec.url.clone();
        let handle = start("pyswap-hash", url, move || {
            let mut hasher = Sha256::new();
            for chunk in pages.chunks(CHUNK) {
                hasher.update(chunk);
                self.progress.advance(chunk.len() as u64);
            }
            Ok(Downloaded {
                sha256: hex(&hasher.finalize()),
                bytes: len,
                transferred: len,
                resumed_from: 0,
            })
        })?;
        Ok(Download {
            body: Body::Mapped { map, pos: 0 },
            handle: Some(handle),
        })
    }

    fn sink<'a>(&'a self, tx: &'a SyncSender<Chunk>) -> Sink<'a> {
        Sink {
            url: &self.spec.url,
            hasher: Sha256::new(),
            total: 0,
            cap: self.cap,
            file: None,
            tx,
            consumer_alive: true,
            progress: self.progress.as_ref(),
        }
    }

    fn failed(&self, failure: Failure) -> FetchError {
        FetchError::Failed {
            url: self.spec.url.clone(),
            failure,
        }
    }

    fn run(&self, tx: &SyncSender<Chunk>) -> Result<Downloaded, FetchError> {
        match &self.source {
            Source::File(path) => {
                let file = File::open(path).map_err(|error| FetchError::File {
                    path: path.clone(),
                    error,
                })?;
                self.progress.start(
                    file.metadata().ok().map(|m| m.len()),
                    super::Via::Path(path),
                );
                let mut sink = self.sink(tx);
                sink.pump(file, false).map_err(|e| match e {
                    PumpError::Read(error) => FetchError::File {
                        path: path.clone(),
                        error,
                    },
                    PumpError::Sink(e) => e,
                })?;
                Ok(Downloaded {
                    sha256: hex(&sink.hasher.finalize()),
                    bytes: sink.total,
                    transferred: sink.total,
                    resumed_from: 0,
                })
            }
            Source::Http(url, client) => self.run_http(url, client, tx),
            Source::Cached(_) => unreachable!("a cached archive is mapped, not pumped"),
        }
    }

    fn run_http(
        &self,
        url: &url::Url,
        client: &reqwest::blocking::Client,
        tx: &SyncSender<Chunk>,
    ) -> Result<Downloaded, FetchError> {
        let partial = self.spec.partial.as_deref();
        let (response, have, validators) = self.negotiate(url, client, partial)?;
        let body_len = response.content_length();
        if body_len.is_some_and(|n| n.saturating_add(have) > self.cap) {
            if let Some(p) = partial {
                remove_partial(p);
            }
            return Err(FetchError::TooLarge {
                url: self.spec.url.clone(),
                limit: self.cap,
            });
        }
        let via = if have > 0 {
            super::Via::Resumed(have)
        } else {
            super::Via::Network
        };
        self.progress.start(body_len.map(|n| n + have), via);
        let mut sink = self.sink(tx);
        if let Some(p) = partial {
            let file = self.open_partial(p, have, &validators)?;
            if have > 0 {
                let mut replay = File::open(p).map_err(|error| self.write_err(p, error))?;
                replay.rewind().map_err(|error| self.write_err(p, error))?;
                sink.pump(replay.take(have), false).map_err(|e| match e {
                    PumpError::Read(error) => self.write_err(p, error),
                    PumpError::Sink(e) => e,
                })?;
                if sink.total != have {
                    return Err(self.failed(Failure::Protocol(format!(
                        "partial file {} shrank while being read",
                        p.display()
                    ))));
                }
            }
            sink.file = Some((file, p));
        }
        let timed = DeadlineReader {
            inner: response,
            deadline: self.deadline,
            total_secs: self.total_secs,
        };
        match sink.pump(timed, true) {
            Ok(()) => {}
            Err(PumpError::Read(e)) => {
                return Err(self.failed(read_failure(&e, sink.total - have)));
            }
            Err(PumpError::Sink(e)) => {
                if matches!(e, FetchError::TooLarge { .. })
                    && let Some(p) = partial
                {
                    remove_partial(p);
                }
                return Err(e);
            }
        }
        let got = sink.total - have;
        if let Some(n) = body_len
            && n != got
        {
            return Err(self.failed(Failure::Truncated {
                got: sink.total,
                expected: n + have,
            }));
        }
        Ok(Downloaded {
            sha256: hex(&sink.hasher.finalize()),
            bytes: sink.total,
            transferred: got,
            resumed_from: have,
        })
    }

    /// Sends the request (ranged when a partial file exists) until the answer is one the body
    /// can be taken from: a fitting `206`, or a `200` (start over). Returns it with the number
    /// of bytes of the partial file to reuse and the validators to record.
    fn negotiate(
        &self,
        url: &url::Url,
        client: &reqwest::blocking::Client,
        partial: Option<&Path>,
    ) -> Result<(reqwest::blocking::Response, u64, Validators), FetchError> {
        let mut have = partial
            .and_then(|p| p.metadata().ok())
            .map_or(0, |m| m.len());
        if have > self.cap {
            have = 0;
        }
        let mut validators: Validators = match (have, partial) {
            (1.., Some(p)) => std::fs::read(meta_path(p))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
            _ => Validators::default(),
        };
        let mut response = None;
        for _ in 0..3 {
            let mut req = client
                .get(url.clone())
                .header(reqwest::header::ACCEPT_ENCODING, "identity");
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
                let strong_etag = validators.etag.as_ref().filter(|e| !e.starts_with("W/"));
                if let Some(v) = strong_etag.or(validators.last_modified.as_ref()) {
                    req = req.header(reqwest::header::IF_RANGE, v);
                }
            }
            let r = req.send().map_err(|e| self.failed(send_failure(&e)))?;
            match r.status().as_u16() {
                206 if have > 0 => {
                    let range = r
                        .headers()
                        .get(reqwest::header::CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_content_range);
                    let fits = range.is_some_and(|(start, end, total)| {
                        start == have
                            && end >= start
                            && total.is_none_or(|t| t == end + 1)
                            && r.content_length().is_none_or(|n| n == end + 1 - start)
                    });
                    if fits {
                        response = Some(r);
                        break;
                    }
                    // Bytes from somewhere else than where the file ends: start over.
                    have = 0;
                }
                200 => {
                    have = 0;
                    validators = validators_of(&r);
                    response = Some(r);
                    break;
                }
                416 if have > 0 => have = 0,
                _ => return Err(self.failed(status_failure(&r))),
            }
        }
        let Some(r) = response else {
            return Err(self.failed(Failure::Protocol(
                "the server's answers to a resumed request did not agree with the partial file"
                    .into(),
            )));
        };
        Ok((r, have, validators))
    }

    fn write_err(&self, path: &Path, error: io::Error) -> FetchError {
        FetchError::Write {
            url: self.spec.url.clone(),
            path: path.to_owned(),
            error,
        }
    }

    /// Opens the partial file for appending after `have` bytes (truncating anything past
    /// them), recording `validators` beside it when starting afresh.
    fn open_partial(&self, p: &Path, have: u64, v: &Validators) -> Result<File, FetchError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p)
            .map_err(|error| self.write_err(p, error))?;
        file.set_len(have)
            .map_err(|error| self.write_err(p, error))?;
        file.seek(io::SeekFrom::End(0))
            .map_err(|error| self.write_err(p, error))?;
        if have == 0 {
            let meta = serde_json::to_vec(v).unwrap_or_default();
            std::fs::write(meta_path(p), meta).map_err(|error| self.write_err(p, error))?;
        }
        Ok(file)
    }
}

/// A body reader that fails once the overall deadline has passed.
pub(super) struct DeadlineReader<R> {
    pub(super) inner: R,
    pub(super) deadline: Instant,
    pub(super) total_secs: u64,
}

impl<R: Read> Read for DeadlineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("overall timeout of {} s reached", self.total_secs),
            ));
        }
        self.inner.read(buf).map_err(|e| {
            // Flattened to its text (the line names every cause); a stall stays a timeout.
            let kind = if super::is_timeout(&e) {
                io::ErrorKind::TimedOut
            } else {
                e.kind()
            };
            io::Error::new(kind, error_chain(&e))
        })
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, end.trim().parse().ok()?, total))
}

/// The consumer side of a download: a `Read` of the body as it arrives.
pub(crate) struct Download {
    body: Body,
    /// The producer (or, for a mapped archive, the hasher).
    handle: Option<JoinHandle<Try>>,
}

enum Body {
    /// Chunks from the producer thread.
    Chunks {
        rx: Option<Receiver<Chunk>>,
        chunk: Vec<u8>,
        pos: usize,
    },
    /// A mapped download-cache archive.
    Mapped { map: Arc<Mapped>, pos: usize },
}

impl Read for Download {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let (rest, pos) = match &mut self.body {
            Body::Mapped { map, pos } => (&map[*pos..], pos),
            Body::Chunks { rx, chunk, pos } => {
                while *pos == chunk.len() {
                    let Some(from) = rx else { return Ok(0) };
                    match from.recv() {
                        Ok(Ok(next)) => {
                            *chunk = next;
                            *pos = 0;
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Ok(0),
                    }
                }
                (&chunk[*pos..], pos)
            }
        };
        let n = out.len().min(rest.len());
        out[..n].copy_from_slice(&rest[..n]);
        *pos += n;
        Ok(n)
    }
}

impl Download {
    /// Lets the producer read the rest of the body (without handing it over), then reports
    /// the digest of everything served.
    fn finish(mut self) -> Result<Downloaded, FetchError> {
        self.hang_up();
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(FetchError::Client("download thread panicked".into())),
        }
    }

    /// Stops taking chunks: the producer reads on without handing them over.
    fn hang_up(&mut self) {
        if let Body::Chunks { rx, .. } = &mut self.body {
            *rx = None;
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.hang_up();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(
            parse_content_range("bytes 100-999/1000"),
            Some((100, 999, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, 9, None)));
        assert_eq!(parse_content_range("bytes */1000"), None);
        assert_eq!(parse_content_range("items 0-9/10"), None);
    }
}
