//! The contract suite of the `Remote` trait: `HttpRemote` against the emulator over real HTTP on loopback.
//! Every operation, the naming rules, the error mapping, token refresh and rotation, the legacy Basic
//! logins, retries under injected faults, resumed uploads and persistence across restarts. Byte and request
//! counts come from the emulator's counters, so "no bytes were sent" is checked, not assumed.

mod common;

use common::*;
use jottafuse::remote::credentials;
use jottafuse::remote::{HttpRemote, Item, ItemKind, Remote, RemoteError, RemotePath, RetryPolicy, RevisionState};
use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;

const T0: i64 = 1_700_000_000;

fn file_of(item: Item) -> jottafuse::remote::FileInfo {
    match item {
        Item::File(f) => f,
        other => panic!("expected a file, got {other:?}"),
    }
}

fn stat_file(svc: &TestService, c: &HttpRemote, path: &str) -> jottafuse::remote::FileInfo {
    file_of(svc.rt.block_on(c.stat(&rp(path))).unwrap_or_else(|e| panic!("stat {path}: {e}")))
}

fn exists(svc: &TestService, c: &HttpRemote, path: &str) -> bool {
    match svc.rt.block_on(c.stat(&rp(path))) {
        Ok(_) => true,
        Err(RemoteError::NotFound(_)) => false,
        Err(e) => panic!("stat {path}: {e}"),
    }
}

/// The error of a download that must fail (an unexpected success reports only its length).
fn download_err(svc: &TestService, c: &HttpRemote, path: &str, range: Option<std::ops::Range<u64>>) -> RemoteError {
    match svc.download(c, path, range) {
        Ok(data) => panic!("download {path} succeeded with {} bytes", data.len()),
        Err(e) => e,
    }
}

fn names_of(listing: &jottafuse::remote::Listing) -> (Vec<String>, Vec<String>) {
    let mut folders: Vec<String> = listing.folders.iter().map(|f| f.name.clone()).collect();
    let mut files: Vec<String> = listing.files.iter().map(|f| f.name.clone()).collect();
    folders.sort();
    files.sort();
    (folders, files)
}

// ---------------------------------------------------------------------------------------------------------
// Reads

#[test]
fn account_reports_capacity_usage_and_devices() {
    let svc = TestService::start_with(|cfg| cfg.quota = Some(10 << 20));
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/a.bin", &pattern(5000, 1)).expect("upload");
    let acct = svc.rt.block_on(c.account()).expect("account");
    assert_eq!(acct.username, "demo");
    assert_eq!(acct.capacity, Some(10 << 20));
    assert!(acct.usage >= 5000, "usage counts the upload: {acct:?}");
    assert!(!acct.write_locked && !acct.read_locked);
    let jotta = acct.devices.iter().find(|d| d.name == "Jotta").expect("Jotta device");
    assert!(jotta.is_builtin(), "{jotta:?}");

    // Unlimited is None, not u64::MAX or a parse error of -1.
    let unlimited = TestService::start();
    let c = unlimited.client();
    assert_eq!(unlimited.rt.block_on(c.account()).expect("account").capacity, None);
}

#[test]
fn device_lists_mount_points_and_flags_deleted_ones() {
    let svc = TestService::start();
    let c = svc.client();
    let dev = svc.rt.block_on(c.device(&rp("/Jotta"))).expect("device");
    assert!(dev.device.is_builtin());
    let names: Vec<&str> = dev.mount_points.iter().map(|m| m.name.as_str()).collect();
    for mp in ["Archive", "Sync"] {
        assert!(names.contains(&mp), "{mp} in {names:?}");
    }
    assert!(dev.mount_points.iter().all(|m| m.deleted.is_none()), "{dev:?}");

    // A backup device (made the way backup clients make them, §5.11) whose mount point gets trashed.
    svc.rt.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("{}/jfs/demo", svc.endpoint());
        for url in [format!("{base}/Laptop?type=LAPTOP"), format!("{base}/Laptop/Docs"), format!("{base}/Laptop/Old")] {
            let r = http.post(url).basic_auth("demo", Some("demo-password")).send().await.expect("create");
            assert!(r.status().is_success(), "{}", r.status());
        }
    });
    svc.upload(&c, "/Laptop/Docs/a.txt", b"laptop").expect("upload");
    svc.rt.block_on(c.delete(&rp("/Laptop/Old"), ItemKind::Folder)).expect("trash the mount point");
    let dev = svc.rt.block_on(c.device(&rp("/Laptop"))).expect("device");
    assert_eq!(dev.device.device_type, "LAPTOP");
    assert!(!dev.device.is_builtin());
    let mp = |n: &str| dev.mount_points.iter().find(|m| m.name == n).unwrap_or_else(|| panic!("{n}: {dev:?}")).clone();
    assert!(mp("Docs").deleted.is_none());
    assert_eq!(mp("Docs").size, 6);
    assert!(mp("Old").deleted.is_some(), "{dev:?}");
    let acct = svc.rt.block_on(c.account()).expect("account");
    assert!(acct.devices.iter().any(|d| d.name == "Laptop" && d.device_type == "LAPTOP"), "{acct:?}");

    let bad = svc.rt.block_on(c.device(&rp("/Jotta/Archive"))).unwrap_err();
    assert!(matches!(bad, RemoteError::InvalidName(_)), "device needs depth 1: {bad:?}");
    let missing = svc.rt.block_on(c.device(&rp("/NoSuchDevice"))).unwrap_err();
    assert!(matches!(missing, RemoteError::NotFound(_)), "{missing:?}");
}

#[test]
fn list_flags_deleted_children_and_shows_incomplete_files() {
    let svc = TestService::start();
    let c = svc.client();
    let no_retry = svc.client_with(RetryPolicy::none());
    svc.upload(&c, "/Jotta/Archive/l/live.txt", b"live").expect("upload");
    svc.upload(&c, "/Jotta/Archive/l/gone.txt", b"gone").expect("upload");
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/l/dir"))).expect("mkdir");
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/l/olddir"))).expect("mkdir");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/l/gone.txt"), ItemKind::File)).expect("delete");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/l/olddir"), ItemKind::Folder)).expect("delete dir");
    // An upload cut after 1000 bytes, with no retries, stays INCOMPLETE.
    svc.set_faults(json!({"drop_next": [{"kind": "upload", "after_bytes": 1000}]}));
    let err = svc.upload(&no_retry, "/Jotta/Archive/l/half.bin", &pattern(50_000, 2)).unwrap_err();
    assert!(matches!(err, RemoteError::Transient(_)), "{err:?}");

    let listing = svc.rt.block_on(c.list(&rp("/Jotta/Archive/l"))).expect("list");
    assert!(!listing.is_mount_point);
    let (folders, files) = names_of(&listing);
    assert_eq!(folders, ["dir", "olddir"]);
    assert_eq!(files, ["gone.txt", "half.bin", "live.txt"]);
    let file = |n: &str| listing.files.iter().find(|f| f.name == n).expect(n).clone();
    assert!(file("live.txt").is_live());
    assert_eq!(file("live.txt").size(), 4);
    assert_eq!(file("live.txt").md5(), Some(md5_hex(b"live").as_str()));
    assert!(file("gone.txt").deleted.is_some() && !file("gone.txt").is_live());
    let half = file("half.bin");
    assert!(!half.is_live() && half.deleted.is_none(), "{half:?}");
    assert_eq!(half.latest.as_ref().map(|r| r.state), Some(RevisionState::Incomplete), "{half:?}");
    let folder = |n: &str| listing.folders.iter().find(|f| f.name == n).expect(n).clone();
    assert!(folder("olddir").deleted.is_some());
    assert!(folder("dir").deleted.is_none());

    // The mount point itself lists as one.
    let mp = svc.rt.block_on(c.list(&rp("/Jotta/Archive"))).expect("list mp");
    assert!(mp.is_mount_point);
    assert!(mp.folders.iter().any(|f| f.name == "l"));
    // A trashed folder lists as NotFound (trait: "only in the trash").
    let e = svc.rt.block_on(c.list(&rp("/Jotta/Archive/l/olddir"))).unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
}

