//! shiftadd-train: quantisation-aware training in float32 of ShiftAddNet and its three twins
//! (multiply, DeepShift, AdderNet) on any built-in graph, and the export of a trained network to
//! the integer model of numerics.md.
//!
//! Shift layers train latent signs and exponents through straight-through estimators
//! (DeepShift-PS); adder layers use AdderNet's full-precision weight gradient with its adaptive
//! scale and the HardTanh-clipped input gradient. The optimiser is Adam with a cosine schedule.
//! Work is data-parallel over fixed chunks of each minibatch, and every reduction runs in a fixed
//! order, so a run is determined by its seed whatever the number of threads.

pub mod checkpoint;
pub mod export;
pub mod kernels;
pub mod net;
pub mod seed;
pub mod torch_file;

use net::{cross_entropy, Net, ParamKind};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shiftadd_sim::net::input_lut;
use std::time::Instant;

/// Labelled 8-bit images.
#[derive(Clone, Debug)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// `[c, h, w]`.
    pub shape: [usize; 3],
    /// `count * c * h * w` pixels.
    pub pixels: Vec<u8>,
    /// Labels.
    pub labels: Vec<u8>,
}

impl Images {
    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.iter().product::<usize>();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Training settings.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Peak learning rate (Adam).
    pub lr: f32,
    /// Learning-rate factor of the latent shift exponents and signs, which must move by 0.5 to
    /// change a weight.
    pub shift_lr_scale: f32,
    /// AdderNet's `eta` of the adaptive gradient scale.
    pub eta: f32,
    /// Random horizontal flips of the training images.
    pub flip: bool,
    /// Seed of initialisation, shuffling and flips.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            batch: 128,
            lr: 5e-3,
            shift_lr_scale: 5.0,
            eta: 0.1,
            flip: true,
            seed: 1,
        }
    }
}

/// Where training is, for a progress display.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Epochs.
    pub epochs: usize,
    /// Images done in this epoch.
    pub done: usize,
    /// Images per epoch.
    pub total: usize,
    /// Mean loss so far in this epoch.
    pub loss: f32,
    /// Training accuracy so far in this epoch.
    pub accuracy: f32,
    /// Training throughput so far in this epoch.
    pub images_per_s: f64,
}

/// Network input of the images `idx`, on the activation grid, optionally flipped left-right.
pub fn batch_input(net: &Net, data: &Images, idx: &[usize], flips: Option<&[bool]>) -> Vec<f32> {
    let (lut, _) = input_lut(&net.norm, &net.formats);
    let scale = (-(net.formats.act_frac as f32)).exp2();
    let [c, h, w] = data.shape;
    let mut out = Vec::with_capacity(idx.len() * c * h * w);
    for (k, &i) in idx.iter().enumerate() {
        let img = data.image(i);
        let flip = flips.is_some_and(|f| f[k]);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let xx = if flip { w - 1 - x } else { x };
                    let u = img[(ch * h + y) * w + xx];
                    out.push(lut[ch][u as usize] as f32 * scale);
                }
            }
        }
    }
    out
}

/// Adam state.
struct Adam {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl Adam {
    fn new(net: &Net) -> Adam {
        let zeros = || net.params.iter().map(|p| vec![0.0; p.data.len()]).collect();
        Adam {
            m: zeros(),
            v: zeros(),
            t: 0,
        }
    }

