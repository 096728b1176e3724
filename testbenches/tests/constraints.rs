//! Board constraints: committed files fresh, every top-level port placed or internal, the clock
//! period equal to the config's, and the Vivado and iCE40 scripts run with their tools stubbed.

use shiftadd_sim::rtl::Manifest;
use shiftadd_sim::spec::{presets, AccelConfig};
use shiftadd_tb::constraints::constraint_files;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The committed config and manifest of a preset's RTL.
fn committed(preset: &str) -> (AccelConfig, Manifest) {
    let dir = root().join("rtl-out").join(preset);
    let cfg: AccelConfig = serde_json::from_str(&read(&dir.join("config.json"))).unwrap();
    let m: Manifest = serde_json::from_str(&read(&dir.join("manifest.json"))).unwrap();
    (cfg, m)
}

fn board_dir(cfg: &AccelConfig) -> PathBuf {
    root().join("constraints").join(&cfg.board).join(&cfg.name)
}

/// Ports of the first module of a Verilog file: `input wire x` and `output wire y` in its header.
fn top_ports(v: &str) -> (String, BTreeSet<String>) {
    let line = v
        .lines()
        .find(|l| l.starts_with("module "))
        .expect("a module");
    let name = line[7..line.find('(').unwrap()].trim().to_string();
    let ports = line[line.find('(').unwrap() + 1..line.rfind(')').unwrap()]
        .split(',')
        .map(|p| p.split_whitespace().last().unwrap().to_string())
        .collect();
    (name, ports)
}

/// Placed ports and `module.port` names marked internal in an XDC or PCF.
fn placed_and_internal(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut placed = BTreeSet::new();
    let mut internal = BTreeSet::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# internal: ") {
            internal.insert(rest.trim().to_string());
        } else if l.starts_with("set_property") && l.contains("PACKAGE_PIN") {
            let port = l.split("[get_ports ").nth(1).unwrap().trim_end_matches(']');
            placed.insert(port.trim().to_string());
        } else if let Some(rest) = l.strip_prefix("set_io ") {
            placed.insert(rest.split_whitespace().next().unwrap().to_string());
        }
    }
    (placed, internal)
}

#[test]
fn committed_constraints_are_fresh() {
    for p in presets::all() {
        let (cfg, m) = committed(&p.name);
        for (rel, text) in constraint_files(&cfg, &m).unwrap() {
            let path = root().join("constraints").join(&rel);
            let found = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                found == text,
                "{} is stale or missing; regenerate with: cargo run --release -p shiftadd -- constraints --preset {} --out constraints",
                path.display(),
                p.name
            );
        }
    }
}

#[test]
fn every_top_level_port_is_placed_or_internal() {
    for p in presets::all() {
        let (cfg, m) = committed(&p.name);
        let dir = board_dir(&cfg);
        let pins = if cfg.board == "zc706" {
            format!("{}.xdc", cfg.name)
        } else {
            format!("{}.pcf", cfg.name)
        };
        let (placed, internal) = placed_and_internal(&read(&dir.join(&pins)));
        let (top, ports) = top_ports(&read(&dir.join("top.v")));
        assert_eq!(top, format!("{}_top", cfg.name));
        assert_eq!(
            placed, ports,
            "{pins}: the board top's ports and the placed ports differ"
        );
        let mut arrays = BTreeSet::new();
        for a in &m.arrays {
            for port in &a.ports {
                let key = format!("{}.{}", a.module, port.name);
                assert!(
                    internal.contains(&key),
                    "{pins}: array port {key} is neither placed nor internal"
                );
                arrays.insert(key);
            }
        }
        assert_eq!(
            internal, arrays,
            "{pins}: internal names that are not array ports"
        );
        assert!(arrays.len() > 10, "{pins}");
    }
}

