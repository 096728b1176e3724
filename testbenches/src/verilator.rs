//! Verilator models built at run time and loaded in-process: `verilator --cc` output plus a
//! generated C++ shim with a bulk `cycles` call, compiled with g++ into a shared library. The
//! Verilator runtime is built once per Verilator and compiler version, each model once per
//! content (Verilog, top, ports, flags); both are cached by SHA-256 under [`cache_dir`].
//!
//! Cycle protocol of the shim, one call for many cycles: for each cycle, the clock falls and the
//! inputs change together (eval, waveform sample at `10 i`), then the clock rises (eval, sample
//! at `10 i + 5`) and the outputs are read. Inputs are therefore settled before every rising
//! edge, which rust-hdl's clock forwarding through combinational blocks needs.

use crate::{io, locate_exe, CosimError};
use shiftadd_sim::rtl::sha256_hex;
use shiftadd_sim::rtl::{Port, PortDir};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Changes whenever the shim or the build flags change, so that old cache entries are not used.
const SHIM_VERSION: &str = "shiftadd-shim-6";
const CXXFLAGS: &[&str] = &[
    "-std=c++17",
    "-fPIC",
    "-O3",
    // 1.16x simulated cycles per second on the seed engine; the cache key names the CPU.
    "-march=native",
    "-faligned-new",
    "-DVM_TRACE=1",
    "-DVM_TRACE_VCD=1",
    "-DVM_COVERAGE=0",
    "-DVM_SC=0",
    // The runtime's fatal errors throw (FATAL_SOURCE) instead of aborting the process.
    "-DVL_USER_FATAL",
    "-Wno-unused-result",
];
const VERILATOR_FLAGS: &[&str] = &[
    "--cc",
    "--trace",
    "-O3",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    "--noassert",
    "-Wno-fatal",
    "-Wno-lint",
    "-Wno-style",
];
/// Verilator's fatal errors (a design that does not settle, `$stop`, ...) as a C++ exception,
/// which the shim catches and reports, instead of `abort()`.
const FATAL_SOURCE: &str = r#"#include "verilated.h"
#include <stdexcept>
#include <string>
void vl_fatal(const char* filename, int linenum, const char* hier, const char* msg) {
    (void)hier;
    Verilated::threadContextp()->gotError(true);
    Verilated::threadContextp()->gotFinish(true);
    std::string where = filename && filename[0]
        ? std::string(filename) + ":" + std::to_string(linenum) + ": " : std::string();
    throw std::runtime_error(where + msg);
}
"#;
/// Extra Verilator flags of a coverage model: line (and branch), toggle and user cover points.
const COVERAGE_FLAGS: &[&str] = &["--coverage-line", "--coverage-toggle", "--coverage-user"];

/// The compiler flags; a coverage model and its runtime count coverage.
fn cxxflags(coverage: bool) -> Vec<&'static str> {
    CXXFLAGS
        .iter()
        .map(|&f| match f {
            "-DVM_COVERAGE=0" if coverage => "-DVM_COVERAGE=1",
            f => f,
        })
        .collect()
}

const RUNTIME_SOURCES: &[&str] = &[
    "verilated.cpp",
    "verilated_threads.cpp",
    "verilated_vcd_c.cpp",
];

/// Where compiled runtimes and models are kept: `$SHIFTADD_CACHE`, else
/// `$XDG_CACHE_HOME/shiftadd`, else `~/.cache/shiftadd`, else the system temp folder.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SHIFTADD_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("shiftadd");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("shiftadd");
    }
    std::env::temp_dir().join("shiftadd-cache")
}

fn tool_err(what: impl Into<String>) -> CosimError {
    CosimError::Tool(what.into())
}

fn output_of(cmd: &mut Command) -> Result<String, CosimError> {
    let out = cmd
        .output()
        .map_err(|e| tool_err(format!("cannot run {cmd:?}: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd`; on failure the error carries its output, written to `log` as well.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), CosimError> {
    let out = cmd
        .output()
        .map_err(|e| tool_err(format!("cannot run {cmd:?}: {e}")))?;
    let text = format!(
        "$ {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut prev = std::fs::read_to_string(log).unwrap_or_default();
    prev.push_str(&text);
    std::fs::write(log, prev).map_err(|e| io(log, e))?;
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(CosimError::Build {
            what: format!("{:?} failed ({})", cmd.get_program(), out.status),
            log: log.display().to_string(),
            tail: tail.join("\n"),
        });
    }
    Ok(())
}

/// Compiles `sources` to objects in `dir`, up to the machine's parallelism at once.
fn compile_all(
    sources: &[PathBuf],
    dir: &Path,
    includes: &[PathBuf],
    coverage: bool,
) -> Result<Vec<PathBuf>, CosimError> {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let objects: Vec<PathBuf> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let stem = s.file_stem().and_then(|x| x.to_str()).unwrap_or("src");
            dir.join(format!("{i:03}_{stem}.o"))
        })
        .collect();
    let next = Mutex::new(0usize);
    let first_err: Mutex<Option<CosimError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(sources.len()) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("job counter");
                    let i = *n;
                    *n += 1;
                    i
                };
                if i >= sources.len() || first_err.lock().expect("error slot").is_some() {
                    return;
                }
                let mut cmd = Command::new("g++");
                cmd.args(cxxflags(coverage));
                for inc in includes {
                    cmd.arg("-I").arg(inc);
                }
                cmd.arg("-c").arg(&sources[i]).arg("-o").arg(&objects[i]);
                let log = objects[i].with_extension("log");
                if let Err(e) = run_logged(&mut cmd, &log) {
                    first_err.lock().expect("error slot").get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_err.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(objects),
    }
}

