//! Layer-level co-simulation of the engine: random layers with random post-processing, and random
//! max and average poolings, each a one-layer program ([`shiftadd_sim::program::EngineLayer`])
//! run through the register map by the engine driver ([`crate::driver`], the same that
//! `shiftadd infer` uses), compared with the reference model's outputs of the same layer
//! (`sim::layers` plus the post-processing of `sim::engine::post_reference`, or
//! `sim::layers::{max_pool, avg_pool}`) and with `sim::cycles`.

use crate::bus::Bus;
use crate::driver::{load_params, run_layer as drive_layer, LayerResult, OpenBus};
use crate::layer::{layer_data, layer_reference, LayerCase};
use crate::stimulus::{Op, Weight};
use crate::verilator::Model;
use crate::CosimError;
use rand::{Rng, SeedableRng};
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::{
    act_bank_words, post_reference, weight_words, Descriptor, LayerOp, OutputMode, MAX_POOL_WINDOW,
    MAX_ROUND_SHIFT,
};
use shiftadd_sim::layers::Tensor;
use shiftadd_sim::net::{ConvKind, Weights};
use shiftadd_sim::numerics::{max_code, min_code};
use shiftadd_sim::program::{weight_image, EngineLayer, Spill};
use shiftadd_sim::regmap::{access_counts, access_mismatch, Reg};
use shiftadd_sim::spec::AccelConfig;
use std::sync::Arc;

#[derive(Clone, Debug)]
/// Post-processing of a layer: output mode, `S`, `(M_c, B_c)` per channel, residual codes.
pub struct PostCase {
    /// Output mode.
    pub output: OutputMode,
    /// `S` or the shift.
    pub s: u32,
    /// `(M_c, B_c)` per output channel.
    pub mb: Vec<(i64, i64)>,
    /// Residual codes `[cout, out_h, out_w]`.
    pub residual: Vec<i32>,
    /// The input is written into the output buffer, beside the output, and read from there
    /// (`IN_SEL`).
    pub chain: bool,
    /// Where the buffers' bases go: 0 all at the bottom, 1 all at the top, 2 at random, with
    /// the random draws' seed.
    pub place: (u32, u64),
}

/// The random post-processing of layer case `case` (from `seed`).
pub fn post_case(cfg: &AccelConfig, seed: u64, case: &LayerCase) -> PostCase {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (relu, residual, chain) = (rng.gen_bool(0.5), rng.gen_bool(0.5), rng.gen_bool(0.5));
    let output = match rng.gen_range(0..4) {
        0 => OutputMode::Post { relu, residual },
        1 => OutputMode::Handoff,
        2 => OutputMode::Round,
        _ => OutputMode::Logits { relu },
    };
    let g = case.g;
    let n_out = g.cout * g.out_h().unwrap() * g.out_w().unwrap();
    // A fifth each at 0 and at the largest the mode takes (post_s_max for post and logits, 63
    // for hand-off and round); for hand-off and round a fifth next to the post unit's sum width
    // (one below, at or one above: where its shifts lose the last bit); the rest between.
    let s_max = match output {
        OutputMode::Post { .. } | OutputMode::Logits { .. } => cfg.post_s_max,
        _ => MAX_ROUND_SHIFT,
    };
    let sum_bits = shiftadd_sim::rtl::engine_widths(cfg).map_or(s_max, |w| w.z as u32);
    let s = match rng.gen_range(0..5) {
        0 => 0,
        1 => s_max,
        2 if matches!(output, OutputMode::Handoff | OutputMode::Round) => {
            (sum_bits - 1 + rng.gen_range(0..3)).min(s_max)
        }
        _ => rng.gen_range(0..=s_max),
    };
    let place = (rng.gen_range(0..3), rng.gen());
    let mut code = |bits: u32| -> i64 {
        match rng.gen_range(0..5) {
            0 => min_code(bits),
            1 => max_code(bits),
            _ => rng.gen_range(min_code(bits)..=max_code(bits)),
        }
    };
    PostCase {
        output,
        s,
        mb: (0..g.cout)
            .map(|_| (code(cfg.post_m_bits), code(cfg.post_b_bits)))
            .collect(),
        residual: (0..n_out)
            .map(|_| code(cfg.formats.act_bits) as i32)
            .collect(),
        chain,
        place,
    }
}

/// A base for `words` words in a buffer of `depth`: at the bottom, at the top, or at random
/// (`place`), from `rng`.
fn base_in(depth: u64, words: u64, place: u32, rng: &mut rand_chacha::ChaCha8Rng) -> u32 {
    let room = depth.saturating_sub(words);
    (match place {
        0 => 0,
        1 => room,
        _ => rng.gen_range(0..=room),
    }) as u32
}

