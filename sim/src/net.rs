//! Network graphs, their parameters, the capability check and the reference inference.
//!
//! A [`Graph`] is a list of nodes in execution order; each reads one earlier node (or `input`) and
//! a convolution may add a residual from an earlier node. Tensors between nodes are in one of three
//! domains: activation codes, adder-grid codes (after a hand-off) and logits.

use crate::layers::{self, ConvGeom, Post, Tensor};
use crate::numerics::{act_code_from_f32, fits};
use crate::spec::{acc_widths, validate_formats, AccelConfig, Formats, MODEL_ACC_LIMIT};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Convolution kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvKind {
    /// DeepShift-PS weights: `s * 2^-m`.
    Shift,
    /// AdderNet: `-sum |x - w|`.
    Adder,
    /// Multiply baseline.
    Mult,
}

impl ConvKind {
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            ConvKind::Shift => "shift",
            ConvKind::Adder => "adder",
            ConvKind::Mult => "mult",
        }
    }
}

/// What happens to a convolution's raw value `v`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConvOutput {
    /// Batch norm as `M*v + B >> S`, optional residual, optional ReLU, `sat_act`.
    Post {
        /// ReLU after the residual.
        relu: bool,
        /// Node whose activation codes are added before ReLU.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        residual: Option<String>,
    },
    /// Rounded onto the adder grid for the next adder layer.
    Handoff,
    /// `sat_act(floor_shr(v, f_v - act_frac))`.
    Round,
    /// The classifier: the post-processing affine step kept wide; the last node.
    Logits,
}

/// One node's operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// A convolution (fully-connected layers are 1x1 convolutions of a flattened input).
    Conv {
        /// Kind.
        kind: ConvKind,
        /// Output channels.
        out_channels: usize,
        /// `[kh, kw]`.
        kernel: [usize; 2],
        /// Stride.
        stride: usize,
        /// Zero padding.
        pad: usize,
        /// What follows.
        output: ConvOutput,
    },
    /// Max pooling, window = stride = `k`.
    MaxPool {
        /// Window side.
        k: usize,
    },
    /// Average pooling, window = stride = `k`; `k*k` must be a power of two.
    AvgPool {
        /// Window side.
        k: usize,
    },
    /// `[c, h, w]` to `[c*h*w, 1, 1]`.
    Flatten,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique name.
    pub name: String,
    /// The node it reads (`input` for the network input).
    pub input: String,
    /// The operation.
    pub op: Op,
}

/// The network input shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputShape {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
}

/// A network graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    /// Architecture name.
    pub arch: String,
    /// Input shape.
    pub input: InputShape,
    /// Number of classes (logits).
    pub classes: usize,
    /// Nodes in execution order.
    pub nodes: Vec<Node>,
}

/// The domain of a tensor between nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Activation codes (`act_bits`, `act_frac`).
    Act,
    /// Adder-grid codes (`add_bits`, `add_frac`).
    Adder,
    /// Wide logits.
    Logits,
}

/// Shape and domain of every node's output, and each convolution's geometry.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// Index of the node read (`None` = the network input).
    pub src: Option<usize>,
    /// Index of the residual node, if any.
    pub residual: Option<usize>,
    /// Input shape `[c, h, w]`.
    pub in_shape: [usize; 3],
    /// Input domain.
    pub in_domain: Domain,
    /// Output shape.
    pub out_shape: [usize; 3],
    /// Output domain.
    pub out_domain: Domain,
    /// Convolution geometry.
    pub geom: Option<ConvGeom>,
}

/// A graph that is not well formed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("graph `{arch}`, node `{node}`: {what}")]
pub struct GraphError {
    /// Architecture name.
    pub arch: String,
    /// Node name.
    pub node: String,
    /// What is wrong.
    pub what: String,
}

