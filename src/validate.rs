//! Proving a runtime works before it becomes current, and again through the profile after.
//!
//! The **validation policy** ([`Policy`]) has four parts, each a named check in the [`Report`]:
//! - `abi`: the interpreter is `CPython` and reports the catalogue's version, the `sys.abiflags`
//!   of its variant (`t` free-threaded, `d` debug), a `SOABI` of `cpython-<M><m><flags>` (with
//!   the architecture on Linux), and a `sysconfig` platform of its OS and architecture;
//! - `modules`: the extension modules operators lose most often import (configurable);
//! - `stdlib`: `sys.prefix` is the runtime's own tree, the standard library directory is inside
//!   it, and a spread of pure-Python stdlib modules import;
//! - user checks: commands from the manifest, `{python}` replaced by the interpreter.
//!
//! Every process runs with a cleared environment plus a short allow-list (`PATH` with the
//! runtime's `bin` first, `HOME`, `LANG`, `LC_ALL`, `TZ`, `TMPDIR`) and `PYSWAP_PYTHON`,
//! `PYSWAP_PREFIX`, `PYSWAP_VERSION`, `PYSWAP_PHASE`, so the recorded environment is exactly the
//! one it ran with and no secret of the caller's ends up in the database. Each runs in its own
//! process group, killed whole at its timeout; output is kept up to 64 KiB per stream. The
//! built-in diagnostic runs isolated (`-I`) and writes no bytecode (`-B`).
//!
//! The **health check** runs after a swap through `profiles/<profile>/bin/python3`: the
//! interpreter the profile path reaches must report the expected version and a `sys.prefix`
//! that resolves to the new store entry; user checks marked `when = "after"` or `"both"` run
//! there too.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::version::{PythonVersion, Variant};

/// Extension modules checked unless the manifest sets `validation.modules`.
pub const DEFAULT_MODULES: &[&str] = &[
    "ssl",
    "sqlite3",
    "ctypes",
    "zlib",
    "bz2",
    "lzma",
    "_decimal",
    "readline",
    "_uuid",
    "venv",
    "ensurepip",
];

/// Pure-Python standard library modules whose import proves the stdlib is reachable.
pub const STDLIB: &[&str] = &[
    "encodings",
    "os",
    "json",
    "re",
    "collections",
    "importlib.metadata",
    "subprocess",
    "asyncio",
    "email.parser",
    "http.client",
    "logging",
];

/// Bumped whenever what the built-in checks test changes: stored results of an older version
/// no longer count as "validated under this policy".
const CHECKS_VERSION: u32 = 2;

const SCRIPT: &str = r#"
import gc, sys
gc.disable()  # a short-lived process: collecting during the imports only costs time (~20 %)
failed = {}
for name in sys.argv[1:]:
    try:
        __import__(name)
    except BaseException as e:
        failed[name] = "%s: %s" % (type(e).__name__, e)
import json, sysconfig
v = sys.version_info
tag = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "")
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": "%d.%d.%d%s" % (v.major, v.minor, v.micro, tag + str(v.serial) if tag else ""),
    "soabi": sysconfig.get_config_var("SOABI"),
    "abiflags": getattr(sys, "abiflags", ""),
    "platform": sysconfig.get_platform(),
    "prefix": sys.prefix,
    "stdlib": sysconfig.get_paths()["stdlib"],
    "failed": failed,
}))
"#;

/// The health check's probe: no imports beyond what start-up loads (`encodings` among them, and
/// without `site`: `-S`; the prefix is computed before `site` runs), so it costs one bare
/// interpreter start. Writes JSON by hand for the same reason.
const HEALTH_SCRIPT: &str = r#"
import sys
v = sys.version_info
tag = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "")
p = sys.prefix.replace("\\", "\\\\").replace('"', '\\"')
print('{"implementation": "%s", "version": "%d.%d.%d%s", "prefix": "%s"}' % (
    sys.implementation.name, v.major, v.minor, v.micro, tag + str(v.serial) if tag else "", p))
"#;

