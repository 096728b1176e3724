//! shiftadd-hdl: the RTL generator. rust-hdl blocks (one per file: PEs in [`pe`], arrays in
//! [`array`]), the widths they take from an [`AccelConfig`] ([`widths`]), and the Verilog emitter
//! ([`emit`]). Nothing here chooses a width by hand.

pub mod array;
pub mod emit;
pub mod generate;
pub mod pe;
pub mod widths;

use shiftadd_sim::spec::{AccWidths, AccelConfig};

/// Port and register widths of the datapath, derived from a validated config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatapathWidths {
    /// Activation codes.
    pub act: u32,
    /// Shift weight code: sign, zero flag and exponent magnitude.
    pub shift_weight: u32,
    /// Adder-grid operand codes.
    pub adder_operand: u32,
    /// Multiply weight codes.
    pub mult_weight: u32,
    /// Accumulators at `max_taps`.
    pub acc: AccWidths,
}

/// The datapath widths of `cfg`.
pub fn datapath_widths(cfg: &AccelConfig) -> DatapathWidths {
    let f = &cfg.formats;
    DatapathWidths {
        act: f.act_bits,
        shift_weight: f.shift_wb,
        adder_operand: f.add_bits,
        mult_weight: f.mul_bits,
        acc: cfg.acc_widths(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiftadd_sim::spec::presets;

    #[test]
    fn seed_accumulators_match_seed_notes() {
        // seed-notes.md §2.4: 576 taps of Q16.16 shifted by up to 14 need 56 bits plus sign
        // headroom; with max_taps = 2048 (11 bits of growth) the shift accumulator is 58 bits.
        let w = datapath_widths(&presets::seed());
        assert_eq!(w.acc.shift, 32 + 14 + 11 + 1);
        assert_eq!(w.act, 32);
    }
}
