//! Time formats of the service: the JFS layout (`2024-03-05-T09:12:44Z`) in XML, RFC 3339 with
//! milliseconds in liststream, Unix milliseconds in upload JSON. All times are whole Unix seconds,
//! UTC, because the service keeps 1-second precision.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// Current server time in whole seconds.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

fn utc(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}

/// `YYYY-MM-DD-Thh:mm:ssZ`, always emitted in UTC with `Z`.
pub fn jfs(t: i64) -> String {
    utc(t).format("%Y-%m-%d-T%H:%M:%SZ").to_string()
}

/// RFC 3339 with three fractional digits, as liststream sends it.
pub fn rfc3339_ms(t: i64) -> String {
    utc(t).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parse any time shape clients are known to send: the JFS layout with `Z` or `+hhmm`, RFC 3339, the
/// desktop client's `...Z+00:00`, or a zone-less ISO string (taken as UTC). `None` if nothing fits;
/// callers then substitute "now" like the real server does.
pub fn parse_any(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    // The JFS layout is RFC 3339 with an extra '-' before the 'T'.
    let normal = s.replacen("-T", "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&normal) {
        return Some(t.timestamp());
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(&normal, layout) {
            return Some(t.timestamp());
        }
    }
    // `2014-10-26T12:33:09Z+00:00`: drop the redundant offset after the Z.
    if let Some(pos) = normal.find("Z+") {
        if let Ok(t) = DateTime::parse_from_rfc3339(&normal[..=pos]) {
            return Some(t.timestamp());
        }
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&normal, layout) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let t = 1_709_629_964; // 2024-03-05T09:12:44Z
        assert_eq!(jfs(t), "2024-03-05-T09:12:44Z");
        assert_eq!(rfc3339_ms(t), "2024-03-05T09:12:44.000Z");
        assert_eq!(parse_any("2024-03-05-T09:12:44Z"), Some(t));
        assert_eq!(parse_any("2024-03-05-T10:12:44+0100"), Some(t));
        assert_eq!(parse_any("2024-03-05T10:12:44+01:00"), Some(t));
        assert_eq!(parse_any("2024-03-05T09:12:44Z+00:00"), Some(t));
        assert_eq!(parse_any("2024-03-05T09:12:44"), Some(t));
        assert_eq!(parse_any("garbage"), None);
    }
}
