//! The serial bridge (`uart_bridge`): frames of `shiftadd_sim::uart` from the receiver onto the
//! engine's register bus and streams, replies out through the transmitter. One frame at a time;
//! bytes that arrive while a reply is sent are dropped (the host waits for each reply).
//!
//! A register read drives `reg_re` for one cycle and takes `reg_rdata` the next with the
//! address held, as the register bus requires. `SEND` words are offered on `sin_*` as each
//! completes; `RECV` takes one `sout_*` word per eight bytes sent. `engine_reset` is high for
//! one cycle on `RESET`. Every wait is bounded by the gap (`bit_cycles << GAP_SHIFT` cycles).

use super::{Crc8, UartRx, UartTx};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::regmap::{REG_ADDR_BITS, REG_DATA_BITS};
use shiftadd_sim::uart::{self as proto, BIT_CYCLES_BITS, GAP_SHIFT, HEADER_BYTES};

const RA: usize = REG_ADDR_BITS;
const RD: usize = REG_DATA_BITS;
const N: usize = BIT_CYCLES_BITS;
/// Gap counter width.
const G: usize = BIT_CYCLES_BITS + GAP_SHIFT as usize;

/// States.
const IDLE: u64 = 0;
const HEADER: u64 = 1;
const DATA: u64 = 2;
const CHECK: u64 = 3;
const EXEC: u64 = 4;
const READ_TAKE: u64 = 5;
const DRAIN: u64 = 6;
const TX_STATUS: u64 = 7;
const TX_PAYLOAD: u64 = 8;
const RECV_WAIT: u64 = 9;
const TX_STATUS2: u64 = 10;
const TX_CRC: u64 = 11;
const DISCARD: u64 = 12;

fn c8(v: u8) -> Constant<Bits<8>> {
    Constant::new(bits(u64::from(v)))
}

fn st(v: u64) -> Constant<Bits<4>> {
    Constant::new(bits(v))
}

/// The header length of `op`.
fn header_bytes(op: u8) -> Constant<Bits<4>> {
    st(u64::from(HEADER_BYTES[usize::from(op)]))
}

/// The bridge.
#[derive(LogicBlock)]
pub struct UartBridge {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: idle, nothing pending.
    pub reset: Signal<In, Bit>,
    /// Serial line in and out.
    pub rx: Signal<In, Bit>,
    pub tx: Signal<Out, Bit>,
    /// Cycles per bit.
    pub bit_cycles: Signal<In, Bits<N>>,
    /// Resets the engine (`RESET`).
    pub engine_reset: Signal<Out, Bit>,
    /// The engine's register bus.
    pub reg_we: Signal<Out, Bit>,
    pub reg_re: Signal<Out, Bit>,
    pub reg_addr: Signal<Out, Bits<RA>>,
    pub reg_wdata: Signal<Out, Bits<RD>>,
    pub reg_rdata: Signal<In, Bits<RD>>,
    /// The engine's input stream.
    pub sin_data: Signal<Out, Bits<64>>,
    pub sin_valid: Signal<Out, Bit>,
    pub sin_ready: Signal<In, Bit>,
    /// The engine's output stream.
    pub sout_data: Signal<In, Bits<64>>,
    pub sout_valid: Signal<In, Bit>,
    pub sout_ready: Signal<Out, Bit>,
    rx_unit: UartRx,
    tx_unit: UartTx,
    crc_in: Crc8,
    crc_out: Crc8,
    /// State; the frame's op; header bytes (byte `i` at bits `8i`); bytes counted.
    state: DFF<Bits<4>>,
    op: DFF<Bits<8>>,
    header: DFF<Bits<40>>,
    count: DFF<Bits<4>>,
    /// Header bytes of the op.
    header_len: DFF<Bits<4>>,
    /// Stream words left; the word being assembled (`SEND`) or sent (`READ`, `RECV`).
    beats: DFF<Bits<16>>,
    word: DFF<Bits<64>>,
    /// The `SEND` word offered to the engine.
    beat: DFF<Bits<64>>,
    beat_full: DFF<Bit>,
    /// A stream word was dropped or missing; the reply's statuses; after the reply, drop bytes
    /// until the gap.
    stalled: DFF<Bit>,
    status: DFF<Bits<8>>,
    discard: DFF<Bit>,
    /// Cycles since the last byte (or since the wait began).
    gap: DFF<Bits<G>>,
    crc_rx: DFF<Bits<8>>,
    crc_tx: DFF<Bits<8>>,
    /// Locals: the gap has passed; the header with this byte; the byte to send and that it was
    /// taken; this op is known.
    gap_over: Signal<Local, Bit>,
    header_next: Signal<Local, Bits<40>>,
    tx_byte: Signal<Local, Bits<8>>,
    tx_taken: Signal<Local, Bit>,
    known: Signal<Local, Bit>,
    gap_shift: Constant<Bits<G>>,
    three: Constant<Bits<8>>,
    eight: Constant<Bits<8>>,
    top_byte: Constant<Bits<8>>,
    op_read: Constant<Bits<8>>,
    op_write: Constant<Bits<8>>,
    op_send: Constant<Bits<8>>,
    op_recv: Constant<Bits<8>>,
    op_reset: Constant<Bits<8>>,
    /// Header bytes of READ, WRITE, SEND and RECV.
    len_read: Constant<Bits<4>>,
    len_write: Constant<Bits<4>>,
    len_stream: Constant<Bits<4>>,
    ok: Constant<Bits<8>>,
    bad_crc: Constant<Bits<8>>,
    bad_op: Constant<Bits<8>>,
    framing: Constant<Bits<8>>,
    timeout: Constant<Bits<8>>,
    stall: Constant<Bits<8>>,
    s_idle: Constant<Bits<4>>,
    s_header: Constant<Bits<4>>,
    s_data: Constant<Bits<4>>,
    s_check: Constant<Bits<4>>,
    s_exec: Constant<Bits<4>>,
    s_read_take: Constant<Bits<4>>,
    s_drain: Constant<Bits<4>>,
    s_tx_status: Constant<Bits<4>>,
    s_tx_payload: Constant<Bits<4>>,
    s_recv_wait: Constant<Bits<4>>,
    s_tx_status2: Constant<Bits<4>>,
    s_tx_crc: Constant<Bits<4>>,
    s_discard: Constant<Bits<4>>,
}

