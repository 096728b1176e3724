//! Dual-mode PE: per cycle either the shift PE (`mode = 0`: `s * (x << (pmax - m))`, the shift
//! weight code in the low `shift_wb` bits of `w`) or the adder PE (`mode = 1`: `|x - w|`, `x` and
//! `w` adder codes), exact, registered (latency 1 cycle).
//!
//! Ports: `x` is `D` bits (activation and adder codes share it), `w` is `D` bits, `term` is `TS`
//! bits: the `T`-bit term sign-extended, `T > D` (a magnitude below `2^D` is a positive term; a
//! shift-mode `x` is an activation code of at most `T - pmax - 1` bits).

use super::{extension_mask, sign_bit, Pe};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// One dual-mode processing element.
#[derive(LogicBlock)]
pub struct DualPe<const D: usize, const WW: usize, const T: usize, const TS: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// 0: shift, 1: adder.
    pub mode: Signal<In, Bit>,
    /// Activation or adder code.
    pub x: Signal<In, Bits<D>>,
    /// Shift weight code (low bits) or adder weight code.
    pub w: Signal<In, Bits<WW>>,
    /// The term, one cycle after `x` and `w`.
    pub term: Signal<Out, Bits<TS>>,
    /// Sign bit of a code.
    code_sign: Constant<Bits<D>>,
    /// Bits of a term above a code.
    code_ext: Constant<Bits<T>>,
    /// Sign bit of a shift weight code.
    w_neg: Constant<Bits<WW>>,
    /// The `m` field of a shift weight code.
    m_field: Constant<Bits<WW>>,
    /// `m` of the zero weight.
    m_zero: Constant<Bits<WW>>,
    /// Largest exponent magnitude.
    pmax: Constant<Bits<WW>>,
    /// Sign bit of a term.
    term_sign: Constant<Bits<T>>,
    /// Bits of the output above the term.
    term_ext: Constant<Bits<TS>>,
    /// `x` sign-extended to `T` bits.
    x_wide: Signal<Local, Bits<T>>,
    /// Exponent magnitude.
    m: Signal<Local, Bits<WW>>,
    /// `x << (pmax - m)`.
    shifted: Signal<Local, Bits<T>>,
    /// `x - w` modulo `2^D`.
    diff: Signal<Local, Bits<D>>,
    /// `x < w`.
    x_below_w: Signal<Local, Bit>,
    /// `|x - w|` in `D` bits. Its own signal because Verilog evaluates `0 - diff` inside a cast
    /// at the width of rust-hdl's 32-bit literal, not at `D` bits; the assignment truncates.
    magnitude: Signal<Local, Bits<D>>,
    /// The registered term.
    term_reg: DFF<Bits<T>>,
}

impl<const D: usize, const WW: usize, const T: usize, const TS: usize> Pe for DualPe<D, WW, T, TS> {
    fn with_pmax(pmax: u32) -> Self {
        let wb = (pmax + 2).trailing_zeros() as usize + 1;
        assert!((pmax as usize) + 2 == 1 << (wb - 1), "pmax = 2^(wb-1) - 2");
        assert!(D == WW && wb <= WW, "weights as wide as adder codes");
        assert!(
            T > D && T > pmax as usize + 1,
            "term wider than a code and the shift range"
        );
        Self {
            clock: Default::default(),
            mode: Default::default(),
            x: Default::default(),
            w: Default::default(),
            term: Default::default(),
            code_sign: Constant::new(sign_bit::<D>()),
            code_ext: Constant::new(extension_mask::<D, T>()),
            w_neg: Constant::new(bits::<WW>(1 << (wb - 1))),
            m_field: Constant::new(bits::<WW>((1 << (wb - 1)) - 1)),
            m_zero: Constant::new(bits::<WW>(u64::from(pmax) + 1)),
            pmax: Constant::new(bits::<WW>(u64::from(pmax))),
            term_sign: Constant::new(sign_bit::<T>()),
            term_ext: Constant::new(extension_mask::<T, TS>()),
            x_wide: Default::default(),
            m: Default::default(),
            shifted: Default::default(),
            diff: Default::default(),
            x_below_w: Default::default(),
            magnitude: Default::default(),
            term_reg: Default::default(),
        }
    }
}

impl<const D: usize, const WW: usize, const T: usize, const TS: usize> Logic
    for DualPe<D, WW, T, TS>
{
    #[hdl_gen]
    fn update(&mut self) {
        self.term_reg.clock.next = self.clock.val();
        // Shift path.
        self.x_wide.next = bit_cast::<T, D>(self.x.val());
        if (self.x.val() & self.code_sign.val()).any() {
            self.x_wide.next = bit_cast::<T, D>(self.x.val()) | self.code_ext.val();
        }
        self.m.next = self.w.val() & self.m_field.val();
        self.shifted.next = self.x_wide.val() << (self.pmax.val() - self.m.val());
        // Adder path: the wrapped difference and the true sign from the operand signs.
        self.diff.next = self.x.val() - bit_cast::<D, WW>(self.w.val());
        self.x_below_w.next = (self.diff.val() & self.code_sign.val()).any();
        if (self.x.val() & self.code_sign.val()).any()
            != (bit_cast::<D, WW>(self.w.val()) & self.code_sign.val()).any()
        {
            self.x_below_w.next = (self.x.val() & self.code_sign.val()).any();
        }
        self.magnitude.next = self.diff.val();
        if self.x_below_w.val() {
            self.magnitude.next = bits::<D>(0) - self.diff.val();
        }
        if self.mode.val() {
            self.term_reg.d.next = bit_cast::<T, D>(self.magnitude.val());
        } else {
            self.term_reg.d.next = self.shifted.val();
            if (self.w.val() & self.w_neg.val()).any() {
                self.term_reg.d.next = bits::<T>(0) - self.shifted.val();
            }
            if self.m.val() == self.m_zero.val() {
                self.term_reg.d.next = bits::<T>(0);
            }
        }
        self.term.next = bit_cast::<TS, T>(self.term_reg.q.val());
        if (self.term_reg.q.val() & self.term_sign.val()).any() {
            self.term.next = bit_cast::<TS, T>(self.term_reg.q.val()) | self.term_ext.val();
        }
    }
}