/// The layer descriptor the engine runs `case` with on `cfg`, its buffers placed as `pc.place`
/// says.
pub fn case_descriptor(cfg: &AccelConfig, case: &LayerCase, pc: &PostCase) -> Descriptor {
    let g = case.g;
    let out_words = act_bank_words(
        cfg,
        g.cout as u32,
        g.out_h().unwrap_or(0) as u32,
        g.out_w().unwrap_or(0) as u32,
    ) as u32;
    let mut d = Descriptor {
        op: LayerOp::Conv(match case.op {
            Op::Shift => ConvKind::Shift,
            Op::Adder => ConvKind::Adder,
            Op::Mult => ConvKind::Mult,
        }),
        cin: g.cin as u32,
        h: g.h as u32,
        w: g.w as u32,
        cout: g.cout as u32,
        kh: g.kh as u32,
        kw: g.kw as u32,
        stride: g.stride as u32,
        pad: g.pad as u32,
        output: pc.output,
        shift: pc.s,
        in_base: 0,
        out_base: 0,
        res_base: 0,
        w_base: 0,
        post_base: 0,
        in_from_output: pc.chain,
    };
    // Every buffer at the bottom, at the top, or anywhere it fits (the chained input beside the
    // output in the output buffer, below or above it).
    let (place, seed) = pc.place;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bank = u64::from(cfg.act_bank_depth());
    let in_words = act_bank_words(cfg, g.cin as u32, g.h as u32, g.w as u32);
    let out_words = u64::from(out_words);
    if pc.chain {
        let first = base_in(bank, in_words + out_words, place, &mut rng);
        let out_first = rng.gen_bool(0.5);
        // What is left above both blocks goes between them as the placement says.
        let left = bank.saturating_sub(in_words + out_words + u64::from(first));
        let gap = base_in(left, 0, place, &mut rng);
        let lower = if out_first { out_words } else { in_words };
        let second = first + lower as u32 + gap;
        (d.out_base, d.in_base) = if out_first {
            (first, second)
        } else {
            (second, first)
        };
    } else {
        d.in_base = base_in(bank, in_words, place, &mut rng);
        d.out_base = base_in(bank, out_words, place, &mut rng);
    }
    d.res_base = base_in(bank, out_words, place, &mut rng);
    d.w_base = base_in(
        u64::from(cfg.weight_depth()),
        weight_words(cfg, &d),
        place,
        &mut rng,
    );
    d.post_base = base_in(
        u64::from(cfg.post_depth()),
        u64::from(d.co_tiles(cfg)),
        place,
        &mut rng,
    );
    d
}

/// The one-layer program of `case` with post-processing `pc` on `cfg`.
pub fn case_layer(cfg: &AccelConfig, case: &LayerCase, pc: &PostCase) -> EngineLayer {
    let data = layer_data(case, cfg);
    let desc = case_descriptor(cfg, case, pc);
    let weights = match case.op {
        Op::Shift => {
            let (sign, m) = data
                .w
                .iter()
                .map(|w| match w {
                    Weight::Shift(sw) => (sw.s, sw.m),
                    Weight::Code(_) => unreachable!("a shift layer draws shift weights"),
                })
                .unzip();
            Weights::Shift { sign, m }
        }
        Op::Adder | Op::Mult => {
            let codes: Vec<i64> = data
                .w
                .iter()
                .map(|w| match w {
                    Weight::Code(v) => *v,
                    Weight::Shift(_) => unreachable!("a code layer draws codes"),
                })
                .collect();
            if case.op == Op::Adder {
                Weights::Adder { codes }
            } else {
                Weights::Mult {
                    // Drawn within `mul_bits` <= 16.
                    codes: codes.iter().map(|&v| v as i32).collect(),
                    frac: 0,
                }
            }
        }
    };
    let lanes = cfg.rows as usize;
    let tiles = desc.co_tiles(cfg) as usize;
    let mut post_m = vec![vec![0; tiles]; lanes];
    let mut post_b = vec![vec![0; tiles]; lanes];
    for (co, &(m, b)) in pc.mb.iter().enumerate() {
        post_m[co % lanes][co / lanes] = m;
        post_b[co % lanes][co / lanes] = b;
    }
    EngineLayer {
        desc,
        src: None,
        residual: None,
        weights: weight_image(cfg, &desc, None, &weights),
        post_m,
        post_b,
        has_post: true,
        zero_fill: true,
        // Both halves of every output word are read back and compared.
        wide: true,
        unrolled_from: None,
        spill: Spill::default(),
    }
}

/// Runs `el` on a new instance of the model `m` of `cfg` (the top of bus `B`), tracing to `vcd`
/// if given: parameters, input (and residual), the layer, the outputs.
fn run_program_layer<B: OpenBus, T: Copy + Into<i64>>(
    cfg: &AccelConfig,
    m: &Arc<Model>,
    el: &EngineLayer,
    input: &Tensor<T>,
    residual: Option<&[i32]>,
    vcd: Option<&std::path::Path>,
) -> Result<LayerResult, CosimError> {
    let mut bus = B::open(cfg, m, vcd)?;
    drive_program_layer(cfg, &mut bus, el, input, residual)
}

