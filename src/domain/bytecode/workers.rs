//! The compile workers: one interpreter per share of the sources, forking a fresh child per
//! source, and the frames they answer with, read back into `.pyc` files.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Child;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::ground::spawn::{Sandbox, Start};
use crate::ground::tree::Node;

use super::{BytecodeError, DFILE_PREFIX, Source, write_file};

/// Longest a whole compile may take before its workers are killed and the install fails.
const DEADLINE: Duration = Duration::from_secs(15 * 60);

/// The worker: compiles the sources named on stdin (relative to its working directory, the
/// runtime root) and writes `T <cache tag>`, then per source `P <index> <length>` and the `.pyc`
/// bytes, or `E <index> <length>` and the error, then `D`. Runs on every `CPython` from 3.7.
///
/// Each source is compiled in a child forked from the worker, which itself never compiles: what
/// marshal writes for a constant depends on the interpreter's state (it marks an object that is
/// referenced elsewhere, by its reference count, with `FLAG_REF`; `'225'` interned by
/// `nntplib.py` on 3.12, the `'lambda'` name a compiled lambda keeps alive on 3.10), so in one
/// long-lived process a file's bytes depended on what that process compiled before, and so on
/// how many workers shared the sources. A fresh fork of the same pristine parent gives each file
/// the same state on every host, whatever the number of workers or their order. The parent's
/// objects are frozen out of the collector and collection is off (a child compiles one file and
/// exits): a collection in a child would touch every inherited object and copy its page, which
/// made the forks cost twice the compile (3.11, 2 workers: 2.0 s before forks, 4.6 s with them,
/// 3.5 s with the collector frozen).
const WORKER: &str = r"import sys
if sys.path and sys.path[0] == '':
    del sys.path[0]
import marshal, _imp, os, gc
for _c in range(256):
    sys.intern(chr(_c))
gc.disable()
gc.freeze()
try:
    _bx = sys.modules['_frozen_importlib_external']
except KeyError:
    import importlib._bootstrap_external as _bx
def one(out, head, prefix, i, rel):
    try:
        with open(rel, 'rb') as f:
            src = f.read()
        code = compile(src, prefix + rel.decode(), 'exec', dont_inherit=True, optimize=0)
        data = head + _imp.source_hash(_bx._RAW_MAGIC_NUMBER, src) + marshal.dumps(code)
    except Exception as e:
        msg = ('%s: %s' % (type(e).__name__, e)).encode('utf-8', 'replace')
        out.write(b'E %d %d\n' % (i, len(msg)) + msg)
        return
    out.write(b'P %d %d\n' % (i, len(data)))
    out.write(data)
def main(prefix):
    out = sys.stdout.buffer
    head = _bx.MAGIC_NUMBER + b'\x01\x00\x00\x00'
    out.write(b'T ' + sys.implementation.cache_tag.encode() + b'\n')
    for i, rel in enumerate(sys.stdin.buffer.read().split(b'\n')[:-1]):
        out.flush()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                one(out, head, prefix, i, rel)
                out.flush()
                status = 0
            finally:
                os._exit(status)
        if os.waitpid(pid, 0)[1] != 0:
            msg = b'its compiling process died'
            out.write(b'E %d %d\n' % (i, len(msg)) + msg)
    out.write(b'D\n')
    out.flush()
main(sys.argv[2])
";

/// What the worker's interpreter runs (`-c`): it reads [`WORKER`] on its stdin, after a line
/// with its length, and runs it; the list of sources follows. The script stays out of the
/// command line, where `ps` would show its 1.5 KB to every user. It leaves the worker's state,
/// and so the bytes it writes, as `-c WORKER` did: each name it uses is a builtin's or `io`'s,
/// interned before it runs.
const BOOT: &str = "import sys;exec(compile(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())),'<pyswap-compile>','exec'))";

/// The first word of the worker's arguments: a test runtime's stand-in interpreter looks for it
/// (and skips the script on its stdin: a line with its length, then as many bytes).
pub const WORKER_MARK: &str = "pyswap-compile-1";

/// What the compiler probe prints: the interpreter's magic number, `sys.hexversion` (version
/// and release level) and cache tag, the inputs of its bytecode besides source and path.
const PROBE: &str = "import sys;m=sys.modules['_frozen_importlib_external'].MAGIC_NUMBER;sys.stdout.write('%s-%08x-%s'%(m.hex(),sys.hexversion,sys.implementation.cache_tag))";

