//! Verilog emission: rust-hdl writes one module per instance, named by its path (`top$pe$3`).
//! This pass gives identical modules one readable name and emits each body once, so a 16x16
//! array carries one PE module, not 256. Names come from the instance path with indices dropped
//! (`top$pe$3` of the shift array becomes `shift_pe`); flip-flops become `dff_<width>`. `$` in
//! signal names becomes `_`, refused if that would merge two names.

use rust_hdl_core::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// One Verilog module, without file header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerilogModule {
    /// Module name.
    pub name: String,
    /// `module ... endmodule`.
    pub text: String,
}

/// Direction of a top-level port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortDir {
    /// Input.
    Input,
    /// Output.
    Output,
}

/// A port of a top module.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Port {
    /// Name.
    pub name: String,
    /// Direction.
    pub dir: PortDir,
    /// Width in bits.
    pub width: usize,
}

/// A block emitted as deduplicated modules.
#[derive(Clone, Debug)]
pub struct EmittedDesign {
    /// Name of the top module.
    pub top: String,
    /// Ports of the top module, in declaration order.
    pub ports: Vec<Port>,
    /// Every module, sorted by name, each once.
    pub modules: Vec<VerilogModule>,
}

/// Why a block could not be emitted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EmitError {
    /// rust-hdl's design checks failed (unconnected or multiply driven signals, loops).
    #[error("design `{design}` fails rust-hdl's checks: {what}")]
    Check {
        /// Design name.
        design: String,
        /// rust-hdl's report.
        what: String,
    },
    /// The emitted text is not in the shape this pass reads.
    #[error("design `{design}`: cannot read rust-hdl's output: {what}")]
    Parse {
        /// Design name.
        design: String,
        /// What was unexpected.
        what: String,
    },
}

/// Emits `block` with top module `top`; submodules are named `<prefix>_<path>`.
pub fn emit_block<B: Block>(
    block: &mut B,
    prefix: &str,
    top: &str,
) -> Result<EmittedDesign, EmitError> {
    block.connect_all();
    check_all(block).map_err(|e| EmitError::Check {
        design: top.into(),
        what: format!("{e:?}"),
    })?;
    let raw = generate_verilog_unchecked(block);
    dedup(&raw, prefix, top)
}

/// Splits rust-hdl's output into `(path, text)` per module.
fn split_modules(raw: &str, design: &str) -> Result<BTreeMap<String, String>, EmitError> {
    let err = |what: String| EmitError::Parse {
        design: design.into(),
        what,
    };
    let mut modules = BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in raw.lines() {
        if let Some(rest) = line.strip_prefix("module ") {
            if current.is_some() {
                return Err(err(format!("nested module at `{line}`")));
            }
            let name = rest
                .split('(')
                .next()
                .ok_or_else(|| err(format!("module line `{line}`")))?;
            current = Some((name.to_string(), vec![line]));
        } else if line.starts_with("endmodule") {
            let (name, mut lines) = current
                .take()
                .ok_or_else(|| err("endmodule outside a module".into()))?;
            lines.push("endmodule");
            modules.insert(name, lines.join("\n"));
        } else if let Some((_, lines)) = current.as_mut() {
            if !line.trim().is_empty() {
                lines.push(line.trim_end());
            }
        }
    }
    if current.is_some() {
        return Err(err("unterminated module".into()));
    }
    Ok(modules)
}

/// Width of a flip-flop module's `q`, or `None` when `text` is not rust-hdl's `DFF`.
fn dff_width(text: &str) -> Option<usize> {
    let header = text.lines().next()?;
    if !header.ends_with("(d,q,clock);") || !text.contains("q <= d;") {
        return None;
    }
    let decl = text
        .lines()
        .find(|l| l.trim_start().starts_with("output reg") && l.trim_end().ends_with(" q;"))?;
    Some(match decl.split_once('[') {
        Some((_, range)) => range.split(':').next()?.trim().parse::<usize>().ok()? + 1,
        None => 1,
    })
}

