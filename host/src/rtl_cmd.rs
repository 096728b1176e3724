//! `shiftadd gen` and `shiftadd synth`: one config resolution (preset, config file, overrides),
//! the generator, and the Yosys/nextpnr report.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Serialize;
use shiftadd_hdl::generate::{generate, write_rtl, GeneratedRtl};
use shiftadd_sim::rtl::ArrayKind;
use shiftadd_sim::spec::{presets, AccelConfig, PeKinds};
use shiftadd_tb::synth::{nextpnr_fmax, yosys_synth, yosys_version, Resources, Target, HX8K_LCS};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which accelerator config: a preset or a config file, then overrides.
#[derive(Args, Clone, Debug)]
pub struct ConfigArgs {
    /// Preset name (see `shiftadd presets`).
    #[arg(long, default_value = "seed")]
    pub preset: String,
    /// A config file (JSON, the fields of `shiftadd presets --json`); replaces --preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the rows (output channels in parallel).
    #[arg(long)]
    pub rows: Option<u32>,
    /// Override the columns (input channels in parallel).
    #[arg(long)]
    pub cols: Option<u32>,
    /// Override the PE kinds: shift-add, mult or all.
    #[arg(long, value_parser = parse_pe_kinds)]
    pub pe_kinds: Option<PeKinds>,
}

fn parse_pe_kinds(s: &str) -> std::result::Result<PeKinds, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("`{s}`: expected shift-add, mult or all"))
}

impl ConfigArgs {
    /// The resolved and validated config.
    pub fn resolve(&self) -> Result<AccelConfig> {
        let mut cfg = match &self.config {
            Some(path) => {
                let text = shiftadd_sim::files::read_text(path)
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
                AccelConfig::from_json(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
            }
            None => presets::lookup(&self.preset)?,
        };
        if let Some(r) = self.rows {
            cfg.rows = r;
        }
        if let Some(c) = self.cols {
            cfg.cols = c;
        }
        if let Some(k) = self.pe_kinds {
            cfg.pe_kinds = k;
        }
        let source = self.config.as_ref().map_or_else(
            || format!("preset {}", self.preset),
            |p| p.display().to_string(),
        );
        cfg.validate().map_err(|e| anyhow!("{source}: {e}"))?;
        Ok(cfg)
    }
}

/// `shiftadd gen`.
pub fn gen(args: &ConfigArgs, out: &Path, allow_no_engine: bool) -> Result<()> {
    let cfg = args.resolve()?;
    let start = Instant::now();
    let rtl = generate(&cfg)?;
    let took = start.elapsed();
    if let Some(why) = &rtl.no_engine {
        if !allow_no_engine {
            bail!(
                "config `{}` has no engine: {why}; pass --allow-no-engine to write its arrays alone",
                cfg.name
            );
        }
        println!("no engine: {why}");
    }
    write_rtl(&rtl, out)?;
    let verilog: usize = rtl
        .files
        .iter()
        .filter(|(n, _)| n.ends_with(".v"))
        .map(|(_, t)| t.len())
        .sum();
    for a in &rtl.manifest.arrays {
        println!(
            "{:<12} {}x{}  x {} / w {} / term {} / tree {} / acc {} bits",
            a.module, a.rows, a.cols, a.x_bits, a.w_bits, a.term_bits, a.tree_bits, a.acc_bits
        );
    }
    println!(
        "wrote {} files ({} Verilog modules, {verilog} bytes of Verilog) to {} in {:.2} s",
        rtl.files.len(),
        rtl.files.keys().filter(|n| n.ends_with(".v")).count(),
        out.display(),
        took.as_secs_f64()
    );
    Ok(())
}

/// One line of the synthesis report.
#[derive(Clone, Debug, Serialize)]
pub struct SynthRow {
    /// Module synthesised.
    pub module: String,
    /// `array`, `pe`, `engine`, `axi` or `board` (the engine on a board, placed and routed).
    pub scope: &'static str,
    /// Array kind.
    pub kind: String,
    /// Target.
    pub target: Target,
    /// Cell counts.
    #[serde(flatten)]
    pub res: Resources,
    /// nextpnr Fmax: an iCE40 array on an HX8K when it fits, the ECP5 board top.
    pub fmax_mhz: Option<f64>,
    /// Why there is no Fmax.
    pub fmax_note: Option<String>,
}

/// The JSON of `shiftadd synth`.
#[derive(Serialize)]
struct SynthReport<'a> {
    config: &'a AccelConfig,
    yosys: String,
    rows: &'a [SynthRow],
}

