//! The layer program: a network compiled for the engine of a config. One layer descriptor per
//! node the engine runs, the weight and post-processing buffer images, where each layer's
//! parameters live on chip, and the segments a batch runs in. Everything that runs a network on
//! the engine or counts what it does takes it from here: the bus drivers, `infer`, and the cycle
//! and energy reports.
//!
//! [`plan`] lays a graph out from its shapes alone and records what does not fit on chip
//! ([`Spill`]); the reports count from it. [`compile`] plans a model, refuses (by layer name,
//! with the limit it breaks) anything the engine cannot run, and fills in the parameters.
//!
//! The nodes are cut into segments whose parameters fit the weight and post buffers together. A
//! batch of images runs segment by segment: the segment's parameters are loaded once (when
//! another segment overwrote them), then each image runs through the segment's layers in turn.
//! Inside a segment a layer that reads the layer just before it takes its input from the output
//! buffer where that layer left it (`IN_SEL`; outputs alternate between the two halves of the
//! output banks); any other input, the residuals and the first layer of a segment are written by
//! the host. The host reads every layer's output back, to check it and to feed later segments.

use crate::engine::{
    act_bank_words, unrolled, weight_location, weight_words, Descriptor, LayerOp, OutputMode,
};
use crate::net::{
    CapabilityError, ConvKind, ConvOutput, Domain, Graph, Model, NodeInfo, Op, Weights,
};
use crate::numerics::{encode_shift_weight, ShiftWeight};
use crate::spec::AccelConfig;

/// What the host does for one node.
#[derive(Clone, Debug)]
pub enum Work {
    /// The engine runs it.
    Engine(Box<EngineLayer>),
    /// The host flattens `[c, h, w]` to `[c*h*w, 1, 1]`: the codes are unchanged, their buffer
    /// words move with the next layer's input.
    Flatten,
}

/// What of a layer does not fit on chip: the engine cannot run it, and a report prices the
/// off-chip traffic a larger system would need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spill {
    /// The input tensor is larger than an activation bank.
    pub input: bool,
    /// The output tensor is larger than an activation bank.
    pub output: bool,
    /// The weights are larger than the weight buffer.
    pub weights: bool,
    /// The post-processing parameters are larger than the post buffer.
    pub post: bool,
}

impl Spill {
    /// Whether anything spills.
    pub fn any(&self) -> bool {
        self.input || self.output || self.weights || self.post
    }
}

/// One layer the engine runs.
#[derive(Clone, Debug)]
pub struct EngineLayer {
    /// The descriptor the engine runs (buffer bases set; `shift` is 0 in a [`plan`]).
    pub desc: Descriptor,
    /// The node whose output is the input (`None`: the network input).
    pub src: Option<usize>,
    /// The node whose output is added before ReLU.
    pub residual: Option<usize>,
    /// Weight words `[lane][word - w_base]` as written through the access port (empty in a
    /// [`plan`]).
    pub weights: Vec<Vec<i64>>,
    /// `M_c` words `[lane][tile]` (empty without post-processing parameters, and in a plan).
    pub post_m: Vec<Vec<i64>>,
    /// `B_c`.
    pub post_b: Vec<Vec<i64>>,
    /// The layer has post-processing parameters (`M_c`, `B_c`).
    pub has_post: bool,
    /// The input channels past `cin` in the last tile must read 0 (adder layers: `|0 - 0|`;
    /// shift layers and pooling ignore them).
    pub zero_fill: bool,
    /// Outputs are wider than 32 bits (logits, or hand-offs of `add_bits` above 32): both halves
    /// of every output word are read.
    pub wide: bool,
    /// The layer as the network has it, when the engine runs it with its kernel columns
    /// unrolled into input channels ([`crate::engine::unrolled`]): the host unrolls the input.
    pub unrolled_from: Option<Descriptor>,
    /// What does not fit on chip.
    pub spill: Spill,
}

impl EngineLayer {
    /// Weight words of one lane.
    pub fn weight_len(&self, cfg: &AccelConfig) -> u64 {
        match self.desc.op {
            LayerOp::Conv(_) => weight_words(cfg, &self.desc),
            _ => 0,
        }
    }

    /// Post-processing words of one lane.
    pub fn post_len(&self, cfg: &AccelConfig) -> u64 {
        if self.has_post {
            u64::from(self.desc.co_tiles(cfg))
        } else {
            0
        }
    }
}

/// One node of the program.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Node name.
    pub name: String,
    /// `shift`, `adder`, `mult`, `max_pool`, `avg_pool` or `flatten`.
    pub kind: String,
    /// Output shape.
    pub out_shape: [usize; 3],
    /// What runs it.
    pub work: Work,
}

