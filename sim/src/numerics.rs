//! The rounding and saturation primitives of `shared/spec/numerics.md`, plus the float-to-code
//! conversions that run once, when a model is exported or loaded. After those, nothing is
//! floating point.

/// Arithmetic right shift by `n` rounding to nearest, ties to even, from the full-width value.
/// For `n <= 0` an exact left shift by `-n` (the caller keeps the result within `i128`).
pub fn rne_shr(v: i128, n: i32) -> i128 {
    if n <= 0 {
        return v << (-n) as u32;
    }
    if n >= 128 {
        // Every bit is discarded and |v| <= 2^127 is at most half of 2^n, a tie only at
        // v = -2^127 with n = 128, which rounds to the even 0.
        return 0;
    }
    let n = n as u32;
    let floor = v >> n;
    let rem = v - (floor << n); // in [0, 2^n)
    let half = 1i128 << (n - 1);
    if rem > half || (rem == half && floor & 1 == 1) {
        floor + 1
    } else {
        floor
    }
}

/// Plain arithmetic right shift (rounds toward minus infinity); for `n <= 0` an exact left shift.
pub fn floor_shr(v: i128, n: i32) -> i128 {
    if n <= 0 {
        v << (-n) as u32
    } else if n >= 128 {
        if v < 0 {
            -1
        } else {
            0
        }
    } else {
        v >> n as u32
    }
}

/// Smallest code of a signed `bits`-bit format (`bits` in 1..=64).
pub fn min_code(bits: u32) -> i64 {
    (-(1i128 << (bits - 1))) as i64
}

/// Largest code of a signed `bits`-bit format (`bits` in 1..=64).
pub fn max_code(bits: u32) -> i64 {
    ((1i128 << (bits - 1)) - 1) as i64
}

/// `sat_b(v)`: clamps to `[-2^(b-1), 2^(b-1)-1]`; the flag says whether it clamped.
pub fn sat(v: i128, bits: u32) -> (i64, bool) {
    let lo = min_code(bits) as i128;
    let hi = max_code(bits) as i128;
    if v < lo {
        (lo as i64, true)
    } else if v > hi {
        (hi as i64, true)
    } else {
        (v as i64, false)
    }
}

/// The activation clamp `sat_act` of numerics.md: `[-2^(bits-1), max]`, where `max` is the
/// format's `act_max` (at most `2^(bits-1) - 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActRange {
    /// `act_bits`.
    pub bits: u32,
    /// `act_max`, the largest code.
    pub max: i64,
}

impl ActRange {
    /// The full signed range of `bits` bits (`act_max = 2^(bits-1) - 1`).
    pub fn full(bits: u32) -> Self {
        ActRange {
            bits,
            max: max_code(bits),
        }
    }
    /// `sat_act(v)`; the flag says whether it clamped.
    pub fn sat(&self, v: i128) -> (i64, bool) {
        let lo = min_code(self.bits) as i128;
        if v < lo {
            (lo as i64, true)
        } else if v > self.max as i128 {
            (self.max, true)
        } else {
            (v as i64, false)
        }
    }
}

/// Whether `v` is a code of a signed `bits`-bit format.
pub fn fits(v: i64, bits: u32) -> bool {
    v >= min_code(bits) && v <= max_code(bits)
}

/// Decoded DeepShift-PS weight: sign in {-1, 0, 1} and exponent magnitude `m` (value `s * 2^-m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShiftWeight {
    /// Sign; 0 is the zero weight.
    pub s: i8,
    /// Exponent magnitude in `0..=pmax`.
    pub m: u8,
}

/// The hardware code of a shift weight, `shift_wb` bits: bit `shift_wb - 1` set for `s = -1`, the
/// low `shift_wb - 1` bits hold `m`; the zero weight is `m = pmax + 1` (all ones), the one code
/// `pmax = 2^(shift_wb-1) - 2` leaves free. `m` of a zero weight is not kept.
pub fn encode_shift_weight(w: ShiftWeight, shift_wb: u32) -> u32 {
    let m_zero = (1u32 << (shift_wb - 1)) - 1;
    match w.s {
        0 => m_zero,
        s => (u32::from(s < 0) << (shift_wb - 1)) | u32::from(w.m),
    }
}

/// Training's rounding of the latent shift `p_latent` and sign `s_latent` (numerics.md):
/// `p = rne(clamp(P, -pmax, 0))`, `m = -p`, `s = sign(rne(S))`.
pub fn decode_shift_weight(p_latent: f32, s_latent: f32, pmax: u32) -> ShiftWeight {
    let p = p_latent.clamp(-(pmax as f32), 0.0).round_ties_even();
    let s = s_latent.round_ties_even();
    ShiftWeight {
        s: if s > 0.0 {
            1
        } else if s < 0.0 {
            -1
        } else {
            0
        },
        m: (-p) as u8,
    }
}

/// The network-input rule of numerics.md: `sat_act(floor(x * 2^act_frac))`, in float32.
/// NaN maps to 0. Returns the code and whether it saturated.
pub fn act_code_from_f32(x: f32, act: ActRange, act_frac: u32) -> (i64, bool) {
    let scaled = (x * (act_frac as f32).exp2()).floor();
    if scaled.is_nan() {
        return (0, false);
    }
    // f32 -> i128 saturates at the i128 range, far outside every format.
    act.sat(scaled as i128)
}

/// The original code's `round_to_fixed(x, fraction, integer)`: floor to the `2^-frac` grid, then
/// clamp in real units to `[-2^(int_bits-1), 2^(int_bits-1) - 1]`. For Q16.16 the largest code is
/// `2^31 - 2^16`, not `2^31 - 1` (numerics.md, worked example 2).
pub fn seed_round_to_fixed(x: f32, frac: u32, int_bits: u32) -> i64 {
    let scaled = (x * (frac as f32).exp2()).floor();
    if scaled.is_nan() {
        return 0;
    }
    let lo = -(1i128 << (int_bits - 1)) << frac;
    let hi = ((1i128 << (int_bits - 1)) - 1) << frac;
    (scaled as i128).clamp(lo, hi) as i64
}

/// Adder weight code: `sat_add(rne(w * 2^add_frac))`; the flag says whether it saturated.
pub fn adder_code_from_f32(w: f32, add_bits: u32, add_frac: u32) -> (i64, bool) {
    let scaled = (w * (add_frac as f32).exp2()).round_ties_even();
    if scaled.is_nan() {
        return (0, false);
    }
    sat(scaled as i128, add_bits)
}

/// `rne(x * 2^shift)` of a real number, saturated to a signed `bits`-bit code (used by the
/// exporter for `M_c`, `B_c` and multiply weights); the flag says whether it saturated.
pub fn rne_code_from_f64(x: f64, shift: i32, bits: u32) -> (i64, bool) {
    let scaled = (x * (shift as f64).exp2()).round_ties_even();
    if scaled.is_nan() {
        return (0, false);
    }
    sat(scaled as i128, bits)
}
