//! The test harness: a private `PYSWAP_HOME` per test, archives and catalogues built here, and a
//! small HTTP server on 127.0.0.1 that can misbehave on purpose.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub use crate::server::{Behaviour, Server};

pub const PLATFORM: &str = "linux-x86_64-gnu";

pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub served: PathBuf,
    pub entries: BTreeMap<String, serde_json::Value>,
}

pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(o: &Output) -> Self {
        Self::from(o)
    }

    fn from(o: &Output) -> Self {
        Self {
            code: o.status.code(),
            signal: o.status.signal(),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        let errors = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count();
        assert_eq!(errors, 1, "exactly one error line:\n{}", self.stderr);
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// How a synthetic runtime's `bin/python3` behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fake {
    Good,
    /// Exits 1 with an `ImportError`, as a build missing `_ssl` would.
    BrokenSsl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gz,
    Zst,
}

impl TestContext {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // As a home's parents are on a host (`/var/lib`): others may pass through. Root's
        // sandbox user (`nobody`) compiles and validates each new runtime in the store.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let home = dir.path().join("home");
        let served = dir.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        Self {
            dir,
            home,
            served,
            entries: BTreeMap::new(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pyswap"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            // COLUMNS: a pipe's listings are whole unless a test asks for a width.
            if k.starts_with("PYSWAP_")
                || k.ends_with("_PROXY")
                || k.ends_with("_proxy")
                || k == "COLUMNS"
            {
                c.env_remove(&*k);
            }
        }
        c.env("PYSWAP_HOME", &self.home)
            .env("PYSWAP_PLATFORM", PLATFORM)
            .env("NO_COLOR", "1")
            // Retries without the production back-off, so that failing tests stay fast.
            .env("PYSWAP_HTTP_BACKOFF", "5ms")
            .env("HOME", self.dir.path());
        c.env("PYSWAP_CATALOGUE", self.catalogue_path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(&self.cmd().args(args).output().unwrap())
    }

    /// Runs in working directory `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        Run::from(&self.cmd().current_dir(dir).args(args).output().unwrap())
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(&c.output().unwrap())
    }

    pub fn catalogue_path(&self) -> PathBuf {
        self.served.join("catalogue.json")
    }

    /// Adds a synthetic runtime archive and its catalogue entry (served from file://).
    pub fn add(&mut self, version: &str, fake: Fake, comp: Compression) -> String {
        let data = synthetic_archive(version, fake, comp);
        self.add_archive(version, &data, comp)
    }

    /// Adds an archive under `cpython-<version>-<PLATFORM>` with its true sha256.
    pub fn add_archive(&mut self, version: &str, data: &[u8], comp: Compression) -> String {
        let sha = sha256_hex(data);
        self.add_archive_with_sha(version, data, comp, &sha)
    }

    pub fn add_archive_with_sha(
        &mut self,
        version: &str,
        data: &[u8],
        comp: Compression,
        sha: &str,
    ) -> String {
        let ext = if comp == Compression::Gz {
            "tar.gz"
        } else {
            "tar.zst"
        };
        let file = format!("cpython-{version}-x86_64-unknown-linux-gnu-install_only.{ext}");
        std::fs::write(self.served.join(&file), data).unwrap();
        let url = format!("file://{}", self.served.join(&file).display());
        self.add_entry(version, &url, sha)
    }

    pub fn add_entry(&mut self, version: &str, url: &str, sha: &str) -> String {
        let key = format!("cpython-{version}-{PLATFORM}");
        let (release, pre) = match version.find(|c: char| c.is_ascii_alphabetic()) {
            Some(i) => (&version[..i], &version[i..]),
            None => (version, ""),
        };
        let parts: Vec<u64> = release.split('.').map(|p| p.parse().unwrap()).collect();
        let entry = serde_json::json!({
            "name": "cpython", "arch": {"family": "x86_64", "variant": null}, "os": "linux", "libc": "gnu",
            "major": parts[0], "minor": parts[1], "patch": parts[2], "prerelease": pre,
            "url": url, "sha256": sha, "variant": null, "build": "20260101"
        });
        self.entries.insert(key.clone(), entry);
        self.write_catalogue();
        key
    }

    pub fn set_url(&mut self, version: &str, url: &str) {
        let key = format!("cpython-{version}-{PLATFORM}");
        self.entries.get_mut(&key).unwrap()["url"] = url.into();
        self.write_catalogue();
    }

    pub fn write_catalogue(&self) {
        std::fs::write(
            self.catalogue_path(),
            serde_json::to_vec_pretty(&self.entries).unwrap(),
        )
        .unwrap();
    }

    pub fn profile_python(&self) -> PathBuf {
        self.home.join("profiles/default/bin/python3")
    }

    /// The version the profile's python reports, or None if the profile does not resolve.
    pub fn profile_version(&self) -> Option<String> {
        // A synthetic python ignores its arguments and prints its report; a real one runs this.
        let script =
            "import json, sys; print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3]}))";
        let out = Command::new(self.profile_python())
            .args(["-c", script])
            .env_remove("PYTHONDONTWRITEBYTECODE")
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v["version"].as_str()?.to_owned())
    }

    pub fn store_names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.home.join("store"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn tmp_files(&self) -> usize {
        std::fs::read_dir(self.home.join("tmp")).map_or(0, std::iter::Iterator::count)
    }

    /// The invariants that must hold at every instant: every row's tree is complete and matches
    /// its digest, the database is consistent, and the profile (if any) resolves to a runtime.
    #[track_caller]
    pub fn assert_consistent(&self) {
        let db = pyswap::storage::db::Db::open(&self.home.join("pyswap.db")).unwrap();
        assert!(db.integrity_ok().unwrap());
        for e in db.entries().unwrap() {
            let root = self.home.join("store").join(&e.name);
            let mut nodes = pyswap::ground::tree::scan(&root)
                .unwrap_or_else(|err| panic!("row {} has no complete tree: {err}", e.name));
            assert_eq!(
                pyswap::ground::tree::digest(&mut nodes),
                e.tree_digest,
                "tree of {} does not match its digest",
                e.name
            );
            assert!(e.name.starts_with(&e.tree_digest));
        }
        for g in db.all_generations().unwrap() {
            assert!(db.entry_by_name(&g.entry_name).unwrap().is_some());
        }
        if self
            .home
            .join("profiles/default")
            .symlink_metadata()
            .is_ok()
        {
            assert!(
                self.profile_version().is_some(),
                "profile link exists but does not run"
            );
        }
    }
}

/// A context whose profile is already at a good 3.11.9, to prove it survives.
pub fn with_current() -> TestContext {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11.9"]).ok();
    t
}

/// The profile is still at 3.11.9 with one generation and one store entry, and all is valid.
#[track_caller]
pub fn nothing_lost(t: &TestContext) {
    assert_eq!(
        t.profile_version().as_deref(),
        Some("3.11.9"),
        "current runtime unchanged"
    );
    assert_eq!(
        t.store_names().len(),
        1,
        "no new store entry: {:?}",
        t.store_names()
    );
    assert_eq!(t.tmp_files(), 0, "no download left behind");
    let gens = t.run(&["generations", "--json"]).ok().json();
    assert_eq!(gens.as_array().unwrap().len(), 1);
    t.assert_consistent();
}

/// `len` pseudo-random bytes (xorshift64 from `seed`), each state mapped to a byte by `byte`.
pub fn noise(seed: u64, len: usize, byte: impl Fn(u64) -> u8) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            byte(x)
        })
        .collect()
}

