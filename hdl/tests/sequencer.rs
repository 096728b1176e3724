//! The sequencer in rust-hdl's simulation against the engine contract: the taps it issues, in
//! order, against `sim::engine::issue_schedule` (written from the buffer layouts, with no
//! incremental arithmetic), and `done` exactly `sim::cycles::layer_cycles` edges after `start`.

use proptest::prelude::*;
use rust_hdl_core::prelude::*;
use shiftadd_hdl::engine::Sequencer;
use shiftadd_sim::cycles::layer_cycles;
use shiftadd_sim::engine::{issue_schedule, seq_regs, Descriptor, Issue, LayerOp, OutputMode};
use shiftadd_sim::net::ConvKind;
use shiftadd_sim::spec::presets;

/// A shift convolution: `[cin, h, w]`, `cout` channels, `k`x`k` kernel, `[stride, pad]`, bases
/// `[in, out, weights]`.
fn descriptor(shape: [u32; 4], k: u32, sp: [u32; 2], bases: [u32; 3]) -> Descriptor {
    let [cin, h, w, cout] = shape;
    Descriptor {
        op: LayerOp::Conv(ConvKind::Shift),
        cin,
        h,
        w,
        cout,
        kh: k,
        kw: k,
        stride: sp[0],
        pad: sp[1],
        output: OutputMode::Post {
            relu: false,
            residual: false,
        },
        shift: 0,
        in_base: bases[0],
        out_base: bases[1],
        res_base: 0,
        w_base: bases[2],
        post_base: 0,
        in_from_output: false,
    }
}

/// Runs the sequencer on `d` (lean8's 8x8 array); returns the issued taps and the edge after
/// which `done` first showed.
fn run(d: &Descriptor) -> (Vec<Issue>, u64) {
    let cfg = presets::lean8();
    let r = seq_regs(&cfg, d);
    let mut s = Sequencer::default();
    s.connect_all();
    let c16 = |v: u32| bits::<16>(u64::from(v));
    let c32 = |v: u32| bits::<32>(u64::from(v));
    s.out_h.next = c16(r.out_h);
    s.out_w.next = c16(r.out_w);
    s.co_tiles.next = c16(r.co_tiles);
    s.ci_tiles.next = c16(r.ci_tiles);
    s.kh.next = c16(r.kh);
    s.kw.next = c16(r.kw);
    s.stride.next = c16(r.stride);
    s.pad.next = c16(r.pad);
    s.h_end.next = c16(r.h_end);
    s.w_end.next = c16(r.w_end);
    s.in_origin.next = c32(r.in_origin);
    s.in_row_step.next = c32(r.in_row_step);
    s.in_tile_step.next = c32(r.in_tile_step);
    s.in_ky_step.next = c32(r.in_ky_step);
    s.w_base.next = c32(r.w_base);
    s.out_base.next = c32(r.out_base);
    s.out_tile_step.next = c32(r.out_tile_step);
    s.pool.next = !matches!(d.op, LayerOp::Conv(_));
    let mut issued = Vec::new();
    let limit = layer_cycles(&cfg, d) + 20;
    for edge in 0..limit {
        s.start.next = edge == 0;
        s.clock.next = false.into();
        assert!(simulate(&mut s, 1000));
        s.clock.next = true.into();
        assert!(simulate(&mut s, 1000));
        if s.issue.val() {
            let inb = s.in_bounds.val();
            issued.push(Issue {
                clear: s.clear.val(),
                in_bounds: inb,
                act_addr: if inb {
                    s.act_addr.val().to_u64() as u32
                } else {
                    0
                },
                w_addr: s.w_addr.val().to_u64() as u32,
                last: s.last.val(),
                out_addr: s.out_addr.val().to_u64() as u32,
            });
        }
        if s.done.val() {
            return (issued, edge);
        }
    }
    panic!("no done within {limit} edges");
}

#[test]
fn a_worked_layer_matches_the_contract() {
    // 3x3 kernel, padding 1, stride 2, 11 input and 9 output channels (two tiles each on 8x8).
    let d = descriptor([11, 5, 4, 9], 3, [2, 1], [5, 3, 2]);
    d.check(&presets::lean8()).unwrap();
    let (issued, done) = run(&d);
    assert_eq!(issued, issue_schedule(&presets::lean8(), &d));
    assert_eq!(done, layer_cycles(&presets::lean8(), &d));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_layers_match_the_contract(
        cin in 1u32..20,
        h in 1u32..7,
        w in 1u32..7,
        cout in 1u32..20,
        k in prop::sample::select(vec![1u32, 3, 5]),
        stride in 1u32..3,
        pad in 0u32..2,
        bases in prop::array::uniform3(0u32..40),
    ) {
        let d = descriptor([cin, h, w, cout], k, [stride, pad], bases);
        prop_assume!(d.check(&presets::lean8()).is_ok());
        let (issued, done) = run(&d);
        prop_assert_eq!(issued, issue_schedule(&presets::lean8(), &d));
        prop_assert_eq!(done, layer_cycles(&presets::lean8(), &d));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_pools_match_the_contract(
        c in 1u32..20,
        h in 2u32..9,
        w in 2u32..9,
        k in 2u32..4,
        avg in any::<bool>(),
        bases in prop::array::uniform3(0u32..40),
    ) {
        let d = Descriptor {
            op: if avg { LayerOp::AvgPool } else { LayerOp::MaxPool },
            ..descriptor([c, h, w, c], k, [k, 0], bases)
        };
        prop_assume!(d.check(&presets::lean8()).is_ok());
        let (issued, done) = run(&d);
        prop_assert_eq!(issued, issue_schedule(&presets::lean8(), &d));
        prop_assert_eq!(done, layer_cycles(&presets::lean8(), &d));
    }
}