/// What the health probe reports (a full diagnostic report parses as one too).
#[derive(Debug, Deserialize)]
struct Probe {
    implementation: String,
    version: String,
    prefix: String,
}

const OUTPUT_CAP: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("validation of {} failed ({phase}): {summary}", python.display())]
    Failed {
        python: PathBuf,
        phase: Phase,
        summary: String,
        report: Box<Report>,
    },
}

impl crate::exit::Reason for ValidateError {
    fn status(&self) -> crate::exit::ExitStatus {
        crate::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some("the new runtime was not activated; the current generation is unchanged".into())
    }
}

/// When a user check runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// Before activation (and by `pyswap check`).
    #[default]
    Before,
    /// After the swap, through the profile path, as part of the health check.
    After,
    Both,
}

/// A command from the manifest, run with the new interpreter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserCheck {
    pub name: String,
    /// argv; `{python}` is replaced by the interpreter's path.
    pub run: Vec<String>,
    pub timeout: Duration,
    pub when: When,
}

/// What validation checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub modules: Vec<String>,
    pub checks: Vec<UserCheck>,
    /// Run the post-switch health check (and roll back if it fails).
    pub health_check: bool,
    /// Timeout of the built-in diagnostic.
    pub timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            modules: DEFAULT_MODULES.iter().map(|&m| m.to_owned()).collect(),
            checks: Vec::new(),
            health_check: true,
            timeout: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// A digest of everything the pre-activation validation tests: a stored passing result with
    /// the same fingerprint need not be re-run.
    pub fn fingerprint(&self) -> String {
        let before: Vec<(&str, &[String])> = self
            .checks
            .iter()
            .filter(|c| c.when != When::After)
            .map(|c| (c.name.as_str(), c.run.as_slice()))
            .collect();
        let doc = serde_json::json!([CHECKS_VERSION, self.modules, STDLIB, before]);
        blake3::hash(doc.to_string().as_bytes()).to_hex()[..32].to_owned()
    }
}

/// Where a validation ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// In the staging directory, before an entry is published.
    Install,
    /// On a published entry, before a generation using it becomes current.
    Activate,
    /// After the swap, through the profile path.
    Health,
    /// `pyswap check`.
    Check,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::Activate => "activate",
            Self::Health => "health",
            Self::Check => "check",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime must report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub version: PythonVersion,
    pub variant: Variant,
    /// `linux`, `darwin`, `windows`.
    pub os: String,
    /// Catalogue architecture, e.g. `x86_64`, `x86_64_v3`, `aarch64`.
    pub arch: String,
    /// The tree's `tree-v1` digest, when known: user checks must leave the tree as it is.
    pub tree_digest: Option<String>,
}

impl Expected {
    /// What a catalogue entry's build must report.
    pub fn of(entry: &crate::catalogue::Entry) -> Self {
        Self {
            version: entry.version.clone(),
            variant: entry.variant,
            os: entry.os.clone(),
            arch: entry.arch.clone(),
            tree_digest: None,
        }
    }

    /// The same, with the tree digest the runtime's files must keep through the user checks.
    #[must_use]
    pub fn with_digest(mut self, digest: &str) -> Self {
        self.tree_digest = Some(digest.to_owned());
        self
    }

    /// From a store entry row's `version`, `variant` and `platform` (`os-arch-libc`).
    pub fn from_row(version: &str, variant: &str, platform: &str) -> Option<Self> {
        let mut p = platform.splitn(3, '-');
        Some(Self {
            version: PythonVersion::parse(version)?,
            variant: Variant::from_catalogue(Some(variant).filter(|v| !v.is_empty()))?,
            os: p.next()?.to_owned(),
            arch: p.next()?.to_owned(),
            tree_digest: None,
        })
    }

    fn abiflags(&self) -> &'static str {
        match self.variant {
            Variant::Default => "",
            Variant::Freethreaded => "t",
            Variant::Debug => "d",
            Variant::FreethreadedDebug => "td",
        }
    }
}

