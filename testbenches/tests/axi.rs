//! `shiftadd_axi` (the committed `lean8` and `seed-mult` tops) on Verilator, through its AXI
//! ports: every register written and read back as the register map describes it, SLVERR where
//! the map says, whole layers and poolings through the streams bit-exact with exact CYCLES and
//! DONE, the interrupt, and reset in the middle of a layer.

use proptest::strategy::{Strategy, ValueTree};
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::regmap::{
    access_counts, register, Access, Reg, IRQ_DONE, STATUS_BUSY, STATUS_DONE,
};
use shiftadd_sim::rtl::{engine_kind, AXI_MODULE};
use shiftadd_sim::spec::AccelConfig;
use shiftadd_tb::axi::{AxiBus, OKAY, SLVERR};
use shiftadd_tb::design::{Design, Dut};
use shiftadd_tb::engine::{case_descriptor, expected_outputs, post_case, run_layer_on};
use shiftadd_tb::layer::layer_strategy;
use shiftadd_tb::verilator::{cache_dir, Model};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// A preset's config and its built AXI top.
type Built = (String, AccelConfig, Arc<Model>);

/// The committed top of `preset`, built once per test binary.
fn model(preset: &str) -> (AccelConfig, Arc<Model>) {
    static MODELS: OnceLock<Mutex<Vec<Built>>> = OnceLock::new();
    let models = MODELS.get_or_init(|| Mutex::new(Vec::new()));
    let mut models = models.lock().unwrap();
    if let Some((_, c, m)) = models.iter().find(|(p, _, _)| p == preset) {
        return (c.clone(), Arc::clone(m));
    }
    let d = Design::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../rtl-out")
            .join(preset),
    )
    .unwrap();
    let ports = d.modules.get(AXI_MODULE).expect("an AXI top").clone();
    let (m, _) = Model::build(
        &d.files,
        d.waivers.as_deref(),
        AXI_MODULE,
        &ports,
        &cache_dir(),
    )
    .unwrap();
    models.push((preset.into(), d.cfg.clone(), Arc::clone(&m)));
    (d.cfg, m)
}

/// The bits of `reg`'s fields.
fn field_mask(cfg: &AccelConfig, reg: Reg) -> u32 {
    register(cfg, reg)
        .fields
        .iter()
        .fold(0u64, |m, f| m | (((1u64 << f.bits) - 1) << f.lsb)) as u32
}

#[test]
fn registers_answer_as_the_map_says() {
    let (cfg, m) = model("lean8");
    let mut bus = AxiBus::new(&cfg, &m, None).unwrap();
    bus.identify().unwrap();
    // Registers that hold what is written (not the output port, START or the stream count).
    let plain: Vec<Reg> = Reg::ALL
        .into_iter()
        .filter(|r| r.access() == Access::Rw)
        .filter(|r| ![Reg::BufDataLo, Reg::BufDataHi, Reg::StreamOut].contains(r))
        .collect();
    for (k, &r) in plain.iter().enumerate() {
        let v = 0x9e37_79b9u32.rotate_left(k as u32) ^ (k as u32 * 0x0101_0101);
        bus.write(r, v);
        let got = bus.read(r).unwrap();
        let mask = field_mask(&cfg, r);
        assert_eq!(got & mask, v & mask, "{}", r.name());
    }
    // Read-only registers refuse writes and keep their values.
    for r in Reg::ALL.into_iter().filter(|r| r.access() == Access::Ro) {
        let before = bus.read(r).unwrap();
        bus.write_raw(r.offset(), !before, 0xf, SLVERR);
        bus.flush().unwrap();
        assert_eq!(bus.read(r).unwrap(), before, "{}", r.name());
    }
    // Unmapped and unaligned addresses, and partial strobes.
    let past = 4 * Reg::ALL.len() as u32;
    for addr in [past, 0x100, 0xffc, 0x002, 0x801] {
        bus.write_raw(addr, 0x1234_5678, 0xf, SLVERR);
        let id = bus.read_raw(addr);
        bus.flush().unwrap();
        let r = bus.read_result(id);
        assert_eq!((r.data, r.resp), (0, SLVERR), "read of {addr:#x}");
    }
    bus.write(Reg::Shift, 5);
    bus.write_raw(Reg::Shift.offset(), 9, 0x3, SLVERR);
    bus.flush().unwrap();
    assert_eq!(
        bus.read(Reg::Shift).unwrap(),
        5,
        "a refused write changes nothing"
    );
    // A write-only register reads as 0, OKAY.
    let id = bus.read_raw(Reg::Ctrl.offset());
    bus.flush().unwrap();
    assert_eq!(bus.read_result(id).data, 0);
    assert_eq!(bus.read_result(id).resp, OKAY);
}

/// Random layers and poolings of `cfg` on its AXI top, through the streams.
fn check_layers(preset: &str, seed: u64, cases: u32) {
    let (cfg, m) = model(preset);
    let dut = Dut {
        kind: engine_kind(&cfg).unwrap(),
        top: AXI_MODULE.into(),
        ports: Vec::new(),
        rows: cfg.rows as usize,
        cols: cfg.cols as usize,
        latency: 2,
        is_pe: false,
    };
    let mut runner = shiftadd_tb::cosim::test_runner(seed);
    for k in 0..cases {
        let case = layer_strategy(&dut, &cfg)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let pc = post_case(&cfg, seed ^ u64::from(k), &case);
        let run = run_layer_on::<AxiBus>(&cfg, &m, &case, &pc, None).unwrap();
        let (exp, exp_sat) = expected_outputs(&cfg, &case, &pc);
        let what = format!("{preset}: {} {:?} S={}", case.describe(), pc.output, pc.s);
        assert_eq!(run.values, exp, "{what}");
        assert_eq!(run.sat, exp_sat, "{what}");
        let d = case_descriptor(&cfg, &case, &pc);
        assert_eq!(run.cycles, layer_cycles(&cfg, &d), "{what}");
        assert_eq!(run.accesses, access_counts(&cfg, &d), "{what}");
        assert_eq!(run.done_at, layer_cycles(&cfg, &d), "{what}");
    }
}

