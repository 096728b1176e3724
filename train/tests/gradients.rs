//! Backward passes against finite differences (plain float layers) and against naive
//! implementations of the formulas that are not true gradients (AdderNet, DeepShift-PS).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shiftadd_sim::layers::{adder_conv, ConvGeom, Tensor};
use shiftadd_sim::net::{ConvKind, ConvOutput, Graph, InputShape, Node, Op};
use shiftadd_sim::spec::presets;
use shiftadd_train::net::{
    conv_backward, conv_forward, shift_grads, shift_value, ConvNode, Layer, Net,
};

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(42)
}

fn conv(
    name: &str,
    input: &str,
    kind: ConvKind,
    [cout, k, stride, pad]: [usize; 4],
    output: ConvOutput,
) -> Node {
    Node {
        name: name.into(),
        input: input.into(),
        op: Op::Conv {
            kind,
            out_channels: cout,
            kernel: [k, k],
            stride,
            pad,
            output,
        },
    }
}

/// Multiply convolutions with batch norm, ReLU, a residual, a strided convolution, max and
/// average pooling, flatten and a fully-connected classifier.
fn float_graph() -> Graph {
    let post = |relu, residual: Option<&str>| ConvOutput::Post {
        relu,
        residual: residual.map(String::from),
    };
    Graph {
        arch: "gradcheck".into(),
        input: InputShape {
            channels: 2,
            height: 6,
            width: 6,
        },
        classes: 3,
        nodes: vec![
            conv(
                "c1",
                "input",
                ConvKind::Mult,
                [4, 3, 1, 1],
                post(true, None),
            ),
            conv(
                "c2",
                "c1",
                ConvKind::Mult,
                [4, 3, 1, 1],
                post(true, Some("c1")),
            ),
            Node {
                name: "pool".into(),
                input: "c2".into(),
                op: Op::MaxPool { k: 2 },
            },
            conv(
                "c3",
                "pool",
                ConvKind::Mult,
                [4, 3, 2, 1],
                post(false, None),
            ),
            Node {
                name: "avg".into(),
                input: "c3".into(),
                op: Op::AvgPool { k: 2 },
            },
            Node {
                name: "flat".into(),
                input: "avg".into(),
                op: Op::Flatten,
            },
            conv(
                "fc",
                "flat",
                ConvKind::Mult,
                [3, 1, 1, 0],
                ConvOutput::Logits,
            ),
        ],
    }
}

fn loss(net: &mut Net, input: &[f32], n: usize, r: &[f32]) -> f64 {
    let tape = net.forward(input.to_vec(), n, true);
    tape.logits()
        .iter()
        .zip(r)
        .map(|(a, b)| (*a as f64) * (*b as f64))
        .sum()
}

#[test]
fn float_layers_match_finite_differences() {
    let mut rng = rng();
    let mut net = Net::new(&float_graph(), presets::seed().formats, 3).unwrap();
    net.exact = true;
    // Non-trivial batch-norm parameters.
    for p in net.params.iter_mut() {
        if p.name.ends_with("bn.weight") || p.name.ends_with("bn.bias") {
            p.data
                .iter_mut()
                .for_each(|v| *v += rng.gen_range(-0.3..0.3));
        }
    }
    // 20 samples: two chunks of the data-parallel split.
    let n = 20;
    let input: Vec<f32> = (0..n * 72).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let r: Vec<f32> = (0..n * 3).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let tape = net.forward(input.clone(), n, true);
    let grads = net.backward(&tape, r.clone(), 0.1);
    let eps = 1e-3f32;
    let mut checked = 0;
    let mut off = Vec::new();
    for (k, gk) in grads.iter().enumerate() {
        for i in (0..gk.len()).step_by(5) {
            let orig = net.params[k].data[i];
            net.params[k].data[i] = orig + eps;
            let lp = loss(&mut net, &input, n, &r);
            net.params[k].data[i] = orig - eps;
            let lm = loss(&mut net, &input, n, &r);
            net.params[k].data[i] = orig;
            let num = (lp - lm) / (2.0 * eps as f64);
            let ana = gk[i] as f64;
            // A perturbation can cross a ReLU or max-pooling kink; those few are tolerated.
            if (num - ana).abs() > 2e-2 * (1.0 + num.abs()) {
                off.push(format!(
                    "{}[{i}]: backward {ana}, finite difference {num}",
                    net.params[k].name
                ));
            }
            checked += 1;
        }
    }
    assert!(checked > 50);
    assert!(
        off.len() * 30 <= checked,
        "{} of {checked} off: {off:#?}",
        off.len()
    );
}