/// Builds into a fresh folder and renames it to `dest`, so that a cache entry is either complete
/// or absent. Builders of the same entry, in this process or another, take turns on a lock file
/// beside it: the first builds, the others find the entry. Staging folders that a killed build
/// left behind (their process gone) are removed.
pub(crate) fn build_atomically(
    dest: &Path,
    build: impl FnOnce(&Path) -> Result<(), CosimError>,
) -> Result<(), CosimError> {
    let parent = dest.parent().expect("cache entries live in a folder");
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let lock_path = parent.join(format!(".lock-{name}"));
    let lock = std::fs::File::create(&lock_path).map_err(|e| io(&lock_path, e))?;
    lock.lock().map_err(|e| io(&lock_path, e))?;
    if dest.is_dir() {
        return Ok(());
    }
    remove_abandoned_staging(parent);
    let tmp = parent.join(format!(".tmp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let built = build(&tmp);
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    built?;
    std::fs::rename(&tmp, dest).map_err(|e| io(dest, e))?;
    Ok(())
}

/// Removes the staging folders (`.tmp-<pid>-<entry>`) in `dir` whose process no longer runs.
fn remove_abandoned_staging(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(".tmp-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The Verilator installation: its root and a key naming it and the compiler.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// `$VERILATOR_ROOT`.
    pub root: PathBuf,
    /// `verilator` executable.
    pub verilator: PathBuf,
    /// Hash of the Verilator and g++ versions and the flags.
    pub key: String,
    /// `verilator --version`.
    pub version: String,
}

impl Toolchain {
    /// Finds Verilator and g++.
    pub fn find() -> Result<Toolchain, CosimError> {
        let verilator = locate_exe("verilator").map_err(tool_err)?;
        let version = output_of(Command::new(&verilator).arg("--version"))?
            .trim()
            .to_string();
        let root = output_of(Command::new(&verilator).args(["--getenv", "VERILATOR_ROOT"]))?
            .trim()
            .to_string();
        let root = PathBuf::from(root);
        if !root.join("include").join("verilated.cpp").is_file() {
            return Err(tool_err(format!(
                "Verilator's runtime sources are not under `{}/include`; reinstall with: apt-get install -y verilator",
                root.display()
            )));
        }
        let gxx = output_of(Command::new("g++").arg("--version")).map_err(|_| {
            tool_err("`g++` not found on PATH; install it with: apt-get install -y g++")
        })?;
        // `-march=native` code runs only on the CPU that built it.
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .map(|t| {
                let mut seen: Vec<&str> = t
                    .lines()
                    .filter(|l| l.starts_with("model name") || l.starts_with("flags"))
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                seen.join("\n")
            })
            .unwrap_or_default();
        let key = sha256_hex(
            format!(
                "{SHIM_VERSION}\n{version}\n{}\n{CXXFLAGS:?}\n{VERILATOR_FLAGS:?}\n{cpu}",
                gxx.lines().next().unwrap_or("")
            )
            .as_bytes(),
        );
        Ok(Toolchain {
            root,
            verilator,
            key,
            version,
        })
    }

    fn includes(&self) -> Vec<PathBuf> {
        vec![
            self.root.join("include"),
            self.root.join("include").join("vltstd"),
        ]
    }

    /// The shared Verilator runtime, built on first use (with the coverage database when
    /// `coverage`).
    pub fn runtime(&self, cache: &Path, coverage: bool) -> Result<PathBuf, CosimError> {
        let kind = if coverage { "runtime-cov" } else { "runtime" };
        let dir = cache.join(format!("{kind}-{}", &self.key[..16]));
        build_atomically(&dir, |tmp| {
            let mut sources: Vec<PathBuf> = RUNTIME_SOURCES
                .iter()
                .chain(coverage.then_some(&"verilated_cov.cpp"))
                .map(|s| self.root.join("include").join(s))
                .collect();
            let fatal = tmp.join("shiftadd_fatal.cpp");
            std::fs::write(&fatal, FATAL_SOURCE).map_err(|e| io(&fatal, e))?;
            sources.push(fatal);
            let objects = compile_all(&sources, tmp, &self.includes(), coverage)?;
            let mut link = Command::new("g++");
            link.args(["-shared", "-o"])
                .arg(tmp.join("libshiftadd_verilated.so"))
                .args(&objects)
                .args(["-latomic", "-pthread"]);
            run_logged(&mut link, &tmp.join("link.log"))?;
            for o in objects {
                let _ = std::fs::remove_file(o);
            }
            Ok(())
        })?;
        Ok(dir.join("libshiftadd_verilated.so"))
    }
}

/// Ports as the shim sees them: inputs other than `clock`, then outputs, each taking
/// `ceil(width / 64)` 64-bit words in the cycle buffers, least significant word first.
#[derive(Clone, Debug)]
pub struct PortLayout {
    /// The clock input: `clock`, or `aclk` for an AXI top.
    pub clock: String,
    /// Inputs driven per cycle (without the clock).
    pub inputs: Vec<Port>,
    /// Outputs read per cycle.
    pub outputs: Vec<Port>,
    /// First word of each input.
    pub input_offsets: Vec<usize>,
    /// First word of each output.
    pub output_offsets: Vec<usize>,
    /// Words per cycle of inputs.
    pub input_words: usize,
    /// Words per cycle of outputs.
    pub output_words: usize,
}

/// 64-bit words a port of `width` bits takes.
pub fn words(width: usize) -> usize {
    width.div_ceil(64)
}

impl PortLayout {
    /// The first word of input `name` of `top`.
    pub fn input(&self, top: &str, name: &str) -> Result<usize, CosimError> {
        Self::word(&self.inputs, &self.input_offsets, top, name)
    }

    /// The first word of output `name` of `top`.
    pub fn output(&self, top: &str, name: &str) -> Result<usize, CosimError> {
        Self::word(&self.outputs, &self.output_offsets, top, name)
    }

    fn word(ports: &[Port], offsets: &[usize], top: &str, name: &str) -> Result<usize, CosimError> {
        ports
            .iter()
            .zip(offsets)
            .find(|(p, _)| p.name == name)
            .map(|(_, &o)| o)
            .ok_or_else(|| CosimError::Design(format!("`{top}` has no port `{name}`")))
    }

    /// The layout of `ports`; there must be a one-bit input `clock` (or `aclk`).
    pub fn new(top: &str, ports: &[Port]) -> Result<PortLayout, CosimError> {
        let bad = |what: String| CosimError::Design(format!("module `{top}`: {what}"));
        let clock = match ports.iter().find(|p| CLOCKS.contains(&p.name.as_str())) {
            Some(p) if p.dir == PortDir::Input && p.width == 1 => p.name.clone(),
            _ => return Err(bad("needs a one-bit input `clock` (or `aclk`)".into())),
        };
        for p in ports {
            let plain = p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !p.name.contains("__")
                && !p.name.starts_with('_');
            if !plain {
                return Err(bad(format!(
                    "port `{}`: only names of letters, digits and single inner underscores are supported (Verilator renames others)",
                    p.name
                )));
            }
        }
        let inputs: Vec<Port> = ports
            .iter()
            .filter(|p| p.dir == PortDir::Input && p.name != clock)
            .cloned()
            .collect();
        let outputs: Vec<Port> = ports
            .iter()
            .filter(|p| p.dir == PortDir::Output)
            .cloned()
            .collect();
        let offsets = |ps: &[Port]| {
            let mut acc = 0;
            let offs: Vec<usize> = ps
                .iter()
                .map(|p| {
                    let o = acc;
                    acc += words(p.width);
                    o
                })
                .collect();
            (offs, acc)
        };
        let (input_offsets, input_words) = offsets(&inputs);
        let (output_offsets, output_words) = offsets(&outputs);
        Ok(PortLayout {
            clock,
            inputs,
            outputs,
            input_offsets,
            input_words,
            output_offsets,
            output_words,
        })
    }
}

/// A memory of a model (a one-dimensional unpacked array of at most 64-bit words, as Verilator
/// keeps it in the model's root), which the shim reads and writes directly between cycles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Hierarchical name, dot-separated from the top (`engine.act_in_0.mem`).
    pub name: String,
    /// Bits per word.
    pub width: u32,
    /// Words.
    pub depth: u64,
}

impl Memory {
    /// The member's name in the model's root class.
    fn member(&self) -> String {
        self.name.replace('.', "__DOT__")
    }
}

/// The memories declared in a Verilator root header: members `VlUnpacked<T/*H:0*/, D> name;`
/// with `T` one of Verilator's scalar word types (wider words are not reached).
fn memories(root: &str) -> Vec<Memory> {
    let mut out = Vec::new();
    for line in root.lines() {
        let Some(rest) = line.trim().strip_prefix("VlUnpacked<") else {
            continue;
        };
        let Some((ty, rest)) = rest.split_once("/*") else {
            continue;
        };
        if !["CData", "SData", "IData", "QData"].contains(&ty) {
            continue;
        }
        let Some((range, rest)) = rest.split_once("*/, ") else {
            continue;
        };
        let Some((depth, name)) = rest.split_once("> ") else {
            continue;
        };
        let (Some(hi), Ok(depth), Some(name)) = (
            range.strip_suffix(":0").and_then(|h| h.parse::<u32>().ok()),
            depth.parse::<u64>(),
            name.strip_suffix(';'),
        ) else {
            continue;
        };
        if depth == 0 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        out.push(Memory {
            name: name.replace("__DOT__", "."),
            width: hi + 1,
            depth,
        });
    }
    out
}

/// Reads or writes words of one memory, for [`mem_source`]'s functions (outside `extern "C"`).
const MEM_ACCESS_SOURCE: &str = r#"
// Reads (`write` 0) or writes words of one memory (a Verilator unpacked array).
template <typename A>
static int shim_mem_access(A& a, uint64_t depth, uint64_t mask, uint64_t addr, uint64_t* buf,
                           uint64_t n, int write) {
    if (addr > depth || n > depth - addr) return 1;
    for (uint64_t i = 0; i < n; ++i) {
        if (write) {
            a[addr + i] = buf[i] & mask;
        } else {
            buf[i] = (uint64_t)a[addr + i];
        }
    }
    return 0;
}
"#;

/// The shim's functions that list the memories and read or write their words.
fn mem_source(class: &str, mems: &[Memory]) -> String {
    let mut names = String::new();
    let mut shapes = String::new();
    let mut cases = String::new();
    for (k, m) in mems.iter().enumerate() {
        names.push_str(&format!("    \"{}\",\n", m.name));
        shapes.push_str(&format!(
            "    {}ULL,\n",
            (u64::from(m.width) << 40) | m.depth
        ));
        cases.push_str(&format!(
            "    case {k}: return shim_mem_access(r->{}, {}ULL, {}, addr, buf, n, write);\n",
            m.member(),
            m.depth,
            cxx_mask(m.width as usize)
        ));
    }
    format!(
        r#"
// The model's memories, read and written between cycles (a test's backdoor).
static const char* const shim_mem_names[] = {{
{names}    nullptr,
}};
static const uint64_t shim_mem_shapes[] = {{
{shapes}    0,
}};

uint32_t shiftadd_shim_mems() {{
    return {count};
}}

// Memory `k`'s name, or null.
const char* shiftadd_shim_mem_name(uint32_t k) {{
    return k < {count} ? shim_mem_names[k] : nullptr;
}}

// Memory `k`'s word width (bits 40 and up) and depth (bits 0..40).
uint64_t shiftadd_shim_mem_shape(uint32_t k) {{
    return k < {count} ? shim_mem_shapes[k] : 0;
}}


// Reads (`write` 0) or writes `n` words of memory `k` from word `addr` on, written words masked
// to its width; 0, or 1 when the words are not all in it.
int shiftadd_shim_mem(void* h, uint32_t k, uint64_t addr, uint64_t* buf, uint64_t n, int write) {{
    {class}___024root* r = ((Shim*)h)->m->rootp;
    (void)r;
    switch (k) {{
{cases}    default: return 1;
    }}
}}
"#,
        count = mems.len()
    )
}

fn cxx_mask(width: usize) -> String {
    if width.is_multiple_of(64) {
        "~0ULL".into()
    } else {
        format!("0x{:x}ULL", (1u64 << (width % 64)) - 1)
    }
}

/// Names of the clock input, in the order they are looked for.
const CLOCKS: [&str; 2] = ["clock", "aclk"];

/// Verilator 5.006's name for the clock's previous value in the edge trigger. When the root class
/// has it, the shim skips the clock-low evaluation of untraced runs: it marks the clock as low and
/// evaluates once with the new inputs and the rising edge, which halves the evaluations of
/// combinational logic that depends on the inputs. Traced runs always evaluate both phases.
fn clock_prev(clock: &str) -> String {
    format!("__Vtrigrprev__TOP__{clock}")
}

/// The C++ shim for `top` with `layout`; `one_eval` uses the [`clock_prev`] fast path; a
/// `coverage` shim also writes an instance's coverage counts (`shiftadd_shim_coverage`).
pub fn shim_source(
    top: &str,
    layout: &PortLayout,
    one_eval: bool,
    coverage: bool,
    mems: &[Memory],
) -> String {
    let class = format!("V{top}");
    let mut set = String::new();
    for (p, &o) in layout.inputs.iter().zip(&layout.input_offsets) {
        if p.width <= 64 {
            set.push_str(&format!(
                "        m->{} = in[{o}] & {};\n",
                p.name,
                cxx_mask(p.width)
            ));
        } else {
            for j in 0..p.width.div_ceil(32) {
                let last = j + 1 == p.width.div_ceil(32) && p.width % 32 != 0;
                let mask = if last {
                    format!(" & 0x{:x}U", (1u32 << (p.width % 32)) - 1)
                } else {
                    String::new()
                };
                set.push_str(&format!(
                    "        m->{}[{j}] = (uint32_t)(in[{}] >> {}){mask};\n",
                    p.name,
                    o + j / 2,
                    32 * (j % 2)
                ));
            }
        }
    }
    let mut get = String::new();
    for (p, &o) in layout.outputs.iter().zip(&layout.output_offsets) {
        if p.width <= 64 {
            get.push_str(&format!("        out[{o}] = (uint64_t)m->{};\n", p.name));
        } else {
            for k in 0..words(p.width) {
                let lo = 2 * k;
                let hi = if lo + 1 < p.width.div_ceil(32) {
                    format!(" | ((uint64_t)m->{}[{}] << 32)", p.name, lo + 1)
                } else {
                    String::new()
                };
                get.push_str(&format!(
                    "        out[{}] = (uint64_t)m->{}[{lo}]{hi};\n",
                    o + k,
                    p.name
                ));
            }
        }
    }
    format!(
        r#"// Generated by shiftadd-tb ({SHIM_VERSION}) for module `{top}`.
#include "{class}.h"
#include "{class}___024root.h"
#include "verilated.h"
#include "verilated_vcd_c.h"
{cov_include}#include <cstdint>
{MEM_ACCESS_SOURCE}

#include <exception>
#include <string>

struct Shim {{
    VerilatedContext* ctx;
    {class}* m;
    VerilatedVcdC* vcd;
    uint64_t time;
    uint64_t step;
    // A fatal error of the simulation: the instance runs no further.
    std::string error;
}};

extern "C" {{
uint64_t shiftadd_shim_words(uint32_t which) {{
    return which == 0 ? {iw} : {ow};
}}

// `plusarg` (if not null) is the simulation's one command-line argument, for `$value$plusargs`.
void* shiftadd_shim_new_args(const char* vcd_path, const char* plusarg) {{
    Shim* s = new Shim;
    s->ctx = new VerilatedContext;
    const char* argv[2] = {{"shiftadd", plusarg}};
    s->ctx->commandArgs(plusarg ? 2 : 1, argv);
    s->ctx->traceEverOn(true);
    s->m = new {class}{{s->ctx}};
    s->vcd = nullptr;
    s->time = 0;
    // Waveform time steps per nanosecond, in the model's time precision.
    s->step = 1;
    for (int p = s->ctx->timeprecision(); p < -9; ++p) s->step *= 10;
    if (vcd_path) {{
        s->vcd = new VerilatedVcdC;
        s->m->trace(s->vcd, 99);
        s->vcd->open(vcd_path);
    }}
    // Settle with the clock low so that the first rising edge is seen as one.
    s->m->{clock} = 0;
    try {{
        s->m->eval();
    }} catch (const std::exception& e) {{
        s->error = e.what();
    }}
    return s;
}}

void* shiftadd_shim_new(const char* vcd_path) {{
    return shiftadd_shim_new_args(vcd_path, nullptr);
}}

const char* shiftadd_shim_error(void* h) {{
    Shim* s = (Shim*)h;
    return s->error.empty() ? nullptr : s->error.c_str();
}}

void shiftadd_shim_delete(void* h) {{
    Shim* s = (Shim*)h;
    if (s->vcd) {{
        s->vcd->close();
        delete s->vcd;
    }}
    if (s->error.empty()) {{
        try {{
            s->m->final();
        }} catch (const std::exception&) {{
        }}
    }}
    delete s->m;
    delete s->ctx;
    delete s;
}}

static void run_cycles(Shim* s, const uint64_t* in, uint64_t* out, uint64_t n) {{
    {class}* m = s->m;
{fast}    for (uint64_t i = 0; i < n; ++i, in += {iw}, out += {ow}) {{
        m->{clock} = 0;
{set}        m->eval();
        if (s->vcd) s->vcd->dump(s->time * s->step);
        m->{clock} = 1;
        m->eval();
        if (s->vcd) s->vcd->dump((s->time + 5) * s->step);
        s->time += 10;
{get}    }}
    if (s->vcd) s->vcd->flush();
}}

// Runs `n` cycles; returns 0, or 1 when the simulation stopped on a fatal error (then, and ever
// after, `shiftadd_shim_error` says which).
int shiftadd_shim_cycles(void* h, const uint64_t* in, uint64_t* out, uint64_t n) {{
    Shim* s = (Shim*)h;
    if (!s->error.empty()) return 1;
    try {{
        run_cycles(s, in, out, n);
    }} catch (const std::exception& e) {{
        // The cycle that stopped: each finished cycle adds 10 ns.
        s->error = "cycle " + std::to_string(s->time / 10) + ": " + e.what();
        if (s->vcd) s->vcd->flush();
        return 1;
    }}
    return 0;
}}
{mem_fns}{cov_fn}}}
"#,
        cov_include = if coverage {
            "#include \"verilated_cov.h\"\n"
        } else {
            ""
        },
        cov_fn = if coverage {
            "\n// Writes the instance's coverage counts to `path`; 0, or 1 when that failed.\nint shiftadd_shim_coverage(void* h, const char* path) {\n    Shim* s = (Shim*)h;\n    try {\n        s->ctx->coveragep()->write(path);\n    } catch (const std::exception&) {\n        return 1;\n    }\n    return 0;\n}\n"
        } else {
            ""
        },
        mem_fns = mem_source(&class, mems),
        iw = layout.input_words,
        ow = layout.output_words,
        // Only a model that keeps the clock's previous value has the one-evaluation path.
        fast = if one_eval {
            format!(
                "    if (!s->vcd) {{\n        for (uint64_t i = 0; i < n; ++i, in += {iw}, out += {ow}) {{\n{set}            m->{clock} = 1;\n            m->rootp->{prev} = 0;\n            m->eval();\n            s->time += 10;\n{get}        }}\n        return;\n    }}\n",
                iw = layout.input_words,
                ow = layout.output_words,
                clock = layout.clock,
                prev = clock_prev(&layout.clock),
            )
        } else {
            String::new()
        },
        clock = layout.clock,
    )
}

type NewFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type NewArgsFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut c_void;
type DeleteFn = unsafe extern "C" fn(*mut c_void);
type CyclesFn = unsafe extern "C" fn(*mut c_void, *const u64, *mut u64, u64) -> i32;
type ErrorFn = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type WordsFn = unsafe extern "C" fn(u32) -> u64;
type CoverageFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> i32;
type MemsFn = unsafe extern "C" fn() -> u32;
type MemNameFn = unsafe extern "C" fn(u32) -> *const c_char;
type MemShapeFn = unsafe extern "C" fn(u32) -> u64;
type MemFn = unsafe extern "C" fn(*mut c_void, u32, u64, *mut u64, u64, i32) -> i32;

/// Coverage files written by this process, for unique names.
static COVERAGE_PARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Coverage files that could not be written.
static COVERAGE_FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many instances of coverage models could not write their counts in this process.
pub fn coverage_write_failures() -> u64 {
    COVERAGE_FAILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A compiled and loaded model; [`Model::instance`] makes independent simulations of it.
#[derive(Clone)]
pub struct Model {
    /// Top module.
    pub top: String,
    /// Port layout of the cycle buffers.
    pub layout: PortLayout,
    /// The cache entry holding the library and build logs.
    pub dir: PathBuf,
    new: NewFn,
    delete: DeleteFn,
    cycles: CyclesFn,
    error: ErrorFn,
    /// A coverage model's writer and the folder its instances write into.
    coverage: Option<(CoverageFn, PathBuf)>,
    /// The shim's constructor taking a command-line argument (models built before it lack it).
    new_args: Option<NewArgsFn>,
    /// The argument every instance is given ([`Model::with_plusarg`]).
    plusarg: Option<CString>,
    /// The memories the shim reaches, and its access function.
    memories: Arc<Vec<Memory>>,
    mem: MemFn,
    lib: Arc<libloading::Library>,
}

/// What a model build did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildOutcome {
    /// Found in the cache.
    Cached,
    /// Verilated and compiled now.
    Built,
}

impl Model {
    /// Builds (or finds in `cache`) and loads the model of `top` from `files`.
    pub fn build(
        files: &[PathBuf],
        waivers: Option<&Path>,
        top: &str,
        ports: &[Port],
        cache: &Path,
    ) -> Result<(Arc<Model>, BuildOutcome), CosimError> {
        Model::build_with(files, waivers, top, ports, cache, None)
    }

    /// As [`Model::build`]; with `coverage`, a model counting line, toggle and user coverage,
    /// whose every instance writes its counts into that folder when it ends
    /// (`<pid>-<n>.dat`, Verilator's coverage format).
    pub fn build_with(
        files: &[PathBuf],
        waivers: Option<&Path>,
        top: &str,
        ports: &[Port],
        cache: &Path,
        coverage: Option<&Path>,
    ) -> Result<(Arc<Model>, BuildOutcome), CosimError> {
        let tc = Toolchain::find()?;
        let layout = PortLayout::new(top, ports)?;
        let covered = coverage.is_some();
        let runtime = tc.runtime(cache, covered)?;
        let mut keyed = format!("{}\n{top}\n{layout:?}\n", tc.key);
        if covered {
            keyed.push_str(&format!("{COVERAGE_FLAGS:?}\n"));
        }
        let mut contents = BTreeMap::new();
        for f in files.iter().map(PathBuf::as_path).chain(waivers) {
            let text = std::fs::read_to_string(f).map_err(|e| io(f, e))?;
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file")
                .to_string();
            keyed.push_str(&format!("{name}\n{}\n", sha256_hex(text.as_bytes())));
            contents.insert(name, text);
        }
        let dir = cache.join(format!(
            "model-{top}{}-{}",
            if covered { "-cov" } else { "" },
            &sha256_hex(keyed.as_bytes())[..16]
        ));
        let outcome = if dir.is_dir() {
            BuildOutcome::Cached
        } else {
            BuildOutcome::Built
        };
        build_atomically(&dir, |tmp| {
            let src = tmp.join("src");
            std::fs::create_dir_all(&src).map_err(|e| io(&src, e))?;
            let mut inputs = Vec::new();
            for (name, text) in &contents {
                let p = src.join(name);
                std::fs::write(&p, text).map_err(|e| io(&p, e))?;
                inputs.push(p);
            }
            let obj = tmp.join("obj");
            let mut v = Command::new(&tc.verilator);
            v.args(VERILATOR_FLAGS)
                .args(if covered { COVERAGE_FLAGS } else { &[] })
                .arg("--prefix")
                .arg(format!("V{top}"))
                .arg("--top-module")
                .arg(top)
                .arg("-Mdir")
                .arg(&obj)
                .args(&inputs);
            run_logged(&mut v, &tmp.join("verilator.log"))?;
            let root_header = obj.join(format!("V{top}___024root.h"));
            let root = std::fs::read_to_string(&root_header).map_err(|e| io(&root_header, e))?;
            let shim = shim_source(
                top,
                &layout,
                root.contains(&clock_prev(&layout.clock)),
                covered,
                &memories(&root),
            );
            let shim_path = obj.join("shiftadd_shim.cpp");
            std::fs::write(&shim_path, &shim).map_err(|e| io(&shim_path, e))?;
            let mut sources: Vec<PathBuf> = std::fs::read_dir(&obj)
                .map_err(|e| io(&obj, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "cpp")
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&format!("V{top}")))
                })
                .collect();
            sources.sort();
            sources.push(shim_path);
            let mut includes = tc.includes();
            includes.push(obj.clone());
            let objects = compile_all(&sources, &obj, &includes, covered)?;
            let mut link = Command::new("g++");
            link.args(["-shared", "-o"])
                .arg(tmp.join("model.so"))
                .args(&objects)
                .arg(&runtime)
                .arg(format!(
                    "-Wl,-rpath,{}",
                    runtime.parent().expect("runtime folder").display()
                ))
                .args(["-latomic", "-pthread"]);
            run_logged(&mut link, &tmp.join("link.log"))?;
            let _ = std::fs::remove_dir_all(&obj);
            let _ = std::fs::remove_dir_all(&src);
            Ok(())
        })?;
        let mut model = Model::load(&dir, top, layout)?;
        if let Some(parts) = coverage {
            std::fs::create_dir_all(parts).map_err(|e| io(parts, e))?;
            // SAFETY: a coverage model's shim defines this function with this signature.
            let write = unsafe {
                model
                    .lib
                    .get::<*const c_void>(b"shiftadd_shim_coverage")
                    .map(|s| std::mem::transmute::<*const c_void, CoverageFn>(*s))
                    .map_err(|e| io(&dir, e))?
            };
            model.coverage = Some((write, parts.to_path_buf()));
        }
        Ok((Arc::new(model), outcome))
    }

    fn load(dir: &Path, top: &str, layout: PortLayout) -> Result<Model, CosimError> {
        let path = dir.join("model.so");
        // SAFETY: the library is the shim built above for exactly this layout; its initialisers
        // are Verilator's, which have no preconditions.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| io(&path, e))?;
        // SAFETY: the symbols are the shim's `extern "C"` functions with these signatures.
        let (new, delete, cycles, error, words_fn, mem, mems, mem_name, mem_shape) = unsafe {
            let sym = |name: &[u8]| -> Result<*const c_void, CosimError> {
                lib.get::<*const c_void>(name)
                    .map(|s| *s)
                    .map_err(|e| io(&path, e))
            };
            (
                std::mem::transmute::<*const c_void, NewFn>(sym(b"shiftadd_shim_new")?),
                std::mem::transmute::<*const c_void, DeleteFn>(sym(b"shiftadd_shim_delete")?),
                std::mem::transmute::<*const c_void, CyclesFn>(sym(b"shiftadd_shim_cycles")?),
                std::mem::transmute::<*const c_void, ErrorFn>(sym(b"shiftadd_shim_error")?),
                std::mem::transmute::<*const c_void, WordsFn>(sym(b"shiftadd_shim_words")?),
                std::mem::transmute::<*const c_void, MemFn>(sym(b"shiftadd_shim_mem")?),
                std::mem::transmute::<*const c_void, MemsFn>(sym(b"shiftadd_shim_mems")?),
                std::mem::transmute::<*const c_void, MemNameFn>(sym(b"shiftadd_shim_mem_name")?),
                std::mem::transmute::<*const c_void, MemShapeFn>(sym(b"shiftadd_shim_mem_shape")?),
            )
        };
        // SAFETY: pure functions of their arguments; the names are static NUL-terminated strings.
        let memories = unsafe {
            (0..mems())
                .map(|k| {
                    let shape = mem_shape(k);
                    Memory {
                        name: std::ffi::CStr::from_ptr(mem_name(k))
                            .to_string_lossy()
                            .into_owned(),
                        width: (shape >> 40) as u32,
                        depth: shape & ((1 << 40) - 1),
                    }
                })
                .collect()
        };
        // SAFETY: the shim's `extern "C"` constructor with this signature, where it has one.
        let new_args = unsafe {
            lib.get::<*const c_void>(b"shiftadd_shim_new_args")
                .ok()
                .map(|s| std::mem::transmute::<*const c_void, NewArgsFn>(*s))
        };
        // SAFETY: a pure function of its argument.
        let (iw, ow) = unsafe { (words_fn(0), words_fn(1)) };
        if iw as usize != layout.input_words || ow as usize != layout.output_words {
            return Err(io(
                &path,
                "the cached model does not match the ports; delete the cache folder",
            ));
        }
        Ok(Model {
            top: top.to_string(),
            layout,
            dir: dir.to_path_buf(),
            new,
            delete,
            cycles,
            error,
            coverage: None,
            new_args,
            plusarg: None,
            memories: Arc::new(memories),
            mem,
            lib: Arc::new(lib),
        })
    }

    /// The same model whose instances all run with the command-line argument `plusarg` (for
    /// example `+shiftadd_mutant=3`, read by `$value$plusargs`).
    pub fn with_plusarg(&self, plusarg: &str) -> Result<Arc<Model>, CosimError> {
        if self.new_args.is_none() {
            return Err(io(
                &self.dir,
                "this cached model takes no command-line argument; delete the cache folder",
            ));
        }
        let plusarg =
            CString::new(plusarg).map_err(|_| io(&self.dir, "an argument with a NUL byte"))?;
        Ok(Arc::new(Model {
            plusarg: Some(plusarg),
            ..self.clone()
        }))
    }

    /// The memories an instance's [`Instance::read_memory`] and [`Instance::write_memory`] reach.
    pub fn memories(&self) -> &[Memory] {
        &self.memories
    }

    /// A fresh simulation (every register at its initial value), tracing to `vcd` if given.
    pub fn instance(self: &Arc<Self>, vcd: Option<&Path>) -> Result<Instance, CosimError> {
        let path = vcd
            .map(|p| {
                CString::new(p.as_os_str().as_encoded_bytes())
                    .map_err(|_| io(p, "a path with a NUL byte"))
            })
            .transpose()?;
        if let Some(p) = vcd
            .and_then(|p| p.parent())
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(p).map_err(|e| io(p, e))?;
        }
        let vcd_ptr = path.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: `new` and `new_args` take NUL-terminated strings or null and return an owned
        // handle; `with_plusarg` sets `plusarg` only where `new_args` exists.
        let handle = unsafe {
            match (&self.plusarg, self.new_args) {
                (Some(a), Some(f)) => f(vcd_ptr, a.as_ptr()),
                _ => (self.new)(vcd_ptr),
            }
        };
        let instance = Instance {
            model: Arc::clone(self),
            handle,
        };
        instance.check()?;
        Ok(instance)
    }
}

