//! Verilog emission: rust-hdl writes one module per instance, named by its path (`top$pe$3`).
//! This pass gives identical modules one readable name and emits each body once, so a 16x16
//! array carries one PE module, not 256. Names come from the instance path with indices dropped
//! (`top$pe$3` of the shift array becomes `shift_pe`); flip-flops become `dff_<width>` and
//! memories `ram_<width>x<depth>`. `$` in signal names becomes `_`, refused if that would merge
//! two names.

use rust_hdl_core::atom::{is_atom_signed, AtomKind};
use rust_hdl_core::prelude::*;
use rust_hdl_core::verilog_gen::{verilog_combinatorial, verilog_link_extraction};
pub use shiftadd_sim::rtl::{Port, PortDir};
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
    let mut collect = Collect::default();
    block.accept("top", &mut collect);
    let mut modules = BTreeMap::new();
    for (path, m) in &collect.modules {
        modules.insert(path.clone(), m.text(path, &collect.modules, top)?);
    }
    dedup(modules, prefix, top)
}

/// A declared signal of a module.
struct AtomDecl {
    name: String,
    kind: AtomKind,
    width: usize,
    signed: bool,
    value: String,
}

/// What one module instance holds, as rust-hdl's probe reports it.
#[derive(Default)]
struct ModuleInfo {
    atoms: Vec<AtomDecl>,
    /// `(instance name, module path)`.
    children: Vec<(String, String)>,
    code: Option<Verilog>,
}

/// Collects every module instance. rust-hdl's own writer does the same but checks port
/// pass-through pairwise, which is quadratic in the number of instances (7 s for a 32x32 array);
/// these blocks never pass ports through, so each module is written in one linear pass.
#[derive(Default)]
struct Collect {
    path: Vec<String>,
    namespace: Vec<String>,
    modules: BTreeMap<String, ModuleInfo>,
}

impl Collect {
    fn current(&self) -> String {
        self.path.join("$")
    }
}

impl Probe for Collect {
    fn visit_start_scope(&mut self, name: &str, node: &dyn Block) {
        let parent = self.current();
        self.path.push(name.to_string());
        let me = self.current();
        if !parent.is_empty() {
            self.modules
                .entry(parent)
                .or_default()
                .children
                .push((name.to_string(), me.clone()));
        }
        self.modules.entry(me).or_default().code = Some(node.hdl());
    }

    fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
        self.namespace.push(name.to_string());
    }

    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        let mut full = self.namespace.clone();
        full.push(name.to_string());
        let name = full.join("$");
        let kind = signal.kind();
        let decl = AtomDecl {
            name: name.clone(),
            kind,
            width: signal.bits(),
            signed: is_atom_signed(signal),
            value: signal.verilog().to_string(),
        };
        if kind.is_parameter() && self.path.len() > 1 {
            let instance = self.path.last().cloned().unwrap_or_default();
            let parent = self.path[..self.path.len() - 1].join("$");
            let stub = AtomDecl {
                name: format!("{instance}${name}"),
                kind: if kind == AtomKind::InputParameter {
                    AtomKind::StubInputSignal
                } else {
                    AtomKind::StubOutputSignal
                },
                width: decl.width,
                signed: decl.signed,
                value: String::new(),
            };
            self.modules.entry(parent).or_default().atoms.push(stub);
        }
        let me = self.current();
        self.modules.entry(me).or_default().atoms.push(decl);
    }

    fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
        self.namespace.pop();
    }

    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.path.pop();
    }
}

impl AtomDecl {
    fn decl(&self, keyword: &str) -> String {
        let signed = if self.signed { " signed" } else { "" };
        if self.width == 1 {
            format!("    {keyword}{signed} {};", self.name)
        } else {
            format!(
                "    {keyword}{signed} [{}:0] {};",
                self.width - 1,
                self.name
            )
        }
    }
}

