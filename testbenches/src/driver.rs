//! The engine driver: one layer of a program ([`shiftadd_sim::program::EngineLayer`]) run
//! through the register map on a [`Bus`], as a host driver on the board would. Parameters are
//! loaded word by word through the access port, the input and residual tensors are written in
//! the activation layout, the layer's registers and START are written, `STATUS` is polled, and
//! the outputs are streamed back. `shiftadd infer --backend rtl` and the layer-level
//! co-simulation both run layers through here.

use crate::bus::{Bus, LayerRun};
use crate::CosimError;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::{act_location, unroll_input, Descriptor};
use shiftadd_sim::program::EngineLayer;
use shiftadd_sim::regmap::BufSel;
use shiftadd_sim::spec::AccelConfig;

/// What the driver needs of a way to reach the engine: the register bus ([`Bus`]) or the AXI
/// ports of `shiftadd_axi` ([`crate::axi::AxiBus`]).
pub trait EngineBus {
    /// The config of the engine.
    fn cfg(&self) -> &AccelConfig;
    /// Writes `values` to buffer `sel`, lane `lane`, from word `addr` on.
    fn write_words(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]);
    /// Reads `n` output words of lane `lane` from word `addr` on (both halves when `wide`, else
    /// the low 32 bits sign-extended).
    fn read_words(
        &mut self,
        lane: u32,
        addr: u32,
        n: u32,
        wide: bool,
    ) -> Result<Vec<i64>, CosimError>;
    /// Writes `values` like [`EngineBus::write_words`], while the next layer runs where the bus
    /// can overlap the two (the AXI streams), now otherwise. The next layer must not read them.
    fn write_words_during_next_run(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        self.write_words(sel, lane, addr, values);
    }
    /// Writes the registers of layer `d`, starts it and waits for DONE (at most `limit` cycles);
    /// reads `CYCLES` and `SAT_COUNT`.
    fn run(&mut self, d: &Descriptor, limit: u64) -> Result<LayerRun, CosimError>;
    /// Whether [`LayerRun::done_at`] of [`EngineBus::run`] is timed to the cycle (else it is
    /// the `CYCLES` register).
    fn times_done(&self) -> bool {
        true
    }
    /// Bus cycles since power-on.
    fn cycle(&self) -> u64;
}

/// Checks the `ID` and `GEOMETRY` an engine read against the ones `cfg` describes.
pub fn check_identity(cfg: &AccelConfig, id: u32, geometry: u32) -> Result<(), CosimError> {
    let found = (id, geometry);
    let expected = (
        shiftadd_sim::regmap::ENGINE_ID,
        shiftadd_sim::regmap::geometry(cfg),
    );
    if found == expected {
        Ok(())
    } else {
        Err(CosimError::Design(format!(
            "the engine reads ID {:#010x}, GEOMETRY {:#07x}; config `{}` expects ID {:#010x}, GEOMETRY {:#07x}",
            found.0, found.1, cfg.name, expected.0, expected.1
        )))
    }
}

/// A bus a host backend runs a program on: the engine's register bus (top `engine`), the AXI
/// ports of `shiftadd_axi`, or the serial bridge of `shiftadd_uart`.
pub trait HostBus: EngineBus {
    /// The top module the bus drives.
    const TOP: &'static str;
    /// Reads `ID` and `GEOMETRY` and checks the engine is the one the config describes.
    fn identify(&mut self) -> Result<(), CosimError>;
    /// Runs whatever is queued and forgets the values of the reads done so far.
    fn finish(&mut self) -> Result<(), CosimError>;
    /// Moves buffer words straight into and out of the simulated memories from now on
    /// ([`Bus::use_backdoor`]); only the register bus has this.
    fn use_backdoor(&mut self) -> Result<(), CosimError> {
        Err(CosimError::Design(format!(
            "`{}`: buffers are reached through the backdoor only on the register bus of `{}`",
            Self::TOP,
            shiftadd_sim::rtl::ENGINE_MODULE
        )))
    }
}

/// A bus that opens on a new instance of a model.
pub trait OpenBus: HostBus + Sized {
    /// A bus on a new instance of `model` (of `cfg`'s top), tracing to `vcd` if given.
    fn open(
        cfg: &AccelConfig,
        model: &std::sync::Arc<crate::verilator::Model>,
        vcd: Option<&std::path::Path>,
    ) -> Result<Self, CosimError>;
}

impl OpenBus for Bus {
    fn open(
        cfg: &AccelConfig,
        model: &std::sync::Arc<crate::verilator::Model>,
        vcd: Option<&std::path::Path>,
    ) -> Result<Self, CosimError> {
        Bus::new(cfg, model, vcd)
    }
}

