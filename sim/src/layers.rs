//! Bit-exact layers of `shared/spec/numerics.md`: shift, adder and multiply convolutions, the
//! hand-off onto the adder grid, post-processing, pooling and the classifier.
//!
//! Convolutions first lay the input out per chunk of output positions and per tap (see
//! [`Columns`]), so the inner loops are plain element-wise sums over slices, which the compiler
//! vectorises (AVX2 with the workspace's target settings). Lanes are 32 bits wide when
//! the layer's actual codes bound every partial sum below 2^31, else 64 bits; the result is exact
//! either way. Fully-connected layers are 1x1 convolutions of a flattened input.

use crate::numerics::{floor_shr, rne_shr, sat, ActRange};

/// A `[c, h, w]` tensor in row-major order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor<T> {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// `c * h * w` values.
    pub data: Vec<T>,
}

impl<T: Copy + Default> Tensor<T> {
    /// A zero tensor.
    pub fn zeros(c: usize, h: usize, w: usize) -> Self {
        Tensor {
            c,
            h,
            w,
            data: vec![T::default(); c * h * w],
        }
    }
    /// `[c, h, w]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.c, self.h, self.w]
    }
    /// Value at channel `c`, row `y`, column `x`.
    pub fn at(&self, c: usize, y: usize, x: usize) -> T {
        self.data[(c * self.h + y) * self.w + x]
    }
}

/// Geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding (both axes, both sides).
    pub pad: usize,
}

