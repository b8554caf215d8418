//! Why a fetch failed: what went wrong on one try (`Failure`, read from reqwest's and the
//! socket's errors and the server's status), and the error a command reports (`FetchError`).

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::retry;

/// What went wrong on one try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Connect(String),
    Timeout(String),
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// The connection broke after `after` bytes of the body.
    Interrupted {
        after: u64,
        error: String,
    },
    /// The body ended before its `Content-Length`.
    Truncated {
        got: u64,
        expected: u64,
    },
    /// A redirect loop or a refused redirect target.
    Redirect(String),
    /// The TLS handshake failed (certificate not trusted, wrong name, …).
    Tls(String),
    Protocol(String),
    /// A download resumed from byte `from` did not verify; its partial file was dropped.
    BadResume {
        from: u64,
    },
}

impl Failure {
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_)
            | Self::Timeout(_)
            | Self::Interrupted { .. }
            | Self::Truncated { .. }
            | Self::BadResume { .. } => true,
            Self::Status { code, .. } => matches!(code, 408 | 429 | 500..=599),
            Self::Redirect(_) | Self::Protocol(_) | Self::Tls(_) => false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Timeout(e) => write!(f, "timed out: {e}"),
            Self::Status {
                code,
                retry_after: Some(d),
            } => write!(f, "HTTP {code} (retry after {} s)", d.as_secs()),
            Self::Status { code, .. } => write!(f, "HTTP {code}"),
            Self::Interrupted { after, error } => {
                write!(f, "connection lost after {after} bytes: {error}")
            }
            Self::Truncated { got, expected } => {
                write!(f, "body ended after {got} of {expected} bytes")
            }
            Self::Redirect(e) | Self::Protocol(e) => f.write_str(e),
            Self::Tls(e) => write!(f, "TLS: {e}"),
            Self::BadResume { from } => write!(
                f,
                "the download resumed at byte {from} did not verify; starting over"
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refusing {url}: {why}")]
    Refused { url: String, why: Refusal },
    #[error("offline: not fetching {url}")]
    Offline { url: String },
    #[error("cannot fetch {url}: {failure}")]
    Failed { url: String, failure: Failure },
    #[error("cannot fetch {url}: {} tries failed: {}", tries.len(), list_tries(tries))]
    GaveUp { url: String, tries: Vec<Failure> },
    #[error("cannot read {}: {error}", path.display())]
    File { path: PathBuf, error: io::Error },
    #[error("{url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("sha256 mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("cannot write download of {url} to {}: {error}", path.display())]
    Write {
        url: String,
        path: PathBuf,
        error: io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

crate::ground::exit::register!(FetchError);
impl crate::ground::exit::Reason for FetchError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some(match self {
            Self::Refused { why: Refusal::NotAllowed { .. }, .. } => "add the host to --allowed-host (PYSWAP_ALLOWED_HOSTS) if it is trusted",
            Self::Refused { .. } => "use https, or name the host with --insecure-host (PYSWAP_INSECURE_HOSTS) if plain http is really wanted",
            Self::DigestMismatch { .. } => "the download was corrupted or the catalogue is out of date; nothing was installed",
            Self::Failed { failure: Failure::Tls(_), .. } => "if the server uses a private CA, point SSL_CERT_FILE at its certificate bundle",
            Self::Failed { failure: Failure::Connect(_), .. } => UNREACHABLE,
            Self::GaveUp { tries, .. } if matches!(tries.last(), Some(Failure::Connect(_))) => UNREACHABLE,
            Self::Failed { .. } | Self::GaveUp { .. } => "nothing was changed; an archive download that was cut off resumes where it stopped at the next try",
            Self::Offline { .. } => "run it without --offline",
            Self::TooLarge { .. } => "the server sent more than pyswap accepts (for an archive: the size the catalogue gives; for a catalogue: 64 MiB); nothing was installed",
            Self::Write { error, .. } => return crate::ground::exit::Reason::help(error),
            Self::File { .. } | Self::Client(_) => return None,
        }.into())
    }
}

