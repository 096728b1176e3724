//! Float kernels of one chunk of samples: im2col, the linear (shift and multiply) and adder
//! convolutions and their backward passes. A chunk's columns are `[taps][J]` with
//! `J = samples * out_h * out_w`, so every inner loop runs over a contiguous row of `J` values
//! (fully-connected layers get rows as long as the chunk).

use shiftadd_sim::layers::ConvGeom;

/// Output height and width of `g`.
pub fn out_hw(g: &ConvGeom) -> (usize, usize) {
    (
        g.out_h().expect("checked geometry"),
        g.out_w().expect("checked geometry"),
    )
}

/// Range of output columns `ox` whose input column `ox * stride + kx - pad` lies inside `0..w`.
fn valid_cols(ow: usize, w: usize, kx: usize, stride: usize, pad: usize) -> (usize, usize) {
    let lo = if pad > kx {
        (pad - kx).div_ceil(stride)
    } else {
        0
    };
    let hi = if w + pad > kx {
        ((w + pad - kx - 1) / stride + 1).min(ow)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Columns of `ns` samples `x` (`[ns][cin][h][w]`) into `cols` (`[taps][ns * oh * ow]`); padded
/// taps are zero, which is also the adder layer's padding rule (`|0 - w|`).
pub fn im2col(x: &[f32], ns: usize, g: &ConvGeom, cols: &mut [f32]) {
    let (oh, ow) = out_hw(g);
    let p = oh * ow;
    let j_len = ns * p;
    let in_len = g.cin * g.h * g.w;
    debug_assert_eq!(cols.len(), g.taps() * j_len);
    for ci in 0..g.cin {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let t = (ci * g.kh + ky) * g.kw + kx;
                let row = &mut cols[t * j_len..(t + 1) * j_len];
                let (lo, hi) = valid_cols(ow, g.w, kx, g.stride, g.pad);
                for s in 0..ns {
                    let plane = &x[s * in_len + ci * g.h * g.w..][..g.h * g.w];
                    for oy in 0..oh {
                        let y = (oy * g.stride + ky) as isize - g.pad as isize;
                        let dst = &mut row[s * p + oy * ow..][..ow];
                        if y < 0 || y >= g.h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[y as usize * g.w..][..g.w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        if g.stride == 1 {
                            let x0 = lo + kx - g.pad;
                            dst[lo..hi].copy_from_slice(&src[x0..x0 + hi - lo]);
                        } else {
                            for (ox, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
                                *d = src[ox * g.stride + kx - g.pad];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds column gradients `gcols` back onto the input gradient `gx` (`[ns][cin][h][w]`).
pub fn col2im(gcols: &[f32], ns: usize, g: &ConvGeom, gx: &mut [f32]) {
    let (oh, ow) = out_hw(g);
    let p = oh * ow;
    let j_len = ns * p;
    let in_len = g.cin * g.h * g.w;
    for ci in 0..g.cin {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let t = (ci * g.kh + ky) * g.kw + kx;
                let row = &gcols[t * j_len..(t + 1) * j_len];
                let (lo, hi) = valid_cols(ow, g.w, kx, g.stride, g.pad);
                for s in 0..ns {
                    let plane = &mut gx[s * in_len + ci * g.h * g.w..][..g.h * g.w];
                    for oy in 0..oh {
                        let y = (oy * g.stride + ky) as isize - g.pad as isize;
                        if y < 0 || y >= g.h as isize {
                            continue;
                        }
                        let src = &row[s * p + oy * ow..][..ow];
                        let dst = &mut plane[y as usize * g.w..][..g.w];
                        if g.stride == 1 {
                            let x0 = lo + kx - g.pad;
                            for (d, v) in dst[x0..x0 + hi - lo].iter_mut().zip(&src[lo..hi]) {
                                *d += v;
                            }
                        } else {
                            for (ox, v) in src.iter().enumerate().take(hi).skip(lo) {
                                dst[ox * g.stride + kx - g.pad] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Dot product with eight independent partial sums (vectorisable, fixed order).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    acc.iter().sum::<f32>() + s
}

/// Sum with eight independent partial sums.
pub fn sum(a: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut c = a.chunks_exact(8);
    for x in &mut c {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    acc.iter().sum::<f32>() + c.remainder().iter().sum::<f32>()
}

/// Taps are processed in blocks of four so that each output row is loaded and stored once per
/// block rather than once per tap.
const TB: usize = 4;

/// Linear convolution (shift and multiply layers): `out[co] = sum_t w[co, t] * cols[t]`.
pub fn linear_fwd(w: &[f32], cols: &[f32], taps: usize, out: &mut [f32]) {
    let j_len = cols.len() / taps;
    let row = |t: usize| &cols[t * j_len..(t + 1) * j_len];
    for (co, o) in out.chunks_exact_mut(j_len).enumerate() {
        o.fill(0.0);
        let wr = &w[co * taps..(co + 1) * taps];
        let full = taps / TB * TB;
        for t in (0..full).step_by(TB) {
            let (w0, w1, w2, w3) = (wr[t], wr[t + 1], wr[t + 2], wr[t + 3]);
            let (c0, c1, c2, c3) = (row(t), row(t + 1), row(t + 2), row(t + 3));
            for j in 0..j_len {
                o[j] += w0 * c0[j] + w1 * c1[j] + w2 * c2[j] + w3 * c3[j];
            }
        }
        for (t, &wt) in wr.iter().enumerate().skip(full) {
            let c = row(t);
            for (o, c) in o.iter_mut().zip(c) {
                *o += wt * c;
            }
        }
    }
}

/// Adder convolution: `out[co] = -sum_t |cols[t] - w[co, t]|`.
pub fn adder_fwd(w: &[f32], cols: &[f32], taps: usize, out: &mut [f32]) {
    let j_len = cols.len() / taps;
    let row = |t: usize| &cols[t * j_len..(t + 1) * j_len];
    for (co, o) in out.chunks_exact_mut(j_len).enumerate() {
        o.fill(0.0);
        let wr = &w[co * taps..(co + 1) * taps];
        let full = taps / TB * TB;
        for t in (0..full).step_by(TB) {
            let (w0, w1, w2, w3) = (wr[t], wr[t + 1], wr[t + 2], wr[t + 3]);
            let (c0, c1, c2, c3) = (row(t), row(t + 1), row(t + 2), row(t + 3));
            for j in 0..j_len {
                o[j] -= (c0[j] - w0).abs()
                    + (c1[j] - w1).abs()
                    + (c2[j] - w2).abs()
                    + (c3[j] - w3).abs();
            }
        }
        for (t, &wt) in wr.iter().enumerate().skip(full) {
            let c = row(t);
            for (o, c) in o.iter_mut().zip(c) {
                *o -= (c - wt).abs();
            }
        }
    }
}

/// Backward of [`linear_fwd`]: adds `dL/dw` to `gw`; writes `dL/dcols` to `gcols` when given.
pub fn linear_bwd(
    w: &[f32],
    cols: &[f32],
    g: &[f32],
    taps: usize,
    gw: &mut [f32],
    gcols: Option<&mut [f32]>,
) {
    let j_len = cols.len() / taps;
    let cout = g.len() / j_len;
    let grow = |co: usize| &g[co * j_len..(co + 1) * j_len];
    for co in 0..cout {
        let gr = grow(co);
        for t in 0..taps {
            gw[co * taps + t] += dot(gr, &cols[t * j_len..(t + 1) * j_len]);
        }
    }
    if let Some(gcols) = gcols {
        let full = cout / TB * TB;
        for t in 0..taps {
            let r = &mut gcols[t * j_len..(t + 1) * j_len];
            r.fill(0.0);
            let wt = |co: usize| w[co * taps + t];
            for co in (0..full).step_by(TB) {
                let (w0, w1, w2, w3) = (wt(co), wt(co + 1), wt(co + 2), wt(co + 3));
                let (g0, g1, g2, g3) = (grow(co), grow(co + 1), grow(co + 2), grow(co + 3));
                for j in 0..j_len {
                    r[j] += w0 * g0[j] + w1 * g1[j] + w2 * g2[j] + w3 * g3[j];
                }
            }
            for co in full..cout {
                let (w0, g0) = (wt(co), grow(co));
                for (r, gv) in r.iter_mut().zip(g0) {
                    *r += w0 * gv;
                }
            }
        }
    }
}

/// Backward of [`adder_fwd`] with AdderNet's gradients (seed-notes.md §3): the full-precision
/// weight gradient `sum g * (x - w)` (added to `gw`, before the adaptive scale, which needs the
/// whole batch), and the input gradient `sum g * HardTanh(w - x)` (written to `gcols`).
pub fn adder_bwd(
    w: &[f32],
    cols: &[f32],
    g: &[f32],
    taps: usize,
    gw: &mut [f32],
    gcols: Option<&mut [f32]>,
) {
    let j_len = cols.len() / taps;
    let cout = g.len() / j_len;
    let grow = |co: usize| &g[co * j_len..(co + 1) * j_len];
    for co in 0..cout {
        let gr = grow(co);
        let gs = sum(gr);
        for t in 0..taps {
            // sum_j g_j (x_j - w) = sum_j g_j x_j - w sum_j g_j
            let wt = w[co * taps + t];
            gw[co * taps + t] += dot(gr, &cols[t * j_len..(t + 1) * j_len]) - wt * gs;
        }
    }
    if let Some(gcols) = gcols {
        let ht = |v: f32| v.clamp(-1.0, 1.0);
        let full = cout / TB * TB;
        for t in 0..taps {
            let r = &mut gcols[t * j_len..(t + 1) * j_len];
            r.fill(0.0);
            let c = &cols[t * j_len..(t + 1) * j_len];
            let wt = |co: usize| w[co * taps + t];
            for co in (0..full).step_by(TB) {
                let (w0, w1, w2, w3) = (wt(co), wt(co + 1), wt(co + 2), wt(co + 3));
                let (g0, g1, g2, g3) = (grow(co), grow(co + 1), grow(co + 2), grow(co + 3));
                for j in 0..j_len {
                    let x = c[j];
                    r[j] += g0[j] * ht(w0 - x)
                        + g1[j] * ht(w1 - x)
                        + g2[j] * ht(w2 - x)
                        + g3[j] * ht(w3 - x);
                }
            }
            for co in full..cout {
                let (w0, g0) = (wt(co), grow(co));
                for ((r, gv), x) in r.iter_mut().zip(g0).zip(c) {
                    *r += gv * ht(w0 - x);
                }
            }
        }
    }
}
