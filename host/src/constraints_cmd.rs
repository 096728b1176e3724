//! `shiftadd constraints`: writes a config's board constraints and implementation scripts.

use crate::rtl_cmd::ConfigArgs;
use anyhow::{anyhow, Context, Result};
use shiftadd_hdl::generate::generate;
use shiftadd_tb::constraints::constraint_files;
use std::path::Path;

/// Writes `constraints/<board>/<config>/...` under `out` from the config and the manifest of the
/// RTL it generates.
pub fn constraints(args: &ConfigArgs, out: &Path) -> Result<()> {
    let cfg = args.resolve()?;
    let rtl = generate(&cfg)?;
    let files = constraint_files(&cfg, &rtl.manifest).map_err(|e| anyhow!(e))?;
    for path in write_files(&files, out)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Writes `files` (paths relative to `out`), creating folders; returns the paths written.
pub fn write_files(
    files: &std::collections::BTreeMap<String, String>,
    out: &Path,
) -> Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
