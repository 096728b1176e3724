//! Layer-level co-simulation: a whole convolution (random kind, shape, stride, padding and data)
//! computed on an array with the testbench as the controller, compared with the reference
//! model's convolution of the same tensors (`sim::layers`). The schedule is output-stationary:
//! for each output pixel, each tile of `rows` output channels sums, one cycle per tap and tile
//! of `cols` input channels; padded taps feed `x = 0` (as the reference does), channels past the
//! layer's feed zero weights (and `x = w = 0` for adder layers, so that they add nothing).

use crate::design::Dut;
use crate::stimulus::{Cycle, Op, Weight};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shiftadd_sim::layers::{adder_conv, mult_conv, shift_conv, ConvGeom, Tensor};
use shiftadd_sim::numerics::{max_code, min_code, ShiftWeight};
use shiftadd_sim::rtl::ArrayKind;
use shiftadd_sim::spec::AccelConfig;

/// A drawn layer: its kind, geometry and the seed of its data.
#[derive(Clone, Copy, Debug)]
pub struct LayerCase {
    /// Layer kind.
    pub op: Op,
    /// Geometry.
    pub g: ConvGeom,
    /// Seed of the input and weight values.
    pub data_seed: u64,
}

impl LayerCase {
    /// One line: kind, shapes, stride, padding, data seed.
    pub fn describe(&self) -> String {
        let g = &self.g;
        format!(
            "{} layer: input {}x{}x{}, {} output channels, kernel {}x{}, stride {}, pad {}, data seed {}",
            self.op.name(),
            g.cin,
            g.h,
            g.w,
            g.cout,
            g.kh,
            g.kw,
            g.stride,
            g.pad,
            self.data_seed
        )
    }
}

/// Layers for `dut` (an array): kinds it runs, channels up to two tiles and one more (so both
/// full and partial last tiles), every kernel height and width, stride and padding within the
/// config's limits.
pub fn layer_strategy(dut: &Dut, cfg: &AccelConfig) -> impl Strategy<Value = LayerCase> {
    let ops: Vec<Op> = match dut.kind {
        ArrayKind::Shift => vec![Op::Shift],
        ArrayKind::Adder => vec![Op::Adder],
        ArrayKind::Mac => vec![Op::Mult],
        ArrayKind::Dual => vec![Op::Shift, Op::Adder],
    };
    let max_kernel = cfg.max_kernel.max(1) as usize;
    let max_stride = cfg.max_stride.max(1) as usize;
    let max_pad = cfg.max_pad as usize;
    (
        prop::sample::select(ops),
        1..=2 * dut.cols + 1,
        1..=2 * dut.rows + 1,
        1usize..=6,
        1usize..=6,
        (1..=max_kernel, 1..=max_kernel),
        1..=max_stride,
        0..=max_pad,
        any::<u64>(),
    )
        .prop_filter_map(
            "the kernel must fit the padded input",
            |(op, cin, cout, h, w, (kh, kw), stride, pad, data_seed)| {
                let g = ConvGeom {
                    cin,
                    h,
                    w,
                    cout,
                    kh,
                    kw,
                    stride,
                    pad,
                };
                (g.out_h().is_some() && g.out_w().is_some()).then_some(LayerCase {
                    op,
                    g,
                    data_seed,
                })
            },
        )
}

/// A layer's tensors: input codes and weights, as the reference model takes them.
#[derive(Clone, Debug)]
pub struct LayerData {
    /// Input codes `[cin, h, w]` (adder-grid codes may be wider than 32 bits).
    pub x: Tensor<i64>,
    /// Weights `[cout, cin, kh, kw]`.
    pub w: Vec<Weight>,
}

fn code(rng: &mut ChaCha8Rng, bits: u32) -> i64 {
    match rng.gen_range(0..8) {
        0 => min_code(bits),
        1 => max_code(bits),
        2 => 0,
        _ => rng.gen_range(min_code(bits)..=max_code(bits)),
    }
}

/// The tensors of `case` under `cfg`'s formats.
pub fn layer_data(case: &LayerCase, cfg: &AccelConfig) -> LayerData {
    let f = &cfg.formats;
    let g = &case.g;
    let mut rng = ChaCha8Rng::seed_from_u64(case.data_seed);
    let x_bits = if case.op == Op::Adder {
        f.add_bits
    } else {
        f.act_bits
    };
    let mut x = Tensor::zeros(g.cin, g.h, g.w);
    for v in &mut x.data {
        *v = code(&mut rng, x_bits);
    }
    let w = (0..g.weight_len())
        .map(|_| match case.op {
            Op::Shift => Weight::Shift(ShiftWeight {
                s: [0i8, 1, -1][rng.gen_range(0..3)],
                m: rng.gen_range(0..=f.pmax()) as u8,
            }),
            Op::Adder => Weight::Code(code(&mut rng, f.add_bits)),
            Op::Mult => Weight::Code(code(&mut rng, f.mul_bits)),
        })
        .collect();
    LayerData { x, w }
}

