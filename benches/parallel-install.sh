#!/usr/bin/env bash
# Benchmark (not a test): do several downloads in parallel finish in not much more than the
# longest single one? Packs this machine's CPython three times (as the default, +debug and
# +freethreaded builds of the same version: three catalogue keys, three distinct archives),
# serves them from 127.0.0.1 through a server that caps each connection at RATE bytes/s (as a
# WAN link or a CDN edge does), and times `pyswap install` of one of them, of all three one
# at a time (-j 1), and of all three at once (-j 3), each into a fresh PYSWAP_HOME.
#
#   bash benches/parallel-install.sh            # RATE=16777216 (16 MiB/s per connection), RUNS=3
#   RATE=8388608 RUNS=5 bash benches/parallel-install.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pyswap-parallel.XXXXXX)
chmod 755 "$work"  # reachable by root's sandbox user (nobody)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
rate=${RATE:-16777216}
runs=${RUNS:-3}
cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml"
pyswap="${CARGO_TARGET_DIR:-$repo/target}/release/pyswap"
mkdir -p "$work/www"

python3 - "$work/www" "$repo/scripts" <<'PY'
import json, os, sys
www = sys.argv[1]
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
from pack_cpython import pack
catalogue = {}
for variant in (None, "debug", "freethreaded"):
    suffix = f"+{variant}" if variant else ""
    info = pack(os.path.join(www, "packing.tar.gz"), marker=f"{variant}\n".encode())
    name = f"cpython-{info['version']}{suffix}-{info['arch']}-install_only.tar.gz"
    os.rename(os.path.join(www, "packing.tar.gz"), os.path.join(www, name))
    v = [int(x) for x in info["version"].split(".")]
    key = f"cpython-{info['version']}{suffix}-linux-{info['arch']}-gnu"
    catalogue[key] = {"name": "cpython", "arch": {"family": info["arch"], "variant": None}, "os": "linux",
        "libc": "gnu", "major": v[0], "minor": v[1], "patch": v[2], "prerelease": "",
        "url": "URL/" + name, "sha256": info["sha256"], "variant": variant, "build": "20260101",
        "size": info["size"]}
    print(f"packed {name}: {info['size'] / 2**20:.1f} MiB")
    version = info["version"]
json.dump(catalogue, open(os.path.join(www, "catalogue.json"), "w"), indent=1)
open(os.path.join(www, "VERSION"), "w").write(version)
PY

# A static server that sends each response at most RATE bytes/s.
python3 - "$work/www" "$rate" > "$work/port" <<'PY' &
import http.server, os, sys, time
root, rate = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(path):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        data = open(path, "rb").read()
        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
        start, chunk = time.monotonic(), 64 << 10
        for i in range(0, len(data), chunk):
            self.wfile.write(data[i:i + chunk])
            ahead = (i + chunk) / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
server=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
base="http://127.0.0.1:$(cat "$work/port")"
sed -i "s|URL/|$base/|" "$work/www/catalogue.json"
version=$(cat "$work/www/VERSION")

time_install() { # label, args...
  local label=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    rm -rf "$work/home"
    local t0 t1
    t0=$(date +%s.%N)
    PYSWAP_HOME="$work/home" "$pyswap" --catalogue "$base/catalogue.json" --quiet install "$@"
    t1=$(date +%s.%N)
    times+=("$(awk -v a="$t0" -v b="$t1" "BEGIN { print b - a }")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v l="$label" '{a[NR]=$1} END {printf "%-40s median %.2f s (min %.2f, max %.2f, runs: %d)\n", l, a[int((NR+1)/2)], a[1], a[NR], NR}'
}
echo "per-connection cap: $((rate >> 20)) MiB/s"
time_install "one runtime" "$version"
time_install "three runtimes, one at a time (-j 1)" -j 1 "$version" "$version+debug" "$version+freethreaded"
time_install "three runtimes at once (-j 3)" -j 3 "$version" "$version+debug" "$version+freethreaded"
# Where the time goes: CPU seconds (2 cores give at most 2 per wall second) and peak memory.
rm -rf "$work/home"
PYSWAP_HOME="$work/home" /usr/bin/time -f "three at once: %e s wall, %U s user + %S s system CPU, %M KiB peak RSS" \
  "$pyswap" --catalogue "$base/catalogue.json" --quiet install -j 3 "$version" "$version+debug" "$version+freethreaded"
