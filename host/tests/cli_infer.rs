//! `shiftadd infer` through the engine's RTL on Verilator: agreement with the reference model
//! layer by layer, cycles equal to the cycle formula, a flipped bit caught and named, the
//! capability check, and ResNet-20 at CIFAR shape.

mod common;
use common::{fails, ok, shiftadd, tmp};
use serde_json::Value;

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Engine cycles of a convolution from the contract's formula (numerics of the schedule: one
/// cycle per output pixel, output-channel tile, input-channel tile and tap, then START, read,
/// array 2, post 2, write).
fn conv_cycles(oh: u64, ow: u64, cout: u64, cin: u64, kh: u64, kw: u64, array: u64) -> u64 {
    oh * ow * cout.div_ceil(array) * cin.div_ceil(array) * kh * kw + 7
}

#[test]
fn rtl_inference_agrees_with_the_reference_layer_by_layer() {
    let out = tmp("infer-rtl.json");
    let text = ok(&[
        "infer",
        "--limit",
        "6",
        "--batch",
        "4",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("backend rtl, config seed"), "{text}");
    assert!(text.contains("in every layer run: yes"), "{text}");
    let doc = json(&out);
    assert_eq!(doc["backend"], "rtl");
    assert_eq!(doc["images"], 6);
    assert_eq!(doc["bit_exact"], true);
    assert_eq!(doc["agree_images"], 6);
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 9);
    for l in layers {
        assert_eq!(l["agree"], 6, "{l}");
        if l["kind"] != "flatten" {
            assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
        }
    }
    // The reference fields stay: conv1's 16x24x24 outputs of 25 taps each, for 6 images.
    assert_eq!(layers[0]["shifts"], 6 * 16 * 24 * 24 * 25);
    assert!(doc["input_saturations"].is_u64());
    // conv1: 1 -> 16 channels, 5x5, 28x28 -> 24x24 on the 16x16 array, its 5 kernel columns
    // unrolled into 5 input channels (a 5x1 kernel); conv2.1: 32 -> 32, 5x5, 8x8.
    assert_eq!(
        layers[0]["cycles_rtl"],
        conv_cycles(24, 24, 16, 5, 5, 1, 16)
    );
    assert_eq!(layers[3]["cycles_rtl"], conv_cycles(8, 8, 32, 32, 5, 5, 16));
    // Max pooling 2x2 of 16x24x24: one window value per cycle, then START, read, pool, write.
    assert_eq!(layers[1]["cycles_rtl"], 12 * 12 * 4 + 4);

    // Energy per image as `report` gives it for the same model and config.
    let rep = tmp("infer-report.json");
    ok(&[
        "report",
        "--model",
        "models/fmnist-shiftadd",
        "--json",
        rep.to_str().unwrap(),
    ]);
    let e = &json(&rep)["total"]["energy_pj"];
    let pj = e["compute"].as_f64().unwrap() + e["memory"].as_f64().unwrap();
    let uj = doc["energy_uj_per_image"].as_f64().unwrap();
    assert!(
        (uj - pj * 1e-6).abs() <= 1e-9 * uj,
        "{uj} uJ, report {pj} pJ"
    );

    // The same images through the reference model alone: the same predictions.
    let out_ref = tmp("infer-ref.json");
    ok(&[
        "infer",
        "--backend",
        "ref",
        "--limit",
        "6",
        "--json",
        out_ref.to_str().unwrap(),
    ]);
    assert_eq!(json(&out_ref)["correct"], doc["correct"]);
}

