"""An independent AXI client for `shiftadd_axi`: cocotb with cocotbext-axi's AXI4-Lite master and
AXI4-Stream source and sink, on Icarus Verilog.

The layer scripts (JSON, from `shiftadd_tb::script`) list AXI transactions and what must come
back: register writes, input-stream frames, output-stream requests with the words the reference
model computes, and layer runs with their exact cycle and saturation counts. Every channel gets
random back-pressure from cocotbext-axi's pause generators.

Environment: SHIFTADD_SCRIPTS, a list of script files separated by the path separator.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

OKAY, SLVERR = 0, 2


def scripts():
    paths = os.environ["SHIFTADD_SCRIPTS"].split(os.pathsep)
    return [json.load(open(p)) for p in paths if p]


def pauses(seed, busy):
    """An endless random pause pattern: pause with probability `busy`."""
    rng = random.Random(seed)
    while True:
        yield rng.random() < busy


class Host:
    def __init__(self, dut, seed, busy):
        self.dut = dut
        self.lite = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi"), dut.aclk, dut.aresetn,
                                  reset_active_level=False)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk,
                                      dut.aresetn, reset_active_level=False)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, dut.aresetn,
                                  reset_active_level=False)
        if busy > 0:
            channels = [self.lite.write_if.aw_channel, self.lite.write_if.w_channel,
                        self.lite.write_if.b_channel, self.lite.read_if.ar_channel,
                        self.lite.read_if.r_channel, self.source, self.sink]
            for k, ch in enumerate(channels):
                ch.set_pause_generator(pauses(seed * 16 + k, busy))

    async def start(self):
        cocotb.start_soon(Clock(self.dut.aclk, 10, unit="ns").start())
        await self.reset(4)

    async def reset(self, cycles):
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, cycles)
        self.dut.aresetn.value = 1
        await ClockCycles(self.dut.aclk, 2)

    async def write(self, offset, value, resp=OKAY):
        r = await self.lite.write(offset, value.to_bytes(4, "little"))
        assert int(r.resp) == resp, f"write of {offset:#05x}: response {int(r.resp)}, expected {resp}"

    async def read(self, offset, resp=OKAY):
        r = await self.lite.read(offset, 4)
        assert int(r.resp) == resp, f"read of {offset:#05x}: response {int(r.resp)}, expected {resp}"
        return int.from_bytes(r.data, "little")

    async def wait_irq(self, limit):
        for _ in range(limit):
            if self.dut.irq.value == 1:
                return
            await RisingEdge(self.dut.aclk)
        raise AssertionError(f"no interrupt within {limit} cycles")

    async def replay(self, s, stop_at_run=False):
        regs = s["regs"]
        await self.write(regs["IRQ_ENABLE"], 1)
        for step in s["steps"]:
            (kind, body), = step.items()
            if kind == "write":
                await self.write(body["offset"], body["value"])
            elif kind == "send":
                data = b"".join(w.to_bytes(8, "little") for w in body["words"])
                await self.source.send(AxiStreamFrame(data))
                await self.source.wait()
            elif kind == "receive":
                words = body["words"]
                await self.write(regs["STREAM_OUT"], len(words))
                frame = await self.sink.recv()
                got = [int.from_bytes(frame.tdata[8 * i:8 * i + 8], "little")
                       for i in range(len(frame.tdata) // 8)]
                assert got == words, f"output stream: {got} != expected {words}"
            elif kind == "run":
                if stop_at_run:
                    return body
                await self.write(regs["CTRL"], 1)
                await self.wait_irq(4 * body["cycles"] + 1000)
                await self.write(regs["IRQ_STATUS"], 1)
                assert await self.read(regs["IRQ_STATUS"]) == 0
                cycles = await self.read(regs["CYCLES"])
                sat = await self.read(regs["SAT_COUNT"])
                assert (cycles, sat) == (body["cycles"], body["sat"]), \
                    f"CYCLES {cycles}, SAT_COUNT {sat}; expected {body['cycles']}, {body['sat']}"
                for name, want in body["accesses"].items():
                    got = await self.read(regs[name])
                    assert got == want, f"{name} {got}; expected {want}"
            else:
                raise AssertionError(f"unknown step {kind}")
        return None


@cocotb.test()
async def identity_registers_and_errors_under_back_pressure(dut):
    s = scripts()[0]
    regs, masks = s["regs"], s["masks"]
    host = Host(dut, seed=1, busy=0.3)
    await host.start()
    assert await host.read(regs["ID"]) == s["id"]
    assert await host.read(regs["GEOMETRY"]) == s["geometry"]
    rng = random.Random(7)
    plain = ["OP", "OUTPUT", "SHIFT", "LAST_ROWS", "POST_BASE", "RES_BASE", "OUT_H", "KW",
             "IN_ORIGIN", "W_BASE", "OUT_TILE_STEP", "BUF_LANE", "BUF_ADDR", "IRQ_ENABLE"]
    for _ in range(3):
        values = {name: rng.getrandbits(32) for name in plain}
        for name, v in values.items():
            await host.write(regs[name], v)
        for name, v in values.items():
            got = await host.read(regs[name])
            assert got & masks[name] == v & masks[name], f"{name}: read {got:#x} after {v:#x}"
    # Read-only registers refuse writes; unmapped and unaligned addresses answer SLVERR.
    await host.write(regs["ID"], 0, resp=SLVERR)
    assert await host.read(regs["ID"]) == s["id"]
    past = 4 * len(regs)
    for addr in [past, 0x200, 0xFFC, 0x006]:
        await host.write(addr, 0x55, resp=SLVERR)
        assert await host.read(addr, resp=SLVERR) == 0


@cocotb.test()
async def layers_through_the_streams_under_back_pressure(dut):
    host = Host(dut, seed=2, busy=0.25)
    await host.start()
    for s in scripts():
        await host.replay(s)


@cocotb.test()
async def reset_in_the_middle_of_a_layer(dut):
    s = scripts()[0]
    regs = s["regs"]
    host = Host(dut, seed=3, busy=0.0)
    await host.start()
    run = await host.replay(s, stop_at_run=True)
    await host.write(regs["CTRL"], 1)
    await ClockCycles(dut.aclk, run["cycles"] // 2)
    assert await host.read(regs["STATUS"]) & 1 == 1, "the layer runs"
    await host.reset(3)
    for name in ["STATUS", "CYCLES", "SAT_COUNT", "IRQ_STATUS", "IRQ_ENABLE", "OP", "OUT_H",
                 "STREAM_OUT", "BUF_ADDR"]:
        assert await host.read(regs[name]) == 0, f"{name} after reset"
    assert dut.irq.value == 0
    # Back from reset, the same layer runs exactly.
    await host.replay(s)
