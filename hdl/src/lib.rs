//! shiftadd-hdl: the RTL generator. rust-hdl blocks (one per file: PEs in [`pe`], arrays in
//! [`array`]), the widths they take from an `AccelConfig` ([`widths`]), and the Verilog emitter
//! ([`emit`], [`generate`]). Nothing here chooses a width by hand.

pub mod array;
pub mod emit;
pub mod engine;
pub mod generate;
pub mod pe;
pub mod rhdl_sim;
pub mod widths;

#[cfg(test)]
mod tests {
    use crate::widths::{array_widths, ArrayKind};
    use shiftadd_sim::spec::presets;

    #[test]
    fn seed_accumulators_match_seed_notes() {
        // seed-notes.md §2.4: 576 taps of Q16.16 shifted by up to 14 need 56 bits plus sign
        // headroom; with max_taps = 2048 (11 bits of growth) the shift accumulator is 58 bits.
        let w = array_widths(&presets::seed(), ArrayKind::Shift);
        assert_eq!(w.acc, 32 + 14 + 11 + 1);
        assert_eq!(w.xw, 32);
    }
}
