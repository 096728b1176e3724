//! The committed Verilog of every preset against the external tools: Verilator lint with -Wall
//! (waivers only from the committed lint.vlt), Icarus compiles it, Yosys synthesises it for
//! 7-series and iCE40 without latches, and shift and adder arrays use no DSP block. A missing tool
//! is a failure naming the package to install, never a skip.

use shiftadd_hdl::generate::{generate, write_rtl};
use shiftadd_sim::rtl::Manifest;
use shiftadd_sim::spec::{presets, AccelConfig, PeKinds};
use shiftadd_tb::locate_exe;
use shiftadd_tb::synth::{verilog_files, yosys_synth, Target};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(exe: &str) -> PathBuf {
    locate_exe(exe).unwrap_or_else(|e| panic!("{e}"))
}

fn committed(preset: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rtl-out")
        .join(preset)
}

fn manifest(dir: &Path) -> Manifest {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lint(dir: &Path, top: &str) -> Result<(), String> {
    let out = Command::new(tool("verilator"))
        .args(["--lint-only", "-Wall", "--top-module", top])
        .arg(dir.join("lint.vlt"))
        .args(verilog_files(dir).unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && !text.contains("%Warning") {
        Ok(())
    } else {
        Err(text)
    }
}

fn icarus(dir: &Path, top: &str) -> Result<(), String> {
    let out = Command::new(tool("iverilog"))
        .args(["-Wall", "-o"])
        .arg(dir.join(format!("{top}.vvp")))
        .args(["-s", top])
        .args(verilog_files(dir).unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && text.trim().is_empty() {
        Ok(())
    } else {
        Err(text)
    }
}

/// The committed preset folders, and every other array kind (shift, adder, multiply) at an odd
/// size, generated here.
fn rtl_folders() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = presets::names()
        .into_iter()
        .map(|p| (p.clone(), committed(&p)))
        .collect();
    let cfg = AccelConfig {
        rows: 3,
        cols: 5,
        pe_kinds: PeKinds::All,
        ..presets::lean8()
    };
    let dir = work_dir("all-kinds-3x5");
    write_rtl(&generate(&cfg).unwrap(), &dir).unwrap();
    v.push(("all-kinds-3x5".into(), dir));
    v
}

/// Every top module of a folder: its arrays and their PEs, the engine and `shiftadd_axi`.
fn tops(dir: &Path) -> Vec<String> {
    let m = manifest(dir);
    let mut v: Vec<String> = m
        .arrays
        .iter()
        .flat_map(|a| [a.module.clone(), a.pe_module.clone()])
        .collect();
    v.extend(m.engine.map(|e| e.module));
    v.extend(m.axi.map(|a| a.module));
    v.extend(m.uart.map(|u| u.module));
    v
}

#[test]
fn verilator_lint_is_clean_for_every_preset_and_kind() {
    for (p, dir) in rtl_folders() {
        let tops = tops(&dir);
        if presets::by_name(&p).is_some() {
            assert!(tops.iter().any(|t| t == "shiftadd_axi"), "{p}: {tops:?}");
        }
        for top in tops {
            lint(&dir, &top).unwrap_or_else(|e| panic!("{p}/{top}: lint: {e}"));
        }
    }
}

#[test]
fn lint_reports_a_width_mismatch_without_the_waiver_file() {
    // The waivers are what silences rust-hdl's literal widths: without lint.vlt, -Wall warns.
    let dir = work_dir("lint-no-waivers");
    for f in verilog_files(&committed("lean8")).unwrap() {
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.join("lint.vlt"), "`verilator_config\n").unwrap();
    let e = lint(&dir, "dual_pe").unwrap_err();
    assert!(e.contains("WIDTH"), "{e}");
}

#[test]
fn icarus_compiles_every_preset_and_kind() {
    for (p, dir) in rtl_folders() {
        let work = work_dir(&format!("icarus-{p}"));
        for f in verilog_files(&dir).unwrap() {
            std::fs::copy(&f, work.join(f.file_name().unwrap())).unwrap();
        }
        for top in tops(&dir).into_iter().filter(|t| !t.ends_with("_pe")) {
            icarus(&work, &top).unwrap_or_else(|e| panic!("{p}/{top}: iverilog: {e}"));
        }
    }
}

/// Synthesises every array and PE of `dir` for both targets; returns `(module, target, dsp)`.
fn synth_all(dir: &Path, name: &str) -> Vec<(String, Target, u64)> {
    let work = work_dir(&format!("yosys-{name}"));
    let mut out = Vec::new();
    for a in manifest(dir).arrays {
        for module in [a.pe_module.clone(), a.module.clone()] {
            for target in [Target::Xc7, Target::Ice40] {
                let r = yosys_synth(dir, &module, target, &work)
                    .unwrap_or_else(|e| panic!("{name}/{module}: {e}"));
                assert!(r.lut + r.dsp > 0, "{name}/{module}: nothing synthesised");
                out.push((module.clone(), target, r.dsp));
            }
        }
    }
    out
}

#[test]
fn yosys_synthesises_every_preset_without_latches_or_dsps() {
    // Full arrays of every preset take Yosys minutes each (seed's 16x16 shift array: ~90 k LUTs),
    // so the suite synthesises the committed lean8 folder whole, and for the wider presets their
    // committed PEs plus the same array template at 4x4 (same modules, fewer instances). The
    // multiply baseline's presets are the multipliers: `multiply_arrays_map_onto_dsp_blocks`.
    for p in presets::all()
        .into_iter()
        .filter(|p| p.pe_kinds != PeKinds::Mult)
    {
        let (dir, name) = if p.name == "lean8" {
            (committed(&p.name), p.name.clone())
        } else {
            let small = AccelConfig {
                rows: 4,
                cols: 4,
                ..p.clone()
            };
            let dir = work_dir(&format!("rtl-{}-4x4", p.name));
            write_rtl(&generate(&small).unwrap(), &dir).unwrap();
            for f in verilog_files(&committed(&p.name)).unwrap() {
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                // The engine's modules depend on the array size (bank depths, lane counts).
                let engine = name.starts_with("engine") || !dir.join(&name).exists();
                if !name.ends_with("_array.v") && !engine {
                    // Equal below the header (which names the config's hash).
                    let body = |p: &Path| {
                        let t = std::fs::read_to_string(p).unwrap();
                        t.lines().skip(2).collect::<Vec<_>>().join("\n")
                    };
                    assert_eq!(
                        body(&dir.join(&name)),
                        body(&f),
                        "{}: {name} is the committed module",
                        p.name
                    );
                }
            }
            (dir, format!("{}-4x4", p.name))
        };
        for (module, target, dsp) in synth_all(&dir, &name) {
            // Shift and adder arrays are the multiplication-free part: no DSP block at all.
            assert_eq!(
                dsp,
                0,
                "{name}/{module} ({}) uses {dsp} DSPs",
                target.name()
            );
        }
    }
}

#[test]
fn multiply_arrays_map_onto_dsp_blocks() {
    // The baseline is a real multiplier: on 7-series Yosys maps it onto DSP48E1 blocks.
    let cfg = AccelConfig {
        rows: 2,
        cols: 2,
        pe_kinds: PeKinds::Mult,
        ..presets::lean8()
    };
    let dir = work_dir("mult-rtl");
    write_rtl(&generate(&cfg).unwrap(), &dir).unwrap();
    let synth = synth_all(&dir, "mult");
    let dsp = |m: &str| {
        synth
            .iter()
            .find(|(n, t, _)| n == m && *t == Target::Xc7)
            .unwrap()
            .2
    };
    assert_eq!(dsp("mac_pe"), 1);
    assert_eq!(dsp("mac_array"), 4);
}

#[test]
fn a_latch_is_refused() {
    // The latch check must be able to fail: a module that holds a value without a clock.
    let dir = work_dir("latch");
    std::fs::write(
        dir.join("latchy.v"),
        "module latchy(input wire en, input wire d, output reg q, output reg r);\n\
         always @(*) begin if (en) q = d; end\n\
         always @(*) r = ~d;\nendmodule\n",
    )
    .unwrap();
    let e = yosys_synth(&dir, "latchy", Target::Ice40, &dir).unwrap_err();
    assert!(e.contains("yosys"), "{e}");
}

#[test]
fn engine_buffers_map_onto_block_ram() {
    // lean8's engine: its 8 input, 8 output and 8 residual banks (2048 words each) are block
    // RAMs on both targets; the small weight and parameter lanes may go to distributed RAM. No
    // latches (yosys_synth refuses them).
    let dir = committed("lean8");
    let work = work_dir("yosys-engine-lean8");
    let mut engine_xc7 = None;
    for target in [Target::Xc7, Target::Ice40] {
        let r = yosys_synth(&dir, "engine", target, &work)
            .unwrap_or_else(|e| panic!("lean8/engine: {e}"));
        eprintln!("lean8 engine {target:?}: {r:?}");
        assert!(r.bram >= 3 * 8, "{target:?}: {} block RAMs", r.bram);
        if target == Target::Xc7 {
            engine_xc7 = Some(r);
        }
    }
    // shiftadd_axi: the same memories and multipliers, more registers (the AXI channels), no
    // latches. Its LUT count is not compared: Yosys maps the wrapped engine differently.
    let e = engine_xc7.unwrap();
    let a = yosys_synth(
        &dir,
        "shiftadd_axi",
        Target::Xc7,
        &work_dir("yosys-axi-lean8"),
    )
    .unwrap_or_else(|e| panic!("lean8/shiftadd_axi: {e}"));
    eprintln!("lean8 shiftadd_axi Xc7: {a:?}");
    assert_eq!((a.bram, a.dsp), (e.bram, e.dsp), "{a:?} against {e:?}");
    assert!(a.ff > e.ff, "{a:?} against {e:?}");
}
