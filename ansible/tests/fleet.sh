#!/usr/bin/env bash
# Fleet rollout through Ansible, end to end on this machine: 5 hosts in an inventory (all
# ansible_connection=local, each with its own PYSWAP_HOME and manifest), a local mirror of this
# machine's real CPython packed as three builds of one version (A; B, a patched rebuild; C, a
# build the fleet's health check refuses), and the collection's playbooks (scenario 6 signs the
# catalogue with minisign and pyswap). Each scenario is
# checked on the homes on disk. Needs cargo and python3 (3.10+, for ansible-core 2.17); installs
# ansible-core 2.17.7 from the package index into target/ansible-venv once. No other network.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1   # nothing written into the repository
repo=$(cd "$(dirname "$0")/../.." && pwd)
started=$(date +%s)
work=$(mktemp -d /tmp/pyswap-fleet.XXXXXX)
# Reachable by root's sandbox user (nobody), which compiles and validates each new runtime.
chmod 755 "$work"
trap 'rm -rf "$work"; [ -z "${use_deb:-}" ] || dpkg --purge pyswap >/dev/null 2>&1 || true' EXIT
venv="${CARGO_TARGET_DIR:-$repo/target}/ansible-venv"
if [ ! -x "$venv/bin/ansible-playbook" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'ansible-core==2.17.7'
fi
cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml"
pyswap="${CARGO_TARGET_DIR:-$repo/target}/release/pyswap"
# With the .deb scripts/package.sh built, the hosts get pyswap from it (the rollout's
# pyswap_deb, installed with apt into this machine's /usr/bin) and every scenario runs the
# packaged binary; it is purged at the end. Only on a machine where no pyswap package or
# /var/lib/pyswap exists (CI's): elsewhere it says so, and under CI that fails.
deb=$(ls "${CARGO_TARGET_DIR:-$repo/target}"/package/pyswap_*.deb 2>/dev/null | head -1 || true)
use_deb=""
if [ -n "$deb" ] && [ "$(id -u)" = 0 ] && ! dpkg -s pyswap >/dev/null 2>&1 && [ ! -e /var/lib/pyswap ]; then
  use_deb=1
elif [ -n "${CI:-}" ]; then
  echo "fleet: FAILED: CI must roll out from the .deb (build it with scripts/package.sh; as root, on a host without pyswap's package or /var/lib/pyswap)" >&2
  exit 1
else
  echo "NOTICE: the hosts use $pyswap, not a .deb (none built, or this machine has pyswap's package or /var/lib/pyswap)"
fi

# ansible-test sanity cannot run here: its venvs bootstrap pip from ci-files.testing.ansible.com,
# which this machine does not reach. Instead: the module documentation must parse (ansible-doc),
# the modules compile, and the playbooks pass --syntax-check (below, once the inventory exists).
echo "== documentation and compile checks"
for m in pyswap pyswap_info; do
  ANSIBLE_COLLECTIONS_PATH="$repo/ansible" "$venv/bin/ansible-doc" -t module "pyswap.runtime.$m" > /dev/null
done
"$venv/bin/python" -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' \
  "$repo"/ansible/ansible_collections/pyswap/runtime/plugins/*/*.py
echo "== module unit tests"
PYTHONPATH="$repo/ansible" "$venv/bin/python" -m unittest discover -s "$repo/ansible/tests/unit" 2>&1 | tail -3

# The mirror: three builds of this machine's CPython, one catalogue per build.
python3 - "$work/mirror" "$repo/scripts" <<'PY'
import json, os, sys
mirror = sys.argv[1]
os.makedirs(mirror)
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
from pack_cpython import pack
for name, build, marker in (("A", "20260101", None), ("B", "20260301", b"patched rebuild\n"),
                            ("C", "20260401", b"bad build\n")):
    path = os.path.join(mirror, f"cpython-{build}.tar.gz")
    info = pack(path, marker)
    version, arch = info["version"], info["arch"]
    major, minor, patch = (int(x) for x in version.split("."))
    entry = {"name": "cpython", "arch": {"family": arch, "variant": None}, "os": "linux",
             "libc": "gnu", "major": major, "minor": minor, "patch": patch, "prerelease": "",
             "url": "file://" + path, "sha256": info["sha256"], "variant": None, "build": build}
    with open(os.path.join(mirror, f"catalogue-{name}.json"), "w") as f:
        json.dump({f"cpython-{version}-linux-{arch}-gnu": entry}, f)
with open(os.path.join(mirror, "VERSION"), "w") as f:
    f.write(info["version"])
PY
version=$(cat "$work/mirror/VERSION")

# Every host refuses build C after the switch (its health check reads python/BUILD).
check='import os, sys; p = os.path.join(sys.prefix, "BUILD"); sys.exit("bad build" in open(p).read() if os.path.exists(p) else 0)'
manifest() {  # manifest HOST [extra TOML]
  mkdir -p "$work/$1"
  cat > "$work/$1/config.toml" <<TOML
[maintenance]
windows = ["Sat 02:00-04:00 UTC"]

[[validation.checks]]
name = "not-a-bad-build"
run = ["{python}", "-c", '$check']
when = "after"
${2:-}
TOML
}
{
  echo "[fleet]"
  for h in h1 h2 h3 h4 h5; do
    manifest "$h"
    echo "$h ansible_connection=local pyswap_home=$work/$h/home pyswap_config=$work/$h/config.toml"
  done
  echo "[fleet:vars]"
  echo "ansible_python_interpreter=$venv/bin/python"
  if [ -n "$use_deb" ]; then echo "pyswap_binary=/usr/bin/pyswap"; else echo "pyswap_binary=$pyswap"; fi
} > "$work/inventory"

export ANSIBLE_COLLECTIONS_PATH="$repo/ansible" ANSIBLE_CACHE_PLUGIN=jsonfile \
  ANSIBLE_CACHE_PLUGIN_CONNECTION="$work/facts" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
  ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_RETRY_FILES_ENABLED=False
playbooks="$repo/ansible/ansible_collections/pyswap/runtime/playbooks"
inside='{"PYSWAP_NOW": "2026-11-21T03:00:00Z"}'
outside='{"PYSWAP_NOW": "2026-11-21T05:00:00Z"}'
play() {  # play NAME BUILD-CATALOGUE ENVIRONMENT [ansible-playbook args...]; output in $work/out
  local name=$1 cat=$2 env=$3; shift 3
  set +e
  "$venv/bin/ansible-playbook" -i "$work/inventory" "$playbooks/$name.yml" \
    -e pyswap_version="$version" -e pyswap_catalogue="$work/mirror/catalogue-$cat.json" \
    -e "{\"pyswap_environment\": $env}" -e '{"pyswap_serial": [1, 2, "100%"]}' "$@" > "$work/out" 2>&1
  local rc=$?
  set -e
  return $rc
}
fail() { echo "fleet: FAILED: $*" >&2; tail -40 "$work/out" >&2; exit 1; }
build_of() { "$pyswap" --json --home "$work/$1/home" current | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["build"] or "-", d["generation"] or "-")'; }
expect() {  # expect HOST BUILD
  local got; got=$(build_of "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || fail "$1 runs build $got, expected $2"
}
recap_changed() { grep -E "^$1 +:" "$work/out" | sed -E 's/.*changed=([0-9]+).*/\1/'; }
# What a home holds: every file but the locks, SQLite's reader files (-wal, -shm: a read-only
# connection may create them empty) and the home directory's own mtime; the database by content.
state() {
  for h in h1 h2 h3 h4 h5; do
    (cd "$work/$h" && find home -mindepth 1 -path home/locks -prune -o ! -name 'pyswap.db-*' -printf '%p %s %T@\n' | sort
     sha256sum home/pyswap.db)
  done
}

for p in rollout rollback; do
  "$venv/bin/ansible-playbook" -i "$work/inventory" --syntax-check "$playbooks/$p.yml" > /dev/null
done

echo "== 1. a full rollout (pyswap from its .deb when built), then a rerun that changes nothing"
if [ -n "$use_deb" ]; then
  # The five hosts share this machine's dpkg: the package goes in through h1 (one dpkg at a
  # time), and installing it again changes nothing.
  play rollout A "$inside" -l h1 -e pyswap_deb="$deb" || fail "the rollout of build A from the .deb failed"
  [ "$(dpkg-query -W -f '${Status}' pyswap)" = "install ok installed" ] || fail "the .deb is not installed"
  [ "$(/usr/bin/pyswap --version)" = "$("$pyswap" --version)" ] || fail "/usr/bin/pyswap is not this build"
  play rollout A "$inside" -l h1 -e pyswap_deb="$deb" || fail "the rerun with the .deb failed"
  [ "$(recap_changed h1)" = 0 ] || fail "installing the same .deb again changed h1"
fi
play rollout A "$inside" || fail "the rollout of build A failed"
for h in h1 h2 h3 h4 h5; do expect $h 20260101; done
play rollout A "$inside" || fail "the rerun failed"
for h in h1 h2 h3 h4 h5; do [ "$(recap_changed $h)" = 0 ] || fail "the rerun changed $h"; done

mkdir -p "$work/units"
play rollout A "$inside" -l h1 -e pyswap_gc_timer=true -e pyswap_systemd_dir="$work/units" \
  -e pyswap_systemd_manage=false || fail "installing the gc units failed"
for u in pyswap-gc.service pyswap-gc.timer; do
  cmp -s "$repo/contrib/systemd/$u" "$work/units/$u" || fail "$u was not installed"
done

echo "== 2. a canary that fails validation halts the rollout"
play rollout C "$inside" && fail "the rollout of the bad build succeeded"
grep -q "health check of generation" "$work/out" || fail "the canary did not fail its health check"
for h in h1 h2 h3 h4 h5; do expect $h 20260101; done
for h in h2 h3 h4 h5; do
  [ "$(build_of $h | cut -d' ' -f2)" = 1 ] || fail "$h was switched after the canary failed"
  [ "$("$pyswap" --json --home "$work/$h/home" generations | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] \
    || fail "$h has a new generation after the canary failed"
done

echo "== 3. a host failing in batch 2 halts; rollback.yml returns the switched hosts only"
manifest h3 '[[validation.checks]]
name = "h3-is-broken"
run = ["false"]
when = "after"'
play rollout B "$inside" && fail "the rollout with a broken h3 succeeded"
expect h1 20260301; expect h2 20260301; expect h3 20260101; expect h4 20260101; expect h5 20260101
manifest h3
play rollback B "$inside" || fail "rollback.yml failed"
for h in h1 h2 h3 h4 h5; do expect $h 20260101; done
for h in h3 h4 h5; do [ "$(recap_changed $h)" = 0 ] || fail "rollback.yml changed $h"; done
play rollback B "$inside" || fail "the rerun of rollback.yml failed"
for h in h1 h2 h3 h4 h5; do [ "$(recap_changed $h)" = 0 ] || fail "the rollback rerun changed $h"; done

echo "== 4. outside the window: pre-staging runs, converged hosts stay ok, the others fail"
play rollout B "$inside" -l h1,h2 || fail "switching h1 and h2 failed"
play rollout B "$outside" && fail "a change outside the window succeeded"
grep -q '"outside_window": true' "$work/out" || fail "no host said outside_window"
expect h1 20260301; expect h2 20260301; expect h3 20260101
for h in h1 h2; do grep -qE "^$h +:.*failed=0" "$work/out" || fail "converged $h failed"; done
grep -qE "^h3 +:.*failed=1" "$work/out" || fail "h3 did not fail outside the window"
"$pyswap" --json --home "$work/h4/home" list --installed | grep -q 20260301 || fail "h4 was not pre-staged"

echo "== 5. --check writes nothing; --diff shows the change"
before=$(state)
play rollout B "$inside" --check --diff || fail "the check-mode rollout failed"
after=$(state)
[ "$after" = "$before" ] || { diff <(echo "$before") <(echo "$after") >&2 || true; fail "--check changed a home"; }
grep -q -- "-build: 20260101" "$work/out" && grep -q -- "+build: 20260301" "$work/out" || fail "--diff did not show the build change"
expect h3 20260101

echo "== 6. with signing keys: an unsigned catalogue, or staging's, is refused everywhere; production's rolls out"
minisign -G -W -f -p "$work/fleet.pub" -s "$work/fleet.key" >/dev/null
key=$(sed -n 2p "$work/fleet.pub")
keys="{\"pyswap_trust_keys\": [\"$key\"], \"pyswap_trust_names\": [\"production\"]}"
play rollout B "$inside" -e "$keys" && fail "a rollout from an unsigned catalogue succeeded"
grep -q "is not signed" "$work/out" || fail "no host said the catalogue is not signed"
grep -q "\[trust\]" "$work/h4/config.toml" || fail "the rollout did not write [trust] keys"
expect h3 20260101; expect h4 20260101
"$pyswap" catalogue sign "$work/mirror/catalogue-B.json" --key "$work/fleet.key" --name staging --expires-in 1d >/dev/null
play rollout B "$inside" -e "$keys" && fail "production hosts took staging's catalogue"
grep -q "is signed for catalogue line staging, not for production" "$work/out" || fail "no host said the catalogue is staging's"
"$pyswap" catalogue sign "$work/mirror/catalogue-B.json" --key "$work/fleet.key" --name production --expires-in 1d >/dev/null
minisign -V -P "$key" -m "$work/mirror/catalogue-B.json" >/dev/null || fail "minisign refused pyswap's signature"
play rollout B "$inside" -e "$keys" || fail "the rollout from the signed catalogue failed"
for h in h1 h2 h3 h4 h5; do expect $h 20260301; done
printf ' ' >> "$work/mirror/catalogue-B.json"   # the mirror changes it after signing
play rollout B "$inside" -e "$keys" && fail "a rollout from a changed catalogue succeeded"
grep -q "does not match its bytes" "$work/out" || fail "no host said the signature does not match"
for h in h1 h2 h3 h4 h5; do expect $h 20260301; done

echo "== 7. a host without pyswap_config gets [trust] in the manifest pyswap reads there; the opt-in restart"
# h1 as an operator sets it: no pyswap_config, the manifest named by PYSWAP_CONFIG in the
# environment pyswap runs with (the old default wrote into <home>/config.toml, which pyswap then
# never read, or the controller's HOME). A service (a real
# process mapping the running build, in a control group as systemd makes one) runs build B.
manifest h1
mv "$work/h1/config.toml" "$work/h1/site.toml"
{ echo "[fleet]"; echo "h1 ansible_connection=local pyswap_home=$work/h1/home"
  echo "[fleet:vars]"; echo "ansible_python_interpreter=$venv/bin/python"; echo "pyswap_binary=$pyswap"
} > "$work/inventory-h1"
prefix=$("$pyswap" --json --home "$work/h1/home" current | python3 -c 'import json,sys; print(json.load(sys.stdin)["store_path"])')
unit="pyswap-fleet-$$-app.service"
group=/sys/fs/cgroup/unified/system.slice/$unit
python3 -c 'import mmap, sys, time
f = open(sys.argv[1], "rb"); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); f.close()
print("ready", flush=True); time.sleep(300)' "$prefix/bin/python3" > "$work/app.out" &
app=$!
until grep -q ready "$work/app.out" 2>/dev/null; do kill -0 $app; sleep 0.05; done
made_slice=; [ -d /sys/fs/cgroup/unified/system.slice ] || made_slice=1
mkdir -p "$group"
cleanup() {  # the service stopped and reaped (a zombie keeps its group busy), then its groups
  set +e
  kill $app 2>/dev/null; wait $app 2>/dev/null
  [ ! -d "$group" ] || rmdir "$group"
  [ -z "$made_slice" ] || rmdir /sys/fs/cgroup/unified/system.slice
  rm -rf "$work"
  [ -z "${use_deb:-}" ] || dpkg --purge pyswap >/dev/null 2>&1
}
trap cleanup EXIT
echo $app > "$group/cgroup.procs"
"$pyswap" --home "$work/h1/home" ps --units | grep -qx "$unit" && fail "$unit needs no restart before the switch"
# The restart stands in for systemctl (systemd does not run here): it logs, then stops the
# service's processes as a restart does; the health gate logs too, so the order shows.
cat > "$work/restart" <<SH
#!/bin/sh
echo "restart \$1" >> "$work/restarts"
for p in \$(cat /sys/fs/cgroup/unified/system.slice/\$1/cgroup.procs); do kill \$p; echo \$p > /sys/fs/cgroup/unified/cgroup.procs; done
SH
chmod +x "$work/restart"
"$pyswap" catalogue sign "$work/mirror/catalogue-A.json" --key "$work/fleet.key" --name production --version 10 --expires-in 1d >/dev/null
"$venv/bin/ansible-playbook" -i "$work/inventory-h1" "$playbooks/rollout.yml" \
  -e pyswap_version="$version" -e pyswap_catalogue="$work/mirror/catalogue-A.json" \
  -e "{\"pyswap_environment\": {\"PYSWAP_NOW\": \"2026-11-21T03:00:00Z\", \"PYSWAP_CONFIG\": \"$work/h1/site.toml\"}}" \
  -e "$keys" -e pyswap_restart_units=true \
  -e "{\"pyswap_restart_command\": \"$work/restart\", \"pyswap_health_gate\": \"sh -c 'echo gate >> $work/restarts'\"}" \
  > "$work/out" 2>&1 || fail "the rollout with the restart step failed"
expect h1 20260101
grep -q "\[trust\]" "$work/h1/site.toml" || fail "[trust] was not written into the manifest h1 reads"
[ ! -e "$work/h1/home/config.toml" ] || fail "[trust] was written into a manifest pyswap does not read"
[ "$(cat "$work/restarts")" = "$(printf 'gate\nrestart %s\ngate' "$unit")" ] \
  || { cat "$work/restarts" >&2; fail "the service was not restarted between two health gates"; }
wait $app 2>/dev/null || true
[ -z "$("$pyswap" --home "$work/h1/home" ps --units)" ] || fail "a service still runs the old build"

echo "fleet: 5 hosts, 7 scenarios (and the gc units) passed in $(( $(date +%s) - started )) s (ansible-core 2.17.7)"
