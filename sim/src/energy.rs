//! The energy model: operation and buffer-access counts of each layer of a layer program
//! ([`crate::program`]), its exact cycles ([`crate::cycles`]), and energy as counts times a
//! unit-energy table (shared/spec/energy.md).
//!
//! The counts follow the loops the engine runs for a layer (output pixel, output-channel tile of
//! `rows`, input-channel tile of `cols`, kernel tap) and the counting rules of
//! [`crate::net::eval_node`], so that a report of a graph's shapes equals what the reference model
//! counts when it runs the same graph (tested).
//!
//! Memory (per image, words of the width given):
//! - on-chip buffers: the engine's accesses for each layer as it runs
//!   ([`crate::cycles::layer_accesses`], which its access counters equal in co-simulation): the
//!   activation buffer's input and residual reads and output writes, the weight buffer's reads,
//!   the post-processing buffer's `M_c, B_c` pairs (`flatten` is a view: none);
//! - off-chip (DRAM): the 8-bit input image once; each convolution's weights and post parameters
//!   once, or once per output row when they do not fit the weight buffer; a layer input larger
//!   than an activation bank once per output-channel tile (once for pooling) and an output larger
//!   than it once; the logits once. (The engine itself refuses layers that spill; the report
//!   prices what a larger system would move.)
//!
//! Widths at report precision `p`: activations, adder codes and multiply weights `p` bits, shift
//! weights the preset's `shift_wb` bits, post parameters `post_m_bits + post_b_bits`.

use crate::cycles::{layer_accesses, layer_cycles, tap_ops, utilisation};
use crate::engine::{LayerOp, OutputMode};
use crate::net::{CapabilityError, ConvKind, Graph};
use crate::program::{plan, Program, Work};
use crate::spec::AccelConfig;
use serde::Serialize;
use std::path::Path;
use thiserror::Error;

/// The default table, 45 nm CMOS (shared/spec/energy.md).
pub const DEFAULT_TABLE: &str = include_str!("../data/energy-45nm.csv");
/// Name under which the default table is reported.
pub const DEFAULT_TABLE_NAME: &str = "sim/data/energy-45nm.csv (built in)";

/// The columns of a table file, in order.
pub const HEADER: &str = "op,bits,kib,pj,source";

/// One row of a unit-energy table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableRow {
    /// `add`, `shift`, `mult`, `sram` or `dram`.
    pub op: String,
    /// Operand or access width.
    pub bits: u32,
    /// SRAM size in KiB (`sram` rows only).
    pub kib: Option<f64>,
    /// Energy in pJ per operation or access.
    pub pj: f64,
    /// Where the figure comes from.
    pub source: String,
}

/// A unit-energy table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnergyTable {
    /// File name (or the built-in name).
    pub file: String,
    /// Rows in file order.
    pub rows: Vec<TableRow>,
}

/// A table file that cannot be used: names the file, the line and the field.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{file}:{line}: field `{field}`: {what}")]
pub struct TableError {
    /// File name.
    pub file: String,
    /// Line number (1-based; 0 for the file as a whole).
    pub line: usize,
    /// Field name.
    pub field: String,
    /// What is wrong.
    pub what: String,
}

const OPS: [&str; 5] = ["add", "shift", "mult", "sram", "dram"];

impl EnergyTable {
    /// The built-in 45 nm table.
    pub fn default_table() -> EnergyTable {
        EnergyTable::parse(DEFAULT_TABLE, DEFAULT_TABLE_NAME).expect("the built-in table parses")
    }

    /// Reads a table file.
    pub fn load(path: &Path) -> Result<EnergyTable, TableError> {
        let file = path.display().to_string();
        let text = crate::files::read_text(path).map_err(|what| TableError {
            file: file.clone(),
            line: 0,
            field: "file".into(),
            what,
        })?;
        EnergyTable::parse(&text, &file)
    }