/// Runs `el` on the instance behind `bus`, in whatever state the layers before left it.
fn drive_program_layer<B: OpenBus, T: Copy + Into<i64>>(
    cfg: &AccelConfig,
    bus: &mut B,
    el: &EngineLayer,
    input: &Tensor<T>,
    residual: Option<&[i32]>,
) -> Result<LayerResult, CosimError> {
    el.desc
        .check(cfg)
        .map_err(|e| CosimError::Design(format!("layer descriptor: {e}")))?;
    load_params(bus, el);
    let x: Vec<i64> = input.data.iter().map(|&v| v.into()).collect();
    let r: Option<Vec<i64>> = residual.map(|r| r.iter().map(|&v| i64::from(v)).collect());
    let run = drive_layer(bus, el, Some(&x), r.as_deref(), None)?;
    bus.finish()?;
    Ok(run)
}

/// Runs `case` with post-processing `pc` on the engine model `m` of `cfg`, from power-on,
/// tracing to `vcd` if given.
pub fn run_layer(
    cfg: &AccelConfig,
    m: &Arc<Model>,
    case: &LayerCase,
    pc: &PostCase,
    vcd: Option<&std::path::Path>,
) -> Result<LayerResult, CosimError> {
    run_layer_on::<Bus>(cfg, m, case, pc, vcd)
}

/// As [`run_layer`], on the model of bus `B`'s top (`engine`, or `shiftadd_axi` through its AXI
/// ports).
pub fn run_layer_on<B: OpenBus>(
    cfg: &AccelConfig,
    m: &Arc<Model>,
    case: &LayerCase,
    pc: &PostCase,
    vcd: Option<&std::path::Path>,
) -> Result<LayerResult, CosimError> {
    let el = case_layer(cfg, case, pc);
    let residual = matches!(el.desc.output, OutputMode::Post { residual: true, .. })
        .then_some(&pc.residual[..]);
    run_program_layer::<B, _>(cfg, m, &el, &layer_data(case, cfg).x, residual, vcd)
}

/// Runs a max or average pooling of `x` (window and stride `k`) on the engine model `m` of
/// `cfg`, tracing to `vcd` if given.
pub fn run_pool(
    cfg: &AccelConfig,
    m: &Arc<Model>,
    x: &Tensor<i32>,
    k: u32,
    avg: bool,
    chain: bool,
    vcd: Option<&std::path::Path>,
) -> Result<LayerResult, CosimError> {
    run_pool_on::<Bus>(cfg, m, x, k, avg, chain, vcd)
}

/// As [`run_pool`], on the model of bus `B`'s top.
pub fn run_pool_on<B: OpenBus>(
    cfg: &AccelConfig,
    m: &Arc<Model>,
    x: &Tensor<i32>,
    k: u32,
    avg: bool,
    chain: bool,
    vcd: Option<&std::path::Path>,
) -> Result<LayerResult, CosimError> {
    run_program_layer::<B, _>(cfg, m, &pool_layer(cfg, x, k, avg, chain), x, None, vcd)
}

/// The one-layer program of a pooling of `x` with window and stride `k`.
fn pool_layer(cfg: &AccelConfig, x: &Tensor<i32>, k: u32, avg: bool, chain: bool) -> EngineLayer {
    EngineLayer {
        desc: pool_descriptor(cfg, x, k, avg, chain),
        src: None,
        residual: None,
        weights: Vec::new(),
        post_m: Vec::new(),
        post_b: Vec::new(),
        has_post: false,
        zero_fill: false,
        wide: true,
        unrolled_from: None,
        spill: Spill::default(),
    }
}

/// The descriptor of a pooling of `x` with window and stride `k` on `cfg`, the input in the
/// output buffer past the output when `chain`.
pub fn pool_descriptor(
    cfg: &AccelConfig,
    x: &Tensor<i32>,
    k: u32,
    avg: bool,
    chain: bool,
) -> Descriptor {
    let out_words = act_bank_words(cfg, x.c as u32, x.h as u32 / k, x.w as u32 / k) as u32;
    Descriptor {
        op: if avg {
            LayerOp::AvgPool
        } else {
            LayerOp::MaxPool
        },
        cin: x.c as u32,
        h: x.h as u32,
        w: x.w as u32,
        cout: x.c as u32,
        kh: k,
        kw: k,
        stride: k,
        pad: 0,
        output: OutputMode::Round,
        shift: if avg { (k * k).trailing_zeros() } else { 0 },
        in_base: if chain { 5 + out_words } else { 2 },
        out_base: 4,
        res_base: 0,
        w_base: 0,
        post_base: 0,
        in_from_output: chain,
    }
}

