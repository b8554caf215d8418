//! Version requests and builds: the spellings users type (uv's among them), two builds of one
//! version told apart and typed back as pyswap printed them, and `list` in one order.

use crate::common::{Compression, Fake, TestContext, append_file, compress, synthetic_tar};

// Issue 17 (day one): what a uv user expects on day one.
#[test]
fn uv_spellings_work_on_the_command_line_and_list_filters() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "cpython@3.11"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    t.run(&["switch", "cpython-3.12"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    t.run(&["install", "cpython3.11"]).ok();
    // The interpreter's own name is a request too (issue 27).
    let doc = t.run(&["switch", "python3.12", "--json"]).ok().json();
    assert_eq!(
        (doc["version"].as_str(), doc["changed"].as_bool()),
        (Some("3.12.3"), Some(false))
    );
    t.run(&["switch", "pypy@3.10"]).fails(1, "CPython only");
    // A platform the catalogue has no build for is an error, not an empty table (issue 27).
    t.run(&["list", "--available", "--platform", "macos-aarch64-none"])
        .fails(
            1,
            "the catalogue has no build for platform macos-aarch64-none",
        );
    // `list REQUEST` filters both sides; statuses are marked.
    let r = t.run(&["list", "cpython@3.11"]).ok();
    assert!(
        r.stdout.contains("cpython-3.11.9") && !r.stdout.contains("cpython-3.12.3"),
        "{}",
        r.stdout
    );
    let avail = t
        .run(&["list", "--available", "3.12", "--json"])
        .ok()
        .json();
    let rows = avail.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["current"].as_bool(), rows[0]["installed"].as_bool()),
        (Some(true), Some(true))
    );
}

// Issue 17 (day one): what a uv user expects on day one.
#[test]
fn two_builds_of_one_version_are_told_apart() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11"]).ok();
    // The next release of python-build-standalone rebuilds the same version.
    let tar = crate::common::synthetic_tar("3.11.9", Fake::Good, |b| {
        crate::common::append_file(b, "python/NEWS", b"rebuilt", 0o644);
    });
    let data = crate::common::compress(&tar, Compression::Gz);
    t.add_archive("3.11.9", &data, Compression::Gz);
    t.set_field("3.11.9", "build", "20260301".into());
    let r = t.run(&["upgrade"]).ok();
    assert!(
        r.stderr
            .contains("CPython 3.11.9+20260101 -> 3.11.9+20260301"),
        "{}",
        r.stderr
    );
    let gens = t.run(&["generations"]).ok();
    assert!(
        gens.stdout.contains("3.11.9+20260101") && gens.stdout.contains("3.11.9+20260301"),
        "{}",
        gens.stdout
    );
    let doc = t.run(&["current", "--json"]).ok().json();
    assert_eq!(doc["build"], "20260301");
}

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

// Issue 27 (an operator's first week).
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

// Issue 27 (an operator's first week).
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
