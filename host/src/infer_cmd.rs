//! `shiftadd infer` through the cycle model or the engine's RTL: the network compiled for a
//! preset, run image by image, every layer's output of every image checked bit for bit against
//! the reference model, with the engine's cycles against `sim::cycles`.

use crate::backend::{
    engine_model, write_cycle, Backend, CycleBackend, Fault, HwBackend, ImageOut, RefBackend,
    RtlBackend,
};
use crate::data::Dataset;
use crate::shard::{
    file_sha256, generator, write_json, InferReport, LayerRow, MismatchAt, MismatchJson,
    Provenance, RunInfo, Shard, ShardInfo,
};
use anyhow::{anyhow, bail, Context, Result};
use shiftadd_sim::cycles::{layer_utilisation, tap_ops, utilisation};
use shiftadd_sim::energy::{self, EnergyTable, Units};
use shiftadd_sim::layers::Tensor;
use shiftadd_sim::net::{LayerStats, Model};
use shiftadd_sim::program::{compile, Program, Work};
use shiftadd_sim::spec::AccelConfig;
use shiftadd_tb::axi::AxiBus;
use shiftadd_tb::bus::Bus;
use shiftadd_tb::uart::{SimLine, TtyLine, UartBus};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// How `infer` runs.
pub struct RunOptions<'a> {
    /// `cycle` or `rtl`.
    pub backend: &'a str,
    /// The config.
    pub cfg: AccelConfig,
    /// An emitted folder to simulate instead of generating the config's RTL.
    pub rtl: Option<PathBuf>,
    /// Worker threads (RTL instances).
    pub threads: usize,
    /// Images per batch (a layer's parameters are loaded at most once per batch).
    pub batch: usize,
    /// Waveform of the first mismatching layer.
    pub vcd: PathBuf,
    /// A bit to flip in one layer's output buffer.
    pub fault: Option<String>,
    /// Simulate an `rtl` folder whose Verilog calls system tasks that reach the host.
    pub allow_system_tasks: bool,
    /// `uart`: a serial port, or `sim` for the simulated line.
    pub port: Option<String>,
    /// `uart` on a serial port: the baud rate.
    pub baud: u32,
    /// Buffers written and read through the simulation's backdoor, not the bus.
    pub backdoor: bool,
    /// Run only this shard of the images.
    pub shard: Option<Shard>,
}

/// `--port`'s value for the simulated serial line.
pub const SIM_PORT: &str = "sim";

/// The first difference found.
#[derive(Clone, Debug)]
struct Mismatch {
    image: usize,
    layer: String,
    what: String,
    cycle: Option<u64>,
    vcd: Option<PathBuf>,
}

/// Per-layer tallies over the images run.
#[derive(Clone, Debug, Default)]
struct Tally {
    agree: u64,
    cycles_rtl: Option<u64>,
    cycles_rtl_differ: u64,
    sat: u64,
    /// The reference model's counts, summed over the images.
    reference: LayerStats,
}

impl Tally {
    /// Adds the reference model's counts of one run (or a sum of runs).
    fn add_reference(&mut self, st: &LayerStats) {
        self.reference.name.clone_from(&st.name);
        self.reference.kind.clone_from(&st.kind);
        self.reference.out_shape = st.out_shape;
        self.reference.accumulate(st);
    }

    /// Records a `CYCLES` value, counting those that differ from the first one seen.
    fn observe_cycles(&mut self, c: u64) {
        match self.cycles_rtl {
            None => self.cycles_rtl = Some(c),
            Some(p) if p != c => self.cycles_rtl_differ += 1,
            _ => {}
        }
    }

    /// Adds another worker's tally.
    fn merge(&mut self, o: &Tally) {
        self.add_reference(&o.reference);
        self.agree += o.agree;
        self.sat += o.sat;
        self.cycles_rtl_differ += o.cycles_rtl_differ;
        if let Some(c) = o.cycles_rtl {
            self.observe_cycles(c);
        }
    }
}

