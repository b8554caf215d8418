//! Issue 40 (an incremental store, work in progress): each regular file of the store is kept once
//! per content and mode, and entries hard-link it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

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

/// A home that switched to two builds of 3.11.9 (generations 1 and 2), and their entries.
fn two_builds() -> (TestContext, std::path::PathBuf, std::path::PathBuf) {
    let mut t = TestContext::new();
    rebuild(&mut t, "3.11.9", "20260101");
    t.run(&["switch", "3.11.9"]).ok();
    rebuild(&mut t, "3.11.9", "20260202");
    t.run(&["switch", "3.11.9"]).ok();
    let (old, new) = (entry_dir(&t, 1), entry_dir(&t, 2));
    (t, old, new)
}

#[test]
fn a_rebuild_links_the_files_it_shares_and_gc_frees_only_what_nothing_links() {
    let (t, old, new) = two_builds();
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

/// The numbers an install logs at `-v`: (compiled, reused).
fn compiled_and_reused(stderr: &str) -> (usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.contains("compiled the standard library's bytecode"))
        .unwrap_or_else(|| panic!("no compile line: {stderr}"));
    let field = |name: &str| -> usize {
        let at = line.find(&format!(" {name}=")).unwrap() + name.len() + 2;
        line[at..].split(' ').next().unwrap().parse().unwrap()
    };
    (field("compiled"), field("reused"))
}

// Issue 40 with real CPython on every minor 3.9 to 3.13: a rebuild of the same version (every
// binary changed, one stdlib source) links the bytecode of every other source from the build
// before and compiles that one; its entry is the one a fresh home makes of the same archive,
// byte for byte, and it runs, as root without PYTHONDONTWRITEBYTECODE, writing nothing.
#[test]
fn on_every_minor_a_rebuild_compiles_only_what_changed_and_is_the_entry_a_fresh_home_makes() {
    for python in crate::shared_host::minor_pythons() {
        let (version, first) = crate::common::packed(&python, &[]);
        let (_, second) = crate::common::packed(&python, &["--rebuild", "r1", "--touch", "one"]);
        let mut t = TestContext::new();
        t.add_archive(version, first, Compression::Gz);
        t.set_field(version, "build", "20260101".into());
        t.run(&["switch", version]).ok();
        t.add_archive(version, second, Compression::Gz);
        t.set_field(version, "build", "20260202".into());
        let r = t.run(&["-v", "switch", version]).ok();
        let (compiled, reused) = compiled_and_reused(&r.stderr);
        let (old, new) = (entry_dir(&t, 1), entry_dir(&t, 2));
        let short: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        let stdlib = format!("lib/python{short}");
        // The one source the rebuild changed, found by content.
        let changed: Vec<String> = crate::common::files_under(&new.join(&stdlib))
            .into_iter()
            .filter(|f| {
                std::path::Path::new(f)
                    .extension()
                    .is_some_and(|e| e == "py")
                    && !f.contains("site-packages")
            })
            .filter(|f| {
                std::fs::read(new.join(&stdlib).join(f)).ok()
                    != std::fs::read(old.join(&stdlib).join(f)).ok()
            })
            .collect();
        assert_eq!(changed.len(), 1, "{version}: {changed:?}");
        assert_eq!(
            compiled, 1,
            "{version}: only the changed source is compiled"
        );
        assert!(reused > 500, "{version}: {reused} reused");
        let tag = format!("cpython-{}", short.replace('.', ""));
        let pyc = |entry: &std::path::Path, source: &str| {
            let (dir, name) = source.rsplit_once('/').unwrap_or(("", source));
            let stem = name.strip_suffix(".py").unwrap();
            entry
                .join(&stdlib)
                .join(dir)
                .join(format!("__pycache__/{stem}.{tag}.pyc"))
        };
        let inode = |p: std::path::PathBuf| {
            let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (m.dev(), m.ino(), m.mode() & 0o777)
        };
        assert_eq!(inode(pyc(&old, "os.py")), inode(pyc(&new, "os.py")));
        assert_eq!(inode(pyc(&new, "os.py")).2, 0o444);
        assert_ne!(inode(pyc(&old, &changed[0])), inode(pyc(&new, &changed[0])));
        // The same archive in a home that never held the first build: the same entry.
        let mut fresh = TestContext::new();
        fresh.add_archive(version, second, Compression::Gz);
        fresh.set_field(version, "build", "20260202".into());
        fresh.run(&["install", version]).ok();
        assert_eq!(
            fresh.store_names(),
            [new.file_name().unwrap().to_string_lossy().into_owned()],
            "{version}"
        );
        // It runs the changed module from its own bytecode and writes nothing into the store.
        let module = changed[0].trim_end_matches(".py").replace('/', ".");
        let module = module.trim_end_matches(".__init__");
        crate::running::run_ok(
            &t.profile_python(),
            &["-c", &format!("import os, {module}")],
        );
        t.run(&["verify"]).ok();
    }
}

