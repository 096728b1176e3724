//! Row accumulator: `acc <= clear ? (en ? sum : 0) : (en ? acc + sum : acc)`, with `sum` (`TS`
//! bits, two's complement) sign-extended to `ACC` bits; output `acc`, or `-acc` when `negate`
//! (adder rows: `y = -A`; a dual-mode row sets it per result). Exact: `ACC` holds `max_taps` terms. Latency 1 cycle.

use crate::pe::{extension_mask, sign_bit};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// One row's accumulator.
#[derive(LogicBlock)]
pub struct RowAcc<const TS: usize, const ACC: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Add `sum` this cycle.
    pub en: Signal<In, Bit>,
    /// Start a new sum this cycle.
    pub clear: Signal<In, Bit>,
    /// The row's tree sum.
    pub sum: Signal<In, Bits<TS>>,
    /// Output `-acc` (adder sums), registered with `en`.
    pub negate: Signal<In, Bit>,
    /// The accumulated value (negated for adder sums).
    pub acc: Signal<Out, Bits<ACC>>,
    /// Sign bit of `sum`.
    sum_sign: Constant<Bits<TS>>,
    /// Bits of the accumulator above `sum`.
    sum_ext: Constant<Bits<ACC>>,
    /// `negate` of the sum the accumulator holds.
    negate_reg: DFF<Bit>,
    /// `sum` sign-extended to `ACC` bits.
    sum_wide: Signal<Local, Bits<ACC>>,
    /// The accumulator register.
    acc_reg: DFF<Bits<ACC>>,
}

impl<const TS: usize, const ACC: usize> RowAcc<TS, ACC> {
    /// An accumulator.
    pub fn new() -> Self {
        assert!(ACC >= TS, "the accumulator holds a tree sum");
        Self {
            clock: Default::default(),
            en: Default::default(),
            clear: Default::default(),
            sum: Default::default(),
            acc: Default::default(),
            sum_sign: Constant::new(sign_bit::<TS>()),
            sum_ext: Constant::new(extension_mask::<TS, ACC>()),
            negate: Default::default(),
            negate_reg: Default::default(),
            sum_wide: Default::default(),
            acc_reg: Default::default(),
        }
    }
}

impl<const TS: usize, const ACC: usize> Default for RowAcc<TS, ACC> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const TS: usize, const ACC: usize> Logic for RowAcc<TS, ACC> {
    #[hdl_gen]
    fn update(&mut self) {
        self.acc_reg.clock.next = self.clock.val();
        self.negate_reg.clock.next = self.clock.val();
        self.negate_reg.d.next = self.negate_reg.q.val();
        if self.en.val() | self.clear.val() {
            self.negate_reg.d.next = self.negate.val();
        }
        self.sum_wide.next = bit_cast::<ACC, TS>(self.sum.val());
        if (self.sum.val() & self.sum_sign.val()).any() {
            self.sum_wide.next = bit_cast::<ACC, TS>(self.sum.val()) | self.sum_ext.val();
        }
        self.acc_reg.d.next = self.acc_reg.q.val();
        if self.en.val() {
            self.acc_reg.d.next = self.acc_reg.q.val() + self.sum_wide.val();
        }
        if self.clear.val() {
            self.acc_reg.d.next = bits::<ACC>(0);
            if self.en.val() {
                self.acc_reg.d.next = self.sum_wide.val();
            }
        }
        self.acc.next = self.acc_reg.q.val();
        if self.negate_reg.q.val() {
            self.acc.next = bits::<ACC>(0) - self.acc_reg.q.val();
        }
    }
}
