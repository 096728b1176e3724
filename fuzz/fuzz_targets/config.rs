//! Accelerator config JSON: a config that is accepted has every derived quantity defined.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shiftadd_sim::spec::AccelConfig;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(cfg) = AccelConfig::from_json(text) {
        let _ = (
            cfg.lanes(),
            cfg.act_bank_depth(),
            cfg.weight_depth(),
            cfg.post_depth(),
        );
        let _ = shiftadd_sim::rtl::checked_engine(&cfg);
        for kind in shiftadd_sim::rtl::array_kinds(&cfg) {
            let _ = shiftadd_sim::rtl::checked_widths(&cfg, kind);
        }
    }
});
