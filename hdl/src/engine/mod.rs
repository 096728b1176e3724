//! The engine around the PE arrays (in progress): the sequencer that walks a convolution's loops
//! ([`Sequencer`]). Buffers, post-processing, pooling and the host interface are still to come;
//! their contract is in `shiftadd_sim::engine` and `shiftadd_sim::cycles`.

mod engine_core;
mod post;
mod sequencer;

pub use engine_core::EngineCore;
pub use post::PostUnit;
pub use sequencer::Sequencer;
