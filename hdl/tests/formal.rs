//! Formal equivalence: every PE kind (shift, adder, dual-mode, multiply) and the engine's
//! post-processing unit, as generated for a preset's widths, equal for all inputs a
//! specification written by hand from numerics.md (`hdl/tests/formal/pe_spec.v`,
//! `hdl/tests/formal/post_spec.v`). Yosys builds a miter of the two and proves by temporal
//! induction from the all-zero state that their outputs never differ; a mutant of each
//! specification must make its proof fail.
//!
//! Plain SAT stalls on multipliers and on two differently built wide datapaths, so the miter is
//! first reduced, each step preserving its behaviour: identical cells with identical inputs
//! merge (`opt_merge`, after `wreduce` strips sign extensions), so a specification that forms
//! the exact product of the same operands and registers the same operands shares those cells
//! with the design; then ABC's `fraig` merges the logic it proves equivalent by SAT sweeping,
//! leaving the induction little to do. Init values are dropped (after the passes that read them)
//! so that equal registers merge; `-set-init-zero` restores the generated designs' power-up 0.

use shiftadd_hdl::generate::generate;
use shiftadd_sim::regmap::SHIFT_BITS;
use shiftadd_sim::rtl::{array_widths, engine_widths, ArrayKind};
use shiftadd_sim::spec::{presets, AccelConfig, PeKinds};
use shiftadd_tb::locate_exe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SPEC: &str = include_str!("formal/pe_spec.v");
const POST_SPEC: &str = include_str!("formal/post_spec.v");
/// The post-processing unit's module in the generated engine.
const POST: &str = "engine_post";

/// The PE modules of `cfg` (every kind: the single-kind PEs, and the dual-mode one), with the
/// flip-flops they instantiate, written into a fresh folder.
fn pe_folder(cfg: &AccelConfig, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for kinds in [PeKinds::All, PeKinds::ShiftAddDual] {
        let rtl = generate(&AccelConfig {
            rows: 2,
            cols: 2,
            pe_kinds: kinds,
            ..cfg.clone()
        })
        .unwrap();
        for (file, text) in &rtl.files {
            if file.contains("_pe") || file.starts_with("dff_") {
                std::fs::write(dir.join(file), text).unwrap();
            }
        }
    }
    dir
}

/// The spec module's parameters for `kind` at `cfg`'s widths.
fn params(cfg: &AccelConfig, kind: ArrayKind) -> String {
    let w = array_widths(cfg, kind);
    let f = &cfg.formats;
    match kind {
        ArrayKind::Shift => format!("-set A {} -set WB {} -set TS {}", w.xw, w.ww, w.ts),
        ArrayKind::Adder => format!("-set D {} -set TS {}", w.xw, w.ts),
        ArrayKind::Mac => format!("-set A {} -set W {} -set TS {}", w.xw, w.ww, w.ts),
        ArrayKind::Dual => format!("-set D {} -set WB {} -set TS {}", w.xw, f.shift_wb, w.ts),
    }
}

/// Proves the generated module `gold` (from the files in `dir` named after it, and the
/// flip-flops) equal to the module `spec_top` of `spec` with `params`; the Yosys log on failure.
fn prove(dir: &Path, gold: &str, spec: &str, spec_top: &str, params: &str) -> Result<(), String> {
    let spec_path = dir.join(format!("{spec_top}.v"));
    std::fs::write(&spec_path, spec).unwrap();
    let mut design: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("dff_") || (f.starts_with(gold) && !f.ends_with("_spec.v")))
        .collect();
    design.sort();
    let script = format!(
        "read_verilog {design}\n\
         read_verilog {spec}\n\
         chparam {params} {spec_top}\n\
         hierarchy -check\n\
         proc; opt_clean\n\
         miter -equiv -flatten -make_outputs {gold} {spec_top} miter\n\
         hierarchy -top miter\n\
         flatten; opt; wreduce\n\
         setattr -unset init w:*; opt_merge; opt_clean\n\
         techmap\n\
         abc -g AND -script +strash;&get,-n;&fraig,-x;&put;map\n\
         opt_clean\n\
         sat -verify -tempinduct -prove trigger 0 -set-init-zero miter\n",
        design = design.join(" "),
        spec = spec_path.display(),
    );
    let out = Command::new(locate_exe("yosys").unwrap())
        .arg("-p")
        .arg(&script)
        .current_dir(dir)
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && log.contains("Induction step proven: SUCCESS!") {
        Ok(())
    } else {
        Err(log.lines().rev().take(15).collect::<Vec<_>>().join("\n"))
    }
}