impl Graph {
    /// Resolves names, shapes and domains; refuses ill-formed graphs with the node and the reason.
    pub fn analyse(&self) -> Result<Vec<NodeInfo>, GraphError> {
        let err = |node: &str, what: String| GraphError {
            arch: self.arch.clone(),
            node: node.to_string(),
            what,
        };
        let i = self.input;
        let dims_ok = [i.channels, i.height, i.width]
            .iter()
            .all(|d| (1..=layers::MAX_DIM).contains(d));
        if !dims_ok || i.channels * i.height * i.width > layers::MAX_VALUES {
            return Err(err(
                "input",
                format!(
                    "input {}x{}x{}: every dimension must be in 1..={} and the image at most {} values",
                    i.channels,
                    i.height,
                    i.width,
                    layers::MAX_DIM,
                    layers::MAX_VALUES
                ),
            ));
        }
        if self.nodes.is_empty() {
            return Err(err("input", "the graph has no nodes".into()));
        }
        if self.nodes.len() > layers::MAX_NODES {
            return Err(err(
                "input",
                format!(
                    "{} nodes, over the limit of {} (shiftadd_sim::layers::MAX_NODES)",
                    self.nodes.len(),
                    layers::MAX_NODES
                ),
            ));
        }
        let mut infos: Vec<NodeInfo> = Vec::with_capacity(self.nodes.len());
        // Earlier nodes by name: each lookup in constant time.
        let mut earlier: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let find = |earlier: &std::collections::HashMap<&str, usize>,
                    name: &str,
                    me: &str|
         -> Result<Option<usize>, GraphError> {
            if name == "input" {
                return Ok(None);
            }
            earlier
                .get(name)
                .map(|&k| Some(k))
                .ok_or_else(|| err(me, format!("reads `{name}`, which is not an earlier node")))
        };
        for (idx, node) in self.nodes.iter().enumerate() {
            if node.name.is_empty() || node.name == "input" {
                return Err(err(
                    &node.name,
                    "a node name must be non-empty and not `input`".into(),
                ));
            }
            if earlier.contains_key(node.name.as_str()) {
                return Err(err(&node.name, "the name is used twice".into()));
            }
            let src = find(&earlier, &node.input, &node.name)?;
            let (in_shape, in_domain) = match src {
                None => ([i.channels, i.height, i.width], Domain::Act),
                Some(s) => (infos[s].out_shape, infos[s].out_domain),
            };
            if in_domain == Domain::Logits {
                return Err(err(
                    &node.name,
                    "reads logits; logits end the network".into(),
                ));
            }
            let [c, h, w] = in_shape;
            let mut info = NodeInfo {
                src,
                residual: None,
                in_shape,
                in_domain,
                out_shape: in_shape,
                out_domain: Domain::Act,
                geom: None,
            };
            match &node.op {
                Op::Conv {
                    kind,
                    out_channels,
                    kernel,
                    stride,
                    pad,
                    output,
                } => {
                    let g = ConvGeom {
                        cin: c,
                        h,
                        w,
                        cout: *out_channels,
                        kh: kernel[0],
                        kw: kernel[1],
                        stride: *stride,
                        pad: *pad,
                    };
                    g.check().map_err(|e| err(&node.name, e.what))?;
                    let from_round = src.is_some_and(|k| {
                        matches!(
                            self.nodes[k].op,
                            Op::Conv {
                                output: ConvOutput::Round,
                                ..
                            }
                        )
                    });
                    if *kind == ConvKind::Adder && from_round {
                        return Err(err(
                            &node.name,
                            format!("reads `{}`, whose output is `round`: a layer without batch norm that feeds an adder layer must use `handoff`", node.input),
                        ));
                    }
                    if *kind != ConvKind::Adder && in_domain != Domain::Act {
                        return Err(err(&node.name, format!("a {} convolution needs activation codes, but its input is on the adder grid", kind.name())));
                    }
                    info.out_shape = [g.cout, g.out_h().unwrap_or(0), g.out_w().unwrap_or(0)];
                    info.out_domain = match output {
                        ConvOutput::Post { residual, .. } => {
                            if let Some(r) = residual {
                                let ri = find(&earlier, r, &node.name)?;
                                let (rs, rd) = match ri {
                                    None => ([i.channels, i.height, i.width], Domain::Act),
                                    Some(k) => (infos[k].out_shape, infos[k].out_domain),
                                };
                                if rd != Domain::Act || rs != info.out_shape {
                                    return Err(err(
                                        &node.name,
                                        format!("residual `{r}` must be activation codes of shape {:?}, found {:?} {:?}", info.out_shape, rd, rs),
                                    ));
                                }
                                info.residual = Some(ri.ok_or_else(|| {
                                    err(&node.name, "the residual cannot be the raw input".into())
                                })?);
                            }
                            Domain::Act
                        }
                        ConvOutput::Handoff => Domain::Adder,
                        ConvOutput::Round => Domain::Act,
                        ConvOutput::Logits => Domain::Logits,
                    };
                    info.geom = Some(g);
                }
                Op::MaxPool { k } | Op::AvgPool { k } => {
                    if in_domain != Domain::Act {
                        return Err(err(&node.name, "pooling needs activation codes".into()));
                    }
                    if *k == 0 || *k > h || *k > w {
                        return Err(err(
                            &node.name,
                            format!("pool window {k} does not fit the {h}x{w} input"),
                        ));
                    }
                    if matches!(node.op, Op::AvgPool { .. }) && !(k * k).is_power_of_two() {
                        return Err(err(&node.name, format!("a {k}x{k} average-pooling window ({} values) is refused: power-of-two windows only", k * k)));
                    }
                    info.out_shape = [c, h / k, w / k];
                }
                Op::Flatten => {
                    if in_domain != Domain::Act {
                        return Err(err(&node.name, "flatten needs activation codes".into()));
                    }
                    info.out_shape = [c * h * w, 1, 1];
                }
            }
            infos.push(info);
            earlier.insert(node.name.as_str(), idx);
        }
        let last = self.nodes.len() - 1;
        for (idx, info) in infos.iter().enumerate() {
            if info.out_domain == Domain::Logits && idx != last {
                return Err(err(
                    &self.nodes[idx].name,
                    "logits must be the last node".into(),
                ));
            }
        }
        let out = &infos[last];
        if out.out_domain != Domain::Logits {
            return Err(err(
                &self.nodes[last].name,
                "the last node must be a convolution with `logits` output".into(),
            ));
        }
        if out.out_shape != [self.classes, 1, 1] {
            return Err(err(
                &self.nodes[last].name,
                format!(
                    "logits have shape {:?}, expected [{}, 1, 1] (classes)",
                    out.out_shape, self.classes
                ),
            ));
        }
        Ok(infos)
    }

