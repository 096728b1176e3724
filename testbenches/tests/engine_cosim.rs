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
