//! `AccelConfig`: the one place where an array size, a bit width or a buffer depth is written.
//!
//! Everything else (the reference model's limits, the RTL, the cycle and energy models) is derived
//! from a validated `AccelConfig`. Number formats follow `shared/spec/numerics.md`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The number formats of numerics.md. Accumulators are not formats: see [`AccWidths`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Formats {
    /// Activation code width (signed, saturating).
    pub act_bits: u32,
    /// Fractional bits of activation codes.
    pub act_frac: u32,
    /// Largest activation code (`sat_act` clamps to `[-2^(act_bits-1), act_max]`); absent means
    /// `2^(act_bits-1) - 1`. The original code's clamp is `2^31 - 2^16` at Q16.16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_max: Option<i64>,
    /// Shift weight bits; exponent magnitudes are `0..=pmax`, `pmax = 2^(shift_wb-1) - 2`.
    pub shift_wb: u32,
    /// Adder-layer operand code width (inputs and weights share one grid).
    pub add_bits: u32,
    /// Fractional bits of the adder grid.
    pub add_frac: u32,
    /// Multiply-baseline weight code width (the fractional bits are chosen per layer).
    pub mul_bits: u32,
}

impl Formats {
    /// The activation clamp: `act_bits` and `act_max` (its default when absent).
    pub fn act_range(&self) -> crate::numerics::ActRange {
        let full = crate::numerics::ActRange::full(self.act_bits);
        crate::numerics::ActRange {
            max: self.act_max.unwrap_or(full.max),
            ..full
        }
    }

    /// Largest shift exponent magnitude: `2^(shift_wb-1) - 2`.
    pub fn pmax(&self) -> u32 {
        (1u32 << (self.shift_wb - 1)) - 2
    }
}

/// How the PE array is built: shift and adder PEs (ShiftAddNet) as two arrays or as one array of
/// dual-mode PEs, multiply PEs (the baseline), or all three (AdderNet's multiply first layer and
/// classifier next to its adder layers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeKinds {
    /// A shift array and an adder array.
    ShiftAdd,
    /// One array of dual-mode PEs, each a shift or an adder PE per cycle.
    ShiftAddDual,
    /// Multiply-accumulate PEs only.
    Mult,
    /// Shift, adder and multiply PEs.
    All,
}

impl PeKinds {
    /// Whether the array runs convolutions of `kind`.
    pub fn runs(&self, kind: crate::net::ConvKind) -> bool {
        use crate::net::ConvKind;
        match self {
            PeKinds::ShiftAdd | PeKinds::ShiftAddDual => kind != ConvKind::Mult,
            PeKinds::Mult => kind == ConvKind::Mult,
            PeKinds::All => true,
        }
    }
    /// The configuration value.
    pub fn name(&self) -> &'static str {
        match self {
            PeKinds::ShiftAdd => "shift-add",
            PeKinds::ShiftAddDual => "shift-add-dual",
            PeKinds::Mult => "mult",
            PeKinds::All => "all",
        }
    }
    /// What the array holds.
    pub fn describe(&self) -> &'static str {
        match self {
            PeKinds::ShiftAdd => "shift and adder PEs only, as two arrays",
            PeKinds::ShiftAddDual => "shift and adder PEs only, as one array of dual-mode PEs",
            PeKinds::Mult => "multiply PEs only",
            PeKinds::All => "shift, adder and multiply PEs",
        }
    }
}

/// The accelerator configuration. Variants are built with struct update from a preset and checked
/// by [`AccelConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccelConfig {
    /// Preset name, or a user's name for a variant.
    pub name: String,
    /// Number formats.
    pub formats: Formats,
    /// Output channels computed in parallel.
    pub rows: u32,
    /// Input channels consumed in parallel.
    pub cols: u32,
    /// PE kinds of the array.
    pub pe_kinds: PeKinds,
    /// Largest kernel side (kh and kw) the hardware accepts.
    pub max_kernel: u32,
    /// Largest number of taps (`Cin * kh * kw`) summed into one output; sizes the accumulators.
    pub max_taps: u32,
    /// Largest stride.
    pub max_stride: u32,
    /// Largest zero padding.
    pub max_pad: u32,
    /// Width of the post-processing multiplier `M_c` (signed).
    pub post_m_bits: u32,
    /// Width of the post-processing offset `B_c` (signed).
    pub post_b_bits: u32,
    /// Largest post-processing shift `S`.
    pub post_s_max: u32,
    /// Activation buffer depth in activation codes (input, output and residual buffers each).
    pub act_buf_words: u32,
    /// Weight buffer depth in weights.
    pub weight_buf_words: u32,
    /// Post-processing parameter buffer depth in output channels.
    pub post_buf_words: u32,
    /// Target clock in MHz; the constraint files derive the period from it.
    pub clock_mhz: u32,
    /// Board the constraints target.
    pub board: String,
}

