//! Issue 25: the third hardening round. Each case is an attack that worked before; nothing
//! outside the test's own directories is touched, and decoys outside the home survive.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{Compression, Fake, TestContext, root_or_skip, with_current};

// Issue 25.
#[test]
fn minors_remove_checks_its_argument_before_it_becomes_a_path() {
    let t = with_current();
    let decoy = t.dir.path().join("x");
    std::fs::write(&decoy, "keep me").unwrap();
    let db = t.home.join("pyswap.db");
    for evil in [
        "3.11/../../../x",
        "../pyswap.db",
        "3.11/../../pyswap.db",
        "/etc/passwd",
        "",
        "3.1x",
    ] {
        let r = t.run(&["minors", "--remove", evil]);
        r.fails(1, "is not a minor version");
    }
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "keep me");
    assert!(db.is_file());
    t.assert_consistent();
    // An unknown minor is an error naming it, printed without raw control characters.
    t.run(&["minors", "--remove", "3.99"])
        .fails(1, "has no minor path 3.99");
    let r = t.run(&["minors", "--remove", "3.9\u{1b}[31m"]);
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
    r.fails(1, "is not a minor version");
    // Something that is not a link where a minor path belongs is not pyswap's to remove.
    let link = t.home.join("profiles/default@3.11");
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, "not a link").unwrap();
    t.run(&["minors", "--remove", "3.11"])
        .fails(1, "is not a symlink");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "not a link");
}

/// `program args` started, and a moment to get going (it must have opened, mapped or entered
/// what it uses before the test goes on).
pub fn started(c: &mut Command) -> Child {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the holder did not start");
    child
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that maps `file` read-only, closes it (only `maps` names it then) and waits.
pub fn mapper(file: &Path) -> Killed {
    let script = "import mmap, sys, time\nf = open(sys.argv[1], 'rb')\nm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\nf.close()\nprint('ready', flush=True)\ntime.sleep(120)\n";
    Killed(started(
        Command::new("python3").args(["-c", script]).arg(file),
    ))
}

/// A home whose profile ran 3.11.8 (generation 1), then 3.11.9 (generation 2, current).
pub fn two_generations() -> TestContext {
    let mut t = TestContext::new();
    t.add("3.11.8", Fake::Good, Compression::Gz);
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11.8"]).ok();
    t.run(&["switch", "3.11.9"]).ok();
    t
}

pub fn entry_dir(t: &TestContext, n: u64) -> PathBuf {
    let db = pyswap::storage::db::Db::open(&t.home.join("pyswap.db")).unwrap();
    let name = db.generation("default", n).unwrap().unwrap().entry_name;
    t.home.join("store").join(name)
}

// Issue 25.
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

// Issue 25.
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

// Issue 25.
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

/// A shell of the machine, or a skip (a CI failure: `.ci/run` installs them).
fn shell(name: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing; .ci/run installs it"
        );
        eprintln!("NOTICE (skipped): {name} is not installed");
    }
    found
}

// Issue 25.
#[test]
fn env_is_quoted_by_each_shells_own_rules() {
    let mut t = TestContext::new();
    // A home name that runs a command when a fish user sources POSIX quoting (fish 3.6 reads
    // `\'` in single quotes as an escaped quote), and one that breaks POSIX quoting naively.
    for evil in [
        r"x\';/usr/bin/touch PWNED;echo \'y",
        "it's $(touch PWNED) `touch PWNED` \\ \"q\"",
    ] {
        t.home = t.dir.path().join(evil);
        let bin = t.home.join("profiles/default/bin");
        for (sh, flag) in [
            ("sh", None),
            ("dash", Some("sh")),
            ("bash", None),
            ("bash", Some("bash")),
            ("zsh", Some("zsh")),
            ("fish", Some("fish")),
        ] {
            let Some(program) = shell(sh) else { continue };
            let mut args = vec!["env"];
            if let Some(f) = flag {
                args.extend(["--shell", f]);
            }
            let line = t.run(&args).ok().stdout;
            let work = tempfile::tempdir().unwrap();
            let script = work.path().join("env.sh");
            std::fs::write(&script, &line).unwrap();
            let print = if sh == "fish" {
                "source ./env.sh; printf '%s\\n' $PATH[1]"
            } else {
                ". ./env.sh; printf '%s\\n' \"${PATH%%:*}\""
            };
            let out = Command::new(&program)
                .args(["-c", print])
                .current_dir(work.path())
                .env("PATH", "/usr/bin:/bin")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{sh}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !work.path().join("PWNED").exists(),
                "{sh} ran a command from {line}"
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'),
                bin.to_str().unwrap(),
                "{sh}: {line}"
            );
        }
    }
    // With PATH unset or empty the line adds no empty element (the working directory).
    t.home = t.dir.path().join("plain");
    let line = t.run(&["env"]).ok().stdout;
    for unset in ["unset PATH", "PATH="] {
        let out = Command::new("/bin/sh")
            .args(["-c", &format!("{unset}\n{line}printf '%s' \"$PATH\"")])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            t.home.join("profiles/default/bin").to_str().unwrap(),
            "{unset}"
        );
    }
    // A `:` would split PATH: refused with the reason.
    t.home = t.dir.path().join("a:b");
    t.run(&["env"])
        .fails(1, "PATH separates its directories with `:`");
}

