//! The worked examples of `shared/spec/numerics.md`, with the numbers written there.

mod naive;

use naive::Geom;
use shiftadd_sim::layers::{self, ConvGeom, Tensor};
use shiftadd_sim::numerics::{
    act_code_from_f32, adder_code_from_f32, decode_shift_weight, seed_round_to_fixed, ActRange,
};
use shiftadd_sim::spec::presets;

/// Example 1: shift weight decode with `shift_wb = 5` (pmax = 14).
#[test]
fn example_1_shift_weight_decode() {
    let pmax = (1u32 << (5 - 1)) - 2;
    assert_eq!(pmax, 14);
    let p_latent: [f32; 8] = [-15.3, -14.5, -13.5, -2.5, -3.5, -0.5, 0.4, -7.49];
    let s_latent: [f32; 8] = [0.5, -0.5, 0.5001, -0.5001, 1.5, 2.5, -3.0, 0.0];
    let p_expected: [i32; 8] = [-14, -14, -14, -2, -4, 0, 0, -7];
    let s_expected: [i8; 8] = [0, 0, 1, -1, 1, 1, -1, 0];
    for i in 0..8 {
        let w = decode_shift_weight(p_latent[i], s_latent[i], pmax);
        assert_eq!(
            -(w.m as i32),
            p_expected[i],
            "p of latent shift {}",
            p_latent[i]
        );
        assert_eq!(w.s, s_expected[i], "s of latent sign {}", s_latent[i]);
    }
}

/// Example 2: Q16.16 codes from float32, floor then clamp to `[-32768, 32767]` real.
#[test]
fn example_2_seed_round_to_fixed() {
    let cases: [(f32, i64); 7] = [
        (1.0, 65536),
        (-1e-6, -1),
        (1e-6, 0),
        (0.3, 19660),
        (-0.3, -19661),
        (40000.0, 2147418112),
        (-40000.0, -2147483648),
    ];
    let seed = presets::seed().formats;
    for (x, code) in cases {
        assert_eq!(seed_round_to_fixed(x, 16, 16), code, "x = {x}");
        // `sat_act` with the seed preset's `act_max` is the same rule.
        assert_eq!(
            act_code_from_f32(x, seed.act_range(), 16).0,
            code,
            "x = {x}"
        );
    }
    // With the default `act_max` (2^31 - 1), 40000 saturates at the format's top.
    let full = ActRange::full(32);
    assert_eq!(act_code_from_f32(40000.0, full, 16), (2147483647, true));
    assert_eq!(act_code_from_f32(32767.5, full, 16), (2147450880, false));
    assert_eq!(
        act_code_from_f32(32767.5, seed.act_range(), 16),
        (2147418112, true)
    );
}

fn example_3_inputs() -> (Vec<i32>, Vec<i8>, Vec<u8>) {
    let real: [f64; 9] = [0.5, -0.25, 1.0, 2.0, 0.125, -1.5, 0.0, 0.75, -0.0625];
    let x: Vec<i32> = real.iter().map(|r| (r * 65536.0) as i32).collect();
    assert_eq!(
        x,
        [32768, -16384, 65536, 131072, 8192, -98304, 0, 49152, -4096]
    );
    let p: [i32; 9] = [0, -1, -2, -14, 0, -3, -1, -1, 0];
    let s: [i8; 9] = [1, -1, 0, 1, 1, -1, 0, 1, -1];
    let m: Vec<u8> = p.iter().map(|p| (-p) as u8).collect();
    (x, s.to_vec(), m)
}

const EXAMPLE_3_ROW_0: [i64; 3] = [1509949440, 1275101184, 268419072];

/// Example 3: shift convolution, 3x3 input, one 3x3 filter, stride 1, pad 1, pmax 14.
#[test]
fn example_3_shift_conv() {
    let (x, s, m) = example_3_inputs();
    let g = ConvGeom {
        cin: 1,
        h: 3,
        w: 3,
        cout: 1,
        kh: 3,
        kw: 3,
        stride: 1,
        pad: 1,
    };
    let t = Tensor {
        c: 1,
        h: 3,
        w: 3,
        data: x,
    };
    let acc = layers::shift_conv(&t, &g, &s, &m, 14);
    assert_eq!(acc.shape(), [1, 3, 3]);
    assert_eq!(acc.data[0..3], EXAMPLE_3_ROW_0);
    // The real value at (0, 0), units 2^-30.
    assert_eq!(acc.data[0] as f64 / (1u64 << 30) as f64, 1.40625);
}

/// The oracle reproduces example 3 too.
#[test]
fn example_3_naive() {
    let (x, s, m) = example_3_inputs();
    let g = Geom {
        cin: 1,
        h: 3,
        w: 3,
        cout: 1,
        kh: 3,
        kw: 3,
        stride: 1,
        pad: 1,
    };
    let x: Vec<i64> = x.into_iter().map(i64::from).collect();
    let s: Vec<i64> = s.into_iter().map(i64::from).collect();
    let m: Vec<i64> = m.into_iter().map(i64::from).collect();
    let acc = naive::naive_shift_conv(&x, &g, &s, &m, 14);
    assert_eq!(acc.len(), 9);
    let row0: Vec<i128> = EXAMPLE_3_ROW_0.iter().map(|&v| v as i128).collect();
    assert_eq!(acc[0..3], row0[..]);
}

