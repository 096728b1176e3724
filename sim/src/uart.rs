//! The serial bridge's protocol (`shiftadd_uart`): frames from the host to the engine's register
//! bus and streams, and the bridge's replies. The bridge (`shiftadd-hdl`'s `uart` blocks) and the
//! host (`shiftadd-tb`'s `uart` bus) both follow this module; `docs/board.md` describes it.
//!
//! The line: 8 data bits, no parity, one stop bit, least significant bit first, idle high; a bit
//! lasts `bit_cycles` engine clock cycles (an input of the top, tied by the board's top).
//!
//! A frame is an op byte, the op's header, its payload (`SEND` only) and a CRC-8 over every byte
//! before it. Every frame is answered: a status byte, the reply's payload when the status is
//! [`OK`], for `RECV` a second status, and a CRC-8 over the reply's bytes before it. Multi-byte
//! fields are little-endian.
//!
//! | op | header | payload | reply payload |
//! |---|---|---|---|
//! | [`OP_READ`] | register offset (1 byte) | | the register (4 bytes) |
//! | [`OP_WRITE`] | offset (1), value (4) | | |
//! | [`OP_SEND`] | beats `n` (2) | `n` 64-bit words onto the input stream | |
//! | [`OP_RECV`] | beats `n` (2) | | `n` words from the output stream, then a second status |
//! | [`OP_RESET`] | | | |
//!
//! Errors: an unknown op, a stop bit that is not high, or a bad CRC is answered at once with its
//! status, and every byte after it is dropped until the line has been idle for the gap
//! ([`gap_cycles`]); a frame left unfinished for the gap is answered with [`TIMEOUT`]. `SEND`
//! hands each word to the engine as it completes, before the CRC is checked: a `SEND` answered
//! with an error must be sent again from its `BUF_ADDR`. A word the engine does not take before
//! the next one completes (or, for the last, within the gap) is dropped and the frame answered
//! with [`STALL`]; a `RECV` word that does not come within the gap is sent as 0 and the second
//! status is [`STALL`]. Nothing waits longer than the gap, so the bridge never hangs.

/// Read a register.
pub const OP_READ: u8 = 0x01;
/// Write a register.
pub const OP_WRITE: u8 = 0x02;
/// Words onto the input stream (into the buffer `BUF_SEL` / `BUF_LANE` / `BUF_ADDR` select).
pub const OP_SEND: u8 = 0x03;
/// Words from the output stream (after a `STREAM_OUT` write asks for them).
pub const OP_RECV: u8 = 0x04;
/// Reset the engine (registers to their idle values, buffer contents kept), as the top's
/// `reset` does.
pub const OP_RESET: u8 = 0x05;

/// Header bytes of each op (index: op).
pub const HEADER_BYTES: [u8; 6] = [0, 1, 5, 2, 2, 0];

/// Done.
pub const OK: u8 = 0xa0;
/// The frame's CRC does not match.
pub const BAD_CRC: u8 = 0xa1;
/// Not an op.
pub const BAD_OP: u8 = 0xa2;
/// A stop bit was low.
pub const FRAMING: u8 = 0xa3;
/// The frame was left unfinished for the gap.
pub const TIMEOUT: u8 = 0xa4;
/// A stream word was not taken (`SEND`) or did not come (`RECV`) in time.
pub const STALL: u8 = 0xa5;

/// Every status with its name.
pub const STATUSES: [(u8, &str); 6] = [
    (OK, "ok"),
    (BAD_CRC, "bad CRC"),
    (BAD_OP, "unknown op"),
    (FRAMING, "framing error"),
    (TIMEOUT, "frame timeout"),
    (STALL, "stream stall"),
];

/// The name of status `s`.
pub fn status_name(s: u8) -> Option<&'static str> {
    STATUSES.iter().find(|(v, _)| *v == s).map(|(_, n)| *n)
}

/// The gap is `bit_cycles << GAP_SHIFT` cycles (16,384 bit times: 142 ms at 115,200 baud,
/// 5.5 ms at 3 Mbaud).
pub const GAP_SHIFT: u32 = 14;

/// Width of the `bit_cycles` input.
pub const BIT_CYCLES_BITS: usize = 16;

/// The smallest `bit_cycles` the receiver samples correctly (it samples mid-bit).
pub const MIN_BIT_CYCLES: u32 = 4;

/// Cycles of silence after which a frame is abandoned or an error's discarding ends.
pub fn gap_cycles(bit_cycles: u32) -> u64 {
    u64::from(bit_cycles) << GAP_SHIFT
}

/// The CRC-8 generator polynomial (x^8 + x^2 + x + 1), initial value 0, no reflection, no final
/// XOR: a frame followed by its CRC has CRC 0.
pub const CRC_POLY: u8 = 0x07;

/// CRC-8 of `bytes` starting from `crc`.
pub fn crc8(mut crc: u8, bytes: &[u8]) -> u8 {
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ CRC_POLY
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// `bytes` with their CRC appended.
pub fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut f = bytes.to_vec();
    f.push(crc8(0, bytes));
    f
}

/// The rate the board flow builds the bridge for (`bit_cycles` is the board clock over it):
/// an exact rate of the boards' FTDI serial chips, reached within 2% from every clock of 20 MHz
/// and up.
pub const BOARD_BAUD: u32 = 1_000_000;

/// `bit_cycles` for `baud` at `clock_hz`, if the rate is reached within 2% (the receiver's
/// tolerance with a margin).
pub fn bit_cycles(clock_hz: u64, baud: u32) -> Result<u32, String> {
    if baud == 0 {
        return Err("baud 0".into());
    }
    let n = (clock_hz + u64::from(baud) / 2) / u64::from(baud);
    if n < u64::from(MIN_BIT_CYCLES) || n >= 1 << BIT_CYCLES_BITS {
        return Err(format!(
            "{baud} baud at {clock_hz} Hz needs {n} cycles per bit, outside {MIN_BIT_CYCLES}..{}",
            (1u64 << BIT_CYCLES_BITS) - 1
        ));
    }
    let actual = clock_hz as f64 / n as f64;
    let error = (actual - f64::from(baud)).abs() / f64::from(baud);
    if error > 0.02 {
        return Err(format!(
            "{baud} baud at {clock_hz} Hz: {n} cycles per bit give {actual:.0} baud, {:.1}% off (at most 2%)",
            error * 100.0
        ));
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc8_matches_the_standard_check_value() {
        // CRC-8 (poly 0x07, init 0) of "123456789" is 0xF4 by its catalogue entry.
        assert_eq!(crc8(0, b"123456789"), 0xf4);
        assert_eq!(crc8(0, &framed(b"123456789")), 0);
    }

    #[test]
    fn bit_cycles_rounds_and_refuses_far_rates() {
        assert_eq!(bit_cycles(25_000_000, 115_200), Ok(217));
        assert_eq!(bit_cycles(50_000_000, 3_000_000), Ok(17));
        assert!(bit_cycles(25_000_000, 3_000_000)
            .unwrap_err()
            .contains("off"));
        assert!(bit_cycles(1_000, 115_200).is_err());
    }
}