/// What the built-in diagnostic reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    pub implementation: String,
    pub version: String,
    pub soabi: Option<String>,
    pub abiflags: String,
    pub platform: String,
    pub prefix: String,
    pub stdlib: String,
    pub failed: BTreeMap<String, String>,
}

/// One process run: what ran, how, and what came out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `None` when killed by a signal (including the timeout's).
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub stdout: String,
    pub stderr: String,
}

/// One named check's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    pub name: String,
    /// `builtin` or `user`.
    pub kind: String,
    pub ok: bool,
    pub detail: String,
    pub run: Option<RunRecord>,
}

/// A whole validation, as stored in the `validations` table and printed by `pyswap check`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub ok: bool,
    pub phase: Phase,
    pub python: String,
    pub policy: String,
    pub started: String,
    pub duration_ms: u64,
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// The failed checks, one phrase each.
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        if failed.is_empty() {
            "all checks passed".into()
        } else {
            failed.join("; ")
        }
    }

    /// `Ok(self)` if every check passed, else the error carrying it.
    pub fn into_result(self) -> Result<Self, ValidateError> {
        if self.ok {
            Ok(self)
        } else {
            Err(ValidateError::Failed {
                python: PathBuf::from(&self.python),
                phase: self.phase,
                summary: self.summary(),
                report: Box::new(self),
            })
        }
    }
}

/// Validates the runtime rooted at `root` (staging directory or store entry) before it is
/// published or activated: built-in checks, then user checks marked `before`/`both`.
pub fn validate(root: &Path, expected: &Expected, policy: &Policy, phase: Phase) -> Report {
    let started = Instant::now();
    let python = root.join("bin/python3");
    let env = environment(root, &python, expected, phase);
    let mut names = policy.modules.clone();
    names.extend(STDLIB.iter().map(|&m| m.to_owned()));
    let mut checks = Vec::new();
    match probe::<Diagnostic>(&python, "-I", SCRIPT, &names, &env, policy.timeout) {
        Err(failed) => checks.push(*failed),
        Ok((diag, run)) => {
            checks.push(CheckResult {
                name: "diagnostic".into(),
                kind: "builtin".into(),
                ok: true,
                detail: format!("CPython {} reported on itself", diag.version),
                run: Some(run),
            });
            checks.push(abi(&diag, expected));
            checks.push(modules(&diag, &policy.modules));
            checks.push(stdlib(&diag, root));
        }
    }
    let mut ran_user = false;
    for c in policy.checks.iter().filter(|c| c.when != When::After) {
        checks.push(user(c, &python, &env));
        ran_user = true;
    }
    if ran_user {
        checks.extend(unchanged(root, expected));
    }
    finish(phase, &python, policy, started, checks)
}

/// The post-switch health check through `profile_python` (the profile's `bin/python3`), which
/// must lead to the runtime at `entry`.
pub fn health(profile_python: &Path, entry: &Path, expected: &Expected, policy: &Policy) -> Report {
    let started = Instant::now();
    let env = environment(entry, profile_python, expected, Phase::Health);
    let mut checks = Vec::new();
    match probe::<Probe>(
        profile_python,
        "-IS",
        HEALTH_SCRIPT,
        &[],
        &env,
        policy.timeout,
    ) {
        Err(failed) => checks.push(*failed),
        Ok((diag, run)) => {
            let mut why = Vec::new();
            if diag.implementation != "cpython" {
                why.push(format!(
                    "the profile runs {}, not CPython",
                    diag.implementation
                ));
            }
            if diag.version != expected.version.to_string() {
                why.push(format!(
                    "the profile runs CPython {}, expected {}",
                    diag.version, expected.version
                ));
            }
            if real(Path::new(&diag.prefix)) != real(entry) {
                why.push(format!(
                    "the profile's sys.prefix is {}, not {}",
                    diag.prefix,
                    entry.display()
                ));
            }
            checks.push(CheckResult {
                name: "health".into(),
                kind: "builtin".into(),
                ok: why.is_empty(),
                detail: if why.is_empty() {
                    format!(
                        "{} runs CPython {} from {}",
                        profile_python.display(),
                        diag.version,
                        entry.display()
                    )
                } else {
                    why.join("; ")
                },
                run: Some(run),
            });
        }
    }
    let mut ran_user = false;
    for c in policy.checks.iter().filter(|c| c.when != When::Before) {
        checks.push(user(c, profile_python, &env));
        ran_user = true;
    }
    if ran_user {
        checks.extend(unchanged(entry, expected));
    }
    finish(Phase::Health, profile_python, policy, started, checks)
}

