//! A folder of Verilog to co-simulate: its `config.json`, its `.v` files, and the arrays and PEs
//! found in them by module name (`<kind>_array`, `<kind>_pe`) with their ports read from the
//! Verilog itself, so that a folder edited by hand is simulated as it is.

use crate::{io, CosimError};
use shiftadd_sim::files;
use shiftadd_sim::rtl::{ArrayKind, Port, PortDir, ARRAY_LATENCY, PE_LATENCY};
use shiftadd_sim::spec::AccelConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A loaded folder.
#[derive(Clone, Debug)]
pub struct Design {
    /// The folder.
    pub dir: PathBuf,
    /// Its `config.json`.
    pub cfg: AccelConfig,
    /// Every `.v` file, sorted.
    pub files: Vec<PathBuf>,
    /// `lint.vlt` when present.
    pub waivers: Option<PathBuf>,
    /// Cell models compiled with the folder (a synthesised netlist's primitives); their
    /// modules are not the design's.
    pub libraries: Vec<PathBuf>,
    /// Module name to ports, in header order.
    pub modules: BTreeMap<String, Vec<Port>>,
    /// System tasks that reach the host (`file:line: $task`), see [`host_tasks`].
    pub host_tasks: Vec<String>,
}

/// What one co-simulation drives: an array or a single PE.
#[derive(Clone, Debug)]
pub struct Dut {
    /// Array kind.
    pub kind: ArrayKind,
    /// Top module.
    pub top: String,
    /// Its ports.
    pub ports: Vec<Port>,
    /// Rows (1 for a PE).
    pub rows: usize,
    /// Columns (1 for a PE).
    pub cols: usize,
    /// Cycles from inputs to outputs.
    pub latency: u32,
    /// Whether this is a lone PE (output `term`) rather than an array (outputs `acc_<r>`).
    pub is_pe: bool,
}

/// System tasks that reach the host: run commands or C code, or read or write files.
const HOST_TASKS: &[&str] = &[
    "$system",
    "$fopen",
    "$fclose",
    "$fwrite",
    "$fwriteb",
    "$fwriteh",
    "$fwriteo",
    "$fdisplay",
    "$fdisplayb",
    "$fdisplayh",
    "$fdisplayo",
    "$fstrobe",
    "$fmonitor",
    "$fscanf",
    "$fgets",
    "$fgetc",
    "$fread",
    "$readmemb",
    "$readmemh",
    "$writememb",
    "$writememh",
    "$dumpfile",
    "$sformat",
    "$ferror",
    "$fflush",
    "$fseek",
    "$rewind",
    "$ungetc",
];

/// The system tasks of `text` (comments left out) that reach the host, with their line numbers:
/// [`HOST_TASKS`] and Verilator's `$c` family (`$c`, `$c8` .. `$c64`, `$cpure`).
pub fn host_tasks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (k, line) in strip_comments(text).lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find('$') {
            let tail = &rest[i..];
            let end = tail[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(tail.len(), |e| e + 1);
            let name = &tail[..end];
            let c_family = name == "$cpure"
                || name
                    .strip_prefix("$c")
                    .is_some_and(|d| d.bytes().all(|c| c.is_ascii_digit()));
            if HOST_TASKS.contains(&name) || c_family {
                out.push((k + 1, name.to_string()));
            }
            rest = &tail[end..];
        }
    }
    out
}