impl ConvGeom {
    /// Output height `(h + 2 pad - kh) / stride + 1`, or `None` when the output is empty.
    pub fn out_h(&self) -> Option<usize> {
        out_dim(self.h, self.kh, self.stride, self.pad)
    }
    /// Output width, or `None` when the output is empty.
    pub fn out_w(&self) -> Option<usize> {
        out_dim(self.w, self.kw, self.stride, self.pad)
    }
    /// Taps summed into one output: `cin * kh * kw`.
    pub fn taps(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    /// Weights: `cout * cin * kh * kw`.
    pub fn weight_len(&self) -> usize {
        self.cout * self.taps()
    }
    /// Tap operations of the whole layer: outputs times taps.
    pub fn tap_ops(&self) -> u64 {
        match (self.out_h(), self.out_w()) {
            (Some(oh), Some(ow)) => (self.cout * oh * ow * self.taps()) as u64,
            _ => 0,
        }
    }
    /// Checks every size against the limits below and that the output is not empty; the error
    /// names the field (`in_shape`, `out_channels`, `kernel`, `stride`, `pad`).
    pub fn check(&self) -> Result<(), GeomError> {
        let err = |field: &'static str, what: String| Err(GeomError { field, what });
        for (field, name, v, max) in [
            ("in_shape", "input channels", self.cin, MAX_DIM),
            ("in_shape", "input height", self.h, MAX_DIM),
            ("in_shape", "input width", self.w, MAX_DIM),
            ("out_channels", "output channels", self.cout, MAX_DIM),
            ("kernel", "kernel height", self.kh, MAX_KERNEL),
            ("kernel", "kernel width", self.kw, MAX_KERNEL),
            ("stride", "stride", self.stride, MAX_STRIDE),
        ] {
            if v == 0 || v > max {
                return err(field, format!("{name} {v} is outside 1..={max}"));
            }
        }
        if self.pad > MAX_PAD {
            return err(
                "pad",
                format!("padding {} is above the limit {MAX_PAD}", self.pad),
            );
        }
        let (Some(oh), Some(ow)) = (self.out_h(), self.out_w()) else {
            return err(
                "kernel",
                format!(
                    "kernel {}x{} with pad {} does not fit the {}x{} input: the output would be empty",
                    self.kh, self.kw, self.pad, self.h, self.w
                ),
            );
        };
        if self.taps() > MAX_TAPS {
            return err(
                "kernel",
                format!(
                    "{} taps per output (cin x kh x kw) exceed the limit {MAX_TAPS}",
                    self.taps()
                ),
            );
        }
        for (field, what, n) in [
            ("in_shape", "input values", self.cin * self.h * self.w),
            ("out_channels", "output values", self.cout * oh * ow),
            ("kernel", "weights", self.weight_len()),
        ] {
            if n > MAX_VALUES {
                return err(field, format!("{n} {what} exceed the limit {MAX_VALUES}"));
            }
        }
        Ok(())
    }
}

/// Largest channel count, height or width of a tensor.
pub const MAX_DIM: usize = 1 << 16;
/// Largest kernel side.
pub const MAX_KERNEL: usize = 64;
/// Largest stride.
pub const MAX_STRIDE: usize = 64;
/// Largest zero padding.
pub const MAX_PAD: usize = 64;
/// Largest number of taps summed into one output.
pub const MAX_TAPS: usize = 1 << 18;
/// Largest number of values of one tensor (input, output or weights).
pub const MAX_VALUES: usize = 1 << 26;
/// Largest number of nodes of a network graph.
pub const MAX_NODES: usize = 1 << 16;

/// A convolution geometry outside the supported limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeomError {
    /// The field: `in_shape`, `out_channels`, `kernel`, `stride` or `pad`.
    pub field: &'static str,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for GeomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

fn out_dim(n: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = n + 2 * pad;
    if stride == 0 || padded < k {
        None
    } else {
        Some((padded - k) / stride + 1)
    }
}

/// Accumulator lane of the vectorised kernels.
trait Lane: Copy + Default + Send + Sync {
    fn from_i64(v: i64) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn shl(self, n: u32) -> Self;
    fn abs_diff_lane(self, o: Self) -> Self;
    fn to_i64(self) -> i64;
}

// Wrapping operations: the lane choice guarantees no partial sum leaves the lane, and wrapping
// keeps debug builds vectorisable.
macro_rules! impl_lane {
    ($t:ty) => {
        impl Lane for $t {
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline(always)]
            fn shl(self, n: u32) -> Self {
                self.wrapping_shl(n)
            }
            #[inline(always)]
            fn abs_diff_lane(self, o: Self) -> Self {
                self.wrapping_sub(o).wrapping_abs()
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
        }
    };
}
impl_lane!(i32);
impl_lane!(i64);

/// Output positions computed per inner-loop pass; the accumulators stay in registers.
const CHUNK: usize = 32;

/// The input of one convolution seen per chunk of `CHUNK` output positions: for every tap in
/// weight order, the chunk's `CHUNK` input values side by side (zero where the tap falls in the
/// padding). A chunk's block is built once into a buffer that stays in cache while every output
/// channel sums over it, so the inner loops are element-wise sums over contiguous rows that the
/// compiler vectorises, with no wasted positions.
struct Columns<'a, S> {
    x: &'a [S],
    g: ConvGeom,
    out_w: usize,
    /// Output positions per channel.
    positions: usize,
    /// Output columns whose tap `kx` reads inside the input, per `kx`.
    ranges: Vec<(usize, usize)>,
}

impl<'a, S: Copy + Into<i64>> Columns<'a, S> {
    fn new(x: &'a [S], g: &ConvGeom) -> Self {
        let (oh, ow) = (
            g.out_h().expect("checked geometry"),
            g.out_w().expect("checked geometry"),
        );
        let ranges = (0..g.kw)
            .map(|kx| {
                let lo = g.pad.saturating_sub(kx).div_ceil(g.stride);
                let hi = (g.w + g.pad).saturating_sub(kx).div_ceil(g.stride).min(ow);
                (lo, hi.max(lo))
            })
            .collect();
        Columns {
            x,
            g: *g,
            out_w: ow,
            positions: oh * ow,
            ranges,
        }
    }

