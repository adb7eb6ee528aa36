//! Folders and names: what mkdir, create, rename, unlink and rmdir do on the service, case rules, the
//! read-only top levels, and changes made by another client.

use crate::common::in_process::Core;
use crate::common::pattern;
use jottafuse::vfs::FsError;
use std::time::Duration;

#[test]
fn mkdir_create_and_rename_reach_the_service() {
    let c = Core::new();
    c.mkdir("docs").unwrap();
    c.write_new("docs/a.txt", b"first draft").unwrap();
    c.rename("docs/a.txt", "docs/b.txt").unwrap();
    assert_eq!(c.names("docs").unwrap(), ["b.txt"]);
    assert_eq!(c.drain(), 0);
    assert!(c.server_has_folder("docs"));
    assert_eq!(c.server_bytes("docs/b.txt").as_deref(), Some(&b"first draft"[..]));
    assert_eq!(c.server_bytes("docs/a.txt"), None, "the old name is gone");
}

#[test]
fn renaming_a_folder_moves_its_files_on_the_service() {
    let c = Core::new();
    c.mkdir("old").unwrap();
    c.write_new("old/f.bin", &pattern(70_000, 3)).unwrap();
    assert_eq!(c.drain(), 0);
    c.rename("old", "new").unwrap();
    assert_eq!(c.names("").unwrap(), ["new"]);
    assert_eq!(c.names("new").unwrap(), ["f.bin"]);
    assert_eq!(c.server_bytes("new/f.bin"), Some(pattern(70_000, 3)));
    assert!(!c.server_has_folder("old"));
}

#[test]
fn names_keep_their_case_and_are_taken_in_every_casing() {
    let c = Core::new();
    c.write_new("Report.TXT", b"q3").unwrap();
    // A lookup answers only for the spelling that exists (so that `create` sees the other spelling and
    // refuses it), but the name is taken in every casing.
    c.ino("Report.TXT").unwrap();
    assert_eq!(c.ino("report.txt").unwrap_err(), FsError::NotFound);
    let root = c.ino("").unwrap();
    assert_eq!(c.fs.create(root, "REPORT.txt").unwrap_err(), FsError::Exists);
    assert_eq!(c.fs.mkdir(root, "report.TXT").unwrap_err(), FsError::Exists);
    assert_eq!(c.names("").unwrap(), ["Report.TXT"]);
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("report.txt").as_deref(), Some(&b"q3"[..]));
}

#[test]
fn rmdir_refuses_a_folder_with_files_and_removes_an_empty_one() {
    let c = Core::new();
    c.mkdir("d").unwrap();
    c.write_new("d/f", b"x").unwrap();
    // Uploaded first, so this checks rmdir's rule alone. (An unlink racing the end of the file's
    // upload was once seen to leave rmdir answering ENOTEMPTY; not explained yet.)
    assert_eq!(c.drain(), 0);
    assert_eq!(c.rmdir("d").unwrap_err(), FsError::NotEmpty);
    c.unlink("d/f").unwrap();
    c.rmdir("d").unwrap();
    assert_eq!(c.ino("d").unwrap_err(), FsError::NotFound);
    assert_eq!(c.drain(), 0);
    assert!(!c.server_has_folder("d"));
    assert_eq!(c.server_bytes("d/f"), None);
}

#[test]
fn unlink_of_an_uploaded_file_moves_it_to_the_trash() {
    let c = Core::new();
    c.write_new("gone.txt", b"bye").unwrap();
    assert_eq!(c.drain(), 0);
    c.unlink("gone.txt").unwrap();
    assert_eq!(c.server_bytes("gone.txt"), None);
    let trash = c.rt.block_on(jottafuse::remote::Remote::trash(&c.other)).unwrap();
    assert!(trash.files.iter().any(|f| f.name == "gone.txt"), "in the trash: {trash:?}");
}

#[test]
fn a_file_added_elsewhere_shows_once_the_listing_expires() {
    let c = Core::with(|cfg| cfg.dir_ttl = Duration::ZERO);
    assert!(c.names("").unwrap().is_empty());
    c.put_elsewhere("from-phone.jpg", &pattern(5000, 9));
    assert_eq!(c.names("").unwrap(), ["from-phone.jpg"]);
    assert_eq!(c.attr("from-phone.jpg").unwrap().size, 5000);
    assert_eq!(c.read_all("from-phone.jpg").unwrap(), pattern(5000, 9));
}

#[test]
fn the_account_root_devices_and_mount_points_are_read_only() {
    let c = Core::with(|cfg| cfg.root = jottafuse::remote::RemotePath::root());
    assert!(c.names("").unwrap().contains(&"Jotta".to_string()));
    let mount_points = c.names("Jotta").unwrap();
    assert!(mount_points.contains(&"Archive".to_string()), "{mount_points:?}");
    for pseudo in ["Trash", "Latest", "Links"] {
        assert!(!mount_points.contains(&pseudo.to_string()), "{pseudo} is not a folder: {mount_points:?}");
    }
    assert!(matches!(c.mkdir("NewDevice"), Err(FsError::ReadOnly(_))));
    assert!(matches!(c.mkdir("Jotta/NewMountPoint"), Err(FsError::ReadOnly(_))));
    let jotta = c.ino("Jotta").unwrap();
    assert!(matches!(c.fs.create(jotta, "file.txt"), Err(FsError::ReadOnly(_))));
    // Inside a mount point everything is writable.
    c.write_new("Jotta/Archive/ok.txt", b"fine").unwrap();
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("ok.txt").as_deref(), Some(&b"fine"[..]));
}

