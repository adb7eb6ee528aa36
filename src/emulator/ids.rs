//! Random identifiers in the service's shapes: v4-style UUIDs, 32-hex share secrets and upload ids.

use rand::RngCore;

pub fn uuid() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A deterministic UUID-shaped id, for synthetic trees that are replayed from the log.
pub fn uuid_from(seed: u64, n: u64) -> String {
    let h = format!("{seed:016x}{n:016x}");
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

pub fn hex32() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}
