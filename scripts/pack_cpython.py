"""Packs this machine's CPython as python-build-standalone packs an `install_only` archive.

Used by the integration tests (tests/it/common.rs), scripts/try-offline.sh and the benchmarks:

    python3 scripts/pack_cpython.py OUT.tar.gz [--python P] [--marker TEXT] [--compression gz|zst|none]
                                   [--bytecode] [--regrtest NAME,...] [--broken REL]

or from Python: `from pack_cpython import pack; info = pack("out.tar.gz", marker=None)`. Prints / returns
{"version", "short", "arch", "sha256", "size", "members", "py_files"}.

What upstream's archives look like, and so what this writes (python-build-standalone's
`cpython-unix/build-cpython.sh` deletes every `__pycache__` before packing, "downstream consumers
don't require bytecode files"; `pythonbuild/utils.py` gives every member the mtime DEFAULT_MTIME,
2024-01-01; its interpreter finds libpython through RUNPATH `$ORIGIN/../lib`):

- `python/bin/python3.X` with its RUNPATH set to `$ORIGIN/../lib` by patchelf (the pyenv builds
  on this project's machines point into the pyenv tree, which other users may not read), the links
  `python3` and `python` to it, and the `pip`, `pip3`, `pip3.X` launchers;
- `python/lib/libpython3*` and `python/include/python3.X/`;
- `python/lib/python3.X/`: the whole standard library (idlelib, tkinter, turtledemo, lib2to3 and
  its deliberately broken test data included), without `__pycache__`, without `test/` (upstream's
  install_only archives strip the regression tests; `--regrtest` keeps `test/support`,
  `test/libregrtest`, the data the import and compile tests read and the named tests, to run CPython's own tests on an installed runtime),
  without `config-*/*.a` (a 40 MB static library nothing at run time reads);
- `python/lib/python3.X/site-packages/`: only pip, unpacked from ensurepip's bundled wheel as
  ensurepip installs it (this machine's own site-packages holds hundreds of unrelated packages);
- every member: mtime 1704067200 (2024-01-01 UTC), owner 0:0, no user or group names, in sorted
  order, so that two packs of the same tree are the same archive.

`--rebuild TAG` and `--touch one|1/N` make a later build of the same tree (see `_Packer`).
`--module NAME=FILE` adds FILE as the stdlib module NAME (a test's probe of who runs the archive's code).
`--marker TEXT` adds `python/BUILD` and the stdlib module `pyswap_build` (`MARK = TEXT`) (two packs of one interpreter become two builds); `--bytecode`
adds timestamp `.pyc` files at optimisation level 0 as an archive that ships bytecode would (for
the one test about that case); `--broken REL` adds a `.py` with a syntax error at `lib/python3.X/REL`.
"""
import argparse
import hashlib
import importlib.util
import io
import json
import marshal
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

MTIME = 1704067200  # python-build-standalone's DEFAULT_MTIME: 2024-01-01T00:00:00Z
DROPPED_DIRS = {"__pycache__", "site-packages", "dist-packages"}
REGRTEST_KEEP = ("__init__.py", "__main__.py", "regrtest.py", "support", "libregrtest",
                 "tokenizedata", "lock_tests.py")


def _info(name, kind=tarfile.REGTYPE, mode=0o644, size=0):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _Packer:
    def __init__(self, tar, rebuild=None, touch=None, stdlib=None):
        self.tar, self.py_files = tar, 0
        # A later build of the same tree (benches/incremental.py): every ELF file gets `rebuild`
        # as trailing bytes (loaders ignore them: a new compile of every binary), and the stdlib
        # sources `touch` picks ("one": the first; "1/N": every Nth) a comment line.
        self.rebuild, self.touch, self.stdlib, self.stdlib_py = rebuild, touch, stdlib, 0

    def _rebuilt(self, name, data):
        if self.rebuild is None:
            return data
        if data[:4] == b"\x7fELF":
            return data + b"\0pyswap-rebuild " + self.rebuild.encode()
        if self.touch and name.endswith(".py") and name.startswith(self.stdlib + "/") \
                and "/site-packages/" not in name:
            i, self.stdlib_py = self.stdlib_py, self.stdlib_py + 1
            every = 0 if self.touch == "one" else int(self.touch.split("/")[1])
            if (i == 0) if every == 0 else (i % every == 0):
                return data + b"\n# rebuild " + self.rebuild.encode() + b"\n"
        return data

    def dir(self, name):
        self.tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))

    def file(self, name, data, mode=0o644):
        data = self._rebuilt(name, data)
        self.tar.addfile(_info(name, mode=mode, size=len(data)), io.BytesIO(data))
        if name.endswith(".py"):
            self.py_files += 1

    def link(self, name, target):
        info = _info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.tar.addfile(info)

    def tree(self, src, name, keep=lambda rel: True, rel=""):
        """`src` as `name`, in sorted order; symlinks stay links unless absolute (copied)."""
        self.dir(name)
        for entry in sorted(os.listdir(src)):
            path, child, sub = os.path.join(src, entry), f"{name}/{entry}", f"{rel}{entry}"
            if entry in DROPPED_DIRS or not keep(sub):
                continue
            if os.path.islink(path) and not os.path.isabs(os.readlink(path)):
                self.link(child, os.readlink(path))
            elif os.path.isdir(path):
                self.tree(path, child, keep, sub + "/")
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    self.file(child, f.read(), 0o755 if os.access(path, os.X_OK) else 0o644)


