//! The engine's host interface, driven cycle by cycle as a driver on the board would: register
//! writes and reads (one per cycle), the buffer access port, START and polling `STATUS`. Cycles
//! are queued and run in bulk on one Verilator instance, which keeps its state between batches.

use crate::verilator::{Instance, Model};
use crate::CosimError;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::Descriptor;
use shiftadd_sim::regmap::{
    layer_writes, BufSel, Reg, ACCESS_REGS, CTRL_START, STATUS_BUSY, STATUS_DONE,
};
use shiftadd_sim::spec::AccelConfig;
use std::sync::Arc;

/// The engine's register-bus inputs, in the order of `Bus::port_index`.
const BUS_PORTS: [&str; 4] = ["reg_we", "reg_re", "reg_addr", "reg_wdata"];
/// The engine's other inputs, in the order of `Bus::side_in`: 0 unless a reset, a stream or the
/// interrupt is exercised.
const IDLE_PORTS: [&str; 4] = ["reset", "sin_data", "sin_valid", "sout_ready"];
/// The engine's outputs besides `reg_rdata`, in the order of `Bus::side_out`.
const SIDE_OUTPUTS: [&str; 5] = ["irq", "sout_valid", "sout_data", "sout_last", "sin_ready"];
const RESET: usize = 0;
const SIN_DATA: usize = 1;
const SIN_VALID: usize = 2;
const SOUT_READY: usize = 3;
const IRQ: usize = 0;
const SOUT_VALID: usize = 1;
const SOUT_DATA: usize = 2;
const SOUT_LAST: usize = 3;
const SIN_READY: usize = 4;

/// Whether an access to `reg` does something besides reading or storing a value (so that the
/// register walk leaves it alone).
fn acts_on_access(reg: Reg) -> bool {
    matches!(
        reg,
        Reg::Ctrl | Reg::BufDataLo | Reg::BufDataHi | Reg::StreamOut | Reg::IrqStatus
    )
}

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
    /// The access counters, `ACCESS_REGS` order.
    pub accesses: [u32; 5],
}