    /// Fractional bits of a convolution's raw value `v`.
    pub fn f_v(kind: ConvKind, f: &Formats, mul_frac: u32) -> u32 {
        match kind {
            ConvKind::Shift => f.act_frac + f.pmax(),
            ConvKind::Adder => f.add_frac,
            ConvKind::Mult => f.act_frac + mul_frac,
        }
    }
}

/// Weights of one convolution, `[cout, cin, kh, kw]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Weights {
    /// Shift weights.
    Shift {
        /// Sign in {-1, 0, 1}.
        sign: Vec<i8>,
        /// Exponent magnitude in `0..=pmax`.
        m: Vec<u8>,
    },
    /// Adder-grid codes.
    Adder {
        /// Codes (`add_bits` wide, up to 48 bits).
        codes: Vec<i64>,
    },
    /// Multiply weight codes.
    Mult {
        /// Codes (`mul_bits` wide).
        codes: Vec<i32>,
        /// Fractional bits of the codes.
        frac: u32,
    },
}

impl Weights {
    /// Fractional bits `f_v` of a convolution's sums with these weights.
    pub fn f_v(&self, f: &Formats) -> u32 {
        let mul_frac = match self {
            Weights::Mult { frac, .. } => *frac,
            _ => 0,
        };
        Graph::f_v(self.kind(), f, mul_frac)
    }

    /// The kind these weights belong to.
    pub fn kind(&self) -> ConvKind {
        match self {
            Weights::Shift { .. } => ConvKind::Shift,
            Weights::Adder { .. } => ConvKind::Adder,
            Weights::Mult { .. } => ConvKind::Mult,
        }
    }
}

/// Post-processing parameters: `M_c`, `B_c` per output channel and the shift `S`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostParams {
    /// `M_c`.
    pub m: Vec<i64>,
    /// `B_c`.
    pub b: Vec<i64>,
    /// `S`.
    pub s: u32,
}

/// Parameters of one convolution node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Weights.
    pub weights: Weights,
    /// Post-processing (present exactly when the output is `post` or `logits`).
    pub post: Option<PostParams>,
}

/// Per-channel input normalisation `(u/255 - mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputNorm {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel.
    pub std: Vec<f32>,
}

