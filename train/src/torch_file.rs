//! Reader of the files `torch.save` writes: the zip format (`<name>/data.pkl` plus one entry per
//! storage, `<name>/data/<key>`) and the pre-1.6 format (a sequence of pickles followed by the raw
//! storages).
//!
//! The pickles are read by an allowlist unpickler, as PyTorch's own `weights_only` loader does:
//! only the opcodes of protocols 2 to 5 that plain data uses, a fixed set of callables it
//! understands (`OrderedDict`, the tensor and parameter rebuilders, numpy scalars and dtypes,
//! `_codecs.encode`), and any other global kept as an opaque name, never called. A container can
//! only be filled before it is placed inside another (which is all `pickle` itself ever writes,
//! but for self-referencing objects, which no checkpoint holds), so that nesting depth is known
//! and bounded. A pickle is at most [`MAX_PICKLE_BYTES`] long, and what it may build (values,
//! copies of strings and sequences) is charged to a budget proportional to its length, so that
//! neither memory nor time grows past a fixed multiple of the input, however the memo is reused.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Deepest nesting of containers accepted (a checkpoint needs 6).
pub const MAX_DEPTH: u32 = 64;
/// Longest pickle read (a ResNet-20 checkpoint's, with its optimizer state, is 37 KB).
pub const MAX_PICKLE_BYTES: usize = 8 << 20;
/// Values and bytes a pickle may build, per byte of pickle (plus [`BUILD_BASE`]).
const BUILD_PER_BYTE: u64 = 4;
/// Values and bytes any pickle may build.
const BUILD_BASE: u64 = 1 << 16;
/// Most dimensions of a tensor.
const MAX_DIMS: usize = 16;

/// The magic number that opens a pre-1.6 file.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// The protocol version a pre-1.6 file records.
const LEGACY_PROTOCOL: i128 = 1001;

/// A file that cannot be read, naming the file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchFileError {
    /// The file.
    pub file: PathBuf,
    /// Where: a zip entry, a pickle and byte offset, or a key.
    pub field: String,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for TorchFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.field, self.what)
    }
}

impl std::error::Error for TorchFileError {}

/// Element type of a storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// `torch.float32`.
    F32,
    /// `torch.float64`.
    F64,
    /// `torch.float16`.
    F16,
    /// `torch.bfloat16`.
    BF16,
    /// `torch.int64`.
    I64,
    /// `torch.int32`.
    I32,
    /// `torch.int16`.
    I16,
    /// `torch.int8`.
    I8,
    /// `torch.uint8`.
    U8,
    /// `torch.bool`.
    Bool,
}

impl DType {
    fn of_storage(class: &str) -> Option<DType> {
        Some(match class {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }
    /// Bytes per element.
    pub fn size(&self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
    /// PyTorch's name.
    pub fn name(&self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::I16 => "int16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }
}

/// A storage named by a tensor: its key in the file, element type, element count and the device
/// it was saved from (any; the bytes are the same).
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    /// Key (the zip entry `data/<key>`, or the pre-1.6 storage key).
    pub key: String,
    /// Element type.
    pub dtype: DType,
    /// Elements.
    pub numel: u64,
    /// Device tag (`cpu`, `cuda:0`, ...).
    pub location: String,
}

/// A tensor: a view of a storage.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// The storage.
    pub storage: StorageRef,
    /// Offset in elements.
    pub offset: u64,
    /// Shape.
    pub shape: Vec<u64>,
    /// Strides in elements.
    pub stride: Vec<u64>,
}

/// A container filled while on the stack, then sealed when placed in another one.
#[derive(Debug)]
pub struct Container<T> {
    items: RefCell<Vec<T>>,
    depth: Cell<u32>,
    sealed: Cell<bool>,
}

impl<T: Clone> Container<T> {
    /// The items.
    pub fn items(&self) -> Vec<T> {
        self.items.borrow().clone()
    }
}

/// An unpickled value.
#[derive(Clone, Debug)]
pub enum Value {
    /// `None`.
    None,
    /// A bool.
    Bool(bool),
    /// An int (at most 128 bits).
    Int(i128),
    /// A float.
    Float(f64),
    /// A str.
    Str(Rc<str>),
    /// bytes.
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<Container<Value>>),
    /// A list.
    List(Rc<Container<Value>>),
    /// A dict, in insertion order.
    Dict(Rc<Container<(Value, Value)>>),
    /// A global that is not called: `module.name`.
    Global(Rc<str>),
    /// A call of an unknown global, kept opaque: `module.name`.
    Object(Rc<str>),
    /// A numpy dtype (`f8`, `i8`, ...).
    NumpyDtype(Rc<str>),
    /// A storage (from a persistent id).
    Storage(Rc<StorageRef>),
    /// A tensor.
    Tensor(Rc<TensorRef>),
    /// The mark on the stack.
    Mark,
}

impl Value {
    fn depth(&self) -> u32 {
        match self {
            Value::Tuple(c) | Value::List(c) => c.depth.get(),
            Value::Dict(c) => c.depth.get(),
            _ => 0,
        }
    }
    fn seal(&self) {
        match self {
            Value::Tuple(c) | Value::List(c) => c.sealed.set(true),
            Value::Dict(c) => c.sealed.set(true),
            _ => {}
        }
    }
    /// A short description for errors.
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Float(_) => "a float".into(),
            Value::Str(_) => "a str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::List(_) => "a list".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Global(g) => format!("the global `{g}`"),
            Value::Object(g) => format!("an object made by `{g}`"),
            Value::NumpyDtype(_) => "a numpy dtype".into(),
            Value::Storage(_) => "a storage".into(),
            Value::Tensor(_) => "a tensor".into(),
            Value::Mark => "a mark".into(),
        }
    }
    /// The items of a tuple or list.
    pub fn seq(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(c) | Value::List(c) => Some(c.items()),
            _ => None,
        }
    }
    /// The entries of a dict.
    pub fn dict(&self) -> Option<Vec<(Value, Value)>> {
        match self {
            Value::Dict(c) => Some(c.items()),
            _ => None,
        }
    }
    /// A str's text.
    pub fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// An int.
    pub fn int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i128),
            _ => None,
        }
    }
    /// A number as f64 (ints, floats).
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }
}

