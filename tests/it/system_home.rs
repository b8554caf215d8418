//! Issue 37: root's home is `/var/lib/pyswap`, whatever runs pyswap: a shell, cron's bare
//! environment (`env -i HOME=/root PATH=/usr/bin:/bin`) or a systemd unit with no HOME; the
//! cron line `gc --help` gives and the shipped gc unit act on it; a home that does not exist is
//! an error, never created by a command that only prunes. Each scenario runs in a mount
//! namespace of its own whose `/var/lib` and `/root` are scratch directories, so pyswap sees the
//! real paths and this machine's are never touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Compression, Fake, Run, TestContext, root_or_skip};

/// Scratch `/var/lib` and `/root` for one scenario.
struct Host {
    var_lib: PathBuf,
    root_home: PathBuf,
}

impl Host {
    fn new(t: &TestContext, name: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let base = t.dir.path().join(name);
        let (var_lib, root_home) = (base.join("var-lib"), base.join("root"));
        for d in [&var_lib, &root_home] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { var_lib, root_home }
    }

    /// Runs `pyswap ARGS` with exactly the environment `env` (nothing inherited), in a mount
    /// namespace where this host's scratch directories are `/var/lib` and `/root`.
    fn run(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut script = String::from(
            "mount --bind \"$1\" /var/lib && mount --bind \"$2\" /root && shift 2 && exec \"$@\"",
        );
        script.insert_str(0, "set -e; ");
        let mut c = Command::new("unshare");
        c.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(&self.var_lib)
        .arg(&self.root_home)
        .arg("env")
        .arg("-i");
        for (k, v) in env {
            c.arg(format!("{k}={v}"));
        }
        c.arg(env!("CARGO_BIN_EXE_pyswap"))
            .args(args)
            .current_dir("/");
        Run::from_output(&c.output().unwrap())
    }

    fn system_home(&self) -> PathBuf {
        self.var_lib.join("pyswap")
    }
}

const CRON: [(&str, &str); 2] = [("HOME", "/root"), ("PATH", "/usr/bin:/bin")];
const UNIT: [(&str, &str); 1] = [("PATH", "/usr/bin:/bin")];

/// Whether mount namespaces can be made here (root, `unshare`); under CI they must.
fn namespaces_or_skip() -> bool {
    if !root_or_skip("root's system home") {
        return false;
    }
    let ok = Command::new("unshare")
        .args(["--mount", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "unshare --mount fails under CI"
    );
    if !ok {
        eprintln!("NOTICE (skipped): unshare --mount is not possible here");
    }
    ok
}

/// The crontab line `gc --help` gives, as cron would run it: its command, split into words.
fn cron_line(t: &TestContext) -> Vec<String> {
    let help = t.run(&["gc", "--help"]).ok().stdout;
    let line = help
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("15 4 * * * pyswap gc"))
        .unwrap_or_else(|| panic!("no crontab line in gc --help:\n{help}"));
    let command = line.split("    ").next().unwrap();
    command
        .split_whitespace()
        .skip(5)
        .map(str::to_owned)
        .collect()
}

/// The shipped gc unit's `ExecStart`, its binary replaced by the one under test.
fn unit_command() -> Vec<String> {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/pyswap-gc.service");
    let text = std::fs::read_to_string(unit).unwrap();
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    exec.split_whitespace().skip(1).map(str::to_owned).collect()
}