/// One running simulation of a [`Model`].
pub struct Instance {
    model: Arc<Model>,
    handle: *mut c_void,
}

// SAFETY: an instance owns its Verilator context and model; nothing is shared between threads.
unsafe impl Send for Instance {}

impl Instance {
    /// Runs `inputs.len() / input_words` cycles, returning `output_words` words per cycle; an
    /// error when the simulation stopped on a fatal error (a design that does not settle,
    /// `$stop`), which ends the instance.
    pub fn cycles(&mut self, inputs: &[u64]) -> Result<Vec<u64>, CosimError> {
        let mut out = Vec::new();
        self.cycles_into(inputs, &mut out)?;
        Ok(out)
    }

    /// The simulation's fatal error, if it stopped on one.
    fn check(&self) -> Result<(), CosimError> {
        // SAFETY: the handle is live; the message (if any) is a NUL-terminated string owned by
        // the instance, copied before any other call.
        let msg = unsafe { (self.model.error)(self.handle) };
        if msg.is_null() {
            return Ok(());
        }
        // SAFETY: as above.
        let msg = unsafe { std::ffi::CStr::from_ptr(msg) }.to_string_lossy();
        let (cycle, what) = match msg
            .strip_prefix("cycle ")
            .and_then(|m| m.split_once(": "))
            .and_then(|(c, w)| Some((c.parse().ok()?, w)))
        {
            Some((c, w)) => (Some(c), w.to_string()),
            None => (None, msg.into_owned()),
        };
        Err(CosimError::Stopped {
            top: self.model.top.clone(),
            cycle,
            what,
        })
    }