/// One batch's results, sent from a worker.
struct BatchReport {
    images: usize,
    correct: usize,
    correct_ref: usize,
    layers: Vec<Tally>,
    mismatched_images: usize,
    /// Per image: data-set index, the backend's class, the reference's class, and whether a
    /// layer differed.
    per_image: Vec<(usize, usize, usize, bool)>,
    first: Option<Mismatch>,
    bus_cycles: u64,
    param_words: u64,
    check_read_cycles: u64,
}

fn parse_fault(spec: &str, program: &Program, images: usize) -> Result<Fault> {
    let parts: Vec<&str> = spec.rsplitn(4, ':').collect();
    let [bit, index, image, layer] = parts.as_slice() else {
        bail!("--inject-fault `{spec}`: expected LAYER:IMAGE:INDEX:BIT");
    };
    let idx = program
        .layers
        .iter()
        .position(|l| l.name == *layer)
        .ok_or_else(|| anyhow!("--inject-fault: no layer `{layer}` in the model"))?;
    let Work::Engine(el) = &program.layers[idx].work else {
        bail!("--inject-fault: layer `{layer}` does not run on the engine");
    };
    let num = |field: &str, s: &str| -> Result<u64> {
        s.parse()
            .map_err(|_| anyhow!("--inject-fault: {field} `{s}` is not a number"))
    };
    let index = num("INDEX", index)? as usize;
    let d = &el.desc;
    let n = (d.out_c() * d.out_h() * d.out_w()) as usize;
    if index >= n {
        bail!("--inject-fault: INDEX {index} is past the {n} outputs of `{layer}`");
    }
    let bit = num("BIT", bit)? as u32;
    if bit >= 64 {
        bail!("--inject-fault: BIT {bit} is past bit 63");
    }
    let image = num("IMAGE", image)? as usize;
    if image >= images {
        bail!("--inject-fault: IMAGE {image} is past the {images} images of the run");
    }
    Ok(Fault {
        image,
        layer: idx,
        index,
        bit,
    })
}

