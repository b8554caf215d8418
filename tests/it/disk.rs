//! A full disk and a read-only home: clear errors, nothing half-installed registered, the
//! current generation intact. The store lives on a tmpfs of a few hundred KiB to a few MiB,
//! mounted by the test (root only; elsewhere each test says so and does not run).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Compression, Fake, TestContext, compress, nothing_lost, synthetic_tar};

/// A tiny tmpfs mounted for one test; unmounted on drop.
struct TinyFs(PathBuf);

impl TinyFs {
    /// `None` when this machine does not let the test mount (not root): said on stderr.
    fn mount(at: &Path, size: &str) -> Option<Self> {
        if !crate::common::root_or_skip("mounting a tmpfs") {
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "root could not mount a tmpfs at {}", at.display());
        Some(Self(at.to_owned()))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_loses_nothing() {
    let mut t = TestContext::new();
    let Some(_fs) = TinyFs::mount(&t.home, "600k") else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11.9"]).ok();
    // 3 MiB of incompressible data: more than the 600 KiB filesystem holds.
    let mut noise = vec![0u8; 3 << 20];
    let mut x = 0x2545_f491_u32;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let tar = synthetic_tar("3.12.3", Fake::Good, |b| {
        let mut h = tar::Header::new_gnu();
        h.set_size(noise.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "python/lib/blob", &noise[..])
            .unwrap();
    });
    t.add_archive("3.12.3", &compress(&tar, Compression::Gz), Compression::Gz);
    let r = t
        .run(&["switch", "3.12.3"])
        .fails(1, "No space left on device");
    assert!(
        r.stderr
            .contains("help: the filesystem holding PYSWAP_HOME is full"),
        "{}",
        r.stderr
    );
    nothing_lost(&t);
}

impl TinyFs {
    fn remount(&self, opts: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success(), "remount {opts}");
    }
}

/// Fills the filesystem holding `dir` to the last byte.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0x5a_u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_disk_filled_to_the_last_byte_loses_nothing() {
    let mut t = TestContext::new();
    let Some(_fs) = TinyFs::mount(&t.home, "2m") else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.add("3.10.14", Fake::Good, Compression::Gz);
    t.run(&["install", "3.12.3"]).ok();
    t.run(&["switch", "3.11.9"]).ok();
    let before = t.store_names();
    fill(&t.home);
    // SQLite cannot even map its shared-memory index on a full filesystem: every command that
    // needs the database says the home is full, in one line, and changes nothing.
    for args in [
        &["switch", "3.10.14"][..],
        &["switch", "3.12.3"],
        &["rollback"],
        &["gc", "--keep", "1"],
    ] {
        let r = t.run(args).fails(1, "No space left on device");
        assert!(
            r.stderr
                .contains("help: the filesystem holding PYSWAP_HOME is full"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(t.profile_version().as_deref(), Some("3.11.9"), "{args:?}");
    }
    assert_eq!(t.store_names(), before, "nothing half-installed");
    // Readers only read: they work on a full disk.
    t.run(&["generations"]).ok();
    std::fs::remove_file(t.home.join("filler")).unwrap();
    t.assert_consistent();
    t.run(&["switch", "3.10.14"]).ok();
    t.run(&["gc", "--keep", "1"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.10.14"));
    t.assert_consistent();
}

#[test]
fn a_read_only_home_is_refused_cleanly() {
    let mut t = TestContext::new();
    let Some(fs) = TinyFs::mount(&t.home, "4m") else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Zst);
    t.run(&["switch", "3.11.9"]).ok();
    fs.remount("ro");
    for args in [
        &["switch", "3.12.3"][..],
        &["install", "3.12.3"],
        &["rollback", "--to", "1"],
        &["gc", "--keep", "1"],
    ] {
        let r = t.run(args);
        assert_ne!(
            r.code,
            Some(0),
            "{args:?} on a read-only home: {}",
            r.stdout
        );
        assert!(
            r.stderr.contains("Read-only file system") || r.stderr.contains("read-only"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr.lines().count() <= 3,
            "{args:?}: a short message: {}",
            r.stderr
        );
        assert_eq!(t.profile_version().as_deref(), Some("3.11.9"), "{args:?}");
    }
    // A home that does not exist yet on a read-only filesystem: the same kind of answer.
    let r = t.run_env(
        &["switch", "3.12.3"],
        &[("PYSWAP_HOME", t.home.join("new").to_str().unwrap())],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot create") && r.stderr.contains("Read-only file system"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("help: "), "{}", r.stderr);
    fs.remount("rw");
    nothing_lost(&t);
    t.run(&["switch", "3.12.3"]).ok();
}