/// A network laid out for one config.
#[derive(Clone, Debug)]
pub struct Program {
    /// The config.
    pub cfg: AccelConfig,
    /// One entry per graph node, in execution order.
    pub layers: Vec<Layer>,
    /// Node shapes and domains.
    pub infos: Vec<NodeInfo>,
    /// Consecutive node ranges: one flatten, or engine layers whose parameters fit together.
    pub segments: Vec<std::ops::Range<usize>>,
}

impl Program {
    /// The engine layers, with their node indices.
    pub fn engine_layers(&self) -> impl Iterator<Item = (usize, &EngineLayer)> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.work {
                Work::Engine(el) => Some((i, el.as_ref())),
                Work::Flatten => None,
            })
    }

    /// Per node: whether the host needs its output back from the engine (the last node, a
    /// residual, or the input of a node that does not read it in place from the output
    /// buffer); the other outputs stay in the engine, read only to check them.
    pub fn host_reads(&self) -> Vec<bool> {
        let mut needs = vec![false; self.layers.len()];
        if let Some(last) = needs.last_mut() {
            *last = true;
        }
        for (j, l) in self.layers.iter().enumerate() {
            let info = &self.infos[j];
            let in_place = matches!(&l.work, Work::Engine(el) if el.desc.in_from_output);
            for (src, host) in [(info.src, !in_place), (info.residual, true)] {
                if let (Some(s), true) = (src, host) {
                    needs[s] = true;
                }
            }
        }
        needs
    }
}

fn refuse(cfg: &AccelConfig, layer: &str, what: String, limit: String) -> CapabilityError {
    CapabilityError {
        layer: layer.into(),
        config: cfg.name.clone(),
        what,
        limit,
    }
}

/// Lays `graph` out on `cfg`'s engine from its shapes alone: descriptors (with `shift` 0),
/// buffer bases, segments and what spills. Refuses only an ill-formed graph.
pub fn plan(graph: &Graph, cfg: &AccelConfig) -> Result<Program, CapabilityError> {
    let infos = graph
        .analyse()
        .map_err(|e| refuse(cfg, &e.node, e.to_string(), "a well-formed graph".into()))?;
    let wdepth = u64::from(cfg.weight_depth());
    let pdepth = u64::from(cfg.post_depth());
    let bank = u64::from(cfg.act_bank_depth());
    let half = cfg.act_bank_depth() / 2;
    let (mut w_next, mut p_next) = (0u64, 0u64);
    let mut layers: Vec<Layer> = Vec::new();
    let mut segments: Vec<std::ops::Range<usize>> = Vec::new();
    // The engine layer run just before, in this segment: node, output base, output words.
    let mut prev: Option<(usize, u32, u64)> = None;
    for (idx, node) in graph.nodes.iter().enumerate() {
        let info = &infos[idx];
        let [ci, h, w] = info.in_shape.map(|v| v as u32);
        let mut desc = Descriptor::shape(LayerOp::MaxPool, [ci, h, w], ci, [1, 1], 1, 0);
        let mut el = EngineLayer {
            desc,
            src: info.src,
            residual: info.residual,
            weights: Vec::new(),
            post_m: Vec::new(),
            post_b: Vec::new(),
            has_post: false,
            zero_fill: false,
            wide: false,
            unrolled_from: None,
            spill: Spill::default(),
        };
        let kind: String;
        match &node.op {
            Op::Flatten => {
                segments.push(idx..idx + 1);
                prev = None;
                layers.push(Layer {
                    name: node.name.clone(),
                    kind: "flatten".into(),
                    out_shape: info.out_shape,
                    work: Work::Flatten,
                });
                continue;
            }
            Op::MaxPool { k } | Op::AvgPool { k } => {
                let avg = matches!(node.op, Op::AvgPool { .. });
                let k = *k as u32;
                desc.op = if avg {
                    LayerOp::AvgPool
                } else {
                    LayerOp::MaxPool
                };
                (desc.kh, desc.kw, desc.stride) = (k, k, k);
                desc.shift = if avg { (k * k).trailing_zeros() } else { 0 };
                kind = if avg { "avg_pool" } else { "max_pool" }.into();
            }
            Op::Conv {
                kind: ck,
                kernel,
                stride,
                pad,
                output,
                ..
            } => {
                let g = info.geom.expect("an analysed convolution has a geometry");
                desc.op = LayerOp::Conv(*ck);
                desc.cout = g.cout as u32;
                (desc.kh, desc.kw) = (kernel[0] as u32, kernel[1] as u32);
                desc.stride = *stride as u32;
                desc.pad = *pad as u32;
                desc.output = match output {
                    ConvOutput::Post { relu, residual } => OutputMode::Post {
                        relu: *relu,
                        residual: residual.is_some(),
                    },
                    ConvOutput::Logits => OutputMode::Logits { relu: false },
                    ConvOutput::Handoff => OutputMode::Handoff,
                    ConvOutput::Round => OutputMode::Round,
                };
                el.has_post = matches!(output, ConvOutput::Post { .. } | ConvOutput::Logits);
                el.wide = match output {
                    ConvOutput::Logits => true,
                    ConvOutput::Handoff => cfg.formats.add_bits > 32,
                    _ => false,
                };
                el.zero_fill = *ck == ConvKind::Adder;
                kind = ck.name().into();
                if info.src.is_none() {
                    if let Some(u) = unrolled(cfg, &desc) {
                        el.unrolled_from = Some(desc);
                        desc = u;
                    }
                }
            }
        }
        el.desc = desc;
        let words = el.weight_len(cfg);
        let tiles = el.post_len(cfg);
        el.spill = Spill {
            input: act_bank_words(cfg, desc.cin, desc.h, desc.w) > bank,
            output: act_bank_words(cfg, desc.out_c(), desc.out_h(), desc.out_w()) > bank,
            weights: words > wdepth,
            post: tiles > pdepth,
        };
        let open = segments
            .last()
            .is_some_and(|r| r.end == idx && matches!(layers[r.start].work, Work::Engine(_)));
        if !open || w_next + words > wdepth || p_next + tiles > pdepth {
            segments.push(idx..idx);
            (w_next, p_next) = (0, 0);
            prev = None;
        }
        segments.last_mut().expect("a segment").end = idx + 1;
        desc.w_base = w_next as u32;
        desc.post_base = p_next as u32;
        w_next += words;
        p_next += tiles;
        let out_words = act_bank_words(cfg, desc.out_c(), desc.out_h(), desc.out_w());
        match prev {
            Some((p, base, p_words))
                if info.src == Some(p)
                    && p_words <= u64::from(half)
                    && out_words <= u64::from(half) =>
            {
                desc.in_from_output = true;
                desc.in_base = base;
                desc.out_base = if base == 0 { half } else { 0 };
            }
            _ => {}
        }
        desc.res_base = desc.out_base;
        prev = Some((idx, desc.out_base, out_words));
        el.desc = desc;
        layers.push(Layer {
            name: node.name.clone(),
            kind,
            out_shape: info.out_shape,
            work: Work::Engine(Box::new(el)),
        });
    }
    Ok(Program {
        cfg: cfg.clone(),
        layers,
        infos,
        segments,
    })
}

