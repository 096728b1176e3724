//! Built-in architectures against the layer table of seed-notes.md §4.1, presets, and the
//! capability check.

use shiftadd_sim::net::{ConvKind, Op};
use shiftadd_sim::spec::{presets, AccelConfig, ConfigError, PeKinds};
use shiftadd_sim::{archs, random};

/// Per convolution kind (shift, adder, mult): tap operations per image and weights.
fn counts_by_kind(arch: &str) -> ([u64; 3], [usize; 3]) {
    let g = archs::by_name(arch).unwrap();
    let infos = g.analyse().unwrap();
    let (mut taps, mut weights) = ([0u64; 3], [0usize; 3]);
    for (n, i) in g.nodes.iter().zip(&infos) {
        if let Op::Conv { kind, .. } = n.op {
            let k = match kind {
                ConvKind::Shift => 0,
                ConvKind::Adder => 1,
                ConvKind::Mult => 2,
            };
            taps[k] += i.geom.unwrap().tap_ops();
            weights[k] += i.geom.unwrap().weight_len();
        }
    }
    (taps, weights)
}

fn taps_by_kind(arch: &str) -> [u64; 3] {
    counts_by_kind(arch).0
}

#[test]
fn resnet20_shiftadd_matches_the_seed_layer_table() {
    // seed-notes.md §4.1 totals: 40,813,184 shift-MACs and 42,991,616 adder-MACs per image;
    // 270,896 shift and 295,424 adder weights; 22 shift and 20 adder layers.
    assert_eq!(
        taps_by_kind("resnet20-shiftadd"),
        [40_813_184, 42_991_616, 0]
    );
    assert_eq!(counts_by_kind("resnet20-shiftadd").1, [270_896, 295_424, 0]);
    let g = archs::by_name("resnet20-shiftadd").unwrap();
    let count = |k: ConvKind| {
        g.nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Conv { kind, .. } if kind == k))
            .count()
    };
    assert_eq!((count(ConvKind::Shift), count(ConvKind::Adder)), (22, 20));
}

#[test]
fn resnet20_twins_have_the_same_topology() {
    // Standard ResNet-20 with projection shortcuts: 40,813,184 MACs (the shift layers of
    // ShiftAddNet are exactly ResNet-20's convolutions).
    assert_eq!(taps_by_kind("resnet20-mult"), [0, 0, 40_813_184]);
    assert_eq!(taps_by_kind("resnet20-shift"), [40_813_184, 0, 0]);
    // AdderNet: first layer 3->16 (442,368) and classifier (640) multiply, the rest adder.
    assert_eq!(
        taps_by_kind("resnet20-adder"),
        [0, 40_813_184 - 442_368 - 640, 442_368 + 640]
    );
}

#[test]
fn every_builtin_is_well_formed_and_named_stably() {
    let names = archs::names();
    assert_eq!(
        names,
        [
            "resnet20-shiftadd",
            "resnet20-mult",
            "resnet20-shift",
            "resnet20-adder",
            "lenet-shiftadd",
            "lenet-mult",
            "lenet-shift",
            "lenet-adder"
        ]
    );
    for n in names {
        let g = archs::by_name(&n).unwrap();
        assert_eq!(g.arch, n);
        g.analyse().unwrap_or_else(|e| panic!("{n}: {e}"));
        assert!(!archs::describe(&n).is_empty());
    }
    assert!(archs::by_name("resnet20-foo").is_none());
}

#[test]
fn presets_validate_and_have_distinct_names() {
    let all = presets::all();
    assert!(all.iter().any(|p| p.name == "seed"));
    for p in &all {
        p.validate().unwrap_or_else(|e| panic!("{}: {e}", p.name));
    }
    let seed = presets::seed();
    assert_eq!(
        (
            seed.formats.act_bits,
            seed.formats.act_frac,
            seed.formats.shift_wb,
            seed.formats.add_bits,
            seed.formats.add_frac
        ),
        (32, 16, 5, 32, 7)
    );
    assert_eq!(seed.formats.pmax(), 14);
    let mut names: Vec<_> = all.iter().map(|p| p.name.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), all.len());
}

