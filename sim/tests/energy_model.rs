//! The energy model: counts of a small graph against plain loops written here, counts against what
//! the reference model counts when it runs, the table file, interpolation and the published
//! compute ratios of energy.md.

use shiftadd_sim::archs;
use shiftadd_sim::cycles::{layer_accesses, Accesses};
use shiftadd_sim::energy::{count_graph, total, EnergyTable, LayerCounts, Units, DEFAULT_TABLE};
use shiftadd_sim::engine::{Descriptor, LayerOp, OutputMode};
use shiftadd_sim::net::{ConvKind, ConvOutput, Graph, InputShape, Node, Op};
use shiftadd_sim::random::{random_image, random_model};
use shiftadd_sim::spec::{presets, AccelConfig};

/// A square convolution node.
#[allow(clippy::too_many_arguments)]
fn conv(
    name: &str,
    input: &str,
    kind: ConvKind,
    cout: usize,
    k: usize,
    s: usize,
    p: usize,
    out: ConvOutput,
) -> Node {
    Node {
        name: name.into(),
        input: input.into(),
        op: Op::Conv {
            kind,
            out_channels: cout,
            kernel: [k, k],
            stride: s,
            pad: p,
            output: out,
        },
    }
}

/// 3x5x5 input; shift 3x3 pad 1 stride 2 -> handoff; adder 3x3 pad 1 -> post with residual of
/// an earlier post layer; avg pool 2; flatten; a multiply classifier.
fn tiny() -> Graph {
    let post = |r: Option<&str>| ConvOutput::Post {
        relu: true,
        residual: r.map(String::from),
    };
    Graph {
        arch: "tiny".into(),
        input: InputShape {
            channels: 3,
            height: 5,
            width: 5,
        },
        classes: 4,
        nodes: vec![
            conv("a", "input", ConvKind::Mult, 5, 3, 2, 1, post(None)),
            conv("b", "a", ConvKind::Shift, 5, 3, 1, 1, ConvOutput::Handoff),
            conv("c", "b", ConvKind::Adder, 5, 3, 1, 1, post(Some("a"))),
            Node {
                name: "pool".into(),
                input: "c".into(),
                op: Op::AvgPool { k: 2 },
            },
            Node {
                name: "flat".into(),
                input: "pool".into(),
                op: Op::Flatten,
            },
            conv("fc", "flat", ConvKind::Mult, 4, 1, 1, 0, ConvOutput::Logits),
        ],
    }
}

/// Naive count of one convolution: every (output channel, output pixel, input channel, tap).
fn naive_taps(
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    k: usize,
    s: usize,
    p: usize,
) -> (u64, usize, usize) {
    let oh = (h + 2 * p - k) / s + 1;
    let ow = (w + 2 * p - k) / s + 1;
    let mut n = 0u64;
    for _co in 0..cout {
        for _y in 0..oh {
            for _x in 0..ow {
                for _ci in 0..cin {
                    for _ky in 0..k {
                        for _kx in 0..k {
                            n += 1;
                        }
                    }
                }
            }
        }
    }
    (n, oh, ow)
}

/// Naive cycle count: walk the loops of the array, one cycle per (pixel, tap, column tile, row tile).
fn naive_cycles(cin: usize, cout: usize, oh: usize, ow: usize, k: usize, cfg: &AccelConfig) -> u64 {
    let mut cycles = 0u64;
    let mut row_tiles = 0u64;
    let mut co = 0;
    while co < cout {
        row_tiles += 1;
        co += cfg.rows as usize;
    }
    for _pix in 0..oh * ow {
        for _tap in 0..k * k {
            let mut ci = 0;
            while ci < cin {
                cycles += row_tiles;
                ci += cfg.cols as usize;
            }
        }
    }
    // The engine's pipeline around the issued taps: START, buffer read, array (2), post (2),
    // write (sim::cycles; the RTL's CYCLES register equals it in co-simulation).
    cycles + 7
}

