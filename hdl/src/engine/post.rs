//! Post-processing unit, one per array row (numerics.md), latency 2 cycles:
//! - `mode` 0, post: `z = floor_shr(M * v + B, s)`, `+ r` when `residual`, `max(z, 0)` when
//!   `relu`, then `sat_act` (`act_bits`);
//! - `mode` 1, hand-off: `sat_add(rne_shr(v, s))` (`add_bits`);
//! - `mode` 2, round: `sat_act(floor_shr(v, s))`;
//! - `mode` 3, logits: `floor_shr(M * v + B, s)`, `max(z, 0)` when `relu`, kept wide (saturated
//!   only at the `OW`-bit output, which `sat` reports).
//!
//! `sat` is set with every output that was saturated. Ports: `v` the row sum (`ACC` bits), `m`
//! (`MB`), `b` (`BB`), `r` a residual activation code (`RW` bits), all two's complement; `out`
//! is `OW` bits, sign-extended. Internal widths: product `P = ACC + MB`, sum `Z = P + 1` (with
//! `BB < Z`). Stage 1 registers the product and the controls; stage 2 the result.

use crate::pe::{sign_bit, SignedMul};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// Shift amount width: the `SHIFT` register.
const SB: usize = shiftadd_sim::regmap::SHIFT_BITS;

/// Largest and smallest code of a `bits`-bit format as `Z`-bit patterns.
fn code_bounds<const Z: usize>(bits: u32) -> (Bits<Z>, Bits<Z>) {
    let max = (1u128 << (bits - 1)) - 1;
    let min = (1u128 << Z) - (1u128 << (bits - 1));
    (max.to_bits(), min.to_bits())
}

/// One row's post-processing unit.
#[derive(LogicBlock)]
pub struct PostUnit<
    const ACC: usize,
    const MB: usize,
    const BB: usize,
    const RW: usize,
    const P: usize,
    const Z: usize,
    const OW: usize,
> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: every register to 0 on the next edge.
    pub reset: Signal<In, Bit>,
    /// Row sum.
    pub v: Signal<In, Bits<ACC>>,
    /// `M_c`.
    pub m: Signal<In, Bits<MB>>,
    /// `B_c`.
    pub b: Signal<In, Bits<BB>>,
    /// `S`, or the hand-off / rounding shift.
    pub s: Signal<In, Bits<SB>>,
    /// 0 post, 1 hand-off, 2 round, 3 logits.
    pub mode: Signal<In, Bits<2>>,
    /// ReLU.
    pub relu: Signal<In, Bit>,
    /// Add `r`.
    pub residual: Signal<In, Bit>,
    /// Residual activation code.
    pub r: Signal<In, Bits<RW>>,
    /// The result, two cycles later.
    pub out: Signal<Out, Bits<OW>>,
    /// The result was saturated.
    pub sat: Signal<Out, Bit>,
    mul: SignedMul<ACC, MB, P>,
    prod_q: DFF<Bits<P>>,
    v_q: DFF<Bits<ACC>>,
    b_q: DFF<Bits<BB>>,
    s_q: DFF<Bits<SB>>,
    mode_q: DFF<Bits<2>>,
    relu_q: DFF<Bit>,
    residual_q: DFF<Bit>,
    r_q: DFF<Bits<RW>>,
    out_q: DFF<Bits<OW>>,
    sat_q: DFF<Bit>,
    p_sign: Constant<Bits<P>>,
    p_ext: Constant<Bits<Z>>,
    b_sign: Constant<Bits<BB>>,
    b_ext: Constant<Bits<Z>>,
    v_sign: Constant<Bits<ACC>>,
    v_ext: Constant<Bits<Z>>,
    r_sign: Constant<Bits<RW>>,
    r_ext: Constant<Bits<Z>>,
    z_sign: Constant<Bits<Z>>,
    ones: Constant<Bits<Z>>,
    one: Constant<Bits<Z>>,
    one_sb: Constant<Bits<SB>>,
    /// `Z`, for shifts past the word.
    word_bits: Constant<Bits<8>>,
    act_max: Constant<Bits<Z>>,
    act_min: Constant<Bits<Z>>,
    add_max: Constant<Bits<Z>>,
    add_min: Constant<Bits<Z>>,
    out_max: Constant<Bits<Z>>,
    out_min: Constant<Bits<Z>>,
    /// Operands sign-extended to `Z` bits.
    prod_w: Signal<Local, Bits<Z>>,
    b_w: Signal<Local, Bits<Z>>,
    v_w: Signal<Local, Bits<Z>>,
    r_w: Signal<Local, Bits<Z>>,
    /// The value shifted: `M * v + B` (post, logits) or `v`.
    pre: Signal<Local, Bits<Z>>,
    /// Bits shifted out of `pre`, `2^(s-1)` and `pre >> s` with the sign filled in.
    low_mask: Signal<Local, Bits<Z>>,
    rem: Signal<Local, Bits<Z>>,
    half: Signal<Local, Bits<Z>>,
    floor: Signal<Local, Bits<Z>>,
    /// Round half to even: the floor plus one.
    up: Signal<Local, Bits<Z>>,
    /// The value before saturation.
    z: Signal<Local, Bits<Z>>,
    z_res: Signal<Local, Bits<Z>>,
    /// The bounds of the output format.
    hi: Signal<Local, Bits<Z>>,
    lo: Signal<Local, Bits<Z>>,
    result: Signal<Local, Bits<Z>>,
}

