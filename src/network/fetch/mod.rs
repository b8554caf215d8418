//! Getting bytes from `http(s)://` and `file://` URLs. The only module that uses reqwest: if we
//! move to another HTTP library, this facade is what changes.
//!
//! Policy ([`NetConfig`]), checked on the first request and on every redirect (at most 10):
//! https anywhere; plain http only to a loopback host (`127.0.0.0/8`, `::1`, `localhost`) or a
//! host named in `insecure_hosts`; when `allowed_hosts` is not empty, only hosts it names. No
//! transparent decompression (`Accept-Encoding: identity` is sent and a `Content-Encoding` is
//! never undone): the bytes hashed are the bytes served. Bodies are capped at the size the
//! catalogue gives, else [`MAX_ARTIFACT_BYTES`]. `--offline` refuses every http(s) request.
//!
//! Transient failures are retried (see [`retry`]); the error after the last try lists every
//! try. [`Fetcher::download`] streams an artifact on a producer thread that hashes it (sha256)
//! and appends it to a `.partial` file as the bytes arrive, while the caller's `consume`
//! closure reads the same bytes (to unpack them) from a [`Download`](download::Download). An interrupted download
//! resumes from its `.partial`: the bytes on disk are re-read, re-hashed and replayed to the
//! consumer, and only the rest is requested (`Range` + `If-Range`). Only a `206` whose
//! `Content-Range` starts where the file ends is accepted; a `200` starts over; a `416` or a
//! wrong `Content-Range` drops the partial and starts over.

mod failure;

pub(crate) use failure::error_chain;
pub use failure::{Failure, FetchError, Refusal};
use failure::{is_timeout, read_failure, send_failure, status_failure};

mod download;
pub(crate) mod proxy;
pub(crate) mod retry;
mod tls;

use std::io::{self, Read};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub(crate) use download::{DownloadSpec, Downloaded, meta_path, remove_partial};
use proxy::Proxies;

/// Largest artifact pyswap downloads when the catalogue gives no size.
pub(crate) const MAX_ARTIFACT_BYTES: u64 = 4 << 30;
const MAX_REDIRECTS: usize = 10;

/// Network settings of one run (flags, environment and, later, the configuration file).
#[derive(Clone, Debug)]
pub(crate) struct NetConfig {
    /// Refuse every http(s) request.
    pub(crate) offline: bool,
    /// When not empty, the only hosts pyswap talks to (`host` or `*.domain`).
    pub(crate) allowed_hosts: Vec<String>,
    /// Hosts to which plain http is allowed besides loopback (`host` or `*.domain`).
    pub(crate) insecure_hosts: Vec<String>,
    pub(crate) proxies: Proxies,
    pub(crate) connect_timeout: Duration,
    /// The longest wait for the next bytes of a response (a stall).
    pub(crate) http_timeout: Duration,
    /// The longest a whole download may take, retries included.
    pub(crate) download_timeout: Duration,
    /// How many times a transient failure is retried.
    pub(crate) retries: u32,
    /// The first retry's wait, doubled for each further retry.
    pub(crate) retry_backoff: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            offline: false,
            allowed_hosts: Vec::new(),
            insecure_hosts: Vec::new(),
            proxies: Proxies::default(),
            connect_timeout: Duration::from_secs(15),
            http_timeout: Duration::from_secs(30),
            download_timeout: Duration::from_secs(30 * 60),
            retries: 3,
            retry_backoff: Duration::from_secs(1),
        }
    }
}

/// `file:///a/b` -> `/a/b` (percent-escapes decoded, by `url`); `None` for anything else,
/// including a `file://` URL that names another host.
pub(crate) fn file_url_path(s: &str) -> Option<PathBuf> {
    let u = url::Url::parse(s).ok()?;
    if u.scheme() != "file" {
        return None;
    }
    u.to_file_path().ok()
}

/// `host` matches `pattern` exactly (ignoring case), or `*.domain` matches its subdomains.
fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .to_ascii_lowercase()
            .ends_with(&format!(".{}", domain.to_ascii_lowercase())),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn host_of(url: &url::Url) -> String {
    match url.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(h) => h.to_string(),
        None => String::new(),
    }
}

/// Checks the scheme and host policy for one URL (a request or a redirect target).
fn check_policy(url: &url::Url, cfg: &NetConfig) -> Result<(), Refusal> {
    let host = host_of(url);
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if !loopback && !cfg.insecure_hosts.iter().any(|p| host_matches(p, &host)) {
                return Err(Refusal::PlainHttp(host));
            }
        }
        other => return Err(Refusal::Scheme(other.to_owned())),
    }
    if !cfg.allowed_hosts.is_empty() && !cfg.allowed_hosts.iter().any(|p| host_matches(p, &host)) {
        return Err(Refusal::NotAllowed {
            host,
            allowed: cfg.allowed_hosts.clone(),
        });
    }
    Ok(())
}

