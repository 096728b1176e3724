//! Property-based stimulus for a PE or an array, and what the reference model says it must
//! output. Cases are drawn raw (values, weights, control bits) by proptest and then made to obey
//! the array's contract (a sum keeps one layer kind; no more than `max_taps` taps per sum); the
//! raw form is what shrinks, towards zero values, zero weights and fewer cycles.

use crate::design::{indexed, Dut};
use crate::CosimError;
use proptest::prelude::*;
use shiftadd_sim::layers::{ConvGeom, Tensor};
use shiftadd_sim::numerics::{encode_shift_weight, max_code, min_code, ShiftWeight};
use shiftadd_sim::rtl::ArrayKind;
use shiftadd_sim::spec::AccelConfig;

/// A value drawn for a code of some format, mapped to the format when the case is built.
#[derive(Clone, Copy, Debug)]
pub enum RawValue {
    /// 0.
    Zero,
    /// The most negative code.
    Min,
    /// The largest code.
    Max,
    /// 1.
    One,
    /// -1.
    MinusOne,
    /// Any code (wrapped into the format).
    Any(i64),
}

impl RawValue {
    /// The code of a signed `bits`-bit format this value stands for.
    pub fn code(self, bits: u32) -> i64 {
        match self {
            RawValue::Zero => 0,
            RawValue::Min => min_code(bits),
            RawValue::Max => max_code(bits),
            RawValue::One => 1,
            RawValue::MinusOne => -1,
            RawValue::Any(v) => {
                let span = 1i128 << bits;
                ((i128::from(v) - i128::from(min_code(bits))).rem_euclid(span)
                    + i128::from(min_code(bits))) as i64
            }
        }
    }
}

fn raw_value() -> impl Strategy<Value = RawValue> {
    prop_oneof![
        1 => Just(RawValue::Zero),
        1 => Just(RawValue::Min),
        1 => Just(RawValue::Max),
        1 => Just(RawValue::One),
        1 => Just(RawValue::MinusOne),
        8 => any::<i64>().prop_map(RawValue::Any),
    ]
}

/// One PE's raw weight: a shift weight (`sign` 0 zero, 1 plus, 2 minus; `m` reduced modulo
/// `pmax + 1`) or a code, whichever the cycle's layer kind needs.
#[derive(Clone, Copy, Debug)]
pub struct RawWeight {
    sign: u8,
    m: u8,
    code: RawValue,
}

/// One raw cycle.
#[derive(Clone, Debug)]
pub struct RawCycle {
    en: bool,
    clear: bool,
    adder: bool,
    x: Vec<RawValue>,
    w: Vec<RawWeight>,
}

/// A raw case: what proptest draws and shrinks.
pub type RawCase = Vec<RawCycle>;

/// The strategy for cases of `dut` of 1 to `max_cycles` cycles.
pub fn case_strategy(dut: &Dut, max_cycles: usize) -> impl Strategy<Value = RawCase> {
    let weight =
        (0u8..3, any::<u8>(), raw_value()).prop_map(|(sign, m, code)| RawWeight { sign, m, code });
    let cycle = (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::collection::vec(raw_value(), dut.cols),
        prop::collection::vec(weight, dut.rows * dut.cols),
    )
        .prop_map(|(en, clear, adder, x, w)| RawCycle {
            en,
            clear,
            adder,
            x,
            w,
        });
    prop::collection::vec(cycle, 1..=max_cycles.max(1))
}

/// The layer kind of one cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Shift layer: `s * (x << (pmax - m))`.
    Shift,
    /// Adder layer: `-|x - w|`.
    Adder,
    /// Multiply layer: `x * w`.
    Mult,
}

impl Op {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Op::Shift => "shift",
            Op::Adder => "adder",
            Op::Mult => "mult",
        }
    }
}

/// A weight as the reference model takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// A shift weight.
    Shift(ShiftWeight),
    /// An adder or multiply code.
    Code(i64),
}

/// One cycle as driven: control bits, operands (codes) and weights.
#[derive(Clone, Debug)]
pub struct Cycle {
    /// `en`.
    pub en: bool,
    /// `clear`.
    pub clear: bool,
    /// The layer kind (`mode` = 1 for adder cycles of a dual array).
    pub op: Op,
    /// Operand per column.
    pub x: Vec<i64>,
    /// Weight per PE, row-major.
    pub w: Vec<Weight>,
}

