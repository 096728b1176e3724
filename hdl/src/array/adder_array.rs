//! Adder array: `acc[r] = -(sum over cycles and columns of |x[c] - w[r][c]|)`, the adder layer's
//! `y = -A`, exact in `ACC` bits (see the module doc of `array` for timing).

use super::{pe_array, ArrayIo, RowAcc};
use crate::pe::AdderPe;
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

pe_array!(
    /// `rows` x `cols` adder PEs with a reduction tree and accumulator per row.
    AdderArray, AdderPe, signed_terms: false, negate: true
);
