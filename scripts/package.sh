#!/usr/bin/env bash
# Builds pyswap's two packages into target/package/:
#   pyswap_<version>-1_<arch>.deb                        (cargo-deb; Cargo.toml [package.metadata.deb])
#   pyswap-<version>-py3-none-manylinux_<glibc>_<arch>.whl (maturin, bindings = "bin"; pyproject.toml)
# The tools come from their registries once, pinned, into target/package-tools/ (cargo-deb from
# crates.io, maturin from PyPI); pyswap itself is built from Cargo.lock (--locked), one release
# build shared by both. Nothing else is fetched. Needs dpkg (dpkg-deb, dpkg-shlibdeps: Debian's
# dpkg-dev) for the .deb.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="$target/package"
tools="$target/package-tools"
CARGO_DEB_VERSION=3.6.0
MATURIN_VERSION=1.16.0
export PYTHONDONTWRITEBYTECODE=1

if [ "$("$tools/bin/cargo-deb" --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "== cargo install cargo-deb $CARGO_DEB_VERSION (once)"
  cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION" --root "$tools"
fi
if [ "$("$tools/venv/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ]; then
  echo "== pip install maturin $MATURIN_VERSION (once)"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
fi

echo "== release build"
cargo build --release --locked --quiet
bin="$target/release/pyswap"

rm -rf "$out"
mkdir -p "$out/deb/man" "$out/deb/completions" "$out/deb/units" "$out/wheel"
# Man pages (gzipped, no name or time in the header: the same bytes every build), completions
# where each shell looks, and the units pointed at the packaged binary.
"$bin" man --dir "$out/deb/man" >/dev/null
gzip -9nf "$out"/deb/man/*.1
"$bin" completions bash > "$out/deb/completions/pyswap.bash"
"$bin" completions zsh > "$out/deb/completions/_pyswap"
"$bin" completions fish > "$out/deb/completions/pyswap.fish"
sed 's|^ExecStart=/usr/local/bin/pyswap |ExecStart=/usr/bin/pyswap |' contrib/systemd/pyswap-gc.service \
  > "$out/deb/units/pyswap-gc.service"
grep -q '^ExecStart=/usr/bin/pyswap ' "$out/deb/units/pyswap-gc.service"
cp contrib/systemd/pyswap-gc.timer "$out/deb/units/"
python3 scripts/third-party-licenses.py "$out/wheel/THIRD-PARTY-LICENSES"
gzip -9nc "$out/wheel/THIRD-PARTY-LICENSES" > "$out/deb/THIRD-PARTY-LICENSES.gz"

echo "== cargo deb"
"$tools/bin/cargo-deb" --no-build --locked --quiet --output "$out/"

echo "== maturin build"
"$tools/venv/bin/maturin" build --release --locked --quiet --out "$out" >/dev/null

ls -1 "$out"/*.deb "$out"/*.whl