impl ModuleInfo {
    /// The module's text, named by its path (the dedup pass renames it).
    fn text(
        &self,
        path: &str,
        all: &BTreeMap<String, ModuleInfo>,
        design: &str,
    ) -> Result<String, EmitError> {
        let err = |what: String| EmitError::Parse {
            design: design.into(),
            what: format!("module `{path}`: {what}"),
        };
        let args: Vec<&AtomDecl> = self
            .atoms
            .iter()
            .filter(|a| a.kind.is_parameter())
            .collect();
        let mut out = vec![format!(
            "module {path}({});",
            args.iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        )];
        let section = |out: &mut Vec<String>, title: &str, lines: Vec<String>| {
            if !lines.is_empty() {
                out.push(format!("    // {title}"));
                out.extend(lines);
            }
        };
        let mut ports = Vec::new();
        for a in &args {
            ports.push(match a.kind {
                AtomKind::InputParameter => a.decl("input wire"),
                AtomKind::OutputParameter => a.decl("output reg"),
                other => return Err(err(format!("port `{}` of kind {other:?}", a.name))),
            });
        }
        section(&mut out, "Ports", ports);
        let of_kind = |k: AtomKind| self.atoms.iter().filter(move |a| a.kind == k);
        section(
            &mut out,
            "Constants",
            of_kind(AtomKind::Constant)
                .map(|a| format!("    localparam {} = {};", a.name, a.value))
                .collect(),
        );
        let stubs = self
            .atoms
            .iter()
            .filter(|a| a.kind.is_stub())
            .map(|a| {
                a.decl(if a.kind == AtomKind::StubInputSignal {
                    "reg"
                } else {
                    "wire"
                })
            })
            .collect();
        section(&mut out, "Submodule ports", stubs);
        section(
            &mut out,
            "Local signals",
            of_kind(AtomKind::LocalSignal)
                .map(|a| a.decl("reg"))
                .collect(),
        );
        for (instance, child) in &self.children {
            let ports = all
                .get(child)
                .ok_or_else(|| err(format!("instance `{instance}` of an unknown module")))?
                .atoms
                .iter()
                .filter(|a| a.kind.is_parameter())
                .map(|a| format!("        .{0}({instance}${0})", a.name))
                .collect::<Vec<_>>()
                .join(",\n");
            out.push(format!("    {child} {instance}(\n{ports}\n    );"));
        }
        let code = match &self.code {
            Some(Verilog::Combinatorial(code)) => {
                if !verilog_link_extraction(code).is_empty() {
                    return Err(err("signal links are not supported".into()));
                }
                verilog_combinatorial(code)
            }
            Some(Verilog::Custom(code)) => code.clone(),
            Some(Verilog::Empty) | None => String::new(),
            Some(_) => return Err(err("wrapper or black-box Verilog is not supported".into())),
        };
        out.push("    // Logic".into());
        for line in code.lines() {
            let line = line.trim_end();
            if !line.trim().is_empty() {
                out.push(format!("    {line}"));
            }
        }
        out.push("endmodule".into());
        Ok(out.join("\n"))
    }
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

/// Width and depth of a memory module, or `None` when `text` is not rust-hdl's `RAM`.
fn ram_shape(text: &str) -> Option<(usize, usize)> {
    let header = text.lines().next()?;
    if !header.ends_with(
        "(read_address,read_clock,read_data,write_address,write_clock,write_data,write_enable);",
    ) {
        return None;
    }
    // `reg[7:0] mem[255:0];`
    let decl = text
        .lines()
        .find(|l| l.trim_start().starts_with("reg[") && l.contains(" mem["))?;
    let msb = |s: &str| -> Option<usize> { s.split(':').next()?.trim().parse().ok() };
    let (word, rest) = decl.trim_start().strip_prefix("reg[")?.split_once(']')?;
    let depth = rest.split_once("mem[")?.1;
    Some((msb(word)? + 1, msb(depth)? + 1))
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

fn dedup(
    modules: BTreeMap<String, String>,
    prefix: &str,
    top: &str,
) -> Result<EmittedDesign, EmitError> {
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
        } else if let Some((w, d)) = ram_shape(text) {
            format!("ram_{w}x{d}")
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
