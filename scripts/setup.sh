#!/usr/bin/env bash
# Installs what shiftadd's commands and tests need on a Debian machine with a Rust toolchain:
# the simulators and FPGA tools of the later test tiers, and the Fashion-MNIST data set.
set -euo pipefail
packages=(g++ verilator yosys iverilog nextpnr-ice40 fpga-icestorm tcl dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
echo "setup: ${packages[*]} present"
