#!/usr/bin/env bash
# The test command: installs what is missing, then checks formatting, lints and runs every tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
