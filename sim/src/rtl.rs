//! The contract of a folder of generated RTL, shared by the generator (`shiftadd-hdl`, which
//! writes it) and the co-simulation (`shiftadd-tb`, which reads any folder of Verilog with its
//! `config.json` and `manifest.json`): array kinds and their widths derived from an
//! [`AccelConfig`], the engine's widths, module names, latencies, ports, the manifest schema and
//! file hashing.
//!
//! rust-hdl fixes widths in types, so the generator compiles one instantiation per width set.
//! The sets it compiles are the presets' ([`compiled_array_widths`], [`compiled_engine_widths`];
//! the generator's build script expands them), so a new preset is one function in
//! [`crate::spec::presets`]. A config with other widths is refused with the list of what is
//! supported.

use crate::spec::{presets, AccelConfig, PeKinds};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// The kinds of PE array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrayKind {
    /// Shift PEs.
    Shift,
    /// Adder PEs.
    Adder,
    /// Multiply PEs.
    Mac,
    /// Dual-mode PEs: shift or adder per cycle.
    Dual,
}

impl ArrayKind {
    /// Every kind.
    pub const ALL: [ArrayKind; 4] = [
        ArrayKind::Shift,
        ArrayKind::Adder,
        ArrayKind::Mac,
        ArrayKind::Dual,
    ];
    /// The kind named `name` (as [`ArrayKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<ArrayKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
    /// Module and file name stem.
    pub fn name(&self) -> &'static str {
        match self {
            ArrayKind::Shift => "shift",
            ArrayKind::Adder => "adder",
            ArrayKind::Mac => "mac",
            ArrayKind::Dual => "dual",
        }
    }
    /// Whether terms are two's complement (adder terms are magnitudes).
    pub fn signed_terms(&self) -> bool {
        *self != ArrayKind::Adder
    }
    /// Whether the array has a `mode` input (0 shift, 1 adder per cycle).
    pub fn has_mode(&self) -> bool {
        *self == ArrayKind::Dual
    }
    /// Top module name of the array.
    pub fn array_module(&self) -> String {
        format!("{}_array", self.name())
    }
    /// Module name of the array's PE (the emitter names it after the array's `pe` field).
    pub fn pe_module(&self) -> String {
        format!("{}_pe", self.name())
    }
}

/// Array kinds a config asks for.
pub fn array_kinds(cfg: &AccelConfig) -> Vec<ArrayKind> {
    match cfg.pe_kinds {
        PeKinds::ShiftAdd => vec![ArrayKind::Shift, ArrayKind::Adder],
        PeKinds::ShiftAddDual => vec![ArrayKind::Dual],
        PeKinds::Mult => vec![ArrayKind::Mac],
        PeKinds::All => vec![ArrayKind::Shift, ArrayKind::Adder, ArrayKind::Mac],
    }
}

/// Cycles from a PE's inputs to its registered term.
pub const PE_LATENCY: u32 = 1;
/// Cycles from presenting `x`, `w`, `en` and `clear` to an array to its accumulator holding
/// them: the PEs' registered terms, then the row accumulators.
pub const ARRAY_LATENCY: u32 = PE_LATENCY + 1;
/// Top module of the engine.
pub const ENGINE_MODULE: &str = "engine";
/// Top module of the engine behind AXI ports.
pub const AXI_MODULE: &str = "shiftadd_axi";

/// Top module of the engine behind the serial bridge (`shiftadd_sim::uart`).
pub const UART_MODULE: &str = "shiftadd_uart";

/// Module of the serial bridge.
pub const BRIDGE_MODULE: &str = "uart_bridge";

/// Widths of one array kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ArrayWidths {
    /// Operand per column.
    pub xw: usize,
    /// Weight per PE.
    pub ww: usize,
    /// PE term.
    pub t: usize,
    /// Tree nodes.
    pub ts: usize,
    /// Row accumulators.
    pub acc: usize,
}

impl fmt::Display for ArrayWidths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "x {} / w {} / term {} / tree {} / acc {}",
            self.xw, self.ww, self.t, self.ts, self.acc
        )
    }
}

/// Columns the tree is sized for: the largest `cols` a config may have, so that one
/// instantiation serves every array size.
pub const MAX_COLS_LOG2: usize = 6;

