//! `shiftadd cosim` (emitted RTL against the reference model, on Verilator or Icarus) and
//! `shiftadd bench-cosim` (simulated cycles per second of one array on each simulator).

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;
use shiftadd_sim::rtl::ENGINE_MODULE;
use shiftadd_tb::cosim::{
    cosim, cosim_layers, describe_failure, got_text, tagged, Options, Outcome, SimKind,
};
use shiftadd_tb::design::{Design, Dut};
use shiftadd_tb::stimulus::{build_case, case_strategy, Cycle};
use shiftadd_tb::synth::{cell_models, netlist_folder, Target};
use shiftadd_tb::verilator::cache_dir;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is co-simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Each array's PE alone.
    Pe,
    /// Each array, cycle by cycle.
    Array,
    /// Whole convolution layers on each array, the testbench as controller.
    Layer,
}

/// Simulator choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SimArg {
    /// Verilator 5 through the generated shim.
    Verilator,
    /// Icarus Verilog through a generated testbench.
    Icarus,
}

/// Synthesised netlist to co-simulate instead of the Verilog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NetlistArg {
    /// Yosys `synth_xilinx` (7-series cells: LUT, CARRY4, FDRE, DSP48E1, RAMB18E1).
    Xc7,
    /// Yosys `synth_ice40` (SB_LUT4, SB_CARRY, SB_DFF*, SB_RAM40_4K).
    Ice40,
}

impl From<NetlistArg> for Target {
    fn from(n: NetlistArg) -> Target {
        match n {
            NetlistArg::Xc7 => Target::Xc7,
            NetlistArg::Ice40 => Target::Ice40,
        }
    }
}

impl From<SimArg> for SimKind {
    fn from(s: SimArg) -> SimKind {
        match s {
            SimArg::Verilator => SimKind::Verilator,
            SimArg::Icarus => SimKind::Icarus,
        }
    }
}

