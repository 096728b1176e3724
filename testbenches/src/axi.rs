//! A host on the AXI ports of `shiftadd_axi`, driven cycle by cycle on one Verilator instance:
//! AXI4-Lite register writes and reads, words sent on the input stream and received from the
//! output stream at one per cycle, the interrupt, and reset. Cycles are queued and run in bulk
//! on the timing the slave documents (a write every 2 cycles, a read every 3, stream beats every
//! cycle); every handshake the queue relies on is checked against the ports afterwards, so a
//! design that stalls where the schedule did not expect it is reported, never misread.

use crate::bus::LayerRun;
use crate::driver::EngineBus;
use crate::verilator::{Instance, Model};
use crate::CosimError;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::Descriptor;
use shiftadd_sim::regmap::{layer_writes, BufSel, Reg, ACCESS_REGS, CTRL_START, IRQ_DONE};
use shiftadd_sim::spec::AccelConfig;
use std::sync::Arc;

/// AXI response OKAY.
pub const OKAY: u64 = 0;
/// AXI response SLVERR.
pub const SLVERR: u64 = 2;

/// Word offsets of the ports in the cycle buffers.
#[derive(Clone, Debug)]
struct Ports {
    aresetn: usize,
    awaddr: usize,
    awvalid: usize,
    wdata: usize,
    wstrb: usize,
    wvalid: usize,
    bready: usize,
    araddr: usize,
    arvalid: usize,
    rready: usize,
    sdata: usize,
    svalid: usize,
    slast: usize,
    mready: usize,
    awready: usize,
    wready: usize,
    bresp: usize,
    bvalid: usize,
    arready: usize,
    rdata: usize,
    rresp: usize,
    rvalid: usize,
    sready: usize,
    mdata: usize,
    mvalid: usize,
    mlast: usize,
    irq: usize,
}

/// What the queued cycles rely on, checked once they have run.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Output port `port` was 1 in the sample of cycle `cycle` (a ready seen the cycle after).
    High {
        port: usize,
        cycle: u64,
        what: &'static str,
    },
    /// A write response `resp` in the sample of `cycle`.
    Bresp { cycle: u64, resp: u64, addr: u32 },
    /// Read `id`'s data and response in the sample of `cycle`.
    Read { cycle: u64, id: usize, addr: u32 },
}

/// A read's result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadResult {
    /// `RDATA`.
    pub data: u32,
    /// `RRESP`.
    pub resp: u64,
}

/// A host on one `shiftadd_axi` instance.
pub struct AxiBus {
    cfg: AccelConfig,
    model: Arc<Model>,
    instance: Instance,
    p: Ports,
    /// The inputs of an idle cycle: out of reset, responses and output beats taken.
    idle: Vec<u64>,
    queue: Vec<u64>,
    checks: Vec<Check>,
    out: Vec<u64>,
    /// The last sample of the cycles run so far.
    last: Vec<u64>,
    cycles_run: u64,
    reads: Vec<ReadResult>,
    /// Output-stream beats received: data and `TLAST`.
    beats: Vec<(u64, bool)>,
    /// Cycles whose sample shows `irq` rising.
    irq_rises: Vec<u64>,
    irq_before: bool,
    /// `BUF_SEL` and `BUF_LANE` as last written.
    sel: Option<BufSel>,
    lane: Option<u32>,
    /// Buffer writes to stream while the next layers run: buffer, lane, address, words.
    during_next_run: std::collections::VecDeque<(BufSel, u32, u32, Vec<i64>)>,
}

