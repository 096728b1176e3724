//! Property tests of every layer kind against the oracle in `naive`.
//!
//! Codes come from two regimes chosen per case: every value of the tensor bounded by a random
//! power of two (so that whole layers with small magnitudes occur, as well as layers right at the
//! edge of 32-bit partial sums), or values anywhere in the format with the extremes (the most
//! negative code, the most positive code, 0) at elevated probability.

mod naive;

use naive::Geom;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use shiftadd_sim::layers::{self, ConvGeom, Post, Tensor};
use shiftadd_sim::numerics::ActRange;

/// Activation formats `(act_bits, act_frac, shift_wb)` of the presets.
const FORMATS: [(u32, u32, u32); 3] = [(32, 16, 5), (16, 8, 4), (8, 4, 3)];

fn config() -> Config {
    Config {
        cases: 4096,
        failure_persistence: None,
        ..Config::default()
    }
}

fn pmax_of(shift_wb: u32) -> u32 {
    (1u32 << (shift_wb - 1)) - 2
}

/// Smallest and largest code of a signed `bits`-bit format (`bits <= 64`).
fn code_range(bits: u32) -> (i64, i64) {
    let lo = -(1i128 << (bits - 1));
    let hi = (1i128 << (bits - 1)) - 1;
    (lo as i64, hi as i64)
}

/// `len` codes of a signed `bits`-bit format (`bits <= 64`), from one of the two regimes.
fn codes(bits: u32, len: usize) -> BoxedStrategy<Vec<i64>> {
    let (lo, hi) = code_range(bits);
    let bounded = (0..bits).prop_flat_map(move |e| {
        let (l, h) = code_range(e + 1);
        vec(
            prop_oneof![1 => Just(l), 1 => Just(h), 1 => Just(0i64), 5 => l..=h],
            len,
        )
    });
    let full = vec(
        prop_oneof![1 => Just(lo), 1 => Just(hi), 1 => Just(0i64), 1 => -2i64..=2, 4 => lo..=hi],
        len,
    );
    prop_oneof![bounded, full].boxed()
}

fn geom() -> impl Strategy<Value = Geom> {
    (
        1usize..=5,
        1usize..=4,
        1usize..=9,
        1usize..=9,
        1usize..=5,
        1usize..=5,
        1usize..=3,
        0usize..=2,
    )
        .prop_map(|(cin, cout, h, w, kh, kw, stride, pad)| Geom {
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            stride,
            pad,
        })
        .prop_filter("empty output", |g| g.out_hw().is_some())
}

fn conv_geom(g: &Geom) -> ConvGeom {
    ConvGeom {
        cin: g.cin,
        h: g.h,
        w: g.w,
        cout: g.cout,
        kh: g.kh,
        kw: g.kw,
        stride: g.stride,
        pad: g.pad,
    }
}

fn tensor_i32(c: usize, h: usize, w: usize, data: &[i64]) -> Tensor<i32> {
    Tensor {
        c,
        h,
        w,
        data: data
            .iter()
            .map(|&v| i32::try_from(v).expect("code fits i32"))
            .collect(),
    }
}

fn wide<T: Copy + Into<i128>>(v: &[T]) -> Vec<i128> {
    v.iter().map(|&x| x.into()).collect()
}

fn to_i32(v: &[i64]) -> Vec<i32> {
    v.iter()
        .map(|&x| i32::try_from(x).expect("code fits i32"))
        .collect()
}

#[derive(Debug, Clone)]
struct ShiftCase {
    fmt: (u32, u32, u32),
    g: Geom,
    x: Vec<i64>,
    sign: Vec<i64>,
    m: Vec<i64>,
}

fn shift_case() -> impl Strategy<Value = ShiftCase> {
    (0..FORMATS.len(), geom()).prop_flat_map(|(fi, g)| {
        let fmt = FORMATS[fi];
        let pmax = pmax_of(fmt.2) as i64;
        let n = g.cout * g.cin * g.kh * g.kw;
        let sign = vec(
            prop_oneof![1 => Just(0i64), 2 => Just(1i64), 2 => Just(-1i64)],
            n,
        );
        let m = vec(
            prop_oneof![1 => Just(0i64), 1 => Just(pmax), 3 => 0..=pmax],
            n,
        );
        (Just(fmt), Just(g), codes(fmt.0, g.cin * g.h * g.w), sign, m)
            .prop_map(|(fmt, g, x, sign, m)| ShiftCase { fmt, g, x, sign, m })
    })
}

