//! The engine's register map, typed: every register with its offset, access and fields (bit
//! ranges, enumerations), derived from the config. Everything that reads or writes a register
//! takes it from here: the engine's RTL decode, the bus driver, the compiled program, and the
//! generated views `regmap.md`, `regmap.h` and `regmap.rdl` (SystemRDL, for PeakRDL and other
//! register tools). 32-bit registers at byte offsets; `ID` is at 0x000 and `GEOMETRY` at 0x004
//! in every version.

use crate::engine::{seq_regs, Descriptor, LayerOp, OutputMode};
use crate::net::ConvKind;
use crate::rtl::address_bits;
use crate::spec::{AccelConfig, PeKinds};
use serde::Serialize;

/// Value of the `ID` register: "SA" and the register map version.
pub const ENGINE_ID: u32 = 0x5341_0005;
/// Register address bits of the engine's bus (byte offsets).
pub const REG_ADDR_BITS: usize = 8;
/// Byte address bits of the AXI4-Lite slave of `shiftadd_axi` (a 4 KiB window; the map sits at
/// its start, everything past it is unmapped).
pub const AXI_ADDR_BITS: usize = 12;
/// Register data bits.
pub const REG_DATA_BITS: usize = 32;
/// Bits of `OP`.
pub const OP_BITS: usize = 2;
/// Bits of `OUTPUT`: the mode (2 bits), `relu`, `residual`.
pub const OUTPUT_BITS: usize = 4;
/// Bits of `SHIFT`.
pub const SHIFT_BITS: usize = 7;
/// Bits of `BUF_SEL`.
pub const BUF_SEL_BITS: usize = 3;
/// Bits of `LAST_ROWS`, `POST_BASE` and `RES_BASE`.
pub const TILE_BITS: usize = 16;
/// Bits of the sequencer's loop bounds and coordinates (`OUT_H` to `W_END`).
pub const SEQ_COUNT_BITS: usize = 16;
/// Bits of the sequencer's addresses and steps (`IN_ORIGIN` to `OUT_TILE_STEP`), wrapping.
pub const SEQ_ADDR_BITS: usize = 32;

/// Access of a register by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read only; writes are ignored.
    Ro,
    /// Read and write.
    Rw,
    /// Write only (reads return 0).
    Wo,
    /// Read, and write 1 to clear a bit.
    Rw1c,
}

/// The registers, in map order: `Reg::ALL[i]` is at byte offset `4 * i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[allow(missing_docs)]
pub enum Reg {
    Id,
    Geometry,
    Ctrl,
    Status,
    Cycles,
    SatCount,
    Op,
    Output,
    Shift,
    LastRows,
    InSel,
    PostBase,
    ResBase,
    OutH,
    OutW,
    CoTiles,
    CiTiles,
    Kh,
    Kw,
    Stride,
    Pad,
    HEnd,
    WEnd,
    InOrigin,
    InRowStep,
    InTileStep,
    InKyStep,
    WBase,
    OutBase,
    OutTileStep,
    BufSel,
    BufLane,
    BufAddr,
    BufDataLo,
    BufDataHi,
    IrqEnable,
    IrqStatus,
    StreamOut,
    ActReads,
    ResReads,
    WeightReads,
    PostReads,
    OutWrites,
}

/// The access counters, in map order: the buffer words the datapath took or wrote since the last
/// START ([`crate::cycles::layer_accesses`]), each stopping at 2^32 - 1.
pub const ACCESS_REGS: [Reg; 5] = [
    Reg::ActReads,
    Reg::ResReads,
    Reg::WeightReads,
    Reg::PostReads,
    Reg::OutWrites,
];

