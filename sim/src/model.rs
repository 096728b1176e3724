//! The model file: one safetensors file holding the integer tensors, with the JSON metadata
//! (architecture graph, formats, per-layer parameters, input normalisation) under the header's
//! `__metadata__["shiftadd"]` key. The README documents the format.
//!
//! Tensors, for a convolution node `NAME` of shape `[cout, cin, kh, kw]`:
//! `NAME.sign` (I8) and `NAME.m` (U8) for shift layers, `NAME.codes` (I32) for adder and multiply
//! layers (I64 for adder layers when `add_bits` is above 32), and `NAME.post_m`, `NAME.post_b` (I64, `[cout]`) where the output is post-processed.

use crate::net::{ConvOutput, ConvParams, Graph, InputNorm, Model, Op, PostParams, Weights};
use crate::spec::Formats;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// File name looked up when a model path is a folder.
pub const MODEL_FILE_NAME: &str = "model.safetensors";
/// Header metadata key holding the JSON metadata.
pub const METADATA_KEY: &str = "shiftadd";
/// Value of the metadata's `format` field.
pub const FORMAT_NAME: &str = "shiftadd-model";
/// Supported metadata version.
pub const FORMAT_VERSION: u32 = 1;

/// The JSON metadata of a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    /// Always `shiftadd-model`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Number formats of every tensor.
    pub formats: Formats,
    /// Input normalisation.
    pub input_norm: InputNorm,
    /// The network graph (its `arch` names a built-in architecture or a user's own).
    pub graph: Graph,
    /// Scalar parameters per convolution node, in node order.
    pub layers: Vec<LayerMeta>,
    /// Free-form provenance (training run, data, accuracy); not interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
}

/// Scalar parameters of one convolution node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerMeta {
    /// Node name.
    pub name: String,
    /// Post-processing shift `S` (when the output is post-processed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_s: Option<u32>,
    /// Fractional bits of multiply weight codes (multiply layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mul_frac: Option<u32>,
}

/// A model file that cannot be read, naming the file and the field.
#[derive(Debug, Error)]
#[error("model file `{}`: field `{field}`: {what}", file.display())]
pub struct ModelFileError {
    /// The file.
    pub file: PathBuf,
    /// The field (metadata path or tensor name).
    pub field: String,
    /// What is wrong.
    pub what: String,
}

/// Resolves a model path: a file, or a folder holding `model.safetensors`.
pub fn resolve_model_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MODEL_FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Reads a model file (or a folder holding one) and checks it completely.
pub fn load_model(path: &Path) -> Result<Model, ModelFileError> {
    let file = resolve_model_path(path);
    let bytes =
        crate::files::read_bounded(&file, crate::files::MAX_MODEL_BYTES).map_err(|what| {
            ModelFileError {
                file: file.clone(),
                field: "(file)".into(),
                what,
            }
        })?;
    parse_model(&bytes, &file)
}