    /// As [`Instance::cycles`], into `out` (resized; its allocation is reused).
    pub fn cycles_into(&mut self, inputs: &[u64], out: &mut Vec<u64>) -> Result<(), CosimError> {
        let l = &self.model.layout;
        assert_eq!(
            inputs.len() % l.input_words.max(1),
            0,
            "whole cycles of inputs"
        );
        let n = inputs.len().checked_div(l.input_words).unwrap_or(0);
        out.clear();
        out.resize(n * l.output_words, 0);
        // SAFETY: the buffers hold `n` cycles of the shim's word counts, checked at load.
        let status = unsafe {
            (self.model.cycles)(self.handle, inputs.as_ptr(), out.as_mut_ptr(), n as u64)
        };
        if status != 0 {
            return self.check();
        }
        Ok(())
    }
}

impl Instance {
    /// The model this is an instance of.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Reads `len` words of memory `k` from word `addr` on into `buf`, or writes them from it
    /// (`write`; the shim then only reads `buf`).
    fn memory_access(
        &mut self,
        k: usize,
        addr: u64,
        buf: *mut u64,
        len: usize,
        write: bool,
    ) -> Result<(), CosimError> {
        let m =
            self.model.memories.get(k).ok_or_else(|| {
                CosimError::Design(format!("`{}` has no memory {k}", self.model.top))
            })?;
        if addr.checked_add(len as u64).is_none_or(|end| end > m.depth) {
            return Err(CosimError::Design(format!(
                "memory `{}` holds {} words; words {addr}..{} are not all in it",
                m.name,
                m.depth,
                addr.saturating_add(len as u64)
            )));
        }
        // SAFETY: the handle is live; `buf` holds `len` words (written only when reading) and
        // the range is checked above (the shim checks it again).
        let status = unsafe {
            (self.model.mem)(
                self.handle,
                k as u32,
                addr,
                buf,
                len as u64,
                i32::from(write),
            )
        };
        if status != 0 {
            return Err(CosimError::Design(format!(
                "memory `{}`: the shim refused words {addr}..",
                m.name
            )));
        }
        Ok(())
    }