/// Proves `kind`'s PE in `dir` equal to its specification in `spec`.
fn prove_pe(dir: &Path, spec: &str, cfg: &AccelConfig, kind: ArrayKind) -> Result<(), String> {
    let pe = kind.pe_module();
    prove(dir, &pe, spec, &format!("{pe}_spec"), &params(cfg, kind))
}

const KINDS: [ArrayKind; 4] = [
    ArrayKind::Shift,
    ArrayKind::Adder,
    ArrayKind::Dual,
    ArrayKind::Mac,
];

#[test]
fn every_pe_equals_its_specification_at_every_presets_widths() {
    for cfg in [presets::lean8(), presets::lean16(), presets::seed()] {
        let dir = pe_folder(&cfg, &format!("formal-{}", cfg.name));
        for kind in KINDS {
            prove_pe(&dir, SPEC, &cfg, kind)
                .unwrap_or_else(|log| panic!("{} {kind:?}: not proven:\n{log}", cfg.name));
        }
    }
}

#[test]
fn a_mutant_of_each_specification_fails_its_proof() {
    let cfg = presets::lean8();
    let dir = pe_folder(&cfg, "formal-mutants");
    // One change per specification, each a plausible slip of reading numerics.md.
    let mutants = [
        (ArrayKind::Shift, "(PMAX - m))", "(PMAX - m + 1))"),
        (
            ArrayKind::Adder,
            "wire signed [D:0] diff = x - w;",
            "wire signed [D:0] diff = w - x - 1;",
        ),
        (
            ArrayKind::Mac,
            "wire signed [TS-1:0] product = x * w;",
            "wire signed [TS-1:0] product = x * $unsigned(w);",
        ),
        (
            ArrayKind::Dual,
            "assign term = adder_mode ?",
            "assign term = !adder_mode ?",
        ),
    ];
    for (kind, from, to) in mutants {
        assert_eq!(SPEC.matches(from).count(), 1, "{from}");
        let spec = SPEC.replace(from, to);
        match prove_pe(&dir, &spec, &cfg, kind) {
            Ok(()) => panic!("{kind:?}: the mutant `{to}` was proven equal"),
            Err(log) => assert!(log.contains("proof did fail"), "{kind:?}: {log}"),
        }
    }
}

/// The post-processing unit of `cfg`'s engine, the multiplier it instantiates and the
/// flip-flops, written into a fresh folder.
fn post_folder(cfg: &AccelConfig, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rtl = generate(cfg).unwrap();
    assert!(rtl.no_engine.is_none(), "{}: no engine", cfg.name);
    assert!(rtl.files.contains_key(&format!("{POST}.v")), "{}", cfg.name);
    for (file, text) in &rtl.files {
        if file.starts_with(POST) || file.starts_with("dff_") {
            std::fs::write(dir.join(file), text).unwrap();
        }
    }
    dir
}

/// The post specification's parameters at `cfg`'s engine widths.
fn post_params(cfg: &AccelConfig) -> String {
    let w = engine_widths(cfg).unwrap();
    let f = &cfg.formats;
    format!(
        "-set ACC {} -set MB {} -set BB {} -set RW {} -set OW {} -set SB {SHIFT_BITS} \
         -set ACT {} -set ACT_MAX {} -set ADD {}",
        w.array.acc,
        w.mb,
        w.bb,
        w.array.xw,
        w.ow,
        f.act_bits,
        f.act_range().max,
        f.add_bits
    )
}

