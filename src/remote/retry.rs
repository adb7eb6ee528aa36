//! When a failed request may be sent again, and how long to wait first (§6.4). Only requests that are
//! harmless to repeat are retried after they may have reached the server; the rest (mv, cp, rm, allocate,
//! upload bytes) are retried only when the connection could not even be opened. Uploads recover by
//! re-allocating and resuming instead (see `upload.rs`).
//!
//! How long a dead service costs one request: a refused connection is tried `max_attempts` times with
//! the backoff between (at most 3.1 s with the default policy, about half that on average); a host that
//! does not answer at all costs one connect timeout (10 s, see `http.rs`) and is not tried again, since
//! waiting that long again would only say the same. Either ends in `RemoteError::Unreachable`.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries of one request, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 6, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// One try, no waiting: for tests and callers that retry at a higher level.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// Exponential backoff with full jitter before retry number `retry` (1-based): a uniform pick in
    /// `[0, min(max_delay, base_delay * 2^(retry-1))]`, so many clients hitting a busy server spread out.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.ceiling(retry);
        if cap.is_zero() {
            return cap;
        }
        let nanos = rand::thread_rng().gen_range(0..=cap.as_nanos().min(u64::MAX as u128) as u64);
        Duration::from_nanos(nanos)
    }

    /// The upper bound of `backoff(retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Whether repeating a request that may have reached the server is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GETs and the JFS verbs that converge: mkDir, dl, dlDir, cphash, share.
    Idempotent,
    /// mv, cp, rm, rmDir, allocate, upload bytes, purge_trash: a second copy could act twice.
    NotIdempotent,
}

/// How one try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An HTTP status came back.
    Status(u16),
    /// The connection could not be opened: the request never left.
    Connect,
    /// Opening the connection timed out: the request never left, and the host did not answer at all.
    ConnectTimedOut,
    /// The connection broke after the request may have been sent.
    Broken,
    /// The request went out and the service then said nothing for the silence limit (`http::SILENCE`).
    Silent,
}

/// Tries of one request that met a silent service (the first included): the second covers a connection
/// that died quietly on the way; a service that holds a request that long twice is hanging, and waiting
/// out every retry would keep a command like `jotta ls` for six minutes before it said so.
pub const SILENT_ATTEMPTS: u32 = 2;

/// Statuses the service uses for "busy, try later" (rclone's list).
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 509)
}

/// The retry decision for one failed try.
pub fn should_retry(idempotency: Idempotency, failure: Failure) -> bool {
    match failure {
        Failure::Connect => true,
        Failure::ConnectTimedOut => false,
        Failure::Broken | Failure::Silent => idempotency == Idempotency::Idempotent,
        Failure::Status(s) => idempotency == Idempotency::Idempotent && is_retryable_status(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Idempotency::*;

    #[test]
    fn classification() {
        for (idem, failure, want) in [
            (Idempotent, Failure::Status(429), true),
            (Idempotent, Failure::Status(500), true),
            (Idempotent, Failure::Status(502), true),
            (Idempotent, Failure::Status(503), true),
            (Idempotent, Failure::Status(504), true),
            (Idempotent, Failure::Status(509), true),
            (Idempotent, Failure::Status(404), false),
            (Idempotent, Failure::Status(401), false),
            (Idempotent, Failure::Status(460), false),
            (Idempotent, Failure::Status(501), false),
            (Idempotent, Failure::Broken, true),
            (Idempotent, Failure::Connect, true),
            (NotIdempotent, Failure::Status(503), false),
            (NotIdempotent, Failure::Broken, false),
            (NotIdempotent, Failure::Connect, true),
            (Idempotent, Failure::ConnectTimedOut, false),
            (NotIdempotent, Failure::ConnectTimedOut, false),
        ] {
            assert_eq!(should_retry(idem, failure), want, "{idem:?} {failure:?}");
        }
    }

    #[test]
    fn backoff_grows_then_caps_and_stays_within_bounds() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(10), Duration::from_secs(5));
        assert_eq!(p.ceiling(1000), Duration::from_secs(5));
        for retry in 1..20 {
            assert!(p.backoff(retry) <= p.ceiling(retry));
        }
        let zero = RetryPolicy { base_delay: Duration::ZERO, ..p };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }
}
