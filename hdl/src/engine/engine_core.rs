//! Engine core: a PE array (dual-mode, or multiply-accumulate in the multiply baseline) run by
//! the [`Sequencer`] from on-chip buffers, behind the register map of
//! `shiftadd_sim::engine::registers`. The host writes input activations and weights through the
//! buffer access port, the sequencer registers and `OP`, then `START`; it polls `STATUS` and
//! reads the outputs through the access port. With `IN_SEL` a layer reads its input from the
//! output buffer, where the layer before left it.
//!
//! Datapath, per issued tap: buffer reads (1 cycle; a tap in the padding reads 0), the array (2
//! cycles), the 2-cycle post-processing stage, the output write. The array's row sums are shift
//! sums, `-sum |x - w|` in adder mode, or `sum x * w` on a multiply array. `CYCLES` counts the
//! cycles from START to DONE; it equals `shiftadd_sim::cycles::layer_cycles`.
//!
//! Buffers: `cols` input banks of `XW`-bit codes and `rows` output banks of `OW`-bit words, `AB`
//! address bits each; `rows * cols` weight lanes of `WW` bits, `WB` address bits. The engine
//! needs `rows == cols` (an output channel's bank is its bank as the next layer's input).

use super::{PoolUnit, PostUnit, Sequencer};
use crate::array::{DualArray, MacArray};
use crate::pe::{extension_mask, sign_bit};
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::engine::{geometry, register_offset, ENGINE_ID, SEQ_FIELDS};
use shiftadd_sim::spec::AccelConfig;

/// Register address width (byte offsets).
const RA: usize = 8;
/// Register data width.
const RD: usize = 32;

fn offset(cfg: &AccelConfig, name: &str) -> Constant<Bits<RA>> {
    let o = register_offset(cfg, name).unwrap_or_else(|| panic!("register {name}"));
    Constant::new(bits::<RA>(u64::from(o)))
}

