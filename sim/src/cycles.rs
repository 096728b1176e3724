//! The engine controller's schedule and its cycle count, as a formula of a layer descriptor and
//! the config. This is the schedule the engine's RTL implements; co-simulation compares the
//! cycles it counts from START to DONE with [`layer_cycles`], which must be equal.
//!
//! Convolutions are output-stationary: for each output row `oy`, column `ox` and output-channel
//! tile, the array sums one cycle per input-channel tile and tap (`kx` innermost), and the next
//! sum starts the cycle after the last tap (`clear`), so the array never idles inside a layer.
//! Padded taps are issued like the others (the buffer read returns 0), as numerics.md counts
//! them. Pooling walks the same loops over channel tiles, one window value per cycle. Around the
//! issued cycles the pipeline adds a fixed number of cycles, listed stage by stage below.

use crate::engine::{Descriptor, LayerOp, OutputMode};
use crate::spec::AccelConfig;

/// START is registered: the first tap issues the cycle after it.
pub const START_CYCLES: u64 = 1;
/// Buffer reads (block RAM) take one cycle.
pub const READ_CYCLES: u64 = 1;
/// The PE array: terms registered, then accumulators.
pub const ARRAY_CYCLES: u64 = crate::rtl::ARRAY_LATENCY as u64;
/// Post-processing: the multiply `M_c * v`, then add, shift, residual, ReLU and saturation.
pub const POST_CYCLES: u64 = 2;
/// Pooling: compare or add one window value per cycle.
pub const POOL_CYCLES: u64 = 1;
/// The output buffer write; DONE rises with it.
pub const WRITE_CYCLES: u64 = 1;

/// Cycles in which the controller issues work to the array (or the pooling unit).
pub fn issue_cycles(cfg: &AccelConfig, d: &Descriptor) -> u64 {
    let pixels = u64::from(d.out_h()) * u64::from(d.out_w());
    let window = u64::from(d.kh) * u64::from(d.kw);
    match d.op {
        LayerOp::Conv(_) => {
            pixels * u64::from(d.co_tiles(cfg)) * u64::from(d.ci_tiles(cfg)) * window
        }
        LayerOp::MaxPool | LayerOp::AvgPool => pixels * u64::from(d.co_tiles(cfg)) * window,
    }
}

/// Cycles a layer of kind `op` takes besides its issue cycles: START and the pipeline.
pub fn overhead_cycles(op: LayerOp) -> u64 {
    let pipeline = match op {
        LayerOp::Conv(_) => READ_CYCLES + ARRAY_CYCLES + POST_CYCLES,
        LayerOp::MaxPool | LayerOp::AvgPool => READ_CYCLES + POOL_CYCLES,
    };
    START_CYCLES + pipeline + WRITE_CYCLES
}

/// Cycles from START to DONE: DONE is visible after rising edge `layer_cycles` when START was
/// applied before edge 0.
pub fn layer_cycles(cfg: &AccelConfig, d: &Descriptor) -> u64 {
    issue_cycles(cfg, d) + overhead_cycles(d.op)
}

/// Words the engine's buffers deliver to, or take from, its datapath in one layer: what its
/// access counters (`ACT_READS` to `OUT_WRITES`) count from START to DONE. The emitted block
/// RAMs have no read enable; a read counts when the datapath takes its word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accesses {
    /// Input words: `cols` per issued tap inside the input (a padded tap's read is replaced by
    /// 0), from the input banks or, with `IN_SEL`, the output banks.
    pub act_reads: u64,
    /// Residual words: `rows` per output write of a layer that adds a residual.
    pub res_reads: u64,
    /// Weight words: every lane's per issued tap of a convolution.
    pub weight_reads: u64,
    /// `M_c, B_c` pairs: `rows` per output write of a post or logits layer.
    pub post_reads: u64,
    /// Output words: `rows` per output write (rows past the layer's channels write 0).
    pub out_writes: u64,
}

/// Issued taps of layer `d` inside its input: each output-channel tile (and input-channel tile
/// of a convolution) walks every output position's window; a tap counts when its padded row is
/// in `pad..h + pad` and its padded column in `pad..w + pad`.
pub fn in_bounds_taps(cfg: &AccelConfig, d: &Descriptor) -> u64 {
    let inside = |out: u32, k: u32, n: u32| -> u64 {
        (0..out)
            .map(|o| {
                (0..k)
                    .filter(|&t| (d.pad..n + d.pad).contains(&(o * d.stride + t)))
                    .count() as u64
            })
            .sum()
    };
    let tiles = match d.op {
        LayerOp::Conv(_) => u64::from(d.co_tiles(cfg)) * u64::from(d.ci_tiles(cfg)),
        LayerOp::MaxPool | LayerOp::AvgPool => u64::from(d.co_tiles(cfg)),
    };
    tiles * inside(d.out_h(), d.kh, d.h) * inside(d.out_w(), d.kw, d.w)
}

