//! The model file reader: any bytes give a model or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = shiftadd_sim::model::parse_model(bytes, std::path::Path::new("fuzz.safetensors"));
});
