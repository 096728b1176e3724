//! Shift array: `acc[r] = sum over cycles and columns of s[r][c] * (x[c] << (pmax - m[r][c]))`,
//! exact in `ACC` bits (see the module doc of `array` for timing).

use super::{pe_array, ArrayIo, RowAcc};
use crate::pe::ShiftPe;
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

pe_array!(
    /// `rows` x `cols` shift PEs with a reduction tree and accumulator per row.
    ShiftArray, ShiftPe, signed_terms: true, negate: false
);
