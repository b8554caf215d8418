//! Issue 13: a switch never reaches into what is already running. Real `CPython` throughout: this
//! machine's pyenv 3.11.7 (packed twice, as two builds) and Debian's 3.11.2 (another patch
//! release), plus a synthetic 3.12 where only the minor version matters.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::common::{Compression, Fake, TestContext, packed_cpython, with_current};
use crate::output::{MinorChange, Running, Switched, strict};

/// Debian's interpreter: a second patch release of 3.11 on every machine of this project.
const DEBIAN: &str = "/usr/bin/python3.11";

/// Starts, reports its prefix, waits for a go file, then imports modules it had not imported and
/// reports where they came from.
const LAZY: &str = r#"
import os, sys, time
go = sys.argv[1]
print("start", os.path.realpath(sys.prefix), sys.version.split()[0], flush=True)
deadline = time.time() + 120
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("never told to go")
    time.sleep(0.02)
import json, decimal, email.mime.text, http.client, sqlite3
for m in (json, decimal, email.mime.text, http.client, sqlite3):
    print("module", os.path.realpath(m.__file__), flush=True)
print("end", os.path.realpath(sys.prefix), sys.version.split()[0], flush=True)
"#;

/// A long-running Python process started through the profile path.
struct Lazy {
    child: Child,
    out: BufReader<ChildStdout>,
    go: PathBuf,
    /// The real path of its `sys.prefix` and its version, as it started.
    prefix: String,
    version: String,
}

