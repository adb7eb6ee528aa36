//! Parser tests on the project's own reply documents in `tests/fixtures/jfs/`: one fixture per response
//! shape of the protocol reference, each with assertions on what the parser must make of it. The fixtures
//! ship with the repository, so these run in any clone; the captured real replies are an extra check
//! (`captured_tests.rs`).

use super::*;
use crate::remote::http::error_from_reply;
use std::path::PathBuf;

const USER: &str = "k2m8q4w9v1x7z3c5";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jfs")
}

/// A JFS time as the parser should have read it.
fn at(s: &str) -> Option<UnixTime> {
    time::parse(s).expect("test time in JFS form")
}

fn named<'a>(files: &'a [FileInfo], name: &str) -> &'a FileInfo {
    files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no file {name}"))
}

type Check = fn(&[u8]);

/// Every fixture and what must be read from it. A fixture without an entry fails `every_fixture_is_checked`.
const CHECKS: &[(&str, Check)] = &[
    ("user.xml", user),
    ("user_free_quota_locked.xml", user_free_quota_locked),
    ("device.xml", device),
    ("device_new_without_mount_points.xml", device_new_without_mount_points),
    ("mount_point.xml", mount_point),
    ("mount_point_empty.xml", mount_point_empty),
    ("folder.xml", folder),
    ("folder_deleted.xml", folder_deleted),
    ("file.xml", file),
    ("file_incomplete.xml", file_incomplete),
    ("file_corrupt_with_size.xml", file_corrupt_with_size),
    ("file_bare_revision.xml", file_bare_revision),
    ("file_deleted.xml", file_deleted),
    ("file_shared.xml", file_shared),
    ("enable_sharing_2014.xml", enable_sharing_2014),
    ("upload_reply_corrupt.xml", upload_reply_corrupt),
    ("upload_reply_incomplete_new.xml", upload_reply_incomplete_new),
    ("upload_reply_overwrite.xml", upload_reply_overwrite),
    ("filedirlist.xml", filedirlist),
    ("liststream.xml", liststream),
    ("trash.xml", trash),
    ("links.xml", links),
    ("latest_empty.xml", latest_empty),
    ("error_no_such_file.xml", error_no_such_file),
    ("error_no_such_mount_point.xml", error_no_such_mount_point),
    ("error_bad_credentials.xml", error_bad_credentials),
    ("error_undecodable_path.xml", error_undecodable_path),
];

#[test]
fn every_fixture_is_checked() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap_or_else(|e| panic!("{}: {e}", fixtures_dir().display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    on_disk.sort();
    let mut checked: Vec<String> = CHECKS.iter().map(|(n, _)| n.to_string()).collect();
    checked.sort();
    assert_eq!(on_disk, checked, "fixtures on disk and fixtures checked differ");
    for (name, check) in CHECKS {
        let body = std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&body);
    }
}

/// Each fixture cut short anywhere is a one-line `Protocol` error from its parser, never a panic or a
/// half-read document passed off as whole.
#[test]
fn every_fixture_cut_short_is_a_protocol_error() {
    for (name, _) in CHECKS {
        let body = std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let end = body.iter().rposition(|b| *b == b'>').expect("a closing tag");
        // Keep the declaration at least, then cut at a spread of points including just before the end.
        for cut in [40, body.len() / 3, body.len() / 2, end.saturating_sub(3), end] {
            let part = &body[..cut.min(end)];
            let results = [
                parse_account(part).map(|_| ()),
                parse_device(part).map(|_| ()),
                parse_listing(part).map(|_| ()),
                parse_file(part).map(|_| ()),
                parse_filedirlist(part).map(|_| ()),
                parse_searchresult(part).map(|_| ()),
                parse_liststream(part, "/Archive/recipes").map(|_| ()),
            ];
            for r in results {
                let e = r.expect_err(&format!("{name} cut at {cut} must not parse"));
                assert!(matches!(e, RemoteError::Protocol(_)), "{name} cut at {cut}: {e}");
                assert!(!e.to_string().contains('\n'), "{name}: one-line message: {e}");
            }
        }
    }
}

