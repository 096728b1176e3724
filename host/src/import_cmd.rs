//! `shiftadd import`: a checkpoint of the original ShiftAddNet code as a model file.

use anyhow::{anyhow, bail, Result};
use clap::{Args, ValueEnum};
use serde_json::json;
use shiftadd_sim::model;
use shiftadd_sim::net::InputNorm;
use shiftadd_train::seed::{self, ImportOptions};
use shiftadd_train::torch_file::TorchFormat;
use std::path::PathBuf;

/// Where a checkpoint comes from.
#[derive(Clone, Copy, ValueEnum)]
pub enum Source {
    /// The original ShiftAddNet code's `train.py` (`checkpoint.pth.tar`, `model_best.pth.tar`).
    Seed,
}

/// Options of `shiftadd import`.
#[derive(Args)]
pub struct ImportArgs {
    /// What wrote the checkpoint.
    #[arg(long, value_enum)]
    from: Source,
    /// The checkpoint (zip or pre-1.6 format; a checkpoint dict or a bare state_dict).
    checkpoint: PathBuf,
    /// Built-in architecture of the checkpoint.
    #[arg(long, default_value = "resnet20-shiftadd")]
    arch: String,
    /// Preset whose formats the model takes: `seed` for the original's FIX8 scripts,
    /// `seed-fix16` for its FIX16 scripts.
    #[arg(long, default_value = "seed")]
    preset: String,
    /// Input normalisation means, one per channel (default: the original's CIFAR-10 loader).
    #[arg(long, value_delimiter = ',', requires = "std")]
    mean: Option<Vec<f32>>,
    /// Input normalisation standard deviations, one per channel.
    #[arg(long, value_delimiter = ',', requires = "mean")]
    std: Option<Vec<f32>>,
    /// Import an FP32 checkpoint (float adder) into the preset's integer adder grid anyway, and
    /// report how far its adder weights moved.
    #[arg(long)]
    allow_rounding: bool,
    /// Output folder (model.safetensors).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `shiftadd import`.
pub fn run(a: &ImportArgs) -> Result<()> {
    let cfg = crate::preset(&a.preset)?;
    let graph = crate::arch(&a.arch)?;
    let norm = match (&a.mean, &a.std) {
        (Some(mean), Some(std)) => {
            let c = graph.input.channels;
            for (name, v) in [("--mean", mean), ("--std", std)] {
                if v.len() != c {
                    bail!(
                        "{name}: {} values given, `{}` has {c} input channels",
                        v.len(),
                        a.arch
                    );
                }
                if v.iter().any(|x| !x.is_finite()) {
                    bail!("{name}: every value must be a finite number");
                }
            }
            if std.iter().any(|s| *s <= 0.0) {
                bail!("--std: every value must be positive");
            }
            Some(InputNorm {
                mean: mean.clone(),
                std: std.clone(),
            })
        }
        _ => None,
    };
    let opts = ImportOptions {
        arch: a.arch.clone(),
        cfg: cfg.clone(),
        norm,
        allow_rounding: a.allow_rounding,
    };
    let (m, r) = seed::import_seed(&a.checkpoint, &opts).map_err(|e| anyhow!(e))?;
    let format = match r.format {
        TorchFormat::Zip => "zip",
        TorchFormat::Legacy => "pre-1.6",
    };
    println!(
        "{}: {format} format, {}, {} keys{}{}; storages on {}",
        a.checkpoint.display(),
        if r.wrapped {
            "a checkpoint dict"
        } else {
            "a bare state_dict"
        },
        r.keys,
        if r.module_prefix {
            ", `module.` prefix removed"
        } else {
            ""
        },
        if r.weight_names > 0 {
            format!(", {} adder weights under `*.weight`", r.weight_names)
        } else {
            String::new()
        },
        r.locations.join(", ")
    );
    if let (Some(e), Some(p)) = (r.epoch, r.best_prec1) {
        println!("epoch {e}, best_prec1 {p}");
    }
    println!(
        "{} checkpoint into `{}` (adder grid 2^-{}, act_max {}); {} latent shifts rounded or clamped, {} signs not in {{-1, 0, 1}}",
        r.seed_config,
        cfg.name,
        cfg.formats.add_frac,
        cfg.formats.act_range().max,
        r.shifts_rounded,
        r.signs_rounded
    );
    if let Some(ro) = r.rounding {
        println!(
            "FP32 adder weights rounded onto 2^-{}: mean {:.4} LSB, max {:.4} LSB over {} weights (--allow-rounding); outputs are not the original's exactly",
            cfg.formats.add_frac, ro.mean_lsb, ro.max_lsb, ro.weights
        );
    }
    let out = a.out.join(model::MODEL_FILE_NAME);
    let prov = json!({"import": {
        "from": "seed",
        "checkpoint": a.checkpoint.display().to_string(),
        "format": format,
        "epoch": r.epoch,
        "best_prec1": r.best_prec1,
        "seed_config": r.seed_config,
        "preset": cfg.name,
        "rounding": r.rounding.map(|ro| json!({"mean_lsb": ro.mean_lsb, "max_lsb": ro.max_lsb})),
    }});
    model::save_model(&m, &out, Some(prov)).map_err(|e| anyhow!(e))?;
    println!("wrote {}", out.display());
    Ok(())
}