// SEND and RECV share a header (a word count), and RESET has none (it goes straight to CHECK).
const _: () = assert!(
    HEADER_BYTES[proto::OP_SEND as usize] == HEADER_BYTES[proto::OP_RECV as usize]
        && HEADER_BYTES[proto::OP_RESET as usize] == 0
);

impl Default for UartBridge {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            bit_cycles: Default::default(),
            engine_reset: Default::default(),
            reg_we: Default::default(),
            reg_re: Default::default(),
            reg_addr: Default::default(),
            reg_wdata: Default::default(),
            reg_rdata: Default::default(),
            sin_data: Default::default(),
            sin_valid: Default::default(),
            sin_ready: Default::default(),
            sout_data: Default::default(),
            sout_valid: Default::default(),
            sout_ready: Default::default(),
            rx_unit: Default::default(),
            tx_unit: Default::default(),
            crc_in: Default::default(),
            crc_out: Default::default(),
            state: Default::default(),
            op: Default::default(),
            header: Default::default(),
            count: Default::default(),
            header_len: Default::default(),
            beats: Default::default(),
            word: Default::default(),
            beat: Default::default(),
            beat_full: Default::default(),
            stalled: Default::default(),
            status: Default::default(),
            discard: Default::default(),
            gap: Default::default(),
            crc_rx: Default::default(),
            crc_tx: Default::default(),
            gap_over: Default::default(),
            header_next: Default::default(),
            tx_byte: Default::default(),
            tx_taken: Default::default(),
            known: Default::default(),
            gap_shift: Constant::new(bits(u64::from(GAP_SHIFT))),
            three: c8(3),
            eight: c8(8),
            top_byte: c8(56),
            op_read: c8(proto::OP_READ),
            op_write: c8(proto::OP_WRITE),
            op_send: c8(proto::OP_SEND),
            op_recv: c8(proto::OP_RECV),
            op_reset: c8(proto::OP_RESET),
            len_read: header_bytes(proto::OP_READ),
            len_write: header_bytes(proto::OP_WRITE),
            len_stream: header_bytes(proto::OP_SEND),
            ok: c8(proto::OK),
            bad_crc: c8(proto::BAD_CRC),
            bad_op: c8(proto::BAD_OP),
            framing: c8(proto::FRAMING),
            timeout: c8(proto::TIMEOUT),
            stall: c8(proto::STALL),
            s_idle: st(IDLE),
            s_header: st(HEADER),
            s_data: st(DATA),
            s_check: st(CHECK),
            s_exec: st(EXEC),
            s_read_take: st(READ_TAKE),
            s_drain: st(DRAIN),
            s_tx_status: st(TX_STATUS),
            s_tx_payload: st(TX_PAYLOAD),
            s_recv_wait: st(RECV_WAIT),
            s_tx_status2: st(TX_STATUS2),
            s_tx_crc: st(TX_CRC),
            s_discard: st(DISCARD),
        }
    }
}