fn user(body: &[u8]) {
    let a = parse_account(body).unwrap();
    assert_eq!((a.username.as_str(), a.account_type.as_str()), (USER, "unlimited"));
    // -1 is unlimited: None, not a huge number.
    assert_eq!((a.capacity, a.usage, a.read_locked, a.write_locked), (None, 73_400_320, false, false));
    assert_eq!(a.devices.len(), 2);
    let jotta = &a.devices[0];
    assert!(jotta.is_builtin());
    assert_eq!(jotta.display_name.as_deref(), Some("Jotta"));
    assert_eq!(jotta.sid.as_deref(), Some("0d6b3f5e-8a41-4c2e-9b7d-2e5f1a9c4b80"));
    assert_eq!(jotta.modified, at("2025-06-10-T21:04:59Z"));
    // A device without display_name and with an empty <modified>, its name with a space kept.
    let laptop = &a.devices[1];
    assert_eq!((laptop.name.as_str(), laptop.device_type.as_str()), ("garage laptop", "LAPTOP"));
    assert!(!laptop.is_builtin());
    assert_eq!((laptop.display_name.as_deref(), laptop.modified, laptop.size), (None, None, 0));
}

fn user_free_quota_locked(body: &[u8]) {
    let a = parse_account(body).unwrap();
    assert_eq!(a.account_type, "free");
    assert_eq!((a.capacity, a.usage), (Some(5_368_709_120), 5_368_709_120));
    // A full quota locks writes even though write-locked itself is false.
    assert!(a.write_locked && !a.read_locked);
    // No <devices> at all is an empty list, not an error.
    assert!(a.devices.is_empty());
}

fn device(body: &[u8]) {
    let d = parse_device(body).unwrap();
    assert!(d.device.is_builtin());
    assert_eq!(d.device.size, 73_400_320);
    let got: Vec<_> = d.mount_points.iter().map(|m| (m.name.as_str(), m.deleted.is_some())).collect();
    assert_eq!(got, [("Holiday2019", true), ("Archive", false), ("Latest", false), ("Shared", false), ("Sync", false)]);
    // On mount points <deleted> is a child element, not an attribute.
    assert_eq!(d.mount_points[0].deleted, at("2025-01-20-T16:45:00Z"));
    assert_eq!((d.mount_points[0].size, d.mount_points[0].modified), (20_480, at("2025-01-19-T10:00:00Z")));
    assert_eq!((d.mount_points[2].size, d.mount_points[2].modified), (0, None));
}

fn device_new_without_mount_points(body: &[u8]) {
    let d = parse_device(body).unwrap();
    assert_eq!((d.device.name.as_str(), d.device.device_type.as_str()), ("garage laptop", "LAPTOP"));
    assert!(d.mount_points.is_empty());
    // A device is not something a plain GET of a path may return.
    assert!(matches!(parse_item(body), Err(RemoteError::Protocol(_))));
}

fn mount_point(body: &[u8]) {
    let l = parse_listing(body).unwrap();
    assert_eq!((l.name.as_str(), l.is_mount_point, l.deleted), ("Archive", true, None));
    assert_eq!(l.modified, at("2025-06-10-T21:04:59Z"));
    let folders: Vec<_> = l.folders.iter().map(|f| (f.name.as_str(), f.deleted.is_some())).collect();
    assert_eq!(folders, [("recipes", false), ("tax 2023", true)]);
    assert_eq!(l.folders[1].abspath.as_deref(), Some("/k2m8q4w9v1x7z3c5/Jotta/Archive"));
    let f = &l.files[0];
    assert_eq!((f.name.as_str(), f.size(), f.is_live()), ("shopping.txt", 21, true));
    assert_eq!(f.uuid.as_deref(), Some("4e0c7b2a-91d3-4f58-a6e1-3b9d8c7f2e10"));
    // Listing entries carry no path of their own.
    assert_eq!(f.abspath, None);
    assert!(matches!(parse_item(body).unwrap(), Item::Folder(ref x) if x.is_mount_point));
}

fn mount_point_empty(body: &[u8]) {
    let l = parse_listing(body).unwrap();
    assert_eq!((l.name.as_str(), l.modified), ("Scans", None));
    assert!(l.is_mount_point && l.folders.is_empty() && l.files.is_empty());
}

