//! How pyswap starts every process it runs: one [`Start`] for compile workers, validation probes
//! and checks, venv creation and venv checks, so that none of them inherits what the caller
//! (root from cron, from a directory another user owns) happens to have.
//!
//! Every start gets: exactly the environment its caller lists (nothing inherited), the working
//! directory `/` unless its caller names one it controls, standard input from `/dev/null` unless
//! piped, no descriptor of pyswap's beyond 0-2 (all others are marked close-on-exec in the child,
//! which also covers descriptors pyswap itself inherited without the flag), its own process
//! group (so a deadline kills everything it started), `PR_SET_NO_NEW_PRIVS` (no set-user-ID
//! program regains what was dropped) and, where asked, death with pyswap, a user to run as
//! (supplementary groups dropped) and a file-size limit of zero (a process that tries to write a
//! file's contents is killed by `SIGXFSZ`).
//!
//! A Python is started by [`Start::python`], which puts `-I` first: isolated mode, so neither the
//! working directory nor the script's directory is on `sys.path`, `PYTHON*` variables and the
//! user's site-packages are ignored. `-I` exists on every `CPython` 3 (3.9 and 3.10 have no
//! `-P`), and it keeps a venv's own site-packages: `site` still reads `pyvenv.cfg`.
//!
//! Who runs archive code is [`Sandbox`]: when pyswap is root, the interpreter of an archive that
//! has not yet been validated (its compile workers and validation probes) runs as an
//! unprivileged user, as apt fetches as `_apt` and Nix builds as `nixbld`.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `PATH` for what pyswap starts: the system's directories only.
pub(crate) const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The descriptor a [`Start::with_dir`] directory gets in the child.
pub(crate) const PASSED_FD: i32 = 3;

/// A process to start (see the module documentation for what every start gets).
#[derive(Debug)]
pub(crate) struct Start {
    program: PathBuf,
    args: Vec<OsString>,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
    user: Option<(u32, u32)>,
    stdin: bool,
    no_writes: bool,
    die_with_parent: bool,
    dir: Option<i32>,
}

