//! The `shiftadd` command, end to end.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::*;

/// An IDX file of unsigned bytes with dimensions `dims`.
fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(payload);
    v
}

#[test]
fn presets_list_and_json() {
    let names = ok(&["presets"]);
    let lines: Vec<&str> = names.lines().collect();
    assert!(lines.contains(&"seed"), "{names}");
    let full: Value = serde_json::from_str(&ok(&["presets", "--json"])).unwrap();
    let arr = full.as_array().unwrap();
    assert_eq!(arr.len(), lines.len());
    for (p, n) in arr.iter().zip(&lines) {
        assert_eq!(p["name"], *n);
        assert!(p["formats"]["act_bits"].is_u64());
        assert!(p["rows"].is_u64());
    }
}

#[test]
fn archs_list() {
    let out = ok(&["archs"]);
    for n in [
        "resnet20-shiftadd",
        "resnet20-mult",
        "resnet20-shift",
        "resnet20-adder",
        "lenet-shiftadd",
        "lenet-mult",
        "lenet-shift",
        "lenet-adder",
    ] {
        assert!(
            out.lines().any(|l| l.split_whitespace().next() == Some(n)),
            "{n} missing from\n{out}"
        );
    }
    let graphs: Value = serde_json::from_str(&ok(&["archs", "--json"])).unwrap();
    assert_eq!(graphs.as_array().unwrap().len(), 8);
}