fn container<T>(items: Vec<T>, depth: u32) -> Rc<Container<T>> {
    Rc::new(Container {
        items: RefCell::new(items),
        depth: Cell::new(depth),
        sealed: Cell::new(false),
    })
}

/// Which file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchFormat {
    /// The zip format (PyTorch 1.6 and later).
    Zip,
    /// The pre-1.6 format.
    Legacy,
}

/// A read file: its object and the bytes of every storage it names.
pub struct TorchFile {
    /// The file.
    pub file: PathBuf,
    /// Which format.
    pub format: TorchFormat,
    /// The saved object.
    pub root: Value,
    storages: HashMap<String, Vec<u8>>,
}

impl TorchFile {
    /// A tensor's elements as f64, in row-major order of its shape. `name` names it in errors.
    pub fn values(&self, t: &TensorRef, name: &str) -> Result<Vec<f64>, TorchFileError> {
        let fail = |what: String| TorchFileError {
            file: self.file.clone(),
            field: name.into(),
            what,
        };
        let bytes = self.storages.get(&t.storage.key).ok_or_else(|| {
            fail(format!(
                "its storage `{}` is not in the file",
                t.storage.key
            ))
        })?;
        if t.shape.len() != t.stride.len() {
            return Err(fail(format!(
                "shape {:?} and stride {:?} differ in length",
                t.shape, t.stride
            )));
        }
        let numel = t
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= (bytes.len() / t.storage.dtype.size()) as u64)
            .ok_or_else(|| fail(format!("shape {:?} is larger than its storage", t.shape)))?;
        // The last element read: offset + sum (dim - 1) * stride, within the storage.
        let last = t
            .shape
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |a, (&d, &s)| {
                a.checked_add(d.saturating_sub(1).checked_mul(s)?)
            });
        let avail = (bytes.len() / t.storage.dtype.size()) as u64;
        if numel > 0 && !matches!(last, Some(l) if l < avail.min(t.storage.numel)) {
            return Err(fail(format!(
                "the view (offset {}, shape {:?}, stride {:?}) reaches past its storage of {} elements",
                t.offset, t.shape, t.stride, t.storage.numel.min(avail)
            )));
        }
        let mut out = Vec::with_capacity(numel as usize);
        let mut idx = vec![0u64; t.shape.len()];
        for _ in 0..numel {
            let e = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<u64>();
            out.push(element(bytes, t.storage.dtype, e as usize));
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(out)
    }
}

fn element(bytes: &[u8], dtype: DType, i: usize) -> f64 {
    let s = dtype.size();
    let b = &bytes[i * s..(i + 1) * s];
    match dtype {
        DType::F32 => f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
        DType::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")),
        DType::F16 => half_to_f64(u16::from_le_bytes(b.try_into().expect("2 bytes"))),
        DType::BF16 => {
            f32::from_bits((u16::from_le_bytes(b.try_into().expect("2 bytes")) as u32) << 16) as f64
        }
        DType::I64 => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
        DType::I32 => i32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
        DType::I16 => i16::from_le_bytes(b.try_into().expect("2 bytes")) as f64,
        DType::I8 => b[0] as i8 as f64,
        DType::U8 | DType::Bool => b[0] as f64,
    }
}

fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * (-24f64).exp2(),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * ((e - 15) as f64).exp2(),
    }
}

/// Reads a file `torch.save` wrote: at most `limit` bytes, and at most `limit` bytes decompressed
/// from its zip entries in all.
pub fn read_torch_file(path: &Path, limit: u64) -> Result<TorchFile, TorchFileError> {
    let bytes = shiftadd_sim::files::read_bounded(path, limit).map_err(|what| TorchFileError {
        file: path.into(),
        field: "(file)".into(),
        what,
    })?;
    parse_torch_file(&bytes, path, limit)
}

/// Parses the bytes of a file `torch.save` wrote, decompressing at most `limit` bytes in all;
/// `file` only names it in errors.
pub fn parse_torch_file(
    bytes: &[u8],
    file: &Path,
    limit: u64,
) -> Result<TorchFile, TorchFileError> {
    let fail = |field: &str, what: String| TorchFileError {
        file: file.into(),
        field: field.into(),
        what,
    };
    if bytes.starts_with(b"PK\x03\x04") {
        parse_zip(bytes, file, limit)
    } else if bytes.first() == Some(&0x80) {
        parse_legacy(bytes, file)
    } else {
        Err(fail(
            "(file)",
            "neither a zip archive nor a pickle: not a file torch.save wrote".into(),
        ))
    }
}

fn parse_zip(bytes: &[u8], file: &Path, limit: u64) -> Result<TorchFile, TorchFileError> {
    let mut budget = limit;
    let fail = |field: &str, what: String| TorchFileError {
        file: file.into(),
        field: field.into(),
        what,
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| fail("(zip)", e.to_string()))?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| fail("(zip)", format!("an entry name: {e}")))?;
    let known: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let pkl: Vec<&String> = names
        .iter()
        .filter(|n| n.as_str() == "data.pkl" || n.ends_with("/data.pkl"))
        .collect();
    let [pkl] = pkl.as_slice() else {
        return Err(fail(
            "(zip)",
            format!(
                "expected one `data.pkl` entry, found {} (entries: {})",
                pkl.len(),
                names.len()
            ),
        ));
    };
    let prefix = pkl.strip_suffix("data.pkl").unwrap_or("").to_string();
    let order = format!("{prefix}byteorder");
    if known.contains(order.as_str()) {
        let b = read_entry(&mut zip, &order, &mut budget, file)?;
        if b.trim_ascii() != b"little" {
            return Err(fail(
                &order,
                "not `little`: big-endian files are not read".into(),
            ));
        }
    }
    let mut pkl_budget = budget.min(MAX_PICKLE_BYTES as u64);
    let data = read_entry(&mut zip, pkl, &mut pkl_budget, file).map_err(|e| TorchFileError {
        what: format!(
            "{} (a pickle is read up to {MAX_PICKLE_BYTES} bytes)",
            e.what
        ),
        ..e
    })?;
    budget -= data.len() as u64;
    let (root, _) = Unpickler::new(&data, file, pkl).run(0)?;
    let mut storages = HashMap::new();
    for s in storage_refs(&root) {
        if storages.contains_key(&s.key) {
            continue;
        }
        let entry = format!("{prefix}data/{}", s.key);
        if !known.contains(entry.as_str()) {
            return Err(fail(
                &entry,
                format!("missing: the storage `{}` of a tensor", s.key),
            ));
        }
        let b = read_entry(&mut zip, &entry, &mut budget, file)?;
        check_storage_len(&b, &s, &entry, file)?;
        storages.insert(s.key.clone(), b);
    }
    Ok(TorchFile {
        file: file.into(),
        format: TorchFormat::Zip,
        root,
        storages,
    })
}

fn check_storage_len(
    b: &[u8],
    s: &StorageRef,
    field: &str,
    file: &Path,
) -> Result<(), TorchFileError> {
    let need = s.numel.checked_mul(s.dtype.size() as u64);
    if need.is_none_or(|n| (b.len() as u64) < n) {
        return Err(TorchFileError {
            file: file.into(),
            field: field.into(),
            what: format!(
                "holds {} bytes, fewer than {} elements of {}",
                b.len(),
                s.numel,
                s.dtype.name()
            ),
        });
    }
    Ok(())
}

fn read_entry(
    zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    budget: &mut u64,
    file: &Path,
) -> Result<Vec<u8>, TorchFileError> {
    let limit = *budget;
    let fail = |what: String| TorchFileError {
        file: file.into(),
        field: name.into(),
        what,
    };
    let entry = zip.by_name(name).map_err(|e| fail(e.to_string()))?;
    // A compressed entry may expand past the archive: the entries read take at most the budget.
    let mut out = Vec::new();
    entry
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(fail(format!(
            "the entries read expand past {} bytes, the limit of what is read",
            limit
        )));
    }
    *budget -= out.len() as u64;
    Ok(out)
}