impl Logic for UartBridge {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, op, header, count, header_len, beats, word, beat, beat_full,
            stalled, status, discard, gap, crc_rx, crc_tx
        );
        clock!(self, clock, rx_unit, tx_unit);
        self.rx_unit.reset.next = self.reset.val();
        self.tx_unit.reset.next = self.reset.val();
        self.rx_unit.rx.next = self.rx.val();
        self.rx_unit.bit_cycles.next = self.bit_cycles.val();
        self.tx_unit.bit_cycles.next = self.bit_cycles.val();
        self.tx.next = self.tx_unit.tx.val();

        // The CRC of each received byte continues the frame's; a reply's starts at its status.
        self.crc_in.crc.next = self.crc_rx.q.val();
        if self.state.q.val() == self.s_idle.val() {
            self.crc_in.crc.next = 0.into();
        }
        self.crc_in.data.next = self.rx_unit.data.val();
        self.crc_out.crc.next = self.crc_tx.q.val();
        if self.state.q.val() == self.s_tx_status.val() {
            self.crc_out.crc.next = 0.into();
        }

        // The byte to send in this state.
        self.tx_byte.next = self.status.q.val();
        if self.state.q.val() == self.s_tx_payload.val() {
            self.tx_byte.next = self.word.q.val().get_bits::<8>(0);
        }
        if self.state.q.val() == self.s_tx_status2.val() {
            self.tx_byte.next = self.ok.val();
            if self.stalled.q.val() {
                self.tx_byte.next = self.stall.val();
            }
        }
        if self.state.q.val() == self.s_tx_crc.val() {
            self.tx_byte.next = self.crc_tx.q.val();
        }
        self.tx_unit.data.next = self.tx_byte.val();
        self.crc_out.data.next = self.tx_byte.val();
        self.tx_unit.valid.next = (self.state.q.val() == self.s_tx_status.val())
            | (self.state.q.val() == self.s_tx_payload.val())
            | (self.state.q.val() == self.s_tx_status2.val())
            | (self.state.q.val() == self.s_tx_crc.val());
        self.tx_taken.next = self.tx_unit.valid.val() & self.tx_unit.ready.val();
        if self.tx_taken.val() {
            self.crc_tx.d.next = self.crc_out.out.val();
        }

        self.gap_over.next =
            self.gap.q.val() >= (bit_cast::<G, N>(self.bit_cycles.val()) << self.gap_shift.val());
        self.gap.d.next = self.gap.q.val() + 1;
        if self.gap_over.val() {
            self.gap.d.next = self.gap.q.val();
        }
        if self.rx_unit.valid.val() | self.rx_unit.frame_err.val() {
            self.gap.d.next = 0.into();
        }
        self.header_next.next = self.header.q.val()
            | (bit_cast::<40, 8>(self.rx_unit.data.val())
                << bit_cast::<40, 8>(bit_cast::<8, 4>(self.count.q.val()) << self.three.val()));
        self.known.next = (self.rx_unit.data.val() == self.op_read.val())
            | (self.rx_unit.data.val() == self.op_write.val())
            | (self.rx_unit.data.val() == self.op_send.val())
            | (self.rx_unit.data.val() == self.op_recv.val())
            | (self.rx_unit.data.val() == self.op_reset.val());

        // The engine's ports: held words and one-cycle strobes.
        self.reg_we.next = false;
        self.reg_re.next = false;
        self.reg_addr.next = self.header.q.val().get_bits::<RA>(0);
        self.reg_wdata.next = self.header.q.val().get_bits::<RD>(8);
        self.sin_data.next = self.beat.q.val();
        self.sin_valid.next = self.beat_full.q.val();
        if self.beat_full.q.val() & self.sin_ready.val() {
            self.beat_full.d.next = false;
        }
        self.sout_ready.next = false;
        self.engine_reset.next = false;

        if self.state.q.val() == self.s_idle.val() {
            self.header.d.next = 0.into();
            self.count.d.next = 0.into();
            self.stalled.d.next = false;
            self.discard.d.next = false;
            if self.rx_unit.valid.val() {
                self.op.d.next = self.rx_unit.data.val();
                self.crc_rx.d.next = self.crc_in.out.val();
                if self.known.val() {
                    self.state.d.next = self.s_header.val();
                    self.header_len.d.next = 0.into();
                    if self.rx_unit.data.val() == self.op_read.val() {
                        self.header_len.d.next = self.len_read.val();
                    }
                    if self.rx_unit.data.val() == self.op_write.val() {
                        self.header_len.d.next = self.len_write.val();
                    }
                    if (self.rx_unit.data.val() == self.op_send.val())
                        | (self.rx_unit.data.val() == self.op_recv.val())
                    {
                        self.header_len.d.next = self.len_stream.val();
                    }
                    if self.rx_unit.data.val() == self.op_reset.val() {
                        self.state.d.next = self.s_check.val();
                    }
                } else {
                    self.status.d.next = self.bad_op.val();
                    self.discard.d.next = true;
                    self.state.d.next = self.s_tx_status.val();
                }
            }
        }
        if (self.state.q.val() == self.s_header.val()) & self.rx_unit.valid.val() {
            self.header.d.next = self.header_next.val();
            self.crc_rx.d.next = self.crc_in.out.val();
            self.count.d.next = self.count.q.val() + 1;
            if (self.count.q.val() + 1) == self.header_len.q.val() {
                self.state.d.next = self.s_check.val();
                self.beats.d.next = self.header_next.val().get_bits::<16>(0);
                self.count.d.next = 0.into();
                if (self.op.q.val() == self.op_send.val())
                    & self.header_next.val().get_bits::<16>(0).any()
                {
                    self.state.d.next = self.s_data.val();
                }
            }
        }
        if (self.state.q.val() == self.s_data.val()) & self.rx_unit.valid.val() {
            self.crc_rx.d.next = self.crc_in.out.val();
            self.word.d.next = (self.word.q.val() >> self.eight.val())
                | (bit_cast::<64, 8>(self.rx_unit.data.val()) << self.top_byte.val());
            self.count.d.next = self.count.q.val() + 1;
            if self.count.q.val() == 7 {
                self.count.d.next = 0.into();
                self.beats.d.next = self.beats.q.val() - 1;
                if self.beat_full.q.val() & !self.sin_ready.val() {
                    self.stalled.d.next = true;
                } else {
                    self.beat.d.next = (self.word.q.val() >> self.eight.val())
                        | (bit_cast::<64, 8>(self.rx_unit.data.val()) << self.top_byte.val());
                    self.beat_full.d.next = true;
                }
                if self.beats.q.val() == 1 {
                    self.state.d.next = self.s_check.val();
                }
            }
        }
        if (self.state.q.val() == self.s_check.val()) & self.rx_unit.valid.val() {
            self.state.d.next = self.s_exec.val();
            if self.crc_in.out.val().any() {
                self.status.d.next = self.bad_crc.val();
                self.discard.d.next = true;
                self.state.d.next = self.s_tx_status.val();
            }
        }
        // Receiving a frame: a bad stop bit or silence ends it.
        if (self.state.q.val() == self.s_header.val())
            | (self.state.q.val() == self.s_data.val())
            | (self.state.q.val() == self.s_check.val())
        {
            if self.rx_unit.frame_err.val() {
                self.status.d.next = self.framing.val();
                self.discard.d.next = true;
                self.state.d.next = self.s_tx_status.val();
            } else if self.gap_over.val() {
                self.status.d.next = self.timeout.val();
                self.state.d.next = self.s_tx_status.val();
            }
        }
        if (self.state.q.val() == self.s_idle.val()) & self.rx_unit.frame_err.val() {
            self.status.d.next = self.framing.val();
            self.discard.d.next = true;
            self.state.d.next = self.s_tx_status.val();
        }
        if self.state.q.val() == self.s_exec.val() {
            self.status.d.next = self.ok.val();
            self.state.d.next = self.s_tx_status.val();
            self.gap.d.next = 0.into();
            if self.op.q.val() == self.op_read.val() {
                self.reg_re.next = true;
                self.state.d.next = self.s_read_take.val();
            }
            if self.op.q.val() == self.op_write.val() {
                self.reg_we.next = true;
            }
            if self.op.q.val() == self.op_send.val() {
                self.state.d.next = self.s_drain.val();
            }
            if self.op.q.val() == self.op_reset.val() {
                self.engine_reset.next = true;
                self.beat_full.d.next = false;
            }
        }
        if self.state.q.val() == self.s_read_take.val() {
            self.word.d.next = bit_cast::<64, RD>(self.reg_rdata.val());
            self.count.d.next = 4.into();
            self.state.d.next = self.s_tx_status.val();
        }
        if self.state.q.val() == self.s_drain.val() {
            if !self.beat_full.q.val() | self.sin_ready.val() {
                self.status.d.next = self.ok.val();
                if self.stalled.q.val() {
                    self.status.d.next = self.stall.val();
                }
                self.state.d.next = self.s_tx_status.val();
            } else if self.gap_over.val() {
                self.beat_full.d.next = false;
                self.status.d.next = self.stall.val();
                self.state.d.next = self.s_tx_status.val();
            }
        }
        if (self.state.q.val() == self.s_tx_status.val()) & (self.tx_taken.val()) {
            self.state.d.next = self.s_tx_crc.val();
            if self.status.q.val() == self.ok.val() {
                if self.op.q.val() == self.op_read.val() {
                    self.state.d.next = self.s_tx_payload.val();
                }
                if self.op.q.val() == self.op_recv.val() {
                    self.gap.d.next = 0.into();
                    self.state.d.next = self.s_recv_wait.val();
                    if !self.beats.q.val().any() {
                        self.state.d.next = self.s_tx_status2.val();
                    }
                }
            }
        }
        if (self.state.q.val() == self.s_tx_payload.val()) & (self.tx_taken.val()) {
            self.word.d.next = self.word.q.val() >> self.eight.val();
            self.count.d.next = self.count.q.val() - 1;
            if self.count.q.val() == 1 {
                self.state.d.next = self.s_tx_crc.val();
                if self.op.q.val() == self.op_recv.val() {
                    self.gap.d.next = 0.into();
                    self.state.d.next = self.s_recv_wait.val();
                    if !self.beats.q.val().any() {
                        self.state.d.next = self.s_tx_status2.val();
                    }
                }
            }
        }
        if self.state.q.val() == self.s_recv_wait.val() {
            if self.sout_valid.val() & !self.stalled.q.val() {
                self.sout_ready.next = true;
                self.word.d.next = self.sout_data.val();
                self.count.d.next = 8.into();
                self.beats.d.next = self.beats.q.val() - 1;
                self.state.d.next = self.s_tx_payload.val();
            } else if self.gap_over.val() | self.stalled.q.val() {
                self.stalled.d.next = true;
                self.word.d.next = 0.into();
                self.count.d.next = 8.into();
                self.beats.d.next = self.beats.q.val() - 1;
                self.state.d.next = self.s_tx_payload.val();
            }
        }
        if (self.state.q.val() == self.s_tx_status2.val()) & (self.tx_taken.val()) {
            self.state.d.next = self.s_tx_crc.val();
        }
        if (self.state.q.val() == self.s_tx_crc.val()) & (self.tx_taken.val()) {
            self.gap.d.next = 0.into();
            self.state.d.next = self.s_idle.val();
            if self.discard.q.val() {
                self.state.d.next = self.s_discard.val();
            }
        }
        if (self.state.q.val() == self.s_discard.val()) & (self.gap_over.val()) {
            self.state.d.next = self.s_idle.val();
        }
        if self.reset.val() {
            self.state.d.next = self.s_idle.val();
            self.op.d.next = 0.into();
            self.header.d.next = 0.into();
            self.count.d.next = 0.into();
            self.header_len.d.next = 0.into();
            self.beats.d.next = 0.into();
            self.word.d.next = 0.into();
            self.beat.d.next = 0.into();
            self.beat_full.d.next = false;
            self.stalled.d.next = false;
            self.status.d.next = 0.into();
            self.discard.d.next = false;
            self.gap.d.next = 0.into();
            self.crc_rx.d.next = 0.into();
            self.crc_tx.d.next = 0.into();
        }
    }
}