#[test]
fn clock_period_is_the_configs() {
    for p in presets::all() {
        let (cfg, _) = committed(&p.name);
        let dir = board_dir(&cfg);
        if cfg.board == "zc706" {
            let xdc = read(&dir.join(format!("{}.xdc", cfg.name)));
            let clocks: Vec<f64> = xdc
                .lines()
                .filter(|l| l.starts_with("create_clock"))
                .map(|l| {
                    l.split("-period ")
                        .nth(1)
                        .unwrap()
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect();
            assert_eq!(clocks.len(), 1, "{xdc}");
            assert!(
                (clocks[0] - 1000.0 / cfg.clock_mhz as f64).abs() < 5e-4,
                "{} vs {} MHz",
                clocks[0],
                cfg.clock_mhz
            );
        } else {
            let sh = read(&dir.join("flow.sh"));
            let freq: u32 = sh
                .split("--freq ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(freq, cfg.clock_mhz);
        }
    }
}

/// Tcl procs standing in for Vivado's commands: each logs its call, reads check their file.
const VIVADO_STUB: &str = r#"
set log [open $::env(STUB_LOG) w]
proc note {args} { puts $::log [join $args " "] }
proc need {f} { if {![file exists $f]} { error "missing file $f" } }
proc read_verilog {f} { need $f; note read_verilog [file normalize $f] }
proc read_xdc {f} { need $f; note read_xdc [file normalize $f] }
proc synth_design {args} { note synth_design {*}$args }
proc opt_design {args} { note opt_design }
proc place_design {args} { note place_design }
proc route_design {args} { note route_design }
proc write_checkpoint {args} { note write_checkpoint [lindex $args end] }
foreach r {report_utilization report_timing_summary report_power} {
    proc $r {flag f} "close \[open \$f w\]; note $r \$f"
}
set argv [list $::env(STUB_OUT)]
set argc 1
source $::env(STUB_SCRIPT)
close $log
"#;

#[test]
fn vivado_script_runs_under_tclsh_with_stubs() {
    for p in presets::all().into_iter().filter(|p| p.board == "zc706") {
        let dir = board_dir(&p);
        let work = root()
            .join("target")
            .join("constraints-tests")
            .join(&p.name);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let stub = work.join("stub.tcl");
        std::fs::write(&stub, VIVADO_STUB).unwrap();
        let log = work.join("calls.log");
        let out = work.join("reports");
        let o = Command::new("tclsh")
            .arg(&stub)
            .env("STUB_LOG", &log)
            .env("STUB_OUT", &out)
            .env("STUB_SCRIPT", dir.join("build.tcl"))
            .output()
            .expect("tclsh (Debian package tcl)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let calls = read(&log);
        let rtl = root().join("rtl-out").join(&p.name).canonicalize().unwrap();
        let mut want: Vec<String> = std::fs::read_dir(&rtl)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| f.extension().is_some_and(|x| x == "v"))
            .map(|f| format!("read_verilog {}", f.display()))
            .collect();
        want.sort();
        want.push(format!(
            "read_verilog {}",
            dir.join("top.v").canonicalize().unwrap().display()
        ));
        want.push(format!(
            "read_xdc {}",
            dir.join(format!("{}.xdc", p.name))
                .canonicalize()
                .unwrap()
                .display()
        ));
        want.push(format!(
            "synth_design -top {}_top -part xc7z045ffg900-2",
            p.name
        ));
        for step in ["opt_design", "place_design", "route_design"] {
            want.push(step.to_string());
        }
        let got: Vec<&str> = calls.lines().take(want.len()).collect();
        assert_eq!(got, want, "{calls}");
        for r in ["utilization.rpt", "timing.rpt", "power.rpt"] {
            assert!(out.join(r).exists(), "{r} not written: {calls}");
        }
    }
}

#[test]
fn ice40_flow_runs_with_stubbed_tools() {
    for p in presets::all()
        .into_iter()
        .filter(|p| p.board == "ice40-hx8k")
    {
        let dir = board_dir(&p);
        let work = root()
            .join("target")
            .join("constraints-tests")
            .join(&p.name);
        let _ = std::fs::remove_dir_all(&work);
        let bin = work.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = work.join("calls.log");
        for tool in ["yosys", "nextpnr-ice40", "icepack"] {
            // Each stub logs its arguments and fails on an argument naming a missing input file.
            let script = format!(
                "#!/usr/bin/env bash\necho \"{tool} $*\" >> \"{}\"\nfor a in \"$@\"; do case \"$a\" in *.v|*.pcf) [ -f \"$a\" ] || {{ echo \"missing $a\" >&2; exit 1; }};; esac; done\n",
                log.display()
            );
            let path = bin.join(tool);
            std::fs::write(&path, script).unwrap();
            Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        }
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let o = Command::new("bash")
            .arg(dir.join("flow.sh"))
            .arg(work.join("out"))
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let calls = read(&log);
        let lines: Vec<&str> = calls.lines().collect();
        assert_eq!(lines.len(), 3, "{calls}");
        assert!(
            lines[0].starts_with("yosys ") && lines[0].contains(&format!("-top {}_top", p.name))
        );
        assert!(
            lines[0].contains("dual_array.v") && lines[0].contains("top.v"),
            "{calls}"
        );
        assert!(lines[1].contains(&format!("--freq {}", p.clock_mhz)) && lines[1].contains(".pcf"));
        assert!(lines[2].starts_with("icepack "));
    }
}
