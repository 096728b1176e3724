//! Co-simulation of one PE or array against the reference model: draw cases, run them all in
//! one simulation from power-on, compare every output of every cycle, and on the first
//! difference shrink the failing case, rerun it with waveforms (RTL and reference) and name the
//! first differing signal.

use crate::design::{Design, Dut};
use crate::icarus::IcarusSim;
use crate::layer::{layer_data, layer_reference, layer_strategy, schedule, LayerCase};
use crate::stimulus::{build_case, case_strategy, describe, expected, Cycle, Driver, RawCase};
use crate::verilator::{BuildOutcome, Model, PortLayout};
use crate::wave::{first_difference, write_reference, WaveDiff};
use crate::CosimError;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which simulator runs the RTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimKind {
    /// Verilator, through the generated shim.
    Verilator,
    /// Icarus Verilog, through a generated testbench.
    Icarus,
}

impl SimKind {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SimKind::Verilator => "verilator",
            SimKind::Icarus => "icarus",
        }
    }

    /// Scope of the DUT's ports in this simulator's waveforms.
    fn scope(self, top: &str) -> Vec<String> {
        match self {
            SimKind::Verilator => vec!["TOP".into(), top.into()],
            SimKind::Icarus => vec!["shiftadd_tb".into(), "dut".into()],
        }
    }
}

/// A built simulation of one DUT.
pub enum Sim {
    /// A loaded Verilator model.
    Verilator(Arc<Model>),
    /// A compiled Icarus testbench.
    Icarus(IcarusSim),
}

impl Sim {
    /// Builds (or finds in `cache`) the simulation of `dut`; says whether it was cached.
    pub fn build(
        kind: SimKind,
        design: &Design,
        dut: &Dut,
        cache: &Path,
    ) -> Result<(Sim, PortLayout, bool), CosimError> {
        let layout = PortLayout::new(&dut.top, &dut.ports)?;
        match kind {
            SimKind::Verilator => {
                let (m, how) = Model::build(
                    &design.files,
                    design.waivers.as_deref(),
                    &dut.top,
                    &dut.ports,
                    cache,
                )?;
                Ok((Sim::Verilator(m), layout, how == BuildOutcome::Cached))
            }
            SimKind::Icarus => {
                let s = IcarusSim::build(&design.files, &dut.top, &layout, cache)?;
                Ok((Sim::Icarus(s), layout, false))
            }
        }
    }

    /// Runs `inputs` (whole cycles of port words) from power-on.
    pub fn run(&self, inputs: &[u64], vcd: Option<&Path>) -> Result<Vec<u64>, CosimError> {
        match self {
            Sim::Verilator(m) => Ok(m.instance(vcd)?.cycles(inputs)),
            Sim::Icarus(s) => s.run(inputs, vcd),
        }
    }
}

/// How to co-simulate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cases to draw.
    pub cases: u32,
    /// Seed of the case generator.
    pub seed: u64,
    /// Longest case in cycles.
    pub max_cycles: usize,
    /// Waveform of the whole run (and of a failing case, `.fail` inserted before `.vcd`).
    pub vcd: Option<PathBuf>,
    /// Time allowed for shrinking a failing case.
    pub shrink_time: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cases: 64,
            seed: 1,
            max_cycles: 24,
            vcd: None,
            shrink_time: Duration::from_secs(60),
        }
    }
}

/// One output that differs from the reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Cycle within the run or case.
    pub cycle: usize,
    /// Output port.
    pub port: String,
    /// The reference model's value.
    pub expected: i128,
    /// The RTL's value (two's complement of the port width).
    pub got: i128,
}

/// A failing case, shrunk.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Index of the first failing case among those drawn.
    pub case_index: usize,
    /// Shrinking steps that kept the case failing.
    pub shrink_steps: usize,
    /// The smallest failing case found.
    pub case: Vec<Cycle>,
    /// Its first mismatch.
    pub mismatch: Mismatch,
    /// The RTL's waveform of the case.
    pub vcd: PathBuf,
    /// The reference model's waveform of the case.
    pub reference_vcd: PathBuf,
    /// The first differing signal between the two waveforms.
    pub wave_diff: Option<WaveDiff>,
    /// At layer level: the layer and the output index `(co, oy, ox)` that differs.
    pub layer: Option<(LayerCase, [usize; 3])>,
}

/// The result of co-simulating one DUT.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Top module.
    pub top: String,
    /// Simulator.
    pub sim: SimKind,
    /// Cases run.
    pub cases: u32,
    /// Cycles simulated in the batch run.
    pub cycles: usize,
    /// Whether the simulation came from the cache.
    pub cached: bool,
    /// Seconds to build (or load) the simulation.
    pub build_s: f64,
    /// Seconds to simulate and compare the batch.
    pub run_s: f64,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// Waveforms of the whole run (RTL, reference) when asked for.
    pub run_vcds: Option<(PathBuf, PathBuf)>,
}