/// Synthesises every array of `cfg` and its PE for both targets, or the family `only` names
/// (multiply ones also for 7-series without DSP blocks), and places the iCE40 arrays that fit.
/// `work` receives the Verilog and the tool logs.
pub fn synth_rows(
    cfg: &AccelConfig,
    rtl: &GeneratedRtl,
    work: &Path,
    engine: bool,
    only: Option<&str>,
) -> Result<Vec<SynthRow>> {
    // Without --target: 7-series and iCE40 (ECP5 only when asked: its engine row runs the
    // whole board flow).
    let wanted = |t: Target| {
        matches!(
            (t, only),
            (Target::Xc7 | Target::Xc7NoDsp, None | Some("xc7"))
                | (Target::Ice40, None | Some("ice40"))
                | (Target::Ecp5, Some("ecp5"))
        )
    };
    let rtl_dir = work.join("rtl");
    write_rtl(rtl, &rtl_dir)?;
    let mut rows = Vec::new();
    for a in &rtl.manifest.arrays {
        let kind = ArrayKind::from_name(&a.kind)
            .ok_or_else(|| anyhow!("manifest: unknown array kind `{}`", a.kind))?;
        for (module, scope) in [(a.pe_module.clone(), "pe"), (a.module.clone(), "array")] {
            let mut targets = vec![Target::Xc7, Target::Ice40, Target::Ecp5];
            if kind == ArrayKind::Mac {
                targets.push(Target::Xc7NoDsp);
            }
            for target in targets.into_iter().filter(|&t| wanted(t)) {
                eprintln!("yosys: {module} ({})", target.name());
                let res = yosys_synth(&rtl_dir, &module, target, work).map_err(|e| anyhow!(e))?;
                let (fmax_mhz, fmax_note) = if target == Target::Ice40 && scope == "array" {
                    if res.lut + res.ff > HX8K_LCS * 2 || res.lut > HX8K_LCS {
                        (
                            None,
                            Some(format!(
                                "does not fit an iCE40 HX8K ({} LUTs, {HX8K_LCS} logic cells)",
                                res.lut
                            )),
                        )
                    } else {
                        eprintln!("nextpnr-ice40: {module}");
                        match nextpnr_fmax(&rtl_dir, &module, &a.ports, cfg.clock_mhz, work) {
                            Ok(f) => (Some(f), None),
                            Err(e) => (None, Some(e.lines().next().unwrap_or("").to_string())),
                        }
                    }
                } else {
                    (None, None)
                };
                rows.push(SynthRow {
                    module: module.clone(),
                    scope,
                    kind: a.kind.clone(),
                    target,
                    res,
                    fmax_mhz,
                    fmax_note,
                });
            }
        }
    }
    if engine && wanted(Target::Ecp5) {
        rows.push(ecp5_board_row(cfg, rtl, &rtl_dir, work)?);
    } else if engine {
        let e = rtl.manifest.engine.as_ref().ok_or_else(|| {
            anyhow!(
                "{}",
                rtl.no_engine
                    .as_deref()
                    .unwrap_or("the config has no engine")
            )
        })?;
        // The engine, then the engine behind its AXI ports.
        let mut tops = vec![(e.module.clone(), "engine")];
        tops.extend(rtl.manifest.axi.as_ref().map(|a| (a.module.clone(), "axi")));
        for (module, scope) in tops {
            for target in [Target::Xc7, Target::Ice40]
                .into_iter()
                .filter(|&t| wanted(t))
            {
                eprintln!("yosys: {module} ({})", target.name());
                let res = yosys_synth(&rtl_dir, &module, target, work).map_err(|e| anyhow!(e))?;
                let fmax_note = (target == Target::Ice40).then(|| {
                    format!(
                        "not placed: an engine needs {} block RAMs and {} LUTs",
                        res.bram, res.lut
                    )
                });
                rows.push(SynthRow {
                    module: module.clone(),
                    scope,
                    kind: e.array.clone(),
                    target,
                    res,
                    fmax_mhz: None,
                    fmax_note,
                });
            }
        }
    }
    Ok(rows)
}

