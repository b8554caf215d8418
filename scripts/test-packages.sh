#!/usr/bin/env bash
# Installs what scripts/package.sh built, for real, and checks it (run by .ci/run after it):
#
# The .deb, with dpkg into a scratch root (`dpkg --root`, maintainer scripts run chrootless with
# DPKG_ROOT set, as deb-systemd-helper supports; the scratch dpkg database gets this host's libc6
# entry, so the package's own Depends are checked, not forced): every file where Debian's policy
# puts it, `pyswap --version` and `man -l` of the installed page, the gc timer enabled the
# Debian way, the conffile, nothing made in a user's home or in /var/lib/pyswap; `remove`
# keeps /var/lib/pyswap and says so; `purge` keeps it while a process maps a file in it, and
# deletes it once none does; lintian reports no error. The host's own /etc is never touched.
#
# The wheel, with pip into a fresh venv: its `pyswap` on the venv's PATH switches a home to this
# machine's CPython served from a local mirror, and its manylinux tag is the glibc the binary
# needs; `uv tool install` and `pipx install` give a working pyswap too. Needs root (dpkg) and
# python3; no network but PyPI once for uv and pipx.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out="${CARGO_TARGET_DIR:-$repo/target}/package"
deb=$(ls "$out"/pyswap_*.deb)
wheel=$(ls "$out"/pyswap-*.whl)
work=$(mktemp -d /tmp/pyswap-packages.XXXXXX)
chmod 755 "$work"
holder=""
cleanup() {
  [ -z "$holder" ] || kill "$holder" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-packages: FAILED: $*" >&2; exit 1; }
# No PYTHONDONTWRITEBYTECODE: the runtime below runs as root would run it, and must find every
# .pyc it needs in the store (the packing script keeps itself out of the repository's).

echo "== lintian"
lintian --fail-on error --suppress-tags initial-upload-closes-no-bugs "$deb" 2>&1 | grep -v "running with root privileges" || true
lintian --fail-on error "$deb" >/dev/null 2>&1 || fail "lintian reports an error"

echo "== the .deb in a scratch root"
root="$work/root"
user_home="$work/home/alice"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$user_home"
# What the package depends on (libc6), as this host has it: its package entry alone.
dpkg-query -W -f='Package: ${Package}\nStatus: install ok installed\nPriority: optional\nArchitecture: ${Architecture}\nMulti-Arch: ${Multi-Arch}\nVersion: ${Version}\nMaintainer: ${Maintainer}\nDescription: ${binary:Summary}\n\n' libc6 \
  > "$root/var/lib/dpkg/status"
host_wants=$(ls /etc/systemd/system/timers.target.wants 2>/dev/null || true)
dpkgr() { HOME="$user_home" dpkg --root="$root" --force-script-chrootless "$@"; }
dpkgr -i "$deb" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }
want_files="usr/bin/pyswap
usr/share/man/man1/pyswap.1.gz
usr/share/man/man1/pyswap-gc.1.gz
usr/share/bash-completion/completions/pyswap
usr/share/zsh/vendor-completions/_pyswap
usr/share/fish/vendor_completions.d/pyswap.fish
usr/lib/systemd/system/pyswap-gc.service
usr/lib/systemd/system/pyswap-gc.timer
etc/pyswap/config.toml
usr/share/doc/pyswap/copyright
usr/share/doc/pyswap/changelog.Debian.gz
usr/share/doc/pyswap/THIRD-PARTY-LICENSES.gz"
for f in $want_files; do [ -f "$root/$f" ] || fail "/$f is not installed"; done
[ "$(stat -c %a "$root/usr/bin/pyswap")" = 755 ] || fail "/usr/bin/pyswap is not 0755"
"$root/usr/bin/pyswap" --version | grep -qx "pyswap $(dpkg-deb -f "$deb" Version | cut -d- -f1)" \
  || fail "the installed pyswap --version"
# A man page for every command, each one `man` renders.
pages=$("$root/usr/bin/pyswap" man --dir "$work/man" 2>&1 >/dev/null | grep -o 'wrote [0-9]*' | cut -d' ' -f2)
[ "$(ls "$root/usr/share/man/man1" | grep -c '^pyswap.*\.1\.gz$')" = "$pages" ] || fail "not $pages man pages"
for page in "$root"/usr/share/man/man1/pyswap*.1.gz; do
  MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q "pyswap" || fail "man -l $page"