/// `a.vcd` to `a.<tag>.vcd`.
pub fn tagged(path: &Path, tag: &str) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("wave");
    path.with_file_name(format!("{stem}.{tag}.vcd"))
}

/// The first output of `outputs` that differs from `expected`.
pub fn first_mismatch(
    driver: &Driver,
    outputs: &[u64],
    expected: &[Vec<i128>],
) -> Option<Mismatch> {
    let names = driver.output_names();
    for (t, exp) in expected.iter().enumerate() {
        let got = driver.outputs(outputs, t);
        for ((g, e), name) in got.iter().zip(exp).zip(&names) {
            if g != e {
                return Some(Mismatch {
                    cycle: t,
                    port: name.clone(),
                    expected: *e,
                    got: *g,
                });
            }
        }
    }
    None
}

fn port_values(driver: &Driver, layout: &PortLayout, cycles: &[Cycle]) -> Vec<Vec<i128>> {
    let words = driver.inputs(cycles);
    (0..cycles.len())
        .map(|i| {
            layout
                .input_offsets
                .iter()
                .map(|&o| i128::from(words[i * driver.input_words + o]))
                .collect()
        })
        .collect()
}

/// Co-simulates `dut` of `design` on `kind`.
pub fn cosim(
    design: &Design,
    dut: &Dut,
    kind: SimKind,
    opts: &Options,
    cache: &Path,
) -> Result<Outcome, CosimError> {
    let cfg = &design.cfg;
    let t0 = Instant::now();
    let (sim, layout, cached) = Sim::build(kind, design, dut, cache)?;
    let build_s = t0.elapsed().as_secs_f64();
    let driver = Driver::new(dut, &layout, cfg)?;

    let mut runner = test_runner(opts.seed);
    let strategy = case_strategy(dut, opts.max_cycles);
    let mut trees = Vec::with_capacity(opts.cases as usize);
    for _ in 0..opts.cases {
        trees.push(
            strategy
                .new_tree(&mut runner)
                .map_err(|e| CosimError::Design(format!("cannot draw a case: {e}")))?,
        );
    }
    let t1 = Instant::now();
    // The batch is one case: its contract (one layer kind per sum) holds across case borders.
    let raw: Vec<RawCase> = trees.iter().map(|t| t.current()).collect();
    let lengths: Vec<usize> = raw.iter().map(Vec::len).collect();
    let all = build_case(&raw.concat(), dut, cfg);
    let inputs = driver.inputs(&all);
    let outputs = sim.run(&inputs, opts.vcd.as_deref())?;
    let exp = expected(&all, dut, cfg);
    let mismatch = first_mismatch(&driver, &outputs, &exp);
    let run_s = t1.elapsed().as_secs_f64();
    let run_vcds = match &opts.vcd {
        Some(v) => {
            let r = tagged(v, "ref");
            write_reference(
                &r,
                &dut.top,
                (&layout.inputs, &port_values(&driver, &layout, &all)),
                (&layout.outputs, &exp),
            )?;
            Some((v.clone(), r))
        }
        None => None,
    };
    let mut outcome = Outcome {
        top: dut.top.clone(),
        sim: kind,
        cases: opts.cases,
        cycles: all.len(),
        cached,
        build_s,
        run_s,
        failure: None,
        run_vcds,
    };
    let Some(m) = mismatch else {
        return Ok(outcome);
    };

    // The case holding the first mismatch.
    let mut start = 0;
    let mut case_index = 0;
    for (k, len) in lengths.iter().enumerate() {
        if m.cycle < start + len {
            case_index = k;
            break;
        }
        start += len;
    }
    let check = |raw: &RawCase| -> Result<Option<(Vec<Cycle>, Mismatch)>, CosimError> {
        let c = build_case(raw, dut, cfg);
        let out = sim.run(&driver.inputs(&c), None)?;
        Ok(first_mismatch(&driver, &out, &expected(&c, dut, cfg)).map(|m| (c, m)))
    };
    let tree = &mut trees[case_index];
    let (mut best, steps) = match check(&tree.current())? {
        Some(found) => {
            let mut best = found;
            let mut steps = 0;
            let deadline = Instant::now() + opts.shrink_time;
            if tree.simplify() {
                while Instant::now() < deadline {
                    match check(&tree.current())? {
                        Some(found) => {
                            best = found;
                            steps += 1;
                            if !tree.simplify() {
                                break;
                            }
                        }
                        None => {
                            if !tree.complicate() {
                                break;
                            }
                        }
                    }
                }
            }
            (best, steps)
        }
        // It fails only after the cases before it: keep them all.
        None => {
            let prefix = build_case(&raw[..=case_index].concat(), dut, cfg);
            ((prefix, m.clone()), 0)
        }
    };
    let vcd = match &opts.vcd {
        Some(v) => tagged(v, "fail"),
        None => std::env::temp_dir().join("shiftadd-cosim").join(format!(
            "{}-{}-mismatch.vcd",
            dut.top,
            kind.name()
        )),
    };
    let reference_vcd = tagged(&vcd, "ref");
    let out = sim.run(&driver.inputs(&best.0), Some(&vcd))?;
    // The waveform run must show the same mismatch.
    let exp = expected(&best.0, dut, cfg);
    if let Some(again) = first_mismatch(&driver, &out, &exp) {
        best.1 = again;
    }
    write_reference(
        &reference_vcd,
        &dut.top,
        (&layout.inputs, &port_values(&driver, &layout, &best.0)),
        (&layout.outputs, &exp),
    )?;
    let scope = kind.scope(&dut.top);
    let scope: Vec<&str> = scope.iter().map(String::as_str).collect();
    let wave_diff = first_difference(&reference_vcd, &["TOP", &dut.top], &vcd, &scope)?;
    outcome.failure = Some(Failure {
        case_index,
        shrink_steps: steps,
        case: best.0,
        mismatch: best.1,
        vcd,
        reference_vcd,
        wave_diff,
        layer: None,
    });
    Ok(outcome)
}

