//! rust-hdl's own simulation of the PE arrays against a naive cycle model written from the array
//! contract (terms registered, `en`/`clear` delayed one cycle, accumulators one cycle later):
//! random streams, sizes that are not powers of two, extreme codes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl_core::prelude::*;
use shiftadd_hdl::array::{AdderArray, DualArray, MacArray, ShiftArray};
use shiftadd_sim::numerics::{encode_shift_weight, ShiftWeight};

fn pattern(v: i64, bits: usize) -> u64 {
    (v as u64) & (u64::MAX >> (64 - bits))
}

fn signed(p: u64, bits: usize) -> i64 {
    ((p << (64 - bits)) as i64) >> (64 - bits)
}

/// One cycle's stimulus: operands per column, weights per PE (row-major), control.
struct Cycle {
    x: Vec<i64>,
    w: Vec<u64>,
    en: bool,
    clear: bool,
}

/// The naive model: `term(x, w)` per PE as a plain formula, row sums, accumulators.
fn naive(
    rows: usize,
    cols: usize,
    cycles: &[Cycle],
    term: impl Fn(i64, u64) -> i128,
    negate: bool,
) -> Vec<Vec<i128>> {
    let mut acc = vec![0i128; rows];
    let mut out = Vec::new();
    for k in 0..cycles.len() {
        // Outputs after edge k reflect stimulus k - 1 (registered terms, then accumulators).
        if k >= 1 {
            let c = &cycles[k - 1];
            for (r, a) in acc.iter_mut().enumerate() {
                let sum: i128 = (0..cols).map(|j| term(c.x[j], c.w[r * cols + j])).sum();
                *a = match (c.clear, c.en) {
                    (true, true) => sum,
                    (true, false) => 0,
                    (false, true) => *a + sum,
                    (false, false) => *a,
                };
            }
        }
        out.push(acc.iter().map(|a| if negate { -a } else { *a }).collect());
    }
    out
}

/// Clocks `$array` through `$cycles`; `$before(array, k)` sets any further inputs of cycle `k`.
macro_rules! run_array {
    ($array:expr, $xw:expr, $acc:expr, $cycles:expr) => {
        run_array!($array, $xw, $acc, $cycles, |_, _| {})
    };
    ($array:expr, $xw:expr, $acc:expr, $cycles:expr, $before:expr) => {{
        let a = &mut $array;
        a.connect_all();
        let mut outs = Vec::new();
        for (k, c) in $cycles.iter().enumerate() {
            $before(&mut *a, k);
            for (j, x) in c.x.iter().enumerate() {
                a.x[j].next = bits(pattern(*x, $xw));
            }
            for (i, w) in c.w.iter().enumerate() {
                a.w[i].next = bits(*w);
            }
            a.en.next = c.en;
            a.clear.next = c.clear;
            a.clock.next = false.into();
            assert!(simulate(a, 1000));
            a.clock.next = true.into();
            assert!(simulate(a, 1000));
            outs.push(
                a.acc
                    .iter()
                    .map(|s| i128::from(signed(s.val().to_u64(), $acc)))
                    .collect::<Vec<_>>(),
            );
        }
        outs
    }};
}

/// Random stimulus; `x_code` and `w_code` draw operand and weight codes.
fn stimulus(
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
    n: usize,
    mut x_code: impl FnMut(&mut ChaCha8Rng) -> i64,
    mut w_code: impl FnMut(&mut ChaCha8Rng) -> u64,
) -> Vec<Cycle> {
    (0..n)
        .map(|k| Cycle {
            x: (0..cols).map(|_| x_code(rng)).collect(),
            w: (0..rows * cols).map(|_| w_code(rng)).collect(),
            en: rng.gen_bool(0.8),
            clear: k == 0 || rng.gen_bool(0.2),
        })
        .collect()
}

fn extreme_or_random(rng: &mut ChaCha8Rng, bits: usize) -> i64 {
    let lo = -(1i64 << (bits - 1));
    let hi = (1i64 << (bits - 1)) - 1;
    match rng.gen_range(0..4) {
        0 => lo,
        1 => hi,
        _ => rng.gen_range(lo..=hi),
    }
}

fn shift_term(wb: u32) -> impl Fn(i64, u64) -> i128 {
    let pmax = (1u32 << (wb - 1)) - 2;
    move |x, code| {
        let m = (code & ((1 << (wb - 1)) - 1)) as u32;
        if m == pmax + 1 {
            return 0;
        }
        let s = if code >> (wb - 1) == 1 { -1 } else { 1 };
        s * i128::from(x) * (1i128 << (pmax - m))
    }
}

fn shift_code(rng: &mut ChaCha8Rng, wb: u32) -> u64 {
    let pmax = (1u32 << (wb - 1)) - 2;
    let s = [-1i8, 0, 1][rng.gen_range(0..3)];
    let m = if rng.gen_bool(0.3) {
        pmax as u8
    } else {
        rng.gen_range(0..=pmax) as u8
    };
    u64::from(encode_shift_weight(ShiftWeight { s, m }, wb))
}

