//! A hostile HTTP/1.1 server and a small forward proxy, both on 127.0.0.1, started by the tests.
//!
//! The server serves a directory with `ETag`, `Range`/`If-Range` and `If-None-Match` support,
//! counts requests and body bytes, and misbehaves on purpose: per path, a script of behaviours
//! is consumed one per request (then the default applies).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Serve the file, honouring `Range`, `If-Range` and `If-None-Match`.
    Normal,
    Status(u16),
    /// A status with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// Announce the full length, send this many bytes, close.
    Truncate(usize),
    /// Send this many bytes, then reset the connection (RST).
    Reset(usize),
    /// Send this many bytes, then go silent for the duration, then close.
    Stall(usize, Duration),
    /// Ignore `Range`: always `200` with the whole file.
    IgnoreRange,
    /// Answer a ranged request with a `206` whose `Content-Range` starts one byte late.
    WrongContentRange,
    /// `200` without a length, and bytes forever (until the client goes away).
    Endless,
    /// `302` to this URL.
    Redirect(String),
    /// `302` to the same URL, forever.
    RedirectLoop,
    /// The file's bytes as they are, labelled `Content-Encoding: gzip`.
    GzipLabel,
    /// The file gzip-compressed on the fly, labelled `Content-Encoding: gzip`.
    GzipEncoded,
    /// The file's length announced, then one byte per interval (data always flowing).
    Trickle(Duration),
}

#[derive(Default)]
struct State {
    default: Option<Behaviour>,
    scripts: HashMap<String, VecDeque<Behaviour>>,
    per_path: HashMap<String, usize>,
    /// Every request: (path, Range header).
    log: Vec<(String, Option<String>)>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 serving a directory.
pub struct Server {
    pub base: String,
    pub requests: Arc<AtomicUsize>,
    /// Body bytes sent, all requests together.
    pub bytes_sent: Arc<AtomicU64>,
    etag_epoch: Arc<AtomicU64>,
    state: Arc<Mutex<State>>,
}

struct Shared {
    root: PathBuf,
    base: String,
    requests: Arc<AtomicUsize>,
    bytes_sent: Arc<AtomicU64>,
    etag_epoch: Arc<AtomicU64>,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            root: root.to_owned(),
            base: base.clone(),
            requests: Arc::default(),
            bytes_sent: Arc::default(),
            etag_epoch: Arc::default(),
            state: Arc::default(),
        });
        let server = Self {
            base,
            requests: shared.requests.clone(),
            bytes_sent: shared.bytes_sent.clone(),
            etag_epoch: shared.etag_epoch.clone(),
            state: shared.state.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        server
    }

    /// The behaviour of every request without a script.
    pub fn set(&self, b: Behaviour) {
        self.state.lock().unwrap().default = Some(b);
    }

    /// Behaviours for the next requests of `file`, one each, in order.
    pub fn script(&self, file: &str, behaviours: Vec<Behaviour>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(file.to_owned(), behaviours.into());
    }

    /// Changes every file's `ETag` (as if it had been replaced).
    pub fn bump_etag(&self) {
        self.etag_epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub fn url(&self, file: &str) -> String {
        format!("{}/{file}", self.base)
    }

    pub fn requests_for(&self, file: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .per_path
            .get(file)
            .copied()
            .unwrap_or(0)
    }

    /// The `Range` headers of the requests for `file`, in order.
    pub fn ranges_for(&self, file: &str) -> Vec<Option<String>> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(p, _)| p == file)
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub fn sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::SeqCst)
    }
}

/// A request's line and the headers the server cares about.
struct Request {
    path: String,
    range: Option<String>,
    if_range: Option<String>,
    if_none_match: Option<String>,
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Request> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Decoded, as a static file server does (`%2B` is `+` on disk).
    let raw = line.split_whitespace().nth(1).unwrap_or("/");
    let mut req = Request {
        path: percent_encoding::percent_decode_str(raw.trim_start_matches('/'))
            .decode_utf8_lossy()
            .into_owned(),
        range: None,
        if_range: None,
        if_none_match: None,
    };
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let value = Some(value.trim().to_owned());
            match name.trim().to_ascii_lowercase().as_str() {
                "range" => req.range = value,
                "if-range" => req.if_range = value,
                "if-none-match" => req.if_none_match = value,
                _ => {}
            }
        }
    }
    Ok(req)
}

fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let req = read_request(&mut reader)?;
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let behaviour = {
        let mut st = shared.state.lock().unwrap();
        *st.per_path.entry(req.path.clone()).or_default() += 1;
        st.log.push((req.path.clone(), req.range.clone()));
        let scripted = st.scripts.get_mut(&req.path).and_then(VecDeque::pop_front);
        scripted
            .or_else(|| st.default.clone())
            .unwrap_or(Behaviour::Normal)
    };
    let body = std::fs::read(shared.root.join(&req.path));
    let etag = format!(
        "\"{}-{}\"",
        body.as_ref().map_or(0, Vec::len),
        shared.etag_epoch.load(Ordering::SeqCst)
    );
    let head = |stream: &mut TcpStream, status: &str, extra: &str| {
        write!(
            stream,
            "HTTP/1.1 {status}\r\n{extra}Connection: close\r\n\r\n"
        )
    };
    let send = |stream: &mut TcpStream, bytes: &[u8]| -> std::io::Result<()> {
        stream.write_all(bytes)?;
        shared
            .bytes_sent
            .fetch_add(bytes.len() as u64, Ordering::SeqCst);
        Ok(())
    };
    match &behaviour {
        Behaviour::Status(code) => {
            return head(
                &mut stream,
                &format!("{code} Nope"),
                "Content-Length: 0\r\n",
            );
        }
        Behaviour::RetryAfter(code, secs) => {
            return head(
                &mut stream,
                &format!("{code} Busy"),
                &format!("Retry-After: {secs}\r\nContent-Length: 0\r\n"),
            );
        }
        Behaviour::Redirect(to) => {
            return head(
                &mut stream,
                "302 Found",
                &format!("Location: {to}\r\nContent-Length: 0\r\n"),
            );
        }
        Behaviour::RedirectLoop => {
            let to = format!("{}/{}", shared.base, req.path);
            return head(
                &mut stream,
                "302 Found",
                &format!("Location: {to}\r\nContent-Length: 0\r\n"),
            );
        }
        Behaviour::Endless => {
            head(&mut stream, "200 OK", "")?;
            let chunk = vec![0x5a_u8; 64 << 10];
            while send(&mut stream, &chunk).is_ok() {}
            return Ok(());
        }
        _ => {}
    }
    let Ok(body) = body else {
        return head(&mut stream, "404 Not Found", "Content-Length: 0\r\n");
    };
    if req.if_none_match.as_deref() == Some(etag.as_str()) && behaviour == Behaviour::Normal {
        return head(
            &mut stream,
            "304 Not Modified",
            &format!("ETag: {etag}\r\n"),
        );
    }
    let range_start = req
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok());
    let if_range_ok = req.if_range.as_deref().is_none_or(|v| v == etag);
    let ranged = match (&behaviour, range_start) {
        (Behaviour::IgnoreRange | Behaviour::GzipEncoded, _) | (_, None) => None,
        (_, Some(_)) if !if_range_ok => None,
        (_, Some(start)) => Some(start),
    };
    if let Some(start) = ranged
        && start >= body.len()
    {
        return head(
            &mut stream,
            "416 Range Not Satisfiable",
            &format!(
                "Content-Range: bytes */{}\r\nContent-Length: 0\r\n",
                body.len()
            ),
        );
    }
    let (status, slice, mut extra) = match ranged {
        Some(start) => {
            let shown = if behaviour == Behaviour::WrongContentRange {
                start + 1
            } else {
                start
            };
            (
                "206 Partial Content",
                &body[start..],
                format!(
                    "Content-Range: bytes {shown}-{}/{}\r\n",
                    body.len() - 1,
                    body.len()
                ),
            )
        }
        None => ("200 OK", &body[..], String::new()),
    };
    let encoded;
    let slice = if behaviour == Behaviour::GzipEncoded {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(slice)?;
        encoded = e.finish()?;
        &encoded[..]
    } else {
        slice
    };
    if matches!(behaviour, Behaviour::GzipLabel | Behaviour::GzipEncoded) {
        extra.push_str("Content-Encoding: gzip\r\n");
    }
    let _ = write!(
        extra,
        "ETag: {etag}\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\n",
        slice.len()
    );
    head(&mut stream, status, &extra)?;
    match behaviour {
        Behaviour::Truncate(n) => send(&mut stream, &slice[..n.min(slice.len())])?,
        Behaviour::Reset(n) => {
            send(&mut stream, &slice[..n.min(slice.len())])?;
            stream.flush()?;
            reset(stream);
            return Ok(());
        }
        Behaviour::Stall(n, pause) => {
            send(&mut stream, &slice[..n.min(slice.len())])?;
            stream.flush()?;
            std::thread::sleep(pause);
        }
        Behaviour::Trickle(every) => {
            for b in slice.chunks(1) {
                send(&mut stream, b)?;
                stream.flush()?;
                std::thread::sleep(every);
            }
        }
        _ => send(&mut stream, slice)?,
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    let _ = reader.read(&mut [0u8; 1]);
    Ok(())
}