fn parse_legacy(bytes: &[u8], file: &Path) -> Result<TorchFile, TorchFileError> {
    let fail = |field: &str, what: String| TorchFileError {
        file: file.into(),
        field: field.into(),
        what,
    };
    let (magic, at) = Unpickler::new(bytes, file, "pickle 1 (magic number)").run(0)?;
    if magic.int() != Some(LEGACY_MAGIC) {
        return Err(fail(
            "pickle 1 (magic number)",
            format!("is {}, not the magic number of torch.save", magic.kind()),
        ));
    }
    let (protocol, at) = Unpickler::new(bytes, file, "pickle 2 (protocol version)").run(at)?;
    if protocol.int() != Some(LEGACY_PROTOCOL) {
        return Err(fail(
            "pickle 2 (protocol version)",
            format!("is not {LEGACY_PROTOCOL}"),
        ));
    }
    let (sys_info, at) = Unpickler::new(bytes, file, "pickle 3 (sys_info)").run(at)?;
    let little = sys_info.dict().and_then(|d| {
        d.iter()
            .find(|(k, _)| k.str() == Some("little_endian"))
            .map(|(_, v)| v.int())
    });
    if little != Some(Some(1)) {
        return Err(fail(
            "pickle 3 (sys_info)",
            "`little_endian` is not True: big-endian files are not read".into(),
        ));
    }
    let (root, at) = Unpickler::new(bytes, file, "pickle 4 (the object)").run(at)?;
    let (keys, mut at) = Unpickler::new(bytes, file, "pickle 5 (storage keys)").run(at)?;
    let keys: Vec<String> = keys
        .seq()
        .and_then(|v| v.iter().map(|k| k.str().map(String::from)).collect())
        .ok_or_else(|| fail("pickle 5 (storage keys)", "is not a list of str".into()))?;
    let refs: HashMap<String, StorageRef> = storage_refs(&root)
        .into_iter()
        .map(|s| (s.key.clone(), s))
        .collect();
    let mut storages = HashMap::new();
    for key in keys {
        let field = format!("storage `{key}`");
        let s = refs.get(&key).ok_or_else(|| {
            fail(
                &field,
                "listed, but no tensor names it (its element size is unknown)".into(),
            )
        })?;
        let head = bytes
            .get(at..at + 8)
            .ok_or_else(|| fail(&field, format!("its size at byte {at} is past the end")))?;
        let numel = u64::from_le_bytes(head.try_into().expect("8 bytes"));
        let len = numel
            .checked_mul(s.dtype.size() as u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n <= bytes.len() - at - 8)
            .ok_or_else(|| {
                fail(
                    &field,
                    format!(
                        "{numel} elements of {} at byte {at} reach past the end of the file",
                        s.dtype.name()
                    ),
                )
            })?;
        let b = bytes[at + 8..at + 8 + len].to_vec();
        check_storage_len(&b, s, &field, file)?;
        storages.insert(key, b);
        at += 8 + len;
    }
    if let Some(missing) = refs.keys().find(|k| !storages.contains_key(*k)) {
        return Err(fail(
            &format!("storage `{missing}`"),
            "named by a tensor, but not in the file".into(),
        ));
    }
    Ok(TorchFile {
        file: file.into(),
        format: TorchFormat::Legacy,
        root,
        storages,
    })
}

/// Every storage a value names, once per key. Each container is visited once, however often
/// the memo placed it.
fn storage_refs(v: &Value) -> Vec<StorageRef> {
    let mut out: Vec<StorageRef> = Vec::new();
    let mut keys = std::collections::HashSet::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![v.clone()];
    while let Some(v) = stack.pop() {
        let s = match &v {
            Value::Tensor(t) => &t.storage,
            Value::Storage(s) => &**s,
            Value::Tuple(c) | Value::List(c) => {
                if seen.insert(Rc::as_ptr(c) as *const ()) {
                    stack.extend(c.items.borrow().iter().cloned());
                }
                continue;
            }
            Value::Dict(c) => {
                if seen.insert(Rc::as_ptr(c) as *const ()) {
                    for (k, v) in c.items.borrow().iter() {
                        stack.push(k.clone());
                        stack.push(v.clone());
                    }
                }
                continue;
            }
            _ => continue,
        };
        if keys.insert(s.key.clone()) {
            out.push(s.clone());
        }
    }
    out
}

/// The allowlist unpickler over one pickle of `bytes`.
struct Unpickler<'a> {
    bytes: &'a [u8],
    file: &'a Path,
    what: &'a str,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    pos: usize,
    /// What may still be built: values, and bytes of strings and sequences copied.
    budget: u64,
}