/// Buffer words of one layer on `cfg`, walking the engine's loops one issued tap at a time: per
/// output-channel tile, output pixel, input-channel tile (convolutions) and kernel tap, every
/// weight lane reads a word, and every column reads one when the tap is inside the input; per
/// output-channel tile and pixel, every row writes a word, reads its residual (residual layers)
/// and its `M_c, B_c` pair (post and logits layers).
fn naive_accesses(cfg: &AccelConfig, d: &Descriptor) -> Accesses {
    let conv = matches!(d.op, LayerOp::Conv(_));
    let (residual, post) = match d.output {
        OutputMode::Post { residual, .. } => (residual, true),
        OutputMode::Logits { .. } => (false, true),
        _ => (false, false),
    };
    let (rows, cols) = (u64::from(cfg.rows), u64::from(cfg.cols));
    let out_c = if conv { d.cout } else { d.cin };
    let (oh, ow) = if conv {
        (
            (d.h + 2 * d.pad - d.kh) / d.stride + 1,
            (d.w + 2 * d.pad - d.kw) / d.stride + 1,
        )
    } else {
        (d.h / d.kh, d.w / d.kw)
    };
    let mut a = Accesses::default();
    let mut co = 0;
    while co < out_c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut ci = 0;
                while ci < if conv { d.cin } else { 1 } {
                    for ky in 0..d.kh {
                        for kx in 0..d.kw {
                            if conv {
                                a.weight_reads += rows * cols;
                            }
                            let (y, x) = (oy * d.stride + ky, ox * d.stride + kx);
                            if y >= d.pad && y < d.h + d.pad && x >= d.pad && x < d.w + d.pad {
                                a.act_reads += cols;
                            }
                        }
                    }
                    ci += cfg.cols;
                }
                a.out_writes += rows;
                if conv && residual {
                    a.res_reads += rows;
                }
                if conv && post {
                    a.post_reads += rows;
                }
            }
        }
        co += cfg.rows;
    }
    a
}

#[test]
fn accesses_walk_the_engines_loops() {
    // Worked example: tiny's layer a on 4 rows x 2 columns (3 -> 5 channels, 5x5, 3x3 stride 2
    // pad 1, post). Per axis, the 3 outputs see 2, 3 and 2 taps inside the input: 49 of 81 per
    // pixel walk; 2 x 2 tiles; 2 columns each. 2 x 2 x 81 issued taps of 8 lanes. 9 pixels x 2
    // tiles x 4 rows written, each with its pair.
    let cfg = cfg4();
    let post = OutputMode::Post {
        relu: true,
        residual: false,
    };
    let a = Descriptor {
        output: post,
        ..Descriptor::shape(LayerOp::Conv(ConvKind::Mult), [3, 5, 5], 5, [3, 3], 2, 1)
    };
    let want = Accesses {
        act_reads: 4 * 49 * 2,
        res_reads: 0,
        weight_reads: 4 * 81 * 8,
        post_reads: 72,
        out_writes: 72,
    };
    assert_eq!(naive_accesses(&cfg, &a), want);
    assert_eq!(layer_accesses(&cfg, &a), want);
    // Every shape, padding, stride and output mode of a sweep, on two array sizes.
    let modes = [
        OutputMode::Handoff,
        OutputMode::Round,
        OutputMode::Logits { relu: false },
        OutputMode::Post {
            relu: false,
            residual: true,
        },
    ];
    let mut n = 0;
    for cfg in [cfg4(), presets::lean8()] {
        for (cin, cout, h, w) in [(1, 1, 1, 1), (3, 5, 5, 4), (17, 9, 6, 7), (16, 32, 8, 8)] {
            for k in 1..=3 {
                for stride in 1..=2 {
                    for pad in 0..k {
                        for (m, &output) in modes.iter().enumerate() {
                            let kind = [ConvKind::Shift, ConvKind::Adder, ConvKind::Mult][m % 3];
                            let d = Descriptor {
                                output,
                                ..Descriptor::shape(
                                    LayerOp::Conv(kind),
                                    [cin, h, w],
                                    cout,
                                    [k, k],
                                    stride,
                                    pad,
                                )
                            };
                            if h + 2 * pad < k || w + 2 * pad < k {
                                continue;
                            }
                            assert_eq!(layer_accesses(&cfg, &d), naive_accesses(&cfg, &d), "{d:?}");
                            n += 1;
                        }
                    }
                }
                for op in [LayerOp::MaxPool, LayerOp::AvgPool] {
                    let d = Descriptor::shape(op, [cin, h, w], cin, [k, k], k, 0);
                    assert_eq!(layer_accesses(&cfg, &d), naive_accesses(&cfg, &d), "{d:?}");
                    n += 1;
                }
            }
        }
    }
    assert!(n > 300, "{n} layers");
}

