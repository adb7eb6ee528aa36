//! Offline synchronisation onto JottaCloud as a user runs it: the index of a remote folder is taken, an
//! archive of a local library's differences is made against it and applied to the remote folder with the
//! real `jotta` binary, against the emulator on loopback. Trees are compared file by file, by md5 of the
//! bytes downloaded. Also: a remote target that drifted, `--force`, an apply cut short by failing uploads
//! and the rerun that finishes it, and names the target cannot take (remote and local) refused before
//! anything changes.

mod common;

use common::trees::{library, local_folders, local_tree, write, User};
use common::{md5_hex, pattern, rp};
use jottafuse::remote::{Item, Remote};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

const FIELD: &str = "/Jotta/Archive/field";

/// A library on this machine and its copy on JottaCloud, indexed: (user, index file name).
fn library_and_remote_copy(n: usize) -> User {
    let u = User::new();
    library(&u.path("central"), n);
    u.ok(&["sync", "central", &format!("jotta:{FIELD}")]);
    let out = u.ok(&["index", "create", &format!("jotta:{FIELD}"), "-o", "field.idx"]);
    assert!(out.contains(&format!("{n} files")), "{out}");
    u
}

fn in_trash(u: &User, path: &str) -> bool {
    match u.svc.rt.block_on(u.client.stat_including_trash(&rp(path))) {
        Ok(Item::File(f)) => f.deleted.is_some(),
        Ok(Item::Folder(l)) => l.deleted.is_some(),
        Err(_) => false,
    }
}