/// The access counters' values after layer `d` on `cfg`'s engine, in [`ACCESS_REGS`] order
/// ([`crate::cycles::layer_accesses`], each stopping at 2^32 - 1).
pub fn access_counts(cfg: &AccelConfig, d: &Descriptor) -> [u32; 5] {
    let a = crate::cycles::layer_accesses(cfg, d);
    [
        a.act_reads,
        a.res_reads,
        a.weight_reads,
        a.post_reads,
        a.out_writes,
    ]
    .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// The first access counter of `got` that differs from `want` (both in [`ACCESS_REGS`] order),
/// described.
pub fn access_mismatch(got: &[u32; 5], want: &[u32; 5]) -> Option<String> {
    (0..ACCESS_REGS.len())
        .find(|&k| got[k] != want[k])
        .map(|k| format!("{} {}, model {}", ACCESS_REGS[k].name(), got[k], want[k]))
}

/// The sequencer's registers, in map order: the loop bounds and address steps the host computes
/// from a descriptor ([`crate::engine::seq_regs`]).
pub const SEQ_REGS: [Reg; 17] = [
    Reg::OutH,
    Reg::OutW,
    Reg::CoTiles,
    Reg::CiTiles,
    Reg::Kh,
    Reg::Kw,
    Reg::Stride,
    Reg::Pad,
    Reg::HEnd,
    Reg::WEnd,
    Reg::InOrigin,
    Reg::InRowStep,
    Reg::InTileStep,
    Reg::InKyStep,
    Reg::WBase,
    Reg::OutBase,
    Reg::OutTileStep,
];

impl Reg {
    /// Every register, in map order.
    pub const ALL: [Reg; 43] = [
        Reg::Id,
        Reg::Geometry,
        Reg::Ctrl,
        Reg::Status,
        Reg::Cycles,
        Reg::SatCount,
        Reg::Op,
        Reg::Output,
        Reg::Shift,
        Reg::LastRows,
        Reg::InSel,
        Reg::PostBase,
        Reg::ResBase,
        Reg::OutH,
        Reg::OutW,
        Reg::CoTiles,
        Reg::CiTiles,
        Reg::Kh,
        Reg::Kw,
        Reg::Stride,
        Reg::Pad,
        Reg::HEnd,
        Reg::WEnd,
        Reg::InOrigin,
        Reg::InRowStep,
        Reg::InTileStep,
        Reg::InKyStep,
        Reg::WBase,
        Reg::OutBase,
        Reg::OutTileStep,
        Reg::BufSel,
        Reg::BufLane,
        Reg::BufAddr,
        Reg::BufDataLo,
        Reg::BufDataHi,
        Reg::IrqEnable,
        Reg::IrqStatus,
        Reg::StreamOut,
        Reg::ActReads,
        Reg::ResReads,
        Reg::WeightReads,
        Reg::PostReads,
        Reg::OutWrites,
    ];

    /// Byte offset.
    pub const fn offset(self) -> u32 {
        4 * self as u32
    }

    /// The register at byte offset `offset`.
    pub fn at(offset: u32) -> Option<Reg> {
        offset
            .is_multiple_of(4)
            .then(|| Reg::ALL.get((offset / 4) as usize).copied())
            .flatten()
    }

    /// Name, upper case (as in the C header and the Markdown).
    pub fn name(self) -> &'static str {
        match self {
            Reg::Id => "ID",
            Reg::Geometry => "GEOMETRY",
            Reg::Ctrl => "CTRL",
            Reg::Status => "STATUS",
            Reg::Cycles => "CYCLES",
            Reg::SatCount => "SAT_COUNT",
            Reg::Op => "OP",
            Reg::Output => "OUTPUT",
            Reg::Shift => "SHIFT",
            Reg::LastRows => "LAST_ROWS",
            Reg::InSel => "IN_SEL",
            Reg::PostBase => "POST_BASE",
            Reg::ResBase => "RES_BASE",
            Reg::OutH => "OUT_H",
            Reg::OutW => "OUT_W",
            Reg::CoTiles => "CO_TILES",
            Reg::CiTiles => "CI_TILES",
            Reg::Kh => "KH",
            Reg::Kw => "KW",
            Reg::Stride => "STRIDE",
            Reg::Pad => "PAD",
            Reg::HEnd => "H_END",
            Reg::WEnd => "W_END",
            Reg::InOrigin => "IN_ORIGIN",
            Reg::InRowStep => "IN_ROW_STEP",
            Reg::InTileStep => "IN_TILE_STEP",
            Reg::InKyStep => "IN_KY_STEP",
            Reg::WBase => "W_BASE",
            Reg::OutBase => "OUT_BASE",
            Reg::OutTileStep => "OUT_TILE_STEP",
            Reg::BufSel => "BUF_SEL",
            Reg::BufLane => "BUF_LANE",
            Reg::BufAddr => "BUF_ADDR",
            Reg::BufDataLo => "BUF_DATA_LO",
            Reg::BufDataHi => "BUF_DATA_HI",
            Reg::IrqEnable => "IRQ_ENABLE",
            Reg::IrqStatus => "IRQ_STATUS",
            Reg::StreamOut => "STREAM_OUT",
            Reg::ActReads => "ACT_READS",
            Reg::ResReads => "RES_READS",
            Reg::WeightReads => "WEIGHT_READS",
            Reg::PostReads => "POST_READS",
            Reg::OutWrites => "OUT_WRITES",
        }
    }

    /// The register named `name` (upper case).
    pub fn named(name: &str) -> Option<Reg> {
        Reg::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Access by the host.
    pub fn access(self) -> Access {
        match self {
            Reg::Id | Reg::Geometry | Reg::Status | Reg::Cycles | Reg::SatCount => Access::Ro,
            r if ACCESS_REGS.contains(&r) => Access::Ro,
            Reg::Ctrl => Access::Wo,
            Reg::IrqStatus => Access::Rw1c,
            _ => Access::Rw,
        }
    }
}

/// An enumerated field value: code, name, meaning.
pub type EnumValue = (u32, &'static str, &'static str);

/// `OP`: what the layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// The array's own convolution: shift on a dual-mode array, multiply on a multiply array.
    Conv = 0,
    /// Adder convolution (the dual-mode array's adder mode).
    Adder = 1,
    /// Max pooling.
    MaxPool = 2,
    /// Average pooling (`SHIFT` = log2 of the window size).
    AvgPool = 3,
}

