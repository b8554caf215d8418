//! Issue 15: every bad flag, environment value, argument or home path is one error line and
//! exit 1 (with the error document under `--json`); every command prints exactly one JSON
//! document; `install` with several requests installs every one that can be.

use crate::common::{Compression, Fake, TestContext, with_current};
use crate::output::{ErrorDoc, strict};

/// Runs `args` with `env`, expects exit 1 naming `needle` on one line, and under `--json` one
/// error document on stdout.
#[track_caller]
fn usage_error(t: &TestContext, args: &[&str], env: &[(&str, &str)], needle: &str) {
    let r = t.run_env(args, env).fails(1, needle);
    let error_line = r.stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(error_line.contains(needle), "{}", r.stderr);
    if args.contains(&"--json") {
        let doc: ErrorDoc = strict(&r.stdout);
        assert_eq!(doc.error.exit_code, 1, "{}", r.stdout);
    } else {
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
}

// Issue 15.
#[test]
fn bad_flags_variables_arguments_and_homes_exit_1_with_one_line() {
    let t = with_current();
    usage_error(
        &t,
        &["--json", "gc", "--older-than", "bogus"],
        &[],
        "--older-than: `bogus` is not a duration",
    );
    usage_error(
        &t,
        &["--json", "generations"],
        &[("PYSWAP_HTTP_RETRIES", "abc")],
        "PYSWAP_HTTP_RETRIES: `abc` is not a whole number",
    );
    usage_error(
        &t,
        &["--json", "env", "--shell", "tcsh"],
        &[],
        "invalid value 'tcsh' for '--shell <SHELL>'",
    );
    usage_error(
        &t,
        &["rollback", "--to", "abc"],
        &[],
        "invalid value 'abc' for '--to <N>'",
    );
    usage_error(
        &t,
        &["rollback", "--to", "18446744073709551615"],
        &[],
        "--to <N>",
    );
    usage_error(
        &t,
        &["--json", "switch", "--no-such-flag"],
        &[],
        "unexpected argument '--no-such-flag'",
    );
    usage_error(
        &t,
        &["--json", "list"],
        &[("PYSWAP_OFFLINE", "maybe")],
        "PYSWAP_OFFLINE: `maybe` is not a boolean",
    );
    usage_error(
        &t,
        &["--json", "list", "--cache-max", "3 parsecs"],
        &[],
        "--cache-max: `3 parsecs` has an unknown unit",
    );
    usage_error(
        &t,
        &["--json", "list"],
        &[("PYSWAP_PROFILE", "../etc")],
        "PYSWAP_PROFILE",
    );
    usage_error(
        &t,
        &["--json", "list", "--allowed-host", "bad host"],
        &[],
        "--allowed-host: `bad host` is not a host name",
    );
    // No command at all: the help goes to stderr, and it is still exit 1.
    let r = t.run(&[]).fails(1, "no command given");
    assert!(r.stderr.contains("Usage:"), "{}", r.stderr);
    // Help and version are not errors.
    t.run(&["--help"]).ok();
    t.run(&["--version"]).ok();

    // A home that is a file.
    let file = t.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let f = file.to_str().unwrap();
    usage_error(
        &t,
        &["--json", "switch", "3.11"],
        &[("PYSWAP_HOME", f)],
        "is not a directory",
    );
    usage_error(
        &t,
        &["generations"],
        &[("PYSWAP_HOME", f)],
        "is not a directory",
    );
    // A manifest that is a directory; /dev/null is an empty manifest.
    let dir = t.dir.path().to_str().unwrap();
    usage_error(
        &t,
        &["--json", "generations", "--config", dir],
        &[],
        "is a directory",
    );
    let shown = t
        .run(&["config", "show", "--json", "--config", "/dev/null"])
        .ok()
        .json();
    assert_eq!(shown["file"], "/dev/null");
    t.run(&["config", "check", "/dev/null"]).ok();
    t.run(&["config", "check", dir]).fails(1, "is a directory");
    // Nothing was lost on the way.
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 15.
#[test]
fn a_failing_command_prints_one_document_with_its_error_inside() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    // A partly failing install: the report and the error in one document.
    let r = t
        .run(&["install", "3.12", "3.99", "--json"])
        .fails(1, "1 of 2 runtimes could not be installed");
    let doc = r.json();
    assert_eq!(
        doc["installed"][0]["key"], "cpython-3.12.3-linux-x86_64-gnu",
        "{doc}"
    );
    assert_eq!(doc["installed"][0]["request"], "3.12");
    assert_eq!(doc["failed"][0]["request"], "3.99");
    assert!(doc["failed"][0]["key"].is_null());
    assert_eq!(doc["error"]["exit_code"], 1);
    assert_eq!(
        t.store_names().len(),
        2,
        "3.12 was installed although 3.99 does not resolve"
    );
    // One request that does not resolve keeps its own error and help.
    let r = t
        .run(&["install", "3.98"])
        .fails(1, "no CPython build in the catalogue matches `3.98`");
    assert!(r.stderr.contains("pyswap list --available"), "{}", r.stderr);
    t.assert_consistent();
}

// Issue 15.
#[test]
fn a_failing_check_prints_its_reports_and_the_error_in_one_document() {
    let t = with_current();
    std::fs::write(
        t.home.join("config.toml"),
        "[[validation.checks]]\nname = \"always-fails\"\nrun = [\"false\"]\n",
    )
    .unwrap();
    let r = t.run(&["check", "--json"]).fails(1, "always-fails");
    let doc: crate::output::Checked = strict(&r.stdout);
    assert!(!doc.ok);
    assert_eq!(doc.error.map(|e| e.exit_code), Some(1));
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 15.
#[test]
fn logs_go_to_stderr_with_v_or_pyswap_log() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let r = t.run(&["switch", "3.11", "--json", "-vv"]).ok();
    let doc = r.json();
    assert_eq!(doc["generation"], 1, "stdout stays one document");
    assert!(
        r.stderr.contains("pyswap::step: switch:activated"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("generation 1 is current"), "{}", r.stderr);
    let r = t
        .run_env(&["generations"], &[("PYSWAP_LOG", "pyswap=info")])
        .ok();
    assert!(r.stderr.contains("INFO"), "{}", r.stderr);
    assert!(!r.stderr.contains("DEBUG"), "{}", r.stderr);
    // Without either, nothing is logged.
    let r = t.run(&["generations"]).ok();
    assert!(!r.stderr.contains("INFO"), "{}", r.stderr);
    usage_error(
        &t,
        &["--json", "generations"],
        &[("PYSWAP_LOG", "pyswap=loud")],
        "PYSWAP_LOG",
    );
}

// Issue 17 (day one): what a uv user expects on day one.
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

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn the_test_clock_takes_offsets_and_far_future_times_without_panicking() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    std::fs::write(
        t.home.join("config.toml"),
        "[maintenance]\nwindows = [\"Sat 02:00-04:00 UTC\"]\n",
    )
    .unwrap();
    for (now, next) in [
        ("9999-12-31T23:00:00Z", "@253402308000"),
        ("2026-03-01T04:30:00+02:00", "2026-03-07T02:00:00Z"),
        ("2026-02-28T21:00:00-05:30", "2026-03-07T02:00:00Z"),
    ] {
        // A change is what windows hold back (gc no longer is: issue 27).
        let r = t.run_env(&["switch", "3.12", "--json"], &[("PYSWAP_NOW", now)]);
        assert_eq!(r.code, Some(3), "{now}: {}", r.stderr);
        let doc = r.json();
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains(next), "{now}: {message}");
    }
    t.run_env(&["gc"], &[("PYSWAP_NOW", "yesterday")])
        .fails(1, "is not an RFC 3339 time");
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn a_full_stdout_is_blamed_on_stdout_not_on_the_home() {
    let t = with_current();
    for args in [&["generations"][..], &["generations", "--json"][..]] {
        let out = t
            .cmd()
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("standard output"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("PYSWAP_HOME is full"),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            stderr.matches("No space left on device").count(),
            1,
            "{args:?}: {stderr}"
        );
    }
    crate::common::nothing_lost(&t);
}
