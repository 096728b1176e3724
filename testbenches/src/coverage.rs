//! Coverage of a co-simulation on Verilator: the engine's cover points, generated from the
//! register map and the config, and the coverage files (Verilator's `coverage.dat` format) read,
//! merged, summarised per module and annotated.
//!
//! The cover points watch the engine's ports only (its register bus, interrupt, reset and
//! streams), so they hold for any RTL that implements the register map, edited or written anew.
//! They sit in a module beside the engine, under a wrapper with the engine's ports
//! ([`COVER_TOP`]); the wrapper and that module are not part of the design and are left out of
//! its line and toggle figures.

use crate::{io, CosimError};
use serde::Serialize;
use shiftadd_sim::engine::MAX_POOL_WINDOW;
use shiftadd_sim::numerics::{max_code, min_code};
use shiftadd_sim::regmap::{
    register, BufSel, OpCode, OutputCode, Reg, CTRL_START, REG_ADDR_BITS, REG_DATA_BITS,
};
use shiftadd_sim::rtl::{Port, PortDir, ENGINE_MODULE};
use shiftadd_sim::spec::{AccelConfig, PeKinds};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The wrapper co-simulated instead of the engine when coverage is measured.
pub const COVER_TOP: &str = "shiftadd_cover_top";
/// The module holding the cover points.
pub const COVER_MODULE: &str = "shiftadd_cover";
/// File name of the generated cover module and wrapper.
pub const COVER_FILE: &str = "shiftadd_cover.sv";

/// One cover point of the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CoverPoint {
    /// Label (a Verilog identifier).
    pub name: String,
    /// What it means.
    pub what: String,
    /// The condition, sampled at every rising clock edge; empty for a point the host counts.
    #[serde(skip)]
    expr: String,
    /// Counted by the host from the values it reads (a register read is combinational, so its
    /// value as the host sees it is not visible at any clock edge of the ports).
    pub host: bool,
}

fn point(name: impl Into<String>, what: impl Into<String>, expr: impl Into<String>) -> CoverPoint {
    CoverPoint {
        name: name.into(),
        what: what.into(),
        expr: expr.into(),
        host: false,
    }
}

fn host_point(name: impl Into<String>, what: impl Into<String>) -> CoverPoint {
    CoverPoint {
        host: true,
        ..point(name, what, "")
    }
}