impl OpCode {
    /// The code of a layer.
    pub fn of(op: LayerOp) -> OpCode {
        match op {
            LayerOp::Conv(ConvKind::Adder) => OpCode::Adder,
            LayerOp::Conv(_) => OpCode::Conv,
            LayerOp::MaxPool => OpCode::MaxPool,
            LayerOp::AvgPool => OpCode::AvgPool,
        }
    }
    /// The field values.
    pub const VALUES: [EnumValue; 4] = [
        (
            0,
            "conv",
            "the array's own convolution: shift on a dual-mode array, multiply on a multiply array",
        ),
        (
            1,
            "adder",
            "adder convolution (the dual-mode array's adder mode)",
        ),
        (2, "max_pool", "max pooling"),
        (
            3,
            "avg_pool",
            "average pooling (SHIFT = log2 of the window size)",
        ),
    ];
}

/// `OUTPUT` bits 0-1: what happens to a convolution's sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputCode {
    /// Batch norm, residual and ReLU, saturated to an activation code.
    Post = 0,
    /// Onto the adder grid.
    Handoff = 1,
    /// Rounded to an activation code.
    Round = 2,
    /// The classifier's affine step, kept wide.
    Logits = 3,
}

impl OutputCode {
    /// The field values.
    pub const VALUES: [EnumValue; 4] = [
        (
            0,
            "post",
            "sat_act(max?(floor_shr(M_c * v + B_c, SHIFT) + R?, 0))",
        ),
        (
            1,
            "handoff",
            "sat_add(rne_shr(v, SHIFT)): onto the adder grid",
        ),
        (2, "round", "sat_act(floor_shr(v, SHIFT))"),
        (
            3,
            "logits",
            "floor_shr(M_c * v + B_c, SHIFT), kept wide (the classifier)",
        ),
    ];
}

/// `BUF_SEL`: the buffer of the access port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufSel {
    /// Input activations (write).
    Input = 0,
    /// The output buffer (read; written only between layers, for tests and fault injection).
    Output = 1,
    /// Residual activations (write).
    Residual = 2,
    /// Weights (write).
    Weights = 3,
    /// Post-processing `M_c` (write).
    PostM = 4,
    /// Post-processing `B_c` (write).
    PostB = 5,
}

impl BufSel {
    /// Every buffer.
    pub const ALL: [BufSel; 6] = [
        BufSel::Input,
        BufSel::Output,
        BufSel::Residual,
        BufSel::Weights,
        BufSel::PostM,
        BufSel::PostB,
    ];

    /// The name of the engine's memory instances of this buffer, one per lane, `<name>_<lane>`
    /// (the engine's fields in `hdl/src/engine/core.rs` carry these names; a simulation reaches
    /// the buffers directly by them).
    pub fn instance(self) -> &'static str {
        match self {
            BufSel::Input => "act_in",
            BufSel::Output => "out_buf",
            BufSel::Residual => "res_buf",
            BufSel::Weights => "weights",
            BufSel::PostM => "post_m",
            BufSel::PostB => "post_b",
        }
    }

    /// The lanes (memory instances) of this buffer in `cfg`: a bank per column for the inputs,
    /// one per PE for the weights, one per row for the others.
    pub fn lanes(self, cfg: &crate::spec::AccelConfig) -> u32 {
        match self {
            BufSel::Input => cfg.cols,
            BufSel::Weights => cfg.lanes(),
            BufSel::Output | BufSel::Residual | BufSel::PostM | BufSel::PostB => cfg.rows,
        }
    }

    /// The field values.
    pub const VALUES: [EnumValue; 6] = [
        (0, "input", "input activations (write)"),
        (
            1,
            "output",
            "output activations (read; written only between layers, for tests and fault injection)",
        ),
        (2, "residual", "residual activations (write)"),
        (3, "weights", "weights (write)"),
        (4, "post_m", "post-processing M_c (write)"),
        (5, "post_b", "post-processing B_c (write)"),
    ];
}

/// `STATUS` bit 0: the engine is issuing or draining.
pub const STATUS_BUSY: u32 = 1 << 0;
/// `STATUS` bit 1: a layer ended (cleared by START).
pub const STATUS_DONE: u32 = 1 << 1;
/// `CTRL` bit 0: start the layer held in the registers.
pub const CTRL_START: u32 = 1 << 0;
/// `IRQ_ENABLE` and `IRQ_STATUS` bit 0: a layer ended.
pub const IRQ_DONE: u32 = 1 << 0;
/// Bits of `STREAM_OUT`: output words one request streams.
pub const STREAM_BITS: usize = 24;

/// One field of a register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Name, lower case.
    pub name: &'static str,
    /// Lowest bit.
    pub lsb: u32,
    /// Width.
    pub bits: u32,
    /// Enumerated values, if any.
    pub values: &'static [EnumValue],
    /// What it holds.
    pub doc: String,
}

/// One 32-bit register of the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Register {
    /// Which.
    pub reg: Reg,
    /// Name (upper case).
    pub name: &'static str,
    /// Byte offset.
    pub offset: u32,
    /// Access.
    pub access: Access,
    /// Its fields, lowest first.
    pub fields: Vec<Field>,
    /// What it does.
    pub doc: String,
    /// Value after power-up (and reset).
    pub reset: u32,
}

