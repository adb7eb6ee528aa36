//! Presentation helpers: human sizes, times, one line per transfer event, the closing summary.

use crate::remote::UnixTime;
use crate::sync::{printable, Event, Summary};

/// Bytes in binary units, one decimal: `4.0 KiB`, `1.5 GiB`; plain bytes below 1 KiB.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// An error message as one line: a cause quoted from elsewhere (a server's reply, an OS message) may
/// carry line breaks, and scripts read one error per line.
pub(crate) fn one_line(m: &str) -> String {
    m.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// `2024-03-05 09:12:44` (UTC), or dashes when the service gave no time.
pub(crate) fn when(t: Option<UnixTime>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".repeat(19))
}

/// Show one event: failures always (stderr), the rest unless quiet.
pub(crate) fn event(e: &Event, quiet: bool) {
    let line = match e {
        Event::Failed { path, error } => {
            eprintln!("jotta: {}: {}", printable(path), one_line(error));
            return;
        }
        Event::Ignored { path, why } => {
            eprintln!("jotta: skipped {}: {why}", printable(path));
            return;
        }
        _ if quiet => return,
        Event::Uploaded { path, size, bytes } => format!("uploaded {path} ({}, {} sent)", human(*size), human(*bytes)),
        Event::Deduplicated { path, size } => {
            format!("deduplicated {path} ({}, already on JottaCloud: nothing sent)", human(*size))
        }
        Event::Skipped { path, .. } => format!("unchanged {path}"),
        Event::TimeSet { path, .. } => format!("time set {path}"),
        Event::Planned { .. } => return,
        Event::Downloaded { path, size, bytes } => {
            format!("downloaded {path} ({}, {} fetched)", human(*size), human(*bytes))
        }
        Event::Created { path } => format!("created {path}"),
    };
    say!("{}", printable(&line));
}

pub(crate) fn summary(verb: &str, s: &Summary) -> String {
    format!(
        "{verb} {} file(s), deduplicated {}, unchanged {}, failed {}, {} transferred",
        s.transferred,
        s.deduplicated,
        s.skipped,
        s.failed,
        human(s.bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_humans_write_them() {
        for (n, want) in [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 << 30, "5.0 GiB")] {
            assert_eq!(human(n), want);
        }
    }

    #[test]
    fn errors_fold_to_one_line() {
        assert_eq!(one_line("not found: /Jotta/x\n  <html>\r\n</html>\n"), "not found: /Jotta/x <html> </html>");
        assert_eq!(one_line("plain"), "plain");
    }
}
