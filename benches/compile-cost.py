#!/usr/bin/env python3
"""What compiling a runtime's standard library costs, per CPython minor (issue 36): for each
pyenv tree of 3.9 to 3.13 on this machine (packed as upstream packs it), `pyswap -vv install`
into a fresh home, N runs, the median of the bytecode step (the `compiled the standard
library's bytecode` log event's `ms`). Give two binaries to compare them, run by run
alternating (`--binary` and `--against`, e.g. a build from before a change). Needs a release
build (`cargo build --release`); run as root it compiles as the sandbox user, as users' hosts do.

    python3 benches/compile-cost.py [--runs N] [--binary PATH] [--against PATH] [--workers N]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from pack_cpython import pyenv_trees  # noqa: E402


def minors():
    return pyenv_trees()


def catalogue_for(work: Path, python: Path) -> tuple[str, Path]:
    archive = work / f"{python.name}.tar.gz"
    info = json.loads(
        subprocess.run(
            [str(python), REPO / "scripts" / "pack_cpython.py", archive],
            check=True, capture_output=True, text=True,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
        ).stdout
    )
    v = info["version"]
    major, minor, patch = (int(x) for x in v.split("."))
    cat = work / f"{python.name}.json"
    cat.write_text(json.dumps({f"cpython-{v}-linux-x86_64-gnu": {
        "name": "cpython", "arch": {"family": "x86_64", "variant": None}, "os": "linux",
        "libc": "gnu", "major": major, "minor": minor, "patch": patch, "prerelease": "",
        "url": archive.as_uri(), "sha256": info["sha256"], "variant": None, "build": "20260101",
    }}))
    return v, cat


def compile_seconds(binary: str, work: Path, version: str, cat: Path, workers) -> float:
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "PYSWAP_HOME": str(home),
           "PYSWAP_CATALOGUE": str(cat), "PYSWAP_PLATFORM": "linux-x86_64-gnu"}
    if workers:
        env["PYSWAP_COMPILE_WORKERS"] = str(workers)
    done = subprocess.run([binary, "-vv", "install", version], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    log = re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)
    m = re.search(r"compiled the standard library's bytecode.*", log)
    ms = re.search(r"ms=(\d+)", m.group(0)) if m else None
    if not ms:
        raise SystemExit("no bytecode timing in the log:\n" + done.stderr[-2000:])
    return int(ms.group(1)) / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=str(REPO / "target" / "release" / "pyswap"))
    ap.add_argument("--against", help="another pyswap binary to compare with")
    ap.add_argument("--workers", type=int, help="[install] compile_workers (only --binary knows it)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pyswap-compile-"))
    os.chmod(work, 0o755)
    binaries = {"binary": args.binary}
    if args.against:
        binaries["against"] = args.against
    print(f"median seconds of the bytecode step, {args.runs} runs each")
    for minor, python in minors():
        version, cat = catalogue_for(work, python)
        times = {k: [] for k in binaries}
        for _ in range(args.runs):
            for k, b in binaries.items():
                times[k].append(compile_seconds(b, work, version, cat, args.workers if k == "binary" else None))
        row = "  ".join(f"{k} {statistics.median(v):.2f} s" for k, v in times.items())
        print(f"  CPython {version}: {row}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
