//! A briefly trained float network, exported to the integer model, agrees with its float forward
//! pass when run through the reference model.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shiftadd_sim::archs;
use shiftadd_sim::spec::presets;
use shiftadd_train::net::Net;
use shiftadd_train::{batch_input, export, predict_float, train, Images, TrainOptions};

fn random_images(n: usize, seed: u64) -> Images {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Smooth-ish images: a random base level per image plus noise, so that activations vary.
    let mut pixels = Vec::with_capacity(n * 784);
    for _ in 0..n {
        let base: i32 = rng.gen_range(0..200);
        for _ in 0..784 {
            pixels.push((base + rng.gen_range(0..56)) as u8);
        }
    }
    Images {
        count: n,
        shape: [1, 28, 28],
        pixels,
        labels: (0..n).map(|_| rng.gen_range(0..10)).collect(),
    }
}

#[test]
fn exported_models_match_the_float_forward_pass() {
    let cfg = presets::seed();
    let data = random_images(64, 1);
    let test = random_images(48, 2);
    for fam in ["shiftadd", "mult", "shift", "adder"] {
        let arch = format!("lenet-{fam}");
        let graph = archs::by_name(&arch).unwrap();
        let mut net = Net::new(&graph, cfg.formats, 3).unwrap();
        let opts = TrainOptions {
            epochs: 1,
            batch: 32,
            ..Default::default()
        };
        train(&mut net, &data, &opts, |_| {}).unwrap();
        let model = export::to_model(&net, &cfg).unwrap();
        let float = predict_float(&mut net, &test);
        let fixed = export::predict_fixed(&model, &test).unwrap();
        let agree = float.iter().zip(&fixed).filter(|(a, b)| a == b).count();
        assert!(agree >= 46, "{arch}: {agree} of 48 predictions agree");
        // Logits: the reference model's are codes with act_frac fractional bits.
        let runner = model.runner().unwrap();
        let idx: Vec<usize> = (0..8).collect();
        let tape = net.forward(batch_input(&net, &test, &idx, None), 8, false);
        let scale = (-(cfg.formats.act_frac as f64)).exp2();
        for (k, fl) in tape.logits().chunks(10).enumerate() {
            let r = runner.run_image(test.image(k), false);
            for (a, b) in fl.iter().zip(&r.logits) {
                let b = *b as f64 * scale;
                assert!(
                    (*a as f64 - b).abs() <= 1e-2 * (1.0 + b.abs()),
                    "{arch}, image {k}: float logit {a}, fixed {b}"
                );
            }
        }
    }
}

#[test]
fn training_is_determined_by_the_seed_whatever_the_threads() {
    let cfg = presets::seed();
    let data = random_images(40, 5);
    let graph = archs::by_name("lenet-shiftadd").unwrap();
    let run = |threads: usize, seed: u64| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = Net::new(&graph, cfg.formats, seed).unwrap();
            let opts = TrainOptions {
                epochs: 1,
                batch: 20,
                seed,
                ..Default::default()
            };
            train(&mut net, &data, &opts, |_| {}).unwrap();
            net.params.into_iter().map(|p| p.data).collect::<Vec<_>>()
        })
    };
    let a = run(1, 9);
    assert!(a == run(2, 9), "one and two threads differ");
    assert!(a != run(2, 10), "the seed has no effect");
}
