//! Inference backends behind one trait: the reference model, the cycle model (the reference's
//! values with `sim::cycles` per engine layer), and the engine's RTL on Verilator, driven
//! through its register map as a driver on the board would.

use anyhow::{anyhow, bail, Result};
use shiftadd_sim::cycles::{issue_cycles, layer_cycles};
use shiftadd_sim::engine::{act_location, issue_schedule};
use shiftadd_sim::layers::{argmax, Tensor};
use shiftadd_sim::net::{LayerStats, Runner, Value};
use shiftadd_sim::program::{EngineLayer, Program, Residency, Work};
use shiftadd_sim::regmap::access_counts;
use shiftadd_tb::driver::{
    load_params, run_layer, stage_input, EngineBus, HostBus, OpenBus, OutputFault,
};
use shiftadd_tb::verilator::Model as VlModel;
use std::path::Path;
use std::sync::Arc;

/// One node's result for one image.
#[derive(Clone, Debug, Default)]
pub struct LayerOut {
    /// Output values `[c][y][x]` (logits: one per class).
    pub values: Vec<i64>,
    /// Values saturated (the reference's count, or the engine's `SAT_COUNT`).
    pub sat: u64,
    /// `sim::cycles::layer_cycles` (engine layers).
    pub cycles_model: Option<u64>,
    /// The engine's `CYCLES` register.
    pub cycles_rtl: Option<u64>,
    /// `sim::cycles::layer_accesses` as the access counters hold it, and the counters read
    /// (engine layers; `ACCESS_REGS` order).
    pub accesses_model: Option<[u32; 5]>,
    pub accesses_rtl: Option<[u32; 5]>,
    /// Edges from START until `STATUS` showed DONE.
    pub done_at: Option<u64>,
    /// Bus cycle (from power-on of the instance) of START.
    pub start_cycle: Option<u64>,
    /// The reference model's counts of the node (reference backend).
    pub stats: Option<LayerStats>,
}

/// One image's result.
#[derive(Clone, Debug, Default)]
pub struct ImageOut {
    /// Per node, in graph order.
    pub layers: Vec<LayerOut>,
    /// Index of the largest logit (lowest on ties).
    pub prediction: usize,
}

/// A way to run a compiled network on a batch of images.
pub trait Backend {
    /// `ref`, `cycle` or `rtl`.
    fn name(&self) -> &'static str;
    /// Runs images `first..first + inputs.len()` (their activation codes).
    fn run_batch(&mut self, first: usize, inputs: &[Tensor<i32>]) -> Result<Vec<ImageOut>>;
}

fn value_codes(v: &Value) -> Vec<i64> {
    match v {
        Value::Act(t) => t.data.iter().map(|&x| i64::from(x)).collect(),
        Value::Adder(t) => t.data.clone(),
        Value::Logits(l) => l.iter().map(|&x| x as i64).collect(),
    }
}

fn prediction(values: &[i64]) -> usize {
    argmax(&values.iter().map(|&v| i128::from(v)).collect::<Vec<_>>())
}

/// The bit-exact reference model.
pub struct RefBackend<'a> {
    runner: Runner<'a>,
}

impl<'a> RefBackend<'a> {
    /// A backend on `runner`.
    pub fn new(runner: Runner<'a>) -> Self {
        RefBackend { runner }
    }

    fn run_one(&self, input: &Tensor<i32>) -> ImageOut {
        let r = self.runner.run_codes(input.clone(), true);
        let values = r.values.expect("kept values");
        ImageOut {
            layers: values
                .iter()
                .zip(&r.layers)
                .map(|(v, st)| LayerOut {
                    values: match v {
                        // Logits beyond 64 bits cannot match an engine word; keep them
                        // saturated so the difference shows as a value.
                        Value::Logits(l) => l
                            .iter()
                            .map(|&x| x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
                            .collect(),
                        _ => value_codes(v),
                    },
                    sat: st.sat_act + st.sat_add,
                    stats: Some(st.clone()),
                    ..Default::default()
                })
                .collect(),
            prediction: r.prediction,
        }
    }
}

impl Backend for RefBackend<'_> {
    fn name(&self) -> &'static str {
        "ref"
    }
    fn run_batch(&mut self, _first: usize, inputs: &[Tensor<i32>]) -> Result<Vec<ImageOut>> {
        Ok(inputs.iter().map(|x| self.run_one(x)).collect())
    }
}