/// The buffer accesses of layer `d` on `cfg`'s engine (see [`Accesses`]).
pub fn layer_accesses(cfg: &AccelConfig, d: &Descriptor) -> Accesses {
    let rows = u64::from(cfg.rows);
    let writes = u64::from(d.out_h()) * u64::from(d.out_w()) * u64::from(d.co_tiles(cfg)) * rows;
    let conv = matches!(d.op, LayerOp::Conv(_));
    let (residual, post) = match d.output {
        OutputMode::Post { residual, .. } => (residual, true),
        OutputMode::Logits { .. } => (false, true),
        OutputMode::Handoff | OutputMode::Round => (false, false),
    };
    Accesses {
        act_reads: in_bounds_taps(cfg, d) * u64::from(cfg.cols),
        res_reads: if conv && residual { writes } else { 0 },
        weight_reads: if conv {
            issue_cycles(cfg, d) * u64::from(cfg.lanes())
        } else {
            0
        },
        post_reads: if conv && post { writes } else { 0 },
        out_writes: writes,
    }
}

/// Useful tap operations of a convolution: `cout * out_h * out_w * cin * kh * kw` (0 for
/// pooling, which does not use the array).
pub fn tap_ops(d: &Descriptor) -> u64 {
    match d.op {
        LayerOp::Conv(_) => {
            u64::from(d.cout)
                * u64::from(d.out_h())
                * u64::from(d.out_w())
                * u64::from(d.cin)
                * u64::from(d.kh)
                * u64::from(d.kw)
        }
        _ => 0,
    }
}

/// `taps` useful tap operations over `rows * cols * cycles` (0 for no cycles).
pub fn utilisation(cfg: &AccelConfig, taps: u64, cycles: u64) -> f64 {
    if cycles == 0 {
        0.0
    } else {
        taps as f64 / (f64::from(cfg.lanes()) * cycles as f64)
    }
}

/// The utilisation of layer `d`: its useful taps over `rows * cols * layer_cycles`.
pub fn layer_utilisation(cfg: &AccelConfig, d: &Descriptor) -> f64 {
    utilisation(cfg, tap_ops(d), layer_cycles(cfg, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::OutputMode;
    use crate::net::{ConvKind, Op};
    use crate::spec::presets;

    fn conv(cin: u32, h: u32, cout: u32, k: u32, stride: u32, pad: u32) -> Descriptor {
        Descriptor {
            op: LayerOp::Conv(ConvKind::Shift),
            cin,
            h,
            w: h,
            cout,
            kh: k,
            kw: k,
            stride,
            pad,
            output: OutputMode::Post {
                relu: true,
                residual: false,
            },
            shift: 16,
            in_base: 0,
            out_base: 0,
            res_base: 0,
            w_base: 0,
            post_base: 0,
            in_from_output: false,
        }
    }

    /// The controller's loops, walked one issue at a time.
    fn walked(cfg: &AccelConfig, d: &Descriptor) -> u64 {
        let mut n = 0;
        for _oy in 0..d.out_h() {
            for _ox in 0..d.out_w() {
                for _t in (0..d.out_c()).step_by(cfg.rows as usize) {
                    let inner = match d.op {
                        LayerOp::Conv(_) => (0..d.cin).step_by(cfg.cols as usize).count(),
                        _ => 1,
                    };
                    for _u in 0..inner {
                        for _ky in 0..d.kh {
                            for _kx in 0..d.kw {
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
        n
    }

    #[test]
    fn the_formula_counts_the_walked_schedule() {
        let cfg = presets::lean8();
        for d in [
            conv(3, 7, 5, 3, 1, 1),
            conv(17, 6, 9, 5, 2, 0),
            conv(8, 4, 8, 1, 1, 0),
            conv(1, 1, 1, 1, 1, 0),
        ] {
            d.check(&cfg).unwrap();
            assert_eq!(issue_cycles(&cfg, &d), walked(&cfg, &d), "{d:?}");
            assert_eq!(layer_cycles(&cfg, &d), walked(&cfg, &d) + 7);
        }
        let mut pool = conv(19, 8, 19, 2, 2, 0);
        pool.op = LayerOp::MaxPool;
        pool.check(&cfg).unwrap();
        assert_eq!(issue_cycles(&cfg, &pool), walked(&cfg, &pool));
        assert_eq!(layer_cycles(&cfg, &pool), walked(&cfg, &pool) + 4);
    }

    #[test]
    fn resnet20_3x3_layers_keep_the_seed_array_busy() {
        // ResNet-20 at CIFAR shape on the 16x16 seed array: every 3x3 convolution with at least
        // 16 input channels is above 99% (the issue asks 90%); the first (3 input channels) fills
        // 3 of 16 columns.
        let cfg = presets::seed();
        let g = crate::archs::by_name("resnet20-shiftadd").unwrap();
        let info = g.analyse().unwrap();
        let mut checked = 0;
        for (node, i) in g.nodes.iter().zip(&info) {
            let Op::Conv {
                kind,
                out_channels,
                kernel,
                stride,
                pad,
                ..
            } = &node.op
            else {
                continue;
            };
            if kernel[0] != 3 {
                continue;
            }
            let [c, h, w] = i.in_shape;
            let d = Descriptor {
                op: LayerOp::Conv(*kind),
                cin: c as u32,
                h: h as u32,
                w: w as u32,
                cout: *out_channels as u32,
                kh: 3,
                kw: 3,
                stride: *stride as u32,
                pad: *pad as u32,
                ..conv(1, 1, 1, 1, 1, 0)
            };
            let u = layer_utilisation(&cfg, &d);
            if c >= 16 {
                assert!(u > 0.99, "{}: {u}", node.name);
                checked += 1;
            } else {
                assert!(u < 0.2, "{}: {u}", node.name);
            }
        }
        assert!(checked >= 18, "{checked} layers");
    }
}