/// A drawn pooling: max or average, window and stride `k`, its input codes, and whether the
/// input sits in the output buffer (`IN_SEL`).
#[derive(Clone, Debug)]
pub struct PoolCase {
    /// Average (else max) pooling.
    pub avg: bool,
    /// Window and stride.
    pub k: usize,
    /// The input is read from the output buffer.
    pub chain: bool,
    /// Input codes.
    pub x: Tensor<i32>,
}

impl PoolCase {
    /// `max_pool` or `avg_pool`.
    pub fn kind(&self) -> &'static str {
        if self.avg {
            "avg_pool"
        } else {
            "max_pool"
        }
    }
    /// One line: kind, window, input shape, where the input is.
    pub fn describe(&self) -> String {
        format!(
            "{} {}x{} of input {}x{}x{}{}",
            self.kind(),
            self.k,
            self.k,
            self.x.c,
            self.x.h,
            self.x.w,
            if self.chain {
                ", input in the output buffer"
            } else {
                ""
            }
        )
    }
}

/// A random pooling for `cfg` (from `seed`): max pooling of window 2 or 3 (a third each), else up
/// to [`MAX_POOL_WINDOW`] (the largest half of those times); average pooling of a power-of-two
/// window up to `MAX_POOL_WINDOW`, the smaller ones more often; channels up to two column tiles
/// and one more; sides from the window to 3 more (at least to 8), so that the floor drops rows and
/// columns; a channel an eighth of the time wholly at each bound of the activations, else a
/// quarter of its codes at each.
pub fn pool_case(cfg: &AccelConfig, seed: u64) -> PoolCase {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bits = cfg.formats.act_bits;
    let avg = rng.gen_bool(0.5);
    let big = MAX_POOL_WINDOW as usize;
    let k = if avg {
        let powers: Vec<usize> = (1..)
            .map(|e| 1usize << e)
            .take_while(|&k| k <= big)
            .collect();
        // Window 2^e with weight 2^-e: the smaller windows are cheaper and more common.
        let mut e = 0;
        while e + 1 < powers.len() && rng.gen_bool(0.5) {
            e += 1;
        }
        powers[e]
    } else {
        match rng.gen_range(0..6) {
            0 | 1 => 2,
            2 | 3 => 3,
            4 => big,
            _ => rng.gen_range(2..=big),
        }
    };
    let chain = rng.gen_bool(0.5);
    let (c, h, w) = (
        rng.gen_range(1..=2 * cfg.cols as usize + 1),
        rng.gen_range(k..=(k + 3).max(8)),
        rng.gen_range(k..=(k + 3).max(8)),
    );
    let mut x = Tensor::zeros(c, h, w);
    let (lo, hi) = (min_code(bits), cfg.formats.act_range().max);
    for ch in x.data.chunks_mut(h * w) {
        // A channel an eighth of the time wholly at each bound (windows whose every code is at
        // it), else a quarter of its codes at each.
        let whole = rng.gen_range(0..8);
        for v in ch {
            *v = match (whole, rng.gen_range(0..4)) {
                (0, _) | (_, 0) => lo,
                (1, _) | (_, 1) => hi,
                _ => rng.gen_range(lo..=hi),
            } as i32;
        }
    }
    PoolCase { avg, k, chain, x }
}

/// Runs `pc` on the engine model `m` of `cfg`, tracing to `vcd` if given.
pub fn run_pool_case(
    cfg: &AccelConfig,
    m: &Arc<Model>,
    pc: &PoolCase,
    vcd: Option<&std::path::Path>,
) -> Result<LayerResult, CosimError> {
    run_pool(cfg, m, &pc.x, pc.k as u32, pc.avg, pc.chain, vcd)
}

/// The descriptor the engine runs `pc` with.
pub fn pool_case_descriptor(cfg: &AccelConfig, pc: &PoolCase) -> Descriptor {
    pool_descriptor(cfg, &pc.x, pc.k as u32, pc.avg, pc.chain)
}