#[derive(Debug, Clone)]
struct CodesCase {
    g: Geom,
    in_bits: u32,
    w_bits: u32,
    x: Vec<i64>,
    w: Vec<i64>,
}

/// Input codes of `in_bits` and weight codes of `w_bits` (`None`: the same width as the input,
/// as on the adder grid).
fn codes_case(in_bits: Vec<u32>, w_bits: Option<Vec<u32>>) -> impl Strategy<Value = CodesCase> {
    let w_bits = w_bits.unwrap_or_default();
    (
        proptest::sample::select(in_bits),
        0..w_bits.len().max(1),
        geom(),
    )
        .prop_flat_map(move |(ib, wi, g)| {
            let wb = w_bits.get(wi).copied().unwrap_or(ib);
            let n = g.cout * g.cin * g.kh * g.kw;
            (
                Just(g),
                Just(ib),
                Just(wb),
                codes(ib, g.cin * g.h * g.w),
                codes(wb, n),
            )
                .prop_map(|(g, in_bits, w_bits, x, w)| CodesCase {
                    g,
                    in_bits,
                    w_bits,
                    x,
                    w,
                })
        })
}

#[derive(Debug, Clone)]
struct PostCase {
    c: usize,
    h: usize,
    w: usize,
    v: Vec<i64>,
    m: Vec<i64>,
    b: Vec<i64>,
    s: u32,
    relu: bool,
    act_bits: u32,
    act_max: i64,
    residual: Option<Vec<i64>>,
}

/// `None`: the default `act_max`; `Some(k)`: a lower one, from 1 up.
fn act_max_seed() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(any::<u64>())
}

fn act_max_of(act_bits: u32, seed: Option<u64>) -> i64 {
    let top = (1i64 << (act_bits - 1)) - 1;
    match seed {
        None => top,
        Some(k) => 1 + (k % top as u64) as i64,
    }
}

fn post_case() -> impl Strategy<Value = PostCase> {
    (
        1usize..=4,
        1usize..=6,
        1usize..=6,
        2u32..=32,
        2u32..=64,
        2u32..=64,
        act_max_seed(),
    )
        .prop_flat_map(|(c, h, w, act_bits, mb, bb, max_seed)| {
            let act_max = act_max_of(act_bits, max_seed);
            let len = c * h * w;
            (
                codes(64, len),
                codes(mb, c),
                codes(bb, c),
                0u32..=62,
                any::<bool>(),
                proptest::option::of(codes(act_bits, len)),
            )
                .prop_map(move |(v, m, b, s, relu, residual)| PostCase {
                    c,
                    h,
                    w,
                    v,
                    m,
                    b,
                    s,
                    relu,
                    act_bits,
                    act_max,
                    residual,
                })
        })
}

