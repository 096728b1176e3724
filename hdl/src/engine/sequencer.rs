//! Sequencer: walks a convolution's loops (output row, output column, output-channel tile,
//! input-channel tile, kernel row, kernel column; the last innermost) one tap per cycle, with no
//! bubble between sums, and raises `done` when the pipeline behind it has drained
//! (`shiftadd_sim::cycles::layer_cycles` edges after `start`). Only counters and adders: the host
//! computes loop bounds and address steps (`shiftadd_sim::engine::seq_regs`).
//!
//! Per issued tap (`issue`): `clear` (first tap of a sum), `last` (last tap), `in_bounds` (the tap
//! is inside the input, not in the padding), the input word `act_addr` (per bank), the weight word
//! `w_addr` and the output word `out_addr` of the sum. The outputs are registers: tap `k` shows
//! after rising edge `k` counted from the edge that saw `start`. Widths: loop counters and
//! coordinates 16 bits, addresses 32 bits (wrapping, as `seq_regs` computes them).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::cycles::overhead_cycles;
use shiftadd_sim::engine::LayerOp;
use shiftadd_sim::net::ConvKind;

/// Counter width: the register map's loop bounds.
const C: usize = shiftadd_sim::regmap::SEQ_COUNT_BITS;
/// Address width: the register map's addresses and steps.
const A: usize = shiftadd_sim::regmap::SEQ_ADDR_BITS;
/// Drain counter width.
const D: usize = 8;

/// The convolution sequencer.
#[derive(LogicBlock)]
pub struct Sequencer {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: every register to 0 on the next edge.
    pub reset: Signal<In, Bit>,
    /// Start the layer held on the inputs below (they must stay until `done`).
    pub start: Signal<In, Bit>,
    /// A pooling layer: each output-channel tile reads its own input tile (`ci_tiles` = 1), and
    /// the pipeline behind is shorter.
    pub pool: Signal<In, Bit>,
    /// Output rows.
    pub out_h: Signal<In, Bits<C>>,
    /// Output columns.
    pub out_w: Signal<In, Bits<C>>,
    /// Output-channel tiles.
    pub co_tiles: Signal<In, Bits<C>>,
    /// Input-channel tiles.
    pub ci_tiles: Signal<In, Bits<C>>,
    /// Kernel rows.
    pub kh: Signal<In, Bits<C>>,
    /// Kernel columns.
    pub kw: Signal<In, Bits<C>>,
    /// Stride.
    pub stride: Signal<In, Bits<C>>,
    /// Padding.
    pub pad: Signal<In, Bits<C>>,
    /// `h + pad`.
    pub h_end: Signal<In, Bits<C>>,
    /// `w + pad`.
    pub w_end: Signal<In, Bits<C>>,
    /// Input word of padded position `(0, 0)`.
    pub in_origin: Signal<In, Bits<A>>,
    /// `stride * w`.
    pub in_row_step: Signal<In, Bits<A>>,
    /// `h * w`.
    pub in_tile_step: Signal<In, Bits<A>>,
    /// `w`.
    pub in_ky_step: Signal<In, Bits<A>>,
    /// First weight word.
    pub w_base: Signal<In, Bits<A>>,
    /// First output word.
    pub out_base: Signal<In, Bits<A>>,
    /// `out_h * out_w`.
    pub out_tile_step: Signal<In, Bits<A>>,
    /// A tap is issued this cycle.
    pub issue: Signal<Out, Bit>,
    /// First tap of a sum.
    pub clear: Signal<Out, Bit>,
    /// Last tap of a sum.
    pub last: Signal<Out, Bit>,
    /// The tap is inside the input (not in the padding).
    pub in_bounds: Signal<Out, Bit>,
    /// Input word of the tap.
    pub act_addr: Signal<Out, Bits<A>>,
    /// Weight word of the tap.
    pub w_addr: Signal<Out, Bits<A>>,
    /// Output word of the sum.
    pub out_addr: Signal<Out, Bits<A>>,
    /// Output-channel tile of the sum.
    pub tile: Signal<Out, Bits<C>>,
    /// Issuing or draining.
    pub busy: Signal<Out, Bit>,
    /// The layer is complete (until the next `start`).
    pub done: Signal<Out, Bit>,
    /// Cycles from the last issue to `done`, for convolutions and for pooling.
    drain_cycles: Constant<Bits<D>>,
    pool_drain_cycles: Constant<Bits<D>>,
    /// `pix_base` plus the output-channel tile's input offset (pooling; `pix_base` otherwise).
    t_base: DFF<Bits<A>>,
    /// `t_base` one tile on.
    next_t: Signal<Local, Bits<A>>,
    running: DFF<Bit>,
    drain: DFF<Bits<D>>,
    done_reg: DFF<Bit>,
    oy: DFF<Bits<C>>,
    ox: DFF<Bits<C>>,
    t: DFF<Bits<C>>,
    u: DFF<Bits<C>>,
    ky: DFF<Bits<C>>,
    kx: DFF<Bits<C>>,
    /// Padded row of the tap's kernel origin (`oy * stride`).
    py0: DFF<Bits<C>>,
    /// Padded column of the tap's kernel origin (`ox * stride`).
    px0: DFF<Bits<C>>,
    /// Padded row of the tap.
    py: DFF<Bits<C>>,
    /// Padded column of the tap.
    px: DFF<Bits<C>>,
    /// Input word of the row's first kernel origin.
    row_base: DFF<Bits<A>>,
    /// Input word of the pixel's kernel origin.
    pix_base: DFF<Bits<A>>,
    /// `pix_base` plus the channel tile's offset.
    tile_base: DFF<Bits<A>>,
    /// `tile_base` plus the kernel row's offset.
    ky_base: DFF<Bits<A>>,
    /// Input word of the tap.
    act: DFF<Bits<A>>,
    /// Weight word of the tap.
    w: DFF<Bits<A>>,
    /// Output word of the pixel in tile 0.
    o_pix: DFF<Bits<A>>,
    /// Output word of the pixel in the current tile.
    o_t: DFF<Bits<A>>,
    /// Innermost loops at their last value.
    last_kx: Signal<Local, Bit>,
    last_ky: Signal<Local, Bit>,
    last_u: Signal<Local, Bit>,
    last_t: Signal<Local, Bit>,
    last_ox: Signal<Local, Bit>,
    last_oy: Signal<Local, Bit>,
    /// Next tile base (one tile on).
    next_tile: Signal<Local, Bits<A>>,
    /// Next kernel-row base.
    next_ky: Signal<Local, Bits<A>>,
    /// Next pixel base (one column on).
    next_pix: Signal<Local, Bits<A>>,
    /// Next row base.
    next_row: Signal<Local, Bits<A>>,
}

