//! Co-simulation of the committed presets on both simulators, and proof that co-simulation
//! fails when the Verilog is wrong: each mutant of the emitted Verilog (an operator, a
//! constant, a bit index, a signed cast, a shift direction, ...) must be reported as a mismatch
//! with a shrunk case and the first differing signal named from the waveforms.

use shiftadd_hdl::generate::{generate, write_rtl};
use shiftadd_sim::spec::{presets, PeKinds};
use shiftadd_tb::cosim::{cosim, cosim_layers, describe_failure, Options, Outcome, SimKind};
use shiftadd_tb::design::Design;
use shiftadd_tb::verilator::cache_dir;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn opts(cases: u32, max_cycles: usize) -> Options {
    Options {
        cases,
        seed: 7,
        max_cycles,
        vcd: None,
        shrink_time: Duration::from_secs(30),
        coverage: None,
        diagnose: true,
        shard: None,
    }
}

fn assert_agrees(o: &Outcome) {
    assert!(
        o.agrees(),
        "{} on {} differs from the reference: {:#?} {:#?}",
        o.top,
        o.sim.name(),
        o.failure,
        o.stopped
    );
    assert!(o.cycles > 0);
}

fn preset_levels(preset: &str, sim: SimKind, cases: u32) {
    let d = Design::load(&root().join("rtl-out").join(preset)).unwrap();
    let pes = d.pes();
    let arrays = d.arrays();
    assert!(
        !pes.is_empty() && !arrays.is_empty(),
        "{preset}: no modules found"
    );
    for dut in pes.iter() {
        assert_agrees(&cosim(&d, dut, sim, &opts(cases * 4, 24), &cache_dir()).unwrap());
    }
    for dut in arrays.iter() {
        assert_eq!(
            (dut.rows, dut.cols),
            (d.cfg.rows as usize, d.cfg.cols as usize)
        );
        assert_agrees(&cosim(&d, dut, sim, &opts(cases, 16), &cache_dir()).unwrap());
    }
}

#[test]
fn seed_agrees_on_verilator() {
    preset_levels("seed", SimKind::Verilator, 200);
}

#[test]
fn lean16_agrees_on_verilator() {
    preset_levels("lean16", SimKind::Verilator, 200);
}

#[test]
fn lean8_agrees_on_verilator() {
    preset_levels("lean8", SimKind::Verilator, 300);
}

#[test]
fn seed_agrees_on_icarus() {
    preset_levels("seed", SimKind::Icarus, 12);
}

#[test]
fn lean16_agrees_on_icarus() {
    preset_levels("lean16", SimKind::Icarus, 12);
}

#[test]
fn lean8_agrees_on_icarus() {
    preset_levels("lean8", SimKind::Icarus, 40);
}

#[test]
fn layers_agree_on_every_preset() {
    for preset in ["seed", "lean16", "lean8"] {
        let d = Design::load(&root().join("rtl-out").join(preset)).unwrap();
        for dut in d.arrays() {
            let o = cosim_layers(&d, &dut, SimKind::Verilator, &opts(40, 0), &cache_dir()).unwrap();
            assert_agrees(&o);
        }
    }
    let d = Design::load(&root().join("rtl-out").join("lean8")).unwrap();
    for dut in d.arrays() {
        let o = cosim_layers(&d, &dut, SimKind::Icarus, &opts(4, 0), &cache_dir()).unwrap();
        assert_agrees(&o);
    }
}

