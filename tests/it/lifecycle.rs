//! The happy path end to end: switch, generations, rollback, gc, list, current, env.

use std::os::unix::fs::PermissionsExt;

use crate::common::{Compression, Fake, Server, TestContext};

#[test]
fn switch_rollback_gc_end_to_end() {
    let mut t = TestContext::new();
    t.add("3.10.14", Fake::Good, Compression::Gz);
    t.add("3.12.1", Fake::Good, Compression::Zst);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.add("3.13.0rc1", Fake::Good, Compression::Gz);

    let r = t.run(&["switch", "3.10.14", "--json"]).ok();
    let j = r.json();
    assert_eq!(
        (
            j["generation"].as_u64(),
            j["version"].as_str(),
            j["installed"].as_bool()
        ),
        (Some(1), Some("3.10.14"), Some(true))
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));

    t.run(&["switch", "3.12"]).ok();
    assert_eq!(
        t.profile_version().as_deref(),
        Some("3.12.3"),
        "newest stable 3.12.x"
    );
    assert!(
        t.run(&["switch", "3"]).ok().stderr.contains("3.12.3"),
        "3 skips 3.13.0rc1 and is already current"
    );

    let gens = t.run(&["generations", "--json"]).ok().json();
    let gens = gens.as_array().unwrap();
    assert_eq!(
        gens.len(),
        2,
        "switching to the current runtime makes no generation"
    );
    assert_eq!(gens[1]["current"], true);
    assert_eq!(gens[0]["current"], false);
    assert_eq!(gens[0]["version"], "3.10.14");
    assert!(gens[0]["created"].as_str().unwrap().ends_with('Z'));
    assert!(
        gens[1]["store_path"]
            .as_str()
            .unwrap()
            .contains("-cpython-3.12.3-linux-x86_64-gnu")
    );

    // The store entry is read-only and named by its digest.
    let entry = std::path::PathBuf::from(gens[1]["store_path"].as_str().unwrap());
    assert_eq!(
        std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777,
        0o555
    );
    assert_eq!(
        std::fs::metadata(entry.join("lib/python3.12/os.py"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o444
    );

    let table = t.run(&["generations"]).ok().stdout;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with('*') && l.contains("3.12.3")),
        "{table}"
    );

    // Rollback: no download (remove the archives to prove it).
    for f in std::fs::read_dir(&t.served).unwrap().flatten() {
        if f.file_name().to_string_lossy().ends_with(".gz")
            || f.file_name().to_string_lossy().ends_with(".zst")
        {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    // Across the minor version by name (issue 37: a plain rollback stays on 3.12).
    t.run(&["rollback"])
        .fails(1, "does not change the minor version");
    t.run(&["rollback", "--to", "1"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));
    t.run(&["rollback"])
        .fails(1, "no generation older than the current one (1)");
    t.run(&["rollback", "--to", "2"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    t.run(&["rollback", "--to", "9"])
        .fails(1, "profile `default` has no generation 9");
    // Switching to an installed version needs no archive either.
    t.run(&["switch", "3.10.14"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(
        gens.as_array()
            .unwrap()
            .iter()
            .map(|g| g["number"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    let cur = t.run(&["current", "--json"]).ok().json();
    assert_eq!(
        (cur["generation"].as_u64(), cur["version"].as_str()),
        (Some(3), Some("3.10.14"))
    );
    let env = t.run(&["env"]).ok().stdout;
    assert!(
        env.starts_with("export PATH='") && env.contains("/profiles/default/bin'"),
        "{env}"
    );

    let listed = t.run(&["list", "--installed", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // The minor path `default@3.12` leads to generation 2: venvs may be built on it, so gc
    // keeps it (and says so) until the path is removed.
    let pinned = t
        .run(&["gc", "--keep", "1", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(pinned["generations_removed"].as_array().unwrap().len(), 1);
    assert_eq!(pinned["kept_for_minor_paths"][0]["generation"], 2);
    assert_eq!(pinned["kept_for_minor_paths"][0]["minor"], "3.12");
    let minors = t.run(&["minors", "--json"]).ok().json();
    assert_eq!(
        minors
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (
                m["minor"].as_str().unwrap(),
                m["generation"].as_u64().unwrap()
            ))
            .collect::<Vec<_>>(),
        vec![("3.10", 3), ("3.12", 2)]
    );
    t.run(&["minors", "--remove", "3.12"]).ok();
    // gc --keep 1: generation 3 (current) stays; 1 and 2 go; the 3.12.3 entry is unreferenced.
    let dry = t
        .run(&["gc", "--keep", "1", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(dry["generations_removed"].as_array().unwrap().len(), 2);
    assert_eq!(t.store_names().len(), 2, "dry run changes nothing");
    let g = t.run(&["gc", "--keep", "1", "--json"]).ok().json();
    assert_eq!(g["generations_removed"].as_array().unwrap().len(), 2);
    assert_eq!(g["entries_removed"].as_array().unwrap().len(), 1);
    assert!(g["bytes_freed"].as_u64().unwrap() > 0);
    assert_eq!(t.store_names().len(), 1);
    assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));
    t.assert_consistent();

    // Generation numbers are never reused after gc.
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let j = t.run(&["switch", "3.12.3", "--json"]).ok().json();
    assert_eq!(j["generation"].as_u64(), Some(4));
    t.assert_consistent();
}

#[test]
fn switch_over_http_from_loopback_and_prerelease_policy() {
    let mut t = TestContext::new();
    let server = Server::start(&t.served);
    t.add("3.13.1", Fake::Good, Compression::Zst);
    t.set_url(
        "3.13.1",
        &server.url("cpython-3.13.1-x86_64-unknown-linux-gnu-install_only.tar.zst"),
    );
    t.add("3.15.0rc1", Fake::Good, Compression::Gz);
    t.set_url(
        "3.15.0rc1",
        &server.url("cpython-3.15.0rc1-x86_64-unknown-linux-gnu-install_only.tar.gz"),
    );
    // The catalogue itself over http too (a remote catalogue may only point at http(s) URLs).
    let r = t.run_env(
        &["switch", "3.15"],
        &[("PYSWAP_CATALOGUE", &server.url("catalogue.json"))],
    );
    r.fails(
        1,
        "skipped prerelease 3.15.0rc1 (pass --pre to allow prereleases)",
    );
    t.run_env(
        &["switch", "3.13"],
        &[("PYSWAP_CATALOGUE", &server.url("catalogue.json"))],
    )
    .ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.13.1"));
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one catalogue fetch (the second command used the cached copy) and one archive"
    );
    t.run(&["switch", "3.15", "--pre"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.15.0rc1"));
}

#[test]
fn separate_profiles_are_independent() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11"]).ok();
    t.run(&["switch", "3.12", "--profile", "ci"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    let ci = t.run(&["current", "--profile", "ci", "--json"]).ok().json();
    assert_eq!(
        (ci["generation"].as_u64(), ci["version"].as_str()),
        (Some(1), Some("3.12.3"))
    );
    // gc with no policy deletes no generation and keeps entries other profiles use.
    t.run(&["gc"]).ok();
    assert_eq!(t.store_names().len(), 2);
    t.run(&["switch", "3.11", "--profile", "bad-name"])
        .fails(1, "invalid profile name `bad-name`");
}

#[test]
fn a_real_cpython_installs_validates_and_runs() {
    let (version, archive) = crate::common::real_cpython();
    let mut t = TestContext::new();
    let server = Server::start(&t.served);
    let archive = archive.clone();
    t.add_archive(version, &archive, Compression::Gz);
    t.set_url(
        version,
        &server.url(&format!(
            "cpython-{version}-x86_64-unknown-linux-gnu-install_only.tar.gz"
        )),
    );
    let j = t.run(&["switch", version, "--json"]).ok().json();
    assert_eq!(j["version"].as_str(), Some(version.as_str()));
    let out = std::process::Command::new(t.profile_python())
        .args(["-c", "import sys, ssl, sqlite3, json; import os; print(sys.version.split()[0]); print(os.path.realpath(sys.prefix))"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(version.as_str()));
    assert!(
        lines.next().unwrap().contains("/store/"),
        "the interpreter runs from its store entry"
    );
    let listed = t.run(&["list", "--json"]).ok().json();
    assert!(listed[0]["files"].as_u64().unwrap() > 500);
    t.assert_consistent();
}

#[test]
fn switch_to_an_installed_runtime_needs_no_network() {
    let mut t = TestContext::new();
    let server = Server::start(&t.served);
    for v in ["3.11.9", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
        t.set_url(
            v,
            &server.url(&format!(
                "cpython-{v}-x86_64-unknown-linux-gnu-install_only.tar.gz"
            )),
        );
    }
    let cat = server.url("catalogue.json");
    t.run_env(&["switch", "3.11"], &[("PYSWAP_CATALOGUE", &cat)])
        .ok();
    t.run_env(&["switch", "3.12"], &[("PYSWAP_CATALOGUE", &cat)])
        .ok();
    server.set(crate::common::Behaviour::Status(503));
    // The cached catalogue is stale (TTL 0) and the server fails: the cached copy is used.
    let stale = [
        ("PYSWAP_CATALOGUE", cat.as_str()),
        ("PYSWAP_CATALOGUE_TTL", "0s"),
    ];
    let r = t.run_env(&["switch", "3.11"], &stale).ok();
    assert!(
        r.stderr.contains(&format!(
            "warning: using the copy of catalogue {cat} cached "
        )) && r.stderr.contains("HTTP 503"),
        "{}",
        r.stderr
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    // No cached copy either: the runtimes already installed still resolve.
    std::fs::remove_dir_all(t.home.join("catalogues")).unwrap();
    let r = t
        .run_env(&["switch", "3.12"], &[("PYSWAP_CATALOGUE", &cat)])
        .ok();
    assert!(
        r.stderr
            .contains("HTTP 503; resolving `3.12` among the runtimes already installed"),
        "{}",
        r.stderr
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    // Not installed: the catalogue's own error stands.
    t.run_env(&["switch", "3.13"], &[("PYSWAP_CATALOGUE", &cat)])
        .fails(1, "HTTP 503");
    t.assert_consistent();
}

// Issue 37, item 9: after gc, the generation before the current one may be one kept only for
// another minor's path; a plain rollback does not jump there (nor across a minor switch): it
// names the generation and `--to N`, which returns to it on purpose.
#[test]
fn a_plain_rollback_stays_on_the_minor_version_and_names_the_way_across() {
    let mut t = TestContext::new();
    for v in ["3.11.9", "3.12.2", "3.12.3"] {
        t.add(v, Fake::Good, Compression::Gz);
    }
    for v in ["3.11", "3.12.2", "3.12"] {
        t.run(&["switch", v]).ok();
    }
    t.run(&["gc", "--keep", "1"]).ok();
    let gens = t.run(&["generations", "--json"]).ok().json();
    let numbers: Vec<u64> = gens
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [1, 3],
        "generation 1 kept for the 3.11 path: {gens}"
    );
    for args in [&["rollback"][..], &["rollback", "--dry-run"]] {
        let r = t.run(args).fails(
            1,
            "a plain rollback does not change the minor version (3.12 -> 3.11)",
        );
        assert!(
            r.stderr.contains("`pyswap rollback --to 1`"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    t.run(&["rollback", "--to", "1"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    t.assert_consistent();
}