#[test]
fn eval_layer_worked_example_5() {
    // numerics.md worked example 5: adder convolution with padding.
    let v = serde_json::json!({
        "kind": "adder", "in_shape": [1, 3, 3], "out_channels": 1, "kernel": [2, 2], "stride": 1, "pad": 1,
        "formats": {"act_bits": 32, "act_frac": 16, "shift_wb": 5, "add_bits": 32, "add_frac": 7, "mul_bits": 8, "mul_frac": 6},
        "input": [3, -2, 0, 1, 5, -4, 2, 0, 7],
        "weights": {"codes": [1, -1, 2, 0]}
    });
    let path = tmp("ex5.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out: Value = serde_json::from_str(&ok(&["eval-layer", path.to_str().unwrap()])).unwrap();
    assert_eq!(out["out_shape"], serde_json::json!([1, 4, 4]));
    assert_eq!(
        out["acc"],
        serde_json::json!([-7, -5, -6, -4, -8, -9, -11, -8, -7, -6, -16, -11, -6, -4, -11, -9])
    );
    assert!(out.get("out").is_none());
}

#[test]
fn eval_layer_wide_values_print_as_strings() {
    // One tap of the most negative Q16.16 code shifted by 14 with a sign of -1 is 2^45; 288 of
    // them sum to 288 * 2^45 > 2^53, printed as a string.
    let v = serde_json::json!({
        "kind": "shift", "in_shape": [32, 3, 3], "out_channels": 1, "kernel": [3, 3], "stride": 1, "pad": 0,
        "formats": {"act_bits": 32, "act_frac": 16, "shift_wb": 5, "add_bits": 32, "add_frac": 7, "mul_bits": 8},
        "input": vec![i32::MIN; 288],
        "weights": {"sign": vec![-1; 288], "m": vec![0; 288]}
    });
    let path = tmp("wide.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out: Value = serde_json::from_str(&ok(&["eval-layer", path.to_str().unwrap()])).unwrap();
    assert_eq!(out["acc"], serde_json::json!([(288u64 << 45).to_string()]));
}

#[test]
fn eval_layer_refuses_malformed_vectors_naming_the_field() {
    let path = tmp("bad.json");
    std::fs::write(&path, r#"{"kind": "conv"}"#).unwrap();
    let err = fails(&["eval-layer", path.to_str().unwrap()]);
    assert!(
        err.contains("field `kind`") && err.contains("bad.json"),
        "{err}"
    );
    let err = fails(&["eval-layer", "no/such/file.json"]);
    assert!(err.contains("no/such/file.json"), "{err}");
}

#[test]
fn infer_on_the_committed_subset_writes_json() {
    let out = tmp("infer.json");
    let text = ok(&[
        "infer",
        "--backend",
        "ref",
        "--model",
        "models/demo-lenet-shiftadd",
        "--preset",
        "seed",
        "--limit",
        "40",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("accuracy"), "{text}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["images"], 40);
    let correct = doc["correct"].as_u64().unwrap();
    assert!(correct <= 40);
    assert_eq!(doc["accuracy"].as_f64().unwrap(), correct as f64 / 40.0);
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 9);
    // conv1: 16x24x24 outputs of 25 taps each, for 40 images.
    assert_eq!(layers[0]["name"], "conv1");
    assert_eq!(layers[0]["shifts"], 40 * 16 * 24 * 24 * 25);
    // conv2.1 (adder, 32x8x8 outputs of 32*5*5 taps): two adds per tap plus the post-processing add.
    assert_eq!(layers[3]["name"], "conv2.1");
    assert_eq!(layers[3]["adds"], 40 * (2 * 32 * 8 * 8 * 800 + 32 * 8 * 8));
}

#[test]
fn infer_refuses_a_model_the_preset_cannot_run() {
    let err = fails(&[
        "infer",
        "--model",
        "models/demo-lenet-shiftadd",
        "--preset",
        "lean8",
        "--limit",
        "1",
    ]);
    assert!(err.contains("cannot run on config `lean8`"), "{err}");
}

#[test]
fn infer_reports_missing_and_malformed_inputs() {
    let err = fails(&["infer", "--model", "no/such/model", "--limit", "1"]);
    assert!(err.contains("no/such/model"), "{err}");

    let bad = tmp("bad-model.safetensors");
    std::fs::write(&bad, b"garbage").unwrap();
    let err = fails(&["infer", "--model", bad.to_str().unwrap()]);
    assert!(
        err.contains("bad-model.safetensors") && err.contains("field"),
        "{err}"
    );

    // An IDX file with a wrong magic, a wrong data length, and a labels count that disagrees.
    let dir = tmp("idx");
    std::fs::create_dir_all(&dir).unwrap();
    let images = idx(&[2, 28, 28], &[0; 2 * 784]);
    let labels = idx(&[2], &[1, 2]);
    let write = |imgs: &[u8], labs: &[u8]| {
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), imgs).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labs).unwrap();
    };
    let model = "models/demo-lenet-shiftadd";
    let d = dir.to_str().unwrap();
    write(&images, &labels);
    ok(&["infer", "--backend", "ref", "--model", model, "--data", d]);

    let mut bad_magic = images.clone();
    bad_magic[2] = 0x0d;
    write(&bad_magic, &labels);
    let err = fails(&["infer", "--model", model, "--data", d]);
    assert!(
        err.contains("field `magic`") && err.contains("t10k-images-idx3-ubyte"),
        "{err}"
    );

    write(&images[..images.len() - 1], &labels);
    let err = fails(&["infer", "--model", model, "--data", d]);
    assert!(err.contains("field `data`"), "{err}");

    let three = idx(&[3], &[1, 2, 3]);
    write(&images, &three);
    let err = fails(&["infer", "--model", model, "--data", d]);
    assert!(
        err.contains("field `dims`") && err.contains("t10k-labels-idx1-ubyte"),
        "{err}"
    );

    let small = idx(&[1, 10, 10], &[0; 100]);
    let one = idx(&[1], &[0]);
    write(&small, &one);
    let err = fails(&["infer", "--model", model, "--data", d]);
    assert!(
        err.contains("[1, 10, 10]") && err.contains("[1, 28, 28]"),
        "{err}"
    );
}

#[test]
fn infer_refuses_vacuous_oversized_and_ignored_options() {
    let model = "models/demo-lenet-shiftadd";
    let r = |extra: &str| {
        let mut a = vec!["infer", "--model", model];
        a.extend(extra.split(' '));
        fails(&a)
    };
    for limit in ["18446744073709551615", "10000000000"] {
        let e = r(&format!("--backend ref --data random --limit {limit}"));
        assert!(
            e.contains(&format!("--limit {limit}")) && e.contains("limit of"),
            "{e}"
        );
    }
    let e = r("--backend ref --limit 0");
    assert!(e.contains("--limit 0"), "{e}");
    let e = r("--backend ref --data random --limit 0");
    assert!(e.contains("--limit 0"), "{e}");
    let e = r("--threads 0 --limit 1");
    assert!(e.contains("--threads 0"), "{e}");
    let e = r("--backend cycle --inject-fault conv1:0:0:0");
    assert!(
        e.contains("--inject-fault") && e.contains("rtl or axi"),
        "{e}"
    );
    // A fault past the last image would never fire: refused before anything is built.
    let e = r("--backend rtl --limit 2 --inject-fault conv1:2:0:0");
    assert!(e.contains("IMAGE 2") && e.contains("2 images"), "{e}");
    // An output that cannot be written is refused before the run, and nothing is left behind.
    let e = r("--backend ref --limit 1 --json target/no/such/dir/x.json");
    assert!(e.contains("x.json") && e.contains("cannot write"), "{e}");
    let e = r("--backend ref --limit 1 --json target");
    assert!(e.contains("is a folder"), "{e}");
    // Devices are not read: they would never end.
    let e = fails(&["infer", "--model", "/dev/zero"]);
    assert!(
        e.contains("/dev/zero") && e.contains("not a regular file"),
        "{e}"
    );
    let e = fails(&["eval-layer", "/dev/zero"]);
    assert!(
        e.contains("/dev/zero") && e.contains("not a regular file"),
        "{e}"
    );
    let probe = tmp("probe.json");
    let _ = std::fs::remove_file(&probe);
    ok(&[
        "infer",
        "--model",
        model,
        "--backend",
        "ref",
        "--limit",
        "1",
        "--json",
        probe.to_str().unwrap(),
    ]);
    assert!(probe.exists());
}

#[test]
fn only_default_paths_fall_back_to_the_source_tree() {
    let elsewhere = tmp("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shiftadd"))
            .args(args)
            .current_dir(&elsewhere)
            .output()
            .unwrap()
    };
    // The defaults work from any folder.
    let o = run(&["infer", "--backend", "ref", "--limit", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A path the user gave is not replaced by the source tree's file of the same name.
    let o = run(&[
        "infer",
        "--backend",
        "ref",
        "--limit",
        "2",
        "--model",
        "models/fmnist-mult",
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("models/fmnist-mult") && e.contains("not found"),
        "{e}"
    );
}

#[test]
fn idx_files_are_read_only_as_far_as_the_limit_and_may_be_multi_member_gzip() {
    use std::io::Write;
    let dir = tmp("idx-stream");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let infer = |extra: &[&'static str]| {
        let mut a = vec![
            "infer",
            "--backend",
            "ref",
            "--model",
            "models/demo-lenet-shiftadd",
            "--data",
            d,
        ];
        a.extend_from_slice(extra);
        a
    };
    // Each part a gzip member of its own.
    let gz = |parts: &[&[u8]]| {
        let mut out = Vec::new();
        for p in parts {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(p).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    };
    let write = |images: &[&[u8]], labels: &[u8]| {
        std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gz(images)).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gz(&[labels])).unwrap();
    };
    // Dims promise 1,000 images; only 2 are there. With --limit 2 nothing past them is read.
    let images = idx(&[1000, 28, 28], &[7; 2 * 784]);
    let (hi, ti) = images.split_at(100);
    write(&[hi, ti], &idx(&[1000], &[1, 2]));
    let out = ok(&infer(&["--limit", "2"]));
    assert!(out.contains("/2"), "{out}");
    let e = fails(&infer(&["--limit", "3"]));
    assert!(
        e.contains("field `data`") && e.contains("t10k-images-idx3-ubyte.gz"),
        "{e}"
    );
    // A file with no images.
    write(&[&idx(&[0, 28, 28], &[])], &idx(&[0], &[]));
    let e = fails(&infer(&[]));
    assert!(e.contains("holds no images"), "{e}");
    // Trailing bytes after the data the dims describe.
    let mut long = idx(&[1, 28, 28], &[0; 784]);
    long.push(0);
    write(&[&long], &idx(&[1], &[0]));
    let e = fails(&infer(&[]));
    assert!(e.contains("more than the 784 bytes"), "{e}");
}

#[test]
fn committed_demo_model_is_fresh() {
    let out = tmp("demo.safetensors");
    ok(&[
        "random-model",
        "--arch",
        "lenet-shiftadd",
        "--preset",
        "seed",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let fresh = std::fs::read(&out).unwrap();
    let committed =
        std::fs::read(root().join("models/demo-lenet-shiftadd/model.safetensors")).unwrap();
    assert!(
        fresh == committed,
        "models/demo-lenet-shiftadd is stale; regenerate with: cargo run --release -p shiftadd -- random-model --arch lenet-shiftadd --preset seed --seed 1 --out models/demo-lenet-shiftadd/model.safetensors"
    );
}

#[test]
fn committed_subset_is_the_head_of_the_official_test_set() {
    let full = Path::new("/usr/share/datasets/fashion-mnist");
    assert!(
        full.join("t10k-images-idx3-ubyte.gz").is_file(),
        "Fashion-MNIST is not installed; run: apt-get install -y dataset-fashion-mnist (scripts/setup.sh does)"
    );
    let gunzip = |p: PathBuf| {
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap()),
            &mut out,
        )
        .unwrap();
        out
    };
    let sub = root().join("data/fashion-mnist-1000");
    for (name, per, header) in [
        ("t10k-images-idx3-ubyte.gz", 784, 16),
        ("t10k-labels-idx1-ubyte.gz", 1, 8),
    ] {
        let whole = gunzip(full.join(name));
        let part = gunzip(sub.join(name));
        assert_eq!(part[4..8], 1000u32.to_be_bytes(), "{name}: count");
        assert_eq!(part[8..header], whole[8..header], "{name}: dimensions");
        assert_eq!(
            part[header..],
            whole[header..header + 1000 * per],
            "{name}: payload"
        );
    }
}

#[test]
fn infer_refuses_labels_outside_the_classes() {
    let dir = tmp("labels");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx(&[1, 28, 28], &[0; 784]),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[1], &[10])).unwrap();
    let err = fails(&[
        "infer",
        "--model",
        "models/demo-lenet-shiftadd",
        "--data",
        dir.to_str().unwrap(),
    ]);
    assert!(err.contains("label 10 of image 0"), "{err}");
}