done
MANWIDTH=80 man -l "$root/usr/share/man/man1/pyswap-gc.1.gz" | grep -q "15 4 \* \* \* pyswap gc" || fail "pyswap-gc(1) lacks the cron line"
grep -q '^ExecStart=/usr/bin/pyswap ' "$root/usr/lib/systemd/system/pyswap-gc.service" || fail "the unit does not run /usr/bin/pyswap"
# systemd's own check of the units (its ExecStart pointed at the scratch root's binary).
mkdir -p "$work/units"
sed "s|^ExecStart=/usr/bin/pyswap |ExecStart=$root/usr/bin/pyswap |" "$root/usr/lib/systemd/system/pyswap-gc.service" \
  > "$work/units/pyswap-gc.service"
cp "$root/usr/lib/systemd/system/pyswap-gc.timer" "$work/units/"
systemd-analyze verify --man=no "$work/units/pyswap-gc.service" "$work/units/pyswap-gc.timer" \
  || fail "systemd-analyze verify of the units"
# The timer enabled as deb-systemd-helper does, in the scratch root only.
link="$root/etc/systemd/system/timers.target.wants/pyswap-gc.timer"
[ -L "$link" ] || fail "pyswap-gc.timer is not enabled"
[ "$(ls /etc/systemd/system/timers.target.wants 2>/dev/null || true)" = "$host_wants" ] || fail "the host's /etc was changed"
# The conffile: registered as one, every line a comment, and a manifest pyswap accepts.
dpkgr -s pyswap | grep -A1 '^Conffiles:' | grep -q '/etc/pyswap/config.toml' || fail "config.toml is not a conffile"
! grep -v '^#' "$root/etc/pyswap/config.toml" | grep -q '[^[:space:]]' || fail "config.toml has a line that is not a comment"
"$root/usr/bin/pyswap" config check "$root/etc/pyswap/config.toml" >/dev/null || fail "config check of the conffile"
# Nothing made in a user's home, nor a pyswap home.
[ -z "$(ls -A "$user_home")" ] || fail "installing wrote into a user's home: $(ls -A "$user_home")"
[ ! -e "$root/var/lib/pyswap" ] || fail "installing made /var/lib/pyswap"
[ ! -e "$root/root" ] || fail "installing wrote into /root"
# Installing the same version again (what an upgrade runs) works.
dpkgr -i "$deb" > "$work/reinstall.log" 2>&1 || { cat "$work/reinstall.log"; fail "dpkg -i again"; }

echo "== remove keeps /var/lib/pyswap; purge deletes it, not while it is in use"
mkdir -p "$root/var/lib/pyswap/store/runtime/lib"
printf 'a library' > "$root/var/lib/pyswap/store/runtime/lib/libpython.so"
dpkgr -r pyswap > "$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
grep -q "pyswap: kept $root/var/lib/pyswap" "$work/remove.log" || { cat "$work/remove.log"; fail "remove did not say it kept the home"; }
[ -d "$root/var/lib/pyswap/store" ] && [ ! -e "$root/usr/bin/pyswap" ] && [ -f "$root/etc/pyswap/config.toml" ] \
  || fail "remove: the home must stay, the binary go, the conffile stay"
python3 -c 'import mmap, sys, time
f = open(sys.argv[1], "rb"); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); f.close()
print("ready", flush=True); time.sleep(300)' "$root/var/lib/pyswap/store/runtime/lib/libpython.so" > "$work/holder.out" &
holder=$!
until grep -q ready "$work/holder.out" 2>/dev/null; do kill -0 "$holder"; sleep 0.05; done
dpkgr --purge pyswap > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
grep -q "pyswap: kept $root/var/lib/pyswap: running processes use it (pid: $holder)" "$work/purge.log" \
  || { cat "$work/purge.log"; fail "purge did not keep a home in use"; }