impl Field {
    /// The field's bits within its register.
    pub fn mask(&self) -> u32 {
        (((1u64 << self.bits) - 1) as u32) << self.lsb
    }
}

impl Register {
    /// Bits used, from bit 0.
    pub fn bits(&self) -> u32 {
        self.fields
            .iter()
            .map(|f| f.lsb + f.bits)
            .max()
            .unwrap_or(0)
    }
}

fn field(name: &'static str, lsb: u32, bits: usize, doc: impl Into<String>) -> Field {
    Field {
        name,
        lsb,
        bits: bits as u32,
        values: &[],
        doc: doc.into(),
    }
}

/// An access counter's description and field.
fn counter(what: &str) -> (String, Vec<Field>) {
    (
        format!("{what}, since the last START (`sim::cycles::layer_accesses`; stops at 2^32 - 1)"),
        vec![field("count", 0, 32, "words")],
    )
}

/// Bits of `BUF_LANE` for `cfg`: a weight lane number.
pub fn buf_lane_bits(cfg: &AccelConfig) -> usize {
    address_bits(cfg.lanes())
}

/// Bits of `BUF_ADDR` that address a word of `cfg`'s deepest buffer behind the access port (the
/// register keeps all 32 bits, as it reads back).
pub fn buf_addr_bits(cfg: &AccelConfig) -> usize {
    address_bits(cfg.act_bank_depth().max(cfg.weight_depth()))
}

/// The value of the `GEOMETRY` register of `cfg`'s engine.
pub fn geometry(cfg: &AccelConfig) -> u32 {
    let mult = u32::from(cfg.pe_kinds == PeKinds::Mult);
    (cfg.rows - 1) | ((cfg.cols - 1) << 8) | (mult << 16)
}

/// The registers of `cfg`'s engine, in map order.
pub fn registers(cfg: &AccelConfig) -> Vec<Register> {
    Reg::ALL.iter().map(|&r| register(cfg, r)).collect()
}

