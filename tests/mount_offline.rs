//! The mount while JottaCloud is unreachable, through real FUSE mounts against an emulator that is taken
//! down and brought back on the same port: writes and new folders go to the journal, cached listings keep
//! answering, and everything reaches the service (folders before what is in them) when it is back, also
//! across a `kill -9` or an unmount made while it was down.

mod common;

use common::{pattern, rp, TestMount, TestService};
use jottafuse::emulator::{FailNext, FaultConfig};
use jottafuse::remote::{Remote, RemoteError};
use std::fs;
use std::io::Write;
use std::path::Path;

fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    common::wait_until_within(what, 90, cond)
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    out.sort();
    out
}

/// How often the mount has tried the pending upload (or folder) at `path`, as `jotta status` reports it.
fn attempts(base: &Path, path: &str) -> u64 {
    let text = common::jotta_status(base, &["--json"]);
    let mounts: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let rows = mounts[0]["report"]["pending"].as_array().cloned().unwrap_or_default();
    rows.iter().find(|r| r["path"] == path).and_then(|r| r["attempts"].as_u64()).unwrap_or(0)
}

/// Whether the service has a live folder at `path`.
fn server_has_folder(svc: &TestService, c: &jottafuse::remote::HttpRemote, path: &str) -> bool {
    matches!(svc.rt.block_on(c.list(&rp(path))), Ok(l) if l.deleted.is_none())
}

#[test]
fn writing_while_the_service_is_down_reaches_it_when_it_is_back() {
    if common::skip_without_mount() {
        return;
    }
    let mut svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/cached/old.txt", b"old");
    svc.put(&c, "/Jotta/Archive/cached/unvisited/deep.txt", b"deep");
    let base = tempfile::tempdir().unwrap();
    // Listings and attributes are stale at once (no time has to pass): what answers below during the
    // outage answers from a stale cache.
    // Without listings fetched ahead, so that `unvisited` stays a folder never listed.
    let mut m = TestMount::in_dir(&svc, "dir_cache=0,attr_cache=0,writeback_delay=0.2,prefetch=0", &[], base.path());
    let cached = m.p("Jotta/Archive/cached");
    assert_eq!(names(&cached), ["old.txt", "unvisited"]);

    svc.stop();

    // New folders (nested, empty, renamed, removed) and files in them and in the cached folder.
    fs::create_dir(cached.join("new")).unwrap();
    fs::create_dir(cached.join("new/sub")).unwrap();
    fs::create_dir(cached.join("empty")).unwrap();
    fs::create_dir(cached.join("gone")).unwrap();
    fs::create_dir(cached.join("to-rename")).unwrap();
    let a = pattern(300_000, 1);
    fs::write(cached.join("new/a.bin"), &a).unwrap();
    fs::write(cached.join("new/sub/b.txt"), b"b, written offline").unwrap();
    fs::write(cached.join("to-rename/x.txt"), b"x moves along").unwrap();
    fs::write(cached.join("c.txt"), b"c, beside the old one").unwrap();
    fs::remove_dir(cached.join("gone")).unwrap();
    fs::rename(cached.join("to-rename"), cached.join("renamed")).unwrap();

    // Read your own writes; cached folders answer, the new ones too.
    assert_eq!(fs::read(cached.join("new/a.bin")).unwrap(), a);
    assert_eq!(fs::read(cached.join("new/sub/b.txt")).unwrap(), b"b, written offline");
    assert_eq!(fs::read(cached.join("renamed/x.txt")).unwrap(), b"x moves along");
    assert_eq!(names(&cached), ["c.txt", "empty", "new", "old.txt", "renamed", "unvisited"]);
    assert_eq!(names(&cached.join("new")), ["a.bin", "sub"]);
    assert!(names(&cached.join("empty")).is_empty());
    assert_eq!(fs::metadata(cached.join("old.txt")).unwrap().len(), 3);
    assert!(fs::metadata(cached.join("unvisited")).unwrap().is_dir());

    // A folder never listed cannot be answered: EIO, and it does answer.
    let err = fs::read_dir(cached.join("unvisited")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");

    // What needs the server fails: reading what has no local copy, deleting or renaming what is there.
    for err in [
        fs::read(cached.join("old.txt")).unwrap_err(),
        fs::remove_file(cached.join("old.txt")).unwrap_err(),
        fs::rename(cached.join("old.txt"), cached.join("older.txt")).unwrap_err(),
    ] {
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    }

    // fsync promises the server, which is not there.
    {
        let mut f = fs::OpenOptions::new().append(true).open(cached.join("c.txt")).unwrap();
        f.write_all(b", and more").unwrap();
        let err = f.sync_all().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    }
    assert_eq!(fs::read(cached.join("c.txt")).unwrap(), b"c, beside the old one, and more");

    wait_until("jotta status to say the uploads wait for the service", || {
        let text = common::jotta_status(base.path(), &[]);
        text.contains("unreachable")
            && text.contains("the uploads wait for the service")
            && text.contains("/Jotta/Archive/cached/new/sub/")
            && text.contains("/Jotta/Archive/cached/new/a.bin")
    });

    // Back, but creating folders fails for now: what is in them must wait, the rest goes.
    svc.config.faults = FaultConfig {
        fail_next: vec![FailNext { kind: "mkdir".into(), status: 500, count: 1_000_000 }],
        ..Default::default()
    };
    svc.start_again();
    wait_until("c.txt on the server", || {
        svc.server_bytes(&c, "/Jotta/Archive/cached/c.txt").as_deref() == Some(b"c, beside the old one, and more")
    });
    // The folder above them has failed twice by now (each attempt answered 500).
    wait_until("a second attempt at the folder", || attempts(base.path(), "/Jotta/Archive/cached/new") >= 2);
    for path in ["new/a.bin", "new/sub/b.txt", "renamed/x.txt"] {
        assert!(svc.server_file(&c, &format!("/Jotta/Archive/cached/{path}")).is_none(), "{path} before its folder");
    }

    svc.set_faults(serde_json::json!({}));
    wait_until("everything on the server", || {
        svc.server_file(&c, "/Jotta/Archive/cached/new/a.bin").is_some()
            && svc.server_file(&c, "/Jotta/Archive/cached/new/sub/b.txt").is_some()
            && svc.server_file(&c, "/Jotta/Archive/cached/renamed/x.txt").is_some()
            && server_has_folder(&svc, &c, "/Jotta/Archive/cached/empty")
    });
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/cached/new/a.bin").unwrap(), a);
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/cached/new/sub/b.txt").unwrap(), b"b, written offline");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/cached/renamed/x.txt").unwrap(), b"x moves along");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/cached/old.txt").unwrap(), b"old");
    for gone in ["gone", "to-rename"] {
        let e = svc.rt.block_on(c.list(&rp(&format!("/Jotta/Archive/cached/{gone}"))));
        assert!(matches!(e, Err(RemoteError::NotFound(_))), "{gone}: {e:?}");
    }
    // The folder never listed answers again.
    wait_until("the unvisited folder to answer", || {
        fs::read_dir(cached.join("unvisited")).map(|_| names(&cached.join("unvisited"))).ok()
            == Some(vec!["deep.txt".to_string()])
    });
    assert_eq!(m.terminate(), Some(0));
}

