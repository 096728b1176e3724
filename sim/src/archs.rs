//! Built-in architectures with stable names: ResNet-20 ShiftAddNet at CIFAR shape and its three
//! twins of the same topology (seed-notes.md §3.4, §4.1), and small LeNet-style networks for
//! 1x28x28 images in the same four kinds.

use crate::net::{ConvKind, ConvOutput, Graph, InputShape, Node, Op};

/// How each convolution of a base network is realised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// ShiftAddNet: shift-only first layer and classifier, every other convolution a shift
    /// convolution followed by an adder convolution of the same kernel.
    ShiftAdd,
    /// Each convolution one multiply convolution.
    Mult,
    /// DeepShift: each convolution one shift convolution.
    Shift,
    /// AdderNet: each convolution one adder convolution; first layer and classifier multiply.
    Adder,
}

impl Family {
    /// Suffix of the architecture names.
    pub fn suffix(&self) -> &'static str {
        match self {
            Family::ShiftAdd => "shiftadd",
            Family::Mult => "mult",
            Family::Shift => "shift",
            Family::Adder => "adder",
        }
    }
    /// Every family.
    pub fn all() -> [Family; 4] {
        [Family::ShiftAdd, Family::Mult, Family::Shift, Family::Adder]
    }
}

/// Names of the built-in architectures.
pub fn names() -> Vec<String> {
    let mut v = Vec::new();
    for base in ["resnet20", "lenet"] {
        for f in Family::all() {
            v.push(format!("{base}-{}", f.suffix()));
        }
    }
    v
}

/// A built-in architecture by name.
pub fn by_name(name: &str) -> Option<Graph> {
    let (base, fam) = name.rsplit_once('-')?;
    let family = Family::all().into_iter().find(|f| f.suffix() == fam)?;
    match base {
        "resnet20" => Some(resnet20(family)),
        "lenet" => Some(lenet(family)),
        _ => None,
    }
}

/// An unknown architecture name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture `{name}`; architectures: {known} (see `shiftadd archs`)")]
pub struct UnknownArch {
    /// The name asked for.
    pub name: String,
    /// The built-in names, comma-separated.
    pub known: String,
}

/// A built-in architecture by name, or the error every command reports for an unknown one.
pub fn lookup(name: &str) -> Result<Graph, UnknownArch> {
    by_name(name).ok_or_else(|| UnknownArch {
        name: name.into(),
        known: names().join(", "),
    })
}

/// One-line description of a built-in architecture.
pub fn describe(name: &str) -> &'static str {
    match name {
        "resnet20-shiftadd" => {
            "ResNet-20 ShiftAddNet, 3x32x32 (CIFAR): shift->adder->BN blocks, projection shortcuts"
        }
        "resnet20-mult" => "ResNet-20, 3x32x32: every convolution a multiply convolution",
        "resnet20-shift" => "ResNet-20 DeepShift, 3x32x32: every convolution a shift convolution",
        "resnet20-adder" => {
            "ResNet-20 AdderNet, 3x32x32: adder convolutions, multiply first layer and classifier"
        }
        "lenet-shiftadd" => "LeNet-style ShiftAddNet, 1x28x28 (MNIST, Fashion-MNIST)",
        "lenet-mult" => "LeNet-style, 1x28x28: multiply convolutions",
        "lenet-shift" => "LeNet-style DeepShift, 1x28x28: shift convolutions",
        "lenet-adder" => {
            "LeNet-style AdderNet, 1x28x28: adder convolutions, multiply first layer and classifier"
        }
        _ => "",
    }
}

/// Shape of one convolution of a base network.
#[derive(Clone, Copy)]
struct Conv {
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

/// `cout` channels of a `k`x`k` kernel with `stride` and `pad`.
fn conv(cout: usize, k: usize, stride: usize, pad: usize) -> Conv {
    Conv {
        cout,
        k,
        stride,
        pad,
    }
}

struct Builder {
    family: Family,
    nodes: Vec<Node>,
}

impl Builder {
    fn push(
        &mut self,
        name: String,
        input: &str,
        kind: ConvKind,
        c: Conv,
        output: ConvOutput,
    ) -> String {
        self.nodes.push(Node {
            name: name.clone(),
            input: input.to_string(),
            op: Op::Conv {
                kind,
                out_channels: c.cout,
                kernel: [c.k, c.k],
                stride: c.stride,
                pad: c.pad,
                output,
            },
        });
        name
    }

