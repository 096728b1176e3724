//! `shiftadd report`: per-layer operations, the engine's exact cycles, buffer accesses and energy of a
//! network on a config, its multiply, DeepShift and AdderNet twins, as a table, JSON and SVG.

use crate::rtl_cmd::ConfigArgs;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use plotters::prelude::*;
use serde_json::{json, Value};
use shiftadd_sim::energy::{self, Energy, EnergyTable, LayerCounts, Units};
use shiftadd_sim::net::Graph;
use shiftadd_sim::spec::AccelConfig;
use shiftadd_sim::{archs, model};
use std::path::{Path, PathBuf};

/// Arguments of `shiftadd report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Model file, or a folder holding model.safetensors (its graph is reported).
    #[arg(long, conflicts_with = "arch", required_unless_present = "arch")]
    pub model: Option<PathBuf>,
    /// A built-in architecture, reported by its shapes alone (no weights needed).
    #[arg(long)]
    pub arch: Option<String>,
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// Operand width of the unit energies: 8, 16 or 32 (default: the config's act_bits).
    #[arg(long, value_parser = ["8", "16", "32"])]
    pub precision: Option<String>,
    /// A unit-energy table (CSV, columns op,bits,kib,pj,source) replacing the built-in one.
    #[arg(long)]
    pub energy_table: Option<PathBuf>,
    /// Write every number of the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a bar chart of energy per layer by category as SVG.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// The twins reported beside a network, by JSON key and architecture family suffix.
const TWINS: [&str; 3] = ["mult", "shift", "adder"];

/// Counts and energy of one network.
struct NetReport {
    arch: String,
    layers: Vec<(LayerCounts, Energy)>,
    total: LayerCounts,
    energy: Energy,
}

fn net_report(graph: &Graph, cfg: &AccelConfig, units: &Units) -> Result<NetReport> {
    let counts = energy::count_graph(graph, cfg, units.precision)?;
    let (total, e) = energy::total(&counts, units);
    let layers: Vec<_> = counts
        .into_iter()
        .map(|c| {
            let le = c.energy(units);
            (c, le)
        })
        .collect();
    Ok(NetReport {
        arch: graph.arch.clone(),
        layers,
        total,
        energy: e,
    })
}

fn utilisation(c: &LayerCounts, cfg: &AccelConfig) -> f64 {
    shiftadd_sim::cycles::utilisation(cfg, c.taps, c.cycles)
}

fn counts_json(c: &LayerCounts, e: &Energy, cfg: &AccelConfig) -> Value {
    json!({
        "name": c.name,
        "kind": c.kind,
        "in_shape": c.in_shape,
        "out_shape": c.out_shape,
        "kernel": c.kernel,
        "taps": c.taps,
        "shifts": c.shifts,
        "adds": c.adds,
        "mults": c.mults,
        "cycles": c.cycles,
        "utilisation": utilisation(c, cfg),
        "buffer": {
            "act_reads": c.act_reads,
            "act_writes": c.act_writes,
            "act_bits": c.act_bits,
            "weight_reads": c.weight_reads,
            "weight_bits": c.weight_bits,
            "post_reads": c.post_reads,
            "post_bits": c.post_bits,
            "dram_read_bits": c.dram_read_bits,
            "dram_write_bits": c.dram_write_bits,
        },
        "energy_pj": e,
    })
}

fn shape(s: [usize; 3]) -> String {
    format!("{}x{}x{}", s[0], s[1], s[2])
}

/// Engineering notation for pJ figures: pJ, nJ or uJ.
fn pj(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} uJ", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} nJ", v / 1e3)
    } else {
        format!("{v:.1} pJ")
    }
}

fn count(v: u64) -> String {
    if v >= 10_000_000 {
        format!("{:.1}M", v as f64 / 1e6)
    } else if v >= 10_000 {
        format!("{:.1}k", v as f64 / 1e3)
    } else {
        v.to_string()
    }
}

