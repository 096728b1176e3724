//! The float network of a graph: parameters, the quantisation-aware forward pass and the backward
//! pass over one minibatch, data-parallel over fixed chunks of samples.
//!
//! The forward pass applies the rounding steps the integer model applies (numerics.md): input
//! codes from the same table, shift weights decoded from their latent sign and exponent, adder
//! weights and adder inputs on the `2^-add_frac` grid, multiply weights on their `mul_bits` grid,
//! post-processed values floored onto the activation grid and saturated. Every rounding step passes
//! the gradient straight through.

use crate::kernels;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use shiftadd_sim::layers::ConvGeom;
use shiftadd_sim::net::{ConvKind, ConvOutput, Domain, Graph, InputNorm, NodeInfo, Op};
use shiftadd_sim::numerics::decode_shift_weight;
use shiftadd_sim::spec::Formats;

/// Samples per chunk: the unit of parallel work and of the ordered gradient sum, so results do
/// not depend on the number of threads.
pub const CHUNK: usize = 16;

/// Batch-norm epsilon (PyTorch's default), also that of every batch norm of the original code's
/// checkpoints ([`crate::seed`]).
pub const BN_EPS: f64 = 1e-5;

/// Batch-norm running-statistics momentum (PyTorch's default).
pub const BN_MOMENTUM: f32 = 0.1;

/// What a parameter tensor is; sets its update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Multiply weights.
    Mult,
    /// Adder weights.
    Adder,
    /// Latent shift exponent `P` (clamped to `[-pmax, 0]` after each step).
    ShiftP,
    /// Latent sign `S`.
    ShiftS,
    /// Batch-norm scale.
    Gamma,
    /// Batch-norm offset.
    Beta,
}

/// One parameter tensor.
#[derive(Clone, Debug)]
pub struct Param {
    /// `node.field`.
    pub name: String,
    /// Kind.
    pub kind: ParamKind,
    /// Values.
    pub data: Vec<f32>,
}

/// Batch norm of one convolution's output.
#[derive(Clone, Debug)]
pub struct Bn {
    /// Parameter index of gamma.
    pub gamma: usize,
    /// Parameter index of beta.
    pub beta: usize,
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running variance.
    pub var: Vec<f32>,
}

/// One convolution.
#[derive(Clone, Debug)]
pub struct ConvNode {
    /// Kind.
    pub kind: ConvKind,
    /// Geometry.
    pub g: ConvGeom,
    /// What follows.
    pub output: ConvOutput,
    /// Weights (multiply, adder) or latent exponents (shift): parameter index.
    pub w: usize,
    /// Latent signs (shift only): parameter index.
    pub sign: Option<usize>,
    /// Batch norm (post-processed and logits outputs).
    pub bn: Option<Bn>,
}

/// A node of the float network.
#[derive(Clone, Debug)]
pub enum Layer {
    /// Convolution.
    Conv(ConvNode),
    /// Max pooling.
    MaxPool(usize),
    /// Average pooling.
    AvgPool(usize),
    /// Flatten.
    Flatten,
}

