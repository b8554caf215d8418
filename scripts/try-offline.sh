#!/usr/bin/env bash
# Offline try-out: packs this machine's CPython into a local mirror (two builds of the same
# version, as a patched rebuild would be), then runs switch, generations, rollback and gc
# against it with a throw-away PYSWAP_HOME. Needs cargo and python3; reaches no network.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${TRY_DIR:-$(mktemp -d /tmp/pyswap-try.XXXXXX)}
mkdir -p "$work/mirror"
cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml"
pyswap="${CARGO_TARGET_DIR:-$repo/target}/release/pyswap"

# Pack: python/bin/python3.X, python/bin/python3 -> python3.X, python/lib/libpython*, stdlib.
python3 - "$work/mirror" <<'PY'
import hashlib, json, os, sys, tarfile
mirror = sys.argv[1]
prefix = sys.base_prefix
v = sys.version_info
short = f"{v.major}.{v.minor}"
version = f"{v.major}.{v.minor}.{v.micro}"
skip = {"test", "site-packages", "__pycache__", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip"}
def walk_filter(info):
    parts = info.name.split("/")
    if any(p in skip or p.startswith("config-") for p in parts):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
arch = os.uname().machine
catalogue = {}
for build, marker in (("20260101", None), ("20260201", b"patched rebuild\n")):
    name = f"cpython-{version}+{build}-{arch}-unknown-linux-gnu-install_only.tar.gz"
    path = os.path.join(mirror, name)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(os.path.join(prefix, "bin", f"python{short}"), f"python/bin/python{short}")
        link = tarfile.TarInfo("python/bin/python3"); link.type = tarfile.SYMTYPE; link.linkname = f"python{short}"
        tar.addfile(link)
        for entry in sorted(os.listdir(os.path.join(prefix, "lib"))):
            if entry.startswith("libpython"):
                tar.add(os.path.join(prefix, "lib", entry), f"python/lib/{entry}")
        tar.add(os.path.join(prefix, "lib", f"python{short}"), f"python/lib/python{short}", filter=walk_filter)
        if marker:
            import io
            info = tarfile.TarInfo("python/BUILD"); info.size = len(marker)
            tar.addfile(info, io.BytesIO(marker))
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    key = f"cpython-{version}-linux-{arch}-gnu"
    entry = {"name": "cpython", "arch": {"family": arch, "variant": None}, "os": "linux", "libc": "gnu",
             "major": v.major, "minor": v.minor, "patch": v.micro, "prerelease": "",
             "url": "file://" + path, "sha256": sha, "variant": None, "build": build}
    with open(os.path.join(mirror, f"catalogue-{build}.json"), "w") as f:
        json.dump({key: entry}, f, indent=1)
    print(f"packed {name} ({os.path.getsize(path) >> 20} MiB)")
with open(os.path.join(mirror, "VERSION"), "w") as f:
    f.write(short)
PY
short=$(cat "$work/mirror/VERSION")
export PYSWAP_HOME="$work/home"
run() { echo "+ pyswap $*" >&2; "$pyswap" "$@"; }

run --catalogue "$work/mirror/catalogue-20260101.json" switch "$short"
"$PYSWAP_HOME/profiles/default/bin/python3" -c 'import ssl, sqlite3, sys; print("profile python:", sys.version.split()[0], ssl.OPENSSL_VERSION)'
run --catalogue "$work/mirror/catalogue-20260201.json" switch "$short"
test -e "$PYSWAP_HOME/profiles/default/BUILD" || { echo "expected the patched build to be current" >&2; exit 1; }
run generations
run rollback
test ! -e "$PYSWAP_HOME/profiles/default/BUILD" || { echo "rollback did not restore the first build" >&2; exit 1; }
run rollback --to 2
run list --installed
run gc --keep 1
run generations
test "$(ls "$PYSWAP_HOME/store" | wc -l)" -eq 1 || { echo "gc should leave one store entry" >&2; exit 1; }
"$PYSWAP_HOME/profiles/default/bin/python3" -c 'import encodings, json, decimal; print("after gc the profile still runs")'
echo "try-out passed; home left at $PYSWAP_HOME"
