//! Mutation analysis of the engine co-simulation: single-site edits of a folder's Verilog
//! (operators, constants, bit indices, signed casts, shift directions, comparisons, inverted
//! conditions), each co-simulated with the same stimulus. A mutant the co-simulation does not
//! catch is checked for equivalence with Yosys (the mutated module against the original, other
//! modules as black boxes); one not proven equivalent is an escape.

use crate::design::Design;
use crate::{io, CosimError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One single-site edit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Site {
    /// File name in the folder.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Byte column of the edited text in the line, from 0.
    pub col: usize,
    /// What kind of edit.
    pub op: &'static str,
    /// The text replaced.
    pub from: String,
    /// The text put in its place.
    pub to: String,
}

impl Site {
    /// `file:line`, the edit and the line before and after.
    pub fn describe(&self, original_line: &str) -> String {
        describe_edit(
            &self.file,
            self.line,
            self.col,
            self.op,
            &self.from,
            &self.to,
            original_line,
        )
    }
}

/// `file:line`, the edit (`from` at byte `col` of `original_line` becoming `to`) and the line
/// before and after; the edit alone when the line does not hold it.
pub fn describe_edit(
    file: &str,
    line: usize,
    col: usize,
    op: &str,
    from: &str,
    to: &str,
    original_line: &str,
) -> String {
    let head = format!("{file}:{line} ({op}: `{from}` -> `{to}`)");
    if original_line.get(col..col + from.len()) != Some(from) {
        return head;
    }
    let mutated = format!(
        "{}{to}{}",
        &original_line[..col],
        &original_line[col + from.len()..]
    );
    format!(
        "{head}\n    - {}\n    + {}",
        original_line.trim(),
        mutated.trim()
    )
}

/// Binary operators as rust-hdl emits them (spaces around), and their replacements.
const OPERATORS: [(&str, &str, &str); 14] = [
    (" + ", " - ", "arithmetic"),
    (" - ", " + ", "arithmetic"),
    (" & ", " | ", "logic"),
    (" | ", " & ", "logic"),
    (" ^ ", " & ", "logic"),
    (" == ", " != ", "comparison"),
    (" != ", " == ", "comparison"),
    (" < ", " <= ", "comparison"),
    (" <= ", " < ", "comparison"),
    (" > ", " >= ", "comparison"),
    (" >= ", " > ", "comparison"),
    (" >> ", " << ", "shift direction"),
    (" << ", " >> ", "shift direction"),
    (" >>> ", " >> ", "signed shift"),
];

/// Whether a line is logic a mutation may edit: an assignment inside an `always` block or an
/// `if` condition (not a declaration, a port list, an instance or a flip-flop's `<=`).
fn editable(line: &str) -> bool {
    let t = line.trim_start();
    let decl = [
        "input ",
        "output ",
        "reg ",
        "wire ",
        "module ",
        "localparam ",
        "//",
        ".",
    ];
    if decl.iter().any(|d| t.starts_with(d)) {
        return false;
    }
    t.starts_with("if (") || t.starts_with("else if (") || (t.contains(" = ") && t.ends_with(';'))
}

/// Every site of the edits above in `text` (file `file`), in line and column order.
pub fn file_sites(file: &str, text: &str) -> Vec<Site> {
    let mut v = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if !editable(line) {
            continue;
        }
        let t = line.trim_start();
        // Only the right-hand side of an assignment or the condition of an `if`.
        let start = if t.starts_with("if (") || t.starts_with("else if (") {
            line.find("if (").unwrap_or(0) + 3
        } else {
            line.find(" = ").map_or(line.len(), |p| p + 3)
        };
        let rhs = &line[start..];
        let mut push = |col: usize, op: &'static str, from: &str, to: String| {
            v.push(Site {
                file: file.to_string(),
                line: i + 1,
                col: start + col,
                op,
                from: from.to_string(),
                to,
            });
        };
        let mut taken: BTreeSet<usize> = BTreeSet::new();
        // Longest operators first, so that `>>>` is not also taken as `>>` or `>`.
        let mut ops = OPERATORS.to_vec();
        ops.sort_by_key(|(f, _, _)| std::cmp::Reverse(f.len()));
        for (from, to, op) in ops {
            for (p, _) in rhs.match_indices(from) {
                if (p..p + from.len()).any(|q| taken.contains(&q)) {
                    continue;
                }
                taken.extend(p..p + from.len());
                push(p, op, from, to.to_string());
            }
        }
        // Sized constants: `N'hX`, `N'bX`, `N'dX` with the lowest bit flipped.
        let bytes = rhs.as_bytes();
        let mut p = 0;
        while let Some(q) = rhs[p..].find('\'') {
            let at = p + q;
            p = at + 1;
            let Some(&base) = bytes.get(at + 1) else {
                break;
            };
            if !matches!(base, b'h' | b'b' | b'd') {
                continue;
            }
            let digits: String = rhs[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            if digits.is_empty() {
                continue;
            }
            let radix = match base {
                b'h' => 16,
                b'b' => 2,
                _ => 10,
            };
            let Ok(v) = u128::from_str_radix(&digits, radix) else {
                continue;
            };
            let flipped = v ^ 1;
            let new = match radix {
                16 => format!("{flipped:x}"),
                2 => format!("{flipped:b}"),
                _ => flipped.to_string(),
            };
            // Bit indices: `[N'hK]` to the next bit, as a constant of its own.
            let index = at > 0
                && rhs[..at]
                    .trim_end_matches(|c: char| c.is_ascii_digit())
                    .ends_with('[');
            push(
                at + 2,
                if index { "bit index" } else { "constant" },
                &digits,
                if index { format!("{:x}", v + 1) } else { new },
            );
        }
        for (q, _) in rhs.match_indices("$signed(") {
            push(q, "signed cast", "$signed(", "(".into());
        }
        if t.starts_with("if (") || t.starts_with("else if (") {
            if let Some(end) = line.rfind(") begin") {
                let cond = &line[start..end + 1];
                push(0, "inverted condition", cond, format!("(!{cond})"));
            }
        }
    }
    v
}

