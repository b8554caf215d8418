//! Issue 24: services run from venvs. A pyswap venv names its store entry (`pyvenv.cfg` `home`
//! and `bin/python3`), so a running venv process keeps the build it started with; pyswap moves
//! the venv when the profile makes another runtime of its minor version current, after checking
//! it there. Real `CPython` (this machine's, packed as upstream packs it), real pip, two builds of
//! one version that differ in one stdlib module (`pyswap_build.MARK`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{Compression, Fake, TestContext, as_user, packed_cpython, root_or_skip};
use crate::running::run_ok;

const PIP_QUIET: [&str; 5] = [
    "install",
    "--no-index",
    "--no-cache-dir",
    "--disable-pip-version-check",
    "--quiet",
];

/// A home whose profile runs build A of this machine's `CPython`, with build B in the catalogue
/// under another build date (switching to `version` then installs B).
fn two_builds() -> (TestContext, String) {
    let (mut t, version) = build_a();
    let b = packed_cpython("python3", Some("build b\n"));
    t.add_archive(&b.0, &b.1, Compression::Gz);
    t.set_field(&b.0, "build", "20260201".into());
    (t, version)
}

/// A home whose profile runs build A of this machine's `CPython`; its version.
fn build_a() -> (TestContext, String) {
    let (version, archive) = packed_cpython("python3", Some("build a\n"));
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    t.run(&["switch", version]).ok();
    (t, version.clone())
}

