#!/usr/bin/env python3
"""Side-by-side benchmark (not a test): pyswap against `uv python install` and GNU tar.

In one run, on this machine:
  1. packs a CPython tree of this machine as python-build-standalone packs `install_only`
     archives (scripts/pack_cpython.py: no bytecode, every mtime 2024-01-01, RUNPATH
     $ORIGIN/../lib, the whole stdlib and pip), as .tar.gz (gzip -9) and .tar.zst (zstd -19);
  2. writes a catalogue (uv's download-metadata.json format) for each and serves everything
     from a static HTTP server on 127.0.0.1;
  3. times, alternating the tools within each round, with a fresh home every time:
       pyswap switch   (cold: download, sha256, unpack, the stdlib's bytecode compiled, blake3
                        tree digest, validation policy, syncfs, SQLite, generation, symlink
                        swap, health check)
       pyswap install  (the same without the generation, the swap and the health check)
       pyswap install, validation off ([validation] enabled = false: unpack, digest, sync)
       uv python install --python-downloads-json-url <the same catalogue>
                       (fresh UV_PYTHON_INSTALL_DIR, UV_CACHE_DIR, UV_PYTHON_BIN_DIR)
       uv + imports    (uv python install, then the installed interpreter's first run importing
                        the modules pyswap's default validation policy imports: equal assurance;
                        that first run writes the bytecode of what it imports)
       uv -c + imports (uv python install --compile-bytecode, then the same: equal work, the
                        stdlib's bytecode on disk and the policy's modules imported once)
       curl | tar -xzf - / curl | tar --zstd -xf -   into an empty directory
       tar -xzf FILE / tar --zstd -xf FILE           from a local file (no network)
       gzip -dc / zstd -dc FILE > /dev/null          decompression alone, one core: the floor
  4. prints the median, min and max wall time, the peak RSS of each (the largest single
     process, children included), and the ratios to bare `uv python install`, to uv + imports
     and to uv --compile-bytecode + imports;
  5. says how many `.pyc` files each tree's first run had to write;
  6. as root, times a start with 12 imports as `nobody` (who cannot write the store) through
     pyswap's profile against the same from a precompiled copy of the tree (`tar -x`, then
     `python -m compileall` as upstream CPython's `make install` does), alternating.

Usage (needs cargo, python3, pip, curl, gzip, zstd, GNU tar; reaches only the package index,
once, to install uv into target/bench-tools):

    python3 benches/compare-uv.py                      # the machine's python3, 7 rounds
    python3 benches/compare-uv.py --python /path/to/python3.12 --rounds 11

Before every timed run the page cache's dirty pages are flushed (`sync`), so that a tool which
syncs does not pay for the previous run's writes, and (as root) the page cache is dropped and the
archives and binaries read back in: warm runs, as on a CI runner that installs the same runtime
every job, without the trees of earlier runs pushing the machine into reclaim. For stable numbers
give `--work` a directory on a filesystem without recent mass deletions (ext4 slows inode
allocation next to inodes freed in the last minutes): a fresh mount, or wait ~5 minutes. Runs are kept until the end (about
2 x 6 x (rounds + 1) unpacked trees on the disk of the working directory).
"""
import argparse
import glob
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

UV_VERSION = "0.13.9"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def clean_env(**extra):
    """This environment without what would change a tool's behaviour (`UV_*`, `PYSWAP_*`,
    `PIP_*`, `PYTHONDONTWRITEBYTECODE`: users run without it), plus `extra`."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("UV_", "PYSWAP_", "PIP_")) and k != "PYTHONDONTWRITEBYTECODE"}
    e.update(extra)
    return e


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build_pyswap():
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet",
                    "--manifest-path", os.path.join(REPO, "Cargo.toml")], check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "release", "pyswap")


def install_uv():
    """uv from the package index into target/bench-tools, once."""
    home = os.path.join(REPO, "target", "bench-tools", f"uv-{UV_VERSION}")
    uv = os.path.join(home, "bin", "uv")
    if not os.path.exists(uv):
        log(f"installing uv {UV_VERSION} into {home}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", home, f"uv=={UV_VERSION}"], check=True)
    out = subprocess.run([uv, "--version"], check=True, capture_output=True, text=True).stdout
    return uv, out.strip()


def pack(python, work):
    """This machine's CPython (the interpreter `python`) as .tar.gz and .tar.zst."""
    code = ("import json, sys; sys.dont_write_bytecode = True; sys.path.insert(0, sys.argv[1]);"
            "from pack_cpython import pack;"
            "print(json.dumps(pack(sys.argv[2], compression=None)))")
    tar = os.path.join(work, "python.tar")
    info = json.loads(subprocess.run([python, "-c", code, os.path.join(REPO, "scripts"), tar],
                                     check=True, capture_output=True, text=True).stdout)
    entries = int(subprocess.run(f"tar -tf {tar} | wc -l", shell=True, check=True,
                                 capture_output=True, text=True).stdout)
    subprocess.run(["gzip", "-9", "-k", "-f", tar], check=True)
    subprocess.run(["zstd", "-19", "-T0", "-q", "-f", tar, "-o", tar + ".zst"], check=True)
    info["entries"], info["tar_size"], info["python"] = entries, os.path.getsize(tar), python
    os.remove(tar)
    return info


def sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_catalogues(www, info):
    """Renames the archives as upstream names them; one catalogue per compression."""
    v = [int(x) for x in info["version"].split(".")]
    arch, build = info["arch"], "20260101"
    archives = {}
    for ext, src in (("tar.gz", "python.tar.gz"), ("tar.zst", "python.tar.zst")):
        name = f"cpython-{info['version']}+{build}-{arch}-unknown-linux-gnu-install_only.{ext}"
        os.rename(os.path.join(www, src), os.path.join(www, name))
        key = f"cpython-{info['version']}-linux-{arch}-gnu"
        entry = {"name": "cpython", "arch": {"family": arch, "variant": None}, "os": "linux",
                 "libc": "gnu", "major": v[0], "minor": v[1], "patch": v[2], "prerelease": "",
                 "url": f"BASE/{name}", "sha256": sha256(os.path.join(www, name)),
                 "variant": None, "build": build}
        catalogue = f"catalogue-{ext.split('.')[1]}.json"
        with open(os.path.join(www, catalogue), "w") as f:
            json.dump({key: entry}, f, indent=1)
        archives[ext] = {"file": name, "catalogue": catalogue,
                         "size": os.path.getsize(os.path.join(www, name))}
    return archives


def serve(www):
    """A static file server on 127.0.0.1 (its own thread); returns the base URL."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=www, **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def policy_imports():
    """The modules pyswap's default validation policy imports (src/domain/validate/policy.rs): the
    extension modules and the pure-Python spread, in that order."""
    text = open(os.path.join(REPO, "src/domain/validate/policy.rs")).read()
    names = []
    for const in ("DEFAULT_MODULES", "STDLIB"):
        body = text.split(f"pub const {const}: &[&str] = &[", 1)[1].split("];", 1)[0]
        names += [n.strip().strip('"') for n in body.split(",") if n.strip().startswith('"')]
    return names


def pyc_count(prefix):
    return sum(1 for _ in glob.iglob(os.path.join(prefix, "lib", "**", "*.pyc"), recursive=True))


def settle(warm):
    """Before a timed run: write back dirty pages (`sync`) so no tool pays for the previous one's
    writes and, as root, drop the page cache so the trees of earlier runs (several GB by the end)
    do not push the machine into reclaim in the middle of a run; then read `warm` (archives,
    binaries) back in, so every run starts from the same warm state."""
    os.sync()
    if os.geteuid() == 0:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    for path in warm:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


WARM = []


def run_timed(argv, env=None, shell=False):
    """Wall seconds and peak RSS (KiB) of one run; `/usr/bin/time` measures the RSS, so that the
    number is the tool's own and not the high-water mark it inherits from this Python."""
    time_out = os.path.join(tempfile.gettempdir(), f"compare-uv-rss.{os.getpid()}")
    if shell:
        argv = ["sh", "-c", argv]
    argv = ["/usr/bin/time", "-f", "%M", "-o", time_out, *argv]
    settle(WARM)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    with open(time_out) as f:
        rss = int(f.read().split()[-1])
    return wall, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=shutil.which("python3"),
                    help="the interpreter whose tree is packed (default: python3)")
    ap.add_argument("--rounds", type=int, default=7, help="timed runs of each tool per archive")
    ap.add_argument("--work", help="working directory (default: a fresh one under /tmp, removed); "
                    "an earlier run's archives in it are used again")
    ap.add_argument("--only", help="comma-separated subset of the tools, by the first word of "
                    "their names as printed (e.g. pyswap,uv), and of the archives (tar.gz, tar.zst)")
    args = ap.parse_args()

    pyswap = build_pyswap()
    uv, uv_version = install_uv()
    work = args.work or tempfile.mkdtemp(prefix="pyswap-vs-uv.")
    os.chmod(work, 0o755)  # reachable by root's sandbox user (nobody)
    www = os.path.join(work, "www")
    os.makedirs(www, exist_ok=True)
    saved = os.path.join(www, "packed.json")
    if os.path.exists(saved):  # --work of an earlier run: the same archives again
        info, archives = json.load(open(saved))
        for a in archives.values():
            path = os.path.join(www, a["catalogue"])
            open(path, "w").write(open(path + ".in").read())
    else:
        log(f"packing {args.python} …")
        info = pack(args.python, www)
        archives = write_catalogues(www, info)
        for a in archives.values():
            path = os.path.join(www, a["catalogue"])
            shutil.copy(path, path + ".in")
        json.dump([info, archives], open(saved, "w"))
    base = serve(www)
    for a in archives.values():
        path = os.path.join(www, a["catalogue"])
        text = open(path).read().replace("BASE/", base + "/")
        open(path, "w").write(text)
    short = info["short"]
    WARM.extend([pyswap, uv, shutil.which("tar"), shutil.which("curl")])
    WARM.extend(os.path.join(www, a["file"]) for a in archives.values())

    # Every run gets a new directory and nothing is deleted until the end: ext4 scans past
    # inodes freed in the last minutes when it allocates new ones (`recently_deleted`), which
    # made every tool up to 2x slower and noisier when runs were deleted in between.
    runs = iter(range(1 << 30))

    def fresh(name):
        path = os.path.join(work, "runs", f"{name}-{next(runs)}")
        os.makedirs(path)
        return path

    env = clean_env

    # Each returns (wall, peak RSS, the interpreter it installed).
    def pyswap_cmd(command):
        def run(a):
            home = fresh("pyswap-home")
            took = run_timed([pyswap, "--quiet", "--catalogue", f"{base}/{a['catalogue']}", command, short],
                             env=env(PYSWAP_HOME=home))
            return (*took, glob.glob(f"{home}/store/*/bin/python3")[0])
        return run

    no_validation = os.path.join(work, "no-validation.toml")
    open(no_validation, "w").write("[validation]\nenabled = false\n")

    def pyswap_bare(a):
        home = fresh("pyswap-home")
        took = run_timed([pyswap, "--quiet", "--config", no_validation, "--catalogue",
                          f"{base}/{a['catalogue']}", "install", short], env=env(PYSWAP_HOME=home))
        return (*took, glob.glob(f"{home}/store/*/bin/python3")[0])

    imports = policy_imports()

    def uv_install(a, then_import=False, compile_bytecode=False):
        root = fresh("uv")
        e = env(UV_PYTHON_INSTALL_DIR=os.path.join(root, "python"), UV_CACHE_DIR=os.path.join(root, "cache"),
                UV_PYTHON_BIN_DIR=os.path.join(root, "bin"), UV_NO_CONFIG="1", UV_NO_PROGRESS="1")
        install = [uv, "python", "install", "--python-downloads-json-url", f"{base}/{a['catalogue']}", short]
        if compile_bytecode:
            install.append("--compile-bytecode")
        if then_import:
            # The check a careful uv user runs for the same assurance: the new interpreter's
            # first start, importing what pyswap's policy imports.
            script = ('set -e; "$@"; p=$(ls -d "$ROOT"/python/cpython-*/bin/python3 | head -n 1); '
                      f'"$p" -c "import {", ".join(imports)}"')
            took = run_timed(["sh", "-c", script, "uv+imports", *install], env=dict(e, ROOT=root))
        else:
            took = run_timed(install, env=e)
        return (*took, glob.glob(f"{root}/python/cpython-*/bin/python3")[0])

    def curl_tar(a):
        dest = fresh("tar")
        flag = "-xzf" if a["file"].endswith(".gz") else "--zstd -xf"
        took = run_timed(f"curl -sSf {base}/{a['file']} | tar {flag} - -C {dest}", shell=True)
        return (*took, f"{dest}/python/bin/python3")

    def local_tar(a):
        dest = fresh("tar")
        flag = ["-xzf"] if a["file"].endswith(".gz") else ["--zstd", "-xf"]
        took = run_timed(["tar", *flag, os.path.join(www, a["file"]), "-C", dest])
        return (*took, f"{dest}/python/bin/python3")

    def decompress(a):
        tool = "gzip" if a["file"].endswith(".gz") else "zstd"
        took = run_timed(f"{tool} -dc {os.path.join(www, a['file'])} > /dev/null", shell=True)
        return (*took, None)

    tools = [("pyswap switch", pyswap_cmd("switch")), ("pyswap install", pyswap_cmd("install")),
             ("pyswap install -V", pyswap_bare), ("uv python install", uv_install),
             ("uv + imports", lambda a: uv_install(a, then_import=True)),
             ("uv -c + imports", lambda a: uv_install(a, then_import=True, compile_bytecode=True)),
             ("curl | tar", curl_tar), ("tar (local file)", local_tar),
             ("decompress only", decompress)]

    if args.only:
        keep = args.only.split(",")
        tools = [t for t in tools if any(t[0] == k or t[0].split()[0] == k for k in keep)]
        archives = {k: v for k, v in archives.items() if k in keep} or archives
    print(f"{info['version']} from {info['python']}: {info['entries']} entries, "
          f"{info['tar_size'] / 1e6:.0f} MB as tar; pyswap {pyswap}; {uv_version}; "
          f"{os.cpu_count()} CPUs; {args.rounds} rounds, tools alternating")
    results = {}
    for ext, a in archives.items():
        log(f"{ext}: {a['size'] / 1e6:.1f} MB")
        # One warm-up of each (page cache, server), not counted; its interpreter must run. The
        # first run of each installed tree says whether shipped bytecode was still valid.
        for name, fn in tools:
            python = fn(a)[2]
            if python is None:
                continue
            prefix = os.path.dirname(os.path.dirname(os.path.realpath(python)))
            before = pyc_count(prefix)
            subprocess.run([python, "-c", f"import {', '.join(imports)}"], check=True, env=env())
            written = pyc_count(prefix) - before
            log(f"  {name}: {python} runs; its first run wrote {written} .pyc files")
        times = {name: [] for name, _ in tools}
        for r in range(args.rounds):
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            for name, fn in order:
                times[name].append(fn(a)[:2])
        results[ext] = times
        def median(name):
            got = times.get(name)
            return statistics.median(w for w, _ in got) if got else None
        uv_median, uvi_median = median("uv python install"), median("uv + imports")
        uvc_median = median("uv -c + imports")
        uv_rss = max((m for _, m in times.get("uv -c + imports", [])), default=None)
        ratio = lambda x, y: f"{x / y:>8.2f}" if y else "       -"
        print(f"\n.{ext} ({a['size'] / 1e6:.1f} MB)")
        print(f"  {'':<20} {'median':>8} {'min':>8} {'max':>8} {'peak RSS':>10} {'/ uv':>8} "
              f"{'/ uv+imp':>8} {'/ uv-c+imp':>10} {'RSS / uv-c':>10}")
        for name, _ in tools:
            walls = [w for w, _ in times[name]]
            rss = max(m for _, m in times[name])
            med = statistics.median(walls)
            print(f"  {name:<20} {med:>7.3f}s {min(walls):>7.3f}s {max(walls):>7.3f}s "
                  f"{rss / 1024:>8.1f}MB {ratio(med, uv_median)} {ratio(med, uvi_median)} "
                  f"  {ratio(med, uvc_median)} {ratio(rss, uv_rss)}  ")
        if os.geteuid() == 0 and not args.only:
            start_times(pyswap, base, a, short, fresh, env, args.rounds)
    shutil.rmtree(os.path.join(work, "runs"), ignore_errors=True)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


