//! rust-hdl's own simulation of each PE against the reference model for one tap
//! (`sim::layers` on a 1x1x1 convolution) and a naive formula: exhaustively over small widths,
//! by property tests over the preset widths, including the most negative codes, zero weights and
//! the largest shifts.

use proptest::prelude::*;
use rust_hdl_core::prelude::*;
use shiftadd_hdl::pe::{AdderPe, DualPe, MacPe, Pe, ShiftPe};
use shiftadd_sim::layers::{adder_conv, mult_conv, shift_conv, ConvGeom, Tensor};
use shiftadd_sim::numerics::{encode_shift_weight, ShiftWeight};

fn one_tap() -> ConvGeom {
    ConvGeom {
        cin: 1,
        h: 1,
        w: 1,
        cout: 1,
        kh: 1,
        kw: 1,
        stride: 1,
        pad: 0,
    }
}

fn scalar<T>(x: T) -> Tensor<T> {
    Tensor {
        c: 1,
        h: 1,
        w: 1,
        data: vec![x],
    }
}

/// Two's complement `bits`-bit pattern of `v`.
fn pattern(v: i64, bits: usize) -> u64 {
    (v as u64) & (u64::MAX >> (64 - bits))
}

/// A `bits`-bit pattern read as two's complement.
fn signed(p: u64, bits: usize) -> i64 {
    ((p << (64 - bits)) as i64) >> (64 - bits)
}

fn code_range(bits: usize) -> std::ops::RangeInclusive<i64> {
    -(1i64 << (bits - 1))..=(1i64 << (bits - 1)) - 1
}

/// Presents `x`, `w`, gives one rising edge and returns the registered term.
macro_rules! step {
    ($pe:expr, $xw:expr, $x:expr, $w:expr) => {{
        let pe = &mut $pe;
        pe.x.next = bits(pattern($x, $xw));
        pe.w.next = bits($w);
        pe.clock.next = false.into();
        assert!(simulate(pe, 100));
        pe.clock.next = true.into();
        assert!(simulate(pe, 100));
        pe.term.val().to_u64()
    }};
}

fn shift_ref(x: i64, s: i8, m: u8, pmax: u32) -> i64 {
    let y = shift_conv(&scalar(x as i32), &one_tap(), &[s], &[m], pmax).data[0];
    // Naive formula beside the reference model.
    let naive = i128::from(s) * i128::from(x) * (1i128 << (pmax - u32::from(m)));
    assert_eq!(i128::from(y), naive, "reference model vs naive formula");
    y
}

fn check_shift<const A: usize, const WB: usize, const T: usize, const TS: usize>(
    pe: &mut ShiftPe<A, WB, T, TS>,
    x: i64,
    s: i8,
    m: u8,
) {
    let pmax = (1u32 << (WB - 1)) - 2;
    let code = encode_shift_weight(ShiftWeight { s, m }, WB as u32);
    let term = step!(*pe, A, x, u64::from(code));
    let want = shift_ref(x, s, m, pmax);
    assert_eq!(
        signed(term, TS),
        want,
        "shift PE x={x} s={s} m={m} (code {code:#b})"
    );
}

fn shift_pe<const A: usize, const WB: usize, const T: usize, const TS: usize>(
) -> ShiftPe<A, WB, T, TS> {
    let mut pe = ShiftPe::<A, WB, T, TS>::with_pmax((1u32 << (WB - 1)) - 2);
    pe.connect_all();
    pe
}

fn adder_pe<const D: usize, const TS: usize>() -> AdderPe<D, D, D, TS> {
    let mut pe = AdderPe::<D, D, D, TS>::with_pmax(0);
    pe.connect_all();
    pe
}

fn mac_pe<const A: usize, const W: usize, const T: usize, const TS: usize>() -> MacPe<A, W, T, TS> {
    let mut pe = MacPe::<A, W, T, TS>::with_pmax(0);
    pe.connect_all();
    pe
}

fn check_adder<const D: usize, const TS: usize>(pe: &mut AdderPe<D, D, D, TS>, x: i64, w: i64) {
    let term = step!(*pe, D, x, pattern(w, D));
    let y = adder_conv(&scalar(x), &one_tap(), &[w]).data[0];
    assert_eq!(y, -(x - w).abs(), "reference model vs naive formula");
    // The PE holds the magnitude; the row negates once.
    assert_eq!(term as i64, -y, "adder PE x={x} w={w}");
}

fn check_mac<const A: usize, const W: usize, const T: usize, const TS: usize>(
    pe: &mut MacPe<A, W, T, TS>,
    x: i64,
    w: i64,
) {
    let term = step!(*pe, A, x, pattern(w, W));
    let y = mult_conv(&scalar(x as i32), &one_tap(), &[w as i32]).data[0];
    assert_eq!(i128::from(y), i128::from(x) * i128::from(w));
    assert_eq!(signed(term, TS), y, "multiply PE x={x} w={w}");
}

fn dual_pe<const D: usize, const T: usize, const TS: usize>(pmax: u32) -> DualPe<D, D, T, TS> {
    let mut pe = DualPe::<D, D, T, TS>::with_pmax(pmax);
    pe.connect_all();
    pe
}