    /// Parses a table: `#` comments and blank lines are skipped, the first other line is
    /// [`HEADER`], every row has a non-empty source, and `add`, `shift`, `mult`, `sram` and `dram`
    /// each have at least one row.
    pub fn parse(text: &str, file: &str) -> Result<EnergyTable, TableError> {
        let err = |line: usize, field: &str, what: String| TableError {
            file: file.to_string(),
            line,
            field: field.to_string(),
            what,
        };
        let mut rows = Vec::new();
        let mut header = false;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !header {
                if line.replace(' ', "") != HEADER {
                    return Err(err(
                        n,
                        "header",
                        format!("expected `{HEADER}`, found `{line}`"),
                    ));
                }
                header = true;
                continue;
            }
            let f: Vec<&str> = line.splitn(5, ',').map(str::trim).collect();
            if f.len() < 5 {
                return Err(err(
                    n,
                    "source",
                    format!("expected 5 fields ({HEADER}), found {}", f.len()),
                ));
            }
            let op = f[0].to_string();
            if !OPS.contains(&op.as_str()) {
                return Err(err(
                    n,
                    "op",
                    format!("`{op}` is not one of {}", OPS.join(", ")),
                ));
            }
            let bits: u32 = f[1]
                .parse()
                .ok()
                .filter(|b| (1..=1024).contains(b))
                .ok_or_else(|| err(n, "bits", format!("`{}` is not a width in 1..=1024", f[1])))?;
            let kib = if f[2].is_empty() {
                None
            } else {
                Some(
                    f[2].parse::<f64>()
                        .ok()
                        .filter(|k| k.is_finite() && *k > 0.0)
                        .ok_or_else(|| {
                            err(n, "kib", format!("`{}` is not a positive size", f[2]))
                        })?,
                )
            };
            if op == "sram" && kib.is_none() {
                return Err(err(n, "kib", "an sram row needs its size in KiB".into()));
            }
            let pj = f[3]
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| {
                    err(
                        n,
                        "pj",
                        format!("`{}` is not a non-negative energy in pJ", f[3]),
                    )
                })?;
            let source = f[4].trim_matches('"').trim().to_string();
            if source.is_empty() {
                return Err(err(n, "source", "every row needs its source".into()));
            }
            if rows
                .iter()
                .any(|r: &TableRow| r.op == op && r.bits == bits && r.kib == kib)
            {
                return Err(err(
                    n,
                    "bits",
                    format!("a second `{op}` row for {bits} bits"),
                ));
            }
            rows.push(TableRow {
                op,
                bits,
                kib,
                pj,
                source,
            });
        }
        if !header {
            return Err(err(0, "header", format!("no header line `{HEADER}`")));
        }
        for op in OPS {
            if !rows.iter().any(|r| r.op == op) {
                return Err(err(0, "op", format!("no `{op}` row")));
            }
        }
        Ok(EnergyTable {
            file: file.to_string(),
            rows,
        })
    }

    /// Energy of one `op` (`add`, `shift`, `mult`) on `bits`-bit operands, and how it was found:
    /// a row of that width, or linear (add, shift) or quadratic (mult) inter- or extrapolation in
    /// bits from the two nearest rows (energy.md).
    pub fn unit(&self, op: &str, bits: u32) -> (f64, String) {
        let mut pts: Vec<(u32, f64)> = self
            .rows
            .iter()
            .filter(|r| r.op == op)
            .map(|r| (r.bits, r.pj))
            .collect();
        pts.sort_by_key(|p| p.0);
        if let Some(p) = pts.iter().find(|p| p.0 == bits) {
            return (p.1, "table".into());
        }
        let x = |b: u32| {
            if op == "mult" {
                (b * b) as f64
            } else {
                b as f64
            }
        };
        let how = if op == "mult" {
            "quadratic in bits"
        } else {
            "linear in bits"
        };
        if pts.len() == 1 {
            let (b0, e0) = pts[0];
            return (
                e0 * x(bits) / x(b0),
                format!("{how}, scaled from {b0} bits"),
            );
        }
        // The two rows around `bits`, or the two nearest at an end.
        let hi = pts
            .iter()
            .position(|p| p.0 > bits)
            .unwrap_or(pts.len() - 1)
            .max(1);
        let (b0, e0) = pts[hi - 1];
        let (b1, e1) = pts[hi];
        let t = (x(bits) - x(b0)) / (x(b1) - x(b0));
        (
            e0 + t * (e1 - e0),
            format!("{how}, between {b0} and {b1} bits"),
        )
    }

    /// Energy of one access of `bits` bits to an SRAM of `kib` KiB: the table's energy per bit,
    /// linear in log2(size) between the two size classes around `kib`, clamped at the ends.
    pub fn sram_access(&self, kib: f64, bits: u32) -> f64 {
        let mut pts: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter(|r| r.op == "sram")
            .map(|r| (r.kib.unwrap_or(1.0), r.pj / r.bits as f64))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let per_bit = if kib <= pts[0].0 {
            pts[0].1
        } else if kib >= pts[pts.len() - 1].0 {
            pts[pts.len() - 1].1
        } else {
            let hi = pts.iter().position(|p| p.0 >= kib).expect("inside");
            let (k0, e0) = pts[hi - 1];
            let (k1, e1) = pts[hi];
            let t = (kib.log2() - k0.log2()) / (k1.log2() - k0.log2());
            e0 + t * (e1 - e0)
        };
        per_bit * bits as f64
    }

    /// Energy of one off-chip bit (the first `dram` row per bit).
    pub fn dram_bit(&self) -> f64 {
        let r = self.rows.iter().find(|r| r.op == "dram").expect("checked");
        r.pj / r.bits as f64
    }
}