/// A float network with the topology of a graph.
#[derive(Clone, Debug)]
pub struct Net {
    /// Topology.
    pub graph: Graph,
    /// Shapes and domains.
    pub infos: Vec<NodeInfo>,
    /// Formats whose rounding the forward pass models.
    pub formats: Formats,
    /// Input normalisation.
    pub norm: InputNorm,
    /// Nodes.
    pub layers: Vec<Layer>,
    /// Parameter tensors.
    pub params: Vec<Param>,
    /// Skips every rounding step (plain float network): used by the gradient checks.
    pub exact: bool,
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Grid helpers of the formats.
#[derive(Clone, Copy, Debug)]
pub struct Grid {
    exact: bool,
    act_scale: f32,
    act_lo: f32,
    act_hi: f32,
    add_scale: f32,
    add_lo: f32,
    add_hi: f32,
}

impl Grid {
    /// The grids of `f`.
    pub fn new(f: &Formats, exact: bool) -> Grid {
        let act_scale = (f.act_frac as f32).exp2();
        let add_scale = (f.add_frac as f32).exp2();
        let half = |b: u32| ((b - 1) as f32).exp2();
        Grid {
            exact,
            act_scale,
            act_lo: -half(f.act_bits),
            act_hi: f.act_range().max as f32,
            add_scale,
            add_lo: -half(f.add_bits),
            add_hi: half(f.add_bits) - 1.0,
        }
    }
    /// `sat_act(floor(z * 2^act_frac)) / 2^act_frac`.
    #[inline]
    pub fn act_floor(&self, z: f32) -> f32 {
        if self.exact {
            return z;
        }
        (z * self.act_scale).floor().clamp(self.act_lo, self.act_hi) / self.act_scale
    }
    /// `sat_act(z)` on a value already on the grid.
    #[inline]
    pub fn act_sat(&self, z: f32) -> f32 {
        if self.exact {
            return z;
        }
        (z * self.act_scale).clamp(self.act_lo, self.act_hi) / self.act_scale
    }
    /// `sat_add(rne(z * 2^add_frac)) / 2^add_frac`: the hand-off onto the adder grid and the
    /// adder weight codes.
    #[inline]
    pub fn add_round(&self, z: f32) -> f32 {
        if self.exact {
            return z;
        }
        (z * self.add_scale)
            .round_ties_even()
            .clamp(self.add_lo, self.add_hi)
            / self.add_scale
    }
}

/// Fractional bits of a multiply layer's weight codes: the most that keep the largest weight
/// inside the `bits`-bit code range.
pub fn mult_frac(w: &[f32], bits: u32) -> u32 {
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    let top = ((1i64 << (bits - 1)) - 1) as f64;
    (0..=31u32)
        .rev()
        .find(|f| (max * (*f as f64).exp2()).round_ties_even() <= top)
        .unwrap_or(0)
}

/// Multiply weights on their code grid: `sat(rne(w * 2^frac)) / 2^frac`.
pub fn mult_quant(w: &[f32], bits: u32) -> Vec<f32> {
    let frac = mult_frac(w, bits);
    let s = (frac as f32).exp2();
    let top = ((1i64 << (bits - 1)) - 1) as f32;
    w.iter()
        .map(|v| (v * s).round_ties_even().clamp(-top - 1.0, top) / s)
        .collect()
}

/// Shift weight value of latent `(p, s)`: `sign * 2^-m` as decoded by numerics.md.
#[inline]
pub fn shift_value(p: f32, s: f32, pmax: u32) -> f32 {
    let d = decode_shift_weight(p, s, pmax);
    d.s as f32 * (-(d.m as f32)).exp2()
}

impl Net {
    /// A freshly initialised network of `graph`, modelling the rounding of `formats`.
    pub fn new(graph: &Graph, formats: Formats, seed: u64) -> Result<Net, String> {
        let infos = graph.analyse().map_err(|e| e.to_string())?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params: Vec<Param> = Vec::new();
        let mut layers = Vec::new();
        let pmax = formats.pmax() as f32;
        for (node, info) in graph.nodes.iter().zip(&infos) {
            let layer = match &node.op {
                Op::Conv { kind, output, .. } => {
                    let g = info.geom.expect("conv geometry");
                    let n = g.weight_len();
                    let fan_in = g.taps() as f32;
                    let std = (2.0 / fan_in).sqrt();
                    let mut add = |name: &str, kind: ParamKind, data: Vec<f32>| {
                        params.push(Param {
                            name: format!("{}.{name}", node.name),
                            kind,
                            data,
                        });
                        params.len() - 1
                    };
                    let (w, sign) = match kind {
                        ConvKind::Mult => {
                            let d = (0..n).map(|_| normal(&mut rng) * std).collect();
                            (add("weight", ParamKind::Mult, d), None)
                        }
                        ConvKind::Adder => {
                            // AdderNet initialises adder weights from a unit normal.
                            let d = (0..n).map(|_| normal(&mut rng)).collect();
                            (add("adder", ParamKind::Adder, d), None)
                        }
                        ConvKind::Shift => {
                            // Latent exponent and sign of a Kaiming-normal weight.
                            let raw: Vec<f32> = (0..n).map(|_| normal(&mut rng) * std).collect();
                            let p = raw
                                .iter()
                                .map(|v| v.abs().max(1e-12).log2().clamp(-pmax, 0.0))
                                .collect();
                            let s = raw.iter().map(|v| v.signum()).collect();
                            let pi = add("shift", ParamKind::ShiftP, p);
                            (pi, Some(add("sign", ParamKind::ShiftS, s)))
                        }
                    };
                    let bn =
                        matches!(output, ConvOutput::Post { .. } | ConvOutput::Logits).then(|| {
                            Bn {
                                gamma: add("bn.weight", ParamKind::Gamma, vec![1.0; g.cout]),
                                beta: add("bn.bias", ParamKind::Beta, vec![0.0; g.cout]),
                                mean: vec![0.0; g.cout],
                                var: vec![1.0; g.cout],
                            }
                        });
                    Layer::Conv(ConvNode {
                        kind: *kind,
                        g,
                        output: output.clone(),
                        w,
                        sign,
                        bn,
                    })
                }
                Op::MaxPool { k } => Layer::MaxPool(*k),
                Op::AvgPool { k } => Layer::AvgPool(*k),
                Op::Flatten => Layer::Flatten,
            };
            layers.push(layer);
        }
        Ok(Net {
            graph: graph.clone(),
            infos,
            formats,
            norm: shiftadd_sim::random::default_norm(graph.input.channels),
            layers,
            params,
            exact: false,
        })
    }