    /// One convolution of the base network, realised in the builder's family; `edge` marks the
    /// first layer and the classifier, which stay single (shift for ShiftAddNet, multiply for
    /// AdderNet).
    fn layer(
        &mut self,
        edge: bool,
        name: &str,
        input: &str,
        c: Conv,
        output: ConvOutput,
    ) -> String {
        match (self.family, edge) {
            (Family::ShiftAdd, false) => {
                let shift = self.push(
                    format!("{name}.0"),
                    input,
                    ConvKind::Shift,
                    c,
                    ConvOutput::Handoff,
                );
                // The adder keeps the spatial size: same kernel, stride 1, "same" padding.
                let same = Conv {
                    stride: 1,
                    pad: c.k / 2,
                    ..c
                };
                self.push(format!("{name}.1"), &shift, ConvKind::Adder, same, output)
            }
            (Family::ShiftAdd, true) | (Family::Shift, _) => {
                self.push(name.into(), input, ConvKind::Shift, c, output)
            }
            (Family::Mult, _) | (Family::Adder, true) => {
                self.push(name.into(), input, ConvKind::Mult, c, output)
            }
            (Family::Adder, false) => self.push(name.into(), input, ConvKind::Adder, c, output),
        }
    }

    fn op(&mut self, name: &str, input: &str, op: Op) -> String {
        self.nodes.push(Node {
            name: name.into(),
            input: input.into(),
            op,
        });
        name.into()
    }
}

fn post(relu: bool, residual: Option<String>) -> ConvOutput {
    ConvOutput::Post { relu, residual }
}

/// ResNet-20 (3 stages of 3 basic blocks, 16/32/64 planes, projection shortcuts) at 3x32x32.
pub fn resnet20(family: Family) -> Graph {
    let mut b = Builder {
        family,
        nodes: Vec::new(),
    };
    let mut x = b.layer(true, "conv1", "input", conv(16, 3, 1, 1), post(true, None));
    let mut in_planes = 16;
    for (stage, planes) in [16usize, 32, 64].into_iter().enumerate() {
        for block in 0..3 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let p = format!("layer{}.{}", stage + 1, block);
            let a = b.layer(
                false,
                &format!("{p}.conv1"),
                &x,
                conv(planes, 3, stride, 1),
                post(true, None),
            );
            let shortcut = if stride != 1 || in_planes != planes {
                b.layer(
                    false,
                    &format!("{p}.downsample"),
                    &x,
                    conv(planes, 1, stride, 0),
                    post(false, None),
                )
            } else {
                x.clone()
            };
            x = b.layer(
                false,
                &format!("{p}.conv2"),
                &a,
                conv(planes, 3, 1, 1),
                post(true, Some(shortcut)),
            );
            in_planes = planes;
        }
    }
    let pooled = b.op("avgpool", &x, Op::AvgPool { k: 8 });
    b.layer(true, "fc", &pooled, conv(10, 1, 1, 0), ConvOutput::Logits);
    Graph {
        arch: format!("resnet20-{}", family.suffix()),
        input: InputShape {
            channels: 3,
            height: 32,
            width: 32,
        },
        classes: 10,
        nodes: b.nodes,
    }
}

/// LeNet-style network for 1x28x28: conv 5x5 (16) -> pool -> conv 5x5 (32) -> pool -> fc 128 -> fc 10.
pub fn lenet(family: Family) -> Graph {
    let mut b = Builder {
        family,
        nodes: Vec::new(),
    };
    let c1 = b.layer(true, "conv1", "input", conv(16, 5, 1, 0), post(true, None));
    let p1 = b.op("pool1", &c1, Op::MaxPool { k: 2 });
    let c2 = b.layer(false, "conv2", &p1, conv(32, 5, 1, 0), post(true, None));
    let p2 = b.op("pool2", &c2, Op::MaxPool { k: 2 });
    let flat = b.op("flatten", &p2, Op::Flatten);
    let f1 = b.layer(false, "fc1", &flat, conv(128, 1, 1, 0), post(true, None));
    b.layer(true, "fc2", &f1, conv(10, 1, 1, 0), ConvOutput::Logits);
    Graph {
        arch: format!("lenet-{}", family.suffix()),
        input: InputShape {
            channels: 1,
            height: 28,
            width: 28,
        },
        classes: 10,
        nodes: b.nodes,
    }
}