/// Unit energies at one precision, each with the rule that gave it.
#[derive(Clone, Debug, Serialize)]
pub struct Units {
    /// Operand width.
    pub precision: u32,
    /// pJ per add.
    pub add_pj: f64,
    /// pJ per shift.
    pub shift_pj: f64,
    /// pJ per multiply.
    pub mult_pj: f64,
    /// How each figure was found (`table` or the interpolation used).
    pub rules: Vec<String>,
    /// Buffers: their sizes, word widths and pJ per access.
    pub buffers: Vec<Buffer>,
    /// pJ per off-chip bit.
    pub dram_bit_pj: f64,
}

/// One on-chip buffer of the preset.
#[derive(Clone, Debug, Serialize)]
pub struct Buffer {
    /// `act`, `weight` or `post`.
    pub name: &'static str,
    /// Depth in words (preset).
    pub words: u32,
    /// Width of its widest word at the report precision.
    pub bits: u32,
    /// Size in KiB (`words * bits / 8 / 1024`).
    pub kib: f64,
    /// pJ per access of one widest word (narrower words scale per bit).
    pub access_pj: f64,
}

impl Units {
    /// Units for `cfg`'s buffers at `precision` bits from `table`.
    pub fn new(table: &EnergyTable, cfg: &AccelConfig, precision: u32) -> Units {
        let mut rules = Vec::new();
        let mut get = |op: &str| {
            let (e, rule) = table.unit(op, precision);
            rules.push(format!("{op} {precision} bits: {e:.4} pJ ({rule})"));
            e
        };
        let add_pj = get("add");
        let shift_pj = get("shift");
        let mult_pj = get("mult");
        let post_bits = cfg.post_m_bits + cfg.post_b_bits;
        let weight_bits = precision.max(cfg.formats.shift_wb);
        let buffers = [
            ("act", cfg.act_buf_words, precision),
            ("weight", cfg.weight_buf_words, weight_bits),
            ("post", cfg.post_buf_words, post_bits),
        ]
        .into_iter()
        .map(|(name, words, bits)| {
            let kib = words as f64 * bits as f64 / 8.0 / 1024.0;
            Buffer {
                name,
                words,
                bits,
                kib,
                access_pj: table.sram_access(kib, bits),
            }
        })
        .collect();
        Units {
            precision,
            add_pj,
            shift_pj,
            mult_pj,
            rules,
            buffers,
            dram_bit_pj: table.dram_bit(),
        }
    }

    fn per_bit(&self, name: &str) -> f64 {
        let b = self
            .buffers
            .iter()
            .find(|b| b.name == name)
            .expect("buffer");
        b.access_pj / b.bits as f64
    }
}

