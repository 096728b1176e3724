//! The ports every PE array shares: `clock`, `en`, `mode` (dual-mode arrays only), `clear`, an
//! operand `x` per column, a weight `w` per PE and an accumulator `acc` per row. Each array holds
//! them in one `ArrayIo` and dereferences to it, so that one engine block drives any array
//! (`crate::engine::EngineCore` is generic over [`EngineArray`]). The ports are visited without
//! a namespace: the emitted array has ports `clock`, `x_0`, ..., as if they were its own fields.

use rust_hdl_core::prelude::*;

/// The ports of a `rows` x `cols` array.
pub struct ArrayIo<const XW: usize, const WW: usize, const ACC: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Add this cycle's terms.
    pub en: Signal<In, Bit>,
    /// This cycle's layer kind: 0 shift, 1 adder (a port of dual-mode arrays only).
    pub mode: Signal<In, Bit>,
    /// Start a new sum with this cycle's terms.
    pub clear: Signal<In, Bit>,
    /// Operand per column.
    pub x: Vec<Signal<In, Bits<XW>>>,
    /// Weight per PE, row-major.
    pub w: Vec<Signal<In, Bits<WW>>>,
    /// Accumulator per row.
    pub acc: Vec<Signal<Out, Bits<ACC>>>,
    /// 1 when `mode` is a port, else 0 (a loop bound: blocks drive `mode` in a loop over
    /// `0.._modes`, which emits nothing for arrays without it).
    pub _modes: usize,
}

impl<const XW: usize, const WW: usize, const ACC: usize> ArrayIo<XW, WW, ACC> {
    /// The ports of a `rows` x `cols` array, with a `mode` port when `has_mode`.
    pub fn new(rows: usize, cols: usize, has_mode: bool) -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            mode: Default::default(),
            clear: Default::default(),
            x: (0..cols).map(|_| Default::default()).collect(),
            w: (0..rows * cols).map(|_| Default::default()).collect(),
            acc: (0..rows).map(|_| Default::default()).collect(),
            _modes: usize::from(has_mode),
        }
    }
}

impl<const XW: usize, const WW: usize, const ACC: usize> Logic for ArrayIo<XW, WW, ACC> {
    fn update(&mut self) {}
}

impl<const XW: usize, const WW: usize, const ACC: usize> Block for ArrayIo<XW, WW, ACC> {
    fn connect_all(&mut self) {
        self.clock.connect_all();
        self.en.connect_all();
        self.mode.connect_all();
        self.clear.connect_all();
        self.x.connect_all();
        self.w.connect_all();
        self.acc.connect_all();
    }

    fn update_all(&mut self) {
        self.clock.update_all();
        self.en.update_all();
        self.mode.update_all();
        self.clear.update_all();
        self.x.update_all();
        self.w.update_all();
        self.acc.update_all();
    }

    fn has_changed(&self) -> bool {
        self.clock.has_changed()
            || self.en.has_changed()
            || (self._modes > 0 && self.mode.has_changed())
            || self.clear.has_changed()
            || self.x.has_changed()
            || self.w.has_changed()
            || self.acc.has_changed()
    }

    /// The ports, in port order, in the owner's own scope.
    fn accept(&self, _name: &str, probe: &mut dyn Probe) {
        self.clock.accept("clock", probe);
        self.en.accept("en", probe);
        if self._modes > 0 {
            self.mode.accept("mode", probe);
        }
        self.clear.accept("clear", probe);
        self.x.accept("x", probe);
        self.w.accept("w", probe);
        self.acc.accept("acc", probe);
    }
}

/// An array the engine runs: a block that dereferences to its [`ArrayIo`].
pub trait EngineArray<const XW: usize, const WW: usize, const ACC: usize>:
    Block + std::ops::DerefMut<Target = ArrayIo<XW, WW, ACC>>
{
    /// A `rows` x `cols` array; `pmax` is the shift range (ignored by other kinds).
    fn build(rows: usize, cols: usize, pmax: u32) -> Self;
}