/// `shiftadd cosim` arguments.
#[derive(Args, Debug)]
pub struct CosimArgs {
    /// Preset whose committed Verilog (rtl-out/<preset>) is simulated.
    #[arg(long, default_value = "seed")]
    pub preset: String,
    /// Any folder of Verilog with a config.json (for example one edited by hand); replaces
    /// --preset. Its Verilog is executed by the simulator.
    #[arg(long)]
    pub rtl: Option<PathBuf>,
    /// Simulate an --rtl folder even when its Verilog calls system tasks that reach the host
    /// ($system, $c, file I/O).
    #[arg(long)]
    pub allow_system_tasks: bool,
    /// What is driven: pe, array or layer.
    #[arg(long, value_enum, default_value = "array")]
    pub level: Level,
    /// Random cases per module (cycle sequences, or layers at --level layer).
    #[arg(long, default_value_t = 200)]
    pub cases: u32,
    /// Seed of the case generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Longest cycle sequence per case (pe and array levels).
    #[arg(long, default_value_t = 24)]
    pub max_cycles: usize,
    /// Write the RTL waveform of the whole run here and the reference model's next to it
    /// (`.ref.vcd`); a failing case goes to `.fail.vcd` and `.fail.ref.vcd`.
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Simulator.
    #[arg(long, value_enum, default_value = "verilator")]
    pub sim: SimArg,
    /// Synthesise each module of the level with Yosys for this target and co-simulate its
    /// netlist (`write_verilog -noattr`) with Yosys's cell models, against the same reference
    /// and cases. Netlists are kept in the model cache.
    #[arg(long, value_enum)]
    pub netlist: Option<NetlistArg>,
    /// Seconds allowed for shrinking a failing case.
    #[arg(long, default_value_t = 60)]
    pub shrink_seconds: u64,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Measure coverage (Verilator): line, branch and toggle coverage of every module, and at
    /// the engine's layer level the cover points generated from the register map. Writes
    /// coverage.dat, summary.txt, summary.json and annotated/ into this folder.
    #[arg(long)]
    pub coverage: Option<PathBuf>,
    /// Run only shard K of N (K from 1) of the engine's layer cases (--level layer on a folder
    /// with an engine): the cases whose index is K-1 modulo N, each drawn as in an unsharded
    /// run; `shiftadd merge` joins the shards' --json files. A shard runs its own cases back to
    /// back, so a failure that needs the unsharded run's case just before it may not show.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

/// Where the instances of a run write their coverage counts: a folder of `out` the run
/// creates and removes.
fn coverage_parts(args: &CosimArgs) -> Option<PathBuf> {
    args.coverage
        .as_ref()
        .map(|d| d.join(format!(".parts-{}", std::process::id())))
}

/// Merges the counts the run's instances wrote, writes the report into `--coverage` and prints
/// its figures.
fn finish_coverage(args: &CosimArgs, design: &Design, engine: bool) -> Result<()> {
    let (Some(out), Some(parts)) = (&args.coverage, coverage_parts(args)) else {
        return Ok(());
    };
    use shiftadd_tb::coverage::{collect_parts, engine_cover_points, write_report, COVER_FILE};
    let cover_file = parts.join(COVER_FILE);
    if cover_file.is_file() {
        std::fs::copy(&cover_file, out.join(COVER_FILE))
            .map_err(|e| anyhow!("{}: {e}", out.join(COVER_FILE).display()))?;
    }
    let mut cov = collect_parts(&parts)?;
    let failed = shiftadd_tb::verilator::coverage_write_failures();
    if failed > 0 {
        bail!(
            "{failed} simulation(s) could not write their coverage counts into {}",
            parts.display()
        );
    }
    if cov.is_empty() {
        bail!("{}: the run wrote no coverage counts", parts.display());
    }
    cov.locate_sources(&[&design.dir, out]);
    let points = if engine {
        engine_cover_points(&design.cfg)
    } else {
        Vec::new()
    };
    let summary = write_report(&cov, &points, out)?;
    print_coverage(&summary, out, 1);
    Ok(())
}

/// `shiftadd mutants` arguments.
#[derive(Args, Debug)]
pub struct MutantsArgs {
    /// Preset whose committed Verilog (rtl-out/<preset>) is mutated.
    #[arg(long, default_value = "lean8")]
    pub preset: String,
    /// Any folder of Verilog with an engine and a config.json, instead of --preset.
    #[arg(long)]
    pub rtl: Option<PathBuf>,
    /// The co-simulation that judges each mutant, as `cosim --level`: layer (the engine through
    /// its register map; sites in every file the engine reaches), array or pe (each array or PE
    /// alone; sites in the files those reach).
    #[arg(long, value_enum, default_value = "layer")]
    pub level: Level,
    /// Mutants to run, drawn from every site of the files the level's modules reach.
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    /// Seed of the draw of sites and of the co-simulation's cases.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cases co-simulated per mutant (layers at --level layer); the default is `cosim`'s.
    #[arg(long, default_value_t = 200)]
    pub cases: u32,
    /// Run only shard K of N (K from 1): the drawn mutants whose index is K-1 modulo N.
    #[arg(long)]
    pub shard: Option<String>,
    /// Mutants co-simulated at once (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Build every mutant's model on its own, instead of one model holding all of them behind a
    /// run-time switch (the layer level's default).
    #[arg(long)]
    pub separate: bool,
    /// Print every site (file, line, edit) and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run only these sites, as --list prints them (FILE:LINE:COL, repeatable; a site holding
    /// several edits runs each), instead of drawing --count.
    #[arg(long)]
    pub site: Vec<String>,
    /// Add up the JSON files of several runs (for example the shards of one draw) instead of
    /// running: each mutant counted once; the runs must be of one folder, level, seed and case
    /// count.
    #[arg(long, num_args = 1..)]
    pub merge: Vec<PathBuf>,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs `f` on every item of `items`, `jobs` at a time, results in the items' order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<Result<R>>>> =
        std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(items.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    break;
                };
                let r = f(item);
                let stop = r.is_err();
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
                if stop {
                    // No new mutant after an error of the tools.
                    next.store(items.len(), std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let v = results
        .into_inner()
        .map_err(|_| anyhow!("a mutant's thread panicked"))?;
    v.into_iter().flatten().collect()
}

/// The sites' key as `--site` takes it.
fn site_key(s: &shiftadd_tb::mutants::Site) -> String {
    format!("{}:{}:{}", s.file, s.line, s.col)
}

/// Runs `shiftadd mutants`; returns whether no mutant escaped.
pub fn mutants(args: &MutantsArgs) -> Result<bool> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use shiftadd_tb::mutants::{engine_cosim, run_mutant, sites_of, Fate, Schemata};
    if let Some(j) = &args.json {
        crate::check_writable(j)?;
    }
    if !args.merge.is_empty() {
        return merge_mutants(args);
    }
    if args.cases == 0 {
        bail!("--cases 0 checks nothing; give 1 or more");
    }
    if args.jobs == Some(0) {
        bail!("--jobs 0 runs nothing; give 1 or more");
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let shard = args
        .shard
        .as_deref()
        .map(crate::shard::parse_shard)
        .transpose()?;
    let dir = match &args.rtl {
        Some(d) => d.clone(),
        None => crate::locate_default(&Path::new("rtl-out").join(&args.preset)),
    };
    let design = Design::load(&dir)?;
    design.check_host_tasks(false)?;
    design.check_config()?;
    let duts = match args.level {
        Level::Layer => {
            if !design.modules.contains_key(ENGINE_MODULE) {
                bail!(
                    "{}: no `engine` module; --level layer mutates an engine and runs its layer-level co-simulation (--level array or pe for the arrays alone)",
                    dir.display()
                );
            }
            Vec::new()
        }
        Level::Array => design.arrays(),
        Level::Pe => design.pes(),
    };
    let tops: Vec<String> = if args.level == Level::Layer {
        vec![ENGINE_MODULE.into()]
    } else if duts.is_empty() {
        bail!("{}: no array or PE module to co-simulate", dir.display());
    } else {
        duts.iter().map(|d| d.top.clone()).collect()
    };
    let sites = sites_of(&design, &tops)?;
    if args.list {
        for s in &sites {
            println!("{} {} `{}` -> `{}`", site_key(s), s.op, s.from, s.to);
        }
        println!(
            "mutants: {} sites in the files {} reaches in {}",
            sites.len(),
            tops.join(", "),
            dir.display()
        );
        return Ok(true);
    }
    let mut order: Vec<usize> = (0..sites.len()).collect();
    if args.site.is_empty() {
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(args.seed));
        order.truncate(args.count);
    } else {
        order.retain(|&i| args.site.contains(&site_key(&sites[i])));
        for want in &args.site {
            if !order.iter().any(|&i| *want == site_key(&sites[i])) {
                bail!("--site {want}: no such site (see --list)");
            }
        }
    }
    // (index in the draw, index in `sites`)
    let chosen: Vec<(usize, usize)> = order
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|s| s.takes(*i)))
        .collect();
    let opts = Options {
        cases: args.cases,
        seed: args.seed,
        max_cycles: 24,
        vcd: None,
        shrink_time: Duration::from_secs(0),
        coverage: None,
        diagnose: false,
        shard: None,
    };
    let cache = cache_dir();
    let text: std::collections::BTreeMap<String, Vec<String>> = chosen
        .iter()
        .map(|&(_, s)| sites[s].file.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|f| {
            let lines = std::fs::read_to_string(dir.join(&f))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect();
            (f, lines)
        })
        .collect();
    eprintln!(
        "mutants: {} of {} sites (seed {}), {} {} cases each, on {} of {}, {jobs} at a time",
        chosen.len(),
        sites.len(),
        args.seed,
        args.cases,
        format!("{:?}", args.level).to_lowercase(),
        tops.join(", "),
        dir.display()
    );
    let scratch = std::env::temp_dir().join(format!("shiftadd-mutants-{}", std::process::id()));
    // The layer level puts every mutant behind one switch and builds one model.
    let mut schemata = None;
    if args.level == Level::Layer && !args.separate && !chosen.is_empty() {
        let drawn: Vec<shiftadd_tb::mutants::Site> =
            chosen.iter().map(|&(_, s)| sites[s].clone()).collect();
        eprintln!(
            "mutants: building one model holding the {} mutants behind +{}=K",
            drawn.len(),
            shiftadd_tb::mutants::SWITCH
        );
        match Schemata::build(&design, &drawn, &opts, &cache, &scratch.join("schemata")) {
            Ok((sch, left)) => {
                eprintln!(
                    "mutants: built in {:.0} s; the original agrees with the switch at 0{}",
                    sch.build_s,
                    if left.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} built on their own (lines of another shape)",
                            left.len()
                        )
                    }
                );
                schemata = Some(sch);
            }
            Err(
                e @ (shiftadd_tb::CosimError::Build { .. }
                | shiftadd_tb::CosimError::Verilog { .. }
                | shiftadd_tb::CosimError::Stopped { .. }
                | shiftadd_tb::CosimError::Design(_)),
            ) => {
                eprintln!(
                    "mutants: the folder holding every mutant cannot be used, so each is built on its own: {}",
                    e.to_string().lines().next().unwrap_or("")
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    let run_one = |&n: &usize| -> Result<(Fate, f64)> {
        let (i, s) = chosen[n];
        let site = &sites[s];
        let t = std::time::Instant::now();
        let work = scratch.join(format!("mutant-{i}"));
        let in_schema = schemata
            .as_ref()
            .and_then(|sch: &Schemata| sch.sites.iter().position(|x| x == site).map(|k| (sch, k)));
        let fate = match in_schema {
            Some((sch, k)) => sch.run(k + 1, &design, &opts, &work)?,
            None => run_mutant(&design, site, &cache, &work, |mutant, own| {
                if args.level == Level::Layer {
                    return engine_cosim(mutant, &opts, own);
                }
                for dut in &duts {
                    let o = cosim(mutant, dut, SimKind::Verilator, &opts, own)?;
                    if let Some(f) = &o.failure {
                        return Ok(Some(format!(
                            "{} case {}: cycle {}, {}",
                            dut.top, f.case_index, f.mismatch.cycle, f.mismatch.port
                        )));
                    }
                    if let Some(st) = &o.stopped {
                        return Ok(Some(format!("{} stopped: {}", dut.top, st.what)));
                    }
                }
                Ok(None)
            })?,
        };
        let secs = t.elapsed().as_secs_f64();
        let what = match &fate {
            Fate::Killed { what } => format!("killed ({})", what.lines().next().unwrap_or("")),
            Fate::Equivalent => "survived, proven equivalent".into(),
            Fate::Escaped => "ESCAPED".into(),
            Fate::Invalid { what } => format!("invalid ({})", what.lines().next().unwrap_or("")),
        };
        println!(
            "[{}/{}] mutant {i}: {}:{} {} `{}` -> `{}`: {what} ({secs:.1} s)",
            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            chosen.len(),
            site.file,
            site.line,
            site.op,
            site.from.trim(),
            site.to.trim()
        );
        Ok((fate, secs))
    };
    let all: Vec<usize> = (0..chosen.len()).collect();
    let outcome = in_parallel(&all, jobs, run_one);
    let _ = std::fs::remove_dir_all(&scratch);
    let fates = outcome?;
    let results: Vec<serde_json::Value> = chosen
        .iter()
        .zip(&fates)
        .map(|(&(i, s), (fate, secs))| {
            json!({"index": i, "site": sites[s], "fate": fate, "seconds": secs})
        })
        .collect();
    let doc = json!({
        "rtl": dir.display().to_string(),
        "config": design.cfg.name,
        "level": format!("{:?}", args.level).to_lowercase(),
        "seed": args.seed,
        "cases": args.cases,
        "count": args.count,
        "sites": sites.len(),
        "shard": args.shard,
        "mutants": results,
    });
    report_mutants(doc, args.json.as_deref(), &|f, l| {
        text.get(f)
            .and_then(|t| t.get(l.max(1) - 1))
            .cloned()
            .unwrap_or_default()
    })
}

/// Prints the escapes and the score of a run's (or merged runs') JSON document, adds the counts
/// to it and writes it to `json`; returns whether no mutant escaped.
fn report_mutants(
    mut doc: serde_json::Value,
    json: Option<&Path>,
    line_of: &dyn Fn(&str, usize) -> String,
) -> Result<bool> {
    let mutants = doc["mutants"].as_array().cloned().unwrap_or_default();
    // Every survivor with its site and edit: the proven equivalent ones, then the escapes.
    let describe = |m: &serde_json::Value| -> String {
        let s = &m["site"];
        let (file, line, col) = (
            s["file"].as_str().unwrap_or_default(),
            s["line"].as_u64().unwrap_or(1) as usize,
            s["col"].as_u64().unwrap_or(0) as usize,
        );
        shiftadd_tb::mutants::describe_edit(
            file,
            line,
            col,
            s["op"].as_str().unwrap_or_default(),
            s["from"].as_str().unwrap_or_default(),
            s["to"].as_str().unwrap_or_default(),
            &line_of(file, line),
        )
    };
    let status = |m: &serde_json::Value| m["fate"]["status"].as_str().unwrap_or("").to_string();
    let count = |what: &str| mutants.iter().filter(|m| status(m) == what).count();
    let (killed, equivalent, invalid) = (count("killed"), count("equivalent"), count("invalid"));
    let escaped = mutants.len() - killed - equivalent - invalid;
    for m in mutants.iter().filter(|m| status(m) == "equivalent") {
        println!("equivalent: {}", describe(m));
    }
    for m in mutants
        .iter()
        .filter(|m| !["killed", "equivalent", "invalid"].contains(&status(m).as_str()))
    {
        println!("escaped: {}", describe(m));
    }
    let counted = killed + escaped;
    let score = if counted == 0 {
        100.0
    } else {
        100.0 * killed as f64 / counted as f64
    };
    for (k, v) in [
        ("killed", killed),
        ("equivalent", equivalent),
        ("escaped", escaped),
        ("invalid", invalid),
    ] {
        doc[k] = json!(v);
    }
    doc["score"] = json!(score);
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    println!(
        "mutants: {} run on `{}`: {killed} killed, {equivalent} proven equivalent, {escaped} escaped, {invalid} invalid; score {score:.1}% ({killed} of {counted} not proven equivalent)",
        mutants.len(),
        doc["config"].as_str().unwrap_or("?"),
    );
    Ok(escaped == 0)
}

/// `shiftadd mutants --merge`: the JSON files of several runs as one.
fn merge_mutants(args: &MutantsArgs) -> Result<bool> {
    let mut merged: Option<serde_json::Value> = None;
    let mut seen = std::collections::BTreeMap::new();
    let mut all = Vec::new();
    for f in &args.merge {
        let text = shiftadd_sim::files::read_text(f).map_err(|e| anyhow!(e))?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("{}: not a mutants JSON file: {e}", f.display()))?;
        let Some(list) = doc["mutants"].as_array() else {
            bail!(
                "{}: no `mutants` list (write it with `shiftadd mutants --json`)",
                f.display()
            );
        };
        if let Some(first) = &merged {
            for key in ["rtl", "config", "level", "seed", "cases", "count", "sites"] {
                if first[key] != doc[key] {
                    bail!(
                        "{}: `{key}` is {} where {} has {}; only runs of one draw add up",
                        f.display(),
                        doc[key],
                        args.merge[0].display(),
                        first[key]
                    );
                }
            }
        }
        for m in list {
            let index = m["index"]
                .as_u64()
                .ok_or_else(|| anyhow!("{}: a mutant without an `index`", f.display()))?;
            if let Some(prev) = seen.insert(index, f.clone()) {
                bail!(
                    "{}: mutant {index} is also in {}; give each shard once",
                    f.display(),
                    prev.display()
                );
            }
            all.push(m.clone());
        }
        merged.get_or_insert(doc);
    }
    let mut doc = merged.ok_or_else(|| anyhow!("--merge: give the JSON files of the runs"))?;
    all.sort_by_key(|m| m["index"].as_u64());
    doc["mutants"] = json!(all);
    doc["shard"] = json!(null);
    doc["merged"] = json!(args
        .merge
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>());
    let dir = PathBuf::from(doc["rtl"].as_str().unwrap_or_default());
    let line_of = |file: &str, line: usize| -> String {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|t| t.lines().nth(line.max(1) - 1).map(str::to_string))
            .unwrap_or_default()
    };
    report_mutants(doc, args.json.as_deref(), &line_of)
}