impl Start {
    /// `program` with no arguments, an empty environment, working directory `/`.
    pub(crate) fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: PathBuf::from("/"),
            user: None,
            stdin: false,
            no_writes: false,
            die_with_parent: false,
            dir: None,
        }
    }

    /// The interpreter `python` in isolated mode (`-I`), then `flags`; `LC_ALL=C.UTF-8` and the
    /// system `PATH` in its environment.
    pub(crate) fn python(python: &Path, flags: &[&str]) -> Self {
        let mut s = Self::new(python);
        s.args.push("-I".into());
        s.args.extend(flags.iter().map(OsString::from));
        s.env.insert("PATH".into(), SYSTEM_PATH.into());
        s.env.insert("LC_ALL".into(), "C.UTF-8".into());
        s
    }

    /// The interpreter `python` with `flags` but not `-I`, for the one start that needs a
    /// `PYTHON*` variable of pyswap's own (the compile worker's `PYTHONHASHSEED=0`, which `-I`
    /// would ignore): its environment is still only what pyswap sets.
    pub(crate) fn python_own_env(python: &Path, flags: &[&str]) -> Self {
        let mut s = Self::new(python);
        s.args.extend(flags.iter().map(OsString::from));
        s.env.insert("PATH".into(), SYSTEM_PATH.into());
        s.env.insert("LC_ALL".into(), "C.UTF-8".into());
        s
    }

    pub(crate) fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub(crate) fn args<A: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub(crate) fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.insert(key.to_owned(), value.into());
        self
    }

    /// Replaces the whole environment.
    pub(crate) fn envs(mut self, env: &BTreeMap<String, String>) -> Self {
        self.env.clone_from(env);
        self
    }

    /// The working directory: one that pyswap controls (a staging directory).
    pub(crate) fn cwd(mut self, dir: &Path) -> Self {
        dir.clone_into(&mut self.cwd);
        self
    }

    /// Runs as `uid`:`gid` (pyswap must be root), with no supplementary groups.
    pub(crate) fn user(mut self, user: Option<(u32, u32)>) -> Self {
        self.user = user;
        self
    }

    /// Standard input is a pipe (else `/dev/null`).
    pub(crate) fn stdin_piped(mut self) -> Self {
        self.stdin = true;
        self
    }

    /// The child may not write a file's contents (`RLIMIT_FSIZE` 0).
    pub(crate) fn no_writes(mut self) -> Self {
        self.no_writes = true;
        self
    }

    /// The child is killed when pyswap dies (`PR_SET_PDEATHSIG`).
    pub(crate) fn die_with_parent(mut self) -> Self {
        self.die_with_parent = true;
        self
    }

    /// Hands the open directory `dir` to the child as descriptor [`PASSED_FD`], so that it reads
    /// the directory pyswap checked (`/proc/self/fd/3/...`), not whatever a path names later.
    pub(crate) fn with_dir(mut self, dir: BorrowedFd<'_>) -> Self {
        self.dir = Some(dir.as_raw_fd());
        self
    }

    /// The command line, for records and messages.
    pub(crate) fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    pub(crate) fn environment(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Starts it, standard output and error piped, in a process group of its own (whose number
    /// is its pid).
    pub(crate) fn spawn(&self) -> io::Result<Child> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.cwd)
            .stdin(if self.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some((uid, gid)) = self.user {
            // std drops root's supplementary groups when it changes the uid.
            cmd.uid(uid).gid(gid);
        }
        let hooks = Hooks {
            parent: rustix::process::getpid(),
            die_with_parent: self.die_with_parent,
            no_writes: self.no_writes,
            dir: self.dir,
        };
        hooks.install(&mut cmd);
        cmd.spawn()
    }
}

/// What the child does between `fork` and `exec` (after std set its stdio, user, working
/// directory and process group).
#[derive(Clone, Copy)]
struct Hooks {
    parent: rustix::process::Pid,
    die_with_parent: bool,
    no_writes: bool,
    dir: Option<i32>,
}

impl Hooks {
    #[allow(unsafe_code)]
    fn install(self, cmd: &mut Command) {
        // SAFETY: the closure runs in the forked child before exec and only makes system calls
        // (prctl, getppid, setrlimit, close_range/fcntl, dup2); it allocates nothing and takes
        // no lock.
        unsafe {
            cmd.pre_exec(move || self.run());
        }
    }

