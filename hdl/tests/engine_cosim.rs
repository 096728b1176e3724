//! The engine's sequencer as emitted Verilog, on Verilator, against the engine contract: the
//! taps it issues against `sim::engine::issue_schedule` and `done` after exactly
//! `sim::cycles::layer_cycles` edges.

use proptest::prelude::*;
use shiftadd_hdl::emit::emit_block;
use shiftadd_hdl::engine::Sequencer;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::{issue_schedule, seq_regs, Descriptor, Issue, LayerOp, OutputMode};
use shiftadd_sim::net::ConvKind;
use shiftadd_sim::regmap::access_counts;
use shiftadd_sim::spec::presets;
use shiftadd_tb::verilator::{cache_dir, Model};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Writes an emitted design into a temporary folder and builds its Verilator model.
fn build_emitted(design: &shiftadd_hdl::emit::EmittedDesign) -> Arc<Model> {
    let dir = std::env::temp_dir().join(format!("shiftadd-{}-{}", design.top, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = design
        .modules
        .iter()
        .map(|m| {
            let p = dir.join(format!("{}.v", m.name));
            std::fs::write(&p, &m.text).unwrap();
            p
        })
        .collect();
    Model::build(&files, None, &design.top, &design.ports, &cache_dir())
        .unwrap()
        .0
}

fn model() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            build_emitted(&emit_block(&mut Sequencer::default(), "seq", "sequencer").unwrap())
        })
        .clone()
}

fn run(d: &Descriptor) -> (Vec<Issue>, u64) {
    let cfg = presets::lean8();
    let r = seq_regs(&cfg, d);
    let m = model();
    let l = &m.layout;
    let n = layer_cycles(&cfg, d) as usize + 20;
    let mut words = vec![0u64; n * l.input_words];
    for (p, &o) in l.inputs.iter().zip(&l.input_offsets) {
        let v = match p.name.as_str() {
            "start" => None,
            "pool" | "reset" => Some(0),
            "out_h" => Some(r.out_h),
            "out_w" => Some(r.out_w),
            "co_tiles" => Some(r.co_tiles),
            "ci_tiles" => Some(r.ci_tiles),
            "kh" => Some(r.kh),
            "kw" => Some(r.kw),
            "stride" => Some(r.stride),
            "pad" => Some(r.pad),
            "h_end" => Some(r.h_end),
            "w_end" => Some(r.w_end),
            "in_origin" => Some(r.in_origin),
            "in_row_step" => Some(r.in_row_step),
            "in_tile_step" => Some(r.in_tile_step),
            "in_ky_step" => Some(r.in_ky_step),
            "w_base" => Some(r.w_base),
            "out_base" => Some(r.out_base),
            "out_tile_step" => Some(r.out_tile_step),
            other => panic!("unexpected input {other}"),
        };
        for c in 0..n {
            words[c * l.input_words + o] = match v {
                Some(v) => u64::from(v),
                None => u64::from(c == 0),
            };
        }
    }
    let out = m.instance(None).unwrap().cycles(&words).unwrap();
    let get = |c: usize, name: &str| -> u64 {
        let k = l.outputs.iter().position(|p| p.name == name).unwrap();
        out[c * l.output_words + l.output_offsets[k]]
    };
    let mut issued = Vec::new();
    for c in 0..n {
        if get(c, "issue") == 1 {
            let inb = get(c, "in_bounds") == 1;
            issued.push(Issue {
                clear: get(c, "clear") == 1,
                in_bounds: inb,
                act_addr: if inb { get(c, "act_addr") as u32 } else { 0 },
                w_addr: get(c, "w_addr") as u32,
                last: get(c, "last") == 1,
                out_addr: get(c, "out_addr") as u32,
            });
        }
        if get(c, "done") == 1 {
            return (issued, c as u64);
        }
    }
    panic!("no done within {n} cycles");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn emitted_sequencer_matches_the_contract(
        cin in 1u32..20,
        h in 1u32..8,
        w in 1u32..8,
        cout in 1u32..20,
        k in prop::sample::select(vec![1u32, 3, 5]),
        stride in 1u32..3,
        pad in 0u32..2,
        bases in prop::array::uniform3(0u32..40),
    ) {
        let d = Descriptor {
            op: LayerOp::Conv(ConvKind::Adder),
            cin, h, w, cout, kh: k, kw: k, stride, pad,
            output: OutputMode::Handoff,
            shift: 0,
            in_base: bases[0],
            out_base: bases[1],
            res_base: 0,
            w_base: bases[2],
            post_base: 0,
            in_from_output: false,
        };
        prop_assume!(d.check(&presets::lean8()).is_ok());
        let (issued, done) = run(&d);
        prop_assert_eq!(issued, issue_schedule(&presets::lean8(), &d));
        prop_assert_eq!(done, layer_cycles(&presets::lean8(), &d));
    }
}