/// Closes with a TCP reset instead of an orderly FIN (`SO_LINGER` with a zero timeout).
#[allow(unsafe_code)]
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized `linger` struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// A forward HTTP proxy on 127.0.0.1: takes absolute-form requests, connects to the origin
/// (host names in `names` map to local servers; nothing leaves 127.0.0.1), relays the answer.
pub struct Proxy {
    pub url: String,
    /// The request targets it saw, in order (`http://host:port/path`).
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub fn start(names: HashMap<String, String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let names = Arc::new(names);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (log, names) = (log.clone(), names.clone());
                std::thread::spawn(move || {
                    let _ = relay(client, &log, &names);
                });
            }
        });
        Self { url, seen }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn relay(
    mut client: TcpStream,
    log: &Mutex<Vec<String>>,
    names: &HashMap<String, String>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    log.lock().unwrap().push(target.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if !h.to_ascii_lowercase().starts_with("proxy-") {
            headers.push(h);
        }
    }
    let Some(rest) = target.strip_prefix("http://") else {
        return write!(
            client,
            "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.split(':').next().unwrap_or("");
    let origin = match names.get(host) {
        Some(addr) => addr.clone(),
        None if host == "127.0.0.1" => authority.to_owned(),
        None => {
            return write!(
                client,
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    };
    let mut upstream = TcpStream::connect(origin)?;
    write!(
        upstream,
        "{method} {} HTTP/1.1\r\n",
        if path.is_empty() { "/" } else { path }
    )?;
    for h in headers {
        upstream.write_all(h.as_bytes())?;
    }
    upstream.write_all(b"\r\n")?;
    std::io::copy(&mut upstream, &mut client)?;
    let _ = client.shutdown(Shutdown::Write);
    Ok(())
}

/// A TLS front for a [`Server`]: `https://127.0.0.1:PORT/…` with a certificate from a CA made
/// here (its PEM in `ca_pem`, for `SSL_CERT_FILE`), relaying each request to the plain server.
pub struct TlsFront {
    pub base: String,
    pub ca_pem: PathBuf,
}

impl TlsFront {
    pub fn start(backend: &Server, dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pyswap test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_pem = dir.join("test-ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![leaf.der().clone()],
                    rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
                )
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let origin = backend.base.trim_start_matches("http://").to_owned();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (config, origin) = (config.clone(), origin.clone());
                std::thread::spawn(move || {
                    let _ = terminate(tcp, config, &origin);
                });
            }
        });
        Self { base, ca_pem }
    }

    pub fn url(&self, file: &str) -> String {
        format!("{}/{file}", self.base)
    }
}

fn terminate(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    origin: &str,
) -> std::io::Result<()> {
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tls.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let mut upstream = TcpStream::connect(origin)?;
    upstream.write_all(&head)?;
    std::io::copy(&mut upstream, &mut tls)?;
    tls.conn.send_close_notify();
    tls.flush()
}
