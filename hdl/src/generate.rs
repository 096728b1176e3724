//! From a config to a folder of Verilog: the arrays the config asks for, one file per module,
//! `config.json` (the resolved config), `manifest.json` (tops, ports, widths, file hashes) and the
//! lint waivers. Byte-for-byte deterministic.

use crate::emit::{emit_block, EmitError, Port};
use crate::widths::{checked_widths, dispatch, ArrayBlock, ArrayKind, ArrayVisitor, ArrayWidths};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shiftadd_sim::engine::{regmap_header, regmap_markdown};
use shiftadd_sim::spec::{AccelConfig, ConfigError, PeKinds};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// Generator name and version, stamped into every file.
pub const GENERATOR: &str = concat!("shiftadd-hdl ", env!("CARGO_PKG_VERSION"));
/// The rust-hdl release the blocks are written in.
pub const RUST_HDL: &str = "0.46.0";
/// Verilator waivers, each with its reason; written beside the Verilog as `lint.vlt`.
pub const LINT_WAIVERS: &str = include_str!("../lint/waivers.vlt");

/// Cycles from presenting `x`, `w`, `en`, `clear` to the accumulator holding them.
pub const ARRAY_LATENCY: u32 = 2;

/// Why generation failed.
#[derive(Debug, Error)]
pub enum GenError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config's widths are not compiled in.
    #[error(transparent)]
    Widths(#[from] Box<crate::widths::UnsupportedWidths>),
    /// rust-hdl or the emitter failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// Two designs emitted different modules under one name.
    #[error("module `{0}` emitted twice with different bodies")]
    Clash(String),
    /// Writing the output failed.
    #[error("{path}: {what}")]
    Io {
        /// File or folder.
        path: String,
        /// The system's message.
        what: String,
    },
}

/// One generated array in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrayInfo {
    /// `shift`, `adder` or `mac`.
    pub kind: String,
    /// Top module name.
    pub module: String,
    /// Name of the PE module the array instantiates.
    pub pe_module: String,
    /// Output channels.
    pub rows: usize,
    /// Input channels.
    pub cols: usize,
    /// Operand width.
    pub x_bits: usize,
    /// Weight width.
    pub w_bits: usize,
    /// PE term width.
    pub term_bits: usize,
    /// Tree node width.
    pub tree_bits: usize,
    /// Accumulator width.
    pub acc_bits: usize,
    /// Cycles from inputs to accumulator.
    pub latency: u32,
    /// Ports in declaration order.
    pub ports: Vec<Port>,
}

/// The engine in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// Top module.
    pub module: String,
    /// Its array's kind: `dual` or `mac`.
    pub array: String,
    /// Rows and columns of its array.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Output word bits.
    pub out_bits: usize,
    /// Ports in declaration order (the register bus and the clock).
    pub ports: Vec<Port>,
}

/// A file of the output and its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub bytes: usize,
    /// SHA-256 of the contents.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `shiftadd-rtl`.
    pub format: String,
    /// Generator name and version.
    pub generator: String,
    /// rust-hdl release.
    pub rust_hdl: String,
    /// Config name.
    pub config: String,
    /// SHA-256 of `config.json`.
    pub config_sha256: String,
    /// The arrays.
    pub arrays: Vec<ArrayInfo>,
    /// The engine around the array, when the config has one (`regmap.md` and `regmap.h` are its
    /// register map).
    #[serde(default)]
    pub engine: Option<EngineInfo>,
    /// Every other file of the folder.
    pub files: Vec<FileEntry>,
}

/// The generated folder, in memory.
#[derive(Clone, Debug)]
pub struct GeneratedRtl {
    /// File name to contents, including `config.json`, `manifest.json` and `lint.vlt`.
    pub files: BTreeMap<String, String>,
    /// The manifest.
    pub manifest: Manifest,
}

/// Array kinds a config asks for.
pub fn array_kinds(cfg: &AccelConfig) -> Vec<ArrayKind> {
    match cfg.pe_kinds {
        PeKinds::ShiftAdd => vec![ArrayKind::Shift, ArrayKind::Adder],
        PeKinds::ShiftAddDual => vec![ArrayKind::Dual],
        PeKinds::Mult => vec![ArrayKind::Mac],
        PeKinds::All => vec![ArrayKind::Shift, ArrayKind::Adder, ArrayKind::Mac],
    }
}

/// Top module name of an array kind.
pub fn array_module(kind: ArrayKind) -> String {
    format!("{}_array", kind.name())
}

