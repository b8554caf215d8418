//! Downloads against a hostile server and a forward proxy on 127.0.0.1: resume, retries,
//! timeouts, caps, redirects, host policy, proxies, mirrors, the download and catalogue caches,
//! offline mode and `install`. Every failing case asserts the error and that the store,
//! database and current generation are unchanged.

use std::process::Stdio;

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{
    Behaviour, Compression, Fake, Server, TestContext, big_archive, nothing_lost, sha256_hex,
    synthetic_archive, with_current,
};
use crate::server::Proxy;

const CUT: usize = 200_000;

/// A context at 3.11.9 (file://) plus a served 3.12.3 of ~512 KiB.
fn served() -> (TestContext, Server, String, Vec<u8>) {
    let mut t = with_current();
    let server = Server::start(&t.served);
    let data = big_archive("3.12.3", Compression::Gz);
    let file = t.serve(&server, "3.12.3", &data, Compression::Gz);
    (t, server, file, data)
}

/// A first try cut after `CUT` bytes with no retries: leaves a partial of `CUT` bytes.
fn cut_once(t: &TestContext, server: &Server, file: &str, data: &[u8]) {
    server.script(file, vec![Behaviour::Truncate(CUT)]);
    t.run_env(&["switch", "3.12.3"], &[("PYSWAP_HTTP_RETRIES", "0")])
        .fails(1, &format!("connection lost after {CUT} bytes"));
    nothing_lost(t);
    let partial =
        std::fs::metadata(t.partial(data)).expect("an interrupted download leaves a .partial");
    assert_eq!(partial.len(), CUT as u64);
}

#[test]
fn an_interrupted_download_resumes_with_only_the_missing_bytes() {
    let (t, server, file, data) = served();
    cut_once(&t, &server, &file, &data);
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    assert_eq!(
        server.ranges_for(&file),
        vec![None, Some(format!("bytes={CUT}-"))]
    );
    assert_eq!(server.sent(), data.len() as u64, "no byte sent twice");
    assert!(
        !t.partial(&data).exists(),
        "the partial became the cached archive"
    );
    assert!(t.home.join("cache").join(sha256_hex(&data)).is_file());
    t.assert_consistent();
}