/// Checks that `cfg`'s engine can run `plan`, refusing the first layer that it cannot by name
/// and limit: the generator must compile the engine, nothing may spill, adder layers must read
/// adder-grid codes, and every descriptor must pass [`Descriptor::check`].
pub fn check_plan(plan: &Program) -> Result<(), CapabilityError> {
    let cfg = &plan.cfg;
    crate::rtl::checked_engine(cfg)
        .map_err(|e| refuse(cfg, "model", "an engine".into(), e.to_string()))?;
    for (idx, el) in plan.engine_layers() {
        let name = &plan.layers[idx].name;
        let d = &el.desc;
        if matches!(d.op, LayerOp::Conv(ConvKind::Adder))
            && plan.infos[idx].in_domain != Domain::Adder
        {
            return Err(refuse(
                cfg,
                name,
                "an adder layer reading activation codes".into(),
                "the engine's adder layers read adder-grid codes, written by a hand-off (`handoff` output) of the layer before".into(),
            ));
        }
        let s = el.spill;
        if s.weights {
            return Err(refuse(
                cfg,
                name,
                format!("{} weight words", el.weight_len(cfg)),
                format!(
                    "weight_buf_words / (rows * cols) = {} words of {} lanes",
                    cfg.weight_depth(),
                    cfg.lanes()
                ),
            ));
        }
        if s.post {
            return Err(refuse(
                cfg,
                name,
                format!(
                    "{} words of post-processing parameters per lane",
                    el.post_len(cfg)
                ),
                format!("post_buf_words / rows = {}", cfg.post_depth()),
            ));
        }
        d.check(cfg).map_err(|e| {
            refuse(
                cfg,
                name,
                format!("{} = {}", e.field, e.value),
                e.limit.clone(),
            )
        })?;
    }
    Ok(())
}

