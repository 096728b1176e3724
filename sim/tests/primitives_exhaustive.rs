//! The rounding and saturation primitives of numerics.md: exhaustive over small widths against
//! the oracle, hand-written ties from the definition, and large magnitudes.

mod naive;

use naive::{naive_floor_shr, naive_rne_shr, naive_sat};
use shiftadd_sim::numerics::{fits, floor_shr, max_code, min_code, rne_shr, sat};

/// A small deterministic generator (SplitMix64) for the sampled sweeps.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_i128(&mut self) -> i128 {
        (((self.next() as u128) << 64) | self.next() as u128) as i128
    }
}

#[test]
fn rne_shr_exhaustive_small() {
    for n in -4..=12 {
        for v in -(1i128 << 10)..(1i128 << 10) {
            assert_eq!(rne_shr(v, n), naive_rne_shr(v, n), "rne_shr({v}, {n})");
        }
    }
}

#[test]
fn floor_shr_exhaustive_small() {
    for n in -4..=12 {
        for v in -(1i128 << 10)..(1i128 << 10) {
            assert_eq!(
                floor_shr(v, n),
                naive_floor_shr(v, n),
                "floor_shr({v}, {n})"
            );
        }
    }
}

#[test]
fn sat_exhaustive_small() {
    for bits in 2..=10u32 {
        for v in -(1i128 << 11)..(1i128 << 11) {
            let (got, hit) = sat(v, bits);
            let (want, want_hit) = naive_sat(v, bits);
            assert_eq!((got as i128, hit), (want, want_hit), "sat({v}, {bits})");
            assert_eq!(fits(v as i64, bits), !want_hit, "fits({v}, {bits})");
        }
    }
}

#[test]
fn sat_boundaries_every_width() {
    for bits in 2..=64u32 {
        let lo = -(1i128 << (bits - 1));
        let hi = (1i128 << (bits - 1)) - 1;
        assert_eq!(min_code(bits) as i128, lo, "min_code({bits})");
        assert_eq!(max_code(bits) as i128, hi, "max_code({bits})");
        for v in [
            lo - 2,
            lo - 1,
            lo,
            lo + 1,
            -1,
            0,
            1,
            hi - 1,
            hi,
            hi + 1,
            hi + 2,
            i128::MIN,
            i128::MAX,
        ] {
            let (got, hit) = sat(v, bits);
            assert_eq!((got as i128, hit), naive_sat(v, bits), "sat({v}, {bits})");
        }
    }
    assert_eq!(sat(i128::MIN, 64), (i64::MIN, true));
    assert_eq!(sat(i128::MAX, 64), (i64::MAX, true));
    assert_eq!(sat(-5, 3), (-4, true));
    assert_eq!(sat(-4, 3), (-4, false));
    assert_eq!(sat(3, 3), (3, false));
    assert_eq!(sat(4, 3), (3, true));
}

/// Ties and near-ties written from the definition (round half to even).
#[test]
fn rne_shr_hand_ties() {
    let cases: [(i128, i32, i128); 26] = [
        (3, 1, 2),   // 1.5 -> 2
        (1, 1, 0),   // 0.5 -> 0
        (-1, 1, 0),  // -0.5 -> 0
        (-3, 1, -2), // -1.5 -> -2
        (5, 1, 2),   // 2.5 -> 2
        (-5, 1, -2), // -2.5 -> -2
        (7, 1, 4),   // 3.5 -> 4
        (-7, 1, -4), // -3.5 -> -4
        (5, 2, 1),   // 1.25 -> 1
        (6, 2, 2),   // 1.5 -> 2
        (-6, 2, -2), // -1.5 -> -2
        (10, 2, 2),  // 2.5 -> 2
        (-10, 2, -2),
        (2, 2, 0),    // 0.5 -> 0
        (-2, 2, 0),   // -0.5 -> 0
        (3, 2, 1),    // 0.75 -> 1
        (-3, 2, -1),  // -0.75 -> -1
        (9, 3, 1),    // 1.125 -> 1
        (12, 3, 2),   // 1.5 -> 2
        (13, 3, 2),   // 1.625 -> 2
        (-13, 3, -2), // -1.625 -> -2
        (-12, 3, -2), // -1.5 -> -2
        (-20, 3, -2), // -2.5 -> -2
        (-21, 3, -3), // -2.625 -> -3
        (3, 0, 3),
        (-3, -2, -12),
    ];
    for (v, n, want) in cases {
        assert_eq!(rne_shr(v, n), want, "rne_shr({v}, {n})");
        assert_eq!(naive_rne_shr(v, n), want, "naive_rne_shr({v}, {n})");
    }
}

