//! Formal equivalence: every PE kind (shift, adder, dual-mode, multiply), as generated for a
//! preset's widths, equals for all inputs a specification written by hand from numerics.md
//! (`hdl/tests/formal/pe_spec.v`). Yosys builds a miter of the two and proves by temporal
//! induction from the all-zero state that their `term` outputs never differ; a mutant of each
//! specification must make its proof fail.

use shiftadd_hdl::generate::generate;
use shiftadd_sim::rtl::{array_widths, ArrayKind};
use shiftadd_sim::spec::{presets, AccelConfig, PeKinds};
use shiftadd_tb::locate_exe;
use std::path::{Path, PathBuf};
use std::process::Command;

const SPEC: &str = include_str!("formal/pe_spec.v");

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

/// Proves `kind`'s PE in `dir` equal to its specification in `spec`; the Yosys log on failure.
fn prove(dir: &Path, spec: &str, cfg: &AccelConfig, kind: ArrayKind) -> Result<(), String> {
    let pe = kind.pe_module();
    let spec_path = dir.join(format!("{pe}_spec.v"));
    std::fs::write(&spec_path, spec).unwrap();
    let mut design: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("dff_") || (f.starts_with(&pe) && !f.ends_with("_spec.v")))
        .collect();
    design.sort();
    let script = format!(
        "read_verilog {design}\n\
         read_verilog {spec}\n\
         chparam {params} {pe}_spec\n\
         hierarchy -check\n\
         proc; opt_clean\n\
         miter -equiv -flatten -make_outputs {pe} {pe}_spec miter\n\
         hierarchy -top miter\n\
         flatten; opt\n\
         sat -verify -tempinduct -prove trigger 0 -set-init-zero miter\n",
        design = design.join(" "),
        spec = spec_path.display(),
        params = params(cfg, kind),
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
            prove(&dir, SPEC, &cfg, kind)
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
        match prove(&dir, &spec, &cfg, kind) {
            Ok(()) => panic!("{kind:?}: the mutant `{to}` was proven equal"),
            Err(log) => assert!(log.contains("proof did fail"), "{kind:?}: {log}"),
        }
    }
}
