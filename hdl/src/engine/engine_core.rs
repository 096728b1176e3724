//! Engine core: a dual-mode PE array run by the [`Sequencer`] from on-chip buffers, behind the
//! register map of `shiftadd_sim::engine::registers`. The host writes input activations and
//! weights through the buffer access port, the sequencer registers and `OP`, then `START`; it
//! polls `STATUS` and reads the output sums through the access port.
//!
//! Datapath, per issued tap: buffer reads (1 cycle; a tap in the padding reads 0), the array (2
//! cycles), a 2-register output stage (where post-processing goes), the output write. Output
//! words hold the raw row sums (`acc` bits: shift sums, or `-sum |x - w|` in adder mode).
//! `CYCLES` counts the cycles from START to DONE; it equals `shiftadd_sim::cycles::layer_cycles`.
//!
//! Buffers: `cols` input banks of `XW`-bit codes and `rows` output banks of `ACC`-bit sums, `AB`
//! address bits each; `rows * cols` weight lanes of `WW` bits, `WB` address bits. The engine
//! needs `rows == cols` (an output channel's bank is its bank as the next layer's input).

use super::Sequencer;
use crate::array::DualArray;
use crate::pe::{extension_mask, sign_bit};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::engine::{register_offset, ENGINE_ID, SEQ_FIELDS};
use shiftadd_sim::spec::AccelConfig;

/// Register address width (byte offsets).
const RA: usize = 8;
/// Register data width.
const RD: usize = 32;

/// The engine core.
#[derive(LogicBlock)]
pub struct EngineCore<
    const XW: usize,
    const WW: usize,
    const T: usize,
    const TS: usize,
    const ACC: usize,
    const AB: usize,
    const WB: usize,
    const LB: usize,
> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Register write strobe.
    pub reg_we: Signal<In, Bit>,
    /// Register byte offset.
    pub reg_addr: Signal<In, Bits<RA>>,
    /// Register write data.
    pub reg_wdata: Signal<In, Bits<RD>>,
    /// Register read data (of `reg_addr`, combinational).
    pub reg_rdata: Signal<Out, Bits<RD>>,
    seq: Sequencer,
    array: DualArray<XW, WW, T, TS, ACC>,
    /// Input activation banks.
    act_in: Vec<RAM<Bits<XW>, AB>>,
    /// Output banks.
    out_buf: Vec<RAM<Bits<ACC>, AB>>,
    /// Weight lanes, `r * cols + c`.
    weights: Vec<RAM<Bits<WW>, WB>>,
    /// `OP`: adder mode.
    op: DFF<Bit>,
    /// The sequencer registers, in `SEQ_FIELDS` order.
    field: Vec<DFF<Bits<RD>>>,
    buf_sel: DFF<Bits<2>>,
    buf_lane: DFF<Bits<LB>>,
    buf_addr: DFF<Bits<RD>>,
    /// Cycles since START.
    cycles: DFF<Bits<RD>>,
    /// Control of the tap whose buffer reads are under way.
    issue_1: DFF<Bit>,
    clear_1: DFF<Bit>,
    in_bounds_1: DFF<Bit>,
    /// `last` and the output word, delayed to the array's sums (3), the output stage (5).
    last_2: DFF<Bit>,
    last_3: DFF<Bit>,
    last_4: DFF<Bit>,
    last_5: DFF<Bit>,
    out_addr_1: DFF<Bits<RD>>,
    out_addr_2: DFF<Bits<RD>>,
    out_addr_3: DFF<Bits<RD>>,
    out_addr_4: DFF<Bits<RD>>,
    out_addr_5: DFF<Bits<RD>>,
    last_1: DFF<Bit>,
    /// The output stage, two registers per row.
    stage_a: Vec<DFF<Bits<ACC>>>,
    stage_b: Vec<DFF<Bits<ACC>>>,
    /// Register offsets.
    off_id: Constant<Bits<RA>>,
    off_geometry: Constant<Bits<RA>>,
    off_ctrl: Constant<Bits<RA>>,
    off_status: Constant<Bits<RA>>,
    off_cycles: Constant<Bits<RA>>,
    off_op: Constant<Bits<RA>>,
    off_field: Vec<Constant<Bits<RA>>>,
    off_sel: Constant<Bits<RA>>,
    off_lane: Constant<Bits<RA>>,
    off_addr: Constant<Bits<RA>>,
    off_lo: Constant<Bits<RA>>,
    off_hi: Constant<Bits<RA>>,
    id: Constant<Bits<RD>>,
    geometry: Constant<Bits<RD>>,
    /// Lane numbers, to decode `BUF_LANE`.
    lane_id: Vec<Constant<Bits<LB>>>,
    acc_sign: Constant<Bits<ACC>>,
    acc_ext: Constant<Bits<64>>,
    /// This cycle writes `BUF_DATA_LO`.
    buf_write: Signal<Local, Bit>,
    /// The output word of bank `BUF_LANE`.
    out_sel: Signal<Local, Bits<ACC>>,
    /// The selected output word, sign-extended.
    out_word: Signal<Local, Bits<64>>,
    _rows: usize,
    _cols: usize,
    _lanes: usize,
    _fields: usize,
}