def _relocatable(binary, work):
    """A copy of `binary` whose RUNPATH is `$ORIGIN/../lib`, as upstream's."""
    patchelf = shutil.which("patchelf")
    if patchelf is None:
        sys.exit("pack_cpython: patchelf is needed to make the packed interpreter relocatable "
                 "(apt-get install patchelf)")
    copy = os.path.join(work, os.path.basename(binary))
    shutil.copy(binary, copy)
    subprocess.run([patchelf, "--set-rpath", "$ORIGIN/../lib", copy], check=True)
    with open(copy, "rb") as f:
        return f.read()


def _pip_wheel(stdlib):
    """ensurepip's bundled pip wheel (Debian's python ships none: /usr/share/python-wheels)."""
    for bundled in (os.path.join(stdlib, "ensurepip", "_bundled"), "/usr/share/python-wheels"):
        if os.path.isdir(bundled):
            wheels = sorted(n for n in os.listdir(bundled) if n.startswith("pip-") and n.endswith(".whl"))
            if wheels:
                return os.path.join(bundled, wheels[-1])
    return None


def _site_packages(p, stdlib, name):
    """pip installed into site-packages as ensurepip does: the wheel's files, plus INSTALLER."""
    p.dir(name)
    made = {name}
    wheel_path = _pip_wheel(stdlib)
    if wheel_path is None:
        return
    with zipfile.ZipFile(wheel_path) as wheel:
        members = [i for i in wheel.infolist() if not i.is_dir()]
        for info in sorted(members, key=lambda i: i.filename):
            parts = info.filename.split("/")
            for depth in range(1, len(parts)):
                d = name + "/" + "/".join(parts[:depth])
                if d not in made:
                    made.add(d)
                    p.dir(d)
            p.file(f"{name}/{info.filename}", wheel.read(info))
            if parts[0].endswith(".dist-info") and parts[1] == "RECORD":
                p.file(f"{name}/{parts[0]}/INSTALLER", b"pip\n")


def _launcher(short):
    # python-build-standalone's launchers: a shell trampoline that needs no absolute path. Its
    # second and third lines are both sh and Python: sh runs `exec` on the interpreter beside the
    # launcher; Python reads one string literal (from ''' to ''') and goes on.
    trampoline = "'''exec' \"$(dirname -- \"$0\")/python" + short + "\" \"$0\" \"$@\"\n' '''\n"
    return ("#!/bin/sh\n" + trampoline +
            "import re, sys\nfrom pip._internal.cli.main import main\n"
            "if __name__ == '__main__':\n"
            "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
            "    sys.exit(main())\n").encode()


