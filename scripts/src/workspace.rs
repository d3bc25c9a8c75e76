//! The project's folders: its root (where `scripts/` is) and where cargo puts the programs.

use std::path::{Path, PathBuf};

/// The project's root folder: where this crate was built from, or else (a program moved or
/// cross-built elsewhere) the first folder up from the current one that has `scripts/Cargo.toml`.
pub fn root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = built.parent().unwrap_or(built);
    if is_root(built) {
        return built.to_path_buf();
    }
    std::env::current_dir()
        .ok()
        .and_then(|dir| dir.ancestors().find(|d| is_root(d)).map(Path::to_path_buf))
        .unwrap_or_else(|| built.to_path_buf())
}

fn is_root(dir: &Path) -> bool {
    dir.join("scripts/Cargo.toml").is_file() && dir.join("Cargo.toml").is_file()
}

/// Where `cargo build` puts the course's programs (debug): `CARGO_TARGET_DIR` (relative to the
/// project, where the scripts run cargo) when set, else `target/`; then `debug/`.
pub fn programs_dir(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
    root.join(target).join("debug")
}

/// The path of the course's program `name` in `dir` (`name.exe` on Windows).
pub fn program(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}
