//! Compiles a network into a program for the engine of a config: one layer descriptor per
//! node the engine runs, the weight and post-processing buffer images, and where each layer's
//! parameters live on chip. The capability check runs first and refuses, by layer name and with
//! the limit it breaks, anything the engine cannot run.
//!
//! The nodes are cut into segments whose parameters fit the weight and post buffers together.
//! A batch of images runs segment by segment: the segment's parameters are loaded once (when
//! [`Residency`] says another segment overwrote them), then each image runs through the
//! segment's layers in turn. Inside a segment a layer that reads the layer just before it takes
//! its input from the output buffer where that layer left it (`IN_SEL`; outputs alternate
//! between the two halves of the output banks); any other input, the residuals and the first
//! layer of a segment are written by the host. The host reads every layer's output back, to
//! check it and to feed later segments.

use shiftadd_sim::engine::{
    act_bank_words, unrolled, weight_buf_depth, weight_location, weight_words, Descriptor, LayerOp,
    OutputMode,
};
use shiftadd_sim::net::{
    CapabilityError, ConvKind, ConvOutput, Domain, Model, NodeInfo, Op, Weights,
};
use shiftadd_sim::numerics::{encode_shift_weight, ShiftWeight};
use shiftadd_sim::spec::AccelConfig;

/// What the host does for one node.
#[derive(Clone, Debug)]
pub enum Work {
    /// The engine runs it.
    Engine(Box<EngineLayer>),
    /// The host flattens `[c, h, w]` to `[c*h*w, 1, 1]`: the codes are unchanged, their buffer
    /// words move with the next layer's input.
    Flatten,
}

/// One layer the engine runs.
#[derive(Clone, Debug)]
pub struct EngineLayer {
    /// The descriptor (`in_base`, `out_base` and `res_base` 0).
    pub desc: Descriptor,
    /// The node whose output is the input (`None`: the network input).
    pub src: Option<usize>,
    /// The node whose output is added before ReLU.
    pub residual: Option<usize>,
    /// Weight words `[lane][word - w_base]` as written through the access port.
    pub weights: Vec<Vec<i64>>,
    /// `M_c` words `[lane][tile]` (empty without post-processing parameters).
    pub post_m: Vec<Vec<i64>>,
    /// `B_c`.
    pub post_b: Vec<Vec<i64>>,
    /// The input channels past `cin` in the last tile must read 0 (adder layers: `|0 - 0|`;
    /// shift layers and pooling ignore them).
    pub zero_fill: bool,
    /// Outputs are logits: both halves of every output word are read.
    pub wide: bool,
    /// The layer as the network has it, when the engine runs it with its kernel columns
    /// unrolled into input channels (`sim::engine::unrolled`): the host unrolls the input.
    pub unrolled_from: Option<Descriptor>,
}

/// One node of the program.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Node name.
    pub name: String,
    /// `shift`, `adder`, `max_pool`, `avg_pool` or `flatten`.
    pub kind: String,
    /// Output shape.
    pub out_shape: [usize; 3],
    /// What runs it.
    pub work: Work,
}

/// A network compiled for one config.
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

fn refuse(cfg: &AccelConfig, layer: &str, what: String, limit: String) -> CapabilityError {
    CapabilityError {
        layer: layer.into(),
        config: cfg.name.clone(),
        what,
        limit,
    }
}

