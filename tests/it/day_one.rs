//! Issue 17: what a uv user expects on day one (pin, request spellings, builds shown, retries
//! that speak, ways out when the network is gone, small surprises).

use crate::common::{Behaviour, Compression, Fake, Server, TestContext, big_archive, with_current};

// Issue 17.
#[test]
fn pin_writes_and_shows_python_version_and_switch_reads_it() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let project = t.dir.path().join("project");
    let sub = project.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    // Nothing pinned anywhere: a clear error with the way forward.
    let r = t.run_in(&sub, &["pin"]).fails(1, "no .python-version");
    assert!(r.stderr.contains("pyswap pin 3.12"), "{}", r.stderr);
    // --global: the home's own pin, used where no directory has one.
    let r = t.run_in(&sub, &["pin", "--global", "cpython@3.11"]).ok();
    assert!(r.stderr.contains("pinned `cpython@3.11`"), "{}", r.stderr);
    let shown = t.run_in(&sub, &["pin", "--json"]).ok().json();
    assert_eq!(
        (shown["request"].as_str(), shown["global"].as_bool()),
        (Some("cpython@3.11"), Some(true))
    );
    t.run_in(&sub, &["switch"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    // A project pin wins over the global one, from a subdirectory too.
    t.run_in(&project, &["pin", "3.12"]).ok();
    assert_eq!(
        std::fs::read_to_string(project.join(".python-version")).unwrap(),
        "3.12\n"
    );
    let r = t.run_in(&sub, &["pin"]).ok();
    assert!(
        r.stdout.starts_with("3.12 (from ") && r.stdout.contains("project/.python-version"),
        "{}",
        r.stdout
    );
    let r = t.run_in(&sub, &["switch"]).ok();
    assert!(r.stderr.contains("using `3.12` from"), "{}", r.stderr);
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    // A bad request is not written, and blames the request, not a file it never read (issue 27).
    let r = t
        .run_in(&project, &["pin", "3.x"])
        .fails(1, "error: invalid version request `3.x`");
    assert!(!r.stderr.contains(".python-version"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(project.join(".python-version")).unwrap(),
        "3.12\n"
    );
    // Issue 37 (item 12): a pin nothing can satisfy is written, with a warning saying so; one
    // the catalogue offers is not warned about.
    let r = t.run_in(&project, &["pin", "3.13"]).ok();
    assert!(
        r.stderr
            .contains("warning: nothing installed or in the catalogue fits `3.13`"),
        "{}",
        r.stderr
    );
    let r = t.run_in(&project, &["pin", "3.11"]).ok();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

// Issue 17.
#[test]
fn uv_spellings_work_on_the_command_line_and_list_filters() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "cpython@3.11"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    t.run(&["switch", "cpython-3.12"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    t.run(&["install", "cpython3.11"]).ok();
    // The interpreter's own name is a request too (issue 27).
    let doc = t.run(&["switch", "python3.12", "--json"]).ok().json();
    assert_eq!(
        (doc["version"].as_str(), doc["changed"].as_bool()),
        (Some("3.12.3"), Some(false))
    );
    t.run(&["switch", "pypy@3.10"]).fails(1, "CPython only");
    // A platform the catalogue has no build for is an error, not an empty table (issue 27).
    t.run(&["list", "--available", "--platform", "macos-aarch64-none"])
        .fails(
            1,
            "the catalogue has no build for platform macos-aarch64-none",
        );
    // `list REQUEST` filters both sides; statuses are marked.
    let r = t.run(&["list", "cpython@3.11"]).ok();
    assert!(
        r.stdout.contains("cpython-3.11.9") && !r.stdout.contains("cpython-3.12.3"),
        "{}",
        r.stdout
    );
    let avail = t
        .run(&["list", "--available", "3.12", "--json"])
        .ok()
        .json();
    let rows = avail.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["current"].as_bool(), rows[0]["installed"].as_bool()),
        (Some(true), Some(true))
    );
}

// Issue 17.
#[test]
fn two_builds_of_one_version_are_told_apart() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11"]).ok();
    // The next release of python-build-standalone rebuilds the same version.
    let tar = crate::common::synthetic_tar("3.11.9", Fake::Good, |b| {
        crate::common::append_file(b, "python/NEWS", b"rebuilt", 0o644);
    });
    let data = crate::common::compress(&tar, Compression::Gz);
    t.add_archive("3.11.9", &data, Compression::Gz);
    t.set_field("3.11.9", "build", "20260301".into());
    let r = t.run(&["upgrade"]).ok();
    assert!(
        r.stderr
            .contains("CPython 3.11.9+20260101 -> 3.11.9+20260301"),
        "{}",
        r.stderr
    );
    let gens = t.run(&["generations"]).ok();
    assert!(
        gens.stdout.contains("3.11.9+20260101") && gens.stdout.contains("3.11.9+20260301"),
        "{}",
        gens.stdout
    );
    let doc = t.run(&["current", "--json"]).ok().json();
    assert_eq!(doc["build"], "20260301");
}

// Issue 17.
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

// Issue 17.
#[test]
fn small_surprises_of_the_first_day() {
    let t = with_current();
    // A relative home would follow the working directory: refused.
    let r = t
        .run_env(&["generations"], &[("PYSWAP_HOME", "relative/home")])
        .fails(1, "PYSWAP_HOME: `relative/home` is a relative path");
    assert!(r.stderr.contains("use an absolute one"), "{}", r.stderr);
    // config show: a long value does not pad every other line; sizes read as sizes.
    std::fs::write(
        t.home.join("config.toml"),
        "[[validation.checks]]\nname = \"a-long-check-name-that-makes-a-long-line\"\nrun = [\"{python}\", \"-c\", \"import sys, os, json, decimal, sqlite3\"]\n",
    )
    .unwrap();
    let r = t.run(&["config", "show"]).ok();
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("network.cache_max"))
        .unwrap();
    assert!(line.starts_with("network.cache_max = \"2GiB\""), "{line}");
    assert!(line.len() < 80, "padded to the long line: {line:?}");
}
