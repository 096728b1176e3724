//! The engine driven through its register map, as a host driver on the board would: buffer
//! images written through the access port, the sequencer registers from
//! `sim::engine::seq_regs`, START, polling STATUS, reading CYCLES, SAT_COUNT and the output
//! buffer; and the reference model's outputs of the same layer (`sim::layers` plus the
//! post-processing of `sim::engine::post_reference`).

use crate::bus::Bus;
use crate::layer::{layer_data, layer_reference, LayerCase};
use crate::stimulus::{Op, Weight};
use crate::verilator::Model;
use crate::CosimError;
use rand::{Rng, SeedableRng};
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::{
    act_bank_words, act_location, last_rows, op_register, output_register, post_reference,
    register_offset, weight_location, Descriptor, LayerOp, OutputMode, BUF_INPUT, BUF_OUTPUT,
    BUF_POST_B, BUF_POST_M, BUF_RESIDUAL, BUF_WEIGHTS,
};
use shiftadd_sim::layers::Tensor;
use shiftadd_sim::net::ConvKind;
use shiftadd_sim::numerics::{encode_shift_weight, max_code, min_code};
use shiftadd_sim::spec::AccelConfig;
use std::sync::Arc;

/// Register writes of a test, one per bus cycle, replayed by [`Bus`] before the layer runs.
pub struct Program {
    cfg: AccelConfig,
    /// `(reg_addr, reg_wdata)` per cycle.
    pub cycles: Vec<(u32, u32)>,
}

impl Program {
    /// Writes `v` to register `reg`.
    pub fn write(&mut self, reg: &str, v: u32) {
        let o = register_offset(&self.cfg, reg).unwrap();
        self.cycles.push((o, v));
    }
}

/// The code of a weight at the weight buffer.
pub fn weight_code(cfg: &AccelConfig, w: Weight) -> u32 {
    match w {
        Weight::Shift(sw) => encode_shift_weight(sw, cfg.formats.shift_wb),
        Weight::Code(v) => v as u32,
    }
}

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
    /// The input is written into the output buffer, past the output, and read from there
    /// (`IN_SEL`).
    pub chain: bool,
}

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
    let mut code = |bits: u32| -> i64 {
        match rng.gen_range(0..5) {
            0 => min_code(bits),
            1 => max_code(bits),
            _ => rng.gen_range(min_code(bits)..=max_code(bits)),
        }
    };
    PostCase {
        output,
        s: code(6).rem_euclid(i64::from(cfg.post_s_max) + 1) as u32,
        mb: (0..g.cout)
            .map(|_| (code(cfg.post_m_bits), code(cfg.post_b_bits)))
            .collect(),
        residual: (0..n_out)
            .map(|_| code(cfg.formats.act_bits) as i32)
            .collect(),
        chain,
    }
}

/// Runs `case` with post-processing `pc` through the engine; returns (outputs
/// `[co][oy][ox]`, DONE edge after START, CYCLES, SAT_COUNT).
/// What one layer run on the engine gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineRun {
    /// Output values `[cout, out_h, out_w]`, as read through the access port.
    pub values: Vec<i64>,
    /// The edge after START at which DONE first showed.
    pub done_at: u64,
    /// The CYCLES register.
    pub cycles: u64,
    /// The SAT_COUNT register.
    pub sat: u64,
    /// The cycle (from power-on) of START.
    pub start_cycle: usize,
}

/// The layer descriptor the engine runs `case` with on `cfg` (fixed non-zero buffer bases; a
/// chained input sits past the output in the output buffer; the residual starts below the
/// output's first word when the input is chained, past its last word otherwise).
pub fn case_descriptor(cfg: &AccelConfig, case: &LayerCase, pc: &PostCase) -> Descriptor {
    let g = case.g;
    let out_words = act_bank_words(
        cfg,
        g.cout as u32,
        g.out_h().unwrap_or(0) as u32,
        g.out_w().unwrap_or(0) as u32,
    ) as u32;
    Descriptor {
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
        in_base: if pc.chain { 6 + out_words } else { 3 },
        out_base: 5,
        res_base: if pc.chain { 4 } else { 7 + out_words },
        w_base: 2,
        post_base: 1,
        in_from_output: pc.chain,
    }
}

