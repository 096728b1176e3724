//! The accelerator engine's contract in software: what the host writes (a layer descriptor and
//! buffer images) and where every value lives in the engine's buffers. The engine's RTL implements
//! this contract and the co-simulation holds it to it; the compiler ([`crate::program`]) builds
//! its programs from it. The register map is in [`crate::regmap`], the controller's schedule and
//! its exact cycle count in [`crate::cycles`].
//!
//! Buffers (each `act_buf_words` codes: input, output and residual activations; `weight_buf_words`
//! weights; `post_buf_words` output channels of post-processing parameters):
//! - activations are split into `cols` banks so that one cycle reads one code per array column:
//!   channel `c` of a `[C, H, W]` tensor at `base` lives in bank `c % cols`, word
//!   `base + ((c / cols) * H + y) * W + x`;
//! - weights are words of `rows * cols` lanes, one lane per PE: the word of output-channel tile
//!   `t`, input-channel tile `u` and tap `(ky, kx)` is `base + ((t * ci_tiles + u) * kh + ky) * kw
//!   + kx`, lane `r * cols + c` holding the weight of output channel `t * rows + r` and input
//!   channel `u * cols + c` (the zero weight past the layer's channels);
//! - post-processing parameters are words of `rows` lanes, `(M_c, B_c)` of output channel
//!   `t * rows + r` in lane `r` of word `base + t`.
//!
//! The engine needs `rows == cols`, so that an output channel's bank is its input-channel bank
//! in the next layer.

use crate::net::ConvKind;
use crate::spec::AccelConfig;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest pooling window side: a window's sum of `act_bits` codes fits the output word of every
/// engine (at least 8 bits wider).
pub const MAX_POOL_WINDOW: u32 = 16;

/// Largest shift of the hand-off and round output modes.
pub const MAX_ROUND_SHIFT: u32 = 63;

/// What a layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerOp {
    /// A convolution of the given kind.
    Conv(ConvKind),
    /// Max pooling, window = stride = `kh`.
    MaxPool,
    /// Average pooling, window = stride = `kh` (a power of two values).
    AvgPool,
}

/// What happens to a convolution's sums (numerics.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// `sat_act(max?(floor_shr(M_c * v + B_c, shift) + R?, 0))`.
    Post {
        /// ReLU after the affine step (and the residual).
        relu: bool,
        /// Add the residual tensor at `res_base`.
        residual: bool,
    },
    /// `sat_add(rne_shr(v, shift))`: onto the adder grid.
    Handoff,
    /// `sat_act(floor_shr(v, shift))`.
    Round,
    /// The classifier: the affine step, kept wide, never saturated.
    Logits {
        /// ReLU after the affine step.
        relu: bool,
    },
}

/// One layer as the host describes it to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// What the layer computes.
    pub op: LayerOp,
    /// Input channels.
    pub cin: u32,
    /// Input height.
    pub h: u32,
    /// Input width.
    pub w: u32,
    /// Output channels (convolutions; pooling keeps `cin`).
    pub cout: u32,
    /// Kernel height (pooling window).
    pub kh: u32,
    /// Kernel width (pooling window).
    pub kw: u32,
    /// Stride (pooling: the window).
    pub stride: u32,
    /// Zero padding on every side (convolutions).
    pub pad: u32,
    /// Output mode (convolutions).
    pub output: OutputMode,
    /// `S` of the affine step, or the shift of the hand-off and rounding.
    pub shift: u32,
    /// First word of the input tensor in the input buffer (or in the output buffer).
    pub in_base: u32,
    /// The input is read from the output buffer, where an earlier layer left it, instead of the
    /// input buffer (`IN_SEL`); its words must not overlap the output's.
    pub in_from_output: bool,
    /// First word of the output tensor in the output buffer.
    pub out_base: u32,
    /// First word of the residual tensor in the residual buffer.
    pub res_base: u32,
    /// First word of the layer's weights.
    pub w_base: u32,
    /// First word of the layer's post-processing parameters.
    pub post_base: u32,
}

/// A descriptor the engine of a config cannot run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("layer descriptor field `{field}` = {value}: {limit}")]
pub struct DescriptorError {
    /// The field.
    pub field: &'static str,
    /// Its value.
    pub value: u64,
    /// The limit it breaks.
    pub limit: String,
}

