//! Issue 23: python-build-standalone archives ship no bytecode; pyswap compiles it into each new
//! store entry before the digest, marks the runtime externally managed, and nothing a user runs
//! writes into a published entry. Real `CPython` throughout (this machine's, packed as upstream
//! packs it: no `__pycache__`, every mtime 2024-01-01, RUNPATH `$ORIGIN/../lib`), run as users
//! run it: as root without `PYTHONDONTWRITEBYTECODE`, as `nobody`, from a venv.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::{
    Compression, Fake, TestContext, as_nobody, as_user, current_entry, files_under, next_second,
    nothing_lost, packed, real_cpython, root_or_skip, with_current,
};
use crate::running::{build_wheel, run_ok};

/// What a root service imports: a spread of the standard library.
const IMPORTS: &str = "import asyncio, json, email.parser, http.client, decimal, logging, \
    subprocess, argparse, zipfile, typing, pathlib, tempfile, ssl, sqlite3, ctypes, venv, \
    ensurepip, unittest, xml.etree.ElementTree, urllib.request, multiprocessing, \
    concurrent.futures, csv, sysconfig, pdb";

/// A context whose profile runs this machine's `CPython`, installed with bytecode.
fn real() -> (TestContext, String) {
    let (version, archive) = real_cpython();
    real_from(version, archive)
}

/// A context whose profile runs `archive` (`CPython` `version`), installed with bytecode.
fn real_from(version: &str, archive: &[u8]) -> (TestContext, String) {
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    t.run(&["switch", version]).ok();
    (t, version.to_owned())
}

/// Issue 36: a context per `CPython` minor 3.9 to 3.13 of this machine (its pyenv trees, packed
/// as upstream packs them), each installed with bytecode, and the version.
/// Without any such tree (outside CI), this machine's `python3` alone.
fn every_minor() -> impl Iterator<Item = (String, TestContext)> {
    crate::shared_host::minor_pythons()
        .into_iter()
        .map(|python| {
            let (version, archive) = packed(&python, &[]);
            eprintln!("CPython {version}");
            (version.clone(), real_from(version, archive).0)
        })
}

