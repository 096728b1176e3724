//! One byte of the bridge's CRC-8 (`shiftadd_sim::uart::CRC_POLY`): `out` is the CRC of `data`
//! appended to a message whose CRC is `crc`. Combinational, eight unrolled steps.

use rust_hdl_core::prelude::*;
use shiftadd_sim::uart::CRC_POLY;

/// A CRC-8 step.
#[derive(LogicBlock)]
pub struct Crc8 {
    /// CRC so far.
    pub crc: Signal<In, Bits<8>>,
    /// The next byte.
    pub data: Signal<In, Bits<8>>,
    /// CRC with the byte.
    pub out: Signal<Out, Bits<8>>,
    poly: Constant<Bits<8>>,
    one: Constant<Bits<8>>,
    /// The register after each of the eight bit steps.
    s0: Signal<Local, Bits<8>>,
    s1: Signal<Local, Bits<8>>,
    s2: Signal<Local, Bits<8>>,
    s3: Signal<Local, Bits<8>>,
    s4: Signal<Local, Bits<8>>,
    s5: Signal<Local, Bits<8>>,
    s6: Signal<Local, Bits<8>>,
    s7: Signal<Local, Bits<8>>,
}

impl Default for Crc8 {
    fn default() -> Self {
        Self {
            crc: Default::default(),
            data: Default::default(),
            out: Default::default(),
            poly: Constant::new(bits(u64::from(CRC_POLY))),
            one: Constant::new(bits(1)),
            s0: Default::default(),
            s1: Default::default(),
            s2: Default::default(),
            s3: Default::default(),
            s4: Default::default(),
            s5: Default::default(),
            s6: Default::default(),
            s7: Default::default(),
        }
    }
}

impl Logic for Crc8 {
    #[hdl_gen]
    fn update(&mut self) {
        self.s0.next = self.crc.val() ^ self.data.val();
        self.s1.next = self.s0.val() << self.one.val();
        if self.s0.val().get_bit(7) {
            self.s1.next = (self.s0.val() << self.one.val()) ^ self.poly.val();
        }
        self.s2.next = self.s1.val() << self.one.val();
        if self.s1.val().get_bit(7) {
            self.s2.next = (self.s1.val() << self.one.val()) ^ self.poly.val();
        }
        self.s3.next = self.s2.val() << self.one.val();
        if self.s2.val().get_bit(7) {
            self.s3.next = (self.s2.val() << self.one.val()) ^ self.poly.val();
        }
        self.s4.next = self.s3.val() << self.one.val();
        if self.s3.val().get_bit(7) {
            self.s4.next = (self.s3.val() << self.one.val()) ^ self.poly.val();
        }
        self.s5.next = self.s4.val() << self.one.val();
        if self.s4.val().get_bit(7) {
            self.s5.next = (self.s4.val() << self.one.val()) ^ self.poly.val();
        }
        self.s6.next = self.s5.val() << self.one.val();
        if self.s5.val().get_bit(7) {
            self.s6.next = (self.s5.val() << self.one.val()) ^ self.poly.val();
        }
        self.s7.next = self.s6.val() << self.one.val();
        if self.s6.val().get_bit(7) {
            self.s7.next = (self.s6.val() << self.one.val()) ^ self.poly.val();
        }
        self.out.next = self.s7.val() << self.one.val();
        if self.s7.val().get_bit(7) {
            self.out.next = (self.s7.val() << self.one.val()) ^ self.poly.val();
        }
    }
}