// Issue 25.
#[test]
fn a_deep_tree_is_refused_at_unpack_and_gc_deletes_any_depth_under_a_small_ulimit() {
    let mut t = with_current();
    // A 100-deep chain of directories: refused by name, in one short line, nothing kept.
    let mut builder = tar::Builder::new(Vec::new());
    let deep = format!("python/{}f", "a/".repeat(100));
    crate::common::append_file(&mut builder, &deep, b"x", 0o644);
    let data = crate::common::compress(&builder.into_inner().unwrap(), Compression::Gz);
    t.add_archive("3.11.10", &data, Compression::Gz);
    let r = t
        .run(&["switch", "3.11.10"])
        .fails(1, "path has 102 components; more than 64 is refused");
    assert!(
        r.stderr.lines().all(|l| l.len() < 600),
        "an error line of {} bytes",
        r.stderr.lines().map(str::len).max().unwrap_or(0)
    );
    crate::common::nothing_lost(&t);

    // A 1,100-deep work area (as an older pyswap or a crash could leave): gc deletes it with 64
    // descriptors, and the chain is made relative to a descriptor (its path is past PATH_MAX).
    let staging = t.home.join("store/.staging-deep");
    std::fs::create_dir(&staging).unwrap();
    {
        use rustix::fs::{Mode, OFlags};
        let mut fd =
            rustix::fs::open(&staging, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        for _ in 0..1100 {
            rustix::fs::mkdirat(&fd, "d", Mode::from_raw_mode(0o555)).unwrap();
            fd = rustix::fs::openat(&fd, "d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
                .unwrap();
        }
    }
    let mut gc = Command::new("sh");
    gc.args(["-c", "ulimit -n 64 && exec \"$0\" gc --json"])
        .arg(env!("CARGO_BIN_EXE_pyswap"));
    for (k, v) in t.cmd().get_envs() {
        match v {
            Some(v) => gc.env(k, v),
            None => gc.env_remove(k),
        };
    }
    let out = gc.output().unwrap();
    assert!(
        out.status.success(),
        "gc wedged: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!staging.exists(), "the deep work area is still there");
    t.run(&["gc"]).ok();
    crate::common::nothing_lost(&t);
}

// Issue 25.
#[test]
fn a_trickling_catalogue_is_cut_off_and_holds_no_lock_meanwhile() {
    let t = with_current();
    let server = crate::server::Server::start(&t.served);
    server.script(
        "catalogue.json",
        vec![crate::server::Behaviour::Trickle(
            std::time::Duration::from_millis(50),
        )],
    );
    let url = format!("{}/catalogue.json", server.base);
    let started_at = std::time::Instant::now();
    let switch = t
        .cmd()
        .args(["switch", "3.12", "--download-timeout", "3"])
        .env("PYSWAP_CATALOGUE", &url)
        .env("PYSWAP_HTTP_RETRIES", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the catalogue trickles in, gc runs (it is not held off by the switch).
    std::thread::sleep(std::time::Duration::from_millis(800));
    let gc = t.run(&["gc", "--wait", "1", "--json"]).ok().json();
    assert_eq!(
        gc["skipped"], false,
        "gc was held off while a catalogue downloaded: {gc}"
    );
    let out = switch.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("overall timeout of 3 s reached"),
        "{stderr}"
    );
    assert!(!stderr.contains("no data for a while"), "{stderr}");
    assert!(
        started_at.elapsed() < std::time::Duration::from_secs(30),
        "not cut off: {:?}",
        started_at.elapsed()
    );
    crate::common::nothing_lost(&t);
}

// Issue 25.
#[test]
fn a_python_version_file_is_untrusted_input() {
    let t = with_current();
    let secret = t.dir.path().join("shadow");
    std::fs::write(&secret, "root:$6$SECRETHASH:19000:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cases: Vec<(&str, Box<dyn Fn(&Path)>, &str)> = vec![
        (
            "fifo",
            Box::new(|p: &Path| {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    p,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o644),
                    0,
                )
                .unwrap();
            }),
            "not a regular file",
        ),
        (
            "dev-zero",
            Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
            "not a regular file",
        ),
        (
            "sparse",
            Box::new(|p: &Path| {
                let f = std::fs::File::create(p).unwrap();
                f.set_len(2 << 30).unwrap();
            }),
            "is not a version request",
        ),
        (
            "secret",
            Box::new(|p: &Path| std::os::unix::fs::symlink(&secret, p).unwrap()),
            "is not a version request",
        ),
    ];
    for (name, make, needle) in &cases {
        let dir = t.dir.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        make(&dir.join(".python-version"));
        let started_at = std::time::Instant::now();
        for args in [&["switch"][..], &["pin", "--json"][..]] {
            let r = t.run_in(&dir, args);
            assert_eq!(r.code, Some(1), "{name} {args:?}: {}", r.stderr);
            assert!(r.stderr.contains(needle), "{name}: {}", r.stderr);
            assert!(
                !r.stderr.contains("SECRET") && !r.stdout.contains("SECRET"),
                "{name}: the file's text was shown"
            );
        }
        assert!(
            started_at.elapsed() < std::time::Duration::from_secs(20),
            "{name}: slow"
        );
    }
    crate::common::nothing_lost(&t);
    if !root_or_skip("root and another user's pin") {
        return;
    }
    // Root takes no version from a file another user owns (a shared directory).
    let shared = t.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let planted = shared.join(".python-version");
    std::fs::write(&planted, "3.11.9\n").unwrap();
    std::os::unix::fs::chown(&planted, Some(1000), Some(1000)).unwrap();
    t.run_in(&shared, &["switch"]).fails(
        1,
        "belongs to uid 1000; root takes no version from a file another user controls",
    );
    std::os::unix::fs::chown(&planted, Some(0), Some(0)).unwrap();
    t.run_in(&shared, &["switch"]).ok();
}

// Issue 25.
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

// Issue 25.
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

// Issue 25.
#[test]
fn a_redirect_to_file_is_named_as_such_and_help_lines_say_what_is_true() {
    let t = with_current();
    let server = crate::server::Server::start(&t.served);
    server.script(
        "catalogue.json",
        vec![crate::server::Behaviour::Redirect(
            "file:///etc/passwd".into(),
        )],
    );
    let url = format!("{}/catalogue.json", server.base);
    let r = t.run_env(
        &["switch", "3.12"],
        &[
            ("PYSWAP_CATALOGUE", url.as_str()),
            ("PYSWAP_HTTP_RETRIES", "0"),
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("HTTP 302 redirect to file:///etc/passwd, which is not followed"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("what was downloaded is kept"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("root:"), "{}", r.stderr);
    crate::common::nothing_lost(&t);
}

// Issue 25.
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

/// Every node under `dir`: path, kind, size, mtime and content hash (files), link target; the
/// database's `-wal`/`-shm` and the home's own mtime (SQLite's bookkeeping) left out.
fn snapshot(dir: &Path) -> Vec<String> {
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

// Issue 25.
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
    let before = snapshot(&t.home);
    for args in [
        &["switch", "3.12", "--dry-run"][..],
        &["upgrade", "--dry-run"][..],
        &["rollback", "--to", "2", "--dry-run"][..],
        &["install", "3.12", "--dry-run"][..],
        &["gc", "--keep", "1", "--dry-run"][..],
    ] {
        t.run_env(args, &remote).ok();
        assert_eq!(snapshot(&t.home), before, "{args:?} wrote into the home");
    }
}
