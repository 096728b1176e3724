//! PE arrays: `rows` output channels by `cols` input channels. Input `x[c]` feeds column `c`;
//! weight `w[r * cols + c]` feeds PE `(r, c)`. Each row sums its `cols` terms in a binary tree
//! and adds the sum to its accumulator.
//!
//! Timing: the PEs register their terms on the edge after `x`, `w`, `en` and `clear` are
//! presented; `en` and `clear` are delayed by one register to stay aligned with the terms, and
//! the accumulators take the tree sums on the next edge (latency 2). `clear` starts a new sum with
//! the cycle's terms (`acc = en ? sum : 0`), so results follow each other without a bubble.
//! Widths: terms `T`, tree nodes `TS >= T + ceil(log2 cols)`, accumulators `ACC`, all derived
//! from the config (`shiftadd_sim::rtl::array_widths`).

mod adder_array;
mod dual_array;
mod io;
mod mac_array;
mod row_acc;
mod shift_array;

pub use io::{ArrayIo, EngineArray};

pub use adder_array::AdderArray;
pub use dual_array::DualArray;
pub use mac_array::MacArray;
pub use row_acc::RowAcc;
pub use shift_array::ShiftArray;

/// Defines one array block for a PE type. The three arrays differ only in their PE, whether
/// terms are signed, and whether the row output is negated (`y = -A` for adder rows).
macro_rules! pe_array {
    ($(#[$doc:meta])* $name:ident, $pe:ident, signed_terms: $signed:expr, negate: $negate:expr
     $(, mode: $mode:ident => $mode_q:ident)?) => {
        $(#[$doc])*
        #[derive(LogicBlock)]
        pub struct $name<
            const XW: usize,
            const WW: usize,
            const T: usize,
            const TS: usize,
            const ACC: usize,
        > {
            /// The ports (`clock`, `en`, `mode`, `clear`, `x`, `w`, `acc`; see [`ArrayIo`]).
            io: ArrayIo<XW, WW, ACC>,
            $(
                /// The mode delayed to the registered terms.
                $mode_q: DFF<Bit>,
            )?
            /// The PEs, row-major.
            pe: Vec<$pe<XW, WW, T, TS>>,
            /// `en` delayed to the registered terms.
            en_d: DFF<Bit>,
            /// `clear` delayed to the registered terms.
            clear_d: DFF<Bit>,
            /// Row accumulators.
            row_acc: Vec<RowAcc<TS, ACC>>,
            /// Tree nodes, `2P - 1` per row (heap order, root first, `P` leaves).
            node: Vec<Signal<Local, Bits<TS>>>,
            /// Output negated sums (adder rows).
            negate: Constant<Bit>,
            _rows: usize,
            _cols: usize,
            /// Leaves per row (`cols` rounded up to a power of two).
            _leaves: usize,
            /// Nodes per row, `2 * leaves - 1`.
            _nodes: usize,
            /// Inner nodes per row, `leaves - 1`.
            _inner: usize,
        }

        impl<const XW: usize, const WW: usize, const T: usize, const TS: usize, const ACC: usize>
            $name<XW, WW, T, TS, ACC>
        {
            /// A `rows` x `cols` array; `pmax` is the shift range (ignored by other kinds).
            pub fn new(rows: usize, cols: usize, pmax: u32) -> Self {
                assert!(rows >= 1 && cols >= 1, "at least one row and one column");
                let leaves = cols.next_power_of_two();
                let magnitude_bit = usize::from(!$signed);
                assert!(
                    TS >= T + leaves.trailing_zeros() as usize + magnitude_bit && ACC >= TS,
                    "tree and accumulator widths hold the sums"
                );
                let has_mode = false $(|| stringify!($mode) == "mode")?;
                Self {
                    io: ArrayIo::new(rows, cols, has_mode),
                    $($mode_q: Default::default(),)?
                    pe: (0..rows * cols).map(|_| <$pe<XW, WW, T, TS> as $crate::pe::Pe>::with_pmax(pmax)).collect(),
                    en_d: Default::default(),
                    clear_d: Default::default(),
                    row_acc: (0..rows).map(|_| RowAcc::new()).collect(),
                    node: (0..rows * (2 * leaves - 1)).map(|_| Default::default()).collect(),
                    negate: Constant::new($negate),
                    _rows: rows,
                    _cols: cols,
                    _leaves: leaves,
                    _nodes: 2 * leaves - 1,
                    _inner: leaves - 1,
                }
            }
        }

        impl<const XW: usize, const WW: usize, const T: usize, const TS: usize, const ACC: usize>
            std::ops::Deref for $name<XW, WW, T, TS, ACC>
        {
            type Target = ArrayIo<XW, WW, ACC>;
            fn deref(&self) -> &Self::Target {
                &self.io
            }
        }

        impl<const XW: usize, const WW: usize, const T: usize, const TS: usize, const ACC: usize>
            std::ops::DerefMut for $name<XW, WW, T, TS, ACC>
        {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.io
            }
        }

        impl<const XW: usize, const WW: usize, const T: usize, const TS: usize, const ACC: usize>
            $crate::array::EngineArray<XW, WW, ACC> for $name<XW, WW, T, TS, ACC>
        {
            fn build(rows: usize, cols: usize, pmax: u32) -> Self {
                Self::new(rows, cols, pmax)
            }
        }

        impl<const XW: usize, const WW: usize, const T: usize, const TS: usize, const ACC: usize>
            $crate::compiled::ArrayBlock for $name<XW, WW, T, TS, ACC>
        {
            fn build(rows: usize, cols: usize, pmax: u32) -> Self {
                Self::new(rows, cols, pmax)
            }
            fn set_inputs(&mut self, en: bool, clear: bool, mode: bool, x: &[u64], w: &[u64]) {
                self.en.next = en;
                self.clear.next = clear;
                if self._modes > 0 {
                    self.io.mode.next = mode;
                }
                for (port, v) in self.x.iter_mut().zip(x) {
                    port.next = bits(*v);
                }
                for (port, v) in self.w.iter_mut().zip(w) {
                    port.next = bits(*v);
                }
            }
            fn set_clock(&mut self, high: bool) {
                self.clock.next = high.into();
            }
            fn acc_bits(&self, r: usize) -> u64 {
                self.acc[r].val().to_u64()
            }
        }

        impl<const XW: usize, const WW: usize, const T: usize, const TS: usize, const ACC: usize>
            Logic for $name<XW, WW, T, TS, ACC>
        {
            #[hdl_gen]
            fn update(&mut self) {
                self.en_d.clock.next = self.clock.val();
                self.clear_d.clock.next = self.clock.val();
                self.en_d.d.next = self.en.val();
                self.clear_d.d.next = self.clear.val();
                $(
                    self.$mode_q.clock.next = self.clock.val();
                    self.$mode_q.d.next = self.$mode.val();
                )?
                // rust-hdl resolves only loop variables inside `[...]`: bind the sizes as
                // one-iteration loops.
                for ncols in self._cols..(self._cols + 1) {
                    for nn in self._nodes..(self._nodes + 1) {
                        for ni in self._inner..(self._inner + 1) {
                            for r in 0..self._rows {
                                for c in 0..self._cols {
                                    self.pe[r * ncols + c].clock.next = self.clock.val();
                                    self.pe[r * ncols + c].x.next = self.x[c].val();
                                    self.pe[r * ncols + c].w.next = self.w[r * ncols + c].val();
                                    $(
                                        self.pe[r * ncols + c].$mode.next = self.$mode.val();
                                    )?
                                    self.node[r * nn + ni + c].next =
                                        self.pe[r * ncols + c].term.val();
                                }
                                for c in self._cols..(self._inner + 1) {
                                    self.node[r * nn + ni + c].next = bits::<TS>(0);
                                }
                                // Inner nodes from the last to the root, children first.
                                for j in 0..self._inner {
                                    self.node[r * nn + ni - 1 - j].next = self.node
                                        [r * nn + 2 * (ni - 1 - j) + 1]
                                        .val()
                                        + self.node[r * nn + 2 * (ni - 1 - j) + 2].val();
                                }
                                self.row_acc[r].clock.next = self.clock.val();
                                self.row_acc[r].en.next = self.en_d.q.val();
                                self.row_acc[r].clear.next = self.clear_d.q.val();
                                self.row_acc[r].sum.next = self.node[r * nn].val();
                                // One assignment: a default overridden in the same block
                                // glitches the port, and Icarus then loops forever between
                                // this block and the row accumulator, whose output glitches
                                // back (zero-delay oscillation).
                                self.row_acc[r].negate.next =
                                    self.negate.val() $(| self.$mode_q.q.val())?;
                                self.acc[r].next = self.row_acc[r].acc.val();
                            }
                        }
                    }
                }
            }
        }
    };
}
pub(crate) use pe_array;
