//! `shiftadd mutants` end to end: a mutant the co-simulation catches, one Yosys proves
//! equivalent, one that escapes (dead code Yosys cannot prove dead), the JSON, refusals.

mod common;
use common::{fails, ok, shiftadd, tmp};

#[test]
fn mutants_are_killed_proven_equivalent_or_escape() {
    let json = tmp("mutants.json");
    let o = shiftadd(&[
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
        "engine.v:3594:37",
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "an escape fails the run: {out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
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
    let fate = |site: &str| {
        fates
            .iter()
            .find(|(s, _)| s == site)
            .map(|(_, f)| f.as_str())
            .unwrap_or("missing")
    };
    assert_eq!(fate("engine_pool.v:58"), "killed", "{fates:?}");
    assert_eq!(fate("engine_seq_regs.v:225"), "equivalent", "{fates:?}");
    assert_eq!(fate("engine.v:3594"), "escaped", "{fates:?}");
    assert_eq!(
        (&doc["killed"], &doc["equivalent"], &doc["escaped"]),
        (&1.into(), &1.into(), &1.into())
    );
    assert!(
        out.contains("escaped: engine.v:3594 (constant: `0` -> `1`)")
            && out.contains("+ out_buf_0_write_data = ((32'h1) & 38'h3fffffffff);"),
        "{out}"
    );
    assert!(
        out.contains("score 50.0% (1 of 2 not proven equivalent)"),
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
}