#[track_caller]
fn succeeds(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// Issue 23; issue 36: on every minor.
#[test]
fn a_root_process_importing_the_stdlib_leaves_the_entry_as_installed() {
    if !root_or_skip("a root process's imports") {
        return;
    }
    for (_, t) in every_minor() {
        a_root_process_adds_nothing(&t);
    }
}

fn a_root_process_adds_nothing(t: &TestContext) {
    let entry = current_entry(t);
    let installed = files_under(&entry);
    assert!(
        installed.iter().any(|f| f.ends_with("EXTERNALLY-MANAGED")),
        "no PEP 668 marker"
    );
    // Through the profile, as a root service or cron job runs it, and pip reading itself.
    let python = t.profile_python();
    succeeds(as_user(&python).args(["-c", IMPORTS]));
    succeeds(as_user(&python).args(["-m", "pip", "--version"]));
    succeeds(as_user(&python).args(["-m", "json.tool", "--help"]));
    assert_eq!(
        files_under(&entry),
        installed,
        "a root process wrote into the store"
    );
    t.run(&["verify"]).ok();

    // `python -O` looks for `.opt-1.pyc`, which pyswap does not compile: root writes them, and
    // verify says exactly that (not "corrupt"), and --repair deletes them without a download.
    next_second();
    succeeds(as_user(&python).args(["-O", "-c", "import json, csv"]));
    let r = t.run(&["verify"]).fails(1, "verify found 1 problem(s)");
    assert!(
        r.stderr.contains("added: ")
            && r.stderr.contains(".opt-1.pyc")
            && r.stderr.contains("installed files are intact"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("corrupt"), "{}", r.stderr);
    std::fs::remove_dir_all(t.served.clone()).unwrap();
    t.run(&["verify", "--repair"]).ok();
    t.run(&["verify"]).ok();
    assert_eq!(files_under(&entry), installed);
}

// Issue 23; issue 36: on every minor.
#[test]
fn the_stdlib_has_its_bytecode_and_another_user_imports_from_it() {
    for (_, t) in every_minor() {
        has_bytecode_another_user_imports(&t);
    }
}

fn has_bytecode_another_user_imports(t: &TestContext) {
    let entry = current_entry(t);
    let nodes = pyswap::ground::tree::scan(&entry).unwrap();
    let (with, all) = pyswap::domain::bytecode::coverage(&nodes);
    assert!(all > 1000, "{all} sources: the packer dropped the stdlib");
    assert!(with * 100 >= all * 99, "{with} of {all} have bytecode");
    // Compiled for a fixed path, not the staging directory it was compiled in.
    let os_pyc = nodes
        .iter()
        .find(|n| n.path.starts_with("lib/python3.") && n.path.contains("/__pycache__/os."))
        .unwrap();
    let pyc = std::fs::read(entry.join(&os_pyc.path)).unwrap();
    assert_eq!(&pyc[4..8], &[1, 0, 0, 0], "an unchecked hash-based pyc");
    let text = String::from_utf8_lossy(&pyc);
    assert!(
        text.contains("/install/lib/python3"),
        "co_filename not fixed"
    );
    assert!(!text.contains(".staging-"), "compiled at the staging path");
    if !root_or_skip("another user's start") {
        return;
    }
    t.open_to_others();
    // `-v` names where each module's code came from: the `.pyc` (bytecode used) or the `.py`
    // (compiled in memory, on every start, for a user who cannot write the store).
    let stderr = succeeds(as_nobody(&t.profile_python()).args([
        "-v",
        "-c",
        "import asyncio, json, email.parser, http.client, decimal, logging, subprocess, argparse, zipfile, typing, pathlib, tempfile",
    ]));
    let store = t.home.join("store").display().to_string();
    let from: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("# code object from "))
        .filter(|l| l.contains(&store))
        .collect();
    let compiled: Vec<&&str> = from.iter().filter(|l| l.contains(".py'")).collect();
    assert!(
        from.len() > 100,
        "{} modules loaded from the store",
        from.len()
    );
    assert!(compiled.is_empty(), "compiled from source: {compiled:?}");
}

// Issue 23.
#[test]
fn pip_refuses_the_profiles_interpreter_and_works_in_a_venv() {
    let (t, _) = real();
    let entry = current_entry(&t);
    let installed = files_under(&entry);
    let wheel = build_wheel(t.dir.path());
    let python = t.profile_python();
    let out = as_user(&python)
        .args(["-m", "pip", "install", "--no-index"])
        .arg(&wheel)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pip installed into the store");
    assert!(
        stderr.contains("externally-managed-environment")
            && stderr.contains("managed by pyswap")
            && stderr.contains("venv"),
        "{stderr}"
    );
    // The `pip` launcher, typed as users type it (issue 36: the packer's launchers were a
    // SyntaxError, so no test had ever run one): it runs, and refuses the same way.
    let pip = python.with_file_name("pip");
    let out = as_user(&pip).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && version.contains("pip ") && version.contains("/store/"),
        "{version}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_user(&pip)
        .args(["install", "--no-index"])
        .arg(&wheel)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("externally-managed-environment"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_user(&python).args(["-m", "ensurepip"]).output().unwrap();
    assert!(!out.status.success(), "ensurepip installed into the store");
    let venv = t.dir.path().join("venv");
    succeeds(as_user(&python).args(["-m", "venv"]).arg(&venv));
    let vpython = venv.join("bin/python");
    succeeds(
        as_user(&vpython)
            .args(["-m", "pip", "install", "--no-index"])
            .arg(&wheel),
    );
    let got = run_ok(
        &vpython,
        &["-c", "import pyswap_probe; print(pyswap_probe.VALUE)"],
    );
    assert_eq!(got.trim(), "42");
    assert_eq!(files_under(&entry), installed, "pip wrote into the store");
    t.run(&["verify"]).ok();
}

// Issue 23.
#[test]
fn one_archive_gives_one_entry_name_on_every_home_and_any_worker_count() {
    // Issue 36: on 3.9, 3.10 and 3.12 the bytes of a `.pyc` depended on what the same compiler
    // had compiled before, so 1, 2, 3 or 8 workers gave one entry name and 4 or 32 another.
    for (minor, python) in crate::shared_host::cpython_minors() {
        let (version, archive) = crate::common::packed(python.to_str().unwrap(), &[]);
        let mut names = Vec::new();
        for workers in ["1", "3", "4", "32"] {
            let mut t = TestContext::new();
            t.add_archive(version, archive, Compression::Gz);
            t.run(&["install", "--compile-workers", workers, version])
                .ok();
            names.push((workers, t.store_names()));
        }
        let first = &names[0].1;
        assert_eq!(first.len(), 1, "{minor}: {names:?}");
        for (workers, got) in &names {
            assert_eq!(got, first, "{minor}: {workers} workers gave another entry");
        }
    }
}

// Issue 23; issue 36: on every minor (a `.pyc` compiled again is the same bytes).
#[test]
fn verify_repair_restores_a_damaged_compiled_entry_byte_for_byte() {
    for (_, t) in every_minor() {
        repair_restores_bytecode(&t);
    }
}

fn repair_restores_bytecode(t: &TestContext) {
    let entry = current_entry(t);
    let pyc = pyswap::ground::tree::scan(&entry)
        .unwrap()
        .into_iter()
        .find(|n| n.path.contains("/json/__pycache__/decoder."))
        .unwrap()
        .path;
    let path = entry.join(&pyc);
    let original = std::fs::read(&path).unwrap();
    let dir = path.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, b"not bytecode").unwrap();
    t.run(&["verify"]).fails(1, "verify found 1 problem(s)");
    t.run(&["verify", "--repair"]).ok();
    assert_eq!(std::fs::read(entry.join(&pyc)).unwrap(), original);
    t.run(&["verify"]).ok();
    t.assert_consistent();
}

// Issue 23.
#[test]
fn a_source_that_does_not_compile_is_refused_by_name_and_nothing_is_published() {
    let mut t = with_current();
    let (version, archive) = packed("python3", &["--broken", "pyswap_broken.py"]);
    t.add_archive(version, archive, Compression::Gz);
    let r = t.run(&["switch", version]).fails(
        1,
        "cannot compile lib/python3.11/pyswap_broken.py: SyntaxError",
    );
    assert!(r.stderr.contains("validation failed"), "{}", r.stderr);
    nothing_lost(&t);
    assert!(t.store_names().iter().all(|n| !n.starts_with('.')));
}

/// Compile workers (their command line carries the worker's mark) working in `home`'s store
/// (their working directory is the runtime they compile): other tests' are not ours.
fn compilers(home: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(pyswap::domain::bytecode::WORKER_MARK)
            && std::fs::read_link(e.path().join("cwd")).is_ok_and(|d| d.starts_with(home))
        {
            found.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

// Issue 37 (item 12): `ps` shows every user each process's command line; a compile worker's
// is a short bootstrap, its 1.5 KB script comes on its stdin.
#[test]
fn a_compile_workers_command_line_is_short() {
    let (version, archive) = real_cpython();
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    let rendezvous = tempfile::tempdir().unwrap();
    let mut cmd = t.cmd();
    cmd.args(["switch", version]).env(
        "PYSWAP_TEST_PAUSE_AT",
        format!("bytecode:reading={}", rendezvous.path().display()),
    );
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !rendezvous.path().join("paused").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let workers = compilers(&t.home);
    let lines: Vec<Vec<u8>> = workers
        .iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .collect();
    std::fs::write(rendezvous.path().join("go"), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !lines.is_empty(),
        "no compile worker was running at the pause"
    );
    for l in &lines {
        let text = String::from_utf8_lossy(l);
        assert!(
            l.len() < 400 && !text.contains("marshal"),
            "{} bytes: {text}",
            l.len()
        );
    }
    t.run(&["verify"]).ok();
}

// Issue 23.
#[test]
fn kill_9_while_compiling_leaves_no_compiler_and_only_what_gc_sweeps() {
    let (version, archive) = real_cpython();
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    let r = t.run_env(
        &["switch", version],
        &[("PYSWAP_TEST_CRASH_AT", "bytecode:written#300")],
    );
    assert_eq!(r.signal, Some(9), "{}", r.stderr);
    // Each compiler has SIGKILL as its parent-death signal: gone at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !compilers(&t.home).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        compilers(&t.home).is_empty(),
        "compilers outlived pyswap: {:?}",
        compilers(&t.home)
    );
    let staged: Vec<String> = t
        .store_names()
        .into_iter()
        .filter(|n| n.starts_with(".staging-"))
        .collect();
    assert_eq!(staged.len(), 1, "{:?}", t.store_names());
    t.run(&["gc"]).ok();
    assert!(t.store_names().is_empty(), "{:?}", t.store_names());
    t.run(&["switch", version]).ok();
    t.run(&["verify"]).ok();
    t.assert_consistent();
}

// Issue 23.
#[test]
fn an_entry_without_bytecode_is_not_reused_once_bytecode_is_on() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let off = [("PYSWAP_COMPILE_BYTECODE", "false")];
    t.run_env(&["switch", "3.11.9"], &off).ok();
    let plain = t.store_names();
    assert_eq!(plain.len(), 1);
    let entry = t.home.join("store").join(&plain[0]);
    assert!(
        files_under(&entry)
            .iter()
            .all(|f| !f.contains("__pycache__"))
    );
    assert!(entry.join("lib/python3.11/EXTERNALLY-MANAGED").exists());
    // The same setting again reuses it; the default (compiled) makes a new entry and generation.
    t.run_env(&["switch", "3.11.9"], &off).ok();
    assert_eq!(t.store_names(), plain);
    let shown = t.run(&["config", "show", "--json"]).ok().stdout;
    assert!(shown.contains("install.compile_bytecode"), "{shown}");
    t.run(&["switch", "3.11.9"]).ok();
    let both = t.store_names();
    assert_eq!(both.len(), 2, "{both:?}");
    let compiled = both.iter().find(|n| **n != plain[0]).unwrap();
    assert!(
        files_under(&t.home.join("store").join(compiled))
            .iter()
            .any(|f| f == "lib/python3.11/__pycache__/os.fake-311.pyc")
    );
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(gens.as_array().unwrap().len(), 2);
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.store_names(), vec![compiled.clone()]);
    t.assert_consistent();
}

