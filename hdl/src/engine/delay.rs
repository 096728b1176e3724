//! Delay line: `q[i]` is `d` delayed by `i + 1` cycles (`W` bits, a register per stage). The
//! engine carries each tap's control and addresses along its pipeline with these.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::prelude::*;

/// A `depth`-stage delay line of `W`-bit values.
#[derive(LogicBlock)]
pub struct Delay<const W: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: every register to 0 on the next edge.
    pub reset: Signal<In, Bit>,
    /// The value entering the line.
    pub d: Signal<In, Bits<W>>,
    /// `q[i]`: `d` of `i + 1` cycles ago.
    pub q: Vec<Signal<Out, Bits<W>>>,
    /// One register per stage.
    stage: Vec<DFF<Bits<W>>>,
    _depth: usize,
}

impl<const W: usize> Delay<W> {
    /// A delay line of `depth` stages.
    pub fn new(depth: usize) -> Self {
        assert!(depth >= 1, "a delay line has a stage");
        Self {
            clock: Default::default(),
            reset: Default::default(),
            d: Default::default(),
            q: (0..depth).map(|_| Default::default()).collect(),
            stage: (0..depth).map(|_| Default::default()).collect(),
            _depth: depth,
        }
    }
}

impl<const W: usize> Logic for Delay<W> {
    #[hdl_gen]
    fn update(&mut self) {
        self.stage[0].clock.next = self.clock.val();
        self.stage[0].d.next = self.d.val();
        self.q[0].next = self.stage[0].q.val();
        for i in 1..self._depth {
            self.stage[i].clock.next = self.clock.val();
            self.stage[i].d.next = self.stage[i - 1].q.val();
            self.q[i].next = self.stage[i].q.val();
        }
        if self.reset.val() {
            for i in 0..self._depth {
                self.stage[i].d.next = 0.into();
            }
        }
    }
}