    /// Values per sample of node `idx`'s output.
    pub fn out_len(&self, idx: usize) -> usize {
        self.infos[idx].out_shape.iter().product()
    }

    /// Values per sample of the network input.
    pub fn in_len(&self) -> usize {
        let i = self.graph.input;
        i.channels * i.height * i.width
    }

    /// The weights the forward pass uses (decoded shift weights, adder and multiply weights on
    /// their grids).
    pub fn effective_weights(&self, c: &ConvNode) -> Vec<f32> {
        let grid = Grid::new(&self.formats, self.exact);
        let w = &self.params[c.w].data;
        if self.exact && c.kind == ConvKind::Mult {
            return w.clone();
        }
        match c.kind {
            ConvKind::Shift => {
                let s = &self.params[c.sign.expect("shift sign")].data;
                let pmax = self.formats.pmax();
                w.iter()
                    .zip(s)
                    .map(|(p, s)| shift_value(*p, *s, pmax))
                    .collect()
            }
            ConvKind::Adder => w.iter().map(|v| grid.add_round(*v)).collect(),
            ConvKind::Mult => mult_quant(w, self.formats.mul_bits),
        }
    }
}

/// What the forward pass keeps for the backward pass of one convolution.
#[derive(Clone, Debug, Default)]
pub struct ConvCache {
    /// The input on the adder grid (adder layers reading activation codes).
    pub x_eff: Option<Vec<f32>>,
    /// Effective weights.
    pub w_eff: Vec<f32>,
    /// Normalised values `(v - mean) / std` (training batch norm).
    pub xhat: Vec<f32>,
    /// `1 / std` per channel (training batch norm).
    pub inv_std: Vec<f32>,
    /// Columns of every chunk (training).
    pub cols: Option<Vec<Vec<f32>>>,
}

/// Outputs of every node for a batch, and what backward needs.
pub struct Tape {
    /// Samples.
    pub n: usize,
    /// The network input.
    pub input: Vec<f32>,
    /// Output of every node.
    pub outs: Vec<Vec<f32>>,
    /// Per convolution node.
    pub caches: Vec<Option<ConvCache>>,
    /// Per max-pooling node: index of the chosen input of every output.
    pub argmax: Vec<Vec<u32>>,
}

impl Tape {
    /// The logits, `[n][classes]`.
    pub fn logits(&self) -> &[f32] {
        self.outs.last().expect("nodes")
    }
}

/// Raw convolution output `v` (`[n][cout][oh*ow]`) of a batch.
pub fn conv_forward(c: &ConvNode, w_eff: &[f32], x: &[f32], n: usize) -> Vec<f32> {
    conv_forward_cols(c, w_eff, x, n, false).0
}

/// [`conv_forward`], also returning each chunk's columns when `keep` (for the backward pass).
pub fn conv_forward_cols(
    c: &ConvNode,
    w_eff: &[f32],
    x: &[f32],
    n: usize,
    keep: bool,
) -> (Vec<f32>, Option<Vec<Vec<f32>>>) {
    let g = &c.g;
    let (oh, ow) = kernels::out_hw(g);
    let p = oh * ow;
    let in_len = g.cin * g.h * g.w;
    let out_len = g.cout * p;
    let taps = g.taps();
    let mut v = vec![0f32; n * out_len];
    let cols: Vec<Option<Vec<f32>>> = v
        .par_chunks_mut(CHUNK * out_len)
        .enumerate()
        .map(|(k, vc)| {
            let s0 = k * CHUNK;
            let ns = vc.len() / out_len;
            let xc = &x[s0 * in_len..(s0 + ns) * in_len];
            let j_len = ns * p;
            let mut cols = vec![0f32; taps * j_len];
            kernels::im2col(xc, ns, g, &mut cols);
            let mut tmp = vec![0f32; g.cout * j_len];
            match c.kind {
                ConvKind::Adder => kernels::adder_fwd(w_eff, &cols, taps, &mut tmp),
                _ => kernels::linear_fwd(w_eff, &cols, taps, &mut tmp),
            }
            for co in 0..g.cout {
                for s in 0..ns {
                    vc[s * out_len + co * p..][..p]
                        .copy_from_slice(&tmp[co * j_len + s * p..][..p]);
                }
            }
            keep.then_some(cols)
        })
        .collect();
    let cols = keep.then(|| cols.into_iter().map(|c| c.expect("kept")).collect());
    (v, cols)
}

/// Backward of [`conv_forward`]: the weight gradient (raw AdderNet gradient for adder layers,
/// summed over chunks in order) and, when asked, the input gradient.
pub fn conv_backward(
    c: &ConvNode,
    w_eff: &[f32],
    x: &[f32],
    gv: &[f32],
    n: usize,
    want_gx: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    conv_backward_cols(c, w_eff, x, None, gv, n, want_gx)
}

/// [`conv_backward`] with the forward pass' columns when kept.
pub fn conv_backward_cols(
    c: &ConvNode,
    w_eff: &[f32],
    x: &[f32],
    kept: Option<&[Vec<f32>]>,
    gv: &[f32],
    n: usize,
    want_gx: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let g = &c.g;
    let (oh, ow) = kernels::out_hw(g);
    let p = oh * ow;
    let in_len = g.cin * g.h * g.w;
    let out_len = g.cout * p;
    let taps = g.taps();
    let chunks = n.div_ceil(CHUNK);
    let mut gx = want_gx.then(|| vec![0f32; n * in_len]);
    let work = |k: usize, gxc: Option<&mut [f32]>| -> Vec<f32> {
        let s0 = k * CHUNK;
        let ns = CHUNK.min(n - s0);
        let j_len = ns * p;
        let own;
        let cols: &[f32] = match kept {
            Some(all) => &all[k],
            None => {
                let xc = &x[s0 * in_len..(s0 + ns) * in_len];
                let mut c = vec![0f32; taps * j_len];
                kernels::im2col(xc, ns, g, &mut c);
                own = c;
                &own
            }
        };
        let mut gt = vec![0f32; g.cout * j_len];
        for co in 0..g.cout {
            for s in 0..ns {
                gt[co * j_len + s * p..][..p]
                    .copy_from_slice(&gv[(s0 + s) * out_len + co * p..][..p]);
            }
        }
        let mut gw = vec![0f32; g.cout * taps];
        let mut gcols = gxc.as_ref().map(|_| vec![0f32; taps * j_len]);
        match c.kind {
            ConvKind::Adder => {
                kernels::adder_bwd(w_eff, cols, &gt, taps, &mut gw, gcols.as_deref_mut())
            }
            _ => kernels::linear_bwd(w_eff, cols, &gt, taps, &mut gw, gcols.as_deref_mut()),
        }
        if let (Some(gxc), Some(gcols)) = (gxc, gcols) {
            kernels::col2im(&gcols, ns, g, gxc);
        }
        gw
    };
    let parts: Vec<Vec<f32>> = match gx.as_mut() {
        Some(gx) => gx
            .par_chunks_mut(CHUNK * in_len)
            .enumerate()
            .map(|(k, gxc)| work(k, Some(gxc)))
            .collect(),
        None => (0..chunks).into_par_iter().map(|k| work(k, None)).collect(),
    };
    let mut gw = vec![0f32; g.cout * taps];
    for part in parts {
        for (a, b) in gw.iter_mut().zip(part) {
            *a += b;
        }
    }
    (gw, gx)
}

/// Batch-norm statistics of `v` (`[n][c][p]`) per channel: mean and biased variance.
fn channel_stats(v: &[f32], n: usize, c: usize, p: usize) -> (Vec<f32>, Vec<f32>) {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut s = 0f64;
            let mut s2 = 0f64;
            for k in 0..n {
                for &x in &v[(k * c + ch) * p..][..p] {
                    s += x as f64;
                    s2 += (x as f64) * (x as f64);
                }
            }
            let m = (n * p) as f64;
            let mean = s / m;
            ((mean as f32), ((s2 / m - mean * mean).max(0.0)) as f32)
        })
        .unzip()
}