impl HostBus for Bus {
    const TOP: &'static str = shiftadd_sim::rtl::ENGINE_MODULE;
    fn identify(&mut self) -> Result<(), CosimError> {
        Bus::identify(self)
    }
    fn finish(&mut self) -> Result<(), CosimError> {
        self.clear_reads();
        Ok(())
    }
    fn use_backdoor(&mut self) -> Result<(), CosimError> {
        Bus::use_backdoor(self)
    }
}

impl OpenBus for crate::axi::AxiBus {
    fn open(
        cfg: &AccelConfig,
        model: &std::sync::Arc<crate::verilator::Model>,
        vcd: Option<&std::path::Path>,
    ) -> Result<Self, CosimError> {
        crate::axi::AxiBus::new(cfg, model, vcd)
    }
}

impl HostBus for crate::axi::AxiBus {
    const TOP: &'static str = shiftadd_sim::rtl::AXI_MODULE;
    fn identify(&mut self) -> Result<(), CosimError> {
        crate::axi::AxiBus::identify(self)
    }
    fn finish(&mut self) -> Result<(), CosimError> {
        self.write_queued();
        self.flush()?;
        self.clear_reads();
        Ok(())
    }
}

impl EngineBus for Bus {
    fn cfg(&self) -> &AccelConfig {
        Bus::cfg(self)
    }
    fn write_words(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        Bus::write_words_in_order(self, sel, lane, addr, values)
    }
    fn read_words(
        &mut self,
        lane: u32,
        addr: u32,
        n: u32,
        wide: bool,
    ) -> Result<Vec<i64>, CosimError> {
        self.issue_pending();
        if let Some(k) = self.backdoor_memory(BufSel::Output, lane) {
            return self.backdoor_outputs(k?, addr, n, wide);
        }
        if self.streams && self.has_side_ports() {
            return self.stream_outputs(lane, addr, n);
        }
        let ids = self.read_outputs(lane, addr, n, wide);
        let words = ids.into_iter().map(|r| self.output_value(r)).collect();
        self.stopped()?;
        Ok(words)
    }
    fn run(&mut self, d: &Descriptor, limit: u64) -> Result<LayerRun, CosimError> {
        self.issue_pending();
        Bus::run(self, d, limit)
    }
    fn cycle(&self) -> u64 {
        Bus::cycle(self)
    }
}

/// Writes the weights and post-processing parameters of `el` (already at their bases); returns
/// the words written.
pub fn load_params(bus: &mut impl EngineBus, el: &EngineLayer) -> u64 {
    let mut words = 0;
    for (lane, img) in el.weights.iter().enumerate() {
        bus.write_words(BufSel::Weights, lane as u32, el.desc.w_base, img);
        words += img.len() as u64;
    }
    for (sel, image) in [(BufSel::PostM, &el.post_m), (BufSel::PostB, &el.post_b)] {
        for (lane, img) in image.iter().enumerate() {
            bus.write_words(sel, lane as u32, el.desc.post_base, img);
            words += img.len() as u64;
        }
    }
    words
}

/// Writes `values` (`[c][h][w]`, `c` channels) into buffer `sel` at the activation layout from
/// word `base`, one stream per bank; channels past `c` up to the tile are written as 0 when
/// `zero_fill`.
pub fn write_tensor(
    bus: &mut impl EngineBus,
    sel: BufSel,
    base: u32,
    values: &[i64],
    [c, h, w]: [u32; 3],
    zero_fill: bool,
    during_next_run: bool,
) {
    let cols = bus.cfg().cols;
    let plane = (h * w) as usize;
    let tiles = c.div_ceil(cols);
    for bank in 0..cols {
        let mut stream = Vec::with_capacity(tiles as usize * plane);
        for t in 0..tiles {
            let ch = t * cols + bank;
            if ch < c {
                stream.extend_from_slice(&values[ch as usize * plane..(ch as usize + 1) * plane]);
            } else if zero_fill {
                stream.resize(stream.len() + plane, 0);
            }
        }
        let (_, word) = act_location(bus.cfg(), base, h, w, bank, 0, 0);
        if during_next_run {
            bus.write_words_during_next_run(sel, bank, word, &stream);
        } else {
            bus.write_words(sel, bank, word, &stream);
        }
    }
}

/// Writes the input of layer `el` (as the network has it, `[cin][h][w]`; unrolled here when the
/// engine runs the layer unrolled) into the buffer its descriptor reads it from; while the next
/// layer runs when `during_next_run` (see [`EngineBus::write_words_during_next_run`]).
pub fn stage_input(bus: &mut impl EngineBus, el: &EngineLayer, x: &[i64], during_next_run: bool) {
    let d = &el.desc;
    let unrolled;
    let x = match &el.unrolled_from {
        Some(from) => {
            unrolled = unroll_input(from, x);
            &unrolled[..]
        }
        None => x,
    };
    let sel = if d.in_from_output {
        BufSel::Output
    } else {
        BufSel::Input
    };
    write_tensor(
        bus,
        sel,
        d.in_base,
        x,
        [d.cin, d.h, d.w],
        el.zero_fill,
        during_next_run,
    );
}

