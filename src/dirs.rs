//! Where local state lives (XDG base directories): credentials under the config dir, staging files and
//! the upload journal under the cache dir, the demo account's emulator data under the data dir.

use std::path::PathBuf;

fn xdg(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => home().join(fallback),
    }
}

/// `$HOME`, or `/` if unset (a service without a home still gets deterministic paths).
pub fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

/// `$XDG_CONFIG_HOME/jottafuse`: credentials (0600) and the optional config file.
pub fn config_dir() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config").join("jottafuse")
}

/// `$XDG_CACHE_HOME/jottafuse`: staging files and the upload journal.
pub fn cache_dir() -> PathBuf {
    xdg("XDG_CACHE_HOME", ".cache").join("jottafuse")
}

/// `$XDG_DATA_HOME/jottafuse`: the demo account's emulator data.
pub fn data_dir() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").join("jottafuse")
}
