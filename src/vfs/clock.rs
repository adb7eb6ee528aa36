//! The clock the cache lifetimes (listing and attribute TTLs, "recently used" listings) are measured
//! with. It is the system's monotonic clock, plus a skew that only tests set, so that a test passes time
//! instead of sleeping it away: in-process through `advance`, and in a mounted daemon through the file
//! named by `JOTTAFUSE_TEST_CLOCK`, which holds the seconds to add (a test writes it; the daemon reads it
//! at each look at the clock). Unset, the skew is zero and nothing is read.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added by `advance`.
    skew_ms: Arc<AtomicU64>,
    /// The test's skew file, if any.
    file: Option<PathBuf>,
}

impl Clock {
    /// The system clock, skewed by `JOTTAFUSE_TEST_CLOCK`'s file when that variable is set.
    pub fn from_env() -> Self {
        Clock { skew_ms: Arc::default(), file: std::env::var_os("JOTTAFUSE_TEST_CLOCK").map(PathBuf::from) }
    }

    /// Pass time for every holder of this clock (tests).
    pub fn advance(&self, by: Duration) {
        self.skew_ms.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }

    fn skew(&self) -> Duration {
        let from_file = self
            .file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or_default();
        from_file + Duration::from_millis(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Now, as this clock counts. Ages are only ever measured between two of its readings (stored
    /// times taken with `now`), so passing time ages what was stored before and nothing after.
    pub fn now(&self) -> Instant {
        let real = Instant::now();
        if self.file.is_none() && self.skew_ms.load(Ordering::Relaxed) == 0 {
            return real;
        }
        real + self.skew()
    }

    /// Time since `since`, a reading of `now`.
    pub fn elapsed(&self, since: Instant) -> Duration {
        self.now().saturating_duration_since(since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_passes_time_for_every_copy() {
        let c = Clock::default();
        let copy = c.clone();
        let t = c.now();
        assert!(copy.elapsed(t) < Duration::from_secs(60));
        c.advance(Duration::from_secs(120));
        assert!(copy.elapsed(t) >= Duration::from_secs(120));
        assert!(copy.elapsed(copy.now()) < Duration::from_secs(60), "what is read after is young");
    }

    #[test]
    fn a_skew_file_adds_its_seconds_and_bad_contents_add_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("skew");
        let c = Clock { skew_ms: Arc::default(), file: Some(file.clone()) };
        let t = c.now();
        assert!(c.elapsed(t) < Duration::from_secs(60), "no file: no skew");
        std::fs::write(&file, "90.5\n").unwrap();
        assert!(c.elapsed(t) >= Duration::from_millis(90_500));
        for bad in ["", "soon", "-5", "NaN"] {
            std::fs::write(&file, bad).unwrap();
            assert!(c.elapsed(t) < Duration::from_secs(60), "{bad:?}");
        }
    }
}
