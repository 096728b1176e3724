//! rust-hdl's own simulator driving a generated array, cycle by cycle: the same blocks the
//! Verilog is emitted from, used to compare simulators (`shiftadd bench-cosim`).

use crate::compiled::{dispatch, ArrayBlock, ArrayVisitor};
use rust_hdl_core::prelude::*;
use shiftadd_sim::rtl::{checked_widths, ArrayKind, RtlError};
use shiftadd_sim::spec::AccelConfig;

/// One cycle's inputs as port bit patterns.
#[derive(Clone, Debug)]
pub struct ArrayInputs {
    /// `en`.
    pub en: bool,
    /// `clear`.
    pub clear: bool,
    /// `mode` (dual arrays; 1 = adder).
    pub mode: bool,
    /// Operand per column.
    pub x: Vec<u64>,
    /// Weight per PE, row-major.
    pub w: Vec<u64>,
}

struct Run<'a> {
    rows: usize,
    cols: usize,
    pmax: u32,
    cycles: &'a [ArrayInputs],
}

impl ArrayVisitor for Run<'_> {
    type Out = Vec<Vec<u64>>;
    fn visit<B: ArrayBlock>(self) -> Self::Out {
        let mut a = B::build(self.rows, self.cols, self.pmax);
        a.connect_all();
        let mut out = Vec::with_capacity(self.cycles.len());
        for c in self.cycles {
            a.set_inputs(c.en, c.clear, c.mode, &c.x, &c.w);
            a.set_clock(false);
            assert!(
                simulate(&mut a, 1000),
                "rust-hdl's simulation did not settle"
            );
            a.set_clock(true);
            assert!(
                simulate(&mut a, 1000),
                "rust-hdl's simulation did not settle"
            );
            out.push((0..self.rows).map(|r| a.acc_bits(r)).collect());
        }
        out
    }
}

/// Simulates the `kind` array of `cfg` (its rows and columns) over `cycles` from power-on and
/// returns every row's accumulator after each rising edge.
pub fn run_array(
    cfg: &AccelConfig,
    kind: ArrayKind,
    cycles: &[ArrayInputs],
) -> Result<Vec<Vec<u64>>, RtlError> {
    let w = checked_widths(cfg, kind)?;
    let run = Run {
        rows: cfg.rows as usize,
        cols: cfg.cols as usize,
        pmax: cfg.formats.pmax(),
        cycles,
    };
    Ok(dispatch(kind, w, run).expect("checked widths are compiled in"))
}
