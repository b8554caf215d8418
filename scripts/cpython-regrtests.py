#!/usr/bin/env python3
"""CPython's own regression tests on pyswap runtimes (issue 36): for each CPython minor asked
for (pyenv trees under $PYENV_ROOT or ~/.pyenv/versions, packed as upstream packs them with
`scripts/pack_cpython.py --regrtest`), run the tests of the modules about prefixes, venvs,
bytecode and imports three ways:

- `plain`: `bin/python3` of the archive extracted into a directory (what upstream ships);
- `profile`: the profile's `bin/python3` after `pyswap switch` (store entry with its bytecode,
  reached through the profile and generation links);
- `venv`: `bin/python` of a `pyswap venv create` venv on that runtime;
- `plain-venv`: `bin/python` of a `python -m venv` venv of the plain extract (the baseline for
  `venv`: a few tests fail in any venv, e.g. 3.12.1's test_sysconfig venv schemes).

Each test module runs in its own `python -m test` process, as the user running this (root in
CI, the way operators run pyswap), from a bare environment (no PYTHONDONTWRITEBYTECODE). A module
that passes on `plain` must pass on `profile`, one that passes on `plain-venv` must pass on
`venv`; one that fails on its baseline too is listed with why and not held against pyswap. Afterwards `pyswap verify` must find the store entry with
nothing but `-O`/`-OO` bytecode added (the tests start `python -O` children, which write
`.opt-` files as root), and `verify --repair` must restore it exactly.

    python3 scripts/cpython-regrtests.py --pyswap target/debug/pyswap [--minors 3.9,...,3.13]
                                         [--tests test_site,...] [--jobs N]

Exit 0 when every module holds; 1 with the modules that do not; 2 when a minor asked for is
not on this machine.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from pack_cpython import pyenv_trees  # noqa: E402
TESTS = ("test_site", "test_sysconfig", "test_venv", "test_compileall", "test_py_compile",
         "test_getpath", "test_importlib", "test_sys", "test_ensurepip", "test_zipimport",
         "test_ctypes", "test_json")
MODES = ("plain", "plain-venv", "profile", "venv")
# What each pyswap way must match: the profile the plain extract, a pyswap venv a plain
# `python -m venv` of the plain extract (some tests fail in any venv: 3.12.1's test_sysconfig).
BASELINE = {"profile": "plain", "venv": "plain-venv"}


def trees():
    """The newest pyenv tree of each minor 3.9 to 3.13: {"3.10": python}."""
    return dict(pyenv_trees())


def present(python: Path, names):
    """The test modules among `names` that this tree has (test_getpath is 3.11 and later)."""
    lib = python.parent.parent / "lib" / python.name
    return [n for n in names if (lib / "test" / n).is_dir() or (lib / "test" / f"{n}.py").is_file()]


def run(argv, env, timeout=1800):
    done = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd="/")
    return done.returncode, done.stdout + done.stderr


def bare_env(work: Path):
    """cron's environment, with a HOME and TMPDIR of the run's own (test_site and test_venv write
    under them: runs side by side must not share them)."""
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(tmp), "LANG": "C.UTF-8"}


def pyswap(binary, home: Path, catalogue: Path, work: Path, *args):
    env = dict(bare_env(work), PYSWAP_HOME=str(home), PYSWAP_CATALOGUE=str(catalogue),
               PYSWAP_PLATFORM="linux-x86_64-gnu")
    code, out = run([binary, *args], env, timeout=900)
    return code, out


def one_minor(binary, minor, python, names, jobs, work: Path):
    """{module: {mode: (exit, seconds, tail of output)}} and the problems pyswap's verify saw."""
    archive = work / "python.tar.gz"
    info = json.loads(subprocess.run(
        [str(python), REPO / "scripts" / "pack_cpython.py", archive, "--regrtest", ",".join(names)],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")).stdout)
    v = info["version"]
    major, mnr, patch = (int(x) for x in v.split("."))
    catalogue = work / "catalogue.json"
    catalogue.write_text(json.dumps({f"cpython-{v}-linux-x86_64-gnu": {
        "name": "cpython", "arch": {"family": "x86_64", "variant": None}, "os": "linux",
        "libc": "gnu", "major": major, "minor": mnr, "patch": patch, "prerelease": "",
        "url": archive.as_uri(), "sha256": info["sha256"], "variant": None, "build": "20260101",
    }}))
    plain = work / "plain"
    with tarfile.open(archive) as t:
        t.extractall(plain, filter="tar" if hasattr(tarfile, "tar_filter") else None)
    home = work / "home"
    home.mkdir(mode=0o755)
    code, out = pyswap(binary, home, catalogue, work, "switch", v)
    if code != 0:
        raise SystemExit(f"pyswap switch {v} failed:\n{out}")
    venv = work / "venv"
    code, out = pyswap(binary, home, catalogue, work, "venv", "create", venv)
    if code != 0:
        raise SystemExit(f"pyswap venv create failed:\n{out}")
    plain_venv = work / "plain-venv"
    code, out = run([plain / "python" / "bin" / "python3", "-m", "venv", plain_venv], bare_env(work))
    if code != 0:
        raise SystemExit(f"python -m venv of the plain extract failed:\n{out}")
    interpreters = {"plain": plain / "python" / "bin" / "python3",
                    "plain-venv": plain_venv / "bin" / "python",
                    "profile": home / "profiles" / "default" / "bin" / "python3",
                    "venv": venv / "bin" / "python"}

    def one(job):
        name, mode = job
        started = time.monotonic()
        code, out = run([interpreters[mode], "-m", "test", name], bare_env(work / f"{mode}-{name}"))
        return name, mode, code, time.monotonic() - started, out[-3000:]

    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, mode, code, took, out in pool.map(one, [(n, m) for n in names for m in MODES]):
            results.setdefault(name, {})[mode] = (code, took, out)
    problems = []
    code, out = pyswap(binary, home, catalogue, work, "verify", "--json")
    found = json.loads(out[:out.rindex("}") + 1]) if "{" in out else {"problems": []}
    for p in found.get("problems", []):
        if p["kind"] != "added" or "bytecode file(s)" not in p["detail"] or " other(s)" in p["detail"]:
            problems.append(f"verify: {p['kind']}: {p['detail']}")
    code, out = pyswap(binary, home, catalogue, work, "verify", "--repair")
    code2, out2 = pyswap(binary, home, catalogue, work, "verify")
    if code != 0 or code2 != 0:
        problems.append(f"verify --repair did not restore the entry:\n{out}\n{out2}")
    return v, results, problems


def summary(out: str):
    """The lines of regrtest's output that say what failed."""
    keep = [l for l in out.splitlines()
            if l.startswith(("FAIL:", "ERROR:", "test ", "Result:")) or "Error" in l]
    return keep[-12:] or out.splitlines()[-5:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyswap", required=True, help="the pyswap binary")
    ap.add_argument("--minors", default="3.9,3.10,3.11,3.12,3.13")
    ap.add_argument("--tests", default=",".join(TESTS))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    binary = Path(a.pyswap).resolve()
    found = trees()
    wanted = [m for m in a.minors.split(",") if m]
    missing = [m for m in wanted if m not in found]
    if missing:
        print(f"CPython {', '.join(missing)} not under ~/.pyenv/versions", file=sys.stderr)
        return 2
    failed = []
    for minor in wanted:
        names = present(found[minor], [t for t in a.tests.split(",") if t])
        with tempfile.TemporaryDirectory(prefix=f"regrtests-{minor}-") as tmp:
            work = Path(tmp)
            work.chmod(0o755)
            started = time.monotonic()
            version, results, problems = one_minor(binary, minor, found[minor], names, a.jobs, work)
            print(f"CPython {version} ({time.monotonic() - started:.0f} s):")
            for name in names:
                r = results[name]
                cells = "  ".join(f"{m} {'ok' if r[m][0] == 0 else f'exit {r[m][0]}'} ({r[m][1]:.0f} s)"
                                  for m in MODES)
                print(f"  {name:<17} {cells}")
                for m, base in BASELINE.items():
                    if r[m][0] == 0:
                        continue
                    if r[base][0] != 0:
                        print(f"    {m}: fails on the {base} too, not held against pyswap; it says:")
                        print("      " + "\n      ".join(summary(r[base][2])))
                        continue
                    failed.append(f"{version} {name} through the {m}")
                    print(f"    --- {m} output (tail) ---\n{r[m][2]}")
            for p in problems:
                failed.append(f"{version}: {p}")
                print(f"  {p}")
    if failed:
        print("FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
    print("every module that passes on a plain extract (or in its venv) passes through the profile (a pyswap venv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
