//! Folder listings fetched ahead of a walk, through a real FUSE mount against the emulator: a walk over
//! a slow link sees every entry and finds its listings already fetched (folder by folder, or a whole
//! subtree in one request), fetching ahead stays within the `cache_entries` bound, and a change made
//! while a listing is on its way is kept.

mod common;

use common::{TestMount, TestService};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

/// `dirs` folders of `files` empty files each under /Jotta/Archive/tree.
fn seed(svc: &TestService, dirs: u64, files: u64) {
    let url = format!("{}/_emulator/seed", svc.endpoint());
    let body = serde_json::json!({"path": "/Jotta/Archive/tree", "dirs": dirs, "files_per_dir": files, "file_size": 0});
    let resp = svc.rt.block_on(reqwest::Client::new().post(url).json(&body).send()).unwrap();
    assert!(resp.status().is_success());
}

/// What `find DIR` prints, relative to DIR.
fn find(dir: &Path) -> BTreeSet<String> {
    let out = Command::new("find").arg(dir).output().expect("run find");
    assert!(out.status.success(), "find: {}", String::from_utf8_lossy(&out.stderr));
    let prefix = dir.to_string_lossy().into_owned();
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.strip_prefix(&prefix).unwrap_or(l).to_string()).collect()
}

fn expected(dirs: u64, files: u64) -> BTreeSet<String> {
    let mut want = BTreeSet::from([String::new()]);
    for d in 0..dirs {
        want.insert(format!("/dir-{d:05}"));
        for f in 0..files {
            want.insert(format!("/dir-{d:05}/file-{f:05}.bin"));
        }
    }
    want
}

/// A mount whose daemon log goes to `<base>/daemon.log`, with `RUST_LOG` and the other `env` given.
/// Returned as (base, log, mount) so that the mount, bound last, is dropped (unmounted) before the folder
/// it logs into goes.
fn mount_logged(
    svc: &TestService,
    opts: &str,
    env: &[(&str, &str)],
) -> (tempfile::TempDir, std::path::PathBuf, TestMount) {
    let base = tempfile::tempdir().unwrap();
    let log = base.path().join("daemon.log");
    let m = TestMount::start(svc, opts, &[], base.path(), env, Some(&log));
    (base, log, m)
}

/// Wait until the daemon's log says `text`.
fn wait_for_log(log: &Path, text: &str) {
    common::wait_until(text, || fs::read_to_string(log).unwrap_or_default().contains(text));
}

/// The names in a folder.
fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

fn cached_entries(base: &Path) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&common::jotta_status(base, &["--json"])).unwrap();
    v[0]["report"]["cached_entries"].as_u64().unwrap()
}

#[test]
fn a_cold_find_over_a_slow_link_sees_every_entry_and_finds_the_listings_fetched_ahead() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    // Fewer subfolders than it takes to ask for the whole subtree: they are listed one by one.
    seed(&svc, 5, 5);
    svc.set_faults(serde_json::json!({"latency_ms": 20}));
    let m = TestMount::new(&svc, "dir_cache=600,attr_cache=600");
    svc.reset_counters();
    let tree = m.p("Jotta/Archive/tree");
    assert_eq!(fs::read_dir(&tree).unwrap().count(), 5);
    // The listing of Archive (to find `tree`) and of `tree` itself were asked for; the 5 subfolders'
    // listings come without anyone opening them.
    common::wait_until("the subfolders' listings fetched ahead", || svc.requests("list") >= 2 + 5);
    assert_eq!(find(&tree), expected(5, 5));
    assert_eq!(svc.requests("list"), 2 + 5, "the walk found every listing fetched already, none twice");
    assert_eq!(svc.requests("liststream"), 0);
}

