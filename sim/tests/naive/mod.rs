//! A plain, slow transcription of `shared/spec/numerics.md` used as the oracle of the
//! integration tests. Everything is `i128`, convolutions are nested loops over
//! `(co, oy, ox, ci, ky, kx)` with explicit bounds checks for the zero padding, and the
//! rounding primitives are written from their arithmetic definitions (division and remainder)
//! rather than with bit tricks.

#![allow(dead_code)]

/// `2^n` as an `i128` (`0 <= n <= 126`).
pub fn pow2(n: u32) -> i128 {
    assert!(n <= 126, "2^{n} does not fit in i128");
    let mut p: i128 = 1;
    for _ in 0..n {
        p *= 2;
    }
    p
}

/// `2^n` as a `u128`, or `None` when it does not fit (`n >= 128`).
fn pow2_u(n: u32) -> Option<u128> {
    let mut p: u128 = 1;
    for _ in 0..n {
        p = p.checked_mul(2)?;
    }
    Some(p)
}

/// Exact `v * 2^k` for `k >= 0`; panics on overflow (the caller keeps it in range).
fn times_pow2(v: i128, k: u32) -> i128 {
    let mut r = v;
    for _ in 0..k {
        r = r.checked_mul(2).expect("left shift overflows i128");
    }
    r
}

/// `floor(v / 2^n)`; for `n <= 0` the exact product `v * 2^-n`.
pub fn naive_floor_shr(v: i128, n: i32) -> i128 {
    if n <= 0 {
        return times_pow2(v, n.unsigned_abs());
    }
    let n = n as u32;
    if n >= 127 {
        // |v| <= 2^127 <= 2^n: the quotient lies in [-1, 1), so its floor is -1 or 0.
        return if v < 0 { -1 } else { 0 };
    }
    v.div_euclid(pow2(n))
}

/// `v / 2^n` rounded to the nearest integer, ties to the even neighbour; for `n <= 0` the
/// exact product `v * 2^-n`.
///
/// Rounding to nearest with ties to even is symmetric about zero, so the magnitude is rounded
/// and the sign put back: with `|v| = q * 2^n + r`, `0 <= r < 2^n`, the result magnitude is
/// `q + 1` when `2r > 2^n` or when `2r == 2^n` and `q` is odd, else `q`.
pub fn naive_rne_shr(v: i128, n: i32) -> i128 {
    if n <= 0 {
        return times_pow2(v, n.unsigned_abs());
    }
    let a = v.unsigned_abs();
    let Some(d) = pow2_u(n as u32) else {
        // 2^n >= 2^128 >= 2|v|, and equality would need |v| = 2^127 = 2^(n-1) with n = 128,
        // a tie between 0 and -1 that goes to the even 0: the result is 0 either way.
        return 0;
    };
    let q = a / d;
    let twice_r = 2 * (a % d);
    let up = twice_r > d || (twice_r == d && q % 2 == 1);
    let mag = if up { q + 1 } else { q };
    let mag = i128::try_from(mag).expect("rounded magnitude fits");
    if v < 0 {
        -mag
    } else {
        mag
    }
}

/// Smallest code of a signed `bits`-bit format.
pub fn naive_min(bits: u32) -> i128 {
    -pow2(bits - 1)
}

/// Largest code of a signed `bits`-bit format.
pub fn naive_max(bits: u32) -> i128 {
    pow2(bits - 1) - 1
}

/// `sat_act(v)`: clamps to `[-2^(bits-1), act_max]`; whether it clamped.
pub fn naive_sat_act(v: i128, bits: u32, act_max: i128) -> (i128, bool) {
    let lo = naive_min(bits);
    if v < lo {
        (lo, true)
    } else if v > act_max {
        (act_max, true)
    } else {
        (v, false)
    }
}

/// `sat_bits(v)` and whether it clamped.
pub fn naive_sat(v: i128, bits: u32) -> (i128, bool) {
    let lo = naive_min(bits);
    let hi = naive_max(bits);
    if v < lo {
        (lo, true)
    } else if v > hi {
        (hi, true)
    } else {
        (v, false)
    }
}

/// Convolution geometry, independent of the crate's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

