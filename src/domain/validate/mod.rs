//! Proving a runtime works before it becomes current, and again through the profile after.
//!
//! The **validation policy** ([`Plan`]) has four parts, each a named check in the [`Report`]:
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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

mod checks;
mod plan;
mod runner;
mod scripts;

pub(crate) use plan::{DEFAULT_MODULES, Plan, STDLIB, UserCheck, When};

use checks::{abi, modules, real, stdlib, unchanged, user};
use runner::{environment, probe};

use crate::ground::spawn::{Sandbox, Start};
use scripts::{HEALTH_SCRIPT, Probe, SCRIPT, VENV_SCRIPT};

use crate::ground::version::{PythonVersion, Variant};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ValidateError {
    #[error("validation of {} failed ({phase}): {summary}", python.display())]
    Failed {
        python: PathBuf,
        phase: Phase,
        summary: String,
        report: Box<Report>,
    },
}

crate::ground::exit::register!(ValidateError);
impl crate::ground::exit::Reason for ValidateError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some("the new runtime was not activated; the current generation is unchanged".into())
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
pub(crate) struct Expected {
    pub(crate) version: PythonVersion,
    pub(crate) variant: Variant,
    /// `linux`, `darwin`, `windows`.
    pub(crate) os: String,
    /// Catalogue architecture, e.g. `x86_64`, `x86_64_v3`, `aarch64`.
    pub(crate) arch: String,
    /// The tree's `tree-v1` digest, when known: user checks must leave the tree as it is.
    pub(crate) tree_digest: Option<String>,
}

