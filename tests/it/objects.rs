//! Issue 40 (an incremental store, work in progress): each regular file of the store is kept once
//! per content and mode, and entries hard-link it.

use std::os::unix::fs::MetadataExt;

use crate::common::{
    Compression, Fake, TestContext, append_file, compress, entry_dir, synthetic_tar,
};

/// A build of `version` whose archive differs from the others by `python/NEWS` only.
fn rebuild(t: &mut TestContext, version: &str, build: &str) {
    let tar = synthetic_tar(version, Fake::Good, |b| {
        append_file(b, "python/NEWS", build.as_bytes(), 0o644);
    });
    t.add_archive(version, &compress(&tar, Compression::Gz), Compression::Gz);
    t.set_field(version, "build", build.into());
}

#[test]
fn a_rebuild_links_the_files_it_shares_and_gc_frees_only_what_nothing_links() {
    let mut t = TestContext::new();
    rebuild(&mut t, "3.11.9", "20260101");
    t.run(&["switch", "3.11.9"]).ok();
    rebuild(&mut t, "3.11.9", "20260202");
    t.run(&["switch", "3.11.9"]).ok();
    let (old, new) = (entry_dir(&t, 1), entry_dir(&t, 2));
    assert_ne!(old, new, "two builds, two entries");
    // The same name for the same tree whether or not it shares: the entry name is its digest.
    let inode = |p: std::path::PathBuf| {
        let m = std::fs::metadata(p).unwrap();
        (m.dev(), m.ino(), m.mode() & 0o777)
    };
    let os = "lib/python3.11/os.py";
    assert_eq!(
        inode(old.join(os)),
        inode(new.join(os)),
        "a shared file is one inode"
    );
    assert_eq!(inode(new.join(os)).2, 0o444, "and stays sealed");
    assert_ne!(
        std::fs::read(old.join("NEWS")).unwrap(),
        std::fs::read(new.join("NEWS")).unwrap()
    );
    t.run(&["verify"]).ok();
    // A process that maps the new build's copy of a shared file runs the new build, not the
    // old one, though the two names are one inode.
    {
        let _holder = crate::common::mapper(&new.join(os));
        let ps: Vec<crate::output::Running> =
            crate::output::strict(&t.run(&["--json", "ps"]).ok().stdout);
        let mine: Vec<&str> = ps
            .iter()
            .filter(|p| p.command.contains("mmap"))
            .map(|p| p.entry.as_str())
            .collect();
        assert_eq!(mine, [new.file_name().unwrap().to_str().unwrap()], "{ps:?}");
    }
    // gc deletes generation 1 and its entry: the shared file stays (generation 2 links it),
    // the object of NEWS of build 1 goes.
    let objects = t.home.join("objects");
    let count = || walk(&objects);
    let before = count();
    t.run(&["gc", "--keep", "1"]).ok();
    assert!(!old.exists());
    assert!(!std::fs::read_to_string(new.join(os)).unwrap().is_empty());
    assert_eq!(
        std::fs::metadata(new.join(os)).unwrap().nlink(),
        2,
        "the entry and its object"
    );
    assert_eq!(
        count(),
        before - 1,
        "only build 1's NEWS had nothing else linking it"
    );
    t.run(&["verify"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { 1 }
        })
        .sum()
}