/// The files of `design` whose modules `top` reaches by instantiation (itself included).
pub fn reached_files(design: &Design, top: &str) -> Result<Vec<PathBuf>, CosimError> {
    let mut texts: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for f in &design.files {
        let text = std::fs::read_to_string(f).map_err(|e| io(f, e))?;
        for name in design.modules.keys() {
            if text.contains(&format!("module {name}(")) {
                texts.insert(name.clone(), (f.clone(), text.clone()));
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![top.to_string()];
    while let Some(m) = todo.pop() {
        if !seen.insert(m.clone()) {
            continue;
        }
        if let Some((_, text)) = texts.get(&m) {
            for other in design.modules.keys() {
                if text.contains(&format!("\n    {other} ")) {
                    todo.push(other.clone());
                }
            }
        }
    }
    let mut files: Vec<PathBuf> = seen
        .iter()
        .filter_map(|m| texts.get(m).map(|(f, _)| f.clone()))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Applies `site` to `text`.
pub fn apply(text: &str, site: &Site) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut found = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == site.line && line.get(site.col..site.col + site.from.len()) == Some(&site.from)
        {
            out.push_str(&line[..site.col]);
            out.push_str(&site.to);
            out.push_str(&line[site.col + site.from.len()..]);
            found = true;
        } else {
            out.push_str(line);
        }
    }
    found.then_some(out)
}

/// Copies `design`'s folder into `dest` (created), the files `edited` names written as `edit`
/// returns them (given the name and the text).
fn copy_folder(
    design: &Design,
    dest: &Path,
    edited: impl Fn(&str) -> bool,
    mut edit: impl FnMut(&str, &str) -> Result<String, CosimError>,
) -> Result<(), CosimError> {
    std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    for entry in std::fs::read_dir(&design.dir).map_err(|e| io(&design.dir, e))? {
        let p = entry.map_err(|e| io(&design.dir, e))?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !p.is_file() {
            continue;
        }
        let to = dest.join(name);
        if edited(name) {
            let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
            std::fs::write(&to, edit(name, &text)?).map_err(|e| io(&to, e))?;
        } else {
            std::fs::copy(&p, &to).map_err(|e| io(&to, e))?;
        }
    }
    Ok(())
}

/// Writes a copy of `design`'s folder with `site` applied into `dest` (created).
pub fn write_mutant(design: &Design, site: &Site, dest: &Path) -> Result<(), CosimError> {
    copy_folder(
        design,
        dest,
        |name| name == site.file,
        |_, text| {
            apply(text, site).ok_or_else(|| {
                CosimError::Design(format!(
                    "{}:{}: the site's text is not there",
                    site.file, site.line
                ))
            })
        },
    )
}

/// The run-time switch of a folder written by [`write_schemata`]: a simulation given
/// `+shiftadd_mutant=K` runs mutant K, without it (or with 0) the original.
pub const SWITCH: &str = "shiftadd_mutant";

/// `line` with each of `edits` (mutant number, site) behind [`SWITCH`], or `None` for a line of
/// another shape. An assignment becomes a chain of `if (switch == K) <mutated> else` before the
/// original statement, so that each statement keeps its own widths and signedness; an `if`
/// condition becomes a choice among the conditions, each reduced to one bit (`|(...)`), which
/// keeps the truth value of the condition's self-determined width.
fn schema_line(line: &str, edits: &[(usize, &Site)]) -> Option<String> {
    let mut mutated = Vec::new();
    for (k, site) in edits {
        if line.get(site.col..site.col + site.from.len()) != Some(site.from.as_str()) {
            return None;
        }
        let m = format!(
            "{}{}{}",
            &line[..site.col],
            site.to,
            &line[site.col + site.from.len()..]
        );
        mutated.push((*k, m));
    }
    let t = line.trim_start();
    if t.starts_with("if (") || t.starts_with("else if (") {
        let start = line.find("if (")? + 3;
        let cond = |l: &str| -> Option<String> {
            let end = l.rfind(") begin")?;
            (end >= start && l.ends_with(") begin")).then(|| l[start..end + 1].to_string())
        };
        let mut chain = String::new();
        for (k, m) in &mutated {
            chain.push_str(&format!("{SWITCH} == 32'd{k} ? |{} : ", cond(m)?));
        }
        return Some(format!("{}({chain}|{}) begin", &line[..start], cond(line)?));
    }
    // A continuous assignment cannot hold an `if`.
    if !(t.contains(" = ") && t.ends_with(';')) || t.starts_with("assign ") {
        return None;
    }
    let indent = line.len() - t.len();
    let start = indent + if t.starts_with("always @(*) ") { 12 } else { 0 };
    let mut chain = String::new();
    for (k, m) in &mutated {
        chain.push_str(&format!("if ({SWITCH} == 32'd{k}) {} else ", &m[start..]));
    }
    Some(format!("{}{chain}{}", &line[..start], &line[start..]))
}

/// The switch's declaration, put into every module holding a mutant.
fn switch_declaration() -> String {
    format!(
        "    // Mutation analysis: mutant K of this folder runs when the simulation is given +{SWITCH}=K.\n    reg [31:0] {SWITCH};\n    initial begin\n        if (!$value$plusargs(\"{SWITCH}=%d\", {SWITCH})) {SWITCH} = 0;\n    end\n"
    )
}

/// `text` (file `file`) with the mutants of `numbered` (mutant number, site) that lie in it
/// behind [`SWITCH`]; the sites whose line has another shape are returned, left out.
pub fn schema_text<'a>(
    file: &str,
    text: &str,
    numbered: &[(usize, &'a Site)],
) -> (String, Vec<&'a Site>) {
    let mut by_line: BTreeMap<usize, Vec<(usize, &Site)>> = BTreeMap::new();
    for (k, s) in numbered.iter().filter(|(_, s)| s.file == file) {
        by_line.entry(s.line).or_default().push((*k, *s));
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut left_out = Vec::new();
    let mut edited: BTreeMap<usize, String> = BTreeMap::new();
    for (line, edits) in &by_line {
        let Some(l) = lines.get(line - 1) else {
            left_out.extend(edits.iter().map(|(_, s)| *s));
            continue;
        };
        let body = l.trim_end_matches('\n');
        match schema_line(body, edits) {
            Some(new) => {
                edited.insert(line - 1, new + "\n");
            }
            None => left_out.extend(
                numbered
                    .iter()
                    .filter(|(_, s)| s.file == file && s.line == *line)
                    .map(|(_, s)| *s),
            ),
        }
    }
    // The switch is declared in each module holding an edited line, after its declarations:
    // before its `// Logic` comment or its first `always` block.
    let mut declare_before = BTreeSet::new();
    for &i in edited.keys() {
        if let Some(m) = (0..=i).rev().find(|&j| lines[j].starts_with("module ")) {
            if let Some(h) = (m..=i).find(|&j| {
                let t = lines[j].trim();
                t == "// Logic" || t.starts_with("always ")
            }) {
                declare_before.insert(h);
            }
        }
    }
    let mut out = String::with_capacity(text.len() + 256 * edited.len());
    for (i, l) in lines.iter().enumerate() {
        if declare_before.contains(&i) {
            out.push_str(&switch_declaration());
        }
        out.push_str(edited.get(&i).map_or(l, String::as_str));
    }
    (out, left_out)
}

/// Writes a copy of `design`'s folder into `dest` holding every mutant of `sites` at once,
/// mutant K (from 1, in the order of `sites`) selected at run time by `+shiftadd_mutant=K`
/// ([`SWITCH`]): one model build for all of them. Returns the sites that could not be put
/// behind the switch (to be built one by one).
pub fn write_schemata<'a>(
    design: &Design,
    sites: &[&'a Site],
    dest: &Path,
) -> Result<Vec<&'a Site>, CosimError> {
    let numbered: Vec<(usize, &Site)> =
        sites.iter().enumerate().map(|(i, s)| (i + 1, *s)).collect();
    let mut left_out = Vec::new();
    copy_folder(
        design,
        dest,
        |name| sites.iter().any(|s| s.file == name),
        |name, text| {
            let (schema, out) = schema_text(name, text, &numbered);
            left_out.extend(out);
            Ok(schema)
        },
    )?;
    Ok(left_out)
}

/// Whether Yosys proves the module holding `site` equivalent to its mutant (other modules of the
/// folder as black boxes; `equiv_simple` and `equiv_induct` over 4 cycles). The script and its
/// log stay in `work`.
pub fn proven_equivalent(design: &Design, site: &Site, work: &Path) -> Result<bool, CosimError> {
    let original = design.dir.join(&site.file);
    let text = std::fs::read_to_string(&original).map_err(|e| io(&original, e))?;
    let mutated = apply(&text, site)
        .ok_or_else(|| CosimError::Design(format!("{}: site not found", site.file)))?;
    let module = text
        .lines()
        .find_map(|l| l.strip_prefix("module "))
        .and_then(|l| l.split('(').next())
        .ok_or_else(|| CosimError::Design(format!("{}: no module", site.file)))?
        .to_string();
    std::fs::create_dir_all(work).map_err(|e| io(work, e))?;
    let gate = work.join("gate.v");
    std::fs::write(&gate, &mutated).map_err(|e| io(&gate, e))?;
    let mut script = String::new();
    for f in &design.files {
        if f != &original {
            script.push_str(&format!("read_verilog -lib {}\n", f.display()));
        }
    }
    script.push_str(&format!(
        "read_verilog {}\nrename {module} gold\nread_verilog {}\nrename {module} gate\nproc\nmemory -nomap\nopt_clean\nequiv_make gold gate equiv\nhierarchy -top equiv\nequiv_simple -seq 4\nequiv_induct -seq 4\nequiv_status -assert\n",
        original.display(),
        gate.display()
    ));
    let ys = work.join("equiv.ys");
    std::fs::write(&ys, script).map_err(|e| io(&ys, e))?;
    let yosys = crate::locate_exe("yosys").map_err(CosimError::Tool)?;
    let out = std::process::Command::new(yosys)
        .arg("-q")
        .arg("-s")
        .arg(&ys)
        .output()
        .map_err(|e| CosimError::Tool(format!("cannot run yosys: {e}")))?;
    let log = work.join("equiv.log");
    let _ = std::fs::write(
        &log,
        [out.stdout.as_slice(), out.stderr.as_slice()].concat(),
    );
    Ok(out.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_of_a_line_and_their_application() {
        let text = "module m(a);\n    input wire a;\n        out = acc_q >> shift;\n        if ((x ^ s) > (y & 8'hff)) begin\n            z = $signed(q) + {w[32'h3], 1'b0};\n";
        let s = file_sites("m.v", text);
        let ops: Vec<(&str, &str, &str)> = s
            .iter()
            .map(|s| (s.op, s.from.as_str(), s.to.as_str()))
            .collect();
        assert!(ops.contains(&("shift direction", " >> ", " << ")));
        assert!(ops.contains(&("logic", " ^ ", " & ")));
        assert!(ops.contains(&("comparison", " > ", " >= ")));
        assert!(ops.contains(&("constant", "ff", "fe")));
        assert!(ops.contains(&("bit index", "3", "4")));
        assert!(ops.contains(&("constant", "0", "1")));
        assert!(ops.contains(&("signed cast", "$signed(", "(")));
        assert!(ops.contains(&("arithmetic", " + ", " - ")));
        assert!(ops
            .iter()
            .any(|o| o.0 == "inverted condition" && o.2 == "(!((x ^ s) > (y & 8'hff)))"));
        // Declarations are not edited.
        assert!(s.iter().all(|s| s.line >= 3));
        let shift = s.iter().find(|s| s.op == "shift direction").unwrap();
        let m = apply(text, shift).unwrap();
        assert!(m.contains("out = acc_q << shift;") && !m.contains(">> shift"));
        assert_eq!(m.len(), text.len());
    }

    #[test]
    fn mutants_behind_the_switch() {
        let text = "module m(a,b,y,z);\n    // Ports\n    input wire [7:0] a;\n    input wire [7:0] b;\n    output reg [7:0] y;\n    output wire [7:0] z;\n    assign z = a + b;\n    // Logic\n    always @(*) begin\n        y = a + b;\n        if ((a ^ b) > 8'h3) begin\n            y = a;\n        end\n    end\nendmodule\n";
        let sites = file_sites("m.v", text);
        let pick = |line: usize, op: &str| {
            sites
                .iter()
                .find(|s| s.line == line && s.op == op)
                .unwrap_or_else(|| panic!("no {op} on line {line}: {sites:?}"))
        };
        let chosen = [
            (1, pick(10, "arithmetic")),
            (2, pick(11, "inverted condition")),
            (3, pick(11, "comparison")),
            (4, pick(7, "arithmetic")),
        ];
        let (out, left) = schema_text("m.v", text, &chosen);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines.contains(&"        if (shiftadd_mutant == 32'd1) y = a - b; else y = a + b;"),
            "{out}"
        );
        assert!(
            lines.contains(&"        if (shiftadd_mutant == 32'd2 ? |(!((a ^ b) > 8'h3)) : shiftadd_mutant == 32'd3 ? |((a ^ b) >= 8'h3) : |((a ^ b) > 8'h3)) begin"),
            "{out}"
        );
        // A continuous assignment is left out, unchanged, for a build of its own.
        assert_eq!(left, vec![chosen[3].1]);
        assert!(lines.contains(&"    assign z = a + b;"), "{out}");
        // Declared once, after the declarations and before the logic.
        assert_eq!(out.matches("reg [31:0] shiftadd_mutant;").count(), 1);
        let decl = out.find("reg [31:0] shiftadd_mutant;").unwrap();
        assert!(decl > out.find("output wire").unwrap() && decl < out.find("// Logic").unwrap());
        assert!(out.contains("$value$plusargs(\"shiftadd_mutant=%d\", shiftadd_mutant)"));
        // Nothing else changes.
        assert_eq!(
            out.lines().count(),
            text.lines().count() + switch_declaration().lines().count()
        );
    }
}

/// What became of a mutant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Fate {
    /// The co-simulation failed on it: what it reported.
    Killed {
        /// The report.
        what: String,
    },
    /// Every case agreed, and Yosys proved the mutated module equivalent to the original.
    Equivalent,
    /// Every case agreed and equivalence was not proven: a fault the co-simulation misses.
    Escaped,
    /// It does not build (Verilator or the compiler refused it): not counted.
    Invalid {
        /// Why.
        what: String,
    },
}

/// The mutants' sites of the modules `tops` of `design`: every edit of every file they reach
/// by instantiation, in file, line and column order.
pub fn sites_of(design: &Design, tops: &[String]) -> Result<Vec<Site>, CosimError> {
    let mut files = BTreeSet::new();
    for top in tops {
        files.extend(reached_files(design, top)?);
    }
    let mut v = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| io(&f, e))?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        v.extend(file_sites(&name, &text));
    }
    Ok(v)
}