/// Defines one engine core for an array block: the engines differ only in their array and
/// whether `OP` sets its mode (dual-mode arrays: 1 adder, else shift).
macro_rules! engine_core {
    ($(#[$doc:meta])* $name:ident, $array:ident $(, mode: $mode:ident)?) => {
        $(#[$doc])*
        #[derive(LogicBlock)]
        pub struct $name<
            const XW: usize,
            const WW: usize,
            const T: usize,
            const TS: usize,
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
            /// Register read strobe (a read of `BUF_DATA_LO` with `BUF_SEL` = 1 advances `BUF_ADDR`).
            pub reg_re: Signal<In, Bit>,
            /// Register byte offset.
            pub reg_addr: Signal<In, Bits<RA>>,
            /// Register write data.
            pub reg_wdata: Signal<In, Bits<RD>>,
            /// Register read data (of `reg_addr`, combinational).
            pub reg_rdata: Signal<Out, Bits<RD>>,
            seq: Sequencer,
            array: $array<XW, WW, T, TS, ACC>,
            /// Input activation banks.
            act_in: Vec<RAM<Bits<XW>, AB>>,
            /// Output banks.
            out_buf: Vec<RAM<Bits<OW>, AB>>,
            /// Residual banks (one per row, laid out as the output, from `RES_BASE`).
            res_buf: Vec<RAM<Bits<XW>, AB>>,
            /// `M_c` and `B_c` per row.
            post_m: Vec<RAM<Bits<MB>, PB>>,
            post_b: Vec<RAM<Bits<BB>, PB>>,
            /// Post-processing per row.
            post: Vec<PostUnit<ACC, MB, BB, XW, P, Z, OW>>,
            /// Weight lanes, `r * cols + c`.
            weights: Vec<RAM<Bits<WW>, WB>>,
            /// `OP`: 0 shift, 1 adder convolution, 2 max pool, 3 average pool.
            op: DFF<Bits<2>>,
            /// Pooling, per column.
            pool: Vec<PoolUnit<XW, OW>>,
            /// The column's channel is in the layer (as `row_valid`, two cycles after the read).
            pool_valid: Vec<Signal<Local, Bit>>,
            pool_last_tile: Signal<Local, Bit>,
            is_pool: Signal<Local, Bit>,
            is_avg: Signal<Local, Bit>,

            /// The sequencer registers, in `SEQ_FIELDS` order.
            field: Vec<DFF<Bits<RD>>>,
            buf_sel: DFF<Bits<3>>,
            /// `OUTPUT`, `SHIFT`, `LAST_ROWS`, `POST_BASE`, `SAT_COUNT`, the written `BUF_DATA_HI`.
            out_mode: DFF<Bits<4>>,
            shift: DFF<Bits<7>>,
            last_rows: DFF<Bits<16>>,
            post_base: DFF<Bits<16>>,
            /// `RES_BASE`.
            res_base: DFF<Bits<16>>,
            /// The residual word of the sum's output word: `out_addr - out_base + RES_BASE`.
            res_addr: Signal<Local, Bits<RD>>,
            /// `IN_SEL`: the input is read from the output buffer.
            in_sel: DFF<Bit>,
            /// Each column's input value: the input bank's, or the output bank's low bits.
            x_src: Vec<Signal<Local, Bits<XW>>>,
            sat_count: DFF<Bits<RD>>,
            data_hi: DFF<Bits<RD>>,
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
            /// The sum's output-channel tile, delayed like `out_addr`.
            tile_1: DFF<Bits<16>>,
            tile_2: DFF<Bits<16>>,
            tile_3: DFF<Bits<16>>,
            tile_4: DFF<Bits<16>>,
            tile_5: DFF<Bits<16>>,
            /// Register offsets.
            off_id: Constant<Bits<RA>>,
            off_geometry: Constant<Bits<RA>>,
            off_ctrl: Constant<Bits<RA>>,
            off_status: Constant<Bits<RA>>,
            off_cycles: Constant<Bits<RA>>,
            off_op: Constant<Bits<RA>>,
            off_sat: Constant<Bits<RA>>,
            off_output: Constant<Bits<RA>>,
            off_shift: Constant<Bits<RA>>,
            off_last_rows: Constant<Bits<RA>>,
            off_post_base: Constant<Bits<RA>>,
            off_res_base: Constant<Bits<RA>>,
            off_in_sel: Constant<Bits<RA>>,
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
            /// Row numbers, against `LAST_ROWS`.
            row_id: Vec<Constant<Bits<16>>>,
            out_sign: Constant<Bits<OW>>,
            out_ext: Constant<Bits<64>>,
            high_half: Constant<Bits<6>>,
            /// `{BUF_DATA_HI, reg_wdata}`.
            wdata: Signal<Local, Bits<64>>,
            /// The sum's tile is not the last, or its row is a channel of the layer.
            row_valid: Vec<Signal<Local, Bit>>,
            /// Saturations counted so far among the rows (`sat_sum[r]` before row `r`).
            sat_sum: Vec<Signal<Local, Bits<RD>>>,
            sat_next: Signal<Local, Bits<RD>>,
            last_tile: Signal<Local, Bit>,
            /// The parameter word of the sum's tile.
            post_addr: Signal<Local, Bits<16>>,
            /// This cycle writes `BUF_DATA_LO`.
            buf_write: Signal<Local, Bit>,
            /// This cycle reads `BUF_DATA_LO` of the output buffer.
            buf_read: Signal<Local, Bit>,
            /// The output word of bank `BUF_LANE`.
            out_sel: Signal<Local, Bits<OW>>,
            /// The selected output word, sign-extended.
            out_word: Signal<Local, Bits<64>>,
            _rows: usize,
            _cols: usize,
            _lanes: usize,
            _fields: usize,
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
                const MB: usize,
                const BB: usize,
                const P: usize,
                const Z: usize,
                const OW: usize,
                const PB: usize,
            > $name<XW, WW, T, TS, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
        {
            /// The engine of `cfg` (its rows, columns, shift range and register map).
            pub fn new(cfg: &AccelConfig) -> Self {
                let (rows, cols) = (cfg.rows as usize, cfg.cols as usize);
                assert_eq!(rows, cols, "the engine needs rows = cols");
                assert!(rows * cols <= 1 << LB, "lane numbers fit BUF_LANE");
                assert!(OW <= 64, "output words fit the 64-bit access port");
                Self {
                    clock: Default::default(),
                    reg_we: Default::default(),
                    reg_re: Default::default(),
                    reg_addr: Default::default(),
                    reg_wdata: Default::default(),
                    reg_rdata: Default::default(),
                    seq: Default::default(),
                    array: $array::new(rows, cols, cfg.formats.pmax()),
                    act_in: (0..cols).map(|_| Default::default()).collect(),
                    out_buf: (0..rows).map(|_| Default::default()).collect(),
                    res_buf: (0..rows).map(|_| Default::default()).collect(),
                    post_m: (0..rows).map(|_| Default::default()).collect(),
                    post_b: (0..rows).map(|_| Default::default()).collect(),
                    post: (0..rows)
                        .map(|_| PostUnit::new(cfg.formats.act_bits, cfg.formats.add_bits))
                        .collect(),
                    weights: (0..rows * cols).map(|_| Default::default()).collect(),
                    op: Default::default(),
                    pool: (0..cols).map(|_| Default::default()).collect(),
                    pool_valid: (0..cols).map(|_| Default::default()).collect(),
                    pool_last_tile: Default::default(),
                    is_pool: Default::default(),
                    is_avg: Default::default(),

                    field: (0..SEQ_FIELDS.len()).map(|_| Default::default()).collect(),
                    buf_sel: Default::default(),
                    out_mode: Default::default(),
                    shift: Default::default(),
                    last_rows: Default::default(),
                    post_base: Default::default(),
                    res_base: Default::default(),
                    res_addr: Default::default(),
                    in_sel: Default::default(),
                    x_src: (0..cols).map(|_| Default::default()).collect(),
                    sat_count: Default::default(),
                    data_hi: Default::default(),
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
                    tile_1: Default::default(),
                    tile_2: Default::default(),
                    tile_3: Default::default(),
                    tile_4: Default::default(),
                    tile_5: Default::default(),
                    off_id: offset(cfg, "ID"),
                    off_geometry: offset(cfg, "GEOMETRY"),
                    off_ctrl: offset(cfg, "CTRL"),
                    off_status: offset(cfg, "STATUS"),
                    off_cycles: offset(cfg, "CYCLES"),
                    off_op: offset(cfg, "OP"),
                    off_sat: offset(cfg, "SAT_COUNT"),
                    off_output: offset(cfg, "OUTPUT"),
                    off_shift: offset(cfg, "SHIFT"),
                    off_last_rows: offset(cfg, "LAST_ROWS"),
                    off_post_base: offset(cfg, "POST_BASE"),
                    off_res_base: offset(cfg, "RES_BASE"),
                    off_in_sel: offset(cfg, "IN_SEL"),
                    off_field: SEQ_FIELDS.iter().map(|f| offset(cfg, f.0)).collect(),
                    off_sel: offset(cfg, "BUF_SEL"),
                    off_lane: offset(cfg, "BUF_LANE"),
                    off_addr: offset(cfg, "BUF_ADDR"),
                    off_lo: offset(cfg, "BUF_DATA_LO"),
                    off_hi: offset(cfg, "BUF_DATA_HI"),
                    id: Constant::new(bits::<RD>(u64::from(ENGINE_ID))),
                    geometry: Constant::new(bits::<RD>(u64::from(geometry(cfg)))),
                    lane_id: (0..rows * cols)
                        .map(|i| Constant::new(bits::<LB>(i as u64)))
                        .collect(),
                    row_id: (0..rows)
                        .map(|r| Constant::new(bits::<16>(r as u64)))
                        .collect(),
                    out_sign: Constant::new(sign_bit::<OW>()),
                    out_ext: Constant::new(extension_mask::<OW, 64>()),
                    high_half: Constant::new(bits::<6>(32)),
                    wdata: Default::default(),
                    row_valid: (0..rows).map(|_| Default::default()).collect(),
                    sat_sum: (0..=rows).map(|_| Default::default()).collect(),
                    sat_next: Default::default(),
                    last_tile: Default::default(),
                    post_addr: Default::default(),
                    buf_write: Default::default(),
                    buf_read: Default::default(),
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
                const MB: usize,
                const BB: usize,
                const P: usize,
                const Z: usize,
                const OW: usize,
                const PB: usize,
            > Logic for $name<XW, WW, T, TS, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
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
                dff_setup!(
                    self, clock, out_mode, shift, last_rows, post_base, res_base, in_sel,
                    sat_count, data_hi, tile_1, tile_2, tile_3, tile_4, tile_5
                );
                for i in 0..self._fields {
                    self.field[i].clock.next = self.clock.val();
                    self.field[i].d.next = self.field[i].q.val();
                }
                // Locals are assigned before they are read: rust-hdl's check calls anything else a loop.
                self.is_pool.next = self.op.q.val().get_bit(1);
                self.is_avg.next = self.op.q.val() == 3;
                // Host register writes.
                self.buf_write.next = self.reg_we.val() & (self.reg_addr.val() == self.off_lo.val());
                // Output words stream at one per cycle: each read of the low half moves to the next.
                self.buf_read.next = self.reg_re.val()
                    & (self.reg_addr.val() == self.off_lo.val())
                    & (self.buf_sel.q.val() == 1);
                self.seq.start.next = self.reg_we.val()
                    & (self.reg_addr.val() == self.off_ctrl.val())
                    & self.reg_wdata.val().get_bit(0);
                if self.reg_we.val() {
                    if self.reg_addr.val() == self.off_op.val() {
                        self.op.d.next = self.reg_wdata.val().get_bits::<2>(0);
                    }
                    if self.reg_addr.val() == self.off_sel.val() {
                        self.buf_sel.d.next = self.reg_wdata.val().get_bits::<3>(0);
                    }
                    if self.reg_addr.val() == self.off_output.val() {
                        self.out_mode.d.next = self.reg_wdata.val().get_bits::<4>(0);
                    }
                    if self.reg_addr.val() == self.off_shift.val() {
                        self.shift.d.next = self.reg_wdata.val().get_bits::<7>(0);
                    }
                    if self.reg_addr.val() == self.off_last_rows.val() {
                        self.last_rows.d.next = self.reg_wdata.val().get_bits::<16>(0);
                    }
                    if self.reg_addr.val() == self.off_post_base.val() {
                        self.post_base.d.next = self.reg_wdata.val().get_bits::<16>(0);
                    }
                    if self.reg_addr.val() == self.off_res_base.val() {
                        self.res_base.d.next = self.reg_wdata.val().get_bits::<16>(0);
                    }
                    if self.reg_addr.val() == self.off_in_sel.val() {
                        self.in_sel.d.next = self.reg_wdata.val().get_bit(0);
                    }
                    if self.reg_addr.val() == self.off_hi.val() {
                        self.data_hi.d.next = self.reg_wdata.val();
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
                if self.buf_write.val() | self.buf_read.val() {
                    self.buf_addr.d.next = self.buf_addr.q.val() + 1;
                }
                self.wdata.next = (bit_cast::<64, RD>(self.data_hi.q.val()) << self.high_half.val())
                    | bit_cast::<64, RD>(self.reg_wdata.val());

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
                self.tile_1.d.next = self.seq.tile.val();
                self.tile_2.d.next = self.tile_1.q.val();
                self.tile_3.d.next = self.tile_2.q.val();
                self.tile_4.d.next = self.tile_3.q.val();
                self.tile_5.d.next = self.tile_4.q.val();
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
                    self.act_in[c].write_data.next = self.wdata.val().get_bits::<XW>(0);
                    self.act_in[c].write_enable.next = self.buf_write.val()
                        & (self.buf_sel.q.val() == 0)
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
                self.pool_last_tile.next =
                    self.tile_2.q.val() == (self.field[2].q.val().get_bits::<16>(0) - 1);
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
                        & (self.buf_sel.q.val() == 3)
                        & (self.buf_lane.q.val() == self.lane_id[i].val());
                    self.array.w[i].next = self.weights[i].read_data.val();
                }

                // Stages 2-3: the array.
                self.array.clock.next = self.clock.val();
                self.array.en.next = self.issue_1.q.val();
                self.array.clear.next = self.issue_1.q.val() & self.clear_1.q.val();
                $(self.array.$mode.next = self.op.q.val() == 1;)?
                self.seq.pool.next = self.is_pool.val();

                // Stages 4-5: post-processing (its parameters and residuals read one cycle ahead, at
                // the sum's tile and output word); then the write. Rows past the layer's channels in
                // its last tile write 0 and count no saturation.
                self.last_tile.next = self.tile_5.q.val() == (self.field[2].q.val().get_bits::<16>(0) - 1);
                // A part-select of an expression is not Verilog: the sum gets its own signal.
                self.post_addr.next = self.post_base.q.val() + self.tile_2.q.val();
                self.res_addr.next = self.out_addr_2.q.val() - self.field[15].q.val()
                    + bit_cast::<RD, 16>(self.res_base.q.val());
                self.sat_sum[0].next = bits::<RD>(0);
                self.out_sel.next = bits::<OW>(0);
                for r in 0..self._rows {
                    self.res_buf[r].read_clock.next = self.clock.val();
                    self.res_buf[r].write_clock.next = self.clock.val();
                    self.res_buf[r].read_address.next = self.res_addr.val().get_bits::<AB>(0);
                    self.res_buf[r].write_address.next = self.buf_addr.q.val().get_bits::<AB>(0);
                    self.res_buf[r].write_data.next = self.wdata.val().get_bits::<XW>(0);
                    self.res_buf[r].write_enable.next = self.buf_write.val()
                        & (self.buf_sel.q.val() == 2)
                        & (self.buf_lane.q.val() == self.lane_id[r].val());
                    self.post_m[r].read_clock.next = self.clock.val();
                    self.post_m[r].write_clock.next = self.clock.val();
                    self.post_m[r].read_address.next = self.post_addr.val().get_bits::<PB>(0);
                    self.post_m[r].write_address.next = self.buf_addr.q.val().get_bits::<PB>(0);
                    self.post_m[r].write_data.next = self.wdata.val().get_bits::<MB>(0);
                    self.post_m[r].write_enable.next = self.buf_write.val()
                        & (self.buf_sel.q.val() == 4)
                        & (self.buf_lane.q.val() == self.lane_id[r].val());
                    self.post_b[r].read_clock.next = self.clock.val();
                    self.post_b[r].write_clock.next = self.clock.val();
                    self.post_b[r].read_address.next = self.post_addr.val().get_bits::<PB>(0);
                    self.post_b[r].write_address.next = self.buf_addr.q.val().get_bits::<PB>(0);
                    self.post_b[r].write_data.next = self.wdata.val().get_bits::<BB>(0);
                    self.post_b[r].write_enable.next = self.buf_write.val()
                        & (self.buf_sel.q.val() == 5)
                        & (self.buf_lane.q.val() == self.lane_id[r].val());
                    self.post[r].clock.next = self.clock.val();
                    self.post[r].v.next = self.array.acc[r].val();
                    self.post[r].m.next = self.post_m[r].read_data.val();
                    self.post[r].b.next = self.post_b[r].read_data.val();
                    self.post[r].r.next = self.res_buf[r].read_data.val();
                    self.post[r].s.next = self.shift.q.val();
                    self.post[r].mode.next = self.out_mode.q.val().get_bits::<2>(0);
                    self.post[r].relu.next = self.out_mode.q.val().get_bit(2);
                    self.post[r].residual.next = self.out_mode.q.val().get_bit(3);
                    self.row_valid[r].next =
                        !self.last_tile.val() | (self.row_id[r].val() < self.last_rows.q.val());
                    self.sat_sum[r + 1].next = self.sat_sum[r].val();
                    if self.last_5.q.val()
                        & !self.is_pool.val()
                        & self.row_valid[r].val()
                        & self.post[r].sat.val()
                    {
                        self.sat_sum[r + 1].next = self.sat_sum[r].val() + 1;
                    }
                    self.out_buf[r].read_clock.next = self.clock.val();
                    self.out_buf[r].write_clock.next = self.clock.val();
                    self.out_buf[r].write_address.next = self.out_addr_5.q.val().get_bits::<AB>(0);
                    self.out_buf[r].write_data.next = bits::<OW>(0);
                    if self.row_valid[r].val() {
                        self.out_buf[r].write_data.next = self.post[r].out.val();
                    }
                    self.out_buf[r].write_enable.next = self.last_5.q.val() & !self.is_pool.val();
                    if self.is_pool.val() {
                        self.out_buf[r].write_address.next = self.out_addr_2.q.val().get_bits::<AB>(0);
                        self.out_buf[r].write_data.next = bits::<OW>(0);
                        if self.pool_valid[r].val() {
                            self.out_buf[r].write_data.next = self.pool[r].out.val();
                        }
                        self.out_buf[r].write_enable.next = self.last_2.q.val();
                    }
                    // The host may overwrite output words between layers (tests, fault injection).
                    if self.buf_write.val()
                        & (self.buf_sel.q.val() == 1)
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
                self.out_word.next = bit_cast::<64, OW>(self.out_sel.val());
                if (self.out_sel.val() & self.out_sign.val()).any() {
                    self.out_word.next = bit_cast::<64, OW>(self.out_sel.val()) | self.out_ext.val();
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
                    self.reg_rdata.next = bit_cast::<RD, 2>(self.op.q.val());
                }
                if self.reg_addr.val() == self.off_sat.val() {
                    self.reg_rdata.next = self.sat_count.q.val();
                }
                if self.reg_addr.val() == self.off_output.val() {
                    self.reg_rdata.next = bit_cast::<RD, 4>(self.out_mode.q.val());
                }
                if self.reg_addr.val() == self.off_shift.val() {
                    self.reg_rdata.next = bit_cast::<RD, 7>(self.shift.q.val());
                }
                if self.reg_addr.val() == self.off_last_rows.val() {
                    self.reg_rdata.next = bit_cast::<RD, 16>(self.last_rows.q.val());
                }
                if self.reg_addr.val() == self.off_post_base.val() {
                    self.reg_rdata.next = bit_cast::<RD, 16>(self.post_base.q.val());
                }
                if self.reg_addr.val() == self.off_res_base.val() {
                    self.reg_rdata.next = bit_cast::<RD, 16>(self.res_base.q.val());
                }
                if self.reg_addr.val() == self.off_in_sel.val() {
                    self.reg_rdata.next = bit_cast::<RD, 1>(self.in_sel.q.val().into());
                }
                for i in 0..self._fields {
                    if self.reg_addr.val() == self.off_field[i].val() {
                        self.reg_rdata.next = self.field[i].q.val();
                    }
                }
                if self.reg_addr.val() == self.off_sel.val() {
                    self.reg_rdata.next = bit_cast::<RD, 3>(self.buf_sel.q.val());
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
    };
}

engine_core!(
    /// The engine core of a dual-mode array (shift and adder layers).
    EngineCore, DualArray, mode: mode
);

engine_core!(
    /// The engine core of a multiply array (the multiply baseline).
    MultEngineCore, MacArray
);
