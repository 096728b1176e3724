#!/usr/bin/env python3
"""Writes the hand-made seeds of each fuzz target's corpus (fuzz/corpus/<target>/seed-*).
The rest of each corpus is what fuzzing found and kept (cargo fuzz cmin)."""
import gzip, json, os, struct, sys

root = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(root)


def put(target, name, data):
    d = os.path.join(root, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


FORMATS = {"act_bits": 8, "act_frac": 4, "shift_wb": 3, "add_bits": 8, "add_frac": 4, "mul_bits": 8}


def conv(name, inp, kind, cout, k, pad, output):
    return {"name": name, "input": inp, "op": {"conv": {"kind": kind, "out_channels": cout,
            "kernel": [k, k], "stride": 1, "pad": pad, "output": output}}}


def safetensors(meta, tensors):
    header, data = {"__metadata__": {"shiftadd": json.dumps(meta)}}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def model(nodes, layers, tensors):
    meta = {"format": "shiftadd-model", "version": 1, "formats": FORMATS,
            "input_norm": {"mean": [0.5], "std": [0.25]},
            "graph": {"arch": "seed", "input": {"channels": 1, "height": 4, "width": 4},
                      "classes": 2, "nodes": nodes}, "layers": layers}
    return safetensors(meta, tensors)


def post(name, c):
    return [(name + ".post_m", "I64", [c], struct.pack("<%dq" % c, *([3] * c))),
            (name + ".post_b", "I64", [c], struct.pack("<%dq" % c, *([-1] * c)))]


def shift_w(name, cout, cin, k):
    n = cout * cin * k * k
    return [(name + ".sign", "I8", [cout, cin, k, k], bytes([1, 0xFF, 0] * n)[:n]),
            (name + ".m", "U8", [cout, cin, k, k], bytes([0, 1, 2] * n)[:n])]


# A shift conv with pooling, a shift/adder pair, a multiply layer and logits.
put("model", "shift-adder", model(
    [conv("c1", "input", "shift", 2, 3, 1, {"post": {"relu": True}}),
     {"name": "p1", "input": "c1", "op": {"max_pool": {"k": 2}}},
     conv("c2.0", "p1", "shift", 2, 1, 0, "handoff"),
     conv("c2.1", "c2.0", "adder", 2, 1, 0, {"post": {"relu": True}}),
     {"name": "f", "input": "c2.1", "op": "flatten"},
     conv("fc", "f", "shift", 2, 1, 0, "logits")],
    [{"name": "c1", "post_s": 4}, {"name": "c2.0"}, {"name": "c2.1", "post_s": 3}, {"name": "fc", "post_s": 2}],
    shift_w("c1", 2, 1, 3) + post("c1", 2) + shift_w("c2.0", 2, 2, 1)
    + [("c2.1.codes", "I32", [2, 2, 1, 1], struct.pack("<4i", 1, -2, 3, -4))] + post("c2.1", 2)
    + shift_w("fc", 2, 8, 1) + post("fc", 2)))
put("model", "mult-avg", model(
    [conv("c1", "input", "mult", 1, 3, 1, {"post": {"relu": False}}),
     {"name": "p1", "input": "c1", "op": {"avg_pool": {"k": 2}}},
     {"name": "f", "input": "p1", "op": "flatten"},
     conv("fc", "f", "mult", 2, 1, 0, "logits")],
    [{"name": "c1", "post_s": 4}, {"name": "fc", "post_s": 2}],
    [("c1.codes", "I32", [1, 1, 3, 3], struct.pack("<9i", *range(-4, 5)))] + post("c1", 1)
    + [("fc.codes", "I32", [2, 4, 1, 1], struct.pack("<8i", *range(8)))] + post("fc", 2)))

vec_formats = dict(FORMATS, mul_frac=3)
base = {"in_shape": [1, 3, 3], "out_channels": 2, "kernel": [2, 2], "stride": 1, "pad": 1,
        "formats": vec_formats, "input": list(range(-4, 5))}
n_w = 2 * 1 * 2 * 2
put("vector", "shift-post", json.dumps(dict(base, kind="shift",
    weights={"sign": [1, -1, 0, 1] * 2, "m": [0, 1, 2, 3] * 2},
    post={"m": [3, -2], "b": [1, 0], "s": 2, "relu": True, "residual": [1] * 32})))
put("vector", "shift-handoff", json.dumps(dict(base, kind="shift",
    weights={"sign": [1, -1, 0, 1] * 2, "m": [0, 1, 2, 3] * 2}, handoff_to_adder=True)))
put("vector", "adder", json.dumps(dict(base, kind="adder", weights={"codes": list(range(n_w))},
    post={"m": [1, 1], "b": [0, 0], "s": 0, "relu": False})))
put("vector", "mult", json.dumps(dict(base, kind="mult", weights={"codes": list(range(-4, 4))})))

for preset in ("lean8", "lean16", "seed", "seed-mult"):
    with open(os.path.join(repo, "rtl-out", preset, "config.json")) as f:
        put("config", preset, f.read())
with open(os.path.join(repo, "rtl-out", "lean8", "manifest.json")) as f:
    put("rtl_folder", "manifest", f.read())
put("rtl_folder", "ports", """// comment $system
module pe (input wire clock, input wire [7:0] x, input signed [3:0] w,
  output reg [11:0] term);
  /* block $fopen */ always @(posedge clock) term <= x + w;
  initial $display("x");
endmodule
module top(
    clock,
    out
);
    input clock;
    output [3:0] out;
    assign out = 4'd0;
    initial $system("true");
endmodule
""")


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


images = idx([2, 3, 3], bytes(range(18)))
put("idx", "plain", b"\x00" + images)
put("idx", "limit", b"\x01" + images)
put("idx", "gzip", b"\x00" + gzip.compress(images, mtime=0))
put("idx", "gzip-members", b"\x02" + gzip.compress(images[:7], mtime=0) + gzip.compress(images[7:], mtime=0))
put("idx", "labels", b"\x00" + idx([3], bytes([1, 2, 3])))
