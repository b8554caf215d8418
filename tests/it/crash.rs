//! kill -9 at every named point of `switch`, `install`, `rollback` and `gc`.
//!
//! Each scenario first runs its command once with `PYSWAP_TEST_CRASH_TRACE` to list the points it
//! passes (so a point added to the code is covered without touching this file), then, for each
//! pass of each point, starts from the same state, kills the command there and checks: the
//! profile resolves to a complete entry (the old or the new), every row has its complete tree
//! with a matching digest, the same command then succeeds with no manual cleanup, the next
//! `gc` leaves no staging, trash, temporary link or per-archive lock behind, and `verify` finds
//! the store clean.

use crate::common::{Compression, Fake, Server, TestContext, big_archive};

const CRASH: &str = "PYSWAP_TEST_CRASH_AT";
const TRACE: &str = "PYSWAP_TEST_CRASH_TRACE";

/// Every pass of every point `args` goes through from the state `setup` makes, as `name#k`.
fn points(setup: &dyn Fn() -> TestContext, args: &[&str], code: i32) -> Vec<String> {
    let t = setup();
    let trace = t.dir.path().join("trace");
    let r = t.run_env(args, &[(TRACE, trace.to_str().unwrap())]);
    assert_eq!(r.code, Some(code), "{args:?}: {}", r.stderr);
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for name in text.lines() {
        let k = seen.iter().filter(|(n, _)| n == name).count() + 1;
        seen.push((name.to_owned(), k));
    }
    let all: Vec<String> = seen.into_iter().map(|(n, k)| format!("{n}#{k}")).collect();
    eprintln!("points of {args:?}: {}", all.join(" "));
    all
}

fn names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        },
    )
}

#[track_caller]
fn no_leftovers(t: &TestContext, point: &str) {
    let store = names(&t.home.join("store"));
    assert!(
        store.iter().all(|n| !n.starts_with('.')),
        "{point}: work dirs left: {store:?}"
    );
    let profiles = names(&t.home.join("profiles"));
    assert!(
        profiles.iter().all(|n| !n.starts_with('.')),
        "{point}: temporary links left: {profiles:?}"
    );
    assert_eq!(t.tmp_files(), 0, "{point}: tmp files left");
    let locks = names(&t.home.join("locks"));
    assert!(
        locks.iter().all(|n| !n.starts_with("entry-")),
        "{point}: per-archive locks left: {locks:?}"
    );
}

/// Kills `args` at each of its points and checks the invariants; `allowed` are the versions the
/// profile may run right after the kill, `after` what it runs once the re-run succeeded.
fn kill_everywhere(
    setup: &dyn Fn() -> TestContext,
    args: &[&str],
    allowed: &[Option<&str>],
    after: Option<&str>,
    must_pass: &[&str],
) -> usize {
    kill_everywhere_exiting(setup, args, 0, allowed, after, must_pass)
}

/// The same for a command that ends with exit `code` when not killed.
fn kill_everywhere_exiting(
    setup: &dyn Fn() -> TestContext,
    args: &[&str],
    code: i32,
    allowed: &[Option<&str>],
    after: Option<&str>,
    must_pass: &[&str],
) -> usize {
    let all = points(setup, args, code);
    for p in must_pass {
        assert!(
            all.iter()
                .any(|x| x == p || x.starts_with(&format!("{p}#"))),
            "{args:?} no longer passes {p}: {all:?}"
        );
    }
    for point in &all {
        let t = setup();
        let r = t.run_env(args, &[(CRASH, point.as_str())]);
        assert_eq!(
            r.signal,
            Some(9),
            "{point} was not reached: code {:?}, stderr {}",
            r.code,
            r.stderr
        );
        t.assert_consistent();
        let v = t.profile_version();
        assert!(
            allowed.contains(&v.as_deref()),
            "{args:?} killed at {point}: profile runs {v:?}"
        );
        let r = t.run(args);
        assert_eq!(r.code, Some(code), "{point}: re-run: {}", r.stderr);
        assert_eq!(
            t.profile_version().as_deref(),
            after,
            "{point}: the re-run did its work"
        );
        t.run(&["gc"]).ok();
        no_leftovers(&t, point);
        t.assert_consistent();
        let r = t.run(&["verify"]);
        assert_eq!(r.code, Some(0), "{point}: verify: {}{}", r.stdout, r.stderr);
    }
    all.len()
}

fn at_3_11() -> TestContext {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Zst);
    t.run(&["switch", "3.11.9"]).ok();
    t
}

#[test]
fn kill_switch_at_every_point() {
    let n = kill_everywhere(
        &at_3_11,
        &["switch", "3.12.3"],
        &[Some("3.11.9"), Some("3.12.3")],
        Some("3.12.3"),
        &[
            "install:unpacked",
            "install:shared",
            "store:synced",
            "store:renamed",
            "store:dir-synced",
            "install:committed",
            "generation:before-commit",
            "switch:generation-committed",
            "generation-dir:built",
            "generation-dir:renamed",
            "current-link:temp-link",
            "current-link:renamed",
            "current-link:synced",
            "switch:activated",
            "minor-link:renamed",
        ],
    );
    assert!(n >= 15, "{n} points");
}

