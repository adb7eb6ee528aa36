//! What one scan pass did, counted: the `--json` document and the human summary line. Counts are of
//! files unless named otherwise; `bytes` are content bytes actually sent (deduplicated files send none);
//! `hashed` counts files opened and read to compute an md5 (0 on a re-scan of an unchanged tree).

use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct ScanReport {
    pub local: String,
    pub target: String,
    pub dry_run: bool,
    /// Files whose bytes were sent (new or changed).
    pub uploaded: u64,
    /// New or changed files the server already had the content of: nothing sent.
    pub deduped: u64,
    /// Remote files and folders moved to the trash because they are gone locally.
    pub trashed: u64,
    pub folders_created: u64,
    pub unchanged: u64,
    /// Entries not backed up on purpose (symlinks, sockets, devices, unstorable names), with a note each.
    pub skipped: u64,
    /// Entries that could not be read or uploaded (the exit code is then 1).
    pub failed: u64,
    pub bytes: u64,
    pub hashed: u64,
    pub seconds: f64,
    /// Stopped by a signal before the plan was done; the next scan finishes the job.
    pub interrupted: bool,
    pub notes: Vec<Note>,
    pub failures: Vec<Note>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub path: String,
    pub reason: String,
}

impl ScanReport {
    pub fn note(&mut self, path: &str, reason: &str) {
        self.skipped += 1;
        self.notes.push(Note { path: path.to_string(), reason: reason.to_string() });
    }

    pub fn fail(&mut self, path: &str, reason: &str) {
        self.failed += 1;
        self.failures.push(Note { path: path.to_string(), reason: reason.to_string() });
    }

    /// Something changed (or would have, in a dry run) on the server.
    pub fn changed_anything(&self) -> bool {
        self.uploaded + self.deduped + self.trashed + self.folders_created > 0
    }

    /// The one-line human summary.
    pub fn summary(&self) -> String {
        let would = if self.dry_run { "dry run, would have: " } else { "" };
        let stopped = if self.interrupted { " (interrupted; run again to finish)" } else { "" };
        format!(
            "{would}{} uploaded, {} deduped, {} trashed, {} folders created, {} unchanged, {} skipped, {} failed; \
             {} sent, {} files read for checksums, {:.1} s{stopped}",
            self.uploaded,
            self.deduped,
            self.trashed,
            self.folders_created,
            self.unchanged,
            self.skipped,
            self.failed,
            human_bytes(self.bytes),
            self.hashed,
            self.seconds
        )
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