/// An output word's bounds to watch: (point prefix, `OUTPUT` mode or `None` for poolings of
/// `op`, minimum, maximum).
type Bound = (&'static str, Option<u32>, u32, i64, i64);

/// The [`Bound`]s of `cfg`'s outputs.
fn output_bounds(cfg: &AccelConfig) -> Vec<Bound> {
    let f = &cfg.formats;
    let act = f.act_range();
    let (amin, amax) = (min_code(f.act_bits), act.max);
    vec![
        ("post", Some(OutputCode::Post as u32), 0, amin, amax),
        (
            "handoff",
            Some(OutputCode::Handoff as u32),
            0,
            min_code(f.add_bits),
            max_code(f.add_bits),
        ),
        ("round", Some(OutputCode::Round as u32), 0, amin, amax),
        ("max_pool", None, OpCode::MaxPool as u32, amin, amax),
        ("avg_pool", None, OpCode::AvgPool as u32, amin, amax),
    ]
}

/// The counts of the cover points the host observes ([`CoverPoint::host`]).
#[derive(Clone, Debug)]
pub struct HostCounts {
    counts: BTreeMap<String, u64>,
    last: Option<(u32, u32)>,
    /// [`output_bounds`] of the config.
    bounds: Vec<Bound>,
}

impl HostCounts {
    /// No counts yet, for `cfg`'s engine.
    pub fn new(cfg: &AccelConfig) -> HostCounts {
        HostCounts {
            counts: BTreeMap::new(),
            last: None,
            bounds: output_bounds(cfg),
        }
    }
    fn bump(&mut self, name: String) {
        *self.counts.entry(name).or_default() += 1;
    }
    /// A layer ran with `OP` value `op` and `OUTPUT` mode `mode`, and `SAT_COUNT` read `sat`.
    pub fn layer(&mut self, op: u32, mode: u32, sat: u64) {
        self.last = Some((op, mode));
        self.bump(format!(
            "sat_count_{}",
            if sat == 0 { "zero" } else { "nonzero" }
        ));
    }
    /// An output word of the last layer read as `value`.
    pub fn output(&mut self, value: i64) {
        let Some((op, mode)) = self.last else {
            return;
        };
        let mut hits = Vec::new();
        for &(name, m, pool_op, lo, hi) in &self.bounds {
            let this = match m {
                Some(m) => op < 2 && mode == m,
                None => op == pool_op,
            };
            if this && (value == lo || value == hi) {
                let end = if value == lo { "min" } else { "max" };
                hits.push(format!("{name}_output_at_{end}"));
            }
        }
        hits.into_iter().for_each(|h| self.bump(h));
    }

    /// The counts as coverage points of `points`' host points, located on their lines of the
    /// cover file `cover_text`.
    pub fn to_coverage(&self, points: &[CoverPoint], cover_text: &str) -> Coverage {
        let mut c = Coverage::default();
        for p in points.iter().filter(|p| p.host) {
            let tag = format!("// host: {}:", p.name);
            let line = cover_text
                .lines()
                .position(|l| l.trim_start().starts_with(&tag))
                .map_or(0, |i| i + 1);
            c.add(Point {
                fields: vec![
                    ("f".into(), COVER_FILE.into()),
                    ("l".into(), line.to_string()),
                    ("page".into(), format!("v_user/{COVER_MODULE}")),
                    ("o".into(), p.name.clone()),
                    ("h".into(), format!("host.{}", p.name)),
                ],
                count: self.counts.get(&p.name).copied().unwrap_or(0),
            });
        }
        c
    }
}

/// The ops `cfg`'s engine runs: (value, name).
fn ops(cfg: &AccelConfig) -> Vec<(u32, &'static str)> {
    OpCode::VALUES
        .iter()
        .filter(|(v, _, _)| !(cfg.pe_kinds == PeKinds::Mult && *v == OpCode::Adder as u32))
        .map(|&(v, n, _)| (v, n))
        .collect()
}

/// Every cover point of `cfg`'s engine. Layer points are sampled at START from the registers as
/// last written; output points at each read of an output word.
pub fn engine_cover_points(cfg: &AccelConfig) -> Vec<CoverPoint> {
    let mut v = Vec::new();
    let conv = "start && op < 2";
    for (op, name) in ops(cfg) {
        v.push(point(
            format!("op_{name}"),
            format!("a layer with OP = {name}"),
            format!("start && op == {op}"),
        ));
        for sel in 0..2 {
            v.push(point(
                format!("op_{name}_in_sel_{sel}"),
                format!(
                    "OP = {name} reading the {} buffer",
                    ["input", "output"][sel as usize]
                ),
                format!("start && op == {op} && in_sel == {sel}"),
            ));
        }
        if op >= 2 {
            continue;
        }
        for &(mode, mname, _) in &OutputCode::VALUES {
            v.push(point(
                format!("op_{name}_out_{mname}"),
                format!("OP = {name} with OUTPUT mode {mname}"),
                format!("start && op == {op} && mode == {mode}"),
            ));
        }
    }
    for relu in 0..2 {
        for res in 0..2 {
            v.push(point(
                format!("post_relu_{relu}_residual_{res}"),
                format!("a convolution in mode post, relu {relu}, residual {res}"),
                format!("{conv} && mode == 0 && relu == {relu} && residual == {res}"),
            ));
        }
        v.push(point(
            format!("logits_relu_{relu}"),
            format!("a convolution in mode logits, relu {relu}"),
            format!("{conv} && mode == 3 && relu == {relu}"),
        ));
    }
    for k in 1..=cfg.max_kernel {
        for (reg, what) in [("kh", "kernel rows"), ("kw", "kernel columns")] {
            v.push(point(
                format!("conv_{reg}_{k}"),
                format!("a convolution with {k} {what}"),
                format!("{conv} && {reg} == {k}"),
            ));
        }
    }
    for s in 1..=cfg.max_stride {
        v.push(point(
            format!("conv_stride_{s}"),
            format!("a convolution with stride {s}"),
            format!("{conv} && stride == {s}"),
        ));
    }
    for p in 0..=cfg.max_pad {
        v.push(point(
            format!("conv_pad_{p}"),
            format!("a convolution with padding {p}"),
            format!("{conv} && pad == {p}"),
        ));
    }
    for (name, what, cond) in [
        (
            "conv_co_tiles_1",
            "one output-channel tile",
            "co_tiles == 1",
        ),
        (
            "conv_co_tiles_many",
            "several output-channel tiles",
            "co_tiles > 1",
        ),
        ("conv_ci_tiles_1", "one input-channel tile", "ci_tiles == 1"),
        (
            "conv_ci_tiles_many",
            "several input-channel tiles",
            "ci_tiles > 1",
        ),
    ] {
        v.push(point(
            name,
            format!("a convolution with {what}"),
            format!("{conv} && {cond}"),
        ));
    }
    let rows = cfg.rows;
    v.push(point(
        "conv_last_tile_full",
        format!("a convolution whose last output tile is full ({rows} channels)"),
        format!("{conv} && last_rows == {rows}"),
    ));
    v.push(point(
        "conv_last_tile_partial",
        format!("a convolution whose last output tile has fewer than {rows} channels"),
        format!("{conv} && last_rows < {rows}"),
    ));
    let smax = cfg.post_s_max;
    for (name, what, cond) in [
        (
            "post_shift_0",
            "SHIFT 0".to_string(),
            "shift == 0".to_string(),
        ),
        (
            "post_shift_mid",
            format!("SHIFT between 1 and {}", smax - 1),
            format!("shift > 0 && shift < {smax}"),
        ),
        (
            "post_shift_max",
            format!("SHIFT {smax} (post_s_max)"),
            format!("shift == {smax}"),
        ),
    ] {
        v.push(point(
            name,
            format!("a convolution in mode post or logits with {what}"),
            format!("{conv} && (mode == 0 || mode == 3) && {cond}"),
        ));
    }
    let pool = |op: OpCode| format!("start && op == {}", op as u32);
    let big = MAX_POOL_WINDOW;
    for (name, what, cond) in [
        ("2", "2x2".to_string(), "kh == 2".to_string()),
        ("3", "3x3".to_string(), "kh == 3".to_string()),
        (
            "between",
            format!("4x4 to {0}x{0}", big - 1),
            format!("kh > 3 && kh < {big}"),
        ),
        (
            "max",
            format!("{big}x{big} (the largest)"),
            format!("kh == {big}"),
        ),
    ] {
        v.push(point(
            format!("max_pool_window_{name}"),
            format!("a max pooling with a {what} window"),
            format!("{} && {cond}", pool(OpCode::MaxPool)),
        ));
    }
    for k in (1..).map(|e| 1u32 << e).take_while(|&k| k <= big) {
        v.push(point(
            format!("avg_pool_window_{k}"),
            format!("an average pooling with a {k}x{k} window"),
            format!("{} && kh == {k}", pool(OpCode::AvgPool)),
        ));
    }
    for &(sel, name, _) in &BufSel::VALUES {
        v.push(point(
            format!("buf_sel_{name}"),
            format!("the access port set to the {name} buffer"),
            format!(
                "reg_we && reg_addr == {} && reg_wdata == {sel}",
                Reg::BufSel.offset()
            ),
        ));
    }
    for (name, _, _, lo, hi) in output_bounds(cfg) {
        for (end, value) in [("min", lo), ("max", hi)] {
            let of = if name.ends_with("_pool") {
                format!("a {name} output")
            } else {
                format!("a convolution output in mode {name}")
            };
            v.push(host_point(
                format!("{name}_output_at_{end}"),
                format!("{of} read at its format's {end}imum ({value})"),
            ));
        }
    }
    v.push(host_point(
        "sat_count_zero",
        "SAT_COUNT read as 0 after a layer",
    ));
    v.push(host_point(
        "sat_count_nonzero",
        "SAT_COUNT read non-zero after a layer: it saturated",
    ));
    for (name, what, expr) in [
        (
            "back_to_back",
            "START of a layer after an earlier START, without a reset in between",
            "start && starts != 0",
        ),
        ("irq_raised", "the interrupt output high", "irq"),
        ("reset_asserted", "the reset input high", "reset"),
        (
            "stream_in_beat",
            "a beat accepted on the input stream",
            "sin_valid && sin_ready",
        ),
        (
            "stream_out_last",
            "the last beat of an output stream (TLAST)",
            "sout_valid && sout_ready && sout_last",
        ),
    ] {
        v.push(point(name, what, expr));
    }
    v
}

/// Ports of the engine the cover module watches, with the value used when the engine has none.
const WATCHED: [(&str, usize, bool); 12] = [
    ("reg_we", 1, true),
    ("reg_re", 1, true),
    ("reg_addr", REG_ADDR_BITS, true),
    ("reg_wdata", REG_DATA_BITS, true),
    ("reg_rdata", REG_DATA_BITS, true),
    ("irq", 1, false),
    ("reset", 1, false),
    ("sin_valid", 1, false),
    ("sin_ready", 1, false),
    ("sout_valid", 1, false),
    ("sout_ready", 1, false),
    ("sout_last", 1, false),
];

/// The cover module and the wrapper ([`COVER_TOP`], with `engine_ports`) for `cfg`'s engine.
pub fn engine_cover_verilog(
    cfg: &AccelConfig,
    engine_ports: &[Port],
) -> Result<String, CosimError> {
    let width = |name: &str| {
        engine_ports
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.width)
    };
    for (name, w, required) in WATCHED {
        match width(name) {
            Some(got) if got != w => {
                return Err(CosimError::Design(format!(
                    "engine port `{name}` is {got} bits; the register map's is {w}"
                )))
            }
            None if required => {
                return Err(CosimError::Design(format!("engine has no port `{name}`")))
            }
            _ => {}
        }
    }
    let mut s = String::new();
    s.push_str(&format!(
        "// Cover points of the `{}` engine, generated by shiftadd-tb from its register map.\n// Not part of the design: co-simulated with it when coverage is measured.\n",
        cfg.name
    ));
    s.push_str(&format!("module {COVER_MODULE}(\n    input wire clock"));
    for (name, w, _) in WATCHED {
        let range = if w > 1 {
            format!("[{}:0] ", w - 1)
        } else {
            String::new()
        };
        s.push_str(&format!(",\n    input wire {range}{name}"));
    }
    s.push_str(");\n");
    // The registers a layer's points read, each as wide as the register map makes it.
    let shadowed = [
        (Reg::Op, "op"),
        (Reg::Output, "output_reg"),
        (Reg::Shift, "shift"),
        (Reg::LastRows, "last_rows"),
        (Reg::InSel, "in_sel"),
        (Reg::CoTiles, "co_tiles"),
        (Reg::CiTiles, "ci_tiles"),
        (Reg::Kh, "kh"),
        (Reg::Kw, "kw"),
        (Reg::Stride, "stride"),
        (Reg::Pad, "pad"),
        (Reg::BufSel, "buf_sel"),
    ]
    .map(|(reg, name)| (reg, name, register(cfg, reg).bits()));
    for (_, name, w) in shadowed {
        s.push_str(&format!("    reg [{}:0] {name} = 0;\n", w - 1));
    }
    s.push_str("    reg starts = 0;\n");
    s.push_str("    wire [1:0] mode = output_reg[1:0];\n    wire relu = output_reg[2];\n    wire residual = output_reg[3];\n");
    s.push_str(&format!(
        "    wire start = reg_we && reg_addr == {} && (reg_wdata & {CTRL_START}) != 0;\n",
        Reg::Ctrl.offset()
    ));
    s.push_str("    always @(posedge clock) begin\n        if (reg_we) begin\n            case (reg_addr)\n");
    for (reg, name, w) in shadowed {
        s.push_str(&format!(
            "                8'd{}: {name} <= reg_wdata[{}:0];\n",
            reg.offset(),
            w - 1
        ));
    }
    s.push_str("                default: ;\n            endcase\n        end\n");
    s.push_str("        if (reset) starts <= 0;\n        else if (start) starts <= 1;\n    end\n");
    for p in engine_cover_points(cfg) {
        if p.host {
            s.push_str(&format!("    // host: {}: {}\n", p.name, p.what));
        } else {
            s.push_str(&format!(
                "    // {}\n    {}: cover property (@(posedge clock) {});\n",
                p.what, p.name, p.expr
            ));
        }
    }
    s.push_str("endmodule\n\n");
    // The wrapper: the engine's ports, the engine and the cover module.
    s.push_str(&format!(
        "// The engine with its cover points, under the engine's ports.\nmodule {COVER_TOP}({});\n",
        engine_ports
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    ));
    for p in engine_ports {
        let dir = match p.dir {
            PortDir::Input => "input",
            PortDir::Output => "output",
        };
        let range = if p.width > 1 {
            format!("[{}:0] ", p.width - 1)
        } else {
            String::new()
        };
        s.push_str(&format!("    {dir} wire {range}{};\n", p.name));
    }
    s.push_str(&format!(
        "    {ENGINE_MODULE} dut({});\n",
        engine_ports
            .iter()
            .map(|p| format!(".{0}({0})", p.name))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let conns: Vec<String> = std::iter::once(".clock(clock)".to_string())
        .chain(WATCHED.iter().map(|(name, _, _)| {
            if width(name).is_some() {
                format!(".{name}({name})")
            } else {
                format!(".{name}(1'b0)")
            }
        }))
        .collect();
    s.push_str(&format!(
        "    {COVER_MODULE} cover_points({});\nendmodule\n",
        conns.join(", ")
    ));
    Ok(s)
}

/// What a coverage point counts, from its `page` (`v_line/<module>` and so on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A block of statements or a branch (`v_line`, `v_branch`).
    Line,
    /// A bit of a signal changing (`v_toggle`).
    Toggle,
    /// A cover point (`v_user`).
    User,
}

/// One point of a coverage file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Point {
    /// Its fields (key, value) as the file has them.
    fields: Vec<(String, String)>,
    count: u64,
}