/// Where a layer's output of one image differs from the reference, if it does.
fn compare_layer(
    program: &Program,
    idx: usize,
    got: &crate::backend::LayerOut,
    want: &crate::backend::LayerOut,
) -> Option<(String, Option<u64>)> {
    let layer = &program.layers[idx];
    let [_, h, w] = layer.out_shape;
    if let Some(i) = (0..want.values.len().max(got.values.len()))
        .find(|&i| got.values.get(i) != want.values.get(i))
    {
        let (c, y, x) = (i / (h * w), i % (h * w) / w, i % w);
        let cycle = match (&layer.work, got.start_cycle) {
            (Work::Engine(el), Some(s)) => write_cycle(program, el, s, i),
            _ => None,
        };
        return Some((
            format!(
                "output index {i} [{c}, {y}, {x}]: engine {}, reference {}",
                got.values
                    .get(i)
                    .map_or("missing".into(), |v| v.to_string()),
                want.values
                    .get(i)
                    .map_or("missing".into(), |v| v.to_string()),
            ),
            cycle,
        ));
    }
    if let (Some(m), Some(r)) = (got.cycles_model, got.cycles_rtl) {
        if r != m || got.done_at.is_some_and(|d| d != m) {
            return Some((
                format!(
                    "cycles: CYCLES {r}, DONE after {:?} edges, sim::cycles {m}",
                    got.done_at
                ),
                got.start_cycle,
            ));
        }
        if got.sat != want.sat {
            return Some((
                format!("SAT_COUNT {}, reference {}", got.sat, want.sat),
                got.start_cycle,
            ));
        }
    }
    if let (Some(m), Some(r)) = (&got.accesses_model, &got.accesses_rtl) {
        if let Some(what) = shiftadd_sim::regmap::access_mismatch(r, m) {
            return Some((what, got.start_cycle));
        }
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn worker(
    m: &Model,
    program: &Arc<Program>,
    vl: Option<&Arc<shiftadd_tb::verilator::Model>>,
    ds: &Dataset,
    images: std::ops::Range<usize>,
    run: &RunOptions,
    fault: Option<&Fault>,
    next: &AtomicUsize,
    traced: &AtomicBool,
    tx: mpsc::Sender<Result<BatchReport>>,
) {
    let go = || -> Result<()> {
        let runner = m.runner()?;
        let mut reference = RefBackend::new(m.runner()?);
        let mut rtl: Option<Box<dyn HwBackend>> = match (vl, run.backend) {
            (Some(vl), "axi") => Some(Box::new(RtlBackend::<AxiBus>::new(
                Arc::clone(program),
                Arc::clone(vl),
                fault.cloned(),
                run.backdoor,
            )?)),
            (Some(vl), "uart") => Some(Box::new(RtlBackend::<UartBus<SimLine>>::new(
                Arc::clone(program),
                Arc::clone(vl),
                fault.cloned(),
                run.backdoor,
            )?)),
            (None, "uart") => {
                let port = run.port.as_deref().unwrap_or_default();
                let hz = u64::from(program.cfg.clock_mhz) * 1_000_000;
                let line = TtyLine::open(port, run.baud, hz)?;
                Some(Box::new(RtlBackend::on_bus(
                    Arc::clone(program),
                    UartBus::new(&program.cfg, line),
                    None,
                    fault.cloned(),
                )?))
            }
            (Some(vl), _) => Some(Box::new(RtlBackend::<Bus>::new(
                Arc::clone(program),
                Arc::clone(vl),
                fault.cloned(),
                run.backdoor,
            )?)),
            (None, _) => None,
        };
        let mut cycle = CycleBackend::new(m.runner()?, Arc::clone(program));
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            let first = images.start + b * run.batch;
            if first >= images.end {
                return Ok(());
            }
            let end = (first + run.batch).min(images.end);
            let inputs: Vec<Tensor<i32>> = (first..end)
                .map(|k| runner.input_codes(ds.image(k)))
                .collect();
            let want = reference.run_batch(first, &inputs)?;
            let (bus0, words0, check0) = rtl.as_ref().map_or((0, 0, 0), |r| {
                (r.bus_cycles(), r.param_words(), r.check_read_cycles())
            });
            let engine: &mut dyn Backend = match rtl.as_mut() {
                Some(r) => r.as_mut(),
                None => &mut cycle,
            };
            let got: Vec<ImageOut> = engine
                .run_batch(first, &inputs)
                .with_context(|| format!("{} backend, images {first}..{end}", engine.name()))?;
            let mut rep = BatchReport {
                images: inputs.len(),
                correct: 0,
                correct_ref: 0,
                layers: vec![Tally::default(); program.layers.len()],
                mismatched_images: 0,
                per_image: Vec::new(),
                first: None,
                bus_cycles: rtl.as_ref().map_or(0, |r| r.bus_cycles()) - bus0,
                param_words: rtl.as_ref().map_or(0, |r| r.param_words()) - words0,
                check_read_cycles: rtl.as_ref().map_or(0, |r| r.check_read_cycles()) - check0,
            };
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                let label = ds.labels[first + k] as usize;
                rep.correct += usize::from(g.prediction == label);
                rep.correct_ref += usize::from(w.prediction == label);
                let mut bad = false;
                for (idx, (gl, wl)) in g.layers.iter().zip(&w.layers).enumerate() {
                    let t = &mut rep.layers[idx];
                    t.sat += gl.sat;
                    if let Some(st) = &wl.stats {
                        t.add_reference(st);
                    }
                    if let Some(c) = gl.cycles_rtl {
                        t.observe_cycles(c);
                    }
                    match compare_layer(program, idx, gl, wl) {
                        None => t.agree += 1,
                        Some((what, cycle)) => {
                            bad = true;
                            if rep.first.is_none() {
                                let mut mm = Mismatch {
                                    image: first + k,
                                    layer: program.layers[idx].name.clone(),
                                    what,
                                    cycle,
                                    vcd: None,
                                };
                                if let Some(r) = rtl.as_ref() {
                                    if !traced.swap(true, Ordering::Relaxed) {
                                        r.trace_layer(
                                            first + k,
                                            &inputs[k],
                                            &g.layers,
                                            idx,
                                            &run.vcd,
                                        )?;
                                        mm.vcd = Some(run.vcd.clone());
                                    }
                                }
                                rep.first = Some(mm);
                            }
                        }
                    }
                }
                rep.mismatched_images += usize::from(bad);
                rep.per_image
                    .push((first + k, g.prediction, w.prediction, bad));
            }
            if tx.send(Ok(rep)).is_err() {
                return Ok(());
            }
        }
    };
    if let Err(e) = go() {
        let _ = tx.send(Err(e));
    }
}