/// A host driver on one engine instance.
pub struct Bus {
    cfg: AccelConfig,
    model: Arc<Model>,
    instance: Instance,
    /// Ports `reg_we`, `reg_re`, `reg_addr`, `reg_wdata` as input words of one cycle.
    port_index: [usize; 4],
    /// [`IDLE_PORTS`] as input words, when the engine has them.
    side_in: [Option<usize>; 4],
    /// [`SIDE_OUTPUTS`] as output words, when the engine has them.
    side_out: [Option<usize>; 5],
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
    /// Move buffer words through the input and output streams instead of `BUF_DATA_LO`/`HI`
    /// (where the engine has them).
    pub streams: bool,
    /// What the last run's `STATUS` polls read that they should not have, if anything.
    pub status_fault: Option<String>,
    /// With a seed, the buffer writes a layer's driver makes ([`crate::driver::EngineBus`]) are
    /// held back and made in an order drawn from it, just before START or a buffer read.
    pub shuffle: Option<u64>,
    /// The writes held back: buffer, lane, first word, words.
    pending: Vec<(BufSel, u32, u32, Vec<i64>)>,
    /// With [`Bus::use_backdoor`]: per buffer ([`BufSel`] value) and lane, the model memory
    /// that holds it.
    backdoor: Option<Vec<Vec<usize>>>,
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
        let mut side_in = [None; 4];
        let mut side_out = [None; 5];
        for (port, &o) in lay.outputs.iter().zip(&lay.output_offsets) {
            if let Some(k) = SIDE_OUTPUTS.iter().position(|n| *n == port.name) {
                side_out[k] = (port.width <= 64).then_some(o);
            }
        }
        for (port, &o) in lay.inputs.iter().zip(&lay.input_offsets) {
            match BUS_PORTS.iter().position(|n| *n == port.name) {
                Some(k) if port.width <= 64 => port_index[k] = o,
                None if IDLE_PORTS.contains(&port.name.as_str()) => {
                    let k = IDLE_PORTS.iter().position(|n| *n == port.name).unwrap_or(0);
                    side_in[k] = (port.width <= 64).then_some(o);
                }
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
            side_in,
            side_out,
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
            streams: false,
            status_fault: None,
            shuffle: None,
            pending: Vec::new(),
            backdoor: None,
        })
    }

    /// From now on, buffer words are written into and read from the model's memories directly,
    /// between cycles, instead of through the access port (no bus cycles; registers, START and
    /// `STATUS` stay on the bus). Fails when the model lacks a memory of a buffer lane
    /// (`<top>. ... .<instance>_<lane>.mem`, [`BufSel::instance`]).
    pub fn use_backdoor(&mut self) -> Result<(), CosimError> {
        let mems = self.model.memories();
        let mut map = Vec::new();
        for sel in BufSel::ALL {
            let mut lanes = Vec::new();
            for lane in 0..sel.lanes(&self.cfg) {
                let suffix = format!(".{}_{lane}.mem", sel.instance());
                let found: Vec<usize> = (0..mems.len())
                    .filter(|&k| mems[k].name.ends_with(&suffix))
                    .collect();
                match found[..] {
                    [k] => lanes.push(k),
                    _ => {
                        return Err(CosimError::Design(format!(
                            "`{}`: {} memories named `*{suffix}` (lane {lane} of the {} buffer); the backdoor needs exactly one",
                            self.model.top,
                            found.len(),
                            BufSel::VALUES[sel as usize].1
                        )))
                    }
                }
            }
            map.push(lanes);
        }
        self.backdoor = Some(map);
        Ok(())
    }

    /// Whether buffer words go through the backdoor ([`Bus::use_backdoor`]).
    pub fn backdoor(&self) -> bool {
        self.backdoor.is_some()
    }

    /// The memory of buffer `sel`, lane `lane`, through the backdoor.
    pub(crate) fn backdoor_memory(
        &self,
        sel: BufSel,
        lane: u32,
    ) -> Option<Result<usize, CosimError>> {
        let map = self.backdoor.as_ref()?;
        Some(
            map[sel as usize]
                .get(lane as usize)
                .copied()
                .ok_or_else(|| {
                    CosimError::Design(format!(
                        "lane {lane} of the {} buffer does not exist",
                        BufSel::VALUES[sel as usize].1
                    ))
                }),
        )
    }

    /// Reads `n` output words through the backdoor, as the access port gives them (the word
    /// sign-extended from its width; the lower half sign-extended from 32 bits unless `wide`).
    pub(crate) fn backdoor_outputs(
        &mut self,
        k: usize,
        addr: u32,
        n: u32,
        wide: bool,
    ) -> Result<Vec<i64>, CosimError> {
        self.flush();
        self.stopped()?;
        let width = self.model.memories()[k].width;
        let mut raw = vec![0u64; n as usize];
        self.instance.read_memory(k, u64::from(addr), &mut raw)?;
        let words: Vec<i64> = raw
            .into_iter()
            .map(|v| {
                let v = ((v << (64 - width)) as i64) >> (64 - width);
                if wide {
                    v
                } else {
                    i64::from(v as i32)
                }
            })
            .collect();
        if let Some(c) = &mut self.host_cover {
            words.iter().for_each(|&v| c.output(v));
        }
        Ok(words)
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

    /// Queues an idle cycle of the register bus with side inputs `side` ([`IDLE_PORTS`] index,
    /// value); false, queueing nothing, when the engine lacks one of them.
    fn push_side(&mut self, side: &[(usize, u64)]) -> bool {
        if side.iter().any(|&(k, _)| self.side_in[k].is_none()) {
            return false;
        }
        self.push(false, false, 0, 0);
        let start = self.queue.len() - self.model.layout.input_words;
        for &(k, v) in side {
            if let Some(o) = self.side_in[k] {
                self.queue[start + o] = v;
            }
        }
        true
    }

    /// Whether the engine has the reset, stream and interrupt ports.
    pub fn has_side_ports(&self) -> bool {
        self.side_in
            .iter()
            .chain(&self.side_out)
            .all(Option::is_some)
    }

    /// Queues one cycle with `reset` high: every register to its reset value, a running layer
    /// abandoned. The driver's record of the access port is forgotten.
    pub fn reset(&mut self) {
        if self.push_side(&[(RESET, 1)]) {
            (self.sel, self.lane, self.hi) = (None, None, None);
        }
    }

    /// Output word `k` of [`SIDE_OUTPUTS`] in cycle `cycle` of the last flush.
    fn side(&self, k: usize, cycle: usize) -> u64 {
        self.side_out[k].map_or(0, |o| self.out[cycle * self.model.layout.output_words + o])
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
        if let Some(k) = self.backdoor_memory(sel, lane) {
            self.flush();
            let words: Vec<u64> = values.iter().map(|&v| v as u64).collect();
            if let Err(e) = k.and_then(|k| self.instance.write_memory(k, u64::from(addr), &words)) {
                self.stopped.get_or_insert(e);
            }
            return;
        }
        self.select(sel, lane, addr);
        if self.streams && self.has_side_ports() {
            // One beat per cycle: the engine is ready whenever no register is written.
            for &v in values {
                self.push_side(&[(SIN_DATA, v as u64), (SIN_VALID, 1)]);
            }
            return;
        }
        for &v in values {
            let hi = (v >> 32) as u32;
            if self.hi != Some(hi) {
                self.write(Reg::BufDataHi, hi);
            }
            self.write(Reg::BufDataLo, v as u32);
        }
    }

    /// Writes `values` as [`Bus::write_words`] does, or holds them back while [`Bus::shuffle`]
    /// has a seed.
    pub fn write_words_in_order(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        if self.shuffle.is_some() {
            self.pending.push((sel, lane, addr, values.to_vec()));
        } else {
            self.write_words(sel, lane, addr, values);
        }
    }

    /// Makes the writes held back, in an order drawn from the seed of [`Bus::shuffle`] (in the
    /// driver's order when two of them overlap, where the order decides the contents).
    pub fn issue_pending(&mut self) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let pending = std::mem::take(&mut self.pending);
        let mut order: Vec<usize> = (0..pending.len()).collect();
        let overlap = pending.iter().enumerate().any(|(i, a)| {
            pending[i + 1..].iter().any(|b| {
                a.0 == b.0
                    && a.1 == b.1
                    && a.2 < b.2 + b.3.len() as u32
                    && b.2 < a.2 + a.3.len() as u32
            })
        });
        if let (Some(seed), false) = (self.shuffle, overlap) {
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        }
        for i in order {
            let (sel, lane, addr, values) = &pending[i];
            self.write_words(*sel, *lane, *addr, values);
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
            c.output(v);
        }
        v
    }

    /// Reads `n` output words of lane `lane` from word `addr` on through the output stream:
    /// `STREAM_OUT = n`, then `sout_ready` high but every fourth cycle (back-pressure). A beat
    /// moves at a rising edge where `sout_valid` was high and `sout_ready` is; its 64 bits are the
    /// word sign-extended, the last with `sout_last`.
    pub fn stream_outputs(&mut self, lane: u32, addr: u32, n: u32) -> Result<Vec<i64>, CosimError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.select(BufSel::Output, lane, addr);
        self.write(Reg::StreamOut, n);
        let iw = self.model.layout.input_words;
        let mut got: Vec<i64> = Vec::new();
        let mut waited = 0usize;
        // The ports as seen before the next rising edge: (valid, data, last).
        let mut pending: Option<(bool, u64, bool)> = None;
        let limit = 4 * n as usize + 64;
        loop {
            let first = self.queue.len() / iw;
            let batch = n as usize - got.len() + 4;
            // Stalls of one, two and three cycles in every eleven.
            let ready = |c: usize| u64::from(![2, 5, 6, 8, 9, 10].contains(&((waited + c) % 11)));
            for c in 0..batch {
                self.push_side(&[(SOUT_READY, ready(c))]);
            }
            self.flush();
            let seen = |b: &Bus, c: usize| {
                (
                    b.side(SOUT_VALID, c) & 1 == 1,
                    b.side(SOUT_DATA, c),
                    b.side(SOUT_LAST, c) & 1 == 1,
                )
            };
            let mut before = pending.unwrap_or_else(|| seen(self, first.saturating_sub(1)));
            for c in first..first + batch {
                let (valid, data, last) = before;
                if !valid && !got.is_empty() && got.len() < n as usize {
                    return Err(CosimError::Design(format!(
                        "the output stream dropped TVALID after word {} of {n} (a stream keeps it from its first word to its last)",
                        got.len()
                    )));
                }
                if valid && ready(c - first) == 1 {
                    got.push(data as i64);
                    if got.len() > n as usize {
                        return Err(CosimError::Design(format!(
                            "the output stream gave more than the {n} words STREAM_OUT asked for"
                        )));
                    }
                    if last != (got.len() == n as usize) {
                        return Err(CosimError::Design(format!(
                            "the output stream's TLAST came with word {} of {n}",
                            got.len()
                        )));
                    }
                }
                before = seen(self, c);
            }
            pending = Some(before);
            waited += batch;
            self.stopped()?;
            if got.len() == n as usize && !before.0 {
                if let Some(c) = &mut self.host_cover {
                    got.iter().for_each(|&v| c.output(v));
                }
                return Ok(got);
            }
            if waited > limit {
                return Err(CosimError::Design(format!(
                    "the output stream gave {} of {n} words within {waited} cycles of STREAM_OUT",
                    got.len()
                )));
            }
        }
    }

    /// Reads every register whose read has no effect at its power-on value, writes every
    /// writable bit of the host registers to 1, reads them back, writes 0 and reads again, and
    /// reads the output buffer through lanes past its banks (0). Registers whose accesses act
    /// (`CTRL`, `BUF_DATA_LO`/`HI`, `STREAM_OUT`, `IRQ_STATUS`) are not written. Returns every
    /// difference from the register map.
    pub fn register_walk(&mut self) -> Result<Vec<String>, CosimError> {
        use shiftadd_sim::regmap::{register, Access};
        let mut expected = self.read_reset_values("at power-on");
        for reg in Reg::ALL {
            let r = register(&self.cfg, reg);
            let mask = r.fields.iter().fold(0, |m, f| m | f.mask());
            match r.access {
                Access::Rw if !acts_on_access(reg) => {
                    self.write(reg, u32::MAX);
                    expected.push((reg, "after writing all ones", mask, self.read(reg)));
                    self.write(reg, 0);
                    expected.push((reg, "after writing 0", 0, self.read(reg)));
                }
                Access::Wo => expected.push((reg, "(write-only)", 0, self.read(reg))),
                _ => {}
            }
        }
        // A lane past the output banks reads 0 in both halves.
        let lane_bits = register(&self.cfg, Reg::BufLane).fields[0].bits;
        self.write(Reg::BufSel, BufSel::Output as u32);
        for lane in [self.cfg.rows, ((1u64 << lane_bits) - 1) as u32] {
            self.write(Reg::BufLane, lane);
            self.write(Reg::BufAddr, 0);
            let when = "(BUF_LANE past the output banks)";
            expected.push((Reg::BufDataHi, when, 0, self.read(Reg::BufDataHi)));
            expected.push((Reg::BufDataLo, when, 0, self.read(Reg::BufDataLo)));
        }
        self.write(Reg::BufLane, 0);
        self.write(Reg::BufSel, 0);
        self.write(Reg::BufAddr, 0);
        self.stopped()?;
        (self.sel, self.lane, self.hi) = (None, None, None);
        Ok(self.differences(expected))
    }

    /// Queues a read of every register whose read has no effect, expecting its value after
    /// power-up and reset (`regmap`).
    fn read_reset_values(&mut self, when: &'static str) -> Vec<(Reg, &'static str, u32, ReadId)> {
        use shiftadd_sim::regmap::{register, Access};
        let mut expected = Vec::new();
        for reg in Reg::ALL {
            let r = register(&self.cfg, reg);
            if r.access != Access::Wo && (!acts_on_access(reg) || reg == Reg::IrqStatus) {
                expected.push((reg, when, r.reset, self.read(reg)));
            }
        }
        expected
    }

    /// The reads of `expected` that differ, as messages.
    fn differences(&mut self, expected: Vec<(Reg, &'static str, u32, ReadId)>) -> Vec<String> {
        expected
            .into_iter()
            .filter_map(|(reg, when, want, id)| {
                let got = self.value(id);
                (got != want).then(|| {
                    format!(
                        "{} reads {got:#010x} {when}; the register map says {want:#010x}",
                        reg.name()
                    )
                })
            })
            .collect()
    }

    /// After a layer that ended with `IRQ_ENABLE` set: `IRQ_STATUS` reads 1 with `irq` high,
    /// still after a write of 0 (write 1 to clear); a write of 1 clears it and `irq` falls.
    /// Returns what differs.
    pub fn check_irq(&mut self) -> Result<Option<String>, CosimError> {
        use shiftadd_sim::regmap::IRQ_DONE;
        if self.side_out[IRQ].is_none() {
            return Ok(None);
        }
        self.write(Reg::IrqStatus, 0);
        let set = self.read(Reg::IrqStatus);
        let iw = self.model.layout.input_words;
        let set_cycle = self.queue.len() / iw - 1;
        self.write(Reg::IrqStatus, IRQ_DONE);
        let clear = self.read(Reg::IrqStatus);
        let clear_cycle = self.queue.len() / iw - 1;
        self.flush();
        let (irq_set, irq_clear) = (self.side(IRQ, set_cycle), self.side(IRQ, clear_cycle));
        self.stopped()?;
        let (set, clear) = (self.value(set), self.value(clear));
        Ok(
            (set != IRQ_DONE || irq_set != 1 || clear != 0 || irq_clear != 0).then(|| {
                format!(
                    "interrupt: IRQ_STATUS {set} with irq {irq_set} after the layer and a write of 0, then {clear} with irq {irq_clear} after writing 1 (expected 1 with irq 1, then 0 with 0)"
                )
            }),
        )
    }

    /// Starts layer `d` (registers and START only), lets it run `cycles` cycles, resets the
    /// engine with a beat offered on the input stream, and checks that `sin_ready` was low in the
    /// reset cycle and that every register reads its reset value. Returns what differs.
    pub fn abandon_layer(
        &mut self,
        d: &Descriptor,
        cycles: u32,
    ) -> Result<Option<String>, CosimError> {
        if self.side_in[RESET].is_none() {
            return Ok(None);
        }
        for (reg, v) in layer_writes(&self.cfg, d) {
            self.write(reg, v);
        }
        self.write(Reg::Ctrl, CTRL_START);
        for _ in 0..cycles {
            self.push(false, false, 0, 0);
        }
        // A beat offered during the reset must not be taken (buffers keep their contents).
        let iw = self.model.layout.input_words;
        if !self.push_side(&[(RESET, 1), (SIN_VALID, 1), (SIN_DATA, u64::MAX)]) {
            self.push_side(&[(RESET, 1)]);
        }
        (self.sel, self.lane, self.hi) = (None, None, None);
        let reset_cycle = self.queue.len() / iw - 1;
        let expected = self.read_reset_values("after the reset");
        self.flush();
        let ready = self.side_out[SIN_READY].map(|_| self.side(SIN_READY, reset_cycle));
        self.stopped()?;
        let mut bad = self.differences(expected);
        if ready == Some(1) {
            bad.push("sin_ready is high during the reset".into());
        }
        Ok((!bad.is_empty())
            .then(|| format!("a reset {cycles} cycles into a layer: {}", bad.join("; "))))
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
        // Every poll before DONE reads BUSY alone, the one at DONE reads DONE alone.
        let last = done_at.unwrap_or(0) as usize;
        self.status_fault = (0..last).find_map(|k| {
            let (v, want) = (
                self.value(polls[k]),
                if k + 1 == last {
                    STATUS_DONE
                } else {
                    STATUS_BUSY
                },
            );
            (v != want).then(|| {
                format!(
                    "STATUS read {v:#x} {} cycles after START; expected {want:#x}",
                    k + 1
                )
            })
        });
        let cycles = self.read(Reg::Cycles);
        let sat = self.read(Reg::SatCount);
        let accesses = ACCESS_REGS.map(|r| self.read(r));
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
            accesses: accesses.map(|id| self.value(id)),
        })
    }

    /// Reads `ID` and `GEOMETRY` and checks that the engine is the one `cfg` describes (register
    /// map version, array size and kind).
    pub fn identify(&mut self) -> Result<(), CosimError> {
        let (id, geometry) = (self.read(Reg::Id), self.read(Reg::Geometry));
        self.stopped()?;
        let (id, geometry) = (self.value(id), self.value(geometry));
        self.clear_reads();
        crate::driver::check_identity(&self.cfg, id, geometry)
    }
}
