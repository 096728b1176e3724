//! The program file: a compiled network ([`crate::program::compile`]) as the drivers read it
//! (`drivers/c`, `drivers/python`), written by `shiftadd compile`. Little-endian 32-bit words;
//! 64-bit values as two words, low first; signed values in two's complement.
//!
//! ```text
//! header   MAGIC, VERSION, engine ID, GEOMETRY, rows, cols, in_c, in_h, in_w, classes,
//!          nodes, segments, max_values (largest tensor of the network, in values)
//! table    in_c x 256 input codes (i32): the code of each 8-bit pixel value, per channel
//! segments segments x (first node, end node)
//! node     kind (0 engine, 1 flatten), src (i32, -1 the input), residual (i32, -1 none),
//!          out_c, out_h, out_w; an engine node then has:
//!          flags (bit 0 zero-fill the last input tile, bit 1 wide outputs, bit 2 input left
//!          in the output buffer by the layer before, bit 3 post-processing parameters),
//!          in_c, in_h, in_w (the engine's input tensor), in_base, out_base, res_base,
//!          w_base, post_base,
//!          gather count, then that many i32: index into the source tensor of each engine
//!          input value, -1 for 0 (count 0: the source tensor as it is),
//!          writes, then that many (register offset, value) pairs (everything before START),
//!          weight lanes, weight words, then lanes x words i64,
//!          post lanes, post words, then lanes x words i64 M_c, then as many B_c
//! ```

use crate::engine::unroll_input;
use crate::program::{Program, Work};
use crate::regmap::{geometry, layer_writes, ENGINE_ID};

/// First word of a program file: "SAPG".
pub const MAGIC: u32 = 0x4750_4153;
/// Version of the layout above.
pub const VERSION: u32 = 1;

/// Node kinds.
pub const NODE_ENGINE: u32 = 0;
/// A flatten, done by the host (the values are unchanged).
pub const NODE_FLATTEN: u32 = 1;

/// Engine node flags.
pub const FLAG_ZERO_FILL: u32 = 1;
/// Outputs are wider than 32 bits (logits, hand-offs of `add_bits` above 32).
pub const FLAG_WIDE: u32 = 2;
/// The input is where the layer before left it in the output buffer.
pub const FLAG_CHAINED: u32 = 4;
/// The node has post-processing parameters.
pub const FLAG_POST: u32 = 8;

struct Words(Vec<u32>);

impl Words {
    fn u(&mut self, v: u32) {
        self.0.push(v);
    }
    fn i(&mut self, v: i64) {
        self.0
            .push(i32::try_from(v).expect("a 32-bit field") as u32);
    }
    fn long(&mut self, v: i64) {
        self.0.push(v as u32);
        self.0.push((v >> 32) as u32);
    }
}

/// The program file of `program`, for inputs of shape `input` (`[c, h, w]`) turned into codes
/// by `table`, and `classes` logits.
pub fn encode(
    program: &Program,
    table: &[[i32; 256]],
    input: [usize; 3],
    classes: usize,
) -> Vec<u8> {
    let cfg = &program.cfg;
    let mut w = Words(Vec::new());
    let max_values = program
        .infos
        .iter()
        .flat_map(|i| [i.in_shape, i.out_shape])
        .map(|[c, h, w]| c * h * w)
        .max()
        .unwrap_or(0);
    for v in [
        MAGIC,
        VERSION,
        ENGINE_ID,
        geometry(cfg),
        cfg.rows,
        cfg.cols,
        input[0] as u32,
        input[1] as u32,
        input[2] as u32,
        classes as u32,
        program.layers.len() as u32,
        program.segments.len() as u32,
        max_values as u32,
    ] {
        w.u(v);
    }
    for ch in table.iter().take(input[0]) {
        for &code in ch {
            w.i(i64::from(code));
        }
    }
    for s in &program.segments {
        w.u(s.start as u32);
        w.u(s.end as u32);
    }
    for (layer, info) in program.layers.iter().zip(&program.infos) {
        let opt = |v: Option<usize>| v.map_or(-1, |s| s as i64);
        let kind = match layer.work {
            Work::Engine(_) => NODE_ENGINE,
            Work::Flatten => NODE_FLATTEN,
        };
        w.u(kind);
        w.i(opt(info.src));
        w.i(opt(info.residual));
        for v in info.out_shape {
            w.u(v as u32);
        }
        let Work::Engine(el) = &layer.work else {
            continue;
        };
        let d = &el.desc;
        let flag = |on: bool, bit: u32| if on { bit } else { 0 };
        let flags = flag(el.zero_fill, FLAG_ZERO_FILL)
            | flag(el.wide, FLAG_WIDE)
            | flag(d.in_from_output, FLAG_CHAINED)
            | flag(el.has_post, FLAG_POST);
        for v in [
            flags,
            d.cin,
            d.h,
            d.w,
            d.in_base,
            d.out_base,
            d.res_base,
            d.w_base,
            d.post_base,
        ] {
            w.u(v);
        }
        match &el.unrolled_from {
            Some(from) => {
                let n = (from.cin * from.h * from.w) as i64;
                // Indices from 1, so that the padding's 0 stands apart.
                let idx: Vec<i64> = (1..=n).collect();
                let g = unroll_input(from, &idx);
                w.u(g.len() as u32);
                for v in g {
                    w.i(v - 1);
                }
            }
            None => w.u(0),
        }
        let writes = layer_writes(cfg, d);
        w.u(writes.len() as u32);
        for (reg, v) in writes {
            w.u(reg.offset());
            w.u(v);
        }
        for image in [&el.weights] {
            w.u(image.len() as u32);
            w.u(image.first().map_or(0, Vec::len) as u32);
            for lane in image.iter() {
                for &v in lane {
                    w.long(v);
                }
            }
        }
        w.u(el.post_m.len() as u32);
        w.u(el.post_m.first().map_or(0, Vec::len) as u32);
        for image in [&el.post_m, &el.post_b] {
            for lane in image.iter() {
                for &v in lane {
                    w.long(v);
                }
            }
        }
    }
    w.0.iter().flat_map(|v| v.to_le_bytes()).collect()
}
