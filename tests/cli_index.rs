//! Synchronisation by file indexes as a user runs it: the real `jotta` binary against the emulator on
//! loopback, on real folders. The seed's three scenarios (online, offline with an index carried across,
//! timeline with four snapshots), each with a local and a remote side, the water-company shape (1% of a
//! tree changed), and the bad-input list: damaged indexes and archives, a drifted target, a failure
//! halfway and the rerun that finishes the job. Trees are compared file by file, by md5 of the bytes.

mod common;

use common::trees::{archived_files, json, library, local_folders, local_tree, strings, write, User};
use common::{md5_hex, pattern, rp};
use jottafuse::remote::ItemKind;
use jottafuse::remote::Remote;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn a_file_that_fails_is_counted_as_failed_not_as_added_or_changed() {
    let u = User::new();
    let src = u.path("reports");
    write(&src, "small-old.txt", b"kept small", 1_700_000_000);
    write(&src, "large-old.bin", &pattern(256 << 10, 1), 1_700_000_000);
    let remote = "/Jotta/Archive/reports";
    u.ok(&["sync", "reports", &format!("jotta:{remote}")]);
    write(&src, "small-old.txt", b"changed, still small", 1_700_000_100);
    write(&src, "large-old.bin", &pattern(300 << 10, 2), 1_700_000_100);
    write(&src, "small-new.txt", b"new and small", 1_700_000_100);
    write(&src, "large-new.bin", &pattern(256 << 10, 3), 1_700_000_100);
    // Every upload dies after its first KiB: the two large files fail, the small ones go.
    u.svc.set_faults(serde_json::json!({"drop_next": [{"kind": "upload", "after_bytes": 1024, "count": 1000}]}));
    let (said, _) = u.run(1, &["sync", "reports", &format!("jotta:{remote}")]);
    u.svc.set_faults(serde_json::json!({}));
    assert!(said.contains("1 added, 1 changed, 0 deleted, 0 unchanged, 2 failed"), "{said}");
}

#[test]
fn a_local_rename_in_other_letters_is_a_rename_on_the_server_and_the_next_run_is_quiet() {
    let u = User::new();
    let src = u.path("albums");
    write(&src, "Summer/Beach.jpg", b"sand", 1_700_000_000);
    write(&src, "Summer/dunes.jpg", b"dunes", 1_700_000_000);
    write(&src, "Summer/Deep/Shell.jpg", b"shell", 1_700_000_000);
    let remote = "/Jotta/Archive/albums";
    u.ok(&["sync", "albums", &format!("jotta:{remote}")]);
    std::fs::rename(src.join("Summer"), src.join("summer")).unwrap();
    std::fs::rename(src.join("summer/Beach.jpg"), src.join("summer/beach.jpg")).unwrap();
    std::fs::rename(src.join("summer/Deep"), src.join("summer/deep")).unwrap();
    std::fs::rename(src.join("summer/deep/Shell.jpg"), src.join("summer/deep/shell.jpg")).unwrap();
    write(&src, "summer/dunes.jpg", b"dunes at dusk", 1_700_000_100);
    u.svc.reset_counters();
    let out = u.ok(&["sync", "albums", &format!("jotta:{remote}")]);
    assert!(out.contains("0 added, 1 changed, 0 deleted, 2 unchanged, 0 failed, 4 renamed,"), "{out}");
    assert!(out.contains("renamed /Jotta/Archive/albums/Summer -> /Jotta/Archive/albums/summer\n"), "{out}");
    // Named below its folder's new letters, where it is by then.
    assert!(out.contains("renamed /Jotta/Archive/albums/summer/Beach.jpg -> /Jotta/Archive/albums/summer/beach.jpg"));
    let deep = "renamed /Jotta/Archive/albums/summer/deep/Shell.jpg -> /Jotta/Archive/albums/summer/deep/shell.jpg";
    assert!(out.contains(deep), "{out}");
    assert_eq!(u.remote_tree(remote), local_tree(&src), "the server holds SRC's letters and content");
    let again = u.ok(&["sync", "albums", &format!("jotta:{remote}")]);
    assert!(again.contains("0 added, 0 changed, 0 deleted, 3 unchanged, 0 failed,"), "{again}");
}

