//! The engine in a real system: [`AxiTop`] (`shiftadd_axi`), the engine behind AXI4-Lite and
//! AXI4-Stream ports with reset and an interrupt, and its [`AxiLiteSlave`].

mod lite;
mod top;

pub use lite::AxiLiteSlave;
pub use top::AxiTop;

use crate::compiled::{dispatch_axi, EngineBlock, EngineVisitor};
use crate::emit::{emit_block, EmitError, EmittedDesign};
use crate::engine::EngineError;
use shiftadd_sim::rtl::{checked_engine, AXI_MODULE};
use shiftadd_sim::spec::AccelConfig;

struct Emit<'a>(&'a AccelConfig);

impl EngineVisitor for Emit<'_> {
    type Out = Result<EmittedDesign, EmitError>;
    fn visit<E: EngineBlock>(self) -> Self::Out {
        let mut e = E::build(self.0);
        emit_block(&mut e, "axi", AXI_MODULE)
    }
}

/// Emits the AXI top of `cfg`'s engine, top module `shiftadd_axi` (the generator then reuses the
/// engine's modules, whose bodies are the same).
pub fn emit_axi(cfg: &AccelConfig) -> Result<EmittedDesign, EngineError> {
    let w = checked_engine(cfg)?;
    Ok(dispatch_axi(&w, Emit(cfg)).expect("checked engine widths are compiled in")?)
}