#[test]
fn shift_arrays_match_the_naive_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (rows, cols) in [(1, 1), (3, 5), (2, 8)] {
        let cyc = stimulus(
            &mut rng,
            rows,
            cols,
            60,
            |r| extreme_or_random(r, 8),
            |r| shift_code(r, 3),
        );
        let got = run_array!(
            ShiftArray::<8, 3, 11, 17, 21>::new(rows, cols, 2),
            8,
            21,
            cyc
        );
        assert_eq!(
            got,
            naive(rows, cols, &cyc, shift_term(3), false),
            "{rows}x{cols}"
        );
    }
    // seed widths, 64 columns of extremes: the widest tree sum.
    let cyc = stimulus(
        &mut rng,
        1,
        64,
        12,
        |r| extreme_or_random(r, 32),
        |r| shift_code(r, 5),
    );
    let got = run_array!(ShiftArray::<32, 5, 47, 53, 58>::new(1, 64, 14), 32, 58, cyc);
    assert_eq!(got, naive(1, 64, &cyc, shift_term(5), false));
}

#[test]
fn adder_arrays_match_the_naive_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let term = |x: i64, w: u64| i128::from((x - signed(w, 8)).abs());
    for (rows, cols) in [(1, 1), (4, 3), (2, 7)] {
        let cyc = stimulus(
            &mut rng,
            rows,
            cols,
            60,
            |r| extreme_or_random(r, 8),
            |r| pattern(extreme_or_random(r, 8), 8),
        );
        let got = run_array!(
            AdderArray::<8, 8, 8, 15, 19>::new(rows, cols, 0),
            8,
            19,
            cyc
        );
        assert_eq!(got, naive(rows, cols, &cyc, term, true), "{rows}x{cols}");
    }
    let term32 = |x: i64, w: u64| i128::from((x - signed(w, 32)).abs());
    let cyc = stimulus(
        &mut rng,
        2,
        64,
        12,
        |r| extreme_or_random(r, 32),
        |r| pattern(extreme_or_random(r, 32), 32),
    );
    let got = run_array!(AdderArray::<32, 32, 32, 39, 44>::new(2, 64, 0), 32, 44, cyc);
    assert_eq!(got, naive(2, 64, &cyc, term32, true));
}

#[test]
fn mac_arrays_match_the_naive_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let term = |x: i64, w: u64| i128::from(x) * i128::from(signed(w, 8));
    for (rows, cols) in [(1, 1), (3, 6)] {
        let cyc = stimulus(
            &mut rng,
            rows,
            cols,
            60,
            |r| extreme_or_random(r, 8),
            |r| pattern(extreme_or_random(r, 8), 8),
        );
        let got = run_array!(MacArray::<8, 8, 16, 22, 26>::new(rows, cols, 0), 8, 26, cyc);
        assert_eq!(got, naive(rows, cols, &cyc, term, false), "{rows}x{cols}");
    }
    let cyc = stimulus(
        &mut rng,
        1,
        64,
        12,
        |r| extreme_or_random(r, 32),
        |r| pattern(extreme_or_random(r, 8), 8),
    );
    let got = run_array!(MacArray::<32, 8, 40, 46, 51>::new(1, 64, 0), 32, 51, cyc);
    assert_eq!(got, naive(1, 64, &cyc, term, false));
}

#[test]
fn dual_arrays_match_the_naive_model_in_both_modes() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for (rows, cols) in [(1, 1), (3, 5)] {
        // Runs of cycles between clears share one mode; weights are codes of that mode.
        let mut cycles = Vec::new();
        let mut modes = Vec::new();
        let mut mode = false;
        for k in 0..80 {
            let clear = k == 0 || rng.gen_bool(0.15);
            if clear {
                mode = rng.gen_bool(0.5);
            }
            let w = (0..rows * cols)
                .map(|_| {
                    if mode {
                        pattern(extreme_or_random(&mut rng, 8), 8)
                    } else {
                        shift_code(&mut rng, 3)
                    }
                })
                .collect();
            cycles.push(Cycle {
                x: (0..cols).map(|_| extreme_or_random(&mut rng, 8)).collect(),
                w,
                en: rng.gen_bool(0.8),
                clear,
            });
            modes.push(mode);
        }
        let got = run_array!(
            DualArray::<8, 8, 11, 17, 21>::new(rows, cols, 2),
            8,
            21,
            cycles,
            |a: &mut DualArray<8, 8, 11, 17, 21>, k: usize| a.mode.next = modes[k]
        );
        // The naive model per mode: the result after edge k belongs to the mode of the run that
        // stimulus k - 1 was part of.
        let shift = naive(rows, cols, &cycles, shift_term(3), false);
        let adder = naive(
            rows,
            cols,
            &cycles,
            |x, w| i128::from((x - signed(w, 8)).abs()),
            true,
        );
        for k in 1..cycles.len() {
            // Until the first enabled or clearing cycle of a run, the row still shows the last one.
            let want = if modes[k - 1] { &adder[k] } else { &shift[k] };
            let last = (0..k)
                .rev()
                .find(|&j| cycles[j].en || cycles[j].clear)
                .unwrap();
            if modes[last] == modes[k - 1] {
                assert_eq!(&got[k], want, "{rows}x{cols} cycle {k}");
            }
        }
    }
}
