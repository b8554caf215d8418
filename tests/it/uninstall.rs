//! `pyswap uninstall` and `pyswap find`: what they name, and what stays valid.

use crate::common::{Compression, Fake, TestContext};

// Issue 27 (an operator's first week).
#[test]
fn uninstall_removes_what_it_names_never_what_runs_and_breaks_only_with_force() {
    let mut t = TestContext::new();
    for v in ["3.10.14", "3.11.9", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    t.run(&["switch", "3.11"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["install", "3.10"]).ok();
    let before = t.store_names();

    t.run(&["uninstall", "3.9"])
        .fails(1, "no installed runtime matches `3.9`");
    t.run(&["uninstall", "3.12"]).fails(
        1,
        "CPython 3.12.3+20260101 is what profile `default` runs now (generation 2)",
    );
    // Generation 1 is behind the minor path default@3.11: removing it breaks what was made there.
    let r = t.run(&["uninstall", "3.11"]).fails(
        1,
        "not removing CPython 3.11.9+20260101 without --force: minor path default@3.11 leads to it",
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    // Several requests are checked together: nothing goes when one is refused.
    t.run(&["uninstall", "3.10", "3.12"]).fails(1, "runs now");
    assert_eq!(t.store_names(), before);

    // A forced dry run says what it would free and changes nothing.
    let plan = t
        .run(&["uninstall", "3.11", "--force", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(
        plan["generations_removed"],
        serde_json::json!(["default:1"])
    );
    assert_eq!(plan["removed"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["minor_paths_removed"].as_array().unwrap().len(), 1);
    assert_eq!(t.store_names(), before);
    assert!(t.home.join("profiles/default@3.11").exists());

    // A staged runtime nothing uses goes without --force; what it freed is said.
    let r = t.run(&["uninstall", "3.10.14+20260101"]).ok();
    assert!(
        r.stderr.contains("removed CPython 3.10.14+20260101 (") && !r.stderr.contains("-cpython-"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("freed"), "{}", r.stderr);
    let r = t.run(&["uninstall", "3.11", "--force"]).ok();
    assert!(
        r.stderr.contains("releasing: minor path default@3.11")
            && r.stderr
                .contains("removed 1 generation that used it: default:1"),
        "{}",
        r.stderr
    );
    assert!(!t.home.join("profiles/default@3.11").exists());
    let left = t.store_names();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].ends_with("cpython-3.12.3-linux-x86_64-gnu"),
        "{left:?}"
    );
    // The profile still runs, and gc finds nothing left to collect for them.
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    let gc = t.run(&["gc", "--dry-run", "--json"]).ok().json();
    assert_eq!(gc["entries_removed"].as_array().unwrap().len(), 0, "{gc}");
    t.assert_consistent();
}

// Issue 27 (an operator's first week).
#[test]
fn find_prints_the_path_that_stays_valid() {
    let mut t = TestContext::new();
    for v in ["3.10.14", "3.11.9", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    t.run(&["find"])
        .fails(1, "profile `default` has no generation yet");
    t.run(&["switch", "3.11"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["install", "3.10"]).ok();
    let found = |args: &[&str]| {
        let doc = t.run(args).ok().json();
        (
            doc["kind"].as_str().unwrap().to_owned(),
            doc["path"].as_str().unwrap().to_owned(),
        )
    };
    let home = t.home.display().to_string();
    assert_eq!(
        found(&["find", "--json"]),
        (
            "profile".into(),
            format!("{home}/profiles/default/bin/python3")
        )
    );
    assert_eq!(
        found(&["find", "3.11", "--json"]),
        (
            "minor".into(),
            format!("{home}/profiles/default@3.11/bin/python3")
        )
    );
    let (kind, path) = found(&["find", "3.10", "--json"]);
    assert!(
        kind == "store" && path.starts_with(&format!("{home}/store/")),
        "{kind} {path}"
    );
    // The human output is the path alone, for `$(pyswap find 3.11) -m venv ...`, and it runs.
    let printed = t.run(&["find", "3.11"]).ok().stdout;
    let out = std::process::Command::new(printed.trim())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    // `which` (pyenv's word) is the same command.
    assert_eq!(t.run(&["which", "3.11"]).ok().stdout, printed);
    t.run(&["find", "3.9"])
        .fails(1, "no installed runtime matches `3.9`");
    let help = t.run(&["find", "--help"]).ok().stdout;
    assert!(
        help.contains("follows patch upgrades of 3.11") && help.contains("stays on that one build"),
        "{help}"
    );
}