START = ("import asyncio, json, email.parser, http.client, decimal, logging, subprocess, "
         "argparse, zipfile, typing, pathlib, tempfile")


def start_times(pyswap, base, a, short, fresh, env, rounds):
    """A start with 12 imports as `nobody` through pyswap's profile, against the same from a
    precompiled copy of the tree (tar -x, then `python -m compileall -j0` as `make install`
    compiles), alternating; medians of 4 x rounds runs each."""
    home = fresh("pyswap-start")
    os.chmod(os.path.dirname(home), 0o755)
    os.chmod(os.path.dirname(os.path.dirname(home)), 0o755)
    subprocess.run([pyswap, "--quiet", "--catalogue", f"{base}/{a['catalogue']}", "switch", short],
                   env=env(PYSWAP_HOME=home), check=True)
    profile = os.path.join(home, "profiles", "default", "bin", "python3")
    copy = fresh("precompiled")
    os.chmod(copy, 0o755)
    flag = "-xzf" if a["file"].endswith(".gz") else "--zstd -xf"
    subprocess.run(f"curl -sSf {base}/{a['file']} | tar {flag} - -C {copy}", shell=True, check=True)
    compiled = os.path.join(copy, "python", "bin", "python3")
    lib = glob.glob(os.path.join(copy, "python", "lib", "python3.*"))[0]
    subprocess.run([compiled, "-m", "compileall", "-q", "-j0", lib], env=env(), check=False,
                   stdout=subprocess.DEVNULL)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    times = {"pyswap profile": [], "precompiled copy": []}
    for _ in range(2):  # warm both
        for python in (profile, compiled):
            subprocess.run([*as_nobody, python, "-c", START], env=env(), check=True)
    for r in range(4 * rounds):
        pairs = [("pyswap profile", profile), ("precompiled copy", compiled)]
        for name, python in (pairs if r % 2 == 0 else pairs[::-1]):
            t0 = time.perf_counter()
            subprocess.run([*as_nobody, python, "-c", START], env=env(), check=True)
            times[name].append(time.perf_counter() - t0)
    p, c = (statistics.median(times[n]) for n in ("pyswap profile", "precompiled copy"))
    print(f"  start as nobody, 12 imports: pyswap profile {p * 1000:.1f} ms, precompiled copy "
          f"{c * 1000:.1f} ms: {p / c:.2f}x ({4 * rounds} alternating runs each, medians)")


if __name__ == "__main__":
    main()
