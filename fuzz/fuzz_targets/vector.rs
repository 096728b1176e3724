//! Layer vectors: any text gives a vector or an error; a small accepted vector evaluates.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shiftadd_sim::vectors::{eval_vector, parse_vector};

/// Taps evaluated at most per input, to keep each execution short.
const MAX_WORK: u64 = 1 << 16;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(v) = parse_vector(text) {
        if v.geom.tap_ops() <= MAX_WORK {
            let _ = eval_vector(&v);
        }
    }
});
