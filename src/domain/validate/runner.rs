//! The process runner: every check runs with a cleared environment plus an allow-list, in its
//! own process group killed whole at its timeout, with its output capped; a signal to pyswap
//! (see `interrupt`) kills the group and stops further checks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{CheckResult, Expected, Phase, RunRecord};
use crate::ground::spawn::{Sandbox, Start};

pub(super) const OUTPUT_CAP: usize = 64 << 10;

pub(super) fn environment(
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

/// Runs one of pyswap's own scripts (`-I [-S] -B -c SCRIPT ARGS`) as `sandbox`'s user, unable
/// to write files, and reads its JSON report; a failure to run or to report is itself the failed
/// `diagnostic` check.
pub(super) fn probe<T: serde::de::DeserializeOwned>(
    python: &Path,
    no_site: bool,
    script: &str,
    script_args: &[String],
    sandbox: &Sandbox,
    timeout: Duration,
) -> Result<(T, RunRecord), Box<CheckResult>> {
    let flags: &[&str] = if no_site { &["-S", "-B"] } else { &["-B"] };
    let start = Start::python(python, flags)
        .arg("-c")
        .arg(script)
        .args(script_args)
        .user(sandbox.user())
        .no_writes();
    let fail = |detail: String, run: Option<RunRecord>| {
        Box::new(CheckResult {
            name: "diagnostic".into(),
            kind: "builtin".into(),
            ok: false,
            detail,
            run,
        })
    };
    if let Err(e) = sandbox.check_reach(python) {
        return Err(fail(e.to_string(), None));
    }
    let mut run = execute(&start, timeout);
    // The script is long and always the same: record it by name.
    if let Some(at) = run.command.iter().position(|a| a == script) {
        run.command[at] = "<pyswap diagnostic>".into();
    }
    if let Some(why) = run_failure(&run, timeout) {
        return Err(fail(why, Some(run)));
    }
    match serde_json::from_str::<T>(run.stdout.trim()) {
        Ok(d) => Ok((d, run)),
        Err(e) => Err(fail(format!("unreadable report ({e})"), Some(run))),
    }
}

/// Why a run failed, if it did: could not start, timed out, signal, non-zero exit.
pub(super) fn run_failure(run: &RunRecord, timeout: Duration) -> Option<String> {
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

/// Runs `argv` (an operator's check) with exactly `env`, through [`Start`].
pub(super) fn execute_argv(
    argv: &[String],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> RunRecord {
    let Some((program, rest)) = argv.split_first() else {
        return RunRecord {
            command: Vec::new(),
            env: env.clone(),
            exit_code: None,
            signal: None,
            timed_out: false,
            duration_ms: 0,
            stdout: String::new(),
            stderr: "empty command".into(),
            interrupted: false,
        };
    };
    execute(&Start::new(program).args(rest).envs(env), timeout)
}

/// Runs `start` through the one runner (`spawn::Start::run`), recorded.
pub(super) fn execute(start: &Start, timeout: Duration) -> RunRecord {
    let ran = start.run(timeout, OUTPUT_CAP);
    RunRecord {
        command: start.argv(),
        env: start.environment().clone(),
        exit_code: ran.exit_code,
        signal: ran.signal,
        timed_out: ran.timed_out,
        duration_ms: ran.duration_ms,
        stdout: ran.stdout,
        stderr: ran.stderr,
        interrupted: ran.interrupted,
    }
}

/// Folds output to one line of bounded length for an error message.
pub(super) fn one_line(s: &str) -> String {
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
