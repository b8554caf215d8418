//! Issue 27: an operator's first week. Listings that stay true with two builds of one version,
//! versions typed back as pyswap printed them, the commands people look for (`uninstall`,
//! `find`), and what a fleet alerts on.

use crate::common::{Compression, Fake, TestContext, append_file, compress, synthetic_tar};

/// `t`'s catalogue entry for `version`, as a variant of it (`freethreaded`, `debug`), under the
/// key its fields agree with.
fn add_variant(t: &mut TestContext, version: &str, variant: &str) {
    let key = format!("cpython-{version}-{}", crate::common::PLATFORM);
    let mut entry = t.entries[&key].clone();
    entry["variant"] = variant.into();
    let key = format!("cpython-{version}+{variant}-{}", crate::common::PLATFORM);
    t.entries.insert(key, entry);
    t.write_catalogue();
}

/// A second build of `version` (python-build-standalone rebuilt it): another archive, build
/// `build` in the catalogue.
fn rebuild(t: &mut TestContext, version: &str, build: &str) {
    let tar = synthetic_tar(version, Fake::Good, |b| {
        append_file(b, "python/NEWS", build.as_bytes(), 0o644);
    });
    t.add_archive(version, &compress(&tar, Compression::Gz), Compression::Gz);
    t.set_field(version, "build", build.into());
}

/// Lines of `text` that contain `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

// Issue 27.
#[test]
fn two_builds_of_one_version_list_true_and_type_back() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11"]).ok();
    rebuild(&mut t, "3.11.9", "20260201");
    t.run(&["install", "3.11"]).ok();

    // Each build once, each with its own status.
    let list = t.run(&["list"]).ok().stdout;
    let old = lines_with(&list, "3.11.9+20260101");
    let new = lines_with(&list, "3.11.9+20260201");
    assert!(old.len() == 1 && old[0].ends_with("current"), "{list}");
    assert!(new.len() == 1 && new[0].ends_with("staged"), "{list}");
    // The catalogue's build is installed (staged), and not the current one.
    let avail = t.run(&["list", "--available", "--json"]).ok().json();
    let rows = avail.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{avail}");
    assert_eq!(
        (
            rows[0]["build"].as_str(),
            rows[0]["installed"].as_bool(),
            rows[0]["staged"].as_bool(),
            rows[0]["current"].as_bool()
        ),
        (Some("20260201"), Some(true), Some(true), Some(false))
    );

    // What pyswap printed is a request for exactly it.
    let r = t.run(&["switch", "3.11.9+20260201"]).ok();
    assert!(
        r.stderr.contains("CPython 3.11.9+20260201") && !r.stderr.contains("older build"),
        "{}",
        r.stderr
    );
    // The catalogue no longer lists +20260101, and it cannot even be read: the store has the
    // build, so nothing needs it. Going back to it says it is the older build.
    let gone = t.dir.path().join("no-such-catalogue.json");
    let gone = gone.to_str().unwrap();
    let r = t
        .run_env(
            &["switch", "3.11.9+20260101"],
            &[("PYSWAP_CATALOGUE", gone)],
        )
        .ok();
    assert!(
        r.stderr
            .contains("this is an older build of CPython 3.11.9: it replaced build 20260201"),
        "{}",
        r.stderr
    );
    t.run(&["switch", "3.11.9+20260201"]).ok();
    let doc = t
        .run_env(
            &["switch", "3.11.9+20260101", "--dry-run", "--json"],
            &[("PYSWAP_CATALOGUE", gone)],
        )
        .ok()
        .json();
    assert_eq!(
        (doc["build"].as_str(), doc["older_than_build"].as_str()),
        (Some("20260101"), Some("20260201"))
    );
    // Each VERSION `list --installed` prints resolves back to that very entry.
    let installed = t.run(&["list", "--installed"]).ok().stdout;
    for line in installed.lines().skip(1) {
        let version = line.split_whitespace().next().unwrap();
        let entry = line.split_whitespace().last().unwrap();
        let plan = t
            .run_env(
                &["switch", version, "--dry-run", "--json"],
                &[("PYSWAP_CATALOGUE", gone)],
            )
            .ok()
            .json();
        assert!(
            plan["store_path"].as_str().unwrap().ends_with(entry),
            "{version}: {plan}"
        );
    }
    // A build that is nowhere names the builds there are.
    let r = t
        .run(&["switch", "3.11.9+20250101"])
        .fails(1, "no CPython build 20250101 matches `3.11.9+20250101`");
    assert!(
        r.stderr.contains("builds of it: 3.11.9+20260201"),
        "{}",
        r.stderr
    );
    t.assert_consistent();
}