/// Validators of a cached response, sent back to ask "has it changed?".
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Validators {
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
}

/// The result of a (conditional) GET of a small resource.
#[derive(Debug)]
pub(crate) enum Fetched {
    NotModified,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
}

/// Where a download's bytes come from, so that what the terminal says is what happens.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via<'a> {
    /// Over the network from the start.
    Network,
    /// Over the network, from this many bytes an earlier try left.
    Resumed(u64),
    /// A file on this host: the download cache, a `file://` mirror, a mirrored copy.
    Path(&'a std::path::Path),
}

/// Told how a download, and the work on it that follows, goes; the output layer draws it.
pub(crate) trait Progress: Send + Sync {
    /// A (re)start: the total when known, and where the bytes come from.
    fn start(&self, total: Option<u64>, via: Via<'_>);
    fn advance(&self, bytes: u64);
    /// The download is over (the bar goes).
    fn finish(&self);
    /// A step of the work after it (`compiling 1,840 files`), shown until the next one or
    /// until the progress is dropped; nothing when no terminal shows progress.
    fn phase(&self, _what: &str) {}
}

/// No progress display.
pub(crate) struct NoProgress;
impl Progress for NoProgress {
    fn start(&self, _: Option<u64>, _: Via<'_>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
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

/// Opens URLs under pyswap's network policy. The HTTP client is built on first use.
pub(crate) struct Fetcher {
    cfg: Arc<NetConfig>,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    /// Told each retry as it is about to wait (`retrying in 1 s (2/4): …`).
    on_retry: Option<Arc<Note>>,
}

/// Something to tell the person waiting.
type Note = dyn Fn(&str) + Send + Sync;

impl Default for Fetcher {
    fn default() -> Self {
        Self::new(NetConfig::default())
    }
}

impl Fetcher {
    pub(crate) fn new(cfg: NetConfig) -> Self {
        Self {
            cfg: Arc::new(cfg),
            client: OnceLock::new(),
            on_retry: None,
        }
    }

    /// Tells `note` about every retry before its wait, so a slow failure is never silent.
    #[must_use]
    pub(crate) fn on_retry(mut self, note: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(note));
        self
    }

    pub(crate) fn config(&self) -> &NetConfig {
        &self.cfg
    }

    fn client(&self) -> Result<reqwest::blocking::Client, FetchError> {
        self.client
            .get_or_init(|| build_client(&self.cfg))
            .clone()
            .map_err(FetchError::Client)
    }

    /// Parses `url` and checks it against the offline switch and the host policy.
    fn admit(&self, url: &str) -> Result<url::Url, FetchError> {
        let parsed = url::Url::parse(url).map_err(|e| FetchError::Refused {
            url: url.to_owned(),
            why: Refusal::NotAUrl(e.to_string()),
        })?;
        if self.cfg.offline && matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Offline {
                url: url.to_owned(),
            });
        }
        check_policy(&parsed, &self.cfg).map_err(|why| FetchError::Refused {
            url: url.to_owned(),
            why,
        })?;
        Ok(parsed)
    }

