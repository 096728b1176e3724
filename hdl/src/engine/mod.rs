//! The engine around a PE array: the sequencer that walks a layer's loops ([`Sequencer`]), the
//! post-processing ([`PostUnit`]) and pooling ([`PoolUnit`]) units, and the core with its buffers
//! and register map ([`EngineCore`] on a dual-mode array, [`MultEngineCore`] on a multiply array
//! for the multiply baseline). Their contract is in `shiftadd_sim::engine` and
//! `shiftadd_sim::cycles`.

mod engine_core;
mod pool;
mod post;
mod sequencer;

pub use engine_core::{EngineCore, MultEngineCore};
pub use pool::PoolUnit;
pub use post::PostUnit;
pub use sequencer::Sequencer;

use crate::emit::{emit_block, EmitError, EmittedDesign};
use crate::widths::{array_widths, ArrayKind};
use shiftadd_sim::spec::{AccelConfig, PeKinds};

/// Every width of an engine: its array's kind and `(xw, ww, t, ts, acc)`, then address bits of an
/// activation bank, a weight lane and a parameter lane, `BUF_LANE` bits, `M` and `B` bits, the
/// post unit's product, sum and output widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineWidths {
    /// The array's kind: dual-mode, or multiply.
    pub kind: ArrayKind,
    /// The array's widths.
    pub array: [usize; 5],
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
    /// Output word bits, `min(z, 64)`.
    pub ow: usize,
    /// Parameter lane address bits.
    pub pb: usize,
}

fn address_bits(words: u32) -> usize {
    words.max(2).next_power_of_two().trailing_zeros() as usize
}

/// The array kind of `cfg`'s engine, or why it has none.
pub fn engine_kind(cfg: &AccelConfig) -> Result<ArrayKind, String> {
    let kind = match cfg.pe_kinds {
        PeKinds::ShiftAddDual => ArrayKind::Dual,
        PeKinds::Mult => ArrayKind::Mac,
        other => {
            return Err(format!(
                "config `{}`: pe_kinds = {}: the engine is built around one array, of dual-mode \
                 PEs (shift-add-dual) or multiply PEs (mult)",
                cfg.name,
                other.name()
            ))
        }
    };
    if cfg.rows != cfg.cols {
        return Err(format!(
            "config `{}`: the engine needs rows = cols ({} x {})",
            cfg.name, cfg.rows, cfg.cols
        ));
    }
    Ok(kind)
}

/// The engine widths `cfg` asks for, or why it has no engine.
pub fn engine_widths(cfg: &AccelConfig) -> Result<EngineWidths, String> {
    let kind = engine_kind(cfg)?;
    let a = array_widths(cfg, kind);
    let (mb, bb) = (cfg.post_m_bits as usize, cfg.post_b_bits as usize);
    let p = a.acc + mb;
    Ok(EngineWidths {
        kind,
        array: [a.xw, a.ww, a.t, a.ts, a.acc],
        ab: address_bits(cfg.act_buf_words / cfg.cols),
        wb: address_bits(cfg.weight_buf_words / (cfg.rows * cfg.cols)),
        lb: address_bits(cfg.rows * cfg.cols),
        mb,
        bb,
        p,
        z: p + 1,
        ow: (p + 1).min(64),
        pb: address_bits(cfg.post_buf_words / cfg.rows),
    })
}

/// The engine width sets compiled in, one per preset: `(kind, core, xw, ww, t, ts, acc, ab, wb,
/// lb, mb, bb, p, z, ow, pb)`.
macro_rules! engine_sets {
    ($m:ident) => {
        $m! {
            (Dual, EngineCore, 32, 32, 47, 53, 58, 11, 8, 8, 32, 64, 90, 91, 64, 4),
            (Dual, EngineCore, 16, 16, 23, 29, 34, 11, 8, 8, 24, 40, 58, 59, 59, 4),
            (Dual, EngineCore, 8, 8, 11, 17, 21, 10, 8, 6, 16, 24, 37, 38, 38, 4),
            (Mac, MultEngineCore, 32, 8, 40, 46, 51, 11, 8, 8, 32, 64, 83, 84, 64, 4)
        }
    };
}

macro_rules! emit_arms {
    ($(($kind:ident, $core:ident, $xw:literal, $ww:literal, $t:literal, $ts:literal,
        $acc:literal, $ab:literal, $wb:literal, $lb:literal, $mb:literal, $bb:literal,
        $p:literal, $z:literal, $ow:literal, $pb:literal)),*) => {
        /// Emits the engine of `cfg` with top module `engine`; `None` when its widths are not
        /// compiled in.
        pub fn emit_engine(cfg: &AccelConfig) -> Option<Result<EmittedDesign, EmitError>> {
            let w = engine_widths(cfg).ok()?;
            $(
                if w == (EngineWidths {
                    kind: ArrayKind::$kind,
                    array: [$xw, $ww, $t, $ts, $acc],
                    ab: $ab, wb: $wb, lb: $lb, mb: $mb, bb: $bb, p: $p, z: $z, ow: $ow, pb: $pb,
                }) {
                    let mut e = $core::<$xw, $ww, $t, $ts, $acc, $ab, $wb, $lb, $mb, $bb, $p,
                        $z, $ow, $pb>::new(cfg);
                    return Some(emit_block(&mut e, "engine", "engine"));
                }
            )*
            None
        }
    };
}

engine_sets!(emit_arms);