/// Compiles `model` for the engine of `cfg`, refusing what it cannot run.
pub fn compile(model: &Model, cfg: &AccelConfig) -> Result<Program, CapabilityError> {
    model.check_capability(cfg)?;
    if let Err(e) = shiftadd_hdl::engine::engine_widths(cfg) {
        return Err(refuse(cfg, "model", "an engine".into(), e));
    }
    if shiftadd_hdl::engine::emit_engine(cfg).is_none() {
        return Err(refuse(
            cfg,
            "model",
            "an engine of these widths".into(),
            "the engines compiled in: the presets' widths".into(),
        ));
    }
    let infos = model
        .check_params()
        .map_err(|e| refuse(cfg, &e.layer, e.to_string(), "a well-formed model".into()))?;
    let f = &model.formats;
    let wdepth = weight_buf_depth(cfg);
    let pdepth = u64::from(cfg.post_buf_words / cfg.rows);
    let half = cfg.act_buf_words / cfg.cols / 2;
    let (mut w_next, mut p_next) = (0u64, 0u64);
    let mut layers = Vec::new();
    let mut segments: Vec<std::ops::Range<usize>> = Vec::new();
    // The engine layer run just before, in this segment: node, output base, output words.
    let mut prev: Option<(usize, u32, u64)> = None;
    for (idx, node) in model.graph.nodes.iter().enumerate() {
        let info = &infos[idx];
        let [ci, h, w] = info.in_shape.map(|v| v as u32);
        let name = &node.name;
        let mut desc = Descriptor::shape(LayerOp::MaxPool, [ci, h, w], ci, [1, 1], 1, 0);
        let mut el = EngineLayer {
            desc,
            src: info.src,
            residual: info.residual,
            weights: Vec::new(),
            post_m: Vec::new(),
            post_b: Vec::new(),
            zero_fill: false,
            wide: false,
            unrolled_from: None,
        };
        let kind: String;
        match &node.op {
            Op::Flatten => {
                segments.push(idx..idx + 1);
                prev = None;
                layers.push(Layer {
                    name: name.clone(),
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
                let g = info.geom.expect("conv geometry");
                let p = model.params[idx].as_ref().expect("checked params");
                if *ck == ConvKind::Adder && info.in_domain != Domain::Adder {
                    return Err(refuse(
                        cfg,
                        name,
                        "an adder layer reading activation codes".into(),
                        "the engine's adder layers read adder-grid codes, written by a hand-off (`handoff` output) of the layer before".into(),
                    ));
                }
                desc.op = LayerOp::Conv(*ck);
                desc.cout = g.cout as u32;
                (desc.kh, desc.kw) = (kernel[0] as u32, kernel[1] as u32);
                desc.stride = *stride as u32;
                desc.pad = *pad as u32;
                let f_v = p.weights.f_v(f) as i64;
                let (mode, shift) = match output {
                    ConvOutput::Post { relu, residual } => (
                        OutputMode::Post {
                            relu: *relu,
                            residual: residual.is_some(),
                        },
                        i64::from(p.post.as_ref().expect("post").s),
                    ),
                    ConvOutput::Logits => (
                        OutputMode::Logits { relu: false },
                        i64::from(p.post.as_ref().expect("post").s),
                    ),
                    ConvOutput::Handoff => (OutputMode::Handoff, f_v - i64::from(f.add_frac)),
                    ConvOutput::Round => (OutputMode::Round, f_v - i64::from(f.act_frac)),
                };
                if shift < 0 {
                    return Err(refuse(
                        cfg,
                        name,
                        format!("a {output:?} output shifting left by {}", -shift),
                        "the engine's output shifts are right shifts".into(),
                    ));
                }
                desc.output = mode;
                desc.shift = shift as u32;
                el.wide = matches!(output, ConvOutput::Logits);
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
        let conv = matches!(desc.op, LayerOp::Conv(_));
        let has_post = model.params[idx].as_ref().is_some_and(|p| p.post.is_some());
        let words = if conv { weight_words(cfg, &desc) } else { 0 };
        let tiles = u64::from(desc.co_tiles(cfg)) * u64::from(has_post);
        if words > wdepth {
            return Err(refuse(
                cfg,
                name,
                format!("{words} weight words"),
                format!(
                    "weight_buf_words / (rows * cols) = {wdepth} words of {} lanes",
                    cfg.rows * cfg.cols
                ),
            ));
        }
        if tiles > pdepth {
            return Err(refuse(
                cfg,
                name,
                format!("{tiles} words of post-processing parameters per lane"),
                format!("post_buf_words / rows = {pdepth}"),
            ));
        }
        let open = segments.last().is_some_and(|r| {
            r.end == idx
                && matches!(
                    layers[r.start],
                    Layer {
                        work: Work::Engine(_),
                        ..
                    }
                )
        });
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
        desc.check(cfg).map_err(|e| {
            refuse(
                cfg,
                name,
                format!("{} = {}", e.field, e.value),
                e.limit.clone(),
            )
        })?;
        if conv {
            let p = model.params[idx].as_ref().expect("checked params");
            el.weights = weight_image(cfg, &desc, el.unrolled_from.as_ref(), &p.weights);
            if let Some(pp) = &p.post {
                let tiles = desc.co_tiles(cfg) as usize;
                let lanes = cfg.rows as usize;
                el.post_m = vec![vec![0; tiles]; lanes];
                el.post_b = vec![vec![0; tiles]; lanes];
                for co in 0..desc.cout as usize {
                    el.post_m[co % lanes][co / lanes] = pp.m[co];
                    el.post_b[co % lanes][co / lanes] = pp.b[co];
                }
            }
        }
        el.desc = desc;
        layers.push(Layer {
            name: name.clone(),
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

/// The weight words of convolution `d`, `[lane][word - w_base]`; lanes past the layer's channels
/// hold the zero weight. `weights` are `[cout][cin][kh][kw]` of `from` when `d` is its unrolled
/// form (weight `(co, ci, ky, kx)` goes to input channel `ci * kw + kx`, column 0).
fn weight_image(
    cfg: &AccelConfig,
    d: &Descriptor,
    from: Option<&Descriptor>,
    weights: &Weights,
) -> Vec<Vec<i64>> {
    let words = (d.co_tiles(cfg) * d.ci_tiles(cfg) * d.kh * d.kw) as usize;
    let src = from.unwrap_or(d);
    let wb = cfg.formats.shift_wb;
    let zero = match weights {
        Weights::Shift { .. } => i64::from(encode_shift_weight(ShiftWeight { s: 0, m: 0 }, wb)),
        _ => 0,
    };
    let mut img = vec![vec![zero; words]; (cfg.rows * cfg.cols) as usize];
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
                        Weights::Adder { codes } | Weights::Mult { codes, .. } => {
                            i64::from(codes[i])
                        }
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

/// Which layer's parameters each word of an on-chip buffer holds.
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