    /// Writes `values` into memory `k` ([`Model::memories`]) from word `addr` on, between
    /// cycles, each masked to the memory's width as a write port would.
    pub fn write_memory(&mut self, k: usize, addr: u64, values: &[u64]) -> Result<(), CosimError> {
        self.memory_access(k, addr, values.as_ptr().cast_mut(), values.len(), true)
    }

    /// Reads `out.len()` words of memory `k` from word `addr` on, between cycles.
    pub fn read_memory(&mut self, k: usize, addr: u64, out: &mut [u64]) -> Result<(), CosimError> {
        self.memory_access(k, addr, out.as_mut_ptr(), out.len(), false)
    }
}

impl Instance {
    /// Writes a coverage model's counts of this instance into the model's coverage folder.
    fn write_coverage(&self) {
        let Some((write, parts)) = &self.model.coverage else {
            return;
        };
        let n = COVERAGE_PARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = parts.join(format!("{}-{n}.dat", std::process::id()));
        // SAFETY: the handle is live and the path NUL-terminated.
        let failed = match CString::new(path.as_os_str().as_encoded_bytes()) {
            Ok(c) => (unsafe { write(self.handle, c.as_ptr()) }) != 0,
            Err(_) => true,
        };
        if failed {
            COVERAGE_FAILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.write_coverage();
        // SAFETY: the handle came from `new` and is deleted once.
        unsafe { (self.model.delete)(self.handle) }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_build_per_entry_and_abandoned_staging_removed() {
        let dir = std::env::temp_dir().join(format!("shiftadd-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Left by a killed build: a process id above the kernel's largest.
        let abandoned = dir.join(".tmp-999999999-old");
        std::fs::create_dir_all(&abandoned).unwrap();
        let builds = AtomicUsize::new(0);
        let dest = dir.join("entry");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    build_atomically(&dest, |tmp| {
                        builds.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        std::fs::write(tmp.join("model"), b"x").map_err(|e| io(tmp, e))
                    })
                    .unwrap();
                });
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert!(dest.join("model").is_file());
        assert!(!abandoned.exists());
        // A failed build leaves neither an entry nor a staging folder.
        let failed = dir.join("failed");
        assert!(build_atomically(&failed, |tmp| Err(io(tmp, "no"))).is_err());
        let left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-") || n == "failed")
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
