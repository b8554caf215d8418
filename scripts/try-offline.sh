#!/usr/bin/env bash
# Offline try-out: packs this machine's CPython into a local mirror (two builds of the same
# version, as a patched rebuild would be), then runs switch, generations, rollback and gc
# against it with a throw-away PYSWAP_HOME. Needs cargo, python3 and patchelf; reaches no
# network (but the package registry, once, when patchelf is missing and this is root on Debian).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# The packer makes the interpreter relocatable as upstream's is (RUNPATH $ORIGIN/../lib) with
# patchelf, from Debian's packages: the one tool this needs. A missing one is installed when this
# is root with apt (its package lists refreshed only if the install fails without); otherwise
# the script stops and says how to get it.
if ! command -v patchelf >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing patchelf (Debian package)" >&2
    apt-get install -y -qq patchelf >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq patchelf >/dev/null; }
  fi
  command -v patchelf >/dev/null \
    || { echo "try-offline: patchelf is needed (sudo apt-get install patchelf)" >&2; exit 1; }
fi
# The test suite (`cargo test`) also uses dash, zsh and fish (each sources `pyswap env`'s line)
# and minisign (signed catalogues); without them it skips those cases (CI installs them).
for tool in dash zsh fish minisign; do
  command -v "$tool" >/dev/null \
    || echo "try-offline: note: $tool is not installed; the tests that use it will be skipped (\`bash .ci/run\` installs it)" >&2
done
work=${TRY_DIR:-$(mktemp -d /tmp/pyswap-try.XXXXXX)}
# Others may pass through, as through /var/lib: run as root, pyswap compiles and validates each
# new runtime as its unprivileged sandbox user (`[install] sandbox_user`, default nobody).
chmod 755 "$work"
mkdir -p "$work/mirror"
# A first release build compiles ~250 crates (SQLite, zstd, rustls...): several minutes on 2 cores.
echo "building pyswap (release; the first build takes several minutes, later ones seconds)" >&2
cargo build --release --locked --manifest-path "$repo/Cargo.toml"   # prints each crate it compiles
pyswap="${CARGO_TARGET_DIR:-$repo/target}/release/pyswap"

# Pack (scripts/pack_cpython.py) as python-build-standalone packs: no bytecode, mtimes 2024-01-01.
python3 - "$work/mirror" "$repo/scripts" <<'PY'
import json, os, sys
mirror = sys.argv[1]
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
from pack_cpython import pack
for build, marker in (("20260101", None), ("20260201", b"patched rebuild\n")):
    path = os.path.join(mirror, f"packing-{build}.tar.gz")
    info = pack(path, marker)
    version, arch = info["version"], info["arch"]
    name = f"cpython-{version}+{build}-{arch}-unknown-linux-gnu-install_only.tar.gz"
    os.rename(path, os.path.join(mirror, name))
    major, minor, patch = (int(x) for x in version.split("."))
    key = f"cpython-{version}-linux-{arch}-gnu"
    entry = {"name": "cpython", "arch": {"family": arch, "variant": None}, "os": "linux", "libc": "gnu",
             "major": major, "minor": minor, "patch": patch, "prerelease": "",
             "url": "file://" + os.path.join(mirror, name), "sha256": info["sha256"], "variant": None,
             "build": build}
    with open(os.path.join(mirror, f"catalogue-{build}.json"), "w") as f:
        json.dump({key: entry}, f, indent=1)
    print(f"packed {name} ({info['size'] >> 20} MiB)")
with open(os.path.join(mirror, "VERSION"), "w") as f:
    f.write(info["short"])
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
run check
run verify
run list --installed
run gc --keep 1
run generations
test "$(ls "$PYSWAP_HOME/store" | wc -l)" -eq 1 || { echo "gc should leave one store entry" >&2; exit 1; }
"$PYSWAP_HOME/profiles/default/bin/python3" -c 'import encodings, json, decimal; print("after gc the profile still runs")'
echo "try-out passed; home left at $PYSWAP_HOME"
