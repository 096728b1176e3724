//! Layer test vectors (`shared/spec/vectors.md`): parsing with errors that name the field, and
//! evaluation through the reference layers.

use crate::layers::{self, ConvGeom, Post, Tensor};
use crate::numerics::fits;
use crate::spec::{acc_widths, validate_formats, Formats, MODEL_ACC_LIMIT};
use serde_json::{Map, Value};
use thiserror::Error;

/// A malformed vector, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("field `{field}`: {what}")]
pub struct VectorError {
    /// The field (a JSON path such as `weights.sign`).
    pub field: String,
    /// What is wrong.
    pub what: String,
}

fn verr(field: &str, what: impl Into<String>) -> VectorError {
    VectorError {
        field: field.into(),
        what: what.into(),
    }
}

/// Layer kind of a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorKind {
    /// Shift convolution.
    Shift,
    /// Adder convolution.
    Adder,
    /// Multiply convolution.
    Mult,
}

/// Optional post-processing of a vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorPost {
    /// `M_c`.
    pub m: Vec<i64>,
    /// `B_c`.
    pub b: Vec<i64>,
    /// `S`.
    pub s: u32,
    /// ReLU.
    pub relu: bool,
    /// Residual activation codes of the output shape.
    pub residual: Option<Vec<i32>>,
}

/// A parsed, checked layer vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerVector {
    /// Kind.
    pub kind: VectorKind,
    /// Geometry.
    pub geom: ConvGeom,
    /// Formats.
    pub formats: Formats,
    /// Fractional bits of multiply weights (multiply vectors).
    pub mul_frac: u32,
    /// Input codes (adder-grid codes may be wider than 32 bits).
    pub input: Vec<i64>,
    /// Shift signs (shift vectors).
    pub sign: Vec<i8>,
    /// Shift exponent magnitudes (shift vectors).
    pub m: Vec<u8>,
    /// Adder or multiply weight codes.
    pub codes: Vec<i64>,
    /// Post-processing.
    pub post: Option<VectorPost>,
    /// Hand-off onto the adder grid instead of post-processing.
    pub handoff_to_adder: bool,
}

/// The result of a vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorOutput {
    /// `[C_out, H_out, W_out]`.
    pub out_shape: [usize; 3],
    /// The raw layer value `v`.
    pub acc: Vec<i64>,
    /// Post-processed or handed-off codes, when asked for.
    pub out: Option<Vec<i64>>,
    /// How many of `out` saturated.
    pub saturated: u64,
}

fn obj<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, VectorError> {
    v.as_object()
        .ok_or_else(|| verr(field, "must be a JSON object"))
}

fn only_keys(o: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), VectorError> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            let path = if field.is_empty() {
                k.clone()
            } else {
                format!("{field}.{k}")
            };
            return Err(verr(
                &path,
                format!("unknown field (allowed here: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn req<'a>(o: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a Value, VectorError> {
    o.get(key).ok_or_else(|| verr(field, "missing"))
}

/// An integer given as a JSON number or a decimal string.
fn int(v: &Value, field: &str) -> Result<i64, VectorError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| verr(field, format!("{n} is not an integer in the 64-bit range"))),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            verr(
                field,
                format!("\"{s}\" is not a decimal integer in the 64-bit range"),
            )
        }),
        other => Err(verr(field, format!("expected an integer, found {other}"))),
    }
}

fn uint(v: &Value, field: &str, max: u64) -> Result<u64, VectorError> {
    let x = int(v, field)?;
    if x < 0 || x as u64 > max {
        return Err(verr(field, format!("{x} is outside 0..={max}")));
    }
    Ok(x as u64)
}

fn int_array(v: &Value, field: &str, len: usize) -> Result<Vec<i64>, VectorError> {
    let a = v
        .as_array()
        .ok_or_else(|| verr(field, "must be an array of integers"))?;
    if a.len() != len {
        return Err(verr(
            field,
            format!("has {} values, expected {len}", a.len()),
        ));
    }
    a.iter()
        .enumerate()
        .map(|(i, x)| int(x, &format!("{field}[{i}]")))
        .collect()
}

fn codes(v: &Value, field: &str, len: usize, bits: u32) -> Result<Vec<i64>, VectorError> {
    let a = int_array(v, field, len)?;
    if let Some(i) = a.iter().position(|x| !fits(*x, bits)) {
        return Err(verr(
            &format!("{field}[{i}]"),
            format!("{} is outside the {bits}-bit code range", a[i]),
        ));
    }
    Ok(a)
}

fn dims<const N: usize>(
    v: &Value,
    field: &str,
    min: u64,
    max: u64,
) -> Result<[usize; N], VectorError> {
    let a = v
        .as_array()
        .ok_or_else(|| verr(field, format!("must be an array of {N} integers")))?;
    if a.len() != N {
        return Err(verr(field, format!("has {} values, expected {N}", a.len())));
    }
    let mut out = [0usize; N];
    for (i, x) in a.iter().enumerate() {
        let d = uint(x, &format!("{field}[{i}]"), max)?;
        if d < min {
            return Err(verr(
                &format!("{field}[{i}]"),
                format!("{d} is below {min}"),
            ));
        }
        out[i] = d as usize;
    }
    Ok(out)
}

