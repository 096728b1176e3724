//! Co-simulation of one PE or array against the reference model: draw cases, run them all in
//! one simulation from power-on, compare every output of every cycle, and on the first
//! difference shrink the failing case, rerun it with waveforms (RTL and reference) and name the
//! first differing signal.

use crate::design::{Design, Dut};
use crate::icarus::IcarusSim;
use crate::layer::{layer_data, layer_reference, layer_strategy, schedule, LayerCase};
use crate::stimulus::{build_case, case_strategy, describe, expected, Cycle, Driver, RawCase};
use crate::verilator::{BuildOutcome, Model, PortLayout};
use crate::wave::{first_difference, value_at, write_reference, WaveDiff};
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
        coverage: Option<&Path>,
    ) -> Result<(Sim, PortLayout, bool), CosimError> {
        let layout = PortLayout::new(&dut.top, &dut.ports)?;
        match kind {
            SimKind::Verilator => {
                let (m, how) = Model::build_with(
                    &design.sources(),
                    design.waivers.as_deref(),
                    &dut.top,
                    &dut.ports,
                    cache,
                    coverage,
                )?;
                Ok((Sim::Verilator(m), layout, how == BuildOutcome::Cached))
            }
            SimKind::Icarus if coverage.is_some() => Err(CosimError::Tool(
                "coverage is measured on Verilator only".into(),
            )),
            SimKind::Icarus => {
                let s = IcarusSim::build(&design.sources(), &dut.top, &layout, cache)?;
                Ok((Sim::Icarus(s), layout, false))
            }
        }
    }

    /// Runs `inputs` (whole cycles of port words) from power-on.
    pub fn run(&self, inputs: &[u64], vcd: Option<&Path>) -> Result<Vec<u64>, CosimError> {
        match self {
            Sim::Verilator(m) => m.instance(vcd)?.cycles(inputs),
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
    /// Measure coverage (Verilator only): every instance writes its counts into this folder.
    pub coverage: Option<PathBuf>,
    /// Rerun a failing engine case from power-on, shrink it and trace it; without, the first
    /// failure is returned as found, with no waveform (mutation analysis needs only the verdict).
    pub diagnose: bool,
    /// Run only this shard of the engine's layer cases ([`Shard::takes`]; every case is still
    /// drawn, so each is the one an unsharded run draws).
    pub shard: Option<Shard>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cases: 64,
            seed: 1,
            max_cycles: 24,
            vcd: None,
            shrink_time: Duration::from_secs(60),
            coverage: None,
            diagnose: true,
            shard: None,
        }
    }
}

/// Shard `index` (from 1) of `count` of a run's images, cases or mutants (`--shard K/N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// From 1.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
}

impl Shard {
    /// `K/N` with `1 <= K <= N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s}: give K/N with 1 <= K <= N, for example 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The images of this shard among `total`: whole batches of `batch` images, the batches
    /// split into `count` contiguous runs as evenly as they go (so that every batch is the one
    /// an unsharded run makes). Empty when there are fewer batches than shards.
    pub fn images(&self, total: usize, batch: usize) -> std::ops::Range<usize> {
        let batches = total.div_ceil(batch.max(1)) as u128;
        let at = |k: usize| {
            let b = k as u128 * batches / self.count as u128;
            (b * batch as u128).min(total as u128) as usize
        };
        at(self.index - 1)..at(self.index)
    }

    /// Whether case `k` (from 0) of a draw is this shard's: `k` is `index - 1` modulo `count`.
    pub fn takes(&self, k: usize) -> bool {
        k % self.count == self.index - 1
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
    /// The RTL's value at the mismatch in binary, as its waveform shows it, when some of its
    /// bits are unknown (`x` or `z`, which Icarus simulates): `mismatch.got` then reads them
    /// as 1s.
    pub got_bits: Option<String>,
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
    /// The simulation stopped before the cases ended, if it did.
    pub stopped: Option<Stopped>,
    /// Waveforms of the whole run (RTL, reference) when asked for.
    pub run_vcds: Option<(PathBuf, PathBuf)>,
}

impl Outcome {
    /// Every case ran and agreed.
    pub fn agrees(&self) -> bool {
        self.failure.is_none() && self.stopped.is_none()
    }
}

/// A simulation that stopped (see [`CosimError::Stopped`]): a reported failure of the run.
#[derive(Clone, Debug)]
pub struct Stopped {
    /// The case it stopped in, when the simulator says the cycle.
    pub case_index: Option<usize>,
    /// That cycle, counted from the start of the run.
    pub cycle: Option<usize>,
    /// The simulator's message.
    pub what: String,
    /// The RTL's waveform up to the stop.
    pub vcd: PathBuf,
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

/// One simulated DUT with what drives it: the common part of every level.
struct Bench<'a> {
    design: &'a Design,
    dut: &'a Dut,
    kind: SimKind,
    sim: Sim,
    layout: PortLayout,
    driver: Driver,
}

impl Bench<'_> {
    /// Writes the reference waveform of `cycles` to `path` (the RTL's is written by the run).
    fn reference_wave(&self, path: &Path, cycles: &[Cycle]) -> Result<(), CosimError> {
        write_reference(
            path,
            &self.dut.top,
            (
                &self.layout.inputs,
                &port_values(&self.driver, &self.layout, cycles),
            ),
            (
                &self.layout.outputs,
                &expected(cycles, self.dut, &self.design.cfg),
            ),
        )
    }