// Issue 27.
#[test]
fn list_shows_newest_per_minor_and_variant_on_request_in_one_order() {
    let mut t = TestContext::new();
    for v in ["3.10.14", "3.12.2", "3.12.3", "3.13.0", "3.13.1"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    add_variant(&mut t, "3.13.1", "freethreaded");
    add_variant(&mut t, "3.13.1", "debug");
    t.run(&["switch", "3.12.2"]).ok();

    let versions = |args: &[&str]| -> Vec<String> {
        t.run(args)
            .ok()
            .stdout
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
            .collect()
    };
    // uv's default: the newest patch of each minor, default builds only; what is installed is
    // always shown; newest first.
    assert_eq!(
        versions(&["list"]),
        [
            "3.13.1+20260101",
            "3.12.3+20260101",
            "3.12.2+20260101",
            "3.10.14+20260101"
        ]
    );
    assert_eq!(
        versions(&["list", "--variants"]),
        [
            "3.13.1+20260101",
            "3.13.1+freethreaded+20260101",
            "3.13.1+debug+20260101",
            "3.12.3+20260101",
            "3.12.2+20260101",
            "3.10.14+20260101"
        ]
    );
    assert_eq!(
        versions(&["list", "--all-versions"]),
        [
            "3.13.1+20260101",
            "3.13.0+20260101",
            "3.12.3+20260101",
            "3.12.2+20260101",
            "3.10.14+20260101"
        ]
    );
    // A request naming a variant shows it; the JSON has the same rows.
    assert_eq!(
        versions(&["list", "3.13t"]),
        ["3.13.1+freethreaded+20260101"]
    );
    let avail = t.run(&["list", "--available", "--json"]).ok().json();
    let keys: Vec<&str> = avail
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["3.13.1", "3.12.3", "3.10.14"]);
    // A free-threaded build's printed version types back.
    let plan = t
        .run(&[
            "switch",
            "3.13.1+freethreaded+20260101",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        plan["key"].as_str(),
        Some("cpython-3.13.1+freethreaded-linux-x86_64-gnu")
    );
}

// Issue 27.
#[test]
fn uninstall_removes_what_it_names_never_what_runs_and_breaks_only_with_force() {
    let mut t = TestContext::new();
    for v in ["3.10.14", "3.11.9", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    t.run(&["switch", "3.11"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["install", "3.10"]).ok();
    let before = t.store_names();

    t.run(&["uninstall", "3.9"])
        .fails(1, "no installed runtime matches `3.9`");
    t.run(&["uninstall", "3.12"]).fails(
        1,
        "CPython 3.12.3+20260101 is what profile `default` runs now (generation 2)",
    );
    // Generation 1 is behind the minor path default@3.11: removing it breaks what was made there.
    let r = t.run(&["uninstall", "3.11"]).fails(
        1,
        "not removing CPython 3.11.9+20260101 without --force: minor path default@3.11 leads to it",
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    // Several requests are checked together: nothing goes when one is refused.
    t.run(&["uninstall", "3.10", "3.12"]).fails(1, "runs now");
    assert_eq!(t.store_names(), before);

    // A forced dry run says what it would free and changes nothing.
    let plan = t
        .run(&["uninstall", "3.11", "--force", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(
        plan["generations_removed"],
        serde_json::json!(["default:1"])
    );
    assert_eq!(plan["removed"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["minor_paths_removed"].as_array().unwrap().len(), 1);
    assert_eq!(t.store_names(), before);
    assert!(t.home.join("profiles/default@3.11").exists());

    // A staged runtime nothing uses goes without --force; what it freed is said.
    let r = t.run(&["uninstall", "3.10.14+20260101"]).ok();
    assert!(
        r.stderr.contains("removed CPython 3.10.14+20260101 (") && !r.stderr.contains("-cpython-"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("freed"), "{}", r.stderr);
    let r = t.run(&["uninstall", "3.11", "--force"]).ok();
    assert!(
        r.stderr.contains("releasing: minor path default@3.11")
            && r.stderr
                .contains("removed 1 generation that used it: default:1"),
        "{}",
        r.stderr
    );
    assert!(!t.home.join("profiles/default@3.11").exists());
    let left = t.store_names();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].ends_with("cpython-3.12.3-linux-x86_64-gnu"),
        "{left:?}"
    );
    // The profile still runs, and gc finds nothing left to collect for them.
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    let gc = t.run(&["gc", "--dry-run", "--json"]).ok().json();
    assert_eq!(gc["entries_removed"].as_array().unwrap().len(), 0, "{gc}");
    t.assert_consistent();
}

// Issue 27.
#[test]
fn find_prints_the_path_that_stays_valid() {
    let mut t = TestContext::new();
    for v in ["3.10.14", "3.11.9", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    t.run(&["find"])
        .fails(1, "profile `default` has no generation yet");
    t.run(&["switch", "3.11"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["install", "3.10"]).ok();
    let found = |args: &[&str]| {
        let doc = t.run(args).ok().json();
        (
            doc["kind"].as_str().unwrap().to_owned(),
            doc["path"].as_str().unwrap().to_owned(),
        )
    };
    let home = t.home.display().to_string();
    assert_eq!(
        found(&["find", "--json"]),
        (
            "profile".into(),
            format!("{home}/profiles/default/bin/python3")
        )
    );
    assert_eq!(
        found(&["find", "3.11", "--json"]),
        (
            "minor".into(),
            format!("{home}/profiles/default@3.11/bin/python3")
        )
    );
    let (kind, path) = found(&["find", "3.10", "--json"]);
    assert!(
        kind == "store" && path.starts_with(&format!("{home}/store/")),
        "{kind} {path}"
    );
    // The human output is the path alone, for `$(pyswap find 3.11) -m venv ...`, and it runs.
    let printed = t.run(&["find", "3.11"]).ok().stdout;
    let out = std::process::Command::new(printed.trim())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    // `which` (pyenv's word) is the same command.
    assert_eq!(t.run(&["which", "3.11"]).ok().stdout, printed);
    t.run(&["find", "3.9"])
        .fails(1, "no installed runtime matches `3.9`");
    let help = t.run(&["find", "--help"]).ok().stdout;
    assert!(
        help.contains("follows patch upgrades of 3.11") && help.contains("stays on that one build"),
        "{help}"
    );
}

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
