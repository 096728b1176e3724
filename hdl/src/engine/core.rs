//! Engine core: a PE array `A` (dual-mode, or multiply-accumulate in the multiply baseline) run
//! by the [`Sequencer`] from on-chip buffers, behind the register map of
//! `shiftadd_sim::regmap`. The host writes input activations and weights through the buffer
//! access port, a layer's registers, then `START`; it polls `STATUS` and reads the outputs
//! through the access port. With `IN_SEL` a layer reads its input from the output buffer, where
//! the layer before left it.
//!
//! Datapath, per issued tap: buffer reads (1 cycle; a tap in the padding reads 0), the array (2
//! cycles), the 2-cycle post-processing stage, the output write. The array's row sums are shift
//! sums, `-sum |x - w|` in adder mode, or `sum x * w` on a multiply array. `CYCLES` counts the
//! cycles from START to DONE; it equals `shiftadd_sim::cycles::layer_cycles`. The access counters
//! count the words the buffers give to or take from the datapath; they equal
//! `shiftadd_sim::cycles::layer_accesses`.
//!
//! Buffers: `cols` input banks of `XW`-bit codes and `rows` output banks of `OW`-bit words, `AB`
//! address bits each; `rows * cols` weight lanes of `WW` bits, `WB` address bits; `rows`
//! parameter lanes of `MB`- and `BB`-bit words, `PB` address bits. The engine needs
//! `rows == cols` (an output channel's bank is its bank as the next layer's input). Register
//! reads are combinational on `reg_rdata`.

use super::{Delay, PoolUnit, PostUnit, SeqRegs, Sequencer};
use crate::array::EngineArray;
use crate::pe::{extension_mask, sign_bit};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::regmap::{
    geometry, BufSel, OpCode, OutputCode, Reg, ACCESS_REGS, BUF_SEL_BITS, CTRL_START, ENGINE_ID,
    IRQ_DONE, OP_BITS, OUTPUT_BITS, REG_ADDR_BITS, REG_DATA_BITS, SHIFT_BITS, STATUS_BUSY,
    STATUS_DONE, STREAM_BITS, TILE_BITS,
};
use shiftadd_sim::spec::AccelConfig;

const RA: usize = REG_ADDR_BITS;
const RD: usize = REG_DATA_BITS;
const SEL: usize = BUF_SEL_BITS;
/// Output-channel tile numbers and tile-sized registers.
const TB: usize = TILE_BITS;
/// Cycles a tap's `last`, output word and tile travel behind its issue: buffer read (1), array
/// (2), post-processing (2).
const PIPE: usize = 5;

fn offset(r: Reg) -> Constant<Bits<RA>> {
    Constant::new(bits::<RA>(u64::from(r.offset())))
}

fn sel(s: BufSel) -> Constant<Bits<SEL>> {
    Constant::new(bits(s as u64))
}

fn op(o: OpCode) -> Constant<Bits<OP_BITS>> {
    Constant::new(bits(o as u64))
}

/// The engine core.
#[derive(LogicBlock)]
pub struct EngineCore<
    A: EngineArray<XW, WW, ACC>,
    const XW: usize,
    const WW: usize,
    const ACC: usize,
    const AB: usize,
    const WB: usize,
    const LB: usize,
    const MB: usize,
    const BB: usize,
    const P: usize,
    const Z: usize,
    const OW: usize,
    const PB: usize,
> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Register write strobe.
    pub reg_we: Signal<In, Bit>,
    /// Register read strobe (a read of `BUF_DATA_LO` with `BUF_SEL` = output advances
    /// `BUF_ADDR`).
    pub reg_re: Signal<In, Bit>,
    /// Register byte offset.
    pub reg_addr: Signal<In, Bits<RA>>,
    /// Register write data.
    pub reg_wdata: Signal<In, Bits<RD>>,
    /// Register read data (of `reg_addr`, combinational).
    pub reg_rdata: Signal<Out, Bits<RD>>,
    /// Synchronous reset: every register of the engine to 0 (the array's accumulators through
    /// `clear`), the sequencer idle; buffer contents are kept.
    pub reset: Signal<In, Bit>,
    /// Interrupt: a bit set in both `IRQ_ENABLE` and `IRQ_STATUS`.
    pub irq: Signal<Out, Bit>,
    /// Input stream: a 64-bit word for the buffer at `BUF_SEL` / `BUF_LANE` / `BUF_ADDR`.
    pub sin_data: Signal<In, Bits<64>>,
    /// Input stream: `sin_data` is valid.
    pub sin_valid: Signal<In, Bit>,
    /// Input stream: the word is taken this cycle (not while a register write is).
    pub sin_ready: Signal<Out, Bit>,
    /// Output stream: an output word, sign-extended to 64 bits.
    pub sout_data: Signal<Out, Bits<64>>,
    /// Output stream: `sout_data` is valid.
    pub sout_valid: Signal<Out, Bit>,
    /// Output stream: the receiver takes the word this cycle.
    pub sout_ready: Signal<In, Bit>,
    /// Output stream: the last word of a `STREAM_OUT` request.
    pub sout_last: Signal<Out, Bit>,
    /// The sequencer's registers, `OUT_H` to `OUT_TILE_STEP`.
    seq_regs: SeqRegs,
    /// The loop walker.
    seq: Sequencer,
    /// The PE array.
    array: A,
    /// Input activation banks, one per column.
    act_in: Vec<RAM<Bits<XW>, AB>>,
    /// Output banks, one per row.
    out_buf: Vec<RAM<Bits<OW>, AB>>,
    /// Residual banks, one per row, laid out as the output from `RES_BASE`.
    res_buf: Vec<RAM<Bits<XW>, AB>>,
    /// `M_c` per row.
    post_m: Vec<RAM<Bits<MB>, PB>>,
    /// `B_c` per row.
    post_b: Vec<RAM<Bits<BB>, PB>>,
    /// Post-processing per row.
    post: Vec<PostUnit<ACC, MB, BB, XW, P, Z, OW>>,
    /// Weight lanes, `r * cols + c`.
    weights: Vec<RAM<Bits<WW>, WB>>,
    /// Pooling, per column.
    pool: Vec<PoolUnit<XW, OW>>,

    /// `OP`.
    op: DFF<Bits<OP_BITS>>,
    /// `OUTPUT`: mode (bits 0-1), `relu` (bit 2), `residual` (bit 3).
    output_mode: DFF<Bits<OUTPUT_BITS>>,
    /// `SHIFT`.
    shift: DFF<Bits<SHIFT_BITS>>,
    /// `LAST_ROWS`.
    last_rows: DFF<Bits<TB>>,
    /// `IN_SEL`: the input is read from the output buffer.
    in_sel: DFF<Bit>,
    /// `POST_BASE`.
    post_base: DFF<Bits<TB>>,
    /// `RES_BASE`.
    res_base: DFF<Bits<TB>>,
    /// `BUF_SEL`.
    buf_sel: DFF<Bits<SEL>>,
    /// `BUF_LANE`.
    buf_lane: DFF<Bits<LB>>,
    /// `BUF_ADDR`.
    buf_addr: DFF<Bits<RD>>,
    /// `BUF_DATA_HI` as written.
    data_hi: DFF<Bits<RD>>,
    /// `CYCLES`: cycles since START.
    cycles: DFF<Bits<RD>>,
    /// `SAT_COUNT`.
    sat_count: DFF<Bits<RD>>,
    /// The access counters, `ACT_READS` to `OUT_WRITES` (`ACCESS_REGS` order).
    access: Vec<DFF<Bits<RD>>>,
    /// `IRQ_ENABLE` and `IRQ_STATUS`.
    irq_enable: DFF<Bit>,
    irq_status: DFF<Bit>,
    /// DONE of the cycle before, to see it rise.
    done_before: DFF<Bit>,
    /// `STREAM_OUT`: output words still to read for the output stream.
    stream_left: DFF<Bits<STREAM_BITS>>,
    /// A stream read was issued last cycle: its word is on `out_word` now (and was the last).
    stream_inflight: DFF<Bit>,
    stream_inflight_last: DFF<Bit>,
    /// The output stream's two-word queue (head `head_*`, then `tail_*`), so that a word in
    /// flight always has a place when the receiver stalls.
    head_valid: DFF<Bit>,
    head_data: DFF<Bits<64>>,
    head_last: DFF<Bit>,
    tail_valid: DFF<Bit>,
    tail_data: DFF<Bits<64>>,
    tail_last: DFF<Bit>,

    /// The tap whose buffer reads are under way: issued, first of a sum, inside the input.
    issue_1: DFF<Bit>,
    clear_1: DFF<Bit>,
    in_bounds_1: DFF<Bit>,
    /// An issued tap's `last`, its sum's output word and tile, along the pipeline (`q[k]` is
    /// stage `k + 1`: the array's sums at stage 3, the output write at stage 5).
    last_d: Delay<1>,
    out_addr_d: Delay<RD>,
    tile_d: Delay<TB>,

    /// Register offsets, from the register map.
    id_at: Constant<Bits<RA>>,
    geometry_at: Constant<Bits<RA>>,
    ctrl_at: Constant<Bits<RA>>,
    status_at: Constant<Bits<RA>>,
    cycles_at: Constant<Bits<RA>>,
    sat_count_at: Constant<Bits<RA>>,
    op_at: Constant<Bits<RA>>,
    output_at: Constant<Bits<RA>>,
    shift_at: Constant<Bits<RA>>,
    last_rows_at: Constant<Bits<RA>>,
    in_sel_at: Constant<Bits<RA>>,
    post_base_at: Constant<Bits<RA>>,
    res_base_at: Constant<Bits<RA>>,
    buf_sel_at: Constant<Bits<RA>>,
    buf_lane_at: Constant<Bits<RA>>,
    buf_addr_at: Constant<Bits<RA>>,
    buf_data_lo_at: Constant<Bits<RA>>,
    buf_data_hi_at: Constant<Bits<RA>>,
    irq_enable_at: Constant<Bits<RA>>,
    irq_status_at: Constant<Bits<RA>>,
    stream_out_at: Constant<Bits<RA>>,
    access_at: Vec<Constant<Bits<RA>>>,
    /// Register values and encodings, from the register map.
    id: Constant<Bits<RD>>,
    geometry: Constant<Bits<RD>>,
    ctrl_start: Constant<Bits<RD>>,
    status_busy: Constant<Bits<RD>>,
    status_done: Constant<Bits<RD>>,
    irq_done: Constant<Bits<RD>>,
    op_adder: Constant<Bits<OP_BITS>>,
    op_max_pool: Constant<Bits<OP_BITS>>,
    op_avg_pool: Constant<Bits<OP_BITS>>,
    mode_post: Constant<Bits<2>>,
    mode_logits: Constant<Bits<2>>,
    sel_input: Constant<Bits<SEL>>,
    sel_output: Constant<Bits<SEL>>,
    sel_residual: Constant<Bits<SEL>>,
    sel_weights: Constant<Bits<SEL>>,
    sel_post_m: Constant<Bits<SEL>>,
    sel_post_b: Constant<Bits<SEL>>,
    /// Lane numbers, to decode `BUF_LANE`.
    lane_id: Vec<Constant<Bits<LB>>>,
    /// Row numbers, against `LAST_ROWS`.
    row_id: Vec<Constant<Bits<TB>>>,
    out_sign: Constant<Bits<OW>>,
    out_ext: Constant<Bits<64>>,
    high_half: Constant<Bits<6>>,
    /// Words per access: an input tap's, an output write's, a weight tap's.
    cols_words: Constant<Bits<RD>>,
    rows_words: Constant<Bits<RD>>,
    lanes_words: Constant<Bits<RD>>,

    /// `OP` is a pooling.
    is_pool: Signal<Local, Bit>,
    /// `OP` is an average pooling.
    is_avg: Signal<Local, Bit>,
    /// `{BUF_DATA_HI, reg_wdata}`.
    wdata: Signal<Local, Bits<64>>,
    /// This cycle writes `BUF_DATA_LO`.
    buf_write: Signal<Local, Bit>,
    /// This cycle reads `BUF_DATA_LO` of the output buffer.
    buf_read: Signal<Local, Bit>,
    /// This cycle takes a word from the input stream.
    stream_write: Signal<Local, Bit>,
    /// The output stream's queue gives its head away this cycle.
    stream_pop: Signal<Local, Bit>,
    /// Words in the queue after this cycle if no read were issued now.
    stream_fill: Signal<Local, Bits<2>>,
    /// This cycle reads an output word for the stream.
    stream_read: Signal<Local, Bit>,
    /// Each column's input value: the input bank's, or the output bank's low bits.
    x_src: Vec<Signal<Local, Bits<XW>>>,
    /// The pooled window's tile is the last.
    pool_last_tile: Signal<Local, Bit>,
    /// The column's channel is in the layer (as `row_valid`, two cycles after the read).
    pool_valid: Vec<Signal<Local, Bit>>,
    /// The written sum's tile is the last.
    last_tile: Signal<Local, Bit>,
    /// The sum's tile is not the last, or its row is a channel of the layer.
    row_valid: Vec<Signal<Local, Bit>>,
    /// The parameter word of the sum's tile (a part-select of an expression is not Verilog, so
    /// every sum that is sliced has its own signal).
    post_addr: Signal<Local, Bits<TB>>,
    /// The residual word of the sum's output word: `out_addr - out_base + RES_BASE`.
    res_addr: Signal<Local, Bits<RD>>,
    /// Saturations counted so far among the rows (`sat_sum[r]` before row `r`).
    sat_sum: Vec<Signal<Local, Bits<RD>>>,
    sat_next: Signal<Local, Bits<RD>>,
    /// This cycle writes a convolution's output word (stage 5), or a pooling's (stage 2).
    conv_write: Signal<Local, Bit>,
    pool_write: Signal<Local, Bit>,
    /// Words each access counter adds this cycle, and its sum.
    access_inc: Vec<Signal<Local, Bits<RD>>>,
    access_next: Vec<Signal<Local, Bits<RD>>>,
    /// The output word of bank `BUF_LANE`.
    out_sel: Signal<Local, Bits<OW>>,
    /// The selected output word, sign-extended.
    out_word: Signal<Local, Bits<64>>,
    _rows: usize,
    _cols: usize,
    _lanes: usize,
    _counters: usize,
    /// 1 when the array has a `mode` input (a loop bound).
    _modes: usize,
}

