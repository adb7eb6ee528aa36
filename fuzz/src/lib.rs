//! What the fuzz targets share: a scratch folder for the readers that take a file instead of bytes.

use std::path::Path;
use std::sync::OnceLock;

static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();

extern "C" fn remove_scratch() {
    if let Some(dir) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(dir.path());
    }
}

/// This process's scratch folder; removed when libFuzzer exits normally (a static is never dropped).
pub fn scratch() -> &'static Path {
    SCRATCH
        .get_or_init(|| {
            // SAFETY: registers a plain function with no arguments, as atexit(3) expects.
            unsafe { libc::atexit(remove_scratch) };
            tempfile::Builder::new().prefix("jottafuse-fuzz-").tempdir().expect("a scratch folder under TMPDIR")
        })
        .path()
}