impl Default for Sequencer {
    fn default() -> Self {
        let drain = overhead_cycles(LayerOp::Conv(ConvKind::Shift));
        Self {
            clock: Default::default(),
            reset: Default::default(),
            start: Default::default(),
            pool: Default::default(),
            out_h: Default::default(),
            out_w: Default::default(),
            co_tiles: Default::default(),
            ci_tiles: Default::default(),
            kh: Default::default(),
            kw: Default::default(),
            stride: Default::default(),
            pad: Default::default(),
            h_end: Default::default(),
            w_end: Default::default(),
            in_origin: Default::default(),
            in_row_step: Default::default(),
            in_tile_step: Default::default(),
            in_ky_step: Default::default(),
            w_base: Default::default(),
            out_base: Default::default(),
            out_tile_step: Default::default(),
            issue: Default::default(),
            clear: Default::default(),
            last: Default::default(),
            in_bounds: Default::default(),
            act_addr: Default::default(),
            w_addr: Default::default(),
            out_addr: Default::default(),
            tile: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            // START's cycle is the edge that loads the counters; the rest drains after the
            // last issue.
            drain_cycles: Constant::new(bits::<D>(drain)),
            pool_drain_cycles: Constant::new(bits::<D>(overhead_cycles(LayerOp::MaxPool))),
            t_base: Default::default(),
            next_t: Default::default(),
            running: Default::default(),
            drain: Default::default(),
            done_reg: Default::default(),
            oy: Default::default(),
            ox: Default::default(),
            t: Default::default(),
            u: Default::default(),
            ky: Default::default(),
            kx: Default::default(),
            py0: Default::default(),
            px0: Default::default(),
            py: Default::default(),
            px: Default::default(),
            row_base: Default::default(),
            pix_base: Default::default(),
            tile_base: Default::default(),
            ky_base: Default::default(),
            act: Default::default(),
            w: Default::default(),
            o_pix: Default::default(),
            o_t: Default::default(),
            last_kx: Default::default(),
            last_ky: Default::default(),
            last_u: Default::default(),
            last_t: Default::default(),
            last_ox: Default::default(),
            last_oy: Default::default(),
            next_tile: Default::default(),
            next_ky: Default::default(),
            next_pix: Default::default(),
            next_row: Default::default(),
        }
    }
}

