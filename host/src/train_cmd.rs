//! `shiftadd train` and `shiftadd precision`: quantisation-aware training of a built-in
//! architecture, export to an integer model with its card, and accuracy against precision.

use crate::data;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::json;
use shiftadd_sim::net::Model;
use shiftadd_sim::spec::{presets, AccelConfig, Formats};
use shiftadd_sim::{archs, model};
use shiftadd_train::{checkpoint, export, net::Net, Images, TrainOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `shiftadd train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Built-in architecture (see `shiftadd archs`).
    #[arg(long)]
    arch: String,
    /// IDX data: a folder with train-images-idx3-ubyte[.gz] (falls back to the t10k files) and
    /// t10k files for testing, or a training images file.
    #[arg(long)]
    data: PathBuf,
    /// Test data (default: the t10k files of --data).
    #[arg(long)]
    test: Option<PathBuf>,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Random seed (initialisation, shuffling, flips).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder (model.safetensors, float.safetensors, CARD.md).
    #[arg(long)]
    out: PathBuf,
    /// Use the first N training images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Use the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Minibatch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Peak learning rate (Adam, cosine decay).
    #[arg(long, default_value_t = 5e-3)]
    lr: f32,
    /// Learning-rate factor of the latent shift exponents and signs.
    #[arg(long, default_value_t = 5.0)]
    shift_lr_scale: f32,
    /// Preset whose formats the training models and the export uses.
    #[arg(long, default_value = "seed")]
    preset: String,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Options of `shiftadd precision`.
#[derive(Args)]
pub struct PrecisionArgs {
    /// A trained model folder holding float.safetensors.
    #[arg(long)]
    model: PathBuf,
    /// IDX test data.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// Use the first N images only.
    #[arg(long)]
    limit: Option<usize>,
}

fn images(ds: data::Dataset) -> Images {
    Images {
        count: ds.count,
        shape: ds.shape,
        pixels: ds.pixels,
        labels: ds.labels,
    }
}

/// The training images of `path`: the train files of a folder, else its t10k files.
fn training_files(path: &Path) -> Result<(PathBuf, bool)> {
    if path.is_dir() {
        for name in ["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"] {
            if path.join(name).is_file() {
                return Ok((path.join(name), true));
            }
        }
        return Ok((path.to_path_buf(), false));
    }
    if !path.exists() {
        bail!("--data {}: no such file or folder", path.display());
    }
    Ok((path.to_path_buf(), true))
}

fn check_shape(net: &Net, ds: &Images, what: &str) -> Result<()> {
    let i = net.graph.input;
    if ds.shape != [i.channels, i.height, i.width] {
        bail!(
            "{what}: images are {:?}, the architecture `{}` takes {:?}",
            ds.shape,
            net.graph.arch,
            [i.channels, i.height, i.width]
        );
    }
    Ok(())
}

fn ops_and_params(m: &Model, pixels: &[u8]) -> Result<(u64, usize)> {
    let runner = m.runner()?;
    let ops = runner
        .run_image(pixels, false)
        .layers
        .iter()
        .map(|l| l.taps)
        .sum();
    let params = runner
        .infos()
        .iter()
        .filter_map(|i| i.geom)
        .map(|g| g.weight_len())
        .sum();
    Ok((ops, params))
}

/// `shiftadd train`.
pub fn train(a: TrainArgs) -> Result<()> {
    let graph = crate::arch(&a.arch).context("--arch")?;
    if a.epochs == 0 || a.epochs > 10_000 {
        bail!("--epochs: {} is outside 1..=10000", a.epochs);
    }
    if a.batch == 0 || a.batch > 65_536 {
        bail!("--batch: {} is outside 1..=65536", a.batch);
    }
    if !(a.lr.is_finite() && a.lr > 0.0 && a.lr < 1.0) {
        bail!("--lr: {} must be in (0, 1)", a.lr);
    }
    let cfg = crate::preset(&a.preset).context("--preset")?;
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build_global()
            .context("--threads")?;
    }
    let (train_path, is_train) = training_files(&a.data)?;
    let train_ds = images(data::load(&train_path, a.limit).map_err(|e| anyhow!(e))?);
    if !is_train {
        eprintln!(
            "note: {} holds no train-images-idx3-ubyte[.gz]; training on its t10k files",
            a.data.display()
        );
    }
    let test_path = a.test.clone().unwrap_or_else(|| {
        if a.data.is_dir() {
            a.data.clone()
        } else {
            train_path.clone()
        }
    });
    let test_ds = images(data::load(&test_path, a.test_limit).map_err(|e| anyhow!(e))?);
    let mut net = Net::new(&graph, cfg.formats, a.seed).map_err(|e| anyhow!(e))?;
    check_shape(&net, &train_ds, &train_path.display().to_string())?;
    check_shape(&net, &test_ds, &test_path.display().to_string())?;
    let opts = TrainOptions {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        shift_lr_scale: a.shift_lr_scale,
        ..Default::default()
    };
    let threads = rayon::current_num_threads();
    println!(
        "training {} on {} images of {} for {} epochs (seed {}, batch {}, {} threads)",
        a.arch,
        train_ds.count,
        train_path.display(),
        a.epochs,
        a.seed,
        a.batch,
        threads
    );
    let start = Instant::now();
    let mut last = Instant::now();
    let mut epoch_ips = Vec::new();
    shiftadd_train::train(&mut net, &train_ds, &opts, |p| {
        let end = p.done == p.total;
        if end || last.elapsed().as_millis() >= 500 {
            last = Instant::now();
            let width = 30;
            let fill = width * p.done / p.total.max(1);
            eprint!(
                "\repoch {}/{} [{}{}] {:>3}% loss {:.4} acc {:.2}% {:.0} images/s   ",
                p.epoch,
                p.epochs,
                "#".repeat(fill),
                " ".repeat(width - fill),
                100 * p.done / p.total.max(1),
                p.loss,
                100.0 * p.accuracy,
                p.images_per_s
            );
            if end {
                eprintln!();
                epoch_ips.push(p.images_per_s);
            }
            let _ = std::io::stderr().flush();
        }
    })
    .map_err(|e| anyhow!(e))?;
    let train_secs = start.elapsed().as_secs_f64();
    let ips = epoch_ips.iter().sum::<f64>() / epoch_ips.len().max(1) as f64;
    let float_acc = shiftadd_train::accuracy(
        &shiftadd_train::predict_float(&mut net, &test_ds),
        &test_ds.labels,
    );
    let m = export::to_model(&net, &cfg).map_err(|e| anyhow!(e))?;
    let fixed_acc = shiftadd_train::accuracy(
        &export::predict_fixed(&m, &test_ds).map_err(|e| anyhow!(e))?,
        &test_ds.labels,
    );
    let (ops, params) = ops_and_params(&m, test_ds.image(0))?;
    let prov = json!({
        "trained": {
            "arch": a.arch,
            "data": train_path.display().to_string(),
            "images": train_ds.count,
            "test_data": test_path.display().to_string(),
            "test_images": test_ds.count,
            "epochs": a.epochs,
            "seed": a.seed,
            "batch": a.batch,
            "lr": a.lr,
            "preset": a.preset,
            "threads": threads,
            "training_seconds": (train_secs * 10.0).round() / 10.0,
            "images_per_second": ips.round(),
            "float_accuracy": float_acc,
            "fixed_accuracy": fixed_acc,
        }
    });
    std::fs::create_dir_all(&a.out).with_context(|| format!("--out {}", a.out.display()))?;
    model::save_model(&m, &a.out.join(model::MODEL_FILE_NAME), Some(prov))
        .map_err(|e| anyhow!(e))?;
    checkpoint::save(&net, &a.out.join(checkpoint::FLOAT_FILE_NAME)).map_err(|e| anyhow!(e))?;
    let name = a
        .out
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("model")
        .to_string();
    let card = card(&CardFacts {
        name: &name,
        args: &a,
        train_path: &train_path,
        train_count: train_ds.count,
        test_path: &test_path,
        test_count: test_ds.count,
        threads,
        train_secs,
        ips,
        float_acc,
        fixed_acc,
        ops,
        params,
    });
    std::fs::write(a.out.join("CARD.md"), card)
        .with_context(|| format!("{}: cannot write CARD.md", a.out.display()))?;
    println!(
        "trained in {:.1} s ({:.0} images/s); test accuracy float {:.2}%, fixed point {:.2}% on {} images; {} weights, {} operations (taps) per image",
        train_secs,
        ips,
        100.0 * float_acc,
        100.0 * fixed_acc,
        test_ds.count,
        params,
        ops
    );
    println!("wrote {}", a.out.display());
    Ok(())
}

struct CardFacts<'a> {
    name: &'a str,
    args: &'a TrainArgs,
    train_path: &'a Path,
    train_count: usize,
    test_path: &'a Path,
    test_count: usize,
    threads: usize,
    train_secs: f64,
    ips: f64,
    float_acc: f64,
    fixed_acc: f64,
    ops: u64,
    params: usize,
}

fn card(c: &CardFacts) -> String {
    let a = c.args;
    let mut cmd = format!(
        "shiftadd train --arch {} --data {} --epochs {} --seed {} --out {}",
        a.arch,
        a.data.display(),
        a.epochs,
        a.seed,
        a.out.display()
    );
    if let Some(l) = a.limit {
        cmd += &format!(" --limit {l}");
    }
    if let Some(t) = &a.test {
        cmd += &format!(" --test {}", t.display());
    }
    if let Some(l) = a.test_limit {
        cmd += &format!(" --test-limit {l}");
    }
    if a.batch != 128 {
        cmd += &format!(" --batch {}", a.batch);
    }
    if a.lr != 5e-3 {
        cmd += &format!(" --lr {}", a.lr);
    }
    if a.shift_lr_scale != 5.0 {
        cmd += &format!(" --shift-lr-scale {}", a.shift_lr_scale);
    }
    if a.preset != "seed" {
        cmd += &format!(" --preset {}", a.preset);
    }
    if let Some(t) = a.threads {
        cmd += &format!(" --threads {t}");
    }
    format!(
        "# {name}\n\n\
`{arch}` ({desc}) trained from scratch with quantisation-aware training in Rust.\n\n\
| | |\n|---|---|\n\
| command | `{cmd}` |\n\
| training data | `{tp}`, {tc} images, random horizontal flips |\n\
| test data | `{sp}`, {sc} images |\n\
| epochs, seed | {ep}, {seed} |\n\
| optimiser | Adam, peak learning rate {lr}, cosine decay to 0, batch {batch} |\n\
| formats | preset `{preset}` (the forward pass models its rounding; the export uses it) |\n\
| training time | {secs:.0} s on {threads} threads ({ips:.0} images/s) |\n\
| float accuracy (quantisation-aware float model, test set) | {fa:.2}% |\n\
| fixed-point accuracy (integer reference model, test set) | {xa:.2}% |\n\
| weights | {params} |\n\
| operations (taps) per image | {ops} |\n\n\
`model.safetensors` is the integer model (numerics.md) that `shiftadd infer` runs;\n\
`float.safetensors` holds the float parameters and batch-norm statistics it was exported from\n\
(`shiftadd precision` exports them again at other formats).\n",
        name = c.name,
        arch = a.arch,
        desc = archs::describe(&a.arch),
        tp = c.train_path.display(),
        tc = c.train_count,
        sp = c.test_path.display(),
        sc = c.test_count,
        ep = a.epochs,
        seed = a.seed,
        lr = a.lr,
        batch = a.batch,
        preset = a.preset,
        secs = c.train_secs,
        threads = c.threads,
        ips = c.ips,
        fa = 100.0 * c.float_acc,
        xa = 100.0 * c.fixed_acc,
        params = c.params,
        ops = c.ops,
    )
}

/// Activation and adder formats of the precision sweep: `(act_bits, act_frac, add_bits,
/// add_frac)`, from the seed formats down to 6 bits. Shift and multiply weights keep the seed
/// widths.
pub const SWEEP: [(u32, u32, u32, u32); 7] = [
    (32, 16, 32, 7),
    (16, 8, 16, 7),
    (12, 6, 12, 5),
    (10, 5, 10, 4),
    (8, 4, 8, 4),
    (7, 3, 7, 3),
    (6, 3, 6, 2),
];

/// `shiftadd precision`.
pub fn precision(a: PrecisionArgs) -> Result<()> {
    let dir = &a.model;
    let file = if dir.is_dir() {
        dir.join(checkpoint::FLOAT_FILE_NAME)
    } else {
        dir.clone()
    };
    let net = checkpoint::load(&file).map_err(|e| anyhow!(e))?;
    let ds = images(data::load(&a.data, a.limit).map_err(|e| anyhow!(e))?);
    check_shape(&net, &ds, &a.data.display().to_string())?;
    println!(
        "{} ({}), {} images of {}",
        file.display(),
        net.graph.arch,
        ds.count,
        a.data.display()
    );
    println!("| formats | activations | adder codes | shift weights | fixed-point accuracy | saturated values per image |");
    println!("|---|---|---|---|---|---|");
    let seed = presets::seed();
    let mut points: Vec<(String, AccelConfig)> = SWEEP
        .iter()
        .map(|&(ab, af, db, df)| {
            let mut cfg = seed.clone();
            cfg.formats = Formats {
                act_bits: ab,
                act_frac: af,
                // The original's clamp belongs to Q16.16; narrower codes clamp at their top.
                act_max: seed.formats.act_max.filter(|_| ab == seed.formats.act_bits),
                add_bits: db,
                add_frac: df,
                ..seed.formats
            };
            (format!("act {ab}, add {db}"), cfg)
        })
        .collect();
    // The presets of other formats as a whole: narrower shift weights and post-processing
    // widths too.
    for p in presets::all()
        .into_iter()
        .filter(|p| p.formats != seed.formats)
    {
        points.push((format!("preset `{}`", p.name), p));
    }
    for (label, cfg) in points {
        let f = cfg.formats;
        let m = export::to_model(&net, &cfg).map_err(|e| anyhow!("{label}: {e}"))?;
        let runner = m.runner()?;
        let (ok, sat): (usize, u64) = {
            use rayon::prelude::*;
            (0..ds.count)
                .into_par_iter()
                .map(|k| {
                    let r = runner.run_image(ds.image(k), false);
                    let s: u64 = r.layers.iter().map(|l| l.sat_act + l.sat_add).sum();
                    ((r.prediction == ds.labels[k] as usize) as usize, s)
                })
                .reduce(|| (0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
        };
        println!(
            "| {label} | {} bits, {} fractional | {} bits, {} fractional | {} bits (pmax {}) | {:.2}% | {:.1} |",
            f.act_bits,
            f.act_frac,
            f.add_bits,
            f.add_frac,
            f.shift_wb,
            f.pmax(),
            100.0 * ok as f64 / ds.count.max(1) as f64,
            sat as f64 / ds.count.max(1) as f64
        );
    }
    Ok(())
}
