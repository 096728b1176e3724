//! IDX image and label files (the MNIST and Fashion-MNIST layout), plain or gzip.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Images with their labels.
pub struct Dataset {
    /// Images file.
    pub images_path: PathBuf,
    /// Number of images.
    pub count: usize,
    /// Channels, height, width of one image.
    pub shape: [usize; 3],
    /// `count * c * h * w` pixels.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.iter().product::<usize>();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Largest IDX payload accepted, in bytes.
pub const MAX_IDX_BYTES: usize = 1 << 31;

fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(MAX_IDX_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("{}: gzip: {e}", path.display()))?;
        if out.len() > MAX_IDX_BYTES {
            return Err(format!(
                "{}: decompressed size exceeds the limit of {MAX_IDX_BYTES} bytes",
                path.display()
            ));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX file of unsigned bytes; returns its dimensions and payload.
pub fn parse_idx_u8(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<u8>), String> {
    let at = |field: &str, what: String| format!("{}: field `{field}`: {what}", path.display());
    if bytes.len() < 4 {
        return Err(at(
            "magic",
            format!(
                "file is {} bytes, shorter than the 4-byte header",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(at(
            "magic",
            format!(
                "first two bytes are {:#04x} {:#04x}, expected 0x00 0x00 (not an IDX file)",
                bytes[0], bytes[1]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(at(
            "magic",
            format!(
                "element type {:#04x}, expected 0x08 (unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if !(1..=4).contains(&ndim) {
        return Err(at("magic", format!("{ndim} dimensions, expected 1 to 4")));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(at(
            "dims",
            format!(
                "file is {} bytes, shorter than the {header}-byte header",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .filter(|n| *n <= MAX_IDX_BYTES);
    let n = n.ok_or_else(|| {
        at(
            "dims",
            format!("{dims:?} describe more than {MAX_IDX_BYTES} bytes"),
        )
    })?;
    if bytes.len() - header != n {
        return Err(at(
            "data",
            format!(
                "{} bytes of data, dims {dims:?} need {n}",
                bytes.len() - header
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Finds the images and labels files: a folder holding `t10k-images-idx3-ubyte[.gz]` and
/// `t10k-labels-idx1-ubyte[.gz]`, or an images file whose labels file is named alike.
pub fn resolve(path: &Path) -> Result<(PathBuf, PathBuf), String> {
    let pick = |dir: &Path, stem: &str| -> Option<PathBuf> {
        [format!("{stem}.gz"), stem.to_string()]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    };
    if path.is_dir() {
        let images = pick(path, "t10k-images-idx3-ubyte").ok_or_else(|| {
            format!(
                "{}: no t10k-images-idx3-ubyte[.gz] in this folder",
                path.display()
            )
        })?;
        let labels = pick(path, "t10k-labels-idx1-ubyte").ok_or_else(|| {
            format!(
                "{}: no t10k-labels-idx1-ubyte[.gz] in this folder",
                path.display()
            )
        })?;
        return Ok((images, labels));
    }
    if !path.is_file() {
        return Err(format!("{}: no such file or folder", path.display()));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if !name.contains("images-idx3") {
        return Err(format!("{}: an images file must be named *images-idx3-ubyte[.gz] so that its labels file can be found", path.display()));
    }
    let labels = path.with_file_name(name.replace("images-idx3", "labels-idx1"));
    if !labels.is_file() {
        return Err(format!(
            "{}: labels file {} not found",
            path.display(),
            labels.display()
        ));
    }
    Ok((path.to_path_buf(), labels))
}

/// Loads images and labels; `limit` keeps the first images only.
pub fn load(path: &Path, limit: Option<usize>) -> Result<Dataset, String> {
    let (images_path, labels_path) = resolve(path)?;
    let (idims, pixels) = parse_idx_u8(&read_maybe_gzip(&images_path)?, &images_path)?;
    let (ldims, labels) = parse_idx_u8(&read_maybe_gzip(&labels_path)?, &labels_path)?;
    let shape = match idims.as_slice() {
        [_, h, w] => [1, *h, *w],
        [_, c, h, w] => [*c, *h, *w],
        _ => return Err(format!("{}: field `dims`: {idims:?}, expected [count, height, width] or [count, channels, height, width]", images_path.display())),
    };
    if ldims.len() != 1 || ldims[0] != idims[0] {
        return Err(format!(
            "{}: field `dims`: {ldims:?}, expected [{}] (one label per image of {})",
            labels_path.display(),
            idims[0],
            images_path.display()
        ));
    }
    let mut count = idims[0];
    let per = shape.iter().product::<usize>();
    let mut pixels = pixels;
    let mut labels = labels;
    if let Some(l) = limit {
        count = count.min(l);
        pixels.truncate(count * per);
        labels.truncate(count);
    }
    Ok(Dataset {
        images_path,
        count,
        shape,
        pixels,
        labels,
    })
}

/// `count` random 8-bit images of `shape` with random labels below `classes` (fixed seed): for
/// runs that check agreement and cycles, not accuracy.
pub fn random(shape: [usize; 3], classes: usize, count: usize) -> Dataset {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let n = shape.iter().product::<usize>() * count;
    Dataset {
        images_path: PathBuf::from("random"),
        count,
        shape,
        pixels: (0..n).map(|_| rng.gen()).collect(),
        labels: (0..count)
            .map(|_| rng.gen_range(0..classes.clamp(1, 256)) as u8)
            .collect(),
    }
}