/// Number of window positions along one axis: every `o` with `o * stride + k <= n + 2 pad`.
fn positions(n: usize, k: usize, stride: usize, pad: usize) -> usize {
    let mut count = 0;
    while count * stride + k <= n + 2 * pad {
        count += 1;
    }
    count
}

impl Geom {
    /// `(out_h, out_w)`, or `None` when the output is empty.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        let oh = positions(self.h, self.kh, self.stride, self.pad);
        let ow = positions(self.w, self.kw, self.stride, self.pad);
        if oh == 0 || ow == 0 {
            None
        } else {
            Some((oh, ow))
        }
    }

    /// Input value at `(ci, iy, ix)` in padded coordinates, `None` in the zero padding.
    fn input_at(&self, x: &[i64], ci: usize, py: usize, px: usize) -> Option<i128> {
        let iy = py as i64 - self.pad as i64;
        let ix = px as i64 - self.pad as i64;
        if iy < 0 || ix < 0 || iy >= self.h as i64 || ix >= self.w as i64 {
            return None;
        }
        Some(x[(ci * self.h + iy as usize) * self.w + ix as usize] as i128)
    }

    fn weight_index(&self, co: usize, ci: usize, ky: usize, kx: usize) -> usize {
        ((co * self.cin + ci) * self.kh + ky) * self.kw + kx
    }

    /// Runs `tap(padded input or None, weight index)` over every tap of every output and sums.
    fn conv(&self, x: &[i64], mut tap: impl FnMut(Option<i128>, usize) -> i128) -> Vec<i128> {
        assert_eq!(x.len(), self.cin * self.h * self.w, "input length");
        let (oh, ow) = self.out_hw().expect("non-empty output");
        let mut out = Vec::with_capacity(self.cout * oh * ow);
        for co in 0..self.cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc: i128 = 0;
                    for ci in 0..self.cin {
                        for ky in 0..self.kh {
                            for kx in 0..self.kw {
                                let xv = self.input_at(
                                    x,
                                    ci,
                                    oy * self.stride + ky,
                                    ox * self.stride + kx,
                                );
                                acc += tap(xv, self.weight_index(co, ci, ky, kx));
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
        out
    }
}

/// Shift convolution: `acc = sum s * X * 2^(pmax - m)`; padded taps contribute nothing.
pub fn naive_shift_conv(x: &[i64], g: &Geom, sign: &[i64], m: &[i64], pmax: i64) -> Vec<i128> {
    assert_eq!(sign.len(), g.cout * g.cin * g.kh * g.kw);
    assert_eq!(m.len(), sign.len());
    g.conv(x, |xv, wi| match xv {
        None => 0,
        Some(xv) => {
            let e = pmax - m[wi];
            assert!((0..=pmax).contains(&e), "m out of range");
            sign[wi] as i128 * xv * pow2(e as u32)
        }
    })
}

/// Adder convolution: `y = -sum |Xa - Wa|`, padded taps use `Xa = 0` (so they add `|Wa|`).
pub fn naive_adder_conv(x: &[i64], g: &Geom, w: &[i64]) -> Vec<i128> {
    assert_eq!(w.len(), g.cout * g.cin * g.kh * g.kw);
    let a = g.conv(x, |xv, wi| {
        let xa = xv.unwrap_or(0);
        (xa - w[wi] as i128).abs()
    });
    a.into_iter().map(|v| -v).collect()
}

/// Multiply convolution: `acc = sum X * Wm`; padded taps contribute nothing.
pub fn naive_mult_conv(x: &[i64], g: &Geom, w: &[i64]) -> Vec<i128> {
    assert_eq!(w.len(), g.cout * g.cin * g.kh * g.kw);
    g.conv(x, |xv, wi| xv.map_or(0, |xv| xv * w[wi] as i128))
}

/// Post-processing of numerics.md: `z = floor((M_c v + B_c) / 2^S)`, `+ R`, ReLU, `sat_act`.
/// `v` is `[c][plane]`; returns the codes and how many saturated.
#[allow(clippy::too_many_arguments)]
pub fn naive_post(
    v: &[i128],
    plane: usize,
    m: &[i128],
    b: &[i128],
    s: u32,
    relu: bool,
    residual: Option<&[i128]>,
    (act_bits, act_max): (u32, i128),
) -> (Vec<i128>, u64) {
    let mut out = Vec::with_capacity(v.len());
    let mut saturated = 0u64;
    for (i, &vi) in v.iter().enumerate() {
        let c = i / plane;
        let mut z = (m[c] * vi + b[c]).div_euclid(pow2(s));
        if let Some(r) = residual {
            z += r[i];
        }
        if relu && z < 0 {
            z = 0;
        }
        let (o, hit) = naive_sat_act(z, act_bits, act_max);
        saturated += u64::from(hit);
        out.push(o);
    }
    (out, saturated)
}

/// The classifier's logits: the affine step (and ReLU if asked), never saturated.
pub fn naive_logits(
    v: &[i128],
    plane: usize,
    m: &[i128],
    b: &[i128],
    s: u32,
    relu: bool,
) -> Vec<i128> {
    v.iter()
        .enumerate()
        .map(|(i, &vi)| {
            let c = i / plane;
            let z = (m[c] * vi + b[c]).div_euclid(pow2(s));
            if relu && z < 0 {
                0
            } else {
                z
            }
        })
        .collect()
}

/// Hand-off onto the adder grid: `sat_add(rne_shr(v, f_v - add_frac))`, with the count.
pub fn naive_handoff(v: &[i128], f_v: u32, add_frac: u32, add_bits: u32) -> (Vec<i128>, u64) {
    let n = f_v as i32 - add_frac as i32;
    let mut hits = 0u64;
    let out = v
        .iter()
        .map(|&x| {
            let (o, hit) = naive_sat(naive_rne_shr(x, n), add_bits);
            hits += u64::from(hit);
            o
        })
        .collect();
    (out, hits)
}

/// Rounding to activations without batch norm: `sat_act(floor_shr(v, f_v - act_frac))`.
pub fn naive_round_to_act(
    v: &[i128],
    f_v: u32,
    act_frac: u32,
    (act_bits, act_max): (u32, i128),
) -> (Vec<i128>, u64) {
    let n = f_v as i32 - act_frac as i32;
    let mut hits = 0u64;
    let out = v
        .iter()
        .map(|&x| {
            let (o, hit) = naive_sat_act(naive_floor_shr(x, n), act_bits, act_max);
            hits += u64::from(hit);
            o
        })
        .collect();
    (out, hits)
}

/// Max pooling, window = stride = `k`, floor mode. Returns `(data, out_h, out_w)`.
pub fn naive_max_pool(
    x: &[i64],
    c: usize,
    h: usize,
    w: usize,
    k: usize,
) -> (Vec<i128>, usize, usize) {
    let (oh, ow) = (h / k, w / k);
    let mut out = Vec::new();
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best: Option<i128> = None;
                for dy in 0..k {
                    for dx in 0..k {
                        let v = x[(ch * h + oy * k + dy) * w + ox * k + dx] as i128;
                        best = Some(match best {
                            Some(b) if b >= v => b,
                            _ => v,
                        });
                    }
                }
                out.push(best.expect("non-empty window"));
            }
        }
    }
    (out, oh, ow)
}

/// Average pooling, window = stride = `k` (`k * k` a power of two), floor mode:
/// `floor(sum / (k * k))`. Returns `(data, out_h, out_w)`.
pub fn naive_avg_pool(
    x: &[i64],
    c: usize,
    h: usize,
    w: usize,
    k: usize,
) -> (Vec<i128>, usize, usize) {
    let (oh, ow) = (h / k, w / k);
    let n = (k * k) as i128;
    let mut out = Vec::new();
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut sum: i128 = 0;
                for dy in 0..k {
                    for dx in 0..k {
                        sum += x[(ch * h + oy * k + dy) * w + ox * k + dx] as i128;
                    }
                }
                out.push(sum.div_euclid(n));
            }
        }
    }
    (out, oh, ow)
}

/// Index of the largest value, the lowest index on ties.
pub fn naive_argmax(v: &[i128]) -> usize {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}