fn test_runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config {
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// A failing layer run: its cycles, the mismatch and the output index `(co, oy, ox)`.
type LayerMismatch = (Vec<Cycle>, Mismatch, [usize; 3]);

/// The first output of a layer run that differs from the reference model's convolution.
fn layer_mismatch(
    case: &LayerCase,
    dut: &Dut,
    design: &Design,
    driver: &Driver,
    sim: &Sim,
    offset: usize,
    outputs: Option<&[u64]>,
) -> Result<Option<LayerMismatch>, CosimError> {
    let data = layer_data(case, &design.cfg);
    let reference = layer_reference(case, &data, &design.cfg);
    let (cycles, reads) = schedule(case, &data, dut);
    let own;
    let (words, base) = match outputs {
        Some(o) => (o, offset),
        None => {
            own = sim.run(&driver.inputs(&cycles), None)?;
            (own.as_slice(), 0)
        }
    };
    let names = driver.output_names();
    for r in &reads {
        let got = driver.outputs(words, base + r.cycle)[r.row];
        let exp = i128::from(reference.at(r.co, r.oy, r.ox));
        if got != exp {
            let m = Mismatch {
                cycle: r.cycle,
                port: names[r.row].clone(),
                expected: exp,
                got,
            };
            return Ok(Some((cycles, m, [r.co, r.oy, r.ox])));
        }
    }
    Ok(None)
}

/// Co-simulates whole layers on the array `dut` of `design`: `opts.cases` random layers, all in
/// one run, each output compared with the reference model's convolution; a failing layer is
/// shrunk (smaller shapes, simpler data) and rerun with waveforms.
pub fn cosim_layers(
    design: &Design,
    dut: &Dut,
    kind: SimKind,
    opts: &Options,
    cache: &Path,
) -> Result<Outcome, CosimError> {
    if dut.is_pe {
        return Err(CosimError::Design(
            "layers run on arrays, not on a lone PE".into(),
        ));
    }
    let cfg = &design.cfg;
    let t0 = Instant::now();
    let (sim, layout, cached) = Sim::build(kind, design, dut, cache)?;
    let build_s = t0.elapsed().as_secs_f64();
    let driver = Driver::new(dut, &layout, cfg)?;
    let mut runner = test_runner(opts.seed);
    let strategy = layer_strategy(dut, cfg);
    let mut trees = Vec::with_capacity(opts.cases as usize);
    for _ in 0..opts.cases {
        trees.push(
            strategy
                .new_tree(&mut runner)
                .map_err(|e| CosimError::Design(format!("cannot draw a layer: {e}")))?,
        );
    }
    let t1 = Instant::now();
    let mut all = Vec::new();
    let mut starts = Vec::new();
    for t in &trees {
        let case = t.current();
        let data = layer_data(&case, cfg);
        starts.push(all.len());
        all.extend(schedule(&case, &data, dut).0);
    }
    let outputs = sim.run(&driver.inputs(&all), opts.vcd.as_deref())?;
    let mut failing = None;
    for (k, t) in trees.iter().enumerate() {
        if let Some(found) = layer_mismatch(
            &t.current(),
            dut,
            design,
            &driver,
            &sim,
            starts[k],
            Some(&outputs),
        )? {
            failing = Some((k, found));
            break;
        }
    }
    let run_s = t1.elapsed().as_secs_f64();
    let run_vcds = match &opts.vcd {
        Some(v) => {
            let r = tagged(v, "ref");
            write_reference(
                &r,
                &dut.top,
                (&layout.inputs, &port_values(&driver, &layout, &all)),
                (&layout.outputs, &expected(&all, dut, cfg)),
            )?;
            Some((v.clone(), r))
        }
        None => None,
    };
    let mut outcome = Outcome {
        top: dut.top.clone(),
        sim: kind,
        cases: opts.cases,
        cycles: all.len(),
        cached,
        build_s,
        run_s,
        failure: None,
        run_vcds,
    };
    let Some((case_index, first)) = failing else {
        return Ok(outcome);
    };
    let tree = &mut trees[case_index];
    let mut best = (tree.current(), first);
    let mut steps = 0;
    match layer_mismatch(&best.0, dut, design, &driver, &sim, 0, None)? {
        Some(alone) => {
            best.1 = alone;
            let deadline = Instant::now() + opts.shrink_time;
            if tree.simplify() {
                while Instant::now() < deadline {
                    let cand = tree.current();
                    match layer_mismatch(&cand, dut, design, &driver, &sim, 0, None)? {
                        Some(found) => {
                            best = (cand, found);
                            steps += 1;
                            if !tree.simplify() {
                                break;
                            }
                        }
                        None => {
                            if !tree.complicate() {
                                break;
                            }
                        }
                    }
                }
            }
        }
        // Cycle numbers of the batch do not apply to a run of this layer alone.
        None => {
            return Err(CosimError::Design(format!(
                "layer case {case_index} ({}) differs in the batch run but not alone",
                best.0.describe()
            )))
        }
    }
    let (layer_case, (cycles, mismatch, index)) = best;
    let vcd = match &opts.vcd {
        Some(v) => tagged(v, "fail"),
        None => std::env::temp_dir().join("shiftadd-cosim").join(format!(
            "{}-{}-layer-mismatch.vcd",
            dut.top,
            kind.name()
        )),
    };
    let reference_vcd = tagged(&vcd, "ref");
    sim.run(&driver.inputs(&cycles), Some(&vcd))?;
    write_reference(
        &reference_vcd,
        &dut.top,
        (&layout.inputs, &port_values(&driver, &layout, &cycles)),
        (&layout.outputs, &expected(&cycles, dut, cfg)),
    )?;
    let scope = kind.scope(&dut.top);
    let scope: Vec<&str> = scope.iter().map(String::as_str).collect();
    let wave_diff = first_difference(&reference_vcd, &["TOP", &dut.top], &vcd, &scope)?;
    outcome.failure = Some(Failure {
        case_index,
        shrink_steps: steps,
        case: cycles,
        mismatch,
        vcd,
        reference_vcd,
        wave_diff,
        layer: Some((layer_case, index)),
    });
    Ok(outcome)
}

/// The report of a failure, as printed.
pub fn describe_failure(f: &Failure, shift_wb: u32) -> String {
    let m = &f.mismatch;
    let mut s = match &f.layer {
        Some((layer, [co, oy, ox])) => format!(
            "first mismatch in layer case {} (shrunk in {} steps):\n  {}\n  ({} cycles on the array)\n  output [{co}, {oy}, {ox}] differs:\n",
            f.case_index,
            f.shrink_steps,
            layer.describe(),
            f.case.len()
        ),
        None => format!(
            "first mismatch in case {} (shrunk in {} steps to {} cycles):\n{}",
            f.case_index,
            f.shrink_steps,
            f.case.len(),
            describe(&f.case, shift_wb)
        ),
    };
    s.push_str(&format!(
        "  at cycle {} (rising edge at {} ns), output `{}`: RTL {} , reference {}\n",
        m.cycle,
        10 * m.cycle + 5,
        m.port,
        m.got,
        m.expected
    ));
    match &f.wave_diff {
        Some(d) => s.push_str(&format!(
            "  waveforms differ first at {} ns in `{}`: reference {} , RTL {}\n",
            d.time_ns, d.signal, d.first, d.second
        )),
        None => s.push_str("  the waveforms show no difference in the ports\n"),
    }
    s.push_str(&format!(
        "  RTL waveform: {}\n  reference waveform: {}\n",
        f.vcd.display(),
        f.reference_vcd.display()
    ));
    s
}