/// Parses model file bytes; `file` only names the source in errors.
pub fn parse_model(bytes: &[u8], file: &Path) -> Result<Model, ModelFileError> {
    let fail = |field: &str, what: String| ModelFileError {
        file: file.to_path_buf(),
        field: field.into(),
        what,
    };
    // An error about one tensor's place in the file names that tensor as its field.
    let header_error = |e: safetensors::SafeTensorError| match &e {
        safetensors::SafeTensorError::InvalidOffset(name) => fail(name, e.to_string()),
        _ => fail("(safetensors header)", e.to_string()),
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(header_error)?;
    let st = SafeTensors::deserialize(bytes).map_err(header_error)?;
    let meta_text = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| {
            fail(
                &format!("__metadata__.{METADATA_KEY}"),
                "missing: not a shiftadd model file".into(),
            )
        })?;
    let meta: ModelMeta = crate::files::parse_json_strict(meta_text)
        .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
        .map_err(|e| fail(&format!("__metadata__.{METADATA_KEY}"), e))?;
    if meta.format != FORMAT_NAME {
        return Err(fail(
            "format",
            format!("is `{}`, expected `{FORMAT_NAME}`", meta.format),
        ));
    }
    if meta.version != FORMAT_VERSION {
        return Err(fail(
            "version",
            format!(
                "is {}, this build reads version {FORMAT_VERSION}",
                meta.version
            ),
        ));
    }
    crate::spec::validate_formats("model", &meta.formats)
        .map_err(|e| fail("formats", e.to_string()))?;
    let infos = meta
        .graph
        .analyse()
        .map_err(|e| fail(&format!("graph.nodes[{}]", e.node), e.what))?;

    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut params = Vec::with_capacity(meta.graph.nodes.len());
    let mut layer_iter = meta.layers.iter();
    for (node, info) in meta.graph.nodes.iter().zip(&infos) {
        let Op::Conv { kind, output, .. } = &node.op else {
            params.push(None);
            continue;
        };
        let lm = layer_iter.next().ok_or_else(|| {
            fail(
                "layers",
                format!("no entry for convolution `{}`", node.name),
            )
        })?;
        if lm.name != node.name {
            return Err(fail(
                "layers",
                format!(
                    "entry `{}` found where convolution `{}` was expected (node order)",
                    lm.name, node.name
                ),
            ));
        }
        let g = info.geom.expect("conv geometry");
        let wshape = [g.cout, g.cin, g.kh, g.kw];
        let name = &node.name;
        let mut tensor =
            |suffix: &str, dtype: Dtype, shape: &[usize]| -> Result<Vec<u8>, ModelFileError> {
                let key = format!("{name}.{suffix}");
                expected.insert(key.clone());
                let view = st
                    .tensor(&key)
                    .map_err(|_| fail(&key, "missing tensor".into()))?;
                if view.dtype() != dtype {
                    return Err(fail(
                        &key,
                        format!("dtype {:?}, expected {dtype:?}", view.dtype()),
                    ));
                }
                if view.shape() != shape {
                    return Err(fail(
                        &key,
                        format!("shape {:?}, expected {shape:?}", view.shape()),
                    ));
                }
                Ok(view.data().to_vec())
            };
        let weights = match kind {
            crate::net::ConvKind::Shift => Weights::Shift {
                sign: tensor("sign", Dtype::I8, &wshape)?
                    .into_iter()
                    .map(|b| b as i8)
                    .collect(),
                m: tensor("m", Dtype::U8, &wshape)?,
            },
            crate::net::ConvKind::Adder => Weights::Adder {
                codes: if adder_codes_wide(&meta.formats) {
                    le_i64(&tensor("codes", Dtype::I64, &wshape)?)
                } else {
                    le_i32(&tensor("codes", Dtype::I32, &wshape)?)
                        .into_iter()
                        .map(i64::from)
                        .collect()
                },
            },
            crate::net::ConvKind::Mult => Weights::Mult {
                codes: le_i32(&tensor("codes", Dtype::I32, &wshape)?),
                frac: lm.mul_frac.ok_or_else(|| {
                    fail(
                        &format!("layers[{name}].mul_frac"),
                        "missing for a multiply layer".into(),
                    )
                })?,
            },
        };
        if *kind != crate::net::ConvKind::Mult && lm.mul_frac.is_some() {
            return Err(fail(
                &format!("layers[{name}].mul_frac"),
                "given for a layer that does not multiply".into(),
            ));
        }
        let post = if matches!(output, ConvOutput::Post { .. } | ConvOutput::Logits) {
            Some(PostParams {
                m: le_i64(&tensor("post_m", Dtype::I64, &[g.cout])?),
                b: le_i64(&tensor("post_b", Dtype::I64, &[g.cout])?),
                s: lm.post_s.ok_or_else(|| {
                    fail(
                        &format!("layers[{name}].post_s"),
                        "missing for a post-processed layer".into(),
                    )
                })?,
            })
        } else {
            if lm.post_s.is_some() {
                return Err(fail(
                    &format!("layers[{name}].post_s"),
                    "given for a layer without post-processing".into(),
                ));
            }
            None
        };
        params.push(Some(ConvParams { weights, post }));
    }
    if let Some(extra) = layer_iter.next() {
        return Err(fail(
            "layers",
            format!("entry `{}` matches no convolution", extra.name),
        ));
    }
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    if let Some(extra) = names.iter().find(|n| !expected.contains(*n)) {
        return Err(fail(extra, "tensor not used by any layer".into()));
    }
    let model = Model {
        graph: meta.graph,
        formats: meta.formats,
        norm: meta.input_norm,
        params,
    };
    model
        .check_params()
        .map_err(|e| fail(&format!("{}.{}", e.layer, e.field), e.what))?;
    Ok(model)
}