impl Point {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn key(&self) -> String {
        self.fields
            .iter()
            .map(|(k, v)| format!("\u{1}{k}\u{2}{v}"))
            .collect()
    }
    fn kind_module(&self) -> Option<(Kind, &str)> {
        let (kind, module) = self.get("page")?.split_once('/')?;
        let kind = match kind {
            "v_line" | "v_branch" => Kind::Line,
            "v_toggle" => Kind::Toggle,
            "v_user" => Kind::User,
            _ => return None,
        };
        Some((kind, module))
    }
}

/// Coverage counts: one run's, or several merged (counts of the same point add).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    points: BTreeMap<String, Point>,
}

/// Largest coverage file read.
pub const MAX_COVERAGE_BYTES: u64 = 1 << 30;

impl Coverage {
    /// Reads a coverage file (Verilator's `coverage.dat` format).
    pub fn read(path: &Path) -> Result<Coverage, CosimError> {
        let len = std::fs::metadata(path).map_err(|e| io(path, e))?.len();
        if len > MAX_COVERAGE_BYTES {
            return Err(io(
                path,
                format!("{len} bytes; coverage files are read up to {MAX_COVERAGE_BYTES}"),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        Coverage::parse(&text).map_err(|(line, what)| io(path, format!("line {line}: {what}")))
    }

    /// Parses the text of a coverage file; an error names the line.
    pub fn parse(text: &str) -> Result<Coverage, (usize, String)> {
        let mut c = Coverage::default();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let rest = line
                .strip_prefix("C '")
                .ok_or((n, "expected `C '<point>' <count>`".to_string()))?;
            let (body, count) = rest
                .rsplit_once("' ")
                .ok_or((n, "expected `' <count>` after the point".to_string()))?;
            let count: u64 = count
                .trim()
                .parse()
                .map_err(|_| (n, format!("count `{}` is not a whole number", count.trim())))?;
            let mut fields = Vec::new();
            for pair in body.split('\u{1}').filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once('\u{2}')
                    .ok_or((n, "a field without a value".to_string()))?;
                fields.push((k.to_string(), v.to_string()));
            }
            let p = Point { fields, count };
            if p.get("page").is_none() {
                return Err((n, "a point without a `page` field".into()));
            }
            c.add(p);
        }
        Ok(c)
    }

    fn add(&mut self, p: Point) {
        let key = p.key();
        match self.points.get_mut(&key) {
            Some(q) => q.count = q.count.saturating_add(p.count),
            None => {
                self.points.insert(key, p);
            }
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Coverage) {
        for p in other.points.into_values() {
            self.add(p);
        }
    }

    /// Points each source file by its file name in `dirs` (the first that holds it), so that
    /// annotation finds the sources of a model built in a scratch folder.
    pub fn locate_sources(&mut self, dirs: &[&Path]) {
        let old = std::mem::take(&mut self.points);
        for mut p in old.into_values() {
            for (k, v) in p.fields.iter_mut() {
                if k != "f" {
                    continue;
                }
                let name = Path::new(v.as_str()).file_name().map(|n| n.to_owned());
                if let Some(found) =
                    name.and_then(|n| dirs.iter().map(|d| d.join(&n)).find(|p| p.is_file()))
                {
                    *v = found.display().to_string();
                }
            }
            self.add(p);
        }
    }

    /// The file's text, points in a stable order.
    pub fn to_text(&self) -> String {
        let mut s = String::from("# SystemC::Coverage-3\n");
        for p in self.points.values() {
            s.push_str(&format!("C '{}' {}\n", p.key(), p.count));
        }
        s
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Per-module figures and every hole. Points of the cover module and its wrapper count
    /// only as cover points.
    pub fn summary(&self) -> Summary {
        let mut modules: BTreeMap<String, ModuleFigures> = BTreeMap::new();
        let mut holes = Vec::new();
        for p in self.points.values() {
            let Some((kind, module)) = p.kind_module() else {
                continue;
            };
            let testbench = module == COVER_MODULE || module == COVER_TOP;
            if testbench && kind != Kind::User {
                continue;
            }
            let m = modules
                .entry(module.to_string())
                .or_insert_with(|| ModuleFigures {
                    module: module.to_string(),
                    ..Default::default()
                });
            let hit = p.count > 0;
            let fig = match kind {
                Kind::Line => &mut m.line,
                Kind::Toggle => &mut m.toggle,
                Kind::User => &mut m.user,
            };
            fig.points += 1;
            fig.hit += u64::from(hit);
            if !hit {
                holes.push(Hole {
                    kind,
                    module: module.to_string(),
                    file: p
                        .get("f")
                        .and_then(|f| Path::new(f).file_name())
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    line: p.get("l").and_then(|l| l.parse().ok()).unwrap_or(0),
                    what: p.get("o").unwrap_or("").to_string(),
                    instance: p.get("h").unwrap_or("").to_string(),
                });
            }
        }
        let mut total = ModuleFigures {
            module: "total".into(),
            ..Default::default()
        };
        for m in modules.values() {
            for (t, f) in [
                (&mut total.line, &m.line),
                (&mut total.toggle, &m.toggle),
                (&mut total.user, &m.user),
            ] {
                t.points += f.points;
                t.hit += f.hit;
            }
        }
        holes.sort_by(|a, b| {
            (a.kind, &a.module, a.line, &a.what).cmp(&(b.kind, &b.module, b.line, &b.what))
        });
        Summary {
            modules: modules.into_values().collect(),
            total,
            holes,
        }
    }
}

/// Points and how many were hit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// Points.
    pub points: u64,
    /// Points counted at least once.
    pub hit: u64,
}

impl Figure {
    /// Percentage hit (100 when there are no points).
    pub fn percent(&self) -> f64 {
        if self.points == 0 {
            100.0
        } else {
            100.0 * self.hit as f64 / self.points as f64
        }
    }
    fn text(&self) -> String {
        if self.points == 0 {
            "-".into()
        } else {
            format!("{:.1}% ({}/{})", self.percent(), self.hit, self.points)
        }
    }
}

/// One module's figures (over all its instances).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModuleFigures {
    /// Module name.
    pub module: String,
    /// Statement blocks and branches.
    pub line: Figure,
    /// Signal bits toggled.
    pub toggle: Figure,
    /// Cover points.
    pub user: Figure,
}

/// A point never counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hole {
    /// What it counts.
    pub kind: Kind,
    /// Module.
    pub module: String,
    /// Source file name.
    pub file: String,
    /// Source line.
    pub line: u32,
    /// The signal bit, branch or cover point.
    pub what: String,
    /// The instance.
    pub instance: String,
}