#[test]
fn kill_9_while_the_service_is_down_loses_no_new_folder_or_file() {
    if common::skip_without_mount() {
        return;
    }
    let mut svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "", &[], base.path());
    assert!(fs::read_dir(m.p("Jotta/Archive")).unwrap().next().is_none());
    svc.stop();
    fs::create_dir(m.p("Jotta/Archive/kept")).unwrap();
    fs::create_dir(m.p("Jotta/Archive/kept/empty")).unwrap();
    let data = pattern(200_000, 7);
    fs::write(m.p("Jotta/Archive/kept/f.bin"), &data).unwrap();
    m.crash();

    svc.start_again();
    let m = TestMount::in_dir(&svc, "", &[], base.path());
    wait_until("the folder and its file on the server", || {
        svc.server_file(&c, "/Jotta/Archive/kept/f.bin").is_some()
            && server_has_folder(&svc, &c, "/Jotta/Archive/kept/empty")
    });
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/kept/f.bin").unwrap(), data);
    assert_eq!(names(&m.p("Jotta/Archive/kept")), ["empty", "f.bin"]);
    assert_eq!(fs::read(m.p("Jotta/Archive/kept/f.bin")).unwrap(), data);
}

#[test]
fn unmount_while_the_service_is_down_leaves_the_uploads_for_the_next_mount() {
    if common::skip_without_mount() {
        return;
    }
    let mut svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "", &[], base.path());
    assert!(fs::read_dir(m.p("Jotta/Archive")).unwrap().next().is_none());
    svc.stop();
    fs::write(m.p("Jotta/Archive/later.txt"), b"goes out at the next mount").unwrap();
    // The default drain_timeout is an hour: the daemon must not wait for a service that is not there.
    assert_eq!(m.terminate(), Some(0), "the daemon exits");

    svc.start_again();
    let _m = TestMount::in_dir(&svc, "", &[], base.path());
    wait_until("the file on the server", || svc.server_file(&c, "/Jotta/Archive/later.txt").is_some());
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/later.txt").unwrap(), b"goes out at the next mount");
}