impl<
        const ACC: usize,
        const MB: usize,
        const BB: usize,
        const RW: usize,
        const P: usize,
        const Z: usize,
        const OW: usize,
    > PostUnit<ACC, MB, BB, RW, P, Z, OW>
{
    /// A unit for activation codes clamped to `act` (`act_bits`, `act_max`) and adder codes of
    /// `add_bits`.
    pub fn new(act: shiftadd_sim::numerics::ActRange, add_bits: u32) -> Self {
        const { assert!(Z < 256, "word_bits holds Z in 8 bits") };
        assert!(P == ACC + MB && Z == P + 1 && BB < Z && RW < Z && OW <= Z && OW <= 64);
        assert!(
            act.max >= 1 && act.max <= shiftadd_sim::numerics::max_code(act.bits),
            "act_max {} outside 1..=2^(act_bits-1)-1",
            act.max
        );
        let (_, act_min) = code_bounds::<Z>(act.bits);
        let act_max: Bits<Z> = (act.max as u128).to_bits();
        let (add_max, add_min) = code_bounds::<Z>(add_bits);
        let (out_max, out_min) = code_bounds::<Z>(OW as u32);
        let ones = if Z >= 128 {
            u128::MAX
        } else {
            (1u128 << Z) - 1
        };
        let ext = |w: usize| -> Bits<Z> { (ones & !((1u128 << w) - 1)).to_bits() };
        Self {
            clock: Default::default(),
            reset: Default::default(),
            v: Default::default(),
            m: Default::default(),
            b: Default::default(),
            s: Default::default(),
            mode: Default::default(),
            relu: Default::default(),
            residual: Default::default(),
            r: Default::default(),
            out: Default::default(),
            sat: Default::default(),
            mul: Default::default(),
            prod_q: Default::default(),
            v_q: Default::default(),
            b_q: Default::default(),
            s_q: Default::default(),
            mode_q: Default::default(),
            relu_q: Default::default(),
            residual_q: Default::default(),
            r_q: Default::default(),
            out_q: Default::default(),
            sat_q: Default::default(),
            p_sign: Constant::new((1u128 << (P - 1)).to_bits()),
            p_ext: Constant::new(ext(P)),
            b_sign: Constant::new(sign_bit::<BB>()),
            b_ext: Constant::new(ext(BB)),
            v_sign: Constant::new(sign_bit::<ACC>()),
            v_ext: Constant::new(ext(ACC)),
            r_sign: Constant::new(sign_bit::<RW>()),
            r_ext: Constant::new(ext(RW)),
            z_sign: Constant::new((1u128 << (Z - 1)).to_bits()),
            ones: Constant::new(ones.to_bits()),
            one: Constant::new(1u128.to_bits()),
            one_sb: Constant::new(bits::<SB>(1)),
            word_bits: Constant::new(bits::<8>(Z as u64)),
            act_max: Constant::new(act_max),
            act_min: Constant::new(act_min),
            add_max: Constant::new(add_max),
            add_min: Constant::new(add_min),
            out_max: Constant::new(out_max),
            out_min: Constant::new(out_min),
            prod_w: Default::default(),
            b_w: Default::default(),
            v_w: Default::default(),
            r_w: Default::default(),
            pre: Default::default(),
            low_mask: Default::default(),
            rem: Default::default(),
            half: Default::default(),
            floor: Default::default(),
            up: Default::default(),
            z: Default::default(),
            z_res: Default::default(),
            hi: Default::default(),
            lo: Default::default(),
            result: Default::default(),
        }
    }
}