/// The ways forward when a host cannot be resolved or reached.
const UNREACHABLE: &str = "the host cannot be reached from here: set `catalogue = \"…\"` (a mirror's catalogue, made by `pyswap mirror`) or `mirror = \"…\"` in config.toml (`pyswap config show` names the file; pyswap does not remember the last --catalogue), use a proxy (--proxy URL or HTTPS_PROXY), or --offline with runtimes pre-staged by `pyswap install`";

/// Why a URL is refused before any request is made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("scheme `{0}` is not http or https")]
    Scheme(String),
    #[error(
        "plain http is only allowed to loopback and insecure hosts, and `{0}` is neither; use https"
    )]
    PlainHttp(String),
    #[error("host `{host}` is not in the allowed hosts ({})", allowed.join(", "))]
    NotAllowed { host: String, allowed: Vec<String> },
}

/// `1) HTTP 503; 2-4) connection lost after 100 bytes: …`: consecutive equal failures share
/// one item, so the line stays short.
fn list_tries(tries: &[Failure]) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tries.len() {
        let mut j = i;
        while j + 1 < tries.len() && tries[j + 1] == tries[i] {
            j += 1;
        }
        let label = if i == j {
            format!("{}", i + 1)
        } else {
            format!("{}-{}", i + 1, j + 1)
        };
        items.push(format!("{label}) {}", tries[i]));
        i = j + 1;
    }
    items.join("; ")
}

impl FetchError {
    pub(super) fn transient(&self) -> Option<&Failure> {
        match self {
            Self::Failed { failure, .. } if failure.is_transient() => Some(failure),
            _ => None,
        }
    }

    /// Whether the network (not the request or the bytes) was at fault.
    pub(crate) fn is_network(&self) -> bool {
        matches!(
            self,
            Self::Failed { .. } | Self::GaveUp { .. } | Self::Offline { .. }
        )
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

/// Classifies a reqwest error from sending a request. A TLS failure (an untrusted or wrong
/// certificate) is not transient: trying again would only fail again.
pub(super) fn send_failure(e: &reqwest::Error) -> Failure {
    // reqwest's own message is `error sending request for url (…)`: the URL is named once by
    // the error around this failure, so the causes alone say it.
    let text = match std::error::Error::source(e) {
        Some(cause) if e.url().is_some() => error_chain(cause),
        _ => error_chain(e),
    };
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(inner) = source {
        if inner.is::<rustls::Error>() {
            return Failure::Tls(text);
        }
        source = inner.source();
    }
    if e.is_redirect() {
        Failure::Redirect(text)
    } else if e.is_timeout() {
        Failure::Timeout(text)
    } else if e.is_connect() || e.is_request() || e.is_body() {
        Failure::Connect(text)
    } else {
        Failure::Protocol(text)
    }
}

/// Whether a body read failed because the response stalled: reqwest reports that as an
/// `io::Error` whose sources include its timeout (an `io::Error` of kind `TimedOut`, or a
/// reqwest error that says it is one).
pub(super) fn is_timeout(e: &io::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
            || err
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        // `io::Error::source` skips the error it wraps; step into it instead.
        next = match err.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// Classifies an error while reading a body, `after` bytes in.
pub(super) fn read_failure(e: &io::Error, after: u64) -> Failure {
    let text = error_chain(e);
    if text.starts_with("overall timeout") {
        // Data was flowing, too slowly: not a stall.
        Failure::Timeout(format!("{text} after {after} bytes"))
    } else if is_timeout(e) {
        Failure::Timeout(format!("no data for a while after {after} bytes: {text}"))
    } else {
        Failure::Interrupted { after, error: text }
    }
}

pub(super) fn status_failure(r: &reqwest::blocking::Response) -> Failure {
    // A redirect that was not followed (to a scheme other than http(s), such as `file://`):
    // say where it led, not only its status.
    if r.status().is_redirection()
        && let Some(to) = r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
    {
        return Failure::Redirect(format!(
            "HTTP {} redirect to {}, which is not followed (only http and https redirects are)",
            r.status().as_u16(),
            to.chars().take(200).collect::<String>()
        ));
    }
    let retry_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
    Failure::Status {
        code: r.status().as_u16(),
        retry_after,
    }
}
