#!/usr/bin/env python3
"""Makes the committed fixture of `shiftadd import --from seed` (testbenches/fixtures/seed/).

Needs PyTorch and numpy, only when the fixture is made (CPU is enough):
    python3 -m venv V && V/bin/pip install torch numpy
    V/bin/python scripts/seed-fixture.py [OUT]

It writes, in the files the original ShiftAddNet `train.py` writes:
- `checkpoint.pth.tar` (zip format): {'epoch', 'state_dict' with a `module.` prefix,
  'best_prec1' as a numpy scalar, 'optimizer'} of a FIX8 `resnet20_shiftadd` (214 keys);
- `model_best.pth.tar` (the pre-1.6 non-zip format): the same state_dict, bare, its storages
  tagged `cuda:0`;
- `test_batch.bin` (CIFAR-10 binary format): the inputs, one label byte and 3,072 pixel bytes each,
  labelled with the FIX8 configuration's predictions;
- `outputs.json`: per configuration (FIX8, FIX16, FP32) the float64 logits of every input, and
  the float64 output of the stem and of every block for the first input (FIX8).

The state_dict is random in the value ranges a trained checkpoint holds (whole shifts in
[-14, 0], ternary signs, latent adder weights, batch-norm statistics moved by train-mode passes).
The forward pass follows the original code's inference numerics as read in
shared/spec/seed-notes.md: shift-layer inputs floored to Q16.16 and clamped to
[-32768, 32767]; weights sign * 2^p; adder inputs and weights rounded half to even onto 2^-7
(FIX8) or 2^-15 (FIX16), never clipped, or left as they are (FP32); `-sum |x - w|` with zero
padding; batch norm, ReLU, residuals and the 8x8 average pool in float64.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
EPS = 1e-5
PMAX = 14
IMAGES = 10

# (name, cin, cout, kernel, stride, pad) of every shift->adder pair, and where its batch norm is.
def layout():
    convs = [("conv1", 3, 16, 3, 1, 1, "shift-only", "bn1")]
    cin = 16
    for stage, planes in enumerate([16, 32, 64]):
        for block in range(3):
            p = f"layer{stage + 1}.{block}"
            stride = 2 if stage > 0 and block == 0 else 1
            convs.append((f"{p}.conv1", cin, planes, 3, stride, 1, "pair", f"{p}.bn1"))
            convs.append((f"{p}.conv2", planes, planes, 3, 1, 1, "pair", f"{p}.bn2"))
            if stride != 1 or cin != planes:
                convs.append((f"{p}.downsample", cin, planes, 1, stride, 0, "pair",
                              f"{p}.downsample.2"))
            cin = planes
    convs.append(("fc", 64, 10, 1, 1, 0, "shift-only", "bn2"))
    return convs


def bn_keys(sd, prefix, c, g):
    sd[f"{prefix}.weight"] = torch.empty(c).uniform_(0.5, 1.5, generator=g)
    sd[f"{prefix}.bias"] = torch.empty(c).normal_(0.0, 0.2, generator=g)
    sd[f"{prefix}.running_mean"] = torch.zeros(c)
    sd[f"{prefix}.running_var"] = torch.ones(c)
    sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)


def make_state_dict(g):
    sd = {}
    for name, cin, cout, k, _, _, kind, bn in layout():
        shift = name if kind == "shift-only" else f"{name}.0"
        sd[f"{shift}.shift"] = torch.randint(-8, 1, (cout, cin, k, k), generator=g).float()
        sd[f"{shift}.sign"] = torch.randint(-1, 2, (cout, cin, k, k), generator=g).float()
        if kind == "pair":
            std = (2.0 / (cout * k * k)) ** 0.5
            sd[f"{name}.1.adder"] = torch.empty(cout, cout, k, k).normal_(0.0, std, generator=g)
            sd[f"{name}.1.quantize_input_fw.running_zero_point"] = torch.zeros(1, 1, 1, 1)
            sd[f"{name}.1.quantize_input_fw.running_range"] = torch.zeros(1, 1, 1, 1)
        bn_keys(sd, bn, cout, g)
    return sd


def q16(x):
    """deepshift round_to_fixed(x, 16, 16): floor onto 2^-16, clamp to [-32768, 32767]."""
    return torch.clamp(torch.floor(x * 65536.0) / 65536.0, -32768.0, 32767.0)


def shift_weight(sd, key):
    p = torch.round(torch.clamp(sd[f"{key}.shift"].double(), -PMAX, 0))
    s = torch.sign(torch.round(sd[f"{key}.sign"].double()))
    return s * torch.pow(2.0, p)


def wageubn(x, bits):
    if bits is None:
        return x
    scale = 2.0 ** (bits - 1)
    return torch.round(x * scale) / scale


def adder(x, w, pad, bits):
    xq, wq = wageubn(x, bits), wageubn(w.double(), bits)
    n, c, h, wd = xq.shape
    cout, _, k, _ = wq.shape
    cols = F.unfold(xq, k, padding=pad)  # n, c*k*k, h*w
    out = -(cols.unsqueeze(1) - wq.view(1, cout, -1, 1)).abs().sum(2)
    return out.view(n, cout, h, wd)


def bn_eval(sd, prefix, x):
    return F.batch_norm(x, sd[f"{prefix}.running_mean"].double(), sd[f"{prefix}.running_var"].double(),
                        sd[f"{prefix}.weight"].double(), sd[f"{prefix}.bias"].double(), False, 0.0, EPS)


def forward(sd, x, bits, trace=None, bn=bn_eval):
    """Inference of the original's resnet20_shiftadd in float64; `trace` collects block outputs;
    `bn` is the batch norm (train mode while statistics move)."""
    convs = {c[0]: c for c in layout()}

    def pair(name, x):
        _, _, _, k, stride, pad, _, _ = convs[name]
        y = F.conv2d(q16(x), shift_weight(sd, f"{name}.0"), stride=stride, padding=pad)
        return adder(y, sd[f"{name}.1.adder"], k // 2, bits)

    out = F.relu(bn(sd, "bn1", F.conv2d(q16(x), shift_weight(sd, "conv1"), padding=1)))
    if trace is not None:
        trace["stem"] = out
    for stage in range(3):
        for block in range(3):
            p = f"layer{stage + 1}.{block}"
            a = F.relu(bn(sd, f"{p}.bn1", pair(f"{p}.conv1", out)))
            b = bn(sd, f"{p}.bn2", pair(f"{p}.conv2", a))
            res = out
            if f"{p}.downsample" in convs:
                res = bn(sd, f"{p}.downsample.2", pair(f"{p}.downsample", out))
            out = F.relu(b + res)
            if trace is not None:
                trace[p] = out
    pooled = F.avg_pool2d(out, 8)
    logits = bn(sd, "bn2", F.conv2d(q16(pooled), shift_weight(sd, "fc")))
    return logits.view(x.shape[0], 10)


def move_statistics(sd, g, passes=3):
    """A few train-mode passes over random images: batch-norm running statistics move as in
    training (unbiased variance), in float64."""
    bns = [c[7] for c in layout()]
    for _ in range(passes):
        x = normalise(random_images(16, g))
        captured = {}

        def bn_train(prefix, y):
            m = y.mean((0, 2, 3))
            v = y.var((0, 2, 3), unbiased=True)
            captured[prefix] = (m, v)
            return F.batch_norm(y, None, None, sd[f"{prefix}.weight"].double(),
                                sd[f"{prefix}.bias"].double(), True, 0.0, EPS)

        forward(sd, x, 8, bn=lambda sd_, prefix, y: bn_train(prefix, y))
        for prefix in bns:
            m, v = captured[prefix]
            # The cumulative average (BatchNorm2d with momentum=None), so that the statistics are
            # those of the data after a few passes rather than still near their initial values.
            sd[f"{prefix}.num_batches_tracked"] += 1
            n = float(sd[f"{prefix}.num_batches_tracked"])
            for key, batch in (("running_mean", m), ("running_var", v)):
                old = sd[f"{prefix}.{key}"].double()
                sd[f"{prefix}.{key}"] = (old + (batch - old) / n).float()


def random_images(n, g):
    """Images with structure: a random 4x4 colour field upsampled to 32x32, plus noise."""
    field = torch.rand(n, 3, 4, 4, generator=g) * 255.0
    smooth = F.interpolate(field, size=(32, 32), mode="bilinear", align_corners=False)
    noise = torch.randn(n, 3, 32, 32, generator=g) * 20.0
    return torch.clamp(smooth + noise, 0, 255).round().to(torch.uint8)


def normalise(u8):
    """torchvision ToTensor then Normalize, in float32, as the original's CIFAR-10 loader."""
    x = u8.float().div(255)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    return x.sub(mean).div(std).double()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "testbenches/fixtures/seed"
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(2020)
    sd = make_state_dict(g)
    move_statistics(sd, g)
    assert len(sd) == 214, len(sd)

    images = random_images(IMAGES, g)
    x = normalise(images)
    result = {"images": IMAGES, "configurations": {}}
    with torch.no_grad():
        for conf, bits in [("FIX8", 8), ("FIX16", 16), ("FP32", None)]:
            trace = {}
            logits = forward(sd, x, bits, trace)
            result["configurations"][conf] = {"logits": logits.tolist()}
            if conf == "FIX8":
                # The first image's stem and block outputs, [c, h, w] flattened.
                result["blocks"] = {k: v[0].flatten().tolist() for k, v in trace.items()}
                result["block_shapes"] = {k: list(v.shape[1:]) for k, v in trace.items()}
    # Labelled with the FIX8 predictions: 100% accuracy means the original's predictions.
    labels = torch.tensor(result["configurations"]["FIX8"]["logits"]).argmax(1)
    with open(os.path.join(out, "test_batch.bin"), "wb") as f:
        for i in range(IMAGES):
            f.write(bytes([int(labels[i])]) + images[i].numpy().tobytes())
    with open(os.path.join(out, "outputs.json"), "w") as f:
        json.dump(result, f, separators=(",", ":"))

    # checkpoint.pth.tar: what train.py saves, under DataParallel (`module.`), zip format.
    params = [v.clone().requires_grad_() for k, v in sd.items() if v.dtype == torch.float32
              and "running" not in k]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    sum((p * p).sum() for p in params).backward()
    opt.step()
    ckpt = {
        "epoch": 160,
        "state_dict": {f"module.{k}": v for k, v in sd.items()},
        "best_prec1": np.float64(91.25),
        "optimizer": opt.state_dict(),
    }
    torch.save(ckpt, os.path.join(out, "checkpoint.pth.tar"))

    # model_best.pth.tar: the bare state_dict in the pre-1.6 format, storages tagged cuda:0.
    path = os.path.join(out, "model_best.pth.tar")
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    data = open(path, "rb").read()
    cpu = b"X\x03\x00\x00\x00cpu"
    assert data.count(cpu) > 0
    data = data.replace(cpu, b"X\x06\x00\x00\x00cuda:0")
    open(path, "wb").write(data)
    write_variants(os.path.join(out, "variants"), sd, g)
    write_fuzz_seeds(os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus", "checkpoint"), sd)
    print(f"{out}: {len(sd)} keys, {IMAGES} images")


def write_fuzz_seeds(out, sd):
    """Small inputs of the `checkpoint` fuzz target: a few keys of the state_dict, cut down to a
    few elements, in both formats, bare and wrapped, with numpy scalars and a cuda tag."""
    os.makedirs(out, exist_ok=True)
    few = {k: sd[k].flatten()[:4].clone() for k in ["conv1.shift", "conv1.sign", "bn1.running_var"]}
    few["bn1.num_batches_tracked"] = sd["bn1.num_batches_tracked"]
    few["layer1.0.conv1.1.adder"] = sd["layer1.0.conv1.1.adder"][:1, :1].clone()
    view = torch.arange(12, dtype=torch.float32)
    few["fc.shift"] = view[2:8].view(2, 3)  # a view at an offset
    few["fc.sign"] = view.view(3, 4).t()  # strides not row-major
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in few.items()},
               "best_prec1": np.float64(12.5), "arch": "resnet20_shiftadd"}
    for name, obj in [("bare", few), ("wrapped", wrapped)]:
        torch.save(obj, os.path.join(out, f"seed-{name}-zip"))
        path = os.path.join(out, f"seed-{name}-legacy")
        torch.save(obj, path, _use_new_zipfile_serialization=False)
        if name == "bare":
            data = open(path, "rb").read().replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            open(path, "wb").write(data)