fn tiles(n: u32, size: u32) -> u32 {
    n.div_ceil(size)
}

impl Descriptor {
    /// A layer of the given shape with every buffer base 0, the input in the input buffer and
    /// a `Round` output of shift 0: what its cycle count depends on, and where a compiled layer
    /// starts from.
    pub fn shape(
        op: LayerOp,
        [cin, h, w]: [u32; 3],
        cout: u32,
        [kh, kw]: [u32; 2],
        stride: u32,
        pad: u32,
    ) -> Descriptor {
        Descriptor {
            op,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            stride,
            pad,
            output: OutputMode::Round,
            shift: 0,
            in_base: 0,
            in_from_output: false,
            out_base: 0,
            res_base: 0,
            w_base: 0,
            post_base: 0,
        }
    }

    /// Output height (0 when empty).
    pub fn out_h(&self) -> u32 {
        match self.op {
            LayerOp::Conv(_) => (self.h + 2 * self.pad)
                .checked_sub(self.kh)
                .map_or(0, |d| d / self.stride + 1),
            _ => self.h / self.kh,
        }
    }

    /// Output width (0 when empty).
    pub fn out_w(&self) -> u32 {
        match self.op {
            LayerOp::Conv(_) => (self.w + 2 * self.pad)
                .checked_sub(self.kw)
                .map_or(0, |d| d / self.stride + 1),
            _ => self.w / self.kw,
        }
    }

    /// Output channels.
    pub fn out_c(&self) -> u32 {
        match self.op {
            LayerOp::Conv(_) => self.cout,
            _ => self.cin,
        }
    }

    /// Input-channel tiles of `cols` channels.
    pub fn ci_tiles(&self, cfg: &AccelConfig) -> u32 {
        tiles(self.cin, cfg.cols)
    }

    /// Output-channel tiles of `rows` channels.
    pub fn co_tiles(&self, cfg: &AccelConfig) -> u32 {
        tiles(self.out_c(), cfg.rows)
    }

