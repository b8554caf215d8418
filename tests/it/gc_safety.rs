//! Issue 14: gc and repair never delete what is live, or anything outside the home. Every case
//! puts decoys outside the home and checks they survive.

use crate::common::{
    Compression, Fake, Killed, TestContext, as_nobody_sh, entry_dir, mapper, root_or_skip,
    run_as_nobody, started, two_generations,
};

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files outside the home that nothing may touch: `<dir>/decoy/{passwd,shadow}`.
fn decoy(t: &TestContext) -> PathBuf {
    let d = t.dir.path().join("decoy");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(d.join("shadow"), "root:*:1::::::\n").unwrap();
    d
}

#[track_caller]
fn decoy_intact(d: &Path) {
    assert_eq!(
        std::fs::read_to_string(d.join("passwd")).unwrap(),
        "root:x:0:0::/root:/bin/sh\n"
    );
    assert!(d.join("shadow").exists());
}

fn two_versions() -> TestContext {
    let mut t = TestContext::new();
    t.add("3.10.14", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t
}

fn db_files(t: &TestContext) -> Vec<PathBuf> {
    ["pyswap.db", "pyswap.db-wal", "pyswap.db-shm"]
        .iter()
        .map(|n| t.home.join(n))
        .collect()
}

// Issue 14.
#[test]
fn a_database_restored_from_a_backup_never_deletes_the_live_runtime() {
    let t = two_versions();
    let d = decoy(&t);
    t.run(&["switch", "3.10"]).ok();
    let backup = t.dir.path().join("pyswap.db.backup");
    std::fs::copy(t.home.join("pyswap.db"), &backup).unwrap();
    t.run(&["switch", "3.12"]).ok();
    // A service started on 3.12 (its working directory is in the runtime).
    let live = t
        .home
        .join("profiles/default/.entry")
        .canonicalize()
        .unwrap();
    let mut service = Command::new("sleep")
        .arg("60")
        .current_dir(&live)
        .spawn()
        .unwrap();
    for f in db_files(&t) {
        let _ = std::fs::remove_file(f);
    }
    std::fs::copy(&backup, t.home.join("pyswap.db")).unwrap();

    for args in [&["gc"][..], &["gc", "--keep", "1"], &["gc", "--keep", "0"]] {
        let mut argv = args.to_vec();
        argv.push("--json");
        let r = t.run(&argv).ok();
        let gc = r.json();
        assert_eq!(
            gc["entries_removed"].as_array().unwrap().len(),
            0,
            "{args:?}"
        );
        assert_eq!(gc["unregistered_entries"].as_array().unwrap().len(), 1);
        assert_eq!(gc["unregistered_generations"][0]["number"], 2);
        assert_eq!(t.profile_version().as_deref(), Some("3.12.3"), "{args:?}");
    }
    assert!(live.join("bin/python3").exists());
    // verify reports; repair registers the entry and the generation from the disk.
    t.run(&["verify"]).fails(1, "verify found");
    t.run(&["verify", "--repair"]).ok();
    t.run(&["verify"]).ok();
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(gens[1]["number"], 2);
    assert_eq!(gens[1]["current"], true);
    assert_eq!(gens[1]["request"], "(recovered)");
    t.run(&["rollback", "--to", "1"]).ok();
    t.run(&["rollback", "--to", "2"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    service.kill().unwrap();
    service.wait().unwrap();
    decoy_intact(&d);
    t.assert_consistent();
}

// Issue 14.
#[test]
fn a_lost_database_deletes_nothing_and_repair_rebuilds_it() {
    let t = two_versions();
    t.run(&["switch", "3.10"]).ok();
    t.run(&["switch", "3.12"]).ok();
    for f in db_files(&t) {
        let _ = std::fs::remove_file(f);
    }
    let gc = t.run(&["gc", "--keep", "0", "--json"]).ok().json();
    assert_eq!(gc["entries_removed"].as_array().unwrap().len(), 0);
    assert_eq!(t.store_names().len(), 2, "every entry survives");
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    t.run(&["verify", "--repair"]).ok();
    t.run(&["verify"]).ok();
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(gens.as_array().unwrap().len(), 2);
    t.run(&["rollback", "--to", "1"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));
    // A recovered entry has no validation recorded: switching to it validates it first.
    let back = t.run(&["switch", "3.12.3", "--json"]).ok().json();
    assert!(back["validated"].is_string(), "{back}");
    t.run(&["check"]).ok();
    t.assert_consistent();
}

// Issue 14.
#[test]
fn a_removed_row_keeps_its_entry() {
    let t = two_versions();
    t.run(&["switch", "3.10"]).ok();
    t.run(&["switch", "3.12"]).ok();
    let deleted = run_sql(
        &t,
        "DELETE FROM validations; DELETE FROM generations WHERE number = 2; DELETE FROM staged; DELETE FROM entries WHERE name LIKE '%3.12.3%';",
    );
    assert!(deleted, "rows deleted");
    t.run(&["gc", "--keep", "0"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    assert_eq!(t.store_names().len(), 2);
    t.run(&["verify", "--repair"]).ok();
    t.run(&["verify"]).ok();
}

/// Runs SQL on the home's database with the sqlite3 module of this machine's Python.
fn run_sql(t: &TestContext, sql: &str) -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
        ])
        .arg(t.home.join("pyswap.db"))
        .arg(sql)
        .status()
        .unwrap()
        .success()
}

// Issue 14.
#[test]
fn names_from_the_database_never_lead_outside_the_home() {
    let t = two_versions();
    let d = decoy(&t);
    t.run(&["switch", "3.10"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["minors", "--remove", "3.10"]).ok();
    // The 3.10 entry's row now names the decoy, relative to store/.
    let crafted = format!("../../{}", d.file_name().unwrap().to_str().unwrap());
    assert!(run_sql(
        &t,
        &format!("UPDATE entries SET name = '{crafted}' WHERE name LIKE '%3.10.14%';"),
    ));
    t.run(&["verify"])
        .fails(1, "which is not a store entry name");
    // The generation whose row names it cannot be made current (its directory is rebuilt from
    // the row first).
    pyswap::storage::store::remove_tree(&t.home.join("profiles/default-1")).unwrap();
    t.run(&["rollback", "--to", "1"])
        .fails(1, "not one pyswap makes; refusing to use it as a path");
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    let gc = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(gc["entries_removed"][0], crafted.as_str());
    decoy_intact(&d);
    t.run(&["verify", "--repair"]).ok();
    decoy_intact(&d);
}

// Issue 14.
#[test]
fn a_directory_that_is_not_a_pyswap_home_is_never_written_or_swept() {
    let t = two_versions();
    // Like PYSWAP_HOME=$HOME: files of someone's in store/ and tmp/.
    let fake_home = t.dir.path().join("someones-home");
    for sub in ["store/photos", "tmp"] {
        std::fs::create_dir_all(fake_home.join(sub)).unwrap();
    }
    std::fs::write(fake_home.join("store/photos/cat.jpg"), "meow").unwrap();
    std::fs::write(fake_home.join("tmp/notes.txt"), "remember").unwrap();
    let home = fake_home.to_str().unwrap();
    for args in [
        &["gc"][..],
        &["gc", "--dry-run"],
        &["switch", "3.12"],
        &["verify", "--repair"],
    ] {
        t.run_env(args, &[("PYSWAP_HOME", home)])
            .fails(1, "is not a pyswap home");
    }
    assert!(fake_home.join("store/photos/cat.jpg").exists());
    assert!(fake_home.join("tmp/notes.txt").exists());
    assert!(!fake_home.join("pyswap-home.tag").exists());
    assert!(!fake_home.join("pyswap.db").exists());
}

// Issue 14.
#[test]
fn a_home_with_symlinked_or_open_directories_is_refused() {
    let t = two_versions();
    let d = decoy(&t);
    t.run(&["switch", "3.12"]).ok();
    t.run(&["switch", "3.10"]).ok();
    // store/ replaced by a link to the decoy: nothing is followed.
    let store = t.home.join("store");
    let real_store = t.dir.path().join("real-store");
    std::fs::rename(&store, &real_store).unwrap();
    symlink(&d, &store).unwrap();
    t.run(&["gc", "--keep", "0"]).fails(
        1,
        "it is a symlink, and pyswap follows none inside its home",
    );
    decoy_intact(&d);
    std::fs::remove_file(&store).unwrap();
    std::fs::rename(&real_store, &store).unwrap();
    // tmp/ the same.
    let tmp = t.home.join("tmp");
    std::fs::remove_dir(&tmp).unwrap();
    symlink(&d, &tmp).unwrap();
    t.run(&["gc"]).fails(1, "is a symlink");
    decoy_intact(&d);
    std::fs::remove_file(&tmp).unwrap();
    // A home others can write to.
    std::fs::set_permissions(&t.home, std::fs::Permissions::from_mode(0o777)).unwrap();
    t.run(&["gc"])
        .fails(1, "it is writable by anyone (mode 777) (to fix: chmod go-w");
    std::fs::set_permissions(&t.home, std::fs::Permissions::from_mode(0o755)).unwrap();
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));
}

/// The test's own directories made reachable by `nobody` (tempdirs are 0700).
fn open_to_nobody(t: &TestContext) {
    std::fs::set_permissions(t.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
}

// Issue 14.
#[test]
fn a_service_users_home_is_not_roots_to_sweep() {
    if !crate::common::root_or_skip("service-user home test") {
        return;
    }
    let t = two_versions();
    let d = decoy(&t);
    t.run(&["switch", "3.12"]).ok();
    t.run(&["switch", "3.10"]).ok();
    open_to_nobody(&t);
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&t.home)
        .status()
        .unwrap();
    assert!(chown.success());
    // The service user swaps its store/ for a link to a directory it cannot write.
    let store = t.home.join("store");
    let out = as_nobody_sh(&format!(
        "mv {s} {s}.real && ln -s {d} {s}",
        s = store.display(),
        d = d.display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Root's cron gc refuses a home it does not own, before looking inside; and (issue 37,
    // item 12) tells root to act as its owner, never to take the home from its service user.
    let refused = t.run(&["gc", "--keep", "0"]);
    let refused = refused.fails(
        1,
        "it is owned by uid 65534, not by this user (uid 0) or root",
    );
    assert!(
        refused.stderr.contains("sudo -u nobody pyswap") && !refused.stderr.contains("chown"),
        "{}",
        refused.stderr
    );
    decoy_intact(&d);
    // The service user's own gc refuses the symlinked store/.
    let out = run_as_nobody(&t, &["gc", "--keep", "0"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a symlink"));
    decoy_intact(&d);
    // Once put back, the owner's gc works.
    let out = as_nobody_sh(&format!("rm {s} && mv {s}.real {s}", s = store.display()));
    assert!(out.status.success());
    let out = run_as_nobody(&t, &["gc", "--keep", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    decoy_intact(&d);
}

// Issue 14.
#[test]
fn one_broken_profile_stays_one() {
    let t = two_versions();
    t.run(&["switch", "3.10"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["switch", "3.10", "--profile", "ci"]).ok();
    // Someone replaces the default profile's link by a directory of their own.
    let link = t.home.join("profiles/default");
    std::fs::remove_file(&link).unwrap();
    std::fs::create_dir(&link).unwrap();
    std::fs::write(link.join("mine.txt"), "keep me").unwrap();
    t.run(&["current"]).fails(1, "is a directory, not a link");
    // The other profile and gc go on; gc keeps every generation of the broken profile.
    t.run(&["current", "--profile", "ci"]).ok();
    t.run(&["switch", "3.12", "--profile", "ci"]).ok();
    t.run(&["minors", "--remove", "3.10", "--profile", "ci"])
        .ok();
    let gc = t.run(&["gc", "--keep", "0", "--json"]).ok().json();
    let removed: Vec<(String, u64)> = gc["generations_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["profile"].as_str().unwrap().to_owned(),
                g["number"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(removed, vec![("ci".to_owned(), 1)]);
    // `rollback --to N` repairs it, moving the directory aside, never deleting it.
    let r = t.run(&["rollback", "--to", "2"]).ok();
    assert!(
        r.stderr.contains("was not a profile link; moved it to"),
        "{}",
        r.stderr
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    let aside: Vec<PathBuf> = std::fs::read_dir(t.home.join("profiles"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("default.displaced-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read_to_string(aside[0].join("mine.txt")).unwrap(),
        "keep me"
    );
    t.run(&["gc"]).ok();
    assert!(aside[0].join("mine.txt").exists(), "gc leaves it alone");
}

// Issue 14.
#[test]
fn verify_never_crashes_on_a_file_truncated_while_it_hashes() {
    let t = two_versions();
    t.run(&["switch", "3.12"]).ok();
    let entry = t
        .home
        .join("profiles/default/.entry")
        .canonicalize()
        .unwrap();
    let lib = entry.join("lib");
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    let big = lib.join("big.bin");
    let flipper = {
        let big = big.clone();
        std::thread::spawn(move || {
            // Grows and shrinks a sparse 256 MiB file for two seconds while verify reads it.
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&big)
                .unwrap();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while std::time::Instant::now() < until {
                f.set_len(256 << 20).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(3));
                f.set_len(4096).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let mut runs = 0;
    while !flipper.is_finished() {
        let r = t.run(&["verify"]);
        assert_eq!(
            r.signal, None,
            "verify was killed by a signal: {}",
            r.stderr
        );
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        runs += 1;
    }
    flipper.join().unwrap();
    assert!(runs > 0);
    std::fs::remove_file(&big).unwrap();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o555)).unwrap();
    t.run(&["verify"]).ok();
}

/// Every file under `dir`, as bytes (for grepping a secret).
fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push((e.path(), std::fs::read(e.path()).unwrap_or_default()));
            } else if ft.is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                out.push((e.path(), target.as_os_str().as_encoded_bytes().to_vec()));
            }
        }
    }
    out
}

// Issue 14.
#[test]
fn credentials_in_urls_never_leave_memory() {
    const SECRET: &str = "s3cretT0ken";
    let mut t = two_versions();
    let server = crate::common::Server::start(&t.served);
    let with_secret = |url: String| url.replacen("http://", &format!("http://fleet:{SECRET}@"), 1);
    for v in ["3.10.14", "3.12.3"] {
        let url = with_secret(server.url(&format!(
            "cpython-{v}-x86_64-unknown-linux-gnu-install_only.tar.gz"
        )));
        t.set_url(v, &url);
    }
    let catalogue = with_secret(server.url("catalogue.json"));
    let env = [
        ("PYSWAP_CATALOGUE", catalogue.as_str()),
        ("PYSWAP_CATALOGUE_TTL", "0s"),
    ];
    let mut outputs = vec![
        t.run_env(&["switch", "3.10"], &env).ok(),
        t.run_env(&["switch", "3.12", "--json"], &env).ok(),
        t.run_env(&["list", "--available", "--json"], &env).ok(),
        t.run_env(&["config", "show"], &env).ok(),
    ];
    // Failures name the URL: masked there too, in text and in the JSON error document.
    t.set_url("3.10.14", &with_secret(server.url("missing.tar.gz")));
    t.run(&["minors", "--remove", "3.10"]).ok();
    t.run(&["gc", "--keep", "0", "--staged"]).ok();
    t.run(&["gc", "--cache-max", "0"]).ok();
    outputs.push(
        t.run_env(&["switch", "3.10", "--json"], &env)
            .fails(1, "****@"),
    );
    let proxy = format!("http://proxyuser:{SECRET}@127.0.0.1:9");
    let mirror_env = [
        ("PYSWAP_CATALOGUE", catalogue.as_str()),
        ("PYSWAP_CATALOGUE_TTL", "0s"),
        ("HTTP_PROXY", proxy.as_str()),
        ("NO_PROXY", ""),
        ("PYSWAP_HTTP_RETRIES", "0"),
    ];
    outputs.push(t.run_env(&["switch", "3.10", "--json"], &mirror_env));
    for r in &outputs {
        assert!(
            !r.stdout.contains(SECRET) && !r.stderr.contains(SECRET),
            "the secret was printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    for (path, bytes) in all_bytes(&t.home) {
        if path.extension().is_some_and(|e| e == "cache") {
            // A cached catalogue holds the body as served (owner-only file); its header is not.
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
            let header = bytes.split(|&b| b == b'\n').next().unwrap();
            assert!(!String::from_utf8_lossy(header).contains(SECRET));
            continue;
        }
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "the secret is in {}",
            path.display()
        );
    }
    // The database holds no secret; it is readable as the home is (issue 37), written by its
    // owner only.
    for db in ["pyswap.db", "pyswap.db-wal", "pyswap.db-shm"] {
        if let Ok(m) = std::fs::metadata(t.home.join(db)) {
            assert_eq!(m.permissions().mode() & 0o022, 0, "{db}");
        }
    }
    let lock = std::fs::metadata(t.home.join("locks/gc.lock")).unwrap();
    assert_eq!(lock.permissions().mode() & 0o777, 0o600);
}

// Issue 14.
#[test]
fn gc_gets_the_store_within_a_bound_under_a_stream_of_switches() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let t = Arc::new(two_versions());
    t.run(&["switch", "3.10"]).ok();
    t.run(&["switch", "3.12"]).ok();
    let stop = Arc::new(AtomicBool::new(false));
    let switches = Arc::new(AtomicUsize::new(0));
    // Commands that overlap without a gap, as pyswap takes the shared side: three holders of
    // 40 ms each, staggered, so at no instant is the store free.
    let locks = t.home.join("locks");
    let mut loops: Vec<_> = (0..3u64)
        .map(|k| {
            let (locks, stop) = (locks.clone(), stop.clone());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(13 * k));
                while !stop.load(Ordering::SeqCst) {
                    let held = pyswap::storage::lock::gc(
                        &locks,
                        pyswap::storage::lock::Mode::Shared,
                        std::time::Duration::from_secs(60),
                        &|| {},
                    )
                    .unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(40));
                    drop(held);
                }
            })
        })
        .collect();
    // And real switches among them.
    loops.push({
        let (t, stop, switches) = (t.clone(), stop.clone(), switches.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let v = if i % 2 == 0 { "3.10.14" } else { "3.12.3" };
                let r = t.run(&["switch", v, "--lock-timeout", "60"]);
                assert_eq!(r.code, Some(0), "{}", r.stderr);
                switches.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut waits = Vec::new();
    for _ in 0..6 {
        let started = std::time::Instant::now();
        let gc = t.run(&["gc", "--wait", "3", "--json"]).ok().json();
        assert_eq!(gc["skipped"], false, "gc starved behind the switches");
        waits.push(started.elapsed());
        let started = std::time::Instant::now();
        t.run(&["verify", "--lock-timeout", "3"]).ok();
        waits.push(started.elapsed());
    }
    stop.store(true, Ordering::SeqCst);
    for l in loops {
        l.join().unwrap();
    }
    eprintln!(
        "{} switches meanwhile; gc/verify took {:?}",
        switches.load(Ordering::SeqCst),
        waits
    );
    assert!(
        switches.load(Ordering::SeqCst) > 3,
        "the switches really ran"
    );
    t.assert_consistent();
}

// Issue 14.
#[test]
fn no_other_user_can_hold_a_lock() {
    if !crate::common::root_or_skip("other-user lock test") {
        return;
    }
    let t = two_versions();
    t.run(&["switch", "3.12"]).ok();
    open_to_nobody(&t);
    let out = as_nobody_sh(&format!(
        "exec 3<{}/locks/gc.lock && echo opened",
        t.home.display()
    ));
    assert!(!out.status.success(), "another user opened the gc lock");
    t.run(&["gc", "--wait", "1", "--json"]).ok();
    t.run(&["switch", "3.10", "--lock-timeout", "2"]).ok();
}

// Issue 14.
#[test]
fn a_signal_during_a_slow_check_kills_the_check_and_changes_nothing() {
    for (sig, name, code) in [
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGINT, "SIGINT", 130),
    ] {
        let t = two_versions();
        t.run(&["switch", "3.10"]).ok();
        let pidfile = t.dir.path().join("check.pid");
        t.write_config(&format!(
            "[[validation.checks]]\nname = \"slow\"\nrun = [\"sh\", \"-c\", \"sleep 60 & echo $! > {}; wait\"]\ntimeout = 120\nwhen = \"before\"\n",
            pidfile.display()
        ));
        let child = t
            .cmd()
            .args(["switch", "3.12"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !pidfile.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the check never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let sleeper: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // SAFETY: signalling a child process this test started.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0);
        let started = std::time::Instant::now();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("interrupted by {name}")),
            "{stderr}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // The check's process is gone (or a zombie waiting for init to reap it).
        let stat = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z"),
            "{name}: the check's process still runs: {stat}"
        );
        // Nothing changed, nothing is left but what gc sweeps, and the store is free.
        assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));
        assert!(t.store_names().iter().all(|n| !n.starts_with(".staging-")));
        let gc = t.run(&["gc", "--wait", "0", "--json"]).ok().json();
        assert_eq!(gc["skipped"], false);
        t.assert_consistent();
    }
}

// Issue 14.
#[test]
fn untrusted_text_is_escaped_and_repeated_warnings_summarised() {
    let mut t = two_versions();
    let good = t.entries.values().next().unwrap().clone();
    // A key that would recolour the terminal, and 100,000 broken entries.
    t.entries.insert(
        "cpython-3.12.9\u{1b}[31m-linux-x86_64-gnu".into(),
        good.clone(),
    );
    for i in 0..100_000 {
        t.entries.insert(
            format!("cpython-bad{i}\u{1b}]0;owned\u{7}-linux-x86_64-gnu"),
            serde_json::json!({"major": "not a number"}),
        );
    }
    t.write_catalogue();
    for args in [
        &["list", "--available"][..],
        &["switch", "3.12"],
        &["generations"],
    ] {
        let r = t.run(args);
        assert!(
            !r.stdout.contains('\u{1b}') && !r.stderr.contains('\u{1b}'),
            "{args:?} printed a raw ESC:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        let warnings = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .count();
        assert!(
            warnings <= 6,
            "{args:?}: {warnings} warning lines:\n{}",
            r.stderr
        );
    }
    let r = t.run(&["list", "--available"]).ok();
    assert!(
        r.stderr.contains("more warnings like these"),
        "{}",
        r.stderr
    );
}

// Issue 14.
#[test]
fn a_user_who_may_only_read_the_home_can_use_the_readers() {
    if !crate::common::root_or_skip("read-only user test") {
        return;
    }
    let t = two_versions();
    t.run(&["switch", "3.10"]).ok();
    t.run(&["switch", "3.12"]).ok();
    open_to_nobody(&t);
    // The operator lets others read the database (pyswap creates it owner-only).
    std::fs::set_permissions(
        t.home.join("pyswap.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    for args in [
        &["current"][..],
        &["generations", "--json"],
        &["list"],
        &["verify"],
        &["minors"],
    ] {
        let out = run_as_nobody(&t, args);
        assert!(
            out.status.success(),
            "{args:?} as a reader: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Writing commands say why they cannot, with exit 1.
    let out = run_as_nobody(&t, &["switch", "3.10"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.run(&["verify"]).ok();
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn gc_sees_a_mapping_in_a_home_whose_path_has_a_space() {
    let mut t = TestContext::new();
    t.home = t.dir.path().join("my home");
    t.add("3.11.8", Fake::Good, Compression::Gz);
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11.8"]).ok();
    t.run(&["switch", "3.11.9"]).ok();
    let old = entry_dir(&t, 1);
    let holder = mapper(&old.join("bin/python3"));
    let gc = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(gc["generations_removed"][0]["number"], 1, "{gc}");
    assert!(old.is_dir(), "gc deleted the runtime a process maps: {gc}");
    assert_eq!(gc["entries_in_use"][0]["pid"], holder.0.id(), "{gc}");
    let ps = t.run(&["ps", "--json"]).ok().json();
    assert!(
        ps.as_array()
            .unwrap()
            .iter()
            .any(|p| p["pid"] == holder.0.id()),
        "{ps}"
    );
    drop(holder);
    t.run(&["gc"]).ok();
    assert!(!old.exists(), "freed once the process is gone");
    t.assert_consistent();
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn gc_sees_a_process_that_reaches_the_store_through_a_bind_mount_in_another_namespace() {
    if !root_or_skip("a mount namespace") {
        return;
    }
    let t = two_generations();
    let old = entry_dir(&t, 1);
    let name = old.file_name().unwrap().to_str().unwrap().to_owned();
    let mnt = t.dir.path().join("container-view");
    std::fs::create_dir(&mnt).unwrap();
    // As a container does: the home bind-mounted elsewhere, in a mount namespace of its own;
    // the process works in the old entry through that path.
    let holder = Killed(started(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$1\" \"$2\" && cd \"$2/store/$3/bin\" && echo ready && exec sleep 120")
            .args(["sh", t.home.to_str().unwrap(), mnt.to_str().unwrap(), &name]),
    ));
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", holder.0.id())).unwrap();
    assert!(
        cwd.starts_with(&mnt),
        "the process sees another path: {}",
        cwd.display()
    );
    let gc = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert!(
        old.is_dir(),
        "gc deleted the runtime a process works in: {gc}"
    );
    assert_eq!(gc["entries_in_use"][0]["entry"], name.as_str(), "{gc}");
    drop(holder);
    t.run(&["gc"]).ok();
    assert!(!old.exists());
    t.assert_consistent();
}

/// `pyswap ARGS` as user `uid` on the test's home.
fn as_uid(t: &TestContext, uid: u32, args: &[&str]) -> crate::common::Run {
    crate::common::Run::from_output(&t.pyswap_as(uid).args(args).output().unwrap())
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn gc_by_a_non_root_owner_keeps_what_processes_it_cannot_inspect_may_use() {
    if !root_or_skip("two other users") {
        return;
    }
    let mut t = TestContext::new();
    t.open_to_others();
    let owned = t.dir.path().join("u");
    std::fs::create_dir(&owned).unwrap();
    std::os::unix::fs::chown(&owned, Some(1000), Some(1000)).unwrap();
    t.home = owned.join("home");
    t.add("3.11.8", Fake::Good, Compression::Gz);
    t.add("3.11.9", Fake::Good, Compression::Gz);
    as_uid(&t, 1000, &["switch", "3.11.8"]).ok();
    as_uid(&t, 1000, &["switch", "3.11.9"]).ok();
    for d in [t.home.clone(), t.home.join("store")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let old = entry_dir(&t, 1);
    // Another user's process works in generation 1's runtime.
    let holder = Killed(started(
        crate::common::as_nobody(Path::new("sh"))
            .arg("-c")
            .arg("cd \"$1\" && echo ready && exec sleep 120")
            .args(["sh", old.join("bin").to_str().unwrap()]),
    ));
    let r = as_uid(&t, 1000, &["gc", "--keep", "1", "--json"]).ok();
    let gc = r.json();
    assert!(
        old.is_dir(),
        "gc deleted what another user's process may use: {gc}"
    );
    assert_eq!(gc["generations_removed"][0]["number"], 1, "{gc}");
    assert_eq!(
        gc["kept_unseen"][0],
        old.file_name().unwrap().to_str().unwrap(),
        "{gc}"
    );
    let why = gc["unseen_why"].as_str().unwrap();
    assert!(
        why.contains("run gc as root") && why.contains("chmod 700"),
        "{why}"
    );
    let human = as_uid(&t, 1000, &["gc"]).ok();
    assert!(
        human
            .stderr
            .contains("kept 1 store entry that nothing visible uses"),
        "{}",
        human.stderr
    );
    drop(holder);
    // A private home: no one else can use it, so gc decides alone again.
    std::fs::set_permissions(&t.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let gc = as_uid(&t, 1000, &["gc", "--json"]).ok().json();
    assert_eq!(gc["kept_unseen"], serde_json::json!([]), "{gc}");
    assert!(!old.exists());
}