/// Per-channel sums over `[n][c][p]` of `f(index)`.
fn channel_sums<F: Fn(usize) -> (f64, f64) + Sync>(
    n: usize,
    c: usize,
    p: usize,
    f: F,
) -> Vec<(f64, f64)> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut a = 0f64;
            let mut b = 0f64;
            for k in 0..n {
                let base = (k * c + ch) * p;
                for i in base..base + p {
                    let (x, y) = f(i);
                    a += x;
                    b += y;
                }
            }
            (a, b)
        })
        .collect()
}

impl Net {
    /// The forward pass of `n` samples (`input` is `[n][c][h][w]` on the activation grid).
    /// `train` uses batch statistics and updates the running ones.
    pub fn forward(&mut self, input: Vec<f32>, n: usize, train: bool) -> Tape {
        let grid = Grid::new(&self.formats, self.exact);
        let mut outs: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        let mut caches = Vec::with_capacity(self.layers.len());
        let mut argmax = Vec::with_capacity(self.layers.len());
        for idx in 0..self.layers.len() {
            let info = self.infos[idx].clone();
            let x: &[f32] = match info.src {
                None => &input,
                Some(s) => &outs[s],
            };
            let [c, h, w] = info.in_shape;
            let mut cache = None;
            let mut am = Vec::new();
            let mut bn_update: Option<(Vec<f32>, Vec<f32>, f32)> = None;
            let out = match &self.layers[idx] {
                Layer::Flatten => x.to_vec(),
                Layer::MaxPool(k) => {
                    let k = *k;
                    let (oh, ow) = (h / k, w / k);
                    let mut out = vec![0f32; n * c * oh * ow];
                    am = vec![0u32; out.len()];
                    for (o, (v, a)) in out.iter_mut().zip(am.iter_mut()).enumerate() {
                        let (s_ch, rest) = (o / (oh * ow), o % (oh * ow));
                        let (oy, ox) = (rest / ow, rest % ow);
                        let base = s_ch * h * w;
                        let mut best = f32::NEG_INFINITY;
                        let mut bi = 0;
                        for dy in 0..k {
                            for dx in 0..k {
                                let i = base + (oy * k + dy) * w + ox * k + dx;
                                if x[i] > best {
                                    best = x[i];
                                    bi = i;
                                }
                            }
                        }
                        *v = best;
                        *a = bi as u32;
                    }
                    out
                }
                Layer::AvgPool(k) => {
                    let k = *k;
                    let (oh, ow) = (h / k, w / k);
                    let mut out = vec![0f32; n * c * oh * ow];
                    for (o, v) in out.iter_mut().enumerate() {
                        let (s_ch, rest) = (o / (oh * ow), o % (oh * ow));
                        let (oy, ox) = (rest / ow, rest % ow);
                        let base = s_ch * h * w;
                        let mut sum = 0f32;
                        for dy in 0..k {
                            for dx in 0..k {
                                sum += x[base + (oy * k + dy) * w + ox * k + dx];
                            }
                        }
                        *v = grid.act_floor(sum / (k * k) as f32);
                    }
                    out
                }
                Layer::Conv(cn) => {
                    let w_eff = self.effective_weights(cn);
                    let adder_in = cn.kind == ConvKind::Adder && info.in_domain != Domain::Adder;
                    let x_eff: Option<Vec<f32>> =
                        adder_in.then(|| x.iter().map(|v| grid.add_round(*v)).collect());
                    let (v, cols) =
                        conv_forward_cols(cn, &w_eff, x_eff.as_deref().unwrap_or(x), n, train);
                    let mut cc = ConvCache {
                        x_eff,
                        w_eff,
                        cols,
                        ..Default::default()
                    };
                    let p = v.len() / (n * cn.g.cout);
                    let cout = cn.g.cout;
                    let out = match &cn.output {
                        ConvOutput::Handoff => v.iter().map(|z| grid.add_round(*z)).collect(),
                        ConvOutput::Round => v.iter().map(|z| grid.act_floor(*z)).collect(),
                        ConvOutput::Post { .. } | ConvOutput::Logits => {
                            let bn = cn.bn.as_ref().expect("batch norm");
                            let gamma = &self.params[bn.gamma].data;
                            let beta = &self.params[bn.beta].data;
                            let (a, b): (Vec<f32>, Vec<f32>) = if train {
                                let (mean, var) = channel_stats(&v, n, cout, p);
                                let inv: Vec<f32> = var
                                    .iter()
                                    .map(|v| 1.0 / (v + BN_EPS as f32).sqrt())
                                    .collect();
                                let m = (n * p) as f32;
                                let unbias = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
                                bn_update = Some((mean.clone(), var, unbias));
                                let mut xhat = v.clone();
                                for (i, z) in xhat.iter_mut().enumerate() {
                                    let ch = (i / p) % cout;
                                    *z = (*z - mean[ch]) * inv[ch];
                                }
                                cc.xhat = xhat;
                                let a: Vec<f32> = (0..cout).map(|ch| gamma[ch] * inv[ch]).collect();
                                let b = (0..cout).map(|ch| beta[ch] - a[ch] * mean[ch]).collect();
                                cc.inv_std = inv;
                                (a, b)
                            } else {
                                fold(gamma, beta, &bn.mean, &bn.var)
                            };
                            let mut z: Vec<f32> = v
                                .iter()
                                .enumerate()
                                .map(|(i, x)| {
                                    let ch = (i / p) % cout;
                                    a[ch] * x + b[ch]
                                })
                                .collect();
                            if let ConvOutput::Post { relu, .. } = &cn.output {
                                let res = info.residual.map(|r| &outs[r]);
                                for (i, zi) in z.iter_mut().enumerate() {
                                    let mut q = grid.act_floor(*zi);
                                    if let Some(r) = res {
                                        q += r[i];
                                    }
                                    if *relu {
                                        q = q.max(0.0);
                                    }
                                    *zi = grid.act_sat(q);
                                }
                            }
                            z
                        }
                    };
                    cache = Some(cc);
                    out
                }
            };
            if let (Some((mean, var, unbias)), Layer::Conv(c)) = (bn_update, &mut self.layers[idx])
            {
                let bn = c.bn.as_mut().expect("batch norm");
                for ch in 0..mean.len() {
                    bn.mean[ch] = (1.0 - BN_MOMENTUM) * bn.mean[ch] + BN_MOMENTUM * mean[ch];
                    bn.var[ch] = (1.0 - BN_MOMENTUM) * bn.var[ch] + BN_MOMENTUM * var[ch] * unbias;
                }
            }
            outs.push(out);
            caches.push(cache);
            argmax.push(am);
        }
        Tape {
            n,
            input,
            outs,
            caches,
            argmax,
        }
    }

