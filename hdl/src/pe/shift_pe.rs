//! Shift PE: `term = s * (x << (pmax - m))`, exact, registered (latency 1 cycle).
//!
//! Ports: `x` is an `A`-bit activation code; `w` is a `WB`-bit shift weight code (bit `WB-1` set
//! for `s = -1`, the low `WB-1` bits hold `m`, and `m = pmax + 1` (all ones) is the zero weight,
//! see `shiftadd_sim::numerics::encode_shift_weight`); `term` is `T = A + pmax + 1` bits, enough
//! for `-(min_code << pmax)`. No rounding, no saturation.

use super::{extension_mask, sign_bit, Pe};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// One shift processing element.
#[derive(LogicBlock)]
pub struct ShiftPe<const A: usize, const WB: usize, const T: usize, const TS: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Activation code.
    pub x: Signal<In, Bits<A>>,
    /// Shift weight code.
    pub w: Signal<In, Bits<WB>>,
    /// `s * (x << (pmax - m))`, one cycle after `x` and `w`.
    pub term: Signal<Out, Bits<TS>>,
    /// Sign bit of `x`.
    x_sign: Constant<Bits<A>>,
    /// Bits of `term` above `x`, set to sign-extend.
    x_ext: Constant<Bits<T>>,
    /// Sign bit of `w`.
    w_neg: Constant<Bits<WB>>,
    /// The `m` field of `w`.
    m_field: Constant<Bits<WB>>,
    /// `m` of the zero weight.
    m_zero: Constant<Bits<WB>>,
    /// Largest exponent magnitude.
    pmax: Constant<Bits<WB>>,
    /// `x` sign-extended to `T` bits.
    x_wide: Signal<Local, Bits<T>>,
    /// Exponent magnitude.
    m: Signal<Local, Bits<WB>>,
    /// `x << (pmax - m)`, `T` bits.
    shifted: Signal<Local, Bits<T>>,
    /// Sign bit of the term.
    term_sign: Constant<Bits<T>>,
    /// Bits of the output above the term, set to sign-extend.
    term_ext: Constant<Bits<TS>>,
    /// The registered term.
    term_reg: DFF<Bits<T>>,
}

impl<const A: usize, const WB: usize, const T: usize, const TS: usize> Pe
    for ShiftPe<A, WB, T, TS>
{
    fn with_pmax(pmax: u32) -> Self {
        assert!(
            (pmax as usize) + 2 == 1 << (WB - 1),
            "pmax = 2^(WB-1) - 2 (numerics.md)"
        );
        assert_eq!(T, A + pmax as usize + 1, "term width = A + pmax + 1");
        Self {
            clock: Default::default(),
            x: Default::default(),
            w: Default::default(),
            term: Default::default(),
            x_sign: Constant::new(sign_bit::<A>()),
            x_ext: Constant::new(extension_mask::<A, T>()),
            w_neg: Constant::new(sign_bit::<WB>()),
            m_field: Constant::new(bits::<WB>((1u64 << (WB - 1)) - 1)),
            m_zero: Constant::new(bits::<WB>(pmax as u64 + 1)),
            pmax: Constant::new(bits::<WB>(pmax as u64)),
            x_wide: Default::default(),
            m: Default::default(),
            shifted: Default::default(),
            term_sign: Constant::new(sign_bit::<T>()),
            term_ext: Constant::new(extension_mask::<T, TS>()),
            term_reg: Default::default(),
        }
    }
}

impl<const A: usize, const WB: usize, const T: usize, const TS: usize> Logic
    for ShiftPe<A, WB, T, TS>
{
    #[hdl_gen]
    fn update(&mut self) {
        self.term_reg.clock.next = self.clock.val();
        self.x_wide.next = bit_cast::<T, A>(self.x.val());
        if (self.x.val() & self.x_sign.val()).any() {
            self.x_wide.next = bit_cast::<T, A>(self.x.val()) | self.x_ext.val();
        }
        self.m.next = self.w.val() & self.m_field.val();
        // pmax - m >= 0 for every non-zero weight; the zero weight is overridden below.
        self.shifted.next = self.x_wide.val() << (self.pmax.val() - self.m.val());
        self.term_reg.d.next = self.shifted.val();
        if (self.w.val() & self.w_neg.val()).any() {
            self.term_reg.d.next = bits::<T>(0) - self.shifted.val();
        }
        if self.m.val() == self.m_zero.val() {
            self.term_reg.d.next = bits::<T>(0);
        }
        self.term.next = bit_cast::<TS, T>(self.term_reg.q.val());
        if (self.term_reg.q.val() & self.term_sign.val()).any() {
            self.term.next = bit_cast::<TS, T>(self.term_reg.q.val()) | self.term_ext.val();
        }
    }
}