    fn step(&mut self, net: &mut Net, grads: &[Vec<f32>], lr: f32, shift_scale: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        let pmax = net.formats.pmax() as f32;
        for (k, p) in net.params.iter_mut().enumerate() {
            let lr_k = match p.kind {
                ParamKind::ShiftP | ParamKind::ShiftS => lr * shift_scale,
                _ => lr,
            };
            let (m, v, g) = (&mut self.m[k], &mut self.v[k], &grads[k]);
            for i in 0..p.data.len() {
                m[i] = B1 * m[i] + (1.0 - B1) * g[i];
                v[i] = B2 * v[i] + (1.0 - B2) * g[i] * g[i];
                p.data[i] -= lr_k * (m[i] / c1) / ((v[i] / c2).sqrt() + EPS);
            }
            match p.kind {
                // DeepShift-PS keeps the latent exponent in the representable range.
                ParamKind::ShiftP => p.data.iter_mut().for_each(|x| *x = x.clamp(-pmax, 0.0)),
                // A sign far beyond +-1.5 decodes alike; bounding it keeps it able to flip.
                ParamKind::ShiftS => p.data.iter_mut().for_each(|x| *x = x.clamp(-1.5, 1.5)),
                _ => {}
            }
        }
    }
}

/// Trains `net` on `data`; calls `report` after every minibatch.
pub fn train(
    net: &mut Net,
    data: &Images,
    opts: &TrainOptions,
    mut report: impl FnMut(&Progress),
) -> Result<(), String> {
    if opts.epochs == 0 || opts.batch == 0 {
        return Err("epochs and batch must be at least 1".into());
    }
    if data.count == 0 {
        return Err("no training images".into());
    }
    let classes = net.graph.classes;
    if let Some(k) = data.labels.iter().position(|l| *l as usize >= classes) {
        return Err(format!(
            "label {} of image {k} is not a class (0..{classes})",
            data.labels[k]
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x7ea1_5eed);
    let mut adam = Adam::new(net);
    let steps_per_epoch = data.count.div_ceil(opts.batch);
    let total_steps = (steps_per_epoch * opts.epochs) as f32;
    let mut step = 0usize;
    for epoch in 1..=opts.epochs {
        let mut order: Vec<usize> = (0..data.count).collect();
        order.shuffle(&mut rng);
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut done) = (0f64, 0usize, 0usize);
        for idx in order.chunks(opts.batch) {
            let flips: Vec<bool> = idx.iter().map(|_| opts.flip && rng.gen::<bool>()).collect();
            let input = batch_input(net, data, idx, Some(&flips));
            let labels: Vec<u8> = idx.iter().map(|i| data.labels[*i]).collect();
            let tape = net.forward(input, idx.len(), true);
            let (loss, ok, g) = cross_entropy(tape.logits(), &labels, classes);
            if !loss.is_finite() {
                return Err(format!(
                    "the loss diverged at epoch {epoch}, step {step}; try a lower --lr"
                ));
            }
            let grads = net.backward(&tape, g, opts.eta);
            // Cosine decay from the peak rate to zero over the run.
            let lr =
                opts.lr * 0.5 * (1.0 + (std::f32::consts::PI * step as f32 / total_steps).cos());
            adam.step(net, &grads, lr, opts.shift_lr_scale);
            step += 1;
            loss_sum += loss as f64 * idx.len() as f64;
            correct += ok;
            done += idx.len();
            report(&Progress {
                epoch,
                epochs: opts.epochs,
                done,
                total: data.count,
                loss: (loss_sum / done as f64) as f32,
                accuracy: correct as f32 / done as f32,
                images_per_s: done as f64 / start.elapsed().as_secs_f64(),
            });
        }
    }
    Ok(())
}

/// Float (quantisation-aware, running batch-norm statistics) predictions of every image.
pub fn predict_float(net: &mut Net, data: &Images) -> Vec<usize> {
    let mut preds = Vec::with_capacity(data.count);
    let k = net.graph.classes;
    let all: Vec<usize> = (0..data.count).collect();
    for idx in all.chunks(256) {
        let input = batch_input(net, data, idx, None);
        let tape = net.forward(input, idx.len(), false);
        preds.extend(tape.logits().chunks(k).map(net::argmax));
    }
    preds
}

/// Fraction of `preds` equal to the labels.
pub fn accuracy(preds: &[usize], labels: &[u8]) -> f64 {
    let ok = preds
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as usize)
        .count();
    ok as f64 / preds.len().max(1) as f64
}
