//! `pyswap metrics` and the metrics textfile: what a fleet dashboard reads and alerts on.

use crate::common::{Compression, Fake, with_current};
use crate::rollout::{OUTSIDE, WINDOW, gauge, scrape};

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn the_metrics_textfile_replaces_only_a_regular_file_and_a_failure_is_reported() {
    let t = with_current();
    let decoy = t.dir.path().join("decoy");
    std::fs::write(&decoy, "keep me").unwrap();
    let prom = t.dir.path().join("pyswap.prom");
    std::os::unix::fs::symlink(&decoy, &prom).unwrap();
    std::fs::write(
        t.home.join("config.toml"),
        format!("[metrics]\ntextfile = \"{}\"\n", prom.display()),
    )
    .unwrap();
    let quiet = t.run(&["--quiet", "gc"]).ok();
    assert!(
        quiet.stderr.contains("cannot write the metrics to")
            && quiet.stderr.contains("not a regular file"),
        "--quiet hid it: {}",
        quiet.stderr
    );
    let doc = t.run(&["gc", "--json"]).ok().json();
    assert!(
        doc["metrics_error"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{doc}"
    );
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "keep me");
    assert!(
        std::fs::symlink_metadata(&prom)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A regular file (or none) is written as before.
    std::fs::remove_file(&prom).unwrap();
    let doc = t.run(&["gc", "--json"]).ok().json();
    assert!(doc.get("metrics_error").is_none(), "{doc}");
    assert!(
        std::fs::read_to_string(&prom)
            .unwrap()
            .contains("pyswap_store_entries")
    );
}

// Issue 16 (what a fleet rollout needs).
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