/// The probe's first argument: a test runtime's stand-in interpreter looks for it.
pub const PROBE_MARK: &str = "pyswap-probe-1";

/// The interpreter a staged tree's bytecode is compiled by, as it names itself: `<magic number,
/// hex>-<sys.hexversion, 8 hex>-<cache tag>` (`cb0d0d0a-030c01f0-cpython-312`). Two runtimes
/// whose probes agree compile a source to the same bytes (with the same recipe): a rebuild of
/// one version reuses every `.pyc` of its unchanged sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Compiler {
    pub(crate) id: String,
    pub(crate) cache_tag: String,
}

impl Compiler {
    fn parse(out: &str) -> Option<Self> {
        let (magic, rest) = out.split_once('-')?;
        let (version, tag) = rest.split_once('-')?;
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(magic, 8) && hex(version, 8) && is_cache_tag(tag)).then(|| Self {
            id: out.to_owned(),
            cache_tag: tag.to_owned(),
        })
    }
}

/// Asks the staged interpreter (as `sandbox`'s user, unable to write, isolated) which compiler
/// it is.
pub(super) fn probe(
    root: &Path,
    python: &Path,
    sandbox: &Sandbox,
) -> Result<Compiler, BytecodeError> {
    let ran = Start::python(python, &["-S", "-B"])
        .args(["-c", PROBE, PROBE_MARK])
        .cwd(root)
        .user(sandbox.user())
        .no_writes()
        .die_with_parent()
        .run(Duration::from_secs(60), 4096);
    let broke = |why: String| BytecodeError::Worker {
        python: python.display().to_string(),
        why,
    };
    if ran.exit_code != Some(0) {
        return Err(broke(format!(
            "could not tell its version and magic number: {}",
            tail(if ran.stderr.is_empty() {
                &ran.stdout
            } else {
                &ran.stderr
            })
        )));
    }
    Compiler::parse(ran.stdout.trim()).ok_or_else(|| {
        broke(format!(
            "told its version and magic number as `{}`, not as `<magic>-<hexversion>-<cache tag>`",
            tail(&ran.stdout)
        ))
    })
}

/// Splits the sources over at most `jobs` workers, largest first onto the least loaded (compile
/// time follows size), so the workers finish together.
pub(super) fn shares(sources: &[Source], jobs: usize) -> Vec<Vec<usize>> {
    let n = jobs.clamp(1, sources.len().max(1));
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sources[i].size));
    let mut loads = vec![0u64; n];
    let mut out = vec![Vec::new(); n];
    for i in order {
        let least = (0..n).min_by_key(|&w| loads[w]).unwrap_or(0);
        loads[least] += sources[i].size.max(1);
        out[least].push(i);
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Runs the workers and writes what they compile; returns the `.pyc` nodes and how many
/// workers ran. The first failure (a source that does not compile, a worker that dies) kills
/// the others.
pub(super) fn compile(
    root: &Path,
    python: &Path,
    sandbox: &Sandbox,
    sources: &[Source],
    index: &HashMap<&str, usize>,
    jobs: usize,
) -> Result<(Vec<Node>, usize), BytecodeError> {
    let shares = shares(sources, jobs);
    let workers = shares.len();
    let failed = AtomicBool::new(false);
    let children: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let mut timed_out = false;
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| {
                let done = done_tx.clone();
                let (failed, children) = (&failed, &children);
                scope.spawn(move || {
                    let r = run_worker(
                        root, python, sandbox, sources, index, share, failed, children,
                    );
                    if r.is_err() {
                        failed.store(true, Ordering::SeqCst);
                        kill_all(children);
                    }
                    let _ = done.send(());
                    r
                })
            })
            .collect();
        drop(done_tx);
        // The watchdog: at the deadline every worker is killed, which ends their threads.
        let deadline = Instant::now() + DEADLINE;
        for _ in 0..workers {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(left) {
                timed_out = true;
                failed.store(true, Ordering::SeqCst);
                kill_all(&children);
                break;
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(Failure::Broke("its reader thread panicked".into())))
            })
            .collect::<Vec<_>>()
    });
    let broke = |why: String| BytecodeError::Worker {
        python: python.display().to_string(),
        why,
    };
    if timed_out {
        return Err(broke(format!(
            "took longer than {} minutes",
            DEADLINE.as_secs() / 60
        )));
    }
    let mut nodes = Vec::new();
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(n) => nodes.extend(n),
            Err(f) => failures.push(f),
        }
    }
    // A source that does not compile is the news; a worker stopped because of it is not.
    failures.sort_by_key(|f| match f {
        Failure::Compile { .. } => 0,
        Failure::Broke(_) => 1,
        Failure::Stopped => 2,
    });
    match failures.into_iter().next() {
        None => Ok((nodes, workers)),
        Some(Failure::Compile { file, message }) => Err(BytecodeError::Compile { file, message }),
        Some(Failure::Broke(why)) => Err(broke(why)),
        Some(Failure::Stopped) => Err(broke("was stopped".into())),
    }
}

