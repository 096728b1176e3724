//! Reading user files: with a size bound, enforced while reading (a device or a huge file is
//! refused at the limit instead of being read whole), and JSON without duplicate keys.

use std::io::Read;
use std::path::Path;

/// Largest model file read, in bytes.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Largest text file read (layer vectors, configs, energy tables), in bytes.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;
/// Largest Verilog file read: a flattened netlist of a 16x16 engine runs to tens of MB.
pub const MAX_VERILOG_BYTES: u64 = 1 << 30;

/// The bytes of `path`, refused past `limit` bytes or when it is not a regular file (a device
/// or a pipe has no end to wait for); the error says why, without the path.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut out = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!(
            "larger than the limit of {limit} bytes (shiftadd_sim::files)"
        ));
    }
    Ok(out)
}

/// The text of `path`, refused past [`MAX_TEXT_BYTES`] or when it is not UTF-8.
pub fn read_text(path: &Path) -> Result<String, String> {
    read_text_bounded(path, MAX_TEXT_BYTES)
}

/// The text of `path`, refused past `limit` bytes or when it is not UTF-8.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| format!("not UTF-8 text: {e}"))
}

/// Parses JSON text like `serde_json::from_str::<Value>`, but refuses an object that names a
/// key twice (which would otherwise keep the last silently).
pub fn parse_json_strict(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str::<Strict>(text)
        .map(|s| s.0)
        .map_err(|e| e.to_string())
}

struct Strict(serde_json::Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = a.next_element()? {
            v.push(x);
        }
        Ok(serde_json::Value::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut m = serde_json::Map::new();
        while let Some(k) = a.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
            }
            let Strict(v) = a.next_value()?;
            m.insert(k, v);
        }
        Ok(serde_json::Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(parse_json_strict(r#"{"a": 1, "b": [true, null, -2, 3.5, "x"]}"#).is_ok());
        let e = parse_json_strict(r#"{"a": {"b": 1, "b": 2}}"#).unwrap_err();
        assert!(e.contains("duplicate key `b`"), "{e}");
        assert_eq!(
            parse_json_strict(r#"[18446744073709551615, -9223372036854775808]"#).unwrap(),
            serde_json::json!([18446744073709551615u64, -9223372036854775808i64])
        );
    }
}