/// Parses and checks a vector from JSON text.
pub fn parse_vector(text: &str) -> Result<LayerVector, VectorError> {
    let root: Value = crate::files::parse_json_strict(text).map_err(|e| verr("(json)", e))?;
    let o = obj(&root, "(top level)")?;
    only_keys(
        o,
        "",
        &[
            "kind",
            "in_shape",
            "out_channels",
            "kernel",
            "stride",
            "pad",
            "formats",
            "input",
            "weights",
            "post",
            "handoff_to_adder",
        ],
    )?;
    let kind = match req(o, "kind", "kind")?.as_str() {
        Some("shift") => VectorKind::Shift,
        Some("adder") => VectorKind::Adder,
        Some("mult") => VectorKind::Mult,
        _ => return Err(verr("kind", "must be \"shift\", \"adder\" or \"mult\"")),
    };
    let [cin, h, w] = dims::<3>(
        req(o, "in_shape", "in_shape")?,
        "in_shape",
        1,
        layers::MAX_DIM as u64,
    )?;
    let cout = uint(
        req(o, "out_channels", "out_channels")?,
        "out_channels",
        layers::MAX_DIM as u64,
    )? as usize;
    let [kh, kw] = dims::<2>(
        req(o, "kernel", "kernel")?,
        "kernel",
        1,
        layers::MAX_KERNEL as u64,
    )?;
    let stride = uint(
        req(o, "stride", "stride")?,
        "stride",
        layers::MAX_STRIDE as u64,
    )? as usize;
    let pad = uint(req(o, "pad", "pad")?, "pad", layers::MAX_PAD as u64)? as usize;
    let geom = ConvGeom {
        cin,
        h,
        w,
        cout,
        kh,
        kw,
        stride,
        pad,
    };
    geom.check().map_err(|e| verr(e.field, e.what))?;
    let out_len = cout * geom.out_h().unwrap_or(0) * geom.out_w().unwrap_or(0);

    let fo = obj(req(o, "formats", "formats")?, "formats")?;
    only_keys(
        fo,
        "formats",
        &[
            "act_bits", "act_frac", "act_max", "shift_wb", "add_bits", "add_frac", "mul_bits",
            "mul_frac",
        ],
    )?;
    let fu = |k: &str| -> Result<u32, VectorError> {
        let field = format!("formats.{k}");
        Ok(uint(req(fo, k, &field)?, &field, 64)? as u32)
    };
    let formats = Formats {
        act_bits: fu("act_bits")?,
        act_frac: fu("act_frac")?,
        act_max: match fo.get("act_max") {
            Some(v) => Some(uint(v, "formats.act_max", i64::MAX as u64)? as i64),
            None => None,
        },
        shift_wb: fu("shift_wb")?,
        add_bits: fu("add_bits")?,
        add_frac: fu("add_frac")?,
        mul_bits: fu("mul_bits")?,
    };
    if let Err(e) = validate_formats("vector", &formats) {
        let field = match &e {
            crate::spec::ConfigError::OutOfRange { field, .. } => field.to_string(),
            _ => "formats".into(),
        };
        return Err(verr(&field, e.to_string()));
    }
    let mul_frac = match fo.get("mul_frac") {
        Some(v) => uint(v, "formats.mul_frac", 31)? as u32,
        None if kind == VectorKind::Mult => {
            return Err(verr(
                "formats.mul_frac",
                "missing (needed by a mult vector)",
            ))
        }
        None => 0,
    };
    let widths = acc_widths(&formats, geom.taps() as u64);
    let need = match kind {
        VectorKind::Shift => widths.shift,
        VectorKind::Adder => widths.adder,
        VectorKind::Mult => widths.mult,
    };
    if need > MODEL_ACC_LIMIT {
        return Err(verr("kernel", format!("{} taps per output need a {need}-bit accumulator, more than the supported {MODEL_ACC_LIMIT}", geom.taps())));
    }

    let in_bits = if kind == VectorKind::Adder {
        formats.add_bits
    } else {
        formats.act_bits
    };
    let input = codes(req(o, "input", "input")?, "input", cin * h * w, in_bits)?;

    let wo = obj(req(o, "weights", "weights")?, "weights")?;
    let n = geom.weight_len();
    let (mut sign, mut m, mut wcodes) = (Vec::new(), Vec::new(), Vec::new());
    match kind {
        VectorKind::Shift => {
            only_keys(wo, "weights", &["sign", "m"])?;
            let s = int_array(req(wo, "sign", "weights.sign")?, "weights.sign", n)?;
            if let Some(i) = s.iter().position(|x| !(-1..=1).contains(x)) {
                return Err(verr(
                    &format!("weights.sign[{i}]"),
                    format!("{} is not -1, 0 or 1", s[i]),
                ));
            }
            let mm = int_array(req(wo, "m", "weights.m")?, "weights.m", n)?;
            let pmax = formats.pmax() as i64;
            if let Some(i) = mm.iter().position(|x| !(0..=pmax).contains(x)) {
                return Err(verr(
                    &format!("weights.m[{i}]"),
                    format!(
                        "{} is outside 0..={pmax} (pmax of shift_wb = {})",
                        mm[i], formats.shift_wb
                    ),
                ));
            }
            sign = s.into_iter().map(|x| x as i8).collect();
            m = mm.into_iter().map(|x| x as u8).collect();
        }
        VectorKind::Adder | VectorKind::Mult => {
            only_keys(wo, "weights", &["codes"])?;
            let bits = if kind == VectorKind::Adder {
                formats.add_bits
            } else {
                formats.mul_bits
            };
            wcodes = codes(req(wo, "codes", "weights.codes")?, "weights.codes", n, bits)?;
        }
    }

    let handoff_to_adder = match o.get("handoff_to_adder") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(verr("handoff_to_adder", "must be true or false")),
    };
    let post = match o.get("post") {
        None | Some(Value::Null) => None,
        Some(pv) => {
            if handoff_to_adder {
                return Err(verr(
                    "post",
                    "cannot be combined with \"handoff_to_adder\": true",
                ));
            }
            let po = obj(pv, "post")?;
            only_keys(po, "post", &["m", "b", "s", "relu", "residual"])?;
            let pm = int_array(req(po, "m", "post.m")?, "post.m", cout)?;
            let pb = int_array(req(po, "b", "post.b")?, "post.b", cout)?;
            let s = uint(req(po, "s", "post.s")?, "post.s", 62)? as u32;
            let relu = match po.get("relu") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(verr("post.relu", "must be true or false")),
            };
            let residual = match po.get("residual") {
                None | Some(Value::Null) => None,
                // Activation codes: at most 32 bits.
                Some(r) => Some(
                    codes(r, "post.residual", out_len, formats.act_bits)?
                        .into_iter()
                        .map(|x| x as i32)
                        .collect(),
                ),
            };
            Some(VectorPost {
                m: pm,
                b: pb,
                s,
                relu,
                residual,
            })
        }
    };
    Ok(LayerVector {
        kind,
        geom,
        formats,
        mul_frac,
        input,
        sign,
        m,
        codes: wcodes,
        post,
        handoff_to_adder,
    })
}