fn pool_case(ks: Vec<usize>) -> impl Strategy<Value = (usize, usize, usize, usize, Vec<i64>)> {
    (
        proptest::sample::select(ks),
        1usize..=3,
        1usize..=3,
        1usize..=3,
    )
        .prop_flat_map(|(k, c, oh, ow)| {
            (Just(k), Just(c), oh * k..oh * k + k, ow * k..ow * k + k).prop_flat_map(
                |(k, c, h, w)| (Just(k), Just(c), Just(h), Just(w), codes(32, c * h * w)),
            )
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn geometry_matches(cin in 1usize..=5, cout in 1usize..=4, h in 1usize..=9, w in 1usize..=9,
                        kh in 1usize..=7, kw in 1usize..=7, stride in 1usize..=3, pad in 0usize..=2) {
        let g = Geom { cin, h, w, cout, kh, kw, stride, pad };
        let cg = conv_geom(&g);
        let out = cg.out_h().zip(cg.out_w());
        prop_assert_eq!(out, g.out_hw());
        prop_assert_eq!(cg.check().is_ok(), g.out_hw().is_some());
        prop_assert_eq!(cg.taps(), cin * kh * kw);
        prop_assert_eq!(cg.weight_len(), cout * cin * kh * kw);
    }

    #[test]
    fn shift_conv_matches(case in shift_case()) {
        let ShiftCase { fmt, g, x, sign, m } = case;
        let pmax = pmax_of(fmt.2);
        let (oh, ow) = g.out_hw().unwrap();
        let t = tensor_i32(g.cin, g.h, g.w, &x);
        let sign8: Vec<i8> = sign.iter().map(|&s| s as i8).collect();
        let m8: Vec<u8> = m.iter().map(|&v| v as u8).collect();
        let got = layers::shift_conv(&t, &conv_geom(&g), &sign8, &m8, pmax);
        prop_assert_eq!(got.shape(), [g.cout, oh, ow]);
        let want = naive::naive_shift_conv(&x, &g, &sign, &m, pmax as i64);
        prop_assert_eq!(wide(&got.data), want);
    }

    #[test]
    fn adder_conv_matches(case in codes_case(vec![48, 43, 32, 8], None)) {
        let CodesCase { g, in_bits, w_bits, x, w } = case;
        prop_assert_eq!(in_bits, w_bits);
        let (oh, ow) = g.out_hw().unwrap();
        let t = Tensor { c: g.cin, h: g.h, w: g.w, data: x.clone() };
        let got = layers::adder_conv(&t, &conv_geom(&g), &w);
        prop_assert_eq!(got.shape(), [g.cout, oh, ow]);
        let want = naive::naive_adder_conv(&x, &g, &w);
        prop_assert_eq!(wide(&got.data), want);
    }

    #[test]
    fn mult_conv_matches(case in codes_case(vec![32, 16, 8], Some(vec![8, 16]))) {
        let CodesCase { g, x, w, .. } = case;
        let (oh, ow) = g.out_hw().unwrap();
        let t = tensor_i32(g.cin, g.h, g.w, &x);
        let got = layers::mult_conv(&t, &conv_geom(&g), &to_i32(&w));
        prop_assert_eq!(got.shape(), [g.cout, oh, ow]);
        let want = naive::naive_mult_conv(&x, &g, &w);
        prop_assert_eq!(wide(&got.data), want);
    }

    #[test]
    fn post_process_matches(case in post_case()) {
        let PostCase { c, h, w, v, m, b, s, relu, act_bits, act_max, residual } = case;
        let act = ActRange { bits: act_bits, max: act_max };
        let vt = Tensor { c, h, w, data: v.clone() };
        let post = Post { m: &m, b: &b, s, relu };
        let rt = residual.as_ref().map(|r| tensor_i32(c, h, w, r));
        let (got, hits) = layers::post_process(&vt, &post, rt.as_ref(), act);
        let rw = residual.as_ref().map(|r| wide(r));
        let (want, want_hits) =
            naive::naive_post(&wide(&v), h * w, &wide(&m), &wide(&b), s, relu, rw.as_deref(), (act_bits, act_max as i128));
        prop_assert_eq!(got.shape(), [c, h, w]);
        prop_assert_eq!(wide(&got.data), want);
        prop_assert_eq!(hits, want_hits);
    }

    #[test]
    fn post_logits_matches(case in post_case()) {
        let PostCase { c, h, w, v, m, b, s, relu, .. } = case;
        let vt = Tensor { c, h, w, data: v.clone() };
        let post = Post { m: &m, b: &b, s, relu };
        let got = layers::post_logits(&vt, &post);
        let want = naive::naive_logits(&wide(&v), h * w, &wide(&m), &wide(&b), s, relu);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn handoff_matches(c in 1usize..=3, h in 1usize..=5, w in 1usize..=5, f_v in 0u32..=62,
                       add_frac in 0u32..=31, add_bits in 2u32..=48, seed in codes(64, 75)) {
        let data = seed[..c * h * w].to_vec();
        let vt = Tensor { c, h, w, data: data.clone() };
        let (got, hits) = layers::handoff_to_adder(&vt, f_v, add_frac, add_bits);
        let (want, want_hits) = naive::naive_handoff(&wide(&data), f_v, add_frac, add_bits);
        prop_assert_eq!(got.shape(), [c, h, w]);
        prop_assert_eq!(wide(&got.data), want);
        prop_assert_eq!(hits, want_hits);
    }

    #[test]
    fn handoff_of_activations_matches(c in 1usize..=3, h in 1usize..=5, w in 1usize..=5, fi in 0..FORMATS.len(),
                                      add_frac in 0u32..=31, add_bits in 2u32..=48, seed in codes(32, 75)) {
        let (act_bits, act_frac, _) = FORMATS[fi];
        let (lo, hi) = code_range(act_bits);
        let data: Vec<i64> = seed[..c * h * w].iter().map(|&v| v.clamp(lo, hi)).collect();
        let vt = tensor_i32(c, h, w, &data);
        let (got, hits) = layers::handoff_to_adder(&vt, act_frac, add_frac, add_bits);
        let (want, want_hits) = naive::naive_handoff(&wide(&data), act_frac, add_frac, add_bits);
        prop_assert_eq!(wide(&got.data), want);
        prop_assert_eq!(hits, want_hits);
    }

    #[test]
    fn round_to_act_matches(c in 1usize..=3, h in 1usize..=5, w in 1usize..=5, f_v in 0u32..=62,
                            act_bits in 2u32..=32, frac_seed in 0u32..=31, seed in codes(64, 75),
                            max_seed in act_max_seed()) {
        let act_frac = frac_seed % act_bits;
        let act_max = act_max_of(act_bits, max_seed);
        let act = ActRange { bits: act_bits, max: act_max };
        let data = seed[..c * h * w].to_vec();
        let vt = Tensor { c, h, w, data: data.clone() };
        let (got, hits) = layers::round_to_act(&vt, f_v, act_frac, act);
        let (want, want_hits) = naive::naive_round_to_act(&wide(&data), f_v, act_frac, (act_bits, act_max as i128));
        prop_assert_eq!(got.shape(), [c, h, w]);
        prop_assert_eq!(wide(&got.data), want);
        prop_assert_eq!(hits, want_hits);
    }

    #[test]
    fn max_pool_matches((k, c, h, w, x) in pool_case(vec![1, 2, 3, 4])) {
        let got = layers::max_pool(&tensor_i32(c, h, w, &x), k);
        let (want, oh, ow) = naive::naive_max_pool(&x, c, h, w, k);
        prop_assert_eq!(got.shape(), [c, oh, ow]);
        prop_assert_eq!(layers::pool_out(h, k), oh);
        prop_assert_eq!(wide(&got.data), want);
    }

    #[test]
    fn avg_pool_matches((k, c, h, w, x) in pool_case(vec![1, 2, 4])) {
        let got = layers::avg_pool(&tensor_i32(c, h, w, &x), k);
        let (want, oh, ow) = naive::naive_avg_pool(&x, c, h, w, k);
        prop_assert_eq!(got.shape(), [c, oh, ow]);
        prop_assert_eq!(wide(&got.data), want);
    }

    #[test]
    fn argmax_matches(v in prop_oneof![
        vec(-3i128..=3, 1..40),
        vec(prop_oneof![1 => Just(i128::MIN), 1 => Just(i128::MAX), 1 => Just(0i128), 3 => any::<i128>()], 1..40),
        vec(any::<i64>().prop_map(i128::from), 1..40),
    ]) {
        prop_assert_eq!(layers::argmax(&v), naive::naive_argmax(&v));
    }
}

/// Small hand cases with known answers, independent of the oracle.
#[test]
fn argmax_ties_pick_lowest_index() {
    assert_eq!(layers::argmax(&[5, 7, 7, 1]), 1);
    assert_eq!(layers::argmax(&[-1, -1, -1]), 0);
    assert_eq!(layers::argmax(&[i128::MIN, i128::MAX, i128::MAX]), 1);
    assert_eq!(layers::argmax(&[3]), 0);
}

#[test]
fn pooling_hand_cases() {
    let x = Tensor {
        c: 1,
        h: 2,
        w: 2,
        data: vec![-1, -2, -2, -2],
    };
    // (-7) / 4 = -1.75, floor -2.
    assert_eq!(layers::avg_pool(&x, 2).data, [-2]);
    assert_eq!(layers::max_pool(&x, 2).data, [-1]);
    let x = Tensor {
        c: 1,
        h: 2,
        w: 2,
        data: vec![i32::MIN; 4],
    };
    assert_eq!(layers::avg_pool(&x, 2).data, [i32::MIN]);
    let x = Tensor {
        c: 1,
        h: 2,
        w: 2,
        data: vec![i32::MAX; 4],
    };
    assert_eq!(layers::avg_pool(&x, 2).data, [i32::MAX]);
}
