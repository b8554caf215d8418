#!/usr/bin/env python3
"""A/B of two pyswap builds where the second maps pyswap's own files (a benchmark, not a test).

    python3 benches/ab-mapped.py OLD_PYSWAP NEW_PYSWAP [--runs 12] [--work DIR]

Measures the two reads `crate::mapped` changed, run by run alternating the builds (each with a
home of its own), and prints the median of each:

- **install from the download cache**: this machine's CPython packed twice (two builds of one
  version, told apart by a marker file; scripts/pack_cpython.py, gzip as upstream's
  install_only archives), served once from 127.0.0.1 so that both land in `cache/`; then each run
  switches to the build not installed (re-hash and unpack of the cached archive), and `gc --keep
  1` deletes the entry left so the next run installs it again. Bytecode compiling and
  validation are off, so the time is the hash, the unpack and the bookkeeping; its CPU time
  (user + system, from getrusage) is printed too, as the wall time includes a `syncfs` whose
  length depends on whatever else the disk is doing.
- **cached catalogue**: `list --available` with the upstream catalogue copy (3 MB,
  data/upstream) fetched once from 127.0.0.1 and then read from `catalogues/` (TTL 1 day).
"""
import argparse
import functools
import resource
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from pack_cpython import pack  # noqa: E402

UPSTREAM = os.path.join(REPO, "data", "upstream", "download-metadata.json")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = functools.partial(Quiet, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--work", help="working directory (default: a fresh one under /tmp, removed)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="pyswap-ab-mapped.")
    os.chmod(work, 0o755)  # reachable by root's sandbox user (nobody)
    os.makedirs(work, exist_ok=True)
    try:
        served = os.path.join(work, "served")
        os.makedirs(served, exist_ok=True)
        base = serve(served)
        cats, short, size = [], None, 0
        for build, marker in (("20260101", b"a\n"), ("20260201", b"b\n")):
            name = f"cpython-{build}.tar.gz"
            info = pack(os.path.join(served, name), marker)
            size = os.path.getsize(os.path.join(served, name))
            major, minor, patch = (int(x) for x in info["version"].split("."))
            short = info["short"]
            entry = {"name": "cpython", "arch": {"family": "x86_64", "variant": None},
                     "os": "linux", "libc": "gnu", "major": major, "minor": minor,
                     "patch": patch, "prerelease": "", "url": f"{base}/{name}",
                     "sha256": info["sha256"], "variant": None, "build": build}
            cat = os.path.join(work, f"catalogue-{build}.json")
            with open(cat, "w") as f:
                json.dump({f"cpython-{info['version']}-linux-x86_64-gnu": entry}, f)
            cats.append(cat)
        shutil.copy(UPSTREAM, os.path.join(served, "download-metadata.json"))
        config = os.path.join(work, "config.toml")
        with open(config, "w") as f:
            f.write("[install]\ncompile_bytecode = false\n[validation]\nenabled = false\n"
                    "[network]\ncatalogue_ttl = \"1d\"\n")
        bins = [os.path.abspath(args.old), os.path.abspath(args.new)]
        envs = [dict(os.environ, PYSWAP_HOME=os.path.join(work, f"home-{i}"), PYSWAP_CONFIG=config)
                for i in range(2)]

        cpu = ([], [])

        def run(i, *argv):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([bins[i], *argv], env=envs[i], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            took = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[i].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return took

        upstream = f"{base}/download-metadata.json"
        for i in range(2):
            for cat in cats:
                run(i, "--catalogue", cat, "switch", short)
            run(i, "--catalogue", upstream, "list", "--available")
        install, listing, install_cpu = ([], []), ([], []), ([], [])
        for r in range(args.runs):
            for i in range(2):
                run(i, "gc", "--keep", "1")
                install[i].append(run(i, "--catalogue", cats[r % 2], "switch", short))
                install_cpu[i].append(cpu[i][-1])
                listing[i].append(run(i, "--catalogue", upstream, "list", "--available"))
        print(f"{args.runs} alternating runs each, medians (archive {size / 2**20:.1f} MiB):"
              f"  old {args.old}  new {args.new}")
        for name, (old, new) in (("install from the download cache", install),
                                 ("  its CPU time (user + system)", install_cpu),
                                 ("list --available (cached catalogue)", listing)):
            print(f"  {name:36} old {statistics.median(old) * 1e3:7.1f} ms"
                  f"   new {statistics.median(new) * 1e3:7.1f} ms")
    finally:
        if not args.work:
            subprocess.run(["chmod", "-R", "u+w", work], check=False)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
