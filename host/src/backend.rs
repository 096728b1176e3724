//! Inference backends behind one trait: the reference model, the cycle model (the reference's
//! values with `sim::cycles` per engine layer), and the engine's RTL on Verilator, driven
//! through its register map as a driver on the board would.

use crate::compile::{EngineLayer, Program, Residency, Work};
use anyhow::{anyhow, bail, Result};
use shiftadd_sim::cycles::{issue_cycles, layer_cycles};
use shiftadd_sim::engine::{
    act_location, issue_schedule, last_rows, op_register, output_register, unroll_input,
    weight_buf_depth, BUF_INPUT, BUF_OUTPUT, BUF_POST_B, BUF_POST_M, BUF_RESIDUAL, BUF_WEIGHTS,
};
use shiftadd_sim::layers::{argmax, Tensor};
use shiftadd_sim::net::{LayerStats, Runner, Value};
use shiftadd_tb::bus::Bus;
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
        Value::Act(t) | Value::Adder(t) => t.data.iter().map(|&x| i64::from(x)).collect(),
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

/// The engine's RTL under Verilator.
pub struct RtlBackend {
    program: Arc<Program>,
    model: Arc<VlModel>,
    bus: Bus,
    weights: Residency,
    post: Residency,
    fault: Option<Fault>,
    /// Weight and post-parameter words written so far.
    pub param_words: u64,
}

impl RtlBackend {
    /// A backend on a new instance of the engine model `model`.
    pub fn new(program: Arc<Program>, model: Arc<VlModel>, fault: Option<Fault>) -> Result<Self> {
        let cfg = &program.cfg;
        let mut bus = Bus::new(cfg, &model, None)?;
        bus.identify()?;
        Ok(RtlBackend {
            weights: Residency::new(weight_buf_depth(cfg) as usize),
            post: Residency::new((cfg.post_buf_words / cfg.rows) as usize),
            program,
            model,
            bus,
            fault,
            param_words: 0,
        })
    }

    /// Bus cycles since power-on.
    pub fn bus_cycles(&self) -> u64 {
        self.bus.cycle()
    }

    /// Runs node `idx` of image `image` once more on a new instance with a waveform, from the
    /// inputs the engine's own earlier layers gave (`outs`), to `vcd`.
    pub fn trace_layer(
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
        let mut bus = Bus::new(&self.program.cfg, &self.model, Some(vcd))?;
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
            true,
        )?;
        bus.flush();
        Ok(())
    }
}

fn load_params(bus: &mut Bus, el: &EngineLayer) -> u64 {
    let mut words = 0;
    for (lane, img) in el.weights.iter().enumerate() {
        bus.write_words(BUF_WEIGHTS, lane as u32, el.desc.w_base, img);
        words += img.len() as u64;
    }
    for (sel, image) in [(BUF_POST_M, &el.post_m), (BUF_POST_B, &el.post_b)] {
        for (lane, img) in image.iter().enumerate() {
            bus.write_words(sel, lane as u32, el.desc.post_base, img);
            words += img.len() as u64;
        }
    }
    words
}

/// The tensor node `src` gave (`None`: the network input) as codes `[c][y][x]`.
fn source<'a>(input: &'a Tensor<i32>, outs: &'a [LayerOut], src: Option<usize>) -> Vec<i64> {
    match src {
        None => input.data.iter().map(|&v| i64::from(v)).collect(),
        Some(s) => outs[s].values.clone(),
    }
}

/// Writes `values` (`[c][h][w]`, `c` channels) into buffer `sel` at the activation layout from
/// word `base`, one stream per bank; channels past `c` up to the tile are written as 0 when
/// `zero_fill`.
fn write_tensor(
    bus: &mut Bus,
    sel: u32,
    base: u32,
    values: &[i64],
    [c, h, w]: [u32; 3],
    zero_fill: bool,
) {
    let cols = bus.cfg().cols;
    let plane = (h * w) as usize;
    let tiles = c.div_ceil(cols);
    for bank in 0..cols {
        let mut stream = Vec::with_capacity(tiles as usize * plane);
        for t in 0..tiles {
            let ch = t * cols + bank;
            if ch < c {
                stream.extend_from_slice(&values[ch as usize * plane..(ch as usize + 1) * plane]);
            } else if zero_fill {
                stream.resize(stream.len() + plane, 0);
            }
        }
        let (_, word) = act_location(bus.cfg(), base, h, w, bank, 0, 0);
        bus.write_words(sel, bank, word, &stream);
    }
}

