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
        let mutated = format!(
            "{}{}{}",
            &original_line[..self.col],
            self.to,
            &original_line[self.col + self.from.len()..]
        );
        format!(
            "{}:{} ({}: `{}` -> `{}`)\n    - {}\n    + {}",
            self.file,
            self.line,
            self.op,
            self.from,
            self.to,
            original_line.trim(),
            mutated.trim()
        )
    }
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

/// Writes a copy of `design`'s folder with `site` applied into `dest` (created).
pub fn write_mutant(design: &Design, site: &Site, dest: &Path) -> Result<(), CosimError> {
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
        if name == site.file {
            let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
            let mutated = apply(&text, site).ok_or_else(|| {
                CosimError::Design(format!(
                    "{}:{}: the site's text is not there",
                    site.file, site.line
                ))
            })?;
            std::fs::write(&to, mutated).map_err(|e| io(&to, e))?;
        } else {
            std::fs::copy(&p, &to).map_err(|e| io(&to, e))?;
        }
    }
    Ok(())
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

/// The mutants' sites of `design`'s engine: every edit of every file the engine reaches, in
/// file, line and column order.
pub fn engine_sites(design: &Design) -> Result<Vec<Site>, CosimError> {
    let mut v = Vec::new();
    for f in reached_files(design, shiftadd_sim::rtl::ENGINE_MODULE)? {
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

/// Co-simulates the mutant of `design` at `site` (written under `work`, removed after) with
/// `opts`, models built in `work`'s own cache beside the shared Verilator runtime of `cache`;
/// a survivor is checked for equivalence.
pub fn run_mutant(
    design: &Design,
    site: &Site,
    opts: &crate::cosim::Options,
    cache: &Path,
    work: &Path,
) -> Result<Fate, CosimError> {
    let _ = std::fs::remove_dir_all(work);
    let folder = work.join("rtl");
    write_mutant(design, site, &folder)?;
    // The mutant's models stay out of the shared cache; the runtime is shared.
    let own = work.join("cache");
    std::fs::create_dir_all(&own).map_err(|e| io(&own, e))?;
    let tc = crate::verilator::Toolchain::find()?;
    let runtime = tc.runtime(cache, false)?;
    let runtime_dir = runtime.parent().unwrap_or(cache);
    if let Some(name) = runtime_dir.file_name() {
        #[cfg(unix)]
        std::os::unix::fs::symlink(runtime_dir, own.join(name)).map_err(|e| io(&own, e))?;
    }
    let fate = match Design::load(&folder) {
        Err(e) => Fate::Invalid {
            what: e.to_string(),
        },
        Ok(mutant) => match crate::engine::cosim_engine(&mutant, opts, &own) {
            Ok(o) => match o.failure {
                Some(f) => Fate::Killed {
                    what: format!("case {}: {}", f.case_index, f.what),
                },
                None => {
                    if proven_equivalent(design, site, &work.join("equiv"))? {
                        Fate::Equivalent
                    } else {
                        Fate::Escaped
                    }
                }
            },
            Err(CosimError::Build { what, .. }) => Fate::Invalid { what },
            Err(e @ CosimError::Verilog { .. }) => Fate::Invalid {
                what: e.to_string(),
            },
            Err(e @ (CosimError::Stopped { .. } | CosimError::Design(_))) => Fate::Killed {
                what: e.to_string(),
            },
            Err(e) => return Err(e),
        },
    };
    let _ = std::fs::remove_dir_all(work);
    Ok(fate)
}
