"""Python driver of the shiftadd engine (`shiftadd_axi`), for PYNQ and for simulation.

The engine is reached through two small objects, so that the same code runs on a board and in
a test:

- `mmio`: `read(offset) -> int` and `write(offset, value)` on the AXI4-Lite registers (a
  `pynq.MMIO` has exactly these);
- `stream`: `send(words)` and `recv(n) -> list of int` for the 64-bit input and output streams
  (on a board, an AXI DMA: see `PynqStream`).

A whole network runs from a program file written by `shiftadd compile` (`Program`).
"""

from . import regs
from .program import Program

__all__ = ["Engine", "Program", "PynqStream", "overlay", "regs"]

OFFSET = regs.OFFSET


class Engine:
    """The engine behind `mmio` and `stream`; `wait_irq(timeout) -> bool` is optional."""

    def __init__(self, mmio, stream, wait_irq=None):
        self.mmio = mmio
        self.stream = stream
        self.wait_irq = wait_irq

    def init(self, geometry):
        """Checks ID and GEOMETRY, clears and enables the interrupt."""
        found = (self.mmio.read(OFFSET["ID"]), self.mmio.read(OFFSET["GEOMETRY"]))
        if found != (regs.ID, geometry):
            raise RuntimeError(f"engine ID {found[0]:#010x}, GEOMETRY {found[1]:#07x}; "
                               f"expected {regs.ID:#010x}, {geometry:#07x}")
        self.mmio.write(OFFSET["IRQ_STATUS"], regs.IRQ_DONE)
        self.mmio.write(OFFSET["IRQ_ENABLE"], regs.IRQ_DONE)

    def _select(self, sel, lane, addr):
        self.mmio.write(OFFSET["BUF_SEL"], sel)
        self.mmio.write(OFFSET["BUF_LANE"], lane)
        self.mmio.write(OFFSET["BUF_ADDR"], addr)

    def write_buffer(self, sel, lane, addr, words):
        """Writes `words` to buffer `sel`, lane `lane`, from word `addr` on."""
        if words:
            self._select(sel, lane, addr)
            self.stream.send([w & (2**64 - 1) for w in words])

    def read_outputs(self, lane, addr, n):
        """Reads `n` output words of lane `lane` from word `addr` on (signed, 64-bit)."""
        if n == 0:
            return []
        self._select(regs.SEL_OUTPUT, lane, addr)
        self.mmio.write(OFFSET["STREAM_OUT"], n)
        return [w - 2**64 if w >= 2**63 else w for w in self.stream.recv(n)]

    def run_layer(self, writes, timeout=10**8):
        """Writes a layer's (offset, value) registers, START, and waits; returns CYCLES."""
        for offset, value in writes:
            self.mmio.write(offset, value)
        self.mmio.write(OFFSET["CTRL"], regs.CTRL_START)
        if self.wait_irq is not None:
            if not self.wait_irq(timeout):
                raise TimeoutError("no interrupt from the engine")
        else:
            for _ in range(timeout):
                if self.mmio.read(OFFSET["STATUS"]) & regs.STATUS_DONE:
                    break
            else:
                raise TimeoutError("the layer did not end")
        self.mmio.write(OFFSET["IRQ_STATUS"], regs.IRQ_DONE)
        return self.mmio.read(OFFSET["CYCLES"])

    def _write_tensor(self, prog, sel, base, values, c, plane, zero_fill):
        tiles = -(-c // prog.cols)
        for bank in range(prog.cols):
            words = []
            for t in range(tiles):
                ch = t * prog.cols + bank
                if ch < c:
                    words += values[ch * plane:(ch + 1) * plane]
                elif zero_fill:
                    words += [0] * plane
            self.write_buffer(sel, bank, base, words)

    def _run_node(self, prog, node, values):
        src = values[node.src] if node.src >= 0 else values["input"]
        if not node.chained:
            x = src
            if node.gather:
                x = [0 if g < 0 else src[g] for g in node.gather]
            self._write_tensor(prog, regs.SEL_INPUT, node.in_base, x, node.in_c,
                               node.in_h * node.in_w, node.zero_fill)
        plane = node.out_h * node.out_w
        if node.residual >= 0:
            self._write_tensor(prog, regs.SEL_RESIDUAL, node.res_base, values[node.residual],
                               node.out_c, plane, False)
        self.run_layer(node.writes)
        out = [0] * (node.out_c * plane)
        for bank in range(min(prog.rows, node.out_c)):
            tiles = -(-(node.out_c - bank) // prog.rows)
            words = self.read_outputs(bank, node.out_base, tiles * plane)
            for t in range(tiles):
                ch = t * prog.rows + bank
                out[ch * plane:(ch + 1) * plane] = words[t * plane:(t + 1) * plane]
        return out

    def run_network(self, prog, images):
        """Runs 8-bit images (each a bytes-like `in_c x in_h x in_w`) segment by segment, each
        segment's parameters loaded once. Returns, per image, every node's values (a dict by node
        index, with the input codes under "input"), the logits and the predicted class."""
        self.init(prog.geometry)
        runs = [{"input": prog.input_codes(img)} for img in images]
        for first, end in prog.segments:
            for node in prog.nodes[first:end]:
                if node.kind == 0:
                    for lane, words in enumerate(node.weights):
                        self.write_buffer(regs.SEL_WEIGHTS, lane, node.w_base, words)
                    for sel, image in ((regs.SEL_POST_M, node.post_m),
                                       (regs.SEL_POST_B, node.post_b)):
                        for lane, words in enumerate(image):
                            self.write_buffer(sel, lane, node.post_base, words)
            for values in runs:
                for k in range(first, end):
                    node = prog.nodes[k]
                    if node.kind == 1:
                        values[k] = list(values[node.src] if node.src >= 0 else values["input"])
                    else:
                        values[k] = self._run_node(prog, node, values)
        results = []
        for values in runs:
            logits = values[len(prog.nodes) - 1][:prog.classes]
            best = max(range(prog.classes), key=lambda k: (logits[k], -k))
            results.append((values, logits, best))
        return results


class PynqStream:
    """The engine's streams through an AXI DMA on a PYNQ board (`dma`: a `pynq` DMA driver)."""

    def __init__(self, dma):
        from pynq import allocate  # imported here: the tests need no `pynq`

        self.dma = dma
        self.allocate = allocate

    def send(self, words):
        buf = self.allocate(shape=(len(words),), dtype="u8")
        buf[:] = words
        self.dma.sendchannel.transfer(buf)
        self.dma.sendchannel.wait()
        buf.freebuffer()

    def recv(self, n):
        buf = self.allocate(shape=(n,), dtype="u8")
        self.dma.recvchannel.transfer(buf)
        self.dma.recvchannel.wait()
        words = [int(w) for w in buf]
        buf.freebuffer()
        return words


def overlay(bitstream, ip="shiftadd_axi_0", dma="axi_dma_0"):
    """An `Engine` on a PYNQ board from the bitstream of the block design (`design_1.bit` with
    its `.hwh` beside it): the IP's registers through MMIO, its streams through the DMA, the
    interrupt polled through STATUS."""
    from pynq import Overlay  # imported here: the tests need no `pynq`

    ol = Overlay(bitstream)
    return Engine(getattr(ol, ip).mmio, PynqStream(getattr(ol, dma)))