    /// The whole run's waveforms, when asked for: the RTL's at `opts.vcd` (already written by
    /// the run) and the reference model's beside it.
    fn run_waves(
        &self,
        opts: &Options,
        cycles: &[Cycle],
    ) -> Result<Option<(PathBuf, PathBuf)>, CosimError> {
        let Some(v) = &opts.vcd else {
            return Ok(None);
        };
        let r = tagged(v, "ref");
        self.reference_wave(&r, cycles)?;
        Ok(Some((v.clone(), r)))
    }

    /// The report of a run that stopped at `cycle`: the case holding that cycle, and the RTL's
    /// waveform of the run up to the stop (run again with tracing; it stops again).
    fn stopped(
        &self,
        opts: &Options,
        all: &[Cycle],
        lengths: &[usize],
        cycle: Option<usize>,
        what: String,
    ) -> Stopped {
        let case_index = cycle.and_then(|c| case_of(lengths, c));
        let vcd = match &opts.vcd {
            Some(v) => tagged(v, "stopped"),
            None => Path::new("target").join("cosim").join(format!(
                "{}-{}-stopped.vcd",
                self.dut.top,
                self.kind.name()
            )),
        };
        if let Some(p) = vcd.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        // Only the waveform is wanted: the rerun stops as the run did.
        let _ = self.sim.run(&self.driver.inputs(all), Some(&vcd));
        Stopped {
            case_index,
            cycle,
            what,
            vcd,
        }
    }

    /// The RTL's value of `m` in the waveform `vcd` when it has unknown bits.
    fn unknown_bits(&self, vcd: &Path, m: &Mismatch) -> Result<Option<String>, CosimError> {
        let scope = self.kind.scope(&self.dut.top);
        let scope: Vec<&str> = scope.iter().map(String::as_str).collect();
        // Outputs are sampled after the rising edge of their cycle (at 10 c + 5 ns).
        let v = value_at(vcd, &scope, &m.port, 10 * m.cycle as u64 + 5)?;
        Ok(v.filter(|v| v.contains(['x', 'z', 'X', 'Z'])))
    }

    /// Reruns a failing case with waveforms (RTL and reference) and names the first port where
    /// they differ; returns the RTL's outputs of the rerun and the three results.
    fn failure_waves(
        &self,
        opts: &Options,
        cycles: &[Cycle],
        what: &str,
    ) -> Result<(Vec<u64>, PathBuf, PathBuf, Option<WaveDiff>), CosimError> {
        let vcd = match &opts.vcd {
            Some(v) => tagged(v, "fail"),
            // Waveforms go under `target/`, like every other generated file.
            None => Path::new("target").join("cosim").join(format!(
                "{}-{}-{what}.vcd",
                self.dut.top,
                self.kind.name()
            )),
        };
        let reference_vcd = tagged(&vcd, "ref");
        let out = self.sim.run(&self.driver.inputs(cycles), Some(&vcd))?;
        self.reference_wave(&reference_vcd, cycles)?;
        let scope = self.kind.scope(&self.dut.top);
        let scope: Vec<&str> = scope.iter().map(String::as_str).collect();
        let diff = first_difference(&reference_vcd, &["TOP", &self.dut.top], &vcd, &scope)?;
        Ok((out, vcd, reference_vcd, diff))
    }
}

/// The case holding `cycle` of a run of cases of `lengths` cycles, back to back.
fn case_of(lengths: &[usize], cycle: usize) -> Option<usize> {
    let mut end = 0;
    lengths.iter().position(|len| {
        end += len;
        cycle < end
    })
}

