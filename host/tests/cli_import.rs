//! `shiftadd import --from seed` and CIFAR-format data: a checkpoint of the original code's
//! format (written by `scripts/seed-fixture.py` with PyTorch) imported, then run through the
//! engine's RTL on its CIFAR-10 binary inputs, which are labelled with the original's own
//! predictions; refusals by key, option and record.

mod common;
use common::{fails, ok, tmp};
use serde_json::Value;
use std::path::PathBuf;

const FIXTURE: &str = "testbenches/fixtures/seed";

fn fixture(name: &str) -> String {
    format!("{FIXTURE}/{name}")
}

fn import(ckpt: &str, preset: &str, out: &str) -> PathBuf {
    let dir = tmp(out);
    let text = ok(&[
        "import",
        "--from",
        "seed",
        &fixture(ckpt),
        "--preset",
        preset,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(text.contains("214 keys"), "{text}");
    dir
}

/// Runs `infer` through the RTL; asserts every layer bit-exact with equal cycles and the
/// original's prediction on every image.
fn rtl_agrees(model: &std::path::Path, limit: &str, config: &str) {
    let out = tmp(&format!("infer-import-{config}.json"));
    let text = ok(&[
        "infer",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &fixture("test_batch.bin"),
        "--limit",
        limit,
        "--json",
        out.to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["config"], config, "{text}");
    assert_eq!(doc["bit_exact"], true, "{text}");
    for l in doc["layers"].as_array().unwrap() {
        assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
    }
    // The labels are the original's predictions.
    assert_eq!(doc["correct"], doc["images"], "{text}");
    assert_eq!(doc["images"], limit.parse::<u64>().unwrap());
}

#[test]
fn an_imported_fix8_checkpoint_runs_through_the_rtl_with_the_originals_predictions() {
    let model = import("model_best.pth.tar", "seed", "import-fix8");
    rtl_agrees(&model, "2", "seed");
}

#[test]
fn an_imported_fix16_checkpoint_runs_through_the_rtl_of_seed_fix16() {
    let model = import("checkpoint.pth.tar", "seed-fix16", "import-fix16");
    rtl_agrees(&model, "1", "seed-fix16");
}

#[test]
fn refusals_name_the_key_the_option_or_the_record() {
    let out = tmp("import-refused");
    let o = out.to_str().unwrap();
    let err = fails(&[
        "import",
        "--from",
        "seed",
        &fixture("variants/missing-key.pth.tar"),
        "--out",
        o,
    ]);
    assert!(err.contains("`layer2.1.bn1.running_var`: missing"), "{err}");
    let err = fails(&[
        "import",
        "--from",
        "seed",
        &fixture("variants/fp32.pth.tar"),
        "--out",
        o,
    ]);
    assert!(err.contains("--allow-rounding"), "{err}");
    let err = fails(&[
        "import",
        "--from",
        "seed",
        &fixture("checkpoint.pth.tar"),
        "--mean",
        "0.5,0.5",
        "--std",
        "1,1,1",
        "--out",
        o,
    ]);
    assert!(err.contains("--mean: 2 values given"), "{err}");
    assert!(!out.join("model.safetensors").exists());

    // CIFAR-10 binary files: a cut record, and a label past CIFAR-10's ten classes.
    let bytes = std::fs::read(common::root().join(fixture("test_batch.bin"))).unwrap();
    let cut = tmp("cut_batch.bin");
    std::fs::write(&cut, &bytes[..3073 + 100]).unwrap();
    let err = fails(&["infer", "--backend", "ref", "--data", cut.to_str().unwrap()]);
    assert!(
        err.contains("cut_batch.bin") && err.contains("3073-byte records"),
        "{err}"
    );
    let mut bad = bytes.clone();
    bad[3073] = 10;
    let label = tmp("label_batch.bin");
    std::fs::write(&label, &bad).unwrap();
    let err = fails(&[
        "infer",
        "--backend",
        "ref",
        "--data",
        label.to_str().unwrap(),
    ]);
    assert!(err.contains("record 1: field `label` is 10"), "{err}");
}

#[test]
fn cifar_binary_and_four_dimensional_idx_data_read_alike() {
    let model = import("checkpoint.pth.tar", "seed", "import-data");
    let m = model.to_str().unwrap();
    let text = ok(&[
        "infer",
        "--backend",
        "ref",
        "--model",
        m,
        "--data",
        &fixture("test_batch.bin"),
    ]);
    assert!(text.contains("accuracy 10/10"), "{text}");
    // The same images as a 4-dimensional IDX file (n, c, h, w) and an IDX labels file.
    let bytes = std::fs::read(common::root().join(fixture("test_batch.bin"))).unwrap();
    let n = bytes.len() / 3073;
    let mut images = vec![0, 0, 8, 4];
    let mut labels = vec![0, 0, 8, 1];
    for d in [n, 3, 32, 32] {
        images.extend((d as u32).to_be_bytes());
    }
    labels.extend((n as u32).to_be_bytes());
    for r in bytes.chunks(3073) {
        labels.push(r[0]);
        images.extend(&r[1..]);
    }
    let dir = tmp("cifar-idx4");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t10k-images-idx4-ubyte"), &images).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    let text = ok(&[
        "infer",
        "--backend",
        "ref",
        "--model",
        m,
        "--data",
        dir.to_str().unwrap(),
    ]);
    assert!(text.contains("accuracy 10/10"), "{text}");
    // A folder holding test_batch.bin.
    let text = ok(&[
        "infer",
        "--backend",
        "ref",
        "--model",
        m,
        "--data",
        FIXTURE,
        "--limit",
        "3",
    ]);
    assert!(text.contains("accuracy 3/3"), "{text}");
}

/// `seed-fix16` hands off without clipping: a LeNet ShiftAddNet at its formats whose first
/// layer (weights 1, `M_c` 1, `S` 0) puts every activation at the clamp, so that `conv2.0` (25
/// taps of 16 channels, weights 1) hands off `200 * (2^31 - 2^16)` on the 2^-15 grid, about
/// 2^38.6; the reference saturates none (32-bit codes would), and the engine's RTL agrees bit for
/// bit, the wide codes read back from its buffers.
#[test]
fn seed_fix16_hands_off_without_clipping_through_the_rtl() {
    use shiftadd_sim::net::{InputNorm, Value as NetValue, Weights};
    use shiftadd_sim::spec::presets;
    let graph = shiftadd_sim::archs::lookup("lenet-shiftadd").unwrap();
    let cfg = presets::seed_fix16();
    let mut model = shiftadd_sim::random::random_model(&graph, &cfg, 3).unwrap();
    model.norm = InputNorm {
        mean: vec![0.0],
        std: vec![0.01],
    };
    for name in ["conv1", "conv2.0"] {
        let i = graph.nodes.iter().position(|n| n.name == name).unwrap();
        let p = model.params[i].as_mut().unwrap();
        let Weights::Shift { sign, m } = &mut p.weights else {
            panic!("{name} is a shift layer")
        };
        sign.fill(1);
        m.fill(0);
        if let Some(post) = p.post.as_mut() {
            post.m.fill(1);
            post.b.fill(0);
            post.s = 0;
        }
    }
    let pixels = vec![255u8; 28 * 28];
    let run = model.runner().unwrap().run_image(&pixels, true);
    let biggest = run
        .values
        .unwrap()
        .iter()
        .filter_map(|v| match v {
            NetValue::Adder(t) => t.data.iter().map(|c| c.unsigned_abs()).max(),
            _ => None,
        })
        .max()
        .unwrap();
    // 16 * 25 taps at (2^31 - 2^16) / 2^16 real units, on 2^-15.
    assert_eq!(biggest, ((1u64 << 31) - (1 << 16)) * 200);
    assert!(
        run.layers.iter().all(|l| l.sat_add == 0),
        "{:?}",
        run.layers
    );
    // The same model with 32-bit adder codes clips them.
    let mut narrow = model.clone();
    narrow.formats.add_bits = 32;
    let clipped = narrow.runner().unwrap().run_image(&pixels, false);
    assert!(clipped.layers.iter().map(|l| l.sat_add).sum::<u64>() > 0);

    let dir = tmp("fix16-wide");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("model.safetensors");
    shiftadd_sim::model::save_model(&model, &file, None).unwrap();
    let out = dir.join("infer.json");
    let text = ok(&[
        "infer",
        "--model",
        file.to_str().unwrap(),
        "--data",
        "random",
        "--limit",
        "1",
        "--json",
        out.to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["config"], "seed-fix16", "{text}");
    assert_eq!(doc["bit_exact"], true, "{text}");
    for l in doc["layers"].as_array().unwrap() {
        assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
    }
}