#[test]
fn resets_and_stalls_mid_body_are_retried_and_resumed_in_one_command() {
    let (t, server, file, _) = served();
    server.script(
        &file,
        vec![
            Behaviour::Reset(150_000),
            Behaviour::Stall(100_000, Duration::from_secs(4)),
            Behaviour::Normal,
        ],
    );
    t.run_env(&["switch", "3.12.3"], &[("PYSWAP_HTTP_TIMEOUT", "1")])
        .ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    let ranges = server.ranges_for(&file);
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert_eq!(ranges[0], None);
    // A reset can discard bytes the client had not read yet (all of them on a loaded machine),
    // so the first resume point is at most what was sent; the stall's bytes always arrive.
    let resumed_at = |r: &Option<String>| -> usize {
        r.as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(resumed_at(&ranges[1]) <= 150_000);
    assert!(resumed_at(&ranges[2]) > resumed_at(&ranges[1]));
    t.assert_consistent();
}

#[test]
fn a_killed_download_leaves_a_partial_that_the_next_run_resumes() {
    let (t, server, file, data) = served();
    server.script(&file, vec![Behaviour::Stall(CUT, Duration::from_secs(30))]);
    let mut child = t.cmd().args(["switch", "3.12.3"]).spawn().unwrap();
    let partial = t.partial(&data);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < CUT as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    t.assert_consistent();
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(
        server.ranges_for(&file),
        vec![None, Some(format!("bytes={CUT}-"))]
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    // The killed run's staging directory is garbage that the next gc sweeps.
    t.run(&["gc"]).ok();
    assert!(
        t.store_names().iter().all(|n| !n.starts_with('.')),
        "{:?}",
        t.store_names()
    );
}

#[test]
fn a_server_that_ignores_range_or_changes_the_file_makes_it_start_over() {
    let (t, server, file, data) = served();
    cut_once(&t, &server, &file, &data);
    server.script(&file, vec![Behaviour::IgnoreRange]);
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(
        server.sent(),
        (CUT + data.len()) as u64,
        "a 200 starts over"
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));

    // ETag changes between tries: If-Range no longer matches and the server sends it all.
    let (t, server, file, data) = served();
    cut_once(&t, &server, &file, &data);
    server.bump_etag();
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(server.ranges_for(&file)[1], Some(format!("bytes={CUT}-")));
    assert_eq!(server.sent(), (CUT + data.len()) as u64);
    t.assert_consistent();
}

#[test]
fn a_wrong_content_range_drops_the_partial() {
    let (t, server, file, data) = served();
    cut_once(&t, &server, &file, &data);
    server.script(&file, vec![Behaviour::WrongContentRange]);
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(
        server.ranges_for(&file),
        vec![None, Some(format!("bytes={CUT}-")), None],
        "the bad 206 is refused and the file asked for from the start"
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    t.assert_consistent();
}

#[test]
fn a_416_drops_the_partial() {
    // A partial as long as the file (killed after the last byte, before verifying): the ranged
    // request is answered 416, and pyswap starts over.
    let (t, server, file, data) = served();
    std::fs::create_dir_all(t.home.join("cache")).unwrap();
    std::fs::write(t.partial(&data), &data).unwrap();
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(
        server.ranges_for(&file),
        vec![Some(format!("bytes={}-", data.len())), None]
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
}

#[test]
fn the_overall_download_timeout_ends_the_retries() {
    let (t, server, file, _) = served();
    server.set(Behaviour::Stall(1000, Duration::from_secs(2)));
    t.run_env(
        &["switch", "3.12.3"],
        &[
            ("PYSWAP_DOWNLOAD_TIMEOUT", "1"),
            ("PYSWAP_HTTP_TIMEOUT", "10"),
        ],
    )
    .fails(1, "timed out: overall timeout of 1 s reached");
    assert_eq!(server.requests_for(&file), 1);
    nothing_lost(&t);
}

#[test]
fn a_partial_that_does_not_verify_is_dropped_and_fetched_again() {
    let (t, server, file, data) = served();
    cut_once(&t, &server, &file, &data);
    // Someone scribbled on the partial: the resumed whole does not verify, so pyswap starts over.
    std::fs::write(t.partial(&data), vec![0u8; CUT]).unwrap();
    let r = t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(
        t.profile_version().as_deref(),
        Some("3.12.3"),
        "{}",
        r.stderr
    );
    assert_eq!(
        server.ranges_for(&file),
        vec![None, Some(format!("bytes={CUT}-")), None]
    );
}

#[test]
fn transient_failures_are_retried_and_the_last_error_lists_each_try() {
    let (t, server, file, _) = served();
    server.set(Behaviour::Status(503));
    t.run(&["switch", "3.12.3"])
        .fails(1, "4 tries failed: 1-4) HTTP 503");
    assert_eq!(server.requests_for(&file), 4);
    nothing_lost(&t);

    let (t, server, file, _) = served();
    server.script(
        &file,
        vec![
            Behaviour::Status(500),
            Behaviour::RetryAfter(429, 1),
            Behaviour::Normal,
        ],
    );
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(server.requests_for(&file), 3);

    // A Retry-After longer than pyswap waits ends the retries at once.
    let (t, server, file, _) = served();
    server.script(&file, vec![Behaviour::RetryAfter(503, 3600)]);
    t.run(&["switch", "3.12.3"])
        .fails(1, "HTTP 503 (retry after 3600 s)");
    assert_eq!(server.requests_for(&file), 1);
    nothing_lost(&t);

    let (t, server, file, _) = served();
    server.set(Behaviour::Stall(1000, Duration::from_secs(5)));
    t.run_env(
        &["switch", "3.12.3"],
        &[("PYSWAP_HTTP_TIMEOUT", "1"), ("PYSWAP_HTTP_RETRIES", "1")],
    )
    .fails(1, "2 tries failed: 1-2) timed out");
    assert_eq!(server.requests_for(&file), 2);
    nothing_lost(&t);
}

#[test]
fn client_errors_and_digest_mismatches_are_never_retried() {
    let (mut t, server, _, data) = served();
    t.set_url("3.12.3", &server.url("nowhere.tar.gz"));
    t.run(&["switch", "3.12.3"]).fails(1, "HTTP 404");
    assert_eq!(server.requests_for("nowhere.tar.gz"), 1);
    nothing_lost(&t);

    let (mut t, server, file, _) = served();
    t.set_field("3.12.3", "sha256", "0".repeat(64).into());
    t.run(&["switch", "3.12.3"]).fails(1, "sha256 mismatch");
    assert_eq!(server.requests_for(&file), 1);
    assert!(!t.partial(&data).exists() && t.store_names().len() == 1);
    nothing_lost(&t);
}

#[test]
fn bodies_are_capped_and_never_decompressed() {
    let (mut t, server, file, data) = served();
    t.set_field("3.12.3", "size", data.len().into());
    server.set(Behaviour::Endless);
    t.run(&["switch", "3.12.3"])
        .fails(1, &format!("is larger than {} bytes", data.len()));
    assert_eq!(server.requests_for(&file), 1, "a cap is not retried");
    assert!(!t.partial(&data).exists());
    nothing_lost(&t);

    // Labelled gzip but served as the file is: the bytes verify as they are.
    let (t, server, _, _) = served();
    server.set(Behaviour::GzipLabel);
    t.run(&["switch", "3.12.3"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));

    // Really gzip-encoded: pyswap does not undo it, so the digest does not match.
    let (t, server, _, _) = served();
    server.set(Behaviour::GzipEncoded);
    t.run(&["switch", "3.12.3"]).fails(1, "sha256 mismatch");
    nothing_lost(&t);

    // A remote catalogue that never ends is refused at the catalogue cap.
    let (t, server, _, _) = served();
    server.script("catalogue.json", vec![Behaviour::Endless]);
    t.run_env(
        &["switch", "3.12.3"],
        &[("PYSWAP_CATALOGUE", &server.url("catalogue.json"))],
    )
    .fails(1, "is larger than 67108864 bytes");
    nothing_lost(&t);
}

#[test]
fn redirects_and_the_host_policy() {
    let (t, server, file, _) = served();
    server.set(Behaviour::RedirectLoop);
    t.run(&["switch", "3.12.3"])
        .fails(1, "more than 10 redirects");
    assert_eq!(server.requests_for(&file), 11);
    nothing_lost(&t);

    // To plain http on a host that is not loopback: refused before connecting.
    let (t, server, file, _) = served();
    server.script(
        &file,
        vec![Behaviour::Redirect(
            "http://mirror.example.test/x.tar.gz".into(),
        )],
    );
    t.run(&["switch", "3.12.3"]).fails(
        1,
        "redirect to http://mirror.example.test/x.tar.gz refused: plain http",
    );
    nothing_lost(&t);

    // To a host outside the allowed list (localhost is the same machine, but not allowed).
    let (t, server, file, _) = served();
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    server.script(
        &file,
        vec![Behaviour::Redirect(format!(
            "http://localhost:{port}/{file}"
        ))],
    );
    t.run_env(
        &["switch", "3.12.3"],
        &[("PYSWAP_ALLOWED_HOSTS", "127.0.0.1")],
    )
    .fails(
        1,
        "host `localhost` is not in the allowed hosts (127.0.0.1)",
    );
    nothing_lost(&t);

    // The first request is checked too: nothing is sent to a host that is not allowed.
    let (t, server, _, _) = served();
    t.run_env(
        &["switch", "3.12.3"],
        &[("PYSWAP_ALLOWED_HOSTS", "mirror.corp,*.corp")],
    )
    .fails(
        1,
        "host `127.0.0.1` is not in the allowed hosts (mirror.corp, *.corp)",
    );
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    nothing_lost(&t);

    // A redirect to an allowed place is followed.
    let (mut t, server, file, data) = served();
    let moved = "moved.tar.gz";
    std::fs::write(t.served.join(moved), &data).unwrap();
    t.set_url("3.12.3", &server.url(moved));
    server.script(moved, vec![Behaviour::Redirect(server.url(&file))]);
    t.run_env(
        &["switch", "3.12.3"],
        &[("PYSWAP_ALLOWED_HOSTS", "127.0.0.1")],
    )
    .ok();
}

#[test]
fn proxy_settings_and_no_proxy_are_obeyed() {
    // Catalogue and archive on a host name only the proxy knows; plain http allowed to it.
    let setup = || {
        let mut t = with_current();
        let server = Server::start(&t.served);
        let data = synthetic_archive("3.12.3", Fake::Good, Compression::Gz);
        let file = t.serve(&server, "3.12.3", &data, Compression::Gz);
        t.set_url("3.12.3", &format!("http://mirror.corp/{file}"));
        let addr = server.base.trim_start_matches("http://").to_owned();
        let proxy = Proxy::start(HashMap::from([("mirror.corp".to_owned(), addr)]));
        (t, server, proxy, file)
    };
    for var in ["http_proxy", "HTTP_PROXY", "ALL_PROXY"] {
        let (t, server, proxy, file) = setup();
        t.run_env(
            &["switch", "3.12.3"],
            &[
                (var, proxy.url.as_str()),
                ("PYSWAP_CATALOGUE", "http://mirror.corp/catalogue.json"),
                ("PYSWAP_INSECURE_HOSTS", "mirror.corp"),
            ],
        )
        .ok();
        assert_eq!(
            proxy.seen(),
            vec![
                "http://mirror.corp/catalogue.json".to_owned(),
                format!("http://mirror.corp/{file}")
            ],
            "{var}"
        );
        assert_eq!(server.requests_for(&file), 1);
        assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    }

    // --proxy overrides the environment; --no-proxy ignores it (a dead proxy proves both).
    let (t, _, proxy, _) = setup();
    let dead = "http://127.0.0.1:9";
    t.run_env(
        &["switch", "3.12.3", "--proxy", &proxy.url],
        &[
            ("HTTP_PROXY", dead),
            ("PYSWAP_INSECURE_HOSTS", "mirror.corp"),
        ],
    )
    .ok();
    assert_eq!(proxy.seen().len(), 1);

    let (t, server, proxy, file) = setup();
    let mut t = t;
    t.set_url("3.12.3", &server.url(&file));
    t.run_env(&["switch", "3.12.3", "--no-proxy"], &[("HTTP_PROXY", dead)])
        .ok();
    assert!(proxy.seen().is_empty());

    // NO_PROXY exempts 127.0.0.1: the request goes direct though HTTP_PROXY is set.
    let (mut t, server, proxy, file) = setup();
    t.set_url("3.12.3", &server.url(&file));
    t.run_env(
        &["switch", "3.12.3"],
        &[
            ("HTTP_PROXY", proxy.url.as_str()),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ],
    )
    .ok();
    assert!(proxy.seen().is_empty());
    assert_eq!(server.requests_for(&file), 1);

    // A failing proxy is a network failure like any other.
    let (t, _, _, _) = setup();
    t.run_env(
        &["switch", "3.12.3"],
        &[
            ("HTTP_PROXY", dead),
            ("PYSWAP_INSECURE_HOSTS", "mirror.corp"),
            ("PYSWAP_HTTP_RETRIES", "0"),
        ],
    )
    .fails(1, "cannot fetch http://mirror.corp/");
    nothing_lost(&t);
    let (t, _, _, _) = setup();
    t.run(&["switch", "3.12.3", "--proxy", "socks5://127.0.0.1:1080"])
        .fails(1, "SOCKS is not supported");
}

#[test]
fn a_mirror_directory_serves_a_fleet() {
    // Upstream: the test server with two builds.
    let mut up = TestContext::new();
    let upstream = Server::start(&up.served);
    for v in ["3.11.9", "3.12.3"] {
        let data = synthetic_archive(v, Fake::Good, Compression::Gz);
        up.serve(&upstream, v, &data, Compression::Gz);
    }
    up.set_field("3.12.3", "build", "20260202".into());
    // The mirror, served by a plain static server.
    let dir = up.dir.path().join("www");
    std::fs::create_dir_all(&dir).unwrap();
    let www = Server::start(&dir);
    let catalogue = upstream.url("catalogue.json");
    let mirror = |requests: &[&str]| {
        let mut args = vec!["mirror", dir.to_str().unwrap()];
        args.extend_from_slice(requests);
        args.extend_from_slice(&["--base-url", &www.base, "--json"]);
        up.run_env(&args, &[("PYSWAP_CATALOGUE", &catalogue)])
            .ok()
            .json()
    };
    let r = mirror(&["3.11", "3.12"]);
    assert_eq!(r["entries"].as_array().unwrap().len(), 2);
    assert!(dir.join("20260202").is_dir() && dir.join("download-metadata.json").is_file());
    let fetched = upstream.requests.load(std::sync::atomic::Ordering::SeqCst);
    // Running it again finds verified copies and downloads nothing.
    let again = mirror(&["3.12"]);
    assert_eq!(again["entries"][0]["downloaded"], false);
    assert_eq!(
        upstream.requests.load(std::sync::atomic::Ordering::SeqCst),
        fetched
    );

    // A host of the fleet points --catalogue at the mirror and never sees upstream.
    let host = TestContext::new();
    let cat = www.url("download-metadata.json");
    host.run_env(&["switch", "3.12"], &[("PYSWAP_CATALOGUE", &cat)])
        .ok();
    assert_eq!(host.profile_version().as_deref(), Some("3.12.3"));
    assert_eq!(
        upstream.requests.load(std::sync::atomic::Ordering::SeqCst),
        fetched
    );
    let listed = host
        .run_env(
            &["list", "--available", "--json"],
            &[("PYSWAP_CATALOGUE", &cat)],
        )
        .ok()
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // The mirror's catalogue carries sizes, so bodies are capped exactly.
    let text = std::fs::read_to_string(dir.join("download-metadata.json")).unwrap();
    assert!(text.contains("\"size\""));
    host.assert_consistent();

    // Issue 37, item 5: what is mirrored is meant to be served: others may read every file.
    for f in crate::common::files_under(&dir) {
        use std::os::unix::fs::MetadataExt;
        let mode = dir.join(&f).metadata().unwrap().mode();
        assert_eq!(mode & 0o044, 0o044, "{f} is {mode:o}");
    }
    // Item 7: another build of 3.12.3 takes the place of the first in the catalogue, said so.
    let newer = synthetic_archive("3.12.3", Fake::Good, Compression::Zst);
    up.serve(&upstream, "3.12.3", &newer, Compression::Zst);
    up.set_field("3.12.3", "build", "20260303".into());
    up.run_env(
        &["catalogue", "update"],
        &[("PYSWAP_CATALOGUE", &catalogue)],
    )
    .ok();
    let mut args = vec!["mirror", dir.to_str().unwrap(), "3.12"];
    args.extend_from_slice(&["--base-url", &www.base]);
    let r = up.run_env(&args, &[("PYSWAP_CATALOGUE", &catalogue)]).ok();
    assert!(
        r.stderr
            .contains("build 20260303 replaces build 20260202 in the mirror's catalogue"),
        "{}",
        r.stderr
    );
    assert!(dir.join("20260202").is_dir(), "the older archive stays");
}

#[test]
fn mirror_flag_rewrites_the_upstream_prefix() {
    let mut t = TestContext::new();
    let server = Server::start(&t.served);
    let data = synthetic_archive("3.12.3", Fake::Good, Compression::Gz);
    t.add_archive("3.12.3", &data, Compression::Gz);
    let name = "cpython-3.12.3%2B20260101-x86_64-unknown-linux-gnu-install_only.tar.gz";
    let upstream = format!(
        "https://github.com/astral-sh/python-build-standalone/releases/download/20260101/{name}"
    );
    t.set_url("3.12.3", &upstream);
    let on_disk = t.served.join("pbs/20260101");
    std::fs::create_dir_all(&on_disk).unwrap();
    std::fs::write(
        on_disk.join("cpython-3.12.3+20260101-x86_64-unknown-linux-gnu-install_only.tar.gz"),
        &data,
    )
    .unwrap();
    // Offline and without a mirror the message names where it would have come from.
    t.run(&["switch", "3.12.3", "--offline"])
        .fails(1, &format!("would come from {upstream}"));
    // A file:// mirror and an http mirror both work.
    let file_mirror = format!("file://{}", t.served.join("pbs").display());
    t.run(&["switch", "3.12.3", "--mirror", &file_mirror]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    let other = TestContext::new();
    std::fs::copy(t.catalogue_path(), other.catalogue_path()).unwrap();
    other
        .run_env(
            &["switch", "3.12.3"],
            &[("PYSWAP_MIRROR", &server.url("pbs"))],
        )
        .ok();
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn offline_uses_the_store_and_the_download_cache_only() {
    let (t, server, file, data) = served();
    let r = t.run(&["switch", "3.12.3"]).ok();
    // Issue 37 (item 11): each line says what really happens to the bytes.
    assert!(
        r.stderr
            .contains("downloading cpython-3.12.3-linux-x86_64-gnu ("),
        "{}",
        r.stderr
    );
    // Back to 3.11.9, then gc drops the 3.12.3 entry; its archive stays in the cache.
    t.run(&["switch", "3.11.9"]).ok();
    t.run(&["minors", "--remove", "3.12"]).ok();
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.store_names().len(), 1);
    let r = t.run(&["switch", "3.12.3", "--offline"]).ok();
    assert_eq!(
        t.profile_version().as_deref(),
        Some("3.12.3"),
        "{}",
        r.stderr
    );
    assert_eq!(
        server.requests_for(&file),
        1,
        "installed again from the cache"
    );
    let cached = t.home.join("cache").join(sha256_hex(&data));
    assert!(
        r.stderr.contains(&format!(
            "reading cpython-3.12.3-linux-x86_64-gnu from {} (",
            cached.display()
        )) && !r.stderr.contains("downloading"),
        "{}",
        r.stderr
    );

    // A cached archive that no longer verifies is dropped and fetched again.
    t.run(&["switch", "3.11.9"]).ok();
    t.run(&["minors", "--remove", "3.12"]).ok();
    t.run(&["gc", "--keep", "1"]).ok();
    let cached = t.home.join("cache").join(sha256_hex(&data));
    std::fs::write(&cached, b"bit rot").unwrap();
    let r = t.run(&["switch", "3.12.3"]).ok();
    assert!(
        r.stderr
            .contains("no longer matches its sha256; deleted it"),
        "{}",
        r.stderr
    );
    assert_eq!(server.requests_for(&file), 2);
    assert_eq!(std::fs::read(&cached).unwrap(), data);

    // Not in the store nor the cache: offline says what is missing.
    let (t, server, _, _) = served();
    t.run(&["switch", "3.12.3", "--offline"])
        .fails(1, "offline: cpython-3.12.3-linux-x86_64-gnu is neither in the store nor in the download cache");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    nothing_lost(&t);

    // gc bounds the cache.
    let (t, _, _, _) = served();
    t.run(&["switch", "3.12.3"]).ok();
    let gc = t
        .run_env(&["gc", "--json"], &[("PYSWAP_CACHE_MAX", "1KB")])
        .ok()
        .json();
    assert_eq!(gc["cache_files_removed"], 1);
}

#[test]
fn a_remote_catalogue_is_cached_revalidated_and_used_offline() {
    let (t, server, _, _) = served();
    let cat = server.url("catalogue.json");
    let env = [("PYSWAP_CATALOGUE", cat.as_str())];
    let count = || server.requests_for("catalogue.json");
    t.run_env(&["list", "--available"], &env).ok();
    t.run_env(&["list", "--available"], &env).ok();
    assert_eq!(count(), 1, "fresh within the TTL: not asked again");
    let u = t
        .run_env(&["catalogue", "update", "--json"], &env)
        .ok()
        .json();
    assert_eq!(
        (u["status"].as_str(), count()),
        (Some("unchanged"), 2),
        "a 304"
    );

    // A new entry upstream: the next update downloads it.
    let mut t = t;
    let data = synthetic_archive("3.13.1", Fake::Good, Compression::Gz);
    t.serve(&server, "3.13.1", &data, Compression::Gz);
    server.bump_etag();
    let u = t
        .run_env(&["catalogue", "update", "--json"], &env)
        .ok()
        .json();
    // 3.11.9 has a file:// URL, which a remote catalogue may not use: 3.12.3 and 3.13.1.
    assert_eq!(
        (u["status"].as_str(), u["entries"].as_u64()),
        (Some("downloaded"), Some(2))
    );

    // Offline: the cached copy, with its age.
    let r = t.run_env(&["list", "--available", "--offline"], &env).ok();
    assert!(
        r.stderr
            .contains(&format!("using the copy of catalogue {cat} cached "))
            && r.stderr.contains("(offline)"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("3.13.1"));

    // A failing or lying server does not replace the copy.
    server.script("catalogue.json", vec![Behaviour::Status(404)]);
    t.run_env(&["catalogue", "update"], &env)
        .fails(1, "HTTP 404");
    std::fs::write(t.catalogue_path(), b"<html>").unwrap();
    server.bump_etag();
    t.run_env(&["catalogue", "update"], &env)
        .fails(1, "is not a catalogue");
    let r = t.run_env(&["list", "--available", "--offline"], &env).ok();
    assert!(r.stdout.contains("3.13.1"), "the good copy is still there");

    // Never fetched on this host and offline: a clear error.
    let fresh = TestContext::new();
    fresh.run_env(&["switch", "3.12", "--offline"], &env).fails(
        1,
        &format!("offline, and catalogue {cat} has never been fetched on this host"),
    );
}

#[test]
fn install_pre_stages_in_parallel_and_gc_keeps_what_it_staged() {
    let mut t = with_current();
    let server = Server::start(&t.served);
    for v in ["3.12.3", "3.13.1"] {
        let data = big_archive(v, Compression::Zst);
        t.serve(&server, v, &data, Compression::Zst);
    }
    let r = t
        .run(&["install", "3.12", "3.13", "3.12.3", "--json"])
        .ok()
        .json();
    let installed = r["installed"].as_array().unwrap();
    assert_eq!(installed.len(), 2, "3.12 and 3.12.3 are the same build");
    assert!(installed.iter().all(|i| i["source"] == "network"));
    assert_eq!(t.store_names().len(), 3);
    assert_eq!(
        t.profile_version().as_deref(),
        Some("3.11.9"),
        "install does not switch"
    );
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(gens.as_array().unwrap().len(), 1);
    // gc keeps pre-staged runtimes…
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.store_names().len(), 3);
    // …until a switch uses one (it becomes an ordinary entry) or `gc --staged` is asked for.
    t.run(&["switch", "3.13"]).ok();
    let again = t.run(&["install", "3.13", "--json"]).ok().json();
    assert_eq!(again["installed"][0]["source"], "store");
    let gc = t.run(&["gc", "--staged", "--json"]).ok().json();
    // 3.12.3 was only staged; 3.11.9 still has its generation.
    assert_eq!(gc["entries_removed"].as_array().unwrap().len(), 1, "{gc}");
    assert_eq!(t.profile_version().as_deref(), Some("3.13.1"));
    t.assert_consistent();

    // One failure among several: the others are installed, the exit code says it failed.
    let (mut t, server, _, _) = served();
    t.add("3.13.1", Fake::Good, Compression::Gz);
    t.set_url("3.13.1", &server.url("missing.tar.gz"));
    let r = t
        .run(&["install", "3.12", "3.13"])
        .fails(1, "1 of 2 runtimes could not be installed");
    assert!(r.stderr.contains("HTTP 404"), "{}", r.stderr);
    assert_eq!(t.store_names().len(), 2);
    t.assert_consistent();
}

#[test]
fn https_with_a_custom_ca_bundle() {
    let mut t = with_current();
    let server = Server::start(&t.served);
    let data = synthetic_archive("3.12.3", Fake::Good, Compression::Gz);
    let file = t.serve(&server, "3.12.3", &data, Compression::Gz);
    let tls = crate::server::TlsFront::start(&server, t.dir.path());
    t.set_url("3.12.3", &tls.url(&file));
    let ca = tls.ca_pem.to_str().unwrap();
    // Not signed by anything this host trusts: refused, and not retried.
    let other_ca = t.dir.path().join("other-ca.pem");
    let unrelated = crate::server::TlsFront::start(&server, &t.dir.path().join("served"));
    std::fs::rename(&unrelated.ca_pem, &other_ca).unwrap();
    t.run_env(
        &["switch", "3.12.3"],
        &[("SSL_CERT_FILE", other_ca.to_str().unwrap())],
    )
    .fails(1, "invalid peer certificate");
    assert_eq!(server.requests_for(&file), 0);
    nothing_lost(&t);
    // With the CA bundle named by SSL_CERT_FILE: the catalogue and the archive over https.
    t.run_env(
        &["switch", "3.12.3"],
        &[
            ("SSL_CERT_FILE", ca),
            ("PYSWAP_CATALOGUE", &tls.url("catalogue.json")),
        ],
    )
    .ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    assert_eq!(server.requests_for(&file), 1);
}

// Issue 17 (day one): what a uv user expects on day one.
#[test]
fn retries_speak_and_an_unreachable_host_names_the_ways_out() {
    let mut t = with_current();
    let server = Server::start(&t.served);
    let data = big_archive("3.12.3", Compression::Gz);
    t.serve(&server, "3.12.3", &data, Compression::Gz);
    server.set(Behaviour::Status(503));
    let r = t.run(&["switch", "3.12.3"]).fails(1, "4 tries failed");
    let retries: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("retrying in "))
        .collect();
    assert_eq!(retries.len(), 3, "{}", r.stderr);
    // The URL and the failure are said once; the next retries only that they wait (issue 27).
    assert!(
        retries[0].contains("http://127.0.0.1") && retries[0].contains("HTTP 503; retrying in"),
        "{}",
        retries[0]
    );
    assert!(
        retries[1].ends_with("(3/4): the same failure"),
        "{}",
        retries[1]
    );
    assert_eq!(r.stderr.matches("HTTP 503").count(), 2, "{}", r.stderr);
    // Nothing listens on the catalogue's port: the error names the ways forward.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let url = format!("http://127.0.0.1:{port}/download-metadata.json");
    let r = t
        .run_env(
            &["switch", "3.13", "--catalogue", &url],
            &[("PYSWAP_HTTP_RETRIES", "1")],
        )
        .fails(1, "cannot connect");
    assert!(
        !r.stderr.contains("error sending request"),
        "the URL is named once: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("help: the host cannot be reached")
            && r.stderr.contains("in config.toml")
            && r.stderr.contains("--offline"),
        "{}",
        r.stderr
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn a_trickling_catalogue_is_cut_off_and_holds_no_lock_meanwhile() {
    let t = with_current();
    let server = crate::server::Server::start(&t.served);
    server.script(
        "catalogue.json",
        vec![crate::server::Behaviour::Trickle(
            std::time::Duration::from_millis(50),
        )],
    );
    let url = format!("{}/catalogue.json", server.base);
    let started_at = std::time::Instant::now();
    let switch = t
        .cmd()
        .args(["switch", "3.12", "--download-timeout", "3"])
        .env("PYSWAP_CATALOGUE", &url)
        .env("PYSWAP_HTTP_RETRIES", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the catalogue trickles in, gc runs (it is not held off by the switch).
    std::thread::sleep(std::time::Duration::from_millis(800));
    let gc = t.run(&["gc", "--wait", "1", "--json"]).ok().json();
    assert_eq!(
        gc["skipped"], false,
        "gc was held off while a catalogue downloaded: {gc}"
    );
    let out = switch.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("overall timeout of 3 s reached"),
        "{stderr}"
    );
    assert!(!stderr.contains("no data for a while"), "{stderr}");
    assert!(
        started_at.elapsed() < std::time::Duration::from_secs(30),
        "not cut off: {:?}",
        started_at.elapsed()
    );
    crate::common::nothing_lost(&t);
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn a_redirect_to_file_is_named_as_such_and_help_lines_say_what_is_true() {
    let t = with_current();
    let server = crate::server::Server::start(&t.served);
    server.script(
        "catalogue.json",
        vec![crate::server::Behaviour::Redirect(
            "file:///etc/passwd".into(),
        )],
    );
    let url = format!("{}/catalogue.json", server.base);
    let r = t.run_env(
        &["switch", "3.12"],
        &[
            ("PYSWAP_CATALOGUE", url.as_str()),
            ("PYSWAP_HTTP_RETRIES", "0"),
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("HTTP 302 redirect to file:///etc/passwd, which is not followed"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("what was downloaded is kept"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("root:"), "{}", r.stderr);
    crate::common::nothing_lost(&t);
}
