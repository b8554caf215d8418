//! Criterion benches for whole commands, run as users run them (the release binary, a private
//! `PYSWAP_HOME`, catalogues and archives built here, nothing from the network):
//!
//! - `switch` between two installed runtimes (this machine's real CPython, packed twice with a
//!   different marker file: two store entries), health check included, and with it turned off;
//! - `rollback --to` between two generations;
//! - `generations` with 10,000 generations (human and `--json`; ~2 minutes to set up);
//! - `gc --keep 1` of 100 generations over 21 entries (20 become unreferenced and are deleted);
//! - `verify` of one 150 MB entry (files cached).
//!
//! `cargo bench --bench commands`; the numbers go to the README and the issue notes.

#![allow(
    clippy::too_many_lines,
    clippy::many_single_char_names,
    clippy::doc_markdown
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "../tests/it/server.rs"]
mod server;

use common::{Compression, Fake, TestContext};

/// Runs `args` and requires success; returns stdout.
fn ok(mut cmd: Command, args: &[&str]) -> String {
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pyswap {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A synthetic runtime (fake `bin/python3`) of `version` with `files` files of `size` bytes
/// each, derived from `seed` (so every version is a distinct tree).
fn payload_archive(version: &str, files: usize, size: usize, seed: u64) -> Vec<u8> {
    let tar = common::synthetic_tar(version, Fake::Good, |b| {
        for i in 0..files {
            // Compressible like code: a small alphabet.
            let data = common::noise(seed << 20 | i as u64, size, |x| {
                b"abcdefgh ()\n"[(x % 12) as usize]
            });
            common::append_file(
                b,
                &format!("python/lib/pkg{}/m{i}.py", i % 40),
                &data,
                0o644,
            );
        }
    });
    common::compress(&tar, Compression::Zst)
}

fn write_config(t: &TestContext, health_check: bool) -> String {
    let path = t.dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!("[validation]\nhealth_check = {health_check}\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn switching(c: &mut Criterion) {
    // Two store entries of this machine's CPython, each with its own catalogue.
    let version = &common::real_cpython().0;
    let short = version.rsplit_once('.').unwrap().0.to_owned();
    let mut t = TestContext::new();
    let mut catalogues = Vec::new();
    for marker in ["a\n", "b\n"] {
        let (_, gz) = common::packed_cpython("python3", Some(marker));
        t.add_archive(version, gz, Compression::Gz);
        let cat = t
            .dir
            .path()
            .join(format!("catalogue-{}.json", marker.trim()));
        std::fs::copy(t.catalogue_path(), &cat).unwrap();
        catalogues.push(cat.display().to_string());
        ok(
            t.cmd(),
            &["--catalogue", catalogues.last().unwrap(), "switch", &short],
        );
    }
    let mut g = c.benchmark_group("commands");
    g.sample_size(30);
    for health in [true, false] {
        let config = write_config(&t, health);
        let name = if health {
            "switch to an installed runtime (real CPython, health check)"
        } else {
            "switch to an installed runtime (health_check = false)"
        };
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let cat = &catalogues[i % 2];
                ok(
                    t.cmd(),
                    &["--config", &config, "--catalogue", cat, "switch", &short],
                )
            });
        });
    }
    let mut i = 0;
    let n = ok(t.cmd(), &["generations", "--json"]);
    let gens: serde_json::Value = serde_json::from_str(&n).unwrap();
    let numbers: Vec<String> = gens
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|g| g["number"].to_string())
        .collect();
    g.bench_function("rollback --to (real CPython)", |b| {
        b.iter(|| {
            i += 1;
            ok(t.cmd(), &["rollback", "--to", &numbers[i % 2]])
        });
    });
    g.finish();
}

fn listing(c: &mut Criterion) {
    // 10,000 generations over two synthetic entries, made by real switches (issue 18's target:
    // `generations` under 50 ms).
    let mut t = TestContext::new();
    for v in ["3.10.1", "3.10.2"] {
        t.add_archive(v, &payload_archive(v, 10, 1000, 7), Compression::Zst);
    }
    let config = write_config(&t, false);
    for i in 0..10_000 {
        let v = if i % 2 == 0 { "3.10.1" } else { "3.10.2" };
        ok(t.cmd(), &["--config", &config, "switch", v]);
    }
    let mut g = c.benchmark_group("commands");
    g.sample_size(30);
    g.bench_function("generations (10,000 rows)", |b| {
        b.iter(|| ok(t.cmd(), &["generations"]));
    });
    g.bench_function("generations --json (10,000 rows)", |b| {
        b.iter(|| ok(t.cmd(), &["--json", "generations"]));
    });
    g.finish();
}

fn collecting(c: &mut Criterion) {
    // Per sample: 21 entries of 1,200 files (~24 MB) each, 100 generations, the last one on the
    // 21st entry; `gc --keep 1` then deletes 99 generations and 20 entries.
    let versions: Vec<String> = (1..=21).map(|p| format!("3.10.{p}")).collect();
    let archives: Vec<Vec<u8>> = versions
        .iter()
        .zip(1u64..)
        .map(|(v, seed)| payload_archive(v, 1200, 20_000, seed))
        .collect();
    let mut g = c.benchmark_group("commands");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    g.bench_function(
        "gc --keep 1 (100 generations, 20 unreferenced entries)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut t = TestContext::new();
                    for (v, data) in versions.iter().zip(&archives) {
                        t.add_archive(v, data, Compression::Zst);
                    }
                    let config = write_config(&t, false);
                    let mut all = vec!["--config", &config, "install", "-j", "2"];
                    all.extend(versions.iter().map(String::as_str));
                    ok(t.cmd(), &all);
                    for i in 0..100 {
                        let v = &versions[if i == 99 { 20 } else { i % 20 }];
                        ok(t.cmd(), &["--config", &config, "switch", v]);
                    }
                    let started = Instant::now();
                    let report = ok(t.cmd(), &["gc", "--keep", "1", "--json"]);
                    total += started.elapsed();
                    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
                    assert_eq!(
                        report["entries_removed"].as_array().map(Vec::len),
                        Some(20),
                        "{report}"
                    );
                }
                total
            });
        },
    );
    g.finish();
}

fn verifying(c: &mut Criterion) {
    // One entry of ~150 MB: 100 files of 1 MiB and 1,100 of 44 KiB.
    let mut t = TestContext::new();
    let mut tar_files = Vec::new();
    for i in 0..1200u64 {
        let size = if i % 12 == 0 { 1 << 20 } else { 44 << 10 };
        let data = common::noise(0x2545_f491_4f6c_dd1d ^ i, size, |x| x as u8);
        tar_files.push((format!("python/lib/pkg{}/f{i}.bin", i % 30), data));
    }
    let bytes: u64 = tar_files.iter().map(|(_, d)| d.len() as u64).sum();
    let tar = common::synthetic_tar("3.10.1", Fake::Good, |b| {
        for (path, data) in &tar_files {
            common::append_file(b, path, data, 0o644);
        }
    });
    drop(tar_files);
    t.add_archive(
        "3.10.1",
        &common::compress(&tar, Compression::Zst),
        Compression::Zst,
    );
    ok(t.cmd(), &["install", "3.10.1"]);
    assert!(Path::new(&t.home).join("store").is_dir());
    let mut g = c.benchmark_group("commands");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("verify (one 150 MB entry, cached)", |b| {
        b.iter(|| ok(t.cmd(), &["verify"]));
    });
    g.finish();
}

criterion_group!(commands, switching, listing, collecting, verifying);
criterion_main!(commands);