#[test]
fn validate_names_the_field() {
    let bad = AccelConfig {
        rows: 0,
        ..presets::seed()
    };
    match bad.validate() {
        Err(ConfigError::OutOfRange { field: "rows", .. }) => {}
        other => panic!("{other:?}"),
    }
    let bad = AccelConfig {
        formats: shiftadd_sim::spec::Formats {
            shift_wb: 6,
            ..presets::seed().formats
        },
        max_taps: 60000,
        ..presets::seed()
    };
    assert!(
        matches!(
            bad.validate(),
            Err(ConfigError::AccumulatorTooWide { which: "shift", .. })
        ),
        "{:?}",
        bad.validate()
    );
    let bad = AccelConfig {
        max_taps: 4,
        ..presets::seed()
    };
    assert!(matches!(
        bad.validate(),
        Err(ConfigError::Inconsistent { .. })
    ));
}

#[test]
fn capability_check_accepts_the_builtins_on_seed() {
    for n in [
        "resnet20-shiftadd",
        "resnet20-shift",
        "lenet-shiftadd",
        "lenet-shift",
    ] {
        let m = random::random_model(&archs::by_name(n).unwrap(), &presets::seed(), 1).unwrap();
        m.check_capability(&presets::seed())
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
}

#[test]
fn capability_check_names_layer_and_limit() {
    let m = random::random_model(
        &archs::by_name("lenet-shiftadd").unwrap(),
        &presets::seed(),
        1,
    )
    .unwrap();
    // 5x5 kernels on a 3x3 array limit.
    let cfg = AccelConfig {
        max_kernel: 3,
        ..presets::seed()
    };
    let e = m.check_capability(&cfg).unwrap_err();
    assert_eq!(e.layer, "conv1");
    assert!(e.limit.contains("max_kernel = 3"), "{e}");
    // conv2.1 sums 32 * 5 * 5 = 800 taps.
    let cfg = AccelConfig {
        max_taps: 700,
        ..presets::seed()
    };
    let e = m.check_capability(&cfg).unwrap_err();
    assert_eq!(e.layer, "conv2.1");
    assert!(e.limit.contains("max_taps = 700"), "{e}");
    // Multiply layers need multiply PEs.
    let mm =
        random::random_model(&archs::by_name("lenet-mult").unwrap(), &presets::seed(), 1).unwrap();
    let e = mm.check_capability(&presets::seed()).unwrap_err();
    assert_eq!(e.layer, "conv1");
    // Formats must agree.
    let e = m.check_capability(&presets::lean16()).unwrap_err();
    assert!(e.limit.contains("formats"), "{e}");
    // Output buffers.
    let cfg = AccelConfig {
        act_buf_words: 1000,
        ..presets::seed()
    };
    let e = m.check_capability(&cfg).unwrap_err();
    assert_eq!(e.layer, "conv1");
    assert!(e.limit.contains("act_buf_words = 1000"), "{e}");
}

#[test]
fn average_pooling_window_must_be_a_power_of_two() {
    let mut g = archs::by_name("resnet20-shiftadd").unwrap();
    let pool = g.nodes.iter_mut().find(|n| n.name == "avgpool").unwrap();
    pool.op = Op::AvgPool { k: 3 };
    // The classifier then sees 64x2x2; rebuild it as a 2x2 kernel so that the graph is valid.
    let fc = g.nodes.iter_mut().find(|n| n.name == "fc").unwrap();
    if let Op::Conv { kernel, .. } = &mut fc.op {
        *kernel = [2, 2];
    }
    let e = g.analyse().unwrap_err();
    assert_eq!(e.node, "avgpool");
    assert!(e.what.contains("power-of-two"), "{e}");
}

#[test]
fn capability_check_covers_pe_kinds_and_buffers() {
    let adder =
        random::random_model(&archs::by_name("lenet-adder").unwrap(), &presets::seed(), 1).unwrap();
    let e = adder.check_capability(&presets::seed()).unwrap_err();
    assert_eq!(e.layer, "conv1");
    assert!(e.limit.contains("pe_kinds = shift-add"), "{e}");
    let all = AccelConfig {
        pe_kinds: PeKinds::All,
        ..presets::seed()
    };
    adder.check_capability(&all).unwrap();
    let mult_only = AccelConfig {
        pe_kinds: PeKinds::Mult,
        ..presets::seed()
    };
    let e = adder.check_capability(&mult_only).unwrap_err();
    assert_eq!(e.layer, "conv2", "{e}");

    let m = random::random_model(
        &archs::by_name("lenet-shiftadd").unwrap(),
        &presets::seed(),
        1,
    )
    .unwrap();
    // fc1.0 holds 128 x 512 = 65,536 weights, conv2.1 32 x 32 x 25 = 25,600.
    let e = m
        .check_capability(&AccelConfig {
            weight_buf_words: 60_000,
            ..presets::seed()
        })
        .unwrap_err();
    assert_eq!(e.layer, "fc1.0");
    assert!(e.limit.contains("weight_buf_words = 60000"), "{e}");
    let e = m
        .check_capability(&AccelConfig {
            post_buf_words: 100,
            ..presets::seed()
        })
        .unwrap_err();
    assert_eq!(e.layer, "fc1.1");
    assert!(e.limit.contains("post_buf_words = 100"), "{e}");
    let e = m
        .check_capability(&AccelConfig {
            act_buf_words: 700,
            ..presets::seed()
        })
        .unwrap_err();
    assert_eq!(e.layer, "input");
}

#[test]
fn analysis_refuses_out_of_range_geometry_and_round_into_adder() {
    let base = archs::by_name("lenet-shiftadd").unwrap();
    let set = |f: &dyn Fn(&mut Op)| {
        let mut g = base.clone();
        f(&mut g.nodes[0].op);
        g.analyse().unwrap_err()
    };
    let e = set(&|op| {
        if let Op::Conv { pad, .. } = op {
            *pad = 1 << 62;
        }
    });
    assert_eq!(e.node, "conv1");
    assert!(e.what.contains("padding"), "{e}");
    let e = set(&|op| {
        if let Op::Conv { stride, .. } = op {
            *stride = usize::MAX;
        }
    });
    assert!(e.what.contains("stride"), "{e}");
    let e = set(&|op| {
        if let Op::Conv { out_channels, .. } = op {
            *out_channels = 1 << 40;
        }
    });
    assert!(e.what.contains("output channels"), "{e}");

    // A shift layer without batch norm must hand off, not round, into the adder after it.
    let mut g = base.clone();
    let n = g.nodes.iter_mut().find(|n| n.name == "conv2.0").unwrap();
    if let Op::Conv { output, .. } = &mut n.op {
        *output = shiftadd_sim::net::ConvOutput::Round;
    }
    let e = g.analyse().unwrap_err();
    assert_eq!(e.node, "conv2.1");
    assert!(e.what.contains("handoff"), "{e}");
}

#[test]
fn graphs_are_analysed_in_linear_time_up_to_the_node_limit() {
    let lenet = archs::by_name("lenet-shiftadd").unwrap();
    // 20,000 flattens after the first: names are looked up by hash, so this is quick.
    let mut g = lenet.clone();
    let at = g
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::Flatten))
        .unwrap();
    let tail = g.nodes.split_off(at + 1);
    let mut prev = g.nodes[at].name.clone();
    for k in 0..20_000 {
        let mut n = g.nodes[at].clone();
        n.name = format!("flat{k}");
        n.input = std::mem::replace(&mut prev, format!("flat{k}"));
        g.nodes.push(n);
    }
    for mut n in tail {
        if n.input == g.nodes[at].name {
            n.input.clone_from(&prev);
        }
        g.nodes.push(n);
    }
    let infos = g.analyse().unwrap();
    assert_eq!(infos.len(), lenet.nodes.len() + 20_000);
    // Past the limit: refused before any other work, naming it.
    let mut big = lenet.clone();
    let n = big.nodes[0].clone();
    big.nodes = vec![n; shiftadd_sim::layers::MAX_NODES + 1];
    let e = big.analyse().unwrap_err();
    assert!(e.what.contains("MAX_NODES"), "{}", e.what);
}