    /// Runs `attempt` until it succeeds, fails for good, or the tries or `deadline` run out.
    fn retrying<T>(
        &self,
        url: &str,
        deadline: Instant,
        mut attempt: impl FnMut() -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let mut tries: Vec<Failure> = Vec::new();
        loop {
            let err = match attempt() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let Some(failure) = err.transient().cloned() else {
                return Err(err);
            };
            tries.push(failure.clone());
            let retry_after = match &failure {
                Failure::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            let wait = retry_after.unwrap_or_else(|| {
                retry::backoff(
                    self.cfg.retry_backoff,
                    u32::try_from(tries.len()).unwrap_or(u32::MAX),
                )
            });
            let out_of_tries = tries.len() > self.cfg.retries as usize;
            let too_long = retry_after.is_some_and(|d| d > retry::MAX_RETRY_AFTER);
            let past_deadline = Instant::now() + wait >= deadline;
            if out_of_tries || too_long || past_deadline {
                if past_deadline && !out_of_tries && !too_long {
                    tries.push(Failure::Timeout(format!(
                        "overall timeout of {} s reached",
                        self.cfg.download_timeout.as_secs()
                    )));
                }
                return Err(if tries.len() == 1 {
                    err
                } else {
                    FetchError::GaveUp {
                        url: url.to_owned(),
                        tries,
                    }
                });
            }
            // The URL and the failure are said once; a retry that failed the same way says only
            // that it waits.
            let retrying = format!(
                "retrying in {} ({}/{})",
                retry::human_wait(wait),
                tries.len() + 1,
                self.cfg.retries + 1
            );
            let note = match tries.len() {
                1 => format!("{url}: {failure}; {retrying}"),
                n if tries[n - 2] == failure => format!("{retrying}: the same failure"),
                _ => format!("{retrying}: {failure}"),
            };
            tracing::warn!(url, "{note}");
            if let Some(on_retry) = &self.on_retry {
                on_retry(&note);
            }
            std::thread::sleep(wait);
        }
    }

    /// A small resource (a catalogue) whole, refused past `limit` bytes. With `validators`,
    /// asks the server whether it changed (`If-None-Match`, `If-Modified-Since`).
    pub(crate) fn get(
        &self,
        url: &str,
        limit: u64,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        if let Some(path) = file_url_path(url) {
            let file = std::fs::File::open(&path).map_err(|error| FetchError::File {
                path: path.clone(),
                error,
            })?;
            let bytes = read_capped(file, limit).map_err(|e| match e {
                Capped::TooLarge => FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                },
                Capped::Io(error, _) => FetchError::File { path, error },
            })?;
            return Ok(Fetched::Body {
                bytes,
                validators: Validators::default(),
            });
        }
        let parsed = self.admit(url)?;
        let client = self.client()?;
        let deadline = Instant::now() + self.cfg.download_timeout;
        self.retrying(url, deadline, || {
            let mut req = client
                .get(parsed.clone())
                .header(reqwest::header::ACCEPT_ENCODING, "identity");
            if let Some(v) = validators {
                if let Some(etag) = &v.etag {
                    req = req.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &v.last_modified {
                    req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
                }
            }
            let failed = |failure| FetchError::Failed {
                url: url.to_owned(),
                failure,
            };
            let response = req.send().map_err(|e| failed(send_failure(&e)))?;
            let status = response.status().as_u16();
            if status == 304 && validators.is_some() {
                return Ok(Fetched::NotModified);
            }
            if status != 200 {
                return Err(failed(status_failure(&response)));
            }
            if response.content_length().is_some_and(|n| n > limit) {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            let validators = validators_of(&response);
            let expected = response.content_length();
            // The whole body within the overall deadline: a server that trickles a byte a
            // second never trips the per-read stall timeout (issue 25).
            let timed = download::DeadlineReader {
                inner: response,
                deadline,
                total_secs: self.cfg.download_timeout.as_secs(),
            };
            let bytes = read_capped(timed, limit).map_err(|e| match e {
                Capped::TooLarge => FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                },
                Capped::Io(e, after) => failed(read_failure(&e, after)),
            })?;
            if let Some(n) = expected
                && n != bytes.len() as u64
            {
                return Err(failed(Failure::Truncated {
                    got: bytes.len() as u64,
                    expected: n,
                }));
            }
            Ok(Fetched::Body { bytes, validators })
        })
    }

    /// The whole body of a small resource, refused past `limit` bytes.
    pub(crate) fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        match self.get(url, limit, None)? {
            Fetched::Body { bytes, .. } => Ok(bytes),
            Fetched::NotModified => unreachable!("no validators were sent"),
        }
    }
}

/// Why [`read_capped`] gave nothing.
#[derive(Debug)]
pub(crate) enum Capped {
    TooLarge,
    /// A read failed after this many bytes.
    Io(io::Error, u64),
}

/// All of `r`, refused once it passes `limit` bytes (reading at most one byte more).
pub(crate) fn read_capped(r: impl Read, limit: u64) -> Result<Vec<u8>, Capped> {
    let mut out = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Capped::Io(e, out.len() as u64))?;
    if out.len() as u64 > limit {
        return Err(Capped::TooLarge);
    }
    Ok(out)
}