fn cfg4() -> AccelConfig {
    AccelConfig {
        rows: 4,
        cols: 2,
        ..presets::seed()
    }
}

#[test]
fn tiny_graph_counts_by_hand() {
    let cfg = cfg4();
    let c = count_graph(&tiny(), &cfg, 32).unwrap();
    let by = |n: &str| c.iter().find(|l| l.name == n).unwrap().clone();
    // a: mult 3->5, 5x5 -> 3x3, post.
    let (ta, oh, ow) = naive_taps(3, 5, 5, 5, 3, 2, 1);
    assert_eq!((oh, ow), (3, 3));
    let a = by("a");
    assert_eq!(
        (a.taps, a.mults, a.adds, a.shifts),
        (ta, ta + 45, ta + 45, 0)
    );
    assert_eq!(a.cycles, naive_cycles(3, 5, 3, 3, 3, &cfg));
    // Buffer words as the engine walks the layer (accesses_walk_the_engines_loops).
    assert_eq!(
        (a.act_reads, a.weight_reads, a.post_reads, a.act_writes),
        (392, 2592, 72, 72)
    );
    // The 8-bit image, the 135 weights at 32 bits and 5 post pairs come from off-chip.
    assert_eq!(
        a.dram_read_bits,
        75 * 8 + 135 * 32 + 5 * (cfg.post_m_bits + cfg.post_b_bits) as u64
    );
    // b: shift, handoff (no post), shift weights of shift_wb bits.
    let (tb, _, _) = naive_taps(5, 3, 3, 5, 3, 1, 1);
    let b = by("b");
    assert_eq!((b.taps, b.shifts, b.adds, b.mults), (tb, tb, tb, 0));
    assert_eq!(b.weight_bits, cfg.formats.shift_wb);
    assert_eq!(b.post_reads, 0);
    assert_eq!(b.dram_read_bits, 225 * cfg.formats.shift_wb as u64);
    // c: adder (two adds per tap), post with a residual (one add and one read per output).
    let cc = by("c");
    assert_eq!((cc.taps, cc.adds, cc.mults), (tb, 2 * tb + 45 + 45, 45));
    // 3x3 stride 1 pad 1 over 3x3: per axis 2, 3 and 2 taps inside, 49 per tile pair; 2 x 3
    // tiles of 2 columns; 9 pixels x 2 tiles x 4 rows of residuals.
    assert_eq!(cc.act_reads, 6 * 49 * 2 + 72);
    assert_eq!(cc.cycles, naive_cycles(5, 5, 3, 3, 3, &cfg));
    // pool 2 over 3x3: 1x1 out, 3 adds per output.
    let p = by("pool");
    // Every window value of 2 channel tiles read by 2 columns; one pixel of 2 tiles x 4 rows.
    assert_eq!((p.adds, p.act_reads, p.act_writes), (5 * 3, 2 * 4 * 2, 8));
    // One window value per cycle for each of 2 channel tiles, then START, read, pool, write.
    assert_eq!(p.cycles, 2 * 4 + 4);
    assert_eq!(
        by("flat"),
        LayerCounts {
            name: "flat".into(),
            kind: "flatten".into(),
            in_shape: [5, 1, 1],
            out_shape: [5, 1, 1],
            act_bits: 32,
            post_bits: cfg.post_m_bits + cfg.post_b_bits,
            ..Default::default()
        }
    );
    // fc: 4 outputs of 5 taps, logits written off-chip.
    let fc = by("fc");
    assert_eq!((fc.taps, fc.mults, fc.adds), (20, 24, 24));
    assert_eq!(fc.dram_write_bits, 4 * 32);
    let units = Units::new(&EnergyTable::default_table(), &cfg, 32);
    let (t, e) = total(&c, &units);
    assert_eq!(t.taps, c.iter().map(|l| l.taps).sum::<u64>());
    assert_eq!(t.mults, ta + 45 + 45 + 24);
    // The total's buffer energy keeps each layer's word widths.
    let buf = units.buffers.iter().find(|b| b.name == "weight").unwrap();
    let pj_per_bit = buf.access_pj / f64::from(buf.bits);
    let weight_pj: f64 = c
        .iter()
        .map(|l| l.weight_reads as f64 * f64::from(l.weight_bits) * pj_per_bit)
        .sum();
    assert!(weight_pj > 0.0);
    assert!(
        (e.weight_buf - weight_pj).abs() <= 1e-9 * weight_pj,
        "{e:?}"
    );
}

