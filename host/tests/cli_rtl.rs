//! `shiftadd gen` and `shiftadd synth` end to end.

mod common;
use common::*;

#[test]
fn gen_writes_a_folder_matching_the_committed_preset() {
    let out = tmp("gen-lean8");
    let _ = std::fs::remove_dir_all(&out);
    let text = ok(&["gen", "--preset", "lean8", "--out", out.to_str().unwrap()]);
    assert!(text.contains("dual_array   8x8"), "{text}");
    let committed = root().join("rtl-out/lean8");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in &names {
        assert_eq!(
            std::fs::read(out.join(n)).unwrap(),
            std::fs::read(committed.join(n)).unwrap(),
            "{n}"
        );
    }
    assert!(names.contains(&"manifest.json".to_string()));
}

#[test]
fn gen_applies_overrides_and_config_files() {
    let out = tmp("gen-override");
    let _ = std::fs::remove_dir_all(&out);
    ok(&[
        "gen",
        "--preset",
        "lean8",
        "--rows",
        "3",
        "--cols",
        "5",
        "--pe-kinds",
        "all",
        "--allow-no-engine",
        "--out",
        out.to_str().unwrap(),
    ]);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["rows"], 3);
    assert_eq!(cfg["cols"], 5);
    assert_eq!(cfg["pe_kinds"], "all");
    assert!(out.join("mac_array.v").exists());
    let arr = std::fs::read_to_string(out.join("shift_array.v")).unwrap();
    assert!(arr.contains("w_14"), "3 x 5 weight ports");
    assert!(!arr.contains("w_15"));
    // The written config.json is itself a valid --config.
    let again = tmp("gen-from-config");
    let _ = std::fs::remove_dir_all(&again);
    ok(&[
        "gen",
        "--config",
        out.join("config.json").to_str().unwrap(),
        "--allow-no-engine",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(again.join("shift_array.v")).unwrap(),
        std::fs::read(out.join("shift_array.v")).unwrap()
    );
}

#[test]
fn gen_refuses_bad_configs_naming_file_field_and_limit() {
    let e = fails(&["gen", "--preset", "nope", "--out", "target/x"]);
    assert!(
        e.contains("unknown preset `nope`") && e.contains("seed"),
        "{e}"
    );
    let e = fails(&[
        "gen", "--preset", "seed", "--rows", "65", "--out", "target/x",
    ]);
    assert!(e.contains("rows") && e.contains("1..=64"), "{e}");
    let bad = tmp("bad-config.json");
    std::fs::write(&bad, r#"{"name": "x", "rows": 4}"#).unwrap();
    let e = fails(&[
        "gen",
        "--config",
        bad.to_str().unwrap(),
        "--out",
        "target/x",
    ]);
    assert!(
        e.contains("bad-config.json") && e.contains("missing field"),
        "{e}"
    );
    // Formats the generator has no width set for: refused with the supported list.
    let cfg = ok(&["presets", "--json"]);
    let mut all: Vec<serde_json::Value> = serde_json::from_str(&cfg).unwrap();
    let mut seed = all.remove(0);
    seed["formats"]["act_bits"] = 24.into();
    // `seed`'s act_max belongs to 32-bit codes.
    seed["formats"].as_object_mut().unwrap().remove("act_max");
    let odd = tmp("odd-widths.json");
    std::fs::write(&odd, seed.to_string()).unwrap();
    let e = fails(&[
        "gen",
        "--config",
        odd.to_str().unwrap(),
        "--out",
        "target/x",
    ]);
    assert!(
        e.contains("not compiled") && e.contains("x 32 / w 32 / term 47"),
        "{e}"
    );
    let e = fails(&[
        "gen",
        "--preset",
        "seed",
        "--pe-kinds",
        "some",
        "--out",
        "target/x",
    ]);
    assert!(e.contains("shift-add, mult or all"), "{e}");
    // A config without an engine is refused unless the arrays alone are asked for.
    let e = fails(&[
        "gen",
        "--preset",
        "lean8",
        "--pe-kinds",
        "all",
        "--out",
        "target/x",
    ]);
    assert!(
        e.contains("has no engine") && e.contains("--allow-no-engine"),
        "{e}"
    );
}

#[test]
fn synth_reports_cells_and_fmax_for_a_small_array() {
    let json = tmp("synth.json");
    let work = tmp("synth-work");
    let text = ok(&[
        "synth",
        "--preset",
        "lean8",
        "--rows",
        "2",
        "--cols",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--work",
        work.to_str().unwrap(),
    ]);
    assert!(
        text.contains("dual_array") && text.contains("MHz"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    // The preset's dual-mode PE and array on both targets.
    assert_eq!(rows.len(), 4);
    for r in rows {
        assert!(r["lut"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["dsp"], 0, "{r}");
        if r["scope"] == "array" && r["target"] == "ice40" {
            let f = r["fmax_mhz"].as_f64().unwrap();
            assert!(f > 10.0 && f < 1000.0, "{r}");
        }
    }
    // A PE is a fraction of a 2x2 array of it.
    let lut = |m: &str, t: &str| {
        rows.iter()
            .find(|r| r["module"] == m && r["target"] == t)
            .unwrap()["lut"]
            .as_u64()
            .unwrap()
    };
    assert!(lut("dual_pe", "ice40") * 4 <= lut("dual_array", "ice40"));
}
