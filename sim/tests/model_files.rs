//! Model files: a round trip, and one refusal per class of malformation, each naming the field.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::Value;
use shiftadd_sim::model::{model_bytes, parse_model, METADATA_KEY};
use shiftadd_sim::net::{Model, Weights};
use shiftadd_sim::spec::presets;
use shiftadd_sim::{archs, random};
use std::collections::HashMap;
use std::path::Path;

type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

fn sample() -> Model {
    random::random_model(
        &archs::by_name("lenet-shiftadd").unwrap(),
        &presets::seed(),
        3,
    )
    .unwrap()
}

/// The metadata JSON and the tensors of a valid file.
fn parts(model: &Model) -> (Value, Tensors) {
    let bytes = model_bytes(model, None).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta: Value =
        serde_json::from_str(&header.metadata().as_ref().unwrap()[METADATA_KEY]).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                v.dtype(),
                v.shape().to_vec(),
                v.data().to_vec(),
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    (meta, tensors)
}

fn assemble(meta: &Value, tensors: &Tensors) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let mut info = HashMap::new();
    info.insert(METADATA_KEY.to_string(), meta.to_string());
    safetensors::tensor::serialize(views, Some(info)).unwrap()
}

/// Parses and expects a refusal whose message names `field`.
fn refused(bytes: &[u8], field: &str) -> String {
    let err = parse_model(bytes, Path::new("m.safetensors"))
        .expect_err("a malformed file must be refused");
    let msg = err.to_string();
    assert!(
        err.field.contains(field),
        "error field `{}` does not name `{field}`: {msg}",
        err.field
    );
    assert!(
        msg.contains("m.safetensors"),
        "error does not name the file: {msg}"
    );
    msg
}

fn tensor_mut<'a>(t: &'a mut Tensors, name: &str) -> &'a mut (String, Dtype, Vec<usize>, Vec<u8>) {
    t.iter_mut()
        .find(|x| x.0 == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

#[test]
fn round_trip_is_exact_and_deterministic() {
    for name in archs::names() {
        let m =
            random::random_model(&archs::by_name(&name).unwrap(), &presets::seed(), 11).unwrap();
        let a = model_bytes(&m, None).unwrap();
        let b = model_bytes(&m, None).unwrap();
        assert_eq!(a, b, "{name}: serialisation is not deterministic");
        let back = parse_model(&a, Path::new("x")).unwrap();
        assert_eq!(back, m, "{name}: round trip changed the model");
    }
}

#[test]
fn wide_adder_codes_are_stored_as_i64() {
    // `seed-fix16`'s 43-bit adder codes: a weight beyond 32 bits survives the round trip, and
    // the file holds I64 codes (I32 where `add_bits` is 32).
    let mut m = random::random_model(
        &archs::by_name("lenet-shiftadd").unwrap(),
        &presets::seed_fix16(),
        5,
    )
    .unwrap();
    let i = m
        .graph
        .nodes
        .iter()
        .position(|n| n.name == "conv2.1")
        .unwrap();
    let codes = codes_of(&mut m, i);
    codes[0] = -(1 << 42);
    codes[1] = (1 << 42) - 1;
    let bytes = model_bytes(&m, None).unwrap();
    assert_eq!(parse_model(&bytes, Path::new("x")).unwrap(), m);
    let (_, t) = parts(&m);
    assert_eq!(tensor_ref(&t, "conv2.1.codes").1, Dtype::I64);
    let (_, t) = parts(&sample());
    assert_eq!(tensor_ref(&t, "conv2.1.codes").1, Dtype::I32);
    // A code past 43 bits is refused by name.
    codes_of(&mut m, i)[0] = 1 << 42;
    let e = model_bytes(&m, None).unwrap_err();
    assert!(e.contains("conv2.1") && e.contains("43-bit"), "{e}");
}

fn codes_of(m: &mut Model, i: usize) -> &mut Vec<i64> {
    match &mut m.params[i].as_mut().unwrap().weights {
        Weights::Adder { codes } => codes,
        _ => panic!("an adder layer"),
    }
}

fn tensor_ref<'a>(t: &'a Tensors, name: &str) -> &'a (String, Dtype, Vec<usize>, Vec<u8>) {
    t.iter().find(|x| x.0 == name).unwrap()
}

#[test]
fn not_safetensors() {
    refused(b"not a model", "safetensors header");
    refused(&[], "safetensors header");
}

#[test]
fn a_tensor_at_a_wrong_offset_is_named() {
    let mut bytes = model_bytes(&sample(), None).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    // Move the tensor stored first to start one byte late (the header keeps its length).
    let at = header
        .find("\"data_offsets\":[0,")
        .expect("a tensor at offset 0");
    let name_end = header[..at].rfind("\":{").unwrap();
    let name_start = header[..name_end].rfind('"').unwrap() + 1;
    let name = header[name_start..name_end].to_string();
    let digit = 8 + at + "\"data_offsets\":[".len();
    bytes[digit] = b'1';
    let msg = refused(&bytes, &name);
    assert!(msg.contains(&name) && msg.contains("offset"), "{msg}");
}

#[test]
fn truncated_file() {
    let bytes = model_bytes(&sample(), None).unwrap();
    refused(&bytes[..bytes.len() - 10], "safetensors header");
}

#[test]
fn missing_metadata() {
    let (_, tensors) = parts(&sample());
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::tensor::serialize(views, None).unwrap();
    refused(&bytes, "__metadata__.shiftadd");
}

