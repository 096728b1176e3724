//! Resource baselines: Yosys figures of every preset's PE and of its array at 4x4, stored in
//! `hdl/baselines/resources.json` and compared with tolerances, so that a generator change
//! that costs (or saves) area shows up. Full 16x16 arrays take Yosys minutes each, hence 4x4.
//!
//! After an intended change, rewrite the file with
//! `SHIFTADD_BLESS=1 cargo test --release -p shiftadd-hdl --test baselines` and commit it.

use serde::{Deserialize, Serialize};
use shiftadd_hdl::generate::{generate, write_rtl};
use shiftadd_sim::spec::{presets, AccelConfig};
use shiftadd_tb::synth::{yosys_synth, yosys_version, Target};
use std::path::{Path, PathBuf};

/// Allowed relative change of LUTs and carry cells, and of flip-flops; DSP and BRAM are exact.
const LUT_TOL: f64 = 0.05;
const FF_TOL: f64 = 0.02;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Row {
    preset: String,
    size: String,
    module: String,
    target: String,
    lut: u64,
    carry: u64,
    ff: u64,
    dsp: u64,
    bram: u64,
}

#[derive(Serialize, Deserialize)]
struct Baselines {
    about: String,
    yosys: String,
    rows: Vec<Row>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn measure() -> Vec<Row> {
    let mut rows = Vec::new();
    for p in presets::all() {
        let cfg = AccelConfig {
            rows: 4,
            cols: 4,
            ..p.clone()
        };
        let work = root().join("target").join("baselines").join(&p.name);
        let _ = std::fs::remove_dir_all(&work);
        let rtl = generate(&cfg).unwrap();
        let dir = work.join("rtl");
        write_rtl(&rtl, &dir).unwrap();
        for a in &rtl.manifest.arrays {
            for module in [a.pe_module.clone(), a.module.clone()] {
                for target in [Target::Xc7, Target::Ice40] {
                    let r = yosys_synth(&dir, &module, target, &work)
                        .unwrap_or_else(|e| panic!("{}/{module}: {e}", p.name));
                    rows.push(Row {
                        preset: p.name.clone(),
                        size: "4x4".into(),
                        module: module.clone(),
                        target: target.name().into(),
                        lut: r.lut,
                        carry: r.carry,
                        ff: r.ff,
                        dsp: r.dsp,
                        bram: r.bram,
                    });
                }
            }
        }
    }
    rows
}

/// Within `tol` of `base` (relative), with at least one cell of slack.
fn close(now: u64, base: u64, tol: f64) -> bool {
    (now as f64 - base as f64).abs() <= (base as f64 * tol).max(1.0)
}

#[test]
fn resources_match_the_stored_baselines() {
    let path = root().join("hdl/baselines/resources.json");
    let rows = measure();
    if std::env::var_os("SHIFTADD_BLESS").is_some() {
        let b = Baselines {
            about: "Yosys figures of each preset's PE and its array at 4x4 (synth_xilinx -family xc7 -flatten, synth_ice40); checked by testbenches/tests/baselines.rs".into(),
            yosys: yosys_version(),
            rows,
        };
        std::fs::write(&path, serde_json::to_string_pretty(&b).unwrap() + "\n").unwrap();
        return;
    }
    let stored: Baselines = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    let key = |r: &Row| {
        (
            r.preset.clone(),
            r.size.clone(),
            r.module.clone(),
            r.target.clone(),
        )
    };
    let mut problems = Vec::new();
    for r in &rows {
        let Some(b) = stored.rows.iter().find(|b| key(b) == key(r)) else {
            problems.push(format!("{:?}: no baseline", key(r)));
            continue;
        };
        for (what, now, base, tol) in [
            ("LUT", r.lut, b.lut, LUT_TOL),
            ("carry", r.carry, b.carry, LUT_TOL),
            ("FF", r.ff, b.ff, FF_TOL),
            ("DSP", r.dsp, b.dsp, 0.0),
            ("BRAM", r.bram, b.bram, 0.0),
        ] {
            let ok = if tol == 0.0 {
                now == base
            } else {
                close(now, base, tol)
            };
            if !ok {
                problems.push(format!(
                    "{} {} {} ({}): {what} {now}, baseline {base}",
                    r.preset, r.size, r.module, r.target
                ));
            }
        }
    }
    for b in &stored.rows {
        if !rows.iter().any(|r| key(r) == key(b)) {
            problems.push(format!(
                "{:?}: baseline of a module no longer built",
                key(b)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "resources moved beyond the tolerances (LUT and carry {}%, FF {}%, DSP and BRAM exact):\n{}\nif intended: SHIFTADD_BLESS=1 cargo test --release -p shiftadd-hdl --test baselines, and commit hdl/baselines/resources.json",
        LUT_TOL * 100.0,
        FF_TOL * 100.0,
        problems.join("\n")
    );
}

#[test]
fn tolerance_rule() {
    assert!(close(105, 100, LUT_TOL) && !close(106, 100, LUT_TOL) && !close(94, 100, LUT_TOL));
    assert!(close(1, 0, FF_TOL) && !close(2, 0, FF_TOL));
}