#[test]
fn a_folder_with_many_subfolders_has_its_whole_subtree_listed_in_one_request() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    seed(&svc, 60, 5);
    // A file with two revisions deep in the tree: the subtree listing names neither its revision nor its
    // uuid, and the xattrs must still tell them right.
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/tree/dir-00007/twice.txt", b"first\n");
    svc.put(&c, "/Jotta/Archive/tree/dir-00007/twice.txt", b"second\n");
    svc.set_faults(serde_json::json!({"latency_ms": 20}));
    // Two listings ahead at a time, so that most subfolders are still unlisted when the walk begins (with
    // the default 32 a tree this small would be listed folder by folder before it).
    let m = TestMount::new(&svc, "dir_cache=600,attr_cache=600,prefetch=2");
    svc.reset_counters();
    let tree = m.p("Jotta/Archive/tree");
    assert_eq!(fs::read_dir(&tree).unwrap().count(), 60);
    // An `ls` of the folder asks for no subtree; a walk (a second subfolder opened) does.
    assert_eq!(fs::read_dir(tree.join("dir-00000")).unwrap().count(), 5);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(svc.requests("liststream"), 0);
    assert_eq!(fs::read_dir(tree.join("dir-00001")).unwrap().count(), 5);
    common::wait_until("the subtree listing", || svc.requests("liststream") == 1);
    let mut want = expected(60, 5);
    want.insert("/dir-00007/twice.txt".into());
    // Listings the walk asked for before the subtree's reply was in are fetched on their own; once it
    // is in, no folder is listed again.
    common::wait_until("the walk to find every listing", || find(&tree) == want);
    let walked = svc.requests("list");
    assert!(walked < 2 + 60, "most listings came with the subtree: {walked} folder listings");
    assert_eq!(find(&tree), want);
    assert_eq!(svc.requests("list"), walked, "a second walk asks for nothing");
    assert_eq!(svc.requests("liststream"), 1, "one subtree listing");

    let twice = tree.join("dir-00007/twice.txt");
    assert_eq!(fs::metadata(&twice).unwrap().len(), 7);
    assert_eq!(fs::read(&twice).unwrap(), b"second\n");
    assert_eq!(common::getxattr(&twice, "user.jotta.md5").unwrap(), common::md5_hex(b"second\n"));
    assert_eq!(common::getxattr(&twice, "user.jotta.revision").unwrap(), "2");
    let info = svc.server_file(&c, "/Jotta/Archive/tree/dir-00007/twice.txt").unwrap();
    assert_eq!(common::getxattr(&twice, "user.jotta.uuid"), info.uuid);
}

#[test]
fn a_subtree_larger_than_the_cache_has_room_for_is_listed_folder_by_folder() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    seed(&svc, 40, 100);
    // Room for about 1,500 names ahead: the subtree's 4,041 entries do not fit in what may be read.
    let debug = [("RUST_LOG", "info,jottafuse::vfs::subtree=debug")];
    let (base, log, m) = mount_logged(&svc, "cache_entries=2000,dir_cache=600,prefetch=1", &debug);
    svc.reset_counters();
    let tree = m.p("Jotta/Archive/tree");
    assert_eq!(find(&tree), expected(40, 100));
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("larger than the cache has room for"), "{text}");
    assert_eq!(svc.requests("liststream"), 1, "asked once, not again for the same folder");
    assert!(cached_entries(base.path()) <= 2000, "within cache_entries: {}", cached_entries(base.path()));
    // A walk again (the kernel may have dropped names) does not ask for that subtree again.
    assert_eq!(find(&tree), expected(40, 100));
    assert_eq!(svc.requests("liststream"), 1);
}

#[test]
fn listings_fetched_ahead_stay_within_the_cache_bound() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    seed(&svc, 30, 10);
    let debug = [("RUST_LOG", "info,jottafuse::vfs::prefetch=debug")];
    let (base, log, m) = mount_logged(&svc, "cache_entries=60,prefetch=4,dir_cache=600", &debug);
    svc.reset_counters();
    let tree = m.p("Jotta/Archive/tree");
    assert_eq!(fs::read_dir(&tree).unwrap().count(), 30);
    // Four listings go out at once (the table holds about 40 names); once one is in, the table is past
    // 3/4 of its bound, the others are dropped on arrival and nothing more is fetched ahead.
    let answered = || fs::read_to_string(&log).unwrap_or_default().matches("listing fetched ahead").count();
    common::wait_until("the four listings fetched ahead to arrive", || answered() == 4);
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("dropped, the cache is near its bound"), "{text}");
    assert!(cached_entries(base.path()) <= 60, "within cache_entries=60: {}", cached_entries(base.path()));
    assert_eq!(svc.requests("list"), 2 + 4, "no more than four went out");
    // What was dropped is fetched when the walk gets there: every entry is seen.
    assert_eq!(find(&tree), expected(30, 10));
}