/// Register `reg` of `cfg`'s engine.
pub fn register(cfg: &AccelConfig, reg: Reg) -> Register {
    let (doc, fields): (String, Vec<Field>) = match reg {
        Reg::Id => (
            format!("{ENGINE_ID:#010x}: \"SA\" and the register map version"),
            vec![field("id", 0, 32, "the engine's identity")],
        ),
        Reg::Geometry => (
            "the array's size and kind".into(),
            vec![
                field("rows_m1", 0, 8, "rows - 1"),
                field("cols_m1", 8, 8, "cols - 1"),
                field(
                    "mult",
                    16,
                    1,
                    "1 for a multiply array, 0 for a dual-mode array",
                ),
            ],
        ),
        Reg::Ctrl => (
            "control".into(),
            vec![field(
                "start",
                0,
                1,
                "write 1 to run the layer held in the registers",
            )],
        ),
        Reg::Status => (
            "status".into(),
            vec![
                field("busy", 0, 1, "issuing or draining"),
                field("done", 1, 1, "set when a layer ends, cleared by START"),
            ],
        ),
        Reg::Cycles => (
            "cycles of the last layer from START to DONE (`sim::cycles::layer_cycles`)".into(),
            vec![field("cycles", 0, 32, "cycle count")],
        ),
        Reg::SatCount => (
            "values saturated by post-processing, hand-off or rounding since the last START (stops at 2^32 - 1)".into(),
            vec![field("count", 0, 32, "saturation count")],
        ),
        Reg::Op => (
            "what the layer computes".into(),
            vec![Field {
                values: &OpCode::VALUES,
                ..field("op", 0, OP_BITS, if cfg.pe_kinds == PeKinds::Mult {
                    "0 multiply convolution, 2 max pool, 3 average pool"
                } else {
                    "0 shift, 1 adder convolution (the dual-mode array's mode), 2 max pool, 3 average pool"
                })
            }],
        ),
        Reg::Output => (
            "what happens to a convolution's sums".into(),
            vec![
                Field {
                    values: &OutputCode::VALUES,
                    ..field("mode", 0, 2, "0 post, 1 hand-off, 2 round, 3 logits")
                },
                field("relu", 2, 1, "ReLU after the affine step (post, logits)"),
                field("residual", 3, 1, "add the residual tensor at RES_BASE (post)"),
            ],
        ),
        Reg::Shift => (
            format!(
                "S of the affine step (at most {}), the hand-off or rounding shift, or log2 of an average pooling window",
                cfg.post_s_max
            ),
            vec![field("shift", 0, SHIFT_BITS, "right shift")],
        ),
        Reg::LastRows => (
            "output channels in the last output-channel tile: `cout - (co_tiles - 1) * rows`; the other rows of that tile write 0".into(),
            vec![field("rows", 0, TILE_BITS, "channels")],
        ),
        Reg::InSel => (
            "input source".into(),
            vec![field(
                "from_output",
                0,
                1,
                "0 the input buffer, 1 the output buffer (an earlier layer's output, left in place; its words must not overlap the output's)",
            )],
        ),
        Reg::PostBase => (
            "word of the first tile's post-processing parameters (tile t at POST_BASE + t)".into(),
            vec![field("base", 0, TILE_BITS, "word")],
        ),
        Reg::ResBase => (
            "first word of the residual tensor in the residual banks (laid out as the output: the residual of output word `o` is read at `o - out_base + RES_BASE`)".into(),
            vec![field("base", 0, TILE_BITS, "word")],
        ),
        Reg::BufSel => (
            "buffer of the access port".into(),
            vec![Field {
                values: &BufSel::VALUES,
                ..field(
                    "sel",
                    0,
                    BUF_SEL_BITS,
                    "0 input, 1 output, 2 residual, 3 weights, 4 post M, 5 post B",
                )
            }],
        ),
        Reg::BufLane => (
            "lane of the access port".into(),
            vec![field(
                "lane",
                0,
                buf_lane_bits(cfg),
                "bank (activations: channel modulo cols; outputs and post parameters: channel modulo rows) or weight lane r * cols + c",
            )],
        ),
        Reg::BufAddr => (
            "word of the access port; incremented after each write of BUF_DATA_LO, and after each read of BUF_DATA_LO when BUF_SEL = 1".into(),
            vec![field(
                "addr",
                0,
                REG_DATA_BITS,
                format!(
                    "word; its low {} bits address the buffers (the register keeps all 32 and reads them back)",
                    buf_addr_bits(cfg)
                ),
            )],
        ),
        Reg::BufDataLo => (
            "write: the value to store at BUF_SEL / BUF_LANE / BUF_ADDR (then BUF_ADDR + 1); read: bits 0-31 of the output word at BUF_LANE / BUF_ADDR (valid one cycle after BUF_ADDR or BUF_LANE was written; then BUF_ADDR + 1, so consecutive reads stream consecutive words; a BUF_LANE past the last output bank, `rows` - 1, reads 0 in both halves)".into(),
            vec![field("data", 0, 32, "bits 0-31")],
        ),
        Reg::BufDataHi => (
            "write: bits 32-63 of the values written next through BUF_DATA_LO; read: bits 32-63 of the output word, sign-extended (read it before BUF_DATA_LO, which moves to the next word)".into(),
            vec![field("data", 0, 32, "bits 32-63")],
        ),
        Reg::IrqEnable => (
            "interrupt enable: `irq` is high while a bit is set in both IRQ_ENABLE and IRQ_STATUS".into(),
            vec![field("done", 0, 1, "interrupt when a layer ends")],
        ),
        Reg::IrqStatus => (
            "interrupt status; write 1 to clear a bit".into(),
            vec![field("done", 0, 1, "set when a layer ends")],
        ),
        Reg::StreamOut => (
            "write N: stream N output words on the output stream, from the output buffer at BUF_LANE / BUF_ADDR on (BUF_ADDR advances), the last with TLAST; read: the words still to stream. The input stream writes each beat's 64 bits at BUF_SEL / BUF_LANE / BUF_ADDR, as BUF_DATA_HI and BUF_DATA_LO would".into(),
            vec![field("words", 0, STREAM_BITS, "words")],
        ),
        Reg::ActReads => counter("input words read: `cols` per issued tap inside the input (from the input banks, or the output banks with IN_SEL)"),
        Reg::ResReads => counter("residual words read: `rows` per output write of a layer adding a residual"),
        Reg::WeightReads => counter("weight words read: every lane's per issued tap of a convolution"),
        Reg::PostReads => counter("post-processing pairs M_c, B_c read: `rows` per output write of a post or logits layer"),
        Reg::OutWrites => counter("output words written: `rows` per output write"),
        seq => {
            let (bits, doc) = match seq {
                Reg::OutH => (SEQ_COUNT_BITS, "output rows"),
                Reg::OutW => (SEQ_COUNT_BITS, "output columns"),
                Reg::CoTiles => (SEQ_COUNT_BITS, "output-channel tiles of `rows` channels"),
                Reg::CiTiles => (SEQ_COUNT_BITS, "input-channel tiles of `cols` channels"),
                Reg::Kh => (SEQ_COUNT_BITS, "kernel rows"),
                Reg::Kw => (SEQ_COUNT_BITS, "kernel columns"),
                Reg::Stride => (SEQ_COUNT_BITS, "stride"),
                Reg::Pad => (SEQ_COUNT_BITS, "zero padding"),
                Reg::HEnd => (SEQ_COUNT_BITS, "input height plus padding"),
                Reg::WEnd => (SEQ_COUNT_BITS, "input width plus padding"),
                Reg::InOrigin => (
                    SEQ_ADDR_BITS,
                    "input word of padded position (0, 0): `in_base - pad * w - pad` modulo 2^32",
                ),
                Reg::InRowStep => (SEQ_ADDR_BITS, "`stride * w`"),
                Reg::InTileStep => (SEQ_ADDR_BITS, "`h * w`"),
                Reg::InKyStep => (SEQ_ADDR_BITS, "`w`"),
                Reg::WBase => (SEQ_ADDR_BITS, "first weight word"),
                Reg::OutBase => (SEQ_ADDR_BITS, "first output word"),
                Reg::OutTileStep => (SEQ_ADDR_BITS, "`out_h * out_w`"),
                _ => unreachable!("every other register is listed above"),
            };
            (doc.into(), vec![field("value", 0, bits, doc)])
        }
    };
    let reset = match reg {
        Reg::Id => ENGINE_ID,
        Reg::Geometry => geometry(cfg),
        _ => 0,
    };
    Register {
        reg,
        name: reg.name(),
        offset: reg.offset(),
        access: reg.access(),
        fields,
        doc,
        reset,
    }
}

