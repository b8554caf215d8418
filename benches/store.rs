//! Criterion benches for the pieces of an install: hashing the download (sha256) and the tree
//! (blake3), unpacking .tar.gz and .tar.zst, and re-scanning an entry's digest from disk.
//! `cargo bench` runs them; numbers go to the issue notes and README.

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

/// A python-like tree: 1,200 files of mixed sizes (~24 MiB), as an `install_only` tar.
fn sample_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut seed = 0x9e37_79b9_u32;
    for i in 0..1200u32 {
        let size = if i % 100 == 0 {
            2 << 20
        } else {
            2_000 + (i as usize * 37) % 30_000
        };
        let data: Vec<u8> = (0..size)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                // Compressible like code: a small alphabet.
                b"abcdefgh ()\n"[(seed % 12) as usize]
            })
            .collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(
            &mut h,
            format!("python/lib/python3.12/pkg{}/mod{i}.py", i % 40),
            &data[..],
        )
        .unwrap();
    }
    b.into_inner().unwrap()
}

fn benches(c: &mut Criterion) {
    let tar = sample_tar();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 19).unwrap();

    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(tar.len() as u64));
    g.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&tar))));
    g.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&tar))));
    g.finish();

    let mut g = c.benchmark_group("unpack");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(tar.len() as u64));
    for (name, data) in [("tar.gz", &gz), ("tar.zst", &zst)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let dest = dir.path().join("e");
                    std::fs::create_dir(&dest).unwrap();
                    let out = pyswap::domain::archive::unpack(
                        &data[..],
                        &dest,
                        pyswap::domain::archive::Limits::default(),
                    )
                    .unwrap();
                    pyswap::storage::store::remove_tree(&dest).unwrap();
                    out.nodes.len()
                },
                criterion::BatchSize::PerIteration,
            );
        });
    }
    g.finish();

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("e");
    std::fs::create_dir(&dest).unwrap();
    pyswap::domain::archive::unpack(&gz[..], &dest, pyswap::domain::archive::Limits::default())
        .unwrap();
    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(tar.len() as u64));
    g.bench_function("tree scan + digest (rayon, mmap)", |b| {
        b.iter(|| {
            let mut nodes = pyswap::ground::tree::scan(&dest).unwrap();
            pyswap::ground::tree::digest(&mut nodes)
        });
    });
    g.finish();
    pyswap::storage::store::remove_tree(&dest).unwrap();
}

criterion_group!(store, benches);
criterion_main!(store);
