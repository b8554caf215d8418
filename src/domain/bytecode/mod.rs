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

mod workers;

pub(crate) use workers::Compiler;
pub use workers::{PROBE_MARK, WORKER_MARK};
use workers::{compile, probe};
#[cfg(test)]
use workers::{is_cache_tag, shares};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ground::spawn::{Sandbox, SandboxError};
use crate::ground::tree::{Kind, Node};
use crate::storage::objects::Objects;

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
    #[error("cannot read which bytecode the store holds: {0}")]
    Prior(String),
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

/// Bytecode the store already holds, which [`apply`] links from its objects instead of
/// compiling a source again (issue 40).
pub(crate) struct Prior<'a> {
    pub(crate) objects: &'a Objects,
    /// The file indexes of the entries, made by the recipe being applied, whose bytecode the
    /// compiler with this [`Compiler::id`] compiled (newest first).
    pub(crate) indexes: &'a dyn Fn(&str) -> anyhow::Result<Vec<Vec<Node>>>,
}

/// What [`apply`] added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Added {
    /// `.py` files of the standard library found, the `.pyc` files compiled for them, and those
    /// linked from an earlier entry's (the same source, path and compiler).
    pub(crate) sources: usize,
    pub(crate) compiled: usize,
    pub(crate) reused: usize,
    /// Which interpreter compiles this tree's bytecode ([`Compiler::id`]), when it has any.
    pub(crate) compiler: Option<String>,
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
/// this runs the runtime's interpreter. On success the tree is sealed again. A `.pyc` that
/// `prior` holds for the same source, path and compiler is linked, the rest compiled;
/// `compiling` is told how many sources are compiled, before they are (the terminal says so).
pub(crate) fn apply(
    root: &Path,
    nodes: &mut Vec<Node>,
    recipe: Recipe,
    jobs: usize,
    sandbox: &Sandbox,
    prior: &Prior,
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
        if !sources.is_empty() {
            let caches = make_caches(root, &sources, &index, &mut added)?;
            let python = root.join("bin/python3");
            sandbox.check_reach(&python)?;
            let compiler = probe(root, &python, sandbox)?;
            let (linked, rest) = reuse(root, nodes, sources, &index, &compiler, prior)?;
            crate::ground::crash::point("bytecode:reused");
            report.reused = linked.len();
            report.compiler = Some(compiler.id);
            added.extend(linked);
            compiling(rest.len());
            if !rest.is_empty() {
                let (files, workers) = compile(root, &python, sandbox, &rest, &index, jobs)?;
                report.compiled = files.len();
                report.workers = workers;
                added.extend(files);
            }
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

/// Links, for each source, the `.pyc` that an earlier entry compiled by the same compiler holds
/// for the same bytes at the same path, from its object (content checked); returns the linked
/// files and the sources left to compile. A `.pyc` the archive ships is never replaced.
fn reuse(
    root: &Path,
    nodes: &[Node],
    sources: Vec<Source>,
    index: &HashMap<&str, usize>,
    compiler: &Compiler,
    prior: &Prior,
) -> Result<(Vec<Node>, Vec<Source>), BytecodeError> {
    let earlier =
        (prior.indexes)(&compiler.id).map_err(|e| BytecodeError::Prior(format!("{e:#}")))?;
    if earlier.is_empty() {
        return Ok((Vec::new(), sources));
    }
    let earlier: Vec<HashMap<&str, &Kind>> = earlier
        .iter()
        .map(|tree| tree.iter().map(|n| (n.path.as_str(), &n.kind)).collect())
        .collect();
    let (mut linked, mut rest) = (Vec::new(), Vec::new());
    for s in sources {
        let pyc = format!("{}/{}.{}.pyc", s.cache, s.stem, compiler.cache_tag);
        let source = match index.get(s.path.as_str()).map(|&i| &nodes[i].kind) {
            Some(Kind::File { hash, .. }) if !index.contains_key(pyc.as_str()) => *hash,
            _ => {
                rest.push(s);
                continue;
            }
        };
        let code = earlier.iter().find_map(|tree| {
            match (tree.get(s.path.as_str()), tree.get(pyc.as_str())) {
                (
                    Some(Kind::File { hash, .. }),
                    Some(Kind::File {
                        hash: code,
                        exec: false,
                        ..
                    }),
                ) if *hash == source => Some(*code),
                _ => None,
            }
        });
        let dest = root.join(&pyc);
        match code.map(|c| (c, prior.objects.link_to(&c, false, &dest))) {
            Some((hash, Ok(Some(size)))) => linked.push(Node {
                path: pyc,
                kind: Kind::File {
                    exec: false,
                    size,
                    hash,
                },
            }),
            Some((_, Err(e))) => return Err(write_err(&dest)(e)),
            _ => rest.push(s),
        }
    }
    Ok((linked, rest))
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
/// `workers::read_frames`).
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
