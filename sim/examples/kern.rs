use shiftadd_sim::layers::*;
use std::time::Instant;
fn main() {
    let g = ConvGeom {
        cin: 16,
        h: 32,
        w: 32,
        cout: 16,
        kh: 3,
        kw: 3,
        stride: 1,
        pad: 1,
    };
    let x = Tensor {
        c: 16,
        h: 32,
        w: 32,
        data: (0..16 * 32 * 32)
            .map(|i| ((i * 7919) % 200000) as i32 - 100000)
            .collect(),
    };
    let sign: Vec<i8> = (0..g.weight_len())
        .map(|i| ((i * 31) % 3) as i8 - 1)
        .collect();
    let m: Vec<u8> = (0..g.weight_len())
        .map(|i| ((i * 17) % 6) as u8 + 2)
        .collect();
    let codes: Vec<i32> = (0..g.weight_len())
        .map(|i| ((i * 13) % 200) as i32 - 100)
        .collect();
    let xa = Tensor {
        c: 16,
        h: 32,
        w: 32,
        data: x.data.iter().map(|v| v / 512).collect(),
    };
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(shift_conv(&x, &g, &sign, &m, 14));
    }
    let s = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "shift {:.3} ms {:.2} Gop/s",
        s * 1e3,
        g.tap_ops() as f64 / s / 1e9
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(adder_conv(&xa, &g, &codes));
    }
    let s = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "adder {:.3} ms {:.2} Gop/s",
        s * 1e3,
        g.tap_ops() as f64 / s / 1e9
    );
}
// layer3-shaped run, for comparing cache behaviour
#[allow(dead_code)]
fn unused() {}