fn offset(cfg: &AccelConfig, name: &str) -> Constant<Bits<RA>> {
    let o = register_offset(cfg, name).unwrap_or_else(|| panic!("register {name}"));
    Constant::new(bits::<RA>(u64::from(o)))
}

impl<
        const XW: usize,
        const WW: usize,
        const T: usize,
        const TS: usize,
        const ACC: usize,
        const AB: usize,
        const WB: usize,
        const LB: usize,
    > EngineCore<XW, WW, T, TS, ACC, AB, WB, LB>
{
    /// The engine of `cfg` (its rows, columns, shift range and register map).
    pub fn new(cfg: &AccelConfig) -> Self {
        let (rows, cols) = (cfg.rows as usize, cfg.cols as usize);
        assert_eq!(rows, cols, "the engine needs rows = cols");
        assert!(rows * cols <= 1 << LB, "lane numbers fit BUF_LANE");
        assert!(ACC <= 64, "output words fit the 64-bit access port");
        Self {
            clock: Default::default(),
            reg_we: Default::default(),
            reg_addr: Default::default(),
            reg_wdata: Default::default(),
            reg_rdata: Default::default(),
            seq: Default::default(),
            array: DualArray::new(rows, cols, cfg.formats.pmax()),
            act_in: (0..cols).map(|_| Default::default()).collect(),
            out_buf: (0..rows).map(|_| Default::default()).collect(),
            weights: (0..rows * cols).map(|_| Default::default()).collect(),
            op: Default::default(),
            field: (0..SEQ_FIELDS.len()).map(|_| Default::default()).collect(),
            buf_sel: Default::default(),
            buf_lane: Default::default(),
            buf_addr: Default::default(),
            cycles: Default::default(),
            issue_1: Default::default(),
            clear_1: Default::default(),
            in_bounds_1: Default::default(),
            last_1: Default::default(),
            last_2: Default::default(),
            last_3: Default::default(),
            last_4: Default::default(),
            last_5: Default::default(),
            out_addr_1: Default::default(),
            out_addr_2: Default::default(),
            out_addr_3: Default::default(),
            out_addr_4: Default::default(),
            out_addr_5: Default::default(),
            stage_a: (0..rows).map(|_| Default::default()).collect(),
            stage_b: (0..rows).map(|_| Default::default()).collect(),
            off_id: offset(cfg, "ID"),
            off_geometry: offset(cfg, "GEOMETRY"),
            off_ctrl: offset(cfg, "CTRL"),
            off_status: offset(cfg, "STATUS"),
            off_cycles: offset(cfg, "CYCLES"),
            off_op: offset(cfg, "OP"),
            off_field: SEQ_FIELDS.iter().map(|f| offset(cfg, f.0)).collect(),
            off_sel: offset(cfg, "BUF_SEL"),
            off_lane: offset(cfg, "BUF_LANE"),
            off_addr: offset(cfg, "BUF_ADDR"),
            off_lo: offset(cfg, "BUF_DATA_LO"),
            off_hi: offset(cfg, "BUF_DATA_HI"),
            id: Constant::new(bits::<RD>(u64::from(ENGINE_ID))),
            geometry: Constant::new(bits::<RD>((rows as u64 - 1) | ((cols as u64 - 1) << 8))),
            lane_id: (0..rows * cols)
                .map(|i| Constant::new(bits::<LB>(i as u64)))
                .collect(),
            acc_sign: Constant::new(sign_bit::<ACC>()),
            acc_ext: Constant::new(extension_mask::<ACC, 64>()),
            buf_write: Default::default(),
            out_sel: Default::default(),
            out_word: Default::default(),
            _rows: rows,
            _cols: cols,
            _lanes: rows * cols,
            _fields: SEQ_FIELDS.len(),
        }
    }
}