#[test]
fn wide_handoffs_stay_on_chip() {
    // `seed-fix16`'s 43-bit hand-offs are read back through both halves of the port, but stay
    // in the output buffer: only the logits are written off-chip.
    let cfg = AccelConfig {
        formats: presets::seed_fix16().formats,
        ..cfg4()
    };
    let c = count_graph(&tiny(), &cfg, 32).unwrap();
    let by = |n: &str| c.iter().find(|l| l.name == n).unwrap().clone();
    assert_eq!(by("b").dram_write_bits, 0);
    assert_eq!(by("fc").dram_write_bits, 4 * 32);
}

#[test]
fn off_chip_when_buffers_are_too_small() {
    let cfg = AccelConfig {
        act_buf_words: 40,
        weight_buf_words: 100,
        ..cfg4()
    };
    let c = count_graph(&tiny(), &cfg, 8).unwrap();
    // a: 75 input values > 40: read once per output-channel tile (2); 135 weights > 100: once per
    // output row (3); 45 outputs > 40: written once.
    let post = (cfg.post_m_bits + cfg.post_b_bits) as u64;
    assert_eq!(
        c[0].dram_read_bits,
        75 * 8 + 2 * 75 * 8 + 3 * 135 * 8 + 5 * post
    );
    assert_eq!(c[0].dram_write_bits, 45 * 8);
}

#[test]
fn counts_equal_the_reference_models_counts() {
    let cfg = presets::lean8();
    for arch in archs::names().iter().filter(|n| n.starts_with("lenet")) {
        let graph = archs::by_name(arch).unwrap();
        let model = random_model(&graph, &cfg, 3).unwrap();
        let runner = model.runner().unwrap();
        let run = runner.run_image(&random_image(&graph, 5), false);
        let counts = count_graph(&graph, &cfg, 8).unwrap();
        assert_eq!(run.layers.len(), counts.len());
        for (r, c) in run.layers.iter().zip(&counts) {
            assert_eq!(
                (
                    &r.name,
                    &r.kind,
                    r.out_shape,
                    r.taps,
                    r.shifts,
                    r.adds,
                    r.mults
                ),
                (
                    &c.name,
                    &c.kind,
                    c.out_shape,
                    c.taps,
                    c.shifts,
                    c.adds,
                    c.mults
                ),
                "{arch}"
            );
        }
    }
}