/// Builds the case `raw` stands for, obeying the contract of `dut` under `cfg`.
pub fn build_case(raw: &RawCase, dut: &Dut, cfg: &AccelConfig) -> Vec<Cycle> {
    let f = &cfg.formats;
    let pmax = f.pmax();
    let taps_per_cycle = dut.cols as u64;
    let kind_op = match dut.kind {
        ArrayKind::Shift | ArrayKind::Dual => Op::Shift,
        ArrayKind::Adder => Op::Adder,
        ArrayKind::Mac => Op::Mult,
    };
    // Before any `clear` the accumulators hold a power-on zero of the kind's own sum.
    let mut sum_op = kind_op;
    let mut taps = 0u64;
    raw.iter()
        .map(|rc| {
            let mut clear = rc.clear && !dut.is_pe;
            let en = rc.en || dut.is_pe;
            if !dut.is_pe && en && !clear && taps + taps_per_cycle > u64::from(cfg.max_taps) {
                clear = true;
            }
            let drawn = match dut.kind {
                ArrayKind::Dual if rc.adder => Op::Adder,
                _ => kind_op,
            };
            // A sum keeps the kind of the cycle that started it; idle cycles may show any.
            let op = if dut.is_pe || clear || !en {
                drawn
            } else {
                sum_op
            };
            if clear {
                sum_op = op;
                taps = 0;
            }
            if en {
                taps += taps_per_cycle;
            }
            let x_bits = if op == Op::Adder {
                f.add_bits
            } else {
                f.act_bits
            };
            Cycle {
                en,
                clear,
                op,
                x: rc.x.iter().map(|v| v.code(x_bits)).collect(),
                w: rc
                    .w
                    .iter()
                    .map(|w| match op {
                        Op::Shift => Weight::Shift(ShiftWeight {
                            s: [0, 1, -1][usize::from(w.sign % 3)],
                            m: (u32::from(w.m) % (pmax + 1)) as u8,
                        }),
                        Op::Adder => Weight::Code(w.code.code(f.add_bits)),
                        Op::Mult => Weight::Code(w.code.code(f.mul_bits)),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// What one input port carries.
#[derive(Clone, Copy, Debug)]
enum InputRole {
    En,
    Clear,
    Mode,
    X(usize),
    W(usize),
}

/// Maps cycles to the port words of a DUT and its outputs back to numbers.
#[derive(Clone, Debug)]
pub struct Driver {
    roles: Vec<(InputRole, usize, usize)>,
    outputs: Vec<(String, usize, usize)>,
    shift_wb: u32,
    /// Words per cycle of inputs.
    pub input_words: usize,
    /// Words per cycle of outputs.
    pub output_words: usize,
}

impl Driver {
    /// The driver of `dut` with the word layout of `layout`.
    pub fn new(
        dut: &Dut,
        layout: &crate::verilator::PortLayout,
        cfg: &AccelConfig,
    ) -> Result<Driver, CosimError> {
        let mut roles = Vec::new();
        for (p, &off) in layout.inputs.iter().zip(&layout.input_offsets) {
            let role = match p.name.as_str() {
                "en" => InputRole::En,
                "clear" => InputRole::Clear,
                "mode" => InputRole::Mode,
                "x" if dut.is_pe => InputRole::X(0),
                "w" if dut.is_pe => InputRole::W(0),
                n => match (indexed(n, "x"), indexed(n, "w")) {
                    (Some(c), _) if c < dut.cols => InputRole::X(c),
                    (_, Some(i)) if i < dut.rows * dut.cols => InputRole::W(i),
                    _ => {
                        return Err(CosimError::Design(format!(
                            "module `{}`: input `{n}` is not one the co-simulation drives (en, clear, mode, x_<c>, w_<i>)",
                            dut.top
                        )))
                    }
                },
            };
            if p.width > 64 {
                return Err(CosimError::Design(format!(
                    "module `{}`: input `{}` is {} bits; operands wider than 64 bits are not driven",
                    dut.top, p.name, p.width
                )));
            }
            roles.push((role, off, p.width));
        }
        let mut outputs = Vec::new();
        for (p, &off) in layout.outputs.iter().zip(&layout.output_offsets) {
            let ok = if dut.is_pe {
                p.name == "term"
            } else {
                indexed(&p.name, "acc").is_some_and(|r| r < dut.rows)
            };
            if !ok || p.width > 128 {
                return Err(CosimError::Design(format!(
                    "module `{}`: output `{}` ({} bits) is not one the co-simulation checks ({}, at most 128 bits)",
                    dut.top,
                    p.name,
                    p.width,
                    if dut.is_pe { "term" } else { "acc_<r>" }
                )));
            }
            outputs.push((p.name.clone(), off, p.width));
        }
        let expected = if dut.is_pe { 1 } else { dut.rows };
        if outputs.len() != expected {
            return Err(CosimError::Design(format!(
                "module `{}` has {} checked outputs, expected {expected}",
                dut.top,
                outputs.len()
            )));
        }
        Ok(Driver {
            roles,
            outputs,
            shift_wb: cfg.formats.shift_wb,
            input_words: layout.input_words,
            output_words: layout.output_words,
        })
    }

    /// Output port names, in output order.
    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|o| o.0.clone()).collect()
    }

    /// The port words of `cycles`.
    pub fn inputs(&self, cycles: &[Cycle]) -> Vec<u64> {
        let mut words = vec![0u64; cycles.len() * self.input_words];
        for (i, c) in cycles.iter().enumerate() {
            let base = i * self.input_words;
            for &(role, off, width) in &self.roles {
                let v: i64 = match role {
                    InputRole::En => i64::from(c.en),
                    InputRole::Clear => i64::from(c.clear),
                    InputRole::Mode => i64::from(c.op == Op::Adder),
                    InputRole::X(k) => c.x[k],
                    InputRole::W(k) => match c.w[k] {
                        Weight::Shift(sw) => i64::from(encode_shift_weight(sw, self.shift_wb)),
                        Weight::Code(v) => v,
                    },
                };
                let mask = if width >= 64 { !0 } else { (1u64 << width) - 1 };
                words[base + off] = v as u64 & mask;
            }
        }
        words
    }

    /// The outputs of cycle `i` of `words`, read as two's complement.
    pub fn outputs(&self, words: &[u64], i: usize) -> Vec<i128> {
        let base = i * self.output_words;
        self.outputs
            .iter()
            .map(|&(_, off, width)| {
                let lo = u128::from(words[base + off]);
                let hi = if width > 64 {
                    u128::from(words[base + off + 1])
                } else {
                    0
                };
                let raw = lo | (hi << 64);
                let shift = 128 - width as u32;
                ((raw << shift) as i128) >> shift
            })
            .collect()
    }
}

/// The reference model's value of one cycle's PE terms summed per row (per PE for a lone PE),
/// in the units the layer reports: shift and multiply sums, and `-sum |x - w|` for adder rows.
fn row_values(c: &Cycle, dut: &Dut, cfg: &AccelConfig) -> Vec<i64> {
    let g = ConvGeom {
        cin: dut.cols,
        h: 1,
        w: 1,
        cout: dut.rows,
        kh: 1,
        kw: 1,
        stride: 1,
        pad: 0,
    };
    let mut x = Tensor::zeros(dut.cols, 1, 1);
    for (d, &v) in x.data.iter_mut().zip(&c.x) {
        *d = v;
    }
    // One cycle is a 1x1 convolution of `cols` channels into `rows`: the layer reference.
    let case = crate::layer::LayerCase {
        op: c.op,
        g,
        data_seed: 0,
    };
    let data = crate::layer::LayerData { x, w: c.w.clone() };
    let out = crate::layer::layer_reference(&case, &data, cfg);
    out.data
}

/// The outputs the reference model expects after the rising edge of every cycle of `cycles`,
/// starting from the power-on state (all zero): a lone PE shows the term of its inputs one
/// cycle earlier (a positive magnitude for adder terms); an array row shows its running sum
/// `latency` cycles later, restarted by `clear`.
pub fn expected(cycles: &[Cycle], dut: &Dut, cfg: &AccelConfig) -> Vec<Vec<i128>> {
    let n_out = if dut.is_pe { 1 } else { dut.rows };
    let mut state = vec![0i128; n_out];
    let mut after: Vec<Vec<i128>> = Vec::with_capacity(cycles.len());
    for c in cycles {
        let v = row_values(c, dut, cfg);
        if dut.is_pe {
            let t = i128::from(v[0]);
            state[0] = if c.op == Op::Adder { -t } else { t };
        } else {
            for (s, &vr) in state.iter_mut().zip(&v) {
                let vr = if c.en { i128::from(vr) } else { 0 };
                *s = if c.clear { vr } else { *s + vr };
            }
        }
        after.push(state.clone());
    }
    let lag = dut.latency as usize - 1;
    (0..cycles.len())
        .map(|t| {
            if t >= lag {
                after[t - lag].clone()
            } else {
                vec![0; n_out]
            }
        })
        .collect()
}

/// Prints a case compactly: control bits, the non-zero operands and the non-zero weights.
pub fn describe(cycles: &[Cycle], shift_wb: u32) -> String {
    let mut s = String::new();
    for (i, c) in cycles.iter().enumerate() {
        s.push_str(&format!(
            "  cycle {i}: en={} clear={} {}",
            u8::from(c.en),
            u8::from(c.clear),
            c.op.name()
        ));
        let xs: Vec<String> =
            c.x.iter()
                .enumerate()
                .filter(|(_, v)| **v != 0)
                .map(|(k, v)| format!("x[{k}]={v}"))
                .collect();
        let ws: Vec<String> =
            c.w.iter()
                .enumerate()
                .filter_map(|(k, w)| match w {
                    Weight::Shift(sw) if sw.s != 0 => Some(format!(
                        "w[{k}]={}2^-{} (code {:#b})",
                        if sw.s < 0 { "-" } else { "+" },
                        sw.m,
                        encode_shift_weight(*sw, shift_wb)
                    )),
                    Weight::Code(v) if *v != 0 => Some(format!("w[{k}]={v}")),
                    _ => None,
                })
                .collect();
        const SHOWN: usize = 8;
        let zero = |v: &Vec<String>, what: &str| {
            if v.is_empty() {
                format!(" {what} all 0")
            } else if v.len() > SHOWN {
                format!(
                    " {} ... ({} more non-zero)",
                    v[..SHOWN].join(" "),
                    v.len() - SHOWN
                )
            } else {
                format!(" {}", v.join(" "))
            }
        };
        s.push_str(&zero(&xs, "x"));
        s.push_str(&zero(&ws, "w"));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiftadd_sim::spec::presets;

    #[test]
    fn raw_values_map_into_their_format() {
        for bits in [3, 8, 16, 32] {
            for v in [i64::MIN, -129, -1, 0, 1, 200, i64::MAX] {
                let c = RawValue::Any(v).code(bits);
                assert!(
                    c >= min_code(bits) && c <= max_code(bits),
                    "{v} -> {c} ({bits} bits)"
                );
            }
            assert_eq!(RawValue::Min.code(bits), -(1i64 << (bits - 1)));
            assert_eq!(RawValue::Max.code(bits), (1i64 << (bits - 1)) - 1);
        }
        // Codes already in the format map to themselves.
        assert_eq!(RawValue::Any(-5).code(8), -5);
    }

    fn lone_pe(kind: ArrayKind) -> Dut {
        Dut {
            kind,
            top: "pe".into(),
            ports: Vec::new(),
            rows: 1,
            cols: 1,
            latency: 1,
            is_pe: true,
        }
    }

    #[test]
    fn expected_terms_follow_the_contract() {
        // lean8: pmax = 2. A shift term is s * (x << (pmax - m)); an adder term |x - w|.
        let cfg = presets::lean8();
        let shift = Cycle {
            en: true,
            clear: false,
            op: Op::Shift,
            x: vec![-3],
            w: vec![Weight::Shift(ShiftWeight { s: -1, m: 1 })],
        };
        let adder = Cycle {
            en: true,
            clear: false,
            op: Op::Adder,
            x: vec![-128],
            w: vec![Weight::Code(127)],
        };
        let out = expected(&[shift, adder], &lone_pe(ArrayKind::Dual), &cfg);
        assert_eq!(out, vec![vec![6], vec![255]]);
    }

    #[test]
    fn arrays_show_sums_one_cycle_late_and_restart_on_clear() {
        let cfg = presets::lean8();
        let dut = Dut {
            rows: 1,
            cols: 2,
            is_pe: false,
            latency: 2,
            ..lone_pe(ArrayKind::Mac)
        };
        let cyc = |en, clear, x: [i64; 2], w: [i64; 2]| Cycle {
            en,
            clear,
            op: Op::Mult,
            x: x.to_vec(),
            w: w.iter().map(|&v| Weight::Code(v)).collect(),
        };
        let cycles = [
            cyc(true, true, [2, 3], [5, -1]),  // 10 - 3 = 7
            cyc(true, false, [1, 1], [1, 1]),  // + 2 = 9
            cyc(false, false, [9, 9], [9, 9]), // held
            cyc(true, true, [-4, 0], [4, 7]),  // restart: -16
            cyc(false, false, [0, 0], [0, 0]),
        ];
        let out: Vec<i128> = expected(&cycles, &dut, &cfg).iter().map(|r| r[0]).collect();
        assert_eq!(out, vec![0, 7, 9, 9, -16]);
    }

    #[test]
    fn a_sum_keeps_the_kind_that_started_it() {
        let cfg = presets::lean8();
        let dut = Dut {
            rows: 2,
            cols: 2,
            is_pe: false,
            latency: 2,
            ..lone_pe(ArrayKind::Dual)
        };
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..200 {
            use proptest::strategy::ValueTree;
            let raw = case_strategy(&dut, 30)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let mut sum = Op::Shift;
            for c in build_case(&raw, &dut, &cfg) {
                if c.clear {
                    sum = c.op;
                } else if c.en {
                    assert_eq!(c.op, sum);
                }
            }
        }
    }
}