/// Counts of one layer per image.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LayerCounts {
    /// Node name.
    pub name: String,
    /// `shift`, `adder`, `mult`, `max_pool`, `avg_pool` or `flatten`.
    pub kind: String,
    /// Input shape `[c, h, w]`.
    pub in_shape: [usize; 3],
    /// Output shape.
    pub out_shape: [usize; 3],
    /// Kernel `[kh, kw]` (convolutions).
    pub kernel: Option<[usize; 2]>,
    /// Tap operations.
    pub taps: u64,
    /// Shifts.
    pub shifts: u64,
    /// Adds (an adder tap is two; accumulates, post-processing, residuals, average pooling).
    pub adds: u64,
    /// Multiplies (multiply taps and post-processing).
    pub mults: u64,
    /// The engine's cycles from START to DONE (`sim::cycles::layer_cycles`, equal to the RTL's
    /// count in co-simulation; 0 for a flatten, which the host does).
    pub cycles: u64,
    /// Useful tap operations over `rows * cols * cycles`.
    pub utilisation: f64,
    /// Activation-buffer reads (words of `act_bits`).
    pub act_reads: u64,
    /// Activation-buffer writes.
    pub act_writes: u64,
    /// Weight-buffer reads (words of `weight_bits`).
    pub weight_reads: u64,
    /// Post-parameter reads (pairs `M_c, B_c`).
    pub post_reads: u64,
    /// Activation word width.
    pub act_bits: u32,
    /// Weight word width.
    pub weight_bits: u32,
    /// Post-parameter pair width.
    pub post_bits: u32,
    /// Bits read from off-chip memory.
    pub dram_read_bits: u64,
    /// Bits written to off-chip memory.
    pub dram_write_bits: u64,
}

/// Energy of one layer (or a total) in pJ, by category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Energy {
    /// Shifts.
    pub shift: f64,
    /// Adds.
    pub add: f64,
    /// Multiplies (including post-processing).
    pub mult: f64,
    /// `shift + add + mult`.
    pub compute: f64,
    /// Activation buffer.
    pub act_buf: f64,
    /// Weight buffer.
    pub weight_buf: f64,
    /// Post-parameter buffer.
    pub post_buf: f64,
    /// Off-chip traffic.
    pub dram: f64,
    /// `act_buf + weight_buf + post_buf + dram`.
    pub memory: f64,
}

impl Energy {
    /// Adds another layer's energy.
    pub fn accumulate(&mut self, o: &Energy) {
        self.shift += o.shift;
        self.add += o.add;
        self.mult += o.mult;
        self.compute += o.compute;
        self.act_buf += o.act_buf;
        self.weight_buf += o.weight_buf;
        self.post_buf += o.post_buf;
        self.dram += o.dram;
        self.memory += o.memory;
    }
}

impl LayerCounts {
    /// Energy of these counts with `u`.
    pub fn energy(&self, u: &Units) -> Energy {
        let shift = self.shifts as f64 * u.shift_pj;
        let add = self.adds as f64 * u.add_pj;
        let mult = self.mults as f64 * u.mult_pj;
        let act_buf =
            (self.act_reads + self.act_writes) as f64 * self.act_bits as f64 * u.per_bit("act");
        let weight_buf = self.weight_reads as f64 * self.weight_bits as f64 * u.per_bit("weight");
        let post_buf = self.post_reads as f64 * self.post_bits as f64 * u.per_bit("post");
        let dram = (self.dram_read_bits + self.dram_write_bits) as f64 * u.dram_bit_pj;
        Energy {
            shift,
            add,
            mult,
            compute: shift + add + mult,
            act_buf,
            weight_buf,
            post_buf,
            dram,
            memory: act_buf + weight_buf + post_buf + dram,
        }
    }
}

/// Per-image counts of every layer of `program` (a [`crate::program::plan`] or a compiled
/// program) at `precision` bits: what the engine does when it runs the program.
pub fn count_program(program: &Program, precision: u32) -> Vec<LayerCounts> {
    (0..program.layers.len())
        .map(|idx| count_layer(program, idx, precision))
        .collect()
}

/// Per-image counts of every node of `graph` laid out on `cfg`'s engine at `precision` bits.
pub fn count_graph(
    graph: &Graph,
    cfg: &AccelConfig,
    precision: u32,
) -> Result<Vec<LayerCounts>, CapabilityError> {
    Ok(count_program(&plan(graph, cfg)?, precision))
}