/// A synthetic runtime with 512 KiB of incompressible data, so that a download has a middle.
pub fn big_archive(version: &str, comp: Compression) -> Vec<u8> {
    let noise = noise(0x9e37_79b9_7f4a_7c15, 512 * 1024, |x| x as u8);
    compress(
        &synthetic_tar(version, Fake::Good, |b| {
            append_file(b, "python/lib/noise.bin", &noise, 0o644);
        }),
        comp,
    )
}

impl TestContext {
    /// Adds `data` as the archive of `version`, served by `server`; returns its file name.
    pub fn serve(
        &mut self,
        server: &Server,
        version: &str,
        data: &[u8],
        comp: Compression,
    ) -> String {
        self.add_archive(version, data, comp);
        let ext = if comp == Compression::Gz {
            "tar.gz"
        } else {
            "tar.zst"
        };
        let file = format!("cpython-{version}-x86_64-unknown-linux-gnu-install_only.{ext}");
        self.set_url(version, &server.url(&file));
        file
    }

    /// Sets a field of `version`'s catalogue entry.
    pub fn set_field(&mut self, version: &str, field: &str, value: serde_json::Value) {
        let key = format!("cpython-{version}-{PLATFORM}");
        self.entries.get_mut(&key).unwrap()[field] = value;
        self.write_catalogue();
    }

