//! The sequencer's registers (`OUT_H` to `OUT_TILE_STEP` of the register map,
//! `shiftadd_sim::regmap::SEQ_REGS`): the loop bounds and address steps of a layer, written by
//! the host over the register bus and held for the sequencer while it runs; read back on
//! `rdata` (0 for other offsets). Widths: loop bounds `SEQ_COUNT_BITS`, addresses and steps
//! `SEQ_ADDR_BITS`. Written on the edge after `we`; no other latency.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::regmap::{Reg, REG_ADDR_BITS, REG_DATA_BITS, SEQ_ADDR_BITS, SEQ_COUNT_BITS};

const RA: usize = REG_ADDR_BITS;
const RD: usize = REG_DATA_BITS;
const C: usize = SEQ_COUNT_BITS;
const A: usize = SEQ_ADDR_BITS;

fn offset(r: Reg) -> Constant<Bits<RA>> {
    Constant::new(bits::<RA>(u64::from(r.offset())))
}

/// The sequencer's registers.
#[derive(LogicBlock)]
pub struct SeqRegs {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: every register to 0 on the next edge.
    pub reset: Signal<In, Bit>,
    /// Register write strobe.
    pub we: Signal<In, Bit>,
    /// Register byte offset.
    pub addr: Signal<In, Bits<RA>>,
    /// Register write data.
    pub wdata: Signal<In, Bits<RD>>,
    /// The register at `addr`, or 0.
    pub rdata: Signal<Out, Bits<RD>>,
    /// `OUT_H`.
    pub out_h: Signal<Out, Bits<C>>,
    /// `OUT_W`.
    pub out_w: Signal<Out, Bits<C>>,
    /// `CO_TILES`.
    pub co_tiles: Signal<Out, Bits<C>>,
    /// `CI_TILES`.
    pub ci_tiles: Signal<Out, Bits<C>>,
    /// `KH`.
    pub kh: Signal<Out, Bits<C>>,
    /// `KW`.
    pub kw: Signal<Out, Bits<C>>,
    /// `STRIDE`.
    pub stride: Signal<Out, Bits<C>>,
    /// `PAD`.
    pub pad: Signal<Out, Bits<C>>,
    /// `H_END`.
    pub h_end: Signal<Out, Bits<C>>,
    /// `W_END`.
    pub w_end: Signal<Out, Bits<C>>,
    /// `IN_ORIGIN`.
    pub in_origin: Signal<Out, Bits<A>>,
    /// `IN_ROW_STEP`.
    pub in_row_step: Signal<Out, Bits<A>>,
    /// `IN_TILE_STEP`.
    pub in_tile_step: Signal<Out, Bits<A>>,
    /// `IN_KY_STEP`.
    pub in_ky_step: Signal<Out, Bits<A>>,
    /// `W_BASE`.
    pub w_base: Signal<Out, Bits<A>>,
    /// `OUT_BASE`.
    pub out_base: Signal<Out, Bits<A>>,
    /// `OUT_TILE_STEP`.
    pub out_tile_step: Signal<Out, Bits<A>>,
    out_h_q: DFF<Bits<C>>,
    out_h_at: Constant<Bits<RA>>,
    out_w_q: DFF<Bits<C>>,
    out_w_at: Constant<Bits<RA>>,
    co_tiles_q: DFF<Bits<C>>,
    co_tiles_at: Constant<Bits<RA>>,
    ci_tiles_q: DFF<Bits<C>>,
    ci_tiles_at: Constant<Bits<RA>>,
    kh_q: DFF<Bits<C>>,
    kh_at: Constant<Bits<RA>>,
    kw_q: DFF<Bits<C>>,
    kw_at: Constant<Bits<RA>>,
    stride_q: DFF<Bits<C>>,
    stride_at: Constant<Bits<RA>>,
    pad_q: DFF<Bits<C>>,
    pad_at: Constant<Bits<RA>>,
    h_end_q: DFF<Bits<C>>,
    h_end_at: Constant<Bits<RA>>,
    w_end_q: DFF<Bits<C>>,
    w_end_at: Constant<Bits<RA>>,
    in_origin_q: DFF<Bits<A>>,
    in_origin_at: Constant<Bits<RA>>,
    in_row_step_q: DFF<Bits<A>>,
    in_row_step_at: Constant<Bits<RA>>,
    in_tile_step_q: DFF<Bits<A>>,
    in_tile_step_at: Constant<Bits<RA>>,
    in_ky_step_q: DFF<Bits<A>>,
    in_ky_step_at: Constant<Bits<RA>>,
    w_base_q: DFF<Bits<A>>,
    w_base_at: Constant<Bits<RA>>,
    out_base_q: DFF<Bits<A>>,
    out_base_at: Constant<Bits<RA>>,
    out_tile_step_q: DFF<Bits<A>>,
    out_tile_step_at: Constant<Bits<RA>>,
}

