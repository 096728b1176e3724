//! Layer test vectors (`shared/spec/vectors.md`): random vectors written as JSON text, parsed and
//! evaluated by the crate, compared with the oracle computed from the same integers; and one test
//! per class of malformed file, checking that the error names the field.

mod naive;

use naive::Geom;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};
use shiftadd_sim::vectors::{eval_vector, parse_vector, VectorError};

/// Activation formats `(act_bits, act_frac, shift_wb)`.
const ACT_FORMATS: [(u32, u32, u32); 3] = [(32, 16, 5), (16, 8, 4), (8, 4, 3)];
/// Adder formats `(add_bits, add_frac)`.
const ADD_FORMATS: [(u32, u32); 3] = [(32, 7), (16, 7), (8, 4)];

fn config() -> Config {
    Config {
        cases: 2048,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Smallest and largest code of a signed `bits`-bit format (`bits <= 64`).
fn code_range(bits: u32) -> (i64, i64) {
    let lo = -(1i128 << (bits - 1));
    let hi = (1i128 << (bits - 1)) - 1;
    (lo as i64, hi as i64)
}

/// `len` codes of a `bits`-bit format: all bounded by a random power of two, or anywhere in the
/// format with the extremes at elevated probability.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Shift,
    Adder,
    Mult,
}

#[derive(Clone, Debug)]
struct PostSpec {
    m: Vec<i64>,
    b: Vec<i64>,
    s: u32,
    relu: bool,
    residual: Option<Vec<i64>>,
}

/// What follows the layer in a vector.
#[derive(Clone, Debug)]
enum Tail {
    /// Neither `post` nor `handoff_to_adder`.
    Nothing,
    /// `"handoff_to_adder": false` written out, no `post`.
    ExplicitNoHandoff,
    /// `"handoff_to_adder": true`.
    Handoff,
    /// A `post` object.
    Post(PostSpec),
}

#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    g: Geom,
    act: (u32, u32, u32),
    add: (u32, u32),
    mul_bits: u32,
    mul_frac: Option<u32>,
    input: Vec<i64>,
    sign: Vec<i64>,
    m: Vec<i64>,
    codes: Vec<i64>,
    tail: Tail,
}

impl Case {
    fn pmax(&self) -> u32 {
        (1u32 << (self.act.2 - 1)) - 2
    }

    fn to_json(&self) -> String {
        let g = &self.g;
        let mut formats = json!({
            "act_bits": self.act.0, "act_frac": self.act.1, "shift_wb": self.act.2,
            "add_bits": self.add.0, "add_frac": self.add.1, "mul_bits": self.mul_bits,
        });
        if let Some(f) = self.mul_frac {
            formats["mul_frac"] = json!(f);
        }
        let (kind, weights) = match self.kind {
            Kind::Shift => ("shift", json!({ "sign": self.sign, "m": self.m })),
            Kind::Adder => ("adder", json!({ "codes": self.codes })),
            Kind::Mult => ("mult", json!({ "codes": self.codes })),
        };
        let mut v = json!({
            "kind": kind,
            "in_shape": [g.cin, g.h, g.w],
            "out_channels": g.cout,
            "kernel": [g.kh, g.kw],
            "stride": g.stride,
            "pad": g.pad,
            "formats": formats,
            "input": self.input,
            "weights": weights,
        });
        match &self.tail {
            Tail::Nothing => {}
            Tail::ExplicitNoHandoff => v["handoff_to_adder"] = json!(false),
            Tail::Handoff => v["handoff_to_adder"] = json!(true),
            Tail::Post(p) => {
                let mut po = json!({ "m": p.m, "b": p.b, "s": p.s, "relu": p.relu });
                if let Some(r) = &p.residual {
                    po["residual"] = json!(r);
                }
                v["post"] = po;
            }
        }
        v.to_string()
    }