/// The engine core (lean8 formats, 4x4 array) as emitted Verilog: whole layers written, run and
/// read back through the register map, against the reference model's convolution and
/// `sim::cycles::layer_cycles`.
mod engine_core {
    use super::*;
    use proptest::strategy::ValueTree;
    use shiftadd_hdl::array::{DualArray, MacArray};
    use shiftadd_hdl::engine::EngineCore;
    use shiftadd_sim::rtl::{engine_kind, engine_widths, ArrayKind, ArrayWidths};
    use shiftadd_sim::spec::{AccelConfig, PeKinds};
    use shiftadd_tb::design::Dut;
    use shiftadd_tb::engine::{case_descriptor, expected_outputs, post_case, run_layer};
    use shiftadd_tb::layer::layer_strategy;

    fn cfg() -> AccelConfig {
        let mut c = presets::lean8();
        c.rows = 4;
        c.cols = 4;
        c.act_buf_words = 4 * 1024; // 1024 words per bank: 10 address bits
        c.weight_buf_words = 16 * 256; // 256 weight words: 8 address bits
        c.post_buf_words = 4 * 16; // 16 parameter words: 4 address bits
        c
    }

    fn engine_model() -> Arc<Model> {
        static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                let mut core = EngineCore::<
                    DualArray<8, 8, 11, 17, 21>,
                    8,
                    8,
                    21,
                    10,
                    8,
                    4,
                    16,
                    24,
                    37,
                    38,
                    38,
                    4,
                >::new(&cfg());
                build_emitted(&emit_block(&mut core, "engine", "engine").unwrap())
            })
            .clone()
    }

    /// Runs `cases` random layers (from `seed`) with random post-processing on the engine
    /// `m` of `cfg` and checks outputs, saturation count, CYCLES and DONE.
    fn check_engine(cfg: &AccelConfig, m: &Arc<Model>, seed: u64, cases: u32) {
        let dut = Dut {
            kind: engine_kind(cfg).unwrap(),
            top: "engine".into(),
            ports: Vec::new(),
            rows: cfg.rows as usize,
            cols: cfg.cols as usize,
            latency: 2,
            is_pe: false,
        };
        let mut runner = shiftadd_tb::cosim::test_runner(seed);
        for k in 0..cases {
            let case = layer_strategy(&dut, cfg)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let pc = post_case(cfg, seed ^ u64::from(k), &case);
            let run = run_layer(cfg, m, &case, &pc, None).unwrap();
            let (exp, exp_sat) = expected_outputs(cfg, &case, &pc);
            let what = format!(
                "{}: {} {:?} S={}",
                cfg.name,
                case.describe(),
                pc.output,
                pc.s
            );
            assert_eq!(run.values, exp, "{what}");
            assert_eq!(run.sat, exp_sat, "{what}");
            let d = case_descriptor(cfg, &case, &pc);
            assert_eq!(run.cycles, layer_cycles(cfg, &d), "{what}");
            assert_eq!(run.accesses, access_counts(cfg, &d), "{what}");
            assert_eq!(run.done_at, layer_cycles(cfg, &d), "{what}");
        }
    }

    #[test]
    fn engine_runs_layers_exactly() {
        check_engine(&cfg(), &engine_model(), 3, 48);
    }

    /// `cfg()` with multiply PEs: the multiply baseline's engine.
    fn mult_cfg() -> AccelConfig {
        AccelConfig {
            pe_kinds: PeKinds::Mult,
            ..cfg()
        }
    }

    #[test]
    fn mult_engine_runs_multiply_layers_exactly() {
        let cfg = mult_cfg();
        let w = engine_widths(&cfg).unwrap();
        let array = ArrayWidths {
            xw: 8,
            ww: 8,
            t: 16,
            ts: 22,
            acc: 26,
        };
        assert_eq!(
            (w.kind, w.array, w.p, w.ow),
            (ArrayKind::Mac, array, 42, 43)
        );
        let mut core = EngineCore::<
            MacArray<8, 8, 16, 22, 26>,
            8,
            8,
            26,
            10,
            8,
            4,
            16,
            24,
            42,
            43,
            43,
            4,
        >::new(&cfg);
        let m = build_emitted(&emit_block(&mut core, "engine", "engine").unwrap());
        check_engine(&cfg, &m, 11, 40);
        check_pools(&cfg, &m, 12, 12);
        // GEOMETRY: rows - 1, cols - 1, bit 16 set for a multiply array (the register map's doc).
        let geometry = |cfg: &AccelConfig, m: &Arc<Model>| {
            let mut bus = shiftadd_tb::bus::Bus::new(cfg, m, None).unwrap();
            let id = bus.read(shiftadd_sim::regmap::Reg::Geometry);
            bus.value(id)
        };
        assert_eq!(geometry(&cfg, &m), 0x1_0303);
        assert_eq!(geometry(&self::cfg(), &engine_model()), 0x0303);
        shiftadd_tb::bus::Bus::new(&cfg, &m, None)
            .unwrap()
            .identify()
            .unwrap();
        let e = shiftadd_tb::bus::Bus::new(&cfg, &engine_model(), None)
            .unwrap()
            .identify()
            .unwrap_err();
        assert!(e.to_string().contains("GEOMETRY 0x00303"), "{e}");
    }

    /// The committed engine of a preset, built from `rtl-out/<preset>/`.
    fn committed(preset: &str) -> (AccelConfig, Arc<Model>) {
        let d = shiftadd_tb::design::Design::load(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../rtl-out")
                .join(preset),
        )
        .unwrap();
        let ports = d.modules.get("engine").expect("an engine module").clone();
        let (m, _) = Model::build(
            &d.files,
            d.waivers.as_deref(),
            "engine",
            &ports,
            &cache_dir(),
        )
        .unwrap();
        (d.cfg, m)
    }

    #[test]
    fn committed_lean8_engine_runs_layers_exactly() {
        let (cfg, m) = committed("lean8");
        check_engine(&cfg, &m, 5, 12);
    }

    #[test]
    fn committed_seed_mult_engine_runs_multiply_layers_exactly() {
        // 32-bit codes times 8-bit weights: 51-bit sums, an 83-bit affine step.
        let (cfg, m) = committed("seed-mult");
        check_engine(&cfg, &m, 13, 4);
    }

    #[test]
    fn committed_seed_engine_runs_layers_exactly() {
        // 32-bit codes, 58-bit sums and a 91-bit affine step behind a 64-bit output word.
        let (cfg, m) = committed("seed");
        check_engine(&cfg, &m, 7, 4);
    }

    #[test]
    fn committed_seed_fix16_engine_runs_layers_exactly() {
        // 43-bit adder codes (drawn over their whole range) on a 43-bit operand port.
        let (cfg, m) = committed("seed-fix16");
        check_engine(&cfg, &m, 17, 6);
    }

    /// Random poolings on the engine `m` of `cfg`: outputs against `sim::layers`, CYCLES and
    /// DONE against `sim::cycles`.
    fn check_pools(cfg: &AccelConfig, m: &Arc<Model>, seed: u64, cases: usize) {
        use shiftadd_tb::engine::{pool_case, pool_disagreement, run_pool_case};
        for k in 0..cases as u64 {
            let pc = pool_case(cfg, seed ^ (k << 32));
            let run = run_pool_case(cfg, m, &pc, None).unwrap();
            if let Some(what) = pool_disagreement(cfg, &pc, &run) {
                panic!("{}: {}: {what}", cfg.name, pc.describe());
            }
        }
    }

    #[test]
    fn engine_pools_exactly() {
        check_pools(&cfg(), &engine_model(), 9, 40);
        let (cfg, m) = committed("lean8");
        check_pools(&cfg, &m, 10, 12);
    }
}

