//! The process runner: every check runs with a cleared environment plus an allow-list, in its
//! own process group killed whole at its timeout, with its output capped; a signal to pyswap
//! (see `interrupt`) kills the group and stops further checks.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{CheckResult, Expected, Phase, RunRecord};

pub(super) const OUTPUT_CAP: u64 = 64 << 10;

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

/// Runs one of pyswap's own scripts (`ISOLATION -B -c SCRIPT ARGS`, ISOLATION being `-I` or
/// `-IS`) and reads its JSON report; a failure to run or to report is itself the failed
/// `diagnostic` check.
pub(super) fn probe<T: serde::de::DeserializeOwned>(
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

/// Runs `argv` with exactly `env`, in its own process group, killed at `timeout`.
pub(super) fn execute(
    argv: &[String],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> RunRecord {
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
    let pid = child.id();
    let out = read_pipe(child.stdout.take().map(|s| Box::new(s) as _));
    let err = read_pipe(child.stderr.take().map(|s| Box::new(s) as _));
    let status = wait_or_kill(child, started, timeout);
    // A grandchild left holding the pipes after a normal exit is in the child's group (whose
    // number cannot be reused while it has a member): give it a moment, then kill the group.
    let (mut stdout, mut stderr) = (None, None);
    if status.is_some() {
        let grace = Instant::now() + Duration::from_secs(2);
        stdout = recv_until(&out, grace);
        stderr = recv_until(&err, grace);
        if stdout.is_none() || stderr.is_none() {
            kill_group(pid);
        }
    }
    // A process that left the group (`setsid`) may hold a pipe forever: give the readers a
    // last second, then abandon them rather than hang the command.
    let last = Instant::now() + Duration::from_secs(1);
    let not_collected =
        || "(not collected: a process outside the check's process group still holds it)".into();
    record.stdout = stdout
        .or_else(|| recv_until(&out, last))
        .unwrap_or_else(not_collected);
    record.stderr = stderr
        .or_else(|| recv_until(&err, last))
        .unwrap_or_else(not_collected);
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

/// Reads up to `OUTPUT_CAP` of a child's pipe on its own thread, draining the rest so the child
/// never blocks on a full pipe; the text arrives on the returned channel at end of file.
fn read_pipe(r: Option<Box<dyn Read + Send>>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut r) = r {
            let _ = r.by_ref().take(OUTPUT_CAP).read_to_end(&mut s);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        }
        let _ = tx.send(String::from_utf8_lossy(&s).into_owned());
    });
    rx
}

/// What arrives on `rx` before `until`, if anything.
fn recv_until(rx: &mpsc::Receiver<String>, until: Instant) -> Option<String> {
    rx.recv_timeout(until.saturating_duration_since(Instant::now()))
        .ok()
}

/// How often a wait looks at whether pyswap was told to stop.
const INTERRUPT_TICK: Duration = Duration::from_millis(20);

/// Waits for the child until `timeout` (from `started`); kills its whole group at the timeout
/// or when pyswap is told to stop. `None`: timed out. The child is reaped on a thread of its
/// own, so its exit is seen the moment it happens (no polling interval on the way).
fn wait_or_kill(
    mut child: std::process::Child,
    started: Instant,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let pid = child.id();
    let (tx, exited) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        match exited.recv_timeout(left.min(INTERRUPT_TICK)) {
            Ok(status) => return status.ok(),
            Err(mpsc::RecvTimeoutError::Timeout) if crate::interrupt::received().is_some() => {
                // pyswap was told to stop: the check's whole group goes with it.
                kill_group(pid);
                return exited.recv().ok().and_then(Result::ok);
            }
            Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < timeout => {}
            Err(_) => {
                kill_group(pid);
                let _ = exited.recv();
                return None;
            }
        }
    }
}

/// Kills the process group the child leads (it was spawned with `process_group(0)`).
fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
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
