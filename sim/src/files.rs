//! Reading user files with a size bound, enforced while reading: a device or a huge file is
//! refused at the limit instead of being read whole.

use std::io::Read;
use std::path::Path;

/// Largest model file read, in bytes.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Largest text file read (layer vectors, configs, energy tables), in bytes.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// The bytes of `path`, refused past `limit` bytes or when it is not a regular file (a device
/// or a pipe has no end to wait for); the error says why, without the path.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut out = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!(
            "larger than the limit of {limit} bytes (shiftadd_sim::files)"
        ));
    }
    Ok(out)
}

/// The text of `path`, refused past [`MAX_TEXT_BYTES`] or when it is not UTF-8.
pub fn read_text(path: &Path) -> Result<String, String> {
    String::from_utf8(read_bounded(path, MAX_TEXT_BYTES)?)
        .map_err(|e| format!("not UTF-8 text: {e}"))
}
