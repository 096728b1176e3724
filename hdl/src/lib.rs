//! shiftadd-hdl: the RTL generator. rust-hdl blocks (one per file: PEs in [`pe`], arrays in
//! [`array`], the engine in [`engine`], its AXI top in [`axi`], its serial bridge in [`uart`]), instantiated at the width sets of the presets
//! ([`compiled`]; widths come from `shiftadd_sim::rtl`, never chosen here), the Verilog emitter
//! ([`emit`], [`generate`], module headers from [`docs`]) and rust-hdl's own simulation of an
//! array ([`rhdl_sim`]).

pub mod array;
pub mod axi;
pub mod compiled;
pub mod docs;
pub mod emit;
pub mod engine;
pub mod generate;
pub mod pe;
pub mod rhdl_sim;
pub mod uart;
