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
                        for (ox, d) in dst.iter_mut().enumerate() {
                            let xx = (ox * g.stride + kx) as isize - g.pad as isize;
                            *d = if xx < 0 || xx >= g.w as isize {
                                0.0
                            } else {
                                src[xx as usize]
                            };
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
                for s in 0..ns {
                    let plane = &mut gx[s * in_len + ci * g.h * g.w..][..g.h * g.w];
                    for oy in 0..oh {
                        let y = (oy * g.stride + ky) as isize - g.pad as isize;
                        if y < 0 || y >= g.h as isize {
                            continue;
                        }
                        let src = &row[s * p + oy * ow..][..ow];
                        let dst = &mut plane[y as usize * g.w..][..g.w];
                        for (ox, v) in src.iter().enumerate() {
                            let xx = (ox * g.stride + kx) as isize - g.pad as isize;
                            if xx >= 0 && (xx as usize) < g.w {
                                dst[xx as usize] += v;
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

/// Linear convolution (shift and multiply layers): `out[co] = sum_t w[co, t] * cols[t]`.
pub fn linear_fwd(w: &[f32], cols: &[f32], taps: usize, out: &mut [f32]) {
    let j_len = cols.len() / taps;
    for (co, o) in out.chunks_exact_mut(j_len).enumerate() {
        o.fill(0.0);
        let wr = &w[co * taps..(co + 1) * taps];
        for (t, &wt) in wr.iter().enumerate() {
            if wt == 0.0 {
                continue;
            }
            let c = &cols[t * j_len..(t + 1) * j_len];
            for (o, c) in o.iter_mut().zip(c) {
                *o += wt * c;
            }
        }
    }
}

/// Adder convolution: `out[co] = -sum_t |cols[t] - w[co, t]|`.
pub fn adder_fwd(w: &[f32], cols: &[f32], taps: usize, out: &mut [f32]) {
    let j_len = cols.len() / taps;
    for (co, o) in out.chunks_exact_mut(j_len).enumerate() {
        o.fill(0.0);
        let wr = &w[co * taps..(co + 1) * taps];
        for (t, &wt) in wr.iter().enumerate() {
            let c = &cols[t * j_len..(t + 1) * j_len];
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
    for co in 0..cout {
        let gr = &g[co * j_len..(co + 1) * j_len];
        for t in 0..taps {
            gw[co * taps + t] += dot(gr, &cols[t * j_len..(t + 1) * j_len]);
        }
    }
    if let Some(gcols) = gcols {
        for t in 0..taps {
            let row = &mut gcols[t * j_len..(t + 1) * j_len];
            row.fill(0.0);
            for co in 0..cout {
                let wt = w[co * taps + t];
                if wt == 0.0 {
                    continue;
                }
                let gr = &g[co * j_len..(co + 1) * j_len];
                for (r, gv) in row.iter_mut().zip(gr) {
                    *r += wt * gv;
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
    for co in 0..cout {
        let gr = &g[co * j_len..(co + 1) * j_len];
        let gs = sum(gr);
        for t in 0..taps {
            // sum_j g_j (x_j - w) = sum_j g_j x_j - w sum_j g_j
            let wt = w[co * taps + t];
            gw[co * taps + t] += dot(gr, &cols[t * j_len..(t + 1) * j_len]) - wt * gs;
        }
    }
    if let Some(gcols) = gcols {
        for t in 0..taps {
            let row = &mut gcols[t * j_len..(t + 1) * j_len];
            row.fill(0.0);
            let c = &cols[t * j_len..(t + 1) * j_len];
            for co in 0..cout {
                let wt = w[co * taps + t];
                let gr = &g[co * j_len..(co + 1) * j_len];
                for ((r, gv), x) in row.iter_mut().zip(gr).zip(c) {
                    *r += gv * (wt - x).clamp(-1.0, 1.0);
                }
            }
        }
    }
}