    /// Checks the descriptor against the engine of `cfg`, naming the first field that breaks a
    /// limit.
    pub fn check(&self, cfg: &AccelConfig) -> Result<(), DescriptorError> {
        let err = |field, value: u32, limit: String| DescriptorError {
            field,
            value: u64::from(value),
            limit,
        };
        if cfg.rows != cfg.cols {
            return Err(err(
                "op",
                0,
                format!(
                    "the engine needs rows = cols (config `{}` has {} x {})",
                    cfg.name, cfg.rows, cfg.cols
                ),
            ));
        }
        for (field, v) in [("cin", self.cin), ("h", self.h), ("w", self.w)] {
            if v == 0 {
                return Err(err(field, v, "must be at least 1".into()));
            }
        }
        let conv = matches!(self.op, LayerOp::Conv(_));
        if let LayerOp::Conv(kind) = self.op {
            if !cfg.pe_kinds.runs(kind) {
                return Err(err(
                    "op",
                    crate::regmap::OpCode::of(self.op) as u32,
                    format!(
                        "a {} convolution does not run on config `{}` (pe_kinds = {})",
                        kind.name(),
                        cfg.name,
                        cfg.pe_kinds.name()
                    ),
                ));
            }
        }
        if conv && self.cout == 0 {
            return Err(err("cout", self.cout, "must be at least 1".into()));
        }
        let k_max = if conv {
            cfg.max_kernel
        } else {
            MAX_POOL_WINDOW
        };
        for (field, v) in [("kh", self.kh), ("kw", self.kw)] {
            if v == 0 || v > k_max {
                return Err(err(field, v, format!("must be in 1..={k_max}")));
            }
        }
        if conv {
            if self.stride == 0 || self.stride > cfg.max_stride {
                return Err(err(
                    "stride",
                    self.stride,
                    format!("must be in 1..={}", cfg.max_stride),
                ));
            }
            if self.pad > cfg.max_pad {
                return Err(err(
                    "pad",
                    self.pad,
                    format!("must be at most {}", cfg.max_pad),
                ));
            }
            let taps = u64::from(self.cin) * u64::from(self.kh) * u64::from(self.kw);
            if taps > u64::from(cfg.max_taps) {
                return Err(DescriptorError {
                    field: "cin",
                    value: u64::from(self.cin),
                    limit: format!(
                        "cin * kh * kw = {taps} taps exceeds max_taps = {}",
                        cfg.max_taps
                    ),
                });
            }
            let s_max = match self.output {
                OutputMode::Post { .. } | OutputMode::Logits { .. } => cfg.post_s_max,
                _ => MAX_ROUND_SHIFT,
            };
            if self.shift > s_max {
                return Err(err("shift", self.shift, format!("must be at most {s_max}")));
            }
        } else if self.kh != self.kw || self.stride != self.kh || self.pad != 0 {
            return Err(err(
                "stride",
                self.stride,
                "pooling takes a square window with stride = window and no padding".into(),
            ));
        } else if self.op == LayerOp::AvgPool && !(self.kh * self.kw).is_power_of_two() {
            return Err(err(
                "kh",
                self.kh,
                "average pooling needs a power-of-two window".into(),
            ));
        }
        if self.out_h() == 0 || self.out_w() == 0 {
            return Err(err("h", self.h, "the output would be empty".into()));
        }
        let bank = cfg.act_bank_depth();
        let fits = |field, base: u32, c: u32, h: u32, w: u32| {
            let end = u64::from(base) + act_bank_words(cfg, c, h, w);
            if end > u64::from(bank) {
                Err(err(
                    field,
                    base,
                    format!("the tensor ends at word {end}, past the bank depth {bank}"),
                ))
            } else {
                Ok(())
            }
        };
        fits("in_base", self.in_base, self.cin, self.h, self.w)?;
        if self.in_from_output {
            let (a0, a1) = (
                u64::from(self.in_base),
                u64::from(self.in_base) + act_bank_words(cfg, self.cin, self.h, self.w),
            );
            let (b0, b1) = (
                u64::from(self.out_base),
                u64::from(self.out_base)
                    + act_bank_words(cfg, self.out_c(), self.out_h(), self.out_w()),
            );
            if a0 < b1 && b0 < a1 {
                return Err(err(
                    "in_base",
                    self.in_base,
                    format!(
                        "an input read from the output buffer (words {a0}..{a1}) must not overlap the output (words {b0}..{b1})"
                    ),
                ));
            }
        }
        fits(
            "out_base",
            self.out_base,
            self.out_c(),
            self.out_h(),
            self.out_w(),
        )?;
        if matches!(self.output, OutputMode::Post { residual: true, .. }) && conv {
            fits(
                "res_base",
                self.res_base,
                self.out_c(),
                self.out_h(),
                self.out_w(),
            )?;
        }
        if conv {
            let depth = u64::from(cfg.weight_depth());
            let end = u64::from(self.w_base) + weight_words(cfg, self);
            if end > depth {
                return Err(err(
                    "w_base",
                    self.w_base,
                    format!("the weights end at word {end}, past the weight buffer depth {depth}"),
                ));
            }
            let end = u64::from(self.post_base) + u64::from(self.co_tiles(cfg));
            let depth = u64::from(cfg.post_depth());
            if end > depth {
                return Err(err(
                    "post_base",
                    self.post_base,
                    format!("the parameters end at word {end}, past the post buffer depth {depth}"),
                ));
            }
        }
        Ok(())
    }
}

/// A convolution whose input the host writes (a network's first layer), with stride 1, several
/// kernel columns and few input channels (`cin * kw <= cols`), runs faster with its kernel
/// columns unrolled into input channels: channel `ci * kw + kx` holds the padded input shifted
/// left by `kx` and cut to `out_w` columns, the kernel becomes `kh x 1`, and the padding is
/// written by the host. The sums are the same taps, so the outputs are identical; the issue
/// cycles drop by `kw` (LeNet's 5x5 first layer on 16 columns: 14,407 to 2,887 cycles).
pub fn unrolled(cfg: &AccelConfig, d: &Descriptor) -> Option<Descriptor> {
    if !matches!(d.op, LayerOp::Conv(_))
        || d.stride != 1
        || d.kw < 2
        || d.cin * d.kw > cfg.cols
        || d.out_w() == 0
    {
        return None;
    }
    Some(Descriptor {
        cin: d.cin * d.kw,
        h: d.h + 2 * d.pad,
        w: d.out_w(),
        kw: 1,
        pad: 0,
        ..*d
    })
}

