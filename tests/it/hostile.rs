//! The malicious-archive corpus: each archive is refused with an error naming the member, in both
//! .tar.gz and .tar.zst, and nothing is written outside the staging directory (which is gone
//! afterwards), while the store, the database and the current generation stay as they were.

use crate::common::{
    Compression, Fake, TestContext, compress, nothing_lost, synthetic_tar, with_current,
};
use std::process::Command;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::corpus::{Hdr, RawTar, pax_record};

/// Every escape in the corpus aims at a name containing this, so a search can prove none landed.
const CANARY: &str = "pyswap-escaped";

/// The members of a good 3.12.3 runtime, to which each case appends its hostile part.
fn base() -> RawTar {
    RawTar::after(&synthetic_tar("3.12.3", Fake::Good, |_| {}))
}

/// (what, the tar, what stderr must say: the member's name and the reason).
fn corpus() -> Vec<(&'static str, Vec<u8>, Vec<String>)> {
    let c = |s: &str| s.replace("CANARY", CANARY);
    let mut cases: Vec<(&'static str, Vec<u8>, Vec<String>)> = Vec::new();
    let mut add = |what, tar: Vec<u8>, needles: &[&str]| {
        cases.push((what, tar, needles.iter().map(|n| c(n)).collect()));
    };
    let smuggled = {
        // Hidden inside what a reader that trusts the ustar size 0 would take for the next header.
        let mut inner = RawTar::default();
        inner.file(&c("python/../../CANARY"), b"owned", 0o644);
        inner.out
    };
    let long = format!("python/{}", "d/".repeat(2100));

    add(
        "../x",
        base().file(&c("python/../CANARY"), b"x", 0o644).end(),
        &["`python/../pyswap-escaped`", "`..`"],
    );
    add(
        "/etc/x",
        base().file(&c("/etc/CANARY"), b"x", 0o644).end(),
        &["`/etc/pyswap-escaped`", "absolute"],
    );
    add(
        "//x",
        base().file(&c("//CANARY"), b"x", 0o644).end(),
        &["`//pyswap-escaped`", "absolute"],
    );
    add(
        "a/../../x",
        base().file(&c("python/a/../../CANARY"), b"x", 0o644).end(),
        &["`python/a/../../pyswap-escaped`", "`..`"],
    );
    add(
        "symlink to an absolute path",
        base().link(b'2', "python/lib/evil", "/etc/passwd").end(),
        &["`python/lib/evil`", "absolute"],
    );
    add(
        "symlink l -> ../../..",
        base().link(b'2', "python/l", "../../..").end(),
        &["`python/l`", "outside the runtime tree"],
    );
    add(
        "a file written through a symlink to outside",
        base()
            .link(b'2', "python/out", "../../..")
            .file(&c("python/out/CANARY"), b"x", 0o644)
            .end(),
        &["`python/out/pyswap-escaped`", "through the symlink `out`"],
    );
    add(
        "a symlink then a directory of the same name (chmod outside)",
        base()
            .link(b'2', "python/share", "../../..")
            .dir("python/share", 0o777)
            .end(),
        &["`python/share`", "twice"],
    );
    add(
        "s -> .. then s/e/f/g",
        base()
            .link(b'2', "python/lib/s", "..")
            .file("python/lib/s/e/f/g", b"x", 0o644)
            .end(),
        &["`python/lib/s/e/f/g`", "through the symlink `lib/s`"],
    );
    add(
        "the same path twice (link then file)",
        base()
            .link(b'2', "python/bin/tool", "python3")
            .file("python/bin/tool", b"x", 0o755)
            .end(),
        &["`python/bin/tool`", "twice"],
    );
    add(
        "hardlink to an absolute path",
        base().link(b'1', "python/h", "/etc/passwd").end(),
        &["`python/h`", "outside the runtime tree"],
    );
    add(
        "hardlink outside the tree",
        base()
            .link(b'1', "python/h", &c("python/../../CANARY"))
            .end(),
        &["`python/h`", "outside the runtime tree"],
    );
    add(
        "hardlink to a later member",
        base().link(b'1', "python/h", "python/lib/later").end(),
        &["`python/h`", "not an earlier file"],
    );
    add(
        "character device",
        base().header(&Hdr::new(b"python/dev/tty", b'3')).end(),
        &["`python/dev/tty`", "device or FIFO"],
    );
    add(
        "block device",
        base().header(&Hdr::new(b"python/dev/sda", b'4')).end(),
        &["`python/dev/sda`", "device or FIFO"],
    );
    add(
        "FIFO",
        base().header(&Hdr::new(b"python/fifo", b'6')).end(),
        &["`python/fifo`", "device or FIFO"],
    );
    add(
        "GNU sparse entry",
        base()
            .header(&Hdr {
                data: b"x",
                ..Hdr::new(b"python/sparse", b'S')
            })
            .end(),
        &["`python/sparse`", "sparse"],
    );
    add(
        "PAX sparse file",
        base()
            .pax(&[
                ("GNU.sparse.major", b"1"),
                ("GNU.sparse.name", b"python/sp"),
            ])
            .file("python/sp", b"x", 0o644)
            .end(),
        &["`python/sp`", "sparse"],
    );
    add(
        "ustar size 0 with a PAX size of N (smuggling)",
        {
            let size = smuggled.len().to_string();
            let mut t = base();
            t.pax(&[("size", size.as_bytes())])
                .header(&Hdr::new(b"python/innocent", b'0'));
            t.out.extend_from_slice(&smuggled);
            t.end()
        },
        &[
            "`python/innocent`",
            "PAX size",
            "disagrees with its header size 0",
        ],
    );
    add(
        "a PAX header followed by a GNU long name",
        base()
            .pax(&[("path", b"python/pax-name")])
            .pax_raw(b'L', b"python/gnu-name\0")
            .file("python/x", b"x", 0o644)
            .end(),
        &["`././@LongLink`", "GNU long-name header after a PAX header"],
    );
    add(
        "a GNU long name followed by a PAX header",
        base()
            .pax_raw(b'L', b"python/gnu-name\0")
            .pax(&[("path", b"python/pax-name")])
            .file("python/x", b"x", 0o644)
            .end(),
        &[
            "`python/PaxHeaders/member`",
            "PAX header after a GNU long-name header",
        ],
    );
    add(
        "an unterminated PAX record",
        base()
            .pax_raw(b'x', b"99 path=python/x\n")
            .file("python/x", b"x", 0o644)
            .end(),
        &["`python/PaxHeaders/member`", "unterminated"],
    );
    add(
        "a non-decimal PAX size",
        base()
            .pax(&[("size", b"0x10")])
            .file("python/x", b"x", 0o644)
            .end(),
        &[
            "`python/PaxHeaders/member`",
            "size `0x10` is not a decimal number",
        ],
    );
    add(
        "a non-octal ustar size",
        base()
            .header(&Hdr {
                size_field: Some(b"0000000x12\0"),
                ..Hdr::new(b"python/badsize", b'0')
            })
            .end(),
        &["python/badsize", "size"],
    );
    add(
        "a dangling PAX header at EOF",
        base().pax(&[("path", b"python/ghost")]).end(),
        &["`python/PaxHeaders/member`", "not followed by the member"],
    );
    add(
        "a dangling GNU long name at EOF",
        base().pax_raw(b'L', b"python/ghost\0").end(),
        &["`././@LongLink`", "not followed by the member"],
    );
    add(
        "a truncated member",
        {
            let mut t = base();
            t.header_only(&Hdr::new(b"python/lib/cut.so", b'0'), 4000);
            t.out.extend_from_slice(&[7; 1000]);
            t.out
        },
        &["python/lib/cut.so", "truncated"],
    );
    add(
        "a header cut mid-way",
        {
            let mut t = base();
            t.file("python/lib/last.py", b"x", 0o644);
            t.header_only(&Hdr::new(b"python/lib/half", b'0'), 0);
            t.out.truncate(t.out.len() - 300);
            t.out
        },
        &["after member `python/lib/last.py`"],
    );
    add(
        "a bad header checksum",
        base()
            .file("python/lib/ok.py", b"x", 0o644)
            .header(&Hdr {
                checksum_error: 1,
                ..Hdr::new(b"python/lib/bad", b'0')
            })
            .end(),
        &["checksum", "after member `python/lib/ok.py`"],
    );
    add(
        "data after the end-of-archive blocks",
        {
            let mut t = base().end();
            t.extend_from_slice(
                &RawTar::default()
                    .file(&c("python/CANARY"), b"late", 0o644)
                    .end(),
            );
            t
        },
        &["data after the tar end-of-archive marker"],
    );
    add(
        "a name with NUL (PAX)",
        base()
            .pax(&[("path", b"python/a\0b")])
            .file("python/x", b"x", 0o644)
            .end(),
        &["`python/a\\u{0}b`", "NUL"],
    );
    add(
        "a name with NUL (GNU)",
        base()
            .pax_raw(b'L', b"python/a\0b\0")
            .file("python/x", b"x", 0o644)
            .end(),
        &["`././@LongLink`", "NUL"],
    );
    add(
        "a non-UTF-8 name",
        base()
            .file("python/a", b"x", 0o644)
            .header(&Hdr::new(b"python/b\xffc", b'0'))
            .end(),
        &["`python/b\u{fffd}c`", "UTF-8"],
    );
    add(
        "a name over PATH_MAX",
        base()
            .pax(&[("path", long.as_bytes())])
            .file("python/x", b"x", 0o644)
            .end(),
        &["`python/d/d/d/", "longer than 1024 bytes"],
    );
    add(
        "a second top-level directory",
        base().file("other/x", b"x", 0o644).end(),
        &["`other/x`", "outside `python/`"],
    );
    add(
        "an unknown layout",
        RawTar::default()
            .dir("runtime", 0o755)
            .file("runtime/bin/python3", b"x", 0o755)
            .end(),
        &["`runtime`", "outside `python/`"],
    );
    add(
        "a symlink carrying data",
        base()
            .header(&Hdr {
                link: b"python3",
                data: b"hidden",
                ..Hdr::new(b"python/bin/py", b'2')
            })
            .end(),
        &["`python/bin/py`", "carrying 6 bytes of data"],
    );
    add(
        "a global PAX header that renames",
        base()
            .pax_raw(b'g', &pax_record("path", b"python/everything"))
            .file("python/x", b"x", 0o644)
            .end(),
        &["global PAX header may not set path"],
    );
    cases
}

/// Every path under `dir`, except the files a refused command may legitimately touch.
fn snapshot(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_owned();
            let s = rel.to_string_lossy();
            if s.starts_with("served")
                || s.starts_with("home/pyswap.db")
                || s.starts_with("home/locks/")
            {
                continue;
            }
            out.insert(rel);
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn canaries(dirs: &[&Path]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(CANARY))
        .collect()
}

/// One refusal: exit 1, the member named, nothing on disk changed, nothing lost.
fn refused(t: &mut TestContext, what: &str, archive: &[u8], comp: Compression, needles: &[String]) {
    t.add_archive("3.12.3", archive, comp);
    let before = snapshot(t.dir.path());
    // Both ways in: gzip through `install`, zstd through `switch`.
    let command = if comp == Compression::Gz {
        "install"
    } else {
        "switch"
    };
    let r = t.run(&[command, "3.12.3"]);
    assert_eq!(
        r.code,
        Some(1),
        "{what} ({comp:?}) was not refused: {}",
        r.stderr
    );
    for n in needles {
        assert!(
            r.stderr.contains(n.as_str()),
            "{what} ({comp:?}): `{n}` not in {}",
            r.stderr
        );
    }
    assert_eq!(
        r.stderr
            .trim()
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1,
        "{what}: one error line: {}",
        r.stderr
    );
    assert_eq!(
        snapshot(t.dir.path()),
        before,
        "{what} ({comp:?}): something was written or left behind"
    );
    nothing_lost(t);
}

#[test]
fn the_malicious_archive_corpus_is_refused_in_gz_and_zst() {
    let mut t = crate::common::with_current();
    let cases = corpus();
    assert!(cases.len() >= 38, "the corpus has {} cases", cases.len());
    for (what, tar, needles) in &cases {
        for comp in [Compression::Gz, Compression::Zst] {
            refused(&mut t, what, &compress(tar, comp), comp, needles);
        }
    }
    let tmp = std::env::temp_dir();
    let outside = [
        Path::new("/etc"),
        Path::new("/"),
        tmp.as_path(),
        t.dir.path(),
        t.home.as_path(),
    ];
    assert_eq!(
        canaries(&outside),
        Vec::<PathBuf>::new(),
        "an escape landed"
    );
}

#[test]
fn hostile_compression_is_refused() {
    let mut t = crate::common::with_current();
    let good = base().end();
    let no = &[] as &[String];
    let msg = |s: &str| vec![s.to_owned()];

    let mut two = compress(&good, Compression::Gz);
    two.extend_from_slice(&compress(&good, Compression::Gz));
    refused(
        &mut t,
        "a second gzip member",
        &two,
        Compression::Gz,
        &msg("data after the end of the gzip member"),
    );
    let mut junk = compress(&good, Compression::Gz);
    junk.extend_from_slice(b"trailing junk");
    refused(
        &mut t,
        "junk after the gzip member",
        &junk,
        Compression::Gz,
        &msg("data after the end of the gzip member"),
    );
    let mut two = compress(&good, Compression::Zst);
    two.extend_from_slice(&compress(&good, Compression::Zst));
    refused(
        &mut t,
        "a second zstd frame",
        &two,
        Compression::Zst,
        &msg("data after the end of the zstd frame"),
    );

    // A frame that asks for a 256 MiB window (the decoder would allocate it).
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.window_log(28).unwrap();
    e.long_distance_matching(true).unwrap();
    e.write_all(&good).unwrap();
    let wide = e.finish().unwrap();
    refused(
        &mut t,
        "a zstd window over 128 MiB",
        &wide,
        Compression::Zst,
        &msg("window is larger than the 128 MiB pyswap allows"),
    );

    let mut cut = compress(&good, Compression::Gz);
    cut.truncate(cut.len() - 20);
    refused(&mut t, "a cut gzip stream", &cut, Compression::Gz, no);
    let mut crc = compress(&good, Compression::Gz);
    let n = crc.len();
    crc[n - 6] ^= 0xff;
    refused(&mut t, "a bad gzip checksum", &crc, Compression::Gz, no);
}

#[test]
fn modes_are_normalised_and_xattrs_never_applied() {
    let mut t = crate::common::with_current();
    let tar = base()
        .file("python/bin/suid", b"#!/bin/sh\n", 0o4755)
        .file("python/lib/sgid-writable", b"x", 0o2666)
        .dir("python/share", 0o1777)
        .file("python/share/any", b"x", 0o777)
        .pax(&[
            ("SCHILY.xattr.user.pyswap", b"evil"),
            ("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02"),
        ])
        .file("python/lib/caps.so", b"x", 0o755)
        .end();
    for comp in [Compression::Gz, Compression::Zst] {
        t.add_archive("3.12.3", &compress(&tar, comp), comp);
        t.run(&["switch", "3.12.3"]).ok();
        let root = t.home.join("profiles/default").canonicalize().unwrap();
        for (path, want) in [
            ("bin/suid", 0o555),
            ("lib/sgid-writable", 0o444),
            ("share", 0o555),
            ("share/any", 0o555),
            ("lib/caps.so", 0o555),
        ] {
            let mode = std::fs::metadata(root.join(path))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777;
            assert_eq!(mode, want, "{path} ({comp:?})");
            assert_eq!(
                xattrs(&root.join(path)),
                0,
                "{path} has extended attributes"
            );
        }
        t.run(&["rollback", "--to", "1"]).ok();
        t.run(&["gc", "--keep", "1"]).ok();
    }
}

/// How many bytes of extended-attribute names `path` has.
fn xattrs(path: &Path) -> isize {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut buf = [0 as libc::c_char; 1024];
    // SAFETY: `c` is NUL-terminated and `buf` is writable for its full length.
    #[allow(unsafe_code)]
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr(), buf.len()) };
    assert!(n >= 0, "listxattr failed on {}", path.display());
    n
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn a_deep_tree_is_refused_at_unpack_and_gc_deletes_any_depth_under_a_small_ulimit() {
    let mut t = with_current();
    // A 100-deep chain of directories: refused by name, in one short line, nothing kept.
    let mut builder = tar::Builder::new(Vec::new());
    let deep = format!("python/{}f", "a/".repeat(100));
    crate::common::append_file(&mut builder, &deep, b"x", 0o644);
    let data = crate::common::compress(&builder.into_inner().unwrap(), Compression::Gz);
    t.add_archive("3.11.10", &data, Compression::Gz);
    let r = t
        .run(&["switch", "3.11.10"])
        .fails(1, "path has 102 components; more than 64 is refused");
    assert!(
        r.stderr.lines().all(|l| l.len() < 600),
        "an error line of {} bytes",
        r.stderr.lines().map(str::len).max().unwrap_or(0)
    );
    crate::common::nothing_lost(&t);

    // A 1,100-deep work area (as an older pyswap or a crash could leave): gc deletes it with 64
    // descriptors, and the chain is made relative to a descriptor (its path is past PATH_MAX).
    let staging = t.home.join("store/.staging-deep");
    std::fs::create_dir(&staging).unwrap();
    {
        use rustix::fs::{Mode, OFlags};
        let mut fd =
            rustix::fs::open(&staging, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        for _ in 0..1100 {
            rustix::fs::mkdirat(&fd, "d", Mode::from_raw_mode(0o555)).unwrap();
            fd = rustix::fs::openat(&fd, "d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
                .unwrap();
        }
    }
    let mut gc = Command::new("sh");
    gc.args(["-c", "ulimit -n 64 && exec \"$0\" gc --json"])
        .arg(env!("CARGO_BIN_EXE_pyswap"));
    for (k, v) in t.cmd().get_envs() {
        match v {
            Some(v) => gc.env(k, v),
            None => gc.env_remove(k),
        };
    }
    let out = gc.output().unwrap();
    assert!(
        out.status.success(),
        "gc wedged: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!staging.exists(), "the deep work area is still there");
    t.run(&["gc"]).ok();
    crate::common::nothing_lost(&t);
}
