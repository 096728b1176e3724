//! Adder PE: `term = |x - w|`, exact, registered (latency 1 cycle).
//!
//! Ports: `x` and `w` are `D`-bit codes on the adder grid; `term` is `T = D` bits unsigned
//! (`|x - w| <= 2^D - 1`). The difference wraps in `D` bits; its true sign comes from the operand
//! signs, so negating the wrapped difference gives the exact magnitude. The row negates the sum
//! once (`y = -A`), not every PE.

use super::{sign_bit, Pe};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// One adder processing element (`D = WW = T`).
#[derive(LogicBlock)]
pub struct AdderPe<const D: usize, const WW: usize, const T: usize, const TS: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Operand code.
    pub x: Signal<In, Bits<D>>,
    /// Weight code.
    pub w: Signal<In, Bits<WW>>,
    /// `|x - w|`, one cycle after `x` and `w`.
    pub term: Signal<Out, Bits<TS>>,
    /// Sign bit of a code.
    code_sign: Constant<Bits<D>>,
    /// `x - w` modulo `2^D`.
    diff: Signal<Local, Bits<D>>,
    /// `x < w`: with equal operand signs the wrapped difference's sign, else the sign of `x`.
    x_below_w: Signal<Local, Bit>,
    /// `|x - w|` in `D` bits. Its own signal because Verilog evaluates `0 - diff` inside a cast
    /// at the width of rust-hdl's 32-bit literal, not at `D` bits; the assignment truncates.
    magnitude: Signal<Local, Bits<D>>,
    /// The registered term.
    term_reg: DFF<Bits<T>>,
}

impl<const D: usize, const WW: usize, const T: usize, const TS: usize> Pe
    for AdderPe<D, WW, T, TS>
{
    fn with_pmax(_pmax: u32) -> Self {
        assert!(
            D == WW && D == T,
            "adder PE widths: operand = weight = term"
        );
        Self {
            clock: Default::default(),
            x: Default::default(),
            w: Default::default(),
            term: Default::default(),
            code_sign: Constant::new(sign_bit::<D>()),
            diff: Default::default(),
            x_below_w: Default::default(),
            magnitude: Default::default(),
            term_reg: Default::default(),
        }
    }
}

impl<const D: usize, const WW: usize, const T: usize, const TS: usize> Logic
    for AdderPe<D, WW, T, TS>
{
    #[hdl_gen]
    fn update(&mut self) {
        self.term_reg.clock.next = self.clock.val();
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
        self.term_reg.d.next = bit_cast::<T, D>(self.magnitude.val());
        self.term.next = bit_cast::<TS, T>(self.term_reg.q.val());
    }
}
