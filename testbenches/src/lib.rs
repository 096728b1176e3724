//! shiftadd-tb: the external tools around the emitted RTL: locating simulators and synthesis
//! tools (naming the package that installs a missing one), and Yosys/nextpnr resource and timing
//! runs ([`synth`]), board constraints and implementation scripts ([`constraints`]).

pub mod axi;
pub mod bus;
pub mod constraints;
pub mod cosim;
pub mod coverage;
pub mod design;
pub mod driver;
pub mod engine;
pub mod icarus;
pub mod layer;
pub mod mutants;
pub mod script;
pub mod stimulus;
pub mod synth;
pub mod uart;
pub mod verilator;
pub mod wave;

/// Why a co-simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum CosimError {
    /// A file or folder could not be read or written.
    #[error("{path}: {what}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        what: String,
    },
    /// A Verilog file could not be read.
    #[error("{file}: {what}")]
    Verilog {
        /// The file.
        file: String,
        /// What was not understood.
        what: String,
    },
    /// The design is not one the co-simulation can drive.
    #[error("{0}")]
    Design(String),
    /// A tool is missing.
    #[error("{0}")]
    Tool(String),
    /// The simulation stopped: the design did not settle, called `$stop` or `$fatal`, or ran
    /// past the wall-clock limit.
    #[error("the simulation of `{top}` stopped{}: {what}", cycle.map_or(String::new(), |c| format!(" at cycle {c}")))]
    Stopped {
        /// Top module.
        top: String,
        /// The cycle it stopped in, counted from power-on, when known.
        cycle: Option<usize>,
        /// The simulator's message.
        what: String,
    },
    /// Verilating, compiling or linking failed.
    #[error("{what}; full log in {log}:\n{tail}")]
    Build {
        /// The failing step.
        what: String,
        /// The log file.
        log: String,
        /// Its last lines.
        tail: String,
    },
}

use std::path::{Path, PathBuf};

/// The error of a file or folder that could not be read or written.
pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> CosimError {
    CosimError::Io {
        path: path.display().to_string(),
        what: e.to_string(),
    }
}

/// An external tool the co-simulation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    /// Executable name.
    pub exe: &'static str,
    /// Debian package providing it.
    pub package: &'static str,
}

/// The simulators and synthesis tools the test tiers use.
pub const TOOLS: [Tool; 6] = [
    Tool {
        exe: "verilator",
        package: "verilator",
    },
    Tool {
        exe: "verilator_coverage",
        package: "verilator",
    },
    Tool {
        exe: "iverilog",
        package: "iverilog",
    },
    Tool {
        exe: "yosys",
        package: "yosys",
    },
    Tool {
        exe: "nextpnr-ice40",
        package: "nextpnr-ice40",
    },
    Tool {
        exe: "icepack",
        package: "fpga-icestorm",
    },
];

/// Finds the tool whose executable is `exe` (one of [`TOOLS`]) on `PATH`, or says which command
/// installs it.
pub fn locate_exe(exe: &str) -> Result<PathBuf, String> {
    let t = TOOLS
        .iter()
        .find(|t| t.exe == exe)
        .unwrap_or_else(|| panic!("`{exe}` is not one of the known tools"));
    locate(t)
}

/// Finds `tool` on `PATH`, or says which command installs it.
pub fn locate(tool: &Tool) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(tool.exe))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "`{}` not found on PATH; install it with: apt-get install -y {}",
                tool.exe, tool.package
            )
        })
}

/// The project's virtual environment: `$SHIFTADD_VENV`, default `.venv` at the repository root.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("SHIFTADD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv")))
}

/// The Python of the project's virtual environment, which `scripts/setup.sh` fills with the
/// Python tools (`$SHIFTADD_VENV`, default `.venv` at the repository root), or what to run.
pub fn venv_python() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let py = venv.join("bin").join("python");
    if py.is_file() {
        Ok(py)
    } else {
        Err(format!(
            "{}: no Python virtual environment; run: bash scripts/setup.sh (or set SHIFTADD_VENV)",
            venv.display()
        ))
    }
}