[ -f "$root/var/lib/pyswap/store/runtime/lib/libpython.so" ] || fail "purge deleted a home in use"
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=""
dpkgr -i "$deb" > /dev/null 2>&1 || fail "dpkg -i after purge"
dpkgr --purge pyswap > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
grep -q "pyswap: deleted $root/var/lib/pyswap" "$work/purge.log" || { cat "$work/purge.log"; fail "purge did not say it deleted the home"; }
[ ! -e "$root/var/lib/pyswap" ] && [ ! -e "$root/etc/pyswap" ] && [ ! -L "$link" ] \
  || fail "purge left the home, the conffile or the timer link"

echo "== the wheel in a fresh venv"
case "$(basename "$wheel")" in
  pyswap-*-py3-none-manylinux_*_x86_64.whl|pyswap-*-py3-none-manylinux_*_aarch64.whl) ;;
  *) fail "unexpected wheel name $(basename "$wheel")" ;;
esac
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index --disable-pip-version-check "$wheel"
[ -x "$work/venv/bin/pyswap" ] || fail "the wheel put no pyswap in the venv's bin"
# The tag's glibc is the newest the binary needs.
needs=$(objdump -T "$work/venv/bin/pyswap" | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n -u | tail -1 | cut -d_ -f2)
tag=$(basename "$wheel" | sed -E 's/.*manylinux_([0-9]+)_([0-9]+)_.*/\1.\2/')
[ "$needs" = "$tag" ] || fail "the wheel is tagged glibc $tag, the binary needs $needs"
# pipx and uv (each from PyPI once, pinned, into target/package-tools/) install it too, offline.
tools="${CARGO_TARGET_DIR:-$repo/target}/package-tools/installers"
if [ ! -x "$tools/bin/uv" ] || [ ! -x "$tools/bin/pipx" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check uv==0.9.5 pipx==1.7.1
fi
UV_TOOL_DIR="$work/uv/tools" UV_TOOL_BIN_DIR="$work/uv/bin" UV_CACHE_DIR="$work/uv/cache" \
  "$tools/bin/uv" tool install --offline --quiet "$wheel"
PIPX_HOME="$work/pipx/home" PIPX_BIN_DIR="$work/pipx/bin" \
  "$tools/bin/pipx" install --quiet --pip-args=--no-index "$wheel" >/dev/null
for tool in "$work/uv/bin/pyswap" "$work/pipx/bin/pyswap"; do
  [ "$("$tool" --version)" = "$("$work/venv/bin/pyswap" --version)" ] || fail "$tool does not run"
done
python3 - "$work/mirror" "$repo/scripts" <<'PY'
import json, os, sys
mirror = sys.argv[1]
os.makedirs(mirror)
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
from pack_cpython import pack
path = os.path.join(mirror, "cpython.tar.gz")
info = pack(path, None)
v, arch = info["version"], info["arch"]
major, minor, patch = (int(x) for x in v.split("."))
entry = {"name": "cpython", "arch": {"family": arch, "variant": None}, "os": "linux", "libc": "gnu",
         "major": major, "minor": minor, "patch": patch, "prerelease": "", "url": "file://" + path,
         "sha256": info["sha256"], "variant": None, "build": "20260101"}
with open(os.path.join(mirror, "download-metadata.json"), "w") as f:
    json.dump({f"cpython-{v}-linux-{arch}-gnu": entry}, f)
with open(os.path.join(mirror, "VERSION"), "w") as f:
    f.write(v)
PY
version=$(cat "$work/mirror/VERSION")
PATH="$work/venv/bin:/usr/bin:/bin" PYSWAP_HOME="$work/pyswap-home" \
  pyswap --catalogue "$work/mirror/download-metadata.json" switch "$version" > "$work/switch.log" 2>&1 \
  || { cat "$work/switch.log"; fail "pyswap switch from the wheel"; }
"$work/pyswap-home/profiles/default/bin/python3" -c 'import ssl, sqlite3, json, email.mime.text, sys; print(sys.version)' | grep -q "^$version" \
  || fail "the runtime the wheel's pyswap installed does not run"
PYSWAP_HOME="$work/pyswap-home" "$work/venv/bin/pyswap" verify > "$work/verify.log" 2>&1 \
  || { cat "$work/verify.log"; fail "root's run of the runtime wrote into the store"; }
echo "test-packages: the .deb ($(basename "$deb")) and the wheel ($(basename "$wheel")) install and run"
