//! Signed multiplier: `p = a * b`, exact, combinational.
//!
//! Ports: `a` is `A` bits, `b` is `B` bits, both two's complement; `p` is `P = A + B` bits, which
//! holds every product including `min * min`. rust-hdl's `*` exists only for 16x16 operands, so
//! this leaf carries its own Verilog: both operands sign-extended to `P` bits and multiplied, which
//! Yosys and Vivado map onto DSP blocks where the target has them.

use rust_hdl_core::prelude::*;

/// A signed `A` x `B` multiplier.
#[derive(LogicBlock, Default)]
pub struct SignedMul<const A: usize, const B: usize, const P: usize> {
    /// Multiplicand.
    pub a: Signal<In, Bits<A>>,
    /// Multiplier.
    pub b: Signal<In, Bits<B>>,
    /// Product.
    pub p: Signal<Out, Bits<P>>,
}

/// A `W`-bit two's complement code as an `i128`.
fn signed_value<const W: usize>(v: Bits<W>) -> i128 {
    let raw = v.to_u64() as i128;
    if raw >> (W - 1) & 1 == 1 {
        raw - (1i128 << W)
    } else {
        raw
    }
}

impl<const A: usize, const B: usize, const P: usize> Logic for SignedMul<A, B, P> {
    fn update(&mut self) {
        let product = signed_value(self.a.val()) * signed_value(self.b.val());
        let mask = if P == 64 { u64::MAX } else { (1u64 << P) - 1 };
        self.p.next = bits::<P>(product as u64 & mask);
    }
    fn connect(&mut self) {
        self.p.connect();
    }
    fn hdl(&self) -> Verilog {
        assert_eq!(P, A + B, "product width = A + B");
        Verilog::Custom(format!(
            "always @(*) p = $signed({{{{{ea}{{a[{ta}]}}}}, a}}) * $signed({{{{{eb}{{b[{tb}]}}}}, b}});",
            ea = P - A,
            ta = A - 1,
            eb = P - B,
            tb = B - 1,
        ))
    }
}