/// The widths of `kind` for `cfg` (whether or not the generator compiles them).
pub fn array_widths(cfg: &AccelConfig, kind: ArrayKind) -> ArrayWidths {
    let f = &cfg.formats;
    let acc = cfg.acc_widths();
    let (xw, ww, t, acc) = match kind {
        ArrayKind::Shift => (f.act_bits, f.shift_wb, f.act_bits + f.pmax() + 1, acc.shift),
        ArrayKind::Adder => (f.add_bits, f.add_bits, f.add_bits, acc.adder),
        ArrayKind::Mac => (f.act_bits, f.mul_bits, f.act_bits + f.mul_bits, acc.mult),
        // Operands of both layers on one port as wide as the wider code, weights as wide as the
        // port; a term holds a shifted activation (`act_bits + pmax + 1` bits) and an adder
        // magnitude (below 2^port) alike.
        ArrayKind::Dual => {
            let port = f.act_bits.max(f.add_bits).max(f.shift_wb);
            let t = (f.act_bits + f.pmax() + 1).max(port + 1);
            (port, port, t, acc.shift.max(acc.adder))
        }
    };
    let t = t as usize;
    // Sums of up to 2^MAX_COLS_LOG2 terms; magnitudes need one more bit to stay positive when read
    // as two's complement.
    let sign = usize::from(!kind.signed_terms());
    let ts = (t + MAX_COLS_LOG2 + sign).min(acc as usize);
    ArrayWidths {
        xw: xw as usize,
        ww: ww as usize,
        t,
        ts,
        acc: acc as usize,
    }
}

/// Tree width a `cols`-column array of `kind` needs.
pub fn tree_bits_needed(w: &ArrayWidths, kind: ArrayKind, cols: usize) -> usize {
    w.t + cols.next_power_of_two().trailing_zeros() as usize + usize::from(!kind.signed_terms())
}

/// The array width sets the generator compiles: every kind at every preset's formats, in a
/// stable order, each once.
pub fn compiled_array_widths() -> Vec<(ArrayKind, ArrayWidths)> {
    let mut v: Vec<(ArrayKind, ArrayWidths)> = Vec::new();
    for kind in ArrayKind::ALL {
        for p in presets::all() {
            let s = (kind, array_widths(&p, kind));
            if !v.contains(&s) {
                v.push(s);
            }
        }
    }
    v
}

/// Every width of an engine: its array's kind and widths, the address bits of an activation
/// bank, a weight lane, a parameter lane and `BUF_LANE`, the `M_c` and `B_c` bits, and the post
/// unit's product, sum and output word widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EngineWidths {
    /// The array's kind: dual-mode, or multiply.
    pub kind: ArrayKind,
    /// The array's widths.
    pub array: ArrayWidths,
    /// Activation bank address bits.
    pub ab: usize,
    /// Weight lane address bits.
    pub wb: usize,
    /// `BUF_LANE` bits.
    pub lb: usize,
    /// `M_c` bits.
    pub mb: usize,
    /// `B_c` bits.
    pub bb: usize,
    /// Product `acc + mb`.
    pub p: usize,
    /// Sum `p + 1`.
    pub z: usize,
    /// Output word bits, `min(z, 64)`: the access port reads 64-bit words.
    pub ow: usize,
    /// Parameter lane address bits.
    pub pb: usize,
}

/// Address bits of a memory of `words` words (at least 1).
pub fn address_bits(words: u32) -> usize {
    words.max(2).next_power_of_two().trailing_zeros() as usize
}

/// Why the RTL of a config cannot be generated.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RtlError {
    /// The config's widths are not compiled into the generator.
    #[error(
        "config `{config}`: the {kind} needs widths ({widths}), which are not compiled into the generator; supported: {supported}. Use the formats, max_taps, post widths and buffer depths of one of the presets ({presets})"
    )]
    UnsupportedWidths {
        /// Config name.
        config: String,
        /// What needs them (`shift array`, `engine`, ...).
        kind: String,
        /// Requested widths.
        widths: String,
        /// Supported width sets.
        supported: String,
        /// Preset names.
        presets: String,
    },
    /// The config has no engine.
    #[error("config `{config}`: {why}")]
    NoEngine {
        /// Config name.
        config: String,
        /// Why.
        why: String,
    },
}

