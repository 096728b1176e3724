//! The engine over a serial line (`shiftadd_uart`, protocol `shiftadd_sim::uart`): [`UartBus`]
//! speaks the bridge's frames over any [`Line`]: a serial port ([`TtyLine`], the board) or the
//! simulated line of a Verilator model of `shiftadd_uart` ([`SimLine`]), which drives the top's
//! `rx` bit by bit and decodes its `tx`. The driver runs layers through [`UartBus`] as through
//! the other buses, so the board's code path is the one the tests co-simulate.
//!
//! The host stops at the first error (a status other than OK, a reply whose CRC does not match,
//! no reply in time), naming the frame and what came back: the line is not expected to drop
//! bits, and retrying a frame that may have acted (a START, a stream) is not safe in general.

use crate::bus::LayerRun;
use crate::driver::{EngineBus, HostBus, OpenBus};
use crate::verilator::{Instance, Model};
use crate::CosimError;
use shiftadd_sim::engine::Descriptor;
use shiftadd_sim::regmap::{layer_writes, BufSel, Reg, ACCESS_REGS, CTRL_START, STATUS_DONE};
use shiftadd_sim::spec::AccelConfig;
use shiftadd_sim::uart::{self as proto, crc8, framed, status_name};
use std::collections::VecDeque;
use std::sync::Arc;

/// Words per `SEND` or `RECV` frame (32 KiB of payload).
pub const FRAME_WORDS: usize = 4096;

/// Cycles per bit of the simulated line (the receiver's smallest).
pub const SIM_BIT_CYCLES: u32 = proto::MIN_BIT_CYCLES;

fn err(what: String) -> CosimError {
    CosimError::Design(what)
}

/// A byte pipe to the bridge.
pub trait Line {
    /// Sends `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<(), CosimError>;
    /// Receives exactly `n` bytes, or fails after the line's reply timeout.
    fn recv(&mut self, n: usize) -> Result<Vec<u8>, CosimError>;
    /// Waits for the bridge's gap, then drops whatever arrived.
    fn settle(&mut self) -> Result<(), CosimError>;
    /// Engine cycles per bit.
    fn bit_cycles(&self) -> u32;
    /// Engine cycles since power-on where the line can count them (the simulation), else 0.
    fn now(&self) -> u64;
}

/// The simulated line: a Verilator instance of `shiftadd_uart` whose `rx` is driven and whose
/// `tx` is decoded here, `bit_cycles` per bit.
pub struct SimLine {
    instance: Instance,
    bit_cycles: u32,
    /// Input word indices of `reset`, `bit_cycles`, `rx`; output indices of `tx`, `irq`.
    reset: usize,
    bits: usize,
    rx: usize,
    tx: usize,
    input_words: usize,
    output_words: usize,
    cycle: u64,
    /// The byte being decoded from `tx`: its start cycle and bits so far.
    decoding: Option<(u64, u8)>,
    received: VecDeque<u8>,
    /// `tx` stop bits found low.
    tx_framing: u64,
    /// Cycles `recv` waits for a byte.
    reply_timeout: u64,
}

impl SimLine {
    /// A line to a new instance of `model` (top `shiftadd_uart`), its reset held for two cycles.
    pub fn new(
        model: &Arc<Model>,
        vcd: Option<&std::path::Path>,
        bit_cycles: u32,
    ) -> Result<SimLine, CosimError> {
        let l = &model.layout;
        let mut line = SimLine {
            instance: model.instance(vcd)?,
            bit_cycles,
            reset: l.input(&model.top, "reset")?,
            bits: l.input(&model.top, "bit_cycles")?,
            rx: l.input(&model.top, "rx")?,
            tx: l.output(&model.top, "tx")?,
            input_words: l.input_words,
            output_words: l.output_words,
            cycle: 0,
            decoding: None,
            received: VecDeque::new(),
            tx_framing: 0,
            // A reply starts within a few cycles of a frame's last byte; RECV words wait at most
            // the gap each.
            reply_timeout: 2 * proto::gap_cycles(bit_cycles) + 1000,
        };
        line.run_levels(&[(true, 2)], true)?;
        Ok(line)
    }

