//! Root on a shared machine (issue 35): pyswap runs as root from cron, units and Ansible on hosts
//! where ordinary users own checkouts, venvs and the directories above them. Every test here runs
//! as root (CI is root; elsewhere it says it was skipped) against directories owned by `nobody`
//! (uid 65534), with decoys outside every home that must survive. Real `CPython`, packed as
//! upstream packs it, for everything that depends on it; every minor from 3.9 to 3.13 this
//! machine has where the behaviour is `CPython`'s (`-I`, `-m venv`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    Compression, TestContext, append_file, append_symlink, compress, packed, packed_cpython,
    root_or_skip,
};
use crate::running::run_ok;

const NOBODY: u32 = 65534;

fn chown_nobody(path: &Path) {
    run_ok(
        Path::new("chown"),
        &["-R", "65534:65534", path.to_str().unwrap()],
    );
}

/// A directory owned by `nobody` (0755), made by root as a user's checkout would be.
fn users_dir(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    chown_nobody(path);
    path.to_owned()
}

/// Python sources that, if ever imported, leave `evidence/ran-<module>-uid<uid>` behind (an
/// empty file: nothing else needs writing).
fn plant(dir: &Path, modules: &[&str], evidence: &Path) {
    for m in modules {
        std::fs::write(
            dir.join(format!("{m}.py")),
            format!(
                "import os\nopen(os.path.join({:?}, 'ran-{m}-uid%d' % os.getuid()), 'w').close()\nraise SystemExit('planted {m} ran')\n",
                evidence.display()
            ),
        )
        .unwrap();
    }
    chown_nobody(dir);
}

/// A world-writable directory where planted code would leave its evidence.
fn evidence_dir(t: &TestContext) -> PathBuf {
    let d = t.dir.path().join("evidence");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

fn evidence(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The interpreters of every `CPython` minor 3.9 to 3.13 this machine has (its pyenv trees),
/// oldest first; without any (outside CI), this machine's `python3` alone.
pub fn minor_pythons() -> Vec<String> {
    let mut pythons: Vec<String> = cpython_minors()
        .into_iter()
        .map(|(_, python)| python.display().to_string())
        .collect();
    if pythons.is_empty() {
        pythons.push("python3".into());
    }
    pythons
}

/// The pyenv trees of 3.9 to 3.13 on this machine (`$PYENV_ROOT` or `~/.pyenv`), newest patch
/// of each minor: (minor, interpreter). Under CI each of them must be there.
pub fn cpython_minors() -> Vec<(String, PathBuf)> {
    let root = std::env::var_os("PYENV_ROOT").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".pyenv"),
        PathBuf::from,
    );
    let mut found: Vec<((u32, u32, u32), PathBuf)> = std::fs::read_dir(root.join("versions"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v: Vec<u32> = name
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let [3, minor, patch] = v[..] else {
                return None;
            };
            let python = e.path().join(format!("bin/python3.{minor}"));
            ((9..=13).contains(&minor) && python.is_file()).then_some(((3, minor, patch), python))
        })
        .collect();
    found.sort();
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for ((_, minor, _), python) in found {
        let m = format!("3.{minor}");
        out.retain(|(o, _)| *o != m);
        out.push((m, python));
    }
    let missing: Vec<String> = (9..=13)
        .map(|m| format!("3.{m}"))
        .filter(|m| !out.iter().any(|(o, _)| o == m))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CPython {missing:?} missing under ~/.pyenv/versions"
        );
        eprintln!("NOTICE (skipped): CPython {missing:?} not on this machine");
    }
    out
}

/// A home whose profile runs the `CPython` that `python` is (packed as upstream packs it).
fn home_on(python: &str, options: &[&str]) -> (TestContext, String) {
    let (version, archive) = packed(python, options);
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    t.run(&["switch", version]).ok();
    (t, version.clone())
}

