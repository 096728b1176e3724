//! What `cosim --rtl` and `gen` read from a folder: Verilog module headers (ports and the
//! system tasks that reach the host) and `manifest.json`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = shiftadd_tb::design::parse_modules(text);
    let _ = shiftadd_tb::design::host_tasks(text);
    let _ = shiftadd_sim::rtl::Manifest::from_json(text);
});
