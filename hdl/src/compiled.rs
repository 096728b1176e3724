//! The width sets compiled into the generator, and dispatch from a config's run-time widths to
//! the blocks instantiated at them. The sets are the presets' (`shiftadd_sim::rtl`), expanded by
//! the build script; checking a config against them is `shiftadd_sim::rtl::checked_widths` and
//! `checked_engine`.

use shiftadd_sim::rtl::{ArrayKind, ArrayWidths, EngineWidths};

include!(concat!(env!("OUT_DIR"), "/width_sets.rs"));

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

array_sets!(dispatch_arms);

/// Something done with an engine of statically known widths.
pub trait EngineVisitor {
    /// Result.
    type Out;
    /// Called with the engine type of the requested widths.
    fn visit<E: EngineBlock>(self) -> Self::Out;
}

/// An engine block the generator can build for a config.
pub trait EngineBlock: rust_hdl_core::prelude::Block {
    /// The engine of `cfg`.
    fn build(cfg: &shiftadd_sim::spec::AccelConfig) -> Self;
}

macro_rules! engine_arms {
    ($(($kind:ident, $ty:ident, $xw:literal, $ww:literal, $t:literal, $ts:literal,
        $acc:literal, $ab:literal, $wb:literal, $lb:literal, $mb:literal, $bb:literal,
        $p:literal, $z:literal, $ow:literal, $pb:literal)),*) => {
        /// Runs `v` on the engine type of widths `w`; `None` when `w` is not compiled in.
        pub fn dispatch_engine<V: EngineVisitor>(w: &EngineWidths, v: V) -> Option<V::Out> {
            $(
                if w.kind == ArrayKind::$kind
                    && (w.array.xw, w.array.ww, w.array.t, w.array.ts, w.array.acc)
                        == ($xw, $ww, $t, $ts, $acc)
                    && (w.ab, w.wb, w.lb, w.mb, w.bb, w.p, w.z, w.ow, w.pb)
                        == ($ab, $wb, $lb, $mb, $bb, $p, $z, $ow, $pb)
                {
                    return Some(v.visit::<crate::engine::EngineCore<
                        crate::array::$ty<$xw, $ww, $t, $ts, $acc>,
                        $xw, $ww, $acc, $ab, $wb, $lb, $mb, $bb, $p, $z, $ow, $pb,
                    >>());
                }
            )*
            None
        }

        /// Runs `v` on the AXI top type of engine widths `w`; `None` when `w` is not compiled in.
        pub fn dispatch_axi<V: EngineVisitor>(w: &EngineWidths, v: V) -> Option<V::Out> {
            $(
                if w.kind == ArrayKind::$kind
                    && (w.array.xw, w.array.ww, w.array.t, w.array.ts, w.array.acc)
                        == ($xw, $ww, $t, $ts, $acc)
                    && (w.ab, w.wb, w.lb, w.mb, w.bb, w.p, w.z, w.ow, w.pb)
                        == ($ab, $wb, $lb, $mb, $bb, $p, $z, $ow, $pb)
                {
                    return Some(v.visit::<crate::axi::AxiTop<
                        crate::array::$ty<$xw, $ww, $t, $ts, $acc>,
                        $xw, $ww, $acc, $ab, $wb, $lb, $mb, $bb, $p, $z, $ow, $pb,
                    >>());
                }
            )*
            None
        }
    };
}

engine_sets!(engine_arms);

#[cfg(test)]
mod tests {
    use super::*;
    use shiftadd_sim::rtl::{compiled_array_widths, compiled_engine_widths};

    struct Nothing;
    impl ArrayVisitor for Nothing {
        type Out = ();
        fn visit<B: ArrayBlock>(self) {}
    }
    impl EngineVisitor for Nothing {
        type Out = ();
        fn visit<E: EngineBlock>(self) {}
    }

    #[test]
    fn every_contract_width_set_is_compiled() {
        for (kind, w) in compiled_array_widths() {
            assert!(dispatch(kind, w, Nothing).is_some(), "{kind:?} {w}");
        }
        for e in compiled_engine_widths() {
            assert!(dispatch_engine(&e, Nothing).is_some(), "{e:?}");
            assert!(dispatch_axi(&e, Nothing).is_some(), "{e:?}");
        }
    }
}