/// `OUTPUT` value of an output mode.
pub fn output_value(o: OutputMode) -> u32 {
    let (mode, relu, residual) = match o {
        OutputMode::Post { relu, residual } => (OutputCode::Post, relu, residual),
        OutputMode::Handoff => (OutputCode::Handoff, false, false),
        OutputMode::Round => (OutputCode::Round, false, false),
        OutputMode::Logits { relu } => (OutputCode::Logits, relu, false),
    };
    mode as u32 | (u32::from(relu) << 2) | (u32::from(residual) << 3)
}

/// `LAST_ROWS` of a layer: output channels in its last tile.
pub fn last_rows(cfg: &AccelConfig, d: &Descriptor) -> u32 {
    d.out_c() - (d.co_tiles(cfg) - 1) * cfg.rows
}

/// The register writes that set up layer `d` on `cfg`'s engine, in the order a driver writes
/// them: everything START runs with.
pub fn layer_writes(cfg: &AccelConfig, d: &Descriptor) -> Vec<(Reg, u32)> {
    let s = seq_regs(cfg, d);
    let seq = [
        s.out_h,
        s.out_w,
        s.co_tiles,
        s.ci_tiles,
        s.kh,
        s.kw,
        s.stride,
        s.pad,
        s.h_end,
        s.w_end,
        s.in_origin,
        s.in_row_step,
        s.in_tile_step,
        s.in_ky_step,
        s.w_base,
        s.out_base,
        s.out_tile_step,
    ];
    let mut v = vec![
        (Reg::InSel, u32::from(d.in_from_output)),
        (Reg::Op, OpCode::of(d.op) as u32),
        (Reg::Output, output_value(d.output)),
        (Reg::Shift, d.shift),
        (Reg::LastRows, last_rows(cfg, d)),
        (Reg::PostBase, d.post_base),
        (Reg::ResBase, d.res_base),
    ];
    v.extend(SEQ_REGS.into_iter().zip(seq));
    v
}