/// Runs `case` with post-processing `pc` on the engine model `m` of `cfg`, from power-on,
/// tracing to `vcd` if given.
pub fn run_layer(
    cfg: &AccelConfig,
    m: &Arc<Model>,
    case: &LayerCase,
    pc: &PostCase,
    vcd: Option<&std::path::Path>,
) -> Result<EngineRun, CosimError> {
    let cfg = cfg.clone();
    let data = layer_data(case, &cfg);
    let d = case_descriptor(&cfg, case, pc);
    d.check(&cfg)
        .map_err(|e| CosimError::Design(format!("{}: {e}", case.describe())))?;
    let mut p = Program {
        cfg: cfg.clone(),
        cycles: Vec::new(),
    };
    write_inputs(&mut p, &d, &data.x);
    // Weights, with zero weights past the layer's channels.
    let zero = match case.op {
        Op::Shift => Weight::Shift(shiftadd_sim::numerics::ShiftWeight { s: 0, m: 0 }),
        _ => Weight::Code(0),
    };
    p.write("BUF_SEL", BUF_WEIGHTS);
    for co in 0..d.co_tiles(&cfg) * cfg.rows {
        for ci in 0..d.ci_tiles(&cfg) * cfg.cols {
            for ky in 0..d.kh {
                for kx in 0..d.kw {
                    let (word, lane) = weight_location(&cfg, &d, co, ci, ky, kx);
                    let w = if co < d.cout && ci < d.cin {
                        data.w[(((co * d.cin + ci) * d.kh + ky) * d.kw + kx) as usize]
                    } else {
                        zero
                    };
                    p.write("BUF_LANE", lane);
                    p.write("BUF_ADDR", word);
                    p.write("BUF_DATA_LO", weight_code(&cfg, w));
                }
            }
        }
    }
    // Post-processing parameters (tile t at POST_BASE + t, lane r) and residual codes.
    let post_base = d.post_base;
    for (sel, pick) in [(BUF_POST_M, 0usize), (BUF_POST_B, 1)] {
        p.write("BUF_SEL", sel);
        for co in 0..d.cout {
            let v = if pick == 0 {
                pc.mb[co as usize].0
            } else {
                pc.mb[co as usize].1
            };
            p.write("BUF_LANE", co % cfg.rows);
            p.write("BUF_ADDR", post_base + co / cfg.rows);
            p.write("BUF_DATA_HI", (v >> 32) as u32);
            p.write("BUF_DATA_LO", v as u32);
        }
    }
    p.write("BUF_DATA_HI", 0);
    p.write("BUF_SEL", BUF_RESIDUAL);
    let (oh, ow) = (d.out_h(), d.out_w());
    for co in 0..d.cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let (bank, word) = act_location(&cfg, d.res_base, oh, ow, co, oy, ox);
                p.write("BUF_LANE", bank);
                p.write("BUF_ADDR", word);
                let i = ((co * oh + oy) * ow + ox) as usize;
                p.write("BUF_DATA_LO", pc.residual[i] as u32);
            }
        }
    }
    p.write("OUTPUT", output_register(pc.output));
    p.write("SHIFT", pc.s);
    p.write("LAST_ROWS", last_rows(&cfg, &d));
    p.write("POST_BASE", post_base);
    p.write("RES_BASE", d.res_base);
    p.write("OP", op_register(d.op));
    finish(p, &d, m, vcd)
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
) -> Result<EngineRun, CosimError> {
    let d = pool_descriptor(cfg, x, k, avg, chain);
    d.check(cfg)
        .map_err(|e| CosimError::Design(format!("pooling {:?}: {e}", x.shape())))?;
    let mut p = Program {
        cfg: cfg.clone(),
        cycles: Vec::new(),
    };
    write_inputs(&mut p, &d, x);
    p.write("OP", op_register(d.op));
    p.write("SHIFT", (k * k).trailing_zeros());
    p.write("LAST_ROWS", last_rows(cfg, &d));
    finish(p, &d, m, vcd)
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
        shift: 0,
        in_base: if chain { 5 + out_words } else { 2 },
        out_base: 4,
        res_base: 0,
        w_base: 0,
        post_base: 0,
        in_from_output: chain,
    }
}