    #[allow(unsafe_code)]
    fn run(self) -> io::Result<()> {
        let check = |rc: libc::c_long| {
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        if self.die_with_parent {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent may have died between fork and prctl: then nobody would kill us.
            if rustix::process::getppid() != Some(self.parent) {
                return Err(io::Error::other("pyswap exited before the process started"));
            }
        }
        // SAFETY: prctl with integer arguments.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }.into())?;
        if self.no_writes {
            rustix::process::setrlimit(
                rustix::process::Resource::Fsize,
                rustix::process::Rlimit {
                    current: Some(0),
                    maximum: Some(0),
                },
            )?;
        }
        // Every descriptor above 2 marked close-on-exec (`close_range(2)`, or one `fcntl` each
        // where the kernel is older than 5.11). Marking, not closing: std's own pipe that
        // reports a failed `exec` must stay open until the exec.
        // SAFETY: a system call with integer arguments; it closes nothing.
        let marked = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if marked < 0 {
            for fd in 3..65_536 {
                // SAFETY: fcntl on a descriptor number: EBADF where none is open.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
        if let Some(fd) = self.dir {
            // SAFETY: fcntl and dup2 on descriptor numbers. `fd` is open in pyswap, which holds
            // it while the child starts; the new descriptor 3 has close-on-exec cleared.
            if fd == PASSED_FD {
                check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }.into())?;
            } else {
                check(unsafe { libc::dup2(fd, PASSED_FD) }.into())?;
            }
        }
        Ok(())
    }
}

impl Start {
    /// Runs it to the end: its output read as it comes (up to `cap` bytes a stream kept, the
    /// rest drained), its whole process group killed at `timeout` or when pyswap is told to stop
    /// (see `interrupt`), and a process that keeps the output open after the child exited
    /// abandoned within seconds.
    pub(crate) fn run(&self, timeout: Duration, cap: usize) -> Ran {
        let started = Instant::now();
        let mut record = Ran::default();
        let _running = crate::ground::interrupt::Running::start();
        if let Some(sig) = crate::ground::interrupt::received() {
            record.stderr = format!(
                "not started: pyswap was interrupted ({})",
                crate::ground::interrupt::name(sig)
            );
            record.interrupted = true;
            return record;
        }
        let mut child = match self.spawn() {
            Ok(c) => c,
            Err(e) => {
                record.stderr = format!("{}: {e}", self.program.display());
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
            Pipe::new(child.stdout.take(), cap),
            Pipe::new(child.stderr.take(), cap),
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
            if crate::ground::interrupt::received().is_some() {
                // pyswap was told to stop: the check's whole group goes with it.
                kill_group(pid);
                record.interrupted = true;
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
}

/// How a [`Start::run`] ended.
#[derive(Debug, Default)]
pub(crate) struct Ran {
    /// `None` when killed by a signal (including the timeout's) or never started.
    pub(crate) exit_code: Option<i32>,
    pub(crate) signal: Option<i32>,
    pub(crate) timed_out: bool,
    /// pyswap was told to stop before or while it ran.
    pub(crate) interrupted: bool,
    pub(crate) duration_ms: u64,
    pub(crate) stdout: String,
    /// Why it could not start, when it could not.
    pub(crate) stderr: String,
}

/// How often a wait looks at whether pyswap was told to stop.
const INTERRUPT_TICK: Duration = Duration::from_millis(20);

/// One of a child's output pipes, read as it fills: up to `cap` bytes kept, the rest drained
/// so the child never blocks on a full pipe.
struct Pipe {
    open: Option<std::fs::File>,
    kept: Vec<u8>,
    cap: usize,
}

impl Pipe {
    fn new(end: Option<impl Into<std::os::fd::OwnedFd>>, cap: usize) -> Self {
        Self {
            open: end.map(|e| std::fs::File::from(e.into())),
            kept: Vec::new(),
            cap,
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
                let room = self.cap.saturating_sub(self.kept.len());
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

/// Kills the process group `pgid` (a child started by [`Start::spawn`] leads its own).
pub(crate) fn kill_group(leader: u32) {
    let Some(group) = i32::try_from(leader)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
}

/// Who runs the interpreter of an archive before it is validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sandbox {
    /// pyswap's own user, which is not root.
    Caller,
    /// Root, because the operator set `sandbox_user = "root"` (warned about where it is used).
    Root,
    /// An unprivileged user (pyswap is root).
    User { name: String, uid: u32, gid: u32 },
    /// The configured user does not exist: nothing from an archive may start.
    Missing(String),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxError {
    #[error(
        "[install] sandbox_user {0:?} is not a user of this host: pyswap runs an archive's interpreter as that user when it is root"
    )]
    NoSuchUser(String),
    #[error(
        "{name} (uid {uid}), who runs archive code for root ([install] sandbox_user), cannot reach {}: {why}", path.display()
    )]
    Unreachable {
        name: String,
        uid: u32,
        path: PathBuf,
        why: String,
    },
}

crate::ground::exit::register!(SandboxError);
impl crate::ground::exit::Reason for SandboxError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        Some(match self {
            Self::NoSuchUser(_) => "set [install] sandbox_user to an existing unprivileged user (useradd --system pyswap-build), or to \"root\" to run archive code as root".into(),
            Self::Unreachable { .. } => "let others traverse the home and its parents (chmod o+x), or set [install] sandbox_user = \"root\" to run archive code as root".into(),
        })
    }
}

impl Sandbox {
    /// The sandbox for `name` (a user name or a numeric uid) when pyswap runs as root (`euid`);
    /// `root` (or uid 0) keeps archive code running as root.
    pub(crate) fn resolve(name: &str, euid_is_root: bool) -> Self {
        if !euid_is_root {
            return Self::Caller;
        }
        let found = user_by_name(name).or_else(|| {
            let uid: u32 = name.parse().ok()?;
            Some((uid, gid_of_uid(uid).unwrap_or(uid)))
        });
        match found {
            Some((0, _)) => Self::Root,
            Some((uid, gid)) => Self::User {
                name: name.to_owned(),
                uid,
                gid,
            },
            None => Self::Missing(name.to_owned()),
        }
    }