// Issue 35, item 1: `venv create` ran `python3 -B -m venv`, whose `-m` put the caller's working
// directory first on `sys.path`: a `shutil.py` that the owner of /srv/app left there ran as root.
#[test]
fn venv_create_imports_nothing_from_the_callers_directory_on_every_minor() {
    if !root_or_skip("venv create from a directory another user owns") {
        return;
    }
    for (minor, python) in cpython_minors() {
        let (t, _) = home_on(python.to_str().unwrap(), &[]);
        let proof = evidence_dir(&t);
        let app = users_dir(&t.dir.path().join("srv/app"));
        plant(&app, &["shutil", "logging", "types", "sysconfig"], &proof);
        let r = t.run_in(&app, &["venv", "create", ".venv", "--", "--without-pip"]);
        let r = r.ok();
        assert_eq!(
            evidence(&proof),
            Vec::<String>::new(),
            "{minor}: {}",
            r.stderr
        );
        let out = run_ok(
            &app.join(".venv/bin/python"),
            &["-c", "import sys; print(sys.prefix)"],
        );
        assert!(out.trim().ends_with("/srv/app/.venv"), "{minor}: {out}");
    }
}

/// Two builds of this machine's `CPython` (3.11), the profile on build A, a bare venv at
/// `venv` registered on it; switching to `version` installs and checks build B.
fn two_builds_with_venv(venv: &Path) -> (TestContext, String) {
    let (version, a) = packed_cpython("python3", Some("build a\n"));
    let b = packed_cpython("python3", Some("build b\n"));
    let mut t = TestContext::new();
    t.add_archive(version, a, Compression::Gz);
    t.run(&["switch", version]).ok();
    t.add_archive(&b.0, &b.1, Compression::Gz);
    t.set_field(&b.0, "build", "20260201".into());
    crate::venvs::bare_venv(&t, venv);
    (t, version.clone())
}

