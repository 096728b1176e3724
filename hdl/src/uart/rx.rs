//! The bridge's serial receiver: 8 data bits, no parity, one stop bit, least significant bit
//! first, idle high (`shiftadd_sim::uart`). The line passes two flip-flops (it comes from another
//! clock domain); a low level starts a byte, which is sampled in the middle of each bit, a bit
//! lasting `bit_cycles` cycles (at least `MIN_BIT_CYCLES`). A start bit that is high again at
//! its middle is a glitch and ignored. `valid` (with `data`) or `frame_err` (stop bit low) is
//! high for one cycle after the stop bit's middle.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::uart::BIT_CYCLES_BITS;

const N: usize = BIT_CYCLES_BITS;

/// The receiver.
#[derive(LogicBlock)]
pub struct UartRx {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: idle.
    pub reset: Signal<In, Bit>,
    /// The line.
    pub rx: Signal<In, Bit>,
    /// Cycles per bit.
    pub bit_cycles: Signal<In, Bits<N>>,
    /// The byte received (while `valid`).
    pub data: Signal<Out, Bits<8>>,
    /// A byte was received.
    pub valid: Signal<Out, Bit>,
    /// A byte ended with a low stop bit.
    pub frame_err: Signal<Out, Bit>,
    /// The line through two flip-flops (reset high: idle).
    sync1: DFF<Bit>,
    sync2: DFF<Bit>,
    /// In a byte; cycles to the next sample; bits sampled (0: start, 1..8: data, 9: stop).
    busy: DFF<Bit>,
    count: DFF<Bits<N>>,
    bits_done: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    data_q: DFF<Bits<8>>,
    valid_q: DFF<Bit>,
    err_q: DFF<Bit>,
    one: Constant<Bits<N>>,
    one8: Constant<Bits<8>>,
    top_bit: Constant<Bits<8>>,
}

impl Default for UartRx {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx: Default::default(),
            bit_cycles: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            frame_err: Default::default(),
            sync1: Default::default(),
            sync2: Default::default(),
            busy: Default::default(),
            count: Default::default(),
            bits_done: Default::default(),
            shift: Default::default(),
            data_q: Default::default(),
            valid_q: Default::default(),
            err_q: Default::default(),
            one: Constant::new(bits(1)),
            one8: Constant::new(bits(1)),
            top_bit: Constant::new(bits(0x80)),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sync1, sync2, busy, count, bits_done, shift, data_q, valid_q, err_q
        );
        self.sync1.d.next = self.rx.val();
        self.sync2.d.next = self.sync1.q.val();
        self.valid_q.d.next = false;
        self.err_q.d.next = false;
        if !self.busy.q.val() {
            if !self.sync2.q.val() {
                self.busy.d.next = true;
                self.count.d.next = self.bit_cycles.val() >> self.one.val();
                self.bits_done.d.next = 0.into();
            }
        } else if self.count.q.val().any() {
            self.count.d.next = self.count.q.val() - 1;
        } else {
            self.count.d.next = self.bit_cycles.val() - 1;
            self.bits_done.d.next = self.bits_done.q.val() + 1;
            if self.bits_done.q.val() == 0 {
                if self.sync2.q.val() {
                    self.busy.d.next = false;
                }
            } else if self.bits_done.q.val() == 9 {
                self.busy.d.next = false;
                self.valid_q.d.next = self.sync2.q.val();
                self.err_q.d.next = !self.sync2.q.val();
                self.data_q.d.next = self.shift.q.val();
            } else {
                self.shift.d.next = self.shift.q.val() >> self.one8.val();
                if self.sync2.q.val() {
                    self.shift.d.next =
                        (self.shift.q.val() >> self.one8.val()) | self.top_bit.val();
                }
            }
        }
        self.data.next = self.data_q.q.val();
        self.valid.next = self.valid_q.q.val();
        self.frame_err.next = self.err_q.q.val();
        if self.reset.val() {
            self.sync1.d.next = true;
            self.sync2.d.next = true;
            self.busy.d.next = false;
            self.count.d.next = 0.into();
            self.bits_done.d.next = 0.into();
            self.shift.d.next = 0.into();
            self.data_q.d.next = 0.into();
            self.valid_q.d.next = false;
            self.err_q.d.next = false;
        }
    }
}
