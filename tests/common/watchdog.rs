//! A bound on every test that starts a service: a test still running after `LIMIT` has hung (a FUSE
//! call that never returns, a wait without end). It is reported by name and the test binary exits, so
//! a CI run fails in minutes with the culprit named instead of running into the CI's own time limit.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

/// Far above the slowest test (about 30 s here), low enough that a hang costs CI little.
const LIMIT: Duration = Duration::from_secs(8 * 60);

/// Armed while alive; dropping it (the test ended, passed or panicked) disarms it.
pub struct Watchdog {
    _disarm: Sender<()>,
}

impl Watchdog {
    pub fn arm() -> Self {
        let test = std::thread::current().name().unwrap_or("a test").to_string();
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(LIMIT) {
                eprintln!("\nwatchdog: {test} has run for {} s: it hangs; ending the test binary", LIMIT.as_secs());
                std::process::exit(124);
            }
        });
        Watchdog { _disarm: tx }
    }
}
