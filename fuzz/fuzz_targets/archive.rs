//! The archive reader on arbitrary input: never a panic, never a write outside the staging
//! directory, memory and time bounded by small unpack caps.
//!
//! The first byte picks the framing so that the fuzzer reaches the tar parser quickly:
//! 0 = the rest is a tar stream that the target gzips, 1 = the same with zstd, anything else =
//! the whole input is the (compressed) archive as downloaded.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use pyswap::domain::archive::{Limits, unpack};

const LIMITS: Limits = Limits {
    max_unpacked_bytes: 4 << 20,
    max_entries: 2_000,
    max_ratio: 64,
};

fuzz_target!(|data: &[u8]| {
    let archive = match data.split_first() {
        Some((0, tar)) => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Some((1, tar)) => zstd::encode_all(tar, 1).unwrap(),
        _ => data.to_vec(),
    };
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    std::fs::create_dir(&stage).unwrap();
    let _ = unpack(&archive[..], &stage, LIMITS);
    // Whatever happened, the only thing in the temporary directory is the staging directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        [std::ffi::OsString::from("stage")],
        "a write escaped the staging directory"
    );
    // The tree is read-only once unpacked; make it deletable again.
    make_writable(&stage);
});

fn make_writable(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}