impl Logic for Sequencer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, running, drain, done_reg, oy, ox, t, u, ky, kx, py0, px0, py, px,
            row_base, pix_base, tile_base, ky_base, act, w, o_pix, o_t, t_base
        );
        self.last_kx.next = self.kx.q.val() == self.kw.val() - 1;
        self.last_ky.next = self.ky.q.val() == self.kh.val() - 1;
        self.last_u.next = self.u.q.val() == self.ci_tiles.val() - 1;
        self.last_t.next = self.t.q.val() == self.co_tiles.val() - 1;
        self.last_ox.next = self.ox.q.val() == self.out_w.val() - 1;
        self.last_oy.next = self.oy.q.val() == self.out_h.val() - 1;
        self.next_tile.next = self.tile_base.q.val() + self.in_tile_step.val();
        self.next_ky.next = self.ky_base.q.val() + self.in_ky_step.val();
        self.next_pix.next = self.pix_base.q.val() + bit_cast::<A, C>(self.stride.val());
        self.next_row.next = self.row_base.q.val() + self.in_row_step.val();
        self.next_t.next = self.t_base.q.val();
        if self.pool.val() {
            self.next_t.next = self.t_base.q.val() + self.in_tile_step.val();
        }

        self.issue.next = self.running.q.val();
        self.clear.next = (self.u.q.val() == 0) & (self.ky.q.val() == 0) & (self.kx.q.val() == 0);
        self.last.next = self.last_kx.val() & self.last_ky.val() & self.last_u.val();
        self.in_bounds.next = (self.py.q.val() >= self.pad.val())
            & (self.py.q.val() < self.h_end.val())
            & (self.px.q.val() >= self.pad.val())
            & (self.px.q.val() < self.w_end.val());
        self.act_addr.next = self.act.q.val();
        self.w_addr.next = self.w.q.val();
        self.out_addr.next = self.o_t.q.val();
        self.tile.next = self.t.q.val();
        self.busy.next = self.running.q.val() | self.drain.q.val().any();
        self.done.next = self.done_reg.q.val();

        if self.drain.q.val().any() {
            self.drain.d.next = self.drain.q.val() - 1;
            if self.drain.q.val() == 1 {
                self.done_reg.d.next = true;
            }
        }
        if self.running.q.val() {
            self.w.d.next = self.w.q.val() + 1;
            if !self.last_kx.val() {
                self.kx.d.next = self.kx.q.val() + 1;
                self.px.d.next = self.px.q.val() + 1;
                self.act.d.next = self.act.q.val() + 1;
            } else {
                self.kx.d.next = 0.into();
                self.px.d.next = self.px0.q.val();
                if !self.last_ky.val() {
                    self.ky.d.next = self.ky.q.val() + 1;
                    self.py.d.next = self.py.q.val() + 1;
                    self.ky_base.d.next = self.next_ky.val();
                    self.act.d.next = self.next_ky.val();
                } else {
                    self.ky.d.next = 0.into();
                    self.py.d.next = self.py0.q.val();
                    if !self.last_u.val() {
                        self.u.d.next = self.u.q.val() + 1;
                        self.tile_base.d.next = self.next_tile.val();
                        self.ky_base.d.next = self.next_tile.val();
                        self.act.d.next = self.next_tile.val();
                    } else {
                        self.u.d.next = 0.into();
                        self.tile_base.d.next = self.next_t.val();
                        self.ky_base.d.next = self.next_t.val();
                        self.act.d.next = self.next_t.val();
                        if !self.last_t.val() {
                            self.t.d.next = self.t.q.val() + 1;
                            self.t_base.d.next = self.next_t.val();
                            self.o_t.d.next = self.o_t.q.val() + self.out_tile_step.val();
                        } else {
                            // The next output pixel.
                            self.t.d.next = 0.into();
                            self.w.d.next = self.w_base.val();
                            self.o_pix.d.next = self.o_pix.q.val() + 1;
                            self.o_t.d.next = self.o_pix.q.val() + 1;
                            if !self.last_ox.val() {
                                self.ox.d.next = self.ox.q.val() + 1;
                                self.px0.d.next = self.px0.q.val() + self.stride.val();
                                self.px.d.next = self.px0.q.val() + self.stride.val();
                                self.pix_base.d.next = self.next_pix.val();
                                self.t_base.d.next = self.next_pix.val();
                                self.tile_base.d.next = self.next_pix.val();
                                self.ky_base.d.next = self.next_pix.val();
                                self.act.d.next = self.next_pix.val();
                            } else {
                                self.ox.d.next = 0.into();
                                self.px0.d.next = 0.into();
                                self.px.d.next = 0.into();
                                if !self.last_oy.val() {
                                    self.oy.d.next = self.oy.q.val() + 1;
                                    self.py0.d.next = self.py0.q.val() + self.stride.val();
                                    self.py.d.next = self.py0.q.val() + self.stride.val();
                                    self.row_base.d.next = self.next_row.val();
                                    self.pix_base.d.next = self.next_row.val();
                                    self.t_base.d.next = self.next_row.val();
                                    self.tile_base.d.next = self.next_row.val();
                                    self.ky_base.d.next = self.next_row.val();
                                    self.act.d.next = self.next_row.val();
                                } else {
                                    self.running.d.next = false;
                                    self.drain.d.next = self.drain_cycles.val();
                                    if self.pool.val() {
                                        self.drain.d.next = self.pool_drain_cycles.val();
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if self.start.val() {
            self.running.d.next = true;
            self.drain.d.next = 0.into();
            self.done_reg.d.next = false;
            self.oy.d.next = 0.into();
            self.ox.d.next = 0.into();
            self.t.d.next = 0.into();
            self.u.d.next = 0.into();
            self.ky.d.next = 0.into();
            self.kx.d.next = 0.into();
            self.py0.d.next = 0.into();
            self.px0.d.next = 0.into();
            self.py.d.next = 0.into();
            self.px.d.next = 0.into();
            self.row_base.d.next = self.in_origin.val();
            self.pix_base.d.next = self.in_origin.val();
            self.t_base.d.next = self.in_origin.val();
            self.tile_base.d.next = self.in_origin.val();
            self.ky_base.d.next = self.in_origin.val();
            self.act.d.next = self.in_origin.val();
            self.w.d.next = self.w_base.val();
            self.o_pix.d.next = self.out_base.val();
            self.o_t.d.next = self.out_base.val();
        }
        if self.reset.val() {
            self.drain.d.next = 0.into();
            self.oy.d.next = 0.into();
            self.ox.d.next = 0.into();
            self.t.d.next = 0.into();
            self.u.d.next = 0.into();
            self.ky.d.next = 0.into();
            self.kx.d.next = 0.into();
            self.py0.d.next = 0.into();
            self.px0.d.next = 0.into();
            self.py.d.next = 0.into();
            self.px.d.next = 0.into();
            self.row_base.d.next = 0.into();
            self.pix_base.d.next = 0.into();
            self.tile_base.d.next = 0.into();
            self.ky_base.d.next = 0.into();
            self.act.d.next = 0.into();
            self.w.d.next = 0.into();
            self.o_pix.d.next = 0.into();
            self.o_t.d.next = 0.into();
            self.t_base.d.next = 0.into();
            self.running.d.next = false;
            self.done_reg.d.next = false;
        }
    }
}
