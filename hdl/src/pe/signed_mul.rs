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

/// A `W`-bit two's complement code (`W <= 64`) as an `i128`.
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
        // Operands of up to 64 bits each: the product fits an i128.
        let product = signed_value(self.a.val()) * signed_value(self.b.val());
        let mask = if P >= 128 {
            u128::MAX
        } else {
            (1u128 << P) - 1
        };
        self.p.next = ((product as u128) & mask).to_bits();
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