/// The reference model's values with the engine's cycles from `sim::cycles`.
pub struct CycleBackend<'a> {
    reference: RefBackend<'a>,
    program: Arc<Program>,
}

impl<'a> CycleBackend<'a> {
    /// A backend on `runner` and the compiled `program`.
    pub fn new(runner: Runner<'a>, program: Arc<Program>) -> Self {
        CycleBackend {
            reference: RefBackend::new(runner),
            program,
        }
    }
}

impl Backend for CycleBackend<'_> {
    fn name(&self) -> &'static str {
        "cycle"
    }
    fn run_batch(&mut self, first: usize, inputs: &[Tensor<i32>]) -> Result<Vec<ImageOut>> {
        let mut out = self.reference.run_batch(first, inputs)?;
        for img in &mut out {
            for (l, layer) in img.layers.iter_mut().zip(&self.program.layers) {
                if let Work::Engine(el) = &layer.work {
                    l.cycles_model = Some(layer_cycles(&self.program.cfg, &el.desc));
                }
            }
        }
        Ok(out)
    }
}

/// A bit to flip in one layer's output buffer, through the host interface, before the host
/// reads it: checks that the comparison catches a wrong engine result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Image index.
    pub image: usize,
    /// Node index.
    pub layer: usize,
    /// Index into the layer's output tensor `[c][y][x]`.
    pub index: usize,
    /// Bit of the output word.
    pub bit: u32,
}

/// What `infer` needs of a backend on the engine's RTL besides running batches.
pub trait HwBackend: Backend {
    /// Bus cycles since power-on.
    fn bus_cycles(&self) -> u64;
    /// Weight and post-parameter words written so far.
    fn param_words(&self) -> u64;
    /// Bus cycles so far spent reading back outputs the host does not need
    /// ([`Program::host_reads`]), only to check them.
    fn check_read_cycles(&self) -> u64;
    /// Runs node `idx` of image `image` once more on a new instance with a waveform, from the
    /// inputs the engine's own earlier layers gave (`outs`), to `vcd`.
    fn trace_layer(
        &self,
        image: usize,
        input: &Tensor<i32>,
        outs: &[LayerOut],
        idx: usize,
        vcd: &Path,
    ) -> Result<()>;
}

/// The engine's RTL under Verilator, reached through bus `B`: the register bus of `engine`
/// (backend `rtl`) or the AXI ports of `shiftadd_axi` (backend `axi`).
pub struct RtlBackend<B: HostBus> {
    program: Arc<Program>,
    /// The model the bus runs on and how to open another instance of it (for a layer's
    /// waveform); `None` on a board.
    model: Option<(Arc<VlModel>, OpenFn<B>)>,
    bus: B,
    weights: Residency,
    post: Residency,
    fault: Option<Fault>,
    /// Weight and post-parameter words written so far.
    param_words: u64,
    /// Per node: whether the host needs its output ([`Program::host_reads`]).
    host_reads: Vec<bool>,
    /// See [`HwBackend::check_read_cycles`].
    check_read_cycles: u64,
    /// Buffers reached through the simulation's backdoor ([`HostBus::use_backdoor`]).
    backdoor: bool,
}

/// Opens a bus on a new instance of a model.
type OpenFn<B> = fn(
    &shiftadd_sim::spec::AccelConfig,
    &Arc<VlModel>,
    Option<&Path>,
) -> Result<B, shiftadd_tb::CosimError>;

impl<B: OpenBus> RtlBackend<B> {
    /// A backend on a new instance of the model `model` of `B`'s top; its buffers reached
    /// through the simulation's backdoor when `backdoor`.
    pub fn new(
        program: Arc<Program>,
        model: Arc<VlModel>,
        fault: Option<Fault>,
        backdoor: bool,
    ) -> Result<Self> {
        let mut bus = B::open(&program.cfg, &model, None)?;
        if backdoor {
            bus.use_backdoor()?;
        }
        let mut b = RtlBackend::on_bus(program, bus, Some((model, B::open)), fault)?;
        b.backdoor = backdoor;
        Ok(b)
    }
}

impl<B: HostBus> RtlBackend<B> {
    /// A backend on `bus` (on `model`, if simulated).
    pub fn on_bus(
        program: Arc<Program>,
        mut bus: B,
        model: Option<(Arc<VlModel>, OpenFn<B>)>,
        fault: Option<Fault>,
    ) -> Result<Self> {
        let cfg = &program.cfg;
        bus.identify()?;
        Ok(RtlBackend {
            weights: Residency::new(cfg.weight_depth() as usize),
            post: Residency::new(cfg.post_depth() as usize),
            host_reads: program.host_reads(),
            program,
            model,
            bus,
            fault,
            param_words: 0,
            check_read_cycles: 0,
            backdoor: false,
        })
    }
}

