//! Board constraints: committed files fresh and nothing else in their folders, every top-level
//! port of an iCE40 top placed or internal, the clock equal to the config's, the ZC706 IP, block
//! design and build scripts run under `tclsh` with every Vivado command stubbed and logged (the
//! commands and arguments checked; Vivado itself is not run here), and the iCE40 flow with its
//! tools stubbed.

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
        let files = constraint_files(&cfg, &m).unwrap();
        let mut present: Vec<String> = std::fs::read_dir(board_dir(&cfg))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "build" && n != "ip")
            .collect();
        present.sort();
        let mut wanted: Vec<String> = files
            .keys()
            .map(|k| k.rsplit('/').next().unwrap().to_string())
            .collect();
        wanted.sort();
        assert_eq!(
            present,
            wanted,
            "{}: files not generated",
            board_dir(&cfg).display()
        );
        for (rel, text) in files {
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

/// The iCE40 board's files for `lean8`'s arrays (no preset targets the iCE40: its engine does
/// not fit one), written under `target/`; the folder and the config.
fn ice40_files() -> (PathBuf, AccelConfig, Manifest) {
    let (cfg, m) = committed("lean8");
    let cfg = AccelConfig {
        board: "ice40-hx8k".into(),
        ..cfg
    };
    let base = root()
        .join("target")
        .join("constraints-tests")
        .join("ice40");
    let _ = std::fs::remove_dir_all(&base);
    for (rel, text) in constraint_files(&cfg, &m).unwrap() {
        let path = base.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    (base.join("ice40-hx8k").join(&cfg.name), cfg, m)
}

#[test]
fn every_top_level_port_is_placed_or_internal() {
    {
        let (dir, cfg, m) = ice40_files();
        let pins = format!("{}.pcf", cfg.name);
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
            // The PS's FCLK0 clocks the IP.
            let bd = read(&dir.join("block_design.tcl"));
            assert!(
                bd.contains(&format!(
                    "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{}}}",
                    cfg.clock_mhz
                )),
                "{bd}"
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

/// Vivado's commands stood in for by Tcl: every command Tcl does not know is logged with its
/// arguments (`unknown`); reports and outputs are written as empty files; the queries that
/// steer the script answer as a finished run would.
const VIVADO_STUB: &str = r#"
set log [open $::env(STUB_LOG) w]
set out $::env(STUB_OUT)
proc note {args} { puts $::log [join $args " "] }
proc unknown {args} { note {*}$args; return [lindex $args 0] }
proc add_files {args} {
    foreach f [lindex $args end] { if {![file exists $f]} { error "missing file $f" } }
    note add_files {*}$args
}
proc get_property {name args} { note get_property $name {*}$args; if {$name eq "PROGRESS"} { return "100%" }; return $name }
proc make_wrapper {args} { note make_wrapper {*}$args; set f [file join $::out design_1_wrapper.v]; close [open $f w]; return $f }
proc get_files {args} {
    note get_files {*}$args
    if {[string match *hwh* $args]} { set f [file join $::out stub.hwh]; close [open $f w]; return $f }
    return [lindex $args end]
}
foreach r {report_utilization report_timing_summary report_power} {
    proc $r {flag f} "close \[open \$f w\]; note $r \$f"
}
proc write_bitstream {args} { close [open [lindex $args end] w]; note write_bitstream {*}$args }
proc write_hw_platform {args} { close [open [lindex $args end] w]; note write_hw_platform {*}$args }
set argv [list $out]
set argc 1
source $::env(STUB_SCRIPT)
close $log
"#;

#[test]
fn vivado_scripts_run_under_tclsh_with_stubs() {
    use shiftadd_sim::regmap::registers;
    for p in presets::all().into_iter().filter(|p| p.board == "zc706") {
        let dir = board_dir(&p);
        let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("vivado")
            .join(&p.name);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let stub = work.join("stub.tcl");
        std::fs::write(&stub, VIVADO_STUB).unwrap();
        let log = work.join("calls.log");
        let out = work.join("out");
        let o = Command::new("tclsh")
            .arg(&stub)
            .env("STUB_LOG", &log)
            .env("STUB_OUT", &out)
            .env("STUB_SCRIPT", dir.join("build.tcl"))
            .output()
            .expect("tclsh (Debian package tcl)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let calls = read(&log);
        let lines: Vec<&str> = calls.lines().collect();
        let ip = format!("shiftadd_{}", p.name.replace('-', "_"));
        let rtl = root().join("rtl-out").join(&p.name).canonicalize().unwrap();
        let mut sources: Vec<String> = std::fs::read_dir(&rtl)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| f.extension().is_some_and(|x| x == "v"))
            .map(|f| f.display().to_string())
            .collect();
        sources.sort();
        let outd = out.display().to_string();
        // The IP's version is the register map's: `ID` 0x5341_0005.
        let ip_version = "1.5";
        // The steps, in order, each with its arguments, written out here.
        let mut want = vec![
            "create_project -in_memory -part xc7z045ffg900-2".to_string(),
            format!("add_files -norecurse {}", sources.join(" ")),
            "set_property top shiftadd_axi current_fileset".into(),
            format!("ipx::package_project -root_dir {outd}/ip -vendor shiftadd.org -library user -taxonomy /UserIP -import_files -set_current true"),
            format!("set_property name {ip} ipx::current_core"),
            format!("set_property version {ip_version} ipx::current_core"),
            "ipx::infer_bus_interface irq xilinx.com:signal:interrupt_rtl:1.0 ipx::current_core".into(),
            "ipx::associate_bus_interfaces -busif s_axi -clock aclk ipx::current_core".into(),
            "ipx::associate_bus_interfaces -busif s_axis -clock aclk ipx::current_core".into(),
            "ipx::associate_bus_interfaces -busif m_axis -clock aclk ipx::current_core".into(),
            "set_property range 4096 ipx::get_address_blocks".into(),
        ];
        for r in registers(&p) {
            want.push(format!(
                "ipx::add_register {} ipx::get_address_blocks",
                r.name
            ));
            want.push(format!(
                "set_property address_offset 0x{:03x} ipx::add_register",
                r.offset
            ));
        }
        want.extend([
            "ipx::save_core ipx::current_core".to_string(),
            format!("create_project -force design_1 {outd}/project -part xc7z045ffg900-2"),
            "set_property board_part xilinx.com:zc706:part0:1.4 current_project".into(),
            format!("set_property ip_repo_paths {outd}/ip current_project"),
            "create_bd_design design_1".into(),
            "create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 processing_system7_0".into(),
            "apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 -config make_external \"FIXED_IO, DDR\" apply_board_preset \"1\" Master \"Disable\" Slave \"Disable\" get_bd_cells".into(),
            format!("set_property -dict CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {} CONFIG.PCW_USE_S_AXI_HP0 1 CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64 CONFIG.PCW_USE_FABRIC_INTERRUPT 1 CONFIG.PCW_IRQ_F2P_INTR 1 get_bd_cells", p.clock_mhz),
            format!("create_bd_cell -type ip -vlnv shiftadd.org:user:{ip}:{ip_version} shiftadd_axi_0"),
            "create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 axi_dma_0".into(),
            "connect_bd_intf_net get_bd_intf_pins get_bd_intf_pins".into(),
            "connect_bd_intf_net get_bd_intf_pins get_bd_intf_pins".into(),
            "assign_bd_address".into(),
            "validate_bd_design".into(),
            "launch_runs synth_1 -jobs 2".into(),
            "launch_runs impl_1 -to_step write_bitstream -jobs 2".into(),
            "open_run impl_1".into(),
            format!("report_utilization {outd}/utilization.rpt"),
            format!("report_timing_summary {outd}/timing.rpt"),
            format!("report_power {outd}/power.rpt"),
            format!("write_bitstream -force {outd}/design_1.bit"),
            format!("write_hw_platform -fixed -include_bit -force -file {outd}/design_1.xsa"),
        ]);
        // Each step appears, after the one before it.
        let mut at = 0;
        for step in &want {
            match lines[at..].iter().position(|l| l == step) {
                Some(k) => at += k + 1,
                None => panic!(
                    "{}: step `{step}` missing or out of order in:\n{calls}",
                    p.name
                ),
            }
        }
        // Every stream and interrupt is connected by name.
        let bd = read(&dir.join("block_design.tcl"));
        for net in [
            "[get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins shiftadd_axi_0/s_axis]",
            "[get_bd_intf_pins shiftadd_axi_0/m_axis] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]",
            "[get_bd_pins shiftadd_axi_0/irq] [get_bd_pins xlconcat_0/In0]",
            "[get_bd_pins xlconcat_0/dout] [get_bd_pins processing_system7_0/IRQ_F2P]",
        ] {
            assert!(bd.contains(net), "{}: {net}", p.name);
        }
        for f in [
            "utilization.rpt",
            "timing.rpt",
            "power.rpt",
            "design_1.bit",
            "design_1.xsa",
            "design_1.hwh",
        ] {
            assert!(
                out.join(f).exists(),
                "{}: {f} not written:\n{calls}",
                p.name
            );
        }
    }
}

#[test]
fn ice40_flow_runs_with_stubbed_tools() {
    {
        let (dir, p, _) = ice40_files();
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
            .arg(root().join("rtl-out").join(&p.name))
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

/// The ports of `module` in a Verilog text: one `input`/`output` declaration per header line.
fn header_ports(v: &str, module: &str) -> BTreeSet<String> {
    let start = v
        .find(&format!("module {module}("))
        .unwrap_or_else(|| panic!("no module {module}"));
    let header = &v[start..start + v[start..].find(");").unwrap()];
    let mut ports = BTreeSet::new();
    for l in header.lines().skip(1) {
        let l = l.trim().trim_end_matches(',');
        let name = l.split_whitespace().last().unwrap().to_string();
        match l.split_once('[') {
            Some((_, range)) => {
                let (hi, lo) = range.split_once(']').unwrap().0.split_once(':').unwrap();
                let (hi, lo): (u32, u32) = (hi.parse().unwrap(), lo.parse().unwrap());
                ports.extend((lo..=hi).map(|k| format!("{name}[{k}]")));
            }
            None => {
                ports.insert(name);
            }
        }
    }
    ports
}

#[test]
fn every_ulx3s_port_is_placed_and_the_engine_top_is_wired_by_its_manifest() {
    let boards: Vec<AccelConfig> = presets::all()
        .into_iter()
        .filter(|p| p.board == "ulx3s")
        .collect();
    assert!(!boards.is_empty(), "a preset targets the ULX3S");
    for p in boards {
        let (cfg, m) = committed(&p.name);
        let dir = board_dir(&cfg);
        let top = read(&dir.join("top.v"));
        let lpf = read(&dir.join(format!("{}.lpf", cfg.name)));
        let ports = header_ports(&top, shiftadd_tb::constraints::ULX3S_TOP);
        let mut located = BTreeSet::new();
        let mut buffered = BTreeSet::new();
        for l in lpf.lines() {
            let quoted = || l.split('"').nth(1).unwrap().to_string();
            if l.starts_with("LOCATE COMP ") {
                assert!(located.insert(quoted()), "{l}: placed twice");
            } else if l.starts_with("IOBUF PORT ") {
                buffered.insert(quoted());
            }
        }
        assert_eq!(located, ports, "{}: placed and top ports differ", cfg.name);
        assert_eq!(buffered, ports, "{}: IO standards", cfg.name);
        // The oscillator pin and its frequency: the ULX3S's G2, 25 MHz.
        assert!(
            lpf.contains("LOCATE COMP \"clk_25mhz\" SITE \"G2\";"),
            "{lpf}"
        );
        assert!(
            lpf.contains("FREQUENCY PORT \"clk_25mhz\" 25 MHZ;"),
            "{lpf}"
        );
        // The engine's serial top, every port connected.
        let uart = m.uart.as_ref().expect("a serial top");
        let inst = &top[top
            .find(&format!("{} engine_on_uart(", uart.module))
            .unwrap()..];
        let inst = &inst[..inst.find(");").unwrap()];
        for port in &uart.ports {
            assert!(
                inst.contains(&format!(".{}(", port.name)),
                "{}: `{}` not connected",
                cfg.name,
                port.name
            );
        }
        // bit_cycles is the clock over the board's baud rate.
        let bits = shiftadd_sim::uart::bit_cycles(
            u64::from(cfg.clock_mhz) * 1_000_000,
            shiftadd_sim::uart::BOARD_BAUD,
        )
        .unwrap();
        assert!(inst.contains(&format!(".bit_cycles(16'd{bits})")), "{inst}");
    }
}

/// `yowasp-ecppll`: on PATH, or in the repository's virtual environment.
fn ecppll() -> PathBuf {
    let p = shiftadd_tb::venv_dir().join("bin").join("yowasp-ecppll");
    assert!(
        p.exists(),
        "{}: missing; bash scripts/setup.sh installs it",
        p.display()
    );
    p
}

/// The value of parameter `.NAME(` in a Verilog text.
fn param(v: &str, name: &str) -> u32 {
    let rest = v
        .split(&format!(".{name}("))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {v}"));
    rest[..rest.find(')').unwrap()].parse().unwrap()
}

#[test]
fn the_ecp5_pll_setting_is_the_one_ecppll_computes() {
    use shiftadd_tb::constraints::ecp5_pll;
    let work = root()
        .join("target")
        .join("constraints-tests")
        .join("ecppll");
    std::fs::create_dir_all(&work).unwrap();
    for want in [25.0, 40.0, 48.0, 50.0, 65.0, 75.0, 100.0, 133.0] {
        // ecppll writes only inside the folder it runs in.
        let o = Command::new(ecppll())
            .current_dir(&work)
            .args(["-i", "25", "-o", &want.to_string(), "-f", "pll.v"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = read(&work.join("pll.v"));
        let ours = ecp5_pll(25.0, want).unwrap();
        let theirs = (
            param(&v, "CLKI_DIV"),
            param(&v, "CLKFB_DIV"),
            param(&v, "CLKOP_DIV"),
            param(&v, "CLKOP_CPHASE"),
        );
        assert_eq!(
            (ours.clki_div, ours.clkfb_div, ours.clkop_div, ours.cphase()),
            theirs,
            "{want} MHz: ours {ours:?}"
        );
    }
}

#[test]
fn a_clock_the_pll_cannot_reach_is_refused_by_name() {
    let (cfg, m) = committed("lean8");
    let cfg = AccelConfig {
        clock_mhz: 48,
        ..cfg
    };
    let e = constraint_files(&cfg, &m).unwrap_err();
    assert!(e.contains("`clock_mhz` 48") && e.contains("46.875"), "{e}");
}