    /// Drives `rx` with `levels` (each a level and its cycle count), `reset` held throughout if
    /// asked, decoding `tx`.
    fn run_levels(&mut self, levels: &[(bool, u64)], reset: bool) -> Result<(), CosimError> {
        let mut inputs = Vec::new();
        for &(level, n) in levels {
            for _ in 0..n {
                let start = inputs.len();
                inputs.resize(start + self.input_words, 0);
                inputs[start + self.bits] = u64::from(self.bit_cycles);
                inputs[start + self.rx] = u64::from(level);
                inputs[start + self.reset] = u64::from(reset);
            }
        }
        let out = self.instance.cycles(&inputs)?;
        for s in out.chunks(self.output_words) {
            self.decode(s[self.tx] & 1 == 1);
            self.cycle += 1;
        }
        Ok(())
    }

    /// One cycle of `tx`: sampled in the middle of each bit, as the bridge's receiver does.
    fn decode(&mut self, tx: bool) {
        let bc = u64::from(self.bit_cycles);
        match self.decoding {
            None => {
                if !tx {
                    self.decoding = Some((self.cycle, 0));
                }
            }
            Some((start, acc)) => {
                let off = self.cycle - start;
                if off < bc / 2 || !(off - bc / 2).is_multiple_of(bc) {
                    return;
                }
                match (off - bc / 2) / bc {
                    0 if tx => self.decoding = None,
                    0 => {}
                    k @ 1..=8 => self.decoding = Some((start, acc | (u8::from(tx) << (k - 1)))),
                    _ => {
                        if tx {
                            self.received.push_back(acc);
                        } else {
                            self.tx_framing += 1;
                        }
                        self.decoding = None;
                    }
                }
            }
        }
    }

    /// Sends raw line levels: `bits` of one bit time each (tests: a low stop bit).
    pub fn send_bits(&mut self, bits: &[bool]) -> Result<(), CosimError> {
        let bc = u64::from(self.bit_cycles);
        let levels: Vec<(bool, u64)> = bits.iter().map(|&b| (b, bc)).collect();
        self.run_levels(&levels, false)
    }

    /// Holds the line idle for `n` cycles.
    pub fn idle(&mut self, n: u64) -> Result<(), CosimError> {
        self.run_levels(&[(true, n)], false)
    }
}

/// The ten line levels of `byte`.
fn byte_bits(byte: u8) -> impl Iterator<Item = bool> {
    std::iter::once(false)
        .chain((0..8).map(move |k| byte >> k & 1 == 1))
        .chain(std::iter::once(true))
}

impl Line for SimLine {
    fn send(&mut self, bytes: &[u8]) -> Result<(), CosimError> {
        let bits: Vec<bool> = bytes.iter().flat_map(|&b| byte_bits(b)).collect();
        self.send_bits(&bits)
    }

    fn recv(&mut self, n: usize) -> Result<Vec<u8>, CosimError> {
        let bc = u64::from(self.bit_cycles);
        let mut waited = 0;
        while self.received.len() < n {
            if waited > self.reply_timeout {
                return Err(err(format!(
                    "serial line: {} of {n} bytes, then nothing for {} cycles",
                    self.received.len(),
                    self.reply_timeout
                )));
            }
            let chunk = 10 * bc * (n - self.received.len()).clamp(1, 64) as u64;
            let before = self.received.len();
            self.idle(chunk)?;
            // The timeout runs from the last byte received.
            waited = if self.received.len() > before {
                0
            } else {
                waited + chunk
            };
        }
        if self.tx_framing > 0 {
            return Err(err(format!(
                "serial line: {} bytes from the bridge with a low stop bit",
                self.tx_framing
            )));
        }
        Ok(self.received.drain(..n).collect())
    }

    fn settle(&mut self) -> Result<(), CosimError> {
        self.idle(proto::gap_cycles(self.bit_cycles) + 20 * u64::from(self.bit_cycles))?;
        self.received.clear();
        self.decoding = None;
        Ok(())
    }

    fn bit_cycles(&self) -> u32 {
        self.bit_cycles
    }

    fn now(&self) -> u64 {
        self.cycle
    }
}

/// A serial port (`/dev/ttyUSB0`): raw 8N1 at `baud`, no flow control.
pub struct TtyLine {
    file: std::fs::File,
    path: String,
    bit_cycles: u32,
    /// How long `recv` waits for the next byte.
    timeout: std::time::Duration,
}

/// The termios speed constant of `baud`.
fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        500_000 => libc::B500000,
        576_000 => libc::B576000,
        921_600 => libc::B921600,
        1_000_000 => libc::B1000000,
        1_152_000 => libc::B1152000,
        1_500_000 => libc::B1500000,
        2_000_000 => libc::B2000000,
        2_500_000 => libc::B2500000,
        3_000_000 => libc::B3000000,
        _ => return None,
    })
}

