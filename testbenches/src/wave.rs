//! Waveforms: the reference model's VCD of a DUT's ports (same scope, names, widths and
//! timing as the RTL's: inputs at `10 i` ns, rising edge at `10 i + 5` ns), and the comparison
//! of two VCDs that names the first port whose values differ.

use crate::{io, CosimError};
use shiftadd_sim::rtl::Port;
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use vcd::{IdCode, ScopeItem, TimescaleUnit, Value};

fn bits(v: i128, width: usize) -> Vec<Value> {
    (0..width)
        .rev()
        .map(|b| {
            if b < 128 && (v >> b.min(127)) & 1 == 1 {
                Value::V1
            } else {
                Value::V0
            }
        })
        .collect()
}

/// Writes the reference waveform of `top`: `inputs[i][k]` is input `k` in cycle `i` and
/// `outputs[i][k]` output `k` after that cycle's rising edge; scope `TOP.<top>` like Verilator's.
pub fn write_reference(
    path: &Path,
    top: &str,
    inputs: (&[Port], &[Vec<i128>]),
    outputs: (&[Port], &[Vec<i128>]),
) -> Result<(), CosimError> {
    if let Some(p) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(p).map_err(|e| io(p, e))?;
    }
    let f = std::fs::File::create(path).map_err(|e| io(path, e))?;
    let mut w = vcd::Writer::new(BufWriter::new(f));
    let r = (|| -> std::io::Result<()> {
        w.comment("shiftadd reference model")?;
        w.timescale(1, TimescaleUnit::NS)?;
        w.add_module("TOP")?;
        w.add_module(top)?;
        let clock = w.add_wire(1, "clock")?;
        let ins: Vec<IdCode> = inputs
            .0
            .iter()
            .map(|p| w.add_wire(p.width as u32, &p.name))
            .collect::<Result<_, _>>()?;
        let outs: Vec<IdCode> = outputs
            .0
            .iter()
            .map(|p| w.add_wire(p.width as u32, &p.name))
            .collect::<Result<_, _>>()?;
        w.upscope()?;
        w.upscope()?;
        w.enddefinitions()?;
        let vector = |w: &mut vcd::Writer<_>, id, p: &Port, v: i128| {
            if p.width == 1 {
                w.change_scalar(id, if v & 1 == 1 { Value::V1 } else { Value::V0 })
            } else {
                w.change_vector(id, bits(v, p.width))
            }
        };
        for (i, (inp, out)) in inputs.1.iter().zip(outputs.1).enumerate() {
            w.timestamp(10 * i as u64)?;
            w.change_scalar(clock, Value::V0)?;
            for ((id, p), &v) in ins.iter().zip(inputs.0).zip(inp) {
                vector(&mut w, *id, p, v)?;
            }
            if i == 0 {
                for (id, p) in outs.iter().zip(outputs.0) {
                    vector(&mut w, *id, p, 0)?;
                }
            }
            w.timestamp(10 * i as u64 + 5)?;
            w.change_scalar(clock, Value::V1)?;
            for ((id, p), &v) in outs.iter().zip(outputs.0).zip(out) {
                vector(&mut w, *id, p, v)?;
            }
        }
        w.timestamp(10 * inputs.1.len() as u64)?;
        w.flush()
    })();
    r.map_err(|e| io(path, e))
}

/// The value changes of the variables directly in one scope, in picoseconds.
struct Trace {
    /// Name to width and `(time, value)` changes, the last change per time kept.
    signals: BTreeMap<String, (u32, Vec<(u64, String)>)>,
}

