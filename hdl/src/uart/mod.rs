//! The engine on a serial line: [`UartBridge`] (`uart_bridge`) carries the frames of
//! `shiftadd_sim::uart` onto the engine's register bus and streams through [`UartRx`] and
//! [`UartTx`], checking each with [`Crc8`]; `shiftadd_uart` ([`top_verilog`]) is the bridge and
//! the engine side by side, the top a board instantiates beside its clock generator.

mod bridge;
mod crc;
mod rx;
mod tx;

pub use bridge::UartBridge;
pub use crc::Crc8;
pub use rx::UartRx;
pub use tx::UartTx;

use crate::emit::{emit_block, EmitError, EmittedDesign, Port, PortDir};
use shiftadd_sim::rtl::{BRIDGE_MODULE, UART_MODULE};
use shiftadd_sim::uart::BIT_CYCLES_BITS;

/// Emits the bridge, top module `uart_bridge`.
pub fn emit_bridge() -> Result<EmittedDesign, EmitError> {
    let mut b = UartBridge::default();
    emit_block(&mut b, "uart", BRIDGE_MODULE)
}

/// Engine ports the top drives from outside the bridge, or leaves open.
const OUTSIDE: [&str; 4] = ["clock", "reset", "irq", "sout_last"];

/// The ports of `shiftadd_uart`.
pub fn top_ports() -> Vec<Port> {
    let p = |name: &str, dir, width| Port {
        name: name.into(),
        dir,
        width,
    };
    vec![
        p("clock", PortDir::Input, 1),
        p("reset", PortDir::Input, 1),
        p("bit_cycles", PortDir::Input, BIT_CYCLES_BITS),
        p("rx", PortDir::Input, 1),
        p("tx", PortDir::Output, 1),
        p("irq", PortDir::Output, 1),
    ]
}

/// `shiftadd_uart`: the bridge and the engine (ports `engine_ports`) joined port by port; the
/// engine is reset by `reset` or the bridge's `RESET`. `reset` is synchronous, active high.
pub fn top_verilog(engine_ports: &[Port]) -> String {
    let range = |w: usize| {
        if w == 1 {
            String::new()
        } else {
            format!("[{}:0] ", w - 1)
        }
    };
    let mut v = format!(
        "module {UART_MODULE}(clock, reset, bit_cycles, rx, tx, irq);\n\
         \x20   input wire clock;\n\
         \x20   input wire reset;\n\
         \x20   input wire {}bit_cycles;\n\
         \x20   input wire rx;\n\
         \x20   output wire tx;\n\
         \x20   output wire irq;\n\
         \x20   wire engine_reset;\n\
         \x20   // The bridge counts a RECV's words; the stream's last flag is not needed.\n\
         \x20   /* verilator lint_off UNUSEDSIGNAL */\n\
         \x20   wire sout_last;\n\
         \x20   /* verilator lint_on UNUSEDSIGNAL */\n",
        range(BIT_CYCLES_BITS)
    );
    let joined: Vec<&Port> = engine_ports
        .iter()
        .filter(|p| !OUTSIDE.contains(&p.name.as_str()))
        .collect();
    for p in &joined {
        v += &format!("    wire {}{};\n", range(p.width), p.name);
    }
    v += &format!(
        "    {BRIDGE_MODULE} bridge(\n        .clock(clock),\n        .reset(reset),\n        .rx(rx),\n        .tx(tx),\n        .bit_cycles(bit_cycles),\n        .engine_reset(engine_reset)"
    );
    for p in &joined {
        v += &format!(",\n        .{0}({0})", p.name);
    }
    v += &format!(
        "\n    );\n    {} core(\n        .clock(clock),\n        .reset(reset | engine_reset),\n        .irq(irq),\n        .sout_last(sout_last)",
        shiftadd_sim::rtl::ENGINE_MODULE
    );
    for p in &joined {
        v += &format!(",\n        .{0}({0})", p.name);
    }
    v += "\n    );\nendmodule\n";
    v
}
