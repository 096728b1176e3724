//! The emitter and generator: widths for every preset, one module per distinct body, readable
//! names, headers, determinism, refusals, and the committed `rtl-out/<preset>/` being fresh.

use shiftadd_hdl::generate::{generate, stale_files, write_rtl, MANIFEST_FILE};
use shiftadd_sim::rtl::{
    array_widths, checked_widths, compiled_array_widths, regenerate_command, sha256_hex, ArrayKind,
    FileEntry,
};
use shiftadd_sim::spec::{acc_widths, presets, AccelConfig, PeKinds};
use std::path::Path;

fn with(cfg: AccelConfig, rows: u32, cols: u32, kinds: PeKinds) -> AccelConfig {
    AccelConfig {
        rows,
        cols,
        pe_kinds: kinds,
        ..cfg
    }
}

#[test]
fn every_preset_and_kind_has_compiled_widths() {
    for p in presets::all() {
        for kind in ArrayKind::ALL {
            let w = checked_widths(&p, kind)
                .unwrap_or_else(|e| panic!("preset {} needs a width set: {e}", p.name));
            // Widths from numerics.md, written out independently of `array_widths`.
            let f = p.formats;
            let acc = acc_widths(&f, p.max_taps as u64);
            let pmax = (1u32 << (f.shift_wb - 1)) - 2;
            let (xw, ww, t, accw) = match kind {
                ArrayKind::Shift => (f.act_bits, f.shift_wb, f.act_bits + pmax + 1, acc.shift),
                ArrayKind::Adder => (f.add_bits, f.add_bits, f.add_bits, acc.adder),
                ArrayKind::Mac => (f.act_bits, f.mul_bits, f.act_bits + f.mul_bits, acc.mult),
                // One operand port for activation and adder codes (`seed-fix16`: 32 and 43 bits),
                // weights as wide; the term holds a shifted activation or a port-wide magnitude.
                ArrayKind::Dual => {
                    let port = if f.add_bits > f.act_bits {
                        f.add_bits
                    } else {
                        f.act_bits
                    };
                    let t = if port + 1 > f.act_bits + pmax + 1 {
                        port + 1
                    } else {
                        f.act_bits + pmax + 1
                    };
                    (port, port, t, acc.shift.max(acc.adder))
                }
            };
            assert_eq!(
                (w.xw, w.ww, w.t, w.acc),
                (xw as usize, ww as usize, t as usize, accw as usize)
            );
            // The tree holds 64 terms (plus a sign bit for magnitudes) or the whole accumulator.
            let need = t as usize + 6 + usize::from(kind == ArrayKind::Adder);
            assert_eq!(w.ts, need.min(accw as usize), "{} {kind:?}", p.name);
        }
    }
    // Every compiled set belongs to a preset: nothing compiled in that nothing uses.
    for (kind, w) in compiled_array_widths() {
        assert!(
            presets::all().iter().any(|p| array_widths(p, kind) == w),
            "{kind:?} {w} is compiled but no preset uses it"
        );
    }
}

#[test]
fn unsupported_widths_are_refused_with_the_supported_list() {
    let mut cfg = presets::seed();
    cfg.formats.act_bits = 24;
    cfg.formats.act_max = None;
    let e = checked_widths(&cfg, ArrayKind::Shift)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x 24"), "{e}");
    assert!(e.contains("x 32 / w 5"), "lists the supported sets: {e}");
    assert!(e.contains("seed"), "names the presets: {e}");
    let e = generate(&cfg).unwrap_err().to_string();
    assert!(e.contains("not compiled"), "{e}");
}

#[test]
fn identical_modules_are_emitted_once() {
    let small = generate(&with(presets::lean8(), 2, 2, PeKinds::All)).unwrap();
    let large = generate(&with(presets::lean8(), 16, 16, PeKinds::All)).unwrap();
    let names = |r: &shiftadd_hdl::generate::GeneratedRtl| -> Vec<String> {
        r.files.keys().cloned().collect()
    };
    // The same modules whatever the size: one PE module per kind, not rows x cols of them.
    assert_eq!(names(&small), names(&large));
    for kind in ["shift", "adder", "mac"] {
        assert!(large.files.contains_key(&format!("{kind}_pe.v")));
        assert!(large.files.contains_key(&format!("{kind}_array.v")));
    }
    let verilog = |r: &shiftadd_hdl::generate::GeneratedRtl| -> usize {
        r.files
            .iter()
            .filter(|(n, _)| n.ends_with(".v"))
            .map(|(_, t)| t.len())
            .sum()
    };
    // 64x the PEs; the Verilog grows by far less, and every PE body stays out of the array.
    let growth = verilog(&large) as f64 / verilog(&small) as f64;
    eprintln!(
        "2x2 {} bytes, 16x16 {} bytes",
        verilog(&small),
        verilog(&large)
    );
    assert!(growth < 32.0, "Verilog grew {growth:.1}x for 64x the PEs");
    let pe_body = &large.files["shift_pe.v"];
    assert!(!large.files["shift_array.v"].contains("x_wide"));
    assert_eq!(
        pe_body.lines().filter(|l| l.starts_with("module ")).count(),
        1
    );
}

