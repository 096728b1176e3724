//! The bridge's serial transmitter (the frame of `shiftadd_sim::uart`): takes `data` when
//! `valid` and `ready` are both high, then drives the start bit, eight data bits (least
//! significant first) and the stop bit, `bit_cycles` cycles each, from a flip-flop; `ready` is
//! high again after the stop bit.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::uart::BIT_CYCLES_BITS;

const N: usize = BIT_CYCLES_BITS;

/// The transmitter.
#[derive(LogicBlock)]
pub struct UartTx {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: idle, line high.
    pub reset: Signal<In, Bit>,
    /// Cycles per bit.
    pub bit_cycles: Signal<In, Bits<N>>,
    /// The byte to send.
    pub data: Signal<In, Bits<8>>,
    /// `data` is to be sent.
    pub valid: Signal<In, Bit>,
    /// A byte can be taken.
    pub ready: Signal<Out, Bit>,
    /// The line.
    pub tx: Signal<Out, Bit>,
    /// Sending; the frame's bits still to go out (bit 0 on the line); cycles left of this bit;
    /// bits sent.
    busy: DFF<Bit>,
    shift: DFF<Bits<10>>,
    count: DFF<Bits<N>>,
    bits_done: DFF<Bits<4>>,
    line: DFF<Bit>,
    /// The frame of `data`: stop bit, data, start bit.
    frame: Signal<Local, Bits<10>>,
    one: Constant<Bits<10>>,
    stop: Constant<Bits<10>>,
}

impl Default for UartTx {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            bit_cycles: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            busy: Default::default(),
            shift: Default::default(),
            count: Default::default(),
            bits_done: Default::default(),
            line: Default::default(),
            frame: Default::default(),
            one: Constant::new(bits(1)),
            stop: Constant::new(bits(1 << 9)),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, shift, count, bits_done, line);
        self.frame.next = (bit_cast::<10, 8>(self.data.val()) << self.one.val()) | self.stop.val();
        self.ready.next = !self.busy.q.val() & !self.reset.val();
        if !self.busy.q.val() {
            self.line.d.next = true;
            if self.valid.val() & !self.reset.val() {
                self.busy.d.next = true;
                self.shift.d.next = self.frame.val() >> self.one.val();
                self.count.d.next = self.bit_cycles.val() - 1;
                self.bits_done.d.next = 0.into();
                self.line.d.next = false;
            }
        } else if self.count.q.val().any() {
            self.count.d.next = self.count.q.val() - 1;
        } else if self.bits_done.q.val() == 9 {
            self.busy.d.next = false;
            self.line.d.next = true;
        } else {
            self.count.d.next = self.bit_cycles.val() - 1;
            self.bits_done.d.next = self.bits_done.q.val() + 1;
            self.line.d.next = self.shift.q.val().get_bit(0);
            self.shift.d.next = self.shift.q.val() >> self.one.val();
        }
        self.tx.next = self.line.q.val();
        if self.reset.val() {
            self.busy.d.next = false;
            self.shift.d.next = 0.into();
            self.count.d.next = 0.into();
            self.bits_done.d.next = 0.into();
            self.line.d.next = true;
        }
    }
}