    /// Writes chunk `c`'s block (`taps * CHUNK` values, zeroed by the caller).
    fn fill<L: Lane>(&self, c: usize, block: &mut [L]) {
        let (g, ow) = (&self.g, self.out_w);
        let (start, end) = (c * CHUNK, ((c + 1) * CHUNK).min(self.positions));
        // Every output row the chunk touches, with the chunk's part of it.
        let mut oy = start / ow;
        while oy * ow < end {
            let row0 = oy * ow;
            let (seg_lo, seg_hi) = (row0.max(start) - row0, ((oy + 1) * ow).min(end) - row0);
            let mut t = 0;
            for ci in 0..g.cin {
                let plane = &self.x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
                for ky in 0..g.kh {
                    let py = oy * g.stride + ky;
                    let row_ok = py >= g.pad && py - g.pad < g.h;
                    for (kx, &(lo, hi)) in self.ranges.iter().enumerate() {
                        let (lo, hi) = (lo.max(seg_lo), hi.min(seg_hi));
                        if row_ok && lo < hi {
                            let src = &plane[(py - g.pad) * g.w..(py - g.pad + 1) * g.w];
                            // row0 + lo >= start: the segment lies inside the chunk.
                            let base = t * CHUNK + (row0 + lo - start);
                            let dst = &mut block[base..base + (hi - lo)];
                            let first = lo * g.stride + kx - g.pad;
                            if g.stride == 1 {
                                for (d, v) in dst.iter_mut().zip(&src[first..]) {
                                    *d = L::from_i64((*v).into());
                                }
                            } else {
                                for (d, v) in
                                    dst.iter_mut().zip(src[first..].iter().step_by(g.stride))
                                {
                                    *d = L::from_i64((*v).into());
                                }
                            }
                        }
                        t += 1;
                    }
                }
            }
            oy += 1;
        }
    }

    /// Runs `chunk(co, block)` for every chunk and output channel, writing the valid positions.
    /// Chunks are the outer loop so that one chunk's block stays in cache across all channels.
    fn collect<L: Lane, R: Lane>(
        &self,
        out: &mut [i64],
        mut chunk: impl FnMut(usize, &[[L; CHUNK]]) -> [R; CHUNK],
    ) {
        let taps = self.g.taps();
        let mut buf = vec![L::default(); taps * CHUNK];
        for c in 0..self.positions.div_ceil(CHUNK) {
            buf.fill(L::default());
            self.fill(c, &mut buf);
            let (block, _) = buf.as_chunks::<CHUNK>();
            let start = c * CHUNK;
            let valid = CHUNK.min(self.positions - start);
            for co in 0..self.g.cout {
                let acc = chunk(co, block);
                let dst =
                    &mut out[co * self.positions + start..co * self.positions + start + valid];
                for (d, a) in dst.iter_mut().zip(&acc) {
                    *d = a.to_i64();
                }
            }
        }
    }
}

fn max_abs<S: Copy + Into<i64>>(x: &[S]) -> u64 {
    x.iter()
        .map(|v| (*v).into().unsigned_abs())
        .max()
        .unwrap_or(0)
}

fn fits_i32_lanes(bound: u128) -> bool {
    bound <= i32::MAX as u128
}

/// Shift convolution: `acc = sum s * (X << (pmax - m))`, units `2^-(act_frac + pmax)`, exact.
/// Weights are `[cout, cin, kh, kw]`; `sign` in {-1, 0, 1}, `m` in `0..=pmax` (checked by the
/// callers that read user input).
pub fn shift_conv(x: &Tensor<i32>, g: &ConvGeom, sign: &[i8], m: &[u8], pmax: u32) -> Tensor<i64> {
    assert_eq!(x.shape(), [g.cin, g.h, g.w], "shift_conv input shape");
    assert_eq!(sign.len(), g.weight_len(), "shift_conv sign length");
    assert_eq!(m.len(), g.weight_len(), "shift_conv m length");
    let max_x = max_abs(&x.data) as u128;
    let max_sh = m
        .iter()
        .zip(sign)
        .filter(|(_, s)| **s != 0)
        .map(|(m, _)| pmax.saturating_sub(*m as u32))
        .max()
        .unwrap_or(0);
    if fits_i32_lanes(g.taps() as u128 * (max_x << max_sh)) {
        shift_conv_lanes::<i32>(x, g, sign, m, pmax)
    } else if fits_i32_lanes(g.taps() as u128 * max_x) {
        shift_conv_grouped(x, g, sign, m, pmax)
    } else {
        shift_conv_lanes::<i64>(x, g, sign, m, pmax)
    }
}

/// Shift amount, positive taps and negative taps of one output channel.
type ShiftGroup = (u32, Vec<usize>, Vec<usize>);