/// Why `run` of pooling `pc` disagrees with the reference model and `sim::cycles`, if it does.
pub fn pool_disagreement(cfg: &AccelConfig, pc: &PoolCase, run: &LayerResult) -> Option<String> {
    use shiftadd_sim::layers::{avg_pool, max_pool};
    let exp = if pc.avg {
        avg_pool(&pc.x, pc.k)
    } else {
        max_pool(&pc.x, pc.k)
    };
    let (oh, ow) = (exp.h, exp.w);
    let got = &run.values;
    if got.len() != exp.data.len() {
        return Some(format!(
            "{} outputs read, reference {}",
            got.len(),
            exp.data.len()
        ));
    }
    if let Some(i) = exp
        .data
        .iter()
        .zip(got)
        .position(|(e, g)| i64::from(*e) != *g)
    {
        let (c, rest) = (i / (oh * ow), i % (oh * ow));
        return Some(format!(
            "output [{c}, {}, {}]: engine {}, reference {}",
            rest / ow,
            rest % ow,
            got[i],
            exp.data[i]
        ));
    }
    let cycles = layer_cycles(cfg, &pool_case_descriptor(cfg, pc));
    if run.cycles != cycles || run.done_at != cycles {
        return Some(format!(
            "cycles: CYCLES {} and DONE after {} edges, model {cycles}",
            run.cycles, run.done_at
        ));
    }
    if run.sat != 0 {
        return Some(format!(
            "SAT_COUNT {}, reference 0 (pooling never saturates)",
            run.sat
        ));
    }
    access_mismatch(
        &run.accesses,
        &access_counts(cfg, &pool_case_descriptor(cfg, pc)),
    )
}

/// The reference model's outputs of `case` with post-processing `pc`, and saturations.
pub fn expected_outputs(cfg: &AccelConfig, case: &LayerCase, pc: &PostCase) -> (Vec<i64>, u64) {
    let out_bits = shiftadd_sim::rtl::engine_widths(cfg)
        .expect("a co-simulated config has an engine")
        .ow as u32;
    let sums = layer_reference(case, &layer_data(case, cfg), cfg);
    let plane = sums.h * sums.w;
    let (mode, relu, residual) = match pc.output {
        OutputMode::Post { relu, residual } => (0, relu, residual),
        OutputMode::Handoff => (1, false, false),
        OutputMode::Round => (2, false, false),
        OutputMode::Logits { relu } => (3, relu, false),
    };
    let mut sat = 0;
    let values = sums
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (m, b) = pc.mb[i / plane];
            let (z, hit) = post_reference(
                &cfg.formats,
                v,
                (m, b, pc.s),
                mode,
                relu,
                residual.then_some(pc.residual[i]),
                out_bits,
            );
            sat += u64::from(hit);
            z as i64
        })
        .collect();
    (values, sat)
}

/// One layer case of an engine co-simulation, as `--json` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EngineCase {
    /// Index among the cases drawn.
    pub index: usize,
    /// Kind, shapes, stride, padding, data seed (a pooling: kind, window, input shape).
    pub layer: String,
    /// `shift`, `adder`, `mult`, `max_pool` or `avg_pool`.
    pub kind: &'static str,
    /// The descriptor the engine ran: shapes, kernel, stride, padding, output mode, bases.
    pub descriptor: Descriptor,
    /// Output mode and shift (a pooling: `pool`), and whether the input is in the output buffer.
    pub output: String,
    /// `sim::cycles::layer_cycles`.
    pub cycles_model: u64,
    /// The engine's CYCLES register.
    pub cycles_rtl: u64,
    /// Outputs, saturation count, CYCLES and DONE all as the model says.
    pub agree: bool,
}

/// The first failing case, shrunk if a convolution.
#[derive(Clone, Debug)]
pub struct EngineFailure {
    /// Index among the cases drawn.
    pub case_index: usize,
    /// Shrinking steps that kept it failing.
    pub shrink_steps: usize,
    /// The smallest failing case: layer, output mode and shift, or the pooling.
    pub case: String,
    /// What differs.
    pub what: String,
    /// The engine's waveform of that layer.
    pub vcd: std::path::PathBuf,
}

/// The result of an engine co-simulation.
#[derive(Clone, Debug)]
pub struct EngineOutcome {
    /// Every case run (up to and including the first failure).
    pub cases: Vec<EngineCase>,
    /// The first failure.
    pub failure: Option<EngineFailure>,
    /// Seconds to build or load the model.
    pub build_s: f64,
    /// Seconds to run the cases.
    pub run_s: f64,
}

/// Why `run` disagrees with the model for `case`, if it does.
fn disagreement(
    cfg: &AccelConfig,
    case: &LayerCase,
    pc: &PostCase,
    run: &LayerResult,
) -> Option<String> {
    let (exp, sat) = expected_outputs(cfg, case, pc);
    let d = case_descriptor(cfg, case, pc);
    let (oh, ow) = (d.out_h() as usize, d.out_w() as usize);
    if let Some(i) = exp.iter().zip(&run.values).position(|(e, g)| e != g) {
        let (co, rest) = (i / (oh * ow), i % (oh * ow));
        return Some(format!(
            "output [{co}, {}, {}]: engine {}, reference {}",
            rest / ow,
            rest % ow,
            run.values[i],
            exp[i]
        ));
    }
    let cycles = layer_cycles(cfg, &d);
    if run.cycles != cycles || run.done_at != cycles {
        return Some(format!(
            "cycles: CYCLES {} and DONE after {} edges, model {cycles}",
            run.cycles, run.done_at
        ));
    }
    if run.sat != sat {
        return Some(format!("SAT_COUNT {}, reference {sat}", run.sat));
    }
    access_mismatch(&run.accesses, &access_counts(cfg, &d))
}