impl Default for SeqRegs {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            we: Default::default(),
            addr: Default::default(),
            wdata: Default::default(),
            rdata: Default::default(),
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
            out_h_q: Default::default(),
            out_h_at: offset(Reg::OutH),
            out_w_q: Default::default(),
            out_w_at: offset(Reg::OutW),
            co_tiles_q: Default::default(),
            co_tiles_at: offset(Reg::CoTiles),
            ci_tiles_q: Default::default(),
            ci_tiles_at: offset(Reg::CiTiles),
            kh_q: Default::default(),
            kh_at: offset(Reg::Kh),
            kw_q: Default::default(),
            kw_at: offset(Reg::Kw),
            stride_q: Default::default(),
            stride_at: offset(Reg::Stride),
            pad_q: Default::default(),
            pad_at: offset(Reg::Pad),
            h_end_q: Default::default(),
            h_end_at: offset(Reg::HEnd),
            w_end_q: Default::default(),
            w_end_at: offset(Reg::WEnd),
            in_origin_q: Default::default(),
            in_origin_at: offset(Reg::InOrigin),
            in_row_step_q: Default::default(),
            in_row_step_at: offset(Reg::InRowStep),
            in_tile_step_q: Default::default(),
            in_tile_step_at: offset(Reg::InTileStep),
            in_ky_step_q: Default::default(),
            in_ky_step_at: offset(Reg::InKyStep),
            w_base_q: Default::default(),
            w_base_at: offset(Reg::WBase),
            out_base_q: Default::default(),
            out_base_at: offset(Reg::OutBase),
            out_tile_step_q: Default::default(),
            out_tile_step_at: offset(Reg::OutTileStep),
        }
    }
}