/// A network with its integer parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Topology.
    pub graph: Graph,
    /// Number formats.
    pub formats: Formats,
    /// Input normalisation.
    pub norm: InputNorm,
    /// Parameters per node (`Some` exactly for convolutions).
    pub params: Vec<Option<ConvParams>>,
}

/// A model whose parameters do not fit its graph or formats.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("layer `{layer}`, field `{field}`: {what}")]
pub struct ParamError {
    /// Node name.
    pub layer: String,
    /// Field (tensor or parameter) name.
    pub field: String,
    /// What is wrong.
    pub what: String,
}

/// A layer the hardware cannot run, named with the limit it breaks.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("layer `{layer}` cannot run on config `{config}`: {what} (limit: {limit})")]
pub struct CapabilityError {
    /// Node name.
    pub layer: String,
    /// Config name.
    pub config: String,
    /// What the layer needs.
    pub what: String,
    /// The limit it breaks.
    pub limit: String,
}

/// Counts of one node over the images run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Node name.
    pub name: String,
    /// `shift`, `adder`, `mult`, `max_pool`, `avg_pool` or `flatten`.
    pub kind: String,
    /// Output shape.
    pub out_shape: [usize; 3],
    /// Tap operations (outputs times taps).
    pub taps: u64,
    /// Shifts.
    pub shifts: u64,
    /// Adds (an adder tap counts two; accumulates, biases, residuals and average pooling count).
    pub adds: u64,
    /// Multiplies (multiply taps and the post-processing multiply).
    pub mults: u64,
    /// Values saturated to `act_bits`.
    pub sat_act: u64,
    /// Values saturated to `add_bits` at a hand-off.
    pub sat_add: u64,
}

impl LayerStats {
    /// Adds another run's counts.
    pub fn accumulate(&mut self, o: &LayerStats) {
        self.taps += o.taps;
        self.shifts += o.shifts;
        self.adds += o.adds;
        self.mults += o.mults;
        self.sat_act += o.sat_act;
        self.sat_add += o.sat_add;
    }
}

/// A tensor between nodes.
#[derive(Clone, Debug)]
pub enum Value {
    /// Activation codes.
    Act(Tensor<i32>),
    /// Adder-grid codes (wider than activation codes when `add_bits` > 32).
    Adder(Tensor<i64>),
    /// Logits.
    Logits(Vec<i128>),
}

impl Value {
    /// Activation codes: analysed graphs give adder codes to adder layers only, and never read
    /// logits.
    fn codes(&self) -> &Tensor<i32> {
        match self {
            Value::Act(t) => t,
            Value::Adder(_) => {
                unreachable!("analysed graphs read adder codes in adder layers only")
            }
            Value::Logits(_) => unreachable!("analysed graphs never read logits"),
        }
    }
}

/// One image's result.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The logits.
    pub logits: Vec<i128>,
    /// Index of the largest logit (lowest on ties).
    pub prediction: usize,
    /// Counts per node.
    pub layers: Vec<LayerStats>,
    /// Every node's output, when asked for.
    pub values: Option<Vec<Value>>,
}

/// A model checked once and ready to run many images.
pub struct Runner<'a> {
    model: &'a Model,
    infos: Vec<NodeInfo>,
    lut: Vec<[i32; 256]>,
    lut_saturations: Vec<u64>,
}