/// One line per segment: its layers, the parameter words loaded for it, and how many layer
/// inputs the host writes (the others are read where the layer before left them).
fn schedule(program: &Program) -> Vec<String> {
    program
        .segments
        .iter()
        .map(|seg| {
            let first = &program.layers[seg.start].name;
            let last = &program.layers[seg.end - 1].name;
            let names = if seg.len() == 1 {
                first.clone()
            } else {
                format!("{first} .. {last}")
            };
            let (mut words, mut written) = (0usize, 0usize);
            for l in &program.layers[seg.clone()] {
                match &l.work {
                    Work::Engine(el) => {
                        words += el.weights.iter().map(Vec::len).sum::<usize>()
                            + 2 * el.post_m.iter().map(Vec::len).sum::<usize>();
                        written += usize::from(!el.desc.in_from_output);
                    }
                    Work::Flatten => return format!("{names}: by the host"),
                }
            }
            format!(
                "{names}: load {words} parameter words, write {written} of {} inputs",
                seg.len()
            )
        })
        .collect()
}

/// Runs `m` on `ds` through the cycle model or the RTL; returns whether every layer of every
/// image agreed with the reference.
pub fn infer_engine(
    m: &Model,
    model_path: &Path,
    ds: &Dataset,
    run: &RunOptions,
    json_out: Option<&Path>,
) -> Result<bool> {
    let cfg = &run.cfg;
    let program = Arc::new(compile(m, cfg)?);
    let fault = run
        .fault
        .as_deref()
        .map(|s| parse_fault(s, &program, ds.count))
        .transpose()?;
    let board = run.backend == "uart" && run.port.as_deref() != Some(SIM_PORT);
    let hw = matches!(run.backend, "rtl" | "axi" | "uart") && !board;
    let range = run
        .shard
        .map_or(0..ds.count, |s| s.images(ds.count, run.batch));
    let mut rtl_sha256 = None;
    let (vl, rtl_dir, build_s) = if hw {
        let dir = match &run.rtl {
            Some(d) => d.clone(),
            None => {
                let dir = PathBuf::from("target").join("infer").join(&cfg.name);
                let rtl = shiftadd_hdl::generate::generate(cfg)?;
                shiftadd_hdl::generate::write_rtl(&rtl, &dir)?;
                dir
            }
        };
        let design = shiftadd_tb::design::Design::load(&dir)
            .and_then(|d| d.check_host_tasks(run.allow_system_tasks).map(|()| d))
            .map_err(|e| anyhow!("{e}"))?;
        if design.cfg != *cfg {
            bail!(
                "{}: config.json is config `{}`, not the `{}` the model was compiled for",
                dir.display(),
                design.cfg.name,
                cfg.name
            );
        }
        let top = match run.backend {
            "axi" => shiftadd_sim::rtl::AXI_MODULE,
            "uart" => shiftadd_sim::rtl::UART_MODULE,
            _ => shiftadd_sim::rtl::ENGINE_MODULE,
        };
        rtl_sha256 = Some(sources_sha256(&design.sources())?);
        let (vl, s) = engine_model(&dir, top)?;
        (Some(vl), Some(dir), s)
    } else {
        (None, None, 0.0)
    };
    println!(
        "model {} ({}), data {} ({} images{}), backend {}, config {} ({}x{}){}",
        model_path.display(),
        m.graph.arch,
        ds.images_path.display(),
        ds.count,
        run.shard.map_or(String::new(), |s| format!(
            "; shard {}/{}: images {}..{}",
            s.index, s.count, range.start, range.end
        )),
        run.backend,
        cfg.name,
        cfg.rows,
        cfg.cols,
        match &rtl_dir {
            Some(d) => format!(
                ", engine RTL {} on Verilator (model ready in {build_s:.1} s), {} instances",
                d.display(),
                run.threads
            ),
            None if board => format!(
                ", engine on the serial port {} at {} baud",
                run.port.as_deref().unwrap_or_default(),
                run.baud
            ),
            None => String::new(),
        }
    );
    let segments = schedule(&program);
    println!(
        "schedule per batch of {} images: {}",
        run.batch,
        segments.join("; ")
    );
    let next = AtomicUsize::new(0);
    let traced = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let mut layers = vec![Tally::default(); program.layers.len()];
    let (mut images, mut correct, mut correct_ref, mut mismatched) = (0usize, 0, 0, 0);
    let (mut bus_cycles, mut param_words, mut check_read_cycles) = (0u64, 0u64, 0u64);
    let mut first: Option<Mismatch> = None;
    let mut per_image = Vec::with_capacity(range.len());
    let tty = std::io::stderr().is_terminal();
    let mut last_print = Instant::now();
    let mut next_pct = 10;
    // One board, one line.
    let threads = if board { 1 } else { run.threads.max(1) };
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (program, vl, fault, next, traced, range) = (
                &program,
                vl.as_ref(),
                fault.as_ref(),
                &next,
                &traced,
                range.clone(),
            );
            s.spawn(move || worker(m, program, vl, ds, range, run, fault, next, traced, tx));
        }
        drop(tx);
        for rep in rx {
            let rep = rep?;
            images += rep.images;
            correct += rep.correct;
            correct_ref += rep.correct_ref;
            mismatched += rep.mismatched_images;
            per_image.extend(rep.per_image);
            bus_cycles += rep.bus_cycles;
            param_words += rep.param_words;
            check_read_cycles += rep.check_read_cycles;
            for (t, r) in layers.iter_mut().zip(&rep.layers) {
                t.merge(r);
            }
            if let Some(mm) = rep.first {
                if first.as_ref().is_none_or(|f| mm.image < f.image) {
                    first = Some(mm);
                }
            }
            let rate = images as f64 / start.elapsed().as_secs_f64();
            let line = format!(
                "images {images}/{}  {rate:.1} images/s  mismatches {mismatched}",
                range.len()
            );
            if tty && last_print.elapsed().as_secs_f64() > 0.5 {
                eprint!("\r{line}   ");
                last_print = Instant::now();
            } else if !tty && images * 100 >= next_pct * range.len() {
                eprintln!("{line}");
                next_pct = images * 100 / range.len().max(1) / 10 * 10 + 10;
            }
        }
        Ok(())
    })?;
    if tty {
        eprintln!();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = images.max(1) as f64;

    // The table.
    println!(
        "{:<22} {:<8} {:>12} {:>12} {:>12} {:>8} {:>12}",
        "layer", "kind", "out shape", "cycles model", "cycles rtl", "util", "agree"
    );
    let mut total_model = 0u64;
    let mut total_taps = 0u64;
    let mut rows_json = Vec::new();
    for (l, t) in program.layers.iter().zip(&layers) {
        let (cm, util, taps) = match &l.work {
            Work::Engine(el) => (
                Some(shiftadd_sim::cycles::layer_cycles(cfg, &el.desc)),
                Some(layer_utilisation(cfg, &el.desc)),
                tap_ops(&el.desc),
            ),
            Work::Flatten => (None, None, 0),
        };
        total_model += cm.unwrap_or(0);
        total_taps += taps;
        let opt = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
        println!(
            "{:<22} {:<8} {:>12} {:>12} {:>12} {:>8} {:>12}",
            l.name,
            l.kind,
            format!("{}x{}x{}", l.out_shape[0], l.out_shape[1], l.out_shape[2]),
            opt(cm),
            if hw { opt(t.cycles_rtl) } else { "-".into() },
            util.map_or("-".into(), |u| format!("{:.1}%", 100.0 * u)),
            format!("{}/{images}", t.agree),
        );
        let mut stats = t.reference.clone();
        stats.name.clone_from(&l.name);
        stats.kind.clone_from(&l.kind);
        stats.out_shape = l.out_shape;
        rows_json.push(LayerRow {
            stats,
            cycles_model: cm,
            cycles_rtl: if hw { t.cycles_rtl } else { None },
            cycles_rtl_differing_runs: t.cycles_rtl_differ,
            utilisation: util,
            agree: t.agree,
            saturated: t.sat,
        });
    }
    let util_net = utilisation(cfg, total_taps, total_model);
    let units = Units::new(&EnergyTable::default_table(), cfg, cfg.formats.act_bits);
    let counts = energy::count_program(&program, cfg.formats.act_bits);
    let (_, e) = energy::total(&counts, &units);
    let energy_uj = (e.compute + e.memory) * 1e-6;
    let acc = correct as f64 / n;
    println!(
        "accuracy {correct}/{images} = {:.2}% ({} backend; reference model {:.2}%)",
        100.0 * acc,
        run.backend,
        100.0 * correct_ref as f64 / n
    );
    let agree_all = mismatched == 0 && first.is_none();
    if hw {
        println!(
            "agreement: {}/{images} images bit-exact in every layer against the reference model, engine cycles equal to sim::cycles in every layer run: {}",
            images - mismatched,
            if agree_all { "yes" } else { "NO" }
        );
    }
    println!(
        "per image: {total_model} engine cycles ({:.1} us at {} MHz, utilisation {:.1}%){}, {energy_uj:.2} uJ (sim::energy, default table)",
        total_model as f64 / f64::from(cfg.clock_mhz),
        cfg.clock_mhz,
        100.0 * util_net,
        if hw {
            format!(
                ", {:.0} bus cycles with the host's transfers ({:.0} parameter words loaded per image; {:.0} of them reading back outputs the host does not need, only to check them)",
                bus_cycles as f64 / n,
                param_words as f64 / n,
                check_read_cycles as f64 / n
            )
        } else {
            String::new()
        },
    );
    println!(
        "{images} images in {secs:.1} s ({:.2} images/s{})",
        n / secs,
        if hw {
            format!(", {:.0} simulated cycles/s", bus_cycles as f64 / secs)
        } else {
            String::new()
        }
    );
    if let Some(mm) = &first {
        println!(
            "MISMATCH: image {}, layer `{}`: {}{}",
            mm.image,
            mm.layer,
            mm.what,
            mm.cycle
                .map_or(String::new(), |c| format!(", written in bus cycle {c}"))
        );
        if let Some(v) = &mm.vcd {
            println!("waveform of that layer: {}", v.display());
        }
    }
    let _ = std::io::stdout().flush();
    if let Some(out) = json_out {
        per_image.sort_unstable();
        let model_sha256 = if model_path.is_file() {
            file_sha256(model_path)?
        } else {
            shiftadd_sim::rtl::sha256_hex(model_path.display().to_string().as_bytes())
        };
        let report = InferReport {
            kind: "infer".into(),
            model: model_path.display().to_string(),
            arch: m.graph.arch.clone(),
            data: ds.images_path.display().to_string(),
            backend: run.backend.to_string(),
            config: cfg.name.clone(),
            provenance: Provenance {
                generator: generator(),
                model_sha256,
                data_sha256: data_sha256(ds),
                config_sha256: shiftadd_sim::rtl::sha256_hex(
                    serde_json::to_string(cfg)?.as_bytes(),
                ),
                rtl_sha256,
                fault: run.fault.clone(),
            },
            shard: run.shard.map(|s| ShardInfo {
                index: s.index,
                count: s.count,
                first: range.start,
                end: range.end,
                dataset_images: ds.count,
            }),
            images,
            correct,
            accuracy: acc,
            correct_reference: correct_ref,
            input_saturations: m.runner()?.lut_saturations().iter().sum::<u64>(),
            agree_images: images - mismatched,
            bit_exact: agree_all,
            cycles_per_image_model: total_model,
            energy_uj_per_image: energy_uj,
            first_mismatch: first.as_ref().map(|mm| MismatchJson {
                image: mm.image,
                layer: mm.layer.clone(),
                what: mm.what.clone(),
            }),
            schedule: segments,
            layers: rows_json,
            predictions: per_image.iter().map(|p| p.1).collect(),
            reference_predictions: per_image.iter().map(|p| p.2).collect(),
            mismatched_images: per_image.iter().filter(|p| p.3).map(|p| p.0).collect(),
            run: RunInfo {
                seconds: secs,
                instances: threads,
                buffers: hw.then(|| if run.backdoor { "backdoor" } else { "bus" }.to_string()),
                bus_cycles: hw.then_some(bus_cycles),
                bus_cycles_per_image: hw.then_some(bus_cycles as f64 / n),
                param_words: hw.then_some(param_words),
                check_read_cycles: hw.then_some(check_read_cycles),
                check_read_cycles_per_image: hw.then_some(check_read_cycles as f64 / n),
                first_mismatch: first.as_ref().map(|mm| MismatchAt {
                    cycle: mm.cycle,
                    vcd: mm.vcd.as_ref().map(|v| v.display().to_string()),
                }),
                shards: Vec::new(),
            },
        };
        write_json(out, &report)?;
    }
    Ok(agree_all)
}

