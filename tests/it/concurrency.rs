//! Commands racing each other: the profile keeps working and nobody waits forever.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Compression, Fake, TestContext};

#[test]
fn switch_and_gc_race_while_a_reader_runs_python() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Zst);
    t.run(&["switch", "3.11.9"]).ok();
    let t = Arc::new(t);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (t, stop, reads) = (t.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let python = t.profile_python();
            while !stop.load(Ordering::SeqCst) {
                let out = Command::new(&python).output().unwrap();
                assert!(
                    out.status.success(),
                    "reader failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                reads.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let switcher = {
        let t = t.clone();
        std::thread::spawn(move || {
            for i in 0..20 {
                if Instant::now() > deadline {
                    break;
                }
                let v = if i % 2 == 0 { "3.12.3" } else { "3.11.9" };
                t.run(&["switch", v, "--lock-timeout", "30"]).ok();
            }
        })
    };
    let collector = {
        let t = t.clone();
        std::thread::spawn(move || {
            for _ in 0..20 {
                if Instant::now() > deadline {
                    break;
                }
                let r = t.run(&["gc", "--keep", "1", "--wait", "1"]).ok();
                assert!(r.code == Some(0));
            }
        })
    };
    switcher.join().unwrap();
    collector.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert!(reads.load(Ordering::SeqCst) > 10);
    t.assert_consistent();
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.store_names().len(), 1);
}

#[test]
fn two_switches_of_the_same_version_at_once() {
    let mut t = TestContext::new();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let t = Arc::new(t);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || t.run(&["switch", "3.12.3"]).ok())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        t.store_names().len(),
        1,
        "unpacked once: {:?}",
        t.store_names()
    );
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(
        gens.as_array().unwrap().len(),
        1,
        "the later switches found it current"
    );
    t.assert_consistent();
}

#[test]
fn cron_gc_skips_when_the_store_is_busy() {
    let mut t = TestContext::new();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.12.3"]).ok();
    // Hold the shared side of the gc lock as a running switch would.
    let lock = std::fs::File::open(t.home.join("locks/gc.lock")).unwrap();
    lock.lock_shared().unwrap();
    let r = t.run(&["gc", "--wait", "0", "--json"]).ok();
    assert_eq!(r.json()["skipped"], true);
    drop(lock);
    assert_eq!(t.run(&["gc", "--json"]).ok().json()["skipped"], false);
}

/// Found while building issue 2: commands creating a brand-new database at the same moment
/// failed with "database is locked" (the switch to WAL does not wait through the busy handler).
#[test]
fn issue2_commands_creating_the_database_at_once() {
    for _ in 0..5 {
        let t = Arc::new(TestContext::new());
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || t.run(&["gc", "--json"]).ok())
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
