//! Whole networks: the reference inference against the naive layers composed over the graph,
//! node by node, for every built-in architecture and several formats.

mod naive;

use naive::*;
use shiftadd_sim::net::{ConvOutput, Model, Op, Value, Weights};
use shiftadd_sim::spec::presets;
use shiftadd_sim::{archs, random};

/// A naive tensor: values, and shape `[c, h, w]`.
type T = (Vec<i128>, [usize; 3]);

fn as_i64(v: &[i128]) -> Vec<i64> {
    v.iter()
        .map(|x| i64::try_from(*x).expect("code fits i64"))
        .collect()
}

/// Runs `model` on `pixels` with the naive layers; returns every node's output.
fn naive_run(model: &Model, pixels: &[u8]) -> Vec<T> {
    let f = model.formats;
    let act_max = f.act_max.map_or(naive_max(f.act_bits), i128::from);
    let i = model.graph.input;
    let plane = i.height * i.width;
    // The input table rule of numerics.md, evaluated per pixel in float32.
    let input: Vec<i128> = pixels
        .iter()
        .enumerate()
        .map(|(k, &u)| {
            let c = k / plane;
            let x = ((u as f32) / 255.0 - model.norm.mean[c]) / model.norm.std[c];
            let scaled = (x * (f.act_frac as f32).exp2()).floor() as i128;
            naive_sat_act(scaled, f.act_bits, act_max).0
        })
        .collect();
    let input: T = (input, [i.channels, i.height, i.width]);
    let mut outs: Vec<T> = Vec::new();
    let pmax = (1i64 << (f.shift_wb - 1)) - 2;
    for (idx, node) in model.graph.nodes.iter().enumerate() {
        let src = if node.input == "input" {
            input.clone()
        } else {
            outs[model
                .graph
                .nodes
                .iter()
                .position(|n| n.name == node.input)
                .unwrap()]
            .clone()
        };
        let [c, h, w] = src.1;
        let out: T = match &node.op {
            Op::MaxPool { k } => {
                let (v, oh, ow) = naive_max_pool(&as_i64(&src.0), c, h, w, *k);
                (v, [c, oh, ow])
            }
            Op::AvgPool { k } => {
                let (v, oh, ow) = naive_avg_pool(&as_i64(&src.0), c, h, w, *k);
                (v, [c, oh, ow])
            }
            Op::Flatten => (src.0.clone(), [c * h * w, 1, 1]),
            Op::Conv {
                kind,
                out_channels,
                kernel,
                stride,
                pad,
                output,
            } => {
                let g = Geom {
                    cin: c,
                    h,
                    w,
                    cout: *out_channels,
                    kh: kernel[0],
                    kw: kernel[1],
                    stride: *stride,
                    pad: *pad,
                };
                let (oh, ow) = g.out_hw().unwrap();
                let p = model.params[idx].as_ref().unwrap();
                let from_act_domain = node.input == "input"
                    || !matches!(
                        model
                            .graph
                            .nodes
                            .iter()
                            .find(|n| n.name == node.input)
                            .map(|n| &n.op),
                        Some(Op::Conv {
                            output: ConvOutput::Handoff,
                            ..
                        })
                    );
                let (v, f_v) = match &p.weights {
                    Weights::Shift { sign, m } => {
                        let s: Vec<i64> = sign.iter().map(|x| *x as i64).collect();
                        let mm: Vec<i64> = m.iter().map(|x| *x as i64).collect();
                        (
                            naive_shift_conv(&as_i64(&src.0), &g, &s, &mm, pmax),
                            f.act_frac + pmax as u32,
                        )
                    }
                    Weights::Adder { codes } => {
                        let xa = if from_act_domain {
                            naive_handoff(&src.0, f.act_frac, f.add_frac, f.add_bits).0
                        } else {
                            src.0.clone()
                        };
                        let wv: Vec<i64> = codes.clone();
                        (naive_adder_conv(&as_i64(&xa), &g, &wv), f.add_frac)
                    }
                    Weights::Mult { codes, frac } => {
                        let wv: Vec<i64> = codes.iter().map(|x| *x as i64).collect();
                        (naive_mult_conv(&as_i64(&src.0), &g, &wv), f.act_frac + frac)
                    }
                };
                let _ = kind;
                let shape = [*out_channels, oh, ow];
                let vals = match output {
                    ConvOutput::Post { relu, residual } => {
                        let pp = p.post.as_ref().unwrap();
                        let m: Vec<i128> = pp.m.iter().map(|x| *x as i128).collect();
                        let b: Vec<i128> = pp.b.iter().map(|x| *x as i128).collect();
                        let r = residual.as_ref().map(|r| {
                            outs[model.graph.nodes.iter().position(|n| &n.name == r).unwrap()]
                                .0
                                .clone()
                        });
                        naive_post(
                            &v,
                            oh * ow,
                            &m,
                            &b,
                            pp.s,
                            *relu,
                            r.as_deref(),
                            (f.act_bits, act_max),
                        )
                        .0
                    }
                    ConvOutput::Logits => {
                        let pp = p.post.as_ref().unwrap();
                        let m: Vec<i128> = pp.m.iter().map(|x| *x as i128).collect();
                        let b: Vec<i128> = pp.b.iter().map(|x| *x as i128).collect();
                        naive_logits(&v, oh * ow, &m, &b, pp.s, false)
                    }
                    ConvOutput::Handoff => naive_handoff(&v, f_v, f.add_frac, f.add_bits).0,
                    ConvOutput::Round => {
                        naive_round_to_act(&v, f_v, f.act_frac, (f.act_bits, act_max)).0
                    }
                };
                (vals, shape)
            }
        };
        outs.push(out);
    }
    outs
}