impl<
        const ACC: usize,
        const MB: usize,
        const BB: usize,
        const RW: usize,
        const P: usize,
        const Z: usize,
        const OW: usize,
    > Logic for PostUnit<ACC, MB, BB, RW, P, Z, OW>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, prod_q, v_q, b_q, s_q, mode_q, relu_q, residual_q, r_q, out_q, sat_q
        );
        // Stage 1: the product and the controls.
        self.mul.a.next = self.v.val();
        self.mul.b.next = self.m.val();
        self.prod_q.d.next = self.mul.p.val();
        self.v_q.d.next = self.v.val();
        self.b_q.d.next = self.b.val();
        self.s_q.d.next = self.s.val();
        self.mode_q.d.next = self.mode.val();
        self.relu_q.d.next = self.relu.val();
        self.residual_q.d.next = self.residual.val();
        self.r_q.d.next = self.r.val();

        // Stage 2: operands sign-extended to Z bits (each its own signal: Verilog sizes an
        // expression by its widest operand).
        self.prod_w.next = bit_cast::<Z, P>(self.prod_q.q.val());
        if (self.prod_q.q.val() & self.p_sign.val()).any() {
            self.prod_w.next = bit_cast::<Z, P>(self.prod_q.q.val()) | self.p_ext.val();
        }
        self.b_w.next = bit_cast::<Z, BB>(self.b_q.q.val());
        if (self.b_q.q.val() & self.b_sign.val()).any() {
            self.b_w.next = bit_cast::<Z, BB>(self.b_q.q.val()) | self.b_ext.val();
        }
        self.v_w.next = bit_cast::<Z, ACC>(self.v_q.q.val());
        if (self.v_q.q.val() & self.v_sign.val()).any() {
            self.v_w.next = bit_cast::<Z, ACC>(self.v_q.q.val()) | self.v_ext.val();
        }
        self.r_w.next = bit_cast::<Z, RW>(self.r_q.q.val());
        if (self.r_q.q.val() & self.r_sign.val()).any() {
            self.r_w.next = bit_cast::<Z, RW>(self.r_q.q.val()) | self.r_ext.val();
        }
        // The value to shift: M*v + B (post, logits) or v (hand-off, round).
        self.pre.next = self.prod_w.val() + self.b_w.val();
        if self.mode_q.q.val() == 1 {
            self.pre.next = self.v_w.val();
        }
        if self.mode_q.q.val() == 2 {
            self.pre.next = self.v_w.val();
        }
        // floor_shr: a logical shift with the sign filled in.
        self.low_mask.next = !(self.ones.val() << self.s_q.q.val());
        self.floor.next = self.pre.val() >> self.s_q.q.val();
        if (self.pre.val() & self.z_sign.val()).any() {
            self.floor.next =
                (self.pre.val() >> self.s_q.q.val()) | !(self.ones.val() >> self.s_q.q.val());
        }
        // rne_shr: the floor, plus one above half or at half with an odd floor.
        self.rem.next = self.pre.val() & self.low_mask.val();
        self.half.next = (self.one.val() << self.s_q.q.val()) >> self.one_sb.val();
        self.up.next = self.floor.val() + 1;
        self.z.next = self.floor.val();
        if (self.mode_q.q.val() == 1)
            & self.s_q.q.val().any()
            & ((self.rem.val() > self.half.val())
                | ((self.rem.val() == self.half.val()) & self.floor.val().get_bit(0)))
        {
            self.z.next = self.up.val();
        }
        // Past the word (s >= Z) the shifts above lose every bit; there |v| < 2^(Z-1) <= 2^(s-1),
        // so rne_shr gives 0.
        if (self.mode_q.q.val() == 1)
            & (bit_cast::<8, SB>(self.s_q.q.val()) >= self.word_bits.val())
        {
            self.z.next = bits::<Z>(0);
        }
        self.z_res.next = self.z.val();
        if (self.mode_q.q.val() == 0) & self.residual_q.q.val() {
            self.z_res.next = self.z.val() + self.r_w.val();
        }
        self.result.next = self.z_res.val();
        if self.relu_q.q.val()
            & (self.z_res.val() & self.z_sign.val()).any()
            & ((self.mode_q.q.val() == 0) | (self.mode_q.q.val() == 3))
        {
            self.result.next = bits::<Z>(0);
        }
        // Saturation to the output format.
        self.hi.next = self.act_max.val();
        self.lo.next = self.act_min.val();
        if self.mode_q.q.val() == 1 {
            self.hi.next = self.add_max.val();
            self.lo.next = self.add_min.val();
        }
        if self.mode_q.q.val() == 3 {
            self.hi.next = self.out_max.val();
            self.lo.next = self.out_min.val();
        }
        self.out_q.d.next = bit_cast::<OW, Z>(self.result.val());
        self.sat_q.d.next = false;
        if !(self.result.val() & self.z_sign.val()).any() & (self.result.val() > self.hi.val()) {
            self.out_q.d.next = bit_cast::<OW, Z>(self.hi.val());
            self.sat_q.d.next = true;
        }
        if (self.result.val() & self.z_sign.val()).any() & (self.result.val() < self.lo.val()) {
            self.out_q.d.next = bit_cast::<OW, Z>(self.lo.val());
            self.sat_q.d.next = true;
        }
        self.out.next = self.out_q.q.val();
        self.sat.next = self.sat_q.q.val();
        if self.reset.val() {
            self.prod_q.d.next = 0.into();
            self.v_q.d.next = 0.into();
            self.b_q.d.next = 0.into();
            self.s_q.d.next = 0.into();
            self.mode_q.d.next = 0.into();
            self.r_q.d.next = 0.into();
            self.out_q.d.next = 0.into();
            self.relu_q.d.next = false;
            self.residual_q.d.next = false;
            self.sat_q.d.next = false;
        }
    }
}
