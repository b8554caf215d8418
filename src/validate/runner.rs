//! The process runner: every check runs with a cleared environment plus an allow-list, in its
//! own process group killed whole at its timeout, with its output capped; a signal to pyswap
//! (see `interrupt`) kills the group and stops further checks.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
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
    execute_as(argv, env, timeout, None)
}

/// [`execute`], as user and group `user` when given (pyswap is root and the files the run
/// reads belong to that user: a venv's check). std drops root's supplementary groups too.
pub(super) fn execute_as(
    argv: &[String],
    env: &BTreeMap<String, String>,
    timeout: Duration,
    user: Option<(u32, u32)>,
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
    let mut command = Command::new(program);
    command
        .args(rest)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    let spawned = command.spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            record.stderr = format!("{program}: {e}");
            return record;
        }
    };
    let pid = child.id();
    // One thread watches everything with poll(2): the two pipes and, where the kernel has
    // them, a pidfd that turns readable when the child exits. (A waiter thread and a reader
    // thread per pipe cost ~5 ms a run in wake-ups on a 2-core VM: a health check's third.)
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();
    let mut pipes = [
        Pipe::new(child.stdout.take()),
        Pipe::new(child.stderr.take()),
    ];
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => {
                kill_group(pid);
                let _ = child.wait();
                break None;
            }
        }
        if crate::interrupt::received().is_some() {
            // pyswap was told to stop: the check's whole group goes with it.
            kill_group(pid);
            break child.wait().ok();
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            kill_group(pid);
            let _ = child.wait();
            break None;
        }
        pump(&mut pipes, pidfd.as_ref(), left.min(INTERRUPT_TICK));
    };
    // A grandchild left holding the pipes after a normal exit is in the child's group (whose
    // number cannot be reused while it has a member): give it a moment, then kill the group.
    if status.is_some() && !drain(&mut pipes, Instant::now() + Duration::from_secs(2)) {
        kill_group(pid);
    }
    // A process that left the group (`setsid`) may hold a pipe forever: a last second, then
    // the output is abandoned rather than hang the command.
    drain(&mut pipes, Instant::now() + Duration::from_secs(1));
    let [stdout, stderr] = pipes.map(Pipe::text);
    record.stdout = stdout;
    record.stderr = stderr;
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

/// How often a wait looks at whether pyswap was told to stop.
const INTERRUPT_TICK: Duration = Duration::from_millis(20);

/// One of a child's output pipes, read as it fills: up to `OUTPUT_CAP` kept, the rest drained
/// so the child never blocks on a full pipe.
struct Pipe {
    open: Option<std::fs::File>,
    kept: Vec<u8>,
}

impl Pipe {
    fn new(end: Option<impl Into<std::os::fd::OwnedFd>>) -> Self {
        Self {
            open: end.map(|e| std::fs::File::from(e.into())),
            kept: Vec::new(),
        }
    }

    fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Reads what the pipe holds (it was reported readable); closes it at end of file.
    fn read_some(&mut self) {
        let Some(r) = self.open.as_mut() else {
            return;
        };
        let mut buf = [0u8; 16 << 10];
        match r.read(&mut buf) {
            Ok(0) => self.open = None,
            Ok(n) => {
                let room = (OUTPUT_CAP as usize).saturating_sub(self.kept.len());
                self.kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.open = None,
        }
    }

    /// The output, or why there is none.
    fn text(self) -> String {
        if self.is_open() {
            "(not collected: a process outside the check's process group still holds it)".into()
        } else {
            String::from_utf8_lossy(&self.kept).into_owned()
        }
    }
}

/// Waits up to `wait` for output on the open pipes or for the child's exit (`pidfd`), and
/// reads what came.
fn pump(pipes: &mut [Pipe; 2], pidfd: Option<&rustix::fd::OwnedFd>, wait: Duration) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::fd::AsFd;
    let mut fds: Vec<PollFd<'_>> = pipes
        .iter()
        .filter_map(|p| p.open.as_ref())
        .map(|f| PollFd::new(f, PollFlags::IN))
        .collect();
    let open = fds.len();
    if let Some(p) = pidfd {
        fds.push(PollFd::from_borrowed_fd(p.as_fd(), PollFlags::IN));
    }
    if fds.is_empty() {
        // Both pipes closed and no pidfd: the exit is near; look again shortly.
        std::thread::sleep(wait.min(Duration::from_millis(1)));
        return;
    }
    let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    });
    if poll(&mut fds, Some(&timeout)).is_err() {
        return;
    }
    let ready: Vec<bool> = fds[..open]
        .iter()
        .map(|f| !f.revents().is_empty())
        .collect();
    drop(fds);
    let mut ready = ready.into_iter();
    for pipe in pipes.iter_mut().filter(|p| p.is_open()) {
        if ready.next() == Some(true) {
            pipe.read_some();
        }
    }
}

/// Reads the pipes until both are closed (true) or `until` passes (false).
fn drain(pipes: &mut [Pipe; 2], until: Instant) -> bool {
    while pipes.iter().any(Pipe::is_open) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        pump(pipes, None, left);
    }
    true
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