/// Both modes of a dual-mode PE against the same references as the single-mode PEs.
fn check_dual<const D: usize, const T: usize, const TS: usize>(
    pe: &mut DualPe<D, D, T, TS>,
    pmax: u32,
    x: i64,
    shift: (i8, u8),
    w: i64,
) {
    let wb = (pmax + 2).trailing_zeros() + 1;
    let code = encode_shift_weight(
        ShiftWeight {
            s: shift.0,
            m: shift.1,
        },
        wb,
    );
    pe.mode.next = false;
    let term = step!(*pe, D, x, u64::from(code));
    let want = shift_ref(x, shift.0, shift.1, pmax);
    assert_eq!(
        signed(term, TS),
        want,
        "dual PE, shift mode, x={x} {shift:?}"
    );
    pe.mode.next = true;
    let term = step!(*pe, D, x, pattern(w, D));
    let y = adder_conv(&scalar(x), &one_tap(), &[w]).data[0];
    assert_eq!(signed(term, TS), -y, "dual PE, adder mode, x={x} w={w}");
}

#[test]
fn dual_pe_exhaustive_small_widths() {
    let mut pe = dual_pe::<4, 7, 9>(2);
    for x in code_range(4) {
        for w in code_range(4) {
            for s in [-1i8, 0, 1] {
                for m in 0..=2u8 {
                    check_dual(&mut pe, 2, x, (s, m), w);
                }
            }
        }
    }
}

#[test]
fn shift_pe_exhaustive_small_widths() {
    // wb = 3 (pmax 2) and wb = 4 (pmax 6) with 4-bit activations: every code pair.
    let mut a = shift_pe::<4, 3, 7, 9>();
    let mut b = shift_pe::<4, 4, 11, 13>();
    for x in code_range(4) {
        for s in [-1i8, 0, 1] {
            for m in 0..=2u8 {
                check_shift(&mut a, x, s, m);
            }
            for m in 0..=6u8 {
                check_shift(&mut b, x, s, m);
            }
        }
    }
}

#[test]
fn adder_pe_exhaustive_small_widths() {
    let mut pe = adder_pe::<4, 11>();
    for x in code_range(4) {
        for w in code_range(4) {
            check_adder(&mut pe, x, w);
        }
    }
}

#[test]
fn mac_pe_exhaustive_small_widths() {
    let mut pe = mac_pe::<4, 3, 7, 13>();
    for x in code_range(4) {
        for w in code_range(3) {
            check_mac(&mut pe, x, w);
        }
    }
}

/// Codes of `bits` bits with the extremes and zero over-represented.
fn code(bits: usize) -> impl Strategy<Value = i64> {
    let lo = -(1i64 << (bits - 1));
    let hi = (1i64 << (bits - 1)) - 1;
    prop_oneof![
        Just(lo),
        Just(hi),
        Just(0i64),
        Just(-1i64),
        Just(lo + 1),
        lo..=hi
    ]
}

fn shift_weight(wb: usize) -> impl Strategy<Value = (i8, u8)> {
    let pmax = ((1u32 << (wb - 1)) - 2) as u8;
    (
        prop_oneof![Just(-1i8), Just(0i8), Just(1i8)],
        prop_oneof![Just(0u8), Just(pmax), 0..=pmax],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn shift_pe_preset_widths(x32 in code(32), x16 in code(16), x8 in code(8),
                              w5 in shift_weight(5), w4 in shift_weight(4), w3 in shift_weight(3)) {
        // seed, lean16, lean8 widths (hdl::widths::SUPPORTED).
        check_shift(&mut shift_pe::<32, 5, 47, 53>(), x32, w5.0, w5.1);
        check_shift(&mut shift_pe::<16, 4, 23, 29>(), x16, w4.0, w4.1);
        check_shift(&mut shift_pe::<8, 3, 11, 17>(), x8, w3.0, w3.1);
    }

    #[test]
    fn adder_pe_preset_widths(x32 in code(32), w32 in code(32), x16 in code(16), w16 in code(16),
                              x8 in code(8), w8 in code(8)) {
        check_adder(&mut adder_pe::<32, 39>(), x32, w32);
        check_adder(&mut adder_pe::<16, 23>(), x16, w16);
        check_adder(&mut adder_pe::<8, 15>(), x8, w8);
    }

    #[test]
    fn dual_pe_preset_widths(x32 in code(32), a32 in code(32), w5 in shift_weight(5),
                             x16 in code(16), a16 in code(16), w4 in shift_weight(4),
                             x8 in code(8), a8 in code(8), w3 in shift_weight(3)) {
        check_dual(&mut dual_pe::<32, 47, 53>(14), 14, x32, w5, a32);
        check_dual(&mut dual_pe::<16, 23, 29>(6), 6, x16, w4, a16);
        check_dual(&mut dual_pe::<8, 11, 17>(2), 2, x8, w3, a8);
    }

    #[test]
    fn mac_pe_preset_widths(x32 in code(32), x16 in code(16), x8 in code(8), w in code(8)) {
        check_mac(&mut mac_pe::<32, 8, 40, 46>(), x32, w);
        check_mac(&mut mac_pe::<16, 8, 24, 30>(), x16, w);
        check_mac(&mut mac_pe::<8, 8, 16, 22>(), x8, w);
    }
}
