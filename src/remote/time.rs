//! Time formats of the protocol (§3.3): the JFS XML form `2024-03-05-T09:12:44Z` (note the `-` before `T`,
//! offsets as `+hhmm`), RFC 3339 in liststream and allocate bodies. Everything becomes whole Unix seconds,
//! UTC; the service keeps 1 s precision, so sub-second parts are dropped on input.

use super::error::{RemoteError, RemoteResult};
use super::types::UnixTime;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};

/// Parse a JFS time (`YYYY-MM-DD-Thh:mm:ss` + `Z` | `+hhmm` | `+hh:mm`), falling back to RFC 3339 so a
/// server that switches formats does not break listings. Empty (the service's "never") is `None`.
pub fn parse(s: &str) -> RemoteResult<Option<UnixTime>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Some(t) = parse_jfs(s) {
        return Ok(Some(t));
    }
    if let Some(t) = parse_rfc3339(s) {
        return Ok(Some(t));
    }
    Err(RemoteError::Protocol(format!(
        "time '{}' is neither JFS (2024-03-05-T09:12:44Z) nor RFC 3339",
        // Escaped: the text is the server's and may hold line breaks, and the message is one log line.
        s.chars().take(40).collect::<String>().escape_debug()
    )))
}

/// The JFS layout only: `2006-01-02-T15:04:05Z0700` in Go terms. Read field by field at fixed places
/// (a listing holds four times per file, and a format string parser was a fifth of a listing's parse).
fn parse_jfs(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    let fixed = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(fixed(4, b'-') && fixed(7, b'-') && fixed(10, b'-') && fixed(11, b'T') && fixed(14, b':') && fixed(17, b':')) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(b, 0, 4)? as i32, digits(b, 5, 2)?, digits(b, 8, 2)?)?;
    let clock = NaiveTime::from_hms_opt(digits(b, 12, 2)?, digits(b, 15, 2)?, digits(b, 18, 2)?)?;
    let offset = parse_offset(s.get(20..)?)?;
    Some(offset.from_local_datetime(&date.and_time(clock)).single()?.timestamp())
}

/// The decimal number in `b[at..at + n]`, all digits.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    b.get(at..at + n)?.iter().try_fold(0u32, |v, c| c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0')))
}

/// `Z`, `+hhmm`, `-hhmm`, `+hh:mm` (and a bare `+hh`, seen nowhere but cheap to accept).
fn parse_offset(zone: &str) -> Option<FixedOffset> {
    if zone == "Z" || zone == "z" || zone.is_empty() {
        return FixedOffset::east_opt(0);
    }
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// RFC 3339 with or without fractional seconds; fractions are truncated (server precision is 1 s).
fn parse_rfc3339(s: &str) -> Option<UnixTime> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// JFS form, always UTC with `Z` (what the service itself emits).
pub fn format_jfs(t: UnixTime) -> String {
    to_utc(t).format("%Y-%m-%d-T%H:%M:%SZ").to_string()
}

/// RFC 3339, whole seconds, `Z` (what rclone puts in allocate requests).
pub fn format_rfc3339(t: UnixTime) -> String {
    to_utc(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 with milliseconds, the liststream form.
pub fn format_rfc3339_millis(t: UnixTime) -> String {
    to_utc(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Current time in whole seconds.
pub fn now() -> UnixTime {
    Utc::now().timestamp()
}

fn to_utc(t: UnixTime) -> DateTime<Utc> {
    // Out-of-range values cannot come from the service; clamp to the epoch rather than panic.
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_shape() {
        let t = 1_709_629_964; // 2024-03-05T09:12:44Z
        for (input, want) in [
            ("2024-03-05-T09:12:44Z", Some(t)),
            ("  2024-03-05-T09:12:44Z\n", Some(t)),
            ("2024-03-05-T10:12:44+0100", Some(t)),
            ("2024-03-05-T08:12:44-0100", Some(t)),
            ("2024-03-05-T10:12:44+01:00", Some(t)),
            ("2024-03-05T09:12:44Z", Some(t)),
            ("2024-03-05T09:12:44.000Z", Some(t)),
            ("2024-03-05T09:12:44.999Z", Some(t)),
            ("2024-03-05T10:12:44+01:00", Some(t)),
            ("2017-03-02-T11:10:13Z", Some(1_488_453_013)),
            ("", None),
            ("   ", None),
        ] {
            assert_eq!(parse(input).unwrap(), want, "{input:?}");
        }
    }

    #[test]
    fn garbage_is_a_protocol_error_not_a_panic() {
        for bad in [
            "yesterday",
            "2024-03-05-T09:12",
            "2024-13-05-T09:12:44Z",
            "2024-02-30-T09:12:44Z",
            "2024-03-05-T24:12:44Z",
            "2024-03-05-T09:12:4xZ",
            "2024-03-05-T09:12:44Zjunk",
            "2024-03-05-T09:12:44+9999",
            "2024-03-05-T09:12:44é",
            "é",
        ] {
            assert!(matches!(parse(bad), Err(RemoteError::Protocol(_))), "{bad:?}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for (t, jfs, rfc, ms) in [
            (1_709_629_964, "2024-03-05-T09:12:44Z", "2024-03-05T09:12:44Z", "2024-03-05T09:12:44.000Z"),
            (0, "1970-01-01-T00:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(format_jfs(t), jfs);
            assert_eq!(format_rfc3339(t), rfc);
            assert_eq!(format_rfc3339_millis(t), ms);
            assert_eq!(parse(jfs).unwrap(), Some(t));
            assert_eq!(parse(rfc).unwrap(), Some(t));
            assert_eq!(parse(ms).unwrap(), Some(t));
        }
    }
}