impl Model {
    /// Checks the parameters against the graph and formats, naming the layer and field.
    pub fn check_params(&self) -> Result<Vec<NodeInfo>, ParamError> {
        let perr = |layer: &str, field: &str, what: String| ParamError {
            layer: layer.into(),
            field: field.into(),
            what,
        };
        validate_formats("model", &self.formats)
            .map_err(|e| perr("model", "formats", e.to_string()))?;
        let infos = self
            .graph
            .analyse()
            .map_err(|e| perr(&e.node, "graph", e.what))?;
        let ch = self.graph.input.channels;
        if self.norm.mean.len() != ch || self.norm.std.len() != ch {
            return Err(perr(
                "input",
                "input_norm",
                format!("mean and std need {ch} values each"),
            ));
        }
        for (c, s) in self.norm.std.iter().enumerate() {
            if !(s.is_finite() && *s > 0.0 && self.norm.mean[c].is_finite()) {
                return Err(perr(
                    "input",
                    "input_norm",
                    format!("channel {c}: mean must be finite and std finite and positive"),
                ));
            }
        }
        if self.params.len() != self.graph.nodes.len() {
            return Err(perr(
                "model",
                "params",
                format!(
                    "{} entries for {} nodes",
                    self.params.len(),
                    self.graph.nodes.len()
                ),
            ));
        }
        let f = &self.formats;
        for ((node, info), p) in self.graph.nodes.iter().zip(&infos).zip(&self.params) {
            let name = &node.name;
            let Op::Conv { kind, output, .. } = &node.op else {
                if p.is_some() {
                    return Err(perr(
                        name,
                        "params",
                        "a pooling or flatten node has no parameters".into(),
                    ));
                }
                continue;
            };
            let p = p
                .as_ref()
                .ok_or_else(|| perr(name, "weights", "missing".into()))?;
            let g = info.geom.expect("conv geometry");
            let n = g.weight_len();
            if p.weights.kind() != *kind {
                return Err(perr(
                    name,
                    "weights",
                    format!(
                        "{} weights for a {} layer",
                        p.weights.kind().name(),
                        kind.name()
                    ),
                ));
            }
            match &p.weights {
                Weights::Shift { sign, m } => {
                    check_len(name, "sign", sign.len(), n)?;
                    check_len(name, "m", m.len(), n)?;
                    if let Some(i) = sign.iter().position(|s| !(-1..=1).contains(s)) {
                        return Err(perr(
                            name,
                            "sign",
                            format!("element {i} is {}, outside {{-1, 0, 1}}", sign[i]),
                        ));
                    }
                    if let Some(i) = m.iter().position(|v| *v as u32 > f.pmax()) {
                        return Err(perr(
                            name,
                            "m",
                            format!("element {i} is {}, above pmax = {}", m[i], f.pmax()),
                        ));
                    }
                }
                Weights::Adder { codes } => {
                    check_len(name, "codes", codes.len(), n)?;
                    check_codes(name, "codes", codes, f.add_bits)?;
                }
                Weights::Mult { codes, frac } => {
                    check_len(name, "codes", codes.len(), n)?;
                    check_codes(name, "codes", codes, f.mul_bits)?;
                    if *frac > 31 {
                        return Err(perr(name, "mul_frac", format!("{frac} is above 31")));
                    }
                }
            }
            let needs_post = matches!(output, ConvOutput::Post { .. } | ConvOutput::Logits);
            match (&p.post, needs_post) {
                (Some(pp), true) => {
                    check_len(name, "post_m", pp.m.len(), g.cout)?;
                    check_len(name, "post_b", pp.b.len(), g.cout)?;
                    if pp.s > 62 {
                        return Err(perr(name, "post_s", format!("{} is above 62", pp.s)));
                    }
                }
                (None, true) => {
                    return Err(perr(
                        name,
                        "post_m",
                        "missing: the layer's output is post-processed".into(),
                    ))
                }
                (Some(_), false) => {
                    return Err(perr(
                        name,
                        "post_m",
                        "present, but the layer's output is not post-processed".into(),
                    ))
                }
                (None, false) => {}
            }
            let widths = acc_widths(f, g.taps() as u64);
            let need = match kind {
                ConvKind::Shift => widths.shift,
                ConvKind::Adder => widths.adder,
                ConvKind::Mult => widths.mult,
            };
            if need > MODEL_ACC_LIMIT {
                return Err(perr(
                    name,
                    "kernel",
                    format!("{} taps need a {need}-bit accumulator, more than the reference model's {MODEL_ACC_LIMIT}", g.taps()),
                ));
            }
        }
        Ok(infos)
    }

