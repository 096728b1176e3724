//! Port, tree and accumulator widths of each array kind, derived from an [`AccelConfig`].
//!
//! rust-hdl fixes widths in types (`Bits<N>`), so each width set the generator can emit is one
//! instantiation of the generic blocks, listed in [`SUPPORTED`]. Every preset's widths are in the
//! list (a test checks it); a config with other formats is refused with the list of what is
//! supported.

use shiftadd_sim::spec::{presets, AccelConfig};
use std::fmt;

/// The kinds of PE array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
}

/// Widths of one array kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// Columns the tree is sized for: the config's largest `cols`, so that one instantiation serves
/// every array size.
pub const MAX_COLS_LOG2: usize = 6;

/// The widths of `kind` for `cfg` (not checked against [`SUPPORTED`]).
pub fn array_widths(cfg: &AccelConfig, kind: ArrayKind) -> ArrayWidths {
    let f = &cfg.formats;
    let acc = cfg.acc_widths();
    let (xw, ww, t, acc) = match kind {
        ArrayKind::Shift => (f.act_bits, f.shift_wb, f.act_bits + f.pmax() + 1, acc.shift),
        ArrayKind::Adder => (f.add_bits, f.add_bits, f.add_bits, acc.adder),
        ArrayKind::Mac => (f.act_bits, f.mul_bits, f.act_bits + f.mul_bits, acc.mult),
        // Operands of both layers on one port, weights as wide as an adder code; an adder
        // magnitude (< 2^add_bits) is a positive shift-width term when act_bits = add_bits.
        ArrayKind::Dual => (
            f.act_bits.max(f.add_bits),
            f.add_bits.max(f.shift_wb),
            f.act_bits + f.pmax() + 1,
            acc.shift.max(acc.adder),
        ),
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

/// Tree width a `cols`-column array needs.
pub fn tree_bits_needed(w: &ArrayWidths, kind: ArrayKind, cols: usize) -> usize {
    w.t + cols.next_power_of_two().trailing_zeros() as usize + usize::from(!kind.signed_terms())
}

/// An array block the generator can build at run-time size.
pub trait ArrayBlock: rust_hdl_core::prelude::Block {
    /// A `rows` x `cols` array; `pmax` is the shift range (ignored by other kinds).
    fn build(rows: usize, cols: usize, pmax: u32) -> Self;
    /// Sets the inputs of one cycle for rust-hdl's simulator: control bits (`mode` only where
    /// the array has it), operands per column and weights per PE, as port bit patterns.
    fn set_inputs(&mut self, en: bool, clear: bool, mode: bool, x: &[u64], w: &[u64]);
    /// Sets the clock.
    fn set_clock(&mut self, high: bool);
    /// Row `r`'s accumulator output as a bit pattern.
    fn acc_bits(&self, r: usize) -> u64;
}

/// Something done with an array block of statically known widths.
pub trait ArrayVisitor {
    /// Result.
    type Out;
    /// Called with the array type of the requested kind and widths.
    fn visit<B: ArrayBlock>(self) -> Self::Out;
}

/// The width sets compiled in: `(kind, array type, xw, ww, t, ts, acc)`, one line per preset and
/// kind. Written once; both [`SUPPORTED`] and [`dispatch`] expand from it.
macro_rules! width_sets {
    ($then:ident) => {
        $then! {
            (Shift, ShiftArray, 32, 5, 47, 53, 58),
            (Adder, AdderArray, 32, 32, 32, 39, 44),
            (Mac, MacArray, 32, 8, 40, 46, 51),
            (Shift, ShiftArray, 16, 4, 23, 29, 34),
            (Adder, AdderArray, 16, 16, 16, 23, 28),
            (Mac, MacArray, 16, 8, 24, 30, 35),
            (Shift, ShiftArray, 8, 3, 11, 17, 21),
            (Adder, AdderArray, 8, 8, 8, 15, 19),
            (Mac, MacArray, 8, 8, 16, 22, 26),
            (Dual, DualArray, 32, 32, 47, 53, 58),
            (Dual, DualArray, 16, 16, 23, 29, 34),
            (Dual, DualArray, 8, 8, 11, 17, 21)
        }
    };
}

macro_rules! supported_list {
    ($(($kind:ident, $ty:ident, $xw:literal, $ww:literal, $t:literal, $ts:literal, $acc:literal)),*) => {
        &[$((ArrayKind::$kind, ArrayWidths { xw: $xw, ww: $ww, t: $t, ts: $ts, acc: $acc })),*]
    };
}

macro_rules! dispatch_arms {
    ($(($kind:ident, $ty:ident, $xw:literal, $ww:literal, $t:literal, $ts:literal, $acc:literal)),*) => {
        /// Runs `v` on the array type of `kind` at widths `w`; `None` when `w` is not compiled in.
        pub fn dispatch<V: ArrayVisitor>(kind: ArrayKind, w: ArrayWidths, v: V) -> Option<V::Out> {
            $(
                if kind == ArrayKind::$kind
                    && (w.xw, w.ww, w.t, w.ts, w.acc) == ($xw, $ww, $t, $ts, $acc)
                {
                    return Some(v.visit::<crate::array::$ty<$xw, $ww, $t, $ts, $acc>>());
                }
            )*
            None
        }
    };
}

/// Width sets compiled into the generator, per kind.
pub const SUPPORTED: &[(ArrayKind, ArrayWidths)] = width_sets!(supported_list);

width_sets!(dispatch_arms);

/// A config whose widths the generator cannot emit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "config `{config}`: the {kind} array needs widths ({widths}), which are not compiled into the generator; supported for {kind}: {supported}. Use the formats and max_taps of one of the presets ({presets})"
)]
pub struct UnsupportedWidths {
    /// Config name.
    pub config: String,
    /// Array kind.
    pub kind: &'static str,
    /// Requested widths.
    pub widths: ArrayWidths,
    /// Supported width sets of that kind.
    pub supported: String,
    /// Preset names.
    pub presets: String,
}

/// The widths of `kind` for `cfg`, checked against [`SUPPORTED`] and the config's column count.
pub fn checked_widths(
    cfg: &AccelConfig,
    kind: ArrayKind,
) -> Result<ArrayWidths, Box<UnsupportedWidths>> {
    let w = array_widths(cfg, kind);
    let f = &cfg.formats;
    let dual_ok = kind != ArrayKind::Dual || f.act_bits == f.add_bits;
    let compiled = dual_ok && SUPPORTED.iter().any(|(k, s)| *k == kind && *s == w);
    if compiled && w.ts >= tree_bits_needed(&w, kind, cfg.cols as usize) {
        return Ok(w);
    }
    let supported = SUPPORTED
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, s)| format!("({s})"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Box::new(UnsupportedWidths {
        config: cfg.name.clone(),
        kind: kind.name(),
        widths: w,
        supported,
        presets: presets::names().join(", "),
    }))
}
