#!/usr/bin/env python3
"""What verifying a signed catalogue costs (issue 28): `pyswap list --available 3.12` against
the same catalogue file, in a home with `[trust] keys` and in one without, alternating run by
run, medians. Two catalogues: the whole upstream copy (data/upstream, ~3 MB, what a fleet
signing upstream's file verifies) and a mirror-sized one (its first 40 linux-x86_64-gnu
entries). Needs `minisign` and a release build (`cargo build --release`).

    python3 benches/trust-cost.py [--runs N] [--binary PATH]
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UPSTREAM = REPO / "data" / "upstream" / "download-metadata.json"


def sign(key: Path, catalogue: Path) -> None:
    comment = "pyswap-catalogue version=1 expires=2099-01-01T00:00:00Z"
    subprocess.run(
        ["minisign", "-S", "-s", key, "-m", catalogue, "-t", comment],
        check=True,
        capture_output=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--binary", default=str(REPO / "target" / "release" / "pyswap"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pyswap-trust-"))
    key, pub = work / "k.key", work / "k.pub"
    subprocess.run(
        ["minisign", "-G", "-W", "-f", "-p", pub, "-s", key], check=True, capture_output=True
    )
    public = pub.read_text().splitlines()[1].strip()
    full = work / "full.json"
    full.write_bytes(UPSTREAM.read_bytes())
    entries = json.loads(full.read_text())
    small = {
        k: v for k, v in entries.items() if v["url"].endswith("x86_64-unknown-linux-gnu-install_only.tar.gz")
    }
    mirror = work / "mirror.json"
    mirror.write_text(json.dumps(dict(list(small.items())[:40]), indent=2))
    homes = {"keys": work / "with-keys", "none": work / "without"}
    for h in homes.values():
        h.mkdir()
    (homes["keys"] / "config.toml").write_text(f'[trust]\nkeys = ["{public}"]\n')
    for catalogue in (full, mirror):
        sign(key, catalogue)
        times = {name: [] for name in homes}
        for _ in range(args.runs):
            for name, home in homes.items():
                env = dict(
                    os.environ,
                    PYSWAP_HOME=str(home),
                    PYSWAP_CATALOGUE=str(catalogue),
                    PYSWAP_PLATFORM="linux-x86_64-gnu",
                )
                t = time.perf_counter()
                r = subprocess.run(
                    [args.binary, "list", "--available", "3.12"], env=env, capture_output=True
                )
                times[name].append((time.perf_counter() - t) * 1000)
                if r.returncode != 0:
                    raise SystemExit(f"{name}: {r.stderr.decode()}")
        size = catalogue.stat().st_size
        with_keys, without = (statistics.median(times[n]) for n in ("keys", "none"))
        print(
            f"{catalogue.name} ({size / 1e6:.2f} MB): with keys {with_keys:.1f} ms, "
            f"without {without:.1f} ms, verifying {with_keys - without:+.1f} ms "
            f"(medians of {args.runs})"
        )


if __name__ == "__main__":
    main()
