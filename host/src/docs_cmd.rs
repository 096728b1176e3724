//! `shiftadd docs`: the generated pages of `docs/`. `cli.md` is the command line from its own
//! help; `presets.md` every field of every preset and what follows from it. A test holds the
//! committed pages to what this writes.

use anyhow::{Context, Result};
use clap::CommandFactory;
use shiftadd_sim::rtl::{array_kinds, array_widths, engine_kind};
use shiftadd_sim::spec::{presets, AccelConfig};
use std::path::Path;

/// The command that regenerates the pages.
pub const REGENERATE: &str = "cargo run --release -p shiftadd -- docs --out docs";

/// Help is rendered at this width, whatever the terminal.
const WIDTH: usize = 100;

fn cli_page() -> String {
    let mut cmd = crate::Cli::command().term_width(WIDTH);
    cmd.build();
    let mut s = format!(
        "# The `shiftadd` command line\n\nGenerated from the command's own help by `{REGENERATE}`; do not edit.\n\n"
    );
    let top = cmd.render_long_help().to_string();
    let top: Vec<&str> = top.lines().map(str::trim_end).collect();
    s.push_str(&format!("```text\n{}\n```\n\n", top.join("\n").trim_end()));
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        s.push_str(&format!("- [`{0}`](#shiftadd-{0})\n", sub.get_name()));
    }
    for sub in cmd.get_subcommands_mut().filter(|c| c.get_name() != "help") {
        let name = sub.get_name().to_string();
        let help = sub.render_long_help().to_string();
        let help: Vec<&str> = help.lines().map(str::trim_end).collect();
        s.push_str(&format!(
            "\n## `shiftadd {name}`\n\n```text\n{}\n```\n",
            help.join("\n").trim_end()
        ));
    }
    s
}

fn presets_page() -> String {
    let all = presets::all();
    let mut s = format!(
        "# Presets\n\nGenerated from `shiftadd presets --json` by `{REGENERATE}`; do not edit. What each preset is for: [formats.md](formats.md). A config file (`--config`) holds the same fields.\n\n"
    );
    let header = |s: &mut String, title: &str| {
        s.push_str(&format!("| {title} |"));
        for p in &all {
            s.push_str(&format!(" `{}` |", p.name));
        }
        s.push_str("\n|---|");
        for _ in &all {
            s.push_str("---|");
        }
        s.push('\n');
    };
    header(&mut s, "field");
    let values: Vec<serde_json::Value> = all
        .iter()
        .map(|p| serde_json::to_value(p).expect("a config serialises"))
        .collect();
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for (key, v) in values[0].as_object().expect("an object") {
        if let Some(obj) = v.as_object() {
            for k in obj.keys() {
                rows.push((
                    format!("{key}.{k}"),
                    values.iter().map(|p| p[key][k].to_string()).collect(),
                ));
            }
        } else {
            rows.push((
                key.clone(),
                values.iter().map(|p| p[key].to_string()).collect(),
            ));
        }
    }
    for (name, vals) in rows {
        s.push_str(&format!("| `{name}` |"));
        for v in vals {
            // An absent optional field takes its default (see Derived).
            let v = if v == "null" {
                "default"
            } else {
                v.trim_matches('"')
            };
            s.push_str(&format!(" {v} |"));
        }
        s.push('\n');
    }
    s.push_str("\n## Derived\n\n");
    header(&mut s, "quantity");
    let derived: Vec<Vec<(&str, String)>> = all.iter().map(derived).collect();
    for (i, (name, _)) in derived[0].iter().enumerate() {
        s.push_str(&format!("| {name} |"));
        for d in &derived {
            s.push_str(&format!(" {} |", d[i].1));
        }
        s.push('\n');
    }
    s
}

/// What follows from a preset's fields: name, value.
fn derived(p: &AccelConfig) -> Vec<(&'static str, String)> {
    let a = p.acc_widths();
    vec![
        (
            "largest shift exponent `pmax`",
            p.formats.pmax().to_string(),
        ),
        (
            "largest activation code (`act_max`)",
            p.formats.act_range().max.to_string(),
        ),
        ("PEs (`rows * cols`)", p.lanes().to_string()),
        ("words per activation bank", p.act_bank_depth().to_string()),
        (
            "weight words (of `rows * cols` lanes)",
            p.weight_depth().to_string(),
        ),
        ("post-processing words per lane", p.post_depth().to_string()),
        (
            "accumulators shift / adder / mult (bits)",
            format!("{} / {} / {}", a.shift, a.adder, a.mult),
        ),
        (
            "arrays (x / w / term / tree / acc bits)",
            array_kinds(p)
                .into_iter()
                .map(|k| format!("{}: {}", k.name(), array_widths(p, k)))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (
            "engine",
            match engine_kind(p) {
                Ok(k) => format!("around the {} array", k.name()),
                Err(e) => e.to_string(),
            },
        ),
    ]
}

/// The generated pages: file name and contents.
pub fn pages() -> Vec<(&'static str, String)> {
    vec![("cli.md", cli_page()), ("presets.md", presets_page())]
}

/// The drivers' generated files: path under `drivers/` and contents.
pub fn driver_files() -> Vec<(&'static str, String)> {
    vec![
        ("c/shiftadd_regs.h", shiftadd_sim::regmap::driver_header()),
        (
            "python/shiftadd/regs.py",
            shiftadd_sim::regmap::driver_python(),
        ),
    ]
}

/// `shiftadd drivers --out DIR`.
pub fn write_drivers(out: &Path) -> Result<()> {
    for (name, text) in driver_files() {
        let p = out.join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("{}: cannot write", p.display()))?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// `shiftadd docs --out DIR`.
pub fn write(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    for (name, text) in pages() {
        let p = out.join(name);
        std::fs::write(&p, text).with_context(|| format!("{}: cannot write", p.display()))?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command that regenerates the drivers' register files.
    const REGENERATE_DRIVERS: &str = "cargo run --release -p shiftadd -- drivers --out drivers";

    #[test]
    fn committed_pages_are_fresh() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        for (name, text) in pages() {
            let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                committed == text,
                "docs/{name} is stale; regenerate with: {REGENERATE}"
            );
        }
    }

    #[test]
    fn committed_driver_register_files_are_fresh() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../drivers");
        for (name, text) in driver_files() {
            let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                committed == text,
                "drivers/{name} is stale; regenerate with: {REGENERATE_DRIVERS}"
            );
        }
    }

    #[test]
    fn every_subcommand_and_preset_is_documented() {
        let cli = cli_page();
        for sub in crate::Cli::command()
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
        {
            assert!(cli.contains(&format!("## `shiftadd {}`", sub.get_name())));
        }
        assert!(cli.contains("--backend"), "long help of infer");
        let p = presets_page();
        for preset in presets::names() {
            assert!(p.contains(&format!("`{preset}`")));
        }
        assert!(
            p.contains("| `formats.act_bits` | 32 | 16 | 8 | 32 |"),
            "{p}"
        );
    }
}