/// Evaluates a checked vector through the reference layers.
pub fn eval_vector(v: &LayerVector) -> VectorOutput {
    let g = &v.geom;
    let x = Tensor {
        c: g.cin,
        h: g.h,
        w: g.w,
        data: v.input.clone(),
    };
    // Activation codes and multiply weights were checked to fit `act_bits`, `mul_bits` <= 32.
    let narrow = |d: &[i64]| d.iter().map(|&c| c as i32).collect::<Vec<i32>>();
    let xa = || Tensor {
        c: x.c,
        h: x.h,
        w: x.w,
        data: narrow(&x.data),
    };
    let f = &v.formats;
    let (acc, f_v) = match v.kind {
        VectorKind::Shift => (
            layers::shift_conv(&xa(), g, &v.sign, &v.m, f.pmax()),
            f.act_frac + f.pmax(),
        ),
        VectorKind::Adder => (layers::adder_conv(&x, g, &v.codes), f.add_frac),
        VectorKind::Mult => (
            layers::mult_conv(&xa(), g, &narrow(&v.codes)),
            f.act_frac + v.mul_frac,
        ),
    };
    let out_shape = acc.shape();
    let (out, saturated) = if let Some(p) = &v.post {
        let residual = p.residual.as_ref().map(|r| Tensor {
            c: acc.c,
            h: acc.h,
            w: acc.w,
            data: r.clone(),
        });
        let post = Post {
            m: &p.m,
            b: &p.b,
            s: p.s,
            relu: p.relu,
        };
        let (t, hits) = layers::post_process(&acc, &post, residual.as_ref(), f.act_range());
        (Some(t.data.into_iter().map(i64::from).collect()), hits)
    } else if v.handoff_to_adder {
        let (t, hits) = layers::handoff_to_adder(&acc, f_v, f.add_frac, f.add_bits);
        (Some(t.data), hits)
    } else {
        (None, 0)
    };
    VectorOutput {
        out_shape,
        acc: acc.data,
        out,
        saturated,
    }
}

/// An integer as JSON: a number when it fits in 53 bits, else a decimal string.
pub fn json_int(v: i64) -> Value {
    // JSON readers keep integers exactly up to 2^53 - 1.
    if v.unsigned_abs() < 1u64 << 53 {
        Value::from(v)
    } else {
        Value::from(v.to_string())
    }
}

/// The printed form of a result (vectors.md), with the saturation count when `out` is present.
pub fn output_json(o: &VectorOutput) -> Value {
    let mut m = Map::new();
    m.insert("out_shape".into(), Value::from(o.out_shape.to_vec()));
    m.insert(
        "acc".into(),
        Value::Array(o.acc.iter().map(|v| json_int(*v)).collect()),
    );
    if let Some(out) = &o.out {
        m.insert(
            "out".into(),
            Value::Array(out.iter().map(|v| Value::from(*v)).collect()),
        );
        m.insert("saturated".into(), Value::from(o.saturated));
    }
    Value::Object(m)
}