/// Signal bits (`name[i]`, or `name` for one bit) as runs: `name[hi:lo]` for consecutive bits,
/// signals in their first appearance's order.
fn bit_ranges(names: &[&str]) -> Vec<String> {
    let mut order: Vec<&str> = Vec::new();
    let mut bits: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut whole = BTreeSet::new();
    for n in names {
        let parsed = n
            .strip_suffix(']')
            .and_then(|t| t.rsplit_once('['))
            .and_then(|(sig, i)| i.parse::<u64>().ok().map(|i| (sig, i)));
        let sig = parsed.map_or(*n, |(sig, _)| sig);
        if !order.contains(&sig) {
            order.push(sig);
        }
        match parsed {
            Some((_, i)) => bits.entry(sig).or_default().push(i),
            None => {
                whole.insert(sig);
            }
        }
    }
    let mut out = Vec::new();
    for sig in order {
        if whole.contains(sig) {
            out.push(sig.to_string());
        }
        let Some(v) = bits.get_mut(sig) else {
            continue;
        };
        v.sort_unstable();
        v.dedup();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &i in v.iter() {
            match runs.last_mut() {
                Some((_, hi)) if *hi + 1 == i => *hi = i,
                _ => runs.push((i, i)),
            }
        }
        for (lo, hi) in runs.into_iter().rev() {
            out.push(if lo == hi {
                format!("{sig}[{lo}]")
            } else {
                format!("{sig}[{hi}:{lo}]")
            });
        }
    }
    out
}