/// Identifier tokens of Verilog text (runs of letters, digits, `_` and `$`).
fn identifiers(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Replaces `$` inside identifiers with `_`; system functions (`$signed`) are kept.
fn rename_dollars(text: &str, module: &str, design: &str) -> Result<String, EmitError> {
    let tokens = identifiers(text);
    let mut renamed: BTreeMap<String, &str> = BTreeMap::new();
    for t in &tokens {
        if t.starts_with('$') || !t.contains('$') {
            continue;
        }
        let new = t.replace('$', "_");
        if tokens.contains(new.as_str()) {
            return Err(EmitError::Parse {
                design: design.into(),
                what: format!("module `{module}`: `{t}` would become `{new}`, which exists"),
            });
        }
        if let Some(other) = renamed.insert(new.clone(), t) {
            return Err(EmitError::Parse {
                design: design.into(),
                what: format!("module `{module}`: `{t}` and `{other}` would both become `{new}`"),
            });
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut prev_ident = false;
    for c in text.chars() {
        if c == '$' && prev_ident {
            out.push('_');
        } else {
            out.push(c);
        }
        prev_ident = c.is_ascii_alphanumeric() || c == '_' || (c == '$' && prev_ident);
    }
    Ok(out)
}

/// The instance-path name of a module: path components without indices, `top` dropped.
fn path_name(path: &str, prefix: &str) -> String {
    let parts: Vec<&str> = path
        .split('$')
        .skip(1)
        .filter(|p| !p.chars().all(|c| c.is_ascii_digit()))
        .collect();
    format!("{prefix}_{}", parts.join("_"))
}

fn dedup(raw: &str, prefix: &str, top: &str) -> Result<EmittedDesign, EmitError> {
    let modules = split_modules(raw, top)?;
    if !modules.contains_key("top") {
        return Err(EmitError::Parse {
            design: top.into(),
            what: "no module `top`".into(),
        });
    }
    // Children before parents: deepest paths first.
    let mut order: Vec<&String> = modules.keys().collect();
    order.sort_by_key(|p| (std::cmp::Reverse(p.matches('$').count()), (*p).clone()));
    let mut canonical: BTreeMap<String, String> = BTreeMap::new();
    let mut by_body: BTreeMap<String, String> = BTreeMap::new();
    let mut bodies: BTreeMap<String, String> = BTreeMap::new();
    for path in order {
        let text = &modules[path];
        // Point instances at the canonical names of their modules.
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let kind = trimmed.split(' ').next().unwrap_or("");
            if i == 0 {
                lines.push("module @(".to_string() + line.split_once('(').map_or("", |x| x.1));
            } else if line == "endmodule" {
                lines.push(line.to_string());
            } else if trimmed.ends_with('(') && canonical.contains_key(kind) {
                let indent = &line[..line.len() - trimmed.len()];
                lines.push(format!(
                    "{indent}{}{}",
                    canonical[kind],
                    &trimmed[kind.len()..]
                ));
            } else {
                lines.push(line.to_string());
            }
        }
        let body = lines.join("\n");
        if let Some(name) = by_body.get(&body) {
            canonical.insert(path.clone(), name.clone());
            continue;
        }
        let base = if path == "top" {
            top.to_string()
        } else if let Some(w) = dff_width(text) {
            format!("dff_{w}")
        } else {
            path_name(path, prefix)
        };
        let mut name = base.clone();
        let mut n = 2;
        while bodies.contains_key(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        canonical.insert(path.clone(), name.clone());
        by_body.insert(body.clone(), name.clone());
        bodies.insert(name, body);
    }
    let mut out = Vec::new();
    for (name, body) in &bodies {
        let text = body
            .replacen("module @(", &format!("module {name}("), 1)
            .to_string();
        let text = rename_dollars(&text, name, top)?;
        out.push(VerilogModule {
            name: name.clone(),
            text: format!("{text} // {name}\n"),
        });
    }
    let top_text = &out
        .iter()
        .find(|m| m.name == top)
        .ok_or_else(|| EmitError::Parse {
            design: top.into(),
            what: "top module lost".into(),
        })?
        .text;
    let ports = top_ports(top_text, top)?;
    Ok(EmittedDesign {
        top: top.to_string(),
        ports,
        modules: out,
    })
}

/// Ports of a module from its `input wire` / `output reg` declarations.
fn top_ports(text: &str, design: &str) -> Result<Vec<Port>, EmitError> {
    let mut ports = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        let (dir, rest) = if let Some(r) = l.strip_prefix("input wire") {
            (PortDir::Input, r)
        } else if let Some(r) = l
            .strip_prefix("output reg")
            .or_else(|| l.strip_prefix("output wire"))
        {
            (PortDir::Output, r)
        } else {
            continue;
        };
        let rest = rest.trim().trim_start_matches("signed").trim();
        let (width, name) = match rest.strip_prefix('[') {
            Some(r) => {
                let (range, name) = r.split_once(']').ok_or_else(|| EmitError::Parse {
                    design: design.into(),
                    what: format!("port line `{l}`"),
                })?;
                let msb: usize = range
                    .split(':')
                    .next()
                    .and_then(|m| m.trim().parse().ok())
                    .ok_or_else(|| EmitError::Parse {
                        design: design.into(),
                        what: format!("port range `{l}`"),
                    })?;
                (msb + 1, name)
            }
            None => (1, rest),
        };
        ports.push(Port {
            name: name.trim().trim_end_matches(';').trim().to_string(),
            dir,
            width,
        });
    }
    Ok(ports)
}
