//! The engine's sequencer as emitted Verilog, on Verilator, against the engine contract: the
//! taps it issues against `sim::engine::issue_schedule` and `done` after exactly
//! `sim::cycles::layer_cycles` edges.

use proptest::prelude::*;
use shiftadd_hdl::emit::emit_block;
use shiftadd_hdl::engine::Sequencer;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::{issue_schedule, seq_regs, Descriptor, Issue, LayerOp, OutputMode};
use shiftadd_sim::net::ConvKind;
use shiftadd_sim::spec::presets;
use shiftadd_tb::verilator::{cache_dir, Model};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

fn model() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let design = emit_block(&mut Sequencer::default(), "seq", "sequencer").unwrap();
            let dir = std::env::temp_dir().join(format!("shiftadd-seq-{}", std::process::id()));
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
            Model::build(&files, None, "sequencer", &design.ports, &cache_dir())
                .unwrap()
                .0
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
    let out = m.instance(None).unwrap().cycles(&words);
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
    use shiftadd_hdl::engine::EngineCore;
    use shiftadd_hdl::widths::ArrayKind;
    use shiftadd_sim::engine::{
        act_location, register_offset, seq_field_values, weight_location, BUF_INPUT, BUF_OUTPUT,
        BUF_WEIGHTS, SEQ_FIELDS,
    };
    use shiftadd_sim::numerics::encode_shift_weight;
    use shiftadd_sim::spec::AccelConfig;
    use shiftadd_tb::design::Dut;
    use shiftadd_tb::layer::{layer_data, layer_reference, layer_strategy, LayerCase};
    use shiftadd_tb::stimulus::{Op, Weight};

    fn cfg() -> AccelConfig {
        let mut c = presets::lean8();
        c.rows = 4;
        c.cols = 4;
        c.act_buf_words = 4 * 1024; // 1024 words per bank: 10 address bits
        c.weight_buf_words = 16 * 256; // 256 weight words: 8 address bits
        c
    }

    fn engine_model() -> Arc<Model> {
        static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                let mut core = EngineCore::<8, 8, 11, 17, 21, 10, 8, 4>::new(&cfg());
                let design = emit_block(&mut core, "engine", "engine").unwrap();
                let dir =
                    std::env::temp_dir().join(format!("shiftadd-engine-{}", std::process::id()));
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
                Model::build(&files, None, "engine", &design.ports, &cache_dir())
                    .unwrap()
                    .0
            })
            .clone()
    }

    /// Host bus cycles, and the cycles whose read data is kept.
    #[derive(Default)]
    struct Program {
        cycles: Vec<(bool, u32, u32)>,
        reads: Vec<usize>,
    }

    impl Program {
        fn write(&mut self, reg: &str, v: u32) {
            let o = register_offset(&cfg(), reg).unwrap();
            self.cycles.push((true, o, v));
        }
        fn read(&mut self, reg: &str) -> usize {
            let o = register_offset(&cfg(), reg).unwrap();
            self.cycles.push((false, o, 0));
            self.reads.push(self.cycles.len() - 1);
            self.reads.len() - 1
        }
    }

    fn weight_code(w: Weight) -> u32 {
        match w {
            Weight::Shift(sw) => encode_shift_weight(sw, cfg().formats.shift_wb),
            Weight::Code(v) => v as u32 & 0xff,
        }
    }

    /// Runs `case` through the engine; returns (outputs `[co][oy][ox]`, DONE edge after START,
    /// CYCLES register).
    fn run(case: &LayerCase) -> (Vec<i64>, u64, u64) {
        let cfg = cfg();
        let g = case.g;
        let data = layer_data(case, &cfg);
        let d = Descriptor {
            op: LayerOp::Conv(match case.op {
                Op::Shift => ConvKind::Shift,
                Op::Adder => ConvKind::Adder,
                Op::Mult => ConvKind::Mult,
            }),
            cin: g.cin as u32,
            h: g.h as u32,
            w: g.w as u32,
            cout: g.cout as u32,
            kh: g.kh as u32,
            kw: g.kw as u32,
            stride: g.stride as u32,
            pad: g.pad as u32,
            output: OutputMode::Logits { relu: false },
            shift: 0,
            in_base: 3,
            out_base: 5,
            res_base: 0,
            w_base: 2,
            post_base: 0,
        };
        d.check(&cfg).unwrap();
        let mut p = Program::default();
        // Inputs, with zeros in the channels past cin of the last tile.
        p.write("BUF_SEL", BUF_INPUT);
        for c in 0..d.ci_tiles(&cfg) * cfg.cols {
            for y in 0..d.h {
                for x in 0..d.w {
                    let (bank, word) = act_location(&cfg, d.in_base, d.h, d.w, c, y, x);
                    let v = if c < d.cin {
                        data.x.at(c as usize, y as usize, x as usize) as u32 & 0xff
                    } else {
                        0
                    };
                    p.write("BUF_LANE", bank);
                    p.write("BUF_ADDR", word);
                    p.write("BUF_DATA_LO", v);
                }
            }
        }
        // Weights, with zero weights past the layer's channels.
        let zero = match case.op {
            Op::Shift => Weight::Shift(shiftadd_sim::numerics::ShiftWeight { s: 0, m: 0 }),
            _ => Weight::Code(0),
        };
        p.write("BUF_SEL", BUF_WEIGHTS);
        for co in 0..d.co_tiles(&cfg) * cfg.rows {
            for ci in 0..d.ci_tiles(&cfg) * cfg.cols {
                for ky in 0..d.kh {
                    for kx in 0..d.kw {
                        let (word, lane) = weight_location(&cfg, &d, co, ci, ky, kx);
                        let w = if co < d.cout && ci < d.cin {
                            data.w[(((co * d.cin + ci) * d.kh + ky) * d.kw + kx) as usize]
                        } else {
                            zero
                        };
                        p.write("BUF_LANE", lane);
                        p.write("BUF_ADDR", word);
                        p.write("BUF_DATA_LO", weight_code(w));
                    }
                }
            }
        }
        let regs = seq_regs(&cfg, &d);
        for ((name, _, _), v) in SEQ_FIELDS.iter().zip(seq_field_values(&regs)) {
            p.write(name, v);
        }
        p.write("OP", u32::from(case.op == Op::Adder));
        p.write("CTRL", 1);
        let start = p.cycles.len() - 1;
        let l = layer_cycles(&cfg, &d) as usize;
        let status: Vec<usize> = (0..l + 4).map(|_| p.read("STATUS")).collect();
        let cycles_reg = p.read("CYCLES");
        p.write("BUF_SEL", BUF_OUTPUT);
        let (oh, ow) = (d.out_h(), d.out_w());
        let mut out_reads = Vec::new();
        for co in 0..d.cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (bank, word) = act_location(&cfg, d.out_base, oh, ow, co, oy, ox);
                    p.write("BUF_LANE", bank);
                    p.write("BUF_ADDR", word);
                    let lo = p.read("BUF_DATA_LO");
                    let hi = p.read("BUF_DATA_HI");
                    out_reads.push((lo, hi));
                }
            }
        }
        // Drive the bus.
        let m = engine_model();
        let lay = &m.layout;
        let mut words = vec![0u64; p.cycles.len() * lay.input_words];
        for (c, &(we, addr, data)) in p.cycles.iter().enumerate() {
            for (port, &o) in lay.inputs.iter().zip(&lay.input_offsets) {
                words[c * lay.input_words + o] = match port.name.as_str() {
                    "reg_we" => u64::from(we),
                    "reg_addr" => u64::from(addr),
                    "reg_wdata" => u64::from(data),
                    other => panic!("unexpected input {other}"),
                };
            }
        }
        let out = m.instance(None).unwrap().cycles(&words);
        let k = lay
            .outputs
            .iter()
            .position(|q| q.name == "reg_rdata")
            .unwrap();
        let rd = |i: usize| out[p.reads[i] * lay.output_words + lay.output_offsets[k]];
        let done_at = status
            .iter()
            .position(|&i| rd(i) & 2 != 0)
            .expect("DONE within layer_cycles + 4") as u64
            + 1;
        let _ = start;
        let values = out_reads
            .iter()
            .map(|&(lo, hi)| ((rd(hi) << 32) | rd(lo)) as i64)
            .collect();
        (values, done_at, rd(cycles_reg))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn engine_runs_layers_exactly(seed in any::<u64>()) {
            let cfg = cfg();
            let dut = Dut {
                kind: ArrayKind::Dual,
                top: "engine".into(),
                ports: Vec::new(),
                rows: 4,
                cols: 4,
                latency: 2,
                is_pe: false,
            };
            let mut runner = shiftadd_tb::cosim::test_runner(seed);
            let case = layer_strategy(&dut, &cfg).new_tree(&mut runner).unwrap().current();
            let (values, done_at, cycles) = run(&case);
            let reference = layer_reference(&case, &layer_data(&case, &cfg), &cfg);
            prop_assert_eq!(&values, &reference.data, "{}", case.describe());
            let d_cycles = {
                let g = case.g;
                let d = Descriptor {
                    op: LayerOp::Conv(ConvKind::Shift),
                    cin: g.cin as u32, h: g.h as u32, w: g.w as u32, cout: g.cout as u32,
                    kh: g.kh as u32, kw: g.kw as u32, stride: g.stride as u32, pad: g.pad as u32,
                    output: OutputMode::Handoff, shift: 0,
                    in_base: 0, out_base: 0, res_base: 0, w_base: 0, post_base: 0,
                };
                layer_cycles(&cfg, &d)
            };
            prop_assert_eq!(cycles, d_cycles, "{}", case.describe());
            prop_assert_eq!(done_at, d_cycles, "{}", case.describe());
        }
    }
}