/// The widths of `kind` for `cfg`, checked against [`compiled_array_widths`] and the config's
/// column count.
pub fn checked_widths(cfg: &AccelConfig, kind: ArrayKind) -> Result<ArrayWidths, RtlError> {
    let w = array_widths(cfg, kind);
    let compiled = compiled_array_widths();
    if compiled.contains(&(kind, w)) && w.ts >= tree_bits_needed(&w, kind, cfg.cols as usize) {
        return Ok(w);
    }
    let supported = compiled
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, s)| format!("({s})"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(RtlError::UnsupportedWidths {
        config: cfg.name.clone(),
        kind: format!("{} array", kind.name()),
        widths: w.to_string(),
        supported,
        presets: presets::names().join(", "),
    })
}

/// The array kind of `cfg`'s engine, or why it has none: the engine is built around one array,
/// of dual-mode PEs or of multiply PEs, with `rows = cols` (an output channel's bank is its bank
/// as the next layer's input).
pub fn engine_kind(cfg: &AccelConfig) -> Result<ArrayKind, RtlError> {
    let no = |why: String| RtlError::NoEngine {
        config: cfg.name.clone(),
        why,
    };
    let kind = match cfg.pe_kinds {
        PeKinds::ShiftAddDual => ArrayKind::Dual,
        PeKinds::Mult => ArrayKind::Mac,
        other => {
            return Err(no(format!(
                "pe_kinds = {}: the engine is built around one array, of dual-mode PEs \
                 (shift-add-dual) or multiply PEs (mult)",
                other.name()
            )))
        }
    };
    if cfg.rows != cfg.cols {
        return Err(no(format!(
            "the engine needs rows = cols ({} x {})",
            cfg.rows, cfg.cols
        )));
    }
    Ok(kind)
}

/// The engine widths `cfg` asks for (whether or not the generator compiles them).
pub fn engine_widths(cfg: &AccelConfig) -> Result<EngineWidths, RtlError> {
    let kind = engine_kind(cfg)?;
    let array = array_widths(cfg, kind);
    let (mb, bb) = (cfg.post_m_bits as usize, cfg.post_b_bits as usize);
    let p = array.acc + mb;
    Ok(EngineWidths {
        kind,
        array,
        ab: address_bits(cfg.act_bank_depth()),
        wb: address_bits(cfg.weight_depth()),
        lb: address_bits(cfg.lanes()),
        mb,
        bb,
        p,
        z: p + 1,
        ow: (p + 1).min(64),
        pb: address_bits(cfg.post_depth()),
    })
}

/// The engine width sets the generator compiles: every preset's engine, each once.
pub fn compiled_engine_widths() -> Vec<EngineWidths> {
    let mut v = Vec::new();
    for p in presets::all() {
        if let Ok(w) = engine_widths(&p) {
            if !v.contains(&w) {
                v.push(w);
            }
        }
    }
    v
}

/// The engine widths of `cfg`, checked against [`compiled_engine_widths`]: `Ok` when the
/// generator can emit its engine.
pub fn checked_engine(cfg: &AccelConfig) -> Result<EngineWidths, RtlError> {
    let w = engine_widths(cfg)?;
    if compiled_engine_widths().contains(&w) {
        return Ok(w);
    }
    Err(RtlError::UnsupportedWidths {
        config: cfg.name.clone(),
        kind: "engine".into(),
        widths: format!(
            "{} array {}, bank address {}, weight address {}, lane {}, M {}, B {}, parameter address {}",
            w.kind.name(),
            w.array,
            w.ab,
            w.wb,
            w.lb,
            w.mb,
            w.bb,
            w.pb
        ),
        supported: "the presets' engines".into(),
        presets: presets::names().join(", "),
    })
}

/// Direction of a top-level port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortDir {
    /// Input.
    Input,
    /// Output.
    Output,
}

/// A port of a top module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Name.
    pub name: String,
    /// Direction.
    pub dir: PortDir,
    /// Width in bits.
    pub width: usize,
}