fn folder(body: &[u8]) {
    let l = parse_listing(body).unwrap();
    assert_eq!((l.name.as_str(), l.is_mount_point, l.deleted), ("recipes", false, None));
    let folders: Vec<_> = l.folders.iter().map(|f| (f.name.as_str(), f.deleted.is_some())).collect();
    assert_eq!(folders, [("baking", false), ("Soups", false), ("old drafts", true)]);
    // A sub-folder's own <modified> child is its time; absent is None.
    assert_eq!((l.folders[0].modified, l.folders[1].modified), (at("2025-04-18-T06:00:00Z"), None));
    assert_eq!(l.files.len(), 5);

    let bread = named(&l.files, "bread.md");
    assert!(bread.is_live());
    // Upper-case md5 on the wire, lower case for everyone else.
    assert_eq!(bread.md5(), Some("b1946ac92492d2347c6235b4d2611184"));
    assert_eq!(bread.modified(), at("2025-03-09-T18:30:00Z"));
    let r = bread.current.as_ref().unwrap();
    assert_eq!((r.number, r.created, r.updated), (3, at("2025-03-02-T10:11:12Z"), at("2025-03-09-T18:30:04Z")));
    assert_eq!(r.mime.as_deref(), Some("text/markdown"));

    let burnt = named(&l.files, "burnt.md");
    assert_eq!(burnt.deleted, at("2025-05-30-T19:20:03Z"));
    assert!(!burnt.is_live());
    assert_eq!(burnt.abspath.as_deref(), Some("/k2m8q4w9v1x7z3c5/Jotta/Archive/recipes"));

    // Only an INCOMPLETE attempt: not live, and a listing gives it no size.
    let cookbook = named(&l.files, "cookbook.pdf");
    assert!(cookbook.current.is_none() && !cookbook.is_live());
    assert_eq!(cookbook.latest.as_ref().map(|r| (r.state, r.size)), Some((RevisionState::Incomplete, None)));

    // A good revision and a newer CORRUPT attempt: the good one is what the file is.
    let pasta = named(&l.files, "pasta.md");
    assert!(pasta.is_live());
    assert_eq!((pasta.size(), pasta.md5()), (512, Some("0cc175b9c0f1b6a831c399e269772661")));
    let latest = pasta.latest.as_ref().unwrap();
    assert_eq!((latest.number, latest.state, latest.size), (3, RevisionState::Corrupt, None));
    assert_eq!(latest.md5.as_deref(), Some("92eb5ffee6ae2fec3ad71c777531578f"));

    // A state nobody has seen in a reply, and empty <mime>/<updated>: read, not refused, and not live.
    let spices = named(&l.files, "spices.csv");
    let r = spices.current.as_ref().unwrap();
    assert_eq!((r.state, r.mime.as_deref(), r.updated, r.size), (RevisionState::Other, None, None, Some(77)));
    assert!(!spices.is_live());
}

fn folder_deleted(body: &[u8]) {
    let l = parse_listing(body).unwrap();
    assert_eq!((l.name.as_str(), l.deleted), ("old drafts", at("2025-05-30-T19:22:41Z")));
    assert!(l.files.is_empty());
    assert_eq!(l.folders.len(), 1);
    assert!(l.folders[0].deleted.is_some());
}

fn file(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert_eq!((f.name.as_str(), f.size(), f.is_live()), ("bread.md", 1843, true));
    assert_eq!(f.abspath.as_deref(), Some("/k2m8q4w9v1x7z3c5/Jotta/Archive/recipes"));
    assert_eq!(f.md5(), Some("b1946ac92492d2347c6235b4d2611184"));
    assert!(f.latest.is_none() && f.public_uri.is_none());
    // Older revisions newest first, any state, failed ones without a size.
    let older: Vec<_> = f.revisions.iter().map(|r| (r.number, r.state, r.size)).collect();
    assert_eq!(older, [(2, RevisionState::Corrupt, None), (1, RevisionState::Completed, Some(1790))]);
    assert!(matches!(parse_item(body).unwrap(), Item::File(ref x) if x.name == "bread.md"));
}