impl AxiBus {
    /// A host on a new instance of the `shiftadd_axi` model `model` of `cfg`, tracing to `vcd`
    /// if given; reset is held for two cycles, then the interrupt is enabled.
    pub fn new(
        cfg: &AccelConfig,
        model: &Arc<Model>,
        vcd: Option<&std::path::Path>,
    ) -> Result<AxiBus, CosimError> {
        let l = &model.layout;
        let i = |n| l.input(&model.top, n);
        let o = |n| l.output(&model.top, n);
        let p = Ports {
            aresetn: i("aresetn")?,
            awaddr: i("s_axi_awaddr")?,
            awvalid: i("s_axi_awvalid")?,
            wdata: i("s_axi_wdata")?,
            wstrb: i("s_axi_wstrb")?,
            wvalid: i("s_axi_wvalid")?,
            bready: i("s_axi_bready")?,
            araddr: i("s_axi_araddr")?,
            arvalid: i("s_axi_arvalid")?,
            rready: i("s_axi_rready")?,
            sdata: i("s_axis_tdata")?,
            svalid: i("s_axis_tvalid")?,
            slast: i("s_axis_tlast")?,
            mready: i("m_axis_tready")?,
            awready: o("s_axi_awready")?,
            wready: o("s_axi_wready")?,
            bresp: o("s_axi_bresp")?,
            bvalid: o("s_axi_bvalid")?,
            arready: o("s_axi_arready")?,
            rdata: o("s_axi_rdata")?,
            rresp: o("s_axi_rresp")?,
            rvalid: o("s_axi_rvalid")?,
            sready: o("s_axis_tready")?,
            mdata: o("m_axis_tdata")?,
            mvalid: o("m_axis_tvalid")?,
            mlast: o("m_axis_tlast")?,
            irq: o("irq")?,
        };
        let mut idle = vec![0u64; l.input_words];
        for k in [p.aresetn, p.bready, p.rready, p.mready] {
            idle[k] = 1;
        }
        let mut bus = AxiBus {
            cfg: cfg.clone(),
            model: Arc::clone(model),
            instance: model.instance(vcd)?,
            p,
            idle,
            queue: Vec::new(),
            checks: Vec::new(),
            out: Vec::new(),
            last: vec![0; l.output_words],
            cycles_run: 0,
            reads: Vec::new(),
            beats: Vec::new(),
            irq_rises: Vec::new(),
            irq_before: false,
            sel: None,
            lane: None,
            during_next_run: Default::default(),
        };
        bus.reset(2);
        bus.write(Reg::IrqEnable, IRQ_DONE);
        Ok(bus)
    }

    /// Cycles run or queued since power-on.
    pub fn cycle(&self) -> u64 {
        self.cycles_run + (self.queue.len() / self.model.layout.input_words) as u64
    }

    /// Queues one cycle: the idle inputs with `set` applied; returns its cycle number.
    fn push(&mut self, set: &[(usize, u64)]) -> u64 {
        let c = self.cycle();
        let start = self.queue.len();
        self.queue.extend_from_slice(&self.idle);
        for &(k, v) in set {
            self.queue[start + k] = v;
        }
        c
    }

    /// Queues `n` idle cycles.
    pub fn idle(&mut self, n: u64) {
        for _ in 0..n {
            self.push(&[]);
        }
    }

    /// Holds `aresetn` low for `n` cycles (at least 1).
    pub fn reset(&mut self, n: u64) {
        for _ in 0..n.max(1) {
            self.push(&[(self.p.aresetn, 0)]);
        }
        self.sel = None;
        self.lane = None;
        // Out of reset, every ready is high from the next cycle on.
        self.push(&[]);
    }

    /// Writes byte offset `addr` with write strobes `strb`, expecting response `resp`.
    pub fn write_raw(&mut self, addr: u32, data: u32, strb: u64, resp: u64) {
        let p = self.p.clone();
        let c = self.push(&[
            (p.awaddr, u64::from(addr)),
            (p.awvalid, 1),
            (p.wdata, u64::from(data)),
            (p.wstrb, strb),
            (p.wvalid, 1),
        ]);
        self.checks.push(Check::High {
            port: p.awready,
            cycle: c - 1,
            what: "AWREADY",
        });
        self.checks.push(Check::High {
            port: p.wready,
            cycle: c - 1,
            what: "WREADY",
        });
        // The slave applies the write in the next cycle and answers after it.
        self.push(&[]);
        self.checks.push(Check::Bresp {
            cycle: c + 1,
            resp,
            addr,
        });
    }

    /// Writes register `reg`.
    pub fn write(&mut self, reg: Reg, data: u32) {
        self.write_raw(reg.offset(), data, 0xf, OKAY);
        if reg == Reg::BufSel {
            self.sel = None;
        }
        if reg == Reg::BufLane {
            self.lane = Some(data);
        }
    }

    /// Reads byte offset `addr`; the result is there once the queue has run.
    pub fn read_raw(&mut self, addr: u32) -> usize {
        let p = self.p.clone();
        let c = self.push(&[(p.araddr, u64::from(addr)), (p.arvalid, 1)]);
        self.checks.push(Check::High {
            port: p.arready,
            cycle: c - 1,
            what: "ARREADY",
        });
        // Issue, then take: the data shows in the sample of the third cycle.
        self.push(&[]);
        self.push(&[]);
        let id = self.reads.len();
        self.reads.push(ReadResult::default());
        self.checks.push(Check::Read {
            cycle: c + 2,
            id,
            addr,
        });
        id
    }

    /// Reads register `reg` (running the queue).
    pub fn read(&mut self, reg: Reg) -> Result<u32, CosimError> {
        let id = self.read_raw(reg.offset());
        self.flush()?;
        let r = self.reads[id];
        if r.resp != OKAY {
            return Err(CosimError::Design(format!(
                "read of {}: response {}",
                reg.name(),
                r.resp
            )));
        }
        Ok(r.data)
    }

    /// Forgets the results of the reads done so far (their ids become invalid); the queue must
    /// have run.
    pub fn clear_reads(&mut self) {
        self.reads.clear();
    }