/// Why a worker did not finish its share.
enum Failure {
    /// A source did not compile.
    Compile { file: String, message: String },
    /// The worker failed (could not start, died, broke the protocol).
    Broke(String),
    /// Another worker failed first: this one was stopped.
    Stopped,
}

/// Kills every worker's process group (each worker leads its own). A pid stays in `children`
/// until it is reaped, under the same lock, so a number reused after reaping is never
/// signalled.
fn kill_all(children: &Mutex<Vec<u32>>) {
    if let Ok(c) = children.lock() {
        for &pid in c.iter() {
            crate::ground::spawn::kill_group(pid);
        }
    }
}

/// The name, in the staging tree, of the bytecode cache the workers are pointed at and that
/// never exists (pyswap makes nothing there; the workers write nothing).
const NO_PYCACHE: &str = ".pyswap-no-pycache";

/// How long a worker that answered for all its files has to exit before its process group is
/// killed (an interpreter that lingers, or left something holding its output).
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Starts one worker on the runtime at `root` through the one runner (`spawn`): its own
/// interpreter as `sandbox`'s user, unable to write a file, in its own process group, killed
/// when pyswap dies; `-S -s -B` (no site, no user site, no bytecode of its own written), `-W
/// ignore` (a compile's warnings would otherwise go to stderr). Not `-I`: that would ignore
/// `PYTHONHASHSEED=0`, which the bytes depend on; the environment is still only pyswap's, and the
/// script drops the working directory (the staging root, pyswap's) from `sys.path` before its
/// first import.
///
/// `-X pycache_prefix=` a directory that never exists: every module the worker imports (at
/// start, and a codec a source's coding cookie asks for in a child) is compiled from source,
/// never loaded from a `.pyc` in the tree. The workers' state, and so what marshal writes, would
/// otherwise depend on whether another worker had already written the `.pyc` of `encodings` or
/// `warnings` into the staging tree when this one started (3.9, 3.10 and 3.12 start from such
/// files; `'lambda'` in `lib2to3/fixes/fix_tuple_params.py` got `FLAG_REF` or not by that race),
/// and on whether the archive shipped bytecode.
fn spawn(root: &Path, python: &Path, sandbox: &Sandbox) -> io::Result<Child> {
    let mut no_pycache = std::ffi::OsString::from("pycache_prefix=");
    no_pycache.push(root.join(NO_PYCACHE));
    Start::python_own_env(python, &["-S", "-s", "-B", "-W", "ignore"])
        .arg("-X")
        .arg(no_pycache)
        .args(["-c", BOOT])
        .args([WORKER_MARK, DFILE_PREFIX])
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .cwd(root)
        .user(sandbox.user())
        .no_writes()
        .die_with_parent()
        .stdin_piped()
        .spawn()
}

