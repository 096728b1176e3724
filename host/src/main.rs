//! The `shiftadd` command.

mod backend;
mod constraints_cmd;
mod cosim_cmd;
mod data;
mod docs_cmd;
mod import_cmd;
mod infer_cmd;
mod report_cmd;
mod rtl_cmd;
mod shard;
mod train_cmd;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use rayon::prelude::*;
use serde_json::json;
use shiftadd_sim::net::{LayerStats, Model, Op};
use shiftadd_sim::spec::{presets, AccelConfig};
use shiftadd_sim::{archs, model, random, vectors};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "shiftadd",
    version,
    about = "Hardware generator and verification suite for multiplication-less (shift and add) neural networks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the accelerator presets (one name per line, or in full with --json).
    Presets {
        /// Print every preset in full as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the built-in architectures.
    Archs {
        /// Print the graphs as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate the Verilog of a config's PE arrays, with config.json and manifest.json.
    Gen {
        #[command(flatten)]
        cfg: rtl_cmd::ConfigArgs,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Write the arrays alone when the config has no engine (without it, such a config is
        /// refused with the reason).
        #[arg(long)]
        allow_no_engine: bool,
    },
    /// Synthesise a config's arrays and PEs with Yosys (7-series and iCE40, or ECP5) and place
    /// the iCE40 ones that fit with nextpnr: LUT, carry, FF, DSP, BRAM, Fmax. With `--target ecp5
    /// --engine`, the engine on the ULX3S is placed, routed and packed to a bitstream.
    Synth {
        #[command(flatten)]
        cfg: rtl_cmd::ConfigArgs,
        /// Also write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Folder for the Verilog, tool scripts and logs (default target/synth/<config>).
        #[arg(long)]
        work: Option<PathBuf>,
        /// Also synthesise the whole engine and `shiftadd_axi` (minutes for a 16x16 preset).
        #[arg(long)]
        engine: bool,
        /// Synthesise for one target family only: xc7 (with xc7-nodsp for multipliers), ice40, or
        /// ecp5 (never by default; with --engine, the ULX3S board flow to a bitstream).
        #[arg(long, value_parser = ["xc7", "ice40", "ecp5"])]
        target: Option<String>,
    },
    /// Write a config's board constraints (XDC or PCF) and implementation scripts (Vivado Tcl or
    /// Yosys/nextpnr) under OUT/<board>/<config>/.
    Constraints {
        #[command(flatten)]
        cfg: rtl_cmd::ConfigArgs,
        /// Output folder (the repository's is `constraints`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Per-layer operations, estimated cycles, buffer accesses and energy of a network, beside its
    /// multiply, DeepShift and AdderNet twins (table, --json, --svg).
    Report(report_cmd::ReportArgs),
    /// Co-simulate emitted Verilog against the reference model (Verilator or Icarus): PEs,
    /// arrays cycle by cycle, or whole layers on an array; shrinks the first failing case and
    /// writes waveforms of it. Exit status 0 only when every case agrees.
    Cosim(cosim_cmd::CosimArgs),
    /// Mutation analysis of the engine co-simulation: single-site edits of the Verilog, each
    /// co-simulated at layer level with the same stimulus; survivors checked for equivalence
    /// with Yosys. Exit status 0 only when no mutant escapes.
    Mutants(cosim_cmd::MutantsArgs),
    /// Coverage files of `cosim --coverage` runs: `merge` adds their counts (runs with other
    /// seeds, or shards) and writes one report.
    Coverage {
        #[command(subcommand)]
        cmd: cosim_cmd::CoverageCmd,
    },
    /// Simulated cycles per second of a preset's array: Verilator with bulk stepping (alone and
    /// with the reference comparison), rust-hdl's simulator and Icarus on the same stimulus;
    /// with --network, images per second of whole-network inference through the engine
    /// (buffers through the bus and through the backdoor).
    BenchCosim(cosim_cmd::BenchArgs),
    /// Merge the JSON files of the shards of one `infer` or `cosim` run (`--shard K/N`) into one
    /// report, equal to the unsharded run's but for its `run` section. Refuses shards of
    /// different runs (model, preset, data, Verilog or generator version), overlapping shards
    /// and missing ones. Exit status 0 only when the merged run agreed everywhere.
    Merge {
        /// The shards' JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The merged report.
        #[arg(long)]
        json: PathBuf,
    },
    /// Write the job list of a sharded run: DIR/jobs.txt, one command line per shard (each with
    /// its --shard K/N and --json DIR/shard-K.json), and DIR/merge.txt, the merge into
    /// DIR/merged.json; for GNU parallel or scripts/cluster/submit-slurm.sh.
    Jobs {
        /// Shards.
        #[arg(long)]
        shards: usize,
        /// Folder of the job list and the shards' results.
        #[arg(long)]
        dir: PathBuf,
        /// The `shiftadd` the jobs run (default: this one).
        #[arg(long)]
        exe: Option<PathBuf>,
        /// The command to shard and its arguments, after `--` (`infer ...` or `cosim ...`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Evaluate one layer test vector (shared/spec/vectors.md) through the reference model.
    EvalLayer {
        /// The vector file (JSON).
        file: PathBuf,
    },
    /// Run a network on IDX images: through the engine's RTL on Verilator (checked layer by layer
    /// against the reference model, cycles against sim::cycles), the cycle model, or the
    /// reference model alone; print accuracy, cycles and agreement.
    Infer {
        /// Model file, or a folder holding model.safetensors.
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        /// Data: IDX (a folder with t10k-images-idx3-ubyte[.gz] or t10k-images-idx4-ubyte[.gz]
        /// and t10k-labels-idx1-ubyte[.gz], or an images file), CIFAR-10 binary (a *.bin file
        /// such as test_batch.bin, or a folder holding test_batch.bin), or `random` (--limit
        /// random images of the model's input shape, random labels).
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
        /// Use the first N images only.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        opts: InferOpts,
        /// Write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Compile a model for a preset's engine into a program file for the C and Python drivers.
    Compile {
        /// Model file, or a folder holding model.safetensors.
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        /// Accelerator preset (default: the preset with the model's formats whose PEs run it).
        #[arg(long)]
        preset: Option<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a random model of a built-in architecture, batch norm calibrated on a random image.
    RandomModel {
        /// Built-in architecture.
        #[arg(long)]
        arch: String,
        /// Preset whose formats and post-processing widths the model uses.
        #[arg(long, default_value = "seed")]
        preset: String,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the drivers' register files (C header, Python module) into OUT.
    Drivers {
        /// Output folder (the repository's is `drivers`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the generated documentation pages (the command line, the presets) into OUT.
    Docs {
        /// Output folder (the repository's is `docs`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Train a built-in architecture (quantisation-aware, float) and export its integer model.
    Train(train_cmd::TrainArgs),
    /// Import a checkpoint of the original ShiftAddNet code as a model file.
    Import(import_cmd::ImportArgs),
    /// Fixed-point accuracy of a trained model exported at narrower activation and adder formats.
    Precision(train_cmd::PrecisionArgs),
    /// Print reference-model inference throughput (random calibrated weights, random images).
    Bench {
        /// Built-in architecture.
        #[arg(long, default_value = "resnet20-shiftadd")]
        arch: String,
        /// Preset whose formats the model uses.
        #[arg(long, default_value = "seed")]
        preset: String,
        /// Images per timed run.
        #[arg(long, default_value_t = 256)]
        images: usize,
        /// Worker threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Refuses, before a run, an output file that cannot be written: its folder missing or not
/// writable, or the path a folder. Leaves nothing behind.
fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{}: is a folder, not a file to write", path.display());
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    if !existed {
        std::fs::remove_file(path).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// The default model: the trained ShiftAddNet of the main job.
const DEFAULT_MODEL: &str = "models/fmnist-shiftadd";
/// The default data: the committed Fashion-MNIST subset.
const DEFAULT_DATA: &str = "data/fashion-mnist-1000";

/// A path as given; a default one (an option's default, or a preset's `rtl-out/` folder) missing
/// in the working directory is looked up in the source tree, so that the defaults work from
/// anywhere. A path the user gave is never replaced by another.
pub(crate) fn locate_default(p: &Path) -> PathBuf {
    let is_default = p == Path::new(DEFAULT_MODEL)
        || p == Path::new(DEFAULT_DATA)
        || (p.starts_with("rtl-out") && p.components().count() == 2);
    if !is_default || p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p);
    if tree.exists() {
        tree
    } else {
        p.to_path_buf()
    }
}

/// A preset by name, or the one error every subcommand gives for an unknown name.
pub(crate) fn preset(name: &str) -> Result<AccelConfig> {
    let cfg = presets::lookup(name)?;
    cfg.validate()?;
    Ok(cfg)
}

/// A built-in architecture by name, or the one error every subcommand gives for an unknown name.
pub(crate) fn arch(name: &str) -> Result<shiftadd_sim::net::Graph> {
    Ok(archs::lookup(name)?)
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Presets { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&presets::all())?);
            } else {
                for p in presets::all() {
                    println!("{}", p.name);
                }
            }
        }
        Cmd::Archs { json } => {
            if json {
                let graphs: Vec<_> = archs::names()
                    .iter()
                    .filter_map(|n| archs::by_name(n))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&graphs)?);
            } else {
                for n in archs::names() {
                    println!("{n:<20} {}", archs::describe(&n));
                }
            }
        }
        Cmd::Gen {
            cfg,
            out,
            allow_no_engine,
        } => rtl_cmd::gen(&cfg, &out, allow_no_engine)?,
        Cmd::Synth {
            cfg,
            json,
            work,
            engine,
            target,
        } => rtl_cmd::synth(
            &cfg,
            json.as_deref(),
            work.as_deref(),
            engine,
            target.as_deref(),
        )?,
        Cmd::Constraints { cfg, out } => constraints_cmd::constraints(&cfg, &out)?,
        Cmd::Report(args) => report_cmd::report(&args)?,
        Cmd::EvalLayer { file } => {
            let text = shiftadd_sim::files::read_text(&file)
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let v = vectors::parse_vector(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let out = vectors::eval_vector(&v);
            println!("{}", serde_json::to_string(&vectors::output_json(&out))?);
        }
        Cmd::Infer {
            model,
            data,
            limit,
            opts,
            json,
        } => {
            if !infer(
                &locate_default(&model),
                &if data == Path::new("random") {
                    data
                } else {
                    locate_default(&data)
                },
                limit,
                &opts,
                json.as_deref(),
            )? {
                std::process::exit(1);
            }
        }
        Cmd::Compile {
            model,
            preset: p,
            out,
        } => {
            let path = locate_default(&model);
            let m: Model = model::load_model(&path)?;
            let cfg = match p {
                Some(p) => preset(&p)?,
                None => preset_for(&m)?,
            };
            let program = shiftadd_sim::program::compile(&m, &cfg)?;
            let runner = m.runner()?;
            let i = m.graph.input;
            let bytes = shiftadd_sim::program_file::encode(
                &program,
                runner.input_table(),
                [i.channels, i.height, i.width],
                m.graph.classes,
            );
            std::fs::write(&out, &bytes)
                .with_context(|| format!("{}: cannot write", out.display()))?;
            let params: usize = program
                .engine_layers()
                .map(|(_, el)| {
                    el.weights.iter().map(Vec::len).sum::<usize>()
                        + 2 * el.post_m.iter().map(Vec::len).sum::<usize>()
                })
                .sum();
            println!(
                "{} for config {}: {} nodes in {} segments, {params} parameter words; wrote {} ({} bytes)",
                m.graph.arch,
                cfg.name,
                program.layers.len(),
                program.segments.len(),
                out.display(),
                bytes.len()
            );
        }
        Cmd::RandomModel {
            arch,
            preset: p,
            seed,
            out,
        } => {
            let graph = self::arch(&arch)?;
            let m = random::random_model(&graph, &preset(&p)?, seed)
                .map_err(|e| anyhow!("{arch}: {e}"))?;
            let prov = json!({"random": {"arch": arch, "preset": p, "seed": seed}});
            model::save_model(&m, &out, Some(prov)).map_err(|e| anyhow!(e))?;
            println!("wrote {}", out.display());
        }
        Cmd::Bench {
            arch,
            preset: p,
            images,
            threads,
        } => bench(&arch, &p, images, threads)?,
        Cmd::Cosim(a) => {
            if !cosim_cmd::run(&a)? {
                std::process::exit(1);
            }
        }
        Cmd::BenchCosim(a) => cosim_cmd::bench(&a)?,
        Cmd::Merge { files, json } => {
            if !shard::merge(&files, &json)? {
                std::process::exit(1);
            }
        }
        Cmd::Jobs {
            shards,
            dir,
            exe,
            command,
        } => shard::jobs(shards, &dir, exe.as_deref(), &command)?,
        Cmd::Coverage { cmd } => cosim_cmd::coverage(&cmd)?,
        Cmd::Mutants(a) => {
            if !cosim_cmd::mutants(&a)? {
                std::process::exit(1);
            }
        }
        Cmd::Docs { out } => docs_cmd::write(&out)?,
        Cmd::Drivers { out } => docs_cmd::write_drivers(&out)?,
        Cmd::Train(a) => train_cmd::train(a)?,
        Cmd::Import(a) => import_cmd::run(&a)?,
        Cmd::Precision(a) => train_cmd::precision(a)?,
    }
    Ok(())
}

/// `infer`'s options besides the model, data, limit and JSON output.
#[derive(clap::Args)]
struct InferOpts {
    /// A built-in architecture with random weights (batch norm calibrated on a random image,
    /// formats of --preset, default seed) instead of --model.
    #[arg(long)]
    arch: Option<String>,
    /// `rtl` (the engine's Verilog on Verilator, through its register bus), `axi` (the same
    /// through the AXI4-Lite and AXI4-Stream ports of `shiftadd_axi`), `uart` (the engine on a
    /// board through the serial bridge of `shiftadd_uart`, or its Verilog on Verilator with
    /// `--port sim`), `cycle` (reference values, sim::cycles) or `ref` (the reference model
    /// alone).
    #[arg(long, default_value = "rtl")]
    backend: String,
    /// `uart`: the board's serial port (for example /dev/ttyUSB0), or `sim` for the simulated
    /// line (the bridge and engine on Verilator, 4 cycles per bit).
    #[arg(long)]
    port: Option<String>,
    /// `uart` on a serial port: the baud rate (115200 to 3000000; the bridge's `bit_cycles` is
    /// the preset's clock over it; the board flow builds it for the default).
    #[arg(long, default_value_t = shiftadd_sim::uart::BOARD_BAUD)]
    baud: u32,
    /// Accelerator preset (default: the preset with the model's formats whose PEs run it; for
    /// --arch, the first preset whose PEs run it, else `seed`). With `ref`, only the capability
    /// check.
    #[arg(long)]
    preset: Option<String>,
    /// Simulate this emitted folder instead of generating the preset's RTL into
    /// target/infer/<preset>. Its Verilog is executed by the simulator.
    #[arg(long)]
    rtl: Option<PathBuf>,
    /// Simulate an --rtl folder even when its Verilog calls system tasks that reach the host
    /// ($system, $c, file I/O).
    #[arg(long)]
    allow_system_tasks: bool,
    /// Parallel RTL instances (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Images per batch: each layer's parameters are loaded at most once per batch.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// How the host reaches the engine's buffers (`rtl` backend): `bus` (the access port, word
    /// by word, as a driver on the board does) or `backdoor` (the simulation writes and reads
    /// the buffer memories directly between cycles: no bus cycles for buffer words; registers,
    /// START and STATUS stay on the bus). The results are the same; only the bus cycles differ.
    #[arg(long, value_enum, default_value = "bus")]
    buffers: Buffers,
    /// Run only shard K of N (K from 1) of the images: whole batches (--batch), the batches
    /// split into N contiguous runs; `shiftadd merge` joins the shards' --json files.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Waveform of the first mismatching layer.
    #[arg(long, default_value = "target/infer/mismatch.vcd")]
    vcd: PathBuf,
    /// Flip bit BIT of output INDEX of layer LAYER for image IMAGE in the engine's output
    /// buffer, through the host interface, before the host reads it (checks the checker).
    #[arg(long, value_name = "LAYER:IMAGE:INDEX:BIT")]
    inject_fault: Option<String>,
    /// Largest network run, in tap operations per image (ResNet-20 at CIFAR shape has 82 M); a
    /// larger one is refused before it runs, naming its count.
    #[arg(long, default_value_t = MAX_TAPS_PER_IMAGE)]
    max_taps: u64,
}

/// How `infer` reaches the engine's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Buffers {
    /// The access port (or the streams), word by word.
    Bus,
    /// The simulated memories, directly.
    Backdoor,
}

/// `infer --max-taps`'s default: 2^34 tap operations per image, about 200 ResNet-20s at CIFAR
/// shape and minutes of the reference model per image.
const MAX_TAPS_PER_IMAGE: u64 = 1 << 34;

/// The preset whose formats are the model's, and whose PEs run its layers if one does (`seed`
/// for a ShiftAddNet, `seed-mult` for its multiply twin).
fn preset_for(m: &Model) -> Result<AccelConfig> {
    let same_formats: Vec<AccelConfig> = presets::all()
        .into_iter()
        .filter(|p| {
            let (f, c) = (&m.formats, &p.formats);
            (
                f.act_range(),
                f.act_frac,
                f.shift_wb,
                f.add_bits,
                f.add_frac,
                f.mul_bits,
            ) == (
                c.act_range(),
                c.act_frac,
                c.shift_wb,
                c.add_bits,
                c.add_frac,
                c.mul_bits,
            )
        })
        .collect();
    let runs = same_formats.iter().find(|p| m.check_capability(p).is_ok());
    runs.or(same_formats.first()).cloned().ok_or_else(|| {
        anyhow!(
            "no preset has the model's formats {:?}; pass --preset (presets: {})",
            m.formats,
            presets::names().join(", ")
        )
    })
}

/// Returns whether every check passed (always true for `ref`).
fn infer(
    model_path: &Path,
    data_path: &Path,
    limit: Option<usize>,
    opts: &InferOpts,
    json_out: Option<&Path>,
) -> Result<bool> {
    if !["ref", "cycle", "rtl", "axi", "uart"].contains(&opts.backend.as_str()) {
        bail!(
            "--backend `{}`: expected ref, cycle, rtl, axi or uart",
            opts.backend
        );
    }
    match (opts.backend.as_str(), &opts.port) {
        ("uart", None) => bail!("--backend uart needs --port (a serial port, or `sim`)"),
        ("uart", _) => {}
        (_, Some(_)) => bail!("--port needs --backend uart"),
        _ => {}
    }
    if opts.batch == 0 {
        bail!("--batch 0: a batch holds at least 1 image");
    }
    let shard = opts.shard.as_deref().map(shard::parse_shard).transpose()?;
    if shard.is_some() && opts.backend == "ref" {
        bail!("--shard runs on the engine backends (cycle, rtl, axi, uart); the reference model alone runs about 70 images/s and needs no shards");
    }
    if opts.buffers == Buffers::Backdoor && opts.backend != "rtl" {
        bail!(
            "--buffers backdoor needs --backend rtl (the simulated register bus), not `{}`",
            opts.backend
        );
    }
    if opts.threads == Some(0) {
        bail!("--threads 0: give 1 or more");
    }
    let simulated = match opts.backend.as_str() {
        "rtl" | "axi" => true,
        "uart" => opts.port.as_deref() == Some(infer_cmd::SIM_PORT),
        _ => false,
    };
    if (opts.inject_fault.is_some() || opts.rtl.is_some()) && !simulated {
        bail!("--inject-fault and --rtl need --backend rtl or axi, or uart with --port sim");
    }
    if let Some(j) = json_out {
        check_writable(j)?;
    }
    let (resolved, m, cfg) = match &opts.arch {
        Some(arch) => {
            let graph = self::arch(arch)?;
            let cfg = match opts.preset.as_deref() {
                Some(p) => preset(p)?,
                None => presets::all()
                    .into_iter()
                    .find(|p| {
                        graph.nodes.iter().all(|n| match &n.op {
                            Op::Conv { kind, .. } => p.pe_kinds.runs(*kind),
                            _ => true,
                        })
                    })
                    .unwrap_or_else(presets::seed),
            };
            let m = random::random_model(&graph, &cfg, 1).map_err(|e| anyhow!("{arch}: {e}"))?;
            let name = PathBuf::from(format!("{arch} (random weights, seed 1)"));
            (name, m, Some(cfg))
        }
        None => {
            let resolved = model::resolve_model_path(model_path);
            if !resolved.exists() {
                bail!(
                    "model `{}` not found; pass --model FILE (or a folder holding model.safetensors), for example --model models/demo-lenet-shiftadd",
                    resolved.display()
                );
            }
            let m: Model = model::load_model(model_path)?;
            let cfg = match (&opts.preset, opts.backend.as_str()) {
                (Some(p), _) => Some(preset(p)?),
                (None, "ref") => None,
                (None, _) => Some(preset_for(&m)?),
            };
            (resolved, m, cfg)
        }
    };
    if let Some(c) = &cfg {
        m.check_capability(c)?;
    }
    let runner = m.runner()?;
    let taps = runner
        .infos()
        .iter()
        .filter_map(|i| i.geom)
        .fold(0u64, |s, g| s.saturating_add(g.tap_ops()));
    if taps > opts.max_taps {
        bail!(
            "{}: {taps} tap operations per image, more than the limit of --max-taps {} (each image would run for a long time); raise --max-taps to run it",
            resolved.display(),
            opts.max_taps
        );
    }
    let ds = if data_path == Path::new("random") {
        let i = m.graph.input;
        data::random(
            [i.channels, i.height, i.width],
            m.graph.classes,
            limit.unwrap_or(1),
        )
        .map_err(|e| anyhow!(e))?
    } else {
        data::load(data_path, limit).map_err(|e| anyhow!(e))?
    };
    let i = m.graph.input;
    if ds.shape != [i.channels, i.height, i.width] {
        bail!(
            "{}: images are {:?}, the model `{}` takes {:?}",
            ds.images_path.display(),
            ds.shape,
            m.graph.arch,
            [i.channels, i.height, i.width]
        );
    }
    if let Some(k) = ds
        .labels
        .iter()
        .position(|l| *l as usize >= m.graph.classes)
    {
        bail!(
            "{}: label {} of image {k} is not a class of the model `{}` (classes 0..{})",
            ds.images_path.display(),
            ds.labels[k],
            m.graph.arch,
            m.graph.classes
        );
    }
    let lut_sat: u64 = runner.lut_saturations().iter().sum();
    if opts.backend != "ref" {
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let run = infer_cmd::RunOptions {
            backend: &opts.backend,
            cfg: cfg.expect("a config for the engine backends"),
            rtl: opts.rtl.as_ref().map(|d| locate_default(d)),
            threads: threads.clamp(
                1,
                shard
                    .map_or(ds.count, |s| s.images(ds.count, opts.batch).len())
                    .div_ceil(opts.batch)
                    .max(1),
            ),
            batch: opts.batch,
            vcd: opts.vcd.clone(),
            fault: opts.inject_fault.clone(),
            allow_system_tasks: opts.allow_system_tasks,
            port: opts.port.clone(),
            baud: opts.baud,
            backdoor: opts.buffers == Buffers::Backdoor,
            shard,
        };
        if lut_sat > 0 {
            println!("input table entries saturated: {lut_sat}");
        }
        return infer_cmd::infer_engine(&m, &resolved, &ds, &run, json_out);
    }
    let start = Instant::now();
    let results: Vec<(bool, Vec<LayerStats>)> = (0..ds.count)
        .into_par_iter()
        .map(|k| {
            let r = runner.run_image(ds.image(k), false);
            (r.prediction == ds.labels[k] as usize, r.layers)
        })
        .collect();
    let secs = start.elapsed().as_secs_f64();
    let correct = results.iter().filter(|r| r.0).count();
    let mut layers: Vec<LayerStats> = m
        .graph
        .nodes
        .iter()
        .map(|n| LayerStats {
            name: n.name.clone(),
            ..Default::default()
        })
        .collect();
    for (_, per) in &results {
        for (acc, s) in layers.iter_mut().zip(per) {
            acc.kind.clone_from(&s.kind);
            acc.out_shape = s.out_shape;
            acc.accumulate(s);
        }
    }
    let n = ds.count.max(1) as f64;
    println!(
        "model {} ({}), data {} ({} images)",
        resolved.display(),
        m.graph.arch,
        ds.images_path.display(),
        ds.count
    );
    infer_cmd::print_ref_layers(&layers, n);
    if lut_sat > 0 {
        println!("input table entries saturated: {lut_sat}");
    }
    let accuracy = correct as f64 / n;
    println!(
        "accuracy {correct}/{} = {:.2}%  ({:.1} images/s)",
        ds.count,
        100.0 * accuracy,
        ds.count as f64 / secs
    );
    if let Some(out) = json_out {
        let doc = json!({
            "model": resolved.display().to_string(),
            "arch": m.graph.arch,
            "data": ds.images_path.display().to_string(),
            "images": ds.count,
            "correct": correct,
            "accuracy": accuracy,
            "input_saturations": lut_sat,
            "layers": layers,
        });
        std::fs::write(out, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("{}: cannot write", out.display()))?;
    }
    Ok(true)
}

fn bench(arch: &str, preset_name: &str, images: usize, threads: Option<usize>) -> Result<()> {
    if threads == Some(0) || images == 0 {
        bail!("--threads and --images: give 1 or more");
    }
    let graph = self::arch(arch)?;
    let cfg = preset(preset_name)?;
    let m = random::random_model(&graph, &cfg, 7).map_err(|e| anyhow!("{arch}: {e}"))?;
    let runner = m.runner()?;
    let inputs: Vec<Vec<u8>> = (0..images.max(1))
        .map(|k| random::random_image(&graph, 1000 + k as u64))
        .collect();
    let ops_per_image: u64 = runner
        .run_image(&inputs[0], false)
        .layers
        .iter()
        .map(|l| l.taps)
        .sum();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "arch {arch}, preset {preset_name}, {} layer operations (taps) per image",
        ops_per_image
    );
    println!(
        "cpu {cpu}, {cores} cores, avx2 {}",
        cfg!(target_arch = "x86_64") && is_avx2()
    );
    let mut counts = vec![1usize];
    let all = threads.unwrap_or(cores);
    if all > 1 {
        counts.push(all);
    }
    for t in counts {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        // Warm-up, then the timed run.
        pool.install(|| {
            inputs
                .par_iter()
                .take(t)
                .for_each(|x| drop(runner.run_image(x, false)))
        });
        let start = Instant::now();
        let checksum: usize = pool.install(|| {
            inputs
                .par_iter()
                .map(|x| runner.run_image(x, false).prediction)
                .sum()
        });
        let secs = start.elapsed().as_secs_f64();
        let ips = inputs.len() as f64 / secs;
        println!(
            "threads {t}: {} images in {:.2} s = {:.1} images/s, {:.2} G layer operations/s (checksum {checksum})",
            inputs.len(),
            secs,
            ips,
            ips * ops_per_image as f64 / 1e9
        );
    }
    Ok(())
}

fn is_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