    /// The cycles (of the runs so far) whose sample shows `irq` rising.
    pub fn irq_rises(&self) -> &[u64] {
        &self.irq_rises
    }

    /// The result of read `id` (after a flush).
    pub fn read_result(&self, id: usize) -> ReadResult {
        self.reads[id]
    }

    /// Sends `words` on the input stream, one per cycle (`TLAST` on the last).
    pub fn send(&mut self, words: &[u64]) {
        let p = self.p.clone();
        for (k, &w) in words.iter().enumerate() {
            let c = self.push(&[
                (p.sdata, w),
                (p.svalid, 1),
                (p.slast, u64::from(k + 1 == words.len())),
            ]);
            self.checks.push(Check::High {
                port: p.sready,
                cycle: c - 1,
                what: "S_AXIS_TREADY",
            });
        }
    }

    /// Asks for `n` output words from the output buffer at `lane` / `addr` on the output stream
    /// and receives them.
    pub fn receive(&mut self, lane: u32, addr: u32, n: u32) -> Result<Vec<u64>, CosimError> {
        self.select(BufSel::Output, lane, addr);
        self.flush()?;
        self.beats.clear();
        self.write(Reg::StreamOut, n);
        self.idle(u64::from(n) + 3);
        self.flush()?;
        let mut extra = 0;
        while self.beats.len() < n as usize && extra < 64 {
            self.idle(1);
            self.flush()?;
            extra += 1;
        }
        if self.beats.len() != n as usize {
            return Err(CosimError::Design(format!(
                "output stream: {} beats for a request of {n} words",
                self.beats.len()
            )));
        }
        if let Some(k) = self.beats.iter().position(|b| b.1) {
            if k + 1 != n as usize {
                return Err(CosimError::Design(format!(
                    "output stream: TLAST on beat {k} of {n}"
                )));
            }
        } else if n > 0 {
            return Err(CosimError::Design(format!(
                "output stream: no TLAST on the last of {n} beats"
            )));
        }
        Ok(self.beats.drain(..).map(|b| b.0).collect())
    }

    fn select(&mut self, sel: BufSel, lane: u32, addr: u32) {
        if self.sel != Some(sel) {
            self.write(Reg::BufSel, sel as u32);
            self.sel = Some(sel);
        }
        if self.lane != Some(lane) {
            self.write(Reg::BufLane, lane);
        }
        self.write(Reg::BufAddr, addr);
    }

    /// Writes now what was queued for the next layers' runs.
    pub fn write_queued(&mut self) {
        for (sel, lane, addr, values) in std::mem::take(&mut self.during_next_run) {
            EngineBus::write_words(self, sel, lane, addr, &values);
        }
    }

    /// Streams queued writes until bus cycle `end`, splitting a lane's words where the time
    /// runs out; the rest waits for the next run.
    fn write_queued_until(&mut self, end: u64) {
        // Selecting a lane and address: two register writes of two cycles each, and margin.
        const SELECT: u64 = 6;
        while let Some((sel, lane, addr, values)) = self.during_next_run.pop_front() {
            let room = end.saturating_sub(self.cycle() + SELECT) as usize;
            if room == 0 {
                self.during_next_run.push_front((sel, lane, addr, values));
                return;
            }
            let n = room.min(values.len());
            EngineBus::write_words(self, sel, lane, addr, &values[..n]);
            if n < values.len() {
                self.during_next_run
                    .push_front((sel, lane, addr + n as u32, values[n..].to_vec()));
                return;
            }
        }
    }

