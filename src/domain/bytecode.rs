//! What pyswap adds to a runtime's tree before it is sealed: the bytecode of its standard
//! library and the PEP 668 marker. Both are written into the staging directory after the
//! archive's sha256 is verified and before the tree digest, so that the digest, `verify` and the
//! seal cover them and no process ever needs to write into a published entry.
//!
//! **Why.** python-build-standalone ships no bytecode (its build deletes every `__pycache__`).
//! A store entry is read-only, so without it every process recompiles what it imports on every
//! start, except a root process, which ignores the modes and writes `.pyc` files into the shared
//! entry, changing a tree other processes run. So every `.py` under `lib/python3.X` (and
//! `lib/python3.Xt`, free-threaded) gets the `__pycache__/<name>.<cache tag>.pyc` that `CPython`
//! looks for at optimisation level 0, compiled by the runtime's own interpreter, except the
//! deliberately broken files `CPython`'s own `make install` skips ([`SKIPPED`]).
//!
//! **How.** One worker process per core runs the staged `bin/python3` with a short script
//! (`WORKER`): it reads its list of sources on stdin, compiles each in memory and writes the
//! `.pyc` bytes to stdout; pyswap writes every file itself (`O_EXCL|O_NOFOLLOW`, hashed with
//! blake3 as it is written, as the unpacker does), so a worker never writes into the tree and
//! dies with pyswap (`PR_SET_PDEATHSIG`, and a closed pipe). The bytes are the same on every
//! host and every try, whatever the split between workers, so the entry stays content-addressed:
//! `unchecked-hash` pycs (PEP 552: no mtime in them, never checked against the source: the
//! store's files never change), `co_filename` the fixed `/install/<path>` (python-build-
//! standalone's build prefix; import replaces it with the real path), `PYTHONHASHSEED=0` (set
//! and frozenset constants), and the 256 one-character strings interned before any compile (they
//! are process-wide singletons whose interned flag, which marshal records, would otherwise
//! depend on what the worker compiled before).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::ground::spawn::{Sandbox, SandboxError, Start};
use crate::ground::tree::{Kind, Node};

#[derive(Debug, thiserror::Error)]
pub(crate) enum BytecodeError {
    #[error("validation failed (install): cannot compile {file}: {message}")]
    Compile { file: String, message: String },
    #[error("validation failed (install): the bytecode compiler {python} {why}")]
    Worker { python: String, why: String },
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

crate::ground::exit::register!(BytecodeError);
impl crate::ground::exit::Reason for BytecodeError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Write { error, .. } => crate::ground::exit::Reason::status(error),
            Self::Sandbox(e) => crate::ground::exit::Reason::status(e),
            _ => crate::ground::exit::ExitStatus::Failure,
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Write { error, .. } => crate::ground::exit::Reason::help(error),
            Self::Sandbox(e) => crate::ground::exit::Reason::help(e),
            _ => Some(
                "the runtime was not installed; the current generation is unchanged (`[install] compile_bytecode = false` installs it without bytecode)"
                    .into(),
            ),
        }
    }
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> BytecodeError + '_ {
    move |error| BytecodeError::Write {
        path: path.to_owned(),
        error,
    }
}

/// The PEP 668 marker written into every standard library directory: pip (23.0 and later)
/// refuses to install into the interpreter and prints the `Error` text. Part of the recipe
/// ([`Recipe::id`] includes its hash): rewording it makes new entries.
pub(crate) const EXTERNALLY_MANAGED: &str = "\
[externally-managed]
Error=This Python runtime is managed by pyswap: it lives in a read-only, content-addressed
 store entry shared by every program that runs it, so nothing may be installed into it.
 Install packages into a virtual environment instead:
     python3 -m venv ~/venvs/app
     ~/venvs/app/bin/python -m pip install PACKAGE
 A venv made from the profile's minor path ($PYSWAP_HOME/profiles/<profile>@3.X/bin/python3)
 stays on that minor version across switches. `pyswap verify` names any file that was
 written into the store after all (pip --break-system-packages, --target, --prefix, --root).
";

/// Paths `CPython`'s `make install` does not compile (its `compileall -x` pattern): files that
/// are broken on purpose, for the tests of the tokenizer and of lib2to3.
pub(crate) const SKIPPED: [&str; 4] = [
    "bad_coding",
    "badsyntax",
    "lib2to3/tests/data",
    "test/test_lib2to3/data",
];

