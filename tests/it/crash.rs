//! kill -9 at named points of `switch` and `gc`: the profile always resolves to a complete entry,
//! every row has its complete tree, a re-run succeeds, and gc leaves no work directories.

use crate::common::{Compression, Fake, TestContext};

const CRASH: &str = "PYSWAP_TEST_CRASH_AT";

#[track_caller]
fn killed(r: &crate::common::Run, point: &str) {
    assert_eq!(
        r.signal,
        Some(9),
        "{point} was not reached: code {:?}, stderr {}",
        r.code,
        r.stderr
    );
}

fn no_leftovers(t: &TestContext) {
    let store: Vec<String> = std::fs::read_dir(t.home.join("store"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        store.iter().all(|n| !n.starts_with('.')),
        "work dirs left: {store:?}"
    );
    let profiles: Vec<String> = std::fs::read_dir(t.home.join("profiles"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        profiles.iter().all(|n| !n.starts_with('.')),
        "temporary links left: {profiles:?}"
    );
    assert_eq!(t.tmp_files(), 0);
    let locks: Vec<String> = std::fs::read_dir(t.home.join("locks"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        locks.iter().all(|n| !n.starts_with("entry-")),
        "per-archive locks left: {locks:?}"
    );
}

#[test]
fn kill_during_switch_at_every_step() {
    let points = [
        "install:unpacked",
        "store:synced",
        "store:renamed",
        "install:published",
        "install:committed",
        "switch:installed",
        "profile:temp-link",
        "generation:before-commit",
        "switch:generation-committed",
        "profile:renamed",
        "switch:activated",
    ];
    for point in points {
        let mut t = TestContext::new();
        t.add("3.11.9", Fake::Good, Compression::Gz);
        t.add("3.12.3", Fake::Good, Compression::Zst);
        t.run(&["switch", "3.11.9"]).ok();
        let r = t.run_env(&["switch", "3.12.3"], &[(CRASH, point)]);
        killed(&r, point);
        t.assert_consistent();
        let v = t.profile_version();
        assert!(
            v.as_deref() == Some("3.11.9") || v.as_deref() == Some("3.12.3"),
            "{point}: profile runs {v:?}"
        );
        t.run(&["switch", "3.12.3"]).ok();
        assert_eq!(
            t.profile_version().as_deref(),
            Some("3.12.3"),
            "{point}: re-run succeeds"
        );
        t.run(&["gc"]).ok();
        no_leftovers(&t);
        t.assert_consistent();
    }
}

#[test]
fn kill_during_first_switch_leaves_a_clean_home() {
    for point in [
        "store:renamed",
        "profile:temp-link",
        "switch:generation-committed",
    ] {
        let mut t = TestContext::new();
        t.add("3.12.3", Fake::Good, Compression::Gz);
        killed(&t.run_env(&["switch", "3.12"], &[(CRASH, point)]), point);
        t.assert_consistent();
        t.run(&["switch", "3.12"]).ok();
        assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    }
}

#[test]
fn kill_during_gc_at_every_step() {
    for point in [
        "gc:generations-deleted",
        "gc:links-removed",
        "gc:entries-deleted",
        "store:trashed",
    ] {
        let mut t = TestContext::new();
        for v in ["3.10.14", "3.11.9", "3.12.3"] {
            t.add(v, Fake::Good, Compression::Gz);
            t.run(&["switch", v]).ok();
        }
        killed(&t.run_env(&["gc", "--keep", "1"], &[(CRASH, point)]), point);
        t.assert_consistent();
        assert_eq!(t.profile_version().as_deref(), Some("3.12.3"), "{point}");
        t.run(&["gc", "--keep", "1"]).ok();
        assert_eq!(t.store_names().len(), 1, "{point}: {:?}", t.store_names());
        no_leftovers(&t);
        t.assert_consistent();
        t.run(&["rollback"]).fails(1, "no generation older");
    }
}