/// The input of the [`unrolled`] form of `d` from its input `x` (`[cin][h][w]`):
/// `x'[ci * kw + kx][y][ox] = x[ci][y - pad][ox + kx - pad]`, 0 in the padding.
pub fn unroll_input(d: &Descriptor, x: &[i64]) -> Vec<i64> {
    let (h, w, pad) = (d.h as i64, d.w as i64, d.pad as i64);
    let (hp, ow) = (d.h + 2 * d.pad, d.out_w());
    let mut out = Vec::with_capacity((d.cin * d.kw * hp * ow) as usize);
    for ci in 0..d.cin as i64 {
        for kx in 0..d.kw as i64 {
            for y in 0..hp as i64 {
                for ox in 0..ow as i64 {
                    let (sy, sx) = (y - pad, ox + kx - pad);
                    let inside = (0..h).contains(&sy) && (0..w).contains(&sx);
                    out.push(if inside {
                        x[((ci * h + sy) * w + sx) as usize]
                    } else {
                        0
                    });
                }
            }
        }
    }
    out
}

/// Words per activation bank a `[c, h, w]` tensor occupies.
pub fn act_bank_words(cfg: &AccelConfig, c: u32, h: u32, w: u32) -> u64 {
    u64::from(tiles(c, cfg.cols)) * u64::from(h) * u64::from(w)
}

/// Bank and word of value `(c, y, x)` of a tensor of height `h` and width `w` at `base`.
pub fn act_location(
    cfg: &AccelConfig,
    base: u32,
    h: u32,
    w: u32,
    c: u32,
    y: u32,
    x: u32,
) -> (u32, u32) {
    (c % cfg.cols, base + ((c / cfg.cols) * h + y) * w + x)
}

/// Weight words a convolution occupies.
pub fn weight_words(cfg: &AccelConfig, d: &Descriptor) -> u64 {
    u64::from(d.co_tiles(cfg)) * u64::from(d.ci_tiles(cfg)) * u64::from(d.kh) * u64::from(d.kw)
}

/// Word and lane of the weight of output channel `co`, input channel `ci`, tap `(ky, kx)`.
pub fn weight_location(
    cfg: &AccelConfig,
    d: &Descriptor,
    co: u32,
    ci: u32,
    ky: u32,
    kx: u32,
) -> (u32, u32) {
    let (t, r) = (co / cfg.rows, co % cfg.rows);
    let (u, c) = (ci / cfg.cols, ci % cfg.cols);
    let word = d.w_base + ((t * d.ci_tiles(cfg) + u) * d.kh + ky) * d.kw + kx;
    (word, r * cfg.cols + c)
}

/// The loop bounds and address steps the engine's sequencer counts with, computed by the host
/// from a convolution's descriptor so that the hardware only adds: no multiply or divide. Input
/// addresses run in padded coordinates from `in_origin`, the (wrapped) address of padded
/// position `(-pad, -pad)`; a tap is inside the input when its padded row is in
/// `pad..h_end` and its padded column in `pad..w_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqRegs {
    /// Output rows.
    pub out_h: u32,
    /// Output columns.
    pub out_w: u32,
    /// Output-channel tiles.
    pub co_tiles: u32,
    /// Input-channel tiles.
    pub ci_tiles: u32,
    /// Kernel height.
    pub kh: u32,
    /// Kernel width.
    pub kw: u32,
    /// Stride.
    pub stride: u32,
    /// Zero padding.
    pub pad: u32,
    /// `h + pad`.
    pub h_end: u32,
    /// `w + pad`.
    pub w_end: u32,
    /// `in_base - pad * w - pad`, modulo 2^32.
    pub in_origin: u32,
    /// `stride * w`: the input step from one output row to the next.
    pub in_row_step: u32,
    /// `h * w`: the input step from one channel tile to the next.
    pub in_tile_step: u32,
    /// `w`: the input step from one kernel row to the next.
    pub in_ky_step: u32,
    /// First weight word.
    pub w_base: u32,
    /// First output word.
    pub out_base: u32,
    /// `out_h * out_w`: the output step from one channel tile to the next.
    pub out_tile_step: u32,
}

