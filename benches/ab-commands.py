#!/usr/bin/env python3
"""A/B of two pyswap builds on the commands that do not download (a benchmark, not a test).

    python3 benches/ab-commands.py OLD_PYSWAP NEW_PYSWAP [--runs 60] [--work DIR]

Packs this machine's CPython twice (two store entries of one version, told apart by a marker
file; scripts/pack_cpython.py), gives each build a home of its own with both entries installed,
then alternates the two builds run by run: `switch` to the other installed runtime with the
health check, the same with `health_check = false`, and `rollback --to` between the last two
generations. Prints the median of each. Alternating matters on a machine whose speed drifts by
several milliseconds from one minute to the next: separate runs do not compare.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from pack_cpython import pack  # noqa: E402


def catalogue(work, build, marker):
    """An archive of this machine's CPython with `marker`, and a catalogue naming it `build`."""
    path = os.path.join(work, f"cpython-{build}.tar.gz")
    info = pack(path, marker)
    major, minor, patch = (int(x) for x in info["version"].split("."))
    entry = {"name": "cpython", "arch": {"family": "x86_64", "variant": None}, "os": "linux",
             "libc": "gnu", "major": major, "minor": minor, "patch": patch, "prerelease": "",
             "url": "file://" + path, "sha256": info["sha256"], "variant": None, "build": build}
    cat = os.path.join(work, f"catalogue-{build}.json")
    with open(cat, "w") as f:
        json.dump({f"cpython-{info['version']}-linux-x86_64-gnu": entry}, f)
    return cat, info["short"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--work", help="working directory (default: a fresh one under /tmp, removed)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="pyswap-ab.")
    os.chmod(work, 0o755)  # reachable by root's sandbox user (nobody)
    os.makedirs(work, exist_ok=True)
    try:
        bins = [os.path.abspath(args.old), os.path.abspath(args.new)]
        cats, short = [], None
        for build, marker in (("20260101", b"a\n"), ("20260201", b"b\n")):
            cat, short = catalogue(work, build, marker)
            cats.append(cat)
        nohealth = os.path.join(work, "nohealth.toml")
        with open(nohealth, "w") as f:
            f.write("[validation]\nhealth_check = false\n")
        envs = [dict(os.environ, PYSWAP_HOME=os.path.join(work, f"home-{i}")) for i in range(2)]

        def run(i, *argv):
            started = time.perf_counter()
            subprocess.run([bins[i], *argv], env=envs[i], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - started

        for i in range(2):
            for cat in cats:
                run(i, "--catalogue", cat, "switch", short)
        times = {k: ([], []) for k in ("switch (health check)", "switch (no health check)",
                                         "rollback --to")}
        for r in range(args.runs):
            for i in range(2):
                times["switch (health check)"][i].append(
                    run(i, "--catalogue", cats[r % 2], "switch", short))
                times["switch (no health check)"][i].append(
                    run(i, "--config", nohealth, "--catalogue", cats[(r + 1) % 2], "switch", short))
        last_two = []
        for i in range(2):
            out = subprocess.run([bins[i], "--json", "generations"], env=envs[i],
                                 capture_output=True, check=True).stdout
            last_two.append([g["number"] for g in json.loads(out)][-2:])
        for r in range(args.runs):
            for i in range(2):
                times["rollback --to"][i].append(run(i, "rollback", "--to", str(last_two[i][r % 2])))
        print(f"{args.runs} alternating runs each, medians:  old {args.old}  new {args.new}")
        for name, (old, new) in times.items():
            print(f"  {name:26} old {statistics.median(old) * 1e3:6.1f} ms"
                  f"   new {statistics.median(new) * 1e3:6.1f} ms")
    finally:
        if not args.work:
            subprocess.run(["chmod", "-R", "u+w", work], check=False)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