/// A small generated design (lean8 formats, `rows` x `cols`, `kinds`) in a fresh folder.
fn small_design(name: &str, kinds: PeKinds, rows: u32, cols: u32) -> PathBuf {
    let mut cfg = presets::lean8();
    cfg.rows = rows;
    cfg.cols = cols;
    cfg.pe_kinds = kinds;
    let dir = std::env::temp_dir()
        .join(format!("shiftadd-mutants-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    write_rtl(&generate(&cfg).unwrap(), &dir).unwrap();
    dir
}

/// Replaces the single occurrence of `from` in `dir/file` with `to`.
fn mutate(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{file}: `{from}` must occur exactly once"
    );
    std::fs::write(&p, text.replace(from, to)).unwrap();
}

/// The mutant must fail at the given level; the report must carry a shrunk case, a cycle, a
/// port and a waveform difference naming a port of the module.
fn assert_caught(dir: &Path, pe_level: bool, sim: SimKind) -> String {
    let d = Design::load(dir).unwrap();
    let duts = if pe_level { d.pes() } else { d.arrays() };
    let mut o = opts(100, 12);
    o.vcd = Some(dir.join("wave").join("run.vcd"));
    let mut caught = Vec::new();
    for dut in &duts {
        let out = cosim(&d, dut, sim, &o, &cache_dir()).unwrap();
        if let Some(f) = out.failure {
            assert!(!f.case.is_empty() && f.case.len() <= 12);
            assert_ne!(f.mismatch.expected, f.mismatch.got);
            assert!(f.vcd.is_file() && f.reference_vcd.is_file());
            let diff = f.wave_diff.expect("the waveforms differ");
            assert!(
                dut.ports.iter().any(|p| p.name == diff.signal),
                "`{}` is not a port of {}",
                diff.signal,
                dut.top
            );
            caught.push(diff.signal);
        }
    }
    assert!(
        !caught.is_empty(),
        "{}: the mutant passed co-simulation",
        dir.display()
    );
    caught.join(",")
}

#[test]
fn unmutated_small_designs_agree() {
    for (name, kinds) in [("dual", PeKinds::ShiftAddDual), ("all", PeKinds::All)] {
        let dir = small_design(&format!("clean-{name}"), kinds, 2, 3);
        let d = Design::load(&dir).unwrap();
        for dut in d.pes().iter().chain(d.arrays().iter()) {
            assert_agrees(
                &cosim(&d, dut, SimKind::Verilator, &opts(100, 12), &cache_dir()).unwrap(),
            );
        }
    }
}

#[test]
fn pe_mutants_are_caught() {
    let cases: [(&str, &str, &str, &str); 6] = [
        // An operator.
        (
            "operator",
            "dual_pe.v",
            "diff = x - ((w) & 8'hff);",
            "diff = x + ((w) & 8'hff);",
        ),
        // A constant.
        (
            "constant",
            "dual_pe.v",
            "localparam pmax = 8'h2;",
            "localparam pmax = 8'h1;",
        ),
        // A bit index: the sign-extended operand one bit short.
        (
            "bit-index",
            "dual_pe.v",
            "reg [10:0] x_wide;",
            "reg [9:0] x_wide;",
        ),
        // A signed cast: the operand's sign extension dropped.
        (
            "sign-extension",
            "dual_pe.v",
            "x_wide = ((x) & 11'h7ff) | code_ext;",
            "x_wide = ((x) & 11'h7ff);",
        ),
        // A shift direction.
        (
            "shift-direction",
            "dual_pe.v",
            "x_wide << (pmax - m)",
            "x_wide >> (pmax - m)",
        ),
        // A comparison.
        (
            "comparison",
            "dual_pe.v",
            "if (m == m_zero)",
            "if (m != m_zero)",
        ),
    ];
    for (name, file, from, to) in cases {
        let dir = small_design(&format!("pe-{name}"), PeKinds::ShiftAddDual, 2, 3);
        mutate(&dir, file, from, to);
        assert_caught(&dir, true, SimKind::Verilator);
    }
    // Icarus catches one as well.
    let dir = small_design("pe-icarus", PeKinds::ShiftAddDual, 2, 3);
    mutate(
        &dir,
        "dual_pe.v",
        "x_wide << (pmax - m)",
        "x_wide >> (pmax - m)",
    );
    assert_caught(&dir, true, SimKind::Icarus);
}

#[test]
fn multiplier_mutants_are_caught() {
    // The multiplier sign-extends both operands itself (lean8: 8 x 8 bits into 16), so its
    // `$signed` casts are redundant; the casts that matter are the extensions.
    for (name, from, to) in [
        // A signed cast: the operand zero-extended instead.
        (
            "signed-cast",
            "$signed({{8{a[7]}}, a})",
            "$signed({{8{1'b0}}, a})",
        ),
        // A bit index: the wrong sign bit.
        ("bit-index", "{{8{b[7]}}, b}", "{{8{b[6]}}, b}"),
    ] {
        let dir = small_design(&format!("mac-{name}"), PeKinds::Mult, 2, 2);
        mutate(&dir, "mac_pe_mul.v", from, to);
        assert_caught(&dir, true, SimKind::Verilator);
    }
}

#[test]
fn array_mutants_are_caught() {
    let cases: [(&str, &str, &str, &str); 4] = [
        // The tree adds the wrong way.
        (
            "tree",
            "dual_array.v",
            "node_1 = node_3 + node_4;",
            "node_1 = node_3 - node_4;",
        ),
        // The accumulator forgets the running sum.
        (
            "accumulate",
            "dual_row_acc.v",
            "acc_reg_d = acc_reg_q + sum_wide;",
            "acc_reg_d = sum_wide;",
        ),
        // The adder rows are not negated.
        (
            "negate",
            "dual_array.v",
            "row_acc_0_negate = negate | mode_d_q;",
            "row_acc_0_negate = negate;",
        ),
        // `clear` loses its delay register.
        (
            "clear-timing",
            "dual_array.v",
            "row_acc_1_clear = clear_d_q;",
            "row_acc_1_clear = clear;",
        ),
    ];
    for (name, file, from, to) in cases {
        let dir = small_design(&format!("array-{name}"), PeKinds::ShiftAddDual, 2, 3);
        mutate(&dir, file, from, to);
        assert_caught(&dir, false, SimKind::Verilator);
    }
}

#[test]
fn layer_level_catches_a_mutant() {
    let dir = small_design("layer-tree", PeKinds::ShiftAddDual, 2, 3);
    mutate(
        &dir,
        "dual_array.v",
        "node_1 = node_3 + node_4;",
        "node_1 = node_3 - node_4;",
    );
    let d = Design::load(&dir).unwrap();
    let dut = &d.arrays()[0];
    let o = cosim_layers(&d, dut, SimKind::Verilator, &opts(20, 0), &cache_dir()).unwrap();
    let f = o.failure.expect("the mutant differs");
    let (layer, [co, oy, ox]) = f.layer.expect("a layer failure");
    assert!(co < layer.g.cout && oy < layer.g.h && ox < layer.g.w);
    assert!(f.wave_diff.is_some());
}

#[test]
fn unknown_bits_are_reported_as_unknown() {
    // A PE that outputs x for a zero weight: Icarus simulates the x, which must be reported as
    // such, not as the number its bits would read as.
    let dir = small_design("pe-unknown", PeKinds::ShiftAddDual, 2, 3);
    mutate(
        &dir,
        "dual_pe.v",
        "term_reg_d = ((32'h0) & 11'h7ff);",
        "term_reg_d = 11'bx;",
    );
    let d = Design::load(&dir).unwrap();
    let o = cosim(
        &d,
        &d.pes()[0],
        SimKind::Icarus,
        &opts(100, 12),
        &cache_dir(),
    )
    .unwrap();
    let f = o.failure.expect("the unknown output differs");
    let bits = f.got_bits.clone().expect("the RTL value has unknown bits");
    assert!(bits.contains('x'), "{bits}");
    let text = describe_failure(&f, 3);
    assert!(
        text.contains(&format!("RTL {bits} (binary; x/z bits unknown)")),
        "{text}"
    );
}

#[test]
fn waveforms_of_a_passing_run_agree() {
    let dir = small_design("waves", PeKinds::ShiftAddDual, 2, 3);
    let d = Design::load(&dir).unwrap();
    for sim in [SimKind::Verilator, SimKind::Icarus] {
        let mut o = opts(10, 8);
        o.vcd = Some(dir.join(format!("{}.vcd", sim.name())));
        let dut = &d.arrays()[0];
        let out = cosim(&d, dut, sim, &o, &cache_dir()).unwrap();
        assert_agrees(&out);
        let (rtl, reference) = out.run_vcds.unwrap();
        let scope: Vec<&str> = match sim {
            SimKind::Verilator => vec!["TOP", &dut.top],
            SimKind::Icarus => vec!["shiftadd_tb", "dut"],
        };
        let diff =
            shiftadd_tb::wave::first_difference(&reference, &["TOP", &dut.top], &rtl, &scope)
                .unwrap();
        assert_eq!(diff, None, "{}", sim.name());
    }
}
