//! The engine's host interface, driven cycle by cycle as a driver on the board would: register
//! writes and reads (one per cycle), the buffer access port, START and polling `STATUS`. Cycles
//! are queued and run in bulk on one Verilator instance, which keeps its state between batches.

use crate::verilator::{Instance, Model};
use crate::CosimError;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::Descriptor;
use shiftadd_sim::regmap::{
    geometry as engine_geometry, layer_writes, BufSel, Reg, CTRL_START, ENGINE_ID, STATUS_DONE,
};
use shiftadd_sim::spec::AccelConfig;
use std::sync::Arc;

/// The engine's register-bus inputs, in the order of `Bus::port_index`.
const BUS_PORTS: [&str; 4] = ["reg_we", "reg_re", "reg_addr", "reg_wdata"];
/// The engine's other inputs, held at 0 by this driver.
const IDLE_PORTS: [&str; 4] = ["reset", "sin_data", "sin_valid", "sout_ready"];

/// Where a read's value will be, once the queue has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadId(usize);

/// What one layer run reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerRun {
    /// Bus cycle (from power-on of the instance) of the START write.
    pub start_cycle: u64,
    /// Edges after START until `STATUS` showed DONE.
    pub done_at: u64,
    /// The `CYCLES` register.
    pub cycles: u64,
    /// The `SAT_COUNT` register.
    pub sat: u64,
}

/// A host driver on one engine instance.
pub struct Bus {
    cfg: AccelConfig,
    model: Arc<Model>,
    instance: Instance,
    /// Ports `reg_we`, `reg_re`, `reg_addr`, `reg_wdata` as input words of one cycle.
    port_index: [usize; 4],
    rdata_index: usize,
    queue: Vec<u64>,
    /// Output words of the last run, kept to reuse the allocation.
    out: Vec<u64>,
    queued_reads: Vec<usize>,
    read_values: Vec<u32>,
    reads_done: usize,
    cycles_run: u64,
    /// `BUF_SEL`, `BUF_LANE` and `BUF_DATA_HI` as last written (`None` before the first write).
    sel: Option<BufSel>,
    lane: Option<u32>,
    hi: Option<u32>,
    /// The simulation's fatal error, reported by the next call that returns a result.
    stopped: Option<CosimError>,
    /// Counts of the cover points the host observes, when coverage is measured.
    pub host_cover: Option<crate::coverage::HostCounts>,
}

impl Bus {
    /// A driver on a new instance of the engine model `model` of `cfg`, tracing to `vcd` if
    /// given.
    pub fn new(
        cfg: &AccelConfig,
        model: &Arc<Model>,
        vcd: Option<&std::path::Path>,
    ) -> Result<Bus, CosimError> {
        let lay = &model.layout;
        let mut port_index = [usize::MAX; 4];
        for (port, &o) in lay.inputs.iter().zip(&lay.input_offsets) {
            match BUS_PORTS.iter().position(|n| *n == port.name) {
                Some(k) if port.width <= 64 => port_index[k] = o,
                // The engine's other inputs are held at 0: no reset, no stream.
                None if IDLE_PORTS.contains(&port.name.as_str()) => {}
                _ => {
                    return Err(CosimError::Design(format!(
                        "engine input `{}` ({} bits) is not a port the register-bus driver knows ({}, {})",
                        port.name,
                        port.width,
                        BUS_PORTS.join(", "),
                        IDLE_PORTS.join(", ")
                    )))
                }
            }
        }
        if let Some(k) = port_index.iter().position(|&i| i == usize::MAX) {
            return Err(CosimError::Design(format!(
                "engine has no input `{}`",
                BUS_PORTS[k]
            )));
        }
        let k = lay
            .outputs
            .iter()
            .position(|q| q.name == "reg_rdata")
            .ok_or_else(|| CosimError::Design("engine has no output `reg_rdata`".into()))?;
        Ok(Bus {
            cfg: cfg.clone(),
            model: Arc::clone(model),
            instance: model.instance(vcd)?,
            port_index,
            rdata_index: lay.output_offsets[k],
            queue: Vec::new(),
            out: Vec::new(),
            queued_reads: Vec::new(),
            read_values: Vec::new(),
            reads_done: 0,
            cycles_run: 0,
            sel: None,
            lane: None,
            hi: None,
            stopped: None,
            host_cover: None,
        })
    }