/// `(tap, shift)` of the positive and of the negative taps of one output channel.
type SignedTaps = (Vec<(usize, u32)>, Vec<(usize, u32)>);

/// Taps of one output channel with the same shift: `acc = sum_sh (sum_pos X - sum_neg X) << sh`.
/// The inner sums need only `act_bits + log2(taps)` bits, so they run in 32-bit lanes whenever
/// the layer's codes allow, and only the (at most pmax + 1) group sums are widened and shifted.
fn shift_conv_grouped(
    x: &Tensor<i32>,
    g: &ConvGeom,
    sign: &[i8],
    m: &[u8],
    pmax: u32,
) -> Tensor<i64> {
    let cols = Columns::new(&x.data, g);
    let k = g.taps();
    // Per output channel: (shift, positive taps, negative taps) per shift in use.
    let groups: Vec<Vec<ShiftGroup>> = (0..g.cout)
        .map(|co| {
            let mut grp: Vec<ShiftGroup> =
                (0..=pmax).map(|sh| (sh, Vec::new(), Vec::new())).collect();
            for t in 0..k {
                let entry = &mut grp[(pmax - m[co * k + t] as u32) as usize];
                match sign[co * k + t] {
                    1 => entry.1.push(t),
                    -1 => entry.2.push(t),
                    _ => {}
                }
            }
            grp.retain(|(_, p, n)| !p.is_empty() || !n.is_empty());
            grp
        })
        .collect();
    let mut out = Tensor::zeros(g.cout, g.out_h().unwrap_or(0), g.out_w().unwrap_or(0));
    cols.collect(&mut out.data, |co, block: &[[i32; CHUNK]]| {
        let mut acc = [0i64; CHUNK];
        for (sh, pos, neg) in &groups[co] {
            let mut part = [0i32; CHUNK];
            for &t in pos {
                let src = &block[t];
                for j in 0..CHUNK {
                    part[j] = part[j].wrapping_add(src[j]);
                }
            }
            for &t in neg {
                let src = &block[t];
                for j in 0..CHUNK {
                    part[j] = part[j].wrapping_sub(src[j]);
                }
            }
            for j in 0..CHUNK {
                acc[j] = acc[j].wrapping_add((part[j] as i64).wrapping_shl(*sh));
            }
        }
        acc
    });
    out
}

fn shift_conv_lanes<L: Lane>(
    x: &Tensor<i32>,
    g: &ConvGeom,
    sign: &[i8],
    m: &[u8],
    pmax: u32,
) -> Tensor<i64> {
    let cols = Columns::new(&x.data, g);
    let k = g.taps();
    // Per output channel: (tap, shift) of the positive and of the negative taps.
    let taps: Vec<SignedTaps> = (0..g.cout)
        .map(|co| {
            let (mut pos, mut neg) = (Vec::new(), Vec::new());
            for t in 0..k {
                let sh = pmax - m[co * k + t] as u32;
                match sign[co * k + t] {
                    1 => pos.push((t, sh)),
                    -1 => neg.push((t, sh)),
                    _ => {}
                }
            }
            (pos, neg)
        })
        .collect();
    let mut out = Tensor::zeros(g.cout, g.out_h().unwrap_or(0), g.out_w().unwrap_or(0));
    cols.collect(&mut out.data, |co, block: &[[L; CHUNK]]| {
        let mut acc = [L::default(); CHUNK];
        for &(t, sh) in &taps[co].0 {
            let src = &block[t];
            for j in 0..CHUNK {
                acc[j] = acc[j].add(src[j].shl(sh));
            }
        }
        for &(t, sh) in &taps[co].1 {
            let src = &block[t];
            for j in 0..CHUNK {
                acc[j] = acc[j].sub(src[j].shl(sh));
            }
        }
        acc
    });
    out
}

