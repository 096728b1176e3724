//! IDX image and label files (the MNIST and Fashion-MNIST layout), plain or gzip.

use std::io::{BufRead, Read};
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

/// The refusal of `--limit 0`.
const NO_IMAGES: &str = "--limit 0 selects no images; give 1 or more";

/// Reads an IDX file of unsigned bytes, gzip-compressed (one member or several) or not;
/// returns its dimensions and the payload of its first `limit` items (all without a limit).
/// Only what is kept is decompressed and held; without a limit, trailing bytes are refused.
pub fn read_idx_u8(path: &Path, limit: Option<usize>) -> Result<(Vec<usize>, Vec<u8>), String> {
    let mut file = std::io::BufReader::new(
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?,
    );
    let gzip = file
        .fill_buf()
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .starts_with(&[0x1f, 0x8b]);
    if gzip {
        let mut r = flate2::bufread::MultiGzDecoder::new(file);
        parse_idx_from(&mut r, path, limit)
    } else {
        parse_idx_from(&mut file, path, limit)
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
    let n = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .filter(|n| *n <= MAX_IDX_BYTES);
    let n = n.ok_or_else(|| {
        at(
            "dims",
            format!(
                "{dims:?} describe more than {MAX_IDX_BYTES} bytes (the limit of an IDX payload)"
            ),
        )
    })?;
    let per: usize = dims[1..].iter().product();
    let keep = limit.map_or(n, |l| dims[0].min(l) * per);
    let mut data = vec![0u8; keep];
    let got = fill(r, &mut data, path)?;
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
    if limit == Some(0) {
        return Err(NO_IMAGES.into());
    }
    let (images_path, labels_path) = resolve(path)?;
    let (idims, pixels) = read_idx_u8(&images_path, limit)?;
    let (ldims, labels) = read_idx_u8(&labels_path, limit)?;
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
    // The reader kept the first `limit` images and labels only.
    let count = limit.map_or(idims[0], |l| idims[0].min(l));
    if count == 0 {
        return Err(format!(
            "{}: field `dims`: holds no images",
            images_path.display()
        ));
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
/// runs that check agreement and cycles, not accuracy. At least one image, and no more pixels
/// than an IDX file may hold ([`MAX_IDX_BYTES`]).
pub fn random(shape: [usize; 3], classes: usize, count: usize) -> Result<Dataset, String> {
    use rand::{Rng, SeedableRng};
    let per = shape.iter().product::<usize>();
    if count == 0 {
        return Err(NO_IMAGES.into());
    }
    if count.checked_mul(per).is_none_or(|n| n > MAX_IDX_BYTES) {
        return Err(format!(
            "--limit {count}: {count} random images of {per} bytes exceed the limit of {MAX_IDX_BYTES} bytes of images (the IDX limit); run fewer, in several runs"
        ));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let n = per * count;
    Ok(Dataset {
        images_path: PathBuf::from("random"),
        count,
        shape,
        pixels: (0..n).map(|_| rng.gen()).collect(),
        labels: (0..count)
            .map(|_| rng.gen_range(0..classes.clamp(1, 256)) as u8)
            .collect(),
    })
}