/// PE module name of an array kind: the emitter names it `<kind>_<field>` after the array's
/// `pe` field.
pub fn pe_module(kind: ArrayKind) -> String {
    format!("{}_pe", kind.name())
}

struct EmitArray {
    kind: ArrayKind,
    rows: usize,
    cols: usize,
    pmax: u32,
}

impl ArrayVisitor for EmitArray {
    type Out = Result<crate::emit::EmittedDesign, EmitError>;
    fn visit<B: ArrayBlock>(self) -> Self::Out {
        let mut block = B::build(self.rows, self.cols, self.pmax);
        emit_block(&mut block, self.kind.name(), &array_module(self.kind))
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The config as written to `config.json`.
pub fn config_json(cfg: &AccelConfig) -> String {
    let mut s = serde_json::to_string_pretty(cfg).expect("a config serialises");
    s.push('\n');
    s
}

/// The command that regenerates a preset's committed folder.
pub fn regenerate_command(preset: &str) -> String {
    format!("cargo run --release -p shiftadd -- gen --preset {preset} --out rtl-out/{preset}")
}

/// Emits one array kind of `cfg` (widths checked).
pub fn emit_array(
    cfg: &AccelConfig,
    kind: ArrayKind,
) -> Result<(ArrayWidths, crate::emit::EmittedDesign), GenError> {
    let w = checked_widths(cfg, kind)?;
    let visitor = EmitArray {
        kind,
        rows: cfg.rows as usize,
        cols: cfg.cols as usize,
        pmax: cfg.formats.pmax(),
    };
    let design = dispatch(kind, w, visitor).expect("checked_widths admits only compiled widths")?;
    Ok((w, design))
}

/// Generates the folder for `cfg`.
pub fn generate(cfg: &AccelConfig) -> Result<GeneratedRtl, GenError> {
    cfg.validate()?;
    let config_text = config_json(cfg);
    let config_sha = sha256_hex(config_text.as_bytes());
    let header = format!(
        "// Generated by {GENERATOR} (rust-hdl {RUST_HDL}) from config `{}` (config.json sha256 {config_sha}).\n\
         // Do not edit: regenerate with `shiftadd gen`; see manifest.json.\n",
        cfg.name
    );
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    let mut arrays = Vec::new();
    // Arrays are independent: emit them in parallel, keep the config's order.
    let kinds = array_kinds(cfg);
    let emitted: Vec<Result<(ArrayWidths, crate::emit::EmittedDesign), GenError>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = kinds
                .iter()
                .map(|&kind| scope.spawn(move || emit_array(cfg, kind)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("the emitter does not panic"))
                .collect()
        });
    for (kind, result) in kinds.into_iter().zip(emitted) {
        let (w, design) = result?;
        for m in design.modules {
            match modules.get(&m.name) {
                Some(existing) if *existing != m.text => return Err(GenError::Clash(m.name)),
                _ => {
                    modules.insert(m.name, m.text);
                }
            }
        }
        arrays.push(ArrayInfo {
            kind: kind.name().into(),
            module: design.top,
            pe_module: pe_module(kind),
            rows: cfg.rows as usize,
            cols: cfg.cols as usize,
            x_bits: w.xw,
            w_bits: w.ww,
            term_bits: w.t,
            tree_bits: w.ts,
            acc_bits: w.acc,
            latency: ARRAY_LATENCY,
            ports: design.ports,
        });
    }
    let mut extra_files = BTreeMap::new();
    let engine = match crate::engine::emit_engine(cfg) {
        Some(result) => {
            let design = result?;
            merge_reusing(&mut modules, design.modules)?;
            extra_files.insert("regmap.md".to_string(), regmap_markdown(cfg));
            extra_files.insert("regmap.h".to_string(), regmap_header(cfg));
            let w = crate::engine::engine_widths(cfg).expect("emitted, so it has widths");
            Some(EngineInfo {
                module: design.top,
                array: w.kind.name().into(),
                rows: cfg.rows as usize,
                cols: cfg.cols as usize,
                out_bits: w.ow,
                ports: design.ports,
            })
        }
        None => None,
    };
    let mut files = extra_files;
    for (name, text) in modules {
        files.insert(format!("{name}.v"), format!("{header}{text}"));
    }
    files.insert(
        "lint.vlt".into(),
        format!("`verilator_config\n{}", header) + LINT_WAIVERS,
    );
    files.insert("config.json".into(), config_text);
    let manifest = Manifest {
        format: "shiftadd-rtl".into(),
        generator: GENERATOR.into(),
        rust_hdl: RUST_HDL.into(),
        config: cfg.name.clone(),
        config_sha256: config_sha,
        arrays,
        engine,
        files: files
            .iter()
            .map(|(name, text)| FileEntry {
                name: name.clone(),
                bytes: text.len(),
                sha256: sha256_hex(text.as_bytes()),
            })
            .collect(),
    };
    let mut manifest_text = serde_json::to_string_pretty(&manifest).expect("serialises");
    manifest_text.push('\n');
    files.insert("manifest.json".into(), manifest_text);
    Ok(GeneratedRtl { files, manifest })
}

/// `text` with every identifier that `map` names replaced.
fn rename_identifiers(text: &str, map: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let before = &rest[..start];
        // Not the tail of a longer token (a number or an identifier).
        let glued = before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '\'');
        out.push_str(before);
        let len = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(rest.len() - start);
        let ident = &rest[start..start + len];
        match map.get(ident) {
            Some(new) if !glued => out.push_str(new),
            _ => out.push_str(ident),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// A module's text with its own name replaced by a placeholder, to compare bodies.
fn body_key(name: &str, text: &str) -> String {
    rename_identifiers(
        text,
        &BTreeMap::from([(name.to_string(), "\u{0}self".to_string())]),
    )
}

/// Adds `new` modules to `modules`. A new module whose body equals an existing module's (its own
/// name aside, its submodules renamed) is not added: the references to it use the existing name.
/// rust-hdl names modules by instance path, so the engine's array would otherwise repeat the
/// array modules under other names.
fn merge_reusing(
    modules: &mut BTreeMap<String, String>,
    new: Vec<crate::emit::VerilogModule>,
) -> Result<(), GenError> {
    let existing: BTreeMap<String, String> = modules
        .iter()
        .map(|(n, t)| (body_key(n, t), n.clone()))
        .collect();
    let mut pending: BTreeMap<String, String> = new.into_iter().map(|m| (m.name, m.text)).collect();
    let mut rename: BTreeMap<String, String> = BTreeMap::new();
    // Leaves resolve first; each pass renames the references to the modules reused so far.
    loop {
        let mut reused = Vec::new();
        for (name, text) in &pending {
            let key = body_key(name, &rename_identifiers(text, &rename));
            if let Some(old) = existing.get(&key).filter(|old| *old != name) {
                reused.push((name.clone(), old.clone()));
            }
        }
        if reused.is_empty() {
            break;
        }
        for (name, old) in reused {
            pending.remove(&name);
            rename.insert(name, old);
        }
    }
    for (name, text) in pending {
        let text = rename_identifiers(&text, &rename);
        match modules.get(&name) {
            Some(existing) if *existing != text => return Err(GenError::Clash(name)),
            _ => {
                modules.insert(name, text);
            }
        }
    }
    Ok(())
}

/// Writes `rtl` into `dir` (created if missing). Files of an earlier generation that are not
/// part of this one are removed when the folder holds a manifest, so the folder matches exactly.
pub fn write_rtl(rtl: &GeneratedRtl, dir: &Path) -> Result<(), GenError> {
    let io = |p: &Path, e: std::io::Error| GenError::Io {
        path: p.display().to_string(),
        what: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let old_manifest = dir.join("manifest.json");
    if let Ok(text) = std::fs::read_to_string(&old_manifest) {
        if let Ok(old) = serde_json::from_str::<Manifest>(&text) {
            for f in old.files {
                if !rtl.files.contains_key(&f.name) && !f.name.contains('/') {
                    let p = dir.join(&f.name);
                    if p.exists() {
                        std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                    }
                }
            }
        }
    }
    // Unchanged files are left alone and changed ones replaced by a rename, so that a reader
    // running at the same time never sees a partly written file.
    for (name, text) in &rtl.files {
        let p = dir.join(name);
        if std::fs::read_to_string(&p).is_ok_and(|t| t == *text) {
            continue;
        }
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// Differences between `rtl` and the folder `dir`: missing, different or extra `.v`/`.json`/
/// `.vlt` files. Empty when the folder is fresh.
pub fn stale_files(rtl: &GeneratedRtl, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (name, text) in &rtl.files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(t) if t == *text => {}
            Ok(_) => out.push(format!("{name}: differs")),
            Err(_) => out.push(format!("{name}: missing")),
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut extra: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                [".v", ".json", ".vlt", ".md", ".h"]
                    .iter()
                    .any(|x| n.ends_with(x))
                    && n != "README.md"
                    && !rtl.files.contains_key(n)
            })
            .collect();
        extra.sort();
        out.extend(extra.into_iter().map(|n| format!("{n}: not generated")));
    }
    out
}