/// The figures of a coverage file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Per module, by name.
    pub modules: Vec<ModuleFigures>,
    /// All modules together.
    pub total: ModuleFigures,
    /// Every point never counted.
    pub holes: Vec<Hole>,
}

impl Summary {
    /// The figures as a table, then the holes: every cover point and line, and every signal bit
    /// never toggled, by module (runs of bits of a signal as `name[hi:lo]`).
    pub fn text(&self, points: &[CoverPoint]) -> String {
        let mut s = format!(
            "{:<24} {:>22} {:>26} {:>18}\n",
            "module", "line", "toggle", "cover points"
        );
        for m in self.modules.iter().chain(std::iter::once(&self.total)) {
            s.push_str(&format!(
                "{:<24} {:>22} {:>26} {:>18}\n",
                m.module,
                m.line.text(),
                m.toggle.text(),
                m.user.text()
            ));
        }
        let user: Vec<&Hole> = self.holes.iter().filter(|h| h.kind == Kind::User).collect();
        s.push_str(&format!("\ncover points never hit: {}\n", user.len()));
        for h in user {
            let what = points
                .iter()
                .find(|p| p.name == h.what)
                .map_or("", |p| p.what.as_str());
            s.push_str(&format!("  {}: {what}\n", h.what));
        }
        let lines: Vec<&Hole> = self.holes.iter().filter(|h| h.kind == Kind::Line).collect();
        s.push_str(&format!(
            "\nlines and branches never run: {}\n",
            lines.len()
        ));
        for h in lines {
            s.push_str(&format!(
                "  {}:{} ({}, {})\n",
                h.file, h.line, h.module, h.what
            ));
        }
        let mut toggles: BTreeMap<&str, Vec<&Hole>> = BTreeMap::new();
        for h in self.holes.iter().filter(|h| h.kind == Kind::Toggle) {
            toggles.entry(&h.module).or_default().push(h);
        }
        s.push_str(&format!(
            "\nsignal bits never toggled: {}\n",
            toggles.values().map(Vec::len).sum::<usize>()
        ));
        for (m, hs) in toggles {
            let names: Vec<&str> = hs.iter().map(|h| h.what.as_str()).collect();
            s.push_str(&format!(
                "  {m} ({}): {}\n",
                hs.len(),
                bit_ranges(&names).join(", ")
            ));
        }
        s
    }
}