// Issue 37, item 1.
#[test]
fn roots_home_is_var_lib_pyswap_from_a_shell_cron_and_a_unit_and_gc_never_creates_one() {
    if !namespaces_or_skip() {
        return;
    }
    let mut t = TestContext::new();
    t.add("3.12.2", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let catalogue = t.catalogue_path().display().to_string();
    let host = Host::new(&t, "fresh");
    let gc: Vec<String> = cron_line(&t);
    let gc: Vec<&str> = gc.iter().map(String::as_str).collect();
    assert_eq!(gc[0], "pyswap");

    // Nothing installed: the cron gc says there is no home, and creates none anywhere.
    host.run(&CRON, &gc[1..])
        .fails(1, "no pyswap home at /var/lib/pyswap");
    assert!(!host.system_home().exists());
    assert!(
        !host.root_home.join(".local").exists(),
        "a home was made in root's HOME"
    );

    // A unit with no HOME installs into /var/lib/pyswap; cron's environment finds it.
    for v in ["3.12.2", "3.12"] {
        host.run(&UNIT, &["--catalogue", &catalogue, "switch", v])
            .ok();
    }
    assert!(host.system_home().join("pyswap.db").is_file());
    let current = host.run(&CRON, &["current"]).ok();
    assert!(current.stdout.contains("3.12.3"), "{}", current.stdout);
    // The cron line and the shipped unit collect it (generation 1 goes with --keep 1).
    host.run(&CRON, &gc[1..]).ok();
    let unit = unit_command();
    let mut args: Vec<&str> = unit.iter().map(String::as_str).collect();
    args.extend(["--keep", "1"]);
    let r = host.run(&UNIT, &args).ok();
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let listed = host.run(&CRON, &["generations", "--json"]).ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

// Issue 37, item 1.
#[test]
fn a_root_home_at_the_old_default_keeps_working_with_a_warning_naming_both() {
    if !namespaces_or_skip() {
        return;
    }
    let mut t = TestContext::new();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let catalogue = t.catalogue_path().display().to_string();
    let host = Host::new(&t, "old");
    let old = "/root/.local/share/pyswap";
    host.run(
        &[
            ("HOME", "/root"),
            ("PATH", "/usr/bin:/bin"),
            ("PYSWAP_HOME", old),
        ],
        &["--catalogue", &catalogue, "switch", "3.12"],
    )
    .ok();
    let r = host.run(&CRON, &["current"]).ok();
    assert!(r.stdout.contains("3.12.3"), "{}", r.stdout);
    assert!(
        r.stderr.contains(old)
            && r.stderr.contains("/var/lib/pyswap")
            && r.stderr.contains(&format!("PYSWAP_HOME={old}")),
        "{}",
        r.stderr
    );
    assert!(!host.system_home().exists());
    // Installed into /var/lib/pyswap as the warning says, that is root's home from then on.
    host.run(
        &CRON,
        &[
            "--home",
            "/var/lib/pyswap",
            "--catalogue",
            &catalogue,
            "switch",
            "3.12",
        ],
    )
    .ok();
    let r = host.run(&CRON, &["current"]).ok();
    assert!(!r.stderr.contains(old), "{}", r.stderr);
    assert!(host.system_home().join("pyswap.db").is_file());
}

/// `pyswap ARGS` as uid 65534 on `t`'s home.
fn as_nobody(t: &TestContext, args: &[&str]) -> Run {
    Run::from_output(&t.pyswap_as(65534).args(args).output().unwrap())
}

// Issue 37, items 2 and 3: another user may run the read commands on root's home (the database
// is readable as the home is), is told in one line when the home is private, and `ps` says how
// many processes it could not inspect instead of "nothing runs".
#[test]
fn another_user_reads_roots_home_and_ps_says_what_it_cannot_see() {
    if !root_or_skip("another user's read commands") {
        return;
    }
    let (version, archive) = crate::common::real_cpython();
    let mut t = TestContext::new();
    t.add_archive(version, archive, Compression::Gz);
    t.run(&["switch", version]).ok();
    for args in [
        &["current"][..],
        &["generations"],
        &["list"],
        &["find"],
        &["verify"],
        &["metrics"],
        &["venv", "list"],
    ] {
        let r = as_nobody(&t, args);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
    }
    let current = as_nobody(&t, &["current"]).stdout;
    assert!(current.contains(version.as_str()), "{current}");

    // A root service on the runtime: root's ps lists it; another user's names what it missed.
    let mut service = Command::new(t.profile_python())
        .args(["-c", "import sys; sys.stdin.read()"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rows = t.run(&["ps", "--json"]).ok().json();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["pid"] == service.id()),
        "{rows}"
    );
    let r = as_nobody(&t, &["ps"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("of other users could not be inspected")
            && r.stderr.contains("root sees them")
            && !r.stdout.contains("no running process uses"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let _ = service.kill();
    let _ = service.wait();

    // Made private by its owner: one line saying so, not SQLite's.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&t.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    for args in [&["current"][..], &["list"], &["ps"], &["verify"]] {
        as_nobody(&t, args).fails(1, "its owner keeps the pyswap home private");
    }
}

// Issue 37, item 15: a newcomer finds the system home and the cron gc in README's first
// screens, and what README gives is what `gc --help` gives and what the shipped units are.
#[test]
fn the_readme_sets_up_the_system_home_and_its_cron_gc_in_its_first_screens() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let first: Vec<&str> = readme.lines().take(60).collect();
    let t = TestContext::new();
    let from_help = cron_line(&t).join(" ");
    let cron = first
        .iter()
        .find(|l| l.starts_with("15 4 * * * "))
        .unwrap_or_else(|| panic!("no crontab line in README's first 60 lines"));
    assert_eq!(
        cron.split_whitespace()
            .skip(5)
            .collect::<Vec<_>>()
            .join(" "),
        from_help
    );
    assert!(
        first
            .iter()
            .any(|l| l.contains("Root's home is `/var/lib/pyswap`"))
    );
    assert!(
        !first.iter().any(|l| l.contains("PYSWAP_HOME=")),
        "README asks for no PYSWAP_HOME"
    );
    for unit in [
        "contrib/systemd/pyswap-gc.service",
        "contrib/systemd/pyswap-gc.timer",
    ] {
        assert!(
            first.iter().any(|l| l.contains(unit)),
            "{unit} is not installed by README"
        );
        assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(unit).is_file());
    }
    // The unit runs the binary where README's install puts it when placed by hand.
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/pyswap-gc.service"),
    )
    .unwrap();
    let binary = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    assert!(
        readme.contains(&format!("install -m 0755 pyswap {binary}")),
        "{binary}"
    );
    // The two set-up commands of a fresh machine are there.
    assert!(readme.contains("bash scripts/try-offline.sh\ncargo test --locked\n"));
}
