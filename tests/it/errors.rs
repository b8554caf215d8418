//! Bad input: each case asserts the one-line error, the exit code, and that nothing was lost.

use crate::common::{
    Behaviour, Compression, Fake, Server, TestContext, nothing_lost, synthetic_archive,
    with_current,
};

#[test]
fn wrong_hash_is_refused_and_nothing_kept() {
    let mut t = with_current();
    let data = synthetic_archive("3.12.3", Fake::Good, Compression::Gz);
    let wrong = "0".repeat(64);
    t.add_archive_with_sha("3.12.3", &data, Compression::Gz, &wrong);
    let actual = crate::common::sha256_hex(&data);
    let r = t
        .run(&["switch", "3.12.3"])
        .fails(1, "sha256 mismatch for file://");
    assert!(
        r.stderr
            .contains(&format!("expected {wrong}, got {actual}")),
        "{}",
        r.stderr
    );
    nothing_lost(&t);
}

#[test]
fn truncated_archives_are_refused() {
    let mut t = with_current();
    let server = Server::start(&t.served);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.set_url(
        "3.12.3",
        &server.url("cpython-3.12.3-x86_64-unknown-linux-gnu-install_only.tar.gz"),
    );
    server.set(Behaviour::Truncate(100));
    let r = t
        .run(&["switch", "3.12.3"])
        .fails(1, "4 tries failed: 1-4) connection lost after 100 bytes");
    assert!(
        r.stderr.contains(&server.url("cpython-3.12.3")),
        "{}",
        r.stderr
    );
    nothing_lost(&t);
    // A truncated file whose digest the catalogue vouches for: the archive itself is corrupt.
    let data = synthetic_archive("3.12.4", Fake::Good, Compression::Zst);
    t.add_archive("3.12.4", &data[..data.len() / 2], Compression::Zst);
    t.run(&["switch", "3.12.4"]).fails(1, "corrupt archive");
    nothing_lost(&t);
}

#[test]
fn http_errors_and_refused_urls() {
    let mut t = with_current();
    let server = Server::start(&t.served);
    t.add_entry("3.12.3", &server.url("missing.tar.gz"), &"a".repeat(64));
    t.run(&["switch", "3.12.3"]).fails(1, "HTTP 404");
    server.set(Behaviour::Status(503));
    t.set_url(
        "3.12.3",
        &server.url("cpython-3.11.9-x86_64-unknown-linux-gnu-install_only.tar.gz"),
    );
    t.run(&["switch", "3.12.3"]).fails(1, "HTTP 503");
    t.set_url("3.12.3", "http://example.invalid/a.tar.gz");
    t.run(&["switch", "3.12.3"])
        .fails(1, "plain http is only allowed to loopback and insecure hosts, and `example.invalid` is neither");
    nothing_lost(&t);
}

#[test]
fn corrupt_catalogues() {
    let t = with_current();
    std::fs::write(t.catalogue_path(), b"<html>not json</html>").unwrap();
    t.run(&["switch", "3.12"]).fails(1, "is not a catalogue");
    std::fs::write(
        t.catalogue_path(),
        br#"{"cpython-3.12.3-linux-x86_64-gnu": {"name": "cpython"}}"#,
    )
    .unwrap();
    t.run(&["switch", "3.12"]).fails(1, "none of them is valid");
    t.run_env(
        &["switch", "3.12"],
        &[("PYSWAP_CATALOGUE", "/nonexistent/catalogue.json")],
    )
    .fails(1, "cannot read catalogue /nonexistent/catalogue.json");
    nothing_lost(&t);
    // Issue 37, item 6: with nothing installed, `list` says the catalogue could not be read,
    // not that it "offers nothing for this platform".
    let fresh = TestContext::new();
    let r = fresh
        .run_env(
            &["list"],
            &[("PYSWAP_CATALOGUE", "/nonexistent/catalogue.json")],
        )
        .fails(1, "cannot read catalogue /nonexistent/catalogue.json");
    assert!(!r.stdout.contains("offers nothing"), "{}", r.stdout);
}

#[test]
fn bad_entries_warn_and_are_skipped() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.entries
        .get_mut("cpython-3.12.3-linux-x86_64-gnu")
        .unwrap()["sha256"] = "xyz".into();
    t.write_catalogue();
    let r = t.run(&["switch", "3.12"]);
    assert!(
        r.stderr.contains("warning: catalogue")
            && r.stderr.contains(
                "skipped entry `cpython-3.12.3-linux-x86_64-gnu`: sha256 `xyz` is not 64 hex digits"
            ),
        "{}",
        r.stderr
    );
    r.fails(1, "no CPython build in the catalogue matches `3.12`");
    nothing_lost(&t);
}

#[test]
fn unknown_versions_name_the_nearest() {
    let t = with_current();
    let r = t
        .run(&["switch", "3.11.99"])
        .fails(1, "matches `3.11.99` for linux-x86_64-gnu; nearest: 3.11.9");
    assert!(r.stderr.contains("help: `pyswap list --available`"));
    t.run(&["switch", "3.x"])
        .fails(1, "invalid version request `3.x`");
    nothing_lost(&t);
}

#[test]
fn validation_failure_leaves_everything_as_it_was() {
    let mut t = with_current();
    t.add("3.12.3", Fake::BrokenSsl, Compression::Gz);
    let r = t.run(&["switch", "3.12.3"]).fails(1, "validation of");
    assert!(
        r.stderr
            .contains("libssl.so.3: cannot open shared object file"),
        "the diagnostic's output is shown: {}",
        r.stderr
    );
    assert!(r.stderr.contains("help: the new runtime was not activated"));
    nothing_lost(&t);
}

#[test]
fn read_only_commands_on_an_empty_home() {
    let t = TestContext::new();
    assert_eq!(t.run(&["generations", "--json"]).ok().stdout.trim(), "[]");
    t.run(&["current"]).fails(1, "has no generation yet");
    // Issue 37: a command that changes the profile creates no home; it names the one missing.
    t.run(&["rollback"]).fails(1, "no pyswap home at");
    assert!(!t.home.exists());
    assert!(
        !t.run(&["list", "--available", "--json", "--catalogue", ""])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty(),
        "the embedded catalogue works offline"
    );
}
