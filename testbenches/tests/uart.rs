//! `shiftadd_uart` (the committed `lean8` top) on Verilator, driven over its simulated serial
//! line as a board's host drives it: frames to every kind of register, every error status with
//! the bridge answering the next frame afterwards, layers bit-exact with exact CYCLES, and the
//! bridge's reset in the middle of a layer.

use proptest::strategy::{Strategy, ValueTree};
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::regmap::{access_counts, register, Reg, CTRL_START, STATUS_BUSY, STATUS_DONE};
use shiftadd_sim::rtl::{engine_kind, UART_MODULE};
use shiftadd_sim::spec::AccelConfig;
use shiftadd_sim::uart::{self as proto, framed, gap_cycles};
use shiftadd_tb::design::{Design, Dut};
use shiftadd_tb::engine::{case_descriptor, expected_outputs, post_case, run_layer_on};
use shiftadd_tb::layer::layer_strategy;
use shiftadd_tb::uart::{Line, SimLine, UartBus, SIM_BIT_CYCLES};
use shiftadd_tb::verilator::{cache_dir, Model};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// `lean8`'s config and its built serial top, once per test binary.
fn model() -> (AccelConfig, Arc<Model>) {
    static MODEL: OnceLock<(AccelConfig, Arc<Model>)> = OnceLock::new();
    let (c, m) = MODEL.get_or_init(|| {
        let d = Design::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rtl-out/lean8"))
            .unwrap();
        let ports = d.modules.get(UART_MODULE).expect("a serial top").clone();
        let (m, _) = Model::build(
            &d.files,
            d.waivers.as_deref(),
            UART_MODULE,
            &ports,
            &cache_dir(),
        )
        .unwrap();
        (d.cfg, m)
    });
    (c.clone(), Arc::clone(m))
}

fn bus(bit_cycles: u32) -> (AccelConfig, UartBus<SimLine>) {
    let (cfg, m) = model();
    let line = SimLine::new(&m, None, bit_cycles).unwrap();
    let b = UartBus::new(&cfg, line);
    (cfg, b)
}

/// A WRITE frame of `reg`, without its CRC.
fn write_frame(reg: Reg, v: u32) -> Vec<u8> {
    let mut f = vec![proto::OP_WRITE, reg.offset() as u8];
    f.extend(v.to_le_bytes());
    f
}

#[test]
fn frames_reach_the_registers_and_bad_frames_get_their_status() {
    let (_, mut b) = bus(SIM_BIT_CYCLES);
    b.identify().unwrap();
    b.write_reg(Reg::Shift, 5).unwrap();
    assert_eq!(b.read_reg(Reg::Shift).unwrap(), 5);
    // A bad CRC: answered at once, the write not done, the bridge drops bytes until the gap.
    let mut f = framed(&write_frame(Reg::Shift, 9));
    *f.last_mut().unwrap() ^= 1;
    let r = b.exchange(&f, 0).unwrap();
    assert_eq!(r.status, proto::BAD_CRC);
    b.line().settle().unwrap();
    assert_eq!(b.read_reg(Reg::Shift).unwrap(), 5, "a refused frame acts");
    // An unknown op.
    let r = b.exchange(&[0x7e, 1, 2, 3], 0).unwrap();
    assert_eq!(r.status, proto::BAD_OP);
    b.line().settle().unwrap();
    // A frame cut short: answered with TIMEOUT after the gap; the next frame needs no wait.
    let start = b.line().now();
    let r = b.exchange(&write_frame(Reg::Shift, 9)[..4], 0).unwrap();
    assert_eq!(r.status, proto::TIMEOUT);
    let waited = b.line().now() - start;
    let gap = gap_cycles(SIM_BIT_CYCLES);
    assert!(waited > gap && waited < gap + 2000, "{waited} cycles");
    assert_eq!(b.read_reg(Reg::Shift).unwrap(), 5);
    // A low stop bit.
    let mut bits = vec![false];
    bits.extend((0..8).map(|k| proto::OP_READ >> k & 1 == 1));
    bits.push(false);
    b.line().send_bits(&bits).unwrap();
    b.line().idle(100).unwrap();
    let reply = b.line().recv(2).unwrap();
    assert_eq!(
        reply,
        vec![proto::FRAMING, proto::crc8(0, &[proto::FRAMING])]
    );
    b.line().settle().unwrap();
    assert_eq!(b.read_reg(Reg::Shift).unwrap(), 5);
    // RECV with no STREAM_OUT: the words do not come; zeros, then STALL.
    let r = b.exchange(&framed(&[proto::OP_RECV, 2, 0]), 16).unwrap();
    assert_eq!(
        (r.status, r.payload, r.status2),
        (proto::OK, vec![0; 16], Some(proto::STALL))
    );
    // The errors reach the driver's callers named.
    let e = b.recv_words(1).unwrap_err().to_string();
    assert!(
        e.contains("RECV frame") && e.contains("stream stall"),
        "{e}"
    );
    // An empty SEND.
    assert_eq!(
        b.exchange(&framed(&[proto::OP_SEND, 0, 0]), 0)
            .unwrap()
            .status,
        proto::OK
    );
    b.write_reg(Reg::Shift, 6).unwrap();
    assert_eq!(b.read_reg(Reg::Shift).unwrap(), 6);
}

