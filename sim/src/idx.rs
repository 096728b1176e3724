//! IDX files (the MNIST and Fashion-MNIST layout) of unsigned bytes, plain or gzip, read with a
//! bound on what is decompressed and held.

use std::io::{BufRead, Read};
use std::path::Path;

/// Largest IDX payload accepted, in bytes.
pub const MAX_IDX_BYTES: usize = 1 << 31;

/// Reads an IDX file of unsigned bytes, gzip-compressed (one member or several) or not;
/// returns its dimensions and the payload of its first `limit` items (all without a limit).
/// Only what is kept is decompressed and held; without a limit, trailing bytes are refused.
pub fn read_idx_u8(path: &Path, limit: Option<usize>) -> Result<(Vec<usize>, Vec<u8>), String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    read_idx_from(std::io::BufReader::new(file), path, limit)
}

/// [`read_idx_u8`] of what `r` yields; `path` names it in errors.
pub fn read_idx_from(
    mut r: impl BufRead,
    path: &Path,
    limit: Option<usize>,
) -> Result<(Vec<usize>, Vec<u8>), String> {
    let gzip = r
        .fill_buf()
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .starts_with(&[0x1f, 0x8b]);
    if gzip {
        let mut r = flate2::bufread::MultiGzDecoder::new(r);
        parse_idx_from(&mut r, path, limit)
    } else {
        parse_idx_from(&mut r, path, limit)
    }
}

/// Reads up to `buf.len()` bytes; returns how many there were.
fn fill(r: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize, String> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        }
    }
    Ok(got)
}

fn parse_idx_from(
    r: &mut impl Read,
    path: &Path,
    limit: Option<usize>,
) -> Result<(Vec<usize>, Vec<u8>), String> {
    let at = |field: &str, what: String| format!("{}: field `{field}`: {what}", path.display());
    let mut magic = [0u8; 4];
    let got = fill(r, &mut magic, path)?;
    if got < 4 {
        return Err(at(
            "magic",
            format!("file is {got} bytes, shorter than the 4-byte header"),
        ));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(at(
            "magic",
            format!(
                "first two bytes are {:#04x} {:#04x}, expected 0x00 0x00 (not an IDX file)",
                magic[0], magic[1]
            ),
        ));
    }
    if magic[2] != 0x08 {
        return Err(at(
            "magic",
            format!(
                "element type {:#04x}, expected 0x08 (unsigned byte)",
                magic[2]
            ),
        ));
    }
    let ndim = magic[3] as usize;
    if !(1..=4).contains(&ndim) {
        return Err(at("magic", format!("{ndim} dimensions, expected 1 to 4")));
    }
    let header = 4 + 4 * ndim;
    let mut raw = vec![0u8; 4 * ndim];
    let got = fill(r, &mut raw, path)?;
    if got < raw.len() {
        return Err(at(
            "dims",
            format!(
                "file is {} bytes, shorter than the {header}-byte header",
                4 + got
            ),
        ));
    }
    let dims: Vec<usize> = raw
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")) as usize)
        .collect();
    let too_large = || {
        at(
            "dims",
            format!(
                "{dims:?} describe more than {MAX_IDX_BYTES} bytes (the limit of an IDX payload)"
            ),
        )
    };
    // Each item on its own too, so that a count of 0 cannot hide an item past the limit.
    let per = dims[1..]
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .filter(|p| *p <= MAX_IDX_BYTES)
        .ok_or_else(too_large)?;
    let n = dims[0]
        .checked_mul(per)
        .filter(|n| *n <= MAX_IDX_BYTES)
        .ok_or_else(too_large)?;
    let keep = limit.map_or(n, |l| dims[0].min(l) * per);
    // Grown as bytes arrive: a header alone must not allocate what it claims.
    let mut data = Vec::new();
    let got = r
        .by_ref()
        .take(keep as u64)
        .read_to_end(&mut data)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if got < keep {
        return Err(at(
            "data",
            format!("{got} bytes of data, dims {dims:?} need {n}"),
        ));
    }
    if keep == n && fill(r, &mut [0u8; 1], path)? > 0 {
        return Err(at(
            "data",
            format!("more than the {n} bytes of data that dims {dims:?} describe"),
        ));
    }
    Ok((dims, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], limit: Option<usize>) -> Result<(Vec<usize>, Vec<u8>), String> {
        read_idx_from(bytes, Path::new("f"), limit)
    }

    #[test]
    fn an_item_past_the_limit_is_refused_even_with_no_items() {
        // Found by the `idx` fuzz target: the item size overflowed while the count was 0.
        let mut header = vec![0, 0, 8, 3, 0, 0, 0, 0];
        header.extend([0xff; 8]);
        let e = read(&header, None).unwrap_err();
        assert!(e.contains("field `dims`") && e.contains("limit"), "{e}");
        let e = read(&header, Some(1)).unwrap_err();
        assert!(e.contains("field `dims`"), "{e}");
    }

    #[test]
    fn a_header_alone_allocates_nothing_it_claims() {
        // 2^31 bytes promised, 3 given: refused by what arrived, not by allocating the claim.
        let bytes = [0, 0, 8, 1, 0x80, 0, 0, 0, 1, 2, 3];
        let e = read(&bytes, None).unwrap_err();
        assert!(e.contains("3 bytes of data"), "{e}");
    }
}