/// Runs engine layer `idx` of one image on `bus` (parameters already loaded): input (unless
/// the layer reads it from where the layer before left it, or `stage` asks to write it anyway),
/// residual, registers, START, polling, the optional fault, and the output reads.
#[allow(clippy::too_many_arguments)]
fn run_engine_layer(
    program: &Program,
    bus: &mut Bus,
    el: &EngineLayer,
    idx: usize,
    image: usize,
    input: &Tensor<i32>,
    outs: &[LayerOut],
    fault: Option<&Fault>,
    stage: bool,
) -> Result<LayerOut> {
    let cfg = &program.cfg;
    let d = &el.desc;
    if !d.in_from_output || stage {
        let mut x = source(input, outs, el.src);
        if let Some(from) = &el.unrolled_from {
            x = unroll_input(from, &x);
        }
        let sel = if d.in_from_output {
            BUF_OUTPUT
        } else {
            BUF_INPUT
        };
        write_tensor(bus, sel, d.in_base, &x, [d.cin, d.h, d.w], el.zero_fill);
    }
    let (oc, oh, ow) = (d.out_c(), d.out_h(), d.out_w());
    if let Some(r) = el.residual {
        write_tensor(
            bus,
            BUF_RESIDUAL,
            d.res_base,
            &outs[r].values,
            [oc, oh, ow],
            false,
        );
    }
    bus.write_reg("IN_SEL", u32::from(d.in_from_output))?;
    bus.write_reg("OP", op_register(d.op))?;
    bus.write_reg("OUTPUT", output_register(d.output))?;
    bus.write_reg("SHIFT", d.shift)?;
    bus.write_reg("LAST_ROWS", last_rows(cfg, d))?;
    bus.write_reg("POST_BASE", d.post_base)?;
    bus.write_reg("RES_BASE", d.res_base)?;
    let model = layer_cycles(cfg, d);
    let run = bus.run(d, 2 * model + 1000)?;
    if let Some(f) = fault.filter(|f| f.image == image && f.layer == idx) {
        let plane = (oh * ow) as usize;
        let (c, rest) = ((f.index / plane) as u32, f.index % plane);
        let (bank, word) = act_location(
            cfg,
            d.out_base,
            oh,
            ow,
            c,
            rest as u32 / ow,
            rest as u32 % ow,
        );
        let r = bus.read_outputs(bank, word, 1, true)[0];
        let v = bus.output_value(r) ^ (1i64 << f.bit);
        bus.write_words(BUF_OUTPUT, bank, word, &[v]);
    }
    let mut reads = Vec::new();
    for bank in 0..cfg.rows.min(oc) {
        let n = (oc - bank).div_ceil(cfg.rows) * oh * ow;
        let (_, word) = act_location(cfg, d.out_base, oh, ow, bank, 0, 0);
        reads.push(bus.read_outputs(bank, word, n, el.wide));
    }
    let plane = (oh * ow) as usize;
    let mut values = vec![0i64; oc as usize * plane];
    for (bank, r) in reads.into_iter().enumerate() {
        for (k, id) in r.into_iter().enumerate() {
            let (t, p) = (k / plane, k % plane);
            let ch = t * cfg.rows as usize + bank;
            values[ch * plane + p] = bus.output_value(id);
        }
    }
    Ok(LayerOut {
        values,
        sat: run.sat,
        cycles_model: Some(model),
        cycles_rtl: Some(run.cycles),
        done_at: Some(run.done_at),
        start_cycle: Some(run.start_cycle),
        stats: None,
    })
}

impl Backend for RtlBackend {
    fn name(&self) -> &'static str {
        "rtl"
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
                let wlen = el.weights.first().map_or(0, Vec::len);
                let plen = el.post_m.first().map_or(0, Vec::len);
                let w_hit = self.weights.hit_or_claim(idx, d.w_base as usize, wlen);
                let p_hit = self.post.hit_or_claim(idx, d.post_base as usize, plen);
                if !w_hit || !p_hit {
                    self.param_words += load_params(&mut self.bus, el);
                }
            }
            let fault = self.fault.clone();
            for (i, o) in outs.iter_mut().enumerate() {
                for &(idx, el) in &engine {
                    let out = run_engine_layer(
                        &program,
                        &mut self.bus,
                        el,
                        idx,
                        first + i,
                        &inputs[i],
                        o,
                        fault.as_ref(),
                        false,
                    )?;
                    o.push(out);
                }
            }
            self.bus.clear_reads();
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

/// Builds (or loads from the cache) the Verilator model of the engine in `dir`.
pub fn engine_model(dir: &Path) -> Result<(Arc<VlModel>, f64)> {
    let design = shiftadd_tb::design::Design::load(dir).map_err(|e| anyhow!("{e}"))?;
    let ports = design
        .modules
        .get("engine")
        .cloned()
        .ok_or_else(|| anyhow!("{}: no `engine` module", dir.display()))?;
    let cache = shiftadd_tb::verilator::cache_dir();
    let t = std::time::Instant::now();
    let (m, _) = VlModel::build(
        &design.files,
        design.waivers.as_deref(),
        "engine",
        &ports,
        &cache,
    )?;
    Ok((m, t.elapsed().as_secs_f64()))
}