/// The baud rates a serial port can be set to.
pub const TTY_BAUDS: [u32; 12] = [
    115_200, 230_400, 460_800, 500_000, 576_000, 921_600, 1_000_000, 1_152_000, 1_500_000,
    2_000_000, 2_500_000, 3_000_000,
];

impl TtyLine {
    /// Opens `path` at `baud` for a bridge whose engine runs at `clock_hz`.
    pub fn open(path: &str, baud: u32, clock_hz: u64) -> Result<TtyLine, CosimError> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let bad = |what: String| err(format!("{path}: {what}"));
        let sp = speed(baud).ok_or_else(|| {
            bad(format!(
                "--baud {baud}: a serial port takes one of {TTY_BAUDS:?}"
            ))
        })?;
        let bit_cycles = proto::bit_cycles(clock_hz, baud).map_err(bad)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .map_err(|e| bad(e.to_string()))?;
        let fd = file.as_raw_fd();
        // SAFETY: `fd` is an open descriptor; termios is plain data filled by tcgetattr.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Err(bad(format!(
                    "not a serial port: {}",
                    std::io::Error::last_os_error()
                )));
            }
            libc::cfmakeraw(&mut t);
            t.c_cflag |= libc::CLOCAL | libc::CREAD;
            t.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS);
            t.c_iflag &= !(libc::IXON | libc::IXOFF);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            if libc::cfsetispeed(&mut t, sp) != 0
                || libc::cfsetospeed(&mut t, sp) != 0
                || libc::tcsetattr(fd, libc::TCSANOW, &t) != 0
            {
                return Err(bad(format!(
                    "cannot set {baud} baud: {}",
                    std::io::Error::last_os_error()
                )));
            }
            libc::tcflush(fd, libc::TCIOFLUSH);
        }
        let gap = std::time::Duration::from_secs_f64(
            proto::gap_cycles(bit_cycles) as f64 / clock_hz as f64,
        );
        Ok(TtyLine {
            file,
            path: path.into(),
            bit_cycles,
            timeout: 2 * gap + std::time::Duration::from_millis(200),
        })
    }
}

impl Line for TtyLine {
    fn send(&mut self, bytes: &[u8]) -> Result<(), CosimError> {
        use std::io::Write;
        self.file
            .write_all(bytes)
            .and_then(|_| self.file.flush())
            .map_err(|e| err(format!("{}: {e}", self.path)))
    }

    fn recv(&mut self, n: usize) -> Result<Vec<u8>, CosimError> {
        use std::io::Read;
        use std::os::unix::io::AsRawFd;
        let mut got = vec![0u8; n];
        let mut have = 0;
        while have < n {
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                return Err(err(format!(
                    "{}: {}",
                    self.path,
                    std::io::Error::last_os_error()
                )));
            }
            if r == 0 {
                return Err(err(format!(
                    "{}: {have} of {n} bytes, then nothing for {} ms",
                    self.path,
                    self.timeout.as_millis()
                )));
            }
            let k = self
                .file
                .read(&mut got[have..])
                .map_err(|e| err(format!("{}: {e}", self.path)))?;
            have += k;
        }
        Ok(got)
    }

    fn settle(&mut self) -> Result<(), CosimError> {
        use std::os::unix::io::AsRawFd;
        std::thread::sleep(self.timeout);
        // SAFETY: an open descriptor.
        unsafe { libc::tcflush(self.file.as_raw_fd(), libc::TCIFLUSH) };
        Ok(())
    }

    fn bit_cycles(&self) -> u32 {
        self.bit_cycles
    }

    fn now(&self) -> u64 {
        0
    }
}

/// What a frame's reply held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status byte.
    pub status: u8,
    /// The payload (empty unless the status is OK).
    pub payload: Vec<u8>,
    /// `RECV`'s second status.
    pub status2: Option<u8>,
}

/// The name of op `op`.
fn op_name(op: u8) -> String {
    match op {
        proto::OP_READ => "READ".into(),
        proto::OP_WRITE => "WRITE".into(),
        proto::OP_SEND => "SEND".into(),
        proto::OP_RECV => "RECV".into(),
        proto::OP_RESET => "RESET".into(),
        _ => format!("op {op:#04x}"),
    }
}

/// A host driver on the bridge.
pub struct UartBus<L: Line> {
    cfg: AccelConfig,
    line: L,
    /// `BUF_SEL` and `BUF_LANE` as last written.
    sel: Option<BufSel>,
    lane: Option<u32>,
    /// The first error of a write (`EngineBus::write_words` cannot return one).
    deferred: Option<CosimError>,
    /// Frames sent, to name them in errors.
    frames: u64,
}