impl Design {
    /// Reads `dir/config.json` and the ports of every module of `dir/*.v`.
    pub fn load(dir: &Path) -> Result<Design, CosimError> {
        let cfg_path = dir.join("config.json");
        let text = files::read_text(&cfg_path).map_err(|e| io(&cfg_path, e))?;
        let cfg = AccelConfig::from_json(&text).map_err(|e| io(&cfg_path, e))?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "v"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(io(dir, "no `.v` files"));
        }
        let mut modules = BTreeMap::new();
        let mut found = Vec::new();
        for f in &files {
            let text =
                files::read_text_bounded(f, files::MAX_VERILOG_BYTES).map_err(|e| io(f, e))?;
            found.extend(
                host_tasks(&text)
                    .into_iter()
                    .map(|(line, task)| format!("{}:{line}: {task}", f.display())),
            );
            for (name, ports) in parse_modules(&text).map_err(|what| CosimError::Verilog {
                file: f.display().to_string(),
                what,
            })? {
                modules.insert(name, ports);
            }
        }
        let waivers = Some(dir.join("lint.vlt")).filter(|p| p.is_file());
        Ok(Design {
            dir: dir.to_path_buf(),
            cfg,
            files,
            waivers,
            libraries: Vec::new(),
            modules,
            host_tasks: found,
        })
    }

    /// Refuses a folder whose `config.json` does not describe its arrays: rows, columns and the
    /// operand, weight and accumulator widths the contract gives the config, against the ports
    /// of each `<kind>_array` module. Without this a wrong config would show as an RTL mismatch.
    pub fn check_config(&self) -> Result<(), CosimError> {
        let cfg_path = self.dir.join("config.json");
        for dut in self.arrays() {
            let w = shiftadd_sim::rtl::array_widths(&self.cfg, dut.kind);
            let width = |port: &str| {
                dut.ports
                    .iter()
                    .find(|p| p.name == port)
                    .map_or(0, |p| p.width)
            };
            for (field, config, verilog) in [
                ("rows", self.cfg.rows as usize, dut.rows),
                ("cols", self.cfg.cols as usize, dut.cols),
                ("operand width", w.xw, width("x_0")),
                ("weight width", w.ww, width("w_0")),
                ("accumulator width", w.acc, width("acc_0")),
            ] {
                if config != verilog {
                    return Err(io(
                        &cfg_path,
                        format!(
                            "field `{field}`: the config gives {config}, the Verilog's `{}` has {verilog}; this config.json does not describe the Verilog",
                            dut.top
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses a folder whose Verilog calls system tasks that reach the host, unless `allow`:
    /// simulating Verilog executes it.
    pub fn check_host_tasks(&self, allow: bool) -> Result<(), CosimError> {
        if allow || self.host_tasks.is_empty() {
            return Ok(());
        }
        Err(io(
            &self.dir,
            format!(
                "the Verilog calls system tasks that reach the host (simulating it would run them): {}; pass --allow-system-tasks to simulate it anyway",
                self.host_tasks.join(", ")
            ),
        ))
    }

    /// What a simulator compiles: the folder's `.v` files, then the cell models.
    pub fn sources(&self) -> Vec<PathBuf> {
        self.files.iter().chain(&self.libraries).cloned().collect()
    }

    /// The arrays of the folder (modules named `<kind>_array`), in kind order.
    pub fn arrays(&self) -> Vec<Dut> {
        ArrayKind::ALL
            .iter()
            .filter_map(|&kind| {
                let top = kind.array_module();
                let ports = self.modules.get(&top)?.clone();
                let count = |prefix: &str| {
                    ports
                        .iter()
                        .filter(|p| indexed(&p.name, prefix).is_some())
                        .count()
                };
                Some(Dut {
                    kind,
                    rows: count("acc"),
                    cols: count("x"),
                    top,
                    ports,
                    latency: ARRAY_LATENCY,
                    is_pe: false,
                })
            })
            .collect()
    }

    /// The PE of each array of the folder; in a folder without arrays (a netlist of PEs alone),
    /// every `<kind>_pe` module.
    pub fn pes(&self) -> Vec<Dut> {
        let mut kinds: Vec<ArrayKind> = self.arrays().iter().map(|a| a.kind).collect();
        if kinds.is_empty() {
            kinds = ArrayKind::ALL.to_vec();
        }
        kinds
            .into_iter()
            .filter_map(|kind| {
                let top = kind.pe_module();
                let ports = self.modules.get(&top)?.clone();
                Some(Dut {
                    kind,
                    top,
                    ports,
                    rows: 1,
                    cols: 1,
                    latency: PE_LATENCY,
                    is_pe: true,
                })
            })
            .collect()
    }
}

/// `Some(i)` when `name` is `<prefix>_<i>`.
pub fn indexed(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.strip_prefix('_')?.parse().ok()
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            let end = r.find("*/").unwrap_or(r.len());
            // The comment's line breaks stay, so that every line keeps its number.
            out.push(' ');
            out.extend(r[..end].chars().filter(|&c| c == '\n'));
            rest = r.get(end + 2..).unwrap_or("");
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Modules and their ports, in header order. Reads both header styles: `module m(a, b); input
/// [3:0] a; ...` and `module m(input wire [3:0] a, ...);`. Widths must be constant `[msb:lsb]`.
pub fn parse_modules(text: &str) -> Result<Vec<(String, Vec<Port>)>, String> {
    let text = strip_comments(text);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = find_word(rest, "module") {
        let after = &rest[i + "module".len()..];
        let end = find_word(after, "endmodule")
            .ok_or_else(|| "a `module` without `endmodule`".to_string())?;
        let body = &after[..end];
        rest = &after[end + "endmodule".len()..];
        let name_end = body
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c.is_whitespace()))
            .unwrap_or(body.len());
        let name = body[..name_end].trim().to_string();
        let header_end = body
            .find(';')
            .ok_or_else(|| format!("module `{name}`: no `;` after its header"))?;
        let header = &body[name_end..header_end];
        let list = header
            .trim()
            .strip_prefix('(')
            .and_then(|h| h.strip_suffix(')'))
            .unwrap_or("");
        let mut decls: BTreeMap<String, (PortDir, usize)> = BTreeMap::new();
        let mut order = Vec::new();
        let ansi = list.contains("input") || list.contains("output");
        if ansi {
            let mut current: Option<(PortDir, usize)> = None;
            for item in list.split(',') {
                let (decl, names) = declaration(item, &name)?;
                current = decl.or(current);
                let d = current.ok_or_else(|| format!("module `{name}`: port `{item}`"))?;
                for n in names {
                    order.push(n.clone());
                    decls.insert(n, d);
                }
            }
        } else {
            order = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            for stmt in body[header_end + 1..].split(';') {
                if let (Some(d), names) = declaration(stmt, &name)? {
                    for n in names {
                        decls.insert(n, d);
                    }
                }
            }
        }
        let ports = order
            .iter()
            .map(|n| {
                let (dir, width) = decls
                    .get(n)
                    .ok_or_else(|| format!("module `{name}`: port `{n}` has no direction"))?;
                Ok(Port {
                    name: n.clone(),
                    dir: *dir,
                    width: *width,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        out.push((name, ports));
    }
    Ok(out)
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// A port declaration `input|output [wire|reg|logic] [signed] [[msb:lsb]] a, b`: its direction
/// and width (or `None` for a bare name in an ANSI list), and its names.
type Declaration = (Option<(PortDir, usize)>, Vec<String>);

fn declaration(stmt: &str, module: &str) -> Result<Declaration, String> {
    let s = stmt.trim();
    let (dir, mut rest) = if let Some(r) = s.strip_prefix("input") {
        (PortDir::Input, r)
    } else if let Some(r) = s.strip_prefix("output") {
        (PortDir::Output, r)
    } else {
        return Ok((
            None,
            vec![s.to_string()]
                .into_iter()
                .filter(|n| is_name(n))
                .collect(),
        ));
    };
    if !rest.starts_with(|c: char| c.is_whitespace() || c == '[') {
        return Ok((None, Vec::new()));
    }
    for kw in ["wire", "reg", "logic", "signed"] {
        let t = rest.trim_start();
        // A keyword, not the start of a name such as `reg_we`.
        if let Some(r) = t
            .strip_prefix(kw)
            .filter(|r| r.starts_with(|c: char| c.is_whitespace() || c == '['))
        {
            rest = r;
        }
    }
    let mut width = 1;
    let t = rest.trim_start();
    if let Some(r) = t.strip_prefix('[') {
        let (range, names) = r
            .split_once(']')
            .ok_or_else(|| format!("module `{module}`: `{s}`"))?;
        let (msb, lsb) = range
            .split_once(':')
            .and_then(|(m, l)| {
                Some((
                    m.trim().parse::<usize>().ok()?,
                    l.trim().parse::<usize>().ok()?,
                ))
            })
            .ok_or_else(|| {
                format!("module `{module}`: `{s}`: port ranges must be constant `[msb:lsb]`")
            })?;
        width = msb.abs_diff(lsb) + 1;
        rest = names;
    }
    let names: Vec<String> = rest
        .split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if let Some(bad) = names.iter().find(|n| !is_name(n)) {
        return Err(format!(
            "module `{module}`: cannot read port `{bad}` in `{s}`"
        ));
    }
    Ok((Some((dir, width)), names))
}

fn is_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !n.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tasks_are_found_outside_comments() {
        let v = "module m;\n// $system(\"x\")\n/* $fopen\n */ initial $system(\"rm -rf x\");\n\
                 localparam W = $clog2(8);\ninitial begin $c(\"abort();\"); $c32(1); $display(1); end\n\
                 initial $readmemh(\"f\", mem);\nendmodule\n";
        assert_eq!(
            host_tasks(v),
            vec![
                (4, "$system".to_string()),
                (6, "$c".to_string()),
                (6, "$c32".to_string()),
                (7, "$readmemh".to_string())
            ]
        );
        assert!(host_tasks("module m; assign y = $signed(a) >>> $clog2(4); endmodule").is_empty());
    }

    #[test]
    fn reads_both_header_styles() {
        let v = "// c\nmodule a(clock, x, y);\n input wire clock;\n input wire [7:0] x; /* z */\n output reg signed [16:0] y;\n wire [3:0] t;\nendmodule\nmodule b(input clock, input [3:0] p, q, output wire [0:0] reg_out);\nendmodule\n";
        let m = parse_modules(v).unwrap();
        let widths = |i: usize| -> Vec<(String, usize, PortDir)> {
            m[i].1
                .iter()
                .map(|p| (p.name.clone(), p.width, p.dir))
                .collect()
        };
        assert_eq!(m[0].0, "a");
        assert_eq!(
            widths(0),
            vec![
                ("clock".into(), 1, PortDir::Input),
                ("x".into(), 8, PortDir::Input),
                ("y".into(), 17, PortDir::Output)
            ]
        );
        assert_eq!(m[1].0, "b");
        assert_eq!(
            widths(1),
            vec![
                ("clock".into(), 1, PortDir::Input),
                ("p".into(), 4, PortDir::Input),
                ("q".into(), 4, PortDir::Input),
                ("reg_out".into(), 1, PortDir::Output)
            ]
        );
    }

    #[test]
    fn refuses_parameterised_ranges() {
        let e = parse_modules("module a(x); input [W-1:0] x; endmodule").unwrap_err();
        assert!(e.contains("constant"), "{e}");
    }
}
