//! `shiftadd import --from seed`: checkpoints written by `scripts/seed-fixture.py` (PyTorch, both
//! file formats) imported, and run through the reference model against the float64 logits and
//! block outputs of the original's inference numerics that the script computed.

use serde_json::Value as Json;
use shiftadd_sim::cifar::read_cifar;
use shiftadd_sim::net::{Model, Value};
use shiftadd_sim::spec::{presets, AccelConfig};
use shiftadd_train::seed::{import_seed, ImportError, ImportOptions, ImportReport};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testbenches/fixtures/seed")
        .join(name)
}

fn outputs() -> &'static Json {
    static OUT: OnceLock<Json> = OnceLock::new();
    OUT.get_or_init(|| {
        serde_json::from_slice(&std::fs::read(fixture("outputs.json")).unwrap()).unwrap()
    })
}

fn images() -> (Vec<u8>, Vec<u8>) {
    read_cifar(&fixture("test_batch.bin"), None, 1 << 20).unwrap()
}

fn opts(cfg: AccelConfig) -> ImportOptions {
    ImportOptions {
        arch: "resnet20-shiftadd".into(),
        cfg,
        norm: None,
        allow_rounding: false,
    }
}

fn import(name: &str, cfg: AccelConfig) -> Result<(Model, ImportReport), ImportError> {
    import_seed(&fixture(name), &opts(cfg))
}

/// The largest difference between the model's logits (in real units) and the original's, over
/// every input; asserts the same prediction on each.
fn logit_error(model: &Model, conf: &str) -> f64 {
    let (pixels, _) = images();
    let want = outputs()["configurations"][conf]["logits"]
        .as_array()
        .unwrap();
    let runner = model.runner().unwrap();
    let unit = (model.formats.act_frac as f64).exp2();
    let mut worst = 0f64;
    for (i, w) in want.iter().enumerate() {
        let r = runner.run_image(&pixels[i * 3072..(i + 1) * 3072], false);
        let w: Vec<f64> = w
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let best = (0..w.len()).fold(0, |b, k| if w[k] > w[b] { k } else { b });
        assert_eq!(
            r.prediction, best,
            "{conf} image {i}: {:?} vs {w:?}",
            r.logits
        );
        for (g, w) in r.logits.iter().zip(&w) {
            worst = worst.max((*g as f64 / unit - w).abs());
        }
    }
    worst
}

#[test]
fn both_file_formats_import_to_the_same_model() {
    let (zip, rz) = import("checkpoint.pth.tar", presets::seed()).unwrap();
    let (legacy, rl) = import("model_best.pth.tar", presets::seed()).unwrap();
    assert_eq!(zip, legacy);
    assert!(rz.wrapped && rz.module_prefix && !rl.wrapped && !rl.module_prefix);
    assert_eq!((rz.epoch, rz.best_prec1), (Some(160), Some(91.25)));
    assert_eq!(rl.locations, ["cuda:0"]);
    assert_eq!((rz.keys, rz.seed_config), (214, "FIX"));
    assert_eq!((rz.shifts_rounded, rz.signs_rounded), (0, 0));
}

#[test]
fn fix8_logits_and_blocks_agree_with_the_originals() {
    let (model, _) = import("checkpoint.pth.tar", presets::seed()).unwrap();
    let err = logit_error(&model, "FIX8");
    eprintln!("FIX8: largest logit difference {err:.2e}");
    assert!(err < 1e-3, "{err}");
    // The first image's stem and block outputs, Q16.16 codes against float64.
    let (pixels, _) = images();
    let r = model.runner().unwrap().run_image(&pixels[..3072], true);
    let values = r.values.unwrap();
    let blocks = outputs()["blocks"].as_object().unwrap();
    for (block, want) in blocks {
        let node = if block == "stem" {
            "conv1".to_string()
        } else {
            format!("{block}.conv2.1")
        };
        let idx = model
            .graph
            .nodes
            .iter()
            .position(|n| n.name == node)
            .unwrap();
        let Value::Act(t) = &values[idx] else {
            panic!("{node}: not activations")
        };
        let want = want.as_array().unwrap();
        assert_eq!(t.data.len(), want.len(), "{block}");
        let worst = t
            .data
            .iter()
            .zip(want)
            .map(|(g, w)| (*g as f64 / 65536.0 - w.as_f64().unwrap()).abs())
            .fold(0f64, f64::max);
        eprintln!("{block}: largest difference {worst:.2e}");
        assert!(worst < 1e-3, "{block}: {worst}");
    }
}

