//! shiftadd-sim: the software side of shiftadd, and the contracts the other crates share.
//!
//! - `spec`: the accelerator configuration, its presets and derived quantities;
//! - `numerics`: the integer contract's primitives; `layers`: bit-exact layers;
//! - `net`, `archs`, `model`: network graphs, built-in architectures, model files and the
//!   reference inference; `vectors`: layer test vectors; `random`: random calibrated models;
//! - the engine's contract: layer descriptors and buffer layouts (`engine`), the register map
//!   (`regmap`), the controller's exact cycle count (`cycles`), and the layer program a network
//!   compiles to (`program`) and its file for the drivers (`program_file`);
//! - `files`: reading user files with a size bound, and JSON without duplicate keys; `idx`: IDX
//!   image and label files;
//! - `energy`: operation, buffer-access and off-chip counts of a program, priced by a table;
//! - `uart`: the serial bridge's frames, replies and CRC;
//! - `rtl`: the contract of a folder of generated RTL (array kinds and widths, module names,
//!   latencies, ports, the manifest), written by `shiftadd-hdl` and read by `shiftadd-tb`.
//!
//! "sim" here means the software models; RTL simulation lives in the `shiftadd-tb` crate. This
//! crate depends on no other crate of the workspace.

pub mod archs;
pub mod cifar;
pub mod cycles;
pub mod energy;
pub mod engine;
pub mod files;
pub mod idx;
pub mod layers;
pub mod model;
pub mod net;
pub mod numerics;
pub mod program;
pub mod program_file;
pub mod random;
pub mod regmap;
pub mod rtl;
pub mod spec;
pub mod uart;
pub mod vectors;
