#!/usr/bin/env python3
"""Benchmark (not a test) of issue 40: what a later build of an installed runtime costs pyswap, in
disk and in time, against the same build in a fresh home and against uv.

In one run, on this machine:
  1. packs a CPython tree (default: pyenv's 3.12.1, else --python) as python-build-standalone
     packs `install_only` archives (scripts/pack_cpython.py, .tar.zst), three times: build A,
     build B (every ELF file changed, one stdlib source changed: a rebuild with new compilers)
     and build C (every ELF file and one stdlib source in five changed: a patch release);
  2. serves each with its own catalogue (uv's download-metadata.json format) on 127.0.0.1;
  3. times, with a fresh home every round (cache dropped, dirty pages written first, as
     benches/compare-uv.py does):
       fresh A         pyswap switch to A in an empty home (a first install)
       fresh A before  the same with the pyswap of --before REV (files stored once and bytecode
                       reuse not there yet): what storing each file once costs a first install
       fresh B, fresh C        the later builds in an empty home
       B over A, C over A      the later build in a home where A is installed and current
       uv A then B             `uv python install` A, then B over it (`--reinstall`: uv keeps
                               one build per version)
     every pyswap switch is validated by the default policy;
  4. measures the disk each later build adds to a home holding A (every inode of the home once,
     its allocated blocks, database included, the download cache left out and shown apart) against the bytes of its files that differ from
     A's (by path and content, bytecode included), and prints the issue's limits:
       added disk <= 1.1 x differing bytes + 8 MiB
       B over A <= 0.45 x fresh B,  C over A <= 0.6 x fresh C
       fresh A <= 1.05 x fresh A before

Usage (needs cargo, python3, zstd, GNU tar; reaches only the package index, once, for uv):

    python3 benches/incremental.py                     # 5 rounds, 11 of a first install
    python3 benches/incremental.py --before f6bc659 --rounds 5 --first-rounds 15
"""
import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("compare_uv", os.path.join(REPO, "benches", "compare-uv.py"))
compare_uv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_uv)
log, settle, serve, sha256 = compare_uv.log, compare_uv.settle, compare_uv.serve, compare_uv.sha256

BUILDS = {"A": ("20260101", []), "B": ("20260201", ["--rebuild", "b", "--touch", "one"]),
          "C": ("20260301", ["--rebuild", "c", "--touch", "1/5"])}
MiB = 1 << 20


def default_python():
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from pack_cpython import pyenv_trees
    for short, python in pyenv_trees():
        if short == "3.12":
            return str(python)
    return shutil.which("python3")


def build_before(rev, work):
    """pyswap as of `rev`, built in a worktree of its own (its own target directory)."""
    tree = os.path.join(work, f"before-{rev}")
    if not os.path.exists(tree):
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, rev], check=True,
                       capture_output=True)
    log(f"building pyswap {rev} …")
    # Kept between runs (target/bench-tools/), as uv is.
    target = os.path.join(REPO, "target", "bench-tools", f"pyswap-{rev}")
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=tree, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=target))
    return os.path.join(target, "release", "pyswap")