#[test]
fn a_file_unlinked_while_its_upload_is_held_never_appears_on_the_service() {
    use jottafuse::emulator::FaultConfig;
    let c = Core::new();
    c.mkdir("d").unwrap();
    assert_eq!(c.drain(), 0);
    // The service holds the byte transfer: the allocate is done, the upload is in flight.
    c.hang("upload");
    c.write_new("d/f", b"x").unwrap();
    crate::common::wait_until("the upload to be in flight", || c.requests("upload") >= 1);
    c.unlink("d/f").unwrap();
    c.service.set_faults(FaultConfig::default());
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("d/f"), None);
    c.rmdir("d").unwrap();
    assert!(!c.server_has_folder("d"));
}

/// A file unlinked while its upload is in flight, the upload landing after the unlink's own delete: until
/// that upload's end removes it again, a fresh listing of the folder must not show it, and a crash in
/// between must not bring it back (what the model test found, made deterministic here).
#[test]
fn a_file_unlinked_while_its_upload_is_in_flight_stays_gone_while_the_upload_lands() {
    use jottafuse::emulator::FaultConfig;
    let mut c = Core::with(|cfg| cfg.dir_ttl = Duration::ZERO);
    c.mkdir("d").unwrap();
    assert_eq!(c.drain(), 0);
    c.hang("upload");
    c.write_new("d/f", b"unlinked content").unwrap();
    crate::common::wait_until("the upload to be in flight", || c.requests("upload") >= 1);
    c.unlink("d/f").unwrap();
    // The upload lands now; the delete that its end sends is held.
    c.hang("delete");
    crate::common::wait_until("the upload to land", || c.server_bytes("d/f").is_some());
    assert_eq!(c.names("d").unwrap(), Vec::<String>::new(), "a fresh listing leaves the unlinked file out");
    c.crash();
    c.service.set_faults(FaultConfig::default());
    c.restart();
    assert_eq!(c.names("d").unwrap(), Vec::<String>::new(), "after a crash the unlinked file stays gone");
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("d/f"), None);
}

/// rsync's temp file renamed over an uploaded file, then deleted (or renamed away) before its own upload
/// ran: the service's old version at that name must go too, or it comes back at the next listing.
#[test]
fn a_new_file_renamed_over_an_uploaded_one_then_deleted_leaves_nothing_on_the_service() {
    let mut c = Core::with(|cfg| cfg.writeback_delay = Duration::from_secs(600));
    c.write_new("a.txt", b"old version").unwrap();
    c.write_new("b.txt", b"old b").unwrap();
    assert_eq!(c.drain(), 0);
    c.write_new(".a.txt.tmp", b"new version").unwrap();
    c.rename(".a.txt.tmp", "a.txt").unwrap();
    c.unlink("a.txt").unwrap();
    c.write_new(".b.txt.tmp", b"new b").unwrap();
    c.rename(".b.txt.tmp", "b.txt").unwrap();
    c.rename("b.txt", "c.txt").unwrap();
    assert_eq!(c.names("").unwrap(), ["c.txt"]);
    assert_eq!(c.server_bytes("a.txt"), None, "the unlinked name is gone from the service at once");
    assert_eq!(c.server_bytes("b.txt"), None, "the old name is gone from the service at once");
    c.crash();
    c.restart();
    assert_eq!(c.names("").unwrap(), ["c.txt"], "after a crash, nothing unlinked comes back");
    assert_eq!(c.read_all("c.txt").unwrap(), b"new b");
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("c.txt").as_deref(), Some(&b"new b"[..]));
    assert_eq!(c.server_bytes("b.txt"), None);
}

/// A file renamed while a new version's upload is in flight, then kill -9 before that upload ended: the
/// old name must not come back (the server still had it, with the earlier version), the new name shows
/// the newest content at once, and after the uploads only the new name is on the service.
#[test]
fn a_file_renamed_while_its_upload_is_in_flight_does_not_come_back_after_a_crash() {
    use jottafuse::emulator::FaultConfig;
    let mut c = Core::new();
    c.write_new("old.txt", b"first version").unwrap();
    assert_eq!(c.drain(), 0);
    c.hang("upload");
    c.overwrite("old.txt", b"second version").unwrap();
    crate::common::wait_until("the upload to be in flight", || c.requests("upload") >= 1);
    c.rename("old.txt", "new.txt").unwrap();
    assert_eq!(c.names("").unwrap(), ["new.txt"]);
    c.crash();
    c.service.set_faults(FaultConfig::default());
    c.restart();
    assert_eq!(c.names("").unwrap(), ["new.txt"], "the old name stays gone after the crash");
    assert_eq!(c.read_all("new.txt").unwrap(), b"second version");
    assert_eq!(c.drain(), 0);
    assert_eq!(c.server_bytes("old.txt"), None);
    assert_eq!(c.server_bytes("new.txt").as_deref(), Some(&b"second version"[..]));
}