/// Writes `coverage.dat`, `summary.txt`, `summary.json` and annotated sources
/// (`annotated/`, by `verilator_coverage`) into `out`; returns the summary.
pub fn write_report(
    cov: &Coverage,
    points: &[CoverPoint],
    out: &Path,
) -> Result<Summary, CosimError> {
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let dat = out.join("coverage.dat");
    std::fs::write(&dat, cov.to_text()).map_err(|e| io(&dat, e))?;
    let summary = cov.summary();
    let txt = out.join("summary.txt");
    std::fs::write(&txt, summary.text(points)).map_err(|e| io(&txt, e))?;
    let json = out.join("summary.json");
    let doc = serde_json::json!({
        "modules": summary.modules,
        "total": summary.total,
        "cover_points": points,
        "holes": summary.holes,
    });
    std::fs::write(
        &json,
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
    )
    .map_err(|e| io(&json, e))?;
    let annotated = out.join("annotated");
    let tool = crate::locate_exe("verilator_coverage").map_err(CosimError::Tool)?;
    let run = std::process::Command::new(tool)
        .arg("--annotate")
        .arg(&annotated)
        .args(["--annotate-min", "1"])
        .arg(&dat)
        .output()
        .map_err(|e| CosimError::Tool(format!("cannot run verilator_coverage: {e}")))?;
    if !run.status.success() {
        return Err(CosimError::Tool(format!(
            "verilator_coverage --annotate failed: {}",
            String::from_utf8_lossy(&run.stderr).trim()
        )));
    }
    Ok(summary)
}