fn read_trace(path: &Path, scope: &[&str]) -> Result<Trace, CosimError> {
    let f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut p = vcd::Parser::new(BufReader::new(f));
    let header = p.parse_header().map_err(|e| io(path, e))?;
    let ps = match header.timescale {
        Some((n, unit)) => {
            u64::from(n)
                * match unit {
                    TimescaleUnit::S => 1_000_000_000_000,
                    TimescaleUnit::MS => 1_000_000_000,
                    TimescaleUnit::US => 1_000_000,
                    TimescaleUnit::NS => 1_000,
                    _ => 1,
                }
        }
        None => 1,
    };
    let s = header
        .find_scope(scope)
        .ok_or_else(|| io(path, format!("no scope `{}`", scope.join("."))))?;
    let mut by_code: BTreeMap<IdCode, Vec<String>> = BTreeMap::new();
    let mut signals: BTreeMap<String, (u32, Vec<(u64, String)>)> = BTreeMap::new();
    for item in &s.items {
        if let ScopeItem::Var(v) = item {
            by_code.entry(v.code).or_default().push(v.reference.clone());
            signals.insert(v.reference.clone(), (v.size, Vec::new()));
        }
    }
    let mut now = 0u64;
    for cmd in p {
        let cmd = cmd.map_err(|e| io(path, e))?;
        let (code, text) = match cmd {
            vcd::Command::Timestamp(t) => {
                now = t * ps;
                continue;
            }
            vcd::Command::ChangeScalar(c, v) => (c, v.to_string()),
            vcd::Command::ChangeVector(c, v) => (c, v.to_string()),
            _ => continue,
        };
        if let Some(names) = by_code.get(&code) {
            for n in names {
                let entry = signals.get_mut(n).expect("declared");
                let value = normalise(&text, entry.0 as usize);
                match entry.1.last_mut() {
                    Some(last) if last.0 == now => last.1 = value,
                    _ => entry.1.push((now, value)),
                }
            }
        }
    }
    Ok(Trace { signals })
}

/// A vector value at full width: VCD drops leading zeros (and extends a leading x or z).
fn normalise(v: &str, width: usize) -> String {
    if v.len() >= width {
        return v[v.len() - width..].to_string();
    }
    let fill = v
        .chars()
        .next()
        .filter(|c| matches!(c, 'x' | 'z' | 'X' | 'Z'))
        .unwrap_or('0');
    let mut s: String = std::iter::repeat_n(fill, width - v.len()).collect();
    s.push_str(v);
    s
}

/// The value of `signal` (in `scope`) in the waveform at `path` at `time_ns`, in binary at full
/// width; `None` when the waveform has no such signal.
pub fn value_at(
    path: &Path,
    scope: &[&str],
    signal: &str,
    time_ns: u64,
) -> Result<Option<String>, CosimError> {
    let t = read_trace(path, scope)?;
    Ok(t.signals.get(signal).map(|(_, c)| at(c, time_ns * 1000)))
}

/// The value of a trace at `t` picoseconds (`x` before its first change).
fn at(c: &[(u64, String)], t: u64) -> String {
    let i = c.partition_point(|x| x.0 <= t);
    if i == 0 {
        "x".into()
    } else {
        c[i - 1].1.clone()
    }
}

/// The first difference between two waveforms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaveDiff {
    /// Port name.
    pub signal: String,
    /// Time in nanoseconds.
    pub time_ns: u64,
    /// Value in the first waveform (binary).
    pub first: String,
    /// Value in the second waveform (binary).
    pub second: String,
}

/// Compares the variables present in both scopes, `a` at `scope_a` and `b` at `scope_b`, and
/// returns the earliest time at which one of them differs (ties broken by name). `None` when
/// they agree; an error when they share no variable.
pub fn first_difference(
    a: &Path,
    scope_a: &[&str],
    b: &Path,
    scope_b: &[&str],
) -> Result<Option<WaveDiff>, CosimError> {
    let ta = read_trace(a, scope_a)?;
    let tb = read_trace(b, scope_b)?;
    let mut best: Option<WaveDiff> = None;
    let mut shared = 0;
    for (name, (_, ca)) in &ta.signals {
        let Some((_, cb)) = tb.signals.get(name) else {
            continue;
        };
        shared += 1;
        let mut times: Vec<u64> = ca.iter().chain(cb).map(|c| c.0).collect();
        times.sort_unstable();
        times.dedup();
        for t in times {
            let (va, vb) = (at(ca, t), at(cb, t));
            if va != vb {
                let d = WaveDiff {
                    signal: name.clone(),
                    time_ns: t / 1000,
                    first: va,
                    second: vb,
                };
                if best.as_ref().is_none_or(|b| t / 1000 < b.time_ns) {
                    best = Some(d);
                }
                break;
            }
        }
    }
    if shared == 0 {
        return Err(io(b, format!("shares no signal with {}", a.display())));
    }
    Ok(best)
}
