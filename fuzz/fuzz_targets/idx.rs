//! IDX files, plain and gzip (one member or several), with and without `--limit`; the same
//! bytes as a CIFAR-10 binary file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shiftadd_sim::cifar::{parse_cifar_from, RECORD_BYTES};
use shiftadd_sim::idx::read_idx_from;

fuzz_target!(|bytes: &[u8]| {
    let path = std::path::Path::new("fuzz-idx");
    // The first byte picks the limit, so that the limited reads are explored too.
    let (limit, rest) = match bytes.split_first() {
        Some((0, rest)) => (None, rest),
        Some((l, rest)) => (Some(*l as usize), rest),
        None => (None, bytes),
    };
    if let Ok((dims, data)) = read_idx_from(rest, path, limit) {
        let per: usize = dims[1..].iter().product();
        let items = limit.map_or(dims[0], |l| dims[0].min(l));
        assert_eq!(data.len(), items * per, "{dims:?} limit {limit:?}");
    }
    if let Ok((pixels, labels)) = parse_cifar_from(rest, rest.len() as u64, path, limit, 1 << 20) {
        assert_eq!(pixels.len(), labels.len() * (RECORD_BYTES - 1));
        assert!(labels.iter().all(|&l| l < 10));
    }
});