impl<B: HostBus> HwBackend for RtlBackend<B> {
    fn bus_cycles(&self) -> u64 {
        self.bus.cycle()
    }

    fn param_words(&self) -> u64 {
        self.param_words
    }

    fn check_read_cycles(&self) -> u64 {
        self.check_read_cycles
    }

    fn trace_layer(
        &self,
        image: usize,
        input: &Tensor<i32>,
        outs: &[LayerOut],
        idx: usize,
        vcd: &Path,
    ) -> Result<()> {
        let Work::Engine(el) = &self.program.layers[idx].work else {
            bail!("layer {idx} does not run on the engine");
        };
        let Some((model, open)) = &self.model else {
            bail!("a layer's waveform needs a simulated engine");
        };
        let mut bus = open(&self.program.cfg, model, Some(vcd))?;
        if self.backdoor {
            bus.use_backdoor()?;
        }
        load_params(&mut bus, el);
        run_engine_layer(
            &self.program,
            &mut bus,
            el,
            idx,
            image,
            input,
            outs,
            self.fault.as_ref(),
            InputWrite::Always,
        )?;
        bus.finish()?;
        Ok(())
    }
}

/// The tensor node `src` gave (`None`: the network input) as codes `[c][y][x]`.
fn source(input: &Tensor<i32>, outs: &[LayerOut], src: Option<usize>) -> Vec<i64> {
    match src {
        None => input.data.iter().map(|&v| i64::from(v)).collect(),
        Some(s) => outs[s].values.clone(),
    }
}

/// Whether [`run_engine_layer`] writes the layer's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InputWrite {
    /// Unless the layer reads it from where the layer before left it.
    IfNeeded,
    /// Always (a layer run alone).
    Always,
    /// Never: it was written while an earlier layer ran.
    Staged,
}

/// Runs engine layer `idx` of one image on `bus` (parameters already loaded) through the
/// driver: its input (as `write` says), its residual, the fault if it is this layer's, and the
/// output reads; with the bus cycles those reads took.
#[allow(clippy::too_many_arguments)]
fn run_engine_layer(
    program: &Program,
    bus: &mut impl EngineBus,
    el: &EngineLayer,
    idx: usize,
    image: usize,
    input: &Tensor<i32>,
    outs: &[LayerOut],
    fault: Option<&Fault>,
    write: InputWrite,
) -> Result<(LayerOut, u64)> {
    let needed = match write {
        InputWrite::IfNeeded => !el.desc.in_from_output,
        InputWrite::Always => true,
        InputWrite::Staged => false,
    };
    let x = needed.then(|| source(input, outs, el.src));
    let residual = el.residual.map(|r| &outs[r].values[..]);
    let fault = fault
        .filter(|f| f.image == image && f.layer == idx)
        .map(|f| OutputFault {
            index: f.index,
            bit: f.bit,
        });
    let run = run_layer(bus, el, x.as_deref(), residual, fault)?;
    let out = LayerOut {
        values: run.values,
        sat: run.sat,
        cycles_model: Some(layer_cycles(&program.cfg, &el.desc)),
        cycles_rtl: Some(run.cycles),
        accesses_model: Some(access_counts(&program.cfg, &el.desc)),
        accesses_rtl: Some(run.accesses),
        done_at: bus.times_done().then_some(run.done_at),
        start_cycle: Some(run.start_cycle),
        stats: None,
    };
    Ok((out, run.read_cycles))
}