/// `co_filename` of the compiled code is this prefix and the path in the tree.
const DFILE_PREFIX: &str = "/install/";

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

/// What pyswap adds to an entry beyond the archive; stored as `entries.recipe` ([`Recipe::id`]),
/// and part of what makes an installed entry reusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recipe {
    /// Entries made before recipes existed (schema 5 and earlier): the archive's tree alone.
    Legacy,
    /// The PEP 668 marker, and the standard library's bytecode when `bytecode`.
    Sealed { bytecode: bool },
}

impl Recipe {
    /// The recipe `[install] compile_bytecode` asks for.
    pub(crate) fn new(bytecode: bool) -> Self {
        Self::Sealed { bytecode }
    }

    /// The text stored in `entries.recipe`: `pyc2-unchecked-hash-0+pep668-<12 hex>`, or
    /// `nopyc+pep668-<12 hex>`, or `''`. `pyc2` names the compile procedure of this module
    /// (worker, a fresh fork per file, exclusions, `co_filename`); it changes when that does
    /// (`pyc1`, one process per share of the sources, made bytes that depended on the share).
    pub(crate) fn id(self) -> String {
        match self {
            Self::Legacy => String::new(),
            Self::Sealed { bytecode } => {
                let marker = blake3::hash(EXTERNALLY_MANAGED.as_bytes()).to_hex();
                let code = if bytecode {
                    "pyc2-unchecked-hash-0"
                } else {
                    "nopyc"
                };
                format!("{code}+pep668-{}", &marker[..12])
            }
        }
    }

    /// The recipe an entry row records, if this pyswap knows it.
    pub(crate) fn parse(id: &str) -> Option<Self> {
        [Self::Legacy, Self::new(true), Self::new(false)]
            .into_iter()
            .find(|r| r.id() == id)
    }

    pub(crate) fn bytecode(self) -> bool {
        matches!(self, Self::Sealed { bytecode: true })
    }
}

/// What [`apply`] added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Added {
    /// `.py` files of the standard library found, and the `.pyc` files written for them.
    pub(crate) sources: usize,
    pub(crate) compiled: usize,
    /// Worker processes that ran.
    pub(crate) workers: usize,
    pub(crate) elapsed: Duration,
}

/// Each node's position, by path.
fn index_of(nodes: &[Node]) -> HashMap<&str, usize> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.path.as_str(), i))
        .collect()
}

/// The standard library directories of a tree: `lib/python3.X` and `lib/python3.Xt`.
fn stdlib_dirs(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.kind == Kind::Dir)
        .filter_map(|n| {
            let rest = n.path.strip_prefix("lib/python3.")?;
            let digits = rest.strip_suffix('t').unwrap_or(rest);
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.path.clone())
        })
        .collect()
}

