//! Multiply array (the baseline): `acc[r] = sum over cycles and columns of x[c] * w[r][c]`,
//! exact in `ACC` bits (see the module doc of `array` for timing).

use super::{pe_array, ArrayIo, RowAcc};
use crate::pe::MacPe;
use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

pe_array!(
    /// `rows` x `cols` multiply PEs with a reduction tree and accumulator per row.
    MacArray, MacPe, signed_terms: true, negate: false
);