/// A model cache in `work` of its own, sharing the Verilator runtime of `cache`: mutants'
/// models stay out of the shared cache.
fn own_cache(work: &Path, cache: &Path) -> Result<PathBuf, CosimError> {
    let own = work.join("cache");
    std::fs::create_dir_all(&own).map_err(|e| io(&own, e))?;
    let tc = crate::verilator::Toolchain::find()?;
    let runtime = tc.runtime(cache, false)?;
    let runtime_dir = runtime.parent().unwrap_or(cache);
    if let Some(name) = runtime_dir.file_name() {
        let link = own.join(name);
        if !link.exists() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(runtime_dir, &link).map_err(|e| io(&own, e))?;
        }
    }
    Ok(own)
}

/// The fate of the mutant at `site` of `design` from its co-simulation's result (what the
/// first failure reported, if any); a survivor is checked for equivalence in `equiv`.
fn judge(
    result: Result<Option<String>, CosimError>,
    design: &Design,
    site: &Site,
    equiv: &Path,
) -> Result<Fate, CosimError> {
    Ok(match result {
        Ok(Some(what)) => Fate::Killed { what },
        Ok(None) => {
            if proven_equivalent(design, site, equiv)? {
                Fate::Equivalent
            } else {
                Fate::Escaped
            }
        }
        Err(CosimError::Build { what, .. }) => Fate::Invalid { what },
        Err(e @ CosimError::Verilog { .. }) => Fate::Invalid {
            what: e.to_string(),
        },
        Err(e @ (CosimError::Stopped { .. } | CosimError::Design(_))) => Fate::Killed {
            what: e.to_string(),
        },
        Err(e) => return Err(e),
    })
}