impl<L: Line> UartBus<L> {
    /// A driver for `cfg`'s engine on `line`.
    pub fn new(cfg: &AccelConfig, line: L) -> UartBus<L> {
        UartBus {
            cfg: cfg.clone(),
            line,
            sel: None,
            lane: None,
            deferred: None,
            frames: 0,
        }
    }

    /// The line.
    pub fn line(&mut self) -> &mut L {
        &mut self.line
    }

    /// Sends `bytes` as they are (a frame with its CRC, or not) and reads the reply: its status,
    /// then, when OK, `payload` bytes (and for `op` RECV the second status), then the CRC, which
    /// must match.
    pub fn exchange(&mut self, bytes: &[u8], payload: usize) -> Result<Reply, CosimError> {
        let op = bytes.first().copied().unwrap_or(0);
        self.line.send(bytes)?;
        self.frames += 1;
        let what = || format!("{} frame {}", op_name(op), self.frames);
        let status = self
            .line
            .recv(1)
            .map_err(|e| err(format!("{}: {e}", what())))?[0];
        let mut reply = vec![status];
        let mut status2 = None;
        let mut data = Vec::new();
        if status == proto::OK {
            data = self.line.recv(payload)?;
            reply.extend(&data);
            if op == proto::OP_RECV {
                let s = self.line.recv(1)?[0];
                reply.push(s);
                status2 = Some(s);
            }
        }
        let crc = self.line.recv(1)?[0];
        if crc8(0, &reply) != crc {
            return Err(err(format!(
                "{}: reply CRC {crc:#04x}, expected {:#04x} (status {status:#04x})",
                what(),
                crc8(0, &reply)
            )));
        }
        Ok(Reply {
            status,
            payload: data,
            status2,
        })
    }

    /// A frame of `op` with `header` and `payload`; its reply's payload of `reply_len` bytes.
    fn frame(
        &mut self,
        op: u8,
        header: &[u8],
        payload: &[u8],
        reply_len: usize,
    ) -> Result<Vec<u8>, CosimError> {
        debug_assert_eq!(
            header.len(),
            usize::from(proto::HEADER_BYTES[usize::from(op)])
        );
        let mut bytes = vec![op];
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(payload);
        let r = self.exchange(&framed(&bytes), reply_len)?;
        let n = self.frames;
        let named = |s: u8| status_name(s).unwrap_or("not a status");
        if r.status != proto::OK {
            return Err(err(format!(
                "{} frame {n}: the bridge answered {:#04x} ({})",
                op_name(op),
                r.status,
                named(r.status)
            )));
        }
        if let Some(s) = r.status2.filter(|&s| s != proto::OK) {
            return Err(err(format!(
                "{} frame {n}: the bridge's second status {s:#04x} ({})",
                op_name(op),
                named(s)
            )));
        }
        Ok(r.payload)
    }

    /// Reads register `reg`.
    pub fn read_reg(&mut self, reg: Reg) -> Result<u32, CosimError> {
        let p = self.frame(proto::OP_READ, &[reg.offset() as u8], &[], 4)?;
        Ok(u32::from_le_bytes([p[0], p[1], p[2], p[3]]))
    }

    /// Writes register `reg`.
    pub fn write_reg(&mut self, reg: Reg, v: u32) -> Result<(), CosimError> {
        let mut h = vec![reg.offset() as u8];
        h.extend(v.to_le_bytes());
        self.frame(proto::OP_WRITE, &h, &[], 0).map(|_| ())
    }

    /// Resets the engine through the bridge.
    pub fn reset_engine(&mut self) -> Result<(), CosimError> {
        self.sel = None;
        self.lane = None;
        self.frame(proto::OP_RESET, &[], &[], 0).map(|_| ())
    }

    /// Sends `words` on the input stream.
    pub fn send_words(&mut self, words: &[u64]) -> Result<(), CosimError> {
        for chunk in words.chunks(FRAME_WORDS) {
            let payload: Vec<u8> = chunk.iter().flat_map(|w| w.to_le_bytes()).collect();
            self.frame(
                proto::OP_SEND,
                &(chunk.len() as u16).to_le_bytes(),
                &payload,
                0,
            )?;
        }
        Ok(())
    }