/// Reads the rows of layer `d`'s last output tile past its last channel, which the engine fills
/// with 0 (`LAST_ROWS`); says which word is not 0, if one is.
pub fn check_padding_rows(
    bus: &mut impl EngineBus,
    d: &Descriptor,
) -> Result<Option<String>, CosimError> {
    let cfg = bus.cfg().clone();
    let (oc, plane) = (d.out_c(), d.out_h() * d.out_w());
    let used = oc - (d.co_tiles(&cfg) - 1) * cfg.rows;
    let first = d.out_base + (d.co_tiles(&cfg) - 1) * plane;
    for bank in used..cfg.rows {
        let words = bus.read_words(bank, first, plane, true)?;
        if let Some(k) = words.iter().position(|&v| v != 0) {
            return Ok(Some(format!(
                "lane {bank} of the last output tile (past channel {}) holds {} at word {}; the engine writes 0 there",
                oc - 1,
                words[k],
                first + k as u32
            )));
        }
    }
    Ok(None)
}

/// A bit to flip in a layer's output buffer, through the access port, after the layer ran and
/// before its outputs are read back: checks that a comparison catches a wrong engine result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputFault {
    /// Index into the output tensor `[c][y][x]`.
    pub index: usize,
    /// Bit of the output word.
    pub bit: u32,
}

/// What one layer run on the engine gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerResult {
    /// Output values `[c][y][x]` as read through the access port.
    pub values: Vec<i64>,
    /// The `SAT_COUNT` register.
    pub sat: u64,
    /// The access counters, `ACCESS_REGS` order.
    pub accesses: [u32; 5],
    /// The `CYCLES` register.
    pub cycles: u64,
    /// Edges after START until `STATUS` showed DONE.
    pub done_at: u64,
    /// Bus cycle (from power-on of the instance) of START.
    pub start_cycle: u64,
    /// Bus cycles spent reading the outputs back.
    pub read_cycles: u64,
}

/// Runs layer `el` on `bus` (its parameters already loaded): writes `input` (the layer's input
/// as the network has it, `[cin][h][w]`; unrolled here when the engine runs the layer unrolled)
/// into the buffer the descriptor reads it from, unless it is `None` (the layer before left it
/// in place), writes `residual` when given, runs the layer (DONE within twice the cycle model's
/// count plus 1000), applies `fault`, and reads every output back.
pub fn run_layer(
    bus: &mut impl EngineBus,
    el: &EngineLayer,
    input: Option<&[i64]>,
    residual: Option<&[i64]>,
    fault: Option<OutputFault>,
) -> Result<LayerResult, CosimError> {
    let cfg = bus.cfg().clone();
    let d = &el.desc;
    if let Some(x) = input {
        stage_input(bus, el, x, false);
    }
    let (oc, oh, ow) = (d.out_c(), d.out_h(), d.out_w());
    if let Some(r) = residual {
        write_tensor(
            bus,
            BufSel::Residual,
            d.res_base,
            r,
            [oc, oh, ow],
            false,
            false,
        );
    }
    let run = bus.run(d, 2 * layer_cycles(&cfg, d) + 1000)?;
    let plane = (oh * ow) as usize;
    if let Some(f) = fault {
        let (c, rest) = ((f.index / plane) as u32, f.index % plane);
        let (bank, word) = act_location(
            &cfg,
            d.out_base,
            oh,
            ow,
            c,
            rest as u32 / ow,
            rest as u32 % ow,
        );
        let v = bus.read_words(bank, word, 1, true)?[0] ^ (1i64 << f.bit);
        bus.write_words(BufSel::Output, bank, word, &[v]);
    }
    let mut values = vec![0i64; oc as usize * plane];
    let read_from = bus.cycle();
    for bank in 0..cfg.rows.min(oc) {
        let n = (oc - bank).div_ceil(cfg.rows) * oh * ow;
        let (_, word) = act_location(&cfg, d.out_base, oh, ow, bank, 0, 0);
        let words = bus.read_words(bank, word, n, el.wide)?;
        for (k, v) in words.into_iter().enumerate() {
            let (t, p) = (k / plane, k % plane);
            let ch = t * cfg.rows as usize + bank as usize;
            values[ch * plane + p] = v;
        }
    }
    Ok(LayerResult {
        values,
        sat: run.sat,
        accesses: run.accesses,
        cycles: run.cycles,
        done_at: run.done_at,
        start_cycle: run.start_cycle,
        read_cycles: bus.cycle() - read_from,
    })
}