#[test]
fn default_table_has_a_source_for_every_row() {
    let t = EnergyTable::default_table();
    assert!(t.rows.len() >= 10);
    for r in &t.rows {
        assert!(r.source.len() > 10, "{r:?}");
    }
    assert_eq!(t.unit("add", 8).0, 0.03);
    assert_eq!(t.unit("mult", 32).0, 3.1);
    assert_eq!(t.unit("shift", 8).0, 0.024);
    // 16 bits: linear for adds and shifts, quadratic for multiplies (energy.md).
    let (add16, rule) = t.unit("add", 16);
    assert!((add16 - (0.03 + 0.07 / 3.0)).abs() < 1e-12, "{add16}");
    assert!(rule.contains("linear"), "{rule}");
    let (mul16, rule) = t.unit("mult", 16);
    assert!((mul16 - (0.2 + 2.9 * (256.0 - 64.0) / (1024.0 - 64.0))).abs() < 1e-12);
    assert!(rule.contains("quadratic"), "{rule}");
    // SRAM: 8 KiB class exact, 16 KiB halfway in log2 between 8 and 32 KiB (10 and 20 pJ).
    assert!((t.sram_access(8.0, 64) - 10.0).abs() < 1e-12);
    assert!((t.sram_access(16.0, 64) - 15.0).abs() < 1e-12);
    assert!((t.sram_access(4096.0, 32) - 50.0).abs() < 1e-12);
}

#[test]
fn bad_tables_name_the_line_and_field() {
    let cases = [
        (DEFAULT_TABLE.replace("op,bits,kib,pj,source", "op,bits,pj,source"), 6, "header"),
        (DEFAULT_TABLE.replacen(",0.03,", ",-1,", 1), 7, "pj"),
        (DEFAULT_TABLE.replacen("add,8,,0.03,", "ad,8,,0.03,", 1), 7, "op"),
        (DEFAULT_TABLE.replacen("sram,64,8,", "sram,64,,", 1), 13, "kib"),
        (DEFAULT_TABLE.replacen("add,32,,0.1,\"Horowitz, Computing's energy problem, ISSCC 2014 (32-bit fixed add)\"", "add,32,,0.1,", 1), 8, "source"),
        (DEFAULT_TABLE.replacen("add,32,", "add,x,", 1), 8, "bits"),
        (
            DEFAULT_TABLE
                .lines()
                .filter(|l| !l.starts_with("dram"))
                .collect::<Vec<_>>()
                .join("\n"),
            0,
            "op",
        ),
    ];
    for (text, line, field) in cases {
        let e = EnergyTable::parse(&text, "my.csv").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
        assert!(e.to_string().starts_with("my.csv:"), "{e}");
    }
}

fn compute_energy(arch: &str, p: u32) -> (f64, f64) {
    let cfg = presets::seed();
    let units = Units::new(&EnergyTable::default_table(), &cfg, p);
    let c = count_graph(&archs::by_name(arch).unwrap(), &cfg, p).unwrap();
    c.iter().fold((0.0, 0.0), |(a, b), l| {
        let e = l.energy(&units);
        (a + e.compute, b + e.memory)
    })
}

#[test]
fn resnet20_compute_saving_matches_energy_md() {
    // energy.md: compute alone, 45 nm, about 49% at 8 bits and about 86% at 32 bits.
    for (p, expect) in [(8, 0.49), (32, 0.86)] {
        let (sa, _) = compute_energy("resnet20-shiftadd", p);
        let (mu, _) = compute_energy("resnet20-mult", p);
        let saving = 1.0 - sa / mu;
        assert!((saving - expect).abs() < 0.01, "{p} bits: saving {saving}");
    }
}

#[test]
fn scaling_the_table_scales_the_energy() {
    let cfg = presets::seed();
    let mut doubled = EnergyTable::default_table();
    for r in &mut doubled.rows {
        r.pj *= 2.0;
    }
    let graph = archs::by_name("lenet-shiftadd").unwrap();
    let c = count_graph(&graph, &cfg, 16).unwrap();
    let u1 = Units::new(&EnergyTable::default_table(), &cfg, 16);
    let u2 = Units::new(&doubled, &cfg, 16);
    for l in &c {
        let (e1, e2) = (l.energy(&u1), l.energy(&u2));
        assert!((e2.compute - 2.0 * e1.compute).abs() <= 1e-9 * e1.compute.max(1.0));
        assert!((e2.memory - 2.0 * e1.memory).abs() <= 1e-9 * e1.memory.max(1.0));
    }
}