/// What an engine co-simulation's first failure reported.
fn engine_verdict(o: crate::engine::EngineOutcome) -> Option<String> {
    o.failure
        .map(|f| format!("case {}: {}", f.case_index, f.what))
}

/// Co-simulates the mutant of `design` at `site` (written under `work`, removed after) with
/// `cosim` (given the mutant's folder and a model cache of its own in `work` beside the shared
/// Verilator runtime of `cache`; it returns what the first failure reported, if any); a
/// survivor is checked for equivalence.
pub fn run_mutant(
    design: &Design,
    site: &Site,
    cache: &Path,
    work: &Path,
    cosim: impl Fn(&Design, &Path) -> Result<Option<String>, CosimError>,
) -> Result<Fate, CosimError> {
    let _ = std::fs::remove_dir_all(work);
    let folder = work.join("rtl");
    write_mutant(design, site, &folder)?;
    let own = own_cache(work, cache)?;
    let fate = match Design::load(&folder) {
        Err(e) => Fate::Invalid {
            what: e.to_string(),
        },
        Ok(mutant) => judge(cosim(&mutant, &own), design, site, &work.join("equiv"))?,
    };
    let _ = std::fs::remove_dir_all(work);
    Ok(fate)
}

/// The engine's layer-level co-simulation of `mutant` with `opts`, models in `cache`: what its
/// first failure reported, if any.
pub fn engine_cosim(
    mutant: &Design,
    opts: &crate::cosim::Options,
    cache: &Path,
) -> Result<Option<String>, CosimError> {
    crate::engine::cosim_engine(mutant, opts, cache).map(engine_verdict)
}