/// Adder convolution on adder-grid codes: `y = -sum |Xa - Wa|`, units `2^-add_frac`. Padded taps
/// use `Xa = 0` and so add `|Wa|`. Weights are `[cout, cin, kh, kw]` adder-grid codes.
pub fn adder_conv(xa: &Tensor<i64>, g: &ConvGeom, w: &[i64]) -> Tensor<i64> {
    assert_eq!(xa.shape(), [g.cin, g.h, g.w], "adder_conv input shape");
    assert_eq!(w.len(), g.weight_len(), "adder_conv weight length");
    let diff = max_abs(&xa.data) as u128 + max_abs(w) as u128;
    let mut out = if fits_i32_lanes(diff * g.taps() as u128) {
        weighted_conv::<i32, _>(xa, g, w, |x, wv| x.abs_diff_lane(wv))
    } else {
        weighted_conv::<i64, _>(xa, g, w, |x, wv| x.abs_diff_lane(wv))
    };
    for v in &mut out.data {
        *v = -*v;
    }
    out
}

/// Multiply-baseline convolution: `acc = sum X * Wm`, units `2^-(act_frac + mul_frac)`.
pub fn mult_conv(x: &Tensor<i32>, g: &ConvGeom, w: &[i32]) -> Tensor<i64> {
    assert_eq!(x.shape(), [g.cin, g.h, g.w], "mult_conv input shape");
    assert_eq!(w.len(), g.weight_len(), "mult_conv weight length");
    let bound = g.taps() as u128 * max_abs(&x.data) as u128 * max_abs(w) as u128;
    if fits_i32_lanes(bound) {
        weighted_conv::<i32, _>(x, g, w, |x, wv| x.mul(wv))
    } else {
        weighted_conv::<i64, _>(x, g, w, |x, wv| x.mul(wv))
    }
}

/// `acc = sum term(X, W)` over every tap, in weight order.
fn weighted_conv<L: Lane, S: Copy + Into<i64>>(
    x: &Tensor<S>,
    g: &ConvGeom,
    w: &[S],
    term: impl Fn(L, L) -> L + Copy,
) -> Tensor<i64> {
    let cols = Columns::new(&x.data, g);
    let k = g.taps();
    let weights: Vec<L> = w.iter().map(|v| L::from_i64((*v).into())).collect();
    let mut out = Tensor::zeros(g.cout, g.out_h().unwrap_or(0), g.out_w().unwrap_or(0));
    cols.collect(&mut out.data, |co, block: &[[L; CHUNK]]| {
        let mut acc = [L::default(); CHUNK];
        for (src, &wv) in block.iter().zip(&weights[co * k..(co + 1) * k]) {
            for j in 0..CHUNK {
                acc[j] = acc[j].add(term(src[j], wv));
            }
        }
        acc
    });
    out
}

/// Post-processing parameters of one layer (numerics.md): `z = floor_shr(M_c * v + B_c, S)`.
#[derive(Clone, Copy, Debug)]
pub struct Post<'a> {
    /// `M_c` per output channel.
    pub m: &'a [i64],
    /// `B_c` per output channel.
    pub b: &'a [i64],
    /// `S`.
    pub s: u32,
    /// Whether ReLU follows.
    pub relu: bool,
}

/// The affine step before residual, ReLU and saturation: `floor_shr(M_c * v + B_c, S)`.
#[inline]
pub fn post_affine(v: i64, m: i64, b: i64, s: u32) -> i128 {
    // |M*v| < 2^126 and |B| < 2^63: the sum fits i128.
    floor_shr(m as i128 * v as i128 + b as i128, s as i32)
}

/// Post-processing into activation codes: affine, `+ R` if a residual joins, ReLU if asked,
/// `sat_act`. Returns the codes and the number of saturated values.
pub fn post_process(
    v: &Tensor<i64>,
    post: &Post,
    residual: Option<&Tensor<i32>>,
    act: ActRange,
) -> (Tensor<i32>, u64) {
    assert_eq!(post.m.len(), v.c, "post m length");
    assert_eq!(post.b.len(), v.c, "post b length");
    if let Some(r) = residual {
        assert_eq!(r.shape(), v.shape(), "residual shape");
    }
    let plane = v.h * v.w;
    let mut saturated = 0u64;
    let data = v
        .data
        .iter()
        .enumerate()
        .map(|(i, &val)| {
            let c = i / plane;
            let mut z = post_affine(val, post.m[c], post.b[c], post.s);
            if let Some(r) = residual {
                z += r.data[i] as i128;
            }
            if post.relu {
                z = z.max(0);
            }
            let (code, hit) = act.sat(z);
            saturated += hit as u64;
            code as i32
        })
        .collect();
    (
        Tensor {
            c: v.c,
            h: v.h,
            w: v.w,
            data,
        },
        saturated,
    )
}