/// SHA-256 of the images a run reads: their shape, pixels and labels.
fn data_sha256(ds: &Dataset) -> String {
    let mut bytes = Vec::with_capacity(ds.pixels.len() + ds.labels.len() + 32);
    for d in ds.shape {
        bytes.extend_from_slice(&(d as u64).to_le_bytes());
    }
    bytes.extend_from_slice(&(ds.count as u64).to_le_bytes());
    bytes.extend_from_slice(&ds.pixels);
    bytes.extend_from_slice(&ds.labels);
    shiftadd_sim::rtl::sha256_hex(&bytes)
}

/// SHA-256 of Verilog files: each one's name and contents, in the order given.
pub fn sources_sha256(files: &[PathBuf]) -> Result<String> {
    let mut text = String::new();
    for f in files {
        text.push_str(
            &f.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        );
        text.push('\n');
        text.push_str(&file_sha256(f)?);
        text.push('\n');
    }
    Ok(shiftadd_sim::rtl::sha256_hex(text.as_bytes()))
}

/// Per-node reference statistics as the ref backend prints them.
pub fn print_ref_layers(layers: &[LayerStats], n: f64) {
    println!(
        "{:<26} {:<8} {:>14} {:>14} {:>14} {:>12} {:>9} {:>9}",
        "layer", "kind", "out shape", "shifts/img", "adds/img", "mults/img", "sat act", "sat add"
    );
    for l in layers {
        println!(
            "{:<26} {:<8} {:>14} {:>14.0} {:>14.0} {:>12.0} {:>9} {:>9}",
            l.name,
            l.kind,
            format!("{}x{}x{}", l.out_shape[0], l.out_shape[1], l.out_shape[2]),
            l.shifts as f64 / n,
            l.adds as f64 / n,
            l.mults as f64 / n,
            l.sat_act,
            l.sat_add
        );
    }
    let total = |f: fn(&LayerStats) -> u64| layers.iter().map(f).sum::<u64>() as f64 / n;
    println!(
        "{:<26} {:<8} {:>14} {:>14.0} {:>14.0} {:>12.0}",
        "total",
        "",
        "",
        total(|l| l.shifts),
        total(|l| l.adds),
        total(|l| l.mults)
    );
}