    /// The config.
    pub fn cfg(&self) -> &AccelConfig {
        &self.cfg
    }

    /// Bus cycles run or queued since power-on.
    pub fn cycle(&self) -> u64 {
        self.cycles_run + (self.queue.len() / self.model.layout.input_words) as u64
    }

    fn push(&mut self, we: bool, re: bool, addr: u32, data: u32) {
        let start = self.queue.len();
        self.queue.resize(start + self.model.layout.input_words, 0);
        let [w, r, a, d] = self.port_index;
        self.queue[start + w] = u64::from(we);
        self.queue[start + r] = u64::from(re);
        self.queue[start + a] = u64::from(addr);
        self.queue[start + d] = u64::from(data);
    }

    /// Writes register `reg`.
    pub fn write(&mut self, reg: Reg, data: u32) {
        self.push(true, false, reg.offset(), data);
        match reg {
            Reg::BufSel => self.sel = None,
            Reg::BufLane => self.lane = Some(data),
            Reg::BufDataHi => self.hi = Some(data),
            _ => {}
        }
    }

    /// Reads register `reg`.
    pub fn read(&mut self, reg: Reg) -> ReadId {
        self.read_offset(reg.offset())
    }

    /// Reads byte offset `addr`, mapped or not.
    pub fn read_offset(&mut self, addr: u32) -> ReadId {
        self.push(false, true, addr, 0);
        let cycle = self.queue.len() / self.model.layout.input_words - 1;
        self.queued_reads.push(cycle);
        ReadId(self.reads_done + self.queued_reads.len() - 1)
    }

    /// Runs the queued cycles.
    pub fn flush(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        if let Err(e) = self.instance.cycles_into(&self.queue, &mut self.out) {
            self.stopped.get_or_insert(e);
            self.out.clear();
            self.out.resize(
                self.queue.len() / self.model.layout.input_words * self.model.layout.output_words,
                0,
            );
        }
        let ow = self.model.layout.output_words;
        for &c in &self.queued_reads {
            self.read_values
                .push(self.out[c * ow + self.rdata_index] as u32);
        }
        self.reads_done += self.queued_reads.len();
        self.cycles_run += (self.queue.len() / self.model.layout.input_words) as u64;
        self.queue.clear();
        self.queued_reads.clear();
    }

    /// The value of a read (runs the queue first if the read is still queued).
    pub fn value(&mut self, id: ReadId) -> u32 {
        if id.0 >= self.read_values.len() {
            self.flush();
        }
        self.read_values[id.0]
    }

    /// The simulation's fatal error, if it stopped on one (the values read since are zeros).
    pub fn stopped(&mut self) -> Result<(), CosimError> {
        self.flush();
        self.stopped.take().map_or(Ok(()), Err)
    }