/// Makes every file of `entry` its own inode again and forgets the objects, as an entry that a
/// pyswap before issue 40 installed is (modes and contents unchanged).
pub fn unshare(t: &TestContext, entry: &std::path::Path) {
    fn walk(dir: &std::path::Path) {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(&p);
            } else if m.is_file() {
                let copy = p.with_extension("unshared");
                std::fs::write(&copy, std::fs::read(&p).unwrap()).unwrap();
                std::fs::set_permissions(&copy, m.permissions()).unwrap();
                std::fs::rename(&copy, &p).unwrap();
            }
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    walk(entry);
    let objects = t.home.join("objects");
    if objects.exists() {
        std::fs::remove_dir_all(objects).unwrap();
    }
}

// Issue 40, item 5: entries installed before files were stored once are shared in place by
// `pyswap store optimise`, while a process maps one of their files; a file changed since its
// install is left for `verify` to name.
#[test]
fn store_optimise_shares_older_entries_in_place_and_a_running_process_keeps_its_file() {
    let (t, old, new) = two_builds();
    unshare(&t, &old);
    unshare(&t, &new);
    let figures = |t: &TestContext| t.run(&["--json", "store"]).ok().json();
    let before = figures(&t);
    assert_eq!(before["disk_bytes"], before["tree_bytes"], "{before}");
    let os = "lib/python3.11/os.py";
    let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
    let mapped = ino(&old.join(os));
    let holder = crate::common::mapper(&old.join(os));
    assert_ne!(mapped, ino(&new.join(os)));

    let r = t.run(&["--json", "store", "optimise"]).ok();
    assert_eq!(
        r.json()["entries"].as_array().unwrap().len(),
        2,
        "{}",
        r.stdout
    );
    assert_eq!(ino(&old.join(os)), ino(&new.join(os)), "shared now");
    assert_eq!(
        std::fs::metadata(new.join(os)).unwrap().mode() & 0o777,
        0o444
    );
    let after = figures(&t);
    assert!(
        after["disk_bytes"].as_u64() < before["disk_bytes"].as_u64(),
        "{before} {after}"
    );
    assert_eq!(after["tree_bytes"], before["tree_bytes"]);
    t.run(&["verify"]).ok();
    // The process still maps the inode it mapped, and still counts as running the old build.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", holder.0.id())).unwrap();
    assert!(
        maps.lines()
            .any(|l| l.split_whitespace().nth(4) == Some(&mapped.to_string())),
        "{maps}"
    );
    let ps: Vec<crate::output::Running> =
        crate::output::strict(&t.run(&["--json", "ps"]).ok().stdout);
    assert!(
        ps.iter()
            .any(|p| p.command.contains("mmap")
                && p.entry == old.file_name().unwrap().to_str().unwrap()),
        "{ps:?}"
    );
    // Again: nothing left to share.
    let again = t.run(&["store", "optimise"]).ok();
    assert!(
        again.stderr.contains("0 files shared now"),
        "{}",
        again.stderr
    );

    // A file written into an entry since its install is not shared, and verify names it.
    unshare(&t, &new);
    let news = new.join("NEWS");
    std::fs::set_permissions(&news, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&news, "changed").unwrap();
    std::fs::set_permissions(&news, std::fs::Permissions::from_mode(0o444)).unwrap();
    let r = t.run(&["store", "optimise"]).ok();
    assert!(
        r.stderr.contains("not as installed (first: NEWS)"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&news).unwrap(), "changed");
    t.run(&["verify"]).fails(1, "NEWS");
}