/// Reads and merges the coverage files the instances of a coverage model wrote into `parts`,
/// then removes them, the engine's cover module written there, and the folder (all of which the
/// run created).
pub fn collect_parts(parts: &Path) -> Result<Coverage, CosimError> {
    let mut cov = Coverage::default();
    let Ok(entries) = std::fs::read_dir(parts) else {
        return Ok(cov);
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    for f in &files {
        cov.merge(Coverage::read(f)?);
    }
    for f in files.iter().chain(std::iter::once(&parts.join(COVER_FILE))) {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir(parts);
    Ok(cov)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAT: &str = "# SystemC::Coverage-3\nC '\u{1}f\u{2}/x/a.v\u{1}l\u{2}3\u{1}page\u{2}v_line/a\u{1}o\u{2}block\u{1}h\u{2}TOP.a' 4\nC '\u{1}f\u{2}/x/a.v\u{1}l\u{2}5\u{1}page\u{2}v_toggle/a\u{1}o\u{2}q[0]\u{1}h\u{2}TOP.a' 0\nC '\u{1}f\u{2}/x/c.sv\u{1}l\u{2}9\u{1}page\u{2}v_user/shiftadd_cover\u{1}o\u{2}op_conv\u{1}h\u{2}TOP.c' 0\nC '\u{1}f\u{2}/x/c.sv\u{1}l\u{2}2\u{1}page\u{2}v_line/shiftadd_cover\u{1}o\u{2}block\u{1}h\u{2}TOP.c' 0\n";

    #[test]
    fn untoggled_bits_as_runs() {
        let names = [
            "w_addr[10]",
            "w_addr[12]",
            "w_addr[11]",
            "busy",
            "w_addr[31]",
            "d[0]",
            "w_addr[13]",
        ];
        assert_eq!(
            bit_ranges(&names),
            ["w_addr[31]", "w_addr[13:10]", "busy", "d[0]"]
        );
    }

    #[test]
    fn figures_holes_and_merge() {
        let c = Coverage::parse(DAT).unwrap();
        let s = c.summary();
        let a = s.modules.iter().find(|m| m.module == "a").unwrap();
        assert_eq!(
            (a.line.hit, a.line.points, a.toggle.hit, a.toggle.points),
            (1, 1, 0, 1)
        );
        // The cover module's own lines are not the design's.
        let cov = s.modules.iter().find(|m| m.module == COVER_MODULE).unwrap();
        assert_eq!((cov.line.points, cov.user.points, cov.user.hit), (0, 1, 0));
        assert_eq!(s.holes.len(), 2);
        let mut twice = c.clone();
        let other = Coverage::parse(&DAT.replace("' 0\n", "' 2\n")).unwrap();
        twice.merge(other);
        let s2 = twice.summary();
        assert!(s2.holes.is_empty(), "{:?}", s2.holes);
        assert!(twice
            .to_text()
            .contains("v_line/a\u{1}o\u{2}block\u{1}h\u{2}TOP.a' 8\n"));
        // Text round trip.
        assert_eq!(Coverage::parse(&twice.to_text()).unwrap(), twice);
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(Coverage::parse("# c\nX\n").unwrap_err().0, 2);
        assert!(Coverage::parse("C '\u{1}page\u{2}v_line/a' x\n")
            .unwrap_err()
            .1
            .contains("`x`"));
        assert!(Coverage::parse("C '\u{1}l\u{2}3' 1\n")
            .unwrap_err()
            .1
            .contains("page"));
    }
}