    /// The capability check against a hardware configuration: refuses, by layer name and with the
    /// limit it breaks, anything the accelerator cannot run.
    pub fn check_capability(&self, cfg: &AccelConfig) -> Result<(), CapabilityError> {
        let infos = self.check_params().map_err(|e| CapabilityError {
            layer: e.layer.clone(),
            config: cfg.name.clone(),
            what: e.to_string(),
            limit: "a well-formed model".into(),
        })?;
        let cerr = |layer: &str, what: String, limit: String| CapabilityError {
            layer: layer.into(),
            config: cfg.name.clone(),
            what,
            limit,
        };
        let f = &self.formats;
        let cf = &cfg.formats;
        let same = f.act_range() == cf.act_range()
            && f.act_frac == cf.act_frac
            && f.shift_wb == cf.shift_wb
            && f.add_bits == cf.add_bits
            && f.add_frac == cf.add_frac;
        if !same || f.mul_bits > cf.mul_bits {
            return Err(cerr(
                "model",
                format!("the model's formats are {f:?}"),
                format!("the config's formats {cf:?} (mul_bits at most)"),
            ));
        }
        let i = self.graph.input;
        if (i.channels * i.height * i.width) as u64 > cfg.act_buf_words as u64 {
            return Err(cerr(
                "input",
                format!(
                    "an input image of {} codes",
                    i.channels * i.height * i.width
                ),
                format!("act_buf_words = {}", cfg.act_buf_words),
            ));
        }
        for ((node, info), p) in self.graph.nodes.iter().zip(&infos).zip(&self.params) {
            let name = &node.name;
            match &node.op {
                Op::Conv { kind, .. } => {
                    let g = info.geom.expect("conv geometry");
                    if !cfg.pe_kinds.runs(*kind) {
                        return Err(cerr(
                            name,
                            format!("a {} layer", kind.name()),
                            format!(
                                "pe_kinds = {} ({})",
                                cfg.pe_kinds.name(),
                                cfg.pe_kinds.describe()
                            ),
                        ));
                    }
                    if g.weight_len() as u64 > cfg.weight_buf_words as u64 {
                        return Err(cerr(
                            name,
                            format!("{} weights", g.weight_len()),
                            format!("weight_buf_words = {}", cfg.weight_buf_words),
                        ));
                    }
                    if g.kh as u32 > cfg.max_kernel || g.kw as u32 > cfg.max_kernel {
                        return Err(cerr(
                            name,
                            format!("a {}x{} kernel", g.kh, g.kw),
                            format!("max_kernel = {}", cfg.max_kernel),
                        ));
                    }
                    if g.taps() as u64 > cfg.max_taps as u64 {
                        return Err(cerr(
                            name,
                            format!(
                                "{} taps per output (cin {} x {}x{})",
                                g.taps(),
                                g.cin,
                                g.kh,
                                g.kw
                            ),
                            format!("max_taps = {}", cfg.max_taps),
                        ));
                    }
                    if g.stride as u32 > cfg.max_stride {
                        return Err(cerr(
                            name,
                            format!("stride {}", g.stride),
                            format!("max_stride = {}", cfg.max_stride),
                        ));
                    }
                    if g.pad as u32 > cfg.max_pad {
                        return Err(cerr(
                            name,
                            format!("padding {}", g.pad),
                            format!("max_pad = {}", cfg.max_pad),
                        ));
                    }
                    let p = p.as_ref().expect("checked params");
                    if let Some(pp) = &p.post {
                        if g.cout as u64 > cfg.post_buf_words as u64 {
                            return Err(cerr(
                                name,
                                format!("{} output channels of post-processing parameters", g.cout),
                                format!("post_buf_words = {}", cfg.post_buf_words),
                            ));
                        }
                        if pp.s > cfg.post_s_max {
                            return Err(cerr(
                                name,
                                format!("post-processing shift S = {}", pp.s),
                                format!("post_s_max = {}", cfg.post_s_max),
                            ));
                        }
                        if let Some(c) = pp.m.iter().position(|v| !fits(*v, cfg.post_m_bits)) {
                            return Err(cerr(
                                name,
                                format!("M_c = {} (channel {c})", pp.m[c]),
                                format!("post_m_bits = {}", cfg.post_m_bits),
                            ));
                        }
                        if let Some(c) = pp.b.iter().position(|v| !fits(*v, cfg.post_b_bits)) {
                            return Err(cerr(
                                name,
                                format!("B_c = {} (channel {c})", pp.b[c]),
                                format!("post_b_bits = {}", cfg.post_b_bits),
                            ));
                        }
                    }
                }
                Op::MaxPool { .. } | Op::AvgPool { .. } | Op::Flatten => {}
            }
            let [c, h, w] = info.out_shape;
            if info.out_domain != Domain::Logits && (c * h * w) as u64 > cfg.act_buf_words as u64 {
                return Err(cerr(
                    name,
                    format!("an output of {} codes", c * h * w),
                    format!("act_buf_words = {}", cfg.act_buf_words),
                ));
            }
        }
        Ok(())
    }