// Issue 23.
#[test]
fn verify_on_an_entry_root_wrote_bytecode_into_says_so_and_how_to_get_a_clean_one() {
    if !root_or_skip("bytecode written by root into an entry without any") {
        return;
    }
    let (version, archive) = real_cpython();
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    // As an entry installed before pyswap compiled bytecode: nothing in __pycache__.
    t.run_env(
        &["switch", version],
        &[("PYSWAP_COMPILE_BYTECODE", "false")],
    )
    .ok();
    let entry = current_entry(&t);
    next_second();
    succeeds(as_user(&t.profile_python()).args(["-c", IMPORTS]));
    let r = t.run(&["verify"]).fails(1, "verify found 1 problem(s)");
    assert!(
        r.stderr.contains("bytecode file(s)")
            && r.stderr.contains("installed without bytecode")
            && r.stderr.contains(&format!("pyswap switch {version}")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("corrupt"), "{}", r.stderr);
    // Repaired without the archive: the bytecode is deleted, the installed tree is intact.
    std::fs::remove_dir_all(t.served.clone()).unwrap();
    std::fs::create_dir_all(&t.served).unwrap();
    t.write_catalogue();
    t.run(&["verify", "--repair"]).ok();
    t.run(&["verify"]).ok();
    assert!(
        files_under(&entry)
            .iter()
            .all(|f| !f.contains("__pycache__"))
    );
}

// Issue 23.
#[test]
fn an_archive_that_ships_bytecode_keeps_it_and_gets_the_rest() {
    // The one archive with `.pyc` files in it (timestamp ones, as an older build would ship):
    // they are the archive's content and are kept; every other source gets pyswap's.
    let (version, archive) = packed("python3", &["--bytecode"]);
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    t.run(&["switch", version]).ok();
    let entry = current_entry(&t);
    let nodes = pyswap::ground::tree::scan(&entry).unwrap();
    let (with, all) = pyswap::domain::bytecode::coverage(&nodes);
    assert_eq!(with, all, "every source has its bytecode");
    let os_pyc = nodes
        .iter()
        .find(|n| n.path.starts_with("lib/python3.") && n.path.contains("/__pycache__/os."))
        .unwrap();
    let pyc = std::fs::read(entry.join(&os_pyc.path)).unwrap();
    assert_eq!(
        &pyc[4..8],
        &[0, 0, 0, 0],
        "the archive's timestamp pyc was kept"
    );
    let installed = files_under(&entry);
    if root_or_skip("a root process's imports on an archive with bytecode") {
        succeeds(as_user(&t.profile_python()).args(["-c", IMPORTS]));
        assert_eq!(files_under(&entry), installed);
    }
    t.run(&["verify"]).ok();
}

/// `CPython`'s own regression tests of bytecode and imports, kept in the archive for this test.
const REGRTESTS: [&str; 4] = [
    "test_py_compile",
    "test_compileall",
    "test_site",
    "test_importlib",
];

// Issue 23.
#[test]
fn cpythons_own_tests_of_imports_and_bytecode_pass_on_a_pyswap_runtime() {
    if !root_or_skip("CPython's regression tests, as root") {
        return;
    }
    let (version, archive) = packed("python3", &["--regrtest", &REGRTESTS.join(",")]);
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    t.run(&["switch", version]).ok();
    let entry = current_entry(&t);
    let installed = files_under(&entry);
    let out = as_user(&t.profile_python())
        .args(["-m", "test"])
        .args(REGRTESTS)
        .env("HOME", t.dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Tests result: SUCCESS"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // They start `python -O` and `-OO` children, which look for `.opt-1`/`.opt-2` bytecode that
    // pyswap does not compile: as root those are the only files they write into the entry.
    let added: Vec<String> = files_under(&entry)
        .into_iter()
        .filter(|f| !installed.contains(f))
        .collect();
    assert!(
        added.iter().all(|f| f.contains(".opt-")),
        "wrote into the store: {added:?}"
    );
    t.run(&["verify", "--repair"]).ok();
    assert_eq!(files_under(&entry), installed);
    t.run(&["verify"]).ok();
}

/// An upstream-shaped archive (`python/…`, gzip) of the tree at `root`, without the paths
/// `drop` rejects.
fn archive_of(root: &std::path::Path, drop: &dyn Fn(&str) -> bool) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt;
    let mut b = tar::Builder::new(Vec::new());
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<String> = std::fs::read_dir(root.join(&rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for name in names {
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if drop(&path) {
                continue;
            }
            let full = root.join(&path);
            let meta = full.symlink_metadata().unwrap();
            let inside = format!("python/{path}");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&full).unwrap();
                crate::common::append_symlink(&mut b, &inside, target.to_str().unwrap());
            } else if meta.is_dir() {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{inside}/"), std::io::empty())
                    .unwrap();
                stack.push(path);
            } else {
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                crate::common::append_file(&mut b, &inside, &std::fs::read(&full).unwrap(), mode);
            }
        }
    }
    crate::common::compress(&b.into_inner().unwrap(), Compression::Gz)
}

