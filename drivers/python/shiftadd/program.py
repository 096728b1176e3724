"""The program file written by `shiftadd compile` (layout: `shiftadd_sim::program_file`)."""

import struct

MAGIC = 0x47504153
VERSION = 1
FLAG_ZERO_FILL, FLAG_WIDE, FLAG_CHAINED, FLAG_POST = 1, 2, 4, 8


class _Reader:
    def __init__(self, data):
        self.data = memoryview(data)
        self.at = 0

    def words(self, n, fmt="I"):
        if self.at + 4 * n > len(self.data):
            raise ValueError(f"program file: truncated at byte {self.at}")
        v = struct.unpack_from(f"<{n}{fmt}", self.data, self.at)
        self.at += 4 * n
        return list(v)

    def word(self):
        return self.words(1)[0]

    def int(self):
        return self.words(1, "i")[0]

    def longs(self, n):
        if self.at + 8 * n > len(self.data):
            raise ValueError(f"program file: truncated at byte {self.at}")
        v = struct.unpack_from(f"<{n}q", self.data, self.at)
        self.at += 8 * n
        return list(v)


class Node:
    """One node: an engine layer (kind 0) or a flatten (kind 1)."""

    def __init__(self, r):
        self.kind = r.word()
        self.src = r.int()
        self.residual = r.int()
        self.out_c, self.out_h, self.out_w = r.words(3)
        if self.kind not in (0, 1):
            raise ValueError(f"program file: node kind {self.kind}")
        if self.kind == 1:
            return
        (flags, self.in_c, self.in_h, self.in_w, self.in_base, self.out_base, self.res_base,
         self.w_base, self.post_base) = r.words(9)
        self.zero_fill = bool(flags & FLAG_ZERO_FILL)
        self.wide = bool(flags & FLAG_WIDE)
        self.chained = bool(flags & FLAG_CHAINED)
        self.gather = r.words(r.word(), "i")
        n = r.word()
        pairs = r.words(2 * n)
        self.writes = list(zip(pairs[0::2], pairs[1::2]))
        lanes, words = r.words(2)
        self.weights = [r.longs(words) for _ in range(lanes)]
        lanes, words = r.words(2)
        self.post_m = [r.longs(words) for _ in range(lanes)]
        self.post_b = [r.longs(words) for _ in range(lanes)]


class Program:
    """A parsed program file."""

    def __init__(self, data):
        r = _Reader(data)
        magic, version = r.words(2)
        if (magic, version) != (MAGIC, VERSION):
            raise ValueError(f"not a shiftadd program file (magic {magic:#x}, version {version})")
        (self.id, self.geometry, self.rows, self.cols, self.in_c, self.in_h, self.in_w,
         self.classes, n_nodes, n_segments, self.max_values) = r.words(11)
        self.table = [r.words(256, "i") for _ in range(self.in_c)]
        pairs = r.words(2 * n_segments)
        self.segments = list(zip(pairs[0::2], pairs[1::2]))
        self.nodes = [Node(r) for _ in range(n_nodes)]
        if r.at != len(r.data):
            raise ValueError(f"program file: {len(r.data) - r.at} bytes past the end")

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            return cls(f.read())

    def input_codes(self, image):
        """The activation codes of an 8-bit image (`in_c x in_h x in_w` bytes)."""
        plane = self.in_h * self.in_w
        return [self.table[i // plane][p] for i, p in enumerate(bytes(image))]
