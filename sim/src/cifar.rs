//! The CIFAR-10 binary format (`test_batch.bin`, `data_batch_N.bin`): records of one label byte
//! and 3,072 pixel bytes, the 32x32 red plane, then green, then blue.

use std::io::Read;
use std::path::Path;

/// Channels, height and width of a CIFAR-10 image.
pub const CIFAR_SHAPE: [usize; 3] = [3, 32, 32];
/// Bytes of one record: the label, then the pixels.
pub const RECORD_BYTES: usize = 1 + 3 * 32 * 32;
/// CIFAR-10's classes: labels are below this.
pub const CLASSES: u8 = 10;

/// Reads the first `limit` records (all without a limit) of a CIFAR-10 binary file; returns the
/// pixels (`[c, h, w]` per image) and the labels. At most `max_bytes` of pixels are held.
pub fn read_cifar(
    path: &Path,
    limit: Option<usize>,
    max_bytes: usize,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let len = file
        .metadata()
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .len();
    parse_cifar_from(std::io::BufReader::new(file), len, path, limit, max_bytes)
}

/// [`read_cifar`] of `len` bytes that `r` yields; `path` names them in errors.
pub fn parse_cifar_from(
    mut r: impl Read,
    len: u64,
    path: &Path,
    limit: Option<usize>,
    max_bytes: usize,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let at = |what: String| format!("{}: {what}", path.display());
    if len == 0 || !len.is_multiple_of(RECORD_BYTES as u64) {
        return Err(at(format!(
            "{len} bytes is not a whole number of {RECORD_BYTES}-byte records (a label byte and 3x32x32 pixels): not a CIFAR-10 binary file"
        )));
    }
    let records = usize::try_from(len / RECORD_BYTES as u64).unwrap_or(usize::MAX);
    let count = limit.map_or(records, |l| l.min(records));
    if count
        .checked_mul(RECORD_BYTES - 1)
        .is_none_or(|n| n > max_bytes)
    {
        return Err(at(format!(
            "{count} images are more than the limit of {max_bytes} bytes of images; use --limit"
        )));
    }
    let mut pixels = Vec::with_capacity(count * (RECORD_BYTES - 1));
    let mut labels = Vec::with_capacity(count);
    let mut rec = vec![0u8; RECORD_BYTES];
    for k in 0..count {
        r.read_exact(&mut rec)
            .map_err(|e| at(format!("record {k}: cannot read: {e}")))?;
        if rec[0] >= CLASSES {
            return Err(at(format!(
                "record {k}: field `label` is {}, CIFAR-10 labels are 0..={}",
                rec[0],
                CLASSES - 1
            )));
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((pixels, labels))
}
