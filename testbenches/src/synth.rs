//! Resource and timing figures without a vendor licence: Yosys (`synth_xilinx` for 7-series,
//! `synth_ice40`) and nextpnr-ice40 for Fmax where the design fits an iCE40 HX8K.

use crate::{locate_exe, CosimError};
use serde::Serialize;
use shiftadd_sim::rtl::{sha256_hex, Port, PortDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Synthesis target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Xilinx 7-series (`synth_xilinx`): the ZC706's xc7z045.
    Xc7,
    /// Xilinx 7-series without DSP blocks (`synth_xilinx -nodsp`): multipliers in fabric, to
    /// compare them with shift and adder PEs in the same currency.
    #[serde(rename = "xc7-nodsp")]
    Xc7NoDsp,
    /// Lattice iCE40 (`synth_ice40`).
    Ice40,
    /// Lattice ECP5 (`synth_ecp5`): the ULX3S's LFE5U-85F.
    Ecp5,
}

impl Target {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Xc7 => "xc7",
            Target::Xc7NoDsp => "xc7-nodsp",
            Target::Ice40 => "ice40",
            Target::Ecp5 => "ecp5",
        }
    }
}

/// Logic cells of an iCE40 HX8K.
pub const HX8K_LCS: u64 = 7680;

/// Cell counts of one synthesis run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// LUTs (LUT1..LUT6 on 7-series, SB_LUT4 on iCE40).
    pub lut: u64,
    /// Carry cells (CARRY4, SB_CARRY, CCU2C).
    pub carry: u64,
    /// Flip-flops.
    pub ff: u64,
    /// DSP blocks (DSP48E1, SB_MAC16, MULT18X18D).
    pub dsp: u64,
    /// Block RAMs (RAMB18E1 = 1, RAMB36E1 = 2; SB_RAM40_4K; DP16KD).
    pub bram: u64,
    /// Every cell type with its count.
    pub cells: BTreeMap<String, u64>,
}

/// Counts the cells of Yosys' `stat -json` output.
pub fn parse_stat(json: &str) -> Result<Resources, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("yosys stat -json: {e}"))?;
    let cells = v["design"]["num_cells_by_type"]
        .as_object()
        .ok_or("yosys stat -json: no design.num_cells_by_type")?;
    let mut r = Resources::default();
    for (name, n) in cells {
        let n = n.as_u64().ok_or("yosys stat -json: count not an integer")?;
        r.cells.insert(name.clone(), n);
        match name.as_str() {
            "LUT1" | "LUT2" | "LUT3" | "LUT4" | "LUT5" | "LUT6" | "SB_LUT4" => r.lut += n,
            "CARRY4" | "SB_CARRY" | "CCU2C" => r.carry += n,
            "DSP48E1" | "SB_MAC16" | "MULT18X18D" => r.dsp += n,
            "RAMB18E1" | "SB_RAM40_4K" | "DP16KD" => r.bram += n,
            "TRELLIS_FF" => r.ff += n,
            "RAMB36E1" => r.bram += 2 * n,
            s if s.starts_with("FD") || s.starts_with("SB_DFF") => r.ff += n,
            _ => {}
        }
    }
    Ok(r)
}