/// Writes the input activations of `d` (zeros in the channels past `cin` of the last tile).
fn write_inputs(p: &mut Program, d: &Descriptor, input: &Tensor<i32>) {
    let cfg = p.cfg.clone();
    p.write("IN_SEL", u32::from(d.in_from_output));
    p.write(
        "BUF_SEL",
        if d.in_from_output {
            BUF_OUTPUT
        } else {
            BUF_INPUT
        },
    );
    for c in 0..d.ci_tiles(&cfg) * cfg.cols {
        for y in 0..d.h {
            for x in 0..d.w {
                let (bank, word) = act_location(&cfg, d.in_base, d.h, d.w, c, y, x);
                let v = if c < d.cin {
                    input.at(c as usize, y as usize, x as usize) as u32
                } else {
                    0
                };
                p.write("BUF_LANE", bank);
                p.write("BUF_ADDR", word);
                p.write("BUF_DATA_LO", v);
            }
        }
    }
}

/// Replays the queued writes of `p` on a new instance, runs layer `d` through the driver and
/// reads its outputs (both halves of every word).
fn finish(
    p: Program,
    d: &Descriptor,
    m: &Arc<Model>,
    vcd: Option<&std::path::Path>,
) -> Result<EngineRun, CosimError> {
    let cfg = p.cfg.clone();
    let mut bus = Bus::new(&cfg, m, vcd)?;
    for &(addr, data) in &p.cycles {
        bus.write(addr, data);
    }
    let run = bus.run(d, layer_cycles(&cfg, d) + 4)?;
    let (oh, ow) = (d.out_h(), d.out_w());
    let mut reads = Vec::new();
    for co in 0..d.out_c() {
        let (bank, word) = act_location(&cfg, d.out_base, oh, ow, co, 0, 0);
        reads.extend(bus.read_outputs(bank, word, oh * ow, true));
    }
    let values = reads.into_iter().map(|r| bus.output_value(r)).collect();
    Ok(EngineRun {
        values,
        done_at: run.done_at,
        cycles: run.cycles,
        sat: run.sat,
        start_cycle: run.start_cycle as usize,
    })
}

/// The reference model's outputs of `case` with post-processing `pc`, and saturations.
pub fn expected_outputs(cfg: &AccelConfig, case: &LayerCase, pc: &PostCase) -> (Vec<i64>, u64) {
    let out_bits = shiftadd_hdl::engine::engine_widths(cfg).unwrap().ow as u32;
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
    /// Kind, shapes, stride, padding, data seed.
    pub layer: String,
    /// `shift`, `adder` or `mult`.
    pub kind: &'static str,
    /// The descriptor the engine ran: shapes, kernel, stride, padding, output mode, bases.
    pub descriptor: Descriptor,
    /// Output mode and shift.
    pub output: String,
    /// `sim::cycles::layer_cycles`.
    pub cycles_model: u64,
    /// The engine's CYCLES register.
    pub cycles_rtl: u64,
    /// Outputs, saturation count, CYCLES and DONE all as the model says.
    pub agree: bool,
}

/// The first failing layer, shrunk.
#[derive(Clone, Debug)]
pub struct EngineFailure {
    /// Index among the cases drawn.
    pub case_index: usize,
    /// Shrinking steps that kept it failing.
    pub shrink_steps: usize,
    /// The smallest failing layer.
    pub layer: LayerCase,
    /// Its post-processing.
    pub post: PostCase,
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
    run: &EngineRun,
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
    (run.sat != sat).then(|| format!("SAT_COUNT {}, reference {sat}", run.sat))
}