impl<'a> Unpickler<'a> {
    fn new(bytes: &'a [u8], file: &'a Path, what: &'a str) -> Self {
        Unpickler {
            bytes,
            file,
            what,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            pos: 0,
            budget: 0,
        }
    }

    /// Charges `n` to the budget of what the pickle may build.
    fn charge(&mut self, at: usize, n: usize) -> Result<(), TorchFileError> {
        match self.budget.checked_sub(n as u64) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(self.err(
                at,
                format!(
                    "builds more than {BUILD_PER_BYTE} values or bytes per byte of pickle (reused memo entries): not a checkpoint"
                ),
            )),
        }
    }

    fn err(&self, at: usize, what: impl Into<String>) -> TorchFileError {
        TorchFileError {
            file: self.file.into(),
            field: format!("{} at byte {at}", self.what),
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TorchFileError> {
        let at = self.pos;
        let end = at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.err(at, format!("{n} bytes needed past the end of the data")))?;
        self.pos = end;
        Ok(&self.bytes[at..end])
    }
    fn u8(&mut self) -> Result<u8, TorchFileError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TorchFileError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, TorchFileError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, TorchFileError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn len(&mut self, n: u64) -> Result<usize, TorchFileError> {
        let at = self.pos;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len() - self.pos)
            .ok_or_else(|| self.err(at, format!("a length of {n} reaches past the end")))
    }
    fn line(&mut self) -> Result<&'a str, TorchFileError> {
        let at = self.pos;
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err(at, "a line without its newline"))?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| self.err(at, "a name that is not UTF-8"))
    }
    fn text(&mut self, n: usize) -> Result<Rc<str>, TorchFileError> {
        let at = self.pos;
        self.charge(at, n)?;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(Rc::from)
            .map_err(|_| self.err(at, "a str that is not UTF-8"))
    }

    fn pop(&mut self, at: usize) -> Result<Value, TorchFileError> {
        if self.marks.last() == Some(&self.stack.len()) {
            return Err(self.err(at, "a value taken from below a mark"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.err(at, "a value taken from an empty stack"))
    }
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Value>, TorchFileError> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.err(at, "no mark to pop to"))?;
        Ok(self.stack.split_off(m))
    }
    fn push(&mut self, at: usize, v: Value) -> Result<(), TorchFileError> {
        self.charge(at, 1)?;
        if v.depth() > MAX_DEPTH {
            return Err(self.err(at, format!("containers nested deeper than {MAX_DEPTH}")));
        }
        self.stack.push(v);
        Ok(())
    }
    /// A tuple of `items`, each sealed.
    fn tuple(&mut self, at: usize, items: Vec<Value>) -> Result<(), TorchFileError> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        items.iter().for_each(Value::seal);
        let t = Value::Tuple(container(items, depth));
        t.seal();
        self.push(at, t)
    }
    /// Appends to the list on top of the stack.
    fn append(&mut self, at: usize, items: Vec<Value>) -> Result<(), TorchFileError> {
        let top = self
            .stack
            .last()
            .ok_or_else(|| self.err(at, "append with no list"))?
            .clone();
        let Value::List(c) = &top else {
            return Err(self.err(at, format!("append to {}", top.kind())));
        };
        self.fill(at, c, items)
    }
    fn fill<T>(&self, at: usize, c: &Container<T>, items: Vec<T>) -> Result<(), TorchFileError>
    where
        T: Depth,
    {
        if c.sealed.get() {
            return Err(self.err(
                at,
                "a container changed after it was placed in another (a self-referencing object)",
            ));
        }
        for item in &items {
            item.seal_all();
            if item.contains(c) {
                return Err(self.err(at, "a container placed inside itself"));
            }
            let d = 1 + item.depth_of();
            if d > MAX_DEPTH {
                return Err(self.err(at, format!("containers nested deeper than {MAX_DEPTH}")));
            }
            c.depth.set(c.depth.get().max(d));
        }
        c.items.borrow_mut().extend(items);
        Ok(())
    }
    fn set_items(&mut self, at: usize, flat: Vec<Value>) -> Result<(), TorchFileError> {
        if !flat.len().is_multiple_of(2) {
            return Err(self.err(at, "an odd number of keys and values"));
        }
        let top = self
            .stack
            .last()
            .ok_or_else(|| self.err(at, "setitem with no dict"))?
            .clone();
        let Value::Dict(c) = &top else {
            return Err(self.err(at, format!("setitem on {}", top.kind())));
        };
        let mut pairs = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        self.fill(at, c, pairs)
    }

    /// Runs the pickle that starts at `start` to its STOP; returns the value and the position
    /// after it.
    fn run(mut self, start: usize) -> Result<(Value, usize), TorchFileError> {
        self.pos = start;
        let len = (self.bytes.len().saturating_sub(start)).min(MAX_PICKLE_BYTES);
        self.budget = BUILD_PER_BYTE * len as u64 + BUILD_BASE;
        loop {
            let at = self.pos;
            if at - start > MAX_PICKLE_BYTES {
                return Err(self.err(
                    at,
                    format!("a pickle longer than {MAX_PICKLE_BYTES} bytes: not a checkpoint"),
                ));
            }
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.err(at, format!("pickle protocol {proto} (at most 5)")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only.
                }
                b'.' => {
                    let v = self.pop(at)?;
                    if !self.stack.is_empty() || !self.marks.is_empty() {
                        return Err(self.err(at, "values left on the stack at STOP"));
                    }
                    return Ok((v, self.pos));
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop(at)?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let v = self
                        .stack
                        .last()
                        .ok_or_else(|| self.err(at, "DUP of an empty stack"))?
                        .clone();
                    self.push(at, v)?;
                }
                b'N' => self.push(at, Value::None)?,
                0x88 => self.push(at, Value::Bool(true))?,
                0x89 => self.push(at, Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(at, Value::Int(v as i128))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(at, Value::Int(v as i128))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(at, Value::Int(v as i128))?
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > 16 {
                        return Err(self.err(at, format!("an int of {n} bytes (at most 16)")));
                    }
                    let b = self.take(n)?;
                    let mut v: i128 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= (x as i128) << (8 * i);
                    }
                    // Two's complement of n bytes.
                    if n > 0 && n < 16 && b[n - 1] & 0x80 != 0 {
                        v -= 1i128 << (8 * n);
                    }
                    self.push(at, Value::Int(v))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8"));
                    self.push(at, Value::Float(v))?
                }
                b'X' => {
                    let n = self.u32()? as u64;
                    let n = self.len(n)?;
                    let s = self.text(n)?;
                    self.push(at, Value::Str(s))?
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.text(n)?;
                    self.push(at, Value::Str(s))?
                }
                0x8d => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    let s = self.text(n)?;
                    self.push(at, Value::Str(s))?
                }
                b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    self.charge(at, n)?;
                    let b = self.take(n)?;
                    self.push(at, Value::Bytes(Rc::from(b)))?
                }
                b'T' | b'B' => {
                    let n = self.u32()? as u64;
                    let n = self.len(n)?;
                    self.charge(at, n)?;
                    let b = self.take(n)?;
                    self.push(at, Value::Bytes(Rc::from(b)))?
                }
                0x8e => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    self.charge(at, n)?;
                    let b = self.take(n)?;
                    self.push(at, Value::Bytes(Rc::from(b)))?
                }
                b')' => self.tuple(at, Vec::new())?,
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.tuple(at, items)?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at)?);
                    }
                    items.reverse();
                    self.tuple(at, items)?
                }
                b']' => self.push(at, Value::List(container(Vec::new(), 1)))?,
                b'l' => {
                    let items = self.pop_mark(at)?;
                    self.push(at, Value::List(container(Vec::new(), 1)))?;
                    self.append(at, items)?
                }
                b'a' => {
                    let v = self.pop(at)?;
                    self.append(at, vec![v])?
                }
                b'e' => {
                    let items = self.pop_mark(at)?;
                    self.append(at, items)?
                }
                b'}' => self.push(at, Value::Dict(container(Vec::new(), 1)))?,
                b'd' => {
                    let items = self.pop_mark(at)?;
                    self.push(at, Value::Dict(container(Vec::new(), 1)))?;
                    self.set_items(at, items)?
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    self.set_items(at, vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    self.set_items(at, items)?
                }
                b'q' => {
                    let id = self.u8()? as u32;
                    self.memo_put(at, id)?
                }
                b'r' => {
                    let id = self.u32()?;
                    self.memo_put(at, id)?
                }
                0x94 => {
                    let id = self.memo.len() as u32;
                    self.memo_put(at, id)?
                }
                b'h' => {
                    let id = self.u8()? as u32;
                    self.memo_get(at, id)?
                }
                b'j' => {
                    let id = self.u32()?;
                    self.memo_get(at, id)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = format!("{module}.{name}");
                    self.charge(at, g.len())?;
                    self.push(at, Value::Global(Rc::from(g)))?
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Some(m), Some(n)) = (module.str(), name.str()) else {
                        return Err(self.err(at, "STACK_GLOBAL of values that are not str"));
                    };
                    let g = format!("{m}.{n}");
                    self.charge(at, g.len())?;
                    self.push(at, Value::Global(Rc::from(g)))?
                }
                b'R' | 0x81 => {
                    let args = self.pop(at)?;
                    let callable = self.pop(at)?;
                    let v = self.call(at, &callable, &args)?;
                    self.push(at, v)?
                }
                b'b' => {
                    // BUILD sets an object's state; the state of the objects read here (an
                    // OrderedDict's `_metadata`, a dtype's flags) is not needed.
                    let _state = self.pop(at)?;
                    if self.stack.is_empty() {
                        return Err(self.err(at, "BUILD with no object"));
                    }
                }
                b'Q' => {
                    let pid = self.pop(at)?;
                    let v = self.persistent(at, &pid)?;
                    self.push(at, v)?
                }
                _ => {
                    return Err(self.err(
                        at,
                        format!("opcode 0x{op:02x} is not read (not one plain data uses)"),
                    ))
                }
            }
        }
    }

    fn memo_put(&mut self, at: usize, id: u32) -> Result<(), TorchFileError> {
        self.charge(at, 1)?;
        let v = self
            .stack
            .last()
            .ok_or_else(|| self.err(at, "memo of an empty stack"))?
            .clone();
        self.memo.insert(id, v);
        Ok(())
    }
    fn memo_get(&mut self, at: usize, id: u32) -> Result<(), TorchFileError> {
        let v = self
            .memo
            .get(&id)
            .cloned()
            .ok_or_else(|| self.err(at, format!("memo entry {id} was never stored")))?;
        self.push(at, v)
    }

    /// The items of a tuple or list of at most `max`, copied and charged; `None` for anything
    /// else, or a longer one.
    fn short_seq(
        &mut self,
        at: usize,
        v: &Value,
        max: usize,
    ) -> Result<Option<Vec<Value>>, TorchFileError> {
        let (Value::Tuple(c) | Value::List(c)) = v else {
            return Ok(None);
        };
        let n = c.items.borrow().len();
        if n > max {
            return Ok(None);
        }
        self.charge(at, n)?;
        Ok(Some(c.items()))
    }

    /// A persistent id: `('storage', storage_type, key, location, numel[, view])`.
    fn persistent(&mut self, at: usize, pid: &Value) -> Result<Value, TorchFileError> {
        let bad = |me: &Self, what: &str| {
            me.err(at, format!("a persistent id that is not a storage: {what}"))
        };
        let items = self
            .short_seq(at, pid, 6)?
            .filter(|i| i.len() >= 5)
            .ok_or_else(|| bad(self, "not ('storage', type, key, location, numel[, view])"))?;
        if items[0].str() != Some("storage") {
            return Err(bad(self, "its first item is not 'storage'"));
        }
        // A pre-1.6 view of a larger storage: its offset is not applied, so it is refused.
        if items.get(5).is_some_and(|v| !matches!(v, Value::None)) {
            return Err(bad(
                self,
                "a view of a storage (view metadata), which is not read",
            ));
        }
        let Value::Global(class) = &items[1] else {
            return Err(bad(self, "its type is not a global"));
        };
        let dtype = class
            .strip_prefix("torch.")
            .and_then(DType::of_storage)
            .ok_or_else(|| self.err(at, format!("the storage type `{class}` is not read")))?;
        let (Some(key), Some(location)) = (items[2].str(), items[3].str()) else {
            return Err(bad(self, "its key or location is not a str"));
        };
        let numel = items[4]
            .int()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| bad(self, "its size is not a count"))?;
        self.charge(at, key.len() + location.len())?;
        Ok(Value::Storage(Rc::new(StorageRef {
            key: key.into(),
            dtype,
            numel,
            location: location.into(),
        })))
    }

    /// A tuple of at most [`MAX_DIMS`] counts.
    fn counts(&mut self, at: usize, v: &Value, what: &str) -> Result<Vec<u64>, TorchFileError> {
        self.short_seq(at, v, MAX_DIMS)?
            .and_then(|s| {
                s.iter()
                    .map(|x| x.int().and_then(|i| u64::try_from(i).ok()))
                    .collect()
            })
            .ok_or_else(|| {
                self.err(
                    at,
                    format!("a tensor's {what} that is not a tuple of at most {MAX_DIMS} counts"),
                )
            })
    }

    /// REDUCE and NEWOBJ: the allowlisted callables; any other call is an opaque object.
    fn call(&mut self, at: usize, callable: &Value, args: &Value) -> Result<Value, TorchFileError> {
        let Value::Global(g) = callable else {
            return Err(self.err(at, format!("a call of {}", callable.kind())));
        };
        let g = g.clone();
        let known = matches!(
            &*g,
            "collections.OrderedDict"
                | "torch._utils._rebuild_tensor_v2"
                | "torch._utils._rebuild_tensor"
                | "torch._utils._rebuild_parameter"
                | "torch._utils._rebuild_parameter_with_state"
                | "numpy.dtype"
                | "numpy.core.multiarray.scalar"
                | "numpy._core.multiarray.scalar"
                | "_codecs.encode"
        );
        if !known {
            // Never called, so its arguments are not needed.
            return Ok(Value::Object(g));
        }
        let bad = |me: &Self, what: &str| me.err(at, format!("`{g}` called with {what}"));
        let args = self
            .short_seq(at, args, 8)?
            .ok_or_else(|| bad(self, "arguments that are not a tuple of at most 8"))?;
        Ok(match &*g {
            "collections.OrderedDict" if args.is_empty() => Value::Dict(container(Vec::new(), 1)),
            "collections.OrderedDict" => return Err(bad(self, "arguments")),
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
                if args.len() < 4 {
                    return Err(bad(self, "fewer than 4 arguments"));
                }
                let Value::Storage(storage) = &args[0] else {
                    return Err(bad(self, &format!("{} for its storage", args[0].kind())));
                };
                let offset = args[1]
                    .int()
                    .and_then(|i| u64::try_from(i).ok())
                    .ok_or_else(|| bad(self, "an offset that is not a count"))?;
                let shape = self.counts(at, &args[2], "size")?;
                let stride = self.counts(at, &args[3], "stride")?;
                self.charge(at, storage.key.len() + storage.location.len())?;
                Value::Tensor(Rc::new(TensorRef {
                    storage: (**storage).clone(),
                    offset,
                    shape,
                    stride,
                }))
            }
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
                match args.first() {
                    Some(t @ Value::Tensor(_)) => t.clone(),
                    _ => return Err(bad(self, "no tensor")),
                }
            }
            "numpy.dtype" => match args.first().and_then(Value::str) {
                Some(s) => {
                    self.charge(at, s.len())?;
                    Value::NumpyDtype(Rc::from(s))
                }
                None => return Err(bad(self, "no type code")),
            },
            "numpy.core.multiarray.scalar" | "numpy._core.multiarray.scalar" => {
                let (Some(Value::NumpyDtype(code)), Some(Value::Bytes(b))) =
                    (args.first(), args.get(1))
                else {
                    return Err(bad(self, "other than a dtype and bytes"));
                };
                numpy_scalar(code, b).ok_or_else(|| {
                    bad(self, &format!("the dtype `{code}` and {} bytes", b.len()))
                })?
            }
            _ => {
                // `_codecs.encode(text, 'latin1')`: bytes pickled by protocol 2.
                let (Some(text), Some("latin1" | "latin-1")) = (
                    args.first().and_then(Value::str),
                    args.get(1).and_then(Value::str),
                ) else {
                    return Err(bad(self, "other than a str and 'latin1'"));
                };
                self.charge(at, text.len())?;
                let b: Option<Vec<u8>> =
                    text.chars().map(|c| u8::try_from(c as u32).ok()).collect();
                Value::Bytes(Rc::from(
                    b.ok_or_else(|| bad(self, "a character past latin1"))?,
                ))
            }
        })
    }
}

