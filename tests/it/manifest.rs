//! The configuration manifest: precedence and `config show`, bad files, the version policy,
//! `.python-version`, and maintenance windows under an injected clock (`PYSWAP_NOW`).

use crate::common::{Compression, Fake, TestContext, nothing_lost, with_current};
use crate::output::{ConfigShown, strict};

impl TestContext {
    /// Writes `$PYSWAP_HOME/config.toml`.
    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(&self.home).unwrap();
        std::fs::write(self.home.join("config.toml"), text).unwrap();
    }
}

fn setting<'a>(shown: &'a ConfigShown, key: &str) -> &'a crate::output::ConfigSetting {
    shown
        .settings
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no {key} in config show"))
}

#[test]
fn precedence_is_flag_then_environment_then_file_then_default() {
    let t = TestContext::new();
    t.write_config(
        "lock_timeout = 45\n\n[network]\nretries = 7\nconnect_timeout = 20\nproxy = \"http://user:secret@proxy.corp:3128\"\n\n[gc]\nkeep = 4\n",
    );
    let cfg = t.home.join("config.toml").display().to_string();
    let show = |args: &[&str], env: &[(&str, &str)]| -> ConfigShown {
        let mut a = vec!["config", "show", "--json"];
        a.extend_from_slice(args);
        strict(&t.run_env(&a, env).ok().stdout)
    };
    let s = show(&[], &[]);
    assert_eq!(s.file.as_deref(), Some(cfg.as_str()));
    let retries = setting(&s, "network.retries");
    assert_eq!(
        (retries.value.as_u64(), retries.source.as_str()),
        (Some(7), "file")
    );
    assert_eq!(retries.origin.as_deref(), Some(format!("{cfg}:4").as_str()));
    assert_eq!(
        setting(&s, "lock_timeout").origin.as_deref(),
        Some(format!("{cfg}:1").as_str())
    );
    assert_eq!(setting(&s, "gc.keep").value.as_u64(), Some(4));
    let default = setting(&s, "network.http_timeout");
    assert_eq!(
        (default.value.as_u64(), default.source.as_str()),
        (Some(30), "default")
    );
    assert_eq!(default.origin, None);
    // The harness sets these two in the environment.
    assert_eq!(
        setting(&s, "network.retry_backoff").origin.as_deref(),
        Some("PYSWAP_HTTP_BACKOFF")
    );
    assert_eq!(setting(&s, "catalogue").source, "env");
    // Passwords never shown.
    let proxy = setting(&s, "network.proxy")
        .value
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        proxy.contains("://****@") && !proxy.contains("secret") && !proxy.contains("user"),
        "{proxy}"
    );

    let s = show(&[], &[("PYSWAP_HTTP_RETRIES", "5")]);
    let retries = setting(&s, "network.retries");
    assert_eq!(
        (retries.value.as_u64(), retries.origin.as_deref()),
        (Some(5), Some("PYSWAP_HTTP_RETRIES"))
    );
    let s = show(&["--retries", "9"], &[("PYSWAP_HTTP_RETRIES", "5")]);
    let retries = setting(&s, "network.retries");
    assert_eq!(
        (retries.value.as_u64(), retries.origin.as_deref()),
        (Some(9), Some("--retries"))
    );
    // A flag after the subcommand counts as a flag too.
    let r = t.run(&["config", "show", "--connect-timeout", "3"]).ok();
    assert!(
        r.stdout.contains("network.connect_timeout = 3")
            && r.stdout.contains("# flag --connect-timeout"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("network.retries = 7") && r.stdout.contains(&format!("# file {cfg}:4")),
        "{}",
        r.stdout
    );

    // --config and PYSWAP_CONFIG pick another file; a named file must exist.
    let other = t.dir.path().join("fleet.toml");
    std::fs::write(&other, "[network]\nretries = 1\n").unwrap();
    let s = show(&["--config", other.to_str().unwrap()], &[]);
    assert_eq!(setting(&s, "network.retries").value.as_u64(), Some(1));
    let s = show(&[], &[("PYSWAP_CONFIG", other.to_str().unwrap())]);
    assert_eq!(setting(&s, "network.retries").value.as_u64(), Some(1));
    t.run(&["config", "show", "--config", "/nonexistent/pyswap.toml"])
        .fails(1, "config file /nonexistent/pyswap.toml does not exist");
}