// Issue 40, item 3: a damaged file two entries share is read once, both entries (and the
// generations running them) are named, and `--repair` fetches one archive: the other entry is
// healed from the object the restored file became.
#[test]
fn a_damaged_shared_file_names_every_entry_and_is_restored_once() {
    let (t, old, new) = two_builds();
    let os = "lib/python3.11/os.py";
    let clean = t.run(&["--json", "verify"]).ok().json();
    assert!(
        clean["files_read"].as_u64() < clean["files_hashed"].as_u64(),
        "a shared file is read once: {clean}"
    );
    // Bit rot in the shared inode, as root writing past the seal would cause.
    let shared = old.join(os);
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&shared, "# rotten\n").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o444)).unwrap();
    assert_eq!(std::fs::read_to_string(new.join(os)).unwrap(), "# rotten\n");
    let r = t.run(&["verify"]).fails(1, "2 problem(s)");
    for (entry, generation) in [(&old, "default:1"), (&new, "default:2")] {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(entry.file_name().unwrap().to_str().unwrap()))
            .unwrap_or_else(|| panic!("{}", r.stderr));
        assert!(line.starts_with("warning: corrupt:"), "{line}");
        assert!(line.contains("os.py"), "{line}");
        assert!(
            line.contains(&format!("generations running it: {generation}")),
            "{line}"
        );
    }
    let r = t.run(&["verify", "--repair"]).ok();
    assert!(
        r.stderr
            .contains("restored 1 file from the store's objects (no download)"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("(no download)").count(), 1, "{}", r.stderr);
    for entry in [&old, &new] {
        assert_eq!(
            std::fs::read_to_string(entry.join(os)).unwrap(),
            "# os for 3.11.9\n"
        );
    }
    let inode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().ino();
    assert_eq!(inode(old.join(os)), inode(new.join(os)), "shared again");
    t.run(&["verify"]).ok();
}

// Issue 40, item 4: a file whose object has the filesystem's maximum of links stays the new
// entry's own copy, said once; the entry is whole and `verify` clean.
#[test]
fn an_object_at_the_link_maximum_leaves_the_file_private_and_says_so_once() {
    let mut t = TestContext::new();
    rebuild(&mut t, "3.11.9", "20260101");
    t.run(&["switch", "3.11.9"]).ok();
    let old = entry_dir(&t, 1);
    let os = old.join("lib/python3.11/os.py");
    let getconf = std::process::Command::new("getconf")
        .arg("LINK_MAX")
        .arg(&os)
        .output()
        .unwrap();
    let max: i64 = String::from_utf8_lossy(&getconf.stdout)
        .trim()
        .parse()
        .unwrap_or(-1);
    if !(1..=70_000).contains(&max) {
        eprintln!("skipped: this filesystem allows {max} links per file (ext4: 65,000)");
        return;
    }
    let ino = std::fs::metadata(&os).unwrap().ino();
    let object = find_inode(&t.home.join("objects"), ino).expect("os.py has an object");
    let extra = t.dir.path().join("links");
    std::fs::create_dir(&extra).unwrap();
    let have = std::fs::metadata(&object).unwrap().nlink();
    for i in have..u64::try_from(max).unwrap() {
        std::fs::hard_link(&object, extra.join(i.to_string())).unwrap();
    }
    rebuild(&mut t, "3.11.9", "20260202");
    let r = t.run(&["switch", "3.11.9"]).ok();
    assert_eq!(
        r.stderr.matches("are kept as its own copies").count(),
        1,
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Too many links"), "{}", r.stderr);
    let new = entry_dir(&t, 2);
    let private = new.join("lib/python3.11/os.py");
    assert_ne!(std::fs::metadata(&private).unwrap().ino(), ino);
    assert_eq!(std::fs::metadata(&private).unwrap().mode() & 0o777, 0o444);
    assert_eq!(
        std::fs::read(&private).unwrap(),
        std::fs::read(&os).unwrap()
    );
    t.run(&["verify"]).ok();
    std::fs::remove_dir_all(&extra).unwrap();
}

fn find_inode(dir: &std::path::Path, ino: u64) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).ok()?;
        if m.is_dir() {
            if let Some(found) = find_inode(&p, ino) {
                return Some(found);
            }
        } else if m.ino() == ino {
            return Some(p);
        }
    }
    None
}