/// Adds `recipe`'s files to the staged tree at `root` (sealed by the unpacker; `nodes` are its
/// nodes, extended here with what is written). The archive's sha256 must have been verified:
/// this runs the runtime's interpreter. On success the tree is sealed again. `compiling` is told
/// how many sources are compiled, before they are (the terminal says so).
pub(crate) fn apply(
    root: &Path,
    nodes: &mut Vec<Node>,
    recipe: Recipe,
    jobs: usize,
    sandbox: &Sandbox,
    compiling: &dyn Fn(usize),
) -> Result<Added, BytecodeError> {
    let started = Instant::now();
    let Recipe::Sealed { bytecode } = recipe else {
        return Ok(Added::default());
    };
    let stdlibs = stdlib_dirs(nodes);
    let index = index_of(nodes);
    let mut added = Vec::new();
    for dir in &stdlibs {
        let rel = format!("{dir}/EXTERNALLY-MANAGED");
        if !index.contains_key(rel.as_str()) {
            let _open = Unsealed::open(&root.join(dir))?;
            added.push(write_file(root, &rel, EXTERNALLY_MANAGED.as_bytes())?);
        }
    }
    let mut report = Added::default();
    if bytecode {
        let sources = sources(nodes, &index, &stdlibs);
        report.sources = sources.len();
        compiling(sources.len());
        if !sources.is_empty() {
            let caches = make_caches(root, &sources, &index, &mut added)?;
            let python = root.join("bin/python3");
            sandbox.check_reach(&python)?;
            let (files, workers) = compile(root, &python, sandbox, &sources, &index, jobs)?;
            report.compiled = files.len();
            report.workers = workers;
            added.extend(files);
            for cache in caches {
                let path = root.join(cache);
                fs::set_permissions(&path, fs::Permissions::from_mode(0o555))
                    .map_err(write_err(&path))?;
            }
        }
    }
    drop(index);
    nodes.extend(added);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One source to compile: its path in the tree, its size, and where its `.pyc` goes (the
/// `__pycache__` directory and the name before the cache tag).
#[derive(Debug)]
struct Source {
    path: String,
    size: u64,
    cache: String,
    stem: String,
}

/// The `.py` files under the standard library directories that get bytecode: regular files
/// with a plain name, not in [`SKIPPED`], whose directory can hold a `__pycache__` directory
/// (none there, or a real one). One whose `.pyc` the archive ships keeps it (see
/// [`read_frames`]).
fn sources(nodes: &[Node], index: &HashMap<&str, usize>, stdlibs: &[String]) -> Vec<Source> {
    let mut found = Vec::new();
    for n in nodes {
        let Kind::File { size, .. } = n.kind else {
            continue;
        };
        if !stdlibs.iter().any(|d| {
            n.path
                .strip_prefix(d.as_str())
                .is_some_and(|r| r.starts_with('/'))
        }) {
            continue;
        }
        let (dir, name) = n.path.rsplit_once('/').unwrap_or(("", &n.path));
        let Some(stem) = name.strip_suffix(".py") else {
            continue;
        };
        if stem.is_empty()
            || n.path.bytes().any(|b| b.is_ascii_control())
            || SKIPPED.iter().any(|s| n.path.contains(s))
        {
            continue;
        }
        let cache = format!("{dir}/__pycache__");
        match index.get(cache.as_str()).map(|&i| &nodes[i].kind) {
            None | Some(Kind::Dir) => {}
            Some(_) => continue,
        }
        found.push(Source {
            path: n.path.clone(),
            size,
            cache,
            stem: stem.to_owned(),
        });
    }
    found
}

/// A sealed directory made writable for as long as this lives.
struct Unsealed(PathBuf);

impl Unsealed {
    fn open(path: &Path) -> Result<Self, BytecodeError> {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(write_err(path))?;
        Ok(Self(path.to_owned()))
    }
}

impl Drop for Unsealed {
    fn drop(&mut self) {
        // Sealing again cannot fail where unsealing worked (the same owner, the same inode);
        // the staging directory is deleted anyway if anything after this fails.
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o555));
    }
}