/// Scenario 2 with JottaCloud as the copy to bring up to date.
#[test]
fn offline_sync_onto_a_remote_folder_end_to_end() {
    let u = library_and_remote_copy(30);
    let central = u.path("central");
    write(&central, "district-0/street-0/sketch-00000.dwg", b"v2 of the first sketch, now longer", 1_700_000_000);
    std::fs::remove_file(central.join("district-1/street-1/sketch-00001.dwg")).expect("rm");
    write(&central, "district-5/fresh/new-00001.dwg", &pattern(70_000, 9), 1_700_000_001);
    std::fs::remove_dir_all(central.join("empty")).expect("rm folder");
    u.ok(&["archive", "create", "--source", "central", "--against", "field.idx", "-o", "changes.tar.gz"]);

    let out = u.ok(&["archive", "apply", "changes.tar.gz", &format!("jotta:{FIELD}")]);
    assert!(out.contains("wrote 2 file(s)") && out.contains("0 already up to date"), "{out}");
    assert_eq!(u.remote_tree(FIELD), local_tree(&central), "every file, md5 by md5");
    assert_eq!(u.remote_folders(FIELD), local_folders(&central));
    // Deletions went to the trash, where they can be restored from.
    assert!(in_trash(&u, &format!("{FIELD}/district-1/street-1/sketch-00001.dwg")));
    assert!(in_trash(&u, &format!("{FIELD}/empty")));
    // The server keeps the source's mtimes, so an index of it diffs as equal by time too.
    u.ok(&["index", "create", "central", "-o", "central.idx"]);
    u.ok(&["index", "create", &format!("jotta:{FIELD}"), "-o", "after.idx"]);
    let d = u.ok(&["index", "diff", "--by-time", "central.idx", "after.idx"]);
    assert!(d.contains("0 added, 0 changed, 0 removed"), "{d}");
    // Running it again sends nothing.
    u.svc.reset_counters();
    let out = u.ok(&["archive", "apply", "changes.tar.gz", &format!("jotta:{FIELD}")]);
    assert!(out.contains("wrote 0 file(s)") && out.contains("2 already up to date"), "{out}");
    assert_eq!(u.svc.requests("allocate"), 0, "{}", u.svc.counters());
    // The work folder went with the run, and what a killed run had left there goes with the next one;
    // the folders are the user's alone, whatever the command's umask.
    let work = u.cache_home.join("jottafuse/archive-apply");
    std::fs::create_dir_all(work.join("999999999-1/files")).expect("a killed run's work folder");
    write(&central, "district-0/late.dwg", b"one more", 1_700_000_002);
    u.ok(&["archive", "create", "--source", "central", "--against", "after.idx", "-o", "more.tar"]);
    u.ok(&["archive", "apply", "more.tar", &format!("jotta:{FIELD}")]);
    assert_eq!(std::fs::read_dir(&work).expect("work folder").count(), 0, "nothing left in {}", work.display());
    use std::os::unix::fs::PermissionsExt;
    for d in [work.clone(), u.cache_home.join("jottafuse")] {
        let mode = std::fs::metadata(&d).expect("folder").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
}

#[test]
fn a_drifted_remote_target_is_refused_unless_forced() {
    let u = library_and_remote_copy(10);
    let central = u.path("central");
    write(&central, "district-0/street-0/sketch-00000.dwg", b"new at the library", 1_700_000_000);
    u.ok(&["archive", "create", "--source", "central", "--against", "field.idx", "-o", "a.tar"]);

    // Someone changes the remote copy after its index was taken.
    u.svc.put(&u.client, &format!("{FIELD}/district-1/street-1/sketch-00001.dwg"), b"edited in the field");
    u.svc.put(&u.client, &format!("{FIELD}/field-note.txt"), b"added in the field");
    let before = u.remote_tree(FIELD);
    u.svc.reset_counters();
    let (_, err) = u.run(1, &["archive", "apply", "a.tar", &format!("jotta:{FIELD}")]);
    assert!(err.contains("changed: district-1/street-1/sketch-00001.dwg"), "{err}");
    assert!(err.contains("added: field-note.txt"), "{err}");
    assert!(err.contains("2 path(s) changed since the index") && err.contains("--force"), "{err}");
    assert_eq!(u.remote_tree(FIELD), before, "nothing applied");
    assert_eq!(u.svc.requests("allocate"), 0, "nothing sent: {}", u.svc.counters());

    // Add-only tolerates additions, not edits.
    let (_, err) = u.run(1, &["archive", "apply", "--no-delete", "a.tar", &format!("jotta:{FIELD}")]);
    assert!(err.contains("1 path(s) changed") && !err.contains("field-note"), "{err}");

    u.ok(&["archive", "apply", "--force", "a.tar", &format!("jotta:{FIELD}")]);
    let now = u.remote_tree(FIELD);
    assert_eq!(now["district-0/street-0/sketch-00000.dwg"], md5_hex(b"new at the library"));
    assert_eq!(now["district-1/street-1/sketch-00001.dwg"], md5_hex(b"edited in the field"));
    assert_eq!(now["field-note.txt"], md5_hex(b"added in the field"), "the archive does not know it: kept");
}

/// Every upload is cut after 1,000 bytes until the client gives up: the apply fails with no file
/// half-visible and nothing deleted; the second run resumes the uploads and finishes.
#[test]
fn an_apply_cut_short_is_finished_by_the_next_run() {
    let u = library_and_remote_copy(8);
    let central = u.path("central");
    let big = |seed| pattern(64 * 1024, seed);
    write(&central, "district-0/street-0/sketch-00000.dwg", &big(1), 1_700_000_000);
    write(&central, "new/plan-a.dwg", &big(2), 1_700_000_000);
    write(&central, "new/plan-b.dwg", &big(3), 1_700_000_000);
    std::fs::remove_file(central.join("district-2/street-2/sketch-00002.dwg")).expect("rm");
    u.ok(&["archive", "create", "--source", "central", "--against", "field.idx", "-o", "a.tar"]);
    let before = u.remote_tree(FIELD);

    u.svc.set_faults(serde_json::json!({"drop_next": [{"kind": "upload", "after_bytes": 1000, "count": 1000}]}));
    let (_, err) = u.run(1, &["archive", "apply", "a.tar", &format!("jotta:{FIELD}")]);
    assert!(err.contains("3 of 3 upload(s) failed") && err.contains("run the command again"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(u.remote_tree(FIELD), before, "no half-written file visible, nothing deleted");
    assert!(u.svc.server_file(&u.client, &format!("{FIELD}/new/plan-a.dwg")).is_none());

    u.svc.set_faults(serde_json::json!({}));
    u.svc.reset_counters();
    let out = u.ok(&["archive", "apply", "a.tar", &format!("jotta:{FIELD}")]);
    assert!(out.contains("wrote 3 file(s)"), "{out}");
    assert_eq!(u.remote_tree(FIELD), local_tree(&central));
    assert!(u.svc.bytes_received() < 3 * 64 * 1024, "resumed, not sent again: {}", u.svc.counters());
}

/// Rewrite an archive as another producer could have made it: the file `from` renamed `to` in the
/// manifest and in the archive's files (the archive's own checks still pass).
fn rename_in_archive(src: &Path, dst: &Path, from: &str, to: &str) {
    let mut tar = tar::Archive::new(std::fs::File::open(src).expect("open archive"));
    let mut out = tar::Builder::new(std::fs::File::create(dst).expect("create archive"));
    for e in tar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read entry");
        let (name, data) = if name == "jotta-archive.json" {
            let mut m: serde_json::Value = serde_json::from_slice(&data).expect("manifest");
            for f in m["files"].as_array_mut().expect("files") {
                if f["path"] == from {
                    f["path"] = to.into();
                }
            }
            (name, serde_json::to_vec(&m).expect("json"))
        } else if name == format!("files/{from}") {
            (format!("files/{to}"), data)
        } else {
            (name, data)
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        out.append_data(&mut h, name, &data[..]).expect("append");
    }
    out.finish().expect("finish");
}

/// Names the target cannot take stop the apply before anything changes, with one line naming the file
/// (none of the other files is applied); the apply of a fixed archive then completes.
#[test]
fn names_the_target_cannot_take_stop_the_apply_before_anything_changes() {
    let u = library_and_remote_copy(6);
    let central = u.path("central");
    write(&central, "district-0/street-0/sketch-00000.dwg", b"changed at the library", 1_700_000_000);
    write(&central, "new/plan.dwg", b"a new plan", 1_700_000_000);
    u.ok(&["archive", "create", "--source", "central", "--against", "field.idx", "-o", "good.tar"]);

    // Remote: names JottaCloud refuses (the emulator refuses the same: control characters, > 255).
    let before = u.remote_tree(FIELD);
    let long = format!("{}.dwg", "n".repeat(300));
    for bad in ["new/bad\u{1}name.dwg", &format!("new/{long}")] {
        rename_in_archive(&u.path("good.tar"), &u.path("bad.tar"), "new/plan.dwg", bad);
        u.svc.reset_counters();
        let (_, err) = u.run(1, &["archive", "apply", "bad.tar", &format!("jotta:{FIELD}")]);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(&format!("{FIELD}/new/")) && err.contains("JottaCloud cannot store"), "{err}");
        assert!(err.contains("nothing was applied"), "{err}");
        assert_eq!(u.remote_tree(FIELD), before, "none of the files applied");
        assert_eq!(u.svc.requests("allocate"), 0, "{}", u.svc.counters());
    }
    u.ok(&["archive", "apply", "good.tar", &format!("jotta:{FIELD}")]);
    assert_eq!(u.remote_tree(FIELD), local_tree(&central));

    // Local: a name longer than the filesystem's 255 bytes.
    u.ok(&["sync", "--no-delete", &format!("jotta:{FIELD}"), "laptop"]);
    let laptop: BTreeMap<String, String> = local_tree(&u.path("laptop"));
    u.ok(&["index", "create", "laptop", "-o", "laptop.idx"]);
    write(&central, "district-1/street-1/sketch-00001.dwg", b"changed again", 1_700_000_100);
    // A name of 250 bytes is fine on both sides (and its staging name must fit too).
    let fits = format!("{}.dwg", "f".repeat(246));
    write(&central, &format!("new/{fits}"), b"a long but valid name", 1_700_000_100);
    u.ok(&["archive", "create", "--source", "central", "--against", "laptop.idx", "-o", "good2.tar"]);
    rename_in_archive(&u.path("good2.tar"), &u.path("bad2.tar"), &format!("new/{fits}"), &format!("new/{long}"));
    let (_, err) = u.run(1, &["archive", "apply", "bad2.tar", "laptop"]);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("304 bytes, longer than this filesystem takes (255)"), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    assert_eq!(local_tree(&u.path("laptop")), laptop, "none of the files applied, no staging file left");
    u.ok(&["archive", "apply", "good2.tar", "laptop"]);
    assert_eq!(local_tree(&u.path("laptop")), local_tree(&central));
}