fn numpy_scalar(code: &str, b: &[u8]) -> Option<Value> {
    let code = code.trim_start_matches(['<', '=', '|']);
    Some(match (code, b.len()) {
        ("f8", 8) => Value::Float(f64::from_le_bytes(b.try_into().ok()?)),
        ("f4", 4) => Value::Float(f32::from_le_bytes(b.try_into().ok()?) as f64),
        ("i8", 8) => Value::Int(i64::from_le_bytes(b.try_into().ok()?) as i128),
        ("i4", 4) => Value::Int(i32::from_le_bytes(b.try_into().ok()?) as i128),
        ("u8", 8) => Value::Int(u64::from_le_bytes(b.try_into().ok()?) as i128),
        ("b1", 1) => Value::Bool(b[0] != 0),
        _ => return None,
    })
}

/// What the unpickler needs of a container's items: their depth, sealing, and whether they are a
/// given container.
trait Depth {
    fn depth_of(&self) -> u32;
    fn seal_all(&self);
    fn contains<T>(&self, c: &Container<T>) -> bool;
}

fn is<T, U>(a: &Rc<Container<U>>, c: &Container<T>) -> bool {
    std::ptr::addr_eq(Rc::as_ptr(a), c as *const Container<T>)
}

impl Depth for Value {
    fn depth_of(&self) -> u32 {
        self.depth()
    }
    fn seal_all(&self) {
        self.seal()
    }
    fn contains<T>(&self, c: &Container<T>) -> bool {
        match self {
            Value::Tuple(a) | Value::List(a) => is(a, c),
            Value::Dict(a) => is(a, c),
            _ => false,
        }
    }
}

impl Depth for (Value, Value) {
    fn depth_of(&self) -> u32 {
        self.0.depth().max(self.1.depth())
    }
    fn seal_all(&self) {
        self.0.seal();
        self.1.seal();
    }
    fn contains<T>(&self, c: &Container<T>) -> bool {
        self.0.contains(c) || self.1.contains(c)
    }
}