    /// Forgets the values of the reads done so far (their ids become invalid).
    pub fn clear_reads(&mut self) {
        self.flush();
        self.read_values.clear();
        self.reads_done = 0;
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

    /// Writes `values` to buffer `sel`, lane `lane`, from word `addr` on (one cycle per value,
    /// plus `BUF_DATA_HI` whenever the upper 32 bits change).
    pub fn write_words(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        if values.is_empty() {
            return;
        }
        self.select(sel, lane, addr);
        for &v in values {
            let hi = (v >> 32) as u32;
            if self.hi != Some(hi) {
                self.write(Reg::BufDataHi, hi);
            }
            self.write(Reg::BufDataLo, v as u32);
        }
    }

    /// Queues reads of `n` output words of lane `lane` from word `addr` on, streaming one per
    /// cycle (two when `wide`: the upper half first); returns the read ids (upper half, or
    /// `None`, then lower half) per word.
    pub fn read_outputs(
        &mut self,
        lane: u32,
        addr: u32,
        n: u32,
        wide: bool,
    ) -> Vec<(Option<ReadId>, ReadId)> {
        if n == 0 {
            return Vec::new();
        }
        self.select(BufSel::Output, lane, addr);
        (0..n)
            .map(|_| {
                let hi = wide.then(|| self.read(Reg::BufDataHi));
                (hi, self.read(Reg::BufDataLo))
            })
            .collect()
    }

    /// An output word from its reads: the lower half sign-extended from 32 bits, or both halves.
    pub fn output_value(&mut self, (hi, lo): (Option<ReadId>, ReadId)) -> i64 {
        let lo = self.value(lo);
        let v = match hi {
            Some(h) => (i64::from(self.value(h)) << 32) | i64::from(lo),
            None => i64::from(lo as i32),
        };
        if let Some(c) = &mut self.host_cover {
            c.output(&self.cfg, v);
        }
        v
    }

    /// Writes the registers of layer `d` (`regmap::layer_writes`), starts it and polls `STATUS`
    /// until DONE, at most `limit` cycles; then reads `CYCLES` and `SAT_COUNT`.
    pub fn run(&mut self, d: &Descriptor, limit: u64) -> Result<LayerRun, CosimError> {
        for (reg, v) in layer_writes(&self.cfg, d) {
            self.write(reg, v);
        }
        self.write(Reg::Ctrl, CTRL_START);
        let start_cycle = self.cycle() - 1;
        // The first poll is where the cycle model says DONE shows; later polls follow singly.
        let expect = layer_cycles(&self.cfg, d);
        let mut polls = Vec::new();
        let mut done_at = None;
        while done_at.is_none() {
            let batch = if polls.is_empty() { expect.max(1) } else { 16 };
            let first = polls.len();
            for _ in 0..batch {
                polls.push(self.read(Reg::Status));
            }
            self.stopped()?;
            done_at = (first..polls.len())
                .find(|&k| self.value(polls[k]) & STATUS_DONE != 0)
                .map(|k| k as u64 + 1);
            if done_at.is_none() && polls.len() as u64 > limit {
                return Err(CosimError::Design(format!(
                    "DONE did not rise within {} cycles of START (bus cycle {start_cycle})",
                    polls.len()
                )));
            }
        }
        let cycles = self.read(Reg::Cycles);
        let sat = self.read(Reg::SatCount);
        self.stopped()?;
        let sat_value = u64::from(self.value(sat));
        if let Some(c) = &mut self.host_cover {
            let op = shiftadd_sim::regmap::OpCode::of(d.op) as u32;
            c.layer(
                op,
                shiftadd_sim::regmap::output_value(d.output) & 3,
                sat_value,
            );
        }
        Ok(LayerRun {
            start_cycle,
            done_at: done_at.unwrap_or(0),
            cycles: u64::from(self.value(cycles)),
            sat: u64::from(self.value(sat)),
        })
    }

    /// Reads `ID` and `GEOMETRY` and checks that the engine is the one `cfg` describes (register
    /// map version, array size and kind).
    pub fn identify(&mut self) -> Result<(), CosimError> {
        let (id, geometry) = (self.read(Reg::Id), self.read(Reg::Geometry));
        self.stopped()?;
        let found = (self.value(id), self.value(geometry));
        let expected = (ENGINE_ID, engine_geometry(&self.cfg));
        self.clear_reads();
        if found == expected {
            Ok(())
        } else {
            Err(CosimError::Design(format!(
                "the engine reads ID {:#010x}, GEOMETRY {:#07x}; config `{}` expects ID {:#010x}, GEOMETRY {:#07x}",
                found.0, found.1, self.cfg.name, expected.0, expected.1
            )))
        }
    }
}