impl<B: HostBus> Backend for RtlBackend<B> {
    fn name(&self) -> &'static str {
        match B::TOP {
            shiftadd_sim::rtl::AXI_MODULE => "axi",
            shiftadd_sim::rtl::UART_MODULE => "uart",
            _ => "rtl",
        }
    }

    /// Segment by segment over the batch: a segment's parameters are loaded once (when not
    /// resident), then each image runs through the segment's layers.
    fn run_batch(&mut self, first: usize, inputs: &[Tensor<i32>]) -> Result<Vec<ImageOut>> {
        let program = Arc::clone(&self.program);
        let mut outs: Vec<Vec<LayerOut>> = vec![Vec::new(); inputs.len()];
        for seg in &program.segments {
            let engine: Vec<(usize, &EngineLayer)> = seg
                .clone()
                .filter_map(|idx| match &program.layers[idx].work {
                    Work::Engine(el) => Some((idx, el.as_ref())),
                    Work::Flatten => None,
                })
                .collect();
            if engine.is_empty() {
                for idx in seg.clone() {
                    let src = program.infos[idx].src;
                    for (i, o) in outs.iter_mut().enumerate() {
                        let values = source(&inputs[i], o, src);
                        o.push(LayerOut {
                            values,
                            ..Default::default()
                        });
                    }
                }
                continue;
            }
            for &(idx, el) in &engine {
                let d = &el.desc;
                let wlen = el.weight_len(&program.cfg) as usize;
                let plen = el.post_len(&program.cfg) as usize;
                let w_hit = self.weights.hit_or_claim(idx, d.w_base as usize, wlen);
                let p_hit = self.post.hit_or_claim(idx, d.post_base as usize, plen);
                if !w_hit || !p_hit {
                    self.param_words += load_params(&mut self.bus, el);
                }
            }
            let fault = self.fault.clone();
            // From the first layer after which the segment reads only the output buffer, the
            // next image's first input is written (on the AXI streams, during the layer's run);
            // none when the segment's first layer reads it in place.
            let (_, head) = engine[0];
            let overlap_from = engine
                .iter()
                .rposition(|(_, e)| !e.desc.in_from_output)
                .map(|k| k + 1)
                .filter(|&k| k < engine.len() && !head.desc.in_from_output);
            let mut staged = false;
            for i in 0..inputs.len() {
                let next_staged = i + 1 < inputs.len() && overlap_from.is_some();
                for (k, &(idx, el)) in engine.iter().enumerate() {
                    if next_staged && Some(k) == overlap_from {
                        let x = source(&inputs[i + 1], &outs[i + 1], head.src);
                        stage_input(&mut self.bus, head, &x, true);
                    }
                    let write = if k == 0 && staged {
                        InputWrite::Staged
                    } else {
                        InputWrite::IfNeeded
                    };
                    let (out, read_cycles) = run_engine_layer(
                        &program,
                        &mut self.bus,
                        el,
                        idx,
                        first + i,
                        &inputs[i],
                        &outs[i],
                        fault.as_ref(),
                        write,
                    )?;
                    if !self.host_reads[idx] {
                        self.check_read_cycles += read_cycles;
                    }
                    outs[i].push(out);
                }
                staged = next_staged;
            }
            self.bus.finish()?;
        }
        Ok(outs
            .into_iter()
            .map(|layers| {
                let prediction = prediction(&layers.last().expect("a last layer").values);
                ImageOut { layers, prediction }
            })
            .collect())
    }
}

/// The bus cycle in which output `index` (`[c][y][x]`) of engine layer `el` is written, for a
/// layer started at `start`: its sum's last issue plus the pipeline (the last output's write is
/// the DONE edge).
pub fn write_cycle(program: &Program, el: &EngineLayer, start: u64, index: usize) -> Option<u64> {
    let cfg = &program.cfg;
    let d = &el.desc;
    let (oh, ow) = (d.out_h(), d.out_w());
    let plane = (oh * ow) as usize;
    let (c, rest) = ((index / plane) as u32, (index % plane) as u32);
    let (_, word) = act_location(cfg, d.out_base, oh, ow, c, rest / ow, rest % ow);
    let i = issue_schedule(cfg, d)
        .iter()
        .position(|s| s.last && s.out_addr == word)? as u64;
    let pipeline = layer_cycles(cfg, d) - issue_cycles(cfg, d);
    Some(start + i + pipeline)
}

/// Builds (or loads from the cache) the Verilator model of top `top` (the engine or
/// `shiftadd_axi`) in `dir`.
pub fn engine_model(dir: &Path, top: &str) -> Result<(Arc<VlModel>, f64)> {
    let design = shiftadd_tb::design::Design::load(dir).map_err(|e| anyhow!("{e}"))?;
    let ports = design
        .modules
        .get(top)
        .cloned()
        .ok_or_else(|| anyhow!("{}: no `{top}` module", dir.display()))?;
    let cache = shiftadd_tb::verilator::cache_dir();
    let t = std::time::Instant::now();
    let (m, _) = VlModel::build(
        &design.sources(),
        design.waivers.as_deref(),
        top,
        &ports,
        &cache,
    )?;
    Ok((m, t.elapsed().as_secs_f64()))
}