fn file_incomplete(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert!(f.current.is_none() && !f.is_live());
    assert_eq!((f.size(), f.md5()), (0, None));
    // The single-file GET does give an INCOMPLETE revision its size so far.
    let r = f.latest.as_ref().unwrap();
    assert_eq!((r.number, r.state, r.size), (1, RevisionState::Incomplete, Some(3_145_728)));
}

fn file_corrupt_with_size(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert!(f.current.is_none() && !f.is_live());
    let r = f.latest.as_ref().unwrap();
    assert_eq!((r.number, r.state, r.size), (2, RevisionState::Corrupt, Some(884_736)));
}

fn file_bare_revision(body: &[u8]) {
    // A <revision> straight under <file> is filed where its state says: CORRUPT is the latest attempt.
    let f = parse_file(body).unwrap();
    assert!(f.current.is_none() && f.revisions.is_empty() && !f.is_live());
    assert_eq!(f.latest.as_ref().map(|r| (r.number, r.state)), Some((4, RevisionState::Corrupt)));
}

fn file_deleted(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert_eq!(f.deleted, at("2025-05-30-T19:20:03Z"));
    // Deleted yet COMPLETED: in the trash, so not live.
    assert_eq!(f.current.as_ref().map(|r| r.state), Some(RevisionState::Completed));
    assert!(!f.is_live());
    assert_eq!((f.size(), f.md5()), (0, Some("d41d8cd98f00b204e9800998ecf8427e")));
}

fn file_shared(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert_eq!(f.public_uri.as_deref(), Some("5e1d0c9b8a7f46e3b2d1c0f9e8a7b6c5"));
    assert!(f.is_live());
    assert_eq!(f.size(), 512);
}

fn enable_sharing_2014(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert_eq!((f.name.as_str(), f.public_uri.as_deref()), ("pasta.md", Some("7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2")));
    assert_eq!(f.abspath, None);
}

fn upload_reply_corrupt(body: &[u8]) {
    let f = parse_file(body).unwrap();
    // Upload replies may carry no path at all.
    assert_eq!(f.abspath, None);
    // The previous good revision stays current; the failed attempt is the latest.
    assert!(f.is_live());
    assert_eq!((f.size(), f.md5()), (8192, Some("5d41402abc4b2a76b9719d911017c592")));
    assert_eq!(f.latest.as_ref().map(|r| (r.number, r.state, r.size)), Some((6, RevisionState::Corrupt, None)));
}

fn upload_reply_incomplete_new(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert!(f.current.is_none() && !f.is_live() && f.abspath.is_none());
    assert_eq!(f.latest.as_ref().map(|r| (r.state, r.size)), Some((RevisionState::Incomplete, None)));
}

fn upload_reply_overwrite(body: &[u8]) {
    let f = parse_file(body).unwrap();
    assert!(f.is_live() && f.latest.is_none());
    assert_eq!(f.current.as_ref().map(|r| r.number), Some(7));
    assert_eq!(f.md5(), Some("7d793037a0760186574b0282f2f435e7"));
    let states: Vec<_> = f.revisions.iter().map(|r| (r.number, r.state)).collect();
    assert_eq!(states, [(6, RevisionState::Corrupt), (5, RevisionState::Completed), (4, RevisionState::Incomplete)]);
}

fn filedirlist(body: &[u8]) {
    let folders = parse_filedirlist(body).unwrap();
    let got: Vec<_> = folders.iter().map(|f| (f.name.as_str(), f.files.len())).collect();
    // The empty folder has no <files> element.
    assert_eq!(got, [("Archive", 1), ("recipes", 3), ("baking", 0)]);
    assert_eq!(folders[2].parent.as_deref(), Some("/k2m8q4w9v1x7z3c5/Jotta/Archive/recipes"));
    let recipes = &folders[1].files;
    assert!(named(recipes, "bread.md").is_live());
    assert!(named(recipes, "burnt.md").deleted.is_some());
    assert!(!named(recipes, "cookbook.pdf").is_live());
}

