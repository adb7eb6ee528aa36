//! Fault injection: latency, per-connection bandwidth, random 500/429 answers and cut connections, the
//! deterministic one-shot `fail_next`/`fail_after_next`/`drop_next` rules tests rely on, and `hang` (a service that holds
//! requests without answering). Test-hook requests are never faulted. Random rates draw from a seeded RNG
//! so a soak run can be replayed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Answer the next `count` requests of `kind` with `status`, before doing anything.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailNext {
    pub kind: String,
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
}

/// Cut the next `count` transfers of `kind` (`upload` or `download`) after `after_bytes` body bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DropNext {
    pub kind: String,
    #[serde(default)]
    pub after_bytes: u64,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Hold requests of the given kinds (every kind when empty) without an answer until this rule is
/// cleared, or `max_ms` has passed; then they are served as usual. The bound keeps a test that forgets
/// to clear it (or fails before it does) from hanging forever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hang {
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default = "default_hang_max_ms")]
    pub max_ms: u64,
}

fn default_hang_max_ms() -> u64 {
    120_000
}

/// The JSON document of `GET/PUT /_emulator/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultConfig {
    pub latency_ms: u64,
    /// Bytes per second per connection, both directions; 0 = unlimited.
    pub bandwidth: u64,
    /// Fraction of requests answered 500.
    pub error_rate: f64,
    /// Fraction of requests answered 429.
    pub throttle_rate: f64,
    /// Fraction of file bodies cut mid-way.
    pub drop_rate: f64,
    /// RNG seed for the random rates; 0 = seed from entropy.
    pub seed: u64,
    pub fail_next: Vec<FailNext>,
    /// Like `fail_next`, but the request is served first: the change is made and the client hears of a
    /// failure, as when an answer is lost on its way or a gateway gives up waiting for it.
    pub fail_after_next: Vec<FailNext>,
    pub drop_next: Vec<DropNext>,
    pub hang: Option<Hang>,
    /// Answers of these kinds are made when the request arrives and held back like `hang` holds
    /// requests: what reaches the client tells of an earlier moment, as a reply slow on its way does.
    pub hold_answers: Option<Hang>,
}

pub struct Faults {
    config: FaultConfig,
    rng: StdRng,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        let rng = rng_for(config.seed);
        Faults { config, rng }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    pub fn set(&mut self, config: FaultConfig) {
        self.rng = rng_for(config.seed);
        self.config = config;
    }

    pub fn latency_ms(&self) -> u64 {
        self.config.latency_ms
    }

    pub fn bandwidth(&self) -> u64 {
        self.config.bandwidth
    }

    /// How long at most a request of `kind` is held before it is served, if a hang rule covers it.
    pub fn hang_for(&self, kind: &str) -> Option<Duration> {
        Self::covers(self.config.hang.as_ref()?, kind)
    }

    /// How long at most an answer to a request of `kind` is held once made, if `hold_answers` covers it.
    pub fn answer_held_for(&self, kind: &str) -> Option<Duration> {
        Self::covers(self.config.hold_answers.as_ref()?, kind)
    }

    fn covers(rule: &Hang, kind: &str) -> Option<Duration> {
        (rule.kinds.is_empty() || rule.kinds.iter().any(|k| k == kind)).then(|| Duration::from_millis(rule.max_ms))
    }

    /// A status to answer after serving this request, if a `fail_after_next` rule fires.
    pub fn failure_after(&mut self, kind: &str) -> Option<u16> {
        let pos = self.config.fail_after_next.iter().position(|f| f.kind == kind && f.count > 0)?;
        let rule = &mut self.config.fail_after_next[pos];
        rule.count -= 1;
        let status = rule.status;
        if rule.count == 0 {
            self.config.fail_after_next.remove(pos);
        }
        Some(status)
    }

    /// A status to answer instead of serving this request, if any rule fires.
    pub fn failure_for(&mut self, kind: &str) -> Option<u16> {
        if let Some(pos) = self.config.fail_next.iter().position(|f| f.kind == kind && f.count > 0) {
            let status = self.config.fail_next[pos].status;
            self.config.fail_next[pos].count -= 1;
            if self.config.fail_next[pos].count == 0 {
                self.config.fail_next.remove(pos);
            }
            return Some(status);
        }
        if self.config.error_rate > 0.0 && self.rng.gen::<f64>() < self.config.error_rate {
            return Some(500);
        }
        if self.config.throttle_rate > 0.0 && self.rng.gen::<f64>() < self.config.throttle_rate {
            return Some(429);
        }
        None
    }

    /// Where to cut a body of `len` bytes for a transfer of `kind` ("upload"/"download"), if at all.
    pub fn drop_point(&mut self, kind: &str, len: u64) -> Option<u64> {
        if let Some(pos) = self.config.drop_next.iter().position(|d| d.kind == kind && d.count > 0) {
            let after = self.config.drop_next[pos].after_bytes;
            self.config.drop_next[pos].count -= 1;
            if self.config.drop_next[pos].count == 0 {
                self.config.drop_next.remove(pos);
            }
            return Some(after);
        }
        if self.config.drop_rate > 0.0 && len > 0 && self.rng.gen::<f64>() < self.config.drop_rate {
            return Some(self.rng.gen_range(0..len));
        }
        None
    }
}

fn rng_for(seed: u64) -> StdRng {
    if seed == 0 {
        StdRng::from_entropy()
    } else {
        StdRng::seed_from_u64(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_fires_count_times() {
        let mut f = Faults::new(FaultConfig {
            fail_next: vec![FailNext { kind: "upload".into(), status: 500, count: 2 }],
            ..Default::default()
        });
        assert_eq!(f.failure_for("list"), None);
        assert_eq!(f.failure_for("upload"), Some(500));
        assert_eq!(f.failure_for("upload"), Some(500));
        assert_eq!(f.failure_for("upload"), None);
    }

    #[test]
    fn hang_covers_its_kinds_or_every_kind() {
        let cfg: FaultConfig = serde_json::from_str(r#"{"hang": {"kinds": ["download"]}}"#).unwrap();
        let f = Faults::new(cfg);
        assert_eq!(f.hang_for("download"), Some(Duration::from_millis(120_000)));
        assert_eq!(f.hang_for("list"), None);
        let f = Faults::new(serde_json::from_str(r#"{"hang": {"max_ms": 5}}"#).unwrap());
        assert_eq!(f.hang_for("list"), Some(Duration::from_millis(5)));
        assert_eq!(Faults::new(FaultConfig::default()).hang_for("list"), None);
    }

    #[test]
    fn held_answers_are_a_rule_of_their_own() {
        let f = Faults::new(serde_json::from_str(r#"{"hold_answers": {"kinds": ["list"], "max_ms": 7}}"#).unwrap());
        assert_eq!(f.answer_held_for("list"), Some(Duration::from_millis(7)));
        assert_eq!(f.answer_held_for("download"), None);
        assert_eq!(f.hang_for("list"), None, "the request itself is served at once");
    }
}
