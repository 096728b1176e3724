"""Runs a program file through the Python driver on the simulated `shiftadd_axi`: the MMIO and
stream objects call the simulation HAL (`testbenches/hal/axi_sim.c`, a shared library) through
ctypes, so the driver runs as on a board, with no `pynq`.

Usage: python run_simulated.py LIBAXI_SIM.so MODEL.so PROGRAM IMAGES N OUT
OUT receives, per image, every node's values (int64, little-endian), then the N predictions
(uint32), as testbenches/hal/run_network.c writes them.
"""

import ctypes
import struct
import sys

from shiftadd import Engine, Program


class SimMmio:
    def __init__(self, lib, sim):
        self.lib, self.sim = lib, sim

    def read(self, offset):
        return self.lib.axi_sim_read32(self.sim, offset)

    def write(self, offset, value):
        self.lib.axi_sim_write32(self.sim, offset, value & 0xFFFFFFFF)


class SimStream:
    def __init__(self, lib, sim):
        self.lib, self.sim = lib, sim

    def send(self, words):
        buf = (ctypes.c_uint64 * len(words))(*words)
        if self.lib.axi_sim_send(self.sim, buf, len(words)) != 0:
            raise RuntimeError(self.lib.axi_sim_error(self.sim).decode())

    def recv(self, n):
        buf = (ctypes.c_uint64 * n)()
        if self.lib.axi_sim_recv(self.sim, buf, n) != 0:
            raise RuntimeError(self.lib.axi_sim_error(self.sim).decode())
        return list(buf)


def main():
    hal, model, program, images, n, out = sys.argv[1:]
    n = int(n)
    lib = ctypes.CDLL(hal)
    lib.axi_sim_open.restype = ctypes.c_void_p
    lib.axi_sim_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    for name in ["axi_sim_read32", "axi_sim_write32", "axi_sim_send", "axi_sim_recv",
                 "axi_sim_wait_irq", "axi_sim_errors", "axi_sim_cycles", "axi_sim_error"]:
        getattr(lib, name).argtypes = None
    lib.axi_sim_read32.restype = ctypes.c_uint32
    lib.axi_sim_read32.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.axi_sim_write32.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
    lib.axi_sim_send.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
    lib.axi_sim_recv.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
    lib.axi_sim_wait_irq.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
    lib.axi_sim_errors.restype = ctypes.c_uint64
    lib.axi_sim_errors.argtypes = [ctypes.c_void_p]
    lib.axi_sim_cycles.restype = ctypes.c_uint64
    lib.axi_sim_cycles.argtypes = [ctypes.c_void_p]
    lib.axi_sim_error.restype = ctypes.c_char_p
    lib.axi_sim_error.argtypes = [ctypes.c_void_p]
    sim = lib.axi_sim_open(model.encode(), None)
    if not sim:
        raise RuntimeError(f"cannot open the model {model}")
    engine = Engine(SimMmio(lib, sim), SimStream(lib, sim),
                    wait_irq=lambda timeout: lib.axi_sim_wait_irq(sim, timeout) == 0)
    prog = Program.load(program)
    data = open(images, "rb").read()
    size = prog.in_c * prog.in_h * prog.in_w
    results = engine.run_network(prog, [data[k * size:(k + 1) * size] for k in range(n)])
    errors = lib.axi_sim_errors(sim)
    print(f"{lib.axi_sim_cycles(sim)} clock cycles, {errors} protocol errors "
          f"{lib.axi_sim_error(sim).decode()}")
    if errors:
        sys.exit(1)
    with open(out, "wb") as f:
        for values, _, _ in results:
            for k in range(len(prog.nodes)):
                f.write(struct.pack(f"<{len(values[k])}q", *values[k]))
        f.write(struct.pack(f"<{n}I", *(best for _, _, best in results)))


if __name__ == "__main__":
    main()