/// A drawn case of the engine co-simulation.
#[derive(Clone, Debug)]
enum Drawn {
    /// A convolution with its post-processing.
    Conv(LayerCase, PostCase),
    /// A pooling.
    Pool(PoolCase),
}

impl Drawn {
    /// Runs the case on the instance behind `bus`.
    fn run_on(&self, cfg: &AccelConfig, bus: &mut Bus) -> Result<LayerResult, CosimError> {
        match self {
            Drawn::Conv(case, pc) => {
                let el = case_layer(cfg, case, pc);
                let residual = matches!(el.desc.output, OutputMode::Post { residual: true, .. })
                    .then_some(&pc.residual[..]);
                drive_program_layer(cfg, bus, &el, &layer_data(case, cfg).x, residual)
            }
            Drawn::Pool(p) => {
                let el = pool_layer(cfg, &p.x, p.k as u32, p.avg, p.chain);
                drive_program_layer(cfg, bus, &el, &p.x, None)
            }
        }
    }
    /// The layer's descriptor.
    fn descriptor(&self, cfg: &AccelConfig) -> Descriptor {
        match self {
            Drawn::Conv(case, pc) => case_descriptor(cfg, case, pc),
            Drawn::Pool(p) => pool_case_descriptor(cfg, p),
        }
    }
    /// Runs the case as case `k` of a sequence on one instance ([`in_sequence`]); returns the
    /// run and what the bus checks around it found wrong, if anything.
    fn run_in_sequence(
        &self,
        cfg: &AccelConfig,
        bus: &mut Bus,
        k: usize,
    ) -> Result<(LayerResult, Option<String>), CosimError> {
        let Around {
            abandon,
            irq,
            streams,
            shuffled,
        } = in_sequence(k);
        let desc = self.descriptor(cfg);
        let mut wrong = None;
        if abandon {
            wrong = bus.abandon_layer(&desc, 3 + (k as u32 % 13))?;
        }
        bus.write(Reg::IrqEnable, u32::from(irq));
        bus.streams = streams;
        bus.shuffle = shuffled.then_some(0x9e37_79b9_7f4a_7c15 ^ k as u64);
        let run = self.run_on(cfg, bus);
        bus.streams = false;
        bus.shuffle = None;
        let run = run?;
        wrong = wrong.or(bus.status_fault.take());
        if wrong.is_none() {
            wrong = crate::driver::check_padding_rows(bus, &desc)?;
        }
        if irq && wrong.is_none() {
            wrong = bus.check_irq()?;
        }
        Ok((run, wrong))
    }
    /// Runs the case on a new instance of `m`, tracing to `vcd` if given.
    fn run_fresh(
        &self,
        cfg: &AccelConfig,
        m: &Arc<Model>,
        vcd: Option<&std::path::Path>,
    ) -> Result<LayerResult, CosimError> {
        match self {
            Drawn::Conv(case, pc) => run_layer(cfg, m, case, pc, vcd),
            Drawn::Pool(p) => run_pool_case(cfg, m, p, vcd),
        }
    }
    /// What differs from the reference model and `sim::cycles`, if anything.
    fn disagreement(&self, cfg: &AccelConfig, run: &LayerResult) -> Option<String> {
        match self {
            Drawn::Conv(case, pc) => disagreement(cfg, case, pc, run),
            Drawn::Pool(p) => pool_disagreement(cfg, p, run),
        }
    }
    /// One line, or two for a convolution (its output mode and shift).
    fn describe(&self) -> String {
        match self {
            Drawn::Conv(case, pc) => format!(
                "{}\n  output {:?}, shift {}",
                case.describe(),
                pc.output,
                pc.s
            ),
            Drawn::Pool(p) => p.describe(),
        }
    }
    /// The case as `--json` lists it, with the run's CYCLES.
    fn listed(&self, cfg: &AccelConfig, k: usize, run: &LayerResult, agree: bool) -> EngineCase {
        let (layer, kind, descriptor, output, chain) = match self {
            Drawn::Conv(case, pc) => (
                case.describe(),
                case.op.name(),
                case_descriptor(cfg, case, pc),
                format!("{:?}, shift {}", pc.output, pc.s),
                pc.chain,
            ),
            Drawn::Pool(p) => (
                p.describe(),
                p.kind(),
                pool_case_descriptor(cfg, p),
                "pool".to_string(),
                p.chain,
            ),
        };
        EngineCase {
            index: k,
            layer,
            kind,
            descriptor,
            output: format!(
                "{output}{}",
                if chain {
                    ", input in the output buffer"
                } else {
                    ""
                }
            ),
            cycles_model: layer_cycles(cfg, &descriptor),
            cycles_rtl: run.cycles,
            agree,
        }
    }
}