/// A new time set on a recovered file just as its upload runs (the race the model test found): the
/// upload that carried the earlier time must not take the file's record and staging file with it, or the
/// new time never reaches the service and the record is retried forever without its content.
#[test]
fn a_time_set_while_a_recovered_upload_runs_reaches_the_service() {
    for round in 0..20 {
        let mut c = Core::new();
        c.write_new("b", &pattern(2455, 83)).unwrap();
        c.crash();
        c.restart();
        let ino = c.ino("b").unwrap();
        c.fs.setattr(ino, None, Some(1_580_663_595)).unwrap();
        c.mkdir("e").unwrap();
        c.write_new("a", &pattern(2979, 234)).unwrap();
        assert_eq!(c.drain(), 0, "round {round}: everything reached the service");
        let item = c.rt.block_on(jottafuse::remote::Remote::stat(&c.other, &c.remote_path("b"))).unwrap();
        let jottafuse::remote::Item::File(info) = item else { panic!("b is a file") };
        assert_eq!(info.modified(), Some(1_580_663_595), "round {round}");
        assert_eq!(c.server_bytes("b"), Some(pattern(2455, 83)));
    }
}

/// `d/b` on the service, and `d/a` just written with its upload held on the service's side: the state in
/// which `mv d/b d/a` cancels an upload in flight and moves a file on the server.
fn uploaded_b_and_a_uploading() -> Core {
    let c = Core::new();
    c.mkdir("d").unwrap();
    c.write_new("d/b", &pattern(2545, 1)).unwrap();
    assert_eq!(c.drain(), 0);
    c.hang("upload");
    c.write_new("d/a", &pattern(2174, 2)).unwrap();
    crate::common::wait_until("the upload of d/a to reach the service", || c.requests("upload") == 1);
    c
}

/// After `mv d/b d/a`: the moved file alone, here and on the service.
fn only_the_moved_file_stands(c: &Core) {
    let moved = pattern(2545, 1);
    assert_eq!(c.names("d").unwrap(), ["a"]);
    assert!(c.read_all("d/a").unwrap() == moved, "d/a reads as the moved file");
    assert_eq!(c.drain(), 0);
    assert!(c.server_bytes("d/a") == Some(moved), "the moved file is the current version on the service");
    assert_eq!(c.server_bytes("d/b"), None);
}

fn held(kinds: &[&str]) -> Option<jottafuse::emulator::Hang> {
    Some(jottafuse::emulator::Hang { kinds: kinds.iter().map(|k| k.to_string()).collect(), max_ms: 60_000 })
}

/// `mv uploaded target` while the target's own upload is in flight: that upload is cancelled, and when
/// it ends its leftover on the server is cleaned up. The server move may be applied by then with its
/// answer still on the way; the cleanup must not take the moved file for the leftover and delete it.
#[test]
fn a_file_moved_over_one_being_uploaded_survives_that_upload_ending() {
    use jottafuse::emulator::FaultConfig;
    let c = uploaded_b_and_a_uploading();
    // The move is applied at once, its answer held; the upload stays held until then.
    c.service.set_faults(FaultConfig {
        hang: held(&["upload"]),
        hold_answers: held(&["move"]),
        ..FaultConfig::default()
    });
    std::thread::scope(|s| {
        let mv = s.spawn(|| c.rename("d/b", "d/a"));
        crate::common::wait_until("the move to be applied", || c.server_bytes("d/a") == Some(pattern(2545, 1)));
        // The cancelled upload ends while the move's answer is on its way. Nothing outside shows when
        // the core has taken that end in (it waits for the move now); a core without that wait deleted
        // the moved file within milliseconds.
        c.service.set_faults(FaultConfig { hold_answers: held(&["move"]), ..FaultConfig::default() });
        std::thread::sleep(Duration::from_millis(300));
        c.service.set_faults(FaultConfig::default());
        mv.join().unwrap().unwrap();
    });
    only_the_moved_file_stands(&c);
}

/// The same move, its answer lost (a gateway timing out after the service made it; a move is never
/// retried): the mount looks, finds the file moved, and shows it there, so the cancelled upload's
/// cleanup does not take it for a leftover.
#[test]
fn a_move_whose_answer_is_lost_is_found_made() {
    use jottafuse::emulator::{FailNext, FaultConfig};
    let c = uploaded_b_and_a_uploading();
    c.service.set_faults(FaultConfig {
        hang: held(&["upload"]),
        fail_after_next: vec![FailNext { kind: "move".into(), status: 504, count: 1 }],
        ..FaultConfig::default()
    });
    c.rename("d/b", "d/a").expect("the move was made");
    c.service.set_faults(FaultConfig::default());
    only_the_moved_file_stands(&c);
}
