//! A layer run written down instead of simulated: [`ScriptBus`] takes what the engine driver does
//! ([`crate::driver::run_layer`]) and records it as AXI transactions (register writes, input
//! stream bursts, output stream requests with the words expected back, START with the cycles
//! and saturations expected), for an independent AXI client to replay against `shiftadd_axi`
//! (the cocotb testbench in `testbenches/cocotb/`). The expected words come from the reference
//! model through an image of the output buffer.

use crate::bus::LayerRun;
use crate::driver::EngineBus;
use crate::CosimError;
use serde::Serialize;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::{act_location, Descriptor};
use shiftadd_sim::regmap::{
    access_counts, geometry, layer_writes, register, BufSel, Reg, ACCESS_REGS, ENGINE_ID,
};
use shiftadd_sim::spec::AccelConfig;
use std::collections::BTreeMap;

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Write `value` at byte offset `offset` (response OKAY).
    Write {
        /// Byte offset.
        offset: u32,
        /// Value.
        value: u32,
    },
    /// Send these 64-bit words on the input stream, as one frame.
    Send {
        /// The words.
        words: Vec<u64>,
    },
    /// Write `STREAM_OUT` = the number of words, and receive them from the output stream.
    Receive {
        /// The words expected, sign-extended to 64 bits.
        words: Vec<u64>,
    },
    /// Write START, wait for the interrupt, clear it, and read `CYCLES` and `SAT_COUNT`.
    Run {
        /// `CYCLES` expected.
        cycles: u64,
        /// `SAT_COUNT` expected.
        sat: u64,
        /// The access counters expected, by register name.
        accesses: BTreeMap<&'static str, u32>,
    },
}

/// A recorded run.
#[derive(Clone, Debug, Serialize)]
pub struct Script {
    /// Register offsets.
    pub regs: BTreeMap<&'static str, u32>,
    /// The bits of each read-write register's fields (what a write is read back as).
    pub masks: BTreeMap<&'static str, u32>,
    /// `ID` and `GEOMETRY` expected.
    pub id: u32,
    /// `GEOMETRY` expected.
    pub geometry: u32,
    /// The steps.
    pub steps: Vec<Step>,
}

/// Records a run on the engine of `cfg`.
pub struct ScriptBus {
    cfg: AccelConfig,
    steps: Vec<Step>,
    /// The output buffer as the reference model fills it: `(bank, word)` to value.
    expected: BTreeMap<(u32, u32), i64>,
    /// `SAT_COUNT` expected of the next run.
    sat: u64,
    sel: Option<BufSel>,
    lane: Option<u32>,
    cycle: u64,
}

impl ScriptBus {
    /// A recorder for `cfg`.
    pub fn new(cfg: &AccelConfig) -> ScriptBus {
        ScriptBus {
            cfg: cfg.clone(),
            steps: Vec::new(),
            expected: BTreeMap::new(),
            sat: 0,
            sel: None,
            lane: None,
            cycle: 0,
        }
    }

    /// What layer `d` must leave in the output buffer (`values` `[c][y][x]` from the reference
    /// model) and in `SAT_COUNT`.
    pub fn expect(&mut self, d: &Descriptor, values: &[i64], sat: u64) {
        let (oh, ow) = (d.out_h(), d.out_w());
        for c in 0..d.out_c() {
            for y in 0..oh {
                for x in 0..ow {
                    let i = ((c * oh + y) * ow + x) as usize;
                    let at = act_location(&self.cfg, d.out_base, oh, ow, c, y, x);
                    self.expected.insert(at, values[i]);
                }
            }
        }
        self.sat = sat;
    }

    fn write(&mut self, reg: Reg, value: u32) {
        self.steps.push(Step::Write {
            offset: reg.offset(),
            value,
        });
        self.cycle += 2;
    }

    fn select(&mut self, sel: BufSel, lane: u32, addr: u32) {
        if self.sel != Some(sel) {
            self.write(Reg::BufSel, sel as u32);
            self.sel = Some(sel);
        }
        if self.lane != Some(lane) {
            self.write(Reg::BufLane, lane);
            self.lane = Some(lane);
        }
        self.write(Reg::BufAddr, addr);
    }

    /// The script.
    pub fn script(self) -> Script {
        let regs = Reg::ALL.iter().map(|r| (r.name(), r.offset())).collect();
        let masks = Reg::ALL
            .iter()
            .map(|&r| {
                let m = register(&self.cfg, r)
                    .fields
                    .iter()
                    .fold(0u64, |m, f| m | (((1u64 << f.bits) - 1) << f.lsb));
                (r.name(), m as u32)
            })
            .collect();
        Script {
            regs,
            masks,
            id: ENGINE_ID,
            geometry: geometry(&self.cfg),
            steps: self.steps,
        }
    }
}

impl EngineBus for ScriptBus {
    fn cfg(&self) -> &AccelConfig {
        &self.cfg
    }

    fn write_words(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        if values.is_empty() {
            return;
        }
        self.select(sel, lane, addr);
        self.steps.push(Step::Send {
            words: values.iter().map(|&v| v as u64).collect(),
        });
        self.cycle += values.len() as u64;
    }

    fn read_words(
        &mut self,
        lane: u32,
        addr: u32,
        n: u32,
        _wide: bool,
    ) -> Result<Vec<i64>, CosimError> {
        self.select(BufSel::Output, lane, addr);
        let words: Vec<i64> = (addr..addr + n)
            .map(|a| {
                self.expected.get(&(lane, a)).copied().ok_or_else(|| {
                    CosimError::Design(format!("no expected output at lane {lane}, word {a}"))
                })
            })
            .collect::<Result<_, _>>()?;
        self.steps.push(Step::Receive {
            words: words.iter().map(|&v| v as u64).collect(),
        });
        self.cycle += u64::from(n);
        Ok(words)
    }

    fn run(&mut self, d: &Descriptor, _limit: u64) -> Result<LayerRun, CosimError> {
        for (reg, v) in layer_writes(&self.cfg, d) {
            self.write(reg, v);
        }
        let cycles = layer_cycles(&self.cfg, d);
        let accesses = access_counts(&self.cfg, d);
        self.steps.push(Step::Run {
            cycles,
            sat: self.sat,
            accesses: ACCESS_REGS.iter().map(|r| r.name()).zip(accesses).collect(),
        });
        let start_cycle = self.cycle;
        self.cycle += cycles;
        Ok(LayerRun {
            start_cycle,
            done_at: cycles,
            cycles,
            sat: self.sat,
            accesses,
        })
    }

    fn cycle(&self) -> u64 {
        self.cycle
    }
}