    /// Checks the parameters and prepares the input tables.
    pub fn runner(&self) -> Result<Runner<'_>, ParamError> {
        let infos = self.check_params()?;
        let (lut, lut_saturations) = input_lut(&self.norm, &self.formats);
        Ok(Runner {
            model: self,
            infos,
            lut,
            lut_saturations,
        })
    }
}

/// The network-input tables of numerics.md, one per channel:
/// `sat_act(floor(((u/255 - mean) / std) * 2^act_frac))` in float32, and the entries that saturated.
pub fn input_lut(norm: &InputNorm, f: &Formats) -> (Vec<[i32; 256]>, Vec<u64>) {
    let mut lut = Vec::new();
    let mut saturations = Vec::new();
    for (mean, std) in norm.mean.iter().zip(&norm.std) {
        let mut table = [0i32; 256];
        let mut hits = 0;
        for (u, entry) in table.iter_mut().enumerate() {
            let x = ((u as f32) / 255.0 - mean) / std;
            let (code, hit) = act_code_from_f32(x, f.act_range(), f.act_frac);
            *entry = code as i32;
            hits += hit as u64;
        }
        lut.push(table);
        saturations.push(hits);
    }
    (lut, saturations)
}

/// Input codes of an 8-bit image `[c, h, w]` through per-channel tables.
pub fn image_codes(lut: &[[i32; 256]], shape: InputShape, pixels: &[u8]) -> Tensor<i32> {
    assert_eq!(
        pixels.len(),
        shape.channels * shape.height * shape.width,
        "image size"
    );
    let plane = shape.height * shape.width;
    let data = pixels
        .iter()
        .enumerate()
        .map(|(k, &u)| lut[k / plane][u as usize])
        .collect();
    Tensor {
        c: shape.channels,
        h: shape.height,
        w: shape.width,
        data,
    }
}

fn check_len(layer: &str, field: &str, got: usize, want: usize) -> Result<(), ParamError> {
    if got != want {
        return Err(ParamError {
            layer: layer.into(),
            field: field.into(),
            what: format!("{got} values, expected {want}"),
        });
    }
    Ok(())
}

fn check_codes<C: Copy + Into<i64> + std::fmt::Display>(
    layer: &str,
    field: &str,
    codes: &[C],
    bits: u32,
) -> Result<(), ParamError> {
    if let Some(i) = codes.iter().position(|v| !fits((*v).into(), bits)) {
        return Err(ParamError {
            layer: layer.into(),
            field: field.into(),
            what: format!(
                "element {i} is {}, outside the {bits}-bit code range",
                codes[i]
            ),
        });
    }
    Ok(())
}

impl Runner<'_> {
    /// Node information (shapes, domains, geometry).
    pub fn infos(&self) -> &[NodeInfo] {
        &self.infos
    }

    /// The input table: the activation code of each 8-bit pixel value, per channel.
    pub fn input_table(&self) -> &[[i32; 256]] {
        &self.lut
    }

    /// Input-table entries that saturated, per channel.
    pub fn lut_saturations(&self) -> &[u64] {
        &self.lut_saturations
    }

    /// Input codes of an 8-bit image `[c, h, w]`.
    pub fn input_codes(&self, pixels: &[u8]) -> Tensor<i32> {
        image_codes(&self.lut, self.model.graph.input, pixels)
    }

    /// Runs one 8-bit image.
    pub fn run_image(&self, pixels: &[u8], keep_values: bool) -> RunResult {
        self.run_codes(self.input_codes(pixels), keep_values)
    }

    /// Runs one input of activation codes.
    pub fn run_codes(&self, input: Tensor<i32>, keep_values: bool) -> RunResult {
        let model = self.model;
        let mut values: Vec<Value> = Vec::with_capacity(model.graph.nodes.len());
        let mut stats = Vec::with_capacity(model.graph.nodes.len());
        let input = Value::Act(input);
        for idx in 0..model.graph.nodes.len() {
            let (value, st) = eval_node(model, &self.infos, idx, &input, &values);
            values.push(value);
            stats.push(st);
        }
        let Some(Value::Logits(logits)) = values.last().cloned() else {
            unreachable!("analysed graphs end in logits")
        };
        RunResult {
            prediction: layers::argmax(&logits),
            logits,
            layers: stats,
            values: keep_values.then_some(values),
        }
    }
}

