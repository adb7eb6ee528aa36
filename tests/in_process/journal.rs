//! The journal: what `close` acknowledged survives a crash (kill -9) and an outage of the service, and
//! goes out when the next daemon life or the service's return allows.

use crate::common::in_process::Core;
use crate::common::pattern;
use std::time::Duration;

#[test]
fn a_file_closed_before_a_crash_is_uploaded_by_the_next_life() {
    // The upload would wait 10 minutes: the crash comes first.
    let mut c = Core::with(|cfg| cfg.writeback_delay = Duration::from_secs(600));
    let data = pattern(300_000, 5);
    c.write_new("j.bin", &data).unwrap();
    c.crash();
    assert_eq!(c.server_bytes("j.bin"), None, "nothing was sent before the crash");
    c.restart();
    // Visible at once from the journal, before its upload.
    assert_eq!(c.read_all("j.bin").unwrap(), data);
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("j.bin"), Some(data));
}

#[test]
fn a_rename_journaled_before_a_crash_is_kept() {
    let mut c = Core::with(|cfg| cfg.writeback_delay = Duration::from_secs(600));
    c.mkdir("inbox").unwrap();
    c.write_new("inbox/draft.txt", b"text").unwrap();
    c.rename("inbox/draft.txt", "inbox/final.txt").unwrap();
    c.crash();
    c.restart();
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("inbox/final.txt").as_deref(), Some(&b"text"[..]));
    assert_eq!(c.server_bytes("inbox/draft.txt"), None);
}

#[test]
fn writes_during_an_outage_wait_in_the_journal_and_go_out_when_the_service_returns() {
    let c = Core::new();
    c.mkdir("trip").unwrap();
    assert_eq!(c.drain(), 0);
    c.service.stop();
    let data = pattern(200_000, 6);
    c.write_new("trip/photo.jpg", &data).unwrap();
    assert_eq!(c.read_all("trip/photo.jpg").unwrap(), data, "the local copy answers meanwhile");
    assert_eq!(c.drain(), 1, "unreachable: the upload stays in the journal");
    c.service.start_again().unwrap();
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("trip/photo.jpg"), Some(data));
}

#[test]
fn a_crash_during_an_outage_loses_nothing() {
    let mut c = Core::new();
    c.service.stop();
    c.write_new("offline.txt", b"written on a plane").unwrap();
    c.crash();
    c.service.start_again().unwrap();
    c.restart();
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("offline.txt").as_deref(), Some(&b"written on a plane"[..]));
}

#[test]
fn a_local_copy_deleted_under_the_mount_is_not_retried_and_the_drain_does_not_wait_for_it() {
    let c = Core::with(|cfg| cfg.writeback_delay = Duration::from_secs(600));
    c.write_new("lost.bin", &pattern(100_000, 11)).unwrap();
    // Someone removes the cache dir's staging files while the file waits for its upload.
    let mut staging = Vec::new();
    let mut dirs = vec![c.dir.path().join("cache")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()) {
            if e.is_dir() {
                dirs.push(e);
            } else if e.parent().is_some_and(|p| p.ends_with("staging")) {
                staging.push(e);
            }
        }
    }
    assert_eq!(staging.len(), 1, "{staging:?}");
    std::fs::remove_file(&staging[0]).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(c.drain(), 1, "the record is left, not uploaded");
    assert!(started.elapsed() < Duration::from_secs(30), "no retries until the drain's limit");
    let pending = c.fs.status().pending;
    let error = pending[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("cannot read"), "{error}");
    assert_eq!(c.server_bytes("lost.bin"), None);
    // Nothing moves it but the user: no bytes left to wait for, and so no ETA that never comes.
    assert_eq!(c.fs.status().transfer.left, 0);
}