#[test]
fn a_change_made_while_its_folder_is_listed_ahead_is_kept() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    seed(&svc, 40, 3);
    let debug = [("RUST_LOG", "info,jottafuse::vfs::subtree=debug")];
    let (_base, log, m) = mount_logged(&svc, "dir_cache=600,attr_cache=600,writeback_delay=0,prefetch=1", &debug);
    let tree = m.p("Jotta/Archive/tree");
    // Slow answers, so the subfolders' listings are still on their way when the changes are made.
    svc.set_faults(serde_json::json!({"latency_ms": 300}));
    svc.reset_counters();
    assert_eq!(fs::read_dir(&tree).unwrap().count(), 40);
    // A walk begins: two subfolders opened.
    assert_eq!(fs::read_dir(tree.join("dir-00000")).unwrap().count(), 3);
    assert_eq!(fs::read_dir(tree.join("dir-00001")).unwrap().count(), 3);
    fs::write(tree.join("dir-00003/new.txt"), b"made meanwhile\n").unwrap();
    fs::rename(tree.join("dir-00004/file-00000.bin"), tree.join("dir-00004/renamed.bin")).unwrap();
    fs::create_dir(tree.join("dir-00005/sub")).unwrap();
    // The walk's subtree is asked for in one request, sent before the changes.
    wait_for_log(&log, "listings applied");
    assert_eq!(svc.requests("liststream"), 1);

    let names = |d: &str| names(&tree.join(d));
    assert!(names("dir-00003").contains("new.txt"), "{:?}", names("dir-00003"));
    let four = names("dir-00004");
    assert!(four.contains("renamed.bin") && !four.contains("file-00000.bin"), "{four:?}");
    assert!(names("dir-00005").contains("sub"));
    assert_eq!(fs::read(tree.join("dir-00003/new.txt")).unwrap(), b"made meanwhile\n");
    // And the service ends up with the same.
    svc.set_faults(serde_json::json!({}));
    let c = svc.client();
    common::wait_until("the new file on the server", || {
        svc.server_file(&c, "/Jotta/Archive/tree/dir-00003/new.txt").is_some()
    });
    assert!(svc.server_file(&c, "/Jotta/Archive/tree/dir-00004/renamed.bin").is_some());
    assert!(svc.server_file(&c, "/Jotta/Archive/tree/dir-00004/file-00000.bin").is_none());
}

#[test]
fn folders_changed_while_their_subtree_is_on_its_way_keep_what_they_have() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    seed(&svc, 40, 20);
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/tree/dir-00020/only-in-20.txt", b"20\n");
    let scratch = tempfile::tempdir().unwrap();
    let (hold, clock) = (scratch.path().join("hold"), scratch.path().join("clock"));
    let (hold_env, clock_env) = (hold.to_string_lossy().into_owned(), clock.to_string_lossy().into_owned());
    let env = [
        ("RUST_LOG", "info,jottafuse::vfs::subtree=debug"),
        ("JOTTAFUSE_TEST_HOLD", hold_env.as_str()),
        ("JOTTAFUSE_TEST_CLOCK", clock_env.as_str()),
    ];
    let (_base, log, m) = mount_logged(&svc, "dir_cache=5,attr_cache=5,prefetch=1", &env);
    let tree = m.p("Jotta/Archive/tree");
    let names = |d: &str| names(&tree.join(d));
    assert_eq!(fs::read_dir(&tree).unwrap().count(), 40);
    // The subtree's reply is held in the daemon once it has arrived, before it is applied.
    fs::write(&hold, b"").unwrap();
    let reached = jottafuse::vfs::test_hold::reached(&hold);
    // A walk: dir-00020 is listed (before the request is sent), then a second subfolder is opened.
    assert_eq!(names("dir-00020").len(), 21);
    assert_eq!(names("dir-00000").len(), 20);
    common::wait_until("the subtree's reply held", || fs::read_to_string(&reached).is_ok_and(|p| p == "subtree apply"));
    // Meanwhile dir-00006 is moved away and dir-00020 takes its name (the reply's dir-00006 is the old
    // one), and a file is taken out of dir-00009, listed after the request was sent.
    fs::rename(tree.join("dir-00006"), tree.join("old-00006")).unwrap();
    fs::rename(tree.join("dir-00020"), tree.join("dir-00006")).unwrap();
    assert_eq!(names("dir-00009").len(), 20);
    fs::remove_file(tree.join("dir-00009/file-00003.bin")).unwrap();
    // By the time the reply is applied those listings are old enough to be replaced: only knowing that
    // the folders changed after the request was sent keeps the reply off them.
    common::set_clock_skew(&clock, 6.0);
    fs::remove_file(&hold).unwrap();
    wait_for_log(&log, "listings applied");
    assert!(names("dir-00006").contains("only-in-20.txt"), "the moved folder keeps its own: {:?}", names("dir-00006"));
    assert_eq!(names("dir-00006").len(), 21);
    assert_eq!(names("old-00006").len(), 20);
    assert!(!names("dir-00009").contains("file-00003.bin"), "a file removed here does not come back");
    assert_eq!(names("dir-00009").len(), 19);
    assert_eq!(names("dir-00012").len(), 20, "what nobody changed came with the subtree");
}