/// `shiftadd coverage` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CoverageCmd {
    /// Add the counts of coverage files (each a `coverage.dat` of `cosim --coverage`, or any
    /// file in that format) and write coverage.dat, summary.txt, summary.json and annotated/
    /// into --out.
    Merge {
        /// Coverage files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Preset whose engine the runs covered (names its cover points; finds its sources).
        #[arg(long, default_value = "seed")]
        preset: String,
        /// The Verilog folder the runs covered, instead of --preset.
        #[arg(long)]
        rtl: Option<PathBuf>,
    },
}

/// Runs `shiftadd coverage`.
pub fn coverage(cmd: &CoverageCmd) -> Result<()> {
    use shiftadd_tb::coverage::{engine_cover_points, write_report, Coverage};
    let CoverageCmd::Merge {
        files,
        out,
        preset,
        rtl,
    } = cmd;
    if out.exists() && !out.is_dir() {
        bail!("--out {}: not a folder", out.display());
    }
    let dir = match rtl {
        Some(d) => d.clone(),
        None => crate::locate_default(&Path::new("rtl-out").join(preset)),
    };
    let design = Design::load(&dir)?;
    let mut cov = Coverage::default();
    for f in files {
        cov.merge(Coverage::read(f)?);
    }
    if cov.is_empty() {
        bail!("the coverage files hold no points");
    }
    let cover_dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
    let mut dirs: Vec<&Path> = vec![&design.dir, out];
    dirs.extend(cover_dirs.iter().copied());
    std::fs::create_dir_all(out).map_err(|e| anyhow!("{}: {e}", out.display()))?;
    // The cover module of the first run that has one, for annotation.
    let cover = shiftadd_tb::coverage::COVER_FILE;
    if let Some(src) = cover_dirs
        .iter()
        .map(|d| d.join(cover))
        .find(|p| p.is_file())
    {
        if src != out.join(cover) {
            std::fs::copy(&src, out.join(cover)).map_err(|e| anyhow!("{}: {e}", out.display()))?;
        }
    }
    cov.locate_sources(&dirs);
    let points = if design.modules.contains_key(ENGINE_MODULE) {
        engine_cover_points(&design.cfg)
    } else {
        Vec::new()
    };
    let summary = write_report(&cov, &points, out)?;
    print_coverage(&summary, out, files.len());
    Ok(())
}

