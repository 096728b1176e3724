//! Random valid models: weights of trained-like magnitudes, and batch-norm parameters calibrated on
//! a random image so that activations stay in the range a trained network keeps them in. Used by
//! the benchmark, the tests and hardware runs of architectures without trained weights.

use crate::net::{
    conv_raw, eval_node, image_codes, input_lut, ConvKind, ConvOutput, ConvParams, Graph,
    InputNorm, LayerStats, Model, Op, PostParams, Value, Weights,
};
use crate::numerics::{adder_code_from_f32, rne_code_from_f64};
use crate::spec::AccelConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Standard normalisation constants for the known input shapes (CIFAR-10, Fashion-MNIST).
pub fn default_norm(channels: usize) -> InputNorm {
    match channels {
        3 => InputNorm {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2023, 0.1994, 0.2010],
        },
        1 => InputNorm {
            mean: vec![0.2860],
            std: vec![0.3530],
        },
        n => InputNorm {
            mean: vec![0.5; n],
            std: vec![0.25; n],
        },
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A random image of 8-bit pixels for `graph`'s input.
pub fn random_image(graph: &Graph, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let i = graph.input;
    (0..i.channels * i.height * i.width)
        .map(|_| rng.gen())
        .collect()
}

/// A random model of `graph` in `cfg`'s formats whose post-processing parameters fit `cfg`.
/// Refuses (naming the layer) when batch norm cannot be folded into `cfg`'s post-processing
/// widths without saturating.
pub fn random_model(graph: &Graph, cfg: &AccelConfig, seed: u64) -> Result<Model, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let f = cfg.formats;
    let infos = graph.analyse().map_err(|e| e.to_string())?;
    let mut model = Model {
        graph: graph.clone(),
        formats: f,
        norm: default_norm(graph.input.channels),
        params: vec![None; graph.nodes.len()],
    };
    let (lut, _) = input_lut(&model.norm, &f);
    let input = Value::Act(image_codes(
        &lut,
        graph.input,
        &random_image(graph, seed ^ 0x5eed),
    ));
    let mut values: Vec<Value> = Vec::new();
    for (idx, node) in graph.nodes.iter().enumerate() {
        let info = &infos[idx];
        if let Op::Conv { kind, output, .. } = &node.op {
            let g = info.geom.expect("conv geometry");
            let n = g.weight_len();
            let fan_in = g.taps() as f64;
            let weights = match kind {
                ConvKind::Shift => {
                    // Kaiming-like magnitudes: 2^-m around 1/sqrt(fan_in).
                    let centre = (0.5 * fan_in.log2()).round() as i64;
                    let pmax = f.pmax() as i64;
                    let sign = (0..n).map(|_| rng.gen_range(-1i8..=1)).collect();
                    let m = (0..n)
                        .map(|_| (centre + rng.gen_range(-2i64..=2)).clamp(0, pmax) as u8)
                        .collect();
                    Weights::Shift { sign, m }
                }
                ConvKind::Adder => {
                    let codes = (0..n)
                        .map(|_| {
                            adder_code_from_f32(
                                normal(&mut rng) as f32 * 0.5,
                                f.add_bits,
                                f.add_frac,
                            )
                            .0
                        })
                        .collect();
                    Weights::Adder { codes }
                }
                ConvKind::Mult => {
                    let frac = f.mul_bits - 1;
                    let a = (6.0 / fan_in).sqrt().min(1.0);
                    let codes = (0..n)
                        .map(|_| {
                            rne_code_from_f64(rng.gen_range(-a..a), frac as i32, f.mul_bits).0
                                as i32
                        })
                        .collect();
                    Weights::Mult { codes, frac }
                }
            };
            model.params[idx] = Some(ConvParams {
                weights,
                post: None,
            });
            if matches!(output, ConvOutput::Post { .. } | ConvOutput::Logits) {
                let src = match info.src {
                    None => &input,
                    Some(s) => &values[s],
                };
                let mut st = LayerStats {
                    name: node.name.clone(),
                    ..Default::default()
                };
                let (v, f_v) = conv_raw(&model, idx, info, src, &mut st);
                let post =
                    calibrate(&v, f_v, cfg).map_err(|e| format!("layer `{}`: {e}", node.name))?;
                model.params[idx].as_mut().expect("just set").post = Some(post);
            }
        }
        let (value, _) = eval_node(&model, &infos, idx, &input, &values);
        values.push(value);
    }
    Ok(model)
}

/// Batch norm from the statistics of one output: `z = (v - mean_c) / std_c`, folded into
/// `M_c`, `B_c`, `S` that fit the config's post-processing widths.
fn calibrate(
    v: &crate::layers::Tensor<i64>,
    f_v: u32,
    cfg: &AccelConfig,
) -> Result<PostParams, String> {
    let plane = v.h * v.w;
    let scale = (-(f_v as f64)).exp2();
    let mut a = Vec::with_capacity(v.c);
    let mut b = Vec::with_capacity(v.c);
    for c in 0..v.c {
        let vals = &v.data[c * plane..(c + 1) * plane];
        let mean = vals.iter().map(|x| *x as f64 * scale).sum::<f64>() / plane as f64;
        let var = vals
            .iter()
            .map(|x| (*x as f64 * scale - mean).powi(2))
            .sum::<f64>()
            / plane as f64;
        let inv = 1.0 / (var + 1e-5).sqrt();
        a.push(inv);
        b.push(-mean * inv);
    }
    fold_batch_norm(&a, &b, f_v, cfg, cfg.post_s_max.min(24))
}

/// Folds a per-channel affine step `z = a_c * v + b_c` (batch norm with `a = gamma/sqrt(var+eps)`,
/// `b = beta - a*mean`) of a raw value with `f_v` fractional bits into `M_c`, `B_c`, `S`
/// (numerics.md), taking the largest `S <= s_cap` whose `M_c` and `B_c` all fit the config's
/// post-processing widths.
pub fn fold_batch_norm(
    a: &[f64],
    b: &[f64],
    f_v: u32,
    cfg: &AccelConfig,
    s_cap: u32,
) -> Result<PostParams, String> {
    let act_frac = cfg.formats.act_frac as i32;
    let m_of = |s: i32, x: f64| rne_code_from_f64(x, act_frac - f_v as i32 + s, cfg.post_m_bits);
    let b_of = |s: i32, x: f64| rne_code_from_f64(x, act_frac + s, cfg.post_b_bits);
    // The largest S whose M_c and B_c all fit without saturating.
    let mut s = s_cap.min(cfg.post_s_max) as i32;
    let saturates = |s: i32| a.iter().any(|x| m_of(s, *x).1) || b.iter().any(|x| b_of(s, *x).1);
    while s > 0 && saturates(s) {
        s -= 1;
    }
    if saturates(s) {
        return Err(format!(
            "batch norm does not fit post_m_bits = {} and post_b_bits = {} even with S = 0",
            cfg.post_m_bits, cfg.post_b_bits
        ));
    }
    Ok(PostParams {
        m: a.iter().map(|x| m_of(s, *x).0).collect(),
        b: b.iter().map(|x| b_of(s, *x).0).collect(),
        s: s as u32,
    })
}