/// Evaluates node `idx` given the outputs of the nodes before it.
pub fn eval_node(
    model: &Model,
    infos: &[NodeInfo],
    idx: usize,
    input: &Value,
    values: &[Value],
) -> (Value, LayerStats) {
    let node = &model.graph.nodes[idx];
    let info = &infos[idx];
    let f = &model.formats;
    let src = match info.src {
        None => input,
        Some(s) => &values[s],
    };
    let mut st = LayerStats {
        name: node.name.clone(),
        out_shape: info.out_shape,
        ..Default::default()
    };
    let value = match &node.op {
        Op::MaxPool { k } => {
            st.kind = "max_pool".into();
            Value::Act(layers::max_pool(src.codes(), *k))
        }
        Op::AvgPool { k } => {
            st.kind = "avg_pool".into();
            let [c, h, w] = info.out_shape;
            st.adds = (c * h * w * (k * k - 1)) as u64;
            Value::Act(layers::avg_pool(src.codes(), *k))
        }
        Op::Flatten => {
            st.kind = "flatten".into();
            let t = src.codes();
            Value::Act(Tensor {
                c: t.c * t.h * t.w,
                h: 1,
                w: 1,
                data: t.data.clone(),
            })
        }
        Op::Conv { output, .. } => {
            let p = model.params[idx].as_ref().expect("checked params");
            let (v, f_v) = conv_raw(model, idx, info, src, &mut st);
            let outputs = v.data.len() as u64;
            match output {
                ConvOutput::Post { relu, .. } => {
                    let pp = p.post.as_ref().expect("checked params");
                    let post = Post {
                        m: &pp.m,
                        b: &pp.b,
                        s: pp.s,
                        relu: *relu,
                    };
                    let residual = info.residual.map(|r| values[r].codes());
                    st.mults += outputs;
                    st.adds += outputs * (1 + residual.is_some() as u64);
                    let (out, hits) = layers::post_process(&v, &post, residual, f.act_range());
                    st.sat_act += hits;
                    Value::Act(out)
                }
                ConvOutput::Logits => {
                    let pp = p.post.as_ref().expect("checked params");
                    st.mults += outputs;
                    st.adds += outputs;
                    Value::Logits(layers::post_logits(
                        &v,
                        &Post {
                            m: &pp.m,
                            b: &pp.b,
                            s: pp.s,
                            relu: false,
                        },
                    ))
                }
                ConvOutput::Handoff => {
                    let (out, hits) = layers::handoff_to_adder(&v, f_v, f.add_frac, f.add_bits);
                    st.sat_add += hits;
                    Value::Adder(out)
                }
                ConvOutput::Round => {
                    let (out, hits) = layers::round_to_act(&v, f_v, f.act_frac, f.act_range());
                    st.sat_act += hits;
                    Value::Act(out)
                }
            }
        }
    };
    (value, st)
}

/// A convolution node's raw value `v` and its fractional bits `f_v`; fills the tap counts of `st`.
pub fn conv_raw(
    model: &Model,
    idx: usize,
    info: &NodeInfo,
    src: &Value,
    st: &mut LayerStats,
) -> (Tensor<i64>, u32) {
    let f = &model.formats;
    let Op::Conv { kind, .. } = &model.graph.nodes[idx].op else {
        panic!("conv_raw of a non-convolution")
    };
    let g = info.geom.expect("conv geometry");
    let p = model.params[idx].as_ref().expect("checked params");
    st.kind = kind.name().into();
    st.taps = g.tap_ops();
    let v = match &p.weights {
        Weights::Shift { sign, m } => {
            st.shifts = st.taps;
            st.adds = st.taps;
            layers::shift_conv(src.codes(), &g, sign, m, f.pmax())
        }
        Weights::Adder { codes } => {
            st.adds = 2 * st.taps;
            match src {
                Value::Adder(xa) => layers::adder_conv(xa, &g, codes),
                _ => {
                    let (xa, hits) =
                        layers::handoff_to_adder(src.codes(), f.act_frac, f.add_frac, f.add_bits);
                    st.sat_add += hits;
                    layers::adder_conv(&xa, &g, codes)
                }
            }
        }
        Weights::Mult { codes, .. } => {
            st.mults = st.taps;
            st.adds = st.taps;
            layers::mult_conv(src.codes(), &g, codes)
        }
    };
    (v, p.weights.f_v(f))
}