/// Compiles `model` for the engine of `cfg`, refusing what it cannot run.
pub fn compile(model: &Model, cfg: &AccelConfig) -> Result<Program, CapabilityError> {
    model.check_capability(cfg)?;
    model
        .check_params()
        .map_err(|e| refuse(cfg, &e.layer, e.to_string(), "a well-formed model".into()))?;
    let mut program = plan(&model.graph, cfg)?;
    check_plan(&program)?;
    let f = &model.formats;
    for (idx, layer) in program.layers.iter_mut().enumerate() {
        let Work::Engine(el) = &mut layer.work else {
            continue;
        };
        let Op::Conv { output, .. } = &model.graph.nodes[idx].op else {
            continue;
        };
        let p = model.params[idx]
            .as_ref()
            .expect("check_params gives every convolution its parameters");
        let f_v = i64::from(p.weights.f_v(f));
        let shift = match output {
            ConvOutput::Post { .. } | ConvOutput::Logits => {
                i64::from(p.post.as_ref().expect("checked post parameters").s)
            }
            ConvOutput::Handoff => f_v - i64::from(f.add_frac),
            ConvOutput::Round => f_v - i64::from(f.act_frac),
        };
        if shift < 0 {
            return Err(refuse(
                cfg,
                &layer.name,
                format!("a {output:?} output shifting left by {}", -shift),
                "the engine's output shifts are right shifts".into(),
            ));
        }
        el.desc.shift = shift as u32;
        el.desc.check(cfg).map_err(|e| {
            refuse(
                cfg,
                &layer.name,
                format!("{} = {}", e.field, e.value),
                e.limit.clone(),
            )
        })?;
        el.weights = weight_image(cfg, &el.desc, el.unrolled_from.as_ref(), &p.weights);
        if let Some(pp) = &p.post {
            let tiles = el.desc.co_tiles(cfg) as usize;
            let lanes = cfg.rows as usize;
            el.post_m = vec![vec![0; tiles]; lanes];
            el.post_b = vec![vec![0; tiles]; lanes];
            for co in 0..el.desc.cout as usize {
                el.post_m[co % lanes][co / lanes] = pp.m[co];
                el.post_b[co % lanes][co / lanes] = pp.b[co];
            }
        }
    }
    Ok(program)
}

/// The weight words of convolution `d`, `[lane][word - w_base]`; lanes past the layer's channels
/// hold the zero weight. `weights` are `[cout][cin][kh][kw]` of `from` when `d` is its unrolled
/// form (weight `(co, ci, ky, kx)` goes to input channel `ci * kw + kx`, column 0).
pub fn weight_image(
    cfg: &AccelConfig,
    d: &Descriptor,
    from: Option<&Descriptor>,
    weights: &Weights,
) -> Vec<Vec<i64>> {
    let words = weight_words(cfg, d) as usize;
    let src = from.unwrap_or(d);
    let wb = cfg.formats.shift_wb;
    let zero = match weights {
        Weights::Shift { .. } => i64::from(encode_shift_weight(ShiftWeight { s: 0, m: 0 }, wb)),
        _ => 0,
    };
    let mut img = vec![vec![zero; words]; cfg.lanes() as usize];
    for co in 0..src.cout {
        for ci in 0..src.cin {
            for ky in 0..src.kh {
                for kx in 0..src.kw {
                    let i = (((co * src.cin + ci) * src.kh + ky) * src.kw + kx) as usize;
                    let code = match weights {
                        Weights::Shift { sign, m } => i64::from(encode_shift_weight(
                            ShiftWeight {
                                s: sign[i],
                                m: m[i],
                            },
                            wb,
                        )),
                        Weights::Adder { codes } => codes[i],
                        Weights::Mult { codes, .. } => i64::from(codes[i]),
                    };
                    let (word, lane) = match from {
                        Some(f) => weight_location(cfg, d, co, ci * f.kw + kx, ky, 0),
                        None => weight_location(cfg, d, co, ci, ky, kx),
                    };
                    img[lane as usize][(word - d.w_base) as usize] = code;
                }
            }
        }
    }
    img
}

/// Which layer's parameters each word of an on-chip buffer holds, as a driver runs a program.
#[derive(Clone, Debug)]
pub struct Residency {
    owner: Vec<Option<usize>>,
}

impl Residency {
    /// A buffer of `depth` words holding nothing.
    pub fn new(depth: usize) -> Residency {
        Residency {
            owner: vec![None; depth],
        }
    }

    /// Whether words `base..base + len` hold layer `layer`'s parameters; if not, marks them so
    /// (the caller loads them) and returns false.
    pub fn hit_or_claim(&mut self, layer: usize, base: usize, len: usize) -> bool {
        let range = &mut self.owner[base..base + len];
        if range.iter().all(|o| *o == Some(layer)) {
            return true;
        }
        range.fill(Some(layer));
        false
    }
}