/// The engine on the ULX3S: `cfg`'s board files for it written under `work/ulx3s`, the flow run
/// to a bitstream (`work/ulx3s-build`), with nextpnr's Fmax.
fn ecp5_board_row(
    cfg: &AccelConfig,
    rtl: &GeneratedRtl,
    rtl_dir: &Path,
    work: &Path,
) -> Result<SynthRow> {
    let board = AccelConfig {
        board: "ulx3s".into(),
        ..cfg.clone()
    };
    let files = shiftadd_tb::constraints::constraint_files(&board, &rtl.manifest)
        .map_err(|e| anyhow!(e))?;
    crate::constraints_cmd::write_files(&files, work)?;
    let flow = work.join("ulx3s").join(&cfg.name).join("flow.sh");
    eprintln!("ULX3S flow: {}", flow.display());
    let run = shiftadd_tb::synth::run_board_flow(&flow, &work.join("ulx3s-build"), Some(rtl_dir))
        .map_err(|e| anyhow!(e))?;
    let used: Vec<String> = run
        .utilisation
        .iter()
        .map(|(k, u, a)| format!("{k} {u}/{a}"))
        .collect();
    Ok(SynthRow {
        module: shiftadd_tb::constraints::ULX3S_TOP.into(),
        scope: "board",
        kind: rtl
            .manifest
            .engine
            .as_ref()
            .map_or(String::new(), |e| e.array.clone()),
        target: Target::Ecp5,
        res: run.res,
        fmax_mhz: Some(run.fmax_mhz),
        fmax_note: Some(format!(
            "target {} MHz; {}; {:.0} s; {}",
            run.target_mhz,
            used.join(", "),
            run.seconds,
            run.bitstream.display()
        )),
    })
}

/// `shiftadd synth`.
pub fn synth(
    args: &ConfigArgs,
    json: Option<&Path>,
    work: Option<&Path>,
    engine: bool,
    only: Option<&str>,
) -> Result<()> {
    let cfg = args.resolve()?;
    let rtl = generate(&cfg)?;
    let work = work.map_or_else(
        || PathBuf::from("target").join("synth").join(&cfg.name),
        Path::to_path_buf,
    );
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("{}: cannot clear", work.display()))?;
    }
    let rows = synth_rows(&cfg, &rtl, &work, engine, only)?;
    println!(
        "{} ({}x{}, {}), {}",
        cfg.name,
        cfg.rows,
        cfg.cols,
        cfg.pe_kinds.describe(),
        yosys_version()
    );
    println!(
        "{:<14} {:<6} {:<9} {:>7} {:>6} {:>7} {:>4} {:>5}  Fmax (nextpnr: iCE40 HX8K, ECP5 ULX3S)",
        "module", "scope", "target", "LUT", "carry", "FF", "DSP", "BRAM"
    );
    for r in &rows {
        let fmax = match (&r.fmax_mhz, &r.fmax_note) {
            (Some(f), Some(n)) => format!("{f:.1} MHz ({n})"),
            (Some(f), None) => format!("{f:.1} MHz"),
            (None, Some(n)) => n.clone(),
            (None, None) => String::new(),
        };
        println!(
            "{:<14} {:<6} {:<9} {:>7} {:>6} {:>7} {:>4} {:>5}  {fmax}",
            r.module,
            r.scope,
            r.target.name(),
            r.res.lut,
            r.res.carry,
            r.res.ff,
            r.res.dsp,
            r.res.bram
        );
    }
    if let Some(path) = json {
        let report = SynthReport {
            config: &cfg,
            yosys: yosys_version(),
            rows: &rows,
        };
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    if rows.is_empty() {
        bail!("no arrays to synthesise");
    }
    Ok(())
}