    /// Receives `n` words from the output stream (a `STREAM_OUT` write asked for them).
    pub fn recv_words(&mut self, n: usize) -> Result<Vec<u64>, CosimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let k = (n - out.len()).min(FRAME_WORDS);
            let p = self.frame(proto::OP_RECV, &(k as u16).to_le_bytes(), &[], 8 * k)?;
            out.extend(
                p.chunks(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("eight bytes"))),
            );
        }
        Ok(out)
    }

    fn select(&mut self, sel: BufSel, lane: u32, addr: u32) -> Result<(), CosimError> {
        if self.sel != Some(sel) {
            self.write_reg(Reg::BufSel, sel as u32)?;
            self.sel = Some(sel);
        }
        if self.lane != Some(lane) {
            self.write_reg(Reg::BufLane, lane)?;
            self.lane = Some(lane);
        }
        self.write_reg(Reg::BufAddr, addr)
    }

    fn take_deferred(&mut self) -> Result<(), CosimError> {
        self.deferred.take().map_or(Ok(()), Err)
    }

    /// Reads `ID` and `GEOMETRY` and checks that the engine is the one `cfg` describes.
    pub fn identify(&mut self) -> Result<(), CosimError> {
        let (id, geometry) = (self.read_reg(Reg::Id)?, self.read_reg(Reg::Geometry)?);
        crate::driver::check_identity(&self.cfg, id, geometry)
    }
}

impl<L: Line> EngineBus for UartBus<L> {
    fn cfg(&self) -> &AccelConfig {
        &self.cfg
    }

    fn write_words(&mut self, sel: BufSel, lane: u32, addr: u32, values: &[i64]) {
        if values.is_empty() || self.deferred.is_some() {
            return;
        }
        let words: Vec<u64> = values.iter().map(|&v| v as u64).collect();
        if let Err(e) = self
            .select(sel, lane, addr)
            .and_then(|_| self.send_words(&words))
        {
            self.deferred = Some(e);
        }
    }

    fn read_words(
        &mut self,
        lane: u32,
        addr: u32,
        n: u32,
        _wide: bool,
    ) -> Result<Vec<i64>, CosimError> {
        self.take_deferred()?;
        self.select(BufSel::Output, lane, addr)?;
        self.write_reg(Reg::StreamOut, n)?;
        // The stream carries whole words, sign-extended to 64 bits.
        Ok(self
            .recv_words(n as usize)?
            .into_iter()
            .map(|w| w as i64)
            .collect())
    }

    /// Writes the layer's registers and START, then polls `STATUS` until DONE: at most as many
    /// polls as `limit` cycles hold (a poll takes ten bytes on the line), and at least 16.
    fn run(&mut self, d: &Descriptor, limit: u64) -> Result<LayerRun, CosimError> {
        self.take_deferred()?;
        for (reg, v) in layer_writes(&self.cfg, d) {
            self.write_reg(reg, v)?;
        }
        self.write_reg(Reg::Ctrl, CTRL_START)?;
        let start_cycle = self.line.now();
        let poll = 100 * u64::from(self.line.bit_cycles());
        let polls = (limit / poll).max(16);
        let mut k = 0;
        while self.read_reg(Reg::Status)? & STATUS_DONE == 0 {
            k += 1;
            if k > polls {
                return Err(err(format!(
                    "DONE did not rise in {polls} polls of STATUS after START (about {limit} cycles)"
                )));
            }
        }
        let cycles = u64::from(self.read_reg(Reg::Cycles)?);
        let sat = u64::from(self.read_reg(Reg::SatCount)?);
        let mut accesses = [0; 5];
        for (v, r) in accesses.iter_mut().zip(ACCESS_REGS) {
            *v = self.read_reg(r)?;
        }
        Ok(LayerRun {
            start_cycle,
            done_at: cycles,
            cycles,
            sat,
            accesses,
        })
    }

    /// The serial line cannot time DONE to the cycle: `done_at` is `CYCLES`.
    fn times_done(&self) -> bool {
        false
    }

    fn cycle(&self) -> u64 {
        self.line.now()
    }
}

impl OpenBus for UartBus<SimLine> {
    fn open(
        cfg: &AccelConfig,
        model: &Arc<Model>,
        vcd: Option<&std::path::Path>,
    ) -> Result<Self, CosimError> {
        Ok(UartBus::new(cfg, SimLine::new(model, vcd, SIM_BIT_CYCLES)?))
    }
}

impl<L: Line> HostBus for UartBus<L> {
    const TOP: &'static str = shiftadd_sim::rtl::UART_MODULE;
    fn identify(&mut self) -> Result<(), CosimError> {
        UartBus::identify(self)
    }
    fn finish(&mut self) -> Result<(), CosimError> {
        self.take_deferred()
    }
}
