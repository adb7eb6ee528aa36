//! Request and byte counters for tests ("dedupe sent zero bytes"). Request kinds are stable names
//! (see `Kind`); bytes count only file bodies: upload bodies received and download bodies sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Counters {
    requests: Mutex<BTreeMap<&'static str, u64>>,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

impl Counters {
    pub fn count(&self, kind: &'static str) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry(kind).or_insert(0) += 1;
        }
    }

    pub fn received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sent(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        if let Ok(mut map) = self.requests.lock() {
            map.clear();
        }
        self.bytes_received.store(0, Ordering::Relaxed);
        self.bytes_sent.store(0, Ordering::Relaxed);
    }

    pub fn to_json(&self) -> serde_json::Value {
        let requests: serde_json::Map<String, serde_json::Value> = match self.requests.lock() {
            Ok(map) => map.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect(),
            Err(_) => serde_json::Map::new(),
        };
        serde_json::json!({
            "requests": requests,
            "bytes_received": self.bytes_received.load(Ordering::Relaxed),
            "bytes_sent": self.bytes_sent.load(Ordering::Relaxed),
        })
    }
}
