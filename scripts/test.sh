#!/usr/bin/env bash
# The test command: installs what is missing, then checks formatting, lints, runs every tier and
# fuzzes each reader of user input for 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
mkdir -p target
cargo test --workspace --release 2>&1 | tee target/test-output.log
bash scripts/fuzz.sh short
# One closing line over every test binary.
sum() { grep -E "^test result:" target/test-output.log | grep -oE "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
