//! A test hook that holds slow work at chosen points, so tests can show that nothing else waits for it
//! (a journal fsync, the copy of a large pending file changed in place). Off unless the environment
//! variable `JOTTAFUSE_TEST_HOLD` names a file: while that file exists, work reaching a hold point waits
//! (at most two minutes, so a forgotten file cannot hang a mount for good). Reaching a hold point writes
//! `<file>.reached`, so a test waits for that instead of sleeping; `mark` writes it for points that are
//! only observed, never held. A hold file that names a point holds that point alone.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn hold_file() -> Option<&'static PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| std::env::var_os("JOTTAFUSE_TEST_HOLD").map(PathBuf::from)).as_ref()
}

/// Wait here while the hold file exists; `point` names the place in the log.
pub fn wait(point: &str) {
    let Some(file) = hold_file() else { return };
    match std::fs::read_to_string(file) {
        Ok(only) if only.trim().is_empty() || only.trim() == point => {}
        _ => return,
    }
    log::info!("test hold: {point} waits while {} exists", file.display());
    let _ = std::fs::write(reached(file), point);
    let deadline = Instant::now() + Duration::from_secs(120);
    while file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Say that a point was reached without holding it (a read parked on its chunk, which nothing outside
/// the daemon shows), when the hook is on at all.
pub fn mark(point: &str) {
    if let Some(file) = hold_file() {
        let _ = std::fs::write(reached(file), point);
    }
}

/// The file that says a hold point was reached.
pub fn reached(file: &std::path::Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".reached");
    PathBuf::from(name)
}
