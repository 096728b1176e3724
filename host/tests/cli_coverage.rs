//! `shiftadd cosim --coverage` and `shiftadd coverage merge`: the engine's cover points follow
//! what the run drew (checked against the run's own case listing and the documented schedule), line and toggle figures per
//! module, annotated sources, counts that add when runs merge, refusals.

mod common;
use common::{fails, ok, tmp};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A run of `cases` layers on the `lean8` engine with coverage into `name`; (summary, cases).
fn covered_run(name: &str, cases: u32) -> (Value, Value) {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    let json = tmp(&format!("{name}.json"));
    let out = ok(&[
        "cosim",
        "--preset",
        "lean8",
        "--level",
        "layer",
        "--cases",
        &cases.to_string(),
        "--seed",
        "5",
        "--coverage",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.contains("coverage of 1 run(s): line "), "{out}");
    for f in [
        "coverage.dat",
        "summary.txt",
        "summary.json",
        "shiftadd_cover.sv",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(dir.join("annotated").join("engine.v").is_file());
    // The run's scratch folder of per-instance counts is gone.
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".parts"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    (read_json(&dir.join("summary.json")), read_json(&json))
}

/// Cover point name to whether it was hit.
fn points(summary: &Value) -> BTreeMap<String, bool> {
    let holes: BTreeSet<String> = summary["holes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "user")
        .map(|h| h["what"].as_str().unwrap().to_string())
        .collect();
    summary["cover_points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = p["name"].as_str().unwrap().to_string();
            let hit = !holes.contains(&n);
            (n, hit)
        })
        .collect()
}

/// The `op_*` points the run's case listing says must be hit.
fn ops_drawn(cases: &Value) -> BTreeSet<String> {
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| match c["kind"].as_str().unwrap() {
            // The dual-mode array's own convolution is OP 0, "conv".
            "shift" => "op_conv".to_string(),
            k => format!("op_{k}"),
        })
        .collect()
}

/// A coverage file's counts by point, without the source path (each report points at its own
/// copy of the cover module).
fn counts(dat: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(dat)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, n) = l.strip_prefix("C '")?.rsplit_once("' ")?;
            let key: Vec<&str> = k
                .split('\u{1}')
                .filter(|f| !f.starts_with("f\u{2}"))
                .collect();
            Some((key.join("\u{1}"), n.parse().unwrap()))
        })
        .collect()
}

#[test]
fn cover_points_follow_the_stimulus_and_runs_merge() {
    // Three cases are convolutions only (every fourth case is a pooling); eight hold two poolings.
    let (small, small_cases) = covered_run("cov-small", 3);
    let (big, big_cases) = covered_run("cov-big", 8);
    for (summary, cases) in [(&small, &small_cases), (&big, &big_cases)] {
        let p = points(summary);
        let drawn = ops_drawn(cases);
        let hit_ops: BTreeSet<String> = p
            .iter()
            .filter(|(n, hit)| {
                **hit && ["op_conv", "op_adder", "op_max_pool", "op_avg_pool"].contains(&n.as_str())
            })
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(
            hit_ops, drawn,
            "the RTL's cover points against the case listing"
        );
        // The host's points: every layer reads SAT_COUNT.
        assert!(p["sat_count_zero"] || p["sat_count_nonzero"]);
        // As docs/cosim.md says: case 1 (and every third after it) moves its buffers through
        // the streams and every odd case runs with the interrupt enabled; the first layer
        // abandoned with a reset comes before case 6.
        assert!(p["stream_in_beat"] && p["stream_out_last"] && p["irq_raised"]);
        let cases_run = cases["cases"].as_array().unwrap().len();
        assert_eq!(p["reset_asserted"], cases_run > 6, "{cases_run} cases");
        let engine = summary["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["module"] == "engine")
            .unwrap();
        for kind in ["line", "toggle"] {
            let (hit, n) = (
                engine[kind]["hit"].as_u64().unwrap(),
                engine[kind]["points"].as_u64().unwrap(),
            );
            assert!(hit > 0 && hit < n, "engine {kind}: {hit}/{n}");
        }
        // The cover module is not the design: no line or toggle figures of its own.
        let cover = summary["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["module"] == "shiftadd_cover")
            .unwrap();
        assert_eq!(cover["line"]["points"], 0);
        assert_eq!(cover["toggle"]["points"], 0);
    }
    assert!(!points(&small)["op_max_pool"] && !points(&small)["op_avg_pool"]);
    // Merged, counts add point by point, and a point is hit when either run hit it.
    let merged = tmp("cov-merged");
    let _ = std::fs::remove_dir_all(&merged);
    let (a, b) = (
        tmp("cov-small").join("coverage.dat"),
        tmp("cov-big").join("coverage.dat"),
    );
    let out = ok(&[
        "coverage",
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--preset",
        "lean8",
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(out.contains("coverage of 2 run(s)"), "{out}");
    let (ca, cb, cm) = (counts(&a), counts(&b), counts(&merged.join("coverage.dat")));
    assert_eq!(cm.len(), ca.len().max(cb.len()));
    for (k, n) in &cm {
        assert_eq!(*n, ca.get(k).unwrap_or(&0) + cb.get(k).unwrap_or(&0), "{k}");
    }
    let pm = points(&read_json(&merged.join("summary.json")));
    for (n, hit) in points(&small).into_iter().chain(points(&big)) {
        assert!(!hit || pm[&n], "{n} hit in a run but not merged");
    }
    assert!(merged.join("annotated").join("engine.v").is_file());
}

#[test]
fn coverage_refusals() {
    let out = fails(&[
        "cosim",
        "--preset",
        "lean8",
        "--level",
        "pe",
        "--sim",
        "icarus",
        "--coverage",
        "/tmp/x",
    ]);
    assert!(
        out.contains("--coverage is measured on Verilator only"),
        "{out}"
    );
    let bad = tmp("cov-bad.dat");
    std::fs::write(&bad, "# SystemC::Coverage-3\nC 'x' 1\nnonsense\n").unwrap();
    let out = fails(&[
        "coverage",
        "merge",
        bad.to_str().unwrap(),
        "--preset",
        "lean8",
        "--out",
        tmp("cov-bad-out").to_str().unwrap(),
    ]);
    assert!(
        out.contains("cov-bad.dat") && out.contains("line 2"),
        "{out}"
    );
}