#[test]
fn the_post_unit_equals_its_specification_at_every_presets_widths() {
    for cfg in [presets::lean8(), presets::lean16(), presets::seed()] {
        let dir = post_folder(&cfg, &format!("formal-post-{}", cfg.name));
        let start = Instant::now();
        prove(&dir, POST, POST_SPEC, "post_spec", &post_params(&cfg))
            .unwrap_or_else(|log| panic!("{}: post unit not proven:\n{log}", cfg.name));
        eprintln!("{}: post unit proven in {:.1?}", cfg.name, start.elapsed());
    }
}

/// `act_max` below the format's top: the unit clamps there (a `lean8` variant, so that the proof
/// is quick), and a specification clamping at the top fails.
#[test]
fn the_post_unit_clamps_activations_at_act_max() {
    let mut cfg = presets::lean8();
    cfg.name = "lean8-act-max".into();
    cfg.formats.act_max = Some(100);
    cfg.validate().unwrap();
    let dir = post_folder(&cfg, "formal-post-act-max");
    let params = post_params(&cfg);
    prove(&dir, POST, POST_SPEC, "post_spec", &params)
        .unwrap_or_else(|log| panic!("post unit with act_max = 100 not proven:\n{log}"));
    let from = "ACT_HI = ACT_MAX;";
    assert_eq!(POST_SPEC.matches(from).count(), 1);
    let spec = POST_SPEC.replace(from, "ACT_HI = (ONE <<< (ACT - 1)) - ONE;");
    match prove(&dir, POST, &spec, "post_spec", &params) {
        Ok(()) => panic!("a specification ignoring act_max was proven equal"),
        Err(log) => assert!(log.contains("proof did fail"), "{log}"),
    }
}

#[test]
fn mutants_of_the_post_specification_fail_their_proof() {
    let cfg = presets::lean8();
    let dir = post_folder(&cfg, "formal-post-mutants");
    let params = post_params(&cfg);
    // Plausible slips of reading numerics.md, covering every mode, the flag and the reset.
    let mutants = [
        // Post and logits round to nearest instead of flooring.
        ("(mode_1 == 1 && round_up)", "(mode_1 != 2 && round_up)"),
        // Post: ReLU decided before the residual joins.
        ("relu_1 && joined < 0)", "relu_1 && rounded < 0)"),
        // Post and round: a symmetric activation range.
        (
            "ACT_LO = -(ONE <<< (ACT - 1));",
            "ACT_LO = -(ONE <<< (ACT - 1)) + ONE;",
        ),
        // Hand-off: ties rounded up, not to even.
        (
            "(2 * discarded == unit && floored[0])",
            "(2 * discarded == unit)",
        ),
        // Hand-off: ReLU applied to it too.
        (
            "((mode_1 == 0 || mode_1 == 3) && relu_1",
            "((mode_1 != 2) && relu_1",
        ),
        // Round: the affine step applied before rounding.
        ("(mode_1 == 1 || mode_1 == 2) ? v_1", "(mode_1 == 1) ? v_1"),
        // Logits: saturated to activation codes.
        ("mode_1 == 3 ? OUT_HI", "mode_1 == 3 ? ACT_HI"),
        // `sat` missing the lower clamp.
        ("z > hi || z < lo;", "z > hi;"),
        // Reset clearing only the first cycle.
        (
            "out <= reset ? 0 : clamped[OW-1:0];",
            "out <= clamped[OW-1:0];",
        ),
    ];
    for (from, to) in mutants {
        assert_eq!(POST_SPEC.matches(from).count(), 1, "{from}");
        let spec = POST_SPEC.replace(from, to);
        match prove(&dir, POST, &spec, "post_spec", &params) {
            Ok(()) => panic!("the mutant `{to}` was proven equal"),
            Err(log) => assert!(log.contains("proof did fail"), "`{to}`: {log}"),
        }
    }
}
