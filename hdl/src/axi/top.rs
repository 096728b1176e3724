//! `shiftadd_axi`: the engine for a real system. An AXI4-Lite slave (`s_axi_*`, 32-bit data,
//! `AW`-bit byte addresses) onto the register map ([`AxiLiteSlave`]); an AXI4-Stream slave
//! (`s_axis_*`, 64-bit beats) that fills the buffer selected by `BUF_SEL` / `BUF_LANE` /
//! `BUF_ADDR` at one word per cycle; an AXI4-Stream master (`m_axis_*`, 64-bit beats) that sends
//! the output words `STREAM_OUT` asks for, `TLAST` on the last; `irq`, a level interrupt on
//! DONE (`IRQ_ENABLE`, `IRQ_STATUS`); `aclk` and `aresetn` (active low, synchronous: every
//! register of the slave and the engine to its idle value, buffer contents kept). `s_axis_tlast`
//! is accepted and not needed: the words go where the registers say. Port names follow the
//! interface-inference conventions of Vivado's IP integrator.

use super::AxiLiteSlave;
use crate::array::EngineArray;
use crate::engine::EngineCore;
use rust_hdl_core::prelude::*;
use shiftadd_sim::regmap::{AXI_ADDR_BITS, REG_DATA_BITS};
use shiftadd_sim::spec::AccelConfig;

const AW: usize = AXI_ADDR_BITS;
const RD: usize = REG_DATA_BITS;

/// The AXI top.
#[derive(LogicBlock)]
pub struct AxiTop<
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
    pub aclk: Signal<In, Clock>,
    /// Reset, active low, synchronous.
    pub aresetn: Signal<In, Bit>,
    /// AXI4-Lite slave.
    pub s_axi_awaddr: Signal<In, Bits<AW>>,
    pub s_axi_awprot: Signal<In, Bits<3>>,
    pub s_axi_awvalid: Signal<In, Bit>,
    pub s_axi_awready: Signal<Out, Bit>,
    pub s_axi_wdata: Signal<In, Bits<RD>>,
    pub s_axi_wstrb: Signal<In, Bits<4>>,
    pub s_axi_wvalid: Signal<In, Bit>,
    pub s_axi_wready: Signal<Out, Bit>,
    pub s_axi_bresp: Signal<Out, Bits<2>>,
    pub s_axi_bvalid: Signal<Out, Bit>,
    pub s_axi_bready: Signal<In, Bit>,
    pub s_axi_araddr: Signal<In, Bits<AW>>,
    pub s_axi_arprot: Signal<In, Bits<3>>,
    pub s_axi_arvalid: Signal<In, Bit>,
    pub s_axi_arready: Signal<Out, Bit>,
    pub s_axi_rdata: Signal<Out, Bits<RD>>,
    pub s_axi_rresp: Signal<Out, Bits<2>>,
    pub s_axi_rvalid: Signal<Out, Bit>,
    pub s_axi_rready: Signal<In, Bit>,
    /// AXI4-Stream slave: words into the selected buffer.
    pub s_axis_tdata: Signal<In, Bits<64>>,
    pub s_axis_tvalid: Signal<In, Bit>,
    pub s_axis_tready: Signal<Out, Bit>,
    pub s_axis_tlast: Signal<In, Bit>,
    /// AXI4-Stream master: output words.
    pub m_axis_tdata: Signal<Out, Bits<64>>,
    pub m_axis_tvalid: Signal<Out, Bit>,
    pub m_axis_tready: Signal<In, Bit>,
    pub m_axis_tlast: Signal<Out, Bit>,
    /// Interrupt, active high, level.
    pub irq: Signal<Out, Bit>,
    /// The AXI4-Lite slave.
    lite: AxiLiteSlave<AW>,
    /// The engine.
    core: EngineCore<A, XW, WW, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>,
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
    > AxiTop<A, XW, WW, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
{
    /// The AXI top of `cfg`'s engine.
    pub fn new(cfg: &AccelConfig) -> Self {
        Self {
            aclk: Default::default(),
            aresetn: Default::default(),
            s_axi_awaddr: Default::default(),
            s_axi_awprot: Default::default(),
            s_axi_awvalid: Default::default(),
            s_axi_awready: Default::default(),
            s_axi_wdata: Default::default(),
            s_axi_wstrb: Default::default(),
            s_axi_wvalid: Default::default(),
            s_axi_wready: Default::default(),
            s_axi_bresp: Default::default(),
            s_axi_bvalid: Default::default(),
            s_axi_bready: Default::default(),
            s_axi_araddr: Default::default(),
            s_axi_arprot: Default::default(),
            s_axi_arvalid: Default::default(),
            s_axi_arready: Default::default(),
            s_axi_rdata: Default::default(),
            s_axi_rresp: Default::default(),
            s_axi_rvalid: Default::default(),
            s_axi_rready: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tlast: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tlast: Default::default(),
            irq: Default::default(),
            lite: Default::default(),
            core: EngineCore::new(cfg),
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
    > crate::compiled::EngineBlock for AxiTop<A, XW, WW, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
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
    > Logic for AxiTop<A, XW, WW, ACC, AB, WB, LB, MB, BB, P, Z, OW, PB>
{
    #[hdl_gen]
    fn update(&mut self) {
        self.lite.clock.next = self.aclk.val();
        self.lite.reset.next = !self.aresetn.val();
        self.lite.awaddr.next = self.s_axi_awaddr.val();
        self.lite.awvalid.next = self.s_axi_awvalid.val();
        self.s_axi_awready.next = self.lite.awready.val();
        self.lite.wdata.next = self.s_axi_wdata.val();
        self.lite.wstrb.next = self.s_axi_wstrb.val();
        self.lite.wvalid.next = self.s_axi_wvalid.val();
        self.s_axi_wready.next = self.lite.wready.val();
        self.s_axi_bresp.next = self.lite.bresp.val();
        self.s_axi_bvalid.next = self.lite.bvalid.val();
        self.lite.bready.next = self.s_axi_bready.val();
        self.lite.araddr.next = self.s_axi_araddr.val();
        self.lite.arvalid.next = self.s_axi_arvalid.val();
        self.s_axi_arready.next = self.lite.arready.val();
        self.s_axi_rdata.next = self.lite.rdata.val();
        self.s_axi_rresp.next = self.lite.rresp.val();
        self.s_axi_rvalid.next = self.lite.rvalid.val();
        self.lite.rready.next = self.s_axi_rready.val();

        self.core.clock.next = self.aclk.val();
        self.core.reset.next = !self.aresetn.val();
        self.core.reg_we.next = self.lite.reg_we.val();
        self.core.reg_re.next = self.lite.reg_re.val();
        self.core.reg_addr.next = self.lite.reg_addr.val();
        self.core.reg_wdata.next = self.lite.reg_wdata.val();
        self.lite.reg_rdata.next = self.core.reg_rdata.val();
        self.core.sin_data.next = self.s_axis_tdata.val();
        self.core.sin_valid.next = self.s_axis_tvalid.val();
        self.s_axis_tready.next = self.core.sin_ready.val();
        self.m_axis_tdata.next = self.core.sout_data.val();
        self.m_axis_tvalid.next = self.core.sout_valid.val();
        self.core.sout_ready.next = self.m_axis_tready.val();
        self.m_axis_tlast.next = self.core.sout_last.val();
        self.irq.next = self.core.irq.val();
    }
}