/// Example 4: adder-grid codes `rne(x * 128)`.
#[test]
#[allow(clippy::approx_constant)] // -3.14159 is the spec's number, not an approximation of pi.
fn example_4_adder_codes() {
    let xs: [f32; 9] = [
        0.5 / 128.0,
        1.5 / 128.0,
        -0.5 / 128.0,
        -1.5 / 128.0,
        2.5 / 128.0,
        1.7,
        -3.14159,
        200.0,
        0.9999,
    ];
    let codes: [i64; 9] = [0, 2, 0, -2, 2, 218, -402, 25600, 128];
    for (x, code) in xs.iter().zip(codes) {
        assert_eq!(adder_code_from_f32(*x, 32, 7), (code, false), "x = {x}");
    }
}

const EXAMPLE_5_X: [i64; 9] = [3, -2, 0, 1, 5, -4, 2, 0, 7];
const EXAMPLE_5_W: [i64; 4] = [1, -1, 2, 0];
const EXAMPLE_5_Y: [i64; 16] = [
    -7, -5, -6, -4, -8, -9, -11, -8, -7, -6, -16, -11, -6, -4, -11, -9,
];

/// Example 5: adder convolution, 3x3 input, one 2x2 filter, stride 1, pad 1.
#[test]
fn example_5_adder_conv() {
    let g = ConvGeom {
        cin: 1,
        h: 3,
        w: 3,
        cout: 1,
        kh: 2,
        kw: 2,
        stride: 1,
        pad: 1,
    };
    let t = Tensor {
        c: 1,
        h: 3,
        w: 3,
        data: EXAMPLE_5_X.to_vec(),
    };
    let y = layers::adder_conv(&t, &g, &EXAMPLE_5_W);
    assert_eq!(y.shape(), [1, 4, 4]);
    assert_eq!(y.data, EXAMPLE_5_Y);
    // The check of (0, 0) written in the spec: three padded taps (Xa = 0) and X[0][0] = 3.
    let taps: [(i64, i64); 4] = [(0, 1), (0, -1), (0, 2), (3, 0)];
    let a: i64 = taps.iter().map(|(xa, wa)| (xa - wa).abs()).sum();
    assert_eq!(a, 7);
    assert_eq!(y.data[0], -a);
}

/// The oracle reproduces example 5 too.
#[test]
fn example_5_naive() {
    let g = Geom {
        cin: 1,
        h: 3,
        w: 3,
        cout: 1,
        kh: 2,
        kw: 2,
        stride: 1,
        pad: 1,
    };
    let x: Vec<i64> = EXAMPLE_5_X.to_vec();
    let w: Vec<i64> = EXAMPLE_5_W.to_vec();
    let y = naive::naive_adder_conv(&x, &g, &w);
    let expected: Vec<i128> = EXAMPLE_5_Y.iter().map(|&v| v as i128).collect();
    assert_eq!(y, expected);
}

/// 64 Q16.16 codes (mixed signs and magnitudes) that sum to 9910515.
fn example_6_codes() -> Vec<i32> {
    let mut codes: Vec<i32> = (0..63)
        .map(|i: i32| 154851 + (i * 7919) % 200_001 - 100_000)
        .collect();
    codes[5] = -3_000_000;
    codes[17] = 2_900_000;
    let partial: i64 = codes.iter().map(|&c| c as i64).sum();
    codes.push((9910515 - partial) as i32);
    assert_eq!(codes.iter().map(|&c| c as i64).sum::<i64>(), 9910515);
    codes
}

/// Example 6: average pooling of 64 codes summing to 9910515 gives `9910515 >> 6 = 154851`.
#[test]
fn example_6_avg_pool() {
    let t = Tensor {
        c: 1,
        h: 8,
        w: 8,
        data: example_6_codes(),
    };
    let out = layers::avg_pool(&t, 8);
    assert_eq!(out.shape(), [1, 1, 1]);
    assert_eq!(out.data, [154851]);
}

/// The oracle reproduces example 6 too, and a uniform window gives the same.
#[test]
fn example_6_naive() {
    let codes: Vec<i64> = example_6_codes().into_iter().map(i64::from).collect();
    let (out, oh, ow) = naive::naive_avg_pool(&codes, 1, 8, 8, 8);
    assert_eq!((out, oh, ow), (vec![154851], 1, 1));
    let mut uniform = vec![154851i64; 63];
    uniform.push(9910515 - 63 * 154851);
    let (out, _, _) = naive::naive_avg_pool(&uniform, 1, 8, 8, 8);
    assert_eq!(out, [154851]);
}

/// `seed-fix16` never clips a hand-off: the largest shift sum of a `max_taps` (2048) layer,
/// every input at the most negative activation code -2^31 and every weight -1, is
/// 2048 * 2^31 * 2^14 in units 2^-30, which hands off to 2^41 on the 2^-15 grid: 43 bits.
#[test]
fn seed_fix16_adder_codes_hold_the_largest_handoff() {
    let f = presets::seed_fix16().formats;
    let v = 2048i128 * (1 << 31) * (1 << 14);
    let f_v = f.act_frac + f.pmax();
    let (code, hits) = naive::naive_handoff(&[v], f_v, f.add_frac, f.add_bits);
    assert_eq!((code[0], hits), (1i128 << 41, 0));
    assert_eq!(f.add_bits, 43);
    // One bit fewer clips it.
    let (_, hits) = naive::naive_handoff(&[v], f_v, f.add_frac, f.add_bits - 1);
    assert_eq!(hits, 1);
    assert_eq!(presets::seed_fix16().max_taps, 2048);
}
