#!/usr/bin/env python3
"""What running archive code as an unprivileged user costs (issue 35): as root, `pyswap switch`
of this machine's CPython (packed as upstream packs it) into a fresh home with
`[install] sandbox_user = "nobody"` (the default) and with `"root"` (archive code as root, as
before issue 35), alternating run by run. Reports the bytecode step (the `compiled the standard
library's bytecode` log event's `ms`) and the whole switch, medians. Needs root and a release
build (`cargo build --release`).

    sudo python3 benches/sandbox-cost.py [--runs N] [--binary PATH] [--python P]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--binary", default=str(REPO / "target" / "release" / "pyswap"))
    ap.add_argument("--python", default="python3")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("sandbox-cost: run as root (the sandbox user applies only to root)")
    work = Path(tempfile.mkdtemp(prefix="pyswap-sandbox-"))
    os.chmod(work, 0o755)
    archive = work / "python.tar.gz"
    info = json.loads(
        subprocess.run(
            [args.python, REPO / "scripts" / "pack_cpython.py", archive],
            check=True,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
        ).stdout
    )
    version = info["version"]
    key = f"cpython-{version}-linux-x86_64-gnu"
    catalogue = work / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                key: {
                    "name": "cpython",
                    "arch": {"family": "x86_64", "variant": None},
                    "os": "linux",
                    "libc": "gnu",
                    "major": int(version.split(".")[0]),
                    "minor": int(version.split(".")[1]),
                    "patch": int(version.split(".")[2]),
                    "prerelease": "",
                    "url": archive.as_uri(),
                    "sha256": info["sha256"],
                    "variant": None,
                    "build": "20260101",
                }
            }
        )
    )
    steps = {"nobody": [], "root": []}
    wholes = {"nobody": [], "root": []}
    for _ in range(args.runs):
        for user in steps:
            home = work / f"home-{user}"
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            (home / "config.toml").write_text(f'[install]\nsandbox_user = "{user}"\n')
            env = {
                "PATH": "/usr/bin:/bin",
                "HOME": "/root",
                "PYSWAP_HOME": str(home),
                "PYSWAP_CATALOGUE": str(catalogue),
                "PYSWAP_PLATFORM": "linux-x86_64-gnu",
            }
            started = time.perf_counter()
            done = subprocess.run(
                [args.binary, "-vv", "switch", version], env=env, capture_output=True, text=True
            )
            wholes[user].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            ms = re.search(r"ms=(\d+).*compiled the standard library|compiled the standard library.*?ms=(\d+)", done.stderr)
            if not ms:
                raise SystemExit("no bytecode timing in the log:\n" + done.stderr[-2000:])
            steps[user].append(int(ms.group(1) or ms.group(2)) / 1000)
    print(f"CPython {version}, {args.runs} runs each, medians (seconds)")
    for user in steps:
        print(
            f"  sandbox_user={user:<7} bytecode step {statistics.median(steps[user]):.2f} s"
            f"  whole switch {statistics.median(wholes[user]):.2f} s"
        )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