/// The sequencer registers of convolution `d` on `cfg`.
pub fn seq_regs(cfg: &AccelConfig, d: &Descriptor) -> SeqRegs {
    SeqRegs {
        out_h: d.out_h(),
        out_w: d.out_w(),
        co_tiles: d.co_tiles(cfg),
        // Pooling reads one input tile per output tile: the sequencer's tile follows `t`.
        ci_tiles: if matches!(d.op, LayerOp::Conv(_)) {
            d.ci_tiles(cfg)
        } else {
            1
        },
        kh: d.kh,
        kw: d.kw,
        stride: d.stride,
        pad: d.pad,
        h_end: d.h + d.pad,
        w_end: d.w + d.pad,
        in_origin: d
            .in_base
            .wrapping_sub(d.pad.wrapping_mul(d.w))
            .wrapping_sub(d.pad),
        in_row_step: d.stride * d.w,
        in_tile_step: d.h * d.w,
        in_ky_step: d.w,
        w_base: d.w_base,
        out_base: d.out_base,
        out_tile_step: d.out_h() * d.out_w(),
    }
}

/// One cycle the sequencer issues to the array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Issue {
    /// First tap of a sum.
    pub clear: bool,
    /// The tap lies inside the input (else the operands read as 0).
    pub in_bounds: bool,
    /// Input word (per bank) of the tap; meaningful only when `inside`.
    pub act_addr: u32,
    /// Weight word.
    pub w_addr: u32,
    /// Last tap of a sum.
    pub last: bool,
    /// Output word (per bank) the sum goes to.
    pub out_addr: u32,
}

/// The issue cycles of layer `d`, in order, from the layouts above (channel `u * cols` of the
/// tile stands for the tile). Pooling reads input tile `t` for output tile `t`; its weight
/// words count as a convolution's with one input tile would.
pub fn issue_schedule(cfg: &AccelConfig, d: &Descriptor) -> Vec<Issue> {
    let mut v = Vec::new();
    let (oh, ow) = (d.out_h(), d.out_w());
    let pool = !matches!(d.op, LayerOp::Conv(_));
    let ci_tiles = if pool { 1 } else { d.ci_tiles(cfg) };
    for oy in 0..oh {
        for ox in 0..ow {
            for t in 0..d.co_tiles(cfg) {
                for u in 0..ci_tiles {
                    for ky in 0..d.kh {
                        for kx in 0..d.kw {
                            let iy = i64::from(oy * d.stride + ky) - i64::from(d.pad);
                            let ix = i64::from(ox * d.stride + kx) - i64::from(d.pad);
                            let inside =
                                iy >= 0 && ix >= 0 && iy < i64::from(d.h) && ix < i64::from(d.w);
                            let tile = if pool { t } else { u };
                            let act_addr = if inside {
                                act_location(
                                    cfg,
                                    d.in_base,
                                    d.h,
                                    d.w,
                                    tile * cfg.cols,
                                    iy as u32,
                                    ix as u32,
                                )
                                .1
                            } else {
                                0
                            };
                            let w_addr = d.w_base + ((t * ci_tiles + u) * d.kh + ky) * d.kw + kx;
                            let (_, out_addr) =
                                act_location(cfg, d.out_base, oh, ow, t * cfg.cols, oy, ox);
                            v.push(Issue {
                                clear: u == 0 && ky == 0 && kx == 0,
                                in_bounds: inside,
                                act_addr,
                                w_addr,
                                last: u + 1 == ci_tiles && ky + 1 == d.kh && kx + 1 == d.kw,
                                out_addr,
                            });
                        }
                    }
                }
            }
        }
    }
    v
}