/// Creates the `__pycache__` directories the sources need (writable until the compile ends);
/// returns them, and adds the new ones to `added`.
fn make_caches(
    root: &Path,
    sources: &[Source],
    index: &HashMap<&str, usize>,
    added: &mut Vec<Node>,
) -> Result<Vec<String>, BytecodeError> {
    let caches: Vec<String> = sources
        .iter()
        .map(|s| s.cache.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for cache in &caches {
        let path = root.join(cache);
        if index.contains_key(cache.as_str()) {
            // The archive's own (its existing .pyc files are kept): writable while compiling.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(write_err(&path))?;
            continue;
        }
        let parent = path.parent().unwrap_or(root);
        let _open = Unsealed::open(parent)?;
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(write_err(&path))?;
        added.push(Node {
            path: cache.clone(),
            kind: Kind::Dir,
        });
    }
    Ok(caches)
}

/// Writes a new read-only file of the tree (never following a link, never replacing anything),
/// hashing it as it goes.
fn write_file(root: &Path, rel: &str, data: &[u8]) -> Result<Node, BytecodeError> {
    let path = root.join(rel);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(write_err(&path))?;
    file.write_all(data).map_err(write_err(&path))?;
    file.set_permissions(fs::Permissions::from_mode(0o444))
        .map_err(write_err(&path))?;
    Ok(Node {
        path: rel.to_owned(),
        kind: Kind::File {
            exec: false,
            size: data.len() as u64,
            hash: *blake3::hash(data).as_bytes(),
        },
    })
}

/// Splits the sources over at most `jobs` workers, largest first onto the least loaded (compile
/// time follows size), so the workers finish together.
fn shares(sources: &[Source], jobs: usize) -> Vec<Vec<usize>> {
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
fn compile(
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
fn is_cache_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 40
        && !tag.starts_with('.')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// How many `.py` files of the standard library directories of `nodes` have their level-0
/// bytecode, and how many get it (`verify`, the tests).
pub fn coverage(nodes: &[Node]) -> (usize, usize) {
    let index = index_of(nodes);
    // `<dir>/__pycache__/<stem>.<tag>.pyc`, level 0 only: (cache directory, stem).
    let compiled: HashSet<(&str, &str)> = nodes
        .iter()
        .filter_map(|n| {
            let (cache, name) = n.path.rsplit_once('/')?;
            let (stem, tag) = name.strip_suffix(".pyc")?.rsplit_once('.')?;
            (cache.ends_with("__pycache__") && !tag.starts_with("opt-")).then_some((cache, stem))
        })
        .collect();
    let all = sources(nodes, &index, &stdlib_dirs(nodes));
    let with = all
        .iter()
        .filter(|s| compiled.contains(&(s.cache.as_str(), s.stem.as_str())))
        .count();
    (with, all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> Node {
        Node {
            path: path.into(),
            kind: Kind::File {
                exec: false,
                size,
                hash: [0; 32],
            },
        }
    }

    fn dir(path: &str) -> Node {
        Node {
            path: path.into(),
            kind: Kind::Dir,
        }
    }

    #[test]
    fn recipes_round_trip_and_differ() {
        for r in [Recipe::Legacy, Recipe::new(true), Recipe::new(false)] {
            assert_eq!(Recipe::parse(&r.id()), Some(r));
        }
        assert_eq!(Recipe::Legacy.id(), "");
        assert!(
            Recipe::new(true)
                .id()
                .starts_with("pyc2-unchecked-hash-0+pep668-")
        );
        assert_ne!(Recipe::new(true).id(), Recipe::new(false).id());
        assert_eq!(Recipe::parse("pyc9-something"), None);
    }

    #[test]
    fn sources_are_the_stdlib_py_files_cpython_compiles() {
        let nodes = vec![
            dir("lib"),
            dir("lib/python3.12"),
            file("lib/python3.12/os.py", 10),
            file("lib/python3.12/os.pyi", 10),
            file("lib/python3.12/.py", 1),
            dir("lib/python3.12/test"),
            file("lib/python3.12/test/badsyntax_3131.py", 1),
            file("lib/python3.12/test/bad_coding2.py", 1),
            dir("lib/python3.12/lib2to3/tests/data"),
            file("lib/python3.12/lib2to3/tests/data/py2_test_grammar.py", 1),
            dir("lib/python3.12/odd"),
            file("lib/python3.12/odd/__pycache__", 1),
            file("lib/python3.12/odd/x.py", 1),
            dir("lib/python3.13t"),
            file("lib/python3.13t/json.py", 3),
            dir("lib/python3.12/site-packages/pip"),
            file("lib/python3.12/site-packages/pip/__init__.py", 2),
            file("bin/tool.py", 1),
            dir("lib/python3.12x"),
            file("lib/python3.12x/no.py", 1),
        ];
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.path.as_str(), i))
            .collect();
        let got: Vec<String> = sources(&nodes, &index, &stdlib_dirs(&nodes))
            .into_iter()
            .map(|s| s.path)
            .collect();
        assert_eq!(
            got,
            [
                "lib/python3.12/os.py",
                "lib/python3.13t/json.py",
                "lib/python3.12/site-packages/pip/__init__.py"
            ]
        );
    }

    #[test]
    fn shares_balance_by_size() {
        let s = |size| Source {
            path: String::new(),
            size,
            cache: String::new(),
            stem: String::new(),
        };
        let sources = vec![s(100), s(60), s(50), s(10)];
        let got = shares(&sources, 2);
        assert_eq!(got, vec![vec![0, 3], vec![1, 2]]);
        assert_eq!(shares(&sources, 8).len(), 4);
        assert_eq!(shares(&[], 4).len(), 0);
    }

    #[test]
    fn cache_tags_are_file_name_safe() {
        assert!(is_cache_tag("cpython-312") && is_cache_tag("cpython-313t"));
        assert!(!is_cache_tag("../x") && !is_cache_tag("") && !is_cache_tag("a/b"));
    }
}