    /// The partial download of an archive, if any.
    pub fn partial(&self, data: &[u8]) -> PathBuf {
        self.home
            .join("cache")
            .join(format!("{}.partial", sha256_hex(data)))
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    pyswap::network::fetch::hex(&Sha256::digest(data))
}

pub fn append_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(0);
    b.append_data(&mut h, path, data).unwrap();
}

pub fn append_symlink(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o777);
    h.set_entry_type(tar::EntryType::Symlink);
    b.append_link(&mut h, path, target).unwrap();
}

pub fn compress(tar: &[u8], comp: Compression) -> Vec<u8> {
    match comp {
        Compression::Gz => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zst => zstd::encode_all(tar, 3).unwrap(),
    }
}

/// A small `install_only` tree whose `bin/python3` is a shell script answering the diagnostic.
pub fn synthetic_tar(
    version: &str,
    fake: Fake,
    extra: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) -> Vec<u8> {
    let minor: Vec<&str> = version.split('.').collect();
    let short = format!("{}.{}", minor[0], minor[1]);
    // pyswap's bytecode compiler runs every new runtime's interpreter with the worker script; a
    // shell script cannot compile Python, so it answers the worker's protocol with stand-in
    // bytes for each source (pyswap writes, hashes and seals them as it would real ones).
    let compile = format!(
        "if [ \"${{10}}\" = {mark} ]; then\n  IFS= read -r n; dd bs=1 count=\"$n\" of=/dev/null 2>/dev/null\n  printf 'T fake-{tag}\\n'; i=0\n  while IFS= read -r p; do d=\"stand-in bytecode of $p\"; printf 'P %d %d\\n%s' \"$i\" \"${{#d}}\" \"$d\"; i=$((i+1)); done\n  printf 'D\\n'; exit 0\nfi\n",
        mark = pyswap::domain::bytecode::WORKER_MARK,
        tag = short.replace('.', ""),
    );
    // And the probe of which compiler it is: a magic number of its own, its version.
    let hexversion = minor
        .iter()
        .take(3)
        .map(|p| p.parse::<u32>().unwrap_or(0))
        .fold(0, |v, p| (v << 8) | p);
    let compile = format!(
        "if [ \"$6\" = {probe} ]; then printf '0000fa4e-%08x-fake-{tag}' {hexversion}; exit 0; fi\n{compile}",
        probe = pyswap::domain::bytecode::PROBE_MARK,
        tag = short.replace('.', ""),
        hexversion = (hexversion << 8) | 0xf0,
    );
    let script = match fake {
        Fake::Good => {
            let soabi = format!("cpython-{}{}-x86_64-linux-gnu", minor[0], minor[1]);
            format!(
                "#!/bin/sh\n{compile}# Like CPython, take the prefix from the executable file's real path.\nhere=$(cd \"$(dirname \"$(readlink -f \"$0\")\")/..\" && pwd -P)\nif [ \"$1 $2\" = '-c import encodings' ]; then\n  # Like CPython, find the prefix from the executable actually running (the script this\n  # shell holds open), not from a second lookup of the path.\n  for f in /proc/$$/fd/*; do l=$(readlink \"$f\"); case $l in */bin/python*) here=${{l%/bin/*}};; esac; done\n  test -f \"$here/lib/python{short}/encodings/__init__.py\" && exit 0\n  echo \"ModuleNotFoundError: No module named 'encodings' under $here\" >&2; exit 1\nfi\nprintf '{{\"implementation\":\"cpython\",\"version\":\"{version}\",\"soabi\":\"{soabi}\",\"abiflags\":\"\",\"platform\":\"linux-x86_64\",\"prefix\":\"%s\",\"stdlib\":\"%s/lib/python{short}\",\"failed\":{{}}}}\\n' \"$here\" \"$here\"\n"
            )
        }
        Fake::BrokenSsl => format!(
            "#!/bin/sh\n{compile}echo 'ImportError: libssl.so.3: cannot open shared object file' >&2\nexit 1\n"
        ),
    };
    let mut b = tar::Builder::new(Vec::new());
    append_file(
        &mut b,
        &format!("python/bin/python{short}"),
        script.as_bytes(),
        0o755,
    );
    append_symlink(&mut b, "python/bin/python3", &format!("python{short}"));
    append_file(
        &mut b,
        &format!("python/lib/python{short}/os.py"),
        format!("# os for {version}\n").as_bytes(),
        0o644,
    );
    append_file(
        &mut b,
        &format!("python/lib/python{short}/encodings/__init__.py"),
        b"",
        0o644,
    );
    append_file(&mut b, "python/include/Python.h", version.as_bytes(), 0o644);
    extra(&mut b);
    b.into_inner().unwrap()
}