    /// The user a start runs as (`None`: pyswap's own).
    pub(crate) fn user(&self) -> Option<(u32, u32)> {
        match self {
            Self::Caller | Self::Root => None,
            Self::User { uid, gid, .. } => Some((*uid, *gid)),
            // `check_reach` refuses first; should a start come anyway, not as root.
            Self::Missing(_) => Some((u32::MAX - 1, u32::MAX - 1)),
        }
    }

    /// Whether the sandbox user may search every directory down to `path` and read `path`
    /// itself; the first one it cannot, and why.
    pub(crate) fn check_reach(&self, path: &Path) -> Result<(), SandboxError> {
        let (name, uid, gid) = match self {
            Self::Caller | Self::Root => return Ok(()),
            Self::Missing(name) => return Err(SandboxError::NoSuchUser(name.clone())),
            Self::User { name, uid, gid } => (name, uid, gid),
        };
        let unreachable = |p: &Path, why: String| SandboxError::Unreachable {
            name: name.clone(),
            uid: *uid,
            path: p.to_owned(),
            why,
        };
        // `/`, then each directory down to `path`: searchable; `path` itself: readable (and
        // searchable when a directory).
        let names: Vec<&OsStr> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut at = PathBuf::from("/");
        for depth in 0..=names.len() {
            if depth > 0 {
                at.push(names[depth - 1]);
            }
            let meta = std::fs::metadata(&at).map_err(|e| unreachable(&at, e.to_string()))?;
            let need = match (depth == names.len(), meta.is_dir()) {
                (false, _) => 0o1,
                (true, true) => 0o5,
                (true, false) => 0o4,
            };
            if !allowed(&meta, *uid, *gid, need) {
                let why = format!(
                    "it is mode {:o}, owned by uid {}",
                    meta.mode() & 0o7777,
                    meta.uid()
                );
                return Err(unreachable(&at, why));
            }
        }
        Ok(())
    }
}

/// Whether `uid`:`gid` (no other groups) has the `want` bits (`r=4 w=2 x=1`) on `meta`.
fn allowed(meta: &std::fs::Metadata, uid: u32, gid: u32, want: u32) -> bool {
    let mode = meta.mode();
    let bits = if meta.uid() == uid {
        mode >> 6
    } else if meta.gid() == gid {
        mode >> 3
    } else {
        mode
    };
    bits & want == want
}

/// The uid and primary gid of user `name` (`getpwnam_r`).
#[allow(unsafe_code)]
pub(crate) fn user_by_name(name: &str) -> Option<(u32, u32)> {
    let c = CString::new(name).ok()?;
    passwd(|pwd, buf, out| {
        // SAFETY: every pointer is valid for the call; `buf` is as long as its length says.
        unsafe { libc::getpwnam_r(c.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), out) }
    })
}

#[allow(unsafe_code)]
fn gid_of_uid(uid: u32) -> Option<u32> {
    passwd(|pwd, buf, out| {
        // SAFETY: as in `user_by_name`.
        unsafe { libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), out) }
    })
    .map(|(_, gid)| gid)
}