#[test]
fn fix16_logits_agree_with_the_originals() {
    let (model, _) = import("checkpoint.pth.tar", presets::seed_fix16()).unwrap();
    assert_eq!(model.formats.add_frac, 15);
    let err = logit_error(&model, "FIX16");
    // The same checkpoint on the FIX8 grid is further from the original's FIX16 logits.
    let (fix8, _) = import("checkpoint.pth.tar", presets::seed()).unwrap();
    let err8 = logit_error(&fix8, "FIX16");
    eprintln!("FIX16: largest logit difference {err:.2e} (the FIX8 import: {err8:.2e})");
    assert!(err < 1e-3 && err < err8 / 2.0, "{err} vs {err8}");
}

#[test]
fn fp32_weights_on_an_integer_grid_measured() {
    // The same weights with the original's float adder: what an integer grid costs.
    let (fix8, _) = import("checkpoint.pth.tar", presets::seed()).unwrap();
    let (fix16, _) = import("checkpoint.pth.tar", presets::seed_fix16()).unwrap();
    let e8 = logit_error(&fix8, "FP32");
    let e16 = logit_error(&fix16, "FP32");
    eprintln!("FP32 logits: largest difference {e8:.2e} on 2^-7, {e16:.2e} on 2^-15");
    assert!(e16 < e8, "{e16} vs {e8}");
}

#[test]
fn accepted_variants_of_the_state_dict() {
    // Older `*.weight` names of the adder weights, under `module.`.
    let (_, r) = import("variants/weight-names.pth.tar", presets::seed()).unwrap();
    assert_eq!((r.weight_names, r.module_prefix, r.keys), (20, true, 214));
    // Its shared storage holds values in [0, 1): whole shifts and ternary signs are not.
    assert!(r.shifts_rounded > 0 && r.signs_rounded > 0);
    // FP32: refused, then accepted with the rounding measured.
    let e = import("variants/fp32.pth.tar", presets::seed()).unwrap_err();
    assert!(e.what.contains("--allow-rounding"), "{e}");
    let mut o = opts(presets::seed());
    o.allow_rounding = true;
    let (_, r) = import_seed(&fixture("variants/fp32.pth.tar"), &o).unwrap();
    assert_eq!(r.seed_config, "FP32");
    let ro = r.rounding.unwrap();
    assert_eq!(ro.weights, 295_424);
    assert!(ro.max_lsb <= 0.5 && ro.mean_lsb > 0.1, "{ro:?}");
}

#[test]
fn refusals_name_the_key() {
    let cases = [
        (
            "variants/sbm.pth.tar",
            "layer2.1.conv1.1.quantize_input_fw.running_range",
            "sbm",
        ),
        (
            "variants/unknown-key.pth.tar",
            "layer1.0.conv3.0.shift",
            "unknown",
        ),
        (
            "variants/missing-key.pth.tar",
            "layer2.1.bn1.running_var",
            "missing",
        ),
        ("variants/cifar100.pth.tar", "fc.shift", "[100, 64, 1, 1]"),
        ("variants/float16.pth.tar", "layer1.0.bn1.weight", "float16"),
    ];
    for (file, key, what) in cases {
        let e = import(file, presets::seed()).unwrap_err();
        assert_eq!(e.field, key, "{file}: {e}");
        assert!(e.what.contains(what), "{file}: {e}");
        assert!(e.to_string().contains(file), "{file}: {e}");
    }
    let mut o = opts(presets::seed());
    o.arch = "lenet-shiftadd".into();
    let e = import_seed(&fixture("checkpoint.pth.tar"), &o).unwrap_err();
    assert_eq!(e.field, "--arch", "{e}");
    // Not a checkpoint at all.
    let e = import("test_batch.bin", presets::seed()).unwrap_err();
    assert!(e.what.contains("not a file torch.save wrote"), "{e}");
}