fn run(cmd: &mut Command, what: &str, log: &Path) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    std::fs::write(log, &text).map_err(|e| format!("{}: {e}", log.display()))?;
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let first_error = text
            .lines()
            .find(|l| l.starts_with("ERROR"))
            .unwrap_or("")
            .trim();
        return Err(format!(
            "{what} failed: {first_error} (log {}):\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(text)
}

/// `yosys -V`, or empty when Yosys is missing.
pub fn yosys_version() -> String {
    locate_exe("yosys")
        .ok()
        .and_then(|y| Command::new(y).arg("-V").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Synthesises `top` from the Verilog files in `dir` for `target`; work files go to `work`.
/// Fails when synthesis fails or leaves a latch.
pub fn yosys_synth(
    dir: &Path,
    top: &str,
    target: Target,
    work: &Path,
) -> Result<Resources, String> {
    synth_to(dir, top, target, work, None)
}

/// [`yosys_synth`], also writing the mapped, flattened netlist to `netlist` when given.
fn synth_to(
    dir: &Path,
    top: &str,
    target: Target,
    work: &Path,
    netlist: Option<&Path>,
) -> Result<Resources, String> {
    let yosys = locate_exe("yosys")?;
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let files = verilog_files(dir)?;
    let stat = work.join(format!("{top}.{}.stat.json", target.name()));
    let json = work.join(format!("{top}.{}.json", target.name()));
    let synth = match target {
        Target::Xc7 => format!("synth_xilinx -family xc7 -top {top} -flatten"),
        Target::Xc7NoDsp => format!("synth_xilinx -family xc7 -top {top} -flatten -nodsp"),
        Target::Ice40 => format!("synth_ice40 -top {top} -json {}", json.display()),
        Target::Ecp5 => format!("synth_ecp5 -top {top} -json {}", json.display()),
    };
    let write = netlist.map_or(String::new(), |n| {
        format!("; write_verilog -noattr {}", n.display())
    });
    let script = format!(
        "read_verilog {files}; hierarchy -check -top {top}; proc; select -assert-none t:$dlatch t:$adlatch t:$dlatchsr; {synth}; select -assert-none t:*LATCH* t:LD*; tee -q -o {stat} stat -json{write}",
        files = files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        stat = stat.display(),
    );
    let log = work.join(format!("{top}.{}.yosys.log", target.name()));
    run(
        Command::new(yosys).arg("-q").arg("-p").arg(&script),
        &format!("yosys ({top}, {})", target.name()),
        &log,
    )?;
    let text = std::fs::read_to_string(&stat).map_err(|e| format!("{}: {e}", stat.display()))?;
    parse_stat(&text)
}

/// Yosys's simulation models of `target`'s cells: `<datdir>/<family>/cells_sim.v`, the data
/// folder beside the `yosys` executable (`<prefix>/bin/yosys`, `<prefix>/share/yosys`).
pub fn cell_models(target: Target) -> Result<PathBuf, String> {
    let yosys = locate_exe("yosys")?;
    let exe = std::fs::canonicalize(&yosys).unwrap_or(yosys);
    let family = match target {
        Target::Xc7 | Target::Xc7NoDsp => "xilinx",
        Target::Ice40 => "ice40",
        Target::Ecp5 => "ecp5",
    };
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("share/yosys").join(family).join("cells_sim.v"))
        .unwrap_or_default();
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{}: Yosys's cell models for {} not found beside {}",
            path.display(),
            target.name(),
            exe.display()
        ))
    }
}

/// The netlist folder's file of definitions for the iCE40 cell models; simulators read it first
/// (its name sorts before every other file name).
pub const ICE40_DEFINES_FILE: &str = "_ice40_defines.v";