#[test]
fn train_writes_a_model_that_infer_and_precision_accept() {
    let out = tmp("trained-lenet-shiftadd");
    let _ = std::fs::remove_dir_all(&out);
    let o = ok(&[
        "train",
        "--arch",
        "lenet-shiftadd",
        "--data",
        "data/fashion-mnist-1000",
        "--epochs",
        "1",
        "--limit",
        "256",
        "--test-limit",
        "64",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.contains("images/s"), "{o}");
    assert!(o.contains("fixed point"), "{o}");
    for f in ["model.safetensors", "float.safetensors", "CARD.md"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let card = std::fs::read_to_string(out.join("CARD.md")).unwrap();
    assert!(card.contains("fixed-point accuracy"), "{card}");
    let inf = ok(&[
        "infer",
        "--backend",
        "ref",
        "--model",
        out.to_str().unwrap(),
        "--limit",
        "20",
        "--preset",
        "seed",
    ]);
    assert!(inf.contains("accuracy"), "{inf}");
    let prec = ok(&[
        "precision",
        "--model",
        out.to_str().unwrap(),
        "--data",
        "data/fashion-mnist-1000",
        "--limit",
        "20",
    ]);
    // Header, separator, one row per format of the sweep (7) and one per preset of other
    // formats than `seed` (`lean16`, `lean8`, `seed-fix16`).
    assert_eq!(
        prec.lines().filter(|l| l.starts_with('|')).count(),
        12,
        "{prec}"
    );
}

#[test]
fn train_refuses_bad_input_naming_it() {
    let out = tmp("never-written");
    let o = out.to_str().unwrap();
    let e = fails(&[
        "train",
        "--arch",
        "lenet-nope",
        "--data",
        "data/fashion-mnist-1000",
        "--out",
        o,
    ]);
    assert!(e.contains("--arch") && e.contains("lenet-nope"), "{e}");
    let e = fails(&[
        "train",
        "--arch",
        "lenet-mult",
        "--data",
        "data/no-such-set",
        "--out",
        o,
    ]);
    assert!(e.contains("data/no-such-set"), "{e}");
    let e = fails(&[
        "train",
        "--arch",
        "lenet-mult",
        "--data",
        "data/fashion-mnist-1000",
        "--epochs",
        "0",
        "--out",
        o,
    ]);
    assert!(e.contains("--epochs"), "{e}");
    let e = fails(&[
        "train",
        "--arch",
        "resnet20-mult",
        "--data",
        "data/fashion-mnist-1000",
        "--limit",
        "4",
        "--out",
        o,
    ]);
    assert!(
        e.contains("resnet20-mult") && e.contains("[1, 28, 28]"),
        "{e}"
    );
    let e = fails(&["precision", "--model", "models/no-such-model"]);
    assert!(e.contains("models/no-such-model"), "{e}");
    assert!(!out.exists());
}

/// The committed trained models load, pass the parameter check and classify the committed subset.
#[test]
fn committed_trained_models_classify_the_subset() {
    // The ShiftAddNet trained at `lean8`'s formats (3-bit shift weights, for the board) learns
    // less; `infer` picks `lean8` for it by its formats.
    for (fam, least) in [
        ("shiftadd", 0.85),
        ("mult", 0.85),
        ("shift", 0.85),
        ("adder", 0.85),
        ("shiftadd-lean8", 0.65),
        ("shiftadd-lean16", 0.85),
        ("mult-lean16", 0.85),
        ("mult-lean8", 0.85),
    ] {
        let dir = format!("models/fmnist-{fam}");
        assert!(
            root().join(&dir).join("CARD.md").is_file(),
            "{dir}/CARD.md missing"
        );
        let json = tmp(&format!("fmnist-{fam}.json"));
        ok(&[
            "infer",
            "--backend",
            "ref",
            "--model",
            &dir,
            "--json",
            json.to_str().unwrap(),
        ]);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(v["images"], 1000);
        let acc = v["accuracy"].as_f64().unwrap();
        assert!(
            acc >= least,
            "{dir}: accuracy {acc} on the committed subset"
        );
    }
    // The default model of `infer` is the trained ShiftAddNet.
    let o = ok(&["infer", "--limit", "10"]);
    assert!(
        o.contains("fmnist-shiftadd") && o.contains("lenet-shiftadd"),
        "{o}"
    );
}

#[test]
fn a_network_past_max_taps_is_refused_before_it_runs() {
    let err = fails(&[
        "infer",
        "--backend",
        "ref",
        "--arch",
        "lenet-shiftadd",
        "--data",
        "random",
        "--max-taps",
        "1000",
    ]);
    assert!(
        err.contains("tap operations per image") && err.contains("--max-taps 1000"),
        "{err}"
    );
}