#[test]
fn layers_run_exactly_through_the_axi_ports() {
    check_layers("lean8", 21, 24);
}

#[test]
fn multiply_layers_run_exactly_through_the_axi_ports() {
    check_layers("seed-mult", 22, 6);
}

#[test]
fn poolings_run_exactly_through_the_axi_ports() {
    use rand::{Rng, SeedableRng};
    use shiftadd_sim::layers::{avg_pool, max_pool, Tensor};
    let (cfg, m) = model("lean8");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for _ in 0..8 {
        let avg = rng.gen_bool(0.5);
        let k = if avg { 2 } else { rng.gen_range(2..=3) };
        let chain = rng.gen_bool(0.5);
        let (c, h, w) = (
            rng.gen_range(1..=17),
            rng.gen_range(k..=8),
            rng.gen_range(k..=8),
        );
        let mut x = Tensor::zeros(c, h, w);
        for v in &mut x.data {
            *v = rng.gen_range(-128..=127);
        }
        let run =
            shiftadd_tb::engine::run_pool_on::<AxiBus>(&cfg, &m, &x, k as u32, avg, chain, None)
                .unwrap();
        let exp = if avg {
            avg_pool(&x, k)
        } else {
            max_pool(&x, k)
        };
        let exp: Vec<i64> = exp.data.iter().map(|&v| i64::from(v)).collect();
        assert_eq!(
            run.values,
            exp,
            "{} pool {k} of {c}x{h}x{w}",
            if avg { "avg" } else { "max" }
        );
    }
}

/// A small convolution's descriptor and its writes, started by hand.
fn start_layer(bus: &mut AxiBus, cfg: &AccelConfig) -> u64 {
    use shiftadd_sim::engine::{Descriptor, LayerOp};
    use shiftadd_sim::net::ConvKind;
    use shiftadd_sim::regmap::{layer_writes, CTRL_START};
    let d = Descriptor::shape(LayerOp::Conv(ConvKind::Shift), [3, 6, 6], 5, [3, 3], 1, 1);
    for (reg, v) in layer_writes(cfg, &d) {
        bus.write(reg, v);
    }
    bus.write(Reg::Ctrl, CTRL_START);
    layer_cycles(cfg, &d)
}

#[test]
fn the_interrupt_follows_done_and_clears() {
    let (cfg, m) = model("lean8");
    let mut bus = AxiBus::new(&cfg, &m, None).unwrap();
    // Enabled (the bus enables it): IRQ_STATUS set at the end of the layer, cleared by a 1.
    let n = start_layer(&mut bus, &cfg);
    bus.idle(n + 4);
    bus.flush().unwrap();
    assert_eq!(bus.read(Reg::IrqStatus).unwrap(), IRQ_DONE);
    assert_eq!(bus.read(Reg::Status).unwrap() & STATUS_DONE, STATUS_DONE);
    bus.write(Reg::IrqStatus, 0);
    assert_eq!(
        bus.read(Reg::IrqStatus).unwrap(),
        IRQ_DONE,
        "writing 0 clears nothing"
    );
    bus.write(Reg::IrqStatus, IRQ_DONE);
    assert_eq!(bus.read(Reg::IrqStatus).unwrap(), 0);
    // Disabled: the status bit still records DONE, and `irq` stays low.
    bus.write(Reg::IrqEnable, 0);
    let before = bus.cycle();
    let n = start_layer(&mut bus, &cfg);
    bus.idle(n + 4);
    bus.flush().unwrap();
    assert_eq!(bus.read(Reg::IrqStatus).unwrap(), IRQ_DONE);
    assert!(
        bus.irq_rises().iter().all(|&c| c < before),
        "irq rose while disabled"
    );
    bus.write(Reg::IrqEnable, IRQ_DONE);
    bus.idle(2);
    bus.flush().unwrap();
    assert!(
        bus.irq_rises().iter().any(|&c| c > before),
        "enabling with the status set raises irq"
    );
}

#[test]
fn reset_in_the_middle_of_a_layer_returns_the_engine_idle() {
    let (cfg, m) = model("lean8");
    let mut bus = AxiBus::new(&cfg, &m, None).unwrap();
    let n = start_layer(&mut bus, &cfg);
    bus.idle(n / 2);
    bus.flush().unwrap();
    assert_eq!(bus.read(Reg::Status).unwrap() & STATUS_BUSY, STATUS_BUSY);
    bus.reset(3);
    for r in Reg::ALL {
        let want = match r {
            Reg::Id | Reg::Geometry => register(&cfg, r).reset,
            // Reads of the output port show the output buffer, whose contents reset keeps.
            Reg::BufDataLo | Reg::BufDataHi => continue,
            _ => 0,
        };
        assert_eq!(bus.read(r).unwrap(), want, "{} after reset", r.name());
    }
    // The engine runs layers again.
    bus.write(Reg::IrqEnable, IRQ_DONE);
    check_layers("lean8", 31, 3);
    let n = start_layer(&mut bus, &cfg);
    bus.idle(n + 4);
    bus.flush().unwrap();
    assert_eq!(bus.read(Reg::Cycles).unwrap() as u64, n);
}