/// The graph, and the base name whose twins are reported (`None` when it is not built in).
fn resolve_graph(args: &ReportArgs) -> Result<(Graph, Option<String>)> {
    let graph = match (&args.arch, &args.model) {
        (Some(a), _) => crate::arch(a)?,
        (None, Some(m)) => {
            model::load_model(&model::resolve_model_path(m))
                .map_err(|e| anyhow!("{e}"))?
                .graph
        }
        (None, None) => bail!("give --model PATH or --arch NAME"),
    };
    let base = graph
        .arch
        .rsplit_once('-')
        .map(|(b, _)| b.to_string())
        .filter(|b| archs::by_name(&format!("{b}-mult")).is_some());
    Ok((graph, base))
}

/// `shiftadd report`.
pub fn report(args: &ReportArgs) -> Result<()> {
    let cfg = args.cfg.resolve()?;
    let table = match &args.energy_table {
        Some(p) => EnergyTable::load(p).map_err(|e| anyhow!("{e}"))?,
        None => EnergyTable::default_table(),
    };
    let precision: u32 = match &args.precision {
        Some(p) => p.parse()?,
        None => cfg.formats.act_bits,
    };
    let units = Units::new(&table, &cfg, precision);
    let (graph, base) = resolve_graph(args)?;
    let net = net_report(&graph, &cfg, &units)?;
    let mut twins = Vec::new();
    if let Some(b) = &base {
        for t in TWINS {
            let g = archs::by_name(&format!("{b}-{t}")).expect("built-in twin");
            twins.push((t, net_report(&g, &cfg, &units)?));
        }
    }
    print_table(&net, &twins, &cfg, &units, &table);
    if let Some(path) = &args.json {
        let doc = report_json(&net, &twins, &cfg, &units, &table);
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.svg {
        plot_svg(&net, &cfg, precision, path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn total_json(net: &NetReport, cfg: &AccelConfig) -> Value {
    counts_json(&net.total, &net.energy, cfg)
}

fn report_json(
    net: &NetReport,
    twins: &[(&str, NetReport)],
    cfg: &AccelConfig,
    units: &Units,
    table: &EnergyTable,
) -> Value {
    let mut tw = serde_json::Map::new();
    for (name, t) in twins {
        tw.insert(
            name.to_string(),
            json!({"arch": t.arch, "total": total_json(t, cfg)}),
        );
    }
    json!({
        "arch": net.arch,
        "config": cfg,
        "precision": units.precision,
        "cycles": "sim::cycles::layer_cycles: the engine's cycles from START to DONE (convolutions: out_h * out_w * co_tiles * ci_tiles * kh * kw + 7; pooling: out_h * out_w * c_tiles * k * k + 4), equal to the RTL's CYCLES register in co-simulation",
        "units": units,
        "energy_table": table,
        "layers": net.layers.iter().map(|(c, e)| counts_json(c, e, cfg)).collect::<Vec<_>>(),
        "total": total_json(net, cfg),
        "twins": tw,
    })
}

fn print_table(
    net: &NetReport,
    twins: &[(&str, NetReport)],
    cfg: &AccelConfig,
    units: &Units,
    table: &EnergyTable,
) {
    println!(
        "{} on {} ({}x{} array), {}-bit unit energies from {}",
        net.arch, cfg.name, cfg.rows, cfg.cols, units.precision, table.file
    );
    for r in &units.rules {
        println!("  {r}");
    }
    for b in &units.buffers {
        println!(
            "  {} buffer: {} words x {} bits = {:.1} KiB, {:.2} pJ per access",
            b.name, b.words, b.bits, b.kib, b.access_pj
        );
    }
    println!("  off-chip: {:.2} pJ per bit", units.dram_bit_pj);
    println!(
        "cycles are the engine's, exact (sim::cycles, equal to the RTL's); operations and accesses per image"
    );
    println!(
        "{:<22} {:<8} {:<20} {:>28} {:>10} {:>6} {:>26} {:>11} {:>11}",
        "layer",
        "kind",
        "shape (in->out)",
        "operations shift/add/mult",
        "cycles",
        "util",
        "buffer act/weight/post",
        "E compute",
        "E memory"
    );
    let row = |c: &LayerCounts, e: &Energy, shape_s: String| {
        println!(
            "{:<22} {:<8} {:<20} {:>28} {:>10} {:>5.1}% {:>26} {:>11} {:>11}",
            c.name,
            c.kind,
            shape_s,
            format!("{}/{}/{}", count(c.shifts), count(c.adds), count(c.mults)),
            count(c.cycles),
            100.0 * utilisation(c, cfg),
            format!(
                "{}/{}/{}",
                count(c.act_reads + c.act_writes),
                count(c.weight_reads),
                count(c.post_reads)
            ),
            pj(e.compute),
            pj(e.memory)
        );
    };
    for (c, e) in &net.layers {
        row(
            c,
            e,
            format!("{}->{}", shape(c.in_shape), shape(c.out_shape)),
        );
    }
    row(&net.total, &net.energy, String::new());
    println!(
        "off-chip: {} bits read, {} bits written ({})",
        net.total.dram_read_bits,
        net.total.dram_write_bits,
        pj(net.energy.dram)
    );
    if twins.is_empty() {
        println!("twins: none (the graph is not a built-in architecture)");
        return;
    }
    println!();
    println!(
        "{:<20} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "network", "E compute", "E memory", "E total", "vs mult", "cycles"
    );
    let mult_e = twins
        .iter()
        .find(|(n, _)| *n == "mult")
        .map(|(_, t)| t.energy.compute + t.energy.memory)
        .unwrap_or(f64::NAN);
    for n in std::iter::once(net).chain(twins.iter().map(|(_, t)| t)) {
        let e = n.energy.compute + n.energy.memory;
        println!(
            "{:<20} {:>12} {:>12} {:>12} {:>11.1}% {:>12}",
            n.arch,
            pj(n.energy.compute),
            pj(n.energy.memory),
            pj(e),
            100.0 * e / mult_e,
            count(n.total.cycles)
        );
    }
}

/// A bar segment: label, the energy it shows, colour.
type Category = (&'static str, fn(&Energy) -> f64, RGBColor);

/// Stacked bars: energy per layer, by compute and memory category.
fn plot_svg(net: &NetReport, cfg: &AccelConfig, precision: u32, path: &Path) -> Result<()> {
    let cats: [Category; 7] = [
        ("shift", |e| e.shift, RGBColor(31, 119, 180)),
        ("add", |e| e.add, RGBColor(44, 160, 44)),
        ("mult", |e| e.mult, RGBColor(214, 39, 40)),
        ("act buffer", |e| e.act_buf, RGBColor(255, 127, 14)),
        ("weight buffer", |e| e.weight_buf, RGBColor(148, 103, 189)),
        ("post buffer", |e| e.post_buf, RGBColor(140, 86, 75)),
        ("off-chip", |e| e.dram, RGBColor(127, 127, 127)),
    ];
    // Energy in nJ.
    let n = net.layers.len();
    let top = net
        .layers
        .iter()
        .map(|(_, e)| (e.compute + e.memory) / 1e3)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let width = (160 + 22 * n as u32).max(640);
    let root = SVGBackend::new(path, (width, 520)).into_drawing_area();
    let draw = |e: DrawingAreaErrorKind<_>| anyhow!("{}: cannot draw: {e:?}", path.display());
    root.fill(&WHITE).map_err(draw)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} on {} ({}x{}), {}-bit units: energy per layer (nJ)",
                net.arch, cfg.name, cfg.rows, cfg.cols, precision
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(90)
        .y_label_area_size(70)
        .build_cartesian_2d(0..n, 0.0..top)
        .map_err(draw)?;
    let names: Vec<String> = net.layers.iter().map(|(c, _)| c.name.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|i| names.get(*i).cloned().unwrap_or_default())
        .x_label_style(
            ("sans-serif", 11)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_desc("energy (nJ)")
        .draw()
        .map_err(draw)?;
    for (ci, (label, get, color)) in cats.iter().enumerate() {
        let bars: Vec<_> = net
            .layers
            .iter()
            .enumerate()
            .map(|(i, (_, e))| {
                let below: f64 = cats[..ci].iter().map(|c| (c.1)(e)).sum::<f64>() / 1e3;
                let h = get(e) / 1e3;
                Rectangle::new([(i, below), (i + 1, below + h)], color.filled())
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(draw)?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(draw)?;
    root.present().map_err(draw)?;
    Ok(())
}