/// A running interpreter that imports, on request, one module per line of its stdin and answers
/// `MARK-or-ok realpath(module file)` (the exception's name and nothing if the import fails).
struct Running {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

const SERVE: &str = r"
import importlib, os, sys
for line in sys.stdin:
    try:
        m = importlib.import_module(line.strip())
    except Exception as e:
        print(type(e).__name__, '', sep='\t', flush=True)
        continue
    print(getattr(m, 'MARK', 'ok'), os.path.realpath(getattr(m, '__file__', '') or ''), sep='\t', flush=True)
";

impl Running {
    fn start(python: &Path) -> Self {
        let mut child = as_user(python)
            .args(["-c", SERVE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut r = Self { child, out };
        r.import("json"); // started: its runtime is mapped
        r
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (MARK or `ok`, the real path of the module's file).
    fn import(&mut self, module: &str) -> (String, String) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{module}").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        let (mark, file) = line.trim().split_once('\t').unwrap_or((line.trim(), ""));
        (mark.to_owned(), file.to_owned())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The store entry generation `n` runs.
fn entry_of(t: &TestContext, n: u64) -> String {
    let db = pyswap::storage::db::Db::open(&t.home.join("pyswap.db")).unwrap();
    db.generation("default", n).unwrap().unwrap().entry_name
}

/// What a new process of the venv runs: (entry of its interpreter binary, entry of its stdlib
/// and MARK). A venv that runs wholly one build has the same entry twice.
fn runs(venv: &Path) -> (String, String, String) {
    let script = "import os, sys, pyswap_build; print(os.path.realpath(sys.executable)); print(os.path.realpath(pyswap_build.__file__)); print(pyswap_build.MARK)";
    let out = run_ok(&venv.join("bin/python"), &["-c", script]);
    let lines: Vec<&str> = out.lines().collect();
    let entry = |p: &str| {
        let rest = &p[p.find("/store/").unwrap() + 7..];
        rest.split('/').next().unwrap().to_owned()
    };
    (entry(lines[0]), entry(lines[1]), lines[2].to_owned())
}

/// A wheel the test builds: `files` (archive path, bytes) plus its dist-info, tagged `tag`.
fn wheel(dir: &Path, name: &str, tag: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let src = dir.join(format!("wheel-src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    let mut listed = Vec::new();
    for (i, (path, data)) in files.iter().enumerate() {
        let f = src.join(i.to_string());
        std::fs::write(&f, data).unwrap();
        listed.push(format!("{path}={}", f.display()));
    }
    let script = r#"
import base64, hashlib, sys, zipfile
out, name, tag = sys.argv[1:4]
pure = "true" if tag.startswith("py3-none") else "false"
info = f"{name}-1.0.dist-info"
files = {}
for pair in sys.argv[4:]:
    path, src = pair.split("=", 1)
    files[path] = open(src, "rb").read()
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
files[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: pyswap-tests\nRoot-Is-Purelib: {pure}\nTag: {tag}\n".encode()
path = f"{out}/{name}-1.0-{tag}.whl"
record = []
with zipfile.ZipFile(path, "w") as z:
    for p, data in files.items():
        z.writestr(p, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
print(path)
"#;
    let mut args = vec!["-c", script, dir.to_str().unwrap(), name, tag];
    args.extend(listed.iter().map(String::as_str));
    PathBuf::from(run_ok(Path::new("python3"), &args).trim())
}

/// A C extension module `pyswap_ext` compiled with the runtime's headers and the machine's C
/// compiler, in a wheel.
fn extension_wheel(t: &TestContext, venv: &Path) -> PathBuf {
    let include = run_ok(
        &venv.join("bin/python"),
        &[
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ],
    );
    let suffix = run_ok(
        &venv.join("bin/python"),
        &[
            "-c",
            "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))",
        ],
    );
    let c = t.dir.path().join("pyswap_ext.c");
    std::fs::write(
        &c,
        r#"#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "pyswap_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_pyswap_ext(void) { return PyModule_Create(&module); }
"#,
    )
    .unwrap();
    let so = t.dir.path().join("pyswap_ext.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-I"])
        .arg(include.trim())
        .arg(&c)
        .arg("-o")
        .arg(&so)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let name = format!("pyswap_ext{}", suffix.trim());
    wheel(
        t.dir.path(),
        "pyswap_ext",
        "cp311-cp311-linux_x86_64",
        &[(&name, std::fs::read(&so).unwrap())],
    )
}

/// `pyswap ps --json`'s row of process `pid`.
#[track_caller]
fn ps_row(t: &TestContext, pid: u32) -> crate::output::Running {
    let rows: Vec<crate::output::Running> =
        crate::output::strict(&t.run(&["ps", "--json"]).ok().stdout);
    rows.into_iter()
        .find(|r| r.pid == pid)
        .unwrap_or_else(|| panic!("ps does not list process {pid}"))
}

/// A pyswap venv without pip at `path`, on the profile's current runtime.
/// A registered venv without pip at `path` (its parent made first), on the profile's runtime.
pub fn bare_venv(t: &TestContext, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    t.run(&[
        "venv",
        "create",
        path.to_str().unwrap(),
        "--",
        "--without-pip",
    ])
    .ok();
}

fn pip_install(venv: &Path, wheel: &Path) {
    let mut args: Vec<&str> = PIP_QUIET.to_vec();
    args.push(wheel.to_str().unwrap());
    run_ok(&venv.join("bin/pip"), &args);
}

fn cfg(venv: &Path) -> String {
    std::fs::read_to_string(venv.join("pyvenv.cfg")).unwrap()
}

// Issue 24.
#[test]
fn a_venv_process_keeps_its_build_across_switch_gc_and_rollback_and_new_ones_follow() {
    let (t, version) = two_builds();
    let a = entry_of(&t, 1);
    let venv = t.dir.path().join("app/.venv");
    std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
    let r = t
        .run(&["venv", "create", venv.to_str().unwrap(), "--json"])
        .ok();
    assert_eq!(r.json()["entry"], a.as_str());
    let real = std::fs::canonicalize(&venv).unwrap();
    let home_line = format!("home = {}/store/{a}/bin", t.home.display());
    assert!(cfg(&venv).contains(&home_line), "{}", cfg(&venv));
    assert_eq!(
        std::fs::read_link(venv.join("bin/python3")).unwrap(),
        t.home.join("store").join(&a).join("bin/python3")
    );
    // A pure wheel and a compiled extension, installed with the venv's own pip.
    let pure = wheel(
        t.dir.path(),
        "pyswap_probe",
        "py3-none-any",
        &[("pyswap_probe/__init__.py", b"VALUE = 42\n".to_vec())],
    );
    pip_install(&venv, &pure);
    pip_install(&venv, &extension_wheel(&t, &venv));
    let packages =
        "import pyswap_probe, pyswap_ext; print(pyswap_probe.VALUE, pyswap_ext.answer())";
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", packages]).trim(),
        "42 42"
    );

    let mut service = Running::start(&venv.join("bin/python"));
    let on_a = |file: &str| file.contains(&format!("/store/{a}/"));

    // A switch to build B: the venv is checked and moved; the running process keeps A.
    let r = t.run(&["switch", &version, "--json"]).ok();
    let doc = r.json();
    let b = entry_of(&t, 2);
    assert_ne!(a, b);
    assert_eq!(doc["venvs"][0]["state"], "moved", "{}", r.stdout);
    assert_eq!(doc["venvs"][0]["path"], real.to_str().unwrap());
    assert_eq!(doc["venvs"][0]["to"], b.as_str());
    assert_eq!(doc["previous_runtime_processes"], 1, "{}", r.stdout);
    assert_eq!(doc["following_venv_processes"], serde_json::json!([]));
    let (mark, file) = service.import("pyswap_build");
    assert_eq!(
        mark, "build a",
        "the running venv process read another build's stdlib"
    );
    assert!(on_a(&file), "{file}");
    assert_eq!(
        runs(&venv),
        (b.clone(), b.clone(), "build b".into()),
        "a new process runs B"
    );
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", packages]).trim(),
        "42 42"
    );
    run_ok(
        &venv.join("bin/pip"),
        &["--version", "--disable-pip-version-check"],
    );
    let row = ps_row(&t, service.pid());
    assert_eq!(row.venv.as_deref(), venv.to_str());
    assert!(!row.venv_follows_profile);
    assert_eq!(row.entry, a);

    // A rollback to A: the venv returns without a check; the service imports from A still.
    let r = t.run(&["rollback", "--json"]).ok();
    assert_eq!(r.json()["venvs"][0]["state"], "returned", "{}", r.stdout);
    let (_, file) = service.import("fractions");
    assert!(on_a(&file), "{file}");
    assert_eq!(runs(&venv), (a.clone(), a.clone(), "build a".into()));
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", packages]).trim(),
        "42 42"
    );

    // Forward to B again, then a gc that deletes generation 1: A stays while the service runs
    // (it maps A's libpython), and the service still imports from A.
    let r = t.run(&["rollback", "--to", "2", "--json"]).ok();
    assert_eq!(r.json()["venvs"][0]["state"], "returned", "{}", r.stdout);
    let gc = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(gc["generations_removed"][0]["number"], 1, "{gc}");
    assert_eq!(gc["entries_in_use"][0]["entry"], a.as_str(), "{gc}");
    let (_, file) = service.import("csv");
    assert!(on_a(&file), "{file}");
    assert_eq!(runs(&venv), (b.clone(), b.clone(), "build b".into()));
    let listed = t.run(&["venv", "list", "--json"]).ok().json();
    assert_eq!(listed[0]["entry"], b.as_str());
    assert_eq!(listed[0]["state"], "ok");
    drop(service);
    let gc = t.run(&["gc", "--json"]).ok().json();
    assert_eq!(gc["entries_removed"][0], a.as_str(), "{gc}");
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", packages]).trim(),
        "42 42"
    );
    run_ok(
        &venv.join("bin/pip"),
        &["--version", "--disable-pip-version-check"],
    );
    t.assert_consistent();
}

// Issue 24.
/// Installs into `venv` a distribution that imports only on build A (and says who imported
/// it): the venv's check on build B fails. Its site-packages.
fn only_on_build_a(venv: &Path) -> PathBuf {
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(site.join("onlya")).unwrap();
    std::fs::write(
        site.join("onlya/__init__.py"),
        "import os, pyswap_build\nif pyswap_build.MARK != 'build a':\n    raise ImportError('built for build a; checked as uid %d' % os.geteuid())\n",
    )
    .unwrap();
    let info = site.join("onlya-1.0.dist-info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("METADATA"),
        "Metadata-Version: 2.1\nName: onlya\nVersion: 1.0\n",
    )
    .unwrap();
    std::fs::write(info.join("top_level.txt"), "onlya\n").unwrap();
    std::fs::write(info.join("RECORD"), "onlya/__init__.py,,\n").unwrap();
    site
}

// Issue 37 (item 8).
#[test]
fn a_dry_run_says_which_venvs_would_move_and_which_processes_keep_the_old_build() {
    let (t, version) = two_builds();
    let a = entry_of(&t, 1);
    let (moves, held) = (t.dir.path().join("moves"), t.dir.path().join("held"));
    bare_venv(&t, &moves);
    bare_venv(&t, &held);
    only_on_build_a(&held);
    let _one = Running::start(&t.profile_python());
    let _two = Running::start(&moves.join("bin/python"));
    let state = |t: &TestContext| {
        (
            cfg(&moves),
            cfg(&held),
            t.run(&["venv", "list", "--json"]).ok().stdout,
            t.run(&["generations", "--json"]).ok().stdout,
        )
    };
    let before = state(&t);
    let by_path = |doc: &serde_json::Value, venv: &Path| {
        doc["venvs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["path"] == venv.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} is not in {doc}", venv.display()))
            .clone()
    };

    // Build B is not installed yet: the checks run at the switch, and say so.
    let doc = t
        .run(&["switch", &version, "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(doc["previous_runtime_processes"], 2, "{doc}");
    assert_eq!(by_path(&doc, &moves)["state"], "to_check", "{doc}");
    assert_eq!(by_path(&doc, &held)["state"], "to_check", "{doc}");

    // Installed: each venv's check runs, read-only, and gives the state the switch would.
    t.run(&["install", &version]).ok();
    let doc = t.run(&["upgrade", "--dry-run", "--json"]).ok().json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["previous_runtime_processes"], 2, "{doc}");
    assert_eq!(by_path(&doc, &moves)["state"], "moved", "{doc}");
    assert_eq!(by_path(&doc, &moves)["from"], a.as_str(), "{doc}");
    let h = by_path(&doc, &held);
    assert_eq!(h["state"], "held", "{doc}");
    assert!(
        h["detail"].as_str().unwrap().contains("import onlya"),
        "{doc}"
    );
    let r = t.run(&["upgrade", "--dry-run"]).ok();
    let label = format!("{version}+20260201");
    assert!(
        r.stderr
            .contains("2 running processes of the runtime of generation 1 would keep it")
            && r.stderr
                .contains(&format!("venv {} would move from", moves.display()))
            && r.stderr
                .contains(&format!("to {label} (its check on it passes)"))
            && r.stderr
                .contains(&format!("venv {} would stay on", held.display())),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("/store/") && !r.stderr.contains("-cpython-"),
        "entry names: {}",
        r.stderr
    );
    assert_eq!(
        state(&t),
        before,
        "a dry run changed a venv, its row or a generation"
    );
    assert!(
        !held
            .join("lib/python3.11/site-packages/onlya/__pycache__")
            .exists(),
        "the check wrote bytecode into the venv"
    );

    // After the switch, a dry rollback: the moved venv would go back unchecked (it ran there).
    t.run(&["switch", &version]).ok();
    let _three = Running::start(&t.profile_python());
    let doc = t
        .run(&["rollback", "--to", "1", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(by_path(&doc, &moves)["state"], "returned", "{doc}");
    assert_eq!(
        doc["previous_runtime_processes"], 1,
        "a process started on build B: {doc}"
    );
}

#[test]
fn a_venv_whose_check_fails_stays_on_its_runtime_works_and_is_named() {
    let (t, version) = two_builds();
    let a = entry_of(&t, 1);
    let venv = t.dir.path().join("v");
    bare_venv(&t, &venv);
    // An installed distribution that only imports on build A, and says who imported it.
    let site = only_on_build_a(&venv);
    let owner = if root_or_skip("the check runs as the venv's owner") {
        // The venv belongs to `nobody`: root's check runs as nobody.
        t.open_to_others();
        run_ok(
            Path::new("chown"),
            &["-R", "65534:65534", venv.to_str().unwrap()],
        );
        65534
    } else {
        rustix::process::geteuid().as_raw()
    };

    let r = t.run(&["switch", &version, "--json"]).ok();
    let doc = r.json();
    assert_eq!(doc["venvs"][0]["state"], "held", "{}", r.stdout);
    let detail = doc["venvs"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("import onlya") && detail.contains(&format!("checked as uid {owner}")),
        "{detail}"
    );
    assert!(
        r.stderr.contains("stays on") && r.stderr.contains("check"),
        "{}",
        r.stderr
    );
    assert!(
        cfg(&venv).contains(&format!("/store/{a}/bin")),
        "untouched: {}",
        cfg(&venv)
    );
    let b = entry_of(&t, 2);
    assert_eq!(t.profile_version().as_deref(), Some(version.as_str()));
    assert!(
        std::fs::read_dir(&site)
            .unwrap()
            .flatten()
            .all(|e| e.file_name() != "__pycache__")
            && !site.join("onlya/__pycache__").exists(),
        "the check wrote bytecode into the venv"
    );
    let check = "import onlya, pyswap_build; print(pyswap_build.MARK)";
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", check]).trim(),
        "build a"
    );
    let listed = t.run(&["venv", "list", "--json"]).ok().json();
    assert!(listed[0]["held"].as_str().unwrap().contains(&b), "{listed}");
    // Issue 37, item 12: the table says so too, not a bare `ok`.
    let table = t.run(&["venv", "list"]).ok().stdout;
    assert!(table.contains("ok, held"), "{table}");
    let metrics = t.run(&["metrics"]).ok().stdout;
    assert!(
        metrics.contains("pyswap_venvs_held{profile=\"default\"} 1"),
        "{metrics}"
    );
    // gc keeps what the held venv runs.
    t.run(&["gc", "--keep", "1"]).ok();
    assert!(t.store_names().contains(&a));
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", check]).trim(),
        "build a"
    );

    // The manifest names what the check imports: the venv then moves (a switch to what is
    // already current makes it so).
    std::fs::write(
        t.home.join("config.toml"),
        "[venv]\ncheck_modules = [\"json\"]\n",
    )
    .unwrap();
    let r = t.run(&["switch", &version, "--json"]).ok();
    assert_eq!(r.json()["venvs"][0]["state"], "moved", "{}", r.stdout);
    assert_eq!(runs(&venv), (b.clone(), b, "build b".into()));
    let metrics = t.run(&["metrics"]).ok().stdout;
    assert!(
        metrics.contains("pyswap_venvs_held{profile=\"default\"} 0")
            && metrics.contains("pyswap_venvs{profile=\"default\"} 1"),
        "{metrics}"
    );
    if owner == 65534 {
        let meta = std::fs::symlink_metadata(venv.join("pyvenv.cfg")).unwrap();
        let link = std::fs::symlink_metadata(venv.join("bin/python3")).unwrap();
        assert_eq!(
            (meta.uid(), link.uid()),
            (65534, 65534),
            "written as the venv's owner"
        );
    }
}

// Issue 24.
#[test]
fn kill_9_at_every_point_of_a_move_leaves_each_venv_wholly_on_one_build() {
    let (t, version) = two_builds();
    let a = entry_of(&t, 1);
    let venv = t.dir.path().join("v");
    bare_venv(&t, &venv);
    t.run(&["switch", &version]).ok();
    let b = entry_of(&t, 2);
    t.run(&["rollback"]).ok();
    assert_eq!(runs(&venv).0, a);
    let trace = t.dir.path().join("trace");
    t.run_env(
        &["rollback", "--to", "2"],
        &[("PYSWAP_TEST_CRASH_TRACE", trace.to_str().unwrap())],
    )
    .ok();
    let points: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|p| p.starts_with("venv:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        points,
        [
            "venv:journaled",
            "venv:config-renamed",
            "venv:linked",
            "venv:moved"
        ],
        "the steps of a move"
    );
    for (i, point) in points.iter().enumerate() {
        // From A to B, killed at `point` (alternately by a rollback and by a switch).
        t.run(&["rollback", "--to", "1"]).ok();
        assert_eq!(runs(&venv), (a.clone(), a.clone(), "build a".into()));
        let r = if i % 2 == 0 {
            t.run_env(
                &["rollback", "--to", "2"],
                &[("PYSWAP_TEST_CRASH_AT", point)],
            )
        } else {
            t.run_env(&["switch", &version], &[("PYSWAP_TEST_CRASH_AT", point)])
        };
        assert_eq!(r.signal, Some(9), "{point}: {}", r.stderr);
        // The next pyswap command (gc, from cron) finishes the move.
        let gc = t.run(&["gc", "--json"]).ok();
        let (exe, stdlib, mark) = runs(&venv);
        assert_eq!(
            exe, stdlib,
            "{point}: one build's binary with the other's stdlib"
        );
        assert_eq!(
            (exe.as_str(), mark.as_str()),
            (b.as_str(), "build b"),
            "{point}: the checked move is finished: {}",
            gc.stdout
        );
        let listed = t.run(&["venv", "list", "--json"]).ok().json();
        assert_eq!(listed[0]["entry"], b.as_str(), "{point}");
        assert_eq!(listed[0]["state"], "ok", "{point}");
    }
    t.assert_consistent();
}

// Issue 24.
#[test]
fn a_plain_venv_made_from_the_profile_path_is_named_apart_after_a_switch() {
    let (t, version) = two_builds();
    let plain = t.dir.path().join("plain");
    run_ok(
        &t.profile_python(),
        &["-m", "venv", "--without-pip", plain.to_str().unwrap()],
    );
    let mut follower = Running::start(&plain.join("bin/python"));
    let keeper = Running::start(&t.profile_python());
    let r = t.run(&["switch", &version, "--json"]).ok();
    let doc = r.json();
    assert_eq!(
        doc["previous_runtime_processes"], 1,
        "only the profile's process keeps A: {}",
        r.stdout
    );
    assert_eq!(
        doc["following_venv_processes"],
        serde_json::json!([{
            "pid": follower.pid(),
            "venv": plain.to_str().unwrap(),
            "home": format!("{}/profiles/default/bin", t.home.display()),
            "minor": "3.11",
            "next_import": "new_build",
        }])
    );
    assert!(
        r.stderr.contains(&format!(
            "{} (pid {}, Python 3.11)",
            plain.display(),
            follower.pid()
        )) && r
            .stderr
            .contains(&format!("`pyswap venv adopt {}`", plain.display())),
        "{}",
        r.stderr
    );
    // The defect this issue is about, still true of plain venvs: the follower reads B now.
    assert_eq!(follower.import("pyswap_build").0, "build b");
    let row = ps_row(&t, follower.pid());
    assert_eq!(row.venv.as_deref(), plain.to_str());
    assert!(row.venv_follows_profile);
    let human = t.run(&["ps"]).ok();
    assert!(
        human.stdout.contains("follows the profile"),
        "{}",
        human.stdout
    );

    // Adopted, it names the runtime the profile runs now, for good.
    let b = entry_of(&t, 2);
    t.run(&["venv", "adopt", plain.to_str().unwrap()]).ok();
    assert!(
        cfg(&plain).contains(&format!("/store/{b}/bin")),
        "{}",
        cfg(&plain)
    );
    assert_eq!(runs(&plain), (b.clone(), b, "build b".into()));
    drop((follower, keeper));
}

// Issue 24.
#[test]
fn a_minor_switch_leaves_a_pyswap_venv_on_its_minor_and_gc_keeps_it() {
    let (mut t, _) = build_a();
    let a = entry_of(&t, 1);
    let venv = t.dir.path().join("v");
    bare_venv(&t, &venv);
    std::fs::write(
        venv.join("lib/python3.11/site-packages/pinned.py"),
        "VALUE = 7\n",
    )
    .unwrap();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let r = t.run(&["switch", "3.12", "--json"]).ok();
    let doc = r.json();
    assert_eq!(doc["venvs"][0]["state"], "stays", "{}", r.stdout);
    assert_eq!(doc["venvs"][0]["minor"], "3.11");
    assert!(
        r.stderr
            .contains(&format!("venv {} stays on Python 3.11", venv.display())),
        "{}",
        r.stderr
    );
    let pinned = "import sys, pinned; print(pinned.VALUE, sys.version_info[:2])";
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", pinned]).trim(),
        "7 (3, 11)"
    );
    let listed = t.run(&["venv", "list"]).ok();
    assert!(
        listed.stderr.contains("--minor 3.12") && listed.stderr.contains("pip freeze"),
        "{}",
        listed.stderr
    );

    // Without the minor path, the registered venv alone keeps its runtime.
    t.run(&["minors", "--remove", "3.11"]).ok();
    t.run(&["gc", "--keep", "1"]).ok();
    assert!(
        t.store_names().contains(&a),
        "the venv's runtime was deleted"
    );
    assert_eq!(
        run_ok(&venv.join("bin/python"), &["-c", pinned]).trim(),
        "7 (3, 11)"
    );
    // Issue 37 (item 12): a venv a service runs from is not deleted unasked.
    let service = Running::start(&venv.join("bin/python"));
    let r = t
        .run(&["venv", "remove", venv.to_str().unwrap(), "--delete"])
        .fails(
            1,
            &format!(
                "not deleted: running process {} runs from it",
                service.pid()
            ),
        );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(venv.join("pyvenv.cfg").is_file());
    drop(service);
    let r = t
        .run(&["venv", "remove", venv.to_str().unwrap(), "--delete"])
        .ok();
    assert!(r.stderr.contains("deleted venv"), "{}", r.stderr);
    assert!(!venv.exists());
    t.run(&["gc", "--keep", "1"]).ok();
    assert!(!t.store_names().contains(&a), "freed once the venv is gone");
    t.assert_consistent();
}

// Issue 24.
#[test]
fn gc_forgets_gone_venvs_and_never_follows_a_venv_row_out_of_the_home() {
    let (t, _) = build_a();
    let a = entry_of(&t, 1);
    let keep = t.dir.path().join("keep");
    let gone = t.dir.path().join("gone");
    let swapped = t.dir.path().join("swapped");
    for v in [&keep, &gone, &swapped] {
        bare_venv(&t, v);
    }
    // A decoy outside the home that looks like a venv of this store, and a venv path replaced
    // by a symlink to it.
    let decoy = t.dir.path().join("decoy");
    std::fs::create_dir_all(decoy.join("bin")).unwrap();
    std::fs::copy(swapped.join("pyvenv.cfg"), decoy.join("pyvenv.cfg")).unwrap();
    std::fs::write(decoy.join("precious"), "x").unwrap();
    std::fs::remove_dir_all(&swapped).unwrap();
    std::os::unix::fs::symlink(&decoy, &swapped).unwrap();
    std::fs::remove_dir_all(&gone).unwrap();
    // Crafted rows: a path outside the home, an entry name that climbs out of the store.
    {
        let mut db = pyswap::storage::db::Db::open(&t.home.join("pyswap.db")).unwrap();
        for (path, entry) in [
            (decoy.display().to_string(), "../../decoy".to_owned()),
            ("/".to_owned(), a.clone()),
        ] {
            db.put_venv(&pyswap::storage::db::VenvRow {
                path,
                profile: "default".into(),
                minor: "3.11".into(),
                entry,
                dev: 1,
                ino: 1,
                uid: 0,
                created: 0,
                held: None,
            })
            .unwrap();
        }
    }
    let decoy_files = || {
        let mut v: Vec<_> = std::fs::read_dir(&decoy)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        v.sort();
        v
    };
    let before = decoy_files();
    let dry = t.run(&["gc", "--dry-run", "--json"]).ok().json();
    assert_eq!(dry["venvs_forgotten"].as_array().unwrap().len(), 4, "{dry}");
    let r = t.run(&["gc", "--json"]).ok();
    let forgotten: Vec<String> = r.json()["venvs_forgotten"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = vec![
        "/".to_owned(),
        decoy.display().to_string(),
        gone.display().to_string(),
        swapped.display().to_string(),
    ];
    expected.sort();
    let mut got = forgotten.clone();
    got.sort();
    assert_eq!(got, expected, "{}", r.stderr);
    assert!(
        r.stderr.contains("forgot the venv registered at"),
        "{}",
        r.stderr
    );
    assert_eq!(decoy_files(), before, "gc touched the decoy");
    assert!(
        std::fs::symlink_metadata(&swapped)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let listed = t.run(&["venv", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["path"], keep.to_str().unwrap());
    assert!(t.store_names().contains(&a));
    run_ok(&keep.join("bin/python"), &["-c", "import json"]);
    t.assert_consistent();
}

// Issue 24.
#[test]
fn only_the_homes_owner_registers_venvs_and_others_may_list_them() {
    if !root_or_skip("another user's venv commands") {
        return;
    }
    let (t, _) = build_a();
    let venv = t.dir.path().join("v");
    bare_venv(&t, &venv);
    t.open_to_others();
    let nobody = |args: &[&str]| crate::common::run_as_nobody(&t, args);
    let other = t.dir.path().join("other");
    let out = nobody(&["venv", "create", other.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(&t.home.display().to_string()), "{stderr}");
    assert!(!other.exists(), "nothing made");
    let out = nobody(&["venv", "remove", venv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // Issue 37: the database is readable as the home is (no chmod needed).
    let out = nobody(&["venv", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<crate::output::VenvListed> =
        crate::output::strict(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, "ok");
    assert_eq!(listed[0].entry, entry_of(&t, 1));
}

/// `python`'s minor version, as `3.12`.
fn minor_of(python: &Path) -> String {
    run_ok(
        python,
        &["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
    )
    .trim()
    .to_owned()
}

// Issue 36, defect 2: `venv adopt` re-pointed a 3.12 venv made from the profile path at the
// profile's new 3.13 runtime (exit 0, its packages gone, `venv list` saying `ok`), and the
// switch's warning said its process "now reads the new runtime's standard library" while its
// next import failed.
#[test]
fn a_venv_made_from_the_profile_is_adopted_onto_its_own_minor_or_refused_with_what_to_do() {
    let minors = crate::shared_host::cpython_minors();
    let python = |m: &str| minors.iter().find(|(o, _)| o == m).map(|(_, p)| p.clone());
    let (Some(p312), Some(p313)) = (python("3.12"), python("3.13")) else {
        eprintln!("NOTICE (skipped): needs CPython 3.12 and 3.13 trees");
        return;
    };
    let (v312, a312) = crate::common::packed(p312.to_str().unwrap(), &[]);
    let (v313, a313) = crate::common::packed(p313.to_str().unwrap(), &[]);
    let mut t = TestContext::new();
    t.add_archive(v312, a312, Compression::Gz);
    t.add_archive(v313, a313, Compression::Gz);
    t.run(&["switch", "3.12"]).ok();
    let e312 = entry_of(&t, 1);
    let plain = t.dir.path().join("plain");
    let later = t.dir.path().join("later");
    for v in [&plain, &later] {
        run_ok(
            &t.profile_python(),
            &["-m", "venv", "--without-pip", v.to_str().unwrap()],
        );
        std::fs::write(
            v.join("lib/python3.12/site-packages/pinned.py"),
            "VALUE = 7\n",
        )
        .unwrap();
    }
    let mut follower = Running::start(&plain.join("bin/python"));

    let r = t.run(&["switch", "3.13", "--json"]).ok();
    let doc = r.json();
    let f = &doc["following_venv_processes"][0];
    assert_eq!(f["pid"], follower.pid(), "{}", r.stdout);
    assert_eq!(
        (&f["minor"], &f["next_import"]),
        (&"3.12".into(), &"fails".into())
    );
    assert!(
        r.stderr.contains("ModuleNotFoundError")
            && r.stderr
                .contains(&format!("`pyswap venv adopt {}`", plain.display()))
            && !r.stderr.contains("now read"),
        "{}",
        r.stderr
    );
    // What the warning says is what the process meets.
    assert_eq!(follower.import("csv").0, "ModuleNotFoundError");

    // Adopted onto the 3.12 runtime the store still holds, with its packages.
    let adopted = t
        .run(&["venv", "adopt", plain.to_str().unwrap(), "--json"])
        .ok();
    assert_eq!(adopted.json()["entry"], e312.as_str(), "{}", adopted.stdout);
    assert_eq!(adopted.json()["minor"], "3.12");
    assert!(
        cfg(&plain).contains(&format!("/store/{e312}/bin")),
        "{}",
        cfg(&plain)
    );
    let pinned = "import pinned, sys; print(pinned.VALUE, '%d.%d' % sys.version_info[:2])";
    assert_eq!(
        run_ok(&plain.join("bin/python"), &["-c", pinned]).trim(),
        "7 3.12"
    );
    // `pyswap venv` alone lists them, in the state `venv list` gives.
    let listed = t.run(&["venv", "--json"]).ok().json();
    assert_eq!(listed[0]["state"], "ok", "{listed}");
    assert_eq!(listed[0]["minor"], "3.12");
    drop(follower);

    // With no 3.12 runtime left in the store, adopting is refused with what to do.
    t.run(&["venv", "remove", plain.to_str().unwrap()]).ok();
    t.run(&["minors", "--remove", "3.12"]).ok();
    t.run(&["gc", "--keep", "1"]).ok();
    assert!(
        !t.store_names().contains(&e312),
        "3.12 is still in the store"
    );
    let before = cfg(&later);
    t.run(&["venv", "adopt", later.to_str().unwrap()])
        .fails(1, "a venv of Python 3.12")
        .fails(1, "`pyswap install 3.12`");
    assert_eq!(cfg(&later), before, "a refused adopt wrote pyvenv.cfg");
    // Doing what it says works.
    t.run(&["install", "3.12"]).ok();
    t.run(&["venv", "adopt", later.to_str().unwrap()]).ok();
    assert_eq!(minor_of(&later.join("bin/python")), "3.12");
    assert_eq!(
        run_ok(&later.join("bin/python"), &["-c", pinned]).trim(),
        "7 3.12"
    );
    assert_eq!(minor_of(&t.profile_python()), "3.13");
    t.assert_consistent();
}

// Issue 36: on every minor 3.9 to 3.13 of this machine, a pyswap venv's running process keeps
// its build across a switch to another build of its minor, the venv is checked and moved, a new
// process runs the new build, and a plain venv of the profile path is adopted onto its runtime.
#[test]
fn on_every_minor_a_venv_moves_under_a_running_process_that_keeps_its_build() {
    for (minor, python) in crate::shared_host::cpython_minors() {
        let python = python.to_str().unwrap();
        let (version, a) = crate::common::packed(python, &["--marker", "build a\n"]);
        let (_, b) = crate::common::packed(python, &["--marker", "build b\n"]);
        eprintln!("CPython {version}");
        let mut t = TestContext::new();
        t.add_archive(version, a, Compression::Gz);
        t.run(&["switch", version]).ok();
        let venv = t.dir.path().join("app/.venv");
        bare_venv(&t, &venv);
        let plain = t.dir.path().join("plain");
        run_ok(
            &t.profile_python(),
            &["-m", "venv", "--without-pip", plain.to_str().unwrap()],
        );
        let mut service = Running::start(&venv.join("bin/python"));
        t.add_archive(version, b, Compression::Gz);
        t.set_field(version, "build", "20260201".into());
        let r = t.run(&["switch", version, "--json"]).ok();
        let (ea, eb) = (entry_of(&t, 1), entry_of(&t, 2));
        assert_eq!(
            r.json()["venvs"][0]["state"],
            "moved",
            "{minor}: {}",
            r.stdout
        );
        assert_eq!(service.import("pyswap_build").0, "build a", "{minor}");
        assert_eq!(
            runs(&venv),
            (eb.clone(), eb.clone(), "build b".into()),
            "{minor}"
        );
        t.run(&["venv", "adopt", plain.to_str().unwrap()]).ok();
        assert_eq!(runs(&plain), (eb.clone(), eb, "build b".into()), "{minor}");
        assert_eq!(minor_of(&plain.join("bin/python")), minor);
        drop(service);
        t.run(&["gc", "--keep", "1"]).ok();
        assert!(
            !t.store_names().contains(&ea),
            "{minor}: A kept after its process ended"
        );
        t.assert_consistent();
    }
}