/// The post-processing unit (lean8 widths) as emitted Verilog, on Verilator, against the
/// reference model: random values of every mode with the edge codes, 4000 cycles.
#[test]
fn emitted_post_unit_matches_the_reference() {
    use rand::{Rng, SeedableRng};
    use shiftadd_hdl::engine::PostUnit;
    use shiftadd_sim::engine::post_reference;
    use shiftadd_sim::numerics::{max_code, min_code};

    let f = presets::lean8().formats;
    let mut unit = PostUnit::<21, 16, 24, 8, 37, 38, 38>::new(f.act_range(), f.add_bits);
    let m = build_emitted(&emit_block(&mut unit, "post", "post_unit").unwrap());
    let l = &m.layout;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut pick = |bits: u32| -> i64 {
        match rng.gen_range(0..6) {
            0 => min_code(bits),
            1 => max_code(bits),
            2 => 0,
            _ => rng.gen_range(min_code(bits)..=max_code(bits)),
        }
    };
    let n = 4000;
    let inputs: Vec<[i64; 9]> = (0..n)
        .map(|_| {
            [
                pick(21),
                pick(16),
                pick(24),
                pick(5).rem_euclid(25),
                pick(3).rem_euclid(4),
                pick(2) & 1,
                pick(2) & 1,
                pick(8),
                0,
            ]
        })
        .collect();
    let widths = [21, 16, 24, 7, 2, 1, 1, 8, 1];
    let names = ["v", "m", "b", "s", "mode", "relu", "residual", "r", "reset"];
    let mut words = vec![0u64; (n + 2) * l.input_words];
    for (c, inp) in inputs.iter().enumerate() {
        for (p, &o) in l.inputs.iter().zip(&l.input_offsets) {
            let k = names
                .iter()
                .position(|x| *x == p.name)
                .expect("known input");
            words[c * l.input_words + o] = (inp[k] as u64) & ((1u64 << widths[k]) - 1);
        }
    }
    let out = m.instance(None).unwrap().cycles(&words).unwrap();
    let port = |name: &str| l.outputs.iter().position(|p| p.name == name).unwrap();
    let (ko, ks) = (port("out"), port("sat"));
    for (c, inp) in inputs.iter().enumerate() {
        let raw = out[(c + 1) * l.output_words + l.output_offsets[ko]];
        let got = i128::from(((raw << 26) as i64) >> 26);
        let sat = out[(c + 1) * l.output_words + l.output_offsets[ks]] == 1;
        let exp = post_reference(
            &f,
            inp[0],
            (inp[1], inp[2], inp[3] as u32),
            inp[4] as u8,
            inp[5] == 1,
            (inp[6] == 1).then_some(inp[7] as i32),
            38,
        );
        assert_eq!((got, sat), exp, "cycle {c}: {inp:?}");
    }
}