#[test]
fn stat_gives_file_revisions_newest_first_and_folder_listings() {
    let svc = TestService::start();
    let c = svc.client();
    for (i, body) in [&b"one"[..], b"two!", b"three"].iter().enumerate() {
        let out = svc.rt.block_on(upload_bytes(&c, svc.dir.path(), "/Jotta/Archive/s/f.txt", body, T0 + i as i64));
        out.expect("upload");
    }
    let f = stat_file(&svc, &c, "/Jotta/Archive/s/f.txt");
    assert_eq!(f.name, "f.txt");
    assert!(f.uuid.is_some());
    let cur = f.current.clone().expect("current");
    assert_eq!(cur.state, RevisionState::Completed);
    assert_eq!(cur.size, Some(5));
    assert_eq!(cur.md5.as_deref(), Some(md5_hex(b"three").as_str()));
    assert_eq!(cur.modified, Some(T0 + 2));
    assert_eq!(f.revisions.len(), 2, "{f:?}");
    assert!(cur.number > f.revisions[0].number && f.revisions[0].number > f.revisions[1].number, "{f:?}");
    assert_eq!(f.revisions[0].md5.as_deref(), Some(md5_hex(b"two!").as_str()));
    assert_eq!(f.revisions[1].md5.as_deref(), Some(md5_hex(b"one").as_str()));
    assert_eq!(f.revisions[1].modified, Some(T0));

    match svc.rt.block_on(c.stat(&rp("/Jotta/Archive/s"))).expect("stat folder") {
        Item::Folder(l) => {
            assert_eq!(l.name, "s");
            assert_eq!(names_of(&l).1, ["f.txt"]);
        }
        other => panic!("folder expected: {other:?}"),
    }
}

#[test]
fn download_whole_and_by_byte_range() {
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(100_000, 3);
    svc.upload(&c, "/Jotta/Archive/d.bin", &data).expect("upload");
    svc.upload(&c, "/Jotta/Archive/empty", b"").expect("upload empty");

    assert_eq!(svc.download(&c, "/Jotta/Archive/d.bin", None).expect("whole"), data);
    assert_eq!(svc.download(&c, "/Jotta/Archive/d.bin", Some(10..20)).expect("mid"), &data[10..20]);
    assert_eq!(svc.download(&c, "/Jotta/Archive/d.bin", Some(99_990..100_000)).expect("end"), &data[99_990..]);
    // A range running past the end is clipped to the file.
    assert_eq!(svc.download(&c, "/Jotta/Archive/d.bin", Some(99_000..200_000)).expect("past"), &data[99_000..]);
    let e = download_err(&svc, &c, "/Jotta/Archive/d.bin", Some(100_000..100_010));
    assert!(matches!(e, RemoteError::RangeNotSatisfiable(_)), "{e:?}");
    let e = download_err(&svc, &c, "/Jotta/Archive/d.bin", Some(500_000..500_001));
    assert!(matches!(e, RemoteError::RangeNotSatisfiable(_)), "{e:?}");

    assert_eq!(svc.download(&c, "/Jotta/Archive/empty", None).expect("empty"), b"");
    let f = stat_file(&svc, &c, "/Jotta/Archive/empty");
    assert!(f.is_live() && f.size() == 0, "{f:?}");

    let e = download_err(&svc, &c, "/Jotta/Archive/missing", None);
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
    // Bytes leave the server only for what was asked.
    svc.reset_counters();
    svc.download(&c, "/Jotta/Archive/d.bin", Some(0..1000)).expect("head");
    assert_eq!(svc.bytes_sent(), 1000);
}

// ---------------------------------------------------------------------------------------------------------
// Writes

#[test]
fn upload_new_overwrite_and_dedupe() {
    let svc = TestService::start();
    let c = svc.client();
    let a = pattern(40_000, 4);
    let b = pattern(30_000, 5);

    let out = svc.upload(&c, "/Jotta/Archive/u/new.bin", &a).expect("new");
    assert!(!out.deduplicated);
    assert_eq!(out.bytes_sent, a.len() as u64);
    assert_eq!(out.resumed_from, 0);
    assert_eq!(out.file.md5(), Some(md5_hex(&a).as_str()));
    assert_eq!(out.file.modified(), Some(T0));
    assert_eq!(out.file.size(), a.len() as u64);
    let uuid = stat_file(&svc, &c, "/Jotta/Archive/u/new.bin").uuid.expect("uuid");

    let out = svc.upload(&c, "/Jotta/Archive/u/new.bin", &b).expect("overwrite");
    assert!(!out.deduplicated);
    assert_eq!(out.file.md5(), Some(md5_hex(&b).as_str()));
    let f = stat_file(&svc, &c, "/Jotta/Archive/u/new.bin");
    assert_eq!(f.uuid.as_deref(), Some(uuid.as_str()), "overwrite keeps the uuid");
    assert_eq!(f.md5(), Some(md5_hex(&b).as_str()));
    assert_eq!(f.revisions.len(), 1, "the old content became a revision: {f:?}");
    assert_eq!(f.revisions[0].md5.as_deref(), Some(md5_hex(&a).as_str()));
    assert_eq!(svc.download(&c, "/Jotta/Archive/u/new.bin", None).expect("download"), b);

    // Identical content elsewhere: allocate says COMPLETED, no byte travels, no upload request at all.
    svc.reset_counters();
    let out = svc.upload(&c, "/Jotta/Archive/u/other/copy.bin", &a).expect("dedupe");
    assert!(out.deduplicated, "{out:?}");
    assert_eq!(out.bytes_sent, 0);
    assert_eq!(svc.bytes_received(), 0);
    assert_eq!(svc.requests("upload"), 0);
    assert_eq!(svc.requests("allocate"), 1);
    assert_eq!(svc.download(&c, "/Jotta/Archive/u/other/copy.bin", None).expect("download"), a);
}

#[test]
fn mkdir_is_idempotent_creates_parents_and_refuses_files() {
    let svc = TestService::start();
    let c = svc.client();
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/m/a/b/c"))).expect("mkdir -p");
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/m/a/b/c"))).expect("again");
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/M/A"))).expect("other casing");
    let l = svc.rt.block_on(c.list(&rp("/Jotta/Archive/m/a/b"))).expect("list");
    assert_eq!(names_of(&l).0, ["c"]);
    let l = svc.rt.block_on(c.list(&rp("/Jotta/Archive/m"))).expect("list");
    assert_eq!(names_of(&l).0, ["a"], "no duplicate by case");

    svc.upload(&c, "/Jotta/Archive/m/file", b"x").expect("upload");
    let e = svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/m/file"))).unwrap_err();
    assert!(matches!(e, RemoteError::AlreadyExists(_)), "{e:?}");
    let e = svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/m/FILE"))).unwrap_err();
    assert!(matches!(e, RemoteError::AlreadyExists(_)), "case-insensitive: {e:?}");
    assert_eq!(svc.download(&c, "/Jotta/Archive/m/file", None).expect("intact"), b"x");
}

#[test]
fn delete_moves_to_trash_and_missing_paths_succeed() {
    let svc = TestService::start();
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/t/f.txt", b"trash me").expect("upload");
    svc.upload(&c, "/Jotta/Archive/t/dir/inner.txt", b"inner").expect("upload");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/t/f.txt"), ItemKind::File)).expect("delete file");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/t/dir"), ItemKind::Folder)).expect("delete dir");

    let l = svc.rt.block_on(c.list(&rp("/Jotta/Archive/t"))).expect("list");
    assert!(l.files.iter().any(|f| f.name == "f.txt" && f.deleted.is_some()), "{l:?}");
    assert!(l.folders.iter().any(|f| f.name == "dir" && f.deleted.is_some()), "{l:?}");
    assert!(!exists(&svc, &c, "/Jotta/Archive/t/f.txt"), "stat of a trashed file is NotFound");
    assert!(!exists(&svc, &c, "/Jotta/Archive/t/dir/inner.txt"), "the subtree went too");

    let trash = svc.rt.block_on(c.trash()).expect("trash");
    let (folders, files) = names_of(&trash);
    assert!(files.contains(&"f.txt".to_string()), "{trash:?}");
    assert!(folders.contains(&"dir".to_string()), "{trash:?}");
    assert!(!files.contains(&"inner.txt".to_string()), "top-level items only: {trash:?}");

    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/t/never-was"), ItemKind::File)).expect("missing file");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/nowhere/x"), ItemKind::Folder)).expect("missing folder");
}

