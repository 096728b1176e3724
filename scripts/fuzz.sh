#!/usr/bin/env bash
# Fuzzes shiftadd's readers of user input (the targets in fuzz/, cargo fuzz on libFuzzer).
#   bash scripts/fuzz.sh short        each target for 30 s from its committed corpus (the test
#                                     command runs this)
#   bash scripts/fuzz.sh long [RUNS]  each target for RUNS executions (default 10,000,000), then
#                                     merges what added coverage into the committed corpus
# Any crash stops the script with status 1; libFuzzer saves the input in fuzz/artifacts/<target>/.
# Built without a sanitizer (`-s none`, stable Rust): the code under test is safe Rust, and what
# is sought is a panic, an abort, a hang (-timeout) or unbounded memory (-rss_limit_mb).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
mode=${1:-short}
runs=${2:-10000000}
targets=(model vector idx config rtl_folder checkpoint)
version=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  (cd / && cargo install cargo-fuzz --locked --version "$version")
fi
cargo fuzz build -s none --release
for t in "${targets[@]}"; do
  work=target/fuzz-corpus/$t
  mkdir -p "$work"
  case $mode in
    short) limit=(-max_total_time=30) ;;
    long) limit=(-runs="$runs") ;;
    *) echo "usage: $0 short | long [RUNS]" >&2; exit 2 ;;
  esac
  log=target/fuzz-$t.log
  start=$(date +%s)
  # New inputs go to the first folder; the committed corpus is only read.
  if ! cargo fuzz run -s none --release "$t" "$work" "corpus/$t" -- "${limit[@]}" \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz $t: FAILED (log fuzz/$log, input in fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$")
  echo "fuzz $t: $execs executions in $(( $(date +%s) - start )) s, no crash"
  if [ "$mode" = long ]; then
    cargo fuzz run -s none --release "$t" "corpus/$t" "$work" -- -merge=1 >"$log.merge" 2>&1
    echo "fuzz $t: corpus/$t now $(ls "corpus/$t" | wc -l) inputs"
  fi
done