/// Accumulator widths derived from the formats and `max_taps` so that they cannot overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccWidths {
    /// Signed shift accumulator: `|acc| <= max_taps * 2^(act_bits-1+pmax)`.
    pub shift: u32,
    /// Signed adder output `y = -A`: `A <= max_taps * (2^add_bits - 1)`.
    pub adder: u32,
    /// Signed multiply accumulator: `|acc| <= max_taps * 2^(act_bits-1) * 2^(mul_bits-1)`.
    pub mult: u32,
}

/// Bits of a two's-complement integer that holds every value in `[-max_abs, max_abs]`.
pub fn signed_bits_for(max_abs: u128) -> u32 {
    // Needs max_abs <= 2^(b-1) - 1.
    1 + (128 - max_abs.leading_zeros())
}

/// Accumulator widths for `taps` taps of the given formats.
pub fn acc_widths(f: &Formats, taps: u64) -> AccWidths {
    let taps = taps as u128;
    let act_mag = 1u128 << (f.act_bits - 1);
    AccWidths {
        shift: signed_bits_for(taps * (act_mag << f.pmax())),
        adder: signed_bits_for(taps * ((1u128 << f.add_bits) - 1)),
        mult: signed_bits_for(taps * act_mag * (1u128 << (f.mul_bits - 1))),
    }
}

/// Widest adder-grid code: adder tensors are `i64`; their sums are checked against
/// [`MODEL_ACC_LIMIT`] like every accumulator.
pub const MAX_ADD_BITS: u32 = 48;

/// The narrowest `add_bits` at which no hand-off of `f` saturates, for layers of up to `max_taps`
/// taps: a shift sum is at most `max_taps * 2^(act_bits-1)` activation codes (|sign * 2^-m| <= 1),
/// `max_taps * 2^(act_bits-1-act_frac+add_frac)` adder codes after rounding.
pub fn unclipped_add_bits(f: &Formats, max_taps: u64) -> u32 {
    let exp = (f.act_bits - 1 + f.add_frac).saturating_sub(f.act_frac);
    signed_bits_for((max_taps as u128) << exp)
}

/// Widest accumulator the reference model holds (it computes in `i64`).
pub const MODEL_ACC_LIMIT: u32 = 64;

/// Why a configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A field outside the supported range.
    #[error(
        "config `{config}`: field `{field}` = {value} is outside the supported range {min}..={max}"
    )]
    OutOfRange {
        /// Config name.
        config: String,
        /// Field name.
        field: &'static str,
        /// Value given.
        value: u64,
        /// Smallest supported value.
        min: u64,
        /// Largest supported value.
        max: u64,
    },
    /// A relation between two fields does not hold.
    #[error("config `{config}`: {what}")]
    Inconsistent {
        /// Config name.
        config: String,
        /// What is wrong, naming the fields.
        what: String,
    },
    /// No preset has the name.
    #[error("unknown preset `{name}`; presets: {presets}")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The preset names, comma-separated.
        presets: String,
    },
    /// A derived accumulator is wider than the limit.
    #[error(
        "config `{config}`: the {which} accumulator for max_taps = {taps} needs {bits} bits, more than the supported {limit}; lower max_taps or the widths"
    )]
    AccumulatorTooWide {
        /// Config name.
        config: String,
        /// Which accumulator.
        which: &'static str,
        /// `max_taps`.
        taps: u32,
        /// Derived width.
        bits: u32,
        /// Supported width.
        limit: u32,
    },
}

/// `Ok` when `min <= value <= max`, else the `OutOfRange` error naming `owner` and `field`.
fn check_range(
    owner: &str,
    field: &'static str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            config: owner.to_string(),
            field,
            value: value as u64,
            min: min as u64,
            max: max as u64,
        })
    }
}