/// Synthesises each of `tops` from the folder `src` for `target` and writes its flattened
/// netlist (`write_verilog -noattr`, `<top>.v`) with `src`'s `config.json` into a folder of
/// `cache`, reused while the sources, tops, target and Yosys are the same. The folder
/// co-simulates like `src`, compiled with [`cell_models`]: that checks that synthesis reads the
/// Verilog as the simulators do.
pub fn netlist_folder(
    src: &Path,
    tops: &[String],
    target: Target,
    cache: &Path,
) -> Result<PathBuf, String> {
    let mut key = format!(
        "netlist-1\n{}\n{}\n{tops:?}\n",
        yosys_version(),
        target.name()
    );
    let files = verilog_files(src)?;
    let config = src.join("config.json");
    for f in files.iter().chain([&config]) {
        let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        key.push_str(&sha256_hex(&bytes));
    }
    let dest = cache.join(format!(
        "netlist-{}-{}",
        target.name(),
        &sha256_hex(key.as_bytes())[..16]
    ));
    crate::verilator::build_atomically(&dest, |tmp| {
        let fail = |what: String| CosimError::Design(what);
        std::fs::copy(&config, tmp.join("config.json"))
            .map_err(|e| fail(format!("{}: {e}", config.display())))?;
        if target == Target::Ice40 {
            // Neither simulator parses the iCE40 models' port default values; they can be left
            // out because a netlist connects every port.
            let defines = tmp.join(ICE40_DEFINES_FILE);
            std::fs::write(&defines, "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n")
                .map_err(|e| fail(format!("{}: {e}", defines.display())))?;
        }
        let work = tmp.join("work");
        for top in tops {
            synth_to(src, top, target, &work, Some(&tmp.join(format!("{top}.v")))).map_err(fail)?;
        }
        std::fs::remove_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))
    })
    .map_err(|e| e.to_string())?;
    Ok(dest)
}

/// The `.v` files of `dir`, sorted.
pub fn verilog_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "v"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no .v files", dir.display()));
    }
    Ok(files)
}

/// A wrapper that feeds every input of `top` (except `clock`) from one shift register on pin
/// `din` and folds every output into one registered pin `dout`: an array has far more ports
/// than an iCE40 has pins, and this keeps all of its logic while placing only three.
pub fn pin_harness(top: &str, ports: &[Port]) -> String {
    let inputs: Vec<&Port> = ports
        .iter()
        .filter(|p| p.dir == PortDir::Input && p.name != "clock")
        .collect();
    let outputs: Vec<&Port> = ports.iter().filter(|p| p.dir == PortDir::Output).collect();
    let in_bits: usize = inputs.iter().map(|p| p.width).sum();
    let mut v = format!(
        "module {top}_harness(input wire clock, input wire din, output reg dout);\n\
         reg [{}:0] chain;\n\
         always @(posedge clock) chain <= {{chain[{}:0], din}};\n",
        in_bits.max(2) - 1,
        in_bits.max(2) - 2
    );
    for p in &outputs {
        v += &format!("wire [{}:0] {};\n", p.width - 1, p.name);
    }
    v += &format!("{top} dut(\n    .clock(clock)");
    let mut at = 0;
    for p in &inputs {
        v += &format!(",\n    .{}(chain[{}:{}])", p.name, at + p.width - 1, at);
        at += p.width;
    }
    for p in &outputs {
        v += &format!(",\n    .{0}({0})", p.name);
    }
    v += "\n);\nalways @(posedge clock) dout <= ";
    v += &outputs
        .iter()
        .map(|p| format!("^{}", p.name))
        .collect::<Vec<_>>()
        .join(" ^ ");
    if outputs.is_empty() {
        v += "1'b0";
    }
    v += ";\nendmodule\n";
    v
}

/// Places and routes `top` (wrapped in [`pin_harness`]) on an iCE40 HX8K (CT256) and returns
/// nextpnr's Fmax for `clock` in MHz.
pub fn nextpnr_fmax(
    dir: &Path,
    top: &str,
    ports: &[Port],
    target_mhz: u32,
    work: &Path,
) -> Result<f64, String> {
    let yosys = locate_exe("yosys")?;
    let nextpnr = locate_exe("nextpnr-ice40")?;
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let harness = work.join(format!("{top}_harness.v"));
    std::fs::write(&harness, pin_harness(top, ports))
        .map_err(|e| format!("{}: {e}", harness.display()))?;
    let mut files = verilog_files(dir)?;
    files.push(harness);
    let json = work.join(format!("{top}_harness.ice40.json"));
    let script = format!(
        "read_verilog {}; synth_ice40 -top {top}_harness -json {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        json.display()
    );
    run(
        Command::new(&yosys).arg("-q").arg("-p").arg(&script),
        &format!("yosys ({top} harness)"),
        &work.join(format!("{top}_harness.yosys.log")),
    )?;
    let text = run(
        Command::new(nextpnr)
            .args(["--hx8k", "--package", "ct256", "--seed", "1", "--json"])
            .arg(&json)
            .args(["--freq", &target_mhz.to_string()])
            .arg("--pcf-allow-unconstrained"),
        &format!("nextpnr-ice40 ({top})"),
        &work.join(format!("{top}_harness.nextpnr.log")),
    )?;
    // The last "Max frequency for clock" line is the post-route figure.
    text.lines()
        .rev()
        .find_map(|l| {
            let rest = l.split("Max frequency for clock").nth(1)?;
            let mhz = rest.split(':').nth(1)?.split("MHz").next()?.trim();
            mhz.parse::<f64>().ok()
        })
        .ok_or_else(|| format!("nextpnr-ice40 ({top}): no Fmax in its log"))
}