/// Waits for `child` to exit until `until`, then kills its group and reaps it; its pid leaves
/// `children` in the same critical section as the reaping. Also says whether it was killed.
fn reap(
    child: &mut Child,
    children: &Mutex<Vec<u32>>,
    until: Instant,
) -> io::Result<(std::process::ExitStatus, bool)> {
    let pid = child.id();
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();
    let mut killed = false;
    loop {
        {
            let mut c = children
                .lock()
                .map_err(|_| io::Error::other("the list of workers broke"))?;
            if let Some(status) = child.try_wait()? {
                c.retain(|&p| p != pid);
                return Ok((status, killed));
            }
            if !killed && Instant::now() >= until {
                crate::ground::spawn::kill_group(pid);
                killed = true;
            }
        }
        let wait = Duration::from_millis(20);
        match &pidfd {
            Some(fd) => {
                use rustix::event::{PollFd, PollFlags, Timespec, poll};
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                let t = Timespec {
                    tv_sec: 0,
                    tv_nsec: 20_000_000,
                };
                let _ = poll(&mut fds, Some(&t));
            }
            None => std::thread::sleep(wait),
        }
    }
}

/// One worker: feeds it its share, writes each `.pyc` it returns, reaps it (within
/// [`EXIT_GRACE`] of its last answer, or its group is killed).
#[allow(clippy::too_many_arguments)]
fn run_worker(
    root: &Path,
    python: &Path,
    sandbox: &Sandbox,
    sources: &[Source],
    index: &HashMap<&str, usize>,
    share: &[usize],
    failed: &AtomicBool,
    children: &Mutex<Vec<u32>>,
) -> Result<Vec<Node>, Failure> {
    let mut child = {
        // Spawned under the lock: the watchdog cannot miss it.
        let mut c = children
            .lock()
            .map_err(|_| Failure::Broke("the list of workers broke".into()))?;
        if failed.load(Ordering::SeqCst) {
            return Err(Failure::Stopped);
        }
        let child = spawn(root, python, sandbox)
            .map_err(|e| Failure::Broke(format!("could not start: {e}")))?;
        c.push(child.id());
        child
    };
    let mut list = Vec::new();
    for &i in share {
        list.extend_from_slice(sources[i].path.as_bytes());
        list.push(b'\n');
    }
    let (errors_tx, errors_rx) = std::sync::mpsc::channel();
    if let Some(e) = child.stderr.take() {
        // Detached: a process that left the group may hold stderr open for ever; what the
        // worker said is waited for only briefly below.
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = e.take(16 << 10).read_to_end(&mut kept);
            let _ = errors_tx.send(String::from_utf8_lossy(&kept).into_owned());
        });
    }
    // The worker reads all of its list before it writes anything: no deadlock.
    // First the worker's script, after its length (`BOOT` reads it), then the list.
    let fed = child.stdin.take().map_or(Ok(()), |mut stdin| {
        stdin.write_all(format!("{}\n", WORKER.len()).as_bytes())?;
        stdin.write_all(WORKER.as_bytes())?;
        stdin.write_all(&list)
    });
    let read = match (fed, child.stdout.take()) {
        (Ok(()), Some(out)) => read_frames(root, sources, index, share, out, failed),
        (Err(e), _) => Err(Failure::Broke(format!(
            "did not take its list of sources: {e}"
        ))),
        (_, None) => Err(Failure::Broke("has no output".into())),
    };
    let until = if read.is_err() {
        Instant::now()
    } else {
        Instant::now() + EXIT_GRACE
    };
    let status = reap(&mut child, children, until);
    let stderr = errors_rx
        .recv_timeout(Duration::from_millis(500))
        .unwrap_or_default();
    match (read, status) {
        (Ok(_), Ok((_, true))) => Err(Failure::Broke(format!(
            "did not exit within {} s of its last answer, and was killed: {}",
            EXIT_GRACE.as_secs(),
            tail(&stderr)
        ))),
        (Ok(nodes), Ok((s, false))) if s.success() => Ok(nodes),
        // Killed because another worker failed first (that one's failure is the news), or
        // stopped while it answered.
        (Ok(_), Ok((_, false))) | (Err(Failure::Broke(_)), _) if failed.load(Ordering::SeqCst) => {
            Err(Failure::Stopped)
        }
        (Ok(_), Ok((s, false))) => Err(Failure::Broke(format!(
            "exited with {s} after its last file: {}",
            tail(&stderr)
        ))),
        (Ok(_), Err(e)) => Err(Failure::Broke(format!("could not be waited for: {e}"))),
        (Err(Failure::Broke(why)), _) => Err(Failure::Broke(format!("{why}: {}", tail(&stderr)))),
        (Err(f), _) => Err(f),
    }
}

