//! The status file of a running mount, read by `jotta status`: pending uploads and bytes, failures with
//! their reason, dedupe hits. Written atomically once a second, and at once when an upload is queued
//! after none was, under `<cache>/status/<pid>.json`; removed at exit. A file whose pid is gone is stale
//! and ignored by readers.

use crate::remote::Remote;
use crate::vfs::upload::StatusReport;
use crate::vfs::JottaFs;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountStatus {
    pub pid: u32,
    pub mountpoint: String,
    pub root: String,
    /// What the daemon reports; `jotta status` reads the same type, so a renamed field cannot turn into a
    /// silent zero on one side.
    pub report: StatusReport,
}

pub struct StatusFile {
    path: PathBuf,
    mountpoint: String,
    root: String,
}

impl StatusFile {
    pub fn new(cache_base: &Path, mountpoint: &Path, root: &str) -> Self {
        let path = cache_base.join("status").join(format!("{}.json", std::process::id()));
        StatusFile { path, mountpoint: mountpoint.display().to_string(), root: root.to_string() }
    }

    pub fn spawn_writer<R: Remote>(&self, rt: &tokio::runtime::Runtime, fs: Arc<JottaFs<R>>) {
        let (path, mountpoint, root) = (self.path.clone(), self.mountpoint.clone(), self.root.clone());
        rt.spawn(async move {
            loop {
                let status = MountStatus {
                    pid: std::process::id(),
                    mountpoint: mountpoint.clone(),
                    root: root.clone(),
                    report: fs.status(),
                };
                if let Err(e) = write_atomic(&path, &status) {
                    log::debug!("cannot write the status file {}: {e}", path.display());
                }
                // Once a second, and at once when the first upload after a quiet spell is queued; but
                // not more than every 50 ms, should uploads drain the queue as fast as files come.
                let written = tokio::time::Instant::now();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = fs.first_pending() => tokio::time::sleep_until(written + Duration::from_millis(50)).await,
                }
            }
        });
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_atomic(path: &Path, status: &MountStatus) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

/// Status of every live mount that keeps its cache under `cache_base`.
pub fn read_all(cache_base: &Path) -> Vec<MountStatus> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(cache_base.join("status")).into_iter().flatten().flatten() {
        let Some(status) = std::fs::read(e.path()).ok().and_then(|b| parse(&b)) else {
            continue;
        };
        if is_alive(status.pid) {
            out.push(status);
        }
    }
    out.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    out
}

/// One status file's content; `None` when it is not one (torn, or written by something else).
pub fn parse(bytes: &[u8]) -> Option<MountStatus> {
    serde_json::from_slice::<MountStatus>(bytes).ok()
}

/// Whether `pid` names a running process. Only a positive pid names one process: kill(2) takes 0 for
/// the caller's own process group and a negative number for another group (or, -1, every process).
pub(crate) fn is_alive(pid: u32) -> bool {
    match i32::try_from(pid) {
        // SAFETY: kill with signal 0 only checks that the process exists.
        Ok(pid) if pid > 0 => unsafe { libc::kill(pid, 0) == 0 },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_document_reads_back_as_written_and_tolerates_missing_fields() {
        let mut report = StatusReport { pending_bytes: 7, ..Default::default() };
        report.stats.uploaded = 3;
        report.service.reachable = true;
        let status = MountStatus { pid: 1, mountpoint: "/m".into(), root: "/".into(), report };
        let back: MountStatus = serde_json::from_slice(&serde_json::to_vec(&status).unwrap()).unwrap();
        assert_eq!((back.report.pending_bytes, back.report.stats.uploaded), (7, 3));
        assert!(back.report.service.reachable);
        // A daemon of another version may write fewer fields: what is missing reads as its default.
        let older = r#"{"pid": 2, "mountpoint": "/n", "root": "/", "report": {"pending_bytes": 5}}"#;
        let back: MountStatus = serde_json::from_str(older).unwrap();
        assert_eq!(back.report.pending_bytes, 5);
    }
}
