//! Import of the original ShiftAddNet code's checkpoints (`checkpoint.pth.tar`,
//! `model_best.pth.tar` of its `train.py`) into an integer model of numerics.md.
//!
//! Shift weights are decoded as the original's forward pass does (`p = rne(clamp(P, -pmax, 0))`,
//! `s = sign(rne(S))`), adder weights are the latent floats put on the adder grid
//! (`rne(w * 2^add_frac)`, as its wageubn quantiser does at every forward), batch norm is folded
//! into `M_c`, `B_c`, `S` (numerics.md), and the input normalisation is its CIFAR-10 loader's.

use crate::torch_file::{self, DType, TensorRef, TorchFile, TorchFileError, TorchFormat, Value};
use shiftadd_sim::net::{
    ConvKind, ConvOutput, ConvParams, Graph, InputNorm, Model, Op, PostParams, Weights,
};
use shiftadd_sim::numerics::{adder_code_from_f32, decode_shift_weight};
use shiftadd_sim::random::fold_batch_norm;
use shiftadd_sim::spec::{presets, AccelConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The original's CIFAR-10 loader: `Normalize(mean, std)` after `ToTensor`.
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// See [`CIFAR10_MEAN`].
pub const CIFAR10_STD: [f32; 3] = [0.2023, 0.1994, 0.2010];
/// The architectures that can be imported, with the original's model names.
pub const ARCHS: [(&str, &str); 1] = [("resnet20-shiftadd", "resnet20_shiftadd")];

/// What the import needs besides the file.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Built-in architecture (`resnet20-shiftadd`).
    pub arch: String,
    /// The config whose formats the model takes (its preset names the seed configuration:
    /// `seed` for FIX8, `seed-fix16` for FIX16).
    pub cfg: AccelConfig,
    /// Input normalisation; `None` is the original's CIFAR-10 loader.
    pub norm: Option<InputNorm>,
    /// Accept an FP32 checkpoint (float adder) into the integer formats, reporting the error.
    pub allow_rounding: bool,
}

