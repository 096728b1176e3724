//! The engine around a PE array: the sequencer that walks a layer's loops ([`Sequencer`]) from
//! its registers ([`SeqRegs`]), the post-processing ([`PostUnit`]) and pooling ([`PoolUnit`])
//! units, delay lines ([`Delay`]), and the core with its buffers and register map
//! ([`EngineCore`], generic over the array: dual-mode, or multiply for the multiply baseline).
//! Their contract is in `shiftadd_sim::engine`, `shiftadd_sim::regmap` and
//! `shiftadd_sim::cycles`.

mod core;
mod delay;
mod pool;
mod post;
mod seq_regs;
mod sequencer;

pub use self::core::EngineCore;
pub use delay::Delay;
pub use pool::PoolUnit;
pub use post::PostUnit;
pub use seq_regs::SeqRegs;
pub use sequencer::Sequencer;

use crate::compiled::{dispatch_engine, EngineBlock, EngineVisitor};
use crate::emit::{emit_block, EmitError, EmittedDesign};
use shiftadd_sim::rtl::{checked_engine, RtlError, ENGINE_MODULE};
use shiftadd_sim::spec::AccelConfig;

/// Why an engine could not be emitted.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The config has no engine the generator compiles.
    #[error(transparent)]
    Rtl(#[from] RtlError),
    /// rust-hdl or the emitter failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

struct Emit<'a>(&'a AccelConfig);

impl EngineVisitor for Emit<'_> {
    type Out = Result<EmittedDesign, EmitError>;
    fn visit<E: EngineBlock>(self) -> Self::Out {
        let mut e = E::build(self.0);
        emit_block(&mut e, ENGINE_MODULE, ENGINE_MODULE)
    }
}

/// Emits the engine of `cfg` with top module `engine`.
pub fn emit_engine(cfg: &AccelConfig) -> Result<EmittedDesign, EngineError> {
    let w = checked_engine(cfg)?;
    Ok(dispatch_engine(&w, Emit(cfg)).expect("checked engine widths are compiled in")?)
}
