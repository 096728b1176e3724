//! AXI4-Lite slave onto the engine's register bus. Write address and write data are taken in any
//! order (each channel has a one-entry holding register); when both are held and no response is
//! pending, the write is applied on the register bus in one cycle and `BRESP` answers it. A read
//! address is taken when no read response is pending; the bus reads it (`reg_re`, the cycle that
//! advances a streaming read) and, one cycle later with the address held, takes `reg_rdata` into
//! `RDATA`. A read being taken has the bus before a write.
//!
//! Responses: OKAY (0) for a mapped access (a write-only register reads as 0); SLVERR (2) for a
//! write to a read-only register, a write whose strobes are not all set (registers are written
//! whole), and any access to an unmapped or unaligned address. Refused accesses do not reach the
//! bus (their reads return 0).
//! Every channel may stall on either side. Widths: `AW`-bit byte addresses, 32-bit data.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;
use shiftadd_sim::regmap::{Access, Reg, REG_ADDR_BITS, REG_DATA_BITS};

const RA: usize = REG_ADDR_BITS;
const RD: usize = REG_DATA_BITS;
/// OKAY and SLVERR.
const OKAY: u64 = 0;
const SLVERR: u64 = 2;

/// The AXI4-Lite slave.
#[derive(LogicBlock)]
pub struct AxiLiteSlave<const AW: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset (active high): no transfer held, no response pending.
    pub reset: Signal<In, Bit>,
    /// Write address channel.
    pub awaddr: Signal<In, Bits<AW>>,
    pub awvalid: Signal<In, Bit>,
    pub awready: Signal<Out, Bit>,
    /// Write data channel.
    pub wdata: Signal<In, Bits<RD>>,
    pub wstrb: Signal<In, Bits<4>>,
    pub wvalid: Signal<In, Bit>,
    pub wready: Signal<Out, Bit>,
    /// Write response channel.
    pub bresp: Signal<Out, Bits<2>>,
    pub bvalid: Signal<Out, Bit>,
    pub bready: Signal<In, Bit>,
    /// Read address channel.
    pub araddr: Signal<In, Bits<AW>>,
    pub arvalid: Signal<In, Bit>,
    pub arready: Signal<Out, Bit>,
    /// Read data channel.
    pub rdata: Signal<Out, Bits<RD>>,
    pub rresp: Signal<Out, Bits<2>>,
    pub rvalid: Signal<Out, Bit>,
    pub rready: Signal<In, Bit>,
    /// The register bus.
    pub reg_we: Signal<Out, Bit>,
    pub reg_re: Signal<Out, Bit>,
    pub reg_addr: Signal<Out, Bits<RA>>,
    pub reg_wdata: Signal<Out, Bits<RD>>,
    pub reg_rdata: Signal<In, Bits<RD>>,
    /// Held write address and data.
    aw_full: DFF<Bit>,
    aw_addr: DFF<Bits<AW>>,
    w_full: DFF<Bit>,
    w_data: DFF<Bits<RD>>,
    w_strb: DFF<Bits<4>>,
    /// Pending write response.
    b_valid: DFF<Bit>,
    b_resp: DFF<Bits<2>>,
    /// Held read address; the bus read was issued last cycle (its data is on `reg_rdata`).
    ar_full: DFF<Bit>,
    ar_addr: DFF<Bits<AW>>,
    ar_issued: DFF<Bit>,
    /// Pending read response.
    r_valid: DFF<Bit>,
    r_data: DFF<Bits<RD>>,
    r_resp: DFF<Bits<2>>,
    /// Bit `i`: register `i` of the map may be written.
    writable: Constant<Bits<64>>,
    /// Registers in the map.
    regs: Constant<Bits<AW>>,
    okay: Constant<Bits<2>>,
    slverr: Constant<Bits<2>>,
    all_strobes: Constant<Bits<4>>,
    /// The mask shifted to the held write's register, in bit 0 (a bit-select of an expression
    /// is not Verilog).
    w_allowed: Signal<Local, Bits<64>>,
    /// The held write (read) is to a mapped (and writable) register.
    w_ok: Signal<Local, Bit>,
    r_ok: Signal<Local, Bit>,
    /// This cycle applies the held write, issues the held read, takes the read data.
    commit: Signal<Local, Bit>,
    issue: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
}

impl<const AW: usize> Default for AxiLiteSlave<AW> {
    fn default() -> Self {
        assert!(
            AW >= RA && AW <= 32,
            "the register map fits the address space"
        );
        assert!(Reg::ALL.len() <= 64, "one mask bit per register");
        let writable = Reg::ALL
            .iter()
            .enumerate()
            .filter(|(_, r)| r.access() != Access::Ro)
            .fold(0u64, |m, (i, _)| m | 1 << i);
        Self {
            clock: Default::default(),
            reset: Default::default(),
            awaddr: Default::default(),
            awvalid: Default::default(),
            awready: Default::default(),
            wdata: Default::default(),
            wstrb: Default::default(),
            wvalid: Default::default(),
            wready: Default::default(),
            bresp: Default::default(),
            bvalid: Default::default(),
            bready: Default::default(),
            araddr: Default::default(),
            arvalid: Default::default(),
            arready: Default::default(),
            rdata: Default::default(),
            rresp: Default::default(),
            rvalid: Default::default(),
            rready: Default::default(),
            reg_we: Default::default(),
            reg_re: Default::default(),
            reg_addr: Default::default(),
            reg_wdata: Default::default(),
            reg_rdata: Default::default(),
            aw_full: Default::default(),
            aw_addr: Default::default(),
            w_full: Default::default(),
            w_data: Default::default(),
            w_strb: Default::default(),
            b_valid: Default::default(),
            b_resp: Default::default(),
            ar_full: Default::default(),
            ar_addr: Default::default(),
            ar_issued: Default::default(),
            r_valid: Default::default(),
            r_data: Default::default(),
            r_resp: Default::default(),
            writable: Constant::new(bits(writable)),
            regs: Constant::new(bits(Reg::ALL.len() as u64)),
            okay: Constant::new(bits(OKAY)),
            slverr: Constant::new(bits(SLVERR)),
            all_strobes: Constant::new(bits(0xf)),
            w_allowed: Default::default(),
            w_ok: Default::default(),
            r_ok: Default::default(),
            commit: Default::default(),
            issue: Default::default(),
            take: Default::default(),
        }
    }
}