/// Checks each field of `formats` against the supported ranges; `owner` names the config or file.
pub fn validate_formats(owner: &str, f: &Formats) -> Result<(), ConfigError> {
    let range = |field, value, min, max| check_range(owner, field, value, min, max);
    range("formats.act_bits", f.act_bits, 2, 32)?;
    range("formats.act_frac", f.act_frac, 0, f.act_bits - 1)?;
    if let Some(max) = f.act_max {
        // A positive upper clamp at most the format's largest code.
        let top = crate::numerics::max_code(f.act_bits);
        if max < 1 {
            return Err(ConfigError::Inconsistent {
                config: owner.to_string(),
                what: format!("field `formats.act_max` = {max} must be at least 1"),
            });
        }
        if max > top {
            return Err(ConfigError::OutOfRange {
                config: owner.to_string(),
                field: "formats.act_max",
                value: max as u64,
                min: 1,
                max: top as u64,
            });
        }
    }
    range("formats.shift_wb", f.shift_wb, 2, 6)?;
    range("formats.add_bits", f.add_bits, 2, MAX_ADD_BITS)?;
    range("formats.add_frac", f.add_frac, 0, 31)?;
    range("formats.mul_bits", f.mul_bits, 2, 16)?;
    Ok(())
}

impl AccelConfig {
    /// PEs of the array, and lanes of a weight word: `rows * cols`.
    pub fn lanes(&self) -> u32 {
        self.rows * self.cols
    }

    /// Words of one activation bank: the activation buffers are split into `cols` banks, so that
    /// one cycle reads one code per array column.
    pub fn act_bank_depth(&self) -> u32 {
        self.act_buf_words / self.cols
    }

    /// Words of the weight buffer, each of [`AccelConfig::lanes`] lanes, one per PE.
    pub fn weight_depth(&self) -> u32 {
        self.weight_buf_words / self.lanes()
    }

    /// Words of each of the `rows` post-processing parameter lanes: one word per output-channel
    /// tile.
    pub fn post_depth(&self) -> u32 {
        self.post_buf_words / self.rows
    }

    /// Accumulator widths at `max_taps`.
    pub fn acc_widths(&self) -> AccWidths {
        acc_widths(&self.formats, self.max_taps as u64)
    }

    /// A config from its JSON text (duplicate keys refused), validated; the error names the
    /// field, without the file.
    pub fn from_json(text: &str) -> Result<AccelConfig, String> {
        let value = crate::files::parse_json_strict(text)?;
        let cfg: AccelConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    /// Checks every field and every derived width; the error names the field and the range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.name;
        validate_formats(name, &self.formats)?;
        let range = |field, value, min, max| check_range(name, field, value, min, max);
        range("rows", self.rows, 1, 64)?;
        range("cols", self.cols, 1, 64)?;
        range("max_kernel", self.max_kernel, 1, 7)?;
        range("max_taps", self.max_taps, 1, 1 << 16)?;
        range("max_stride", self.max_stride, 1, 4)?;
        range("max_pad", self.max_pad, 0, 3)?;
        range("post_m_bits", self.post_m_bits, 2, 48)?;
        range("post_b_bits", self.post_b_bits, 2, 64)?;
        range("post_s_max", self.post_s_max, 0, 62)?;
        range("act_buf_words", self.act_buf_words, 1, 1 << 24)?;
        range("weight_buf_words", self.weight_buf_words, 1, 1 << 24)?;
        range("post_buf_words", self.post_buf_words, 1, 1 << 16)?;
        range("clock_mhz", self.clock_mhz, 1, 1000)?;
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::Inconsistent {
                config: name.clone(),
                what:
                    "field `name` must be non-empty and use only ASCII letters, digits, '-' and '_'"
                        .into(),
            });
        }
        let kernel_taps = self.max_kernel * self.max_kernel;
        if self.max_taps < kernel_taps {
            return Err(ConfigError::Inconsistent {
                config: name.clone(),
                what: format!(
                    "max_taps = {} is smaller than one channel of the largest kernel (max_kernel^2 = {})",
                    self.max_taps, kernel_taps
                ),
            });
        }
        let w = self.acc_widths();
        for (which, bits) in [("shift", w.shift), ("adder", w.adder), ("mult", w.mult)] {
            if bits > MODEL_ACC_LIMIT {
                return Err(ConfigError::AccumulatorTooWide {
                    config: name.clone(),
                    which,
                    taps: self.max_taps,
                    bits,
                    limit: MODEL_ACC_LIMIT,
                });
            }
        }
        Ok(())
    }
}

/// Named presets.
pub mod presets {
    use super::*;

