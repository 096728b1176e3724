//! Float checkpoints: every parameter tensor and the batch-norm running statistics of a trained
//! network, so that it can be exported again at other formats without retraining.

use crate::net::{Layer, Net};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use shiftadd_sim::spec::Formats;
use std::collections::HashMap;
use std::path::Path;

/// File name of the float checkpoint inside a model folder.
pub const FLOAT_FILE_NAME: &str = "float.safetensors";

fn tensors(net: &Net) -> Vec<(String, Vec<f32>)> {
    let mut out: Vec<(String, Vec<f32>)> = net
        .params
        .iter()
        .map(|p| (p.name.clone(), p.data.clone()))
        .collect();
    for (node, layer) in net.graph.nodes.iter().zip(&net.layers) {
        if let Layer::Conv(c) = layer {
            if let Some(bn) = &c.bn {
                out.push((format!("{}.bn.running_mean", node.name), bn.mean.clone()));
                out.push((format!("{}.bn.running_var", node.name), bn.var.clone()));
            }
        }
    }
    out
}

/// Writes the float checkpoint of `net` (metadata: the architecture and training formats).
pub fn save(net: &Net, path: &Path) -> Result<(), String> {
    let named = tensors(net);
    let bytes: Vec<(String, Vec<u8>, usize)> = named
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                v.len(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, b, len)| {
            TensorView::new(Dtype::F32, vec![*len], b)
                .map(|v| (n.clone(), v))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut meta = HashMap::new();
    meta.insert("arch".to_string(), net.graph.arch.clone());
    meta.insert(
        "formats".to_string(),
        serde_json::to_string(&net.formats).map_err(|e| e.to_string())?,
    );
    let out = safetensors::tensor::serialize(views, Some(meta)).map_err(|e| e.to_string())?;
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads a float checkpoint into a fresh network of its architecture.
pub fn load(path: &Path) -> Result<Net, String> {
    let at = |what: String| format!("{}: {what}", path.display());
    let raw = std::fs::read(path).map_err(|e| at(format!("cannot read: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&raw).map_err(|e| at(e.to_string()))?;
    let info = meta.metadata().clone().unwrap_or_default();
    let arch = info
        .get("arch")
        .ok_or_else(|| at("metadata field `arch` missing".into()))?;
    let formats: Formats = serde_json::from_str(
        info.get("formats")
            .ok_or_else(|| at("metadata field `formats` missing".into()))?,
    )
    .map_err(|e| at(format!("metadata field `formats`: {e}")))?;
    let graph = shiftadd_sim::archs::by_name(arch)
        .ok_or_else(|| at(format!("unknown architecture `{arch}`")))?;
    let mut net = Net::new(&graph, formats, 0)?;
    let st = SafeTensors::deserialize(&raw).map_err(|e| at(e.to_string()))?;
    let get = |name: &str, len: usize| -> Result<Vec<f32>, String> {
        let t = st
            .tensor(name)
            .map_err(|_| at(format!("tensor `{name}` missing")))?;
        if t.dtype() != Dtype::F32 || t.shape() != [len] {
            return Err(at(format!("tensor `{name}`: expected f32 [{len}]")));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    for k in 0..net.params.len() {
        let (name, len) = (net.params[k].name.clone(), net.params[k].data.len());
        net.params[k].data = get(&name, len)?;
    }
    for idx in 0..net.layers.len() {
        let name = net.graph.nodes[idx].name.clone();
        if let Layer::Conv(c) = &mut net.layers[idx] {
            if let Some(bn) = &mut c.bn {
                bn.mean = get(&format!("{name}.bn.running_mean"), bn.mean.len())?;
                bn.var = get(&format!("{name}.bn.running_var"), bn.var.len())?;
            }
        }
    }
    Ok(net)
}
