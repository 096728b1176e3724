//! A design the simulators cannot run (a combinational loop that never settles, `$stop`) is a
//! reported error of the run, not an abort of the process (Verilator) or a hang (Icarus).

use shiftadd_tb::design::parse_modules;
use shiftadd_tb::icarus::{IcarusSim, SIM_SECONDS_VAR};
use shiftadd_tb::verilator::{cache_dir, Model, PortLayout};
use std::path::Path;

fn build(name: &str, verilog: &str) -> std::sync::Arc<Model> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/simulators-stop");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.v"));
    std::fs::write(&file, verilog).unwrap();
    let (top, ports) = parse_modules(verilog).unwrap().remove(0);
    Model::build(&[file], None, &top, &ports, &cache_dir())
        .unwrap()
        .0
}

#[test]
fn a_loop_that_never_settles_is_an_error_not_an_abort() {
    // `p` flips whenever `a` is 1: the loop has no fixed point.
    let m = build(
        "oscillates",
        "module oscillates(input clock, input a, output y);\n\
         wire p;\n\
         assign p = a ? ~p : 1'b0;\n\
         assign y = p;\n\
         endmodule\n",
    );
    let mut inst = m.instance(None).unwrap();
    // Settles while `a` is 0.
    assert_eq!(inst.cycles(&[0, 0]).unwrap(), vec![0, 0]);
    let e = inst.cycles(&[1]).unwrap_err().to_string();
    assert!(e.contains("oscillates") && e.contains("converge"), "{e}");
    // The instance stays stopped; a new one runs.
    assert!(inst.cycles(&[0]).is_err());
    assert_eq!(m.instance(None).unwrap().cycles(&[0]).unwrap(), vec![0]);
}

#[test]
fn stop_is_an_error_not_an_abort() {
    let m = build(
        "stops",
        "module stops(input clock, input a, output reg y);\n\
         always @(posedge clock) begin y <= a; if (a) $stop; end\n\
         endmodule\n",
    );
    let mut inst = m.instance(None).unwrap();
    assert!(inst.cycles(&[0, 0]).is_ok());
    let e = inst.cycles(&[1]).unwrap_err().to_string();
    assert!(e.contains("stops") && e.contains("$stop"), "{e}");
}

#[test]
fn an_icarus_zero_delay_loop_is_stopped_at_the_wall_clock_limit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/icarus-spins");
    std::fs::create_dir_all(&dir).unwrap();
    let verilog = "module spins(input clock, input a, output y);\n\
                   wire p;\n\
                   assign p = a ? ~p : 1'b0;\n\
                   assign y = p;\n\
                   endmodule\n";
    let file = dir.join("spins.v");
    std::fs::write(&file, verilog).unwrap();
    let (top, ports) = parse_modules(verilog).unwrap().remove(0);
    let layout = PortLayout::new(&top, &ports).unwrap();
    let sim = IcarusSim::build(&[file], &top, &layout, &cache_dir()).unwrap();
    assert_eq!(sim.run(&[0, 0], None).unwrap(), vec![0, 0]);
    // SAFETY: no other test of this binary reads the environment.
    unsafe { std::env::set_var(SIM_SECONDS_VAR, "3") };
    let t = std::time::Instant::now();
    // From 0, `a` = 1 makes `p` flip in zero time for ever.
    let e = sim.run(&[0, 1], None).unwrap_err().to_string();
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
    assert!(
        e.contains("limit of 3 s") && e.contains(SIM_SECONDS_VAR),
        "{e}"
    );
}