impl Logic for SeqRegs {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            out_h_q,
            out_w_q,
            co_tiles_q,
            ci_tiles_q,
            kh_q,
            kw_q,
            stride_q,
            pad_q,
            h_end_q,
            w_end_q,
            in_origin_q,
            in_row_step_q,
            in_tile_step_q,
            in_ky_step_q,
            w_base_q,
            out_base_q,
            out_tile_step_q
        );
        self.rdata.next = bits::<RD>(0);
        self.out_h.next = self.out_h_q.q.val();
        if self.addr.val() == self.out_h_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.out_h_q.q.val());
            if self.we.val() {
                self.out_h_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.out_w.next = self.out_w_q.q.val();
        if self.addr.val() == self.out_w_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.out_w_q.q.val());
            if self.we.val() {
                self.out_w_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.co_tiles.next = self.co_tiles_q.q.val();
        if self.addr.val() == self.co_tiles_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.co_tiles_q.q.val());
            if self.we.val() {
                self.co_tiles_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.ci_tiles.next = self.ci_tiles_q.q.val();
        if self.addr.val() == self.ci_tiles_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.ci_tiles_q.q.val());
            if self.we.val() {
                self.ci_tiles_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.kh.next = self.kh_q.q.val();
        if self.addr.val() == self.kh_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.kh_q.q.val());
            if self.we.val() {
                self.kh_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.kw.next = self.kw_q.q.val();
        if self.addr.val() == self.kw_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.kw_q.q.val());
            if self.we.val() {
                self.kw_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.stride.next = self.stride_q.q.val();
        if self.addr.val() == self.stride_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.stride_q.q.val());
            if self.we.val() {
                self.stride_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.pad.next = self.pad_q.q.val();
        if self.addr.val() == self.pad_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.pad_q.q.val());
            if self.we.val() {
                self.pad_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.h_end.next = self.h_end_q.q.val();
        if self.addr.val() == self.h_end_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.h_end_q.q.val());
            if self.we.val() {
                self.h_end_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.w_end.next = self.w_end_q.q.val();
        if self.addr.val() == self.w_end_at.val() {
            self.rdata.next = bit_cast::<RD, C>(self.w_end_q.q.val());
            if self.we.val() {
                self.w_end_q.d.next = self.wdata.val().get_bits::<C>(0);
            }
        }
        self.in_origin.next = self.in_origin_q.q.val();
        if self.addr.val() == self.in_origin_at.val() {
            self.rdata.next = self.in_origin_q.q.val();
            if self.we.val() {
                self.in_origin_q.d.next = self.wdata.val();
            }
        }
        self.in_row_step.next = self.in_row_step_q.q.val();
        if self.addr.val() == self.in_row_step_at.val() {
            self.rdata.next = self.in_row_step_q.q.val();
            if self.we.val() {
                self.in_row_step_q.d.next = self.wdata.val();
            }
        }
        self.in_tile_step.next = self.in_tile_step_q.q.val();
        if self.addr.val() == self.in_tile_step_at.val() {
            self.rdata.next = self.in_tile_step_q.q.val();
            if self.we.val() {
                self.in_tile_step_q.d.next = self.wdata.val();
            }
        }
        self.in_ky_step.next = self.in_ky_step_q.q.val();
        if self.addr.val() == self.in_ky_step_at.val() {
            self.rdata.next = self.in_ky_step_q.q.val();
            if self.we.val() {
                self.in_ky_step_q.d.next = self.wdata.val();
            }
        }
        self.w_base.next = self.w_base_q.q.val();
        if self.addr.val() == self.w_base_at.val() {
            self.rdata.next = self.w_base_q.q.val();
            if self.we.val() {
                self.w_base_q.d.next = self.wdata.val();
            }
        }
        self.out_base.next = self.out_base_q.q.val();
        if self.addr.val() == self.out_base_at.val() {
            self.rdata.next = self.out_base_q.q.val();
            if self.we.val() {
                self.out_base_q.d.next = self.wdata.val();
            }
        }
        self.out_tile_step.next = self.out_tile_step_q.q.val();
        if self.addr.val() == self.out_tile_step_at.val() {
            self.rdata.next = self.out_tile_step_q.q.val();
            if self.we.val() {
                self.out_tile_step_q.d.next = self.wdata.val();
            }
        }
        if self.reset.val() {
            self.out_h_q.d.next = 0.into();
            self.out_w_q.d.next = 0.into();
            self.co_tiles_q.d.next = 0.into();
            self.ci_tiles_q.d.next = 0.into();
            self.kh_q.d.next = 0.into();
            self.kw_q.d.next = 0.into();
            self.stride_q.d.next = 0.into();
            self.pad_q.d.next = 0.into();
            self.h_end_q.d.next = 0.into();
            self.w_end_q.d.next = 0.into();
            self.in_origin_q.d.next = 0.into();
            self.in_row_step_q.d.next = 0.into();
            self.in_tile_step_q.d.next = 0.into();
            self.in_ky_step_q.d.next = 0.into();
            self.w_base_q.d.next = 0.into();
            self.out_base_q.d.next = 0.into();
            self.out_tile_step_q.d.next = 0.into();
        }
    }
}
