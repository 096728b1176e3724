//! The engine's register map views: the C header compiles and agrees with the register map, the
//! Markdown lists every register, and the SystemRDL compiles with systemrdl-compiler and, read
//! back by that compiler, has every register, field, access, reset value and enumeration of the
//! register map.

use shiftadd_sim::regmap::{registers, regmap_header, regmap_markdown, regmap_rdl, Access};
use shiftadd_sim::spec::presets;
use std::process::Command;

fn work_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shiftadd-regmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn register_map_headers_compile_and_agree_with_the_markdown() {
    let dir = work_dir();
    for cfg in presets::all() {
        let h = dir.join(format!("{}.h", cfg.name));
        std::fs::write(&h, regmap_header(&cfg)).unwrap();
        let c = dir.join(format!("{}.c", cfg.name));
        // Every offset is a distinct constant expression (duplicate case labels would not
        // compile), and every field's mask sits at its shift.
        let cases: String = registers(&cfg)
            .iter()
            .map(|r| format!("case SHIFTADD_{}_OFFSET: return {};\n", r.name, r.offset))
            .collect();
        let fields: String = registers(&cfg)
            .iter()
            .flat_map(|r| {
                r.fields.iter().map(move |f| {
                    let base = format!("SHIFTADD_{}_{}", r.name, f.name.to_uppercase());
                    format!(
                        "_Static_assert({base}_SHIFT == {}u && ({base}_MASK >> {base}_SHIFT) == {:#x}u, \"{base}\");\n",
                        f.lsb,
                        (1u64 << f.bits) - 1
                    )
                })
            })
            .collect();
        std::fs::write(
            &c,
            format!(
                "#include \"{}\"\n{fields}unsigned f(unsigned o) {{ switch (o) {{\n{cases}default: return 0; }} }}\n",
                h.display()
            ),
        )
        .unwrap();
        let out = Command::new("gcc")
            .args(["-x", "c", "-std=c11", "-Wall", "-Werror", "-fsyntax-only"])
            .arg(&c)
            .output()
            .expect("gcc runs (apt-get install -y g++)");
        assert!(
            out.status.success(),
            "{}: {}",
            cfg.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let md = regmap_markdown(&cfg);
        for r in registers(&cfg) {
            assert!(md.contains(&format!("| `{:#05x}` | `{}` |", r.offset, r.name)));
        }
    }
}

/// Reads a SystemRDL file with systemrdl-compiler and prints, per register: name, offset, and
/// per field: name, lsb, msb, software access, reset, enumeration `value:name` pairs.
const DUMP: &str = r#"
import sys
from systemrdl import RDLCompiler
from systemrdl.node import RegNode
c = RDLCompiler()
c.compile_file(sys.argv[1])
root = c.elaborate()
for reg in [n for n in root.descendants() if isinstance(n, RegNode)]:
    print("reg", reg.inst_name, hex(reg.address_offset))
    for f in reg.fields():
        enc = f.get_property("encode")
        values = ",".join(f"{m.value}:{m.name}" for m in enc) if enc else "-"
        sw = ("r" if f.is_sw_readable else "") + ("w" if f.is_sw_writable else "")
        print("field", f.inst_name, f.lsb, f.msb, sw, f.get_property("reset"), values)
"#;

#[test]
fn systemrdl_views_compile_and_hold_the_register_map() {
    let py = shiftadd_tb::venv_python().unwrap_or_else(|e| panic!("{e}"));
    let dir = work_dir();
    let script = dir.join("dump.py");
    std::fs::write(&script, DUMP).unwrap();
    for cfg in presets::all() {
        let rdl = dir.join(format!("{}.rdl", cfg.name));
        std::fs::write(&rdl, regmap_rdl(&cfg)).unwrap();
        let out = Command::new(&py).arg(&script).arg(&rdl).output().unwrap();
        assert!(
            out.status.success(),
            "{}: systemrdl-compiler refuses the register map:\n{}",
            cfg.name,
            String::from_utf8_lossy(&out.stderr)
        );
        // Expected lines written from the register map's own fields, in its order.
        let mut want = Vec::new();
        for r in registers(&cfg) {
            want.push(format!("reg {} {:#x}", r.name.to_lowercase(), r.offset));
            let sw = match r.access {
                Access::Ro => "r",
                Access::Rw | Access::Rw1c => "rw",
                Access::Wo => "w",
            };
            for f in &r.fields {
                let reset = (u64::from(r.reset) >> f.lsb) & ((1u64 << f.bits) - 1);
                let values = if f.values.is_empty() {
                    "-".to_string()
                } else {
                    f.values
                        .iter()
                        .map(|(v, n, _)| format!("{v}:{n}"))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                want.push(format!(
                    "field {} {} {} {sw} {reset} {values}",
                    f.name,
                    f.lsb,
                    f.lsb + f.bits - 1
                ));
            }
        }
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(got, want, "{}", cfg.name);
    }
}