impl<
        A: EngineArray<XW, WW, ACC>,
        const XW: usize,
        const WW: usize,
        const ACC: usize,
        const AB: usize,
        const WB: usize,
        const LB: usize,
        const MB: usize,
        const BB: usize,
        const P: usize,
        const Z: usize,
        const OW: usize,
        const PB: usize,
    > EngineCore<A, XW, WW, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
{
    /// The engine of `cfg` (its rows, columns, shift range and register map).
    pub fn new(cfg: &AccelConfig) -> Self {
        let (rows, cols) = (cfg.rows as usize, cfg.cols as usize);
        assert_eq!(rows, cols, "the engine needs rows = cols");
        assert!(rows * cols <= 1 << LB, "lane numbers fit BUF_LANE");
        assert!(OW <= 64, "output words fit the 64-bit access port");
        let array = A::build(rows, cols, cfg.formats.pmax());
        let modes = array._modes;
        Self {
            clock: Default::default(),
            reg_we: Default::default(),
            reg_re: Default::default(),
            reg_addr: Default::default(),
            reg_wdata: Default::default(),
            reg_rdata: Default::default(),
            reset: Default::default(),
            irq: Default::default(),
            sin_data: Default::default(),
            sin_valid: Default::default(),
            sin_ready: Default::default(),
            sout_data: Default::default(),
            sout_valid: Default::default(),
            sout_ready: Default::default(),
            sout_last: Default::default(),
            seq_regs: Default::default(),
            seq: Default::default(),
            array,
            act_in: (0..cols).map(|_| Default::default()).collect(),
            out_buf: (0..rows).map(|_| Default::default()).collect(),
            res_buf: (0..rows).map(|_| Default::default()).collect(),
            post_m: (0..rows).map(|_| Default::default()).collect(),
            post_b: (0..rows).map(|_| Default::default()).collect(),
            post: (0..rows)
                .map(|_| PostUnit::new(cfg.formats.act_range(), cfg.formats.add_bits))
                .collect(),
            weights: (0..rows * cols).map(|_| Default::default()).collect(),
            pool: (0..cols).map(|_| Default::default()).collect(),
            op: Default::default(),
            output_mode: Default::default(),
            shift: Default::default(),
            last_rows: Default::default(),
            in_sel: Default::default(),
            post_base: Default::default(),
            res_base: Default::default(),
            buf_sel: Default::default(),
            buf_lane: Default::default(),
            buf_addr: Default::default(),
            data_hi: Default::default(),
            cycles: Default::default(),
            sat_count: Default::default(),
            access: ACCESS_REGS.iter().map(|_| Default::default()).collect(),
            irq_enable: Default::default(),
            irq_status: Default::default(),
            done_before: Default::default(),
            stream_left: Default::default(),
            stream_inflight: Default::default(),
            stream_inflight_last: Default::default(),
            head_valid: Default::default(),
            head_data: Default::default(),
            head_last: Default::default(),
            tail_valid: Default::default(),
            tail_data: Default::default(),
            tail_last: Default::default(),
            issue_1: Default::default(),
            clear_1: Default::default(),
            in_bounds_1: Default::default(),
            last_d: Delay::new(PIPE),
            out_addr_d: Delay::new(PIPE),
            tile_d: Delay::new(PIPE),
            id_at: offset(Reg::Id),
            geometry_at: offset(Reg::Geometry),
            ctrl_at: offset(Reg::Ctrl),
            status_at: offset(Reg::Status),
            cycles_at: offset(Reg::Cycles),
            sat_count_at: offset(Reg::SatCount),
            op_at: offset(Reg::Op),
            output_at: offset(Reg::Output),
            shift_at: offset(Reg::Shift),
            last_rows_at: offset(Reg::LastRows),
            in_sel_at: offset(Reg::InSel),
            post_base_at: offset(Reg::PostBase),
            res_base_at: offset(Reg::ResBase),
            buf_sel_at: offset(Reg::BufSel),
            buf_lane_at: offset(Reg::BufLane),
            buf_addr_at: offset(Reg::BufAddr),
            buf_data_lo_at: offset(Reg::BufDataLo),
            buf_data_hi_at: offset(Reg::BufDataHi),
            irq_enable_at: offset(Reg::IrqEnable),
            irq_status_at: offset(Reg::IrqStatus),
            stream_out_at: offset(Reg::StreamOut),
            access_at: ACCESS_REGS.iter().map(|&r| offset(r)).collect(),
            id: Constant::new(bits::<RD>(u64::from(ENGINE_ID))),
            geometry: Constant::new(bits::<RD>(u64::from(geometry(cfg)))),
            ctrl_start: Constant::new(bits::<RD>(u64::from(CTRL_START))),
            status_busy: Constant::new(bits::<RD>(u64::from(STATUS_BUSY))),
            status_done: Constant::new(bits::<RD>(u64::from(STATUS_DONE))),
            irq_done: Constant::new(bits::<RD>(u64::from(IRQ_DONE))),
            op_adder: op(OpCode::Adder),
            op_max_pool: op(OpCode::MaxPool),
            op_avg_pool: op(OpCode::AvgPool),
            mode_post: Constant::new(bits(OutputCode::Post as u64)),
            mode_logits: Constant::new(bits(OutputCode::Logits as u64)),
            sel_input: sel(BufSel::Input),
            sel_output: sel(BufSel::Output),
            sel_residual: sel(BufSel::Residual),
            sel_weights: sel(BufSel::Weights),
            sel_post_m: sel(BufSel::PostM),
            sel_post_b: sel(BufSel::PostB),
            lane_id: (0..rows * cols)
                .map(|i| Constant::new(bits::<LB>(i as u64)))
                .collect(),
            row_id: (0..rows)
                .map(|r| Constant::new(bits::<TB>(r as u64)))
                .collect(),
            out_sign: Constant::new(sign_bit::<OW>()),
            out_ext: Constant::new(extension_mask::<OW, 64>()),
            high_half: Constant::new(bits::<6>(32)),
            cols_words: Constant::new(bits::<RD>(cols as u64)),
            rows_words: Constant::new(bits::<RD>(rows as u64)),
            lanes_words: Constant::new(bits::<RD>((rows * cols) as u64)),
            is_pool: Default::default(),
            is_avg: Default::default(),
            wdata: Default::default(),
            buf_write: Default::default(),
            buf_read: Default::default(),
            stream_write: Default::default(),
            stream_pop: Default::default(),
            stream_fill: Default::default(),
            stream_read: Default::default(),
            x_src: (0..cols).map(|_| Default::default()).collect(),
            pool_last_tile: Default::default(),
            pool_valid: (0..cols).map(|_| Default::default()).collect(),
            last_tile: Default::default(),
            row_valid: (0..rows).map(|_| Default::default()).collect(),
            post_addr: Default::default(),
            res_addr: Default::default(),
            sat_sum: (0..=rows).map(|_| Default::default()).collect(),
            sat_next: Default::default(),
            conv_write: Default::default(),
            pool_write: Default::default(),
            access_inc: ACCESS_REGS.iter().map(|_| Default::default()).collect(),
            access_next: ACCESS_REGS.iter().map(|_| Default::default()).collect(),
            out_sel: Default::default(),
            out_word: Default::default(),
            _rows: rows,
            _cols: cols,
            _lanes: rows * cols,
            _counters: ACCESS_REGS.len(),
            _modes: modes,
        }
    }
}

