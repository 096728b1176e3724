//! Export of a float network to the integer model of numerics.md, and fixed-point evaluation
//! through the reference model.

use crate::net::{fold, mult_frac, Layer, Net};
use crate::Images;
use rayon::prelude::*;
use shiftadd_sim::net::{ConvKind, ConvParams, Graph, Model, Weights};
use shiftadd_sim::numerics::{adder_code_from_f32, decode_shift_weight, rne_code_from_f64};
use shiftadd_sim::random::fold_batch_norm;
use shiftadd_sim::spec::AccelConfig;

/// The integer model of `net` in `cfg`'s formats and post-processing widths: shift `(sign, m)`
/// decoded from the latent parameters, adder codes `rne(w * 2^add_frac)`, multiply codes on the
/// layer's grid, batch norm (running statistics) folded into `M_c`, `B_c`, `S` with the largest
/// `S` the widths allow. The result has passed `check_params`.
pub fn to_model(net: &Net, cfg: &AccelConfig) -> Result<Model, String> {
    let f = cfg.formats;
    let mut params = Vec::with_capacity(net.layers.len());
    for (node, layer) in net.graph.nodes.iter().zip(&net.layers) {
        let Layer::Conv(c) = layer else {
            params.push(None);
            continue;
        };
        let w = &net.params[c.w].data;
        let mut mul_fr = 0;
        let weights = match c.kind {
            ConvKind::Shift => {
                let s = &net.params[c.sign.expect("shift sign")].data;
                let d: Vec<_> = w
                    .iter()
                    .zip(s)
                    .map(|(p, s)| decode_shift_weight(*p, *s, f.pmax()))
                    .collect();
                Weights::Shift {
                    sign: d.iter().map(|x| x.s).collect(),
                    m: d.iter().map(|x| x.m).collect(),
                }
            }
            ConvKind::Adder => Weights::Adder {
                codes: w
                    .iter()
                    .map(|v| adder_code_from_f32(*v, f.add_bits, f.add_frac).0)
                    .collect(),
            },
            ConvKind::Mult => {
                mul_fr = mult_frac(w, f.mul_bits);
                Weights::Mult {
                    codes: w
                        .iter()
                        .map(|v| rne_code_from_f64(*v as f64, mul_fr as i32, f.mul_bits).0 as i32)
                        .collect(),
                    frac: mul_fr,
                }
            }
        };
        let post = match &c.bn {
            None => None,
            Some(bn) => {
                let (a, b) = fold(
                    &net.params[bn.gamma].data,
                    &net.params[bn.beta].data,
                    &bn.mean,
                    &bn.var,
                );
                let a: Vec<f64> = a.iter().map(|x| *x as f64).collect();
                let b: Vec<f64> = b.iter().map(|x| *x as f64).collect();
                let f_v = Graph::f_v(c.kind, &f, mul_fr);
                Some(
                    fold_batch_norm(&a, &b, f_v, cfg, cfg.post_s_max)
                        .map_err(|e| format!("layer `{}`: {e}", node.name))?,
                )
            }
        };
        params.push(Some(ConvParams { weights, post }));
    }
    let model = Model {
        graph: net.graph.clone(),
        formats: f,
        norm: net.norm.clone(),
        params,
    };
    model.check_params().map_err(|e| e.to_string())?;
    Ok(model)
}

/// Fixed-point predictions of every image through the reference model.
pub fn predict_fixed(model: &Model, data: &Images) -> Result<Vec<usize>, String> {
    let runner = model.runner().map_err(|e| e.to_string())?;
    Ok((0..data.count)
        .into_par_iter()
        .map(|k| runner.run_image(data.image(k), false).prediction)
        .collect())
}
