//! `shiftadd report`, end to end: table, JSON keys and sums, twins, SVG, table replacement.

use serde_json::Value;

mod common;
use common::*;

fn report_json(extra: &[&str], name: &str) -> Value {
    let out = tmp(name);
    let out_s = out.to_str().unwrap().to_string();
    let mut args = vec!["report", "--json", &out_s];
    args.extend_from_slice(extra);
    ok(&args);
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("`{k}` is not an integer in {v}"))
}

#[test]
fn json_has_every_column_and_totals_are_sums() {
    let j = report_json(
        &["--arch", "lenet-shiftadd", "--preset", "lean8"],
        "r-lenet.json",
    );
    let layers = j["layers"].as_array().unwrap();
    assert!(layers.len() > 5);
    let total = &j["total"];
    for k in ["taps", "shifts", "adds", "mults", "cycles"] {
        let sum: u64 = layers.iter().map(|l| u(l, k)).sum();
        assert_eq!(sum, u(total, k), "{k}");
    }
    for k in [
        "act_reads",
        "act_writes",
        "weight_reads",
        "post_reads",
        "dram_read_bits",
    ] {
        let sum: u64 = layers.iter().map(|l| u(&l["buffer"], k)).sum();
        assert_eq!(sum, u(&total["buffer"], k), "{k}");
    }
    for k in [
        "compute",
        "memory",
        "shift",
        "add",
        "mult",
        "act_buf",
        "weight_buf",
        "dram",
    ] {
        let sum: f64 = layers
            .iter()
            .map(|l| l["energy_pj"][k].as_f64().unwrap())
            .sum();
        let t = total["energy_pj"][k].as_f64().unwrap();
        assert!((sum - t).abs() <= 1e-9 * t.max(1.0), "{k}: {sum} vs {t}");
    }
    for l in layers {
        for k in [
            "name",
            "kind",
            "out_shape",
            "utilisation",
            "buffer",
            "energy_pj",
        ] {
            assert!(!l[k].is_null(), "layer without `{k}`: {l}");
        }
    }
    // The multiply twin has no shifts; ShiftAddNet's multiplies are post-processing only.
    let twins = j["twins"].as_object().unwrap();
    let keys: Vec<&str> = twins.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["adder", "mult", "shift"]);
    assert_eq!(u(&twins["mult"]["total"], "shifts"), 0);
    assert_eq!(
        u(&twins["shift"]["total"], "taps"),
        u(&twins["mult"]["total"], "taps")
    );
    assert!(u(&twins["mult"]["total"], "mults") > u(total, "mults"));
    assert!(twins["adder"]["total"]["energy_pj"]["compute"].is_f64());
    assert_eq!(j["precision"], 8);
}

#[test]
fn table_replacement_scales_energy_and_bad_tables_are_refused() {
    let base = report_json(
        &["--arch", "lenet-mult", "--precision", "16"],
        "r-base.json",
    );
    let text = std::fs::read_to_string(root().join("sim/data/energy-45nm.csv")).unwrap();
    // Every energy times 3.
    let tripled: Vec<String> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, ',').collect();
            match f[..] {
                [op, bits, kib, pj, src] if pj.parse::<f64>().is_ok() => {
                    format!(
                        "{op},{bits},{kib},{},{src}",
                        pj.parse::<f64>().unwrap() * 3.0
                    )
                }
                _ => l.to_string(),
            }
        })
        .collect();
    let file = tmp("tripled.csv");
    std::fs::write(&file, tripled.join("\n")).unwrap();
    let t = report_json(
        &[
            "--arch",
            "lenet-mult",
            "--precision",
            "16",
            "--energy-table",
            file.to_str().unwrap(),
        ],
        "r-tripled.json",
    );
    for k in ["compute", "memory"] {
        let (a, b) = (
            base["total"]["energy_pj"][k].as_f64().unwrap(),
            t["total"]["energy_pj"][k].as_f64().unwrap(),
        );
        assert!(
            a > 0.0 && (b - 3.0 * a).abs() <= 1e-9 * b,
            "{k}: {a} -> {b}"
        );
    }
    let bad = tmp("bad-table.csv");
    std::fs::write(&bad, text.replacen(",0.2,", ",lots,", 1)).unwrap();
    let e = fails(&[
        "report",
        "--arch",
        "lenet-mult",
        "--energy-table",
        bad.to_str().unwrap(),
    ]);
    assert!(e.contains("bad-table.csv:9: field `pj`"), "{e}");
}

#[test]
fn table_svg_and_model() {
    let svg = tmp("r.svg");
    let out = ok(&[
        "report",
        "--model",
        "models/demo-lenet-shiftadd",
        "--preset",
        "seed",
        "--precision",
        "32",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    for col in [
        "layer",
        "kind",
        "shape",
        "operations",
        "cycles",
        "util",
        "buffer",
        "E compute",
        "E memory",
    ] {
        assert!(out.contains(col), "no column `{col}`:\n{out}");
    }
    assert!(out.contains("exact (sim::cycles"), "{out}");
    for n in ["lenet-mult", "lenet-shift", "lenet-adder", "total"] {
        assert!(out.contains(n), "{n}:\n{out}");
    }
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<svg"), "{}", &s[..80.min(s.len())]);
    assert!(s.matches("<rect").count() > 20);
    assert!(s.contains("conv1") && s.contains("off-chip"));
    let e = fails(&["report", "--arch", "nope"]);
    assert!(e.contains("unknown architecture `nope`"), "{e}");
    fails(&["report", "--arch", "lenet-mult", "--precision", "12"]);
}
