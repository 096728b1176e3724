//! Dual-mode array: per cycle `mode` selects the shift sum (`s[r][c] * (x[c] << (pmax - m))`) or
//! the adder sum (`|x[c] - w[r][c]|`); a result is negated (`y = -A`) when its terms were adder
//! terms. Exact in `ACC` bits (see the module doc of `array` for timing). One result mixes no
//! modes: `mode` is constant from a `clear` to the next.

use super::{pe_array, ArrayIo, RowAcc};
use crate::pe::DualPe;
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

pe_array!(
    /// `rows` x `cols` dual-mode PEs with a reduction tree and accumulator per row.
    DualArray, DualPe, signed_terms: true, negate: false, mode: mode => mode_d
);
