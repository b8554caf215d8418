#!/usr/bin/env bash
# Fuzzes the archive reader and the catalogue parser (fuzz/fuzz_targets/) with libFuzzer.
#   bash scripts/fuzz.sh [SECONDS]   # each target for SECONDS (default 30); CI runs this
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them (the
# project's machines have no other toolchain). Built without a sanitizer here to keep CI short:
# Rust code is memory-safe and the C parts (zstd, SQLite) are not the targets' subject; for
# longer local runs use `--sanitizer address` (see README). Memory is capped at 512 MB and each
# input at 10 s; any crash fails the run and leaves the input in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version 2>/dev/null | grep -q '0.13.2'; then
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi
python3 fuzz/seeds.py
mkdir -p target
for target in archive catalogue; do
  log="target/fuzz-$target.log"
  rc=0
  cargo fuzz run --sanitizer none "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^(Done|stat::number_of_executed_units|==|SUMMARY)|panicked|ERROR' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz: $target failed (exit $rc); the input is in fuzz/artifacts/$target"
    exit 1
  fi
done