fn ident(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// The register map as Markdown.
pub fn regmap_markdown(cfg: &AccelConfig) -> String {
    let mut s = format!(
        "# Register map of the shiftadd engine, config `{}`\n\nGenerated from the config by shiftadd; do not edit. 32-bit registers, byte offsets. Array {} x {}; activation banks of {} words, {} weight words of {} lanes, {} post-processing words per lane.\n\n| offset | name | access | bits | contents |\n|---|---|---|---|---|\n",
        cfg.name,
        cfg.rows,
        cfg.cols,
        cfg.act_bank_depth(),
        cfg.weight_depth(),
        cfg.lanes(),
        cfg.post_depth(),
    );
    for r in registers(cfg) {
        let fields: Vec<String> = r
            .fields
            .iter()
            .map(|f| {
                let range = if f.bits == 1 {
                    format!("[{}]", f.lsb)
                } else {
                    format!("[{}:{}]", f.lsb + f.bits - 1, f.lsb)
                };
                let values: Vec<String> = f
                    .values
                    .iter()
                    .map(|(v, n, _)| format!("{v} `{n}`"))
                    .collect();
                if values.is_empty() {
                    format!("`{}` {range}: {}", f.name, f.doc)
                } else {
                    format!("`{}` {range}: {}", f.name, values.join(", "))
                }
            })
            .collect();
        s.push_str(&format!(
            "| `{:#05x}` | `{}` | {:?} | {} | {}. {} |\n",
            r.offset,
            r.name,
            r.access,
            r.bits(),
            r.doc,
            fields.join("; ")
        ));
    }
    s
}

/// The register map as a C header: `SHIFTADD_<REG>_OFFSET`, and per field `_SHIFT`, `_MASK`
/// and its enumerated values.
pub fn regmap_header(cfg: &AccelConfig) -> String {
    let guard = format!("SHIFTADD_REGS_{}_H", ident(&cfg.name));
    let mut s = format!(
        "/* Register map of the shiftadd engine, config `{}`. Generated by shiftadd; do not edit. */\n#ifndef {guard}\n#define {guard}\n\n#define SHIFTADD_ID 0x{ENGINE_ID:08x}u\n#define SHIFTADD_GEOMETRY 0x{:05x}u\n#define SHIFTADD_ROWS {}u\n#define SHIFTADD_COLS {}u\n#define SHIFTADD_ACT_BANK_WORDS {}u\n#define SHIFTADD_WEIGHT_WORDS {}u\n#define SHIFTADD_POST_WORDS {}u\n\n",
        cfg.name,
        geometry(cfg),
        cfg.rows,
        cfg.cols,
        cfg.act_bank_depth(),
        cfg.weight_depth(),
        cfg.post_depth()
    );
    for r in registers(cfg) {
        s.push_str(&format!(
            "#define SHIFTADD_{}_OFFSET 0x{:03x}u /* {:?}, {} bits */\n",
            r.name,
            r.offset,
            r.access,
            r.bits()
        ));
        for f in &r.fields {
            let base = format!("SHIFTADD_{}_{}", r.name, ident(f.name));
            s.push_str(&format!(
                "#define {base}_SHIFT {}u\n#define {base}_MASK 0x{:08x}u\n",
                f.lsb,
                f.mask()
            ));
            for (v, n, _) in f.values {
                s.push_str(&format!("#define {base}_{} {v}u\n", ident(n)));
            }
        }
    }
    s.push_str(&format!("\n#endif /* {guard} */\n"));
    s
}

/// The register map as the drivers need it, the same for every config: offsets, field shifts
/// and enumerated values (`drivers/c/shiftadd_regs.h`).
pub fn driver_header() -> String {
    let cfg = crate::spec::presets::seed();
    let mut s = String::from(
        "/* Register offsets and fields of the shiftadd engine, the same for every config.\n * Generated by shiftadd (`shiftadd drivers --out drivers`); do not edit. */\n#ifndef SHIFTADD_REGS_H\n#define SHIFTADD_REGS_H\n\n",
    );
    s.push_str(&format!(
        "#define SHIFTADD_ID 0x{ENGINE_ID:08x}u\n#define SHIFTADD_AXI_ADDR_BITS {AXI_ADDR_BITS}u\n\n"
    ));
    for r in registers(&cfg) {
        s.push_str(&format!(
            "#define SHIFTADD_{}_OFFSET 0x{:03x}u\n",
            r.name, r.offset
        ));
        for f in &r.fields {
            let base = format!("SHIFTADD_{}_{}", r.name, ident(f.name));
            s.push_str(&format!("#define {base}_SHIFT {}u\n", f.lsb));
            for (v, n, _) in f.values {
                s.push_str(&format!("#define {base}_{} {v}u\n", ident(n)));
            }
        }
    }
    s.push_str("\n#endif /* SHIFTADD_REGS_H */\n");
    s
}

/// The register map for the Python driver (`drivers/python/shiftadd/regs.py`): offsets and
/// enumerated values, the same for every config.
pub fn driver_python() -> String {
    let cfg = crate::spec::presets::seed();
    let mut s = String::from(
        "\"\"\"Register offsets of the shiftadd engine, the same for every config.\n\nGenerated by shiftadd (`shiftadd drivers --out drivers`); do not edit.\n\"\"\"\n\n",
    );
    s.push_str(&format!("ID = 0x{ENGINE_ID:08x}\n\nOFFSET = {{\n"));
    for r in registers(&cfg) {
        s.push_str(&format!("    \"{}\": 0x{:03x},\n", r.name, r.offset));
    }
    s.push_str("}\n\n");
    for r in registers(&cfg) {
        for f in &r.fields {
            for (v, n, _) in f.values {
                s.push_str(&format!("{}_{} = {v}\n", ident(f.name), ident(n)));
            }
        }
    }
    s.push_str(&format!(
        "STATUS_BUSY = {STATUS_BUSY}\nSTATUS_DONE = {STATUS_DONE}\nCTRL_START = {CTRL_START}\nIRQ_DONE = {IRQ_DONE}\n"
    ));
    s
}

/// A SystemRDL string literal.
fn rdl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The register map as SystemRDL 2.0: one `addrmap` with a `reg` per register, its fields with
/// software access, reset values and enumerations.
pub fn regmap_rdl(cfg: &AccelConfig) -> String {
    let map = format!("shiftadd_{}", cfg.name.replace('-', "_"));
    let mut s = format!(
        "// Register map of the shiftadd engine, config `{}`. Generated by shiftadd; do not edit.\n\n",
        cfg.name
    );
    let mut enums = std::collections::BTreeSet::new();
    for r in registers(cfg) {
        for f in &r.fields {
            if !f.values.is_empty() && enums.insert(f.name) {
                s.push_str(&format!("enum {}_e {{\n", f.name));
                for (v, n, doc) in f.values {
                    s.push_str(&format!(
                        "    {n} = {}'d{v} {{ desc = {}; }};\n",
                        f.bits,
                        rdl_string(doc)
                    ));
                }
                s.push_str("};\n\n");
            }
        }
    }
    s.push_str(&format!(
        "addrmap {map} {{\n    name = {};\n    desc = {};\n    default regwidth = 32;\n    default accesswidth = 32;\n",
        rdl_string(&format!("shiftadd engine, config {}", cfg.name)),
        rdl_string(&format!(
            "Array {} x {}; activation banks of {} words, {} weight words of {} lanes.",
            cfg.rows,
            cfg.cols,
            cfg.act_bank_depth(),
            cfg.weight_depth(),
            cfg.lanes()
        ))
    ));
    for r in registers(cfg) {
        let sw = match r.access {
            Access::Ro => "r",
            Access::Rw | Access::Rw1c => "rw",
            Access::Wo => "w",
        };
        s.push_str(&format!(
            "\n    reg {{\n        name = {};\n        desc = {};\n",
            rdl_string(r.name),
            rdl_string(&r.doc)
        ));
        for f in &r.fields {
            let reset = (u64::from(r.reset) >> f.lsb) & ((1u64 << f.bits) - 1);
            let hw = match r.access {
                Access::Ro => "w",
                Access::Rw1c => "rw",
                _ => "r",
            };
            let mut props = format!(
                "sw = {sw}; hw = {hw}; desc = {}; reset = {}'h{reset:x};",
                rdl_string(&f.doc),
                f.bits
            );
            if !f.values.is_empty() {
                props.push_str(&format!(" encode = {}_e;", f.name));
            }
            if r.reg == Reg::Ctrl {
                props.push_str(" singlepulse;");
            }
            if r.access == Access::Rw1c {
                props.push_str(" onwrite = woclr; hwset;");
            }
            s.push_str(&format!(
                "        field {{ {props} }} {}[{}:{}];\n",
                f.name,
                f.lsb + f.bits - 1,
                f.lsb
            ));
        }
        s.push_str(&format!(
            "    }} {} @ 0x{:03x};\n",
            r.name.to_lowercase(),
            r.offset
        ));
    }
    s.push_str("};\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::presets;
    use std::collections::BTreeSet;

    #[test]
    fn registers_are_aligned_distinct_and_hold_their_limits() {
        assert_eq!(Reg::Id.offset(), 0);
        assert_eq!(Reg::Geometry.offset(), 4);
        for cfg in presets::all() {
            let regs = registers(&cfg);
            let offsets: BTreeSet<u32> = regs.iter().map(|r| r.offset).collect();
            assert_eq!(offsets.len(), regs.len());
            for r in &regs {
                assert_eq!(r.offset % 4, 0);
                assert_eq!(Reg::at(r.offset), Some(r.reg));
                assert_eq!(Reg::named(r.name), Some(r.reg));
                assert!(r.bits() >= 1 && r.bits() <= 32, "{}", r.name);
                // Fields do not overlap.
                let mut used = 0u64;
                for f in &r.fields {
                    let m = ((1u64 << f.bits) - 1) << f.lsb;
                    assert_eq!(used & m, 0, "{}.{}", r.name, f.name);
                    used |= m;
                    for (v, _, _) in f.values {
                        assert!(u64::from(*v) < 1 << f.bits, "{}.{}", r.name, f.name);
                    }
                }
            }
            let bits = |reg: Reg| register(&cfg, reg).bits();
            assert!(1u64 << bits(Reg::BufAddr) >= u64::from(cfg.act_bank_depth()));
            assert!(1u64 << bits(Reg::BufAddr) >= u64::from(cfg.weight_depth()));
            assert!(1u64 << bits(Reg::BufLane) >= u64::from(cfg.lanes()));
            assert!(1u32 << bits(Reg::Kh) > cfg.max_kernel);
            assert!(1u32 << bits(Reg::Shift) > cfg.post_s_max);
            let md = regmap_markdown(&cfg);
            let h = regmap_header(&cfg);
            let rdl = regmap_rdl(&cfg);
            for r in &regs {
                assert!(md.contains(&format!("| `{:#05x}` | `{}` |", r.offset, r.name)));
                assert!(h.contains(&format!("SHIFTADD_{}_OFFSET 0x{:03x}u", r.name, r.offset)));
                assert!(rdl.contains(&format!(
                    "}} {} @ 0x{:03x};",
                    r.name.to_lowercase(),
                    r.offset
                )));
            }
        }
    }

    #[test]
    fn encodings_follow_the_contract() {
        // Written out from the register map's documentation, not from the encoders.
        assert_eq!(OpCode::of(LayerOp::Conv(ConvKind::Shift)) as u32, 0);
        assert_eq!(OpCode::of(LayerOp::Conv(ConvKind::Mult)) as u32, 0);
        assert_eq!(OpCode::of(LayerOp::Conv(ConvKind::Adder)) as u32, 1);
        assert_eq!(OpCode::of(LayerOp::MaxPool) as u32, 2);
        assert_eq!(OpCode::of(LayerOp::AvgPool) as u32, 3);
        let post = |relu, residual| OutputMode::Post { relu, residual };
        assert_eq!(output_value(post(false, false)), 0b0000);
        assert_eq!(output_value(post(true, false)), 0b0100);
        assert_eq!(output_value(post(true, true)), 0b1100);
        assert_eq!(output_value(OutputMode::Handoff), 1);
        assert_eq!(output_value(OutputMode::Round), 2);
        assert_eq!(output_value(OutputMode::Logits { relu: true }), 0b0111);
        assert_eq!(geometry(&presets::lean8()), 0x0707);
        assert_eq!(geometry(&presets::seed_mult()), 0x1_0f0f);
        for (i, (v, _, _)) in BufSel::VALUES.iter().enumerate() {
            assert_eq!(*v as usize, i);
        }
        assert_eq!(BufSel::PostB as u32, 5);
    }
}