#[test]
fn a_flipped_bit_in_an_output_buffer_is_reported_with_its_layer() {
    let vcd = tmp("infer-fault.vcd");
    let _ = std::fs::remove_file(&vcd);
    let out = tmp("infer-fault.json");
    let o = shiftadd(&[
        "infer",
        "--limit",
        "3",
        "--inject-fault",
        "conv2.1:1:100:3",
        "--vcd",
        vcd.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.status.success(),
        "a flipped bit must fail the run:\n{text}"
    );
    assert!(
        text.contains("MISMATCH: image 1, layer `conv2.1`: output index 100 [1, 4, 4]"),
        "{text}"
    );
    assert!(text.contains("written in bus cycle"), "{text}");
    let wave = std::fs::read_to_string(&vcd).unwrap();
    assert!(wave.contains("$enddefinitions"), "not a VCD");
    let doc = json(&out);
    assert_eq!(doc["bit_exact"], false);
    assert_eq!(doc["agree_images"], 2);
    let first = &doc["first_mismatch"];
    assert_eq!(
        (first["image"].as_u64(), first["layer"].as_str()),
        (Some(1), Some("conv2.1"))
    );
    // The layers before it agree on every image; conv2.1 on the two untouched ones.
    let layers = doc["layers"].as_array().unwrap();
    for l in &layers[..3] {
        assert_eq!(l["agree"], 3, "{l}");
    }
    assert_eq!(layers[3]["agree"], 2);
}

#[test]
fn the_multiply_twin_runs_on_the_multiply_engine() {
    // The multiply model has `seed`'s formats; the default preset is the one whose PEs run it.
    let out = tmp("infer-mult.json");
    let text = ok(&[
        "infer",
        "--model",
        "models/fmnist-mult",
        "--limit",
        "4",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("backend rtl, config seed-mult"), "{text}");
    let doc = json(&out);
    assert_eq!(doc["bit_exact"], true);
    assert_eq!(doc["agree_images"], 4);
    let layers = doc["layers"].as_array().unwrap();
    for l in layers {
        assert_eq!(l["agree"], 4, "{l}");
        if l["kind"] != "flatten" {
            assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
        }
    }
    // conv1: 1 -> 16 channels, 5x5, 28x28 -> 24x24, kernel columns unrolled as on `seed`.
    assert_eq!(layers[0]["name"], "conv1");
    assert_eq!(
        layers[0]["cycles_rtl"],
        conv_cycles(24, 24, 16, 5, 5, 1, 16)
    );
    let out_ref = tmp("infer-mult-ref.json");
    ok(&[
        "infer",
        "--model",
        "models/fmnist-mult",
        "--backend",
        "ref",
        "--limit",
        "4",
        "--json",
        out_ref.to_str().unwrap(),
    ]);
    assert_eq!(json(&out_ref)["correct"], doc["correct"]);

    // ResNet-20's multiply twin, residuals included, on the preset whose PEs run it.
    let out = tmp("infer-resnet20-mult.json");
    ok(&[
        "infer",
        "--arch",
        "resnet20-mult",
        "--data",
        "random",
        "--limit",
        "1",
        "--json",
        out.to_str().unwrap(),
    ]);
    let doc = json(&out);
    assert_eq!(doc["config"], "seed-mult");
    assert_eq!(doc["bit_exact"], true);
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 23);
    for l in layers {
        assert_eq!(l["agree"], 1, "{l}");
        assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
    }
    let last_conv = layers
        .iter()
        .find(|l| l["name"] == "layer3.2.conv2")
        .unwrap();
    assert_eq!(last_conv["cycles_rtl"], conv_cycles(8, 8, 64, 64, 3, 3, 16));
}

#[test]
fn infer_refuses_what_the_engine_cannot_run_by_layer() {
    let err = fails(&[
        "infer",
        "--arch",
        "lenet-mult",
        "--data",
        "random",
        "--preset",
        "seed",
    ]);
    assert!(
        err.contains("layer `conv1` cannot run on config `seed`") && err.contains("mult"),
        "{err}"
    );
    let err = fails(&["infer", "--limit", "1", "--inject-fault", "pool9:0:0:0"]);
    assert!(err.contains("no layer `pool9`"), "{err}");
    let err = fails(&["infer", "--backend", "fpga", "--limit", "1"]);
    assert!(err.contains("--backend `fpga`"), "{err}");
}

#[test]
fn resnet20_shiftadd_at_cifar_shape_runs_through_the_rtl() {
    let out = tmp("infer-resnet20.json");
    let text = ok(&[
        "infer",
        "--arch",
        "resnet20-shiftadd",
        "--data",
        "random",
        "--limit",
        "1",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("in every layer run: yes"), "{text}");
    let doc = json(&out);
    assert_eq!(doc["bit_exact"], true);
    let layers = doc["layers"].as_array().unwrap();
    assert!(layers.len() > 40, "{}", layers.len());
    for l in layers {
        assert_eq!(l["agree"], 1, "{l}");
        assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
    }
    // layer3.2.conv2.1: adder 64 -> 64, 3x3, 8x8, padding 1.
    let l = layers
        .iter()
        .find(|l| l["name"] == "layer3.2.conv2.1")
        .unwrap();
    assert_eq!(l["cycles_rtl"], conv_cycles(8, 8, 64, 64, 3, 3, 16));
}

#[test]
fn axi_inference_agrees_and_catches_a_flipped_bit() {
    // The default model through `shiftadd_axi`'s AXI4-Lite and AXI4-Stream ports.
    let out = tmp("infer-axi.json");
    let text = ok(&[
        "infer",
        "--backend",
        "axi",
        "--limit",
        "3",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("backend axi, config seed"), "{text}");
    assert!(text.contains("in every layer run: yes"), "{text}");
    let doc = json(&out);
    assert_eq!(doc["backend"], "axi");
    assert_eq!(doc["bit_exact"], true);
    for l in doc["layers"].as_array().unwrap() {
        assert_eq!(l["agree"], 3, "{l}");
        if l["kind"] != "flatten" {
            assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
        }
    }
    assert!(doc["run"]["bus_cycles_per_image"].as_f64().unwrap() > 13562.0);
    // A bit flipped in conv2.1's output buffer through the AXI ports is caught and named.
    let vcd = tmp("infer-axi-fault.vcd");
    let o = shiftadd(&[
        "infer",
        "--backend",
        "axi",
        "--limit",
        "2",
        "--inject-fault",
        "conv2.1:1:37:3",
        "--vcd",
        vcd.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("MISMATCH: image 1, layer `conv2.1`: output index 37"),
        "{text}"
    );
}