#[test]
fn floor_shr_hand_cases() {
    let cases: [(i128, i32, i128); 10] = [
        (3, 1, 1),
        (-3, 1, -2),
        (-1, 1, -1),
        (-1, 60, -1),
        (1, 60, 0),
        (-4, 2, -1),
        (-5, 2, -2),
        (7, 0, 7),
        (-7, -3, -56),
        (5, -1, 10),
    ];
    for (v, n, want) in cases {
        assert_eq!(floor_shr(v, n), want, "floor_shr({v}, {n})");
        assert_eq!(naive_floor_shr(v, n), want, "naive_floor_shr({v}, {n})");
    }
}

/// Magnitudes near 2^100 and shifts up to 126, including exact ties far from zero.
#[test]
fn large_magnitudes() {
    let big = 1i128 << 100;
    // Ties: (2k + 1) * 2^(n-1) / 2^n = k + 1/2.
    assert_eq!(rne_shr(3 * (1i128 << 99), 100), 2);
    assert_eq!(rne_shr(5 * (1i128 << 99), 100), 2);
    assert_eq!(rne_shr(-3 * (1i128 << 99), 100), -2);
    assert_eq!(rne_shr(-5 * (1i128 << 99), 100), -2);
    assert_eq!(rne_shr(5 * (1i128 << 99) + 1, 100), 3);
    assert_eq!(rne_shr(5 * (1i128 << 99) - 1, 100), 2);
    assert_eq!(rne_shr(-5 * (1i128 << 99) - 1, 100), -3);
    assert_eq!(rne_shr(big, 126), 0); // 2^-26
    assert_eq!(rne_shr(1i128 << 125, 126), 0); // 0.5 -> 0
    assert_eq!(rne_shr(3 * (1i128 << 125), 126), 2); // 1.5 -> 2
    assert_eq!(rne_shr(-(1i128 << 125), 126), 0); // -0.5 -> 0
    assert_eq!(rne_shr((1i128 << 125) + 1, 126), 1);
    assert_eq!(rne_shr(i128::MIN, 126), -2);
    assert_eq!(rne_shr(i128::MAX, 126), 2);
    assert_eq!(rne_shr(i128::MIN, 1), -(1i128 << 126));
    assert_eq!(rne_shr(i128::MAX, 1), 1i128 << 126); // (2^127 - 1) / 2 = 2^126 - 0.5, tie -> even
    assert_eq!(rne_shr(big, -20), 1i128 << 120);
    assert_eq!(floor_shr(-big, 126), -1);
    assert_eq!(floor_shr(big, 126), 0);
    assert_eq!(floor_shr(i128::MIN, 126), -2);
    assert_eq!(floor_shr(-big - 1, 100), -2);
    assert_eq!(floor_shr(big, -20), 1i128 << 120);

    let mut rng = SplitMix(0x5EED_0001);
    let mut values = vec![i128::MIN, i128::MIN + 1, i128::MAX, i128::MAX - 1, -1, 0, 1];
    for d in -3i128..=3 {
        values.extend([
            big + d,
            -big + d,
            (3 * (1i128 << 99)) + d,
            -(3 * (1i128 << 99)) + d,
        ]);
    }
    for _ in 0..200 {
        let v = rng.next_i128();
        values.extend([v, v >> 20, v >> 60, v >> 100]);
    }
    for &v in &values {
        for n in 1..=126 {
            assert_eq!(rne_shr(v, n), naive_rne_shr(v, n), "rne_shr({v}, {n})");
            assert_eq!(
                floor_shr(v, n),
                naive_floor_shr(v, n),
                "floor_shr({v}, {n})"
            );
            // An exact tie built at this shift, from the truncated value.
            let base = (v >> n) << n;
            if let Some(tie) = base.checked_add(1i128 << (n - 1)) {
                assert_eq!(
                    rne_shr(tie, n),
                    naive_rne_shr(tie, n),
                    "rne_shr({tie}, {n})"
                );
            }
        }
        for n in -20..=0 {
            if v.unsigned_abs() < 1u128 << 100 {
                assert_eq!(rne_shr(v, n), naive_rne_shr(v, n), "rne_shr({v}, {n})");
                assert_eq!(
                    floor_shr(v, n),
                    naive_floor_shr(v, n),
                    "floor_shr({v}, {n})"
                );
            }
        }
    }
}