fn venv_home(venv: &Path) -> String {
    std::fs::read_to_string(venv.join("pyvenv.cfg"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("home = ").map(str::to_owned))
        .unwrap()
}

// Issue 35, item 2: the check before a venv moves ran `-E` interpreters whose `sys.path` began
// with pyswap's working directory: a `json.py` another user left where root ran `switch` ran as
// root, twice (the check script and its per-module interpreter).
#[test]
fn the_venv_check_imports_nothing_from_the_directory_root_runs_switch_from() {
    if !root_or_skip("a venv check from a directory another user owns") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("svc/.venv");
    let (t, version) = two_builds_with_venv(&venv);
    std::fs::write(
        t.home.join("config.toml"),
        "[venv]\ncheck_modules = [\"json\", \"email\"]\n",
    )
    .unwrap();
    let proof = evidence_dir(&t);
    let cwd = users_dir(&t.dir.path().join("someones/checkout"));
    plant(
        &cwd,
        &["json", "email", "importlib", "site", "subprocess"],
        &proof,
    );
    let r = t.run_in(&cwd, &["switch", &version, "--json"]).ok();
    assert_eq!(evidence(&proof), Vec::<String>::new(), "{}", r.stderr);
    assert_eq!(r.json()["venvs"][0]["state"], "moved", "{}", r.stdout);
}

// Issue 35, item 2: the check reached the venv's site-packages by path; whoever owns a directory
// above a root-owned venv could swap it between pyswap's descriptor check and the interpreter's
// start, and feed root their `.pth` files. The pause makes the swap land at exactly that step.
#[test]
fn the_venv_check_reads_the_venv_it_checked_not_what_a_swapped_path_names() {
    if !root_or_skip("a venv check under a directory another user owns") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let users = users_dir(&dir.path().join("u"));
    let proj = users.join("proj");
    let venv = proj.join("venv");
    let (t, version) = two_builds_with_venv(&venv);
    chown_nobody(&proj);
    run_ok(Path::new("chown"), &["-R", "0:0", venv.to_str().unwrap()]);
    let proof = evidence_dir(&t);
    // What the user has ready: a look-alike venv whose site-packages runs code at start-up.
    let fake = users.join("fake");
    let site = fake.join("venv/lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("evil.pth"),
        format!(
            "import os; open(os.path.join({:?}, 'ran-pth-uid%d' % os.getuid()), 'w').close()\n",
            proof.display()
        ),
    )
    .unwrap();
    std::fs::copy(venv.join("pyvenv.cfg"), fake.join("venv/pyvenv.cfg")).unwrap();
    chown_nobody(&fake);
    // The swap, done as the user could (they own `u`): the real project out, the look-alike in.
    let out = swapped_at(
        &t,
        &["switch", &version, "--json"],
        "venv:check-opened",
        &format!(
            "mv {u}/proj {u}/proj.real && mv {u}/fake {u}/proj",
            u = users.display()
        ),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(evidence(&proof), Vec::<String>::new(), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// Waits (a minute at most) until `path` exists: the command reached its pause.
fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < until, "never reached {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs pyswap with `args`, paused at step `point` (`crash::pause`) while `nobody` runs
/// `script` (a swap of a directory they own), then lets it go on; its output.
fn swapped_at(t: &TestContext, args: &[&str], point: &str, script: &str) -> std::process::Output {
    let rendezvous = tempfile::tempdir().unwrap();
    let child = t
        .cmd()
        .args(args)
        .env(
            "PYSWAP_TEST_PAUSE_AT",
            format!("{point}={}", rendezvous.path().display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&rendezvous.path().join("paused"));
    let swap = crate::common::as_nobody_sh(script);
    assert!(
        swap.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&swap.stderr)
    );
    std::fs::write(rendezvous.path().join("go"), "").unwrap();
    child.wait_with_output().unwrap()
}

// Issue 35, item 5: `venv remove --delete` checked the venv through a descriptor, then deleted by
// path again, through every directory above it; the owner of a directory two levels up swapped
// it for a symlink in between, and root deleted a root-owned `victim/proj/app`.
#[test]
fn venv_remove_delete_deletes_the_venv_it_checked_and_never_a_swapped_path() {
    if !root_or_skip("deleting a venv under a directory another user owns") {
        return;
    }
    let (version, archive) = packed_cpython("python3", None);
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    t.run(&["switch", version]).ok();
    let shared = users_dir(&t.dir.path().join("shared"));
    let venv = shared.join("u/proj/app");
    crate::venvs::bare_venv(&t, &venv);
    chown_nobody(&shared);
    // Root's decoy, outside every home, shaped like the venv's path.
    let victim = t.dir.path().join("victim/proj/app");
    std::fs::create_dir_all(victim.join("bin")).unwrap();
    std::fs::write(victim.join("important.txt"), "root's").unwrap();
    std::fs::copy(venv.join("pyvenv.cfg"), victim.join("pyvenv.cfg")).unwrap();
    let out = swapped_at(
        &t,
        &["venv", "remove", venv.to_str().unwrap(), "--delete"],
        "venv:delete-checked",
        &format!(
            "mv {s}/u {s}/u.real && ln -s {} {s}/u",
            t.dir.path().join("victim").display(),
            s = shared.display()
        ),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        std::fs::read_to_string(victim.join("important.txt")).ok(),
        Some("root's".to_owned()),
        "{stderr}"
    );
    assert!(victim.join("pyvenv.cfg").exists() && victim.join("bin").exists());
    // What was deleted is the venv that was checked, wherever its owner moved it.
    assert!(!shared.join("u.real/proj/app").exists(), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

// Issue 35, items 6 and 7: `create` took any directory (`/srv/app` typed for `/srv/app/.venv`),
// and `remove --delete` then deleted all of it; `create` again on a held venv moved it onto the
// build its check refused.
#[test]
fn venv_create_and_delete_touch_only_what_a_venv_holds_and_create_again_changes_nothing() {
    if !root_or_skip("venvs in directories another user owns") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("svc/.venv");
    let (t, version) = two_builds_with_venv(&venv);
    let project = users_dir(&t.dir.path().join("srv/app"));
    std::fs::write(project.join("important.txt"), "x").unwrap();
    t.run(&["venv", "create", project.to_str().unwrap()])
        .fails(1, "holds `important.txt`");
    assert_eq!(std::fs::read(project.join("important.txt")).unwrap(), b"x");
    assert!(!project.join("pyvenv.cfg").exists());

    // A venv nobody registered is adopt's, not create's.
    let other = t.dir.path().join("other");
    run_ok(
        &t.profile_python(),
        &["-m", "venv", "--without-pip", other.to_str().unwrap()],
    );
    t.run(&["venv", "create", other.to_str().unwrap()])
        .fails(1, "already a venv");

    // Something of the user's inside the venv: --delete refuses and names it.
    std::fs::write(venv.join("notes.txt"), "mine").unwrap();
    t.run(&["venv", "remove", venv.to_str().unwrap(), "--delete"])
        .fails(1, "`notes.txt`");
    assert_eq!(std::fs::read(venv.join("notes.txt")).unwrap(), b"mine");
    assert!(venv.join("pyvenv.cfg").exists());
    std::fs::remove_file(venv.join("notes.txt")).unwrap();

    // Held: its check fails on build B. `create` again leaves it where it is, still held.
    std::fs::write(
        t.home.join("config.toml"),
        "[venv]\ncheck_modules = [\"no_such_module_anywhere\"]\n",
    )
    .unwrap();
    let before = venv_home(&venv);
    let r = t.run(&["switch", &version, "--json"]).ok();
    assert_eq!(r.json()["venvs"][0]["state"], "held", "{}", r.stdout);
    let r = t.run(&["venv", "create", venv.to_str().unwrap()]).ok();
    assert!(r.stderr.contains("already registered"), "{}", r.stderr);
    assert_eq!(venv_home(&venv), before, "create moved a held venv");
    let metrics = t.run(&["metrics"]).ok().stdout;
    assert!(
        metrics.contains("pyswap_venvs_held{profile=\"default\"} 1"),
        "{metrics}"
    );
    // And --delete of a plain venv deletes it whole.
    t.run(&["venv", "remove", venv.to_str().unwrap(), "--delete"])
        .ok();
    assert!(!venv.exists());
}

// Issue 35, item 4: the bytecode workers and the validation probes ran the archive's own
// interpreter as root, before anything had validated it. As root they run as `nobody`, unable to
// write a file's contents; `sandbox_user = "root"` brings the old behaviour back with a warning,
// and a home that user cannot reach is refused with the reason.
#[test]
fn archive_code_runs_as_the_sandbox_user_not_root() {
    if !root_or_skip("who runs archive code") {
        return;
    }
    let probe = tempfile::NamedTempFile::new().unwrap();
    let t0 = TestContext::new();
    let proof = evidence_dir(&t0);
    std::fs::write(
        probe.path(),
        format!(
            "import os\nopen(os.path.join({:?}, 'probe-uid%d' % os.getuid()), 'w').close()\n",
            proof.display()
        ),
    )
    .unwrap();
    let module = format!("pyswap_whoami={}", probe.path().display());
    let (version, archive) = packed("python3", &["--module", &module]);
    let config = "[validation]\nmodules = [\"ssl\", \"pyswap_whoami\"]\n";
    let home_with = |extra: &str| {
        let mut t = TestContext::new();
        t.add_archive(version, archive, Compression::Gz);
        std::fs::create_dir_all(&t.home).unwrap();
        std::fs::write(t.home.join("config.toml"), format!("{config}{extra}")).unwrap();
        t
    };
    let t = home_with("");
    t.run(&["switch", version]).ok();
    assert_eq!(evidence(&proof), vec![format!("probe-uid{NOBODY}")]);

    std::fs::remove_file(proof.join(format!("probe-uid{NOBODY}"))).unwrap();
    let t = home_with("[install]\nsandbox_user = \"root\"\n");
    let r = t.run(&["switch", version]).ok();
    assert!(r.stderr.contains("sandbox_user is root"), "{}", r.stderr);
    assert_eq!(evidence(&proof), vec!["probe-uid0".to_owned()]);

    // A home its sandbox user cannot reach: refused, with the reason and the way out.
    let t = home_with("");
    std::fs::set_permissions(t.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    t.run(&["switch", version])
        .fails(1, "nobody (uid 65534), who runs archive code for root");

    let t = home_with("[install]\nsandbox_user = \"no-such-user-here\"\n");
    t.run(&["switch", version])
        .fails(1, "sandbox_user \"no-such-user-here\" is not a user");
}

/// A synthetic runtime whose `bin/python3` is `script` (a hostile archive: what it does to the
/// compile worker's protocol is the test).
fn hostile_compiler(t: &mut TestContext, version: &str, script: &str) {
    let mut b = tar::Builder::new(Vec::new());
    append_file(&mut b, "python/bin/python3.12", script.as_bytes(), 0o755);
    append_symlink(&mut b, "python/bin/python3", "python3.12");
    append_file(&mut b, "python/lib/python3.12/os.py", b"# os\n", 0o644);
    append_file(&mut b, "python/lib/python3.12/json/__init__.py", b"", 0o644);
    let tar = b.into_inner().unwrap();
    t.add_archive(version, &compress(&tar, Compression::Gz), Compression::Gz);
}

/// Runs pyswap with `args` and kills it after `limit` (then the test fails): a hang is a
/// failure, not a stuck test run.
fn run_bounded(t: &TestContext, args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = t
        .cmd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code(), err);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pyswap {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
        })
        .collect()
}

// Issue 35, items 8 and 9: a compile worker that answered for all its files and then lingered
// with its output open (here with a child of its own) hung the install for ever with the locks
// held; one that wrote an endless header line grew pyswap to gigabytes.
#[test]
fn a_compile_worker_that_lingers_or_floods_ends_the_install_within_seconds() {
    if !root_or_skip("hostile compile workers") {
        return;
    }
    // Answers the protocol for every source, then lingers with a child holding its output.
    let lingering = "#!/bin/sh\nif [ \"$6\" = pyswap-probe-1 ]; then printf 0000fa4e-030c04f0-fake-312; exit 0; fi\nif [ \"${10}\" = pyswap-compile-1 ]; then\n  IFS= read -r n; dd bs=1 count=\"$n\" of=/dev/null 2>/dev/null\n  printf 'T fake-312\\n'; i=0\n  while IFS= read -r p; do d=x; printf 'P %d %d\\n%s' \"$i\" 1 \"$d\"; i=$((i+1)); done\n  printf 'D\\n'\n  sleep 3171 &\n  exec sleep 3172\nfi\nexit 1\n";
    let mut t = TestContext::new();
    hostile_compiler(&mut t, "3.12.4", lingering);
    let (code, err) = run_bounded(&t, &["switch", "3.12.4"], Duration::from_secs(120));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("did not exit within"), "{err}");
    assert!(
        processes_with("sleep 317").is_empty(),
        "a worker's process outlived the install"
    );
    assert!(t.profile_version().is_none());

    // An endless header line: refused at the bound, not read into memory.
    let flood = "#!/bin/sh\nif [ \"$6\" = pyswap-probe-1 ]; then printf 0000fa4e-030c04f0-fake-312; exit 0; fi\nif [ \"${10}\" = pyswap-compile-1 ]; then\n  printf 'T '; exec yes aaaaaaaa | tr -d '\\n'\nfi\nexit 1\n";
    let mut t = TestContext::new();
    hostile_compiler(&mut t, "3.12.4", flood);
    let (code, err) = run_bounded(&t, &["switch", "3.12.4"], Duration::from_secs(120));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("header longer than 256 bytes"), "{err}");
    assert!(processes_with("yes aaaaaaaa").is_empty());
}

// Issue 35, item 12: ESC was escaped but not a line break: a venv directory named
// `app\nerror: the current runtime is corrupt; ...` printed that `error:` line as one of its own.
#[test]
fn a_line_break_in_a_value_never_starts_a_line_of_output() {
    let t = TestContext::new();
    std::fs::create_dir(&t.home).unwrap();
    let forged = "/srv/app\nerror: the current runtime is corrupt; run rm -rf /var/lib/pyswap\nx";
    let r = t.run(&["venv", "remove", forged]);
    let r = r.fails(1, "is not a registered venv");
    assert!(
        r.stderr
            .lines()
            .all(|l| !l.starts_with("error: the current")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(r"/srv/app\u{a}error: the current"),
        "{}",
        r.stderr
    );
}

// Issue 35, item 13: a switch signalled while it checked registered venvs exited 0 and recorded
// the interruption as failed checks (`held from <new>: killed by signal 9`), so the venvs looked
// broken by the new runtime. An interrupted check decides nothing, and the command says it was
// interrupted (128 + the signal).
#[test]
fn sigterm_during_a_venv_check_marks_nothing_and_exits_143() {
    if !root_or_skip("a signal during a venv check") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("svc/.venv");
    let (t, version) = two_builds_with_venv(&venv);
    let proof = evidence_dir(&t);
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::write(
        site.join("slowmod.py"),
        format!(
            "import os, time\nopen(os.path.join({:?}, 'check-started'), 'w').close()\ntime.sleep(60)\n",
            proof.display()
        ),
    )
    .unwrap();
    std::fs::write(
        t.home.join("config.toml"),
        "[venv]\ncheck_modules = [\"slowmod\"]\n",
    )
    .unwrap();
    let before = venv_home(&venv);
    let child = t
        .cmd()
        .args(["switch", &version, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&proof.join("check-started"));
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert_eq!(venv_home(&venv), before, "{stderr}");
    let listed = t.run(&["venv", "list", "--json"]).ok().json();
    assert!(listed[0]["held"].is_null(), "{listed}");
    assert!(processes_with("slowmod").is_empty());
}

/// A home with one synthetic 3.11.9 in its catalogue, and the release directory name a mirror
/// puts it under (learnt by mirroring it once into a scratch directory).
fn mirror_source() -> (TestContext, String) {
    let mut t = TestContext::new();
    t.add("3.11.9", crate::common::Fake::Good, Compression::Gz);
    let scratch = t.dir.path().join("scratch");
    t.run(&["mirror", scratch.to_str().unwrap(), "3.11.9"]).ok();
    let release = std::fs::read_dir(&scratch)
        .unwrap()
        .flatten()
        .find(|e| e.file_type().unwrap().is_dir())
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    (t, release)
}

// Issue 35, items 14 and 15: root's `mirror DIR` wrote the archive through `DIR/<build>`, a link
// that uid 65534 planted to a root-only directory; with `DIR` itself a link to another mirror it
// replaced that mirror's catalogue; a FIFO planted as the catalogue hung it with the gc lock held.
#[test]
fn root_mirrors_only_into_a_directory_it_trusts_and_never_through_a_planted_link() {
    if !root_or_skip("mirroring into directories another user owns") {
        return;
    }
    let (t, release) = mirror_source();
    let secret = t.dir.path().join("root-only");
    std::fs::create_dir(&secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A directory the user owns, with the release directory a link they planted.
    let theirs = users_dir(&t.dir.path().join("theirs"));
    std::os::unix::fs::symlink(&secret, theirs.join(&release)).unwrap();
    t.run(&["mirror", theirs.to_str().unwrap(), "3.11.9"])
        .fails(1, "owned by uid 65534");
    // Root's own directory, where the release directory is a link (planted while it was open).
    let own = t.dir.path().join("own");
    std::fs::create_dir(&own).unwrap();
    std::os::unix::fs::symlink(&secret, own.join(&release)).unwrap();
    t.run(&["mirror", own.to_str().unwrap(), "3.11.9"])
        .fails(1, "symlink or not a directory");
    // Or a directory of the user's there.
    std::fs::remove_file(own.join(&release)).unwrap();
    users_dir(&own.join(&release));
    t.run(&["mirror", own.to_str().unwrap(), "3.11.9"])
        .fails(1, "owned by uid 65534");
    assert_eq!(std::fs::read_dir(&secret).unwrap().count(), 0);

    // DIR a link to another mirror: refused; that mirror's catalogue is as it was.
    let other = t.dir.path().join("scratch");
    let before = std::fs::read(other.join("download-metadata.json")).unwrap();
    let link = t.dir.path().join("link");
    std::os::unix::fs::symlink(&other, &link).unwrap();
    t.run(&["mirror", link.to_str().unwrap(), "3.11.9"])
        .fails(1, "is a symlink");
    assert_eq!(
        std::fs::read(other.join("download-metadata.json")).unwrap(),
        before
    );

    // A FIFO as the catalogue: refused at once, and gc is not held off.
    let fifo_dir = t.dir.path().join("fifo");
    std::fs::create_dir(&fifo_dir).unwrap();
    run_ok(
        Path::new("mkfifo"),
        &[fifo_dir.join("download-metadata.json").to_str().unwrap()],
    );
    let (code, err) = run_bounded(
        &t,
        &["mirror", fifo_dir.to_str().unwrap(), "3.11.9"],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    t.run(&["gc"]).ok();
}
