//! Commands racing each other: the profile keeps working and nobody waits forever.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Compression, Fake, TestContext};

/// A pyswap command started in the background, killed with SIGKILL after `kill_after` if
/// given, and never waited on for longer than a minute (a hang is a failure).
fn finish(mut child: std::process::Child, kill_after: Option<Duration>, what: &str) -> Option<i32> {
    if let Some(d) = kill_after {
        std::thread::sleep(d);
        let _ = child.kill();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "{what} has waited for over a minute"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn spawn_quiet(t: &TestContext, args: &[&str]) -> std::process::Child {
    t.cmd()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// A small deterministic generator: the same "random" kills on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn gc_races_switch_while_a_reader_imports_encodings() {
    let mut t = TestContext::new();
    t.add("3.12.2", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Zst);
    t.run(&["switch", "3.12.2"]).ok();
    let t = Arc::new(t);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (t, stop, reads) = (t.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let python = t.home.join("profiles/default/bin/python3");
            while !stop.load(Ordering::SeqCst) {
                let out = Command::new(&python)
                    .args(["-c", "import encodings"])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "the reader failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                reads.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Hundreds of iterations, but never more than two minutes of them.
    let deadline = Instant::now() + Duration::from_secs(120);
    let switches = Arc::new(AtomicUsize::new(0));
    let switching = {
        let (t, switches) = (t.clone(), switches.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            for i in 0..300 {
                if Instant::now() > deadline {
                    break;
                }
                let v = if i % 2 == 0 { "3.12.3" } else { "3.12.2" };
                let child = spawn_quiet(&t, &["switch", v, "--lock-timeout", "30"]);
                // One switch in six is killed somewhere in its first 40 ms.
                let kill = (rng.next(6) == 0).then(|| Duration::from_millis(rng.next(40)));
                let code = finish(child, kill, "switch");
                assert!(
                    kill.is_some() || code == Some(0),
                    "switch {v} exited {code:?}"
                );
                switches.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let collector = {
        let t = t.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(0x2545_f491_4f6c_dd1d);
            let mut runs = 0;
            while Instant::now() < deadline && runs < 300 {
                let child = spawn_quiet(&t, &["gc", "--keep", "1", "--wait", "1"]);
                let kill = (rng.next(5) == 0).then(|| Duration::from_millis(rng.next(30)));
                let code = finish(child, kill, "gc");
                assert!(kill.is_some() || code == Some(0), "gc exited {code:?}");
                runs += 1;
            }
        })
    };
    switching.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    collector.join().unwrap();
    reader.join().unwrap();
    let n = switches.load(Ordering::SeqCst);
    assert!(n >= 100, "only {n} switches ran");
    assert!(reads.load(Ordering::SeqCst) > 100);
    eprintln!("{n} switches, {} reads", reads.load(Ordering::SeqCst));
    t.assert_consistent();
    // Whatever was killed where, the next commands clean up without help.
    t.run(&["switch", "3.12.3"]).ok();
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.store_names().len(), 1);
    t.assert_consistent();
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
// Issue 2.
#[test]
fn commands_creating_the_database_at_once() {
    for _ in 0..5 {
        let t = Arc::new(TestContext::new());
        // An empty home directory, as an operator makes one (gc creates no home, issue 37):
        // the six commands create its database at once.
        std::fs::create_dir(&t.home).unwrap();
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

#[test]
fn gc_keeps_an_entry_a_running_process_uses_until_it_exits() {
    let mut t = TestContext::new();
    t.add("3.12.2", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.12.2"]).ok();
    // A long-running program started on 3.12.2 (its working directory is in the runtime).
    let old = t
        .home
        .join("profiles/default/.entry")
        .canonicalize()
        .unwrap();
    let mut service = Command::new("sleep")
        .arg("60")
        .current_dir(old.join("lib"))
        .spawn()
        .unwrap();
    t.run(&["switch", "3.12.3"]).ok();
    let r = t.run(&["gc", "--keep", "1", "--json"]).ok();
    let doc = r.json();
    assert_eq!(doc["generations_removed"].as_array().unwrap().len(), 1);
    assert_eq!(doc["entries_removed"].as_array().unwrap().len(), 0);
    assert_eq!(doc["entries_in_use"][0]["pid"], service.id());
    assert!(
        old.join("lib/python3.12/os.py").exists(),
        "the service's runtime is still there"
    );
    t.assert_consistent();
    service.kill().unwrap();
    service.wait().unwrap();
    let doc = t.run(&["gc", "--json"]).ok().json();
    assert_eq!(doc["entries_removed"].as_array().unwrap().len(), 1);
    assert!(!old.exists());
    assert_eq!(t.store_names().len(), 1);
}
