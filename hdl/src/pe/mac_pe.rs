//! Multiply PE (the baseline): `term = x * w`, exact, registered (latency 1 cycle).
//!
//! Ports: `x` is an `A`-bit activation code, `w` a `W`-bit multiply weight code, `term` is
//! `T = A + W` bits.

use super::{extension_mask, sign_bit, Pe, SignedMul};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// One multiply processing element.
#[derive(LogicBlock)]
pub struct MacPe<const A: usize, const W: usize, const T: usize, const TS: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Activation code.
    pub x: Signal<In, Bits<A>>,
    /// Weight code.
    pub w: Signal<In, Bits<W>>,
    /// `x * w`, one cycle after `x` and `w`.
    pub term: Signal<Out, Bits<TS>>,
    /// The product.
    mul: SignedMul<A, W, T>,
    /// Sign bit of the term.
    term_sign: Constant<Bits<T>>,
    /// Bits of the output above the term, set to sign-extend.
    term_ext: Constant<Bits<TS>>,
    /// The registered term.
    term_reg: DFF<Bits<T>>,
}

impl<const A: usize, const W: usize, const T: usize, const TS: usize> Pe for MacPe<A, W, T, TS> {
    fn with_pmax(_pmax: u32) -> Self {
        assert_eq!(T, A + W, "term width = A + W");
        Self {
            clock: Default::default(),
            x: Default::default(),
            w: Default::default(),
            term: Default::default(),
            mul: Default::default(),
            term_sign: Constant::new(sign_bit::<T>()),
            term_ext: Constant::new(extension_mask::<T, TS>()),
            term_reg: Default::default(),
        }
    }
}

impl<const A: usize, const W: usize, const T: usize, const TS: usize> Logic for MacPe<A, W, T, TS> {
    #[hdl_gen]
    fn update(&mut self) {
        self.term_reg.clock.next = self.clock.val();
        self.mul.a.next = self.x.val();
        self.mul.b.next = self.w.val();
        self.term_reg.d.next = self.mul.p.val();
        self.term.next = bit_cast::<TS, T>(self.term_reg.q.val());
        if (self.term_reg.q.val() & self.term_sign.val()).any() {
            self.term.next = bit_cast::<TS, T>(self.term_reg.q.val()) | self.term_ext.val();
        }
    }
}
