//! The post-processing unit in rust-hdl's simulation against the reference model's
//! post-processing, hand-off, rounding and logits (`sim::layers`) at lean8's widths.

use proptest::prelude::*;
use rust_hdl_core::prelude::*;
use shiftadd_hdl::engine::PostUnit;
use shiftadd_sim::engine::post_reference;
use shiftadd_sim::numerics::{max_code, min_code};
use shiftadd_sim::spec::presets;

/// lean8: acc 21 bits, M 16, B 24, residual codes 8; product 37, sum 38, output 38.
type Lean8Post = PostUnit<21, 16, 24, 8, 37, 38, 38>;

fn pattern(v: i64, bits: usize) -> u64 {
    (v as u64) & (u64::MAX >> (64 - bits))
}

fn signed(p: u64, bits: usize) -> i64 {
    ((p << (64 - bits)) as i64) >> (64 - bits)
}

#[derive(Clone, Copy, Debug)]
struct In {
    v: i64,
    m: i64,
    b: i64,
    s: u32,
    mode: u8,
    relu: bool,
    residual: bool,
    r: i64,
}

/// The reference model's value and saturation of one input.
fn reference(i: In) -> (i128, bool) {
    post_reference(
        &presets::lean8().formats,
        i.v,
        (i.m, i.b, i.s),
        i.mode,
        i.relu,
        i.residual.then_some(i.r as i32),
        38,
    )
}

fn run(inputs: &[In]) -> Vec<(i128, bool)> {
    let f = presets::lean8().formats;
    let mut u = Lean8Post::new(f.act_range(), f.add_bits);
    u.connect_all();
    let mut out = Vec::new();
    for k in 0..inputs.len() + 2 {
        if let Some(i) = inputs.get(k) {
            u.v.next = bits(pattern(i.v, 21));
            u.m.next = bits(pattern(i.m, 16));
            u.b.next = bits(pattern(i.b, 24));
            u.s.next = bits(u64::from(i.s));
            u.mode.next = bits(u64::from(i.mode));
            u.relu.next = i.relu;
            u.residual.next = i.residual;
            u.r.next = bits(pattern(i.r, 8));
        }
        u.clock.next = false.into();
        assert!(simulate(&mut u, 1000));
        u.clock.next = true.into();
        assert!(simulate(&mut u, 1000));
        // Latency 2: the result of input k shows after edge k + 1.
        if k >= 1 && k - 1 < inputs.len() {
            out.push((i128::from(signed(u.out.val().to_u64(), 38)), u.sat.val()));
        }
    }
    out
}

fn code(bits: u32) -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(min_code(bits)),
        Just(max_code(bits)),
        Just(0i64),
        Just(-1i64),
        min_code(bits)..=max_code(bits),
    ]
}

fn input() -> impl Strategy<Value = In> {
    (
        code(21),
        code(16),
        code(24),
        // Every shift the register map allows for hand-off and rounding (post_s_max is lower).
        0u32..=63,
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        code(8),
    )
        .prop_map(|(v, m, b, s, mode, relu, residual, r)| In {
            v,
            m,
            b,
            s,
            mode,
            relu,
            residual,
            r,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn post_unit_matches_the_reference(inputs in prop::collection::vec(input(), 1..40)) {
        let got = run(&inputs);
        for (i, (g, inp)) in got.iter().zip(&inputs).enumerate() {
            prop_assert_eq!(*g, reference(*inp), "input {} {:?}", i, inp);
        }
    }
}

#[test]
fn worked_values() {
    // floor_shr(3 * -5 + 7, 2) = floor(-8 / 4) = -2; ReLU gives 0.
    let base = In {
        v: -5,
        m: 3,
        b: 7,
        s: 2,
        mode: 0,
        relu: false,
        residual: false,
        r: 0,
    };
    assert_eq!(run(&[base])[0], (-2, false));
    assert_eq!(run(&[In { relu: true, ..base }])[0], (0, false));
    // Hand-off of 6 >> 2: 1.5 rounds to 2 (even); 10 >> 2: 2.5 rounds to 2.
    let h = In {
        v: 6,
        mode: 1,
        ..base
    };
    assert_eq!(run(&[h, In { v: 10, ..h }]), vec![(2, false), (2, false)]);
    // A hand-off shift past the unit's 38-bit word: 5 / 2^40 rounds to 0 (and -5 / 2^40 too).
    assert_eq!(
        run(&[In { v: 5, s: 40, ..h }, In { v: -5, s: 40, ..h }]),
        vec![(0, false), (0, false)]
    );
    // Rounding 1000 >> 1 = 500 saturates to 127.
    assert_eq!(
        run(&[In {
            v: 1000,
            s: 1,
            mode: 2,
            ..base
        }])[0],
        (127, true)
    );
}
