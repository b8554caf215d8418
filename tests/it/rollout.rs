//! Issue 16 (what pyswap itself needs for a fleet rollout): `--dry-run` on the commands that
//! change a host, converged hosts that exit 0 outside a maintenance window, `current --json` on
//! a fresh host, `build` and `key` in the documents.

use std::path::Path;

use crate::common::{Compression, Fake, TestContext, with_current};

pub const OUTSIDE: &str = "2026-11-21T05:00:00Z"; // Saturday, after the window below

pub const WINDOW: &str = "[maintenance]\nwindows = [\"Sat 02:00-04:00 UTC\"]\n";

fn snapshot(t: &TestContext) -> (Vec<String>, Option<String>, String) {
    let gens = t.run(&["generations", "--json"]).ok().stdout;
    (t.store_names(), t.profile_version(), gens)
}

// Issue 16.
#[test]
fn dry_runs_report_the_usual_document_and_change_nothing() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let before = snapshot(&t);
    let doc = t
        .run(&["switch", "3.12", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["installed"], true, "it would be installed: {doc}");
    assert_eq!(
        (doc["generation"].as_u64(), doc["previous"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(doc["key"], "cpython-3.12.3-linux-x86_64-gnu");
    assert_eq!(doc["build"], "20260101");
    // The one risk people run a dry run for (issue 27): a minor change, which breaks venvs.
    assert_eq!(
        (
            doc["minor_change"]["from"].as_str(),
            doc["minor_change"]["to"].as_str()
        ),
        (Some("3.11"), Some("3.12")),
        "{doc}"
    );
    let r = t.run(&["switch", "3.12", "--dry-run"]).ok();
    assert!(
        r.stderr
            .contains("would switch profile `default` to generation 2")
            && r.stderr
                .contains("profile `default` would move from Python 3.11 to 3.12: venvs made from"),
        "{}",
        r.stderr
    );
    let same = t
        .run(&["switch", "3.11", "--dry-run", "--json"])
        .ok()
        .json();
    assert!(same["minor_change"].is_null(), "{same}");
    let doc = t
        .run(&["install", "3.12", "3.11", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["installed"][0]["source"], "pending");
    assert_eq!(doc["installed"][1]["source"], "store");
    assert_eq!(snapshot(&t), before, "a dry run changed something");

    t.run(&["switch", "3.12"]).ok();
    let before = snapshot(&t);
    let doc = t
        .run(&["rollback", "--to", "1", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(
        (
            doc["dry_run"].as_bool(),
            doc["changed"].as_bool(),
            doc["generation"].as_u64()
        ),
        (Some(true), Some(true), Some(1))
    );
    assert_eq!(doc["minor_change"]["to"], "3.11", "{doc}");
    let doc = t.run(&["upgrade", "--dry-run", "--json"]).ok().json();
    assert_eq!(
        (doc["dry_run"].as_bool(), doc["changed"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(snapshot(&t), before, "a dry run changed something");
    // The same exit status as the real run: an unknown version, a closed window.
    t.run(&["switch", "3.99", "--dry-run"])
        .fails(1, "no CPython build");
    t.write_config(WINDOW);
    t.run_env(&["rollback", "--dry-run"], &[("PYSWAP_NOW", OUTSIDE)])
        .fails(3, "outside the maintenance windows");
    t.run_env(&["switch", "3.11", "--dry-run"], &[("PYSWAP_NOW", OUTSIDE)])
        .fails(3, "outside the maintenance windows");
    assert_eq!(snapshot(&t), before);
}

// Issue 16.
#[test]
fn a_converged_host_exits_0_outside_the_window() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.write_config(WINDOW);
    let now = [("PYSWAP_NOW", OUTSIDE)];
    let doc = t.run_env(&["switch", "3.11", "--json"], &now).ok().json();
    assert_eq!(
        (doc["changed"].as_bool(), doc["generation"].as_u64()),
        (Some(false), Some(1))
    );
    t.run_env(&["upgrade"], &now).ok();
    let doc = t
        .run_env(&["rollback", "--to", "1", "--json"], &now)
        .ok()
        .json();
    assert_eq!(doc["changed"], false);
    // A change is still refused.
    t.run_env(&["switch", "3.12"], &now)
        .fails(3, "outside the maintenance windows");
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 16.
#[test]
fn current_on_a_fresh_host_is_a_document_with_no_generation() {
    let t = TestContext::new();
    let doc = t.run(&["current", "--json"]).ok().json();
    assert!(
        doc["generation"].is_null() && doc["version"].is_null(),
        "{doc}"
    );
    assert_eq!(doc["profile"], "default");
    t.run(&["current"]).fails(1, "has no generation yet");
}

/// The samples of a Prometheus text, read by a real parser.
pub fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

pub fn gauge(
    s: &prometheus_parse::Scrape,
    metric: &str,
    label: Option<(&str, &str)>,
) -> Option<f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .find(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// Every node under `dir`: path, kind, size, mtime and content hash (files), link target; the
/// database's `-wal`/`-shm` and the home's own mtime (SQLite's bookkeeping) left out.
fn home_snapshot(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            if name == "pyswap.db-wal" || name == "pyswap.db-shm" {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!(
                    "dir {:o} {}",
                    m.mode(),
                    m.mtime_nsec() + m.mtime() * 1_000_000_000
                )
            } else {
                format!(
                    "file {:o} {} {} {}",
                    m.mode(),
                    m.len(),
                    m.mtime_nsec() + m.mtime() * 1_000_000_000,
                    crate::common::sha256_hex(&std::fs::read(&p).unwrap())
                )
            };
            out.push(format!("{name} {what}"));
        }
    }
    out.sort();
    out
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn dry_runs_write_nothing_into_the_home() {
    let mut t = TestContext::new();
    let server = crate::server::Server::start(&t.served);
    for v in ["3.11.8", "3.11.9"] {
        let data = crate::common::synthetic_archive(v, Fake::Good, Compression::Gz);
        t.serve(&server, v, &data, Compression::Gz);
    }
    let url = format!("{}/catalogue.json", server.base);
    let remote = [
        ("PYSWAP_CATALOGUE", url.as_str()),
        ("PYSWAP_CATALOGUE_TTL", "0"),
    ];
    t.run_env(&["switch", "3.11.8"], &remote).ok();
    t.run_env(&["switch", "3.11.9"], &remote).ok();
    t.run_env(&["rollback"], &remote).ok();
    let data = crate::common::synthetic_archive("3.12.3", Fake::Good, Compression::Gz);
    t.serve(&server, "3.12.3", &data, Compression::Gz);
    // The catalogue changed on the server: a real run would refresh the cached copy.
    let before = home_snapshot(&t.home);
    for args in [
        &["switch", "3.12", "--dry-run"][..],
        &["upgrade", "--dry-run"][..],
        &["rollback", "--to", "2", "--dry-run"][..],
        &["install", "3.12", "--dry-run"][..],
        &["gc", "--keep", "1", "--dry-run"][..],
    ] {
        t.run_env(args, &remote).ok();
        assert_eq!(
            home_snapshot(&t.home),
            before,
            "{args:?} wrote into the home"
        );
    }
}
