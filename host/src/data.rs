//! Image data: IDX image and label files (the MNIST and Fashion-MNIST layout; 3 or 4 dimensions),
//! plain or gzip, and CIFAR-10 binary files.

use shiftadd_sim::cifar::{read_cifar, CIFAR_SHAPE};
use shiftadd_sim::idx::{read_idx_u8, MAX_IDX_BYTES};
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

/// The refusal of `--limit 0`.
const NO_IMAGES: &str = "--limit 0 selects no images; give 1 or more";

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
        let images = pick(path, "t10k-images-idx3-ubyte")
            .or_else(|| pick(path, "t10k-images-idx4-ubyte"))
            .ok_or_else(|| {
                format!(
                    "{}: no t10k-images-idx3-ubyte[.gz], t10k-images-idx4-ubyte[.gz] or test_batch.bin in this folder",
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
    let Some(kind) = ["images-idx3", "images-idx4"]
        .into_iter()
        .find(|k| name.contains(k))
    else {
        return Err(format!("{}: an images file must be named *images-idx3-ubyte[.gz] or *images-idx4-ubyte[.gz] so that its labels file can be found, or be a CIFAR-10 *.bin file", path.display()));
    };
    let labels = path.with_file_name(name.replace(kind, "labels-idx1"));
    if !labels.is_file() {
        return Err(format!(
            "{}: labels file {} not found",
            path.display(),
            labels.display()
        ));
    }
    Ok((path.to_path_buf(), labels))
}

/// A CIFAR-10 binary file: a `*.bin` file, or a folder holding `test_batch.bin` (and no IDX
/// test files).
fn cifar_file(path: &Path) -> Option<PathBuf> {
    if path.is_dir() {
        let f = path.join("test_batch.bin");
        let idx = resolve(path).is_ok();
        return (f.is_file() && !idx).then_some(f);
    }
    (path.extension().is_some_and(|e| e == "bin")).then(|| path.to_path_buf())
}

/// Loads images and labels; `limit` keeps the first images only.
pub fn load(path: &Path, limit: Option<usize>) -> Result<Dataset, String> {
    if limit == Some(0) {
        return Err(NO_IMAGES.into());
    }
    if let Some(file) = cifar_file(path) {
        let (pixels, labels) = read_cifar(&file, limit, MAX_IDX_BYTES)?;
        return Ok(Dataset {
            images_path: file,
            count: labels.len(),
            shape: CIFAR_SHAPE,
            pixels,
            labels,
        });
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
