//! Bytes in and out: what a closed file uploads, reading back (own writes and others' files), dedupe,
//! fsync, truncate and mtime changes.

use crate::common::in_process::Core;
use crate::common::pattern;
use jottafuse::remote::{Item, Remote};
use jottafuse::vfs::OpenMode;
use std::time::Duration;

#[test]
fn a_closed_file_reaches_the_service_and_reads_back() {
    let c = Core::new();
    let data = pattern(1_500_000, 1);
    c.write_new("a.bin", &data).unwrap();
    assert_eq!(c.read_all("a.bin").unwrap(), data, "read your own writes");
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("a.bin"), Some(data.clone()));
    assert_eq!(c.attr("a.bin").unwrap().size, data.len() as u64);
    assert_eq!(c.read_all("a.bin").unwrap(), data);
}

#[test]
fn a_file_from_elsewhere_is_read_in_ranges() {
    let c = Core::with(|cfg| cfg.dir_ttl = Duration::ZERO);
    let data = pattern(3_000_000, 2);
    c.put_elsewhere("big.bin", &data);
    assert_eq!(c.read_all("big.bin").unwrap(), data);
    let fh = c.fs.open(c.ino("big.bin").unwrap(), OpenMode::Read).unwrap().fh;
    assert_eq!(c.fs.read(fh, 2_999_990, 4096).unwrap(), data[2_999_990..]);
    assert_eq!(c.fs.read(fh, 1_000_000, 10).unwrap(), data[1_000_000..1_000_010]);
    assert!(c.fs.read(fh, 3_000_000, 10).unwrap().is_empty(), "at the end: nothing");
    c.fs.release(fh).unwrap();
}

#[test]
fn identical_content_is_not_sent_again() {
    let c = Core::new();
    let data = pattern(400_000, 4);
    c.write_new("one.bin", &data).unwrap();
    assert_eq!(c.drain(), 0);
    let before = c.service.counters()["bytes_received"].as_u64().unwrap();
    assert_eq!(before, data.len() as u64);
    c.write_new("two.bin", &data).unwrap();
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("two.bin"), Some(data));
    let after = c.service.counters()["bytes_received"].as_u64().unwrap();
    assert_eq!(after, before, "the copy cost no bytes");
}

#[test]
fn fsync_returns_once_the_content_is_on_the_service() {
    // A long write-back delay: only fsync can make this upload happen before release.
    let c = Core::with(|cfg| cfg.writeback_delay = Duration::from_secs(600));
    let root = c.ino("").unwrap();
    let (_, fh) = c.fs.create(root, "synced.txt").unwrap();
    c.write_all(fh, 0, b"must be safe").unwrap();
    assert_eq!(c.server_bytes("synced.txt"), None);
    c.fsync(fh).unwrap();
    assert_eq!(c.server_bytes("synced.txt").as_deref(), Some(&b"must be safe"[..]));
    c.fs.release(fh).unwrap();
}

#[test]
fn truncate_and_mtime_changes_reach_the_service() {
    let c = Core::new();
    c.write_new("t.txt", b"0123456789").unwrap();
    assert_eq!(c.drain(), 0);
    let ino = c.ino("t.txt").unwrap();
    assert_eq!(c.fs.setattr(ino, Some(4), None).unwrap().size, 4);
    assert_eq!(c.read_all("t.txt").unwrap(), b"0123");
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("t.txt").as_deref(), Some(&b"0123"[..]));

    let when = 1_600_000_000;
    assert_eq!(c.fs.setattr(ino, None, Some(when)).unwrap().mtime, when);
    assert_eq!(c.drain(), 0);
    let Item::File(f) = c.rt.block_on(c.other.stat(&c.remote_path("t.txt"))).unwrap() else { panic!("a file") };
    assert_eq!(f.modified(), Some(when));
    assert_eq!(f.size(), 4, "a time change keeps the content");
}

#[test]
fn overwriting_makes_a_new_revision_and_keeps_the_old() {
    let c = Core::new();
    c.write_new("v.txt", b"version one").unwrap();
    assert_eq!(c.drain(), 0);
    c.overwrite("v.txt", b"version two!").unwrap();
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("v.txt").as_deref(), Some(&b"version two!"[..]));
    let Item::File(f) = c.rt.block_on(c.other.stat(&c.remote_path("v.txt"))).unwrap() else { panic!("a file") };
    assert_eq!(f.revisions.len(), 1, "the first version is kept as a revision: {f:?}");
}