/// One generated array in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayInfo {
    /// `shift`, `adder`, `mac` or `dual`.
    pub kind: String,
    /// Top module name.
    pub module: String,
    /// Name of the PE module the array instantiates.
    pub pe_module: String,
    /// Output channels.
    pub rows: usize,
    /// Input channels.
    pub cols: usize,
    /// Operand width.
    pub x_bits: usize,
    /// Weight width.
    pub w_bits: usize,
    /// PE term width.
    pub term_bits: usize,
    /// Tree node width.
    pub tree_bits: usize,
    /// Accumulator width.
    pub acc_bits: usize,
    /// Cycles from inputs to accumulator.
    pub latency: u32,
    /// Ports in declaration order.
    pub ports: Vec<Port>,
}

/// The engine in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineInfo {
    /// Top module.
    pub module: String,
    /// Its array's kind: `dual` or `mac`.
    pub array: String,
    /// Rows of its array.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Output word bits.
    pub out_bits: usize,
    /// Ports in declaration order (the register bus and the clock).
    pub ports: Vec<Port>,
}

/// A top module wrapping the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopInfo {
    /// Top module.
    pub module: String,
    /// Ports in declaration order.
    pub ports: Vec<Port>,
}

/// A file of the folder and its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub bytes: usize,
    /// SHA-256 of the contents.
    pub sha256: String,
}

/// The value of [`Manifest::format`].
pub const MANIFEST_FORMAT: &str = "shiftadd-rtl";

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Generator name and version.
    pub generator: String,
    /// rust-hdl release.
    pub rust_hdl: String,
    /// Config name.
    pub config: String,
    /// SHA-256 of `config.json`.
    pub config_sha256: String,
    /// The arrays.
    pub arrays: Vec<ArrayInfo>,
    /// The engine around the array, when the config has one (`regmap.md`, `regmap.h` and
    /// `regmap.rdl` are its register map).
    #[serde(default)]
    pub engine: Option<EngineInfo>,
    /// The engine behind AXI4-Lite and AXI4-Stream ports (`shiftadd_axi`), with the engine.
    #[serde(default)]
    pub axi: Option<TopInfo>,
    /// The engine behind the serial bridge (`shiftadd_uart`), with the engine.
    #[serde(default)]
    pub uart: Option<TopInfo>,
    /// Every other file of the folder.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// A manifest from its JSON text (duplicate keys refused), of [`MANIFEST_FORMAT`].
    pub fn from_json(text: &str) -> Result<Manifest, String> {
        let value = crate::files::parse_json_strict(text)?;
        let m: Manifest = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if m.format != MANIFEST_FORMAT {
            return Err(format!(
                "field `format`: `{}`, expected `{MANIFEST_FORMAT}`",
                m.format
            ));
        }
        Ok(m)
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The config as written to `config.json`.
pub fn config_json(cfg: &AccelConfig) -> String {
    let mut s = serde_json::to_string_pretty(cfg).expect("a config serialises");
    s.push('\n');
    s
}

/// The command that regenerates a preset's committed folder.
pub fn regenerate_command(preset: &str) -> String {
    format!("cargo run --release -p shiftadd -- gen --preset {preset} --out rtl-out/{preset}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_accumulators_match_seed_notes() {
        // seed-notes.md §2.4: 576 taps of Q16.16 shifted by up to 14 need 56 bits plus sign
        // headroom; with max_taps = 2048 (11 bits of growth) the shift accumulator is 58 bits.
        let w = array_widths(&presets::seed(), ArrayKind::Shift);
        assert_eq!(w.acc, 32 + 14 + 11 + 1);
        assert_eq!(w.xw, 32);
    }

    #[test]
    fn every_preset_has_its_widths_compiled() {
        for p in presets::all() {
            for kind in array_kinds(&p) {
                checked_widths(&p, kind).unwrap();
            }
            if engine_kind(&p).is_ok() {
                checked_engine(&p).unwrap();
            }
        }
        let mut odd = presets::lean8();
        odd.formats.act_bits = 9;
        let e = checked_widths(&odd, ArrayKind::Shift)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not compiled") && e.contains("lean8"), "{e}");
        odd = presets::lean8();
        odd.act_buf_words *= 2;
        let e = checked_engine(&odd).unwrap_err().to_string();
        assert!(e.contains("engine") && e.contains("bank address 12"), "{e}");
    }
}
