#!/usr/bin/env bash
# The `lean8` AXI top (`shiftadd_axi`: the engine, its register slave and streams) synthesised by
# Yosys and its netlist (`write_verilog -noattr`) driven on Icarus by the cocotb testbench, with
# Yosys's own cell models and the layer scripts the test command records from the reference model
# (identity, registers and error responses, layers through the streams, a reset in the middle of a
# layer):
#   bash scripts/axi-netlist.sh xc7     synth_xilinx -flatten -nobram: Yosys's RAMB18E1/RAMB36E1
#                                       models have no behaviour, so block RAM goes to LUT RAM
#   bash scripts/axi-netlist.sh ice40   synth_ice40 (SB_RAM40_4K has a behavioural model)
# Work and logs in target/axi-netlist/<target>/. Exit status 0 only when every cocotb test passes.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-xc7}
work=target/axi-netlist/$target
share=$(dirname "$(command -v yosys)")/../share/yosys
rm -rf "$work"
mkdir -p "$work/rtl"
case $target in
  xc7)
    synth="synth_xilinx -family xc7 -top shiftadd_axi -flatten -nobram"
    cp "$share/xilinx/cells_sim.v" "$work/rtl/" ;;
  ice40)
    synth="synth_ice40 -top shiftadd_axi"
    cp "$share/ice40/cells_sim.v" "$work/rtl/"
    # Neither simulator parses the models' port default values; the netlist connects every port.
    printf '`define NO_ICE40_DEFAULT_ASSIGNMENTS\n' > "$work/rtl/_ice40_defines.v" ;;
  *) echo "usage: $0 xc7 | ice40" >&2; exit 2 ;;
esac
# The layer scripts, recorded by the test that runs the same testbench on the Verilog.
cargo test --release -p shiftadd-tb --test cocotb
scripts=(target/tmp/cocotb/layer*.json)
start=$(date +%s)
yosys -q -l "$work/yosys.log" -p "read_verilog $(echo rtl-out/lean8/*.v); $synth; tee -q -o $work/stat.txt stat; write_verilog -noattr $work/rtl/shiftadd_axi.v"
echo "yosys: $target netlist in $work/rtl ($(( $(date +%s) - start )) s; cells in $work/stat.txt)"
cp rtl-out/lean8/config.json "$work/rtl/"
start=$(date +%s)
.venv/bin/python testbenches/cocotb/run.py "$work/rtl" "$work/build" "${scripts[@]}"
echo "cocotb on the $target netlist: $(( $(date +%s) - start )) s"