/// What a board flow (`constraints/<board>/<config>/flow.sh`) produced.
#[derive(Clone, Debug, Serialize)]
pub struct BoardRun {
    /// Yosys's cell counts of the whole top.
    pub res: Resources,
    /// nextpnr's post-route Fmax of the engine's clock, and its target, in MHz.
    pub fmax_mhz: f64,
    pub target_mhz: f64,
    /// nextpnr's utilisation.
    pub utilisation: Utilisation,
    /// The bitstream.
    pub bitstream: PathBuf,
    /// Wall time of the flow.
    pub seconds: f64,
}

/// Cell type, used, available.
pub type Utilisation = Vec<(String, u64, u64)>;

/// Reads nextpnr's `--report` JSON: the slowest clock's achieved and constrained MHz, and the
/// utilisation of every cell type used.
pub fn parse_nextpnr_report(json: &str) -> Result<(f64, f64, Utilisation), String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("nextpnr report: {e}"))?;
    let fmax = v["fmax"]
        .as_object()
        .ok_or("nextpnr report: no `fmax`")?
        .values()
        .filter_map(|c| Some((c["achieved"].as_f64()?, c["constraint"].as_f64()?)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .ok_or("nextpnr report: no clock in `fmax`")?;
    let util = v["utilization"]
        .as_object()
        .ok_or("nextpnr report: no `utilization`")?
        .iter()
        .filter_map(|(k, u)| Some((k.clone(), u["used"].as_u64()?, u["available"].as_u64()?)))
        .filter(|u| u.1 > 0)
        .collect();
    Ok((fmax.0, fmax.1, util))
}

/// Runs the board flow `flow` (a `flow.sh`) into `out`, on the Verilog of `rtl` when given, and
/// reads its figures. Fails when a tool fails, or the engine's clock misses its target.
pub fn run_board_flow(flow: &Path, out: &Path, rtl: Option<&Path>) -> Result<BoardRun, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let t = std::time::Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(flow)
        .arg(out)
        .env("SHIFTADD_VENV", crate::venv_dir());
    if let Some(r) = rtl {
        cmd.arg(r);
    }
    run(
        &mut cmd,
        &format!("{}", flow.display()),
        &out.join("flow.log"),
    )?;
    let seconds = t.elapsed().as_secs_f64();
    let read = |f: &str| {
        let p = out.join(f);
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let res = parse_stat(&read("stat.json")?)?;
    let (fmax_mhz, target_mhz, utilisation) = parse_nextpnr_report(&read("report.json")?)?;
    let bitstream = std::fs::read_dir(out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "bit"))
        .ok_or_else(|| format!("{}: no bitstream", out.display()))?;
    if fmax_mhz < target_mhz {
        return Err(format!(
            "{}: the engine's clock reaches {fmax_mhz:.1} MHz, below its target of {target_mhz} MHz",
            flow.display()
        ));
    }
    Ok(BoardRun {
        res,
        fmax_mhz,
        target_mhz,
        utilisation,
        bitstream,
        seconds,
    })
}