impl<const AW: usize> Logic for AxiLiteSlave<AW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, aw_full, aw_addr, w_full, w_data, w_strb, b_valid, b_resp, ar_full,
            ar_addr, ar_issued, r_valid, r_data, r_resp
        );
        // Decode: word aligned, inside the map, and allowed.
        self.w_allowed.next = self.writable.val() >> bit_cast::<64, AW>(self.aw_addr.q.val() >> 2);
        self.w_ok.next = !self.aw_addr.q.val().get_bit(0)
            & !self.aw_addr.q.val().get_bit(1)
            & ((self.aw_addr.q.val() >> 2) < self.regs.val())
            & self.w_allowed.val().get_bit(0)
            & (self.w_strb.q.val() == self.all_strobes.val());
        self.r_ok.next = !self.ar_addr.q.val().get_bit(0)
            & !self.ar_addr.q.val().get_bit(1)
            & ((self.ar_addr.q.val() >> 2) < self.regs.val());
        // The bus: a read being taken first, then a write, then a read issue.
        self.take.next = self.ar_issued.q.val();
        self.commit.next =
            self.aw_full.q.val() & self.w_full.q.val() & !self.b_valid.q.val() & !self.take.val();
        self.issue.next = self.ar_full.q.val()
            & !self.ar_issued.q.val()
            & !self.r_valid.q.val()
            & !self.commit.val();
        self.reg_we.next = self.commit.val() & self.w_ok.val();
        self.reg_re.next = self.issue.val() & self.r_ok.val();
        self.reg_wdata.next = self.w_data.q.val();
        self.reg_addr.next = self.ar_addr.q.val().get_bits::<RA>(0);
        if self.commit.val() {
            self.reg_addr.next = self.aw_addr.q.val().get_bits::<RA>(0);
        }

        // Channels.
        self.awready.next = !self.aw_full.q.val() & !self.reset.val();
        self.wready.next = !self.w_full.q.val() & !self.reset.val();
        self.arready.next = !self.ar_full.q.val() & !self.reset.val();
        if self.awvalid.val() & self.awready.val() {
            self.aw_full.d.next = true;
            self.aw_addr.d.next = self.awaddr.val();
        }
        if self.wvalid.val() & self.wready.val() {
            self.w_full.d.next = true;
            self.w_data.d.next = self.wdata.val();
            self.w_strb.d.next = self.wstrb.val();
        }
        if self.commit.val() {
            self.aw_full.d.next = false;
            self.w_full.d.next = false;
            self.b_valid.d.next = true;
            self.b_resp.d.next = self.slverr.val();
            if self.w_ok.val() {
                self.b_resp.d.next = self.okay.val();
            }
        }
        if self.b_valid.q.val() & self.bready.val() {
            self.b_valid.d.next = false;
        }
        if self.arvalid.val() & self.arready.val() {
            self.ar_full.d.next = true;
            self.ar_addr.d.next = self.araddr.val();
        }
        self.ar_issued.d.next = self.issue.val();
        if self.take.val() {
            self.ar_full.d.next = false;
            self.r_valid.d.next = true;
            self.r_data.d.next = 0.into();
            self.r_resp.d.next = self.slverr.val();
            if self.r_ok.val() {
                self.r_data.d.next = self.reg_rdata.val();
                self.r_resp.d.next = self.okay.val();
            }
        }
        if self.r_valid.q.val() & self.rready.val() {
            self.r_valid.d.next = false;
        }
        self.bvalid.next = self.b_valid.q.val();
        self.bresp.next = self.b_resp.q.val();
        self.rvalid.next = self.r_valid.q.val();
        self.rdata.next = self.r_data.q.val();
        self.rresp.next = self.r_resp.q.val();
        if self.reset.val() {
            self.aw_full.d.next = false;
            self.aw_addr.d.next = 0.into();
            self.w_full.d.next = false;
            self.w_data.d.next = 0.into();
            self.w_strb.d.next = 0.into();
            self.b_valid.d.next = false;
            self.b_resp.d.next = 0.into();
            self.ar_full.d.next = false;
            self.ar_addr.d.next = 0.into();
            self.ar_issued.d.next = false;
            self.r_valid.d.next = false;
            self.r_data.d.next = 0.into();
            self.r_resp.d.next = 0.into();
        }
    }
}
