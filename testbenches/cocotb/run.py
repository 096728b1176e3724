"""Runs the cocotb testbench of `shiftadd_axi` on Icarus Verilog.

Usage: python run.py RTL_DIR BUILD_DIR SCRIPT.json [SCRIPT.json ...]

RTL_DIR is a generated folder (`rtl-out/<preset>`); the scripts come from
`shiftadd_tb::script`. Exit status: the number of failing tests (0 when all pass), 1 when the
simulation did not finish.
"""

import os
import sys
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner


def main():
    rtl, build, *scripts = sys.argv[1:]
    rtl, build = Path(rtl).resolve(), Path(build).resolve()
    here = Path(__file__).resolve().parent
    sources = sorted(rtl.glob("*.v"))
    runner = get_runner("icarus")
    runner.build(sources=sources, hdl_toplevel="shiftadd_axi", build_dir=build,
                 timescale=("1ns", "1ps"), always=True)
    results = runner.test(hdl_toplevel="shiftadd_axi", test_module="test_shiftadd_axi",
                          test_dir=here, build_dir=build,
                          results_xml=str(build / "results.xml"),
                          extra_env={"SHIFTADD_SCRIPTS": os.pathsep.join(
                              str(Path(s).resolve()) for s in scripts)})
    try:
        tests, failed = get_results(Path(results))
    except RuntimeError as e:
        print(e)
        return 1
    print(f"cocotb: {tests} tests, {failed} failed")
    return failed


if __name__ == "__main__":
    sys.exit(main())