/// Co-simulates the engine of `design` (module `engine`) on Verilator: `opts.cases` random
/// layers with random post-processing, each written, run and read through the register map and
/// compared with the reference model and `sim::cycles`; the first failing layer is shrunk and
/// rerun with a waveform.
pub fn cosim_engine(
    design: &crate::design::Design,
    opts: &crate::cosim::Options,
    cache: &std::path::Path,
) -> Result<EngineOutcome, CosimError> {
    use proptest::strategy::{Strategy, ValueTree};
    let cfg = &design.cfg;
    let ports = design.modules.get("engine").cloned().ok_or_else(|| {
        CosimError::Design(format!("{}: no `engine` module", design.dir.display()))
    })?;
    let t0 = std::time::Instant::now();
    let (m, _) = Model::build(
        &design.files,
        design.waivers.as_deref(),
        "engine",
        &ports,
        cache,
    )?;
    let build_s = t0.elapsed().as_secs_f64();
    let dut = crate::design::Dut {
        kind: shiftadd_hdl::engine::engine_kind(cfg).map_err(CosimError::Design)?,
        top: "engine".into(),
        ports,
        rows: cfg.rows as usize,
        cols: cfg.cols as usize,
        latency: shiftadd_hdl::generate::ARRAY_LATENCY,
        is_pe: false,
    };
    let mut runner = crate::cosim::test_runner(opts.seed);
    let strategy = crate::layer::layer_strategy(&dut, cfg);
    let t1 = std::time::Instant::now();
    let mut cases = Vec::new();
    for k in 0..opts.cases as usize {
        let mut tree = strategy
            .new_tree(&mut runner)
            .map_err(|e| CosimError::Design(format!("cannot draw a layer: {e}")))?;
        let case = tree.current();
        let pc = post_case(cfg, opts.seed ^ k as u64, &case);
        let run = run_layer(cfg, &m, &case, &pc, None)?;
        let bad = disagreement(cfg, &case, &pc, &run);
        let descriptor = case_descriptor(cfg, &case, &pc);
        cases.push(EngineCase {
            layer: case.describe(),
            kind: case.op.name(),
            descriptor,
            output: format!(
                "{:?}, shift {}{}",
                pc.output,
                pc.s,
                if pc.chain {
                    ", input in the output buffer"
                } else {
                    ""
                }
            ),
            cycles_model: layer_cycles(cfg, &descriptor),
            cycles_rtl: run.cycles,
            agree: bad.is_none(),
        });
        let Some(what) = bad else {
            continue;
        };
        let seed = opts.seed ^ k as u64;
        let check = |c: &LayerCase| -> Result<Option<(PostCase, String)>, CosimError> {
            let pc = post_case(cfg, seed, c);
            let run = run_layer(cfg, &m, c, &pc, None)?;
            Ok(disagreement(cfg, c, &pc, &run).map(|w| (pc, w)))
        };
        let (layer, (post, what), steps) =
            crate::cosim::shrink(&mut tree, (pc, what), opts.shrink_time, check)?;
        let vcd = match &opts.vcd {
            Some(v) => crate::cosim::tagged(v, "fail"),
            None => std::path::Path::new("target")
                .join("cosim")
                .join("engine-mismatch.vcd"),
        };
        run_layer(cfg, &m, &layer, &post, Some(&vcd))?;
        return Ok(EngineOutcome {
            cases,
            failure: Some(EngineFailure {
                case_index: k,
                shrink_steps: steps,
                layer,
                post,
                what,
                vcd,
            }),
            build_s,
            run_s: t1.elapsed().as_secs_f64(),
        });
    }
    Ok(EngineOutcome {
        cases,
        failure: None,
        build_s,
        run_s: t1.elapsed().as_secs_f64(),
    })
}