    /// Runs the queued cycles and checks what they relied on.
    pub fn flush(&mut self) -> Result<(), CosimError> {
        let iw = self.model.layout.input_words;
        if self.queue.is_empty() {
            return Ok(());
        }
        let base = self.cycles_run;
        let n = (self.queue.len() / iw) as u64;
        self.instance.cycles_into(&self.queue, &mut self.out)?;
        self.queue.clear();
        let ow = self.model.layout.output_words;
        let p = self.p.clone();
        let sample = |this: &Self, c: u64| -> Vec<u64> {
            if c + 1 == base {
                this.last.clone()
            } else {
                let k = (c - base) as usize;
                this.out[k * ow..(k + 1) * ow].to_vec()
            }
        };
        for k in 0..n as usize {
            let s = &self.out[k * ow..(k + 1) * ow];
            if s[p.mvalid] & 1 == 1 {
                self.beats.push((s[p.mdata], s[p.mlast] & 1 == 1));
            }
            let irq = s[p.irq] & 1 == 1;
            if irq && !self.irq_before {
                self.irq_rises.push(base + k as u64);
            }
            self.irq_before = irq;
        }
        let mut kept = Vec::new();
        for check in std::mem::take(&mut self.checks) {
            let cycle = match check {
                Check::High { cycle, .. }
                | Check::Bresp { cycle, .. }
                | Check::Read { cycle, .. } => cycle,
            };
            if cycle >= base + n {
                kept.push(check);
                continue;
            }
            // Cycle 0's inputs need no ready (nothing was sampled before it).
            if cycle + 1 < base {
                continue;
            }
            let s = sample(self, cycle);
            match check {
                Check::High { port, what, .. } => {
                    if s[port] & 1 != 1 {
                        return Err(CosimError::Design(format!(
                            "{what} low before bus cycle {}, where the schedule needs it high",
                            cycle + 1
                        )));
                    }
                }
                Check::Bresp { resp, addr, .. } => {
                    if s[p.bvalid] & 1 != 1 || s[p.bresp] != resp {
                        return Err(CosimError::Design(format!(
                            "write of {addr:#05x}: BVALID {} BRESP {} at bus cycle {cycle}, expected a response {resp}",
                            s[p.bvalid],
                            s[p.bresp]
                        )));
                    }
                }
                Check::Read { id, addr, .. } => {
                    if s[p.rvalid] & 1 != 1 {
                        return Err(CosimError::Design(format!(
                            "read of {addr:#05x}: no RVALID at bus cycle {cycle}"
                        )));
                    }
                    self.reads[id] = ReadResult {
                        data: s[p.rdata] as u32,
                        resp: s[p.rresp],
                    };
                }
            }
        }
        self.checks = kept;
        self.last
            .copy_from_slice(&self.out[(n as usize - 1) * ow..n as usize * ow]);
        self.cycles_run += n;
        Ok(())
    }

    /// Reads `ID` and `GEOMETRY` and checks that the engine is the one `cfg` describes.
    pub fn identify(&mut self) -> Result<(), CosimError> {
        let (id, geometry) = (self.read(Reg::Id)?, self.read(Reg::Geometry)?);
        crate::driver::check_identity(&self.cfg, id, geometry)
    }
}

impl EngineBus for AxiBus {
    fn cfg(&self) -> &AccelConfig {
        &self.cfg
    }

    fn write_words(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        if values.is_empty() {
            return;
        }
        self.select(sel, lane, addr);
        let words: Vec<u64> = values.iter().map(|&v| v as u64).collect();
        self.send(&words);
    }

    fn write_words_during_next_run(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        self.during_next_run
            .push_back((sel, lane, addr, values.to_vec()));
    }

    fn read_words(
        &mut self,
        lane: u32,
        addr: u32,
        n: u32,
        _wide: bool,
    ) -> Result<Vec<i64>, CosimError> {
        // The stream carries whole words, sign-extended to 64 bits.
        Ok(self
            .receive(lane, addr, n)?
            .into_iter()
            .map(|w| w as i64)
            .collect())
    }

    /// Writes the layer's registers and START, streams as many of the queued writes as the
    /// layer's run leaves time for (all of them first if the layer reads the input buffer),
    /// then waits for the interrupt; `done_at` counts the edges from START to DONE (the
    /// interrupt rises one cycle after DONE).
    fn run(&mut self, d: &Descriptor, limit: u64) -> Result<LayerRun, CosimError> {
        // A layer that reads the input buffer needs every queued write in it first.
        if !d.in_from_output {
            self.write_queued();
        }
        for (reg, v) in layer_writes(&self.cfg, d) {
            self.write(reg, v);
        }
        self.write(Reg::Ctrl, CTRL_START);
        // The slave applies START in the second cycle of its write.
        let start_cycle = self.cycle() - 1;
        self.irq_rises.clear();
        let end = start_cycle + layer_cycles(&self.cfg, d) + 3;
        self.write_queued_until(end);
        self.idle(end.saturating_sub(self.cycle()));
        self.flush()?;
        while self.irq_rises.is_empty() {
            if self.cycle() - start_cycle > limit {
                return Err(CosimError::Design(format!(
                    "no interrupt within {limit} cycles of START (bus cycle {start_cycle})"
                )));
            }
            self.idle(16);
            self.flush()?;
        }
        let done_at = self.irq_rises[0] - 1 - start_cycle;
        self.write(Reg::IrqStatus, IRQ_DONE);
        let cycles = self.read_raw(Reg::Cycles.offset());
        let sat = self.read_raw(Reg::SatCount.offset());
        let accesses = ACCESS_REGS.map(|r| self.read_raw(r.offset()));
        self.flush()?;
        Ok(LayerRun {
            start_cycle,
            done_at,
            cycles: u64::from(self.reads[cycles].data),
            sat: u64::from(self.reads[sat].data),
            accesses: accesses.map(|id| self.reads[id].data),
        })
    }

    fn cycle(&self) -> u64 {
        AxiBus::cycle(self)
    }
}
