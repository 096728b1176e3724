//! The open-source path to a board: `infer --backend uart` over the simulated serial line (the
//! code path a board runs, with the bridge and the board's `lean8` engine on Verilator, and the
//! model trained for it), the serial port options
//! refused by name, and the ULX3S flow from the committed `lean8` RTL to a bitstream. The two
//! long tests sit in one binary so that they share the machine's cores.

mod common;
use common::{fails, ok, root, tmp};
use serde_json::Value;

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn inference_over_the_simulated_serial_line_agrees() {
    let out = tmp("infer-uart.json");
    let text = ok(&[
        "infer",
        "--backend",
        "uart",
        "--port",
        "sim",
        "--model",
        "models/fmnist-shiftadd-lean8",
        "--limit",
        "1",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("backend uart, config lean8"), "{text}");
    assert!(text.contains("in every layer run: yes"), "{text}");
    let doc = json(&out);
    assert_eq!(doc["backend"], "uart");
    assert_eq!(doc["bit_exact"], true);
    for l in doc["layers"].as_array().unwrap() {
        assert_eq!(l["agree"], 1, "{l}");
        if l["kind"] != "flatten" {
            assert_eq!(l["cycles_model"], l["cycles_rtl"], "{l}");
        }
    }
}

#[test]
fn serial_port_options_are_refused_by_name() {
    let e = fails(&["infer", "--backend", "uart", "--limit", "1"]);
    assert!(e.contains("--backend uart needs --port"), "{e}");
    let e = fails(&["infer", "--port", "sim", "--limit", "1"]);
    assert!(e.contains("--port needs --backend uart"), "{e}");
    let e = fails(&[
        "infer",
        "--backend",
        "uart",
        "--port",
        "/nonexistent/ttyUSB9",
        "--limit",
        "1",
    ]);
    assert!(e.contains("/nonexistent/ttyUSB9"), "{e}");
    let e = fails(&[
        "infer",
        "--backend",
        "uart",
        "--port",
        "/dev/null",
        "--limit",
        "1",
    ]);
    assert!(e.contains("/dev/null: not a serial port"), "{e}");
    let e = fails(&[
        "infer",
        "--backend",
        "uart",
        "--port",
        "/dev/null",
        "--baud",
        "12345",
        "--limit",
        "1",
    ]);
    assert!(e.contains("--baud 12345") && e.contains("3000000"), "{e}");
}

/// The LFE5U-85F's JTAG IDCODE, as the bitstream's VERIFY_ID command carries it (command 0xE2,
/// three zero bytes, the IDCODE most significant byte first).
const LFE5U_85F_VERIFY_ID: [u8; 8] = [0xe2, 0, 0, 0, 0x41, 0x11, 0x30, 0x43];

#[test]
fn the_ulx3s_flow_makes_a_bitstream_that_meets_its_clock() {
    let work = tmp("synth-ecp5");
    let out = tmp("synth-ecp5.json");
    let text = ok(&[
        "synth",
        "--preset",
        "lean8",
        "--target",
        "ecp5",
        "--engine",
        "--work",
        work.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    let doc = json(&out);
    let rows = doc["rows"].as_array().unwrap();
    let board = rows
        .iter()
        .find(|r| r["scope"] == "board")
        .unwrap_or_else(|| panic!("no board row: {text}"));
    assert_eq!(board["module"], "shiftadd_ulx3s");
    assert_eq!(board["target"], "ecp5");
    // The flow fails below the target; the committed clock is the config's.
    assert!(board["fmax_mhz"].as_f64().unwrap() >= 25.0, "{board}");
    assert!(board["lut"].as_u64().unwrap() > 10_000, "{board}");
    assert!(board["bram"].as_u64().unwrap() > 0, "{board}");
    let bit = work.join("ulx3s-build").join("lean8.bit");
    let bytes = std::fs::read(&bit).unwrap();
    assert!(bytes.len() > 100_000, "{} bytes", bytes.len());
    assert!(
        bytes
            .windows(LFE5U_85F_VERIFY_ID.len())
            .any(|w| w == LFE5U_85F_VERIFY_ID),
        "{}: no LFE5U-85F IDCODE",
        bit.display()
    );
    // The flow ran on the committed board files (they are what the user runs).
    let committed = root().join("constraints/ulx3s/lean8/top.v");
    let written = work.join("ulx3s/lean8/top.v");
    assert_eq!(
        std::fs::read_to_string(committed).unwrap(),
        std::fs::read_to_string(written).unwrap()
    );
}