    /// The backward pass from `g_logits` (`[n][classes]`): gradients of every parameter tensor,
    /// in the order of `params`.
    pub fn backward(&self, tape: &Tape, g_logits: Vec<f32>, eta: f32) -> Vec<Vec<f32>> {
        let n = tape.n;
        let mut grads: Vec<Vec<f32>> = self
            .params
            .iter()
            .map(|p| vec![0.0; p.data.len()])
            .collect();
        let mut gouts: Vec<Option<Vec<f32>>> = vec![None; self.layers.len()];
        *gouts.last_mut().expect("nodes") = Some(g_logits);
        let add_to =
            |gouts: &mut Vec<Option<Vec<f32>>>, idx: usize, g: Vec<f32>| match &mut gouts[idx] {
                Some(acc) => {
                    for (a, b) in acc.iter_mut().zip(g) {
                        *a += b;
                    }
                }
                slot => *slot = Some(g),
            };
        for idx in (0..self.layers.len()).rev() {
            let Some(g) = gouts[idx].take() else {
                continue;
            };
            let info = &self.infos[idx];
            let [c, h, w] = info.in_shape;
            match &self.layers[idx] {
                Layer::Flatten => {
                    if let Some(s) = info.src {
                        add_to(&mut gouts, s, g);
                    }
                }
                Layer::MaxPool(_) => {
                    if let Some(s) = info.src {
                        let mut gx = vec![0f32; n * c * h * w];
                        for (gv, &i) in g.iter().zip(&tape.argmax[idx]) {
                            gx[i as usize] += gv;
                        }
                        add_to(&mut gouts, s, gx);
                    }
                }
                Layer::AvgPool(k) => {
                    if let Some(s) = info.src {
                        let k = *k;
                        let (oh, ow) = (h / k, w / k);
                        let mut gx = vec![0f32; n * c * h * w];
                        let inv = 1.0 / (k * k) as f32;
                        for (o, gv) in g.iter().enumerate() {
                            let (s_ch, rest) = (o / (oh * ow), o % (oh * ow));
                            let (oy, ox) = (rest / ow, rest % ow);
                            for dy in 0..k {
                                for dx in 0..k {
                                    gx[s_ch * h * w + (oy * k + dy) * w + ox * k + dx] += gv * inv;
                                }
                            }
                        }
                        add_to(&mut gouts, s, gx);
                    }
                }
                Layer::Conv(cn) => {
                    let cache = tape.caches[idx].as_ref().expect("conv cache");
                    let cout = cn.g.cout;
                    let p = g.len() / (n * cout);
                    let out = &tape.outs[idx];
                    let gv: Vec<f32> = match &cn.output {
                        ConvOutput::Handoff | ConvOutput::Round => g,
                        ConvOutput::Post { .. } | ConvOutput::Logits => {
                            let mut gz = g;
                            if let ConvOutput::Post { relu, .. } = &cn.output {
                                if *relu {
                                    for (gi, o) in gz.iter_mut().zip(out) {
                                        if *o <= 0.0 {
                                            *gi = 0.0;
                                        }
                                    }
                                }
                                if let Some(r) = info.residual {
                                    add_to(&mut gouts, r, gz.clone());
                                }
                            }
                            let bn = cn.bn.as_ref().expect("batch norm");
                            let gamma = &self.params[bn.gamma].data;
                            let xhat = &cache.xhat;
                            let sums = channel_sums(n, cout, p, |i| {
                                (gz[i] as f64, (gz[i] * xhat[i]) as f64)
                            });
                            let m = (n * p) as f32;
                            for ch in 0..cout {
                                grads[bn.beta][ch] = sums[ch].0 as f32;
                                grads[bn.gamma][ch] = sums[ch].1 as f32;
                            }
                            // dv = gamma * inv_std / m * (m g - sum g - xhat sum g xhat)
                            gz.iter()
                                .enumerate()
                                .map(|(i, gi)| {
                                    let ch = (i / p) % cout;
                                    let (sg, sgx) = (sums[ch].0 as f32, sums[ch].1 as f32);
                                    gamma[ch] * cache.inv_std[ch] / m
                                        * (m * gi - sg - xhat[i] * sgx)
                                })
                                .collect()
                        }
                    };
                    let x: &[f32] = match (&cache.x_eff, info.src) {
                        (Some(xe), _) => xe,
                        (None, None) => &tape.input,
                        (None, Some(s)) => &tape.outs[s],
                    };
                    let (gw, gx) = conv_backward_cols(
                        cn,
                        &cache.w_eff,
                        x,
                        cache.cols.as_deref(),
                        &gv,
                        n,
                        info.src.is_some(),
                    );
                    match cn.kind {
                        ConvKind::Mult => grads[cn.w] = gw,
                        ConvKind::Adder => {
                            // AdderNet's adaptive learning-rate scale: eta * sqrt(k) / ||g||.
                            let norm = gw.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                            let scale = if norm > 0.0 {
                                (eta as f64 * (gw.len() as f64).sqrt() / norm) as f32
                            } else {
                                0.0
                            };
                            grads[cn.w] = gw.iter().map(|v| v * scale).collect();
                        }
                        ConvKind::Shift => {
                            let (gp, gs) = shift_grads(&cache.w_eff, &gw);
                            grads[cn.w] = gp;
                            grads[cn.sign.expect("shift sign")] = gs;
                        }
                    }
                    if let (Some(s), Some(gx)) = (info.src, gx) {
                        add_to(&mut gouts, s, gx);
                    }
                }
            }
        }
        grads
    }
}