/// Whether adder weight codes are stored as I64 (`add_bits` above 32) rather than I32.
fn adder_codes_wide(f: &Formats) -> bool {
    f.add_bits > 32
}

fn le_i32(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

fn le_i64(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// The metadata of a model.
pub fn model_meta(model: &Model, provenance: Option<serde_json::Value>) -> ModelMeta {
    let layers = model
        .graph
        .nodes
        .iter()
        .zip(&model.params)
        .filter_map(|(n, p)| {
            let p = p.as_ref()?;
            Some(LayerMeta {
                name: n.name.clone(),
                post_s: p.post.as_ref().map(|pp| pp.s),
                mul_frac: match &p.weights {
                    Weights::Mult { frac, .. } => Some(*frac),
                    _ => None,
                },
            })
        })
        .collect();
    ModelMeta {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        formats: model.formats,
        input_norm: model.norm.clone(),
        graph: model.graph.clone(),
        layers,
        provenance,
    }
}

/// Serialises a model (deterministic byte for byte).
pub fn model_bytes(
    model: &Model,
    provenance: Option<serde_json::Value>,
) -> Result<Vec<u8>, String> {
    model.check_params().map_err(|e| e.to_string())?;
    let meta = serde_json::to_string(&model_meta(model, provenance)).map_err(|e| e.to_string())?;
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let infos = model.graph.analyse().map_err(|e| e.to_string())?;
    for ((node, info), p) in model.graph.nodes.iter().zip(&infos).zip(&model.params) {
        let Some(p) = p else { continue };
        let g = info.geom.expect("conv geometry");
        let wshape = vec![g.cout, g.cin, g.kh, g.kw];
        let name = &node.name;
        match &p.weights {
            Weights::Shift { sign, m } => {
                buffers.push((
                    format!("{name}.sign"),
                    Dtype::I8,
                    wshape.clone(),
                    sign.iter().map(|s| *s as u8).collect(),
                ));
                buffers.push((format!("{name}.m"), Dtype::U8, wshape, m.clone()));
            }
            Weights::Adder { codes } if adder_codes_wide(&model.formats) => {
                buffers.push((
                    format!("{name}.codes"),
                    Dtype::I64,
                    wshape,
                    codes.iter().flat_map(|c| c.to_le_bytes()).collect(),
                ));
            }
            // Checked codes of at most 32 bits.
            Weights::Adder { codes } => {
                buffers.push((
                    format!("{name}.codes"),
                    Dtype::I32,
                    wshape,
                    codes
                        .iter()
                        .flat_map(|c| (*c as i32).to_le_bytes())
                        .collect(),
                ));
            }
            Weights::Mult { codes, .. } => {
                buffers.push((
                    format!("{name}.codes"),
                    Dtype::I32,
                    wshape,
                    codes.iter().flat_map(|c| c.to_le_bytes()).collect(),
                ));
            }
        }
        if let Some(pp) = &p.post {
            buffers.push((
                format!("{name}.post_m"),
                Dtype::I64,
                vec![g.cout],
                pp.m.iter().flat_map(|c| c.to_le_bytes()).collect(),
            ));
            buffers.push((
                format!("{name}.post_b"),
                Dtype::I64,
                vec![g.cout],
                pp.b.iter().flat_map(|c| c.to_le_bytes()).collect(),
            ));
        }
    }
    let views: Vec<(String, TensorView)> = buffers
        .iter()
        .map(|(n, d, s, b)| {
            Ok((
                n.clone(),
                TensorView::new(*d, s.clone(), b).map_err(|e| e.to_string())?,
            ))
        })
        .collect::<Result<_, String>>()?;
    let mut info = HashMap::new();
    info.insert(METADATA_KEY.to_string(), meta);
    safetensors::tensor::serialize(views, Some(info)).map_err(|e| e.to_string())
}

/// Writes a model file.
pub fn save_model(
    model: &Model,
    path: &Path,
    provenance: Option<serde_json::Value>,
) -> Result<(), String> {
    let bytes = model_bytes(model, provenance)?;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