pub fn synthetic_archive(version: &str, fake: Fake, comp: Compression) -> Vec<u8> {
    compress(&synthetic_tar(version, fake, |_| {}), comp)
}

/// This machine's `CPython`, packed as python-build-standalone packs it, once per test run:
/// (version, archive bytes).
pub fn real_cpython() -> &'static (String, Vec<u8>) {
    packed_cpython("python3", None)
}

/// The `CPython` that `python` runs (a name on PATH or a path: `python3` is pyenv's 3.11.7 on
/// this project's machines, `/usr/bin/python3.11` Debian's 3.11.2), packed by
/// `scripts/pack_cpython.py` as upstream packs an `install_only` .tar.gz (no bytecode, every
/// mtime 2024-01-01, `python/` prefix, RUNPATH `$ORIGIN/../lib`) once per test run; `marker`
/// adds a file `BUILD` with that text, making another build of the same version.
/// Returns (version, archive bytes).
pub fn packed_cpython(python: &str, marker: Option<&str>) -> &'static (String, Vec<u8>) {
    match marker {
        Some(m) => packed(python, &["--marker", m]),
        None => packed(python, &[]),
    }
}

/// [`packed_cpython`] with the packer's other options (`--bytecode`, `--broken REL`,
/// `--regrtest NAMES`, `--compression zst`).
pub fn packed(python: &str, options: &[&str]) -> &'static (String, Vec<u8>) {
    type Packs = std::sync::Mutex<BTreeMap<Vec<String>, &'static (String, Vec<u8>)>>;
    static CACHE: OnceLock<Packs> = OnceLock::new();
    let mut key = vec![python.to_owned()];
    key.extend(options.iter().map(|&o| o.to_owned()));
    let cache = CACHE.get_or_init(Packs::default);
    if let Some(found) = cache.lock().unwrap().get(&key) {
        return found;
    }
    let packed: &'static (String, Vec<u8>) = Box::leak(Box::new(pack_cpython(python, options)));
    cache.lock().unwrap().insert(key, packed);
    packed
}