#[test]
fn delete_permanently_removes_and_missing_is_not_found() {
    let svc = TestService::start();
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/p/f.txt", b"bye").expect("upload");
    svc.upload(&c, "/Jotta/Archive/p/d/g.txt", b"bye2").expect("upload");
    svc.rt.block_on(c.delete_permanently(&rp("/Jotta/Archive/p/f.txt"), ItemKind::File)).expect("rm");
    svc.rt.block_on(c.delete_permanently(&rp("/Jotta/Archive/p/d"), ItemKind::Folder)).expect("rmDir");
    let l = svc.rt.block_on(c.list(&rp("/Jotta/Archive/p"))).expect("list");
    assert!(l.files.is_empty() && l.folders.is_empty(), "gone, not flagged: {l:?}");
    let trash = svc.rt.block_on(c.trash()).expect("trash");
    assert!(trash.files.is_empty() && trash.folders.is_empty(), "not in the trash: {trash:?}");
    let e = svc.rt.block_on(c.delete_permanently(&rp("/Jotta/Archive/p/f.txt"), ItemKind::File)).unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
    let e = svc.rt.block_on(c.delete_permanently(&rp("/Jotta/Archive/p/nodir"), ItemKind::Folder)).unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
}

#[test]
fn a_new_file_costs_two_requests_and_known_content_one() {
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(10_000, 7);
    svc.reset_counters();
    let out = svc.upload(&c, "/Jotta/Archive/n/new.bin", &data).expect("new");
    assert!(!out.deduplicated);
    assert_eq!((svc.requests("allocate"), svc.requests("upload")), (1, 1), "{}", svc.counters());
    assert_eq!(svc.total_requests(), 2, "allocate and the bytes, nothing after: {}", svc.counters());
    // What the outcome says is what the server keeps (from the upload's answer, not a GET).
    let f = stat_file(&svc, &c, "/Jotta/Archive/n/new.bin");
    assert_eq!((out.file.size(), out.file.md5(), out.file.modified()), (f.size(), f.md5(), f.modified()));

    svc.reset_counters();
    let out = svc.upload(&c, "/Jotta/Archive/n/same.bin", &data).expect("dedupe");
    assert!(out.deduplicated);
    assert_eq!(svc.total_requests(), 1, "the allocate alone: {}", svc.counters());
    let f = stat_file(&svc, &c, "/Jotta/Archive/n/same.bin");
    assert_eq!((out.file.size(), out.file.md5(), out.file.modified()), (f.size(), f.md5(), f.modified()));
}

#[test]
fn rename_file_keeps_uuid_moves_across_folders_and_creates_parents() {
    let svc = TestService::start();
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/r/a.txt", b"move me").expect("upload");
    let uuid = stat_file(&svc, &c, "/Jotta/Archive/r/a.txt").uuid.expect("uuid");
    svc.reset_counters();
    svc.rt
        .block_on(c.rename(&rp("/Jotta/Archive/r/a.txt"), &rp("/Jotta/Archive/r/b.txt"), ItemKind::File))
        .expect("rename");
    svc.rt
        .block_on(c.rename(&rp("/Jotta/Archive/r/b.txt"), &rp("/Jotta/Sync/new/parents/c.txt"), ItemKind::File))
        .expect("move across mount points into new folders");
    assert_eq!(svc.bytes_received(), 0);
    assert!(!exists(&svc, &c, "/Jotta/Archive/r/a.txt"));
    assert!(!exists(&svc, &c, "/Jotta/Archive/r/b.txt"));
    let f = stat_file(&svc, &c, "/Jotta/Sync/new/parents/c.txt");
    assert_eq!(f.uuid.as_deref(), Some(uuid.as_str()));
    assert_eq!(svc.download(&c, "/Jotta/Sync/new/parents/c.txt", None).expect("download"), b"move me");
    let e =
        svc.rt.block_on(c.rename(&rp("/Jotta/Archive/r/nope"), &rp("/Jotta/Archive/r/x"), ItemKind::File)).unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
}

#[test]
fn rename_folder_moves_its_subtree() {
    let svc = TestService::start();
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/rf/src/one.txt", b"1").expect("upload");
    svc.upload(&c, "/Jotta/Archive/rf/src/sub/two.txt", b"22").expect("upload");
    svc.rt
        .block_on(c.rename(&rp("/Jotta/Archive/rf/src"), &rp("/Jotta/Archive/rf/deep/dst"), ItemKind::Folder))
        .expect("mvDir");
    assert!(!exists(&svc, &c, "/Jotta/Archive/rf/src"));
    assert_eq!(svc.download(&c, "/Jotta/Archive/rf/deep/dst/one.txt", None).expect("one"), b"1");
    assert_eq!(svc.download(&c, "/Jotta/Archive/rf/deep/dst/sub/two.txt", None).expect("two"), b"22");
}

#[test]
fn copy_is_server_side() {
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(20_000, 6);
    let src = svc.upload(&c, "/Jotta/Archive/c/src.bin", &data).expect("upload").file;
    svc.reset_counters();
    let copy = svc.rt.block_on(c.copy(&rp("/Jotta/Archive/c/src.bin"), &rp("/Jotta/Archive/c2/dst.bin"))).expect("cp");
    assert_eq!(svc.bytes_received(), 0);
    assert_eq!(svc.requests("upload") + svc.requests("allocate"), 0);
    assert_eq!(copy.name, "dst.bin");
    assert_eq!(copy.md5(), Some(md5_hex(&data).as_str()));
    assert_ne!(copy.uuid, src.uuid, "a copy is a new file");
    assert_eq!(svc.download(&c, "/Jotta/Archive/c2/dst.bin", None).expect("copy"), data);
    assert_eq!(svc.download(&c, "/Jotta/Archive/c/src.bin", None).expect("source"), data);
    let e = svc.rt.block_on(c.copy(&rp("/Jotta/Archive/c/none"), &rp("/Jotta/Archive/c/x"))).unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
}

#[test]
fn set_times_changes_mtime_without_bytes_and_restores_from_trash() {
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(10_000, 7);
    let md5 = md5_hex(&data);
    let size = data.len() as u64;
    svc.upload(&c, "/Jotta/Archive/st/f.bin", &data).expect("upload");
    let before = stat_file(&svc, &c, "/Jotta/Archive/st/f.bin");

    svc.reset_counters();
    let f = svc.rt.block_on(c.set_times(&rp("/Jotta/Archive/st/f.bin"), size, &md5, T0, T0 + 500)).expect("cphash");
    assert_eq!(svc.bytes_received(), 0);
    assert_eq!(svc.requests("upload") + svc.requests("allocate"), 0);
    assert_eq!(f.modified(), Some(T0 + 500));
    let after = stat_file(&svc, &c, "/Jotta/Archive/st/f.bin");
    assert_eq!(after.modified(), Some(T0 + 500));
    assert_eq!(after.md5(), Some(md5.as_str()));
    assert_eq!(after.uuid, before.uuid);
    assert_eq!(after.revisions.len(), before.revisions.len(), "no new content: {after:?}");

    // Trashed identical file: set_times restores it.
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/st/f.bin"), ItemKind::File)).expect("delete");
    assert!(!exists(&svc, &c, "/Jotta/Archive/st/f.bin"));
    let f = svc.rt.block_on(c.set_times(&rp("/Jotta/Archive/st/f.bin"), size, &md5, T0, T0 + 900)).expect("restore");
    assert!(f.deleted.is_none(), "{f:?}");
    let restored = stat_file(&svc, &c, "/Jotta/Archive/st/f.bin");
    assert!(restored.is_live());
    assert_eq!(restored.modified(), Some(T0 + 900));
    assert_eq!(svc.download(&c, "/Jotta/Archive/st/f.bin", None).expect("download"), data);

    // Known content at a new path: created without bytes.
    let f = svc.rt.block_on(c.set_times(&rp("/Jotta/Archive/st/twin.bin"), size, &md5, T0, T0)).expect("create");
    assert_eq!(f.md5(), Some(md5.as_str()));
    assert_eq!(svc.bytes_received(), 0);

    // Unknown content: NotFound, nothing created.
    let other = md5_hex(b"never uploaded");
    let e = svc.rt.block_on(c.set_times(&rp("/Jotta/Archive/st/new.bin"), 14, &other, T0, T0)).unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
    assert!(!exists(&svc, &c, "/Jotta/Archive/st/new.bin"));
}