fn liststream(body: &[u8]) {
    let t = parse_liststream(body, "/Archive/recipes").unwrap();
    assert_eq!(t.folders, ["baking", "Soups/winter"]);
    assert_eq!(t.files.len(), 2);
    let bread = &t.files[0];
    assert_eq!((bread.parent.as_str(), bread.name.as_str(), bread.size), ("", "bread.md", 1843));
    assert_eq!(bread.md5, "b1946ac92492d2347c6235b4d2611184");
    // RFC 3339 with milliseconds here, whole seconds for us.
    assert_eq!((bread.modified, bread.created), (at("2025-03-09-T18:30:00Z"), at("2025-03-02-T10:11:12Z")));
    // An escaped name, a '+' that stays a '+', empty times.
    let soup = &t.files[1];
    assert_eq!((soup.parent.as_str(), soup.name.as_str()), ("Soups/winter", "leek & potato+1.md"));
    assert_eq!((soup.size, soup.modified, soup.created), (0, None, None));
    // The service is case-insensitive: a listing asked for in other casing is the same listing.
    assert_eq!(parse_liststream(body, "/archive/RECIPES").unwrap(), t);
    // A path outside the listed folder means the reply is not the listing asked for.
    assert!(matches!(parse_liststream(body, "/Archive/recipes/baking"), Err(RemoteError::Protocol(_))));
}

fn trash(body: &[u8]) {
    let l = parse_listing(body).unwrap();
    assert_eq!((l.name.as_str(), l.is_mount_point, l.modified), ("Trash", true, None));
    assert!(l.folders.iter().all(|f| f.deleted.is_some()));
    // A deleted mount point shows as a folder whose abspath is its device.
    assert_eq!(l.folders[0].abspath.as_deref(), Some("/k2m8q4w9v1x7z3c5/Jotta"));
    assert!(l.files.iter().all(|f| f.deleted.is_some() && !f.is_live()));
    let notes = named(&l.files, "notes.odt");
    assert_eq!(notes.abspath.as_deref(), Some("/k2m8q4w9v1x7z3c5/garage laptop/Documents"));
    assert_eq!(notes.size(), 24_576);
}

fn links(body: &[u8]) {
    let files = parse_searchresult(body).unwrap();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.public_uri.is_some()));
    assert!(files[0].is_live());
    // Links keep shared files that were deleted since.
    assert!(files[1].deleted.is_some());
    assert_eq!(files[1].abspath.as_deref(), Some("/k2m8q4w9v1x7z3c5/garage laptop/Documents"));
}

fn latest_empty(body: &[u8]) {
    assert!(parse_searchresult(body).unwrap().is_empty());
}

fn error_no_such_file(body: &[u8]) {
    let e = parse_error(body).unwrap();
    assert_eq!((e.code, e.reason.as_str()), (Some(404), "Not Found"));
    assert!(e.message.starts_with("no.jotta.backup.errors.NoSuchFileException: Source file /k2m8q4w9v1x7z3c5/"));
    // <code> wins over the HTTP status.
    assert!(matches!(error_from_reply(500, body, "stat /x"), RemoteError::NotFound(_)));
    // An error is not any other document.
    assert!(matches!(parse_file(body), Err(RemoteError::Protocol(_))));
    assert!(matches!(parse_listing(body), Err(RemoteError::Protocol(_))));
}

fn error_no_such_mount_point(body: &[u8]) {
    let e = parse_error(body).unwrap();
    assert_eq!(e.message, "no.jotta.backup.errors.NoSuchMountPointException");
    assert!(matches!(error_from_reply(404, body, "list /Jotta/Nope"), RemoteError::NotFound(_)));
}

fn error_bad_credentials(body: &[u8]) {
    let e = parse_error(body).unwrap();
    assert_eq!((e.code, e.reason.as_str()), (Some(401), "Unauthorized"));
    assert!(matches!(error_from_reply(401, body, "account"), RemoteError::Unauthorized(_)));
}

fn error_undecodable_path(body: &[u8]) {
    assert_eq!(parse_error(body).unwrap().code, Some(400));
    assert!(matches!(error_from_reply(400, body, "stat /x"), RemoteError::InvalidName(_)));
}
