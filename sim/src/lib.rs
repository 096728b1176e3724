//! shiftadd-sim: the software side of shiftadd. The accelerator configuration and its presets
//! (`spec`), the integer contract's primitives (`numerics`), bit-exact layers (`layers`), network
//! graphs, model files and the reference inference (`net`, `archs`, `model`), layer test vectors
//! (`vectors`), random calibrated models for benchmarks and tests (`random`), and the energy model
//! with its analytic cycle estimate (`energy`), and the engine's contract: layer descriptors,
//! buffer layouts and the register map (`engine`), and the controller's exact cycle count
//! (`cycles`).
//!
//! "sim" here means the software models; RTL simulation lives in the `shiftadd-tb` crate.

pub mod archs;
pub mod cycles;
pub mod energy;
pub mod engine;
pub mod layers;
pub mod model;
pub mod net;
pub mod numerics;
pub mod random;
pub mod spec;
pub mod vectors;