#[test]
fn empty_trash_purges_and_counts() {
    let svc = TestService::start();
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/e/a.txt", b"a").expect("upload");
    svc.upload(&c, "/Jotta/Archive/e/b.txt", b"b").expect("upload");
    svc.upload(&c, "/Jotta/Archive/e/d/c.txt", b"c").expect("upload");
    svc.upload(&c, "/Jotta/Archive/e/keep.txt", b"k").expect("upload");
    for f in ["a.txt", "b.txt"] {
        svc.rt.block_on(c.delete(&rp(&format!("/Jotta/Archive/e/{f}")), ItemKind::File)).expect("delete");
    }
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/e/d"), ItemKind::Folder)).expect("delete dir");
    let counts = svc.rt.block_on(c.empty_trash()).expect("purge");
    assert_eq!(counts.folders, 1, "{counts:?}");
    assert!(counts.files >= 2, "{counts:?}");
    let trash = svc.rt.block_on(c.trash()).expect("trash");
    assert!(trash.files.is_empty() && trash.folders.is_empty(), "{trash:?}");
    let l = svc.rt.block_on(c.list(&rp("/Jotta/Archive/e"))).expect("list");
    assert_eq!(names_of(&l), (vec![], vec!["keep.txt".to_string()]));
    let again = svc.rt.block_on(c.empty_trash()).expect("purge again");
    assert_eq!((again.folders, again.files), (0, 0));
}

#[test]
fn list_tree_lists_every_live_entry_with_relative_parents() {
    let svc = TestService::start();
    let c = svc.client();
    let no_retry = svc.client_with(RetryPolicy::none());
    svc.upload(&c, "/Jotta/Archive/lt/a.txt", b"a").expect("upload");
    svc.upload(&c, "/Jotta/Archive/lt/sub/b.txt", b"bb").expect("upload");
    svc.upload(&c, "/Jotta/Archive/lt/sub/deep/c.txt", b"ccc").expect("upload");
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/lt/empty"))).expect("mkdir");
    svc.upload(&c, "/Jotta/Archive/lt/dead.txt", b"dead").expect("upload");
    svc.upload(&c, "/Jotta/Archive/lt/gone/x.txt", b"x").expect("upload");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/lt/dead.txt"), ItemKind::File)).expect("delete");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/lt/gone"), ItemKind::Folder)).expect("delete");
    svc.set_faults(json!({"drop_next": [{"kind": "upload", "after_bytes": 10}]}));
    svc.upload(&no_retry, "/Jotta/Archive/lt/sub/half.bin", &pattern(5000, 8)).unwrap_err();

    svc.reset_counters();
    let tree = svc.rt.block_on(c.list_tree(&rp("/Jotta/Archive/lt"))).expect("liststream");
    assert_eq!(svc.total_requests(), 1, "one request");
    let mut folders = tree.folders.clone();
    folders.sort();
    assert_eq!(folders, ["empty", "sub", "sub/deep"]);
    let mut files: Vec<(String, String, u64, String)> =
        tree.files.iter().map(|f| (f.parent.clone(), f.name.clone(), f.size, f.md5.clone())).collect();
    files.sort();
    assert_eq!(
        files,
        [
            (String::new(), "a.txt".to_string(), 1, md5_hex(b"a")),
            ("sub".to_string(), "b.txt".to_string(), 2, md5_hex(b"bb")),
            ("sub/deep".to_string(), "c.txt".to_string(), 3, md5_hex(b"ccc")),
        ]
    );
    assert!(tree.files.iter().all(|f| f.modified == Some(T0)), "{tree:?}");

    // Below a folder, parents stay relative to it; the mount point works too.
    let sub = svc.rt.block_on(c.list_tree(&rp("/Jotta/Archive/lt/sub"))).expect("liststream sub");
    assert_eq!(sub.folders, ["deep"]);
    let mut parents: Vec<&str> = sub.files.iter().map(|f| f.parent.as_str()).collect();
    parents.sort();
    assert_eq!(parents, ["", "deep"]);
    let mp = svc.rt.block_on(c.list_tree(&rp("/Jotta/Archive"))).expect("liststream mp");
    assert!(mp.files.iter().any(|f| f.parent == "lt/sub/deep" && f.name == "c.txt"), "{mp:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Names

#[test]
fn lookups_are_case_insensitive() {
    let svc = TestService::start();
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/Case/Hello.TXT", b"hi").expect("upload");
    assert_eq!(svc.download(&c, "/jotta/archive/case/hello.txt", None).expect("lower"), b"hi");
    let f = stat_file(&svc, &c, "/JOTTA/ARCHIVE/CASE/HELLO.txt");
    assert_eq!(f.name, "Hello.TXT", "case preserved");
    // Overwriting through another casing keeps one file.
    svc.upload(&c, "/Jotta/Archive/case/hello.txt", b"hi2").expect("upload");
    let l = svc.rt.block_on(c.list(&rp("/Jotta/Archive/CASE"))).expect("list");
    assert_eq!(l.files.len(), 1, "{l:?}");
    assert_eq!(svc.download(&c, "/Jotta/Archive/Case/Hello.TXT", None).expect("read"), b"hi2");
}

#[test]
fn special_names_round_trip() {
    let svc = TestService::start();
    let c = svc.client();
    let names = ["a+b.txt", "with space.txt", "100%.txt", "%20lit.txt", "semi;colon.txt", "hash#tag.txt", "q?.txt"];
    let unicode = ["Blåbær ø.txt", "日本語.txt", "emoji 🎉.txt", "amp&eq=at@.txt"];
    for (i, name) in names.iter().chain(unicode.iter()).enumerate() {
        let folder = format!("/Jotta/Archive/n/{name} dir");
        let path = format!("{folder}/{name}");
        let data = pattern(100 + i, i as u64 + 10);
        svc.upload(&c, &path, &data).unwrap_or_else(|e| panic!("upload {name}: {e}"));
        assert_eq!(svc.download(&c, &path, None).unwrap_or_else(|e| panic!("{name}: {e}")), data, "{name}");
        let l = svc.rt.block_on(c.list(&rp(&folder))).unwrap_or_else(|e| panic!("list {name}: {e}"));
        assert_eq!(names_of(&l).1, [name.to_string()], "{name}");
        let f = stat_file(&svc, &c, &path);
        assert_eq!(f.name, *name);
        // Moves and copies carry the name in a query value: a second encoding to get right.
        let moved = format!("{folder}/moved {name}");
        svc.rt.block_on(c.rename(&rp(&path), &rp(&moved), ItemKind::File)).unwrap_or_else(|e| panic!("mv {name}: {e}"));
        assert_eq!(stat_file(&svc, &c, &moved).name, format!("moved {name}"));
        let copied = format!("{folder}/copied {name}");
        svc.rt.block_on(c.copy(&rp(&moved), &rp(&copied))).unwrap_or_else(|e| panic!("cp {name}: {e}"));
        let moved_dir = format!("/Jotta/Archive/n2/{name} moved");
        svc.rt
            .block_on(c.rename(&rp(&folder), &rp(&moved_dir), ItemKind::Folder))
            .unwrap_or_else(|e| panic!("mvDir {name}: {e}"));
        let tree = svc.rt.block_on(c.list_tree(&rp(&moved_dir))).expect("liststream");
        let mut got: Vec<&str> = tree.files.iter().map(|f| f.name.as_str()).collect();
        got.sort();
        let mut want = vec![format!("copied {name}"), format!("moved {name}")];
        want.sort();
        assert_eq!(got, want, "{name}");
    }
    // `+` is not a space: both exist side by side.
    svc.upload(&c, "/Jotta/Archive/plus/a b", b"space").expect("upload");
    svc.upload(&c, "/Jotta/Archive/plus/a+b", b"plus").expect("upload");
    assert_eq!(svc.download(&c, "/Jotta/Archive/plus/a b", None).expect("space"), b"space");
    assert_eq!(svc.download(&c, "/Jotta/Archive/plus/a+b", None).expect("plus"), b"plus");
}

#[test]
fn forbidden_names_are_refused_before_any_request() {
    let svc = TestService::start();
    let c = svc.client();
    svc.reset_counters();
    let long = "x".repeat(256);
    for bad in ["/Jotta/Archive/..", "/Jotta/Archive/./x", "/Jotta/Archive/a\u{1}b", "/Jotta/Archive/tab\there"] {
        let e = RemotePath::parse(bad).unwrap_err();
        assert!(matches!(e, RemoteError::InvalidName(_)), "{bad}: {e:?}");
    }
    let e = RemotePath::parse(&format!("/Jotta/Archive/{long}")).unwrap_err();
    assert!(matches!(e, RemoteError::InvalidName(_)), "{e:?}");
    let e = rp("/Jotta/Archive").join("a/b").unwrap_err();
    assert!(matches!(e, RemoteError::InvalidName(_)), "{e:?}");
    let e = RemotePath::from_segments(vec!["Jotta".into(), String::new()]).unwrap_err();
    assert!(matches!(e, RemoteError::InvalidName(_)), "{e:?}");

    // Paths too shallow for the operation are refused by the client too.
    let data = svc.dir.path().join("x");
    std::fs::write(&data, b"x").expect("write");
    let req = jottafuse::remote::UploadRequest {
        source: data,
        size: 1,
        md5: md5_hex(b"x"),
        created: None,
        modified: None,
        uncached: false,
    };
    let results = svc.rt.block_on(async {
        vec![
            c.upload(&rp("/Jotta/Archive"), &req).await.map(|_| ()),
            c.list(&rp("/Jotta")).await.map(|_| ()),
            c.mkdir(&rp("/Jotta")).await,
            c.rename(&rp("/Jotta/Archive"), &rp("/Jotta/Sync/x"), ItemKind::Folder).await,
            c.download(&rp("/Jotta/Archive"), None).await.map(|_| ()),
            c.set_times(&rp("/Jotta/Archive"), 1, &md5_hex(b"x"), T0, T0).await.map(|_| ()),
            c.delete(&rp("/Jotta"), ItemKind::Folder).await,
        ]
    });
    for r in results {
        assert!(matches!(r, Err(RemoteError::InvalidName(_))), "{r:?}");
    }
    assert_eq!(svc.total_requests(), 0, "{}", svc.counters());
}

// ---------------------------------------------------------------------------------------------------------
// Error mapping

#[test]
fn missing_paths_are_not_found_and_files_are_not_directories() {
    let svc = TestService::start();
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/f.txt", b"file").expect("upload");
    let e = svc.rt.block_on(c.list(&rp("/Jotta/Archive/f.txt"))).unwrap_err();
    assert!(matches!(e, RemoteError::NotADirectory(_)), "{e:?}");
    let e = svc.rt.block_on(c.list(&rp("/Jotta/Archive/f.txt/below"))).unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_) | RemoteError::NotADirectory(_)), "{e:?}");
    for p in ["/Jotta/Archive/nope", "/Jotta/Archive/no/such/dir", "/Jotta/NoMountPoint"] {
        let e = svc.rt.block_on(c.list(&rp(p))).unwrap_err();
        assert!(matches!(e, RemoteError::NotFound(_)), "{p}: {e:?}");
        assert!(e.to_string().contains(p.rsplit('/').next().unwrap()), "names the path: {e}");
        let e = svc.rt.block_on(c.stat(&rp(p))).unwrap_err();
        assert!(matches!(e, RemoteError::NotFound(_)), "{p}: {e:?}");
    }
}