fn check(arch: &str, cfg: &shiftadd_sim::spec::AccelConfig, seed: u64, images: u64) {
    let graph = archs::by_name(arch).unwrap();
    let model = random::random_model(&graph, cfg, seed).unwrap();
    let runner = model.runner().unwrap();
    for k in 0..images {
        let pixels = random::random_image(&graph, seed * 100 + k);
        let got = runner.run_image(&pixels, true);
        let want = naive_run(&model, &pixels);
        let values = got.values.unwrap();
        for ((node, g), w) in graph.nodes.iter().zip(&values).zip(&want) {
            let g: Vec<i128> = match g {
                Value::Act(t) => {
                    assert_eq!(t.shape(), w.1, "{arch}/{}: shape", node.name);
                    t.data.iter().map(|x| *x as i128).collect()
                }
                Value::Adder(t) => {
                    assert_eq!(t.shape(), w.1, "{arch}/{}: shape", node.name);
                    t.data.iter().map(|x| *x as i128).collect()
                }
                Value::Logits(l) => l.clone(),
            };
            if let Some(i) = g.iter().zip(&w.0).position(|(a, b)| a != b) {
                panic!(
                    "{arch} ({}) image {k}, node {}: index {i}: reference {} naive {}",
                    cfg.name, node.name, g[i], w.0[i]
                );
            }
            assert_eq!(g.len(), w.0.len());
        }
        assert_eq!(
            got.prediction,
            naive_argmax(&want.last().unwrap().0),
            "{arch}: prediction"
        );
    }
}

#[test]
fn lenets_agree_with_naive_in_every_preset_format() {
    for arch in ["lenet-shiftadd", "lenet-mult", "lenet-shift", "lenet-adder"] {
        for cfg in presets::all() {
            check(arch, &cfg, 5, 2);
        }
    }
}

#[test]
fn resnet20s_agree_with_naive() {
    for arch in [
        "resnet20-shiftadd",
        "resnet20-mult",
        "resnet20-shift",
        "resnet20-adder",
    ] {
        check(arch, &presets::seed(), 9, 1);
    }
}

#[test]
fn resnet20_shiftadd_lean_formats_saturate_and_still_agree() {
    // Narrow formats make random activations saturate: the counts are non-zero and the codes
    // still agree with the naive layers.
    check("resnet20-shiftadd", &presets::lean8(), 4, 1);
}