fn count_layer(program: &Program, idx: usize, p: u32) -> LayerCounts {
    let cfg = &program.cfg;
    let layer = &program.layers[idx];
    let info = &program.infos[idx];
    let vals = |s: [usize; 3]| (s[0] * s[1] * s[2]) as u64;
    let (in_vals, out_vals) = (vals(info.in_shape), vals(info.out_shape));
    let mut c = LayerCounts {
        name: layer.name.clone(),
        kind: layer.kind.clone(),
        in_shape: info.in_shape,
        out_shape: info.out_shape,
        act_bits: p,
        post_bits: cfg.post_m_bits + cfg.post_b_bits,
        ..Default::default()
    };
    let p64 = u64::from(p);
    if info.src.is_none() {
        // The 8-bit image comes from off-chip once.
        c.dram_read_bits += in_vals * 8;
    }
    let Work::Engine(el) = &layer.work else {
        return c;
    };
    // The layer as the network has it (a first layer may run unrolled; its taps are the same).
    let d = el.unrolled_from.unwrap_or(el.desc);
    c.cycles = layer_cycles(cfg, &el.desc);
    // Buffer accesses as the engine makes them, for the layer as it runs (what its access
    // counters read in co-simulation).
    let a = layer_accesses(cfg, &el.desc);
    c.act_reads = a.act_reads + a.res_reads;
    c.act_writes = a.out_writes;
    c.weight_reads = a.weight_reads;
    c.post_reads = a.post_reads;
    match d.op {
        LayerOp::MaxPool | LayerOp::AvgPool => {
            if d.op == LayerOp::AvgPool {
                c.adds = out_vals * u64::from(d.kh * d.kw - 1);
            }
            if el.spill.input {
                c.dram_read_bits += in_vals * p64;
            }
            if el.spill.output {
                c.dram_write_bits += out_vals * p64;
            }
        }
        LayerOp::Conv(kind) => {
            c.kernel = Some([d.kh as usize, d.kw as usize]);
            c.taps = tap_ops(&d);
            match kind {
                ConvKind::Shift => {
                    c.shifts = c.taps;
                    c.adds = c.taps;
                }
                ConvKind::Adder => c.adds = 2 * c.taps,
                ConvKind::Mult => {
                    c.mults = c.taps;
                    c.adds = c.taps;
                }
            }
            if el.has_post {
                c.mults += out_vals;
                c.adds += out_vals;
            }
            let residual = matches!(d.output, OutputMode::Post { residual: true, .. });
            if residual {
                c.adds += out_vals;
            }
            c.utilisation = utilisation(cfg, c.taps, c.cycles);
            c.weight_bits = if kind == ConvKind::Shift {
                cfg.formats.shift_wb
            } else {
                p
            };
            let window = u64::from(d.kh) * u64::from(d.kw);
            let rtiles = u64::from(d.co_tiles(cfg));
            // Off-chip: weights (and post parameters) once, or once per output row if too big.
            let wlen = u64::from(d.cout) * u64::from(d.cin) * window;
            let loads = if el.spill.weights {
                u64::from(d.out_h())
            } else {
                1
            };
            c.dram_read_bits += loads * wlen * u64::from(c.weight_bits);
            if el.has_post {
                c.dram_read_bits += u64::from(d.cout) * u64::from(c.post_bits);
            }
            if el.spill.input {
                c.dram_read_bits += rtiles * in_vals * p64;
            }
            if residual && el.spill.output {
                c.dram_read_bits += out_vals * p64;
            }
            // Logits leave the chip; a wide hand-off stays in the output buffer.
            if matches!(d.output, OutputMode::Logits { .. }) || el.spill.output {
                c.dram_write_bits += out_vals * p64;
            }
        }
    }
    c
}

/// Sums of a graph's counts, and its energy under `units`: the sum of the layers' energies, as
/// each layer's accesses have their own word widths. The summed counts carry no widths
/// (`act_bits`, `weight_bits` and `post_bits` are 0), so their own `energy` would leave out the
/// buffers; use the energy returned here.
pub fn total(layers: &[LayerCounts], units: &Units) -> (LayerCounts, Energy) {
    let mut e = Energy::default();
    let mut t = LayerCounts {
        name: "total".into(),
        ..Default::default()
    };
    for l in layers {
        t.taps += l.taps;
        t.shifts += l.shifts;
        t.adds += l.adds;
        t.mults += l.mults;
        t.cycles += l.cycles;
        t.act_reads += l.act_reads;
        t.act_writes += l.act_writes;
        t.weight_reads += l.weight_reads;
        t.post_reads += l.post_reads;
        t.dram_read_bits += l.dram_read_bits;
        t.dram_write_bits += l.dram_write_bits;
        e.accumulate(&l.energy(units));
    }
    (t, e)
}