#[test]
fn full_account_is_quota_exceeded() {
    let svc = TestService::start_with(|cfg| cfg.quota = Some(50_000));
    let c = svc.client();
    svc.upload(&c, "/Jotta/Archive/small", &pattern(30_000, 20)).expect("fits");
    svc.reset_counters();
    let e = svc.upload(&c, "/Jotta/Archive/big", &pattern(30_000, 21)).unwrap_err();
    assert!(matches!(e, RemoteError::QuotaExceeded(_)), "{e:?}");
    assert!(e.to_string().contains("trash"), "says the way out: {e}");
    assert_eq!(svc.bytes_received(), 0, "refused at allocate");
    assert!(!exists(&svc, &c, "/Jotta/Archive/big"));
}

#[test]
fn garbage_credentials_are_unauthorized() {
    let svc = TestService::start();
    let dir = svc.login("garbage");
    let mut saved = credentials::load(&dir).expect("load").expect("saved");
    saved.access_token = "garbage-access".into();
    saved.refresh_token = "garbage-refresh".into();
    credentials::save(&dir, &saved).expect("save");
    let c = svc.connect(&dir, fast_retry());
    let e = svc.rt.block_on(c.account()).unwrap_err();
    assert!(matches!(e, RemoteError::Unauthorized(_)), "{e:?}");
    assert!(e.to_string().contains("jotta login"), "{e}");
    let e = svc.rt.block_on(c.list(&rp("/Jotta/Archive"))).unwrap_err();
    assert!(matches!(e, RemoteError::Unauthorized(_)), "{e:?}");
}

/// A loopback "server" that answers every request with 200 and a body that is not XML.
async fn non_xml_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "this is not xml { at all";
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn unreadable_reply_is_protocol_error() {
    let svc = TestService::start();
    let dir = svc.login("protocol");
    let fake = svc.rt.block_on(non_xml_server());
    // A login saved for that server (a saved token is only sent to its own service).
    let saved = dir.join("credentials.json");
    let mut login: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    login["endpoints"] = serde_json::json!({"jfs": format!("{fake}/jfs/"), "api": format!("{fake}/")});
    std::fs::write(&saved, serde_json::to_vec(&login).unwrap()).unwrap();
    let opts = jottafuse::remote::ConnectOptions {
        config_dir: dir,
        endpoint: Some(fake),
        ca_cert: None,
        retry: fast_retry(),
        silence: jottafuse::remote::http::SILENCE,
    };
    let c = svc.rt.block_on(HttpRemote::connect(opts)).expect("connect");
    let results = svc.rt.block_on(async {
        vec![
            c.account().await.map(|_| ()),
            c.list(&rp("/Jotta/Archive")).await.map(|_| ()),
            c.stat(&rp("/Jotta/Archive/x")).await.map(|_| ()),
            c.list_tree(&rp("/Jotta/Archive")).await.map(|_| ()),
            c.empty_trash().await.map(|_| ()),
        ]
    });
    for r in results {
        assert!(matches!(r, Err(RemoteError::Protocol(_))), "{r:?}");
    }
}

#[test]
fn persistent_faults_end_in_transient_after_retries() {
    let svc = TestService::start();
    let c = svc.client_with(RetryPolicy { max_attempts: 3, ..fast_retry() });
    svc.upload(&c, "/Jotta/Archive/f", b"x").expect("upload");
    svc.reset_counters();
    svc.set_faults(json!({"fail_next": [{"kind": "list", "status": 503, "count": 100},
                                        {"kind": "download", "status": 500, "count": 100}]}));
    let e = svc.rt.block_on(c.list(&rp("/Jotta/Archive"))).unwrap_err();
    assert!(matches!(e, RemoteError::Transient(_)), "{e:?}");
    assert!(e.is_transient());
    assert_eq!(svc.requests("list"), 3, "max_attempts tries");
    let e = download_err(&svc, &c, "/Jotta/Archive/f", None);
    assert!(matches!(e, RemoteError::Transient(_)), "{e:?}");
    assert_eq!(svc.requests("download"), 3);

    // A server that is not there at all: no connection opens, which callers tell apart from a busy one.
    let mut svc = svc;
    let port_gone = svc.endpoint();
    let emu = svc.emulator.take().expect("running");
    svc.rt.block_on(emu.shutdown());
    let e = svc.rt.block_on(c.account()).unwrap_err();
    assert!(matches!(e, RemoteError::Unreachable(_)), "{port_gone}: {e:?}");
    assert!(e.is_transient());
}

// ---------------------------------------------------------------------------------------------------------
// Tokens

#[test]
fn expired_access_token_is_refreshed_invisibly() {
    let svc = TestService::start();
    let dir = svc.login("short");
    let c = svc.connect(&dir, fast_retry());
    svc.upload(&c, "/Jotta/Archive/tok.txt", b"tokens").expect("upload");
    // The server's tokens run out (its test hook, instead of waiting for a lifetime to pass).
    svc.hook("expire-tokens");
    svc.reset_counters();
    assert_eq!(svc.download(&c, "/Jotta/Archive/tok.txt", None).expect("after expiry"), b"tokens");
    svc.rt.block_on(c.list(&rp("/Jotta/Archive"))).expect("list");
    assert!(svc.requests("token") >= 1, "{}", svc.counters());
}