#[test]
fn a_slow_line_carries_frames() {
    // 115,200 baud at 25 MHz.
    let (_, mut b) = bus(217);
    b.identify().unwrap();
    b.write_reg(Reg::Shift, 3).unwrap();
    assert_eq!(b.read_reg(Reg::Shift).unwrap(), 3);
}

#[test]
fn layers_run_exactly_through_the_serial_bridge() {
    let (cfg, m) = model();
    let dut = Dut {
        kind: engine_kind(&cfg).unwrap(),
        top: UART_MODULE.into(),
        ports: Vec::new(),
        rows: cfg.rows as usize,
        cols: cfg.cols as usize,
        latency: 2,
        is_pe: false,
    };
    let mut runner = shiftadd_tb::cosim::test_runner(41);
    for k in 0..6 {
        let case = layer_strategy(&dut, &cfg)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let pc = post_case(&cfg, 41 ^ k, &case);
        let run = run_layer_on::<UartBus<SimLine>>(&cfg, &m, &case, &pc, None).unwrap();
        let (exp, exp_sat) = expected_outputs(&cfg, &case, &pc);
        let what = format!("{} {:?} S={}", case.describe(), pc.output, pc.s);
        assert_eq!(run.values, exp, "{what}");
        assert_eq!(run.sat, exp_sat, "{what}");
        let d = case_descriptor(&cfg, &case, &pc);
        assert_eq!(run.cycles, layer_cycles(&cfg, &d), "{what}");
        assert_eq!(run.accesses, access_counts(&cfg, &d), "{what}");
    }
}

/// Starts a convolution long enough to be read BUSY over the line; its cycle count.
fn start_layer(b: &mut UartBus<SimLine>, cfg: &AccelConfig) -> u64 {
    use shiftadd_sim::engine::{Descriptor, LayerOp};
    use shiftadd_sim::net::ConvKind;
    use shiftadd_sim::regmap::layer_writes;
    let d = Descriptor::shape(
        LayerOp::Conv(ConvKind::Shift),
        [8, 24, 24],
        16,
        [3, 3],
        1,
        1,
    );
    for (reg, v) in layer_writes(cfg, &d) {
        b.write_reg(reg, v).unwrap();
    }
    b.write_reg(Reg::Ctrl, CTRL_START).unwrap();
    layer_cycles(cfg, &d)
}

#[test]
fn the_reset_frame_in_the_middle_of_a_layer_returns_the_engine_idle() {
    let (cfg, mut b) = bus(SIM_BIT_CYCLES);
    let n = start_layer(&mut b, &cfg);
    assert!(n > 4000, "{n} cycles: too short to catch BUSY");
    assert_eq!(b.read_reg(Reg::Status).unwrap() & STATUS_BUSY, STATUS_BUSY);
    b.reset_engine().unwrap();
    for r in Reg::ALL {
        let want = match r {
            Reg::Id | Reg::Geometry => register(&cfg, r).reset,
            // Reads of the output port show the output buffer, whose contents reset keeps.
            Reg::BufDataLo | Reg::BufDataHi => continue,
            _ => 0,
        };
        assert_eq!(b.read_reg(r).unwrap(), want, "{} after reset", r.name());
    }
    // The engine runs the layer again, to its full count.
    let n = start_layer(&mut b, &cfg);
    b.line().idle(n).unwrap();
    assert_eq!(b.read_reg(Reg::Status).unwrap(), STATUS_DONE);
    assert_eq!(u64::from(b.read_reg(Reg::Cycles).unwrap()), n);
}