fn print_coverage(summary: &shiftadd_tb::coverage::Summary, out: &Path, runs: usize) {
    let t = &summary.total;
    println!(
        "coverage of {runs} run(s): line {:.1}% ({}/{}), toggle {:.1}% ({}/{}), cover points {}; report in {} (summary.txt, summary.json, annotated/)",
        t.line.percent(),
        t.line.hit,
        t.line.points,
        t.toggle.percent(),
        t.toggle.hit,
        t.toggle.points,
        if t.user.points == 0 {
            "none at this level".to_string()
        } else {
            format!("{:.1}% ({}/{})", t.user.percent(), t.user.hit, t.user.points)
        },
        out.display()
    );
}

fn rtl_dir(args: &CosimArgs) -> PathBuf {
    match &args.rtl {
        Some(d) => d.clone(),
        None => crate::locate_default(&Path::new("rtl-out").join(&args.preset)),
    }
}

fn outcome_json(o: &Outcome, dut: &Dut, level: Level) -> serde_json::Value {
    let failure = o.failure.as_ref().map(|f| {
        json!({
            "case": f.case_index,
            "shrink_steps": f.shrink_steps,
            "cycles": f.case.len(),
            "cycle": f.mismatch.cycle,
            "port": f.mismatch.port,
            "expected": f.mismatch.expected.to_string(),
            "got": got_text(f),
            "layer": f.layer.as_ref().map(|(l, idx)| json!({"case": l.describe(), "output": idx})),
            "vcd": f.vcd.display().to_string(),
            "reference_vcd": f.reference_vcd.display().to_string(),
            "first_wave_difference": f.wave_diff.as_ref().map(|d| json!({
                "signal": d.signal, "time_ns": d.time_ns, "reference": d.first, "rtl": d.second
            })),
        })
    });
    json!({
        "module": o.top,
        "kind": dut.kind.name(),
        "rows": dut.rows,
        "cols": dut.cols,
        "level": format!("{level:?}").to_lowercase(),
        "sim": o.sim.name(),
        "cases": o.cases,
        "cycles": o.cycles,
        "agree": o.agrees(),
        "build_s": o.build_s,
        "run_s": o.run_s,
        "failure": failure,
        "stopped": o.stopped.as_ref().map(|s| json!({
            "case": s.case_index,
            "cycle": s.cycle,
            "what": s.what,
            "vcd": s.vcd.display().to_string(),
        })),
    })
}