fn pack_cpython(python: &str, options: &[&str]) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("python.tar.gz");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pack_cpython.py");
    let done = Command::new(python)
        .arg(&script)
        .arg(&out)
        .args(options)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("{python} must be on this machine to pack a real CPython: {e}"));
    assert!(
        done.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&done.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    let version = info["version"].as_str().unwrap().to_owned();
    (version, std::fs::read(&out).unwrap())
}

/// The store entry the profile runs.
pub fn current_entry(t: &TestContext) -> PathBuf {
    let cur = t.run(&["current", "--json"]).ok().json();
    std::fs::canonicalize(cur["store_path"].as_str().unwrap()).unwrap()
}

/// Every regular file under `dir`, relative and sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(root, &e.path(), out);
            } else if ft.is_file() {
                out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `program args` as a user runs it: with the environment of the tests, less the variables
/// that would hide what a user sees (`PYTHONDONTWRITEBYTECODE`, `PYTHONPATH`, pip's).
pub fn as_user(program: &Path) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("PIP_") || k == "PYTHONDONTWRITEBYTECODE" || k == "PYTHONPATH" {
            c.env_remove(&*k);
        }
    }
    c
}

/// `program args` as `nobody` (uid 65534), who can read the test's directories only once
/// [`TestContext::open_to_others`] made them reachable.
pub fn as_nobody(program: &Path) -> Command {
    let mut c = as_user(Path::new("setpriv"));
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(program);
    c
}

impl TestContext {
    /// `pyswap` run as user `uid` (its own group, no others) on this test's home.
    pub fn pyswap_as(&self, uid: u32) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={uid}"))
            .args(["--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_pyswap"))
            .env("PYSWAP_HOME", &self.home)
            .env("PYSWAP_CATALOGUE", self.catalogue_path())
            .env("PYSWAP_PLATFORM", PLATFORM)
            .env("HOME", self.dir.path());
        c
    }

    /// Makes the test's directory reachable by other users (tempdirs are 0700).
    pub fn open_to_others(&self) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Waits until the second changes (file change times are compared in whole seconds).
pub fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()) + 50_000_000,
    ));
}

/// Whether a root-only test can run. Without root it says so on stderr and the test returns;
/// under CI (`CI` set) it fails instead, so a CI run never passes by skipping.
pub fn root_or_skip(what: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} needs root, and CI must run it"
    );
    eprintln!("NOTICE (skipped): {what} needs root; it did not run");
    false
}

/// `program args` started, and a moment to get going (it must have opened, mapped or entered
/// what it uses before the test goes on).
pub fn started(c: &mut Command) -> Child {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the holder did not start");
    child
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that maps `file` read-only, closes it (only `maps` names it then) and waits.
pub fn mapper(file: &Path) -> Killed {
    let script = "import mmap, sys, time\nf = open(sys.argv[1], 'rb')\nm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\nf.close()\nprint('ready', flush=True)\ntime.sleep(120)\n";
    Killed(started(
        Command::new("python3").args(["-c", script]).arg(file),
    ))
}

/// A home whose profile ran 3.11.8 (generation 1), then 3.11.9 (generation 2, current).
pub fn two_generations() -> TestContext {
    let mut t = TestContext::new();
    t.add("3.11.8", Fake::Good, Compression::Gz);
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11.8"]).ok();
    t.run(&["switch", "3.11.9"]).ok();
    t
}

pub fn entry_dir(t: &TestContext, n: u64) -> PathBuf {
    let db = pyswap::storage::db::Db::open(&t.home.join("pyswap.db")).unwrap();
    let name = db.generation("default", n).unwrap().unwrap().entry_name;
    t.home.join("store").join(name)
}

/// `pyswap ARGS` run by `nobody` on the test's home.
pub fn run_as_nobody(t: &TestContext, args: &[&str]) -> std::process::Output {
    t.pyswap_as(65534).args(args).output().unwrap()
}

/// Runs `script` with `sh -c` as `nobody`.
pub fn as_nobody_sh(script: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "sh",
            "-c",
        ])
        .arg(script)
        .output()
        .unwrap()
}