fn validators_of(r: &reqwest::blocking::Response) -> Validators {
    let header = |name| {
        r.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    Validators {
        etag: header(reqwest::header::ETAG),
        last_modified: header(reqwest::header::LAST_MODIFIED),
    }
}

fn build_client(cfg: &Arc<NetConfig>) -> Result<reqwest::blocking::Client, String> {
    // reqwest is built without a default crypto provider; ring is ours. Certificates are
    // checked by the platform verifier (src/network/fetch/tls.rs), built at the first handshake.
    let policy_cfg = Arc::clone(cfg);
    let mut builder = reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls::client_config()?)
        .user_agent(concat!("pyswap/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(cfg.connect_timeout)
        // The blocking client applies this to the wait for the headers and to each read of
        // the body: it is a stall timeout. The overall deadline is checked by the caller.
        .timeout(cfg.http_timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the URLs already requested, the first one included.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match check_policy(attempt.url(), &policy_cfg) {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let to = attempt.url().to_string();
                    attempt.error(format!("redirect to {to} refused: {why}"))
                }
            }
        }));
    if cfg.proxies.urls().next().is_some() && !cfg.proxies.disabled {
        let proxies = cfg.proxies.clone();
        builder = builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies
                .for_target(url.scheme(), &host_of(url))
                .map(str::to_owned)
        }));
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
}

/// Checks a proxy URL given by flag or environment.
pub(crate) fn check_proxy_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s).map_err(|e| format!("proxy `{s}` is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(format!(
            "proxy `{s}` must be an http:// or https:// URL with a host (SOCKS is not supported)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

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
    fn host_policy() {
        let check = |u: &str, cfg: &NetConfig| check_policy(&url::Url::parse(u).unwrap(), cfg);
        let plain = NetConfig::default();
        let ok = |u: &str| check(u, &plain).is_ok();
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
        let cfg = NetConfig {
            allowed_hosts: vec!["mirror.corp".into(), "*.github.com".into()],
            insecure_hosts: vec!["mirror.corp".into()],
            ..NetConfig::default()
        };
        assert!(
            check("http://mirror.corp/a", &cfg).is_ok(),
            "insecure host may use http"
        );
        assert!(check("https://MIRROR.corp./a", &cfg).is_ok());
        assert!(check("https://objects.github.com/a", &cfg).is_ok());
        let err = check("https://github.com/a", &cfg).unwrap_err();
        assert!(
            matches!(&err, Refusal::NotAllowed { host, .. } if host == "github.com"),
            "{err}"
        );
        assert!(
            check("http://127.0.0.1/a", &cfg).is_err(),
            "the list binds loopback too"
        );
        assert!(matches!(
            check("http://other.corp/a", &cfg).unwrap_err(),
            Refusal::PlainHttp(h) if h == "other.corp"
        ));
    }

    #[test]
    fn the_last_error_lists_every_try_briefly() {
        let e = FetchError::GaveUp {
            url: "https://m/a".into(),
            tries: vec![
                Failure::Status {
                    code: 503,
                    retry_after: None,
                },
                Failure::Connect("refused".into()),
                Failure::Connect("refused".into()),
                Failure::Timeout("no data".into()),
            ],
        };
        assert_eq!(
            e.to_string(),
            "cannot fetch https://m/a: 4 tries failed: 1) HTTP 503; 2-3) cannot connect: refused; 4) timed out: no data"
        );
    }

    #[test]
    fn failures_that_are_retried() {
        let status = |code| Failure::Status {
            code,
            retry_after: None,
        };
        for f in [status(500), status(503), status(429), status(408)] {
            assert!(f.is_transient(), "{f}");
        }
        for f in [
            status(404),
            status(403),
            status(400),
            Failure::Redirect("loop".into()),
        ] {
            assert!(!f.is_transient(), "{f}");
        }
    }

    #[test]
    fn download_streams_and_verifies_a_file_url() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("blob");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let spec = DownloadSpec {
            url: format!("file://{}", src.display()),
            sha256: hex(&Sha256::digest(&data)),
            size: None,
            partial: None,
            local: None,
        };
        let progress: Arc<dyn Progress> = Arc::new(NoProgress);
        let fetcher = Fetcher::default();
        let (head, done) = fetcher
            .download(&spec, &progress, |r| {
                let mut head = vec![0u8; 1000];
                r.read_exact(&mut head).unwrap();
                head
            })
            .unwrap();
        // The consumer stopped early: the producer still hashed the whole body.
        assert_eq!(head, data[..1000]);
        assert_eq!(done.bytes, data.len() as u64);
        let wrong = DownloadSpec {
            sha256: "0".repeat(64),
            ..spec
        };
        let err = fetcher.download(&wrong, &progress, |_| ()).unwrap_err();
        assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err}");
        let capped = DownloadSpec {
            size: Some(1000),
            ..wrong
        };
        let err = fetcher.download(&capped, &progress, |_| ()).unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1000, .. }),
            "{err}"
        );
    }
}