/// After user checks ran: the `unchanged` check, that the runtime's files are still exactly
/// those the digest records (a check that wrote bytecode, or anything else, into the tree fails
/// here, and a runtime it wrote into before publishing is never published).
fn unchanged(root: &Path, expected: &Expected) -> Option<CheckResult> {
    let want = expected.tree_digest.as_deref()?;
    let found = crate::tree::scan(root).map(|mut nodes| crate::tree::digest(&mut nodes));
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

fn finish(
    phase: Phase,
    python: &Path,
    policy: &Policy,
    started: Instant,
    checks: Vec<CheckResult>,
) -> Report {
    Report {
        ok: checks.iter().all(|c| c.ok),
        phase,
        python: python.display().to_string(),
        policy: policy.fingerprint(),
        started: crate::output::rfc3339(crate::output::now_unix()),
        duration_ms: started.elapsed().as_millis() as u64,
        checks,
    }
}

fn environment(
    root: &Path,
    python: &Path,
    expected: &Expected,
    phase: Phase,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let inherited = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    env.insert(
        "PATH".into(),
        format!("{}:{inherited}", root.join("bin").display()),
    );
    for k in ["HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.into(), v);
        }
    }
    env.insert("PYSWAP_PYTHON".into(), python.display().to_string());
    env.insert("PYSWAP_PREFIX".into(), root.display().to_string());
    env.insert("PYSWAP_VERSION".into(), expected.version.to_string());
    env.insert("PYSWAP_PHASE".into(), phase.as_str().into());
    // Nothing may write into a runtime: interpreters that checks start write no bytecode.
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    env
}