/// At 3.11.9's first build; the catalogue now has its second, which shares every file but
/// `NEWS` and `os.py` with it (issue 40: its bytecode reused, its files linked).
fn at_a_rebuild() -> TestContext {
    let mut t = TestContext::new();
    let build = |t: &mut TestContext, n: &str, os: &str| {
        let tar = crate::common::synthetic_tar("3.11.9", Fake::Good, |b| {
            crate::common::append_file(b, "python/NEWS", n.as_bytes(), 0o644);
            crate::common::append_file(b, "python/lib/python3.11/json.py", os.as_bytes(), 0o644);
        });
        let data = crate::common::compress(&tar, Compression::Gz);
        t.add_archive("3.11.9", &data, Compression::Gz);
        t.set_field("3.11.9", "build", n.into());
    };
    build(&mut t, "20260101", "# json\n");
    t.run(&["switch", "3.11.9"]).ok();
    build(&mut t, "20260202", "# json, rebuilt\n");
    t
}

// Issue 40: a rebuild's switch links bytecode and files from the objects of the build before.
#[test]
fn kill_a_rebuilds_switch_at_every_point() {
    let n = kill_everywhere(
        &at_a_rebuild,
        &["switch", "3.11.9"],
        &[Some("3.11.9")],
        Some("3.11.9"),
        &["bytecode:reused", "install:shared", "install:committed"],
    );
    assert!(n >= 12, "{n} points");
}

// Issue 40: `store optimise` on entries an older pyswap installed (every file its own inode,
// no objects), killed at every point: the runtime, the store and verify stay clean.
#[test]
fn kill_store_optimise_at_every_point() {
    let setup = || {
        let t = at_a_rebuild();
        t.run(&["switch", "3.11.9"]).ok();
        for n in [1, 2] {
            crate::objects::unshare(&t, &crate::common::entry_dir(&t, n));
        }
        t
    };
    let n = kill_everywhere(
        &setup,
        &["store", "optimise"],
        &[Some("3.11.9")],
        Some("3.11.9"),
        &["objects:new-name", "optimise:entry-shared"],
    );
    assert!(n >= 4, "{n} points");
}

#[test]
fn kill_switch_during_its_automatic_rollback() {
    let setup = || {
        let t = at_3_11();
        // Fails only through the profile, after the swap: the switch undoes itself.
        t.write_config(
            "[[validation.checks]]\nname = \"after-swap\"\nwhen = \"after\"\nrun = [\"sh\", \"-c\", \"test $PYSWAP_VERSION = 3.11.9\"]\n",
        );
        t
    };
    kill_everywhere_exiting(
        &setup,
        &["switch", "3.12.3"],
        1,
        &[Some("3.11.9"), Some("3.12.3")],
        Some("3.11.9"),
        &["current-link:renamed#2", "switch:rolled-back"],
    );
}

#[test]
fn kill_switch_to_an_installed_runtime_at_every_point() {
    let setup = || {
        let t = at_3_11();
        t.run(&["install", "3.12.3"]).ok();
        t
    };
    kill_everywhere(
        &setup,
        &["switch", "3.12.3"],
        &[Some("3.11.9"), Some("3.12.3")],
        Some("3.12.3"),
        &["switch:generation-committed", "current-link:renamed"],
    );
}

#[test]
fn kill_first_switch_at_every_point() {
    let setup = || {
        let mut t = TestContext::new();
        t.add("3.12.3", Fake::Good, Compression::Gz);
        t
    };
    kill_everywhere(
        &setup,
        &["switch", "3.12"],
        &[None, Some("3.12.3")],
        Some("3.12.3"),
        &["store:renamed", "current-link:renamed"],
    );
}

#[test]
fn kill_install_over_http_at_every_point() {
    let setup = || {
        let mut t = at_3_11();
        // The server lives as long as the process; each context serves its own directory.
        let server = Box::leak(Box::new(Server::start(&t.served)));
        t.serve(
            server,
            "3.12.3",
            &big_archive("3.12.3", Compression::Gz),
            Compression::Gz,
        );
        t
    };
    kill_everywhere(
        &setup,
        &["install", "3.12.3"],
        &[Some("3.11.9")],
        Some("3.11.9"),
        &[
            "cache:admitted",
            "install:entry-committed",
            "install:committed",
        ],
    );
}

#[test]
fn kill_rollback_at_every_point() {
    let setup = || {
        let t = at_3_11();
        t.run(&["switch", "3.12.3"]).ok();
        // A missing generation directory makes rollback write one first.
        pyswap::storage::store::remove_tree(&t.home.join("profiles/default-1")).unwrap();
        t
    };
    kill_everywhere(
        &setup,
        // `--to 1` so that the re-run after a kill past the swap is the same request.
        &["rollback", "--to", "1"],
        &[Some("3.11.9"), Some("3.12.3")],
        Some("3.11.9"),
        &[
            "generation-dir:renamed",
            "current-link:renamed",
            "rollback:activated",
        ],
    );
}

#[test]
fn kill_gc_at_every_point() {
    let setup = || {
        let mut t = TestContext::new();
        for v in ["3.12.1", "3.12.2", "3.12.3"] {
            t.add(v, Fake::Good, Compression::Gz);
            t.run(&["switch", v]).ok();
        }
        t
    };
    let n = kill_everywhere(
        &setup,
        &["gc", "--keep", "1"],
        &[Some("3.12.3")],
        Some("3.12.3"),
        &[
            "gc:generations-deleted",
            "gc:links-removed",
            "gc:entries-deleted",
            "store:trashed",
            "store:trash-deleted",
            "gc:entries-removed",
            "gc:swept",
        ],
    );
    assert!(n >= 8, "{n} points");
    // After all that, the history is what `--keep 1` leaves.
    let t = setup();
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.store_names().len(), 1);
    t.run(&["rollback"]).fails(1, "no generation older");
}