/// Every how many cases one is a pooling (the others are convolutions).
pub const POOL_EVERY: usize = 4;

/// What the bus does around case `k` of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Around {
    /// Start a layer and abandon it with a reset a few cycles in, before the case: every eighth
    /// case from 6.
    pub abandon: bool,
    /// Run with the interrupt enabled and check it after: the odd cases.
    pub irq: bool,
    /// Move the buffers through the streams: every third case from 1.
    pub streams: bool,
    /// Write the buffers (lanes, weights, parameters, input, residual) in a drawn order instead
    /// of the driver's: the even cases.
    pub shuffled: bool,
}

/// What the bus does around case `k` of a sequence.
pub fn in_sequence(k: usize) -> Around {
    Around {
        abandon: k % 8 == 6,
        irq: k % 2 == 1,
        streams: k % 3 == 1,
        shuffled: k.is_multiple_of(2),
    }
}

/// The ports of `design`'s module `engine`.
pub fn engine_ports(
    design: &crate::design::Design,
) -> Result<Vec<shiftadd_sim::rtl::Port>, CosimError> {
    design
        .modules
        .get(shiftadd_sim::rtl::ENGINE_MODULE)
        .cloned()
        .ok_or_else(|| CosimError::Design(format!("{}: no `engine` module", design.dir.display())))
}

/// Co-simulates the engine of `design` (module `engine`) on Verilator: `opts.cases` random
/// cases, every [`POOL_EVERY`]th a max or average pooling and the others convolutions with
/// random post-processing, back to back on one instance without a reset, each written, run and
/// read through the register map and compared with the reference model and `sim::cycles`. The
/// first failing case is rerun from power-on: if it agrees there, it is reported as failing only
/// after the cases before it, with a waveform of the whole sequence; otherwise a convolution is
/// shrunk (from power-on) and rerun with a waveform, and a pooling rerun as drawn.
pub fn cosim_engine(
    design: &crate::design::Design,
    opts: &crate::cosim::Options,
    cache: &std::path::Path,
) -> Result<EngineOutcome, CosimError> {
    let cfg = &design.cfg;
    let ports = engine_ports(design)?;
    let t0 = std::time::Instant::now();
    let mut sources = design.sources();
    let mut top = shiftadd_sim::rtl::ENGINE_MODULE;
    let mut cover_text = String::new();
    if let Some(parts) = &opts.coverage {
        // The engine under a wrapper holding its cover points, with the engine's ports.
        cover_text = crate::coverage::engine_cover_verilog(cfg, &ports)?;
        std::fs::create_dir_all(parts).map_err(|e| crate::io(parts, e))?;
        let file = parts.join(crate::coverage::COVER_FILE);
        std::fs::write(&file, &cover_text).map_err(|e| crate::io(&file, e))?;
        sources.push(file);
        top = crate::coverage::COVER_TOP;
    }
    let (m, _) = Model::build_with(
        &sources,
        design.waivers.as_deref(),
        top,
        &ports,
        cache,
        opts.coverage.as_deref(),
    )?;
    run_engine(design, opts, &m, t0.elapsed().as_secs_f64(), &cover_text)
}

