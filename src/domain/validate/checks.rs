//! The built-in checks (`abi`, `modules`, `stdlib`, the `unchanged` re-hash) and the
//! operator's own, each turning what the diagnostic reported into a named verdict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::runner::{execute_argv, run_failure};
use super::{CheckResult, Diagnostic, Expected, STDLIB, UserCheck};

pub(super) fn abi(d: &Diagnostic, e: &Expected) -> CheckResult {
    let mut why = Vec::new();
    if d.implementation != "cpython" {
        why.push(format!("it is {}, not CPython", d.implementation));
    }
    if d.version != e.version.to_string() {
        why.push(format!(
            "it reports version {}, expected {}",
            d.version, e.version
        ));
    }
    if d.abiflags != e.abiflags() {
        why.push(format!(
            "sys.abiflags is {:?}, expected {:?}",
            d.abiflags,
            e.abiflags()
        ));
    }
    let soabi = d.soabi.as_deref().unwrap_or("");
    let want = format!(
        "cpython-{}{}{}",
        e.version.major(),
        e.version.minor(),
        e.abiflags()
    );
    let arch = arch_words(&e.arch);
    let soabi_ok = soabi.split('-').nth(1).is_some_and(|_| {
        soabi.starts_with(&format!("{want}-"))
            && (e.os != "linux" || arch.iter().any(|a| soabi.contains(&format!("-{a}-"))))
    });
    if !soabi_ok {
        why.push(format!(
            "SOABI is {soabi:?}, expected {want}-… for {}",
            e.arch
        ));
    }
    let os = match e.os.as_str() {
        "darwin" => "macosx",
        "windows" => "win",
        other => other,
    };
    let platform_ok = d.platform.starts_with(os) && arch.iter().any(|a| d.platform.ends_with(a));
    if !platform_ok {
        why.push(format!(
            "sysconfig platform is {:?}, expected {}-{}",
            d.platform, e.os, e.arch
        ));
    }
    verdict(
        "abi",
        &why,
        format!(
            "CPython {}, SOABI {soabi}, abiflags {:?}, platform {}",
            d.version, d.abiflags, d.platform
        ),
    )
}

/// Spellings of a catalogue architecture in SOABI and sysconfig platform strings.
fn arch_words(arch: &str) -> Vec<&str> {
    let base = arch.split("_v").next().unwrap_or(arch);
    match base {
        "x86_64" => vec!["x86_64", "amd64"],
        "aarch64" => vec!["aarch64", "arm64"],
        "i686" => vec!["i686", "i386", "win32"],
        other => vec![other],
    }
}

pub(super) fn modules(d: &Diagnostic, wanted: &[String]) -> CheckResult {
    let why: Vec<String> = wanted
        .iter()
        .filter_map(|m| d.failed.get(m).map(|e| format!("cannot import {m} ({e})")))
        .collect();
    verdict("modules", &why, format!("imported {}", wanted.join(", ")))
}

pub(super) fn stdlib(d: &Diagnostic, root: &Path) -> CheckResult {
    let mut why: Vec<String> = STDLIB
        .iter()
        .filter_map(|m| d.failed.get(*m).map(|e| format!("cannot import {m} ({e})")))
        .collect();
    let root = real(root);
    if real(Path::new(&d.prefix)) != root {
        why.push(format!("sys.prefix is {}, not its own tree", d.prefix));
    }
    let lib = real(Path::new(&d.stdlib));
    if !lib.starts_with(&root) || !lib.is_dir() {
        why.push(format!(
            "the standard library {} is not a directory inside the tree",
            d.stdlib
        ));
    }
    verdict(
        "stdlib",
        &why,
        format!("{} readable; imported {}", d.stdlib, STDLIB.join(", ")),
    )
}

fn verdict(name: &str, why: &[String], good: String) -> CheckResult {
    CheckResult {
        name: name.into(),
        kind: "builtin".into(),
        ok: why.is_empty(),
        detail: if why.is_empty() { good } else { why.join("; ") },
        run: None,
    }
}

pub(super) fn user(c: &UserCheck, python: &Path, env: &BTreeMap<String, String>) -> CheckResult {
    let py = python.display().to_string();
    let argv: Vec<String> = c.run.iter().map(|a| a.replace("{python}", &py)).collect();
    let run = execute_argv(&argv, env, c.timeout);
    let failure = run_failure(&run, c.timeout);
    CheckResult {
        name: c.name.clone(),
        kind: "user".into(),
        ok: failure.is_none(),
        detail: failure.unwrap_or_else(|| "exited with 0".into()),
        run: Some(run),
    }
}

/// After user checks ran: the `unchanged` check, that the runtime's files are still exactly
/// those the digest records (a check that wrote bytecode, or anything else, into the tree fails
/// here, and a runtime it wrote into before publishing is never published).
pub(super) fn unchanged(root: &Path, expected: &Expected) -> Option<CheckResult> {
    let want = expected.tree_digest.as_deref()?;
    let found =
        crate::ground::tree::scan(root).map(|mut nodes| crate::ground::tree::digest(&mut nodes));
    let (ok, detail) = match found {
        Ok(d) if d == want => (
            true,
            "the user checks left the runtime's files as they were".to_owned(),
        ),
        Ok(d) => (
            false,
            format!(
                "a user check changed the runtime's files (tree digest {}, expected {}): checks must not write into a runtime; a store entry changed this way is put back by `pyswap verify --repair`",
                &d[..16],
                &want[..16.min(want.len())]
            ),
        ),
        Err(e) => (false, format!("cannot re-read the runtime's files: {e}")),
    };
    Some(CheckResult {
        name: "unchanged".into(),
        kind: "builtin".into(),
        ok,
        detail,
        run: None,
    })
}

pub(super) fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}