#[test]
fn the_engine_reuses_the_array_modules() {
    let rtl = generate(&presets::lean8()).unwrap();
    // The engine's array is the dual array module itself, not a copy under another name.
    assert!(rtl.files["engine.v"].contains("    dual_array array("));
    let bodies: Vec<(&String, String)> = rtl
        .files
        .iter()
        .filter(|(n, _)| n.ends_with(".v"))
        .map(|(n, t)| {
            let own = n.trim_end_matches(".v");
            let body: String = t
                .lines()
                .skip_while(|l| l.starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (
                n,
                body.replacen(&format!("module {own}("), "module SELF(", 1),
            )
        })
        .collect();
    for (i, (a, ta)) in bodies.iter().enumerate() {
        for (b, tb) in &bodies[i + 1..] {
            assert_ne!(ta, tb, "{a} and {b} are the same module");
        }
    }
}

#[test]
fn files_have_headers_readable_names_and_are_deterministic() {
    let cfg = presets::lean8();
    let a = generate(&cfg).unwrap();
    let b = generate(&cfg).unwrap();
    assert_eq!(a.files, b.files, "generation is deterministic");
    for (name, text) in &a.files {
        if !name.ends_with(".v") {
            continue;
        }
        assert!(text.starts_with("// Generated by shiftadd-hdl"), "{name}");
        assert!(
            text.contains(&a.manifest.config_sha256),
            "{name}: config hash"
        );
        assert!(text.contains("Do not edit"), "{name}");
        let module = name.trim_end_matches(".v");
        assert!(
            text.contains(&format!("module {module}(")),
            "{name}: one module per file"
        );
        for line in text.lines().filter(|l| l.starts_with("module ")) {
            let m = line["module ".len()..].split('(').next().unwrap();
            assert!(
                m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "module name `{m}`"
            );
        }
        // `$` survives only in system functions.
        for (i, _) in text.match_indices('$') {
            let before = text[..i].chars().last().unwrap_or(' ');
            assert!(
                !(before.is_ascii_alphanumeric() || before == '_'),
                "{name}: `$` inside an identifier"
            );
        }
    }
    let m = &a.manifest;
    for f in &m.files {
        let text = &a.files[&f.name];
        assert_eq!(f.bytes, text.len());
        assert_eq!(f.sha256, sha256_hex(text.as_bytes()));
    }
    let cfg_back: AccelConfig = serde_json::from_str(&a.files["config.json"]).unwrap();
    assert_eq!(cfg_back, cfg, "config.json is the resolved config");
}

#[test]
fn committed_rtl_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rtl-out");
    for p in presets::all() {
        let rtl = generate(&p).unwrap();
        let stale = stale_files(&rtl, &root.join(&p.name));
        assert!(
            stale.is_empty(),
            "rtl-out/{} is stale ({}); regenerate with: {}",
            p.name,
            stale.join("; "),
            regenerate_command(&p.name)
        );
    }
}

#[test]
fn every_preset_has_an_engine() {
    for cfg in shiftadd_sim::spec::presets::all() {
        let t = std::time::Instant::now();
        let d =
            shiftadd_hdl::engine::emit_engine(&cfg).unwrap_or_else(|e| panic!("{}: {e}", cfg.name));
        let bytes: usize = d.modules.iter().map(|m| m.text.len()).sum();
        eprintln!(
            "{}: {} modules, {} bytes, {:?}",
            cfg.name,
            d.modules.len(),
            bytes,
            t.elapsed()
        );
        assert_eq!(d.top, "engine");
    }
}

#[test]
fn write_rtl_removes_only_what_it_wrote() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-write-rtl");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = with(presets::lean8(), 2, 2, PeKinds::ShiftAdd);
    let rtl = generate(&cfg).unwrap();
    // An earlier manifest naming a user's file (contents not the generator's), and a file the
    // generator wrote once (contents as the manifest records them).
    let user = b"module notes; endmodule\n";
    let stale = b"module stale_pe; endmodule\n";
    std::fs::write(dir.join("notes.v"), user).unwrap();
    std::fs::write(dir.join("stale_pe.v"), stale).unwrap();
    let mut old = rtl.manifest.clone();
    old.files = vec![
        FileEntry {
            name: "notes.v".into(),
            bytes: 3,
            sha256: sha256_hex(b"something else"),
        },
        FileEntry {
            name: "stale_pe.v".into(),
            bytes: stale.len(),
            sha256: sha256_hex(stale),
        },
    ];
    std::fs::write(
        dir.join(MANIFEST_FILE),
        serde_json::to_string(&old).unwrap(),
    )
    .unwrap();
    write_rtl(&rtl, &dir).unwrap();
    assert_eq!(std::fs::read(dir.join("notes.v")).unwrap(), user);
    assert!(!dir.join("stale_pe.v").exists());
    assert!(
        stale_files(&rtl, &dir)
            .iter()
            .all(|s| s.starts_with("notes.v")),
        "{:?}",
        stale_files(&rtl, &dir)
    );
    // No staging files are left behind.
    let hidden: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}