impl<
        const XW: usize,
        const WW: usize,
        const T: usize,
        const TS: usize,
        const ACC: usize,
        const AB: usize,
        const WB: usize,
        const LB: usize,
    > Logic for EngineCore<XW, WW, T, TS, ACC, AB, WB, LB>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            op,
            buf_sel,
            buf_lane,
            buf_addr,
            cycles,
            issue_1,
            clear_1,
            in_bounds_1,
            last_1,
            last_2,
            last_3,
            last_4,
            last_5,
            out_addr_1,
            out_addr_2,
            out_addr_3,
            out_addr_4,
            out_addr_5
        );
        for i in 0..self._fields {
            self.field[i].clock.next = self.clock.val();
            self.field[i].d.next = self.field[i].q.val();
        }
        // Host register writes.
        self.buf_write.next = self.reg_we.val() & (self.reg_addr.val() == self.off_lo.val());
        self.seq.start.next = self.reg_we.val()
            & (self.reg_addr.val() == self.off_ctrl.val())
            & self.reg_wdata.val().get_bit(0);
        if self.reg_we.val() {
            if self.reg_addr.val() == self.off_op.val() {
                self.op.d.next = self.reg_wdata.val().get_bit(0);
            }
            if self.reg_addr.val() == self.off_sel.val() {
                self.buf_sel.d.next = self.reg_wdata.val().get_bits::<2>(0);
            }
            if self.reg_addr.val() == self.off_lane.val() {
                self.buf_lane.d.next = self.reg_wdata.val().get_bits::<LB>(0);
            }
            if self.reg_addr.val() == self.off_addr.val() {
                self.buf_addr.d.next = self.reg_wdata.val();
            }
            for i in 0..self._fields {
                if self.reg_addr.val() == self.off_field[i].val() {
                    self.field[i].d.next = self.reg_wdata.val();
                }
            }
        }
        if self.buf_write.val() {
            self.buf_addr.d.next = self.buf_addr.q.val() + 1;
        }

        // The sequencer, from its registers (SEQ_FIELDS order).
        self.seq.clock.next = self.clock.val();
        self.seq.out_h.next = self.field[0].q.val().get_bits::<16>(0);
        self.seq.out_w.next = self.field[1].q.val().get_bits::<16>(0);
        self.seq.co_tiles.next = self.field[2].q.val().get_bits::<16>(0);
        self.seq.ci_tiles.next = self.field[3].q.val().get_bits::<16>(0);
        self.seq.kh.next = self.field[4].q.val().get_bits::<16>(0);
        self.seq.kw.next = self.field[5].q.val().get_bits::<16>(0);
        self.seq.stride.next = self.field[6].q.val().get_bits::<16>(0);
        self.seq.pad.next = self.field[7].q.val().get_bits::<16>(0);
        self.seq.h_end.next = self.field[8].q.val().get_bits::<16>(0);
        self.seq.w_end.next = self.field[9].q.val().get_bits::<16>(0);
        self.seq.in_origin.next = self.field[10].q.val();
        self.seq.in_row_step.next = self.field[11].q.val();
        self.seq.in_tile_step.next = self.field[12].q.val();
        self.seq.in_ky_step.next = self.field[13].q.val();
        self.seq.w_base.next = self.field[14].q.val();
        self.seq.out_base.next = self.field[15].q.val();
        self.seq.out_tile_step.next = self.field[16].q.val();

        // Cycles from START to DONE.
        if self.seq.busy.val() {
            self.cycles.d.next = self.cycles.q.val() + 1;
        }
        if self.seq.start.val() {
            self.cycles.d.next = 0.into();
        }

        // Stage 1: buffer reads; the control follows in registers.
        self.issue_1.d.next = self.seq.issue.val();
        self.clear_1.d.next = self.seq.clear.val();
        self.in_bounds_1.d.next = self.seq.in_bounds.val();
        self.last_1.d.next = self.seq.issue.val() & self.seq.last.val();
        self.out_addr_1.d.next = self.seq.out_addr.val();
        self.last_2.d.next = self.last_1.q.val();
        self.last_3.d.next = self.last_2.q.val();
        self.last_4.d.next = self.last_3.q.val();
        self.last_5.d.next = self.last_4.q.val();
        self.out_addr_2.d.next = self.out_addr_1.q.val();
        self.out_addr_3.d.next = self.out_addr_2.q.val();
        self.out_addr_4.d.next = self.out_addr_3.q.val();
        self.out_addr_5.d.next = self.out_addr_4.q.val();
        for c in 0..self._cols {
            self.act_in[c].read_clock.next = self.clock.val();
            self.act_in[c].write_clock.next = self.clock.val();
            self.act_in[c].read_address.next = self.seq.act_addr.val().get_bits::<AB>(0);
            self.act_in[c].write_address.next = self.buf_addr.q.val().get_bits::<AB>(0);
            self.act_in[c].write_data.next = self.reg_wdata.val().get_bits::<XW>(0);
            self.act_in[c].write_enable.next = self.buf_write.val()
                & (self.buf_sel.q.val() == 0)
                & (self.buf_lane.q.val() == self.lane_id[c].val());
            self.array.x[c].next = bits::<XW>(0);
            if self.in_bounds_1.q.val() {
                self.array.x[c].next = self.act_in[c].read_data.val();
            }
        }
        for i in 0..self._lanes {
            self.weights[i].read_clock.next = self.clock.val();
            self.weights[i].write_clock.next = self.clock.val();
            self.weights[i].read_address.next = self.seq.w_addr.val().get_bits::<WB>(0);
            self.weights[i].write_address.next = self.buf_addr.q.val().get_bits::<WB>(0);
            self.weights[i].write_data.next = self.reg_wdata.val().get_bits::<WW>(0);
            self.weights[i].write_enable.next = self.buf_write.val()
                & (self.buf_sel.q.val() == 3)
                & (self.buf_lane.q.val() == self.lane_id[i].val());
            self.array.w[i].next = self.weights[i].read_data.val();
        }

        // Stages 2-3: the array.
        self.array.clock.next = self.clock.val();
        self.array.en.next = self.issue_1.q.val();
        self.array.clear.next = self.issue_1.q.val() & self.clear_1.q.val();
        self.array.mode.next = self.op.q.val();

        // Stages 4-5: the output stage; then the write.
        self.out_sel.next = bits::<ACC>(0);
        for r in 0..self._rows {
            self.stage_a[r].clock.next = self.clock.val();
            self.stage_b[r].clock.next = self.clock.val();
            self.stage_a[r].d.next = self.array.acc[r].val();
            self.stage_b[r].d.next = self.stage_a[r].q.val();
            self.out_buf[r].read_clock.next = self.clock.val();
            self.out_buf[r].write_clock.next = self.clock.val();
            self.out_buf[r].write_address.next = self.out_addr_5.q.val().get_bits::<AB>(0);
            self.out_buf[r].write_data.next = self.stage_b[r].q.val();
            self.out_buf[r].write_enable.next = self.last_5.q.val();
            self.out_buf[r].read_address.next = self.buf_addr.q.val().get_bits::<AB>(0);
            if self.buf_lane.q.val() == self.lane_id[r].val() {
                self.out_sel.next = self.out_buf[r].read_data.val();
            }
        }
        self.out_word.next = bit_cast::<64, ACC>(self.out_sel.val());
        if (self.out_sel.val() & self.acc_sign.val()).any() {
            self.out_word.next = bit_cast::<64, ACC>(self.out_sel.val()) | self.acc_ext.val();
        }

        // Host register reads.
        self.reg_rdata.next = bits::<RD>(0);
        if self.reg_addr.val() == self.off_id.val() {
            self.reg_rdata.next = self.id.val();
        }
        if self.reg_addr.val() == self.off_geometry.val() {
            self.reg_rdata.next = self.geometry.val();
        }
        if self.reg_addr.val() == self.off_status.val() {
            self.reg_rdata.next = bit_cast::<RD, 1>(self.seq.busy.val().into())
                | (bit_cast::<RD, 1>(self.seq.done.val().into()) << 1);
        }
        if self.reg_addr.val() == self.off_cycles.val() {
            self.reg_rdata.next = self.cycles.q.val();
        }
        if self.reg_addr.val() == self.off_op.val() {
            self.reg_rdata.next = bit_cast::<RD, 1>(self.op.q.val().into());
        }
        for i in 0..self._fields {
            if self.reg_addr.val() == self.off_field[i].val() {
                self.reg_rdata.next = self.field[i].q.val();
            }
        }
        if self.reg_addr.val() == self.off_sel.val() {
            self.reg_rdata.next = bit_cast::<RD, 2>(self.buf_sel.q.val());
        }
        if self.reg_addr.val() == self.off_lane.val() {
            self.reg_rdata.next = bit_cast::<RD, LB>(self.buf_lane.q.val());
        }
        if self.reg_addr.val() == self.off_addr.val() {
            self.reg_rdata.next = self.buf_addr.q.val();
        }
        if self.reg_addr.val() == self.off_lo.val() {
            self.reg_rdata.next = self.out_word.val().get_bits::<RD>(0);
        }
        if self.reg_addr.val() == self.off_hi.val() {
            self.reg_rdata.next = self.out_word.val().get_bits::<RD>(32);
        }
    }
}
