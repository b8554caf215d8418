//! Issue 16 (what pyswap itself needs for a fleet rollout): `--dry-run` on the commands that
//! change a host, converged hosts that exit 0 outside a maintenance window, `current --json` on
//! a fresh host, `build` and `key` in the documents.

use crate::common::{Compression, Fake, TestContext, with_current};

const OUTSIDE: &str = "2026-11-21T05:00:00Z"; // Saturday, after the window below
const WINDOW: &str = "[maintenance]\nwindows = [\"Sat 02:00-04:00 UTC\"]\n";

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
fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn gauge(s: &prometheus_parse::Scrape, metric: &str, label: Option<(&str, &str)>) -> Option<f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .find(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

// Issue 16.
#[test]
fn metrics_for_fleet_dashboards() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let prom = t.dir.path().join("textfile/pyswap.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    t.write_config(&format!(
        "{WINDOW}[metrics]\ntextfile = \"{}\"\n",
        prom.display()
    ));
    let inside = [("PYSWAP_NOW", "2026-11-21T03:00:00Z")];
    t.run_env(&["switch", "3.12"], &inside).ok();
    let s = scrape(&std::fs::read_to_string(&prom).unwrap());
    let info = s
        .samples
        .iter()
        .find(|x| x.metric == "pyswap_runtime_info")
        .unwrap();
    assert_eq!(
        (
            info.labels.get("profile"),
            info.labels.get("version"),
            info.labels.get("build"),
            info.labels.get("generation")
        ),
        (Some("default"), Some("3.12.3"), Some("20260101"), Some("2"))
    );
    assert_eq!(
        gauge(&s, "pyswap_generations", Some(("profile", "default"))),
        Some(2.0)
    );
    assert_eq!(
        gauge(
            &s,
            "pyswap_last_switch_success",
            Some(("command", "switch"))
        ),
        Some(1.0)
    );
    assert_eq!(
        gauge(&s, "pyswap_last_switch_timestamp_seconds", None),
        Some(1_795_230_000.0)
    );
    assert_eq!(gauge(&s, "pyswap_last_validation_success", None), Some(1.0));
    assert!(gauge(&s, "pyswap_store_bytes", None).is_some_and(|b| b > 0.0));
    // A change refused (here by the window) is an invalid request on the dashboard, not a
    // failed switch: the host still runs a healthy runtime, and nothing pages (issue 27).
    t.run_env(&["rollback"], &[("PYSWAP_NOW", OUTSIDE)])
        .fails(3, "outside the maintenance windows");
    let s = scrape(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        gauge(
            &s,
            "pyswap_last_request_valid",
            Some(("command", "rollback"))
        ),
        Some(0.0)
    );
    assert_eq!(
        gauge(
            &s,
            "pyswap_last_switch_success",
            Some(("command", "switch"))
        ),
        Some(1.0)
    );
    assert_eq!(gauge(&s, "pyswap_runtime_healthy", None), Some(1.0));
    // A typo is the same: nothing changed, the switch metrics stay those of the last valid one.
    t.run(&["switch", "3.99"]).fails(1, "3.99");
    let s = scrape(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        gauge(&s, "pyswap_last_request_valid", Some(("command", "switch"))),
        Some(0.0)
    );
    assert_eq!(
        gauge(
            &s,
            "pyswap_last_switch_success",
            Some(("command", "switch"))
        ),
        Some(1.0)
    );
    assert_eq!(
        gauge(&s, "pyswap_last_switch_timestamp_seconds", None),
        Some(1_795_230_000.0)
    );
    assert_eq!(
        s.samples
            .iter()
            .find(|x| x.metric == "pyswap_runtime_info")
            .unwrap()
            .labels
            .get("generation"),
        Some("2")
    );
    // `pyswap metrics` prints the same text; no temporary file is left beside the textfile.
    let printed = t.run(&["metrics"]).ok().stdout;
    assert_eq!(scrape(&printed).samples.len(), s.samples.len());
    let names: Vec<_> = std::fs::read_dir(prom.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["pyswap.prom"]);
}