/// Longest cycle sequence of one case (`--max-cycles`).
pub const MAX_CASE_CYCLES: usize = 1_000_000;

/// Runs `shiftadd cosim`; returns whether every case agreed.
pub fn run(args: &CosimArgs) -> Result<bool> {
    if args.cases == 0 {
        bail!("--cases 0 checks nothing; give 1 or more");
    }
    if !(1..=MAX_CASE_CYCLES).contains(&args.max_cycles) {
        bail!(
            "--max-cycles {}: give 1 to {MAX_CASE_CYCLES} (the limit of a case's cycles; run longer sequences as more cases)",
            args.max_cycles
        );
    }
    if args.netlist == Some(NetlistArg::Xc7) && args.sim == SimArg::Verilator {
        bail!("--netlist xc7 runs on --sim icarus only: Verilator 5.006 does not settle the loop inside Yosys's CARRY4 model (an adder PE's 127 - (-128) came out as 31, where Icarus gives 255); the engine's layer level, which runs on Verilator, takes --netlist ice40");
    }
    if let Some(j) = &args.json {
        crate::check_writable(j)?;
    }
    if args.coverage.is_some() && args.sim != SimArg::Verilator {
        bail!("--coverage is measured on Verilator only (--sim verilator)");
    }
    if let Some(c) = &args.coverage {
        if c.exists() && !c.is_dir() {
            bail!("--coverage {}: not a folder", c.display());
        }
    }
    let dir = rtl_dir(args);
    let design = Design::load(&dir)?;
    design.check_host_tasks(args.allow_system_tasks)?;
    design.check_config()?;
    let engine = args.level == Level::Layer && design.modules.contains_key(ENGINE_MODULE);
    let shard = args
        .shard
        .as_deref()
        .map(crate::shard::parse_shard)
        .transpose()?;
    if shard.is_some() && !engine {
        bail!("--shard splits the engine's layer-level cases (--level layer on a folder with an engine); the pe and array levels run all their cases in one simulation of seconds");
    }
    if engine && args.sim != SimArg::Verilator {
        // Checked before any netlist is synthesised.
        bail!(
            "the engine is co-simulated on Verilator only (its host program runs through the shim)"
        );
    }
    let design = match args.netlist {
        Some(target) => netlist_design(&design, args.level, engine, target.into())?,
        None => design,
    };
    if engine {
        let agreed = run_engine(args, &design, &dir, shard)?;
        finish_coverage(args, &design, true)?;
        return Ok(agreed);
    }
    let duts = match args.level {
        Level::Pe => design.pes(),
        Level::Array | Level::Layer => design.arrays(),
    };
    if duts.is_empty() {
        bail!(
            "{}: no array module (`<kind>_array` for kind shift, adder, mac or dual) in the Verilog",
            dir.display()
        );
    }
    let sim: SimKind = args.sim.into();
    let cache = cache_dir();
    let mut results = Vec::new();
    let mut failed = 0;
    let mut cases = 0;
    for dut in &duts {
        let vcd = args.vcd.as_ref().map(|v| {
            if duts.len() > 1 {
                tagged(v, &dut.top)
            } else {
                v.clone()
            }
        });
        let opts = Options {
            cases: args.cases,
            seed: args.seed,
            max_cycles: args.max_cycles,
            vcd,
            shrink_time: Duration::from_secs(args.shrink_seconds),
            coverage: coverage_parts(args),
            diagnose: true,
            shard: None,
        };
        eprintln!(
            "building {} ({}x{}) for {} (cache {})",
            dut.top,
            dut.rows,
            dut.cols,
            sim.name(),
            cache.display()
        );
        let o = match args.level {
            Level::Layer => cosim_layers(&design, dut, sim, &opts, &cache)?,
            _ => cosim(&design, dut, sim, &opts, &cache)?,
        };
        cases += o.cases;
        println!(
            "{} ({}x{}, latency {}) on {}: {} {}, {} cycles, {} (build {}{:.1} s, run {:.2} s)",
            dut.top,
            dut.rows,
            dut.cols,
            dut.latency,
            sim.name(),
            o.cases,
            if args.level == Level::Layer {
                "layers"
            } else {
                "cases"
            },
            o.cycles,
            if o.stopped.is_some() {
                "STOPPED"
            } else if o.failure.is_none() {
                "all agree"
            } else {
                "MISMATCH"
            },
            if o.cached { "cached, " } else { "" },
            o.build_s,
            o.run_s
        );
        if let Some((v, r)) = &o.run_vcds {
            println!(
                "  waveforms: RTL {} , reference {}",
                v.display(),
                r.display()
            );
        }
        if let Some(f) = &o.failure {
            failed += 1;
            print!("{}", describe_failure(f, design.cfg.formats.shift_wb));
        }
        if let Some(s) = &o.stopped {
            failed += 1;
            println!("{}", describe_stop(s));
        }
        results.push(outcome_json(&o, dut, args.level));
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "rtl": dir.display().to_string(),
            "config": design.cfg.name,
            "seed": args.seed,
            "results": results,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    finish_coverage(args, &design, false)?;
    println!(
        "cosim: {cases} cases ran on {} module(s) of `{}` ({}, {} level): {}",
        duts.len(),
        design.cfg.name,
        sim.name(),
        format!("{:?}", args.level).to_lowercase(),
        if failed == 0 {
            "all agree".to_string()
        } else {
            format!("{failed} module(s) differ from the reference model")
        }
    );
    Ok(failed == 0)
}

/// The netlists of `design`'s modules at `level` (the engine when `engine`, else the PEs or
/// the arrays), synthesised for `target`, as a design compiled with the target's cell models.
fn netlist_design(design: &Design, level: Level, engine: bool, target: Target) -> Result<Design> {
    let tops: Vec<String> = match level {
        _ if engine => vec![ENGINE_MODULE.into()],
        Level::Pe => design.pes().into_iter().map(|d| d.top).collect(),
        Level::Array | Level::Layer => design.arrays().into_iter().map(|d| d.top).collect(),
    };
    eprintln!(
        "yosys: synthesising {} for {} (netlists kept in {})",
        tops.join(", "),
        target.name(),
        cache_dir().display()
    );
    let t = std::time::Instant::now();
    let dir = netlist_folder(&design.dir, &tops, target, &cache_dir()).map_err(|e| anyhow!(e))?;
    eprintln!(
        "yosys: netlists in {} ({:.1} s)",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    let mut netlist = Design::load(&dir)?;
    netlist.libraries = vec![cell_models(target).map_err(|e| anyhow!(e))?];
    Ok(netlist)
}

/// The report of a simulation that stopped.
fn describe_stop(s: &shiftadd_tb::cosim::Stopped) -> String {
    let at = match (s.case_index, s.cycle) {
        (Some(k), Some(c)) => format!("in case {k} (cycle {c} of the run)"),
        _ => "(the simulator does not say in which cycle)".into(),
    };
    format!(
        "the simulation stopped {at}: {}\n  RTL waveform up to the stop: {}",
        s.what,
        s.vcd.display()
    )
}

/// `--level layer` on a folder with an engine: whole layers through its register map.
fn run_engine(
    args: &CosimArgs,
    design: &Design,
    dir: &Path,
    shard: Option<crate::shard::Shard>,
) -> Result<bool> {
    let opts = Options {
        cases: args.cases,
        seed: args.seed,
        max_cycles: args.max_cycles,
        vcd: args.vcd.clone(),
        shrink_time: Duration::from_secs(args.shrink_seconds),
        coverage: coverage_parts(args),
        diagnose: true,
        shard,
    };
    let cache = cache_dir();
    eprintln!(
        "building engine ({}x{}) for verilator (cache {})",
        design.cfg.rows,
        design.cfg.cols,
        cache.display()
    );
    let o = shiftadd_tb::engine::cosim_engine(design, &opts, &cache)?;
    let agreed = o.cases.iter().filter(|c| c.agree).count();
    let cycles_equal = o
        .cases
        .iter()
        .filter(|c| c.cycles_model == c.cycles_rtl)
        .count();
    println!(
        "engine ({}x{}) on verilator: {} layers ({} of them poolings), {} agree, cycles model = RTL for {} (build {:.1} s, run {:.2} s)",
        design.cfg.rows,
        design.cfg.cols,
        o.cases.len(),
        o.cases.iter().filter(|c| c.kind.ends_with("_pool")).count(),
        agreed,
        cycles_equal,
        o.build_s,
        o.run_s
    );
    if let Some(f) = &o.failure {
        println!(
            "first mismatch in layer case {} (shrunk in {} steps):\n  {}\n  {}\n  engine waveform: {}",
            f.case_index,
            f.shrink_steps,
            f.case,
            f.what,
            f.vcd.display()
        );
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "kind": "cosim",
            "generator": crate::shard::generator(),
            "rtl": dir.display().to_string(),
            "rtl_sha256": crate::infer_cmd::sources_sha256(&design.sources())?,
            "config": design.cfg.name,
            "seed": args.seed,
            "level": "layer",
            "module": "engine",
            "shard": shard,
            "total_cases": args.cases,
            "cases": o.cases,
            "agree": o.failure.is_none(),
            "failure": o.failure.as_ref().map(|f| json!({
                "case_index": f.case_index,
                "case": f.case,
                "what": f.what,
                "vcd": f.vcd.display().to_string(),
            })),
            "run": {"seconds": o.run_s},
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    println!(
        "cosim: {} cases ran on the engine of `{}` (verilator, layer level): {}",
        o.cases.len(),
        design.cfg.name,
        if o.failure.is_none() {
            "all agree".to_string()
        } else {
            "1 layer differs from the reference model".to_string()
        }
    );
    Ok(o.failure.is_none())
}

/// `shiftadd bench-cosim` arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Preset whose committed Verilog (rtl-out/<preset>) is simulated.
    #[arg(long, default_value = "lean16")]
    pub preset: String,
    /// Cycles simulated by Verilator.
    #[arg(long, default_value_t = 2_000_000)]
    pub cycles: usize,
    /// Cycles simulated by rust-hdl's simulator and by Icarus (both far slower).
    #[arg(long, default_value_t = 2_000)]
    pub slow_cycles: usize,
    /// Seed of the stimulus.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instead of the array: images per second of whole-network inference through the `seed`
    /// engine, each layer checked against the reference model (`shiftadd infer`): LeNet (the
    /// committed model) on --images images of the committed subset, and ResNet-20 at CIFAR
    /// shape (random weights) on one image, the buffers reached through the bus and through
    /// the backdoor.
    #[arg(long)]
    pub network: bool,
    /// LeNet's images with --network.
    #[arg(long, default_value_t = 256)]
    pub images: usize,
}

/// One `shiftadd infer` run of [`bench_network`]: its label, arguments, and the images, seconds
/// and bus cycles its report gives.
fn bench_infer(label: &str, args: &[&str]) -> Result<(String, usize, f64, u64)> {
    let out = std::env::temp_dir().join(format!("shiftadd-bench-{}.json", std::process::id()));
    let exe = std::env::current_exe().context("the path of this program")?;
    let o = std::process::Command::new(exe)
        .arg("infer")
        .args(args)
        .arg("--json")
        .arg(&out)
        .output()
        .context("run shiftadd infer")?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    if !o.status.success() {
        bail!(
            "`shiftadd infer {}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let r: crate::shard::InferReport = serde_json::from_str(&text)
        .map_err(|e| anyhow!("`shiftadd infer {}`: its report: {e}", args.join(" ")))?;
    if !r.bit_exact {
        bail!("`shiftadd infer {}` was not bit-exact", args.join(" "));
    }
    Ok((
        label.to_string(),
        r.images,
        r.run.seconds,
        r.run.bus_cycles.unwrap_or(0),
    ))
}

/// `bench-cosim --network`.
fn bench_network(args: &BenchArgs) -> Result<()> {
    if args.images == 0 {
        bail!("--images 0: give 1 or more");
    }
    let n = args.images.to_string();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "whole-network inference through the `seed` engine on Verilator, every layer checked against the reference model, {cores} instances (one per core)"
    );
    let mut rows = Vec::new();
    // Batches of at most 128 images, at least one per core.
    let batch = args.images.div_ceil(cores).min(128).to_string();
    for buffers in ["bus", "backdoor"] {
        rows.push(bench_infer(
            &format!("LeNet, committed subset, buffers {buffers}"),
            &["--limit", &n, "--batch", &batch, "--buffers", buffers],
        )?);
    }
    for buffers in ["bus", "backdoor"] {
        rows.push(bench_infer(
            &format!("ResNet-20, CIFAR shape, buffers {buffers}"),
            &[
                "--arch",
                "resnet20-shiftadd",
                "--data",
                "random",
                "--limit",
                "1",
                "--buffers",
                buffers,
            ],
        )?);
    }
    println!(
        "{:<44} {:>8} {:>10} {:>12} {:>12} {:>14}",
        "network", "images", "seconds", "images/s", "s/image", "cycles/s"
    );
    for (label, images, secs, cycles) in rows {
        println!(
            "{label:<44} {images:>8} {secs:>10.2} {:>12.2} {:>12.3} {:>14.0}",
            images as f64 / secs,
            secs / images.max(1) as f64,
            cycles as f64 / secs
        );
    }
    Ok(())
}

/// Random stimulus of `n` cycles for `dut`, drawn like co-simulation cases.
fn stimulus(dut: &Dut, cfg: &shiftadd_sim::spec::AccelConfig, n: usize, seed: u64) -> Vec<Cycle> {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = shiftadd_tb::cosim::test_runner(seed);
    let strategy = case_strategy(dut, 64);
    let mut raw = Vec::new();
    while raw.len() < n {
        raw.extend(strategy.new_tree(&mut runner).expect("a case").current());
    }
    raw.truncate(n);
    build_case(&raw, dut, cfg)
}

fn rate(cycles: usize, s: f64) -> f64 {
    cycles as f64 / s.max(1e-9)
}

/// Runs `shiftadd bench-cosim`.
pub fn bench(args: &BenchArgs) -> Result<()> {
    use shiftadd_hdl::rhdl_sim::{run_array, ArrayInputs};
    if args.network {
        return bench_network(args);
    }
    use shiftadd_tb::cosim::{first_mismatch, Sim};
    use shiftadd_tb::stimulus::{expected, Driver, Weight};
    use std::time::Instant;

    let dir = crate::locate_default(&Path::new("rtl-out").join(&args.preset));
    let design = Design::load(&dir)?;
    let cfg = &design.cfg;
    let dut = design
        .arrays()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{}: no array module", dir.display()))?;
    let cache = cache_dir();
    let (vsim, layout, _) = Sim::build(SimKind::Verilator, &design, &dut, &cache, None)?;
    let driver = Driver::new(&dut, &layout, cfg)?;
    let block = stimulus(&dut, cfg, 4096, args.seed);
    let words = driver.inputs(&block);
    let Sim::Verilator(model) = &vsim else {
        unreachable!("built for Verilator")
    };
    println!(
        "{} ({}x{}, `{}`), random stimulus of the co-simulation's kind, one thread",
        dut.top, dut.rows, dut.cols, cfg.name
    );

    // Verilator, bulk stepping, simulation alone.
    let mut inst = model.instance(None)?;
    inst.cycles(&words)?;
    let t = Instant::now();
    let mut done = 0;
    while done < args.cycles {
        inst.cycles(&words)?;
        done += block.len();
    }
    let verilator = rate(done, t.elapsed().as_secs_f64());

    // Verilator with the reference model and the comparison, as `cosim` runs.
    let t = Instant::now();
    let mut checked = 0;
    let exp = expected(&block, &dut, cfg);
    let ref_s = {
        let t = Instant::now();
        let _ = expected(&block, &dut, cfg);
        t.elapsed().as_secs_f64()
    };
    while checked < args.cycles / 10 {
        let out = model.instance(None)?.cycles(&words)?;
        if let Some(m) = first_mismatch(&driver, &out, &exp) {
            bail!("the benchmark stimulus differs from the reference: {m:?}");
        }
        checked += block.len();
    }
    let checked_rate = rate(
        checked,
        t.elapsed().as_secs_f64() + ref_s * (checked / block.len()) as f64,
    );

    // rust-hdl's simulator on the first cycles of the same stimulus.
    let slow = args.slow_cycles.min(block.len());
    let xw = dut
        .ports
        .iter()
        .find(|p| p.name == "x_0")
        .map_or(64, |p| p.width);
    let ww = dut
        .ports
        .iter()
        .find(|p| p.name == "w_0")
        .map_or(64, |p| p.width);
    let mask = |v: i64, w: usize| {
        if w >= 64 {
            v as u64
        } else {
            v as u64 & ((1u64 << w) - 1)
        }
    };
    let rhdl_in: Vec<ArrayInputs> = block[..slow]
        .iter()
        .map(|c| ArrayInputs {
            en: c.en,
            clear: c.clear,
            mode: c.op == shiftadd_tb::stimulus::Op::Adder,
            x: c.x.iter().map(|&v| mask(v, xw)).collect(),
            w: c.w
                .iter()
                .map(|w| match w {
                    Weight::Shift(sw) => u64::from(shiftadd_sim::numerics::encode_shift_weight(
                        *sw,
                        cfg.formats.shift_wb,
                    )),
                    Weight::Code(v) => mask(*v, ww),
                })
                .collect(),
        })
        .collect();
    let t = Instant::now();
    let rhdl_out = run_array(cfg, dut.kind, &rhdl_in)?;
    let rhdl = rate(slow, t.elapsed().as_secs_f64());
    let vout = model
        .instance(None)?
        .cycles(&words[..slow * driver.input_words])?;
    let agree = (0..slow).all(|i| {
        (0..dut.rows)
            .all(|r| rhdl_out[i][r] == vout[i * driver.output_words + layout.output_offsets[r]])
    });

    // Icarus on the same cycles (process start and file exchange included).
    let (isim, _, _) = Sim::build(SimKind::Icarus, &design, &dut, &cache, None)?;
    let t = Instant::now();
    let iout = isim.run(&words[..slow * driver.input_words], None)?;
    let icarus = rate(slow, t.elapsed().as_secs_f64());
    let iagree = iout == vout;

    println!("{:<44} {:>14} {:>10}", "simulator", "cycles/s", "ratio");
    println!(
        "{:<44} {:>14.0} {:>10}",
        format!("Verilator {}, bulk stepping ({done} cycles)", "5"),
        verilator,
        "1"
    );
    println!(
        "{:<44} {:>14.0} {:>10.3}",
        format!("Verilator + reference model + compare ({checked})"),
        checked_rate,
        checked_rate / verilator
    );
    println!(
        "{:<44} {:>14.0} {:>10.5}",
        format!("rust-hdl simulator ({slow} cycles)"),
        rhdl,
        rhdl / verilator
    );
    println!(
        "{:<44} {:>14.0} {:>10.5}",
        format!("Icarus Verilog ({slow} cycles)"),
        icarus,
        icarus / verilator
    );
    println!(
        "outputs of the {slow} common cycles: rust-hdl {} Verilator, Icarus {} Verilator",
        if agree { "=" } else { "!=" },
        if iagree { "=" } else { "!=" }
    );
    if !agree || !iagree {
        bail!("the simulators disagree on the benchmark stimulus");
    }
    Ok(())
}