#[test]
fn forced_expiry_refreshes_once_and_rotates_the_saved_refresh_token() {
    let svc = TestService::start();
    let dir = svc.login("rotate");
    let before = credentials::load(&dir).expect("load").expect("saved");
    let c = svc.connect(&dir, fast_retry());
    svc.rt.block_on(c.account()).expect("account");
    svc.reset_counters();
    svc.hook("expire-tokens");

    // Many requests at once see the expired token; exactly one refresh happens.
    let results = svc.rt.block_on(async {
        let futs = (0..8).map(|_| {
            let c = c.clone();
            async move { c.list(&rp("/Jotta/Archive")).await }
        });
        futures_util::future::join_all(futs).await
    });
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(svc.requests("token"), 1, "{}", svc.counters());

    let after = credentials::load(&dir).expect("load").expect("saved");
    assert_ne!(after.refresh_token, before.refresh_token, "rotated");
    assert_ne!(after.access_token, before.access_token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(credentials::path(&dir)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "atomic save leaves no temp files: {leftovers:?}");

    // The spent refresh token is refused by the server.
    let token_url = format!("{}/auth/realms/jottacloud/protocol/openid-connect/token", svc.endpoint());
    assert_eq!(before.token_endpoint, token_url);
    let resp = svc.rt.block_on(async {
        let r = reqwest::Client::new()
            .post(&token_url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "jottacli"),
                ("refresh_token", &before.refresh_token),
            ])
            .send()
            .await
            .expect("token request");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    });
    assert_eq!(resp.0, 400, "{resp:?}");
    assert!(resp.1.contains("invalid_grant"), "{resp:?}");
}

#[test]
fn two_clients_sharing_a_config_dir_refresh_once() {
    let svc = TestService::start();
    let dir = svc.login("shared");
    let a = svc.connect(&dir, fast_retry());
    let b = svc.connect(&dir, fast_retry());
    svc.rt.block_on(a.account()).expect("a");
    svc.rt.block_on(b.account()).expect("b");
    svc.reset_counters();
    svc.hook("expire-tokens");
    svc.rt.block_on(a.list(&rp("/Jotta/Archive"))).expect("a after expiry");
    svc.rt.block_on(b.list(&rp("/Jotta/Archive"))).expect("b after expiry: must not replay a's spent token");
    assert_eq!(svc.requests("token"), 1, "{}", svc.counters());
    // Both keep working, and so does a third process starting from the file.
    svc.rt.block_on(a.account()).expect("a again");
    let c = svc.connect(&dir, fast_retry());
    svc.rt.block_on(c.account()).expect("fresh client");

    // Concurrently, too: both expire at once and race.
    svc.reset_counters();
    svc.hook("expire-tokens");
    let (pa, pb) = (rp("/Jotta/Archive"), rp("/Jotta/Sync"));
    let (ra, rb) = svc.rt.block_on(async { tokio::join!(a.list(&pa), b.list(&pb)) });
    ra.expect("a racing");
    rb.expect("b racing");
    assert_eq!(svc.requests("token"), 1, "{}", svc.counters());
}

