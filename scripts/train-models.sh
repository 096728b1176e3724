#!/usr/bin/env bash
# Trains the four committed Fashion-MNIST models (ShiftAddNet first, then its three twins on the
# same budget) on the official split of Debian's dataset-fashion-mnist, one after the other on every
# core. Usage: bash scripts/train-models.sh [EPOCHS] [FAMILIES...]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-20}
shift || true
families=${*:-shiftadd mult shift adder}
data=/usr/share/datasets/fashion-mnist
bin=${SHIFTADD_BIN:-target/release/shiftadd}
[ -n "${SHIFTADD_BIN:-}" ] || cargo build --release -p shiftadd
for f in $families; do
  "$bin" train --arch "lenet-$f" --data "$data" --epochs "$epochs" --seed 1 --out "models/fmnist-$f"
done