def pack_builds(python, www):
    info = {}
    for name, (build, options) in BUILDS.items():
        out = os.path.join(www, f"{name}.tar.zst")
        log(f"packing build {name} of {python} …")
        got = json.loads(subprocess.run(
            [python, os.path.join(REPO, "scripts", "pack_cpython.py"), out, "--compression", "zst",
             *options], check=True, capture_output=True, text=True,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")).stdout)
        v = [int(x) for x in got["version"].split(".")]
        key = f"cpython-{got['version']}-linux-{got['arch']}-gnu"
        entry = {"name": "cpython", "arch": {"family": got["arch"], "variant": None}, "os": "linux",
                 "libc": "gnu", "major": v[0], "minor": v[1], "patch": v[2], "prerelease": "",
                 "url": f"BASE/{name}.tar.zst", "sha256": sha256(out), "variant": None,
                 "build": build}
        with open(os.path.join(www, f"{name}.json.in"), "w") as f:
            json.dump({key: entry}, f)
        info[name] = got
    return info


def disk(path, skip=()):
    """Allocated bytes under `path`, each inode once (hard links, the objects), leaving out the
    top-level names in `skip`."""
    seen, total = set(), 0
    for root, dirs, files in os.walk(path):
        if root == path:
            dirs[:] = [d for d in dirs if d not in skip]
            files = [f for f in files if f not in skip]
        for n in dirs + files:
            st = os.lstat(os.path.join(root, n))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def files_of(root):
    """{relative path: sha256} of the regular files under `root`."""
    out = {}
    for d, _, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = (hashlib.sha256(f.read()).hexdigest(),
                                                     os.path.getsize(p))
    return out


def differing_bytes(old_root, new_root):
    old, new = files_of(old_root), files_of(new_root)
    return sum(size for p, (h, size) in new.items() if old.get(p, (None,))[0] != h)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", help="the interpreter whose tree is packed (default: pyenv 3.12)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the later builds")
    ap.add_argument("--first-rounds", type=int, default=11,
                    help="rounds of a first install (with --before: alternating with the old pyswap)")
    ap.add_argument("--before", help="a git revision: time a first install with its pyswap too")
    ap.add_argument("--no-uv", action="store_true", help="leave uv out")
    args = ap.parse_args()
    python = args.python or default_python()
    pyswap = compare_uv.build_pyswap()
    work = tempfile.mkdtemp(prefix="pyswap-incremental.")
    os.chmod(work, 0o755)  # reachable by root's sandbox user (nobody)
    before = build_before(args.before, work) if args.before else None
    uv = None if args.no_uv else compare_uv.install_uv()[0]
    www = os.path.join(work, "www")
    os.makedirs(www)
    info = pack_builds(python, www)
    base = serve(www)
    for name in BUILDS:
        text = open(os.path.join(www, f"{name}.json.in")).read().replace("BASE/", base + "/")
        open(os.path.join(www, f"{name}.json"), "w").write(text)
    short = info["A"]["short"]
    warm = [pyswap] + [os.path.join(www, f"{n}.tar.zst") for n in BUILDS]
    runs = iter(range(1 << 30))

    def fresh(name):
        path = os.path.join(work, "runs", f"{name}-{next(runs)}")
        os.makedirs(path)
        return path

    env = compare_uv.clean_env

    def switch(binary, home, build, timed=True):
        argv = [binary, "--quiet", "--catalogue", f"{base}/{build}.json", "switch", short]
        if timed:
            settle(warm)
        start = time.perf_counter()
        p = subprocess.run(argv, env=env(PYSWAP_HOME=home), capture_output=True, text=True)
        took = time.perf_counter() - start
        if p.returncode != 0:
            sys.exit(f"{argv} failed: {p.stderr[-2000:]}")
        return took

    def entry_of(home, n):
        return os.path.realpath(os.path.join(home, "profiles", f"default-{n}", "bin", "python3")) \
            .rsplit("/bin/", 1)[0]

    def uv_pair(a, b):
        root = fresh("uv")
        e = env(UV_PYTHON_INSTALL_DIR=os.path.join(root, "python"),
                UV_CACHE_DIR=os.path.join(root, "cache"), UV_PYTHON_BIN_DIR=os.path.join(root, "bin"),
                UV_NO_CONFIG="1", UV_NO_PROGRESS="1")
        took = []
        for build, extra in ((a, []), (b, ["--reinstall"])):
            settle(warm + [uv])
            start = time.perf_counter()
            subprocess.run([uv, "python", "install", "--python-downloads-json-url",
                            f"{base}/{build}.json", short, *extra], env=e, check=True,
                           capture_output=True)
            took.append(time.perf_counter() - start)
            if build == a:
                first = disk(os.path.join(root, "python"))
        return took, disk(os.path.join(root, "python")) - first

    times = {k: [] for k in ("fresh A", "fresh A before", "fresh B", "fresh C", "B over A",
                             "C over A", "uv A", "uv B over A", "uv C over A")}
    added, differ, uv_added, cached = {}, {}, {}, {}
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}")
        for later in ("B", "C"):
            times[f"fresh {later}"].append(switch(pyswap, fresh("home"), later))
            home = fresh("home")
            switch(pyswap, home, "A", timed=False)
            os.sync()
            # The home without its download cache (`cache/`, bounded by cache_max, which keeps
            # each archive fetched over http): the store, the objects, profiles and database.
            at = disk(home, ("cache",))
            times[f"{later} over A"].append(switch(pyswap, home, later))
            os.sync()
            added[later] = disk(home, ("cache",)) - at
            cached[later] = disk(os.path.join(home, "cache"))
            if later not in differ:
                differ[later] = differing_bytes(entry_of(home, 1), entry_of(home, 2))
            if uv:
                (t_a, t_b), uv_added[later] = uv_pair("A", later)
                times["uv A"].append(t_a)
                times[f"uv {later} over A"].append(t_b)

    # A first install, this pyswap and the one before, alternating.
    for r in range(args.first_rounds):
        log(f"first install {r + 1}/{args.first_rounds}")
        times["fresh A"].append(switch(pyswap, fresh("home"), "A"))
        if before:
            times["fresh A before"].append(switch(before, fresh("home"), "A"))

    def med(k):
        return statistics.median(times[k]) if times[k] else None

    print(f"\nCPython {info['A']['version']} ({python}), {args.rounds} rounds ({args.first_rounds} of a "
          f"first install), median wall seconds (min-max); a validated `pyswap switch` each\n")
    for k, v in times.items():
        if v:
            print(f"  {k:<16} {statistics.median(v):6.2f} s  ({min(v):.2f}-{max(v):.2f})")
    print()
    ok = True
    for later, limit in (("B", 0.45), ("C", 0.6)):
        ratio = med(f"{later} over A") / med(f"fresh {later}")
        bound = 1.1 * differ[later] + 8 * MiB
        ok &= ratio <= limit and added[later] <= bound
        print(f"  {later} over A: {ratio:.2f} of fresh {later} (limit {limit}); adds "
              f"{added[later] / MiB:.1f} MiB for {differ[later] / MiB:.1f} MiB of files that differ "
              f"(limit {bound / MiB:.1f} MiB; the download cache keeps its archive besides: "
              f"{cached[later] / MiB:.1f} MiB)" + (f"; uv --reinstall: {med(f'uv {later} over A'):.2f} s, "
                                                  f"{uv_added[later] / MiB:+.1f} MiB (keeps one build)"
                                                  if uv else ""))
    if before:
        growth = med("fresh A") / med("fresh A before")
        ok &= growth <= 1.05
        print(f"  first install: {growth:.3f} x the pyswap of {args.before} (limit 1.05)")
    print("\nall within the issue's limits" if ok else "\nSOME LIMIT EXCEEDED")
    subprocess.run(["git", "-C", REPO, "worktree", "prune"], check=False)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
