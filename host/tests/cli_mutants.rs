//! `shiftadd mutants` end to end: a mutant the co-simulation catches, one Yosys proves
//! equivalent, one that escapes (dead code Yosys cannot prove dead), the same fates with each
//! mutant built on its own, shards merged, the PE level, the JSON, refusals.

mod common;
use common::{fails, ok, shiftadd, tmp};

/// `shiftadd` with `args` and `--json tmp(json_name)`: the exit code, the output and the JSON
/// document written.
fn with_json(args: &[&str], json_name: &str) -> (Option<i32>, String, serde_json::Value) {
    let json = tmp(json_name);
    let mut args = args.to_vec();
    args.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let o = shiftadd(&args);
    let out = String::from_utf8(o.stdout).unwrap();
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\n{out}\n{}",
            json.display(),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code(), out, serde_json::from_str(&text).unwrap())
}

/// The three sites below under `mutants` with `extra` arguments: the exit code, the output, the
/// JSON document and each site's fate as `file:line` -> status.
fn three_sites(
    extra: &[&str],
    json_name: &str,
) -> (
    Option<i32>,
    String,
    serde_json::Value,
    Vec<(String, String)>,
) {
    let mut args = vec![
        "mutants",
        "--preset",
        "lean8",
        "--cases",
        "40",
        // Average pooling shifting left: the layer co-simulation's poolings catch it.
        "--site",
        "engine_pool.v:58:23",
        // `0 & mask` with a different mask is still 0: equivalent.
        "--site",
        "engine_seq_regs.v:225:31",
        // Row 0's zero fill when the row is not valid, which never happens: not observable,
        // and not provable without knowing which states are reachable.
        "--site",
        "engine.v:3660:37",
    ];
    args.extend_from_slice(extra);
    let (code, out, doc) = with_json(&args, json_name);
    let fates: Vec<(String, String)> = doc["mutants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                format!(
                    "{}:{}",
                    m["site"]["file"].as_str().unwrap(),
                    m["site"]["line"]
                ),
                m["fate"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (code, out, doc, fates)
}

#[test]
fn mutants_are_killed_proven_equivalent_or_escape() {
    // One model holding the three behind a run-time switch (the default).
    let (code, out, doc, fates) = three_sites(&[], "mutants.json");
    assert_eq!(code, Some(1), "an escape fails the run: {out}");
    let fate = |site: &str| {
        fates
            .iter()
            .find(|(s, _)| s == site)
            .map(|(_, f)| f.as_str())
            .unwrap_or("missing")
    };
    assert_eq!(fate("engine_pool.v:58"), "killed", "{fates:?}");
    assert_eq!(fate("engine_seq_regs.v:225"), "equivalent", "{fates:?}");
    assert_eq!(fate("engine.v:3660"), "escaped", "{fates:?}");
    assert_eq!(
        (&doc["killed"], &doc["equivalent"], &doc["escaped"]),
        (&1.into(), &1.into(), &1.into())
    );
    assert!(
        out.contains("escaped: engine.v:3660 (constant: `0` -> `1`)")
            && out.contains("+ out_buf_0_write_data = ((32'h1) & 38'h3fffffffff);"),
        "{out}"
    );
    assert!(
        out.contains("score 50.0% (1 of 2 not proven equivalent)"),
        "{out}"
    );
    // Each mutant built on its own (an independent path: the edited folder itself) comes to the
    // same fates.
    let (code, out, _, separate) = three_sites(&["--separate", "--jobs", "1"], "separate.json");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(separate, fates, "{out}");
}

#[test]
fn shards_merge_into_the_whole_draw() {
    let run = |extra: &[&str], name: &str| -> serde_json::Value {
        let mut args = vec![
            "mutants", "--preset", "lean8", "--count", "6", "--seed", "3",
        ];
        if !extra.contains(&"--cases") {
            args.extend_from_slice(&["--cases", "20"]);
        }
        args.extend_from_slice(extra);
        with_json(&args, name).2
    };
    let whole = run(&[], "whole.json");
    let a = run(&["--shard", "1/2"], "shard1.json");
    let b = run(&["--shard", "2/2"], "shard2.json");
    assert_eq!(a["mutants"].as_array().unwrap().len(), 3);
    assert_eq!(b["mutants"].as_array().unwrap().len(), 3);
    let (a_path, b_path) = (tmp("shard1.json"), tmp("shard2.json"));
    let (_, out, merged) = with_json(
        &[
            "mutants",
            "--merge",
            a_path.to_str().unwrap(),
            b_path.to_str().unwrap(),
        ],
        "merged.json",
    );
    let fates = |d: &serde_json::Value| -> Vec<(u64, String)> {
        d["mutants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["index"].as_u64().unwrap(),
                    m["fate"]["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(fates(&merged), fates(&whole), "{out}");
    for k in ["killed", "equivalent", "escaped", "invalid", "score"] {
        assert_eq!(merged[k], whole[k], "{k}: {out}");
    }
    assert!(out.contains("mutants: 6 run on `lean8`"), "{out}");
    // A shard given twice, or runs of different draws, do not add up.
    let out = fails(&[
        "mutants",
        "--merge",
        a_path.to_str().unwrap(),
        a_path.to_str().unwrap(),
    ]);
    assert!(out.contains("give each shard once"), "{out}");
    run(&["--shard", "2/2", "--cases", "21"], "other.json");
    let out = fails(&[
        "mutants",
        "--merge",
        a_path.to_str().unwrap(),
        tmp("other.json").to_str().unwrap(),
    ]);
    assert!(out.contains("`cases` is 21 where"), "{out}");
}

#[test]
fn a_pe_mutant_is_judged_by_the_pe_level_co_simulation() {
    // The dual PE's code sign test inverted: the PE-level co-simulation catches it.
    let (code, out, doc) = with_json(
        &[
            "mutants",
            "--preset",
            "lean8",
            "--level",
            "pe",
            "--site",
            "dual_pe.v:47:11",
        ],
        "pe-mutants.json",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(doc["level"], "pe");
    assert_eq!(doc["mutants"][0]["fate"]["status"], "killed", "{out}");
    assert!(out.contains("killed (dual_pe case"), "{out}");
    // Only the files the PEs reach hold sites at this level.
    let out = ok(&["mutants", "--preset", "lean8", "--level", "pe", "--list"]);
    assert!(
        out.contains("dual_pe.v:47:11") && !out.contains("engine.v:"),
        "{out}"
    );
}

#[test]
fn mutant_sites_and_refusals() {
    let out = ok(&["mutants", "--preset", "lean8", "--list"]);
    assert!(
        out.contains("engine_pool.v:58:23 shift direction ` >> ` -> ` << `"),
        "{out}"
    );
    // The AXI wrapper is not reached from the engine: no sites there.
    assert!(
        !out.contains("shiftadd_axi.v") && !out.contains("axi_lite.v"),
        "{out}"
    );
    let out = fails(&["mutants", "--preset", "lean8", "--shard", "0/2"]);
    assert!(out.contains("--shard 0/2: give K/N"), "{out}");
    let out = fails(&["mutants", "--preset", "lean8", "--site", "engine.v:1:1"]);
    assert!(out.contains("--site engine.v:1:1: no such site"), "{out}");
    let out = fails(&["mutants", "--preset", "lean8", "--jobs", "0"]);
    assert!(out.contains("--jobs 0 runs nothing"), "{out}");
}

#[test]
fn faults_only_the_phases_around_the_cases_see_are_killed() {
    let (code, out, doc) = with_json(
        &[
            "mutants",
            "--preset",
            "lean8",
            // IRQ_ENABLE out of reset at 1: every register read after the reset in the middle of
            // a layer.
            "--site",
            "engine.v:4346:30",
            // The input stream ready during a reset: the beat offered in the reset cycle.
            "--site",
            "engine.v:2901:27",
            // Input bank 7 written by every buffer write: hidden when bank 7 is written last,
            // seen when the writes come in a drawn order.
            "--site",
            "engine.v:3100:41",
            // A lane past the output banks reading 1: the register walk's reads through them.
            "--site",
            "engine.v:3622:24",
            // The output stream's fill count ignoring its second entry: seen under stalls of
            // two and three cycles.
            "--site",
            "engine.v:4185:69",
            // The output stream reading one word late: TVALID drops within the stream.
            "--site",
            "engine.v:4186:59",
            // Hand-off past the word tested with `>` for `>=`: `S` drawn at the sum width.
            "--site",
            "engine_post.v:222:52",
        ],
        "around-mutants.json",
    );
    assert_eq!(code, Some(0), "{out}");
    let what = |site: &str| -> String {
        doc["mutants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| {
                format!(
                    "{}:{}",
                    m["site"]["file"].as_str().unwrap(),
                    m["site"]["line"]
                ) == site
            })
            .map(|m| format!("{} {}", m["fate"]["status"], m["fate"]["what"]))
            .unwrap_or_default()
    };
    // Each killed, by what its comment says.
    for (site, by) in [
        (
            "engine.v:4346",
            "IRQ_ENABLE reads 0x00000001 after the reset",
        ),
        ("engine.v:2901", "sin_ready is high during the reset"),
        ("engine.v:3100", ""),
        (
            "engine.v:3622",
            "BUF_DATA_LO reads 0x00000001 (BUF_LANE past the output banks)",
        ),
        ("engine.v:4185", "the output stream's TLAST came with word"),
        ("engine.v:4186", "the output stream dropped TVALID"),
        ("engine_post.v:222", ""),
    ] {
        let w = what(site);
        assert!(w.starts_with("\"killed\"") && w.contains(by), "{site}: {w}");
    }
}
