//! `pyswap pin` and `.python-version`: what it writes and shows, what `switch` reads from it, and a
//! version file as untrusted input.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{Compression, Fake, TestContext, root_or_skip, with_current};

// Issue 17 (day one): what a uv user expects on day one.
#[test]
fn pin_writes_and_shows_python_version_and_switch_reads_it() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let project = t.dir.path().join("project");
    let sub = project.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    // Nothing pinned anywhere: a clear error with the way forward.
    let r = t.run_in(&sub, &["pin"]).fails(1, "no .python-version");
    assert!(r.stderr.contains("pyswap pin 3.12"), "{}", r.stderr);
    // --global: the home's own pin, used where no directory has one.
    let r = t.run_in(&sub, &["pin", "--global", "cpython@3.11"]).ok();
    assert!(r.stderr.contains("pinned `cpython@3.11`"), "{}", r.stderr);
    let shown = t.run_in(&sub, &["pin", "--json"]).ok().json();
    assert_eq!(
        (shown["request"].as_str(), shown["global"].as_bool()),
        (Some("cpython@3.11"), Some(true))
    );
    t.run_in(&sub, &["switch"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    // A project pin wins over the global one, from a subdirectory too.
    t.run_in(&project, &["pin", "3.12"]).ok();
    assert_eq!(
        std::fs::read_to_string(project.join(".python-version")).unwrap(),
        "3.12\n"
    );
    let r = t.run_in(&sub, &["pin"]).ok();
    assert!(
        r.stdout.starts_with("3.12 (from ") && r.stdout.contains("project/.python-version"),
        "{}",
        r.stdout
    );
    let r = t.run_in(&sub, &["switch"]).ok();
    assert!(r.stderr.contains("using `3.12` from"), "{}", r.stderr);
    assert_eq!(t.profile_version().as_deref(), Some("3.12.3"));
    // A bad request is not written, and blames the request, not a file it never read (issue 27).
    let r = t
        .run_in(&project, &["pin", "3.x"])
        .fails(1, "error: invalid version request `3.x`");
    assert!(!r.stderr.contains(".python-version"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(project.join(".python-version")).unwrap(),
        "3.12\n"
    );
    // Issue 37 (item 12): a pin nothing can satisfy is written, with a warning saying so; one
    // the catalogue offers is not warned about.
    let r = t.run_in(&project, &["pin", "3.13"]).ok();
    assert!(
        r.stderr
            .contains("warning: nothing installed or in the catalogue fits `3.13`"),
        "{}",
        r.stderr
    );
    let r = t.run_in(&project, &["pin", "3.11"]).ok();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

// Issue 25 (the third hardening round): an attack that worked before.
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
