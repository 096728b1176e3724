//! `shiftadd cosim` and `shiftadd bench-cosim` end to end: exit status, the closing line, a
//! hand-edited folder that must fail with a shrunk case and waveforms, JSON, refusals.

mod common;
use common::{copy_preset, fails, ok, root, shiftadd, tmp};

/// A copy of `lean8`'s Verilog named `name` with the one occurrence of `from` in `file` replaced
/// by `to`.
fn edited_lean8(name: &str, file: &str, from: &str, to: &str) -> std::path::PathBuf {
    let dir = copy_preset("lean8", name);
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{file}: {from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    dir
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[test]
fn committed_preset_agrees_at_every_level() {
    for level in ["pe", "array"] {
        let out = ok(&[
            "cosim", "--preset", "lean8", "--level", level, "--cases", "20",
        ]);
        assert_eq!(
            last_line(&out),
            format!("cosim: 20 cases ran on 1 module(s) of `lean8` (verilator, {level} level): all agree")
        );
    }
    // With an engine in the folder, layers run on it through its register map.
    let json = tmp("cosim-engine.json");
    let out = ok(&[
        "cosim",
        "--preset",
        "lean8",
        "--level",
        "layer",
        "--cases",
        "20",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        last_line(&out),
        "cosim: 20 cases ran on the engine of `lean8` (verilator, layer level): all agree"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 20);
    let mut kinds = std::collections::BTreeSet::new();
    for c in cases {
        assert_eq!(c["cycles_model"], c["cycles_rtl"]);
        assert_eq!(c["agree"], true);
        kinds.insert(c["kind"].as_str().unwrap().to_string());
        let d = &c["descriptor"];
        assert!(
            d["cin"].as_u64().unwrap() >= 1 && d["kh"].as_u64().unwrap() >= 1,
            "{d}"
        );
    }
    // The dual-mode engine runs both kinds of the dual-mode array, and every fourth case is a
    // pooling (both kinds among 20 cases with this seed).
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["adder", "avg_pool", "max_pool", "shift"]
    );
    let pools = cases
        .iter()
        .filter(|c| c["kind"].as_str().unwrap().ends_with("_pool"))
        .count();
    assert_eq!(pools, 5);
    // The multiply baseline's engine runs multiply layers.
    let json = tmp("cosim-engine-mult.json");
    let out = ok(&[
        "cosim",
        "--preset",
        "seed-mult",
        "--level",
        "layer",
        "--cases",
        "6",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        last_line(&out),
        "cosim: 6 cases ran on the engine of `seed-mult` (verilator, layer level): all agree"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for (i, c) in doc["cases"].as_array().unwrap().iter().enumerate() {
        if i % 4 == 3 {
            assert!(c["kind"].as_str().unwrap().ends_with("_pool"), "{c}");
        } else {
            assert_eq!(c["kind"], "mult", "{c}");
            assert_eq!(c["descriptor"]["op"]["conv"], "mult", "{c}");
        }
        assert_eq!(c["cycles_model"], c["cycles_rtl"]);
    }
    let out = ok(&[
        "cosim", "--preset", "lean8", "--sim", "icarus", "--cases", "5",
    ]);
    assert!(
        last_line(&out).contains("(icarus, array level): all agree"),
        "{out}"
    );
}

#[test]
fn an_edited_folder_fails_with_a_shrunk_case_and_waveforms() {
    let dir = copy_preset("lean8", "cosim-edited");
    let pe = dir.join("dual_pe.v");
    let text = std::fs::read_to_string(&pe).unwrap();
    std::fs::write(
        &pe,
        text.replace("x_wide << (pmax - m)", "x_wide >> (pmax - m)"),
    )
    .unwrap();
    let vcd = dir.join("wave.vcd");
    let json = dir.join("cosim.json");
    let o = shiftadd(&[
        "cosim",
        "--rtl",
        dir.to_str().unwrap(),
        "--level",
        "pe",
        "--cases",
        "50",
        "--vcd",
        vcd.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("MISMATCH"), "{out}");
    assert!(out.contains("first mismatch in case"), "{out}");
    assert!(out.contains("output `term`"), "{out}");
    assert!(out.contains("waveforms differ first at"), "{out}");
    assert!(dir.join("wave.fail.vcd").is_file() && dir.join("wave.fail.ref.vcd").is_file());
    assert!(dir.join("wave.vcd").is_file() && dir.join("wave.ref.vcd").is_file());
    assert!(
        last_line(&out).ends_with("1 module(s) differ from the reference model"),
        "{out}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["agree"], false);
    assert_eq!(r["failure"]["port"], "term");
    assert_eq!(r["cases"], 50);
}

#[test]
fn refusals_name_the_problem() {
    let err = fails(&["cosim", "--rtl", "/nonexistent-shiftadd-dir"]);
    assert!(
        err.contains("/nonexistent-shiftadd-dir/config.json"),
        "{err}"
    );
    let dir = tmp("cosim-empty");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("rtl-out").join("lean8").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("other.v"),
        "module other(input clock); endmodule\n",
    )
    .unwrap();
    let err = fails(&["cosim", "--rtl", dir.to_str().unwrap()]);
    assert!(err.contains("no array module"), "{err}");
    // Options that would check nothing or allocate without bound, refused before any build.
    let base = ["cosim", "--preset", "lean8", "--level", "pe"];
    let run = |extra: &[&str]| fails(&[&base[..], extra].concat());
    let err = run(&["--cases", "0"]);
    assert!(err.contains("--cases 0"), "{err}");
    for n in ["18446744073709551615", "1000000000", "0"] {
        let err = run(&["--cases", "5", "--max-cycles", n]);
        assert!(
            err.contains(&format!("--max-cycles {n}")) && err.contains("1000000"),
            "{err}"
        );
    }
    // A folder whose Verilog would run a command on the host is refused, naming file, line and
    // task, unless allowed.
    let evil = copy_preset("seed", "cosim-evil");
    std::fs::write(
        evil.join("evil.v"),
        "module evil;\n// $fopen in a comment is fine\ninitial $system(\"touch pwned\");\nendmodule\n",
    )
    .unwrap();
    let d = evil.to_str().unwrap();
    let err = fails(&["cosim", "--rtl", d, "--level", "pe", "--cases", "1"]);
    assert!(
        err.contains("evil.v:3: $system")
            && !err.contains("$fopen")
            && err.contains("--allow-system-tasks"),
        "{err}"
    );
    // infer checks the folder before it builds anything.
    let err = fails(&["infer", "--rtl", d, "--limit", "1"]);
    assert!(err.contains("evil.v:3: $system"), "{err}");
    // A config.json that does not describe the Verilog is named as such, not an RTL mismatch.
    std::fs::remove_file(evil.join("evil.v")).unwrap();
    let cfg = std::fs::read_to_string(evil.join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    v["rows"] = 4.into();
    std::fs::write(evil.join("config.json"), v.to_string()).unwrap();
    let err = fails(&["cosim", "--rtl", d, "--level", "pe", "--cases", "1"]);
    assert!(
        err.contains("config.json") && err.contains("`rows`") && err.contains("does not describe"),
        "{err}"
    );
    let err = run(&["--json", "target/no/such/dir/c.json"]);
    assert!(
        err.contains("c.json") && err.contains("cannot write"),
        "{err}"
    );
}

#[test]
fn bench_prints_the_simulators_side_by_side() {
    let out = ok(&[
        "bench-cosim",
        "--preset",
        "lean8",
        "--cycles",
        "20000",
        "--slow-cycles",
        "100",
    ]);
    for what in [
        "Verilator 5, bulk stepping",
        "rust-hdl simulator",
        "Icarus Verilog",
    ] {
        assert!(out.contains(what), "{out}");
    }
    assert!(
        out.contains("rust-hdl = Verilator, Icarus = Verilator"),
        "{out}"
    );
}

#[test]
fn an_edited_engine_fails_at_layer_level() {
    let dir = copy_preset("lean8", "cosim-edited-engine");
    // The output stage writes the sum one word late.
    let engine = dir.join("engine.v");
    let text = std::fs::read_to_string(&engine).unwrap();
    assert!(text.contains("out_buf_0_write_address = out_addr_d_q_4"));
    std::fs::write(
        &engine,
        text.replace(
            "out_buf_0_write_address = out_addr_d_q_4",
            "out_buf_0_write_address = out_addr_d_q_3",
        ),
    )
    .unwrap();
    let o = shiftadd(&[
        "cosim",
        "--rtl",
        dir.to_str().unwrap(),
        "--level",
        "layer",
        "--cases",
        "20",
        "--shrink-seconds",
        "20",
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("first mismatch in layer case"), "{out}");
    assert!(out.contains("engine waveform:"), "{out}");
    assert!(
        last_line(&out).ends_with("1 layer differs from the reference model"),
        "{out}"
    );
}

#[test]
fn a_simulation_that_stops_is_a_reported_failure_with_its_case_and_waveform() {
    // A loop with no fixed point whenever `x` is the largest code (a case the stimulus draws).
    let dir = copy_preset("lean8", "cosim-spins");
    let pe = dir.join("dual_pe.v");
    let text = std::fs::read_to_string(&pe).unwrap();
    for s in [
        "output reg [16:0] term;\n",
        "term = ((term_reg_q) & 17'h1ffff);",
    ] {
        assert_eq!(text.matches(s).count(), 1, "{s}");
    }
    let text = text
        .replace(
            "output reg [16:0] term;\n",
            "output reg [16:0] term;\n    wire spin;\n    assign spin = (x == 8'h7f) ? ~spin : 1'b0;\n",
        )
        .replace(
            "term = ((term_reg_q) & 17'h1ffff);",
            "term = ((term_reg_q) & 17'h1ffff) ^ {16'b0, spin};",
        );
    std::fs::write(&pe, text).unwrap();
    let json = tmp("cosim-spins.json");
    let o = shiftadd(&[
        "cosim",
        "--rtl",
        dir.to_str().unwrap(),
        "--level",
        "pe",
        "--cases",
        "40",
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("STOPPED") && out.contains("converge"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let stopped = &doc["results"][0]["stopped"];
    assert!(
        stopped["case"].is_u64() && stopped["cycle"].is_u64(),
        "{doc}"
    );
    let vcd = root().join(stopped["vcd"].as_str().unwrap());
    assert!(vcd.is_file(), "{}", vcd.display());
    assert!(
        out.contains(&format!("in case {}", stopped["case"])),
        "{out}"
    );
}

#[test]
fn an_average_pooling_shifting_the_wrong_way_fails_at_layer_level() {
    // The single-site edit that random convolutions alone never caught: average pooling's sum
    // shifted left instead of right.
    let dir = edited_lean8(
        "cosim-edited-pool",
        "engine_pool.v",
        "out = acc_q >> shift;",
        "out = acc_q << shift;",
    );
    let json = tmp("cosim-edited-pool.json");
    let o = shiftadd(&[
        "cosim",
        "--rtl",
        dir.to_str().unwrap(),
        "--level",
        "layer",
        "--cases",
        "40",
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("avg_pool"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let last = cases.last().unwrap();
    assert_eq!(last["kind"], "avg_pool", "{last}");
    assert_eq!(last["agree"], false, "{last}");
    // The cases before it, poolings among them, agree.
    assert!(cases[..cases.len() - 1].iter().all(|c| c["agree"] == true));
}

#[test]
fn state_left_by_an_earlier_layer_fails_at_layer_level() {
    // SAT_COUNT no longer cleared by START: every layer from power-on still agrees, so only
    // layers run back to back, as a program runs them, show it.
    let dir = edited_lean8(
        "cosim-edited-sat-count",
        "engine.v",
        "if (seq_start) begin\n            sat_count_d = ((32'h0) & 32'hffffffff);",
        "if (1'b0) begin\n            sat_count_d = ((32'h0) & 32'hffffffff);",
    );
    let out = layer_level_fails(&dir, "20");
    assert!(out.contains("SAT_COUNT"), "{out}");
    assert!(
        out.contains("on one instance without a reset (from power-on it agrees)"),
        "{out}"
    );
}

/// Runs `cosim --level layer` on `dir` and returns its output, checking that it failed.
fn layer_level_fails(dir: &std::path::Path, cases: &str) -> String {
    let o = shiftadd(&[
        "cosim",
        "--rtl",
        dir.to_str().unwrap(),
        "--level",
        "layer",
        "--cases",
        cases,
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{out}");
    out
}

#[test]
fn a_register_that_does_not_read_back_fails_the_register_walk() {
    let dir = edited_lean8(
        "cosim-edited-in-sel-read",
        "engine.v",
        "reg_rdata = ((in_sel_q) & 32'hffffffff);",
        "reg_rdata = 32'h0;",
    );
    let out = layer_level_fails(&dir, "4");
    assert!(
        out.contains("the register walk before the first case"),
        "{out}"
    );
    assert!(
        out.contains(
            "IN_SEL reads 0x00000000 after writing all ones; the register map says 0x00000001"
        ),
        "{out}"
    );
}

#[test]
fn an_interrupt_that_never_rises_fails_at_layer_level() {
    let dir = edited_lean8(
        "cosim-edited-irq",
        "engine.v",
        "irq = irq_enable_q & irq_status_q;",
        "irq = 1'b0;",
    );
    let out = layer_level_fails(&dir, "4");
    // Case 1 is the first with the interrupt enabled.
    assert!(out.contains("first mismatch in layer case 1"), "{out}");
    assert!(
        out.contains("interrupt: IRQ_STATUS 1 with irq 0 after the layer"),
        "{out}"
    );
}
