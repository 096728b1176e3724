//! The engine's register map headers compile as C, and their offsets match the Markdown.

use shiftadd_sim::engine::{registers, regmap_header, regmap_markdown};
use shiftadd_sim::spec::presets;
use std::process::Command;

#[test]
fn register_map_headers_compile_and_agree_with_the_markdown() {
    let dir = std::env::temp_dir().join(format!("shiftadd-regmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for cfg in [presets::seed(), presets::lean16(), presets::lean8()] {
        let h = dir.join(format!("{}.h", cfg.name));
        std::fs::write(&h, regmap_header(&cfg)).unwrap();
        let c = dir.join(format!("{}.c", cfg.name));
        // Every offset is a distinct constant expression: duplicate case labels would not compile.
        let cases: String = registers(&cfg)
            .iter()
            .map(|r| format!("case SHIFTADD_{}_OFFSET: return {};\n", r.name, r.offset))
            .collect();
        std::fs::write(
            &c,
            format!(
                "#include \"{}\"\nunsigned f(unsigned o) {{ switch (o) {{\n{cases}default: return 0; }} }}\n",
                h.display()
            ),
        )
        .unwrap();
        let out = Command::new("g++")
            .args(["-x", "c", "-std=c99", "-Wall", "-Werror", "-fsyntax-only"])
            .arg(&c)
            .output()
            .expect("g++ runs (apt-get install -y g++)");
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
