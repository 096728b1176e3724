//! The checkpoint importer: torch.save files (zip and pre-1.6), through the allowlist unpickler,
//! then the import into `seed`'s formats.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shiftadd_sim::spec::presets;
use shiftadd_train::seed::{import_file, ImportOptions};
use shiftadd_train::torch_file::parse_torch_file;

fuzz_target!(|bytes: &[u8]| {
    let path = std::path::Path::new("fuzz.pth.tar");
    // Decompression bounded at 64 MiB: within the run's memory limit.
    if let Ok(file) = parse_torch_file(bytes, path, 1 << 26) {
        let opts = ImportOptions {
            arch: "resnet20-shiftadd".into(),
            cfg: presets::seed(),
            norm: None,
            allow_rounding: bytes.len().is_multiple_of(2),
        };
        if let Ok((model, _)) = import_file(&file, &opts) {
            model
                .check_params()
                .expect("an imported model is consistent");
        }
    }
});