/// Shrinks a failing value: simplifies `tree` while `check` still finds a failure, until nothing
/// simpler fails or `time` runs out. `found` is the failure of `tree.current()`. Returns the
/// smallest failing value, its failure and the number of successful steps.
pub(crate) fn shrink<T: ValueTree, R>(
    tree: &mut T,
    found: R,
    time: Duration,
    mut check: impl FnMut(&T::Value) -> Result<Option<R>, CosimError>,
) -> Result<(T::Value, R, usize), CosimError> {
    let mut best = (tree.current(), found);
    let mut steps = 0;
    let deadline = Instant::now() + time;
    if tree.simplify() {
        while Instant::now() < deadline {
            let candidate = tree.current();
            match check(&candidate)? {
                Some(f) => {
                    best = (candidate, f);
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
    Ok((best.0, best.1, steps))
}

fn build_bench<'a>(
    design: &'a Design,
    dut: &'a Dut,
    kind: SimKind,
    cache: &Path,
    coverage: Option<&Path>,
) -> Result<(Bench<'a>, bool, f64), CosimError> {
    let t0 = Instant::now();
    let (sim, layout, cached) = Sim::build(kind, design, dut, cache, coverage)?;
    let driver = Driver::new(dut, &layout, &design.cfg)?;
    Ok((
        Bench {
            design,
            dut,
            kind,
            sim,
            layout,
            driver,
        },
        cached,
        t0.elapsed().as_secs_f64(),
    ))
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
    let (b, cached, build_s) = build_bench(design, dut, kind, cache, opts.coverage.as_deref())?;
    let mut runner = test_runner(opts.seed);
    let strategy = case_strategy(dut, opts.max_cycles);
    let mut trees = draw(&strategy, &mut runner, opts.cases)?;
    let t1 = Instant::now();
    // The batch is one case: its contract (one layer kind per sum) holds across case borders.
    let raw: Vec<RawCase> = trees.iter().map(|t| t.current()).collect();
    let lengths: Vec<usize> = raw.iter().map(Vec::len).collect();
    let all = build_case(&raw.concat(), dut, cfg);
    let mut outcome = Outcome {
        top: dut.top.clone(),
        sim: kind,
        cases: opts.cases,
        cycles: all.len(),
        cached,
        build_s,
        run_s: 0.0,
        failure: None,
        stopped: None,
        run_vcds: None,
    };
    let outputs = match b.sim.run(&b.driver.inputs(&all), opts.vcd.as_deref()) {
        Ok(o) => o,
        Err(CosimError::Stopped { cycle, what, .. }) => {
            outcome.run_s = t1.elapsed().as_secs_f64();
            outcome.stopped = Some(b.stopped(opts, &all, &lengths, cycle, what));
            return Ok(outcome);
        }
        Err(e) => return Err(e),
    };
    let mismatch = first_mismatch(&b.driver, &outputs, &expected(&all, dut, cfg));
    outcome.run_s = t1.elapsed().as_secs_f64();
    outcome.run_vcds = b.run_waves(opts, &all)?;
    let Some(m) = mismatch else {
        return Ok(outcome);
    };

    let case_index = case_of(&lengths, m.cycle).unwrap_or(0);
    let check = |raw: &RawCase| -> Result<Option<(Vec<Cycle>, Mismatch)>, CosimError> {
        let c = build_case(raw, dut, cfg);
        let out = b.sim.run(&b.driver.inputs(&c), None)?;
        Ok(first_mismatch(&b.driver, &out, &expected(&c, dut, cfg)).map(|m| (c, m)))
    };
    let tree = &mut trees[case_index];
    let ((cycles, mut mismatch), steps) = match check(&tree.current())? {
        Some(found) => {
            let (_, best, steps) = shrink(tree, found, opts.shrink_time, check)?;
            (best, steps)
        }
        // It fails only after the cases before it: keep them all.
        None => (
            (
                build_case(&raw[..=case_index].concat(), dut, cfg),
                m.clone(),
            ),
            0,
        ),
    };
    let (out, vcd, reference_vcd, wave_diff) = b.failure_waves(opts, &cycles, "mismatch")?;
    // Report the mismatch as the waveform run shows it.
    if let Some(again) = first_mismatch(&b.driver, &out, &expected(&cycles, dut, cfg)) {
        mismatch = again;
    }
    let got_bits = b.unknown_bits(&vcd, &mismatch)?;
    outcome.failure = Some(Failure {
        case_index,
        shrink_steps: steps,
        case: cycles,
        mismatch,
        vcd,
        reference_vcd,
        wave_diff,
        got_bits,
        layer: None,
    });
    Ok(outcome)
}

/// Draws `n` value trees of `strategy`.
fn draw<S: Strategy>(
    strategy: &S,
    runner: &mut TestRunner,
    n: u32,
) -> Result<Vec<S::Tree>, CosimError> {
    (0..n)
        .map(|_| {
            strategy
                .new_tree(runner)
                .map_err(|e| CosimError::Design(format!("cannot draw a case: {e}")))
        })
        .collect()
}

/// proptest's runner with a ChaCha generator seeded by `seed` and no failure files.
pub fn test_runner(seed: u64) -> TestRunner {
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

/// The first output of a layer run that differs from the reference model's convolution: in the
/// batch `outputs` from cycle `offset` on, or in a run of this layer alone.
fn layer_mismatch(
    b: &Bench,
    case: &LayerCase,
    offset: usize,
    outputs: Option<&[u64]>,
) -> Result<Option<LayerMismatch>, CosimError> {
    let cfg = &b.design.cfg;
    let data = layer_data(case, cfg);
    let reference = layer_reference(case, &data, cfg);
    let (cycles, reads) = schedule(case, &data, b.dut);
    let own;
    let (words, base) = match outputs {
        Some(o) => (o, offset),
        None => {
            own = b.sim.run(&b.driver.inputs(&cycles), None)?;
            (own.as_slice(), 0)
        }
    };
    let names = b.driver.output_names();
    for r in &reads {
        let got = b.driver.outputs(words, base + r.cycle)[r.row];
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
    let (b, cached, build_s) = build_bench(design, dut, kind, cache, opts.coverage.as_deref())?;
    let mut runner = test_runner(opts.seed);
    let strategy = layer_strategy(dut, cfg);
    let mut trees = draw(&strategy, &mut runner, opts.cases)?;
    let t1 = Instant::now();
    let mut all = Vec::new();
    let mut starts = Vec::new();
    for t in &trees {
        let case = t.current();
        starts.push(all.len());
        all.extend(schedule(&case, &layer_data(&case, cfg), dut).0);
    }
    let mut outcome = Outcome {
        top: dut.top.clone(),
        sim: kind,
        cases: opts.cases,
        cycles: all.len(),
        cached,
        build_s,
        run_s: 0.0,
        failure: None,
        stopped: None,
        run_vcds: None,
    };
    let outputs = match b.sim.run(&b.driver.inputs(&all), opts.vcd.as_deref()) {
        Ok(o) => o,
        Err(CosimError::Stopped { cycle, what, .. }) => {
            let lengths: Vec<usize> = starts
                .iter()
                .zip(starts.iter().skip(1).chain([&all.len()]))
                .map(|(a, b)| b - a)
                .collect();
            outcome.run_s = t1.elapsed().as_secs_f64();
            outcome.stopped = Some(b.stopped(opts, &all, &lengths, cycle, what));
            return Ok(outcome);
        }
        Err(e) => return Err(e),
    };
    let mut failing = None;
    for (k, t) in trees.iter().enumerate() {
        if let Some(found) = layer_mismatch(&b, &t.current(), starts[k], Some(&outputs))? {
            failing = Some((k, found));
            break;
        }
    }
    outcome.run_s = t1.elapsed().as_secs_f64();
    outcome.run_vcds = b.run_waves(opts, &all)?;
    let Some((case_index, _)) = failing else {
        return Ok(outcome);
    };
    let tree = &mut trees[case_index];
    // Cycle numbers of the batch do not apply to a run of this layer alone: start from one.
    let Some(alone) = layer_mismatch(&b, &tree.current(), 0, None)? else {
        return Err(CosimError::Design(format!(
            "layer case {case_index} ({}) differs in the batch run but not alone",
            tree.current().describe()
        )));
    };
    let (layer_case, (cycles, mismatch, index), steps) =
        shrink(tree, alone, opts.shrink_time, |c| {
            layer_mismatch(&b, c, 0, None)
        })?;
    let (_, vcd, reference_vcd, wave_diff) = b.failure_waves(opts, &cycles, "layer-mismatch")?;
    let got_bits = b.unknown_bits(&vcd, &mismatch)?;
    outcome.failure = Some(Failure {
        case_index,
        shrink_steps: steps,
        case: cycles,
        mismatch,
        vcd,
        reference_vcd,
        wave_diff,
        got_bits,
        layer: Some((layer_case, index)),
    });
    Ok(outcome)
}

/// The RTL's value of a failure as reported: the number, or its bits when some are unknown.
pub fn got_text(f: &Failure) -> String {
    match &f.got_bits {
        Some(bits) => format!("{bits} (binary; x/z bits unknown)"),
        None => f.mismatch.got.to_string(),
    }
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
        got_text(f),
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
