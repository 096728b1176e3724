//! Pooling unit, one per array column (numerics.md): over one window, fed one value per cycle,
//! the exact maximum of activation codes, or the sum shifted right by `shift` (floor; the host
//! sets `shift = log2(window)`, windows of a power of two values only). Latency: the result of a
//! window shows the cycle after its last value.
//!
//! Ports: `x` an `XW`-bit activation code; `en` takes it, `first` starts a window with it;
//! `out` is `OW` bits, sign-extended (`OW` holds a window's sum).

use crate::pe::{extension_mask, sign_bit};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// Shift amount width: the `SHIFT` register.
const SB: usize = shiftadd_sim::regmap::SHIFT_BITS;

/// One column's pooling unit.
#[derive(LogicBlock)]
pub struct PoolUnit<const XW: usize, const OW: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: every register to 0 on the next edge.
    pub reset: Signal<In, Bit>,
    /// A window value.
    pub x: Signal<In, Bits<XW>>,
    /// Take `x` this cycle.
    pub en: Signal<In, Bit>,
    /// `x` starts a window.
    pub first: Signal<In, Bit>,
    /// Average (sum) rather than maximum.
    pub avg: Signal<In, Bit>,
    /// `log2` of the window size.
    pub shift: Signal<In, Bits<SB>>,
    /// The window's result so far.
    pub out: Signal<Out, Bits<OW>>,
    acc: DFF<Bits<OW>>,
    /// `x` sign-extended.
    x_wide: Signal<Local, Bits<OW>>,
    x_sign: Constant<Bits<XW>>,
    x_ext: Constant<Bits<OW>>,
    sign: Constant<Bits<OW>>,
    ones: Constant<Bits<OW>>,
}

impl<const XW: usize, const OW: usize> Default for PoolUnit<XW, OW> {
    fn default() -> Self {
        assert!(OW > XW, "the output holds a window's sum");
        Self {
            clock: Default::default(),
            reset: Default::default(),
            x: Default::default(),
            en: Default::default(),
            first: Default::default(),
            avg: Default::default(),
            shift: Default::default(),
            out: Default::default(),
            acc: Default::default(),
            x_wide: Default::default(),
            x_sign: Constant::new(sign_bit::<XW>()),
            x_ext: Constant::new(extension_mask::<XW, OW>()),
            sign: Constant::new(sign_bit::<OW>()),
            ones: Constant::new(extension_mask::<0, OW>()),
        }
    }
}

impl<const XW: usize, const OW: usize> Logic for PoolUnit<XW, OW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc);
        self.x_wide.next = bit_cast::<OW, XW>(self.x.val());
        if (self.x.val() & self.x_sign.val()).any() {
            self.x_wide.next = bit_cast::<OW, XW>(self.x.val()) | self.x_ext.val();
        }
        if self.en.val() {
            if self.first.val() {
                self.acc.d.next = self.x_wide.val();
            } else if self.avg.val() {
                self.acc.d.next = self.acc.q.val() + self.x_wide.val();
            } else if (self.x_wide.val() ^ self.sign.val()) > (self.acc.q.val() ^ self.sign.val()) {
                // Signed order is unsigned order with the sign bits flipped.
                self.acc.d.next = self.x_wide.val();
            }
        }
        self.out.next = self.acc.q.val();
        if self.avg.val() {
            self.out.next = self.acc.q.val() >> self.shift.val();
            if (self.acc.q.val() & self.sign.val()).any() {
                self.out.next =
                    (self.acc.q.val() >> self.shift.val()) | !(self.ones.val() >> self.shift.val());
            }
        }
        if self.reset.val() {
            self.acc.d.next = 0.into();
        }
    }
}