fn tail(stderr: &str) -> String {
    let t = stderr.trim();
    let lines: Vec<&str> = t.lines().rev().take(3).collect();
    if lines.is_empty() {
        "(no output)".into()
    } else {
        lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
    }
}

/// The largest `.pyc` accepted from a worker (the biggest in `CPython`'s own tree is ~1 MiB).
const MAX_PYC: usize = 256 << 20;

/// The longest header line a worker may write (`P <index> <length>`, `T <cache tag>`).
const MAX_HEADER: u64 = 256;

/// Reads a worker's answers and writes its `.pyc` files.
fn read_frames(
    root: &Path,
    sources: &[Source],
    index: &HashMap<&str, usize>,
    share: &[usize],
    out: impl Read,
    failed: &AtomicBool,
) -> Result<Vec<Node>, Failure> {
    // While a worker runs, for a test that reads its command line.
    crate::ground::crash::pause("bytecode:reading");
    let broke = Failure::Broke;
    let mut r = BufReader::with_capacity(64 << 10, out);
    let mut line = Vec::new();
    let mut header = |r: &mut BufReader<_>| -> Result<Vec<String>, Failure> {
        line.clear();
        // A header is a few words: a worker that writes more without a line break is not
        // followed past [`MAX_HEADER`] bytes.
        r.by_ref()
            .take(MAX_HEADER)
            .read_until(b'\n', &mut line)
            .map_err(|e| broke(format!("output unreadable: {e}")))?;
        let read = line.len() as u64;
        if line.pop() != Some(b'\n') {
            return Err(broke(if read >= MAX_HEADER {
                format!("wrote a header longer than {MAX_HEADER} bytes")
            } else {
                "ended before it was done".into()
            }));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| broke("wrote a header that is not text".into()))?;
        Ok(text.split(' ').map(str::to_owned).collect())
    };
    let words = header(&mut r)?;
    let tag = match words.as_slice() {
        [t, tag] if t == "T" && is_cache_tag(tag) => tag.clone(),
        _ => {
            return Err(broke(format!(
                "did not report a cache tag: `{}`",
                words.join(" ")
            )));
        }
    };
    let mut nodes = Vec::with_capacity(share.len());
    let mut seen: HashSet<usize> = HashSet::new();
    // One buffer for every answer: allocating each anew grows this thread's malloc arena.
    let mut data = Vec::new();
    loop {
        if failed.load(Ordering::SeqCst) {
            return Err(Failure::Stopped);
        }
        let words = header(&mut r)?;
        let (compiled, i, len) = match words.as_slice() {
            [d] if d == "D" => break,
            [k, i, len] if k == "P" || k == "E" => {
                let i: usize = i.parse().map_err(|_| broke(format!("bad index `{i}`")))?;
                let len: usize = len
                    .parse()
                    .map_err(|_| broke(format!("bad length `{len}`")))?;
                (k == "P", i, len)
            }
            _ => {
                return Err(broke(format!(
                    "wrote an unknown header `{}`",
                    words.join(" ")
                )));
            }
        };
        if len > MAX_PYC {
            return Err(broke(format!("answered with {len} bytes at once")));
        }
        let Some(&source) = share.get(i).filter(|_| seen.insert(i)) else {
            return Err(broke(format!(
                "answered for a source it was not given (#{i})"
            )));
        };
        data.resize(len, 0);
        r.read_exact(&mut data)
            .map_err(|e| broke(format!("ended in the middle of an answer: {e}")))?;
        let s = &sources[source];
        if !compiled {
            return Err(Failure::Compile {
                file: s.path.clone(),
                message: String::from_utf8_lossy(&data).into_owned(),
            });
        }
        let rel = format!("{}/{}.{tag}.pyc", s.cache, s.stem);
        if index.contains_key(rel.as_str()) {
            continue; // the archive ships this one
        }
        nodes.push(write_file(root, &rel, &data).map_err(|e| broke(e.to_string()))?);
        crate::ground::crash::point("bytecode:written");
    }
    if seen.len() != share.len() {
        return Err(broke(format!(
            "stopped after {} of its {} sources",
            seen.len(),
            share.len()
        )));
    }
    Ok(nodes)
}

/// `cpython-312`, `cpython-313t`: what `sys.implementation.cache_tag` may be for a file name.
pub(super) fn is_cache_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 40
        && !tag.starts_with('.')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