/// The reference model's output of the layer, `[cout, out_h, out_w]`.
pub fn layer_reference(case: &LayerCase, data: &LayerData, cfg: &AccelConfig) -> Tensor<i64> {
    let codes = || -> Vec<i64> {
        data.w
            .iter()
            .map(|w| match w {
                Weight::Code(v) => *v,
                Weight::Shift(_) => unreachable!("shift weights in a code layer"),
            })
            .collect()
    };
    // Activation codes and multiply weights are drawn within 32 bits.
    let narrow = |d: &[i64]| d.iter().map(|&v| v as i32).collect::<Vec<i32>>();
    let x_act = || Tensor {
        data: narrow(&data.x.data),
        ..Tensor::zeros(data.x.c, data.x.h, data.x.w)
    };
    match case.op {
        Op::Shift => {
            let (sign, m): (Vec<i8>, Vec<u8>) = data
                .w
                .iter()
                .map(|w| match w {
                    Weight::Shift(sw) => (sw.s, sw.m),
                    Weight::Code(_) => unreachable!("codes in a shift layer"),
                })
                .unzip();
            shift_conv(&x_act(), &case.g, &sign, &m, cfg.formats.pmax())
        }
        Op::Adder => adder_conv(&data.x, &case.g, &codes()),
        Op::Mult => mult_conv(&x_act(), &case.g, &narrow(&codes())),
    }
}

/// Where one output value appears: output index and the cycle and row to read it from.
#[derive(Clone, Copy, Debug)]
pub struct Readout {
    /// Output channel.
    pub co: usize,
    /// Output row.
    pub oy: usize,
    /// Output column.
    pub ox: usize,
    /// Cycle whose outputs hold it.
    pub cycle: usize,
    /// Array row.
    pub row: usize,
}

/// The cycles that run the layer on `dut`, and where each output value is read.
pub fn schedule(case: &LayerCase, data: &LayerData, dut: &Dut) -> (Vec<Cycle>, Vec<Readout>) {
    let g = &case.g;
    let (oh, ow) = (g.out_h().unwrap_or(0), g.out_w().unwrap_or(0));
    let zero_w = match case.op {
        Op::Shift => Weight::Shift(ShiftWeight { s: 0, m: 0 }),
        _ => Weight::Code(0),
    };
    let mut cycles = Vec::new();
    let mut reads = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            for co0 in (0..g.cout).step_by(dut.rows) {
                let mut first = true;
                for ci0 in (0..g.cin).step_by(dut.cols) {
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                            let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                            let inside =
                                iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w;
                            let x = (0..dut.cols)
                                .map(|c| {
                                    let ci = ci0 + c;
                                    if ci < g.cin && inside {
                                        data.x.at(ci, iy as usize, ix as usize)
                                    } else {
                                        0
                                    }
                                })
                                .collect();
                            let mut w = Vec::with_capacity(dut.rows * dut.cols);
                            for r in 0..dut.rows {
                                for c in 0..dut.cols {
                                    let (co, ci) = (co0 + r, ci0 + c);
                                    w.push(if co < g.cout && ci < g.cin {
                                        data.w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx]
                                    } else {
                                        zero_w
                                    });
                                }
                            }
                            cycles.push(Cycle {
                                en: true,
                                clear: first,
                                op: case.op,
                                x,
                                w,
                            });
                            first = false;
                        }
                    }
                }
                // The sum is complete `latency - 1` cycles after its last tap.
                let done = cycles.len() - 1 + dut.latency as usize - 1;
                for r in 0..dut.rows.min(g.cout - co0) {
                    reads.push(Readout {
                        co: co0 + r,
                        oy,
                        ox,
                        cycle: done,
                        row: r,
                    });
                }
            }
        }
    }
    // Idle cycles until the last sum shows.
    for _ in 1..dut.latency {
        cycles.push(Cycle {
            en: false,
            clear: false,
            op: case.op,
            x: vec![0; dut.cols],
            w: vec![zero_w; dut.rows * dut.cols],
        });
    }
    (cycles, reads)
}
