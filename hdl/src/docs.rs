//! The header each generated module carries: its block's documentation (the module comment of
//! the block's source file, so that the Verilog and the Rust say the same) and the widths it was
//! instantiated at.

use shiftadd_sim::rtl::{array_widths, engine_widths, ArrayKind};
use shiftadd_sim::spec::AccelConfig;

const ARRAYS: &str = include_str!("array/mod.rs");
const ROW_ACC: &str = include_str!("array/row_acc.rs");
const SHIFT_ARRAY: &str = include_str!("array/shift_array.rs");
const ADDER_ARRAY: &str = include_str!("array/adder_array.rs");
const MAC_ARRAY: &str = include_str!("array/mac_array.rs");
const DUAL_ARRAY: &str = include_str!("array/dual_array.rs");
const SHIFT_PE: &str = include_str!("pe/shift_pe.rs");
const ADDER_PE: &str = include_str!("pe/adder_pe.rs");
const MAC_PE: &str = include_str!("pe/mac_pe.rs");
const DUAL_PE: &str = include_str!("pe/dual_pe.rs");
const SIGNED_MUL: &str = include_str!("pe/signed_mul.rs");
const CORE: &str = include_str!("engine/core.rs");
const SEQUENCER: &str = include_str!("engine/sequencer.rs");
const SEQ_REGS: &str = include_str!("engine/seq_regs.rs");
const POST: &str = include_str!("engine/post.rs");
const POOL: &str = include_str!("engine/pool.rs");
const DELAY: &str = include_str!("engine/delay.rs");
const AXI_TOP: &str = include_str!("axi/top.rs");
const AXI_LITE: &str = include_str!("axi/lite.rs");
const UART_TOP: &str = include_str!("uart/mod.rs");
const BRIDGE: &str = include_str!("uart/bridge.rs");
const UART_RX: &str = include_str!("uart/rx.rs");
const UART_TX: &str = include_str!("uart/tx.rs");
const CRC: &str = include_str!("uart/crc.rs");

/// The leading `//!` lines of a source file, without the markers.
fn file_doc(src: &str) -> Vec<&str> {
    src.lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim_start())
        .collect()
}

/// The source documenting module `name` of `cfg`'s folder, and its widths; `None` for a name
/// the generator does not emit.
fn source(cfg: &AccelConfig, name: &str) -> Option<(Vec<&'static str>, String)> {
    if let Some(w) = name.strip_prefix("dff_") {
        let doc = vec![
            "D flip-flop (rust-hdl `DFF`): `q <= d` on each rising clock edge; power-up value 0.",
        ];
        return Some((doc, format!("{w} bits")));
    }
    if let Some(shape) = name.strip_prefix("ram_") {
        let doc = vec![
            "Simple dual-port memory (rust-hdl `RAM`): a synchronous read (`read_data` is the word",
            "at `read_address` one edge later) and a synchronous write when `write_enable`; power-up",
            "contents 0. Yosys and Vivado map it onto block RAM where it fits.",
        ];
        return Some((doc, format!("{shape} (word bits x words)")));
    }
    let engine = engine_widths(cfg).ok();
    let engine_line = |e: &shiftadd_sim::rtl::EngineWidths| {
        format!(
            "{} array {}; activation banks {} address bits, weight lanes {}, parameter lanes {}, BUF_LANE {}; M {}, B {}, product {}, sum {}, output word {} bits",
            e.kind.name(),
            e.array,
            e.ab,
            e.wb,
            e.pb,
            e.lb,
            e.mb,
            e.bb,
            e.p,
            e.z,
            e.ow
        )
    };
    let engine_doc = |src: &'static str| -> Option<(Vec<&'static str>, String)> {
        Some((file_doc(src), engine_line(engine.as_ref()?)))
    };
    let uart_doc = |src: &'static str| -> Option<(Vec<&'static str>, String)> {
        Some((
            file_doc(src),
            format!(
                "bit_cycles {} bits, register bus {} address and {} data bits, streams 64 bits",
                shiftadd_sim::uart::BIT_CYCLES_BITS,
                shiftadd_sim::regmap::REG_ADDR_BITS,
                shiftadd_sim::regmap::REG_DATA_BITS
            ),
        ))
    };
    match name {
        "shiftadd_uart" => return engine_doc(UART_TOP),
        "uart_bridge" => return uart_doc(BRIDGE),
        n if n.starts_with("uart_rx") => return uart_doc(UART_RX),
        n if n.starts_with("uart_tx") => return uart_doc(UART_TX),
        n if n.starts_with("uart_crc") => return uart_doc(CRC),
        "engine" => return engine_doc(CORE),
        "shiftadd_axi" => return engine_doc(AXI_TOP),
        "axi_lite" => return engine_doc(AXI_LITE),
        "engine_seq" => return engine_doc(SEQUENCER),
        "engine_seq_regs" => return engine_doc(SEQ_REGS),
        "engine_post" => return engine_doc(POST),
        "engine_post_mul" => return engine_doc(SIGNED_MUL),
        "engine_pool" => return engine_doc(POOL),
        n if n.starts_with("engine_") && n.ends_with("_d") => return engine_doc(DELAY),
        _ => {}
    }
    let (kind, part) = name.split_once('_')?;
    let kind = ArrayKind::from_name(kind)?;
    let w = array_widths(cfg, kind);
    let widths = format!("{w}");
    let array_src = match kind {
        ArrayKind::Shift => SHIFT_ARRAY,
        ArrayKind::Adder => ADDER_ARRAY,
        ArrayKind::Mac => MAC_ARRAY,
        ArrayKind::Dual => DUAL_ARRAY,
    };
    let pe_src = match kind {
        ArrayKind::Shift => SHIFT_PE,
        ArrayKind::Adder => ADDER_PE,
        ArrayKind::Mac => MAC_PE,
        ArrayKind::Dual => DUAL_PE,
    };
    let doc = match part {
        "array" => {
            let mut d = file_doc(array_src);
            d.extend(file_doc(ARRAYS));
            d
        }
        "pe" => file_doc(pe_src),
        "pe_mul" => file_doc(SIGNED_MUL),
        "row_acc" => file_doc(ROW_ACC),
        _ => return None,
    };
    Some((doc, widths))
}

/// The comment block heading module `name` of `cfg`'s folder (empty for an unknown name).
pub fn module_doc(cfg: &AccelConfig, name: &str) -> String {
    let Some((doc, widths)) = source(cfg, name) else {
        return String::new();
    };
    let mut s = String::new();
    for l in doc {
        s.push_str(if l.is_empty() { "//" } else { "// " });
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&format!("// Widths: {widths}.\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiftadd_sim::spec::presets;

    #[test]
    fn every_module_of_every_preset_is_documented() {
        for cfg in presets::all() {
            let rtl = crate::generate::generate(&cfg).unwrap();
            for name in rtl.files.keys().filter_map(|f| f.strip_suffix(".v")) {
                let doc = module_doc(&cfg, name);
                assert!(
                    doc.lines().count() >= 2 && doc.contains("// Widths: "),
                    "{}: module `{name}` has no documentation",
                    cfg.name
                );
            }
        }
        assert_eq!(module_doc(&presets::seed(), "no_such_module"), "");
    }
}