def write_variants(out, sd, g):
    """Small checkpoints for the importer's refusals and accepted variants: every float tensor
    but the adder quantisation buffers a view of one shared storage of values in [0, 1), so
    that each file holds it once."""
    os.makedirs(out, exist_ok=True)
    shared = torch.rand(40000, generator=g)

    def small(d):
        return {k: (v if v.dtype != torch.float32 or "quantize_input_fw" in k
                     else shared[: v.numel()].view(v.shape))
                for k, v in d.items()}

    quant = [k for k in sd if "quantize_input_fw" in k]
    adders = [k for k in sd if k.endswith(".adder")]
    variants = {
        # Accepted: an FP32 checkpoint (no adder quantisation buffers), with --allow-rounding.
        "fp32": {k: v for k, v in sd.items() if k not in quant},
        # Accepted: the older `*.weight` names of the adder weights, under `module.`.
        "weight-names": {f"module.{k[:-len('adder')] + 'weight' if k in adders else k}": v
                         for k, v in sd.items()},
        # Refused: sbm quantisation (the CIFAR-100 scripts) trains its input range.
        "sbm": {**sd, "layer2.1.conv1.1.quantize_input_fw.running_range": torch.full((1, 1, 1, 1), 3.5)},
        "unknown-key": {**sd, "layer1.0.conv3.0.shift": sd["layer1.0.conv1.0.shift"]},
        "missing-key": {k: v for k, v in sd.items() if k != "layer2.1.bn1.running_var"},
        "cifar100": {**sd, "fc.shift": torch.zeros(100, 64, 1, 1), "fc.sign": torch.zeros(100, 64, 1, 1)},
        "float16": {**sd, "layer1.0.bn1.weight": sd["layer1.0.bn1.weight"].half()},
    }
    for name, d in variants.items():
        torch.save(small(d), os.path.join(out, f"{name}.pth.tar"))


if __name__ == "__main__":
    main()
