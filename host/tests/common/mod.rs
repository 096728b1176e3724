//! Running the `shiftadd` binary from the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn shiftadd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shiftadd"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run shiftadd")
}

pub fn ok(args: &[&str]) -> String {
    let o = shiftadd(args);
    assert!(
        o.status.success(),
        "shiftadd {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs a command that must be refused: exit status 1 (an error) or 2 (a usage error), never a
/// panic (101) or a signal.
pub fn fails(args: &[&str]) -> String {
    let o = shiftadd(args);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        matches!(o.status.code(), Some(1 | 2)),
        "shiftadd {args:?} should fail with status 1 or 2, got {:?}: {err}",
        o.status
    );
    err
}

pub fn tmp(name: &str) -> PathBuf {
    let dir = root().join("target").join("cli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A fresh copy of the committed `rtl-out/<preset>` in `tmp(name)`, to edit.
pub fn copy_preset(preset: &str, name: &str) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(root().join("rtl-out").join(preset)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    dir
}