/// The classifier's post-processing: the affine step (and ReLU if asked), kept wide, never
/// saturated. These are the logits.
pub fn post_logits(v: &Tensor<i64>, post: &Post) -> Vec<i128> {
    assert_eq!(post.m.len(), v.c, "post m length");
    let plane = v.h * v.w;
    v.data
        .iter()
        .enumerate()
        .map(|(i, &val)| {
            let z = post_affine(val, post.m[i / plane], post.b[i / plane], post.s);
            if post.relu {
                z.max(0)
            } else {
                z
            }
        })
        .collect()
}

/// The hand-off into an adder layer: `Xa = sat_add(rne_shr(v, f_v - add_frac))`. Returns the
/// codes and the number of saturated values.
pub fn handoff_to_adder<T: Copy + Into<i64>>(
    v: &Tensor<T>,
    f_v: u32,
    add_frac: u32,
    add_bits: u32,
) -> (Tensor<i64>, u64) {
    let n = f_v as i32 - add_frac as i32;
    let mut saturated = 0u64;
    let data = v
        .data
        .iter()
        .map(|&x| {
            let (code, hit) = sat(rne_shr(x.into() as i128, n), add_bits);
            saturated += hit as u64;
            code
        })
        .collect();
    (
        Tensor {
            c: v.c,
            h: v.h,
            w: v.w,
            data,
        },
        saturated,
    )
}

/// A layer output without batch norm that feeds anything but an adder layer:
/// `sat_act(floor_shr(v, f_v - act_frac))`. Returns the codes and the number saturated.
pub fn round_to_act(v: &Tensor<i64>, f_v: u32, act_frac: u32, act: ActRange) -> (Tensor<i32>, u64) {
    let n = f_v as i32 - act_frac as i32;
    let mut saturated = 0u64;
    let data = v
        .data
        .iter()
        .map(|&x| {
            let (code, hit) = act.sat(floor_shr(x as i128, n));
            saturated += hit as u64;
            code as i32
        })
        .collect();
    (
        Tensor {
            c: v.c,
            h: v.h,
            w: v.w,
            data,
        },
        saturated,
    )
}

/// Pooled size in floor mode with window = stride = `k`.
pub fn pool_out(n: usize, k: usize) -> usize {
    n / k
}

/// Max pooling: exact maximum, window equals stride, floor mode.
pub fn max_pool(x: &Tensor<i32>, k: usize) -> Tensor<i32> {
    let (oh, ow) = (pool_out(x.h, k), pool_out(x.w, k));
    let mut out = Tensor::zeros(x.c, oh, ow);
    for c in 0..x.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = i32::MIN;
                for dy in 0..k {
                    for dx in 0..k {
                        best = best.max(x.at(c, oy * k + dy, ox * k + dx));
                    }
                }
                out.data[(c * oh + oy) * ow + ox] = best;
            }
        }
    }
    out
}

/// Average pooling: `floor_shr(sum, log2(k*k))`, window equals stride, floor mode. `k*k` must be
/// a power of two (the capability check refuses other windows before anything runs).
pub fn avg_pool(x: &Tensor<i32>, k: usize) -> Tensor<i32> {
    let n = k * k;
    assert!(
        n.is_power_of_two(),
        "average pooling window {k}x{k} is not a power of two"
    );
    let shift = n.trailing_zeros() as i32;
    let (oh, ow) = (pool_out(x.h, k), pool_out(x.w, k));
    let mut out = Tensor::zeros(x.c, oh, ow);
    for c in 0..x.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut sum = 0i128;
                for dy in 0..k {
                    for dx in 0..k {
                        sum += x.at(c, oy * k + dy, ox * k + dx) as i128;
                    }
                }
                // The mean of codes is a code: no saturation possible.
                out.data[(c * oh + oy) * ow + ox] = floor_shr(sum, shift) as i32;
            }
        }
    }
    out
}

/// Index of the largest logit, the lowest index on ties.
pub fn argmax(logits: &[i128]) -> usize {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best
}