/// Runs one of pyswap's own scripts (`ISOLATION -B -c SCRIPT ARGS`, ISOLATION being `-I` or
/// `-IS`) and reads its JSON report; a failure to run or to report is itself the failed
/// `diagnostic` check.
fn probe<T: serde::de::DeserializeOwned>(
    python: &Path,
    isolation: &str,
    script: &str,
    script_args: &[String],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(T, RunRecord), Box<CheckResult>> {
    let mut argv = vec![
        python.display().to_string(),
        isolation.into(),
        "-B".into(),
        "-c".into(),
        script.into(),
    ];
    argv.extend(script_args.iter().cloned());
    let mut run = execute(&argv, env, timeout);
    // The script is long and always the same: record it by name.
    run.command[4] = "<pyswap diagnostic>".into();
    let fail = |detail: String, run: RunRecord| {
        Box::new(CheckResult {
            name: "diagnostic".into(),
            kind: "builtin".into(),
            ok: false,
            detail,
            run: Some(run),
        })
    };
    if let Some(why) = run_failure(&run, timeout) {
        return Err(fail(why, run));
    }
    match serde_json::from_str::<T>(run.stdout.trim()) {
        Ok(d) => Ok((d, run)),
        Err(e) => Err(fail(format!("unreadable report ({e})"), run)),
    }
}

/// Why a run failed, if it did: could not start, timed out, signal, non-zero exit.
fn run_failure(run: &RunRecord, timeout: Duration) -> Option<String> {
    let tail = || one_line(&format!("{} {}", run.stderr, run.stdout));
    if run.timed_out {
        Some(format!(
            "timed out after {}s; output: {}",
            timeout.as_secs(),
            tail()
        ))
    } else if let Some(sig) = run.signal {
        Some(format!("killed by signal {sig}; output: {}", tail()))
    } else {
        match run.exit_code {
            Some(0) => None,
            Some(code) => Some(format!("exited with {code}; output: {}", tail())),
            None => Some(format!("could not start: {}", run.stderr)),
        }
    }
}

fn abi(d: &Diagnostic, e: &Expected) -> CheckResult {
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

fn modules(d: &Diagnostic, wanted: &[String]) -> CheckResult {
    let why: Vec<String> = wanted
        .iter()
        .filter_map(|m| d.failed.get(m).map(|e| format!("cannot import {m} ({e})")))
        .collect();
    verdict("modules", &why, format!("imported {}", wanted.join(", ")))
}

fn stdlib(d: &Diagnostic, root: &Path) -> CheckResult {
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

fn user(c: &UserCheck, python: &Path, env: &BTreeMap<String, String>) -> CheckResult {
    let py = python.display().to_string();
    let argv: Vec<String> = c.run.iter().map(|a| a.replace("{python}", &py)).collect();
    let run = execute(&argv, env, c.timeout);
    let failure = run_failure(&run, c.timeout);
    CheckResult {
        name: c.name.clone(),
        kind: "user".into(),
        ok: failure.is_none(),
        detail: failure.unwrap_or_else(|| "exited with 0".into()),
        run: Some(run),
    }
}

/// Runs `argv` with exactly `env`, in its own process group, killed at `timeout`.
fn execute(argv: &[String], env: &BTreeMap<String, String>, timeout: Duration) -> RunRecord {
    let started = Instant::now();
    let mut record = RunRecord {
        command: argv.to_vec(),
        env: env.clone(),
        exit_code: None,
        signal: None,
        timed_out: false,
        duration_ms: 0,
        stdout: String::new(),
        stderr: String::new(),
    };
    let Some((program, rest)) = argv.split_first() else {
        record.stderr = "empty command".into();
        return record;
    };
    let _running = crate::interrupt::Running::start();
    if let Some(sig) = crate::interrupt::received() {
        record.stderr = format!(
            "not started: pyswap was interrupted ({})",
            crate::interrupt::name(sig)
        );
        return record;
    }
    let spawned = Command::new(program)
        .args(rest)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            record.stderr = format!("{program}: {e}");
            return record;
        }
    };
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.by_ref().take(OUTPUT_CAP).read_to_end(&mut s);
                // Drain the rest so the child never blocks on a full pipe.
                let _ = std::io::copy(&mut r, &mut std::io::sink());
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = pipe(child.stdout.take().map(|s| Box::new(s) as _));
    let err = pipe(child.stderr.take().map(|s| Box::new(s) as _));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if crate::interrupt::received().is_some() => {
                // pyswap was told to stop: the check's whole group goes with it.
                kill_group(child.id());
                break child.wait().ok();
            }
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(None) | Err(_) => {
                kill_group(child.id());
                let _ = child.wait();
                break None;
            }
        }
    };
    // A grandchild left holding the pipes after a normal exit is in the child's group (whose
    // number cannot be reused while it has a member): give it a moment, then kill the group.
    let grace = Instant::now() + Duration::from_secs(2);
    while status.is_some() && !(out.is_finished() && err.is_finished()) {
        if Instant::now() > grace {
            kill_group(child.id());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // A process that left the group (`setsid`) may hold a pipe forever: give the readers a
    // last second, then abandon them rather than hang the command.
    let last = Instant::now() + Duration::from_secs(1);
    let collect = |h: std::thread::JoinHandle<String>| {
        while !h.is_finished() && Instant::now() < last {
            std::thread::sleep(Duration::from_millis(5));
        }
        if h.is_finished() {
            h.join().unwrap_or_default()
        } else {
            "(not collected: a process outside the check's process group still holds it)".into()
        }
    };
    record.stdout = collect(out);
    record.stderr = collect(err);
    record.duration_ms = started.elapsed().as_millis() as u64;
    if let Some(s) = status {
        record.exit_code = s.code();
        record.signal = s.signal();
    } else {
        record.timed_out = true;
        record.signal = Some(libc::SIGKILL);
    }
    record
}

#[allow(unsafe_code)]
fn kill_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group the child leads (it was
    // spawned with process_group(0)); no memory is involved.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

/// Folds output to one line of bounded length for an error message.
fn one_line(s: &str) -> String {
    let folded: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.len() > 600 {
        let cut = (0..=600)
            .rev()
            .find(|&i| folded.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &folded[..cut])
    } else if folded.is_empty() {
        "(none)".into()
    } else {
        folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| (*s).to_owned()).collect()
    }

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())])
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        // The grandchild `sleep` keeps stdout open; without the group kill this would hang.
        let argv = argv(&["sh", "-c", "sleep 30 & echo started; wait"]);
        let t = Instant::now();
        let r = execute(&argv, &env(), Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(r.timed_out && r.exit_code.is_none());
        assert_eq!(r.stdout.trim(), "started");
    }

    #[test]
    fn a_process_that_leaves_the_group_cannot_hang_validation() {
        // `setsid` puts the sleeper in its own session, out of reach of the group kill, with
        // stdout still open: the run must end anyway, reporting the timeout.
        let argv = argv(&["sh", "-c", "setsid sleep 30 & sleep 30"]);
        let t = Instant::now();
        let r = execute(&argv, &env(), Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(r.timed_out);
        assert!(r.stdout.starts_with("(not collected"), "{}", r.stdout);
    }

    #[test]
    fn runs_record_exit_output_and_exactly_their_environment() {
        let argv = argv(&["sh", "-c", "echo out; echo err >&2; env | sort; exit 3"]);
        let r = execute(&argv, &env(), Duration::from_secs(10));
        assert_eq!(r.exit_code, Some(3));
        assert_eq!(r.stderr, "err\n");
        assert!(r.stdout.starts_with("out\n"));
        assert!(
            !r.stdout.contains("CARGO"),
            "the caller's environment leaked: {}",
            r.stdout
        );
        let missing = execute(
            &["/nonexistent/python".to_owned()],
            &env(),
            Duration::from_secs(1),
        );
        assert!(
            run_failure(&missing, Duration::from_secs(1))
                .unwrap()
                .contains("could not start")
        );
    }

    #[test]
    fn abi_expectations_follow_the_variant_and_platform() {
        let d = Diagnostic {
            implementation: "cpython".into(),
            version: "3.13.1".into(),
            soabi: Some("cpython-313t-x86_64-linux-gnu".into()),
            abiflags: "t".into(),
            platform: "linux-x86_64".into(),
            prefix: "/".into(),
            stdlib: "/".into(),
            failed: BTreeMap::new(),
        };
        let mut e = Expected::from_row("3.13.1", "freethreaded", "linux-x86_64_v3-gnu").unwrap();
        assert!(abi(&d, &e).ok, "{}", abi(&d, &e).detail);
        e.variant = Variant::Default;
        let r = abi(&d, &e);
        assert!(
            !r.ok && r.detail.contains("sys.abiflags") && r.detail.contains("SOABI"),
            "{}",
            r.detail
        );
        let e = Expected::from_row("3.13.1", "freethreaded", "linux-aarch64-gnu").unwrap();
        let r = abi(&d, &e);
        assert!(!r.ok && r.detail.contains("platform"), "{}", r.detail);
    }

    #[test]
    fn the_fingerprint_follows_what_is_checked_before_activation() {
        let p = Policy::default();
        let mut q = p.clone();
        q.timeout = Duration::from_secs(5);
        assert_eq!(
            p.fingerprint(),
            q.fingerprint(),
            "timeouts do not change what is checked"
        );
        q.checks.push(UserCheck {
            name: "after".into(),
            run: vec!["true".into()],
            timeout: Duration::from_secs(1),
            when: When::After,
        });
        assert_eq!(
            p.fingerprint(),
            q.fingerprint(),
            "after-checks run after the swap"
        );
        q.modules.push("_tkinter".into());
        assert_ne!(p.fingerprint(), q.fingerprint());
    }
}
