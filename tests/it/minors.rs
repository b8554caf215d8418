//! `pyswap minors`: the profile's per-minor paths, listed and removed; the argument checked
//! before it becomes a path.

use crate::common::with_current;

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn minors_remove_checks_its_argument_before_it_becomes_a_path() {
    let t = with_current();
    let decoy = t.dir.path().join("x");
    std::fs::write(&decoy, "keep me").unwrap();
    let db = t.home.join("pyswap.db");
    for evil in [
        "3.11/../../../x",
        "../pyswap.db",
        "3.11/../../pyswap.db",
        "/etc/passwd",
        "",
        "3.1x",
    ] {
        let r = t.run(&["minors", "--remove", evil]);
        r.fails(1, "is not a minor version");
    }
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "keep me");
    assert!(db.is_file());
    t.assert_consistent();
    // An unknown minor is an error naming it, printed without raw control characters.
    t.run(&["minors", "--remove", "3.99"])
        .fails(1, "has no minor path 3.99");
    let r = t.run(&["minors", "--remove", "3.9\u{1b}[31m"]);
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
    r.fails(1, "is not a minor version");
    // Something that is not a link where a minor path belongs is not pyswap's to remove.
    let link = t.home.join("profiles/default@3.11");
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, "not a link").unwrap();
    t.run(&["minors", "--remove", "3.11"])
        .fails(1, "is not a symlink");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "not a link");
}