/// An import that cannot be done, naming the file, the key (or field) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// The checkpoint.
    pub file: PathBuf,
    /// The state_dict key, or the part of the file.
    pub field: String,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}`: {}",
            self.file.display(),
            self.field,
            self.what
        )
    }
}

impl std::error::Error for ImportError {}

impl From<TorchFileError> for ImportError {
    fn from(e: TorchFileError) -> Self {
        ImportError {
            file: e.file,
            field: e.field,
            what: e.what,
        }
    }
}

/// How far the adder weights of an FP32 checkpoint moved when put on the integer grid, in units of
/// the grid's step (LSB).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rounding {
    /// Mean absolute rounding error per weight.
    pub mean_lsb: f64,
    /// Largest absolute rounding error.
    pub max_lsb: f64,
    /// Weights rounded.
    pub weights: u64,
}

/// What was read and what was done to it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportReport {
    /// Zip or pre-1.6.
    pub format: TorchFormat,
    /// `true`: `{'epoch', 'state_dict', 'best_prec1', 'optimizer'}`; `false`: a bare state_dict.
    pub wrapped: bool,
    /// The checkpoint's `epoch`.
    pub epoch: Option<i64>,
    /// The checkpoint's `best_prec1`.
    pub best_prec1: Option<f64>,
    /// Keys read.
    pub keys: usize,
    /// Whether a `module.` prefix was removed.
    pub module_prefix: bool,
    /// Adder weights found under the older `*.weight` names.
    pub weight_names: usize,
    /// Device tags of the storages.
    pub locations: Vec<String>,
    /// `"FIX"` (adder quantisation buffers present) or `"FP32"` (absent).
    pub seed_config: &'static str,
    /// Latent shifts that were not whole numbers in [-pmax, 0] (rounded and clamped as the
    /// original's forward does).
    pub shifts_rounded: u64,
    /// Latent signs not in {-1, 0, 1} (decoded as the original's forward does).
    pub signs_rounded: u64,
    /// For an FP32 checkpoint imported with `allow_rounding`: the rounding of its adder weights.
    pub rounding: Option<Rounding>,
}

/// Where a graph node's parameters are in the original's state_dict.
struct NodeKeys {
    /// State-dict key prefix of the convolution (`layer1.0.conv1.0`, `conv1`).
    conv: String,
    /// Prefix of its batch norm, when one follows.
    bn: Option<String>,
}

/// The original's batch norm after a node of the built-in graph.
fn bn_prefix(node: &str) -> Option<String> {
    match node {
        "conv1" => return Some("bn1".into()),
        "fc" => return Some("bn2".into()),
        _ => {}
    }
    let (block, conv) = node.rsplit_once(".conv")?;
    if let Some(k) = conv.strip_suffix(".1") {
        return Some(format!("{block}.bn{k}"));
    }
    None
}

fn node_keys(graph: &Graph) -> Vec<Option<NodeKeys>> {
    graph
        .nodes
        .iter()
        .map(|n| {
            let Op::Conv { output, .. } = &n.op else {
                return None;
            };
            let bn = match output {
                ConvOutput::Handoff | ConvOutput::Round => None,
                ConvOutput::Post { .. } | ConvOutput::Logits => {
                    match n.name.strip_suffix(".downsample.1") {
                        Some(block) => Some(format!("{block}.downsample.2")),
                        None => bn_prefix(&n.name),
                    }
                }
            };
            Some(NodeKeys {
                conv: n.name.clone(),
                bn,
            })
        })
        .collect()
}

/// Reads and imports a checkpoint.
pub fn import_seed(
    path: &Path,
    opts: &ImportOptions,
) -> Result<(Model, ImportReport), ImportError> {
    let file = torch_file::read_torch_file(path, shiftadd_sim::files::MAX_MODEL_BYTES)?;
    import_file(&file, opts)
}

/// Imports a read checkpoint.
pub fn import_file(
    file: &TorchFile,
    opts: &ImportOptions,
) -> Result<(Model, ImportReport), ImportError> {
    let fail = |field: &str, what: String| ImportError {
        file: file.file.clone(),
        field: field.into(),
        what,
    };
    if !ARCHS.iter().any(|(a, _)| *a == opts.arch) {
        return Err(fail(
            "--arch",
            format!(
                "`{}` cannot be imported; importable: {}",
                opts.arch,
                ARCHS
                    .iter()
                    .map(|(a, o)| format!("{a} (the original's {o})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let graph =
        shiftadd_sim::archs::lookup(&opts.arch).map_err(|e| fail("--arch", e.to_string()))?;
    let infos = graph.analyse().map_err(|e| fail("--arch", e.to_string()))?;
    let f = opts.cfg.formats;
    // The original's numerics are `seed`'s; only the adder grid differs between its scripts.
    let (fix8, fix16) = (presets::seed().formats, presets::seed_fix16().formats);
    if f != fix8 && f != fix16 {
        return Err(fail(
            "--preset",
            format!(
                "`{}` has formats other than the original's (those of `seed`, with the adder grid of FIX8 or FIX16: `seed` or `seed-fix16`)",
                opts.cfg.name
            ),
        ));
    }

    // The state_dict: bare, or under 'state_dict'.
    let root = file.root.dict().ok_or_else(|| {
        fail(
            "(checkpoint)",
            format!(
                "is {}, not a dict (a state_dict or a checkpoint)",
                file.root.kind()
            ),
        )
    })?;
    let entry = |name: &str| {
        root.iter()
            .find(|(k, _)| k.str() == Some(name))
            .map(|(_, v)| v.clone())
    };
    let (sd, wrapped) = match entry("state_dict") {
        Some(v) => (
            v.dict()
                .ok_or_else(|| fail("state_dict", format!("is {}, not a dict", v.kind())))?,
            true,
        ),
        None => (root.clone(), false),
    };
    let epoch = entry("epoch")
        .and_then(|v| v.int())
        .and_then(|i| i64::try_from(i).ok());
    let best_prec1 = entry("best_prec1").and_then(|v| v.number());

    // Keys: str, unique, `module.` removed, `*.weight` of adder layers renamed.
    let mut raw: Vec<(String, Value)> = Vec::with_capacity(sd.len());
    for (k, v) in sd {
        let k = k.str().ok_or_else(|| {
            fail(
                "state_dict",
                format!("has a key that is {}, not a str", k.kind()),
            )
        })?;
        raw.push((k.to_string(), v));
    }
    let module_prefix = !raw.is_empty() && raw.iter().all(|(k, _)| k.starts_with("module."));
    let adder_nodes: BTreeSet<String> = graph
        .nodes
        .iter()
        .filter(|n| {
            matches!(
                n.op,
                Op::Conv {
                    kind: ConvKind::Adder,
                    ..
                }
            )
        })
        .map(|n| n.name.clone())
        .collect();
    let mut tensors: BTreeMap<String, TensorRef> = BTreeMap::new();
    // The key as the file has it, for errors about a renamed one.
    let mut raw_key: BTreeMap<String, String> = BTreeMap::new();
    let mut weight_names = 0;
    for (key, v) in raw {
        let mut name = if module_prefix {
            key["module.".len()..].to_string()
        } else {
            key.clone()
        };
        if let Some(node) = name.strip_suffix(".weight") {
            if adder_nodes.contains(node) {
                name = format!("{node}.adder");
                weight_names += 1;
            }
        }
        let Value::Tensor(t) = v else {
            return Err(fail(&key, format!("is {}, not a tensor", v.kind())));
        };
        if tensors.insert(name.clone(), (*t).clone()).is_some() {
            return Err(fail(&key, format!("a second entry for `{name}`")));
        }
        raw_key.insert(name, key);
    }
    // A key as the file has it (a missing one as it would have it).
    let prefixed = |k: &str| match raw_key.get(k) {
        Some(raw) => raw.clone(),
        None if module_prefix => format!("module.{k}"),
        None => k.to_string(),
    };

    // Which keys the architecture has, and their shapes.
    let keys = node_keys(&graph);
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut quant_keys: Vec<String> = Vec::new();
    for ((node, info), nk) in graph.nodes.iter().zip(&infos).zip(&keys) {
        let (
            Op::Conv {
                kind,
                out_channels,
                kernel,
                ..
            },
            Some(nk),
        ) = (&node.op, nk)
        else {
            continue;
        };
        let shape = vec![
            *out_channels as u64,
            info.in_shape[0] as u64,
            kernel[0] as u64,
            kernel[1] as u64,
        ];
        match kind {
            ConvKind::Shift => {
                expected.insert(format!("{}.shift", nk.conv), shape.clone());
                expected.insert(format!("{}.sign", nk.conv), shape);
            }
            ConvKind::Adder => {
                expected.insert(format!("{}.adder", nk.conv), shape);
                for b in ["running_zero_point", "running_range"] {
                    quant_keys.push(format!("{}.quantize_input_fw.{b}", nk.conv));
                }
            }
            ConvKind::Mult => {
                return Err(fail(
                    "--arch",
                    format!(
                        "node `{}` is a multiply layer, which the original's ShiftAddNet has not",
                        node.name
                    ),
                ))
            }
        }
        if let Some(bn) = &nk.bn {
            for p in ["weight", "bias", "running_mean", "running_var"] {
                expected.insert(format!("{bn}.{p}"), vec![*out_channels as u64]);
            }
            expected.insert(format!("{bn}.num_batches_tracked"), vec![]);
        }
    }
    // Adder quantisation buffers: all present (FIX) or all absent (FP32).
    let present: Vec<&String> = quant_keys
        .iter()
        .filter(|k| tensors.contains_key(*k))
        .collect();
    let quantised = !present.is_empty();
    if quantised && present.len() != quant_keys.len() {
        let missing = quant_keys
            .iter()
            .find(|k| !tensors.contains_key(*k))
            .expect("one missing");
        return Err(fail(
            &prefixed(missing),
            "missing, while other adder layers have their quantisation buffers".into(),
        ));
    }
    if let Some(unknown) = tensors
        .keys()
        .find(|k| !(expected.contains_key(*k) || quantised && quant_keys.contains(k)))
    {
        return Err(fail(
            &prefixed(unknown),
            format!(
                "unknown: not a key of the original's {} ({} keys expected)",
                ARCHS[0].1,
                expected.len() + if quantised { quant_keys.len() } else { 0 }
            ),
        ));
    }
    if let Some(missing) = expected.keys().find(|k| !tensors.contains_key(*k)) {
        return Err(fail(
            &prefixed(missing),
            "missing from the state_dict".into(),
        ));
    }
    for (k, shape) in &expected {
        let t = &tensors[k];
        if &t.shape != shape {
            return Err(fail(
                &prefixed(k),
                format!(
                    "has shape {:?}, the architecture needs {:?}",
                    t.shape, shape
                ),
            ));
        }
        let want_int = k.ends_with("num_batches_tracked");
        let ok = if want_int {
            t.storage.dtype == DType::I64
        } else {
            matches!(t.storage.dtype, DType::F32 | DType::F64)
        };
        if !ok {
            return Err(fail(
                &prefixed(k),
                format!(
                    "is {}, expected {}",
                    t.storage.dtype.name(),
                    if want_int {
                        "int64"
                    } else {
                        "float32 (or float64)"
                    }
                ),
            ));
        }
    }
    let values = |k: &str| -> Result<Vec<f64>, ImportError> {
        let v = file.values(&tensors[k], &prefixed(k))?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(fail(&prefixed(k), format!("element {i} is {}", v[i])));
        }
        Ok(v)
    };
    // sbm quantisation (the CIFAR-100 scripts) trains these buffers; wageubn never touches them.
    if quantised {
        for k in &quant_keys {
            let t = &tensors[k];
            if !matches!(t.storage.dtype, DType::F32 | DType::F64) {
                return Err(fail(
                    &prefixed(k),
                    format!("is {}, expected float32", t.storage.dtype.name()),
                ));
            }
            if let Some(x) = values(k)?.into_iter().find(|x| *x != 0.0) {
                return Err(fail(
                    &prefixed(k),
                    format!(
                        "is {x}, not 0: the adder layers were trained with sbm quantisation (per-channel scales and offsets), which integer codes on one grid cannot represent; only the wageubn checkpoints (the CIFAR-10 FIX8 and FIX16 scripts) can be imported"
                    ),
                ));
            }
        }
    } else if let (false, Some(first)) = (opts.allow_rounding, quant_keys.first()) {
        return Err(fail(
            &prefixed(first),
            format!(
                "missing, as in every adder layer: an FP32 checkpoint, whose float adder no integer grid reproduces exactly; import it with --allow-rounding to put its adder weights on the 2^-{} grid of `{}` anyway (the error is reported)",
                f.add_frac, opts.cfg.name
            ),
        ));
    }

    // Parameters.
    let pmax = f.pmax();
    let (mut shifts_rounded, mut signs_rounded) = (0u64, 0u64);
    let mut rounding = Rounding {
        mean_lsb: 0.0,
        max_lsb: 0.0,
        weights: 0,
    };
    let mut params = Vec::with_capacity(graph.nodes.len());
    for (node, nk) in graph.nodes.iter().zip(&keys) {
        let (Op::Conv { kind, .. }, Some(nk)) = (&node.op, nk) else {
            params.push(None);
            continue;
        };
        let weights = match kind {
            ConvKind::Shift => {
                let p = values(&format!("{}.shift", nk.conv))?;
                let s = values(&format!("{}.sign", nk.conv))?;
                let mut sign = Vec::with_capacity(p.len());
                let mut m = Vec::with_capacity(p.len());
                for (&p, &s) in p.iter().zip(&s) {
                    shifts_rounded += (p.fract() != 0.0 || p > 0.0 || p < -(pmax as f64)) as u64;
                    signs_rounded += !(s == -1.0 || s == 0.0 || s == 1.0) as u64;
                    let d = decode_shift_weight(p as f32, s as f32, pmax);
                    sign.push(d.s);
                    m.push(d.m);
                }
                Weights::Shift { sign, m }
            }
            ConvKind::Adder => {
                let key = format!("{}.adder", nk.conv);
                let w = values(&key)?;
                let mut codes = Vec::with_capacity(w.len());
                let step = (f.add_frac as f64).exp2();
                for (i, &x) in w.iter().enumerate() {
                    let (code, saturated) = adder_code_from_f32(x as f32, f.add_bits, f.add_frac);
                    if saturated {
                        return Err(fail(
                            &prefixed(&key),
                            format!(
                                "element {i} = {x} is outside the {}-bit adder codes of `{}`",
                                f.add_bits, opts.cfg.name
                            ),
                        ));
                    }
                    let err = (code as f64 - x as f32 as f64 * step).abs();
                    rounding.mean_lsb += err;
                    rounding.max_lsb = rounding.max_lsb.max(err);
                    rounding.weights += 1;
                    codes.push(code);
                }
                Weights::Adder { codes }
            }
            ConvKind::Mult => unreachable!("refused above"),
        };
        let post = match &nk.bn {
            None => None,
            Some(bn) => {
                let g = values(&format!("{bn}.weight"))?;
                let b = values(&format!("{bn}.bias"))?;
                let mean = values(&format!("{bn}.running_mean"))?;
                let var = values(&format!("{bn}.running_var"))?;
                if let Some(i) = var.iter().position(|v| *v < 0.0) {
                    return Err(fail(
                        &prefixed(&format!("{bn}.running_var")),
                        format!("element {i} = {} is negative", var[i]),
                    ));
                }
                let a: Vec<f64> = g
                    .iter()
                    .zip(&var)
                    .map(|(g, v)| g / (v + crate::net::BN_EPS).sqrt())
                    .collect();
                let off: Vec<f64> = b
                    .iter()
                    .zip(&a)
                    .zip(&mean)
                    .map(|((b, a), m)| b - a * m)
                    .collect();
                let f_v = Graph::f_v(*kind, &f, 0);
                let pp: PostParams = fold_batch_norm(&a, &off, f_v, &opts.cfg, opts.cfg.post_s_max)
                    .map_err(|e| fail(&prefixed(bn), e))?;
                Some(pp)
            }
        };
        params.push(Some(ConvParams { weights, post }));
    }
    if rounding.weights > 0 {
        rounding.mean_lsb /= rounding.weights as f64;
    }
    let norm = opts.norm.clone().unwrap_or(InputNorm {
        mean: CIFAR10_MEAN.to_vec(),
        std: CIFAR10_STD.to_vec(),
    });
    let model = Model {
        graph,
        formats: f,
        norm,
        params,
    };
    model
        .check_params()
        .map_err(|e| fail(&e.layer, e.to_string()))?;
    model
        .check_capability(&opts.cfg)
        .map_err(|e| fail(&e.layer, e.to_string()))?;
    let mut locations: Vec<String> = tensors
        .values()
        .map(|t| t.storage.location.clone())
        .collect();
    locations.sort();
    locations.dedup();
    Ok((
        model,
        ImportReport {
            format: file.format,
            wrapped,
            epoch,
            best_prec1,
            keys: tensors.len(),
            module_prefix,
            weight_names,
            locations,
            seed_config: if quantised { "FIX" } else { "FP32" },
            shifts_rounded,
            signs_rounded,
            rounding: (!quantised).then_some(rounding),
        },
    ))
}