#[test]
fn reused_refresh_token_kills_the_session() {
    let svc = TestService::start();
    let dir = svc.login("stolen");
    let stolen = credentials::load(&dir).expect("load").expect("saved").refresh_token;
    let c = svc.connect(&dir, fast_retry());
    svc.hook("expire-tokens");
    svc.rt.block_on(c.account()).expect("refreshes with the original token");
    // The thief replays the spent token: the server kills the whole family.
    let token_url = format!("{}/auth/realms/jottacloud/protocol/openid-connect/token", svc.endpoint());
    let status = svc.rt.block_on(async {
        reqwest::Client::new()
            .post(&token_url)
            .form(&[("grant_type", "refresh_token"), ("client_id", "jottacli"), ("refresh_token", &stolen)])
            .send()
            .await
            .expect("token request")
            .status()
            .as_u16()
    });
    assert_eq!(status, 400);
    let e = svc.rt.block_on(c.list(&rp("/Jotta/Archive"))).unwrap_err();
    assert!(matches!(e, RemoteError::Unauthorized(_)), "{e:?}");
    assert!(e.to_string().contains("jotta login"), "{e}");
    // A new client from the saved file is just as dead.
    let d = svc.connect(&dir, fast_retry());
    let e = svc.rt.block_on(d.account()).unwrap_err();
    assert!(matches!(e, RemoteError::Unauthorized(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Legacy Basic auth (environment, ~/.netrc). Environment variables are process-wide: serialised here.

static ENV_LOCK: Mutex<()> = Mutex::new(());

struct EnvGuard(Vec<(&'static str, Option<std::ffi::OsString>)>);

impl EnvGuard {
    fn set(vars: &[(&'static str, Option<&str>)]) -> Self {
        let saved = vars.iter().map(|(k, _)| (*k, std::env::var_os(k))).collect();
        for (k, v) in vars {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
        EnvGuard(saved)
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        for (k, v) in &self.0 {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
    }
}

fn basic_round_trip(svc: &TestService, c: &HttpRemote, path: &str) {
    assert_eq!(c.username(), "demo");
    let acct = svc.rt.block_on(c.account()).expect("account over basic auth");
    assert_eq!(acct.username, "demo");
    let data = pattern(3000, 30);
    svc.upload(c, path, &data).expect("upload over basic auth");
    assert_eq!(svc.download(c, path, None).expect("download"), data);
}

#[test]
fn environment_login_uses_basic_auth() {
    let _lock = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let svc = TestService::start();
    let home = svc.dir.path().join("home-env");
    std::fs::create_dir_all(&home).expect("home");
    let empty_cfg = svc.dir.path().join("no-login");
    {
        let _env = EnvGuard::set(&[
            ("HOME", Some(home.to_str().expect("utf8"))),
            ("JOTTACLOUD_USERNAME", Some("demo")),
            ("JOTTACLOUD_PASSWORD", Some("demo-password")),
        ]);
        let c = svc.connect(&empty_cfg, fast_retry());
        basic_round_trip(&svc, &c, "/Jotta/Archive/env.bin");
        assert_eq!(svc.requests("token"), 0, "no OAuth involved");
    }
    {
        let _env = EnvGuard::set(&[
            ("HOME", Some(home.to_str().expect("utf8"))),
            ("JOTTACLOUD_USERNAME", Some("demo")),
            ("JOTTACLOUD_PASSWORD", Some("wrong")),
        ]);
        let c = svc.rt.block_on(HttpRemote::connect(svc.options(&empty_cfg, fast_retry()))).expect("connect");
        let e = svc.rt.block_on(c.account()).unwrap_err();
        assert!(matches!(e, RemoteError::Unauthorized(_)), "{e:?}");
    }
}

#[test]
fn netrc_login_uses_basic_auth() {
    let _lock = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let svc = TestService::start();
    let home = svc.dir.path().join("home-netrc");
    std::fs::create_dir_all(&home).expect("home");
    let netrc = home.join(".netrc");
    std::fs::write(
        &netrc,
        "machine example.org login x password y\nmachine jottacloud login demo password demo-password\n",
    )
    .expect("netrc");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let empty_cfg = svc.dir.path().join("no-login");
    let _env = EnvGuard::set(&[
        ("HOME", Some(home.to_str().expect("utf8"))),
        ("JOTTACLOUD_USERNAME", None),
        ("JOTTACLOUD_PASSWORD", None),
    ]);
    let c = svc.connect(&empty_cfg, fast_retry());
    basic_round_trip(&svc, &c, "/Jotta/Archive/netrc.bin");

    // A .netrc others can read is refused rather than used.
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = svc.rt.block_on(HttpRemote::connect(svc.options(&empty_cfg, fast_retry()))).unwrap_err();
    assert!(matches!(e, RemoteError::Config(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Retries and resume

#[test]
fn one_off_server_errors_are_retried() {
    let svc = TestService::start();
    let c = svc.client_with(fast_retry());
    svc.upload(&c, "/Jotta/Archive/r/f.bin", &pattern(5000, 40)).expect("upload");
    svc.set_faults(json!({"fail_next": [
        {"kind": "list", "status": 500, "count": 2},
        {"kind": "stat", "status": 429, "count": 1},
        {"kind": "download", "status": 503, "count": 2},
        {"kind": "mkdir", "status": 500, "count": 1},
        {"kind": "account", "status": 429, "count": 2},
        {"kind": "delete", "status": 502, "count": 1},
        {"kind": "liststream", "status": 500, "count": 1},
        {"kind": "cphash", "status": 500, "count": 1},
        {"kind": "allocate", "status": 500, "count": 1},
        {"kind": "upload", "status": 500, "count": 1},
    ]}));
    svc.rt.block_on(c.list(&rp("/Jotta/Archive/r"))).expect("list");
    stat_file(&svc, &c, "/Jotta/Archive/r/f.bin");
    assert_eq!(svc.download(&c, "/Jotta/Archive/r/f.bin", None).expect("download"), pattern(5000, 40));
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Archive/r/d"))).expect("mkdir");
    svc.rt.block_on(c.account()).expect("account");
    svc.rt.block_on(c.list_tree(&rp("/Jotta/Archive/r"))).expect("liststream");
    let md5 = md5_hex(&pattern(5000, 40));
    svc.rt.block_on(c.set_times(&rp("/Jotta/Archive/r/f.bin"), 5000, &md5, T0, T0 + 1)).expect("cphash");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/r/d"), ItemKind::Folder)).expect("delete");
    let data = pattern(7000, 41);
    let out = svc.upload(&c, "/Jotta/Archive/r/g.bin", &data).expect("upload through 500s");
    assert_eq!(out.file.md5(), Some(md5_hex(&data).as_str()));
    assert_eq!(svc.download(&c, "/Jotta/Archive/r/g.bin", None).expect("download"), data);
    let left = svc.rt.block_on(async {
        reqwest::get(format!("{}/_emulator/faults", svc.endpoint()))
            .await
            .expect("faults")
            .json::<serde_json::Value>()
            .await
    });
    assert_eq!(left.expect("json")["fail_next"], json!([]), "every injected fault was hit");
}

#[test]
fn random_errors_still_end_with_verified_content() {
    let svc = TestService::start();
    let c = svc.client_with(RetryPolicy { max_attempts: 10, ..fast_retry() });
    svc.set_faults(json!({"error_rate": 0.3, "throttle_rate": 0.1, "seed": 42}));
    let files: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("/Jotta/Archive/soak/f{i}.bin"), pattern(20_000 + i * 1000, 100 + i as u64)))
        .collect();
    svc.rt.block_on(async {
        let ups = files.iter().map(|(p, d)| upload_bytes(&c, svc.dir.path(), p, d, T0));
        for (r, (p, _)) in futures_util::future::join_all(ups).await.into_iter().zip(&files) {
            r.unwrap_or_else(|e| panic!("upload {p}: {e}"));
        }
        let downs = files.iter().map(|(p, _)| download_bytes(&c, p, None));
        for (r, (p, d)) in futures_util::future::join_all(downs).await.into_iter().zip(&files) {
            let got = r.unwrap_or_else(|e| panic!("download {p}: {e}"));
            assert_eq!(md5_hex(&got), md5_hex(d), "{p}");
        }
    });
    svc.set_faults(json!({}));
    for (p, d) in &files {
        assert_eq!(stat_file(&svc, &c, p).md5(), Some(md5_hex(d).as_str()), "{p}");
    }
}

#[test]
fn failed_move_is_not_blindly_repeated() {
    let svc = TestService::start();
    let c = svc.client_with(fast_retry());
    svc.upload(&c, "/Jotta/Archive/mv/a.txt", b"a").expect("upload");
    svc.reset_counters();
    svc.set_faults(json!({"fail_next": [{"kind": "move", "status": 500, "count": 1}]}));
    let r = svc.rt.block_on(c.rename(&rp("/Jotta/Archive/mv/a.txt"), &rp("/Jotta/Archive/mv/b.txt"), ItemKind::File));
    // Whatever the client answers, it must match the outcome, and the move went out once.
    let (src, dst) = (exists(&svc, &c, "/Jotta/Archive/mv/a.txt"), exists(&svc, &c, "/Jotta/Archive/mv/b.txt"));
    match r {
        Ok(()) => assert!(!src && dst, "reported done: src {src} dst {dst}"),
        Err(e) => {
            assert!(matches!(e, RemoteError::Transient(_)), "{e:?}");
            assert!(src && !dst, "reported failed: src {src} dst {dst}");
        }
    }
    assert_eq!(svc.requests("move"), 1, "{}", svc.counters());

    // Same for copy and permanent delete.
    svc.set_faults(json!({"fail_next": [{"kind": "copy", "status": 500, "count": 1},
                                        {"kind": "delete_permanent", "status": 500, "count": 1}]}));
    svc.reset_counters();
    let from = if src { "/Jotta/Archive/mv/a.txt" } else { "/Jotta/Archive/mv/b.txt" };
    let r = svc.rt.block_on(c.copy(&rp(from), &rp("/Jotta/Archive/mv/c.txt")));
    assert_eq!(r.is_ok(), exists(&svc, &c, "/Jotta/Archive/mv/c.txt"), "{r:?}");
    assert_eq!(svc.requests("copy"), 1);
    let r = svc.rt.block_on(c.delete_permanently(&rp(from), ItemKind::File));
    assert_eq!(r.is_ok(), !exists(&svc, &c, from), "{r:?}");
    assert_eq!(svc.requests("delete_permanent"), 1);
}

#[test]
fn dropped_upload_resumes_from_the_server_position() {
    let svc = TestService::start();
    let c = svc.client_with(fast_retry());
    let data = pattern(300_000, 50);
    svc.reset_counters();
    svc.set_faults(json!({"drop_next": [{"kind": "upload", "after_bytes": 120_000}]}));
    let out = svc.upload(&c, "/Jotta/Archive/resume.bin", &data).expect("upload survives the drop");
    assert!(out.resumed_from > 0, "{out:?}");
    assert!(out.resumed_from <= 120_000, "{out:?}");
    assert!(!out.deduplicated);
    let received = svc.bytes_received();
    assert!(
        received >= data.len() as u64 && received < data.len() as u64 + 130_000,
        "resumed, not resent: {received} bytes received for {}",
        data.len()
    );
    assert_eq!(svc.requests("allocate"), 2, "{}", svc.counters());
    assert_eq!(out.file.md5(), Some(md5_hex(&data).as_str()));
    assert_eq!(md5_hex(&svc.download(&c, "/Jotta/Archive/resume.bin", None).expect("download")), md5_hex(&data));
}

/// A client whose connections may stay silent for only `silence` (the default is a minute).
fn client_with_silence(svc: &TestService, name: &str, retry: RetryPolicy, silence: Duration) -> HttpRemote {
    let dir = svc.login(name);
    let opts = jottafuse::remote::ConnectOptions { silence, ..svc.options(&dir, retry) };
    svc.rt.block_on(HttpRemote::connect(opts)).expect("connect")
}

/// A service that takes a listing request and never answers is tried twice, not as often as a busy one:
/// a command such as `jotta ls` says so after two silence limits (it took six).
#[test]
fn a_request_the_service_holds_in_silence_is_tried_twice_then_reported() {
    let svc = TestService::start();
    let c = client_with_silence(&svc, "held", fast_retry(), Duration::from_secs(1));
    svc.put(&c, "/Jotta/Archive/f.txt", b"x");
    svc.set_faults(json!({"hang": {"max_ms": 60_000}}));
    svc.reset_counters();
    let t = std::time::Instant::now();
    let err = svc.rt.block_on(c.list(&rp("/Jotta/Archive"))).expect_err("a hanging service");
    let took = t.elapsed();
    svc.set_faults(json!({}));
    assert!(matches!(err, RemoteError::Transient(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(svc.requests("list"), 2, "{}", svc.counters());
    assert!(took < Duration::from_secs(5), "two silence limits, not six: {took:?}");
}

/// An upload that takes longer than the silence limit but keeps moving is one request. The limit used
/// to be a deadline from the request's start to the answer (reqwest's read timeout): every upload
/// longer than a minute was cut and resumed, and once the server needed a minute to hash what it had
/// before reading on, a 12 GiB file stopped growing at about 8.5 GiB. Here: 2 s limit, ~5 s upload
/// (fast enough that what the socket buffers hold after the last chunk drains well within the limit).
#[test]
fn an_upload_slower_than_the_silence_limit_is_one_request() {
    let svc = TestService::start();
    let c = client_with_silence(&svc, "slow", fast_retry(), Duration::from_secs(2));
    let data = pattern(40 << 20, 51);
    svc.set_faults(json!({"bandwidth": 8 << 20}));
    svc.reset_counters();
    let t = std::time::Instant::now();
    let out = svc.upload(&c, "/Jotta/Archive/slow.bin", &data).expect("a slow upload completes");
    assert!(t.elapsed() > Duration::from_secs(4), "the bandwidth limit did not apply: {:?}", t.elapsed());
    assert_eq!(out.resumed_from, 0, "cut and resumed: {out:?}");
    assert_eq!(svc.requests("allocate"), 1, "{}", svc.counters());
    assert_eq!(svc.requests("upload"), 1, "{}", svc.counters());
    assert_eq!(svc.bytes_received(), data.len() as u64);
    svc.set_faults(json!({}));
    assert_eq!(md5_hex(&svc.download(&c, "/Jotta/Archive/slow.bin", None).expect("download")), md5_hex(&data));
}

/// A server that stops taking bytes is given up on after the silence limit (then allocated again and
/// resumed), not waited for as long as it holds the connection.
#[test]
fn an_upload_the_server_stops_reading_is_given_up_after_the_silence_limit() {
    let svc = TestService::start();
    let retry = RetryPolicy { max_attempts: 2, ..fast_retry() };
    let c = client_with_silence(&svc, "stalled", retry, Duration::from_secs(1));
    // More than the socket buffers of both ends hold, so the body really stops.
    let data = pattern(48 << 20, 52);
    svc.set_faults(json!({"hang": {"kinds": ["upload"], "max_ms": 60_000}}));
    svc.reset_counters();
    let t = std::time::Instant::now();
    let r = svc.upload(&c, "/Jotta/Archive/stalled.bin", &data);
    let took = t.elapsed();
    svc.set_faults(json!({}));
    assert!(matches!(r, Err(RemoteError::Transient(_))), "{r:?}");
    assert!(took < Duration::from_secs(20), "waited {took:?} for a server that took nothing");
    assert_eq!(svc.requests("allocate"), 2, "allocated again to resume: {}", svc.counters());
    let out = svc.upload(&c, "/Jotta/Archive/stalled.bin", &data).expect("goes through once the server reads");
    assert_eq!(out.file.md5(), Some(md5_hex(&data).as_str()));
}

// ---------------------------------------------------------------------------------------------------------
// Persistence

/// A resume after the emulator restarted (its running md5 of the stored part is gone) still ends with
/// the whole file's md5: the stored bytes are hashed while the rest arrives.
#[test]
fn an_upload_resumes_across_a_restart() {
    let mut svc = TestService::start();
    let dir = svc.login("resume-restart");
    let c = svc.connect(&dir, RetryPolicy { max_attempts: 1, ..fast_retry() });
    let data = pattern(5 << 20, 61);
    svc.set_faults(json!({"drop_next": [{"kind": "upload", "after_bytes": 3 << 20}]}));
    assert!(svc.upload(&c, "/Jotta/Archive/restart.bin", &data).is_err(), "the cut upload cannot succeed");
    svc.restart();
    let c = svc.connect(&dir, fast_retry());
    let out = svc.upload(&c, "/Jotta/Archive/restart.bin", &data).expect("the upload resumes");
    assert_eq!(out.resumed_from, 3 << 20, "{out:?}");
    assert_eq!(out.file.md5(), Some(md5_hex(&data).as_str()));
    assert_eq!(md5_hex(&svc.download(&c, "/Jotta/Archive/restart.bin", None).expect("download")), md5_hex(&data));
}

#[test]
fn everything_survives_a_restart() {
    let mut svc = TestService::start();
    let dir = svc.login("persist");
    let c = svc.connect(&dir, fast_retry());
    let data = pattern(30_000, 60);
    svc.upload(&c, "/Jotta/Archive/keep/a.bin", &data).expect("upload");
    let uuid = stat_file(&svc, &c, "/Jotta/Archive/keep/a.bin").uuid;
    svc.upload(&c, "/Jotta/Archive/keep/a.bin", b"v2").expect("overwrite");
    svc.upload(&c, "/Jotta/Archive/keep/trashed.txt", b"t").expect("upload");
    svc.rt.block_on(c.delete(&rp("/Jotta/Archive/keep/trashed.txt"), ItemKind::File)).expect("delete");
    svc.rt.block_on(c.mkdir(&rp("/Jotta/Sync/emptydir"))).expect("mkdir");
    svc.rt.block_on(c.rename(&rp("/Jotta/Archive/keep"), &rp("/Jotta/Archive/kept"), ItemKind::Folder)).expect("mv");
    let before_tree = svc.rt.block_on(c.list_tree(&rp("/Jotta/Archive"))).expect("tree");

    svc.restart();
    let tree = svc.rt.block_on(c.list_tree(&rp("/Jotta/Archive"))).expect("tree after restart");
    assert_eq!(tree, before_tree);
    let f = stat_file(&svc, &c, "/Jotta/Archive/kept/a.bin");
    assert_eq!(f.uuid, uuid);
    assert_eq!(f.revisions.len(), 1);
    assert_eq!(svc.download(&c, "/Jotta/Archive/kept/a.bin", None).expect("download"), b"v2");
    let trash = svc.rt.block_on(c.trash()).expect("trash");
    assert!(trash.files.iter().any(|f| f.name == "trashed.txt"), "{trash:?}");
    svc.rt.block_on(c.list(&rp("/Jotta/Sync/emptydir"))).expect("empty folder kept");
    // Old content still dedupes, and the saved login still works after a refresh.
    svc.reset_counters();
    assert!(svc.upload(&c, "/Jotta/Archive/again.bin", &data).expect("dedupe").deduplicated);
    assert_eq!(svc.bytes_received(), 0);
    svc.hook("expire-tokens");
    svc.rt.block_on(c.account()).expect("refresh after restart");
}

#[test]
fn cut_download_is_an_error_or_a_retry_never_a_short_file() {
    let svc = TestService::start();
    let c = svc.client_with(fast_retry());
    let data = pattern(200_000, 70);
    svc.upload(&c, "/Jotta/Archive/cut.bin", &data).expect("upload");
    for (range, after) in [(None, 50_000u64), (Some(100..150_000u64), 1000), (None, 0)] {
        svc.set_faults(json!({"drop_next": [{"kind": "download", "after_bytes": after}]}));
        svc.reset_counters();
        let want = match &range {
            Some(r) => &data[r.start as usize..r.end as usize],
            None => &data[..],
        };
        // A cut before the reply headers were read is retried (GET); a cut inside the body surfaces as
        // Transient so the caller resumes. Either way, never fewer bytes passed off as the whole answer.
        match svc.download(&c, "/Jotta/Archive/cut.bin", range.clone()) {
            Ok(got) => {
                assert!(got == want, "{range:?}: {} bytes instead of {}", got.len(), want.len());
                assert_eq!(svc.requests("download"), 2, "retried after the cut");
            }
            Err(e) => assert!(matches!(e, RemoteError::Transient(_)), "{range:?}: {e:?}"),
        }
    }
    // Once the fault is gone, the same calls deliver everything.
    assert_eq!(svc.download(&c, "/Jotta/Archive/cut.bin", Some(100..150_000)).expect("range"), &data[100..150_000]);
}

#[test]
fn short_lived_access_tokens_are_not_refreshed_on_every_request() {
    let svc = TestService::start_with(|cfg| cfg.access_token_lifetime = Duration::from_secs(4));
    let dir = svc.login("churn");
    let c = svc.connect(&dir, fast_retry());
    svc.reset_counters();
    for _ in 0..10 {
        svc.rt.block_on(c.list(&rp("/Jotta/Archive"))).expect("list");
    }
    assert!(svc.requests("token") <= 1, "{}", svc.counters());
}