fn naive_pad(x: &[f32], g: &ConvGeom, s: usize, ci: usize, y: isize, xx: isize) -> Option<f32> {
    if y < 0 || xx < 0 || y >= g.h as isize || xx >= g.w as isize {
        return None;
    }
    Some(x[((s * g.cin + ci) * g.h + y as usize) * g.w + xx as usize])
}

#[test]
fn adder_forward_and_addernet_gradients_match_a_naive_implementation() {
    let mut rng = rng();
    let g = ConvGeom {
        cin: 3,
        h: 5,
        w: 4,
        cout: 2,
        kh: 3,
        kw: 3,
        stride: 1,
        pad: 1,
    };
    let node = ConvNode {
        kind: ConvKind::Adder,
        g,
        output: ConvOutput::Handoff,
        w: 0,
        sign: None,
        bn: None,
    };
    let n = 18;
    let x: Vec<f32> = (0..n * 60).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let w: Vec<f32> = (0..g.weight_len())
        .map(|_| rng.gen_range(-2.0..2.0))
        .collect();
    let (oh, ow) = (5, 4);
    let gv: Vec<f32> = (0..n * 2 * oh * ow)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let v = conv_forward(&node, &w, &x, n);
    let (gw, gx) = conv_backward(&node, &w, &x, &gv, n, true);
    let gx = gx.unwrap();
    let mut nv = vec![0f32; v.len()];
    let mut ngw = vec![0f64; w.len()];
    let mut ngx = vec![0f64; x.len()];
    for s in 0..n {
        for co in 0..2 {
            for oy in 0..oh {
                for ox in 0..ow {
                    let o = ((s * 2 + co) * oh + oy) * ow + ox;
                    for ci in 0..3 {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let t = (ci * 3 + ky) * 3 + kx;
                                let wt = w[co * 27 + t];
                                let (y, xx) =
                                    (oy as isize + ky as isize - 1, ox as isize + kx as isize - 1);
                                // Padded taps are x = 0: they add |w| and take part in dL/dw.
                                let xv = naive_pad(&x, &g, s, ci, y, xx);
                                let xe = xv.unwrap_or(0.0);
                                nv[o] -= (xe - wt).abs();
                                ngw[co * 27 + t] += gv[o] as f64 * (xe - wt) as f64;
                                if xv.is_some() {
                                    let i = ((s * 3 + ci) * 5 + y as usize) * 4 + xx as usize;
                                    ngx[i] += gv[o] as f64 * (wt - xe).clamp(-1.0, 1.0) as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    for (a, b) in v.iter().zip(&nv) {
        assert!((a - b).abs() < 1e-3, "forward {a} vs {b}");
    }
    for (a, b) in gw.iter().zip(&ngw) {
        assert!(
            (*a as f64 - b).abs() < 1e-2 * (1.0 + b.abs()),
            "dL/dw {a} vs {b}"
        );
    }
    for (a, b) in gx.iter().zip(&ngx) {
        assert!(
            (*a as f64 - b).abs() < 1e-3 * (1.0 + b.abs()),
            "dL/dx {a} vs {b}"
        );
    }
}

#[test]
fn adder_forward_matches_the_integer_reference_on_integer_values() {
    // numerics.md worked example 5.
    let g = ConvGeom {
        cin: 1,
        h: 3,
        w: 3,
        cout: 1,
        kh: 2,
        kw: 2,
        stride: 1,
        pad: 1,
    };
    let xi = [3, -2, 0, 1, 5, -4, 2, 0, 7];
    let wi = [1, -1, 2, 0];
    let node = ConvNode {
        kind: ConvKind::Adder,
        g,
        output: ConvOutput::Handoff,
        w: 0,
        sign: None,
        bn: None,
    };
    let xf: Vec<f32> = xi.iter().map(|v| *v as f32).collect();
    let wf: Vec<f32> = wi.iter().map(|v| *v as f32).collect();
    let v = conv_forward(&node, &wf, &xf, 1);
    let t = Tensor {
        c: 1,
        h: 3,
        w: 3,
        data: xi.to_vec(),
    };
    let r = adder_conv(&t, &g, &wi);
    let want: Vec<f32> = r.data.iter().map(|v| *v as f32).collect();
    assert_eq!(v, want);
    assert_eq!(v[0], -7.0);
}

#[test]
fn shift_weights_decode_as_numerics_md() {
    // numerics.md worked example 1 (shift_wb = 5, pmax = 14).
    let p = [-15.3f32, -14.5, -13.5, -2.5, -3.5, -0.5, 0.4, -7.49];
    let s = [0.5f32, -0.5, 0.5001, -0.5001, 1.5, 2.5, -3.0, 0.0];
    let want_p = [-14, -14, -14, -2, -4, 0, 0, -7];
    let want_s = [0, 0, 1, -1, 1, 1, -1, 0];
    for i in 0..8 {
        let w = shift_value(p[i], s[i], 14);
        assert_eq!(
            w,
            want_s[i] as f32 * (want_p[i] as f32).exp2(),
            "element {i}"
        );
    }
}

#[test]
fn shift_straight_through_gradients() {
    // dL/dP = dL/dw * d(s 2^P)/dP at the rounded point; dL/dS = dL/dw (DeepShift-PS).
    let p = [-3.2f32, -0.4, -7.6, -2.0];
    let s = [0.9f32, -1.2, 0.7, 0.2];
    let gw = [0.5f32, -1.5, 2.0, 1.0];
    let w: Vec<f32> = p
        .iter()
        .zip(&s)
        .map(|(p, s)| shift_value(*p, *s, 14))
        .collect();
    let (gp, gs) = shift_grads(&w, &gw);
    for i in 0..4 {
        let (pr, sg) = (
            p[i].round() as f64,
            w[i].signum() as f64 * (w[i] != 0.0) as u8 as f64,
        );
        let h = 1e-6;
        let num = ((sg * (pr + h).exp2()) - (sg * (pr - h).exp2())) / (2.0 * h) * gw[i] as f64;
        assert!(
            (gp[i] as f64 - num).abs() < 1e-4 * (1.0 + num.abs()),
            "P {i}: {} vs {num}",
            gp[i]
        );
        assert_eq!(gs[i], gw[i]);
    }
    // A zero weight (|S| <= 0.5) passes no gradient to its exponent.
    assert_eq!(gp[3], 0.0);
}

#[test]
fn shift_layer_gradients_follow_its_linear_backward() {
    // A shift classifier against the same network with its decoded weights as multiply weights.
    let mut rng = rng();
    let graph = |kind| Graph {
        arch: "shiftcheck".into(),
        input: InputShape {
            channels: 3,
            height: 4,
            width: 4,
        },
        classes: 5,
        nodes: vec![
            Node {
                name: "flat".into(),
                input: "input".into(),
                op: Op::Flatten,
            },
            conv("fc", "flat", kind, [5, 1, 1, 0], ConvOutput::Logits),
        ],
    };
    let f = presets::seed().formats;
    let mut shift = Net::new(&graph(ConvKind::Shift), f, 5).unwrap();
    let mut mult = Net::new(&graph(ConvKind::Mult), f, 5).unwrap();
    mult.exact = true;
    let Layer::Conv(c) = &shift.layers[1] else {
        panic!()
    };
    let w_eff = shift.effective_weights(c);
    let Layer::Conv(cm) = &mult.layers[1] else {
        panic!()
    };
    let wi = cm.w;
    mult.params[wi].data = w_eff.clone();
    let n = 7;
    // Inputs on the Q16.16 grid, so the shift network's rounding is exact.
    let input: Vec<f32> = (0..n * 48)
        .map(|_| (rng.gen_range(-65536..65536) as f32) / 65536.0)
        .collect();
    let r: Vec<f32> = (0..n * 5).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let ts = shift.forward(input.clone(), n, true);
    let tm = mult.forward(input, n, true);
    assert_eq!(ts.logits(), tm.logits());
    let gs = shift.backward(&ts, r.clone(), 0.1);
    let gm = mult.backward(&tm, r, 0.1);
    let Layer::Conv(c) = &shift.layers[1] else {
        panic!()
    };
    let (pi, si) = (c.w, c.sign.unwrap());
    for i in 0..w_eff.len() {
        let gw = gm[wi][i];
        assert_eq!(gs[si][i], gw);
        assert!((gs[pi][i] - gw * w_eff[i] * std::f32::consts::LN_2).abs() < 1e-6);
    }
}