impl Lazy {
    fn start(t: &TestContext, name: &str) -> Self {
        let go = t.dir.path().join(format!("go-{name}"));
        let mut child = Command::new(t.profile_python())
            .args(["-c", LAZY])
            .arg(&go)
            // As a service runs it: it may write bytecode (and must find none to write).
            .env_remove("PYTHONDONTWRITEBYTECODE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"start"), "{line}");
        Self {
            prefix: words[1].to_owned(),
            version: words[2].to_owned(),
            child,
            out,
            go,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it import, waits for it, and checks that every module and its prefix still came from
    /// the runtime it started on.
    #[track_caller]
    fn finish(mut self) {
        std::fs::write(&self.go, b"").unwrap();
        let mut rest = String::new();
        for line in (&mut self.out).lines() {
            rest.push_str(&line.unwrap());
            rest.push('\n');
        }
        assert!(self.child.wait().unwrap().success(), "{rest}");
        let modules: Vec<&str> = rest
            .lines()
            .filter_map(|l| l.strip_prefix("module "))
            .collect();
        assert_eq!(modules.len(), 5, "{rest}");
        for m in modules {
            assert!(
                m.starts_with(&format!("{}/", self.prefix)),
                "{m} is not from {}",
                self.prefix
            );
        }
        assert!(
            rest.contains(&format!("end {} {}", self.prefix, self.version)),
            "{rest}"
        );
    }
}

fn store_path(t: &TestContext) -> String {
    let cur = t.run(&["current", "--json"]).ok().json();
    std::fs::canonicalize(cur["store_path"].as_str().unwrap())
        .unwrap()
        .display()
        .to_string()
}

// Issue 13.
#[test]
fn running_processes_keep_their_runtime_through_switch_rollback_and_gc() {
    let debian = packed_cpython(DEBIAN, None);
    let build_a = packed_cpython("python3", None);
    let build_b = packed_cpython("python3", Some("build b\n"));
    assert_ne!(
        debian.0, build_a.0,
        "two patch releases of one minor version"
    );
    let mut t = TestContext::new();
    t.add_archive(&debian.0, &debian.1, Compression::Gz);
    t.add_archive(&build_a.0, &build_a.1, Compression::Gz);
    t.run(&["switch", &debian.0]).ok();
    let on_debian = Lazy::start(&t, "debian");
    assert_eq!(
        on_debian.prefix,
        store_path(&t),
        "sys.prefix is the store entry"
    );
    assert_eq!(on_debian.version, debian.0);
    // A script whose shebang goes through the profile, and python3.X, do the same.
    let script = t.dir.path().join("tool");
    std::fs::write(
        &script,
        format!(
            "#!{}\nimport os, sys\nprint(os.path.realpath(sys.prefix))\n",
            t.profile_python().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(run_ok(&script, &[]).trim(), on_debian.prefix);
    let versioned = t.home.join("profiles/default/bin/python3.11");
    let prefix =
        "import os, sys; print(os.path.realpath(sys.prefix), sys.prefix == sys.base_prefix)";
    assert_eq!(
        run_ok(&versioned, &["-c", prefix]).trim(),
        format!("{} True", on_debian.prefix)
    );

    let r = t.run(&["switch", &build_a.0]).ok();
    assert!(
        r.stderr
            .contains("1 running process still uses the runtime of generation 1 and keeps it until it exits; `pyswap ps` lists it"),
        "{}",
        r.stderr
    );
    let back = t.run(&["rollback", "--to", "1", "--json"]).ok().json();
    assert_eq!(
        back["previous_runtime_processes"], 0,
        "nothing runs on 3.11.7"
    );
    let moved: Switched = strict(&t.run(&["switch", &build_a.0, "--json"]).ok().stdout);
    assert_eq!(moved.previous_runtime_processes, Some(1));
    let ps: Vec<Running> = strict(&t.run(&["ps", "--json"]).ok().stdout);
    let listed = ps
        .iter()
        .find(|p| p.pid == on_debian.pid())
        .expect("ps lists the process on the previous runtime");
    assert!(!listed.current);
    assert_eq!(listed.version.as_deref(), Some(debian.0.as_str()));
    assert_eq!(
        listed.generation,
        Some(1),
        "the newest generation using that entry"
    );
    // The command as a shell would read it back (issue 27): the script, which has spaces and
    // quotes, is one quoted word.
    assert!(listed.command.contains(" -c '"), "{}", listed.command);
    let table = t.run(&["ps"]).ok().stdout;
    assert!(table.contains(&on_debian.pid().to_string()), "{table}");

    // Another build of the same version.
    let on_a = Lazy::start(&t, "a");
    assert_eq!(on_a.prefix, store_path(&t));
    t.add_archive(&build_b.0, &build_b.1, Compression::Gz);
    t.set_field(&build_b.0, "build", "20260201".into());
    t.run(&["switch", &build_b.0]).ok();
    assert!(
        t.home.join("profiles/default/BUILD").exists(),
        "build b is current"
    );
    let gc = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(gc["generations_removed"].as_array().unwrap().len(), 3);
    let mut kept: Vec<u64> = gc["entries_in_use"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pid"].as_u64().unwrap())
        .collect();
    // gc lists them by entry; which pid is lower depends on where the pid counter wrapped.
    kept.sort_unstable();
    assert_eq!(
        kept,
        {
            let mut v = vec![u64::from(on_debian.pid()), u64::from(on_a.pid())];
            v.sort_unstable();
            v
        },
        "both runtimes are kept while their processes run"
    );
    // No generation uses them any more, but a process does: `list --installed` says so rather
    // than calling them unused (issue 27).
    let installed = t.run(&["list", "--installed", "--json"]).ok().json();
    let running: Vec<u64> = installed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["generations"].as_array().unwrap().is_empty())
        .map(|e| e["processes"].as_u64().unwrap())
        .collect();
    assert_eq!(running, [1, 1], "{installed}");
    let table = t.run(&["list", "--installed"]).ok().stdout;
    assert_eq!(table.matches(" running ").count(), 2, "{table}");
    assert!(!table.contains("unused"), "{table}");
    // And uninstall leaves it alone: a process runs it.
    t.run(&["uninstall", &debian.0])
        .fails(1, "is used by 1 running process; not removing it");
    on_debian.finish();
    on_a.finish();
    let after = t.run(&["gc", "--json"]).ok().json();
    assert_eq!(after["entries_removed"].as_array().unwrap().len(), 2);
    let ps: Vec<Running> = strict(&t.run(&["ps", "--json"]).ok().stdout);
    assert!(ps.is_empty(), "{ps:?}");
    t.assert_consistent();
}

/// A wheel of one pure-Python package, built here (no network, no build backend).
pub fn build_wheel(dir: &Path) -> PathBuf {
    let script = r#"
import base64, hashlib, sys, zipfile
path = sys.argv[1] + "/pyswap_probe-1.0-py3-none-any.whl"
files = {
    "pyswap_probe/__init__.py": "VALUE = 42\n",
    "pyswap_probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: pyswap-probe\nVersion: 1.0\n",
    "pyswap_probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: pyswap-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(path, "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("pyswap_probe-1.0.dist-info/RECORD,,")
    z.writestr("pyswap_probe-1.0.dist-info/RECORD", "\n".join(record) + "\n")
print(path)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs `program args` and fails with its output unless it succeeds; returns stdout.
#[track_caller]
pub fn run_ok(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// Issue 13.
#[test]
fn venvs_survive_patch_switches_rollback_and_gc_and_minor_paths_survive_a_minor_switch() {
    let build_a = packed_cpython("python3", None);
    let build_b = packed_cpython("python3", Some("build b\n"));
    let debian = packed_cpython(DEBIAN, None);
    let mut t = TestContext::new();
    t.add_archive(&build_a.0, &build_a.1, Compression::Gz);
    t.run(&["switch", &build_a.0]).ok();
    let first = entry_of(&t, 1);
    let wheel = build_wheel(t.dir.path());
    let venv = t.dir.path().join("V");
    run_ok(&t.profile_python(), &["-m", "venv", venv.to_str().unwrap()]);
    let (python, pip) = (venv.join("bin/python"), venv.join("bin/pip"));
    run_ok(
        &pip,
        &[
            "install",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            wheel.to_str().unwrap(),
        ],
    );
    let probe = "import sys, pyswap_probe; print(pyswap_probe.VALUE, sys.version.split()[0])";
    let works = |expect: &str| {
        assert_eq!(
            run_ok(&python, &["-c", probe]).trim(),
            format!("42 {expect}")
        );
        assert!(
            run_ok(&pip, &["--version", "--disable-pip-version-check"]).contains("python 3.11")
        );
    };
    works(&build_a.0);

    // Another build of the same version, another patch release, a rollback, a gc that deletes
    // the entry the venv was made on.
    t.add_archive(&build_b.0, &build_b.1, Compression::Gz);
    t.set_field(&build_b.0, "build", "20260201".into());
    t.run(&["switch", &build_b.0]).ok();
    works(&build_b.0);
    t.add_archive(&debian.0, &debian.1, Compression::Gz);
    t.run(&["switch", &debian.0]).ok();
    works(&debian.0);
    t.run(&["rollback"]).ok();
    works(&build_b.0);
    let gc = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(gc["entries_removed"].as_array().unwrap().len(), 1);
    assert!(
        !t.store_names().contains(&first),
        "the venv's first runtime is gone"
    );
    works(&build_b.0);

    // A venv made from the minor path stays on 3.11 when the profile moves to 3.12.
    let minor_python = t.home.join("profiles/default@3.11/bin/python3");
    let w = t.dir.path().join("W");
    run_ok(
        &minor_python,
        &["-m", "venv", "--without-pip", w.to_str().unwrap()],
    );
    let cfg = std::fs::read_to_string(w.join("pyvenv.cfg")).unwrap();
    assert!(cfg.contains("profiles/default@3.11/bin"), "{cfg}");
    let site = w.join("lib/python3.11/site-packages");
    std::fs::write(site.join("pinned_probe.py"), "VALUE = 7\n").unwrap();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let r = t.run(&["switch", "3.12", "--json"]).ok();
    let switched: Switched = strict(&r.stdout);
    let MinorChange {
        from,
        to,
        from_path,
    } = switched.minor_change.expect("announced");
    assert_eq!((from.as_str(), to.as_str()), ("3.11", "3.12"));
    assert!(from_path.ends_with("profiles/default@3.11"), "{from_path}");
    assert!(
        r.stderr
            .contains("moved from Python 3.11 to 3.12: venvs made from")
            && r.stderr.contains("profiles/default@3.11/bin/python3"),
        "{}",
        r.stderr
    );
    let pinned = "import sys, pinned_probe; print(pinned_probe.VALUE, sys.version_info[:2])";
    let w_python = w.join("bin/python");
    assert_eq!(run_ok(&w_python, &["-c", pinned]).trim(), "7 (3, 11)");
    // The minor path is a gc root: the 3.11 generation stays.
    let gc = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(gc["kept_for_minor_paths"][0]["minor"], "3.11");
    assert_eq!(run_ok(&w_python, &["-c", pinned]).trim(), "7 (3, 11)");
    t.assert_consistent();
}

/// The store entry generation `n` uses.
fn entry_of(t: &TestContext, n: u64) -> String {
    let db = pyswap::storage::db::Db::open(&t.home.join("pyswap.db")).unwrap();
    db.generation("default", n).unwrap().unwrap().entry_name
}

// Issue 13.
#[test]
fn checks_never_change_a_published_runtime() {
    let build_a = packed_cpython("python3", None);
    let build_b = packed_cpython("python3", Some("build b\n"));
    let mut t = TestContext::new();
    t.add_archive(&build_a.0, &build_a.1, Compression::Gz);
    // The README's own example check, before and after the swap, and one that imports a lot.
    t.write_config(
        r#"[[validation.checks]]
name = "app imports"
run = ["{python}", "-c", "import ssl, sqlite3; ssl.create_default_context()"]
when = "both"

[[validation.checks]]
name = "many imports"
run = ["{python}", "-c", "import json, decimal, email.mime.text, asyncio, http.client"]
when = "both"
"#,
    );
    t.run(&["switch", &build_a.0]).ok();
    let store = t.home.join("store");
    let files = || run_ok(Path::new("find"), &[store.to_str().unwrap(), "-type", "f"]);
    let installed = files();
    t.run(&["check"]).ok();
    t.run(&["verify"]).ok();
    assert_eq!(files(), installed, "the checks wrote into the store");

    // A check that writes into the runtime anyway (even making itself room) is caught before
    // anything is published ...
    t.write_config(
        r#"[[validation.checks]]
name = "writer"
run = ["sh", "-c", "chmod u+w \"$PYSWAP_PREFIX/lib\" && echo x > \"$PYSWAP_PREFIX/lib/was-here\""]
when = "before"
"#,
    );
    t.add_archive(&build_b.0, &build_b.1, Compression::Gz);
    t.set_field(&build_b.0, "build", "20260201".into());
    let before = t.store_names();
    t.run(&["switch", &build_b.0])
        .fails(1, "a user check changed the runtime's files");
    assert_eq!(t.store_names(), before, "nothing published");
    t.run(&["verify"]).ok();
    // ... and after the swap, the switch is undone and the entry named for repair.
    t.write_config(
        r#"[validation]
health_check = true

[[validation.checks]]
name = "writer"
run = ["sh", "-c", "test \"$PYSWAP_PHASE\" != health || { chmod u+w \"$PYSWAP_PREFIX/lib\" && echo x > \"$PYSWAP_PREFIX/lib/was-here\"; }"]
when = "both"
"#,
    );
    let r = t
        .run(&["switch", &build_b.0])
        .fails(1, "a user check changed the runtime's files");
    assert!(
        r.stderr.contains("rolled back to generation 1"),
        "{}",
        r.stderr
    );
    t.run(&["verify"]).fails(1, "verify found 1 problem(s)");
    std::fs::remove_file(t.home.join("config.toml")).unwrap();
    t.run(&["verify", "--repair"]).ok();
    t.run(&["verify"]).ok();
    t.assert_consistent();
}

// Issue 13.
#[test]
fn switch_puts_back_a_missing_or_hijacked_generation() {
    let t = with_current();
    let gen1 = t.home.join("profiles/default-1");
    pyswap::storage::store::remove_tree(&gen1).unwrap();
    assert_eq!(t.profile_version(), None, "the profile no longer runs");
    t.run(&["current"]).fails(
        1,
        "generation 1 of profile `default` is current, but its directory",
    );
    let r = t
        .run(&["generations"])
        .fails(1, "`pyswap rollback --to N` (N: the current generation)");
    assert!(r.stdout.contains("BROKEN DIR"), "{}", r.stdout);
    let fixed: Switched = strict(&t.run(&["switch", "3.11.9", "--json"]).ok().stdout);
    assert!(!fixed.changed);
    assert_eq!(fixed.repaired, ["generation 1's directory"]);
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));

    // A link inside the directory redirected elsewhere.
    let bin = gen1.join("bin");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_file(bin.join("python3")).unwrap();
    symlink("/bin/false", bin.join("python3")).unwrap();
    assert_eq!(t.profile_version(), None);
    let r = t.run(&["switch", "3.11.9"]).ok();
    assert!(
        r.stderr
            .contains("generation 1's directory was missing or altered; put back"),
        "{}",
        r.stderr
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));

    // The minor link removed by hand comes back.
    std::fs::remove_file(t.home.join("profiles/default@3.11")).unwrap();
    let fixed: Switched = strict(&t.run(&["switch", "3.11.9", "--json"]).ok().stdout);
    assert_eq!(fixed.repaired, ["the minor link"]);
    assert!(t.home.join("profiles/default@3.11/bin/python3").exists());

    // The current link pointed somewhere else.
    let elsewhere = t.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_file(t.home.join("profiles/default")).unwrap();
    symlink(&elsewhere, t.home.join("profiles/default")).unwrap();
    t.run(&["current"])
        .fails(1, "which is not a generation of this profile");
    let fixed: Switched = strict(&t.run(&["switch", "3.11.9", "--json"]).ok().stdout);
    assert!(
        fixed.repaired[0].starts_with("the current link (it was"),
        "{:?}",
        fixed.repaired
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    t.run(&["verify"]).ok();
    t.assert_consistent();
}

// Issue 13.
#[test]
fn a_home_from_the_old_layout_keeps_working_and_is_migrated() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    // Turn the home back into what pyswap left before generation directories: a symlink per
    // generation into the store, the current link to it, no minor links.
    let profiles = t.home.join("profiles");
    let entry = std::fs::read_link(profiles.join("default-1/.entry")).unwrap();
    let entry = entry.file_name().unwrap().to_owned();
    pyswap::storage::store::remove_tree(&profiles.join("default-1")).unwrap();
    std::fs::remove_file(profiles.join("default@3.11")).unwrap();
    symlink(
        Path::new("../store").join(&entry),
        profiles.join("default-1-link"),
    )
    .unwrap();
    std::fs::remove_file(profiles.join("default")).unwrap();
    symlink("default-1-link", profiles.join("default")).unwrap();

    // Readers and the profile keep working as they are.
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    t.run(&["current"]).ok();
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(gens[0]["intact"], true);
    t.run(&["verify"]).ok();

    // The first command that changes the profile migrates it.
    t.run(&["switch", "3.12"]).ok();
    assert!(profiles.join("default-1/bin").is_dir());
    assert!(profiles.join("default-1-link").symlink_metadata().is_err());
    t.run(&["rollback", "--to", "1"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    assert_eq!(
        std::fs::read_link(profiles.join("default")).unwrap(),
        Path::new("default-1")
    );
    t.run(&["verify"]).ok();
    t.assert_consistent();
}

// Issue 27 (an operator's first week).
// Issue 27: one spelling of "no process left on the old runtime".
#[test]
fn a_rollback_onto_the_same_runtime_reports_zero_processes_not_null() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["switch", "3.11"]).ok();
    let same = t.run(&["rollback", "--to", "1", "--json"]).ok().json();
    assert_eq!(
        (
            same["changed"].as_bool(),
            same["previous_runtime_processes"].as_u64()
        ),
        (Some(true), Some(0)),
        "{same}"
    );
    let unchanged = t.run(&["rollback", "--to", "1", "--json"]).ok().json();
    assert!(
        unchanged["previous_runtime_processes"].is_null(),
        "{unchanged}"
    );
}