/// The uid and primary gid of the `passwd` entry `call` (a `getpw*_r`) looks up, if any.
#[allow(unsafe_code)]
fn passwd(
    call: impl FnOnce(*mut libc::passwd, &mut [libc::c_char], *mut *mut libc::passwd) -> libc::c_int,
) -> Option<(u32, u32)> {
    let mut buf: Vec<libc::c_char> = vec![0; 16 << 10];
    // SAFETY: a zeroed `passwd` is a valid value of the plain C struct.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    let rc = call(&raw mut pwd, &mut buf, &raw mut out);
    (rc == 0 && !out.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &Start) -> (String, String, Option<i32>) {
        let out = s.spawn().unwrap().wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    }

    #[test]
    fn a_start_inherits_no_descriptor_no_variable_and_no_working_directory() {
        // A descriptor pyswap holds without close-on-exec (as one inherited from cron would be).
        let f = std::fs::File::open("/dev/null").unwrap();
        let raw = f.as_raw_fd();
        rustix::io::fcntl_setfd(&f, rustix::io::FdFlags::empty()).unwrap();
        let (out, _, code) = run(&Start::new("/bin/sh").args([
            "-c",
            &format!(
                "ls /proc/self/fd; pwd; env; test -e /proc/self/fd/{raw} && echo LEAKED; true"
            ),
        ]));
        assert_eq!(code, Some(0));
        assert!(!out.contains("LEAKED"), "{out}");
        let fds: Vec<&str> = out
            .lines()
            .take_while(|l| l.parse::<u32>().is_ok())
            .collect();
        // 0, 1, 2 and the one `ls` opened to list them.
        assert!(fds.len() <= 4, "{fds:?}");
        assert!(out.contains("\n/\n"), "{out}");
        assert!(!out.contains("HOME="), "{out}");
    }

    #[test]
    fn a_passed_directory_is_descriptor_3_and_no_writes_kills_a_writer() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("mark"), "here").unwrap();
        let dir = std::fs::File::open(d.path()).unwrap();
        let (out, _, _) = run(&Start::new("/bin/cat")
            .arg("/proc/self/fd/3/mark")
            .with_dir(std::os::fd::AsFd::as_fd(&dir)));
        assert_eq!(out, "here");
        let target = d.path().join("written");
        let status = Start::new("/bin/sh")
            .args(["-c", &format!("echo x > {}", target.display())])
            .no_writes()
            .spawn()
            .unwrap()
            .wait()
            .unwrap();
        assert!(!status.success());
        assert_eq!(std::fs::read(&target).unwrap_or_default(), b"");
    }

    #[test]
    fn a_sandbox_user_is_found_and_reach_is_checked_per_directory() {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(Sandbox::resolve("nobody", false), Sandbox::Caller);
        assert_eq!(Sandbox::resolve("root", true), Sandbox::Root);
        assert_eq!(Sandbox::resolve("0", true), Sandbox::Root);
        let missing = Sandbox::resolve("no-such-user-here", true);
        assert!(missing.check_reach(Path::new("/")).is_err());
        assert!(matches!(
            Sandbox::resolve("nobody", true),
            Sandbox::User { uid: 65534, .. }
        ));
        let s = Sandbox::User {
            name: "x".into(),
            uid: 4242,
            gid: 4242,
        };
        let d = tempfile::tempdir().unwrap();
        let inner = d.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        let set = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        set(d.path(), 0o755).unwrap();
        set(&d.path().join("a"), 0o700).unwrap();
        let e = s.check_reach(&inner).unwrap_err().to_string();
        assert!(e.contains("/a: it is mode 700"), "{e}");
        set(&d.path().join("a"), 0o711).unwrap();
        s.check_reach(&inner).unwrap();
    }
}