#[test]
fn metadata_not_json_or_unknown_field_or_missing_field() {
    let (meta, tensors) = parts(&sample());
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let mut info = HashMap::new();
    info.insert(METADATA_KEY.to_string(), "{not json".to_string());
    refused(
        &safetensors::tensor::serialize(views, Some(info)).unwrap(),
        "__metadata__.shiftadd",
    );

    let mut extra = meta.clone();
    extra["surprise"] = Value::from(1);
    let msg = refused(&assemble(&extra, &tensors), "__metadata__.shiftadd");
    assert!(msg.contains("surprise"), "{msg}");

    let mut missing = meta.clone();
    missing.as_object_mut().unwrap().remove("formats");
    let msg = refused(&assemble(&missing, &tensors), "__metadata__.shiftadd");
    assert!(msg.contains("formats"), "{msg}");
}

#[test]
fn wrong_format_name_or_version() {
    let (meta, tensors) = parts(&sample());
    let mut m = meta.clone();
    m["format"] = Value::from("other");
    refused(&assemble(&m, &tensors), "format");
    let mut m = meta.clone();
    m["version"] = Value::from(99);
    refused(&assemble(&m, &tensors), "version");
}

#[test]
fn formats_out_of_range() {
    let (mut meta, tensors) = parts(&sample());
    meta["formats"]["shift_wb"] = Value::from(9);
    let msg = refused(&assemble(&meta, &tensors), "formats");
    assert!(msg.contains("shift_wb"), "{msg}");
}

#[test]
fn graph_reads_unknown_node() {
    let (mut meta, tensors) = parts(&sample());
    meta["graph"]["nodes"][1]["input"] = Value::from("nowhere");
    let msg = refused(&assemble(&meta, &tensors), "graph.nodes[pool1]");
    assert!(msg.contains("nowhere"), "{msg}");
}

#[test]
fn graph_classes_disagree_with_logits() {
    let (mut meta, tensors) = parts(&sample());
    meta["graph"]["classes"] = Value::from(7);
    refused(&assemble(&meta, &tensors), "graph.nodes[fc2]");
}

#[test]
fn graph_kernel_larger_than_input() {
    let (mut meta, tensors) = parts(&sample());
    meta["graph"]["input"]["height"] = Value::from(3);
    refused(&assemble(&meta, &tensors), "graph.nodes[conv1]");
}

#[test]
fn missing_tensor() {
    let (meta, mut tensors) = parts(&sample());
    tensors.retain(|t| t.0 != "conv2.1.codes");
    refused(&assemble(&meta, &tensors), "conv2.1.codes");
}

#[test]
fn extra_tensor() {
    let (meta, mut tensors) = parts(&sample());
    tensors.push(("stray".into(), Dtype::I32, vec![1], vec![0; 4]));
    refused(&assemble(&meta, &tensors), "stray");
}

#[test]
fn wrong_dtype() {
    let (meta, mut tensors) = parts(&sample());
    let t = tensor_mut(&mut tensors, "conv1.m");
    t.1 = Dtype::I8;
    refused(&assemble(&meta, &tensors), "conv1.m");
}

#[test]
fn wrong_shape() {
    let (meta, mut tensors) = parts(&sample());
    let t = tensor_mut(&mut tensors, "fc2.post_m");
    t.2 = vec![5, 2];
    refused(&assemble(&meta, &tensors), "fc2.post_m");
}

#[test]
fn shift_exponent_above_pmax() {
    let (meta, mut tensors) = parts(&sample());
    tensor_mut(&mut tensors, "conv1.m").3[4] = 15;
    let msg = refused(&assemble(&meta, &tensors), "conv1.m");
    assert!(msg.contains("pmax = 14"), "{msg}");
}

#[test]
fn shift_sign_not_ternary() {
    let (meta, mut tensors) = parts(&sample());
    tensor_mut(&mut tensors, "conv2.0.sign").3[0] = 2;
    refused(&assemble(&meta, &tensors), "conv2.0.sign");
}

#[test]
fn adder_code_outside_format() {
    let mut model = sample();
    model.formats.add_bits = 8;
    // Re-quantise every adder weight into 8 bits so that the file is valid, then break one.
    for p in model.params.iter_mut().flatten() {
        if let shiftadd_sim::net::Weights::Adder { codes } = &mut p.weights {
            codes.iter_mut().for_each(|c| *c = (*c).clamp(-128, 127));
        }
    }
    let (meta, mut tensors) = parts(&model);
    tensor_mut(&mut tensors, "fc1.1.codes").3[0..4].copy_from_slice(&300i32.to_le_bytes());
    let msg = refused(&assemble(&meta, &tensors), "fc1.1.codes");
    assert!(msg.contains("8-bit"), "{msg}");
}

#[test]
fn layer_entries_out_of_order_or_missing_scalars() {
    let (meta, tensors) = parts(&sample());
    let mut m = meta.clone();
    m["layers"].as_array_mut().unwrap().swap(0, 1);
    refused(&assemble(&m, &tensors), "layers");

    let mut m = meta.clone();
    m["layers"][0].as_object_mut().unwrap().remove("post_s");
    refused(&assemble(&m, &tensors), "layers[conv1].post_s");

    let mut m = meta.clone();
    m["layers"].as_array_mut().unwrap().pop();
    refused(&assemble(&m, &tensors), "layers");
}

#[test]
fn post_shift_too_large() {
    let (mut meta, tensors) = parts(&sample());
    meta["layers"][0]["post_s"] = Value::from(100);
    refused(&assemble(&meta, &tensors), "conv1.post_s");
}

#[test]
fn input_norm_invalid() {
    let (mut meta, tensors) = parts(&sample());
    meta["input_norm"]["std"] = Value::from(vec![0.0]);
    refused(&assemble(&meta, &tensors), "input.input_norm");
    let (mut meta, tensors) = parts(&sample());
    meta["input_norm"]["mean"] = Value::from(vec![0.1, 0.2]);
    refused(&assemble(&meta, &tensors), "input.input_norm");
}
