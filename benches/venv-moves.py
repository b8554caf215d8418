#!/usr/bin/env python3
"""What moving registered venvs costs a switch and a rollback (issue 24).

Packs this machine's CPython twice as upstream packs it (two builds of one version, differing in
one stdlib module), serves each from its own file:// catalogue, makes N pyswap venvs with pip
(pip, setuptools: the check imports `_distutils_hack`, `pip`, `pkg_resources`, `setuptools`, each
in its own process), then alternates the profile between the two builds:

- `switch` A -> B (a new generation each time; every venv is checked on B, then moved),
- `rollback --to 1` B -> A (venvs return to an entry they ran on before: no check, only the
  renames),

and prints the median wall time of each for N = 0, 1 and 8 venvs. Nothing leaves this machine.

    python3 benches/venv-moves.py [--rounds 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.dont_write_bytecode = True
from pack_cpython import pack  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def catalogue(www, name, info, build):
    v = [int(x) for x in info["version"].split(".")]
    arch = info["arch"]
    key = f"cpython-{info['version']}-linux-{arch}-gnu"
    entry = {"name": "cpython", "arch": {"family": arch, "variant": None}, "os": "linux",
             "libc": "gnu", "major": v[0], "minor": v[1], "patch": v[2], "prerelease": "",
             "url": f"file://{www}/{name}", "sha256": info["sha256"], "variant": None,
             "build": build}
    path = os.path.join(www, f"catalogue-{build}.json")
    with open(path, "w") as f:
        json.dump({key: entry}, f)
    return path


def timed(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=REPO, check=True)
    pyswap = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")),
                          "release", "pyswap")
    with tempfile.TemporaryDirectory() as work:
        www = os.path.join(work, "www")
        os.makedirs(www)
        cats = []
        for build, mark in (("20260101", "build a"), ("20260201", "build b")):
            name = f"python-{build}.tar.gz"
            info = pack(os.path.join(www, name), marker=mark)
            cats.append(catalogue(www, name, info, build))
        version = info["version"]
        results = {}
        for n in (0, 1, 8):
            home = os.path.join(work, f"home-{n}")
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PYSWAP_", "PIP_")) and k != "PYTHONDONTWRITEBYTECODE"}
            env["PYSWAP_HOME"] = home
            base = [pyswap, "--quiet"]
            subprocess.run(base + ["--catalogue", cats[0], "switch", version], check=True, env=env)
            subprocess.run(base + ["--catalogue", cats[1], "switch", version], check=True, env=env)
            subprocess.run(base + ["rollback", "--to", "1"], check=True, env=env)
            for i in range(n):
                subprocess.run(base + ["venv", "create", os.path.join(work, f"v{n}-{i}")],
                               check=True, env=env)
            switches, rollbacks = [], []
            for _ in range(a.rounds):
                # A -> B by switch (a new generation; each venv checked on B, then moved) and
                # back by rollback (each venv returns to A, which it ran on: no check).
                switches.append(timed(base + ["--catalogue", cats[1], "switch", version], env))
                rollbacks.append(timed(base + ["rollback", "--to", "1"], env))
            listed = json.loads(subprocess.run(base + ["--json", "venv", "list"], check=True,
                                               env=env, capture_output=True, text=True).stdout)
            assert len(listed) == n and all(v["state"] == "ok" for v in listed), listed
            results[n] = (statistics.median(switches), statistics.median(rollbacks))
            log(f"{n} venvs: switch {results[n][0]:.3f} s, rollback {results[n][1]:.3f} s")
        print("venvs  switch (checked moves)  rollback (returns, no check)")
        for n, (s, r) in results.items():
            print(f"{n:>5}  {s:>20.3f} s  {r:>25.3f} s")


if __name__ == "__main__":
    main()
