//! `shiftadd cosim --netlist`: Yosys's netlists of every preset's PE and array, co-simulated with
//! Yosys's cell models against the reference model, with the same cases as the Verilog; a folder
//! that synthesis reads differently from the simulators fails. (The lean8 engine's netlist takes
//! tens of minutes to build: docs/results.md has its command and result.)

mod common;
use common::{copy_preset, fails, ok, shiftadd, tmp};

fn agrees(args: &[&str]) {
    let out = ok(args);
    assert!(
        out.lines().last().unwrap_or("").ends_with(": all agree"),
        "{args:?}: {out}"
    );
}

/// Both targets, each on a simulator that simulates its cell models correctly.
const TARGETS: [(&str, &str); 2] = [("ice40", "verilator"), ("xc7", "icarus")];

#[test]
fn every_presets_pe_and_array_netlists_agree() {
    for preset in ["lean8", "lean16", "seed", "seed-mult"] {
        // The preset's formats on a 2x2 array: the full 16x16 arrays take tens of minutes to
        // synthesise (docs/testing.md has the full-size command).
        let dir = tmp(&format!("netlist-{preset}-2x2"));
        let dir = dir.to_str().unwrap();
        ok(&[
            "gen",
            "--preset",
            preset,
            "--rows",
            "2",
            "--cols",
            "2",
            "--allow-no-engine",
            "--out",
            dir,
        ]);
        for (target, sim) in TARGETS {
            for (level, cases) in [("pe", "40"), ("array", "12")] {
                agrees(&[
                    "cosim",
                    "--rtl",
                    dir,
                    "--level",
                    level,
                    "--cases",
                    cases,
                    "--netlist",
                    target,
                    "--sim",
                    sim,
                ]);
            }
        }
    }
}

#[test]
fn simulators_that_cannot_run_the_netlist_are_refused_before_synthesis() {
    let err = fails(&[
        "cosim",
        "--preset",
        "lean8",
        "--level",
        "pe",
        "--netlist",
        "xc7",
    ]);
    assert!(
        err.contains("--sim icarus") && err.contains("CARRY4"),
        "{err}"
    );
    // The engine's layer level runs on Verilator only: refused without synthesising it.
    let err = fails(&[
        "cosim",
        "--preset",
        "lean8",
        "--level",
        "layer",
        "--netlist",
        "ice40",
        "--sim",
        "icarus",
    ]);
    assert!(
        err.contains("Verilator only") && !err.contains("yosys:"),
        "{err}"
    );
}

#[test]
fn a_folder_that_synthesises_differently_fails_as_a_netlist() {
    // Simulators run the statement between the translate_off/on comments; synthesis leaves it
    // out, so the netlist's shift PE always gives 0.
    let dir = copy_preset("lean8", "netlist-translate-off");
    let pe = dir.join("dual_pe.v");
    let text = std::fs::read_to_string(&pe).unwrap();
    let line = "            term_reg_d = shifted;\n";
    assert_eq!(text.matches(line).count(), 1);
    let hidden = format!(
        "            term_reg_d = 11'h0;\n            // synopsys translate_off\n{line}            // synopsys translate_on\n"
    );
    std::fs::write(&pe, text.replace(line, &hidden)).unwrap();
    let d = dir.to_str().unwrap();
    agrees(&["cosim", "--rtl", d, "--level", "pe", "--cases", "30"]);
    for (target, sim) in TARGETS {
        let o = shiftadd(&[
            "cosim",
            "--rtl",
            d,
            "--level",
            "pe",
            "--cases",
            "30",
            "--netlist",
            target,
            "--sim",
            sim,
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{target}: {out}");
        assert!(
            out.contains("1 module(s) differ from the reference model"),
            "{target}: {out}"
        );
    }
}
