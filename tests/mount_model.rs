//! The reference model (`tests/common/model.rs`) through a real FUSE mount of the `jottafuse` binary:
//! what the in-process run checks, now with the kernel between (its caches, its errnos), crashes that are
//! a real kill -9 and a remount on the same journal, and outages of the emulator over HTTP. Fewer
//! sequences than in-process (each step costs a mount's round trips): `JOTTA_MODEL_CASES` sets how many.

mod common;

use common::model::{self, errno_of, walk_local, Side, Snapshot};
use common::{skip_without_mount, wait_until, TestMount, TestService};
use jottafuse::remote::{HttpRemote, Remote};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

/// Listings and attributes are never served from a cache, so changes made elsewhere show at the next
/// step (as `dir_ttl` zero does in-process); uploads start as soon as a file is closed.
const OPTIONS: &str = "dir_cache=0,attr_cache=0,writeback_delay=0";

struct Mounted {
    svc: TestService,
    other: HttpRemote,
    base: tempfile::TempDir,
    mount: Option<TestMount>,
}

impl Mounted {
    fn new() -> Self {
        let svc = TestService::start();
        let other = svc.client();
        let base = tempfile::tempdir().expect("temp dir");
        let mount = Some(TestMount::in_dir(&svc, OPTIONS, &[], base.path()));
        let m = Mounted { svc, other, base, mount };
        std::fs::create_dir_all(m.root()).expect("the mount's archive folder");
        m
    }

    fn root(&self) -> PathBuf {
        self.mount.as_ref().expect("mounted").p("Jotta/Archive/model")
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Whether `jotta status` says the mount reaches the service.
    fn reach(&self) -> Option<bool> {
        let text = common::jotta_status(self.base.path(), &["--json"]);
        let mounts: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        mounts[0]["report"]["service"]["reachable"].as_bool()
    }
}

impl Side for Mounted {
    fn write(&mut self, p: &str, data: &[u8]) -> i32 {
        errno_of(std::fs::write(self.p(p), data))
    }

    fn truncate(&mut self, p: &str, len: u64) -> i32 {
        errno_of(std::fs::OpenOptions::new().write(true).open(self.p(p)).and_then(|f| f.set_len(len)))
    }

    fn rename(&mut self, from: &str, to: &str) -> i32 {
        errno_of(std::fs::rename(self.p(from), self.p(to)))
    }

    fn unlink(&mut self, p: &str) -> i32 {
        errno_of(std::fs::remove_file(self.p(p)))
    }

    fn mkdir(&mut self, p: &str) -> i32 {
        errno_of(std::fs::create_dir(self.p(p)))
    }

    fn rmdir(&mut self, p: &str) -> i32 {
        errno_of(std::fs::remove_dir(self.p(p)))
    }

    fn set_mtime(&mut self, p: &str, secs: i64) -> i32 {
        let when = UNIX_EPOCH + Duration::from_secs(secs as u64);
        // Read-only, as utimensat(2) needs no write access (and a folder cannot be opened for writing).
        errno_of(std::fs::File::open(self.p(p)).and_then(|f| f.set_modified(when)))
    }

    fn fsync(&mut self, p: &str) -> i32 {
        errno_of(std::fs::File::options().write(true).open(self.p(p)).and_then(|f| f.sync_all()))
    }

    fn put_elsewhere(&mut self, p: &str, data: &[u8]) {
        self.svc.put(&self.other, &format!("/Jotta/Archive/model/{p}"), data);
    }

    fn stop_service(&mut self) {
        self.svc.stop();
        // A listing (never cached here) finds the service gone; once the status says so, the next
        // "reachable" it shows is news from after the restart, not a report from before the outage.
        let _ = std::fs::read_dir(self.root()).map(|d| d.count());
        wait_until("the mount to notice the outage", || self.reach() == Some(false));
    }

    fn start_service(&mut self) -> Result<(), String> {
        self.svc.start_again();
        wait_until("the mount to find the service back", || self.reach() == Some(true));
        Ok(())
    }

    fn crash(&mut self) {
        if let Some(mut m) = self.mount.take() {
            m.crash();
        }
        self.mount = Some(TestMount::in_dir(&self.svc, OPTIONS, &[], self.base.path()));
    }

    fn snapshot(&mut self) -> Result<Snapshot, String> {
        walk_local(&self.root()).map_err(|e| e.to_string())
    }

    fn mtime(&mut self, p: &str) -> Result<i64, String> {
        let modified = std::fs::metadata(self.p(p)).and_then(|m| m.modified()).map_err(|e| e.to_string())?;
        Ok(modified.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0))
    }

    fn drained_service_snapshot(&mut self) -> Result<Snapshot, String> {
        // An unmount uploads everything before the daemon exits.
        if let Some(mut m) = self.mount.take() {
            if m.terminate() != Some(0) {
                return Err("the daemon did not end cleanly at unmount".into());
            }
        }
        let root = common::rp("/Jotta/Archive/model");
        let tree = self.svc.rt.block_on(self.other.list_tree(&root)).map_err(|e| e.to_string())?;
        let mut got = Snapshot::new();
        for f in tree.folders {
            got.insert(f, None);
        }
        for f in tree.files {
            let rel = if f.parent.is_empty() { f.name } else { format!("{}/{}", f.parent, f.name) };
            let data = self
                .svc
                .server_bytes(&self.other, &format!("/Jotta/Archive/model/{rel}"))
                .ok_or_else(|| format!("{rel} listed but not downloadable"))?;
            got.insert(rel, Some(data));
        }
        Ok(got)
    }
}

#[test]
fn random_operations_through_a_mount_agree_with_a_local_folder() {
    if skip_without_mount() {
        return;
    }
    model::run(4, 20, Mounted::new);
}