    /// The original code's numerics: Q16.16 activations, 5-bit shift weights, adder grid 2^-7 with
    /// 32-bit codes, on a 16x16 array for the ZC706.
    pub fn seed() -> AccelConfig {
        AccelConfig {
            name: "seed".into(),
            formats: Formats {
                act_bits: 32,
                act_frac: 16,
                // The original clamps shift-layer inputs to 32767.0 (numerics.md, example 2).
                act_max: Some((1i64 << 31) - (1 << 16)),
                shift_wb: 5,
                add_bits: 32,
                add_frac: 7,
                mul_bits: 8,
            },
            rows: 16,
            cols: 16,
            pe_kinds: PeKinds::ShiftAddDual,
            max_kernel: 5,
            max_taps: 2048,
            max_stride: 2,
            max_pad: 2,
            post_m_bits: 32,
            post_b_bits: 64,
            post_s_max: 40,
            act_buf_words: 32768,
            weight_buf_words: 65536,
            post_buf_words: 256,
            clock_mhz: 200,
            board: "zc706".into(),
        }
    }

    /// Hardware-lean 16-bit datapath: Q8.8 activations, 4-bit shift weights (pmax 6), 16-bit
    /// adder codes on a 2^-7 grid.
    pub fn lean16() -> AccelConfig {
        AccelConfig {
            name: "lean16".into(),
            formats: Formats {
                act_bits: 16,
                act_frac: 8,
                act_max: None,
                shift_wb: 4,
                add_bits: 16,
                add_frac: 7,
                mul_bits: 8,
            },
            post_m_bits: 24,
            post_b_bits: 40,
            post_s_max: 32,
            ..seed()
        }
    }

    /// Hardware-lean 8-bit datapath for small FPGAs: Q4.4 activations, 3-bit shift weights
    /// (pmax 2), 8-bit adder codes on a 2^-4 grid, an 8x8 array; its engine on the ULX3S
    /// (ECP5-85F) at 25 MHz (31.8 MHz after place and route).
    pub fn lean8() -> AccelConfig {
        AccelConfig {
            name: "lean8".into(),
            formats: Formats {
                act_bits: 8,
                act_frac: 4,
                act_max: None,
                shift_wb: 3,
                add_bits: 8,
                add_frac: 4,
                mul_bits: 8,
            },
            rows: 8,
            cols: 8,
            max_taps: 1024,
            post_m_bits: 16,
            post_b_bits: 24,
            post_s_max: 24,
            act_buf_words: 16384,
            weight_buf_words: 65536,
            post_buf_words: 128,
            clock_mhz: 25,
            board: "ulx3s".into(),
            ..seed()
        }
    }

    /// The multiply baseline of `seed`: the same formats, array size, buffers and board, with
    /// multiply-accumulate PEs (`mul_bits`-bit weight codes) instead of dual-mode ones. The
    /// multiply twins of the ShiftAddNet models run on it, for like-for-like comparisons.
    pub fn seed_mult() -> AccelConfig {
        AccelConfig {
            name: "seed-mult".into(),
            pe_kinds: PeKinds::Mult,
            ..seed()
        }
    }

    /// Every preset, in a stable order.
    pub fn all() -> Vec<AccelConfig> {
        vec![seed(), lean16(), lean8(), seed_mult(), seed_fix16()]
    }

    /// The original code's FIX16 numerics (its `FIX16` scripts): `seed` with the adder grid at
    /// 2^-15, never clipped: adder codes as wide as the largest hand-off of a `max_taps`-tap
    /// shift layer needs (43 bits).
    pub fn seed_fix16() -> AccelConfig {
        let seed = seed();
        let formats = Formats {
            add_frac: 15,
            ..seed.formats
        };
        AccelConfig {
            name: "seed-fix16".into(),
            formats: Formats {
                add_bits: unclipped_add_bits(&formats, seed.max_taps.into()),
                ..formats
            },
            ..seed
        }
    }

    /// A preset by name.
    pub fn by_name(name: &str) -> Option<AccelConfig> {
        all().into_iter().find(|p| p.name == name)
    }

    /// A preset by name, or the error every command reports for an unknown one.
    pub fn lookup(name: &str) -> Result<AccelConfig, ConfigError> {
        by_name(name).ok_or_else(|| ConfigError::UnknownPreset {
            name: name.into(),
            presets: names().join(", "),
        })
    }

    /// The preset names, for error messages.
    pub fn names() -> Vec<String> {
        all().into_iter().map(|p| p.name).collect()
    }
}