impl<
        A: EngineArray<XW, WW, ACC>,
        const XW: usize,
        const WW: usize,
        const ACC: usize,
        const AB: usize,
        const WB: usize,
        const LB: usize,
        const MB: usize,
        const BB: usize,
        const P: usize,
        const Z: usize,
        const OW: usize,
        const PB: usize,
    > crate::compiled::EngineBlock
    for EngineCore<A, XW, WW, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
{
    fn build(cfg: &AccelConfig) -> Self {
        Self::new(cfg)
    }
}

impl<
        A: EngineArray<XW, WW, ACC>,
        const XW: usize,
        const WW: usize,
        const ACC: usize,
        const AB: usize,
        const WB: usize,
        const LB: usize,
        const MB: usize,
        const BB: usize,
        const P: usize,
        const Z: usize,
        const OW: usize,
        const PB: usize,
    > Logic for EngineCore<A, XW, WW, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            op,
            output_mode,
            shift,
            last_rows,
            in_sel,
            post_base,
            res_base,
            buf_sel,
            buf_lane,
            buf_addr,
            data_hi,
            cycles,
            sat_count,
            issue_1,
            clear_1,
            in_bounds_1,
            irq_enable,
            irq_status,
            done_before,
            stream_left,
            stream_inflight,
            stream_inflight_last,
            head_valid,
            head_data,
            head_last,
            tail_valid,
            tail_data,
            tail_last
        );
        // Locals are assigned before they are read: rust-hdl's check calls anything else a loop.
        self.is_pool.next = (self.op.q.val() == self.op_max_pool.val())
            | (self.op.q.val() == self.op_avg_pool.val());
        self.is_avg.next = self.op.q.val() == self.op_avg_pool.val();

        // Host register writes; the input stream takes the cycles without one.
        self.sin_ready.next = !self.reg_we.val() & !self.reset.val();
        self.stream_write.next = self.sin_valid.val() & self.sin_ready.val();
        self.buf_write.next = (self.reg_we.val()
            & (self.reg_addr.val() == self.buf_data_lo_at.val()))
            | self.stream_write.val();
        // Output words stream at one per cycle: each read of the low half moves to the next.
        self.buf_read.next = self.reg_re.val()
            & (self.reg_addr.val() == self.buf_data_lo_at.val())
            & (self.buf_sel.q.val() == self.sel_output.val());
        self.seq.start.next = self.reg_we.val()
            & (self.reg_addr.val() == self.ctrl_at.val())
            & (self.reg_wdata.val() & self.ctrl_start.val()).any();
        if self.reg_we.val() {
            if self.reg_addr.val() == self.op_at.val() {
                self.op.d.next = self.reg_wdata.val().get_bits::<OP_BITS>(0);
            }
            if self.reg_addr.val() == self.output_at.val() {
                self.output_mode.d.next = self.reg_wdata.val().get_bits::<OUTPUT_BITS>(0);
            }
            if self.reg_addr.val() == self.shift_at.val() {
                self.shift.d.next = self.reg_wdata.val().get_bits::<SHIFT_BITS>(0);
            }
            if self.reg_addr.val() == self.last_rows_at.val() {
                self.last_rows.d.next = self.reg_wdata.val().get_bits::<TB>(0);
            }
            if self.reg_addr.val() == self.in_sel_at.val() {
                self.in_sel.d.next = self.reg_wdata.val().get_bit(0);
            }
            if self.reg_addr.val() == self.post_base_at.val() {
                self.post_base.d.next = self.reg_wdata.val().get_bits::<TB>(0);
            }
            if self.reg_addr.val() == self.res_base_at.val() {
                self.res_base.d.next = self.reg_wdata.val().get_bits::<TB>(0);
            }
            if self.reg_addr.val() == self.buf_sel_at.val() {
                self.buf_sel.d.next = self.reg_wdata.val().get_bits::<SEL>(0);
            }
            if self.reg_addr.val() == self.buf_lane_at.val() {
                self.buf_lane.d.next = self.reg_wdata.val().get_bits::<LB>(0);
            }
            if self.reg_addr.val() == self.buf_addr_at.val() {
                self.buf_addr.d.next = self.reg_wdata.val();
            }
            if self.reg_addr.val() == self.buf_data_hi_at.val() {
                self.data_hi.d.next = self.reg_wdata.val();
            }
            if self.reg_addr.val() == self.irq_enable_at.val() {
                self.irq_enable.d.next = self.reg_wdata.val().get_bit(0);
            }
            if self.reg_addr.val() == self.stream_out_at.val() {
                self.stream_left.d.next = self.reg_wdata.val().get_bits::<STREAM_BITS>(0);
            }
        }
        self.wdata.next = (bit_cast::<64, RD>(self.data_hi.q.val()) << self.high_half.val())
            | bit_cast::<64, RD>(self.reg_wdata.val());
        if self.stream_write.val() {
            self.wdata.next = self.sin_data.val();
        }

        // Interrupt: IRQ_STATUS is set when DONE rises, cleared by writing 1.
        self.done_before.d.next = self.seq.done.val();
        if self.reg_we.val()
            & (self.reg_addr.val() == self.irq_status_at.val())
            & (self.reg_wdata.val() & self.irq_done.val()).any()
        {
            self.irq_status.d.next = false;
        }
        if self.seq.done.val() & !self.done_before.q.val() {
            self.irq_status.d.next = true;
        }
        self.irq.next = self.irq_enable.q.val() & self.irq_status.q.val();

        // The sequencer, from its registers.
        self.seq_regs.clock.next = self.clock.val();
        self.seq_regs.we.next = self.reg_we.val();
        self.seq_regs.addr.next = self.reg_addr.val();
        self.seq_regs.wdata.next = self.reg_wdata.val();
        self.seq.clock.next = self.clock.val();
        self.seq.out_h.next = self.seq_regs.out_h.val();
        self.seq.out_w.next = self.seq_regs.out_w.val();
        self.seq.co_tiles.next = self.seq_regs.co_tiles.val();
        self.seq.ci_tiles.next = self.seq_regs.ci_tiles.val();
        self.seq.kh.next = self.seq_regs.kh.val();
        self.seq.kw.next = self.seq_regs.kw.val();
        self.seq.stride.next = self.seq_regs.stride.val();
        self.seq.pad.next = self.seq_regs.pad.val();
        self.seq.h_end.next = self.seq_regs.h_end.val();
        self.seq.w_end.next = self.seq_regs.w_end.val();
        self.seq.in_origin.next = self.seq_regs.in_origin.val();
        self.seq.in_row_step.next = self.seq_regs.in_row_step.val();
        self.seq.in_tile_step.next = self.seq_regs.in_tile_step.val();
        self.seq.in_ky_step.next = self.seq_regs.in_ky_step.val();
        self.seq.w_base.next = self.seq_regs.w_base.val();
        self.seq.out_base.next = self.seq_regs.out_base.val();
        self.seq.out_tile_step.next = self.seq_regs.out_tile_step.val();
        self.seq.pool.next = self.is_pool.val();

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
        self.last_d.clock.next = self.clock.val();
        self.last_d.d.next = (self.seq.issue.val() & self.seq.last.val()).into();
        self.out_addr_d.clock.next = self.clock.val();
        self.out_addr_d.d.next = self.seq.out_addr.val();
        self.tile_d.clock.next = self.clock.val();
        self.tile_d.d.next = self.seq.tile.val();
        for c in 0..self._cols {
            self.act_in[c].read_clock.next = self.clock.val();
            self.act_in[c].write_clock.next = self.clock.val();
            self.act_in[c].read_address.next = self.seq.act_addr.val().get_bits::<AB>(0);
            self.act_in[c].write_address.next = self.buf_addr.q.val().get_bits::<AB>(0);
            self.act_in[c].write_data.next = self.wdata.val().get_bits::<XW>(0);
            self.act_in[c].write_enable.next = self.buf_write.val()
                & (self.buf_sel.q.val() == self.sel_input.val())
                & (self.buf_lane.q.val() == self.lane_id[c].val());
            self.x_src[c].next = self.act_in[c].read_data.val();
            if self.in_sel.q.val() {
                self.x_src[c].next = self.out_buf[c].read_data.val().get_bits::<XW>(0);
            }
            self.array.x[c].next = bits::<XW>(0);
            if self.in_bounds_1.q.val() {
                self.array.x[c].next = self.x_src[c].val();
            }
        }
        // Pooling: one window value per cycle and column, the array idle.
        self.pool_last_tile.next = self.tile_d.q[1].val() == (self.seq_regs.co_tiles.val() - 1);
        for c in 0..self._cols {
            self.pool[c].clock.next = self.clock.val();
            self.pool[c].x.next = self.x_src[c].val();
            self.pool[c].en.next = self.issue_1.q.val() & self.is_pool.val();
            self.pool[c].first.next = self.clear_1.q.val();
            self.pool[c].avg.next = self.is_avg.val();
            self.pool[c].shift.next = self.shift.q.val();
            self.pool_valid[c].next =
                !self.pool_last_tile.val() | (self.row_id[c].val() < self.last_rows.q.val());
        }
        for i in 0..self._lanes {
            self.weights[i].read_clock.next = self.clock.val();
            self.weights[i].write_clock.next = self.clock.val();
            self.weights[i].read_address.next = self.seq.w_addr.val().get_bits::<WB>(0);
            self.weights[i].write_address.next = self.buf_addr.q.val().get_bits::<WB>(0);
            self.weights[i].write_data.next = self.wdata.val().get_bits::<WW>(0);
            self.weights[i].write_enable.next = self.buf_write.val()
                & (self.buf_sel.q.val() == self.sel_weights.val())
                & (self.buf_lane.q.val() == self.lane_id[i].val());
            self.array.w[i].next = self.weights[i].read_data.val();
        }

        // Stages 2-3: the array (a dual-mode array takes its mode from `OP`).
        self.array.clock.next = self.clock.val();
        self.array.en.next = self.issue_1.q.val();
        self.array.clear.next = self.issue_1.q.val() & self.clear_1.q.val();
        for _m in 0..self._modes {
            self.array.mode.next = self.op.q.val() == self.op_adder.val();
        }

        // Stages 4-5: post-processing (its parameters and residuals read one cycle ahead, at
        // the sum's tile and output word); then the write. Rows past the layer's channels in
        // its last tile write 0 and count no saturation.
        self.last_tile.next = self.tile_d.q[4].val() == (self.seq_regs.co_tiles.val() - 1);
        self.post_addr.next = self.post_base.q.val() + self.tile_d.q[1].val();
        self.res_addr.next = self.out_addr_d.q[1].val() - self.seq_regs.out_base.val()
            + bit_cast::<RD, TB>(self.res_base.q.val());
        self.sat_sum[0].next = bits::<RD>(0);
        self.out_sel.next = bits::<OW>(0);
        self.conv_write.next = self.last_d.q[4].val().any() & !self.is_pool.val();
        self.pool_write.next = self.last_d.q[1].val().any() & self.is_pool.val();
        for r in 0..self._rows {
            self.res_buf[r].read_clock.next = self.clock.val();
            self.res_buf[r].write_clock.next = self.clock.val();
            self.res_buf[r].read_address.next = self.res_addr.val().get_bits::<AB>(0);
            self.res_buf[r].write_address.next = self.buf_addr.q.val().get_bits::<AB>(0);
            self.res_buf[r].write_data.next = self.wdata.val().get_bits::<XW>(0);
            self.res_buf[r].write_enable.next = self.buf_write.val()
                & (self.buf_sel.q.val() == self.sel_residual.val())
                & (self.buf_lane.q.val() == self.lane_id[r].val());
            self.post_m[r].read_clock.next = self.clock.val();
            self.post_m[r].write_clock.next = self.clock.val();
            self.post_m[r].read_address.next = self.post_addr.val().get_bits::<PB>(0);
            self.post_m[r].write_address.next = self.buf_addr.q.val().get_bits::<PB>(0);
            self.post_m[r].write_data.next = self.wdata.val().get_bits::<MB>(0);
            self.post_m[r].write_enable.next = self.buf_write.val()
                & (self.buf_sel.q.val() == self.sel_post_m.val())
                & (self.buf_lane.q.val() == self.lane_id[r].val());
            self.post_b[r].read_clock.next = self.clock.val();
            self.post_b[r].write_clock.next = self.clock.val();
            self.post_b[r].read_address.next = self.post_addr.val().get_bits::<PB>(0);
            self.post_b[r].write_address.next = self.buf_addr.q.val().get_bits::<PB>(0);
            self.post_b[r].write_data.next = self.wdata.val().get_bits::<BB>(0);
            self.post_b[r].write_enable.next = self.buf_write.val()
                & (self.buf_sel.q.val() == self.sel_post_b.val())
                & (self.buf_lane.q.val() == self.lane_id[r].val());
            self.post[r].clock.next = self.clock.val();
            self.post[r].v.next = self.array.acc[r].val();
            self.post[r].m.next = self.post_m[r].read_data.val();
            self.post[r].b.next = self.post_b[r].read_data.val();
            self.post[r].r.next = self.res_buf[r].read_data.val();
            self.post[r].s.next = self.shift.q.val();
            self.post[r].mode.next = self.output_mode.q.val().get_bits::<2>(0);
            self.post[r].relu.next = self.output_mode.q.val().get_bit(2);
            self.post[r].residual.next = self.output_mode.q.val().get_bit(3);
            self.row_valid[r].next =
                !self.last_tile.val() | (self.row_id[r].val() < self.last_rows.q.val());
            self.sat_sum[r + 1].next = self.sat_sum[r].val();
            if self.conv_write.val() & self.row_valid[r].val() & self.post[r].sat.val() {
                self.sat_sum[r + 1].next = self.sat_sum[r].val() + 1;
            }
            self.out_buf[r].read_clock.next = self.clock.val();
            self.out_buf[r].write_clock.next = self.clock.val();
            self.out_buf[r].write_address.next = self.out_addr_d.q[4].val().get_bits::<AB>(0);
            self.out_buf[r].write_data.next = bits::<OW>(0);
            if self.row_valid[r].val() {
                self.out_buf[r].write_data.next = self.post[r].out.val();
            }
            self.out_buf[r].write_enable.next = self.conv_write.val();
            if self.is_pool.val() {
                self.out_buf[r].write_address.next = self.out_addr_d.q[1].val().get_bits::<AB>(0);
                self.out_buf[r].write_data.next = bits::<OW>(0);
                if self.pool_valid[r].val() {
                    self.out_buf[r].write_data.next = self.pool[r].out.val();
                }
                self.out_buf[r].write_enable.next = self.pool_write.val();
            }
            // The host may overwrite output words between layers (tests, fault injection).
            if self.buf_write.val()
                & (self.buf_sel.q.val() == self.sel_output.val())
                & (self.buf_lane.q.val() == self.lane_id[r].val())
            {
                self.out_buf[r].write_address.next = self.buf_addr.q.val().get_bits::<AB>(0);
                self.out_buf[r].write_data.next = self.wdata.val().get_bits::<OW>(0);
                self.out_buf[r].write_enable.next = true;
            }
            self.out_buf[r].read_address.next = self.buf_addr.q.val().get_bits::<AB>(0);
            if self.in_sel.q.val() & self.seq.busy.val() {
                self.out_buf[r].read_address.next = self.seq.act_addr.val().get_bits::<AB>(0);
            }
            if self.buf_lane.q.val() == self.lane_id[r].val() {
                self.out_sel.next = self.out_buf[r].read_data.val();
            }
        }
        // SAT_COUNT stops at its largest value.
        for nr in self._rows..(self._rows + 1) {
            self.sat_next.next = self.sat_count.q.val() + self.sat_sum[nr].val();
        }
        if self.sat_next.val() >= self.sat_count.q.val() {
            self.sat_count.d.next = self.sat_next.val();
        } else {
            self.sat_count.d.next = !bits::<RD>(0);
        }
        if self.seq.start.val() {
            self.sat_count.d.next = bits::<RD>(0);
        }
        // The access counters (`shiftadd_sim::cycles::layer_accesses`): input words per tap
        // inside the input, weight words per convolution tap, and per output write its words,
        // residuals and post-processing pairs. Each stops at its largest value.
        for k in 0..self._counters {
            self.access_inc[k].next = bits::<RD>(0);
        }
        if self.issue_1.q.val() & self.in_bounds_1.q.val() {
            self.access_inc[0].next = self.cols_words.val();
        }
        if self.conv_write.val() & self.output_mode.q.val().get_bit(3) {
            self.access_inc[1].next = self.rows_words.val();
        }
        if self.issue_1.q.val() & !self.is_pool.val() {
            self.access_inc[2].next = self.lanes_words.val();
        }
        if self.conv_write.val()
            & ((self.output_mode.q.val().get_bits::<2>(0) == self.mode_post.val())
                | (self.output_mode.q.val().get_bits::<2>(0) == self.mode_logits.val()))
        {
            self.access_inc[3].next = self.rows_words.val();
        }
        if self.conv_write.val() | self.pool_write.val() {
            self.access_inc[4].next = self.rows_words.val();
        }
        for k in 0..self._counters {
            self.access[k].clock.next = self.clock.val();
            self.access_next[k].next = self.access[k].q.val() + self.access_inc[k].val();
            self.access[k].d.next = self.access_next[k].val();
            if self.access_next[k].val() < self.access[k].q.val() {
                self.access[k].d.next = !bits::<RD>(0);
            }
            if self.seq.start.val() | self.reset.val() {
                self.access[k].d.next = bits::<RD>(0);
            }
        }
        self.out_word.next = bit_cast::<64, OW>(self.out_sel.val());
        if (self.out_sel.val() & self.out_sign.val()).any() {
            self.out_word.next = bit_cast::<64, OW>(self.out_sel.val()) | self.out_ext.val();
        }

        // The output stream: a read issued now shows on `out_word` next cycle and joins the
        // queue; a read is issued only when the queue will have room for it.
        self.stream_pop.next = self.head_valid.q.val() & self.sout_ready.val();
        self.stream_fill.next = bit_cast::<2, 1>(self.head_valid.q.val().into())
            + bit_cast::<2, 1>(self.tail_valid.q.val().into())
            + bit_cast::<2, 1>(self.stream_inflight.q.val().into())
            - bit_cast::<2, 1>(self.stream_pop.val().into());
        self.stream_read.next =
            self.stream_left.q.val().any() & (self.stream_fill.val() <= 1) & !self.reset.val();
        self.stream_inflight.d.next = self.stream_read.val();
        self.stream_inflight_last.d.next = self.stream_left.q.val() == 1;
        if self.stream_read.val() {
            self.stream_left.d.next = self.stream_left.q.val() - 1;
        }
        // A read is issued only when the queue will have room, so a word arrives with both
        // entries full only when the head leaves in the same cycle.
        if self.stream_pop.val() {
            self.head_valid.d.next = self.tail_valid.q.val();
            self.head_data.d.next = self.tail_data.q.val();
            self.head_last.d.next = self.tail_last.q.val();
            self.tail_valid.d.next = false;
            if self.stream_inflight.q.val() {
                self.head_valid.d.next = true;
                self.head_data.d.next = self.out_word.val();
                self.head_last.d.next = self.stream_inflight_last.q.val();
            }
        } else if self.stream_inflight.q.val() {
            if self.head_valid.q.val() {
                self.tail_valid.d.next = true;
                self.tail_data.d.next = self.out_word.val();
                self.tail_last.d.next = self.stream_inflight_last.q.val();
            } else {
                self.head_valid.d.next = true;
                self.head_data.d.next = self.out_word.val();
                self.head_last.d.next = self.stream_inflight_last.q.val();
            }
        }
        self.sout_valid.next = self.head_valid.q.val();
        self.sout_data.next = self.head_data.q.val();
        self.sout_last.next = self.head_last.q.val();
        if self.buf_write.val() | self.buf_read.val() | self.stream_read.val() {
            self.buf_addr.d.next = self.buf_addr.q.val() + 1;
        }

        // Host register reads.
        self.reg_rdata.next = self.seq_regs.rdata.val();
        if self.reg_addr.val() == self.id_at.val() {
            self.reg_rdata.next = self.id.val();
        }
        if self.reg_addr.val() == self.geometry_at.val() {
            self.reg_rdata.next = self.geometry.val();
        }
        if self.reg_addr.val() == self.status_at.val() {
            self.reg_rdata.next = bits::<RD>(0);
            if self.seq.busy.val() {
                self.reg_rdata.next = self.status_busy.val();
            }
            if self.seq.done.val() {
                self.reg_rdata.next = self.status_done.val();
                if self.seq.busy.val() {
                    self.reg_rdata.next = self.status_busy.val() | self.status_done.val();
                }
            }
        }
        if self.reg_addr.val() == self.cycles_at.val() {
            self.reg_rdata.next = self.cycles.q.val();
        }
        if self.reg_addr.val() == self.sat_count_at.val() {
            self.reg_rdata.next = self.sat_count.q.val();
        }
        for k in 0..self._counters {
            if self.reg_addr.val() == self.access_at[k].val() {
                self.reg_rdata.next = self.access[k].q.val();
            }
        }
        if self.reg_addr.val() == self.op_at.val() {
            self.reg_rdata.next = bit_cast::<RD, OP_BITS>(self.op.q.val());
        }
        if self.reg_addr.val() == self.output_at.val() {
            self.reg_rdata.next = bit_cast::<RD, OUTPUT_BITS>(self.output_mode.q.val());
        }
        if self.reg_addr.val() == self.shift_at.val() {
            self.reg_rdata.next = bit_cast::<RD, SHIFT_BITS>(self.shift.q.val());
        }
        if self.reg_addr.val() == self.last_rows_at.val() {
            self.reg_rdata.next = bit_cast::<RD, TB>(self.last_rows.q.val());
        }
        if self.reg_addr.val() == self.in_sel_at.val() {
            self.reg_rdata.next = bit_cast::<RD, 1>(self.in_sel.q.val().into());
        }
        if self.reg_addr.val() == self.post_base_at.val() {
            self.reg_rdata.next = bit_cast::<RD, TB>(self.post_base.q.val());
        }
        if self.reg_addr.val() == self.res_base_at.val() {
            self.reg_rdata.next = bit_cast::<RD, TB>(self.res_base.q.val());
        }
        if self.reg_addr.val() == self.buf_sel_at.val() {
            self.reg_rdata.next = bit_cast::<RD, SEL>(self.buf_sel.q.val());
        }
        if self.reg_addr.val() == self.buf_lane_at.val() {
            self.reg_rdata.next = bit_cast::<RD, LB>(self.buf_lane.q.val());
        }
        if self.reg_addr.val() == self.buf_addr_at.val() {
            self.reg_rdata.next = self.buf_addr.q.val();
        }
        if self.reg_addr.val() == self.buf_data_lo_at.val() {
            self.reg_rdata.next = self.out_word.val().get_bits::<RD>(0);
        }
        if self.reg_addr.val() == self.buf_data_hi_at.val() {
            self.reg_rdata.next = self.out_word.val().get_bits::<RD>(32);
        }
        if self.reg_addr.val() == self.irq_enable_at.val() {
            self.reg_rdata.next = bit_cast::<RD, 1>(self.irq_enable.q.val().into());
        }
        if self.reg_addr.val() == self.irq_status_at.val() {
            self.reg_rdata.next = bit_cast::<RD, 1>(self.irq_status.q.val().into());
        }
        if self.reg_addr.val() == self.stream_out_at.val() {
            self.reg_rdata.next = bit_cast::<RD, STREAM_BITS>(self.stream_left.q.val());
        }

        // Reset: every register to 0, the array's accumulators cleared, the sequencer idle.
        self.seq_regs.reset.next = self.reset.val();
        self.seq.reset.next = self.reset.val();
        self.last_d.reset.next = self.reset.val();
        self.out_addr_d.reset.next = self.reset.val();
        self.tile_d.reset.next = self.reset.val();
        for c in 0..self._cols {
            self.pool[c].reset.next = self.reset.val();
        }
        for r in 0..self._rows {
            self.post[r].reset.next = self.reset.val();
        }
        if self.reset.val() {
            self.array.en.next = false;
            self.array.clear.next = true;
            self.op.d.next = 0.into();
            self.output_mode.d.next = 0.into();
            self.shift.d.next = 0.into();
            self.last_rows.d.next = 0.into();
            self.in_sel.d.next = false;
            self.post_base.d.next = 0.into();
            self.res_base.d.next = 0.into();
            self.buf_sel.d.next = 0.into();
            self.buf_lane.d.next = 0.into();
            self.buf_addr.d.next = 0.into();
            self.data_hi.d.next = 0.into();
            self.cycles.d.next = 0.into();
            self.sat_count.d.next = 0.into();
            self.issue_1.d.next = false;
            self.clear_1.d.next = false;
            self.in_bounds_1.d.next = false;
            self.irq_enable.d.next = false;
            self.irq_status.d.next = false;
            self.done_before.d.next = false;
            self.stream_left.d.next = 0.into();
            self.stream_inflight.d.next = false;
            self.stream_inflight_last.d.next = false;
            self.head_valid.d.next = false;
            self.head_data.d.next = 0.into();
            self.head_last.d.next = false;
            self.tail_valid.d.next = false;
            self.tail_data.d.next = 0.into();
            self.tail_last.d.next = false;
        }
    }
}