def _with_bytecode(p, stdlib_src, name):
    """Timestamp .pyc files for every .py already packed under `name` (level 0, as CPython's
    own import would write them for the archive's mtimes)."""
    members = [m for m in p.tar.getmembers() if m.name.startswith(name + "/") and m.name.endswith(".py")]
    tag = sys.implementation.cache_tag
    dirs = set()
    for m in members:
        rel = m.name[len(name) + 1:]
        src = os.path.join(stdlib_src, rel)
        if not os.path.isfile(src) or "lib2to3/tests/data" in rel or "bad" in os.path.basename(rel):
            continue
        with open(src, "rb") as f:
            data = f.read()
        try:
            code = compile(data, m.name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        head, tail = os.path.split(m.name)
        cache = f"{head}/__pycache__"
        if cache not in dirs:
            dirs.add(cache)
            p.dir(cache)
        pyc = (importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + MTIME.to_bytes(4, "little")
               + (len(data) & 0xFFFFFFFF).to_bytes(4, "little") + marshal.dumps(code))
        p.file(f"{cache}/{tail[:-3]}.{tag}.pyc", pyc)


def pack(path, marker=None, python=None, compression="gz", bytecode=False, regrtest=(),
         broken=None, modules=(), rebuild=None, touch=None):
    """Packs the CPython that `python` runs (default: this one); see the module's docstring.
    `marker` may be text or bytes."""
    if isinstance(marker, bytes):
        marker = marker.decode()
    if python and os.path.realpath(python) != os.path.realpath(sys.executable):
        argv = [python, os.path.abspath(__file__), path, "--compression", compression or "none"]
        argv += ["--marker", marker] if marker else []
        argv += ["--bytecode"] if bytecode else []
        argv += ["--regrtest", ",".join(regrtest)] if regrtest else []
        argv += ["--broken", broken] if broken else []
        for m in modules:
            argv += ["--module", m]
        argv += ["--rebuild", rebuild] if rebuild else []
        argv += ["--touch", touch] if touch else []
        out = subprocess.run(argv, check=True, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")).stdout
        return json.loads(out)
    prefix, v = sys.base_prefix, sys.version_info
    short = f"{v.major}.{v.minor}"
    stdlib = os.path.join(prefix, "lib", f"python{short}")
    lib = f"python/lib/python{short}"
    mode = {"gz": "w:gz", "zst": "w", None: "w", "none": "w"}[compression]
    target = path + ".tar-tmp" if compression == "zst" else path
    level = {"compresslevel": 1} if mode == "w:gz" else {}
    regrtest = tuple(regrtest)

    def keep(rel):
        parts = rel.split("/")
        if parts[0].startswith("config-") and rel.endswith(".a"):
            return False
        if parts[0] != "test":
            return True
        if len(parts) == 1:
            return bool(regrtest)
        # Before 3.13 the tokenizer's broken-on-purpose data files (test_py_compile reads them)
        # sit in test/ itself; 3.13 moved them into test/tokenizedata.
        return (parts[1] in REGRTEST_KEEP or parts[1] in regrtest or parts[1][:-3] in regrtest
                or parts[1].startswith(("bad_coding", "badsyntax")))

    with tempfile.TemporaryDirectory() as work, tarfile.open(target, mode, format=tarfile.GNU_FORMAT, **level) as tar:
        p = _Packer(tar, rebuild, touch, lib)
        for d in ("python", "python/bin", "python/lib", "python/include"):
            p.dir(d)
        p.file(f"python/bin/python{short}", _relocatable(os.path.realpath(os.path.join(prefix, "bin", f"python{short}")), work), 0o755)
        p.link("python/bin/python3", f"python{short}")
        p.link("python/bin/python", f"python{short}")
        for launcher in ("pip", "pip3", f"pip{short}"):
            p.file(f"python/bin/{launcher}", _launcher(short), 0o755)
        for entry in sorted(os.listdir(os.path.join(prefix, "lib"))):
            src = os.path.join(prefix, "lib", entry)
            if not entry.startswith("libpython"):
                continue
            if os.path.islink(src):
                p.link(f"python/lib/{entry}", os.readlink(src))
            else:
                with open(src, "rb") as f:
                    p.file(f"python/lib/{entry}", f.read(), 0o755)
        include = os.path.join(prefix, "include", f"python{short}")
        if os.path.isdir(include):
            p.tree(include, f"python/include/python{short}")
        p.tree(stdlib, lib, keep)
        _site_packages(p, stdlib, f"{lib}/site-packages")
        if broken:
            p.file(f"{lib}/{broken}", b"def broken(:\n    pass\n")
        if bytecode:
            _with_bytecode(p, stdlib, lib)
        for m in modules:
            name, _, source = m.partition("=")
            with open(source, "rb") as f:
                p.file(f"{lib}/{name}.py", f.read())
        if marker:
            p.file("python/BUILD", marker.encode())
            # A stdlib module that differs between the two builds: what a process imports after
            # a switch shows which build's standard library it reads.
            p.file(f"{lib}/pyswap_build.py", f"MARK = {marker.strip()!r}\n".encode())
        members, py_files = len(tar.getmembers()), p.py_files
    if compression == "zst":
        subprocess.run(["zstd", "-q", "-f", "-10", "-T0", "--rm", target, "-o", path], check=True)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {"version": f"{v.major}.{v.minor}.{v.micro}", "short": short, "arch": os.uname().machine,
            "sha256": sha, "size": os.path.getsize(path), "members": members, "py_files": py_files}


def pyenv_trees():
    """The newest pyenv tree of each CPython minor 3.9 to 3.13 on this machine (under
    $PYENV_ROOT or ~/.pyenv/versions), as [("3.10", Path to its python3.10)], oldest first."""
    from pathlib import Path
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    best = {}
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        parts = d.name.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        major, minor, patch = map(int, parts)
        python = d / "bin" / f"python3.{minor}"
        if major == 3 and 9 <= minor <= 13 and python.is_file():
            if minor not in best or patch > best[minor][0]:
                best[minor] = (patch, python)
    return [(f"3.{m}", best[m][1]) for m in sorted(best)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--python", help="the interpreter whose tree is packed (default: this one)")
    ap.add_argument("--marker")
    ap.add_argument("--compression", default="gz", choices=["gz", "zst", "none"])
    ap.add_argument("--bytecode", action="store_true")
    ap.add_argument("--regrtest", default="", help="comma-separated regression tests to keep")
    ap.add_argument("--broken", help="a .py with a syntax error, relative to lib/python3.X")
    ap.add_argument("--module", action="append", default=[],
                    help="NAME=FILE: add FILE as the stdlib module NAME (a test's probe)")
    ap.add_argument("--rebuild", help="TAG: a later build: every ELF file gets TAG as trailing bytes")
    ap.add_argument("--touch", help="with --rebuild: 'one' or '1/N' stdlib sources get a comment line")
    a = ap.parse_args()
    regrtest = [t for t in a.regrtest.split(",") if t]
    print(json.dumps(pack(a.out, a.marker, a.python, a.compression, a.bytecode, regrtest, a.broken,
                          a.module, a.rebuild, a.touch)))


if __name__ == "__main__":
    main()