/// As [`cosim_engine`], on a model of the engine already built (with `opts.coverage`, one built
/// for it, whose cover module is `cover_text`); `build_s` is reported as the build time.
pub fn run_engine(
    design: &crate::design::Design,
    opts: &crate::cosim::Options,
    m: &std::sync::Arc<Model>,
    build_s: f64,
    cover_text: &str,
) -> Result<EngineOutcome, CosimError> {
    use proptest::strategy::{Strategy, ValueTree};
    let cfg = &design.cfg;
    let ports = engine_ports(design)?;
    let m = std::sync::Arc::clone(m);
    let points = crate::coverage::engine_cover_points(cfg);
    // The host's cover points, written after every case so that any return leaves them.
    let save_host = |bus: &Bus| -> Result<(), CosimError> {
        if let (Some(parts), Some(counts)) = (&opts.coverage, &bus.host_cover) {
            let file = parts.join(format!("host-{}.dat", std::process::id()));
            let text = counts.to_coverage(&points, cover_text).to_text();
            std::fs::write(&file, text).map_err(|e| crate::io(&file, e))?;
        }
        Ok(())
    };
    let dut = crate::design::Dut {
        kind: shiftadd_sim::rtl::engine_kind(cfg).map_err(|e| CosimError::Design(e.to_string()))?,
        top: shiftadd_sim::rtl::ENGINE_MODULE.into(),
        ports,
        rows: cfg.rows as usize,
        cols: cfg.cols as usize,
        latency: shiftadd_sim::rtl::ARRAY_LATENCY,
        is_pe: false,
    };
    let mut runner = crate::cosim::test_runner(opts.seed);
    let strategy = crate::layer::layer_strategy(&dut, cfg);
    let t1 = std::time::Instant::now();
    let mut cases: Vec<EngineCase> = Vec::new();
    let fail_vcd = || match &opts.vcd {
        Some(v) => crate::cosim::tagged(v, "fail"),
        None => std::path::Path::new("target")
            .join("cosim")
            .join("engine-mismatch.vcd"),
    };
    // Every case runs on one instance, never reset in between, as a program's layers do.
    let mut seq = Bus::new(cfg, &m, None)?;
    seq.host_cover = opts
        .coverage
        .is_some()
        .then(|| crate::coverage::HostCounts::new(cfg));
    // The cases run so far, with their indices.
    let mut drawn: Vec<(usize, Drawn)> = Vec::new();
    // Every host register read back after writing ones and zeros, before the first case.
    let walk = seq.register_walk()?;
    if !walk.is_empty() {
        let vcd = if opts.diagnose {
            let vcd = fail_vcd();
            Bus::new(cfg, &m, Some(&vcd))?.register_walk()?;
            vcd
        } else {
            std::path::PathBuf::new()
        };
        return Ok(EngineOutcome {
            cases,
            failure: Some(EngineFailure {
                case_index: 0,
                shrink_steps: 0,
                case: "the register walk before the first case".into(),
                what: walk.join("\n  "),
                vcd,
            }),
            build_s,
            run_s: t1.elapsed().as_secs_f64(),
        });
    }
    for k in 0..opts.cases as usize {
        let seed = opts.seed ^ k as u64;
        let (d, tree) = if k % POOL_EVERY == POOL_EVERY - 1 {
            (Drawn::Pool(pool_case(cfg, seed)), None)
        } else {
            let tree = strategy
                .new_tree(&mut runner)
                .map_err(|e| CosimError::Design(format!("cannot draw a layer: {e}")))?;
            let case = tree.current();
            (Drawn::Conv(case, post_case(cfg, seed, &case)), Some(tree))
        };
        if opts.shard.is_some_and(|s| !s.takes(k)) {
            continue;
        }
        let (run, around) = d.run_in_sequence(cfg, &mut seq, k)?;
        save_host(&seq)?;
        let bad = around.or_else(|| d.disagreement(cfg, &run));
        cases.push(d.listed(cfg, k, &run, bad.is_none()));
        drawn.push((k, d.clone()));
        let Some(what) = bad else {
            continue;
        };
        let fail = |shrink_steps: usize, case: String, what: String, vcd| EngineOutcome {
            cases: cases.clone(),
            failure: Some(EngineFailure {
                case_index: k,
                shrink_steps,
                case,
                what,
                vcd,
            }),
            build_s,
            run_s: t1.elapsed().as_secs_f64(),
        };
        if !opts.diagnose {
            return Ok(fail(0, d.describe(), what, std::path::PathBuf::new()));
        }
        let vcd = fail_vcd();
        if d.disagreement(cfg, &d.run_fresh(cfg, &m, None)?).is_none() {
            // It fails only after the cases before it: the whole sequence, traced.
            let mut traced = Bus::new(cfg, &m, Some(&vcd))?;
            traced.register_walk()?;
            for (i, d) in &drawn {
                d.run_in_sequence(cfg, &mut traced, *i)?;
            }
            let case = format!(
                "{}\n  after the {} cases before it on one instance without a reset (from power-on it agrees)",
                d.describe(),
                drawn.len() - 1
            );
            return Ok(fail(0, case, what, vcd));
        }
        let (Drawn::Conv(_, pc), Some(mut tree)) = (d.clone(), tree) else {
            // A pooling is reported as drawn.
            d.run_fresh(cfg, &m, Some(&vcd))?;
            return Ok(fail(0, d.describe(), what, vcd));
        };
        let check = |c: &LayerCase| -> Result<Option<(PostCase, String)>, CosimError> {
            let pc = post_case(cfg, seed, c);
            let run = run_layer(cfg, &m, c, &pc, None)?;
            Ok(disagreement(cfg, c, &pc, &run).map(|w| (pc, w)))
        };
        let (layer, (post, what), steps) =
            crate::cosim::shrink(&mut tree, (pc, what), opts.shrink_time, check)?;
        let small = Drawn::Conv(layer, post);
        small.run_fresh(cfg, &m, Some(&vcd))?;
        return Ok(fail(steps, small.describe(), what, vcd));
    }
    Ok(EngineOutcome {
        cases,
        failure: None,
        build_s,
        run_s: t1.elapsed().as_secs_f64(),
    })
}