/// DeepShift-PS gradients through the straight-through estimators (seed-notes.md §2.1): with
/// `w = s * 2^p`, `dL/dP = dL/dw * w * ln 2` and `dL/dS = dL/dw`.
pub fn shift_grads(w_eff: &[f32], gw: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let gp = w_eff
        .iter()
        .zip(gw)
        .map(|(w, g)| g * w * std::f32::consts::LN_2)
        .collect();
    (gp, gw.to_vec())
}

/// Batch norm of running statistics as one affine step per channel: `a = gamma / sqrt(var +
/// eps)`, `b = beta - a * mean`.
pub fn fold(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let a: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| g / (v + BN_EPS as f32).sqrt())
        .collect();
    let b = beta
        .iter()
        .zip(&a)
        .zip(mean)
        .map(|((be, a), m)| be - a * m)
        .collect();
    (a, b)
}

/// Softmax cross-entropy of `logits` (`[n][k]`) against `labels`: the mean loss, the number of
/// correct predictions and the gradient (already divided by `n`).
pub fn cross_entropy(logits: &[f32], labels: &[u8], k: usize) -> (f32, usize, Vec<f32>) {
    let n = labels.len();
    let mut g = vec![0f32; n * k];
    let mut loss = 0f64;
    let mut correct = 0;
    for (s, &l) in labels.iter().enumerate() {
        let z = &logits[s * k..(s + 1) * k];
        let mx = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - mx).exp()).collect();
        let se: f32 = e.iter().sum();
        loss += (se.ln() - (z[l as usize] - mx)) as f64;
        if argmax(z) == l as usize {
            correct += 1;
        }
        for j in 0..k {
            g[s * k + j] = (e[j] / se - (j == l as usize) as u8 as f32) / n as f32;
        }
    }
    ((loss / n as f64) as f32, correct, g)
}

/// Index of the largest value, the lowest on ties.
pub fn argmax(z: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in z.iter().enumerate() {
        if *v > z[best] {
            best = i;
        }
    }
    best
}
