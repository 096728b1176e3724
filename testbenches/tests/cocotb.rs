//! The independent AXI client: the cocotb testbench (`testbenches/cocotb/`, cocotbext-axi's
//! masters with random back-pressure on every channel) drives the committed `lean8`
//! `shiftadd_axi` on Icarus Verilog through layer scripts recorded here from the engine driver,
//! with the reference model's outputs: identity, register read-back, SLVERR, layers and a pooling
//! through the streams, and reset in the middle of a layer.

use proptest::strategy::{Strategy, ValueTree};
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::OutputMode;
use shiftadd_sim::rtl::engine_kind;
use shiftadd_tb::design::{Design, Dut};
use shiftadd_tb::driver::{load_params, run_layer};
use shiftadd_tb::engine::{case_layer, expected_outputs, post_case};
use shiftadd_tb::layer::{layer_data, layer_strategy};
use shiftadd_tb::script::ScriptBus;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn cocotb_drives_the_axi_top_on_icarus() {
    let py = shiftadd_tb::venv_python().unwrap_or_else(|e| panic!("{e}"));
    let rtl = root().join("rtl-out/lean8");
    let cfg = Design::load(&rtl).unwrap().cfg;
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cocotb");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let dut = Dut {
        kind: engine_kind(&cfg).unwrap(),
        top: "shiftadd_axi".into(),
        ports: Vec::new(),
        rows: cfg.rows as usize,
        cols: cfg.cols as usize,
        latency: 2,
        is_pe: false,
    };
    // Small layers (Icarus is slow): one with a residual, one handing off, one more.
    let mut runner = shiftadd_tb::cosim::test_runner(41);
    let mut scripts = Vec::new();
    let mut k = 0u64;
    while scripts.len() < 3 {
        k += 1;
        let case = layer_strategy(&dut, &cfg)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let pc = post_case(&cfg, k, &case);
        let el = case_layer(&cfg, &case, &pc);
        let residual = matches!(el.desc.output, OutputMode::Post { residual: true, .. });
        let wanted = match scripts.len() {
            0 => residual,
            1 => el.desc.output == OutputMode::Handoff,
            _ => true,
        };
        if !wanted || layer_cycles(&cfg, &el.desc) > 1500 {
            continue;
        }
        let (exp, sat) = expected_outputs(&cfg, &case, &pc);
        let mut bus = ScriptBus::new(&cfg);
        bus.expect(&el.desc, &exp, sat);
        load_params(&mut bus, &el);
        let x: Vec<i64> = layer_data(&case, &cfg).x.data;
        let r: Vec<i64> = pc.residual.iter().map(|&v| i64::from(v)).collect();
        let got = run_layer(&mut bus, &el, Some(&x), residual.then_some(&r[..]), None).unwrap();
        assert_eq!(
            got.values, exp,
            "the script expects the reference's outputs"
        );
        let path = work.join(format!("layer{}.json", scripts.len()));
        std::fs::write(&path, serde_json::to_string(&bus.script()).unwrap()).unwrap();
        scripts.push(path);
    }
    let t = std::time::Instant::now();
    let out = Command::new(&py)
        .arg(root().join("testbenches/cocotb/run.py"))
        .arg(&rtl)
        .arg(work.join("build"))
        .args(&scripts)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("cocotb run: {:.1} s", t.elapsed().as_secs_f64());
    assert!(
        out.status.success() && text.contains("cocotb: 3 tests, 0 failed"),
        "cocotb:\n{text}"
    );
}