/// Many mutants of one folder in one model ([`write_schemata`]).
pub struct Schemata {
    /// The folder holding every mutant behind the switch.
    pub design: Design,
    /// Its engine model.
    pub model: std::sync::Arc<crate::verilator::Model>,
    /// The sites behind the switch, mutant K at index K - 1.
    pub sites: Vec<Site>,
    /// Seconds the build took.
    pub build_s: f64,
}

impl Schemata {
    /// Writes the mutants of `sites` of `design` behind the switch into `work` and builds the
    /// engine's model there; returns it with the sites that had to be left out (run those with
    /// [`run_mutant`]). An error when the folder does not build, or when it does not agree with
    /// the reference model with the switch at 0 (the original) under `opts`.
    pub fn build(
        design: &Design,
        sites: &[Site],
        opts: &crate::cosim::Options,
        cache: &Path,
        work: &Path,
    ) -> Result<(Schemata, Vec<Site>), CosimError> {
        let _ = std::fs::remove_dir_all(work);
        let folder = work.join("rtl");
        let refs: Vec<&Site> = sites.iter().collect();
        let left: Vec<Site> = write_schemata(design, &refs, &folder)?
            .into_iter()
            .cloned()
            .collect();
        let inside: Vec<Site> = sites
            .iter()
            .filter(|s| !left.contains(s))
            .cloned()
            .collect();
        if !left.is_empty() {
            // Numbered again without the sites left out.
            let _ = std::fs::remove_dir_all(&folder);
            let refs: Vec<&Site> = inside.iter().collect();
            write_schemata(design, &refs, &folder)?;
        }
        let own = own_cache(work, cache)?;
        let schema = Design::load(&folder)?;
        let t = std::time::Instant::now();
        let ports = crate::engine::engine_ports(&schema)?;
        let (model, _) = crate::verilator::Model::build(
            &schema.sources(),
            schema.waivers.as_deref(),
            shiftadd_sim::rtl::ENGINE_MODULE,
            &ports,
            &own,
        )?;
        let build_s = t.elapsed().as_secs_f64();
        let original = crate::engine::run_engine(&schema, opts, &model, build_s, "")?;
        if let Some(f) = original.failure {
            return Err(CosimError::Design(format!(
                "{}: with no mutant selected the folder fails case {}: {}",
                folder.display(),
                f.case_index,
                f.what
            )));
        }
        Ok((
            Schemata {
                design: schema,
                model,
                sites: inside,
                build_s,
            },
            left,
        ))
    }

    /// Co-simulates mutant `k` (from 1) with `opts`; a survivor is checked for equivalence
    /// against `original` in `equiv` (removed after).
    pub fn run(
        &self,
        k: usize,
        original: &Design,
        opts: &crate::cosim::Options,
        equiv: &Path,
    ) -> Result<Fate, CosimError> {
        let site = &self.sites[k - 1];
        let model = self.model.with_plusarg(&format!("+{SWITCH}={k}"))?;
        let fate = judge(
            crate::engine::run_engine(&self.design, opts, &model, 0.0, "").map(engine_verdict),
            original,
            site,
            equiv,
        );
        let _ = std::fs::remove_dir_all(equiv);
        fate
    }
}