// Issue 36, found while testing it: the compile workers imported `encodings`, `warnings` and
// the codecs a coding cookie asks for from the tree they compiled in, which is from source
// while no `.pyc` is there yet and from the `.pyc` once another worker wrote it (or the archive
// shipped it); marshal's output followed that state (3.9: `'lambda'` in
// `lib2to3/fixes/fix_tuple_params.py`), so one archive gave two entry names under load. The same
// sources compiled in a tree full of bytecode (another build of the runtime, its other `.pyc`
// shipped) must give the same bytes.
#[test]
fn a_pyc_does_not_depend_on_the_bytecode_already_in_the_tree() {
    for (version, mut t) in every_minor() {
        let a = current_entry(&t);
        let minor = version.rsplitn(2, '.').last().unwrap().to_owned();
        let lib = format!("lib/python{minor}/");
        // Recompiled in B: the bytecode of these packages (none is imported at start).
        let redo = |p: &str| {
            ["lib2to3/", "html/", "email/", "json/", "ftplib", "xml/"]
                .iter()
                .any(|d| p.starts_with(&format!("{lib}{d}")))
                && p.contains("/__pycache__/")
        };
        let b = archive_of(&a, &|p| p == format!("{lib}EXTERNALLY-MANAGED") || redo(p));
        t.add_archive(&version, &b, Compression::Gz);
        t.set_field(&version, "build", "20260301".into());
        t.run(&["switch", &version]).ok();
        // The same tree, byte for byte: the same entry (its name is its digest).
        let b_entry = current_entry(&t);
        let redone: Vec<String> = files_under(&a).into_iter().filter(|p| redo(p)).collect();
        assert!(redone.len() > 50, "{version}: {} recompiled", redone.len());
        let differ: Vec<&String> = redone
            .iter()
            .filter(|p| std::fs::read(a.join(p)).ok() != std::fs::read(b_entry.join(p)).ok())
            .collect();
        assert!(
            differ.is_empty(),
            "{version}: compiled to other bytes in a tree that held bytecode: {differ:?}"
        );
        assert_eq!(a, b_entry, "{version}");
    }
}
