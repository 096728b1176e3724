//! Processing elements: one tap of one output channel per cycle. Every PE has the same ports
//! (`clock`, operand `x`, weight `w`, registered `term`), so one array template serves all kinds.
//! Ports are plain bit vectors holding two's complement codes; sign extension is done by hand
//! because rust-hdl's `signed_bit_cast` recurses forever on the most negative value.

mod adder_pe;
mod dual_pe;
mod mac_pe;
mod shift_pe;
mod signed_mul;

pub use adder_pe::AdderPe;
pub use dual_pe::DualPe;
pub use mac_pe::MacPe;
pub use shift_pe::ShiftPe;
pub use signed_mul::SignedMul;

use rust_hdl_core::prelude::*;

/// The top bit of a `W`-bit code (its sign bit).
pub fn sign_bit<const W: usize>() -> Bits<W> {
    bits::<W>(1u64 << (W - 1))
}

/// The bits of a `T`-bit word above a `W`-bit code: OR-ed in to sign-extend a negative code.
pub fn extension_mask<const W: usize, const T: usize>() -> Bits<T> {
    let ones_t = if T == 64 { u64::MAX } else { (1u64 << T) - 1 };
    let ones_w = if W == 64 { u64::MAX } else { (1u64 << W) - 1 };
    bits::<T>(ones_t & !ones_w)
}

/// A PE as the array template sees it.
pub trait Pe: Block + Sized {
    /// A PE of the given shift range (`pmax`, used only by shift PEs).
    fn with_pmax(pmax: u32) -> Self;
}