    /// The oracle: `(out_shape, acc, out, saturated)`.
    #[allow(clippy::type_complexity)]
    fn expected(&self) -> ([usize; 3], Vec<i128>, Option<Vec<i128>>, u64) {
        let g = &self.g;
        let (oh, ow) = g.out_hw().expect("non-empty output");
        let (acc, f_v) = match self.kind {
            Kind::Shift => (
                naive::naive_shift_conv(&self.input, g, &self.sign, &self.m, self.pmax() as i64),
                self.act.1 + self.pmax(),
            ),
            Kind::Adder => (
                naive::naive_adder_conv(&self.input, g, &self.codes),
                self.add.1,
            ),
            Kind::Mult => (
                naive::naive_mult_conv(&self.input, g, &self.codes),
                self.act.1 + self.mul_frac.expect("mul_frac"),
            ),
        };
        let (out, sat) = match &self.tail {
            Tail::Nothing | Tail::ExplicitNoHandoff => (None, 0),
            Tail::Handoff => {
                let (o, s) = naive::naive_handoff(&acc, f_v, self.add.1, self.add.0);
                (Some(o), s)
            }
            Tail::Post(p) => {
                let m: Vec<i128> = p.m.iter().map(|&x| x as i128).collect();
                let b: Vec<i128> = p.b.iter().map(|&x| x as i128).collect();
                let r: Option<Vec<i128>> = p
                    .residual
                    .as_ref()
                    .map(|r| r.iter().map(|&x| x as i128).collect());
                let (o, s) = naive::naive_post(
                    &acc,
                    oh * ow,
                    &m,
                    &b,
                    p.s,
                    p.relu,
                    r.as_deref(),
                    (self.act.0, naive::naive_max(self.act.0)),
                );
                (Some(o), s)
            }
        };
        ([g.cout, oh, ow], acc, out, sat)
    }
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

fn tail(cout: usize, out_len: usize, act_bits: u32) -> BoxedStrategy<Tail> {
    let post = (2u32..=64, 2u32..=64).prop_flat_map(move |(mb, bb)| {
        (
            codes(mb, cout),
            codes(bb, cout),
            0u32..=62,
            any::<bool>(),
            proptest::option::of(codes(act_bits, out_len)),
        )
            .prop_map(|(m, b, s, relu, residual)| {
                Tail::Post(PostSpec {
                    m,
                    b,
                    s,
                    relu,
                    residual,
                })
            })
    });
    prop_oneof![
        1 => Just(Tail::Nothing),
        1 => Just(Tail::ExplicitNoHandoff),
        2 => Just(Tail::Handoff),
        4 => post,
    ]
    .boxed()
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(Kind::Shift), Just(Kind::Adder), Just(Kind::Mult)],
        geom(),
        proptest::sample::select(ACT_FORMATS.to_vec()),
        proptest::sample::select(ADD_FORMATS.to_vec()),
        prop_oneof![Just(8u32), Just(16u32)],
        proptest::option::of(0u32..=15),
    )
        .prop_flat_map(|(kind, g, act, add, mul_bits, mul_frac)| {
            let mul_frac = if kind == Kind::Mult {
                Some(mul_frac.unwrap_or(6))
            } else {
                mul_frac
            };
            let (oh, ow) = g.out_hw().unwrap();
            let n = g.cout * g.cin * g.kh * g.kw;
            let pmax = (1i64 << (act.2 - 1)) - 2;
            let in_bits = if kind == Kind::Adder { add.0 } else { act.0 };
            let w_bits = if kind == Kind::Adder { add.0 } else { mul_bits };
            let sign = vec(-1i64..=1, n);
            let m = vec(
                prop_oneof![1 => Just(0i64), 1 => Just(pmax), 3 => 0..=pmax],
                n,
            );
            (
                codes(in_bits, g.cin * g.h * g.w),
                sign,
                m,
                codes(w_bits, n),
                tail(g.cout, g.cout * oh * ow, act.0),
            )
                .prop_map(move |(input, sign, m, codes, tail)| {
                    let (sign, m, codes) = if kind == Kind::Shift {
                        (sign, m, vec![])
                    } else {
                        (vec![], vec![], codes)
                    };
                    Case {
                        kind,
                        g,
                        act,
                        add,
                        mul_bits,
                        mul_frac,
                        input,
                        sign,
                        m,
                        codes,
                        tail,
                    }
                })
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_vectors_match_the_oracle(case in case()) {
        let text = case.to_json();
        let parsed = parse_vector(&text);
        prop_assert!(parsed.is_ok(), "refused a valid vector: {:?}\n{}", parsed.err(), text);
        let out = eval_vector(&parsed.unwrap());
        let (shape, acc, want_out, want_sat) = case.expected();
        prop_assert_eq!(out.out_shape, shape);
        let got_acc: Vec<i128> = out.acc.iter().map(|&v| v as i128).collect();
        prop_assert_eq!(got_acc, acc);
        let got_out: Option<Vec<i128>> = out.out.as_ref().map(|o| o.iter().map(|&v| v as i128).collect());
        prop_assert_eq!(got_out, want_out);
        prop_assert_eq!(out.saturated, want_sat);
    }
}

// ---- malformed vectors ----

/// A valid vector of each kind: 2x4x4 input, 3 output channels, 3x3 kernel, stride 1, pad 1.
/// Shift and multiply use Q16.16 activations; adder and multiply codes are 8 bits wide.
fn base(kind: &str) -> Value {
    let (cin, cout, k) = (2usize, 3usize, 3usize);
    let n = cout * cin * k * k;
    let input: Vec<i64> = (0..cin * 16).map(|i| (i as i64 * 37) % 101 - 50).collect();
    let weights = match kind {
        "shift" => json!({
            "sign": (0..n).map(|i| (i % 3) as i64 - 1).collect::<Vec<_>>(),
            "m": (0..n).map(|i| (i % 15) as i64).collect::<Vec<_>>(),
        }),
        _ => json!({ "codes": (0..n).map(|i| (i as i64 * 11) % 255 - 127).collect::<Vec<_>>() }),
    };
    json!({
        "kind": kind,
        "in_shape": [cin, 4, 4],
        "out_channels": cout,
        "kernel": [k, k],
        "stride": 1,
        "pad": 1,
        "formats": { "act_bits": 32, "act_frac": 16, "shift_wb": 5,
                     "add_bits": 8, "add_frac": 4, "mul_bits": 8, "mul_frac": 6 },
        "input": input,
        "weights": weights,
    })
}

fn with_post(mut v: Value) -> Value {
    v["post"] = json!({ "m": [3, -5, 7], "b": [1, 2, 3], "s": 20, "relu": true,
                        "residual": vec![0i64; 3 * 16] });
    v
}

fn refuse(v: &Value) -> VectorError {
    match parse_vector(&v.to_string()) {
        Ok(_) => panic!("accepted a malformed vector: {v}"),
        Err(e) => e,
    }
}

fn assert_field(v: &Value, field: &str) {
    let e = refuse(v);
    assert_eq!(e.field, field, "error: {e}");
    assert!(
        e.to_string().contains(field),
        "the message names the field: {e}"
    );
}

#[test]
fn bases_are_valid() {
    for kind in ["shift", "adder", "mult"] {
        for v in [base(kind), with_post(base(kind))] {
            let parsed = parse_vector(&v.to_string()).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let out = eval_vector(&parsed);
            assert_eq!(out.out_shape, [3, 4, 4]);
        }
        let mut v = base(kind);
        v["handoff_to_adder"] = json!(true);
        assert!(parse_vector(&v.to_string()).is_ok());
    }
}

#[test]
fn wrong_input_length() {
    for kind in ["shift", "adder", "mult"] {
        let mut v = base(kind);
        v["input"].as_array_mut().unwrap().pop();
        assert_field(&v, "input");
        let mut v = base(kind);
        v["input"].as_array_mut().unwrap().push(json!(0));
        assert_field(&v, "input");
    }
}

#[test]
fn input_code_outside_its_format() {
    let mut v = base("shift");
    v["input"][3] = json!(1i64 << 31);
    assert_field(&v, "input[3]");
    let mut v = base("mult");
    v["input"][3] = json!(-(1i64 << 31) - 1);
    assert_field(&v, "input[3]");
    // At the edge of the format it is accepted.
    let mut v = base("shift");
    v["input"][3] = json!(-(1i64 << 31));
    v["input"][4] = json!((1i64 << 31) - 1);
    assert!(parse_vector(&v.to_string()).is_ok());

    // An 8-bit activation format.
    let mut v = base("shift");
    v["formats"]["act_bits"] = json!(8);
    v["formats"]["act_frac"] = json!(4);
    v["input"][3] = json!(128);
    assert_field(&v, "input[3]");

    // Adder inputs are adder-grid codes (8 bits here).
    let mut v = base("adder");
    v["input"][3] = json!(-129);
    assert_field(&v, "input[3]");
    let mut v = base("adder");
    v["input"][3] = json!(128);
    assert_field(&v, "input[3]");
}

#[test]
fn weight_code_outside_its_format() {
    let mut v = base("adder");
    v["weights"]["codes"][2] = json!(128);
    assert_field(&v, "weights.codes[2]");
    let mut v = base("mult");
    v["weights"]["codes"][5] = json!(-129);
    assert_field(&v, "weights.codes[5]");
    let mut v = base("mult");
    v["formats"]["mul_bits"] = json!(16);
    v["weights"]["codes"][5] = json!(-32768);
    assert!(parse_vector(&v.to_string()).is_ok());
    v["weights"]["codes"][5] = json!(32768);
    assert_field(&v, "weights.codes[5]");
}

#[test]
fn wrong_weight_lengths() {
    let mut v = base("shift");
    v["weights"]["sign"].as_array_mut().unwrap().pop();
    assert_field(&v, "weights.sign");
    let mut v = base("shift");
    v["weights"]["m"].as_array_mut().unwrap().push(json!(0));
    assert_field(&v, "weights.m");
    let mut v = base("adder");
    v["weights"]["codes"].as_array_mut().unwrap().pop();
    assert_field(&v, "weights.codes");
}

#[test]
fn shift_exponent_above_pmax() {
    // shift_wb = 5: pmax = 14.
    let mut v = base("shift");
    v["weights"]["m"][1] = json!(14);
    assert!(parse_vector(&v.to_string()).is_ok());
    v["weights"]["m"][1] = json!(15);
    assert_field(&v, "weights.m[1]");
    let mut v = base("shift");
    v["weights"]["m"][1] = json!(-1);
    assert_field(&v, "weights.m[1]");
    // shift_wb = 3: pmax = 2.
    let mut v = base("shift");
    v["formats"]["shift_wb"] = json!(3);
    v["weights"]["m"] = json!(vec![2; 54]);
    assert!(parse_vector(&v.to_string()).is_ok());
    v["weights"]["m"][7] = json!(3);
    assert_field(&v, "weights.m[7]");
}

#[test]
fn shift_sign_outside_minus_one_to_one() {
    let mut v = base("shift");
    v["weights"]["sign"][0] = json!(2);
    assert_field(&v, "weights.sign[0]");
    let mut v = base("shift");
    v["weights"]["sign"][9] = json!(-2);
    assert_field(&v, "weights.sign[9]");
}

#[test]
fn unknown_kind() {
    let mut v = base("shift");
    v["kind"] = json!("conv");
    assert_field(&v, "kind");
    let mut v = base("shift");
    v.as_object_mut().unwrap().remove("kind");
    assert_field(&v, "kind");
}

#[test]
fn unknown_extra_field() {
    let mut v = base("shift");
    v["bias"] = json!([1, 2, 3]);
    let e = refuse(&v);
    assert!(e.field.contains("bias"), "error: {e}");
    let mut v = base("shift");
    v["formats"]["frac_bits"] = json!(3);
    let e = refuse(&v);
    assert!(e.field.contains("frac_bits"), "error: {e}");
    let mut v = with_post(base("mult"));
    v["post"]["shift"] = json!(3);
    let e = refuse(&v);
    assert!(e.field.contains("shift"), "error: {e}");
    let mut v = base("shift");
    v["weights"]["codes"] = json!([]);
    let e = refuse(&v);
    assert!(e.field.contains("codes"), "error: {e}");
}

#[test]
fn empty_output_shape() {
    for kind in ["shift", "adder", "mult"] {
        let mut v = base(kind);
        v["in_shape"] = json!([1, 2, 2]);
        v["input"] = json!([0, 0, 0, 0]);
        v["kernel"] = json!([5, 5]);
        v["pad"] = json!(0);
        v["weights"] = match kind {
            "shift" => json!({ "sign": vec![0; 75], "m": vec![0; 75] }),
            _ => json!({ "codes": vec![0; 75] }),
        };
        assert_field(&v, "kernel");
        // With enough padding the same shapes are fine.
        v["pad"] = json!(2);
        assert!(parse_vector(&v.to_string()).is_ok(), "{kind}");
    }
}

#[test]
fn post_m_and_b_wrong_length() {
    let mut v = with_post(base("shift"));
    v["post"]["m"] = json!([1, 2]);
    assert_field(&v, "post.m");
    let mut v = with_post(base("adder"));
    v["post"]["b"] = json!([1, 2, 3, 4]);
    assert_field(&v, "post.b");
}

#[test]
fn residual_wrong_length_or_outside_its_format() {
    let mut v = with_post(base("shift"));
    v["post"]["residual"].as_array_mut().unwrap().pop();
    assert_field(&v, "post.residual");
    let mut v = with_post(base("shift"));
    v["post"]["residual"][7] = json!(1i64 << 31);
    assert_field(&v, "post.residual[7]");
}

#[test]
fn mult_without_mul_frac() {
    let mut v = base("mult");
    v["formats"].as_object_mut().unwrap().remove("mul_frac");
    assert_field(&v, "formats.mul_frac");
    // The other kinds do not need it.
    for kind in ["shift", "adder"] {
        let mut v = base(kind);
        v["formats"].as_object_mut().unwrap().remove("mul_frac");
        assert!(parse_vector(&v.to_string()).is_ok(), "{kind}");
    }
}

#[test]
fn post_with_handoff_to_adder() {
    let mut v = with_post(base("shift"));
    v["handoff_to_adder"] = json!(true);
    assert_field(&v, "post");
    // An explicit false is fine.
    v["handoff_to_adder"] = json!(false);
    assert!(parse_vector(&v.to_string()).is_ok());
}

#[test]
fn invalid_json() {
    let text = base("shift").to_string();
    for bad in [
        &text[..text.len() - 1],
        "",
        "{",
        "[1, 2]",
        "{\"kind\": shift}",
        "null",
    ] {
        let e = parse_vector(bad)
            .err()
            .unwrap_or_else(|| panic!("accepted {bad:?}"));
        assert!(!e.field.is_empty() && !e.what.is_empty(), "{e:?}");
    }
}

#[test]
fn geometry_beyond_the_limits() {
    let mut v = base("adder");
    v["pad"] = json!(1u64 << 63);
    assert_field(&v, "pad");
    let mut v = base("adder");
    v["stride"] = json!(1000);
    assert_field(&v, "stride");
    // 16384 channels of a 64x64 kernel: 2^26 taps per output, above the tap limit.
    let mut v = base("adder");
    v["in_shape"] = json!([16384, 1, 1]);
    v["kernel"] = json!([64, 64]);
    v["pad"] = json!(32);
    v["out_channels"] = json!(1);
    assert_field(&v, "kernel");
}

#[test]
fn integers_beyond_53_bits_print_as_strings() {
    use shiftadd_sim::vectors::json_int;
    assert_eq!(json_int((1 << 53) - 1), json!(9007199254740991i64));
    assert_eq!(json_int(-((1 << 53) - 1)), json!(-9007199254740991i64));
    assert_eq!(json_int(1 << 53), json!("9007199254740992"));
    assert_eq!(json_int(i64::MIN), json!("-9223372036854775808"));
}

#[test]
fn a_key_given_twice_is_refused_naming_it() {
    let text = base("shift").to_string();
    let twice = text.replacen("{", r#"{"stride": 1, "#, 1);
    let e = parse_vector(&twice).unwrap_err();
    assert!(e.to_string().contains("duplicate key `stride`"), "{e}");
}

/// `formats.act_max` clamps the post step's output there, each clamp counted; one past the
/// format's top is refused by name.
#[test]
fn act_max_clamps_the_post_step() {
    let mut v = with_post(base("shift"));
    // M = 1 << 20, B = 0, S = 20: the output is the accumulator floored to activation codes.
    v["post"]["m"] = json!([1 << 20, 1 << 20, 1 << 20]);
    v["post"]["b"] = json!([0, 0, 0]);
    v["input"] = json!(vec![1i64 << 24; 32]);
    let full = eval_vector(&parse_vector(&v.to_string()).unwrap());
    let top = *full.out.as_ref().unwrap().iter().max().unwrap() as i64;
    assert!(top > 1000, "{top}");
    v["formats"]["act_max"] = json!(1000);
    let clamped = eval_vector(&parse_vector(&v.to_string()).unwrap());
    let out = clamped.out.unwrap();
    let full_out = full.out.unwrap();
    let want: Vec<i64> = full_out.iter().map(|&x| x.min(1000)).collect();
    assert_eq!(out, want);
    // ReLU follows, so every clamp is at the top.
    let over = full_out.iter().filter(|&&x| x > 1000).count() as u64;
    assert_eq!(clamped.saturated, over);
    v["formats"]["act_max"] = json!(1i64 << 31);
    assert_field(&v, "formats.act_max");
}