#[test]
fn gc_defaults_come_from_the_manifest_and_flags_override_them() {
    let mut t = TestContext::new();
    for v in ["3.12.1", "3.12.2", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
        t.run(&["switch", v]).ok();
    }
    t.write_config("[gc]\nkeep = 2\n");
    let r = t.run(&["gc", "--dry-run", "--json"]).ok().json();
    assert_eq!(r["generations_removed"].as_array().unwrap().len(), 1);
    let r = t
        .run(&["gc", "--dry-run", "--keep", "1", "--json"])
        .ok()
        .json();
    assert_eq!(r["generations_removed"].as_array().unwrap().len(), 2);
    // Ages are measured on the same injectable clock as windows.
    t.write_config("[gc]\nolder_than = \"30d\"\n");
    let r = t.run(&["gc", "--dry-run", "--json"]).ok().json();
    assert_eq!(r["generations_removed"].as_array().unwrap().len(), 0);
    let later = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(31 * 86_400),
    )
    .to_string();
    let r = t
        .run_env(&["gc", "--dry-run", "--json"], &[("PYSWAP_NOW", &later)])
        .ok()
        .json();
    assert_eq!(r["generations_removed"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_manifests_are_refused_naming_the_key_and_line() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    for (text, needles) in [
        (
            "[network]\nretries = 3\nflavour = \"mint\"\n",
            &["line 3", "flavour"][..],
        ),
        ("[network]\nretries = \"three\"\n", &["line 2", "retries"]),
        (
            "[policy]\nallowed = \">=3.x\"\n",
            &["line 2", "`policy.allowed`"],
        ),
        (
            "[maintenance]\nwindows = [\"Caturday 01:00-02:00\"]\n",
            &["line 2", "Caturday"],
        ),
        (
            "[[validation.checks]]\nname = \"x\"\nrun = []\n",
            &["empty `run`"],
        ),
        ("[gc]\nkeep = -1\n", &["line 2", "keep"]),
        // Issue 27: a near miss says what was meant.
        (
            "[policy]\nmax_minr = 11\n",
            &[
                "line 2",
                "unknown setting; did you mean `policy.max_minor`?",
            ],
        ),
        // Issue 27: an unknown key in a check is reported on its own line.
        (
            "# fleet\n[[validation.checks]]\nname = \"x\"\ncolour = \"red\"\nrun = [\"true\"]\n",
            &["line 4", "unknown field `colour`"],
        ),
        ("lock_timeout = 5\n[network\n", &["line 2"]),
    ] {
        t.write_config(text);
        let r = t.run(&["switch", "3.12"]).fails(1, "config file");
        for n in needles {
            assert!(r.stderr.contains(n), "{text:?}: {n:?} not in {}", r.stderr);
        }
        // `config check` judges a file on its own, even while the active one is broken.
        let other = t.dir.path().join("bad.toml");
        std::fs::write(&other, text).unwrap();
        t.run(&["config", "check", other.to_str().unwrap()])
            .fails(1, needles[0]);
    }
    let good = t.dir.path().join("good.toml");
    std::fs::write(&good, "[policy]\nmax_minor = 12\n").unwrap();
    let r = t.run(&["config", "check", good.to_str().unwrap()]).ok();
    assert!(r.stderr.contains("valid (1 setting)"), "{}", r.stderr);
    std::fs::remove_file(t.home.join("config.toml")).unwrap();
    nothing_lost(&t);
}

/// 3.10.14, 3.11.9, 3.12.3 (build 20260101) and 3.13.0rc1; 3.11.9 is also the only one from
/// build 20250612.
fn policy_catalogue() -> TestContext {
    let mut t = TestContext::new();
    for v in ["3.10.14", "3.11.9", "3.12.3", "3.13.0rc1"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    t.set_field("3.11.9", "build", "20250612".into());
    t
}

#[test]
fn the_policy_resolves_to_the_highest_allowed_and_refuses_naming_the_rule() {
    let t = policy_catalogue();
    t.write_config("[policy]\nallowed = \">=3.10,<3.13\"\nmax_minor = 11\n");
    let cfg = t.home.join("config.toml").display().to_string();
    let r = t.run(&["switch", "3", "--json"]).ok().json();
    assert_eq!(r["version"], "3.11.9", "highest allowed by max_minor");
    let r = t.run(&["switch", "3.12"]).fails(1, "policy.max_minor = 11");
    assert!(
        r.stderr.contains(&format!("{cfg} line 3")) && r.stderr.contains("CPython 3.12.3"),
        "{}",
        r.stderr
    );
    t.run(&["switch", "3.13.0rc1"])
        .fails(1, "policy.allowed = \">=3.10,<3.13\"");
    t.run(&[
        "switch",
        &format!("cpython-3.12.3-{}", crate::common::PLATFORM),
    ])
    .fails(1, "policy.max_minor");
    // An unknown version is still "not in the catalogue", not a policy refusal.
    t.run(&["switch", "3.9"])
        .fails(1, "no CPython build in the catalogue matches `3.9`");
    // Install (pre-staging) obeys the policy as well.
    t.run(&["install", "3.12"]).fails(1, "policy.max_minor");
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

#[test]
fn prereleases_follow_the_policy_and_pre_overrides_it() {
    let t = policy_catalogue();
    assert_eq!(
        t.run(&["switch", "3", "--json"]).ok().json()["version"],
        "3.12.3"
    );
    t.write_config("[policy]\nprereleases = true\n");
    assert_eq!(
        t.run(&["switch", "3", "--json"]).ok().json()["version"],
        "3.13.0rc1"
    );
    t.write_config("[policy]\nprereleases = false\n");
    assert_eq!(
        t.run(&["switch", "3", "--json"]).ok().json()["version"],
        "3.12.3"
    );
    // `false` is the default spelled out: prereleases still need asking for.
    t.run(&["switch", ">3.12.3"]).fails(1, "3.13.0rc1");
    // `--pre` (a flag) wins over the file, as any flag does; naming the prerelease asks too.
    assert_eq!(
        t.run(&["switch", "3", "--pre", "--json"]).ok().json()["version"],
        "3.13.0rc1"
    );
    assert_eq!(
        t.run(&["switch", "3.13.0rc1", "--json"]).ok().json()["version"],
        "3.13.0rc1"
    );
}

#[test]
fn a_pinned_build_admits_only_that_release() {
    let t = policy_catalogue();
    t.write_config("[policy]\nbuild = \"20250612\"\n");
    assert_eq!(
        t.run(&["switch", "3", "--json"]).ok().json()["version"],
        "3.11.9"
    );
    t.run(&["switch", "3.12"])
        .fails(1, "policy.build = \"20250612\"");
}

#[test]
fn switch_without_a_request_reads_python_version_from_here_or_a_parent() {
    let t = policy_catalogue();
    let project = t.dir.path().join("project");
    let deep = project.join("src/pkg");
    std::fs::create_dir_all(&deep).unwrap();
    let run = || {
        let out = t.cmd().arg("switch").current_dir(&deep).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no .python-version in"), "{err}");
    std::fs::write(
        project.join(".python-version"),
        "# the project's runtime\ncpython@3.11\n",
    )
    .unwrap();
    let (code, _, err) = run();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("using `cpython@3.11` from") && err.contains(".python-version"),
        "{err}"
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

const NOW_OUTSIDE: &str = "2026-11-21T05:00:00Z"; // Saturday, after the window
const NOW_INSIDE: &str = "2026-11-21T03:00:00Z";

#[test]
fn outside_the_window_changes_are_refused_with_exit_3_and_the_next_opening() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.write_config("[maintenance]\nwindows = [\"Sat 02:00-04:00 UTC\"]\n");
    let now = [("PYSWAP_NOW", NOW_OUTSIDE)];
    let r = t
        .run_env(&["switch", "3.12"], &now)
        .fails(3, "outside the maintenance windows (Sat 02:00-04:00 UTC)");
    assert!(
        r.stderr
            .contains("opens at 2026-11-28T02:00:00Z (in 6d 21h)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    // Issue 16: an upgrade that changes nothing (3.11.9 is the newest 3.11) runs anyway.
    t.run_env(&["upgrade"], &now).ok();
    // gc never touches what runs: windows do not hold it back (issue 27), and a cron line
    // with the `--force` it once needed still works.
    let r = t.run_env(&["gc"], &now).ok();
    assert!(!r.stderr.contains("maintenance"), "{}", r.stderr);
    t.run_env(&["gc", "--force"], &now).ok();
    let doc = t.run_env(&["switch", "3.12", "--json"], &now).json();
    assert_eq!(doc["error"]["exit_code"], 3);
    // A request at fault is refused for what it is (exit 1), window or not (issue 27): no
    // window opening would make it work.
    t.run_env(&["switch", "3.99"], &now)
        .fails(1, "no CPython build in the catalogue matches `3.99`");
    t.run_env(&["rollback", "--to", "999"], &now)
        .fails(1, "has no generation 999");
    t.run_env(&["rollback"], &now)
        .fails(1, "has no generation older than the current one");
    t.write_config(
        "[maintenance]\nwindows = [\"Sat 02:00-04:00 UTC\"]\n[policy]\nmax_minor = 11\n",
    );
    t.run_env(&["switch", "3.12"], &now)
        .fails(1, "policy.max_minor = 11");
    t.write_config("[maintenance]\nwindows = [\"Sat 02:00-04:00 UTC\"]\n");
    nothing_lost(&t);
    // Pre-staging is always allowed; so are read-only commands.
    t.run_env(&["install", "3.12"], &now).ok();
    t.run_env(&["generations"], &now).ok();
    t.run_env(&["check"], &now).ok();
    // Inside the window, or with --force (which warns), it goes ahead.
    let r = t.run_env(&["switch", "3.12", "--force"], &now).ok();
    assert!(
        r.stderr.contains("going ahead because of --force"),
        "{}",
        r.stderr
    );
    t.run_env(&["rollback"], &now)
        .fails(3, "outside the maintenance windows");
    t.run_env(&["rollback", "--to", "1"], &[("PYSWAP_NOW", NOW_INSIDE)])
        .ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

#[test]
fn windows_across_midnight_and_the_week_boundary() {
    let mut t = with_current();
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.write_config(
        "[maintenance]\nwindows = [\"Sun 23:30-00:30 UTC\", \"Wed 12:00-13:00 +02:00\"]\n",
    );
    for (now, open) in [
        ("2026-11-22T23:45:00Z", true),  // Sunday, inside
        ("2026-11-23T00:15:00Z", true),  // Monday: the Sunday window runs on past midnight
        ("2026-11-23T00:30:00Z", false), // closed at 00:30
        ("2026-11-25T10:30:00Z", true),  // Wednesday 12:30 at +02:00
        ("2026-11-25T12:30:00Z", false),
    ] {
        let r = t.run_env(&["switch", "3.12", "--dry-run"], &[("PYSWAP_NOW", now)]);
        assert_eq!(
            r.code,
            Some(if open { 0 } else { 3 }),
            "{now}: {}",
            r.stderr
        );
    }
    let r = t.run_env(
        &["switch", "3.12"],
        &[("PYSWAP_NOW", "2026-11-23T00:30:00Z")],
    );
    assert!(
        r.stderr
            .contains("opens at 2026-11-25T10:00:00Z (in 2d 9h 30m)"),
        "{}",
        r.stderr
    );
    t.run_env(&["gc"], &[("PYSWAP_NOW", "next tuesday")])
        .fails(1, "PYSWAP_NOW");
}

#[test]
fn upgrade_moves_to_the_newest_allowed_patch_of_the_current_minor() {
    let mut t = TestContext::new();
    for v in ["3.11.7", "3.11.8", "3.11.9", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    t.run(&["upgrade"]).fails(1, "has no generation yet");
    t.run(&["switch", "3.11.7"]).ok();
    // The policy caps the patch level: 3.11.9 is refused, so 3.11.8 is the newest allowed.
    t.write_config("[policy]\nallowed = \"<3.11.9\"\n");
    let r = t.run(&["upgrade"]).ok();
    assert!(
        r.stderr
            .contains("CPython 3.11.7+20260101 -> 3.11.8+20260101"),
        "{}",
        r.stderr
    );
    let doc = t.run(&["upgrade", "--json"]).ok().json();
    assert_eq!(
        (doc["changed"].as_bool(), doc["version"].as_str()),
        (Some(false), Some("3.11.8"))
    );
    std::fs::remove_file(t.home.join("config.toml")).unwrap();
    let doc = t.run(&["upgrade", "--json"]).ok().json();
    assert_eq!(
        (doc["version"].as_str(), doc["generation"].as_u64()),
        (Some("3.11.9"), Some(3))
    );
    let r = t.run(&["upgrade"]).ok();
    assert!(
        r.stderr.contains("already at the newest CPython 3.11"),
        "{}",
        r.stderr
    );
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(gens[2]["command"], "upgrade");
    assert_eq!(
        t.profile_version().as_deref(),
        Some("3.11.9"),
        "never to 3.12"
    );
}

// The reference's example manifest is one pyswap accepts, and every key in it is a setting
// read from the file (a key renamed in the code but not in docs/reference.md fails here).
#[test]
fn the_readme_example_manifest_is_accepted_key_by_key() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md")).unwrap();
    let section = &readme[readme.find("## Configuration manifest").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let t = TestContext::new();
    t.write_config(example);
    let mut show = t.cmd();
    show.env_remove("PYSWAP_CATALOGUE")
        .env_remove("PYSWAP_HTTP_BACKOFF")
        .args(["config", "show", "--json"]);
    let shown = crate::common::Run::from_output(&show.output().unwrap()).ok();
    let shown: ConfigShown = strict(&shown.stdout);
    assert!(shown.catalogues_verified);
    let table: toml::Table = toml::from_str(example).unwrap();
    // `[[validation.checks]]` is the one setting `validation.checks`.
    let keys: Vec<String> = table
        .iter()
        .flat_map(|(k, v)| match v {
            toml::Value::Table(inner) => inner.keys().map(|i| format!("{k}.{i}")).collect(),
            _ => vec![k.clone()],
        })
        .collect();
    assert!(keys.len() > 20, "{keys:?}");
    for key in &keys {
        let found = setting(&shown, key);
        assert_eq!(found.source, "file", "{key}: {}", found.source);
    }
}