/// Shifts of 128 bits and more discard every bit: the value is strictly inside (-1/2, 1/2]
/// in magnitude, and only `-2^127 / 2^128 = -1/2` is a tie (to the even 0).
#[test]
fn shifts_beyond_the_width() {
    for n in [128, 129, 150, 200, i32::MAX] {
        for v in [i128::MIN, i128::MIN + 1, -1, 0, 1, i128::MAX] {
            assert_eq!(rne_shr(v, n), 0, "rne_shr({v}, {n})");
            assert_eq!(naive_rne_shr(v, n), 0, "naive_rne_shr({v}, {n})");
            let want = if v < 0 { -1 } else { 0 };
            assert_eq!(floor_shr(v, n), want, "floor_shr({v}, {n})");
            assert_eq!(naive_floor_shr(v, n), want, "naive_floor_shr({v}, {n})");
        }
    }
}

/// A shift of exactly 127 bits: `v / 2^127` lies in `[-1, 1)`, so values with `|v| > 2^126`
/// round away from zero, `-2^127` is exactly `-1`, and `±2^126` are ties to the even 0.
#[test]
fn shift_of_127_bits() {
    let half = 1i128 << 126;
    let cases: [(i128, i128); 9] = [
        (0, 0),
        (1, 0),
        (half, 0),       // 0.5 -> 0
        (-half, 0),      // -0.5 -> 0
        (half + 1, 1),   // just above 0.5
        (-half - 1, -1), // just below -0.5
        (i128::MAX, 1),  // 1 - 2^-127
        (i128::MIN, -1), // exactly -1
        (half - 1, 0),
    ];
    for (v, want) in cases {
        assert_eq!(naive_rne_shr(v, 127), want, "naive_rne_shr({v}, 127)");
    }
    let wrong: Vec<String> = cases
        .iter()
        .filter(|&&(v, want)| rne_shr(v, 127) != want)
        .map(|&(v, want)| format!("rne_shr({v}, 127) = {}, expected {want}", rne_shr(v, 127)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for (v, _) in cases {
        let want = if v < 0 { -1 } else { 0 };
        assert_eq!(floor_shr(v, 127), want, "floor_shr({v}, 127)");
    }
}

#[test]
fn shift_weight_codes_are_distinct_and_fit() {
    use shiftadd_sim::numerics::{encode_shift_weight, ShiftWeight};
    for wb in 2..=6u32 {
        let pmax = (1u32 << (wb - 1)) - 2;
        let mut seen = std::collections::BTreeMap::new();
        for s in [-1i8, 1] {
            for m in 0..=pmax as u8 {
                let code = encode_shift_weight(ShiftWeight { s, m }, wb);
                assert!(code < 1 << wb, "wb {wb}: code {code} does not fit");
                // Sign in the top bit, m below it (numerics code layout).
                assert_eq!(code >> (wb - 1), u32::from(s < 0));
                assert_eq!(code & ((1 << (wb - 1)) - 1), u32::from(m));
                assert!(
                    seen.insert(code, (s, m)).is_none(),
                    "wb {wb}: code {code} twice"
                );
            }
        }
        let zero = encode_shift_weight(ShiftWeight { s: 0, m: 3 }, wb);
        assert_eq!(zero, (1 << (wb - 1)) - 1, "zero weight is m = all ones");
        assert!(!seen.contains_key(&zero));
        assert_eq!(seen.len() as u32, 2 * (pmax + 1));
    }
}