/// One value through the post-processing unit, as the reference model computes it: `mode` 0
/// post (`M`, `B`, `S` = `s`, optional residual `r`, ReLU, `sat_act`), 1 hand-off
/// (`sat_add(rne_shr(v, s))`), 2 round (`sat_act(floor_shr(v, s))`), 3 logits (kept wide,
/// saturated only to `out_bits`). Returns the value and whether it saturated.
pub fn post_reference(
    f: &crate::spec::Formats,
    v: i64,
    (m, b, s): (i64, i64, u32),
    mode: u8,
    relu: bool,
    residual: Option<i32>,
    out_bits: u32,
) -> (i128, bool) {
    use crate::layers::{handoff_to_adder, post_logits, post_process, round_to_act, Post, Tensor};
    let t = Tensor {
        c: 1,
        h: 1,
        w: 1,
        data: vec![v],
    };
    let post = Post {
        m: &[m],
        b: &[b],
        s,
        relu,
    };
    match mode {
        0 => {
            let r = residual.map(|r| Tensor {
                c: 1,
                h: 1,
                w: 1,
                data: vec![r],
            });
            let (out, n) = post_process(&t, &post, r.as_ref(), f.act_range());
            (i128::from(out.data[0]), n == 1)
        }
        1 => {
            let (out, n) = handoff_to_adder(&t, s + f.add_frac, f.add_frac, f.add_bits);
            (i128::from(out.data[0]), n == 1)
        }
        2 => {
            let (out, n) = round_to_act(&t, s + f.act_frac, f.act_frac, f.act_range());
            (i128::from(out.data[0]), n == 1)
        }
        _ => {
            let z = post_logits(&t, &post)[0];
            let (lo, hi) = (-(1i128 << (out_bits - 1)), (1i128 << (out_bits - 1)) - 1);
            (z.clamp(lo, hi), z < lo || z > hi)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::presets;
    use std::collections::BTreeSet;

    /// The unrolled form of a padded adder convolution sums the same taps: the reference
    /// convolution of the unrolled input and weights equals the original's.
    #[test]
    fn unrolled_first_layers_compute_the_same_sums() {
        use crate::layers::{adder_conv, ConvGeom, Tensor};
        let cfg = presets::lean8();
        for (cin, h, w, k, pad) in [
            (1, 7, 9, 5, 0),
            (2, 6, 5, 3, 1),
            (2, 5, 5, 3, 2),
            (1, 4, 4, 5, 2),
        ] {
            let mut d = conv(cin, h, 4, k);
            (d.w, d.pad) = (w, pad);
            let u = unrolled(&cfg, &d).expect("unrollable");
            assert_eq!((u.cin, u.kw, u.pad), (cin * k, 1, 0));
            let geom = |d: &Descriptor| ConvGeom {
                cin: d.cin as usize,
                h: d.h as usize,
                w: d.w as usize,
                cout: d.cout as usize,
                kh: d.kh as usize,
                kw: d.kw as usize,
                stride: 1,
                pad: d.pad as usize,
            };
            let n = (cin * h * w) as usize;
            let x: Vec<i64> = (0..n as i64).map(|i| (i * 37 % 23) - 11).collect();
            let wts: Vec<i64> = (0..(4 * cin * k * k) as i64)
                .map(|i| i * 13 % 17 - 8)
                .collect();
            let mut wu = vec![0i64; wts.len()];
            for co in 0..4 {
                for ci in 0..cin {
                    for ky in 0..k {
                        for kx in 0..k {
                            let i = (((co * cin + ci) * k + ky) * k + kx) as usize;
                            let j = ((co * cin * k + ci * k + kx) * k + ky) as usize;
                            wu[j] = wts[i];
                        }
                    }
                }
            }
            let t = |c: u32, h: u32, w: u32, v: &[i64]| Tensor {
                c: c as usize,
                h: h as usize,
                w: w as usize,
                data: v.to_vec(),
            };
            let want = adder_conv(&t(cin, h, w, &x), &geom(&d), &wts);
            let xu = unroll_input(&d, &x);
            let got = adder_conv(&t(u.cin, u.h, u.w, &xu), &geom(&u), &wu);
            assert_eq!(got.data, want.data, "cin {cin}, {h}x{w}, k {k}, pad {pad}");
            assert_eq!(
                crate::cycles::issue_cycles(&cfg, &u) * u64::from(k),
                crate::cycles::issue_cycles(&cfg, &d)
            );
        }
        let mut strided = conv(1, 8, 4, 3);
        strided.stride = 2;
        assert!(unrolled(&cfg, &strided).is_none());
        assert!(unrolled(&cfg, &conv(2, 8, 4, 3)).is_some());
        assert!(unrolled(&cfg, &conv(3, 8, 4, 3)).is_none(), "9 > 8 columns");
    }

    fn conv(cin: u32, h: u32, cout: u32, k: u32) -> Descriptor {
        Descriptor {
            op: LayerOp::Conv(ConvKind::Adder),
            cin,
            h,
            w: h + 1,
            cout,
            kh: k,
            kw: k,
            stride: 1,
            pad: 1,
            output: OutputMode::Post {
                relu: true,
                residual: true,
            },
            shift: 20,
            in_base: 0,
            out_base: 0,
            res_base: 0,
            w_base: 0,
            post_base: 0,
            in_from_output: false,
        }
    }

    #[test]
    fn every_activation_has_its_own_place_in_its_bank() {
        let cfg = presets::lean8();
        let (c, h, w, base) = (19, 5, 3, 7);
        let mut seen = BTreeSet::new();
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let (bank, word) = act_location(&cfg, base, h, w, ch, y, x);
                    assert_eq!(bank, ch % cfg.cols);
                    assert!(u64::from(word) < u64::from(base) + act_bank_words(&cfg, c, h, w));
                    assert!(seen.insert((bank, word)), "({ch}, {y}, {x}) shares a place");
                }
            }
        }
    }

    #[test]
    fn every_weight_has_its_own_lane() {
        let cfg = presets::lean8();
        let d = Descriptor {
            w_base: 3,
            ..conv(11, 4, 13, 3)
        };
        let mut seen = BTreeSet::new();
        for co in 0..d.cout {
            for ci in 0..d.cin {
                for ky in 0..d.kh {
                    for kx in 0..d.kw {
                        let (word, lane) = weight_location(&cfg, &d, co, ci, ky, kx);
                        assert!(u64::from(word) < 3 + weight_words(&cfg, &d));
                        assert_eq!(lane, (co % cfg.rows) * cfg.cols + ci % cfg.cols);
                        assert!(seen.insert((word, lane)));
                    }
                }
            }
        }
    }

    #[test]
    fn bad_descriptors_are_refused_by_field() {
        let cfg = presets::lean8();
        conv(11, 4, 13, 3).check(&cfg).unwrap();
        let cases: [(Descriptor, &str); 8] = [
            (
                Descriptor {
                    cin: 0,
                    ..conv(1, 4, 1, 3)
                },
                "cin",
            ),
            (
                Descriptor {
                    kh: 9,
                    ..conv(1, 4, 1, 3)
                },
                "kh",
            ),
            (
                Descriptor {
                    stride: 0,
                    ..conv(1, 4, 1, 3)
                },
                "stride",
            ),
            (
                Descriptor {
                    pad: 9,
                    ..conv(1, 4, 1, 3)
                },
                "pad",
            ),
            (
                Descriptor {
                    shift: 99,
                    ..conv(1, 4, 1, 3)
                },
                "shift",
            ),
            (
                Descriptor {
                    in_base: cfg.act_buf_words,
                    ..conv(1, 4, 1, 3)
                },
                "in_base",
            ),
            (
                Descriptor {
                    w_base: u32::MAX / 2,
                    ..conv(1, 4, 1, 3)
                },
                "w_base",
            ),
            (
                Descriptor {
                    op: LayerOp::AvgPool,
                    kh: 3,
                    kw: 3,
                    stride: 3,
                    pad: 0,
                    ..conv(2, 6, 2, 3)
                },
                "kh",
            ),
        ];
        for (d, field) in cases {
            let e = d.check(&cfg).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
        let mut wide = presets::lean8();
        wide.rows = 4;
        assert_eq!(conv(1, 4, 1, 3).check(&wide).unwrap_err().field, "op");
    }

    #[test]
    fn a_convolution_the_array_has_no_pes_for_is_refused() {
        let mult = Descriptor {
            op: LayerOp::Conv(ConvKind::Mult),
            ..conv(3, 4, 5, 3)
        };
        let e = mult.check(&presets::seed()).unwrap_err();
        assert_eq!(e.field, "op");
        assert!(e.limit.contains("mult convolution") && e.limit.contains("`seed`"));
        mult.check(&presets::seed_mult()).unwrap();
        for kind in [ConvKind::Shift, ConvKind::Adder] {
            let d = Descriptor {
                op: LayerOp::Conv(kind),
                ..conv(3, 4, 5, 3)
            };
            assert_eq!(d.check(&presets::seed_mult()).unwrap_err().field, "op");
            d.check(&presets::seed()).unwrap();
        }
    }
}