impl Expected {
    /// What a catalogue entry's build must report.
    pub(crate) fn of(entry: &crate::catalogue::Entry) -> Self {
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
    pub(crate) fn with_digest(mut self, digest: &str) -> Self {
        self.tree_digest = Some(digest.to_owned());
        self
    }

    /// From a store entry row's `version`, `variant` and `platform` (`os-arch-libc`).
    pub(crate) fn from_row(version: &str, variant: &str, platform: &str) -> Option<Self> {
        let mut p = platform.splitn(3, '-');
        Some(Self {
            version: PythonVersion::parse(version)?,
            variant: Variant::from_row(variant)?,
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
pub(crate) struct Diagnostic {
    pub(crate) implementation: String,
    pub(crate) version: String,
    pub(crate) soabi: Option<String>,
    pub(crate) abiflags: String,
    pub(crate) platform: String,
    pub(crate) prefix: String,
    pub(crate) stdlib: String,
    pub(crate) failed: BTreeMap<String, String>,
}

/// One process run: what ran, how, and what came out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    pub(crate) command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `None` when killed by a signal (including the timeout's).
    pub exit_code: Option<i32>,
    pub(crate) signal: Option<i32>,
    pub(crate) timed_out: bool,
    pub(crate) duration_ms: u64,
    pub stdout: String,
    pub stderr: String,
    /// pyswap was told to stop (a signal) before or while this ran: not a verdict on what ran.
    #[serde(skip)]
    pub(crate) interrupted: bool,
}

/// One named check's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    pub name: String,
    /// `builtin` or `user`.
    pub(crate) kind: String,
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
    pub(crate) python: String,
    pub(crate) policy: String,
    pub(crate) started: String,
    pub duration_ms: u64,
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// The failed checks, one phrase each.
    pub(crate) fn summary(&self) -> String {
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
    pub(crate) fn into_result(self) -> Result<Self, ValidateError> {
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
pub(crate) fn validate(root: &Path, expected: &Expected, policy: &Plan, phase: Phase) -> Report {
    let started = Instant::now();
    let python = root.join("bin/python3");
    let env = environment(root, &python, expected, phase);
    let sandbox = &policy.sandbox;
    let mut checks = Vec::new();
    // Two interpreters at once, one importing the policy's modules, the other the standard
    // library's: on two cores the imports take the time of the longer half, not of both.
    let stdlib_names: Vec<String> = STDLIB.iter().map(|&m| m.to_owned()).collect();
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            probe::<Diagnostic>(
                &python,
                false,
                SCRIPT,
                &stdlib_names,
                sandbox,
                policy.timeout,
            )
        });
        let first = probe::<Diagnostic>(
            &python,
            false,
            SCRIPT,
            &policy.modules,
            sandbox,
            policy.timeout,
        );
        (first, second.join())
    });
    let second = second.unwrap_or_else(|_| {
        Err(Box::new(CheckResult {
            name: "diagnostic".into(),
            kind: "builtin".into(),
            ok: false,
            detail: "the standard library's diagnostic thread panicked".into(),
            run: None,
        }))
    });
    match (first, second) {
        (Err(failed), _) | (_, Err(failed)) => checks.push(*failed),
        (Ok((mut diag, run)), Ok((other, other_run))) => {
            diag.failed.extend(other.failed);
            for (run, imported) in [
                (run, "the policy's modules"),
                (other_run, "the standard library's modules"),
            ] {
                checks.push(CheckResult {
                    name: "diagnostic".into(),
                    kind: "builtin".into(),
                    ok: true,
                    detail: format!(
                        "CPython {} reported on itself, importing {imported}",
                        diag.version
                    ),
                    run: Some(run),
                });
            }
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

/// What a venv's check found: the modules that failed to import, and why.
#[derive(Debug, Deserialize)]
pub(crate) struct VenvChecked {
    pub(crate) failed: BTreeMap<String, String>,
}

/// Checks a venv against a runtime: `python` is the `bin/python3` of a venv-shaped directory
/// that names the runtime as its home and reaches the venv's site-packages through descriptor
/// `spawn::PASSED_FD` (`venv_dir`, the venv's directory as opened and checked; see
/// `venv::check`); it imports `modules`, or the venv's installed distributions' top-level
/// modules when none are named, writing no bytecode, isolated (`-I`: no working directory or
/// `PYTHON*` variable on its path), as `user` when given. `Err` says what failed, in one line;
/// [`VenvVerdict::Interrupted`] when pyswap was told to stop (no verdict on the venv).
pub(crate) fn venv(
    python: &Path,
    venv_dir: std::os::fd::BorrowedFd<'_>,
    modules: &[String],
    user: Option<(u32, u32)>,
    timeout: Duration,
) -> VenvVerdict {
    let start = Start::python(python, &["-B", "-W", "ignore", "-c", VENV_SCRIPT])
        .args(modules)
        .user(user)
        .with_dir(venv_dir);
    let run = runner::execute(&start, timeout);
    if run.interrupted {
        return VenvVerdict::Interrupted;
    }
    if let Some(why) = runner::run_failure(&run, timeout) {
        return VenvVerdict::Failed(why);
    }
    let Some(report) = run
        .stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<VenvChecked>(l).ok())
    else {
        return VenvVerdict::Failed(format!(
            "unreadable report: {}",
            runner::one_line(&run.stdout)
        ));
    };
    if report.failed.is_empty() {
        VenvVerdict::Passed
    } else {
        VenvVerdict::Failed(
            report
                .failed
                .iter()
                .map(|(m, e)| format!("import {m}: {}", runner::one_line(e)))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// A venv check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VenvVerdict {
    Passed,
    /// What failed, in one line.
    Failed(String),
    /// pyswap was told to stop before or during the check: nothing was learnt about the venv.
    Interrupted,
}

/// The post-switch health check through `profile_python` (the profile's `bin/python3`), which
/// must lead to the runtime at `entry`.
pub(crate) fn health(
    profile_python: &Path,
    entry: &Path,
    expected: &Expected,
    policy: &Plan,
) -> Report {
    HealthProbe::start(profile_python, entry, expected, policy).finish(
        profile_python,
        entry,
        expected,
        policy,
    )
}

/// The health check's interpreter run, started on a thread of its own so that a switch can
/// start it through the new generation's directory (the path the profile link is about to
/// name) and record the generation and swap the link meanwhile; [`Self::finish`] waits for it
/// and adds what needs the profile path itself.
pub(crate) struct HealthProbe {
    started: Instant,
    /// The `bin/python3` the probe ran.
    python: PathBuf,
    run: std::thread::JoinHandle<CheckResult>,
}

impl HealthProbe {
    /// Starts the probe of `python` (which must lead to the runtime at `entry`).
    pub(crate) fn start(python: &Path, entry: &Path, expected: &Expected, policy: &Plan) -> Self {
        let started = Instant::now();
        let (owned, entry, expected, sandbox, timeout) = (
            python.to_owned(),
            entry.to_owned(),
            expected.clone(),
            policy.sandbox.clone(),
            policy.timeout,
        );
        let run =
            std::thread::spawn(move || health_probe(&owned, &entry, &expected, &sandbox, timeout));
        Self {
            started,
            python: python.to_owned(),
            run,
        }
    }

    /// The health check's report: the probe's result, that `profile_python` leads to the
    /// interpreter the probe ran (when that was another path), then the user checks marked
    /// `after`/`both`, run through `profile_python`.
    pub(crate) fn finish(
        self,
        profile_python: &Path,
        entry: &Path,
        expected: &Expected,
        policy: &Plan,
    ) -> Report {
        let mut checks = vec![self.run.join().unwrap_or_else(|_| CheckResult {
            name: "health".into(),
            kind: "builtin".into(),
            ok: false,
            detail: "the health probe's thread panicked".into(),
            run: None,
        })];
        if self.python != profile_python && real(profile_python) != real(&self.python) {
            checks.push(CheckResult {
                name: "health".into(),
                kind: "builtin".into(),
                ok: false,
                detail: format!(
                    "{} leads to {}, not to the checked {}",
                    profile_python.display(),
                    real(profile_python).display(),
                    self.python.display()
                ),
                run: None,
            });
        }
        let env = environment(entry, profile_python, expected, Phase::Health);
        let mut ran_user = false;
        for c in policy.checks.iter().filter(|c| c.when != When::Before) {
            checks.push(user(c, profile_python, &env));
            ran_user = true;
        }
        if ran_user {
            checks.extend(unchanged(entry, expected));
        }
        finish(Phase::Health, profile_python, policy, self.started, checks)
    }
}

/// Runs the health script with `python` and judges its report: `CPython`, the expected
/// version, its prefix the runtime at `entry`.
fn health_probe(
    python: &Path,
    entry: &Path,
    expected: &Expected,
    sandbox: &Sandbox,
    timeout: Duration,
) -> CheckResult {
    let (diag, run) = match probe::<Probe>(python, true, HEALTH_SCRIPT, &[], sandbox, timeout) {
        Err(failed) => return *failed,
        Ok(done) => done,
    };
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
    CheckResult {
        name: "health".into(),
        kind: "builtin".into(),
        ok: why.is_empty(),
        detail: if why.is_empty() {
            format!(
                "{} runs CPython {} from {}",
                python.display(),
                diag.version,
                entry.display()
            )
        } else {
            why.join("; ")
        },
        run: Some(run),
    }
}

fn finish(
    phase: Phase,
    python: &Path,
    policy: &Plan,
    started: Instant,
    checks: Vec<CheckResult>,
) -> Report {
    Report {
        ok: checks.iter().all(|c| c.ok),
        phase,
        python: python.display().to_string(),
        policy: policy.fingerprint(),
        started: crate::ground::clock::rfc3339(crate::ground::clock::now_unix()),
        duration_ms: started.elapsed().as_millis() as u64,
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::runner::{execute_argv as execute, run_failure};
    use super::*;
    use std::time::Duration;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| (*s).to_owned()).collect()
    }

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())])
    }

    /// This machine's `CPython`: its prefix, its `bin/python3` and its version.
    fn real_python() -> (PathBuf, PathBuf, PythonVersion) {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, platform; print(sys.base_prefix); print(platform.python_version())",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let prefix = PathBuf::from(lines.next().unwrap());
        let version = PythonVersion::parse(lines.next().unwrap()).unwrap();
        let python = real(&prefix.join("bin/python3"));
        (prefix, python, version)
    }

    #[test]
    fn the_health_probe_started_early_must_be_what_the_profile_path_leads_to() {
        let (prefix, python, version) = real_python();
        let expected = Expected {
            version,
            variant: Variant::Default,
            os: "linux".into(),
            arch: "x86_64".into(),
            tree_digest: None,
        };
        let policy = Plan::default();
        let dir = tempfile::tempdir().unwrap();
        let (generation, profile, other) = (
            dir.path().join("default-2/bin"),
            dir.path().join("default/bin"),
            dir.path().join("stranger/bin"),
        );
        for d in [&generation, &profile, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(&python, generation.join("python3")).unwrap();
        std::os::unix::fs::symlink(&python, profile.join("python3")).unwrap();
        std::os::unix::fs::symlink("/bin/sh", other.join("python3")).unwrap();
        let start = || HealthProbe::start(&generation.join("python3"), &prefix, &expected, &policy);
        // Through the generation's path, judged for the profile path that leads there: passes,
        // naming the path the interpreter ran from.
        let report = start().finish(&profile.join("python3"), &prefix, &expected, &policy);
        assert!(report.ok, "{:?}", report.checks);
        assert!(
            report.checks[0]
                .detail
                .contains("default-2/bin/python3 runs CPython")
        );
        // A profile path that leads elsewhere fails the check although the probe passed.
        let report = start().finish(&other.join("python3"), &prefix, &expected, &policy);
        assert!(!report.ok);
        assert!(report.checks[0].ok);
        assert!(
            report.checks[1].detail.contains("not to the checked"),
            "{:?}",
            report.checks
        );
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
        let p = Plan::default();
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