#[test]
fn ctrl_c_during_archive_create_removes_the_partial_archive_and_exits_130() {
    let u = User::new();
    let src = u.path("big");
    for i in 0..300 {
        write(&src, &format!("f{i:03}.bin"), &pattern(256 << 10, 900 + i), 1_700_000_000);
    }
    std::fs::create_dir_all(u.path("none")).unwrap();
    u.ok(&["index", "create", "none", "-o", "none.idx"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(["archive", "create", "--source", "big", "--against", "none.idx", "--gzip", "-o", "out.tar"])
        .current_dir(u.path(""))
        .env("XDG_CONFIG_HOME", u.path("config"))
        .env("XDG_CACHE_HOME", u.path("cache"))
        .spawn()
        .expect("spawn");
    let tmp = u.path(".out.tar.jotta-tmp");
    let t = std::time::Instant::now();
    while !tmp.exists() && t.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(tmp.exists(), "the archive is being written");
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert!(!tmp.exists() && !u.path("out.tar").exists(), "nothing is left beside the output");
}

#[test]
fn a_local_name_with_a_line_break_is_reported_on_one_line_by_every_tool() {
    let u = User::new();
    let src = u.path("odd");
    write(&src, "line\nbreak.txt", b"x", 1_700_000_000);
    write(&src, "plain.txt", b"y", 1_700_000_000);
    for args in [
        &["put", "-r", "odd", "/Jotta/Archive/odd-put"][..],
        &["sync", "odd", "jotta:/Jotta/Archive/odd-sync"],
        &["scan", "odd", "/Jotta/Archive/odd-scan"],
        &["index", "create", "odd", "-o", "odd.idx"],
    ] {
        let out = u.jotta(args);
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("break.txt")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(
            lines[0].contains("line\\nbreak.txt") && !err.lines().any(|l| l.starts_with("break.txt")),
            "{args:?}: {err}"
        );
    }
}

/// Scenario 1 (online): local -> remote, only the difference moves; remote -> local; --dry-run and
/// --no-delete; local -> local.
#[test]
fn online_sync_moves_only_the_differences_both_ways() {
    let u = User::new();
    let src = u.path("drawings");
    library(&src, 30);
    let remote = "/Jotta/Archive/drawings";
    let out = u.ok(&["sync", "drawings", &format!("jotta:{remote}")]);
    assert!(out.contains("30 added, 0 changed, 0 deleted"), "{out}");
    assert_eq!(u.remote_tree(remote), local_tree(&src));
    assert_eq!(u.remote_folders(remote), local_folders(&src));

    // Two files change, one goes, one comes.
    write(&src, "district-0/street-0/sketch-00000.dwg", b"redrawn, longer than before......", 1_700_000_000);
    write(&src, "district-1/street-1/sketch-00001.dwg", b"short", 1_700_000_001);
    std::fs::remove_file(src.join("district-2/street-2/sketch-00002.dwg")).expect("rm");
    write(&src, "district-9/new.dwg", b"a new house connection", 1_700_000_002);
    let before = u.remote_tree(remote);
    let out = u.ok(&["sync", "-n", "drawings", &format!("jotta:{remote}")]);
    assert!(out.contains("would delete district-2/street-2/sketch-00002.dwg"), "{out}");
    assert_eq!(u.remote_tree(remote), before, "a dry run changes nothing");

    u.svc.reset_counters();
    let out = u.ok(&["sync", "drawings", &format!("jotta:{remote}")]);
    assert!(out.contains("1 added, 2 changed, 1 deleted, 27 unchanged, 0 failed"), "{out}");
    assert_eq!(u.remote_tree(remote), local_tree(&src));
    let sent = u.svc.bytes_received();
    let changed_bytes = 33 + 5 + 22;
    assert!(sent >= changed_bytes && sent < 1000, "only the changed files travel: {sent} bytes");

    // Remote -> local, into a folder that does not exist yet; then nothing to do.
    let out = u.ok(&["sync", &format!("jotta:{remote}"), "laptop"]);
    assert!(out.contains("30 added"), "{out}");
    assert_eq!(local_tree(&u.path("laptop")), local_tree(&src));
    assert_eq!(local_folders(&u.path("laptop")), local_folders(&src));
    let out = u.ok(&["sync", &format!("jotta:{remote}"), "laptop"]);
    assert!(out.contains("0 added, 0 changed, 0 deleted, 30 unchanged"), "{out}");

    // Add only: what the source lost stays at the target.
    std::fs::remove_file(src.join("district-9/new.dwg")).expect("rm");
    u.ok(&["sync", "--no-delete", "drawings", &format!("jotta:{remote}")]);
    assert!(u.remote_tree(remote).contains_key("district-9/new.dwg"));
    u.ok(&["sync", "--no-delete", &format!("jotta:{remote}"), "drawings"]);
    assert!(src.join("district-9/new.dwg").exists(), "pulled back by the other direction");

    // Local -> local, with deletion.
    u.ok(&["sync", "drawings", "backup"]);
    std::fs::remove_file(src.join("district-9/new.dwg")).expect("rm");
    let out = u.ok(&["sync", "drawings", "backup"]);
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(local_tree(&u.path("backup")), local_tree(&src));
}

/// Scenario 2 (offline): the laptop's index is carried to the library; the archive of the differences
/// is carried back and applied. Once from a local library, once from one on JottaCloud.
#[test]
fn offline_sync_with_an_index_carried_across() {
    let u = User::new();
    let central = u.path("central");
    library(&central, 40);
    u.ok(&["sync", "central", "laptop"]);
    let out = u.ok(&["index", "create", "laptop", "-o", "laptop.idx"]);
    assert!(out.contains("40 files"), "{out}");

    // The library moves on.
    write(&central, "district-0/street-0/sketch-00000.dwg", b"v2 of the first sketch, now longer", 1_700_000_000);
    std::fs::remove_file(central.join("district-1/street-1/sketch-00001.dwg")).expect("rm");
    write(&central, "district-5/fresh/new-00001.dwg", b"new", 1_700_000_001);
    std::fs::remove_dir_all(central.join("empty")).expect("rm folder");

    u.ok(&["index", "create", "central", "-o", "central.idx"]);
    let d = json(&u.ok(&["index", "diff", "laptop.idx", "central.idx", "--json"]));
    assert_eq!(strings(&d["changed"]), vec!["district-0/street-0/sketch-00000.dwg"]);
    assert_eq!(strings(&d["added"]), vec!["district-5/", "district-5/fresh/", "district-5/fresh/new-00001.dwg"]);
    assert_eq!(strings(&d["removed"]), vec!["district-1/street-1/sketch-00001.dwg", "empty/", "empty/inside/"]);

    u.ok(&["archive", "create", "--source", "central", "--against", "laptop.idx", "-o", "changes.tar.gz"]);
    assert_eq!(
        archived_files(&u.path("changes.tar.gz")),
        ["district-0/street-0/sketch-00000.dwg", "district-5/fresh/new-00001.dwg"].map(String::from).into()
    );
    let out = u.ok(&["archive", "apply", "changes.tar.gz", "laptop"]);
    assert!(out.contains("wrote 2 file(s)"), "{out}");
    assert_eq!(local_tree(&u.path("laptop")), local_tree(&central));
    assert_eq!(local_folders(&u.path("laptop")), local_folders(&central));

    // The library on JottaCloud: the archive is made from the server's bytes.
    let remote = "/Jotta/Archive/central";
    u.ok(&["sync", "central", &format!("jotta:{remote}")]);
    u.ok(&["sync", &format!("jotta:{remote}"), "laptop2"]);
    u.ok(&["index", "create", "laptop2", "-o", "laptop2.idx"]);
    u.svc.put(&u.client, &format!("{remote}/district-0/street-3/sketch-00003.dwg"), b"changed on the server");
    u.svc.put(&u.client, &format!("{remote}/added/on-server.dwg"), b"added on the server");
    u.svc
        .rt
        .block_on(u.client.delete(&rp(&format!("{remote}/district-2/street-2/sketch-00002.dwg")), ItemKind::File))
        .expect("rm");
    // The server's index says the same as the laptop's for everything else; it takes one listing.
    u.svc.reset_counters();
    u.ok(&["index", "create", &format!("jotta:{remote}"), "-o", "server.idx"]);
    assert_eq!(u.svc.requests("liststream"), 1, "one recursive listing: {}", u.svc.counters());
    assert_eq!(u.svc.requests("download"), 0, "md5s come from the listing: {}", u.svc.counters());
    let d = json(&u.ok(&["index", "diff", "laptop2.idx", "server.idx", "--json", "--by-time"]));
    assert_eq!(strings(&d["changed"]), vec!["district-0/street-3/sketch-00003.dwg"]);
    assert_eq!(strings(&d["removed"]), vec!["district-2/street-2/sketch-00002.dwg"]);

    u.ok(&[
        "archive",
        "create",
        "--source",
        &format!("jotta:{remote}"),
        "--against",
        "laptop2.idx",
        "-o",
        "from-server.tar",
    ]);
    assert_eq!(
        archived_files(&u.path("from-server.tar")),
        ["added/on-server.dwg", "district-0/street-3/sketch-00003.dwg"].map(String::from).into()
    );
    u.ok(&["archive", "apply", "from-server.tar", "laptop2"]);
    assert_eq!(local_tree(&u.path("laptop2")), u.remote_tree(remote));
}

/// Scenario 3 (timeline): indexes of one source at t1..t4; a copy made at t1 (local and on JottaCloud)
/// is brought to t4 by an archive and by a sync, both built from the t1 and t4 indexes.
#[test]
fn timeline_sync_from_four_snapshots() {
    let u = User::new();
    let src = u.path("pictures");
    library(&src, 12);
    u.ok(&["index", "create", "pictures", "-o", "t1.idx"]);
    u.ok(&["sync", "pictures", "copy-t1"]);
    let remote = "/Jotta/Archive/copy-t1";
    u.ok(&["sync", "pictures", &format!("jotta:{remote}")]);

    // t2: one edit that keeps the size (only a time comparison sees it), one new file.
    let same_size = pattern(100, 999);
    write(&src, "district-0/street-0/sketch-00000.dwg", &same_size, 1_700_000_100);
    write(&src, "t2.dwg", b"from t2", 1_700_000_101);
    u.ok(&["index", "create", "pictures", "-o", "t2.idx"]);
    // t3: a deletion and a new folder.
    std::fs::remove_file(src.join("district-1/street-1/sketch-00001.dwg")).expect("rm");
    write(&src, "t3/new.dwg", b"from t3", 1_700_000_200);
    u.ok(&["index", "create", "pictures", "-o", "t3.idx"]);
    // t4: the t2 file changes again.
    write(&src, "t2.dwg", b"from t4 now", 1_700_000_300);
    u.ok(&["index", "create", "pictures", "-o", "t4.idx"]);

    // Any two moments compare.
    let d = json(&u.ok(&["index", "diff", "t1.idx", "t2.idx", "--json", "--by-time"]));
    assert_eq!(strings(&d["changed"]), vec!["district-0/street-0/sketch-00000.dwg"]);
    assert_eq!(strings(&d["added"]), vec!["t2.dwg"]);
    let by_size = json(&u.ok(&["index", "diff", "t1.idx", "t2.idx", "--json"]));
    assert!(strings(&by_size["changed"]).is_empty(), "a same-size edit is invisible by size");
    let d = json(&u.ok(&["index", "diff", "t2.idx", "t3.idx", "--json", "--by-time"]));
    assert_eq!(strings(&d["removed"]), vec!["district-1/street-1/sketch-00001.dwg"]);
    assert_eq!(strings(&d["added"]), vec!["t3/", "t3/new.dwg"]);
    let d = json(&u.ok(&["index", "diff", "t3.idx", "t4.idx", "--json", "--by-time"]));
    assert_eq!((strings(&d["changed"]), strings(&d["added"])), (vec!["t2.dwg".to_string()], vec![]));

    // The local t1 copy, brought to t4 offline.
    u.ok(&[
        "archive",
        "create",
        "--source",
        "pictures",
        "--from",
        "t4.idx",
        "--against",
        "t1.idx",
        "--by-time",
        "-o",
        "t1-to-t4.tar",
    ]);
    assert_eq!(
        archived_files(&u.path("t1-to-t4.tar")),
        ["district-0/street-0/sketch-00000.dwg", "t2.dwg", "t3/new.dwg"].map(String::from).into()
    );
    u.ok(&["archive", "apply", "t1-to-t4.tar", "copy-t1"]);
    assert_eq!(local_tree(&u.path("copy-t1")), local_tree(&src));

    // The remote t1 copy, brought to t4 online without looking at it.
    let out =
        u.ok(&["sync", "--from", "t4.idx", "--against", "t1.idx", "--by-time", "pictures", &format!("jotta:{remote}")]);
    assert!(out.contains("2 added, 1 changed, 1 deleted"), "{out}");
    assert_eq!(u.remote_tree(remote), local_tree(&src));

    // A source that moved on since the --from index is refused, not half-archived.
    write(&src, "t2.dwg", b"after t4", 1_700_000_400);
    let (_, err) = u.run(
        1,
        &["archive", "create", "--source", "pictures", "--from", "t4.idx", "--against", "t1.idx", "-o", "late.tar"],
    );
    assert!(err.contains("changed since the --from index was taken"), "{err}");
    assert!(!u.path("late.tar").exists());
}

/// The water-company shape at test size: 1% of the drawings change; the archive holds exactly those,
/// and applying it makes the trees equal, file by file.
#[test]
fn one_percent_changed_archive_holds_exactly_the_changes() {
    let u = User::new();
    let central = u.path("central");
    for i in 0..2000u64 {
        write(&central, &format!("d{}/s{i:05}.dwg", i % 20), &pattern(64, i + 1), 1_600_000_000);
    }
    u.ok(&["sync", "central", "laptop"]);
    u.ok(&["index", "create", "laptop", "-o", "laptop.idx"]);
    let mut changed = BTreeSet::new();
    for i in (0..2000u64).step_by(100) {
        let rel = format!("d{}/s{i:05}.dwg", i % 20);
        write(&central, &rel, &pattern(64, i + 7777), 1_700_000_000);
        changed.insert(rel);
    }
    u.ok(&["archive", "create", "--source", "central", "--against", "laptop.idx", "--by-time", "-o", "a.tgz"]);
    assert_eq!(archived_files(&u.path("a.tgz")), changed);
    u.ok(&["archive", "apply", "a.tgz", "laptop"]);
    assert_eq!(local_tree(&u.path("laptop")), local_tree(&central));
}

#[test]
fn damaged_or_newer_indexes_are_refused_with_the_reason() {
    let u = User::new();
    library(&u.path("src"), 5);
    u.ok(&["index", "create", "src", "-o", "good.idx"]);
    let good = std::fs::read(u.path("good.idx")).expect("read");
    std::fs::write(u.path("truncated.idx"), &good[..good.len() - 10]).expect("write");
    let mut flipped = good.clone();
    let last = flipped.len() - 5;
    flipped[last] ^= 0x40;
    std::fs::write(u.path("corrupt.idx"), &flipped).expect("write");
    let mut newer = good.clone();
    newer[8] = 7;
    std::fs::write(u.path("newer.idx"), &newer).expect("write");
    std::fs::write(u.path("text.idx"), b"src/a.txt 12\n").expect("write");
    for (file, says) in [
        ("truncated.idx", "truncated.idx: index is truncated"),
        ("corrupt.idx", "corrupt.idx: index is damaged (checksum mismatch)"),
        ("newer.idx", "index format version 7 is newer than this jotta reads (version 1); upgrade jotta"),
        ("text.idx", "not a jotta index file"),
    ] {
        let (_, err) = u.run(1, &["index", "diff", "good.idx", file]);
        assert!(err.contains(says), "{file}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        let (_, err) = u.run(1, &["archive", "create", "--source", "src", "--against", file, "-o", "x.tar"]);
        assert!(err.contains(says), "{file}: {err}");
    }
    assert!(!u.path("x.tar").exists());
}

#[test]
fn a_drifted_target_is_refused_unless_forced() {
    let u = User::new();
    let central = u.path("central");
    library(&central, 10);
    u.ok(&["sync", "central", "laptop"]);
    u.ok(&["index", "create", "laptop", "-o", "laptop.idx"]);
    write(&central, "district-0/street-0/sketch-00000.dwg", b"new at the library", 1_700_000_000);
    u.ok(&["archive", "create", "--source", "central", "--against", "laptop.idx", "-o", "a.tar"]);

    // Someone edits the laptop copy after its index was taken.
    write(&u.path("laptop"), "district-1/street-1/sketch-00001.dwg", b"edited in the field", 1_700_000_500);
    write(&u.path("laptop"), "field-note.txt", b"added in the field", 1_700_000_500);
    let before = local_tree(&u.path("laptop"));
    let (_, err) = u.run(1, &["archive", "apply", "a.tar", "laptop"]);
    assert!(err.contains("changed: district-1/street-1/sketch-00001.dwg"), "{err}");
    assert!(err.contains("added: field-note.txt"), "{err}");
    assert!(err.contains("2 path(s) changed since the index"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(local_tree(&u.path("laptop")), before, "nothing applied");

    // Add-only tolerates additions, not edits.
    let (_, err) = u.run(1, &["archive", "apply", "--no-delete", "a.tar", "laptop"]);
    assert!(err.contains("1 path(s) changed") && !err.contains("field-note"), "{err}");

    u.ok(&["archive", "apply", "--force", "a.tar", "laptop"]);
    let now = local_tree(&u.path("laptop"));
    assert_eq!(now["district-0/street-0/sketch-00000.dwg"], md5_hex(b"new at the library"));
    assert_eq!(now["district-1/street-1/sketch-00001.dwg"], md5_hex(b"edited in the field"));
}

#[test]
fn a_failed_apply_leaves_nothing_half_done_and_a_rerun_finishes() {
    let u = User::new();
    let central = u.path("central");
    library(&central, 10);
    u.ok(&["sync", "central", "laptop"]);
    u.ok(&["index", "create", "laptop", "-o", "laptop.idx"]);
    write(&central, "district-0/street-0/sketch-00000.dwg", b"new version of a sketch", 1_700_000_000);
    write(&central, "zz-new/plan.dwg", b"a new plan", 1_700_000_000);
    std::fs::remove_file(central.join("district-2/street-2/sketch-00002.dwg")).expect("rm");
    u.ok(&["archive", "create", "--source", "central", "--against", "laptop.idx", "-o", "a.tar"]);
    let original = local_tree(&u.path("laptop"));
    let no_stage = |root: &Path| local_tree(root).keys().all(|k| !k.contains(".jotta-stage"));

    // A truncated archive: refused, nothing changes, nothing left behind.
    let full = std::fs::read(u.path("a.tar")).expect("read");
    let at = full.windows(10).position(|w| w == b"a new plan").expect("content in tar");
    std::fs::write(u.path("cut.tar"), &full[..at + 3]).expect("write");
    let (_, err) = u.run(1, &["archive", "apply", "cut.tar", "laptop"]);
    assert!(err.contains("cut.tar") && err.contains("copy it again"), "{err}");
    assert_eq!(local_tree(&u.path("laptop")), original);
    assert!(no_stage(&u.path("laptop")));

    // A corrupt archive (a byte of a stored file flipped): the md5 check refuses it.
    let mut bad = full.clone();
    bad[at] ^= 0x20;
    std::fs::write(u.path("bad.tar"), &bad).expect("write");
    let (_, err) = u.run(1, &["archive", "apply", "bad.tar", "laptop"]);
    assert!(err.contains("md5"), "{err}");
    assert_eq!(local_tree(&u.path("laptop")), original);
    assert!(no_stage(&u.path("laptop")));

    // The target cannot take a file (a file sits where the new folder goes): the whole apply fails,
    // the earlier staged file included.
    write(&u.path("laptop"), "zz-new", b"in the way", 1_700_000_000);
    let (_, err) = u.run(1, &["archive", "apply", "--no-delete", "a.tar", "laptop"]);
    assert!(err.contains("zz-new"), "{err}");
    let mut expected = original.clone();
    expected.insert("zz-new".into(), md5_hex(b"in the way"));
    assert_eq!(local_tree(&u.path("laptop")), expected);
    assert!(no_stage(&u.path("laptop")));

    // Cause fixed: the rerun completes; a third run finds everything done.
    std::fs::remove_file(u.path("laptop/zz-new")).expect("rm");
    u.ok(&["archive", "apply", "a.tar", "laptop"]);
    assert_eq!(local_tree(&u.path("laptop")), local_tree(&central));
    let out = u.ok(&["archive", "apply", "a.tar", "laptop"]);
    assert!(out.contains("wrote 0 file(s)") && out.contains("2 already up to date"), "{out}");
}

/// Names JottaCloud cannot store are left out with a note; the rest of the tree still syncs.
#[test]
fn names_the_target_cannot_take_are_reported_not_half_synced() {
    let u = User::new();
    let src = u.path("src");
    library(&src, 4);
    write(&src, "bad\u{1}name.dwg", b"control character in the name", 1_700_000_000);
    let (out, err) = u.run(0, &["sync", "src", "jotta:/Jotta/Archive/names"]);
    // The name is shown with its control character escaped, so the note stays one line.
    assert!(err.contains("skipped bad\\u{1}name.dwg") && err.contains("cannot store"), "{err}");
    assert!(out.contains("4 added"), "{out}");
    let mut expected = local_tree(&src);
    expected.remove("bad\u{1}name.dwg");
    assert_eq!(u.remote_tree("/Jotta/Archive/names"), expected);
}

/// Two guards on where the tools write. Sides that overlap are refused before anything moves (a sync
/// into a folder that holds its source would delete that source). A symbolic link inside a local target
/// is never written through (`sync`, `get -r`, `archive apply`): the writes would leave the target.
#[test]
fn overlapping_sides_and_links_inside_the_target_are_refused() {
    let u = User::new();
    let nest = u.path("nest");
    write(&nest, "child/c.txt", b"c", 1_700_000_000);
    write(&nest, "other/precious.txt", b"p", 1_700_000_000);
    write(&nest, "top.txt", b"t", 1_700_000_000);
    let before = local_tree(&nest);
    for (a, b) in [("nest/child", "nest"), ("nest", "nest/child/deeper"), ("nest", "nest/./")] {
        let (_, err) = u.run(2, &["sync", a, b]);
        assert!(err.contains("overlap") && err.lines().count() == 1, "{a} -> {b}: {err}");
    }
    assert_eq!(local_tree(&nest), before, "nothing moved, nothing deleted");
    u.ok(&["sync", "nest", "jotta:/Jotta/Archive/nest"]);
    let (_, err) = u.run(2, &["sync", "jotta:/Jotta/Archive/nest", "jotta:/Jotta/archive/NEST/inner"]);
    assert!(err.contains("overlap"), "{err}");
    assert!(!u.remote_folders("/Jotta/Archive/nest").iter().any(|f| f.contains("inner")));

    let src = u.path("sl/src");
    write(&src, "sub/x.txt", b"from the source", 1_700_000_000);
    let (dst, outside) = (u.path("sl/dst"), u.path("sl/outside"));
    write(&outside, "x.txt", b"outside the target", 1_700_000_000);
    std::fs::create_dir_all(&dst).expect("dst");
    std::os::unix::fs::symlink("../outside", dst.join("sub")).expect("link");
    let untouched = || assert_eq!(std::fs::read(outside.join("x.txt")).expect("read"), b"outside the target");
    let (_, err) = u.run(1, &["sync", "sl/src", "sl/dst"]);
    assert!(err.contains("symbolic link inside the target"), "{err}");
    untouched();
    u.ok(&["sync", "sl/src", "jotta:/Jotta/Archive/sl"]);
    let (_, err) = u.run(1, &["sync", "jotta:/Jotta/Archive/sl", "sl/dst"]);
    assert!(err.contains("symbolic link inside the target"), "{err}");
    untouched();
    let (_, err) = u.run(1, &["get", "-r", "/Jotta/Archive/sl", "sl/dst"]);
    assert!(err.contains("symbolic link inside the target"), "{err}");
    untouched();
    u.ok(&["index", "create", "sl/dst", "-o", "d.idx"]);
    u.ok(&["archive", "create", "--source", "sl/src", "--against", "d.idx", "-o", "a.tar"]);
    let (_, err) = u.run(1, &["archive", "apply", "a.tar", "sl/dst"]);
    assert!(err.contains("symbolic link inside the target"), "{err}");
    untouched();
    assert_eq!(std::fs::read_dir(&dst).expect("dst").count(), 1, "nothing but the link in the target");
}

/// A name that is a file on one side and a folder on the other converges in one run, both ways and to
/// either kind of DST: the old kind is cleared first (with what an old folder held).
#[test]
fn a_name_that_changed_kind_is_synced_in_one_run() {
    let u = User::new();
    let src = u.path("ty/src");
    write(&src, "p/inner", b"p is a folder now", 1_700_000_000);
    write(&src, "q", b"q is a file now", 1_700_000_000);
    let dst = u.path("ty/dst");
    write(&dst, "p", b"p was a file", 1_600_000_000);
    write(&dst, "q/inner2", b"q was a folder", 1_600_000_000);
    u.ok(&["sync", "ty/src", "ty/dst"]);
    assert_eq!(local_tree(&dst), local_tree(&src));
    let (out, _) = u.run(0, &["sync", "ty/src", "ty/dst"]);
    assert!(out.contains("0 added, 0 changed, 0 deleted"), "converged: {out}");

    let remote = "/Jotta/Archive/ty";
    let old = u.path("ty/old");
    write(&old, "p", b"p was a file", 1_600_000_000);
    write(&old, "q/inner2", b"q was a folder", 1_600_000_000);
    u.ok(&["sync", "ty/old", &format!("jotta:{remote}")]);
    u.ok(&["sync", "ty/src", &format!("jotta:{remote}")]);
    assert_eq!(u.remote_tree(remote), local_tree(&src));
    let back = u.path("ty/back");
    u.ok(&["sync", "ty/old", "ty/back"]);
    u.ok(&["sync", &format!("jotta:{remote}"), "ty/back"]);
    assert_eq!(local_tree(&back), local_tree(&src));
}

/// A small tmpfs as the target, unmounted on drop (the test runs as root, like the mount tests).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).expect("mount point");
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount a tmpfs at {} (the test needs root)", at.display());
        SmallDisk(at.to_path_buf())
    }

    fn grow(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(st.success(), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_disk_that_fills_up_while_applying_leaves_the_target_as_it_was() {
    let u = User::new();
    let central = u.path("central");
    library(&central, 6);
    let disk = SmallDisk::mount(&u.path("laptop"), "256k");
    u.ok(&["sync", "central", "laptop"]);
    u.ok(&["index", "create", "laptop", "-o", "laptop.idx"]);
    write(&central, "district-0/street-0/sketch-00000.dwg", b"a small change", 1_700_000_000);
    write(&central, "big/scan.tif", &pattern(400 * 1024, 5), 1_700_000_000);
    u.ok(&["archive", "create", "--source", "central", "--against", "laptop.idx", "-o", "a.tar"]);
    let before = local_tree(&u.path("laptop"));
    let (_, err) = u.run(1, &["archive", "apply", "a.tar", "laptop"]);
    assert!(err.contains("No space left") && err.contains("free some space and run the command again"), "{err}");
    assert_eq!(local_tree(&u.path("laptop")), before, "nothing applied");
    assert!(!u.path("laptop/big").exists(), "the folder made for the failed file is gone too");

    disk.grow("2m");
    u.ok(&["archive", "apply", "a.tar", "laptop"]);
    assert_eq!(local_tree(&u.path("laptop")), local_tree(&central));
}

/// Remote -> remote: the server copies; no byte travels through this machine.
#[test]
fn remote_to_remote_sync_copies_on_the_server() {
    let u = User::new();
    library(&u.path("src"), 6);
    u.ok(&["sync", "src", "jotta:/Jotta/Archive/a"]);
    u.ok(&["sync", "jotta:/Jotta/Archive/a", "jotta:/Jotta/Archive/b"]);
    assert_eq!(u.remote_tree("/Jotta/Archive/b"), local_tree(&u.path("src")));
    u.svc.put(&u.client, "/Jotta/Archive/a/district-0/street-0/sketch-00000.dwg", b"changed at a");
    u.svc.reset_counters();
    let out = u.ok(&["sync", "jotta:/Jotta/Archive/a", "jotta:/Jotta/Archive/b"]);
    assert!(out.contains("0 added, 1 changed, 0 deleted"), "{out}");
    assert_eq!(u.svc.bytes_received() + u.svc.bytes_sent(), 0, "server-side: {}", u.svc.counters());
    assert_eq!(u.remote_tree("/Jotta/Archive/b"), u.remote_tree("/Jotta/Archive/a"));
}
