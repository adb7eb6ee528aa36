//! The optional check against captured real JottaCloud replies: runs when `JOTTA_CAPTURED_DIR` names a
//! folder of them (`.ci/run` sets it when the captured replies sit beside the clone). The captures are not part
//! of the repository, so without the variable the test says it was skipped instead of passing as if it
//! had read them.

use super::*;
use std::io::Write;
use std::path::PathBuf;

/// The folder named by `JOTTA_CAPTURED_DIR`, or `None` after saying on the terminal that the check is
/// skipped. The line goes straight to stderr: the test harness hides `eprintln!` of passing tests.
fn captured_dir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("JOTTA_CAPTURED_DIR").filter(|d| !d.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED every_captured_reply_parses: JOTTA_CAPTURED_DIR is not set (point it at a folder of \
             captured JottaCloud replies to compare the parser with them)"
        );
        return None;
    };
    let dir = PathBuf::from(dir);
    assert!(dir.is_dir(), "JOTTA_CAPTURED_DIR={} is not a folder", dir.display());
    Some(dir)
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn file_named<'a>(files: &'a [FileInfo], name: &str) -> &'a FileInfo {
    files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no file {name}"))
}

#[test]
fn every_captured_reply_parses() {
    let Some(dir) = captured_dir() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("captured dir readable")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    assert!(names.len() >= 27, "expected the 27 captured replies, found {}", names.len());
    for name in &names {
        let body = read(&dir, name);
        let checked = check_captured(name, &body);
        assert!(checked, "{name}: no parser assigned; add it to check_captured");
    }
}

/// Parse one capture with the parser that serves it and check real values. False if unknown.
fn check_captured(name: &str, body: &[u8]) -> bool {
    let lower = |s: &str| s.chars().all(|c| !c.is_ascii_uppercase());
    match name {
        "User.xml" => {
            let a = parse_account(body).unwrap();
            assert_eq!((a.username.as_str(), a.account_type.as_str()), ("user01", "unlimited"));
            assert_eq!((a.capacity, a.usage, a.read_locked, a.write_locked), (None, 156_876, false, false));
            assert_eq!(a.devices.len(), 1);
            assert_eq!(a.devices[0].name, "Jotta");
            assert_eq!(a.devices[0].sid.as_deref(), Some("94f8ebe1-32ce-4fa3-8f47-452cb1552d31"));
            assert_eq!(a.devices[0].modified, time::parse("2017-03-02-T11:10:14Z").unwrap());
        }
        "Device.xml" => {
            let d = parse_device(body).unwrap();
            assert_eq!((d.device.name.as_str(), d.device.size), ("Jotta", 108_697_072));
            let got: Vec<_> = d.mount_points.iter().map(|m| (m.name.as_str(), m.deleted.is_some())).collect();
            assert_eq!(
                got,
                [
                    ("AONTestMount", true),
                    ("AONTestMount2", true),
                    ("Archive", false),
                    ("Latest", false),
                    ("Shared", false),
                    ("Sync", false)
                ]
            );
            assert_eq!(d.mount_points[0].deleted, time::parse("2017-03-06-T10:45:57Z").unwrap());
            assert_eq!(d.mount_points[1].modified, None);
            assert_eq!(d.mount_points[2].size, 86_734_506);
        }
        "MountPointDeletePermanentPostResponse.xml" => {
            let d = parse_device(body).unwrap();
            assert_eq!((d.device.name.as_str(), d.device.device_type.as_str()), ("PC01", "WORKSTATION"));
            assert!(d.mount_points.is_empty());
        }
        "MountPoint.xml" | "MountPointCreatePostResponse.xml" => {
            let l = parse_listing(body).unwrap();
            assert!(l.is_mount_point && l.deleted.is_none());
            if name == "MountPoint.xml" {
                assert_eq!(l.name, "Archive");
                assert_eq!(l.folders.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["Test"]);
                assert_eq!((l.files[0].name.as_str(), l.files[0].size()), ("AUTHORS.md", 318));
            } else {
                assert_eq!((l.name.as_str(), l.modified), ("Test2", None));
                assert!(l.folders.is_empty() && l.files.is_empty());
            }
        }
        "Trash.xml" => {
            let l = parse_listing(body).unwrap();
            assert_eq!((l.name.as_str(), l.folders.len(), l.files.len()), ("Trash", 8, 3));
            assert!(l.folders.iter().all(|f| f.deleted.is_some()));
            assert!(l.files.iter().all(|f| f.deleted.is_some() && !f.is_live()));
            assert_eq!(l.folders[1].abspath.as_deref(), Some("/user01/PC01"));
            assert_eq!(file_named(&l.files, "cli.py").size(), 28_596);
        }
        "Folder.xml" => {
            let l = parse_listing(body).unwrap();
            assert_eq!((l.name.as_str(), l.is_mount_point, l.deleted), ("Test", false, None));
            let folders: Vec<_> = l.folders.iter().map(|f| (f.name.as_str(), f.deleted.is_some())).collect();
            assert_eq!(folders, [("contrib", false), ("Duplicati", false), ("NewSubfolder", true)]);
            assert_eq!(l.files.len(), 8);
            assert!(file_named(&l.files, "qt.py").deleted.is_some());
            assert!(file_named(&l.files, "cli.py").is_live());
            assert_eq!(file_named(&l.files, "cli.py").current.as_ref().map(|r| r.number), Some(2));
            assert_eq!(file_named(&l.files, "__init__.py").md5(), Some("48022a5ef9eca64885c330e2e427a1ed"));
        }
        "FolderDeleted.xml" => {
            let l = parse_listing(body).unwrap();
            assert_eq!(l.name, "Archive");
            assert_eq!(l.deleted, time::parse("2017-03-04-T19:09:21Z").unwrap());
            assert!(l.folders[0].deleted.is_some());
        }
        "FolderWithCorruptAndIncompleteFiles.xml" => {
            let l = parse_listing(body).unwrap();
            assert_eq!((l.name.as_str(), l.files.len()), ("NewSubfolder", 6));
            let md5 = file_named(&l.files, "jottafuse.py").md5().unwrap();
            assert_eq!(md5, "59c4bd52ec0e2f4bb8ac230266b2d358");
            let corrupt = file_named(&l.files, "_corrupt_file_");
            assert!(corrupt.current.is_none() && !corrupt.is_live());
            assert_eq!(corrupt.latest.as_ref().map(|r| (r.state, r.size)), Some((RevisionState::Corrupt, None)));
            let inc = file_named(&l.files, "_incomplete_file_");
            assert_eq!(inc.latest.as_ref().map(|r| r.state), Some(RevisionState::Incomplete));
            let prev = file_named(&l.files, "_previously_corrupt_file_");
            assert!(prev.is_live());
            assert_eq!(prev.size(), 7);
            let latest_md5 = prev.latest.as_ref().and_then(|r| r.md5.clone()).unwrap();
            assert_eq!(latest_md5, "68eacb97d86f0c462fff2b0e17cabd8c");
        }
        "File.xml" => {
            let f = parse_file(body).unwrap();
            assert_eq!((f.name.as_str(), f.size(), f.is_live()), ("AUTHORS.md", 318, true));
            assert_eq!(f.uuid.as_deref(), Some("2a9c996f-3ff7-4910-bd9b-6c944700281e"));
            assert_eq!(f.abspath.as_deref(), Some("/user01/Jotta/Archive"));
            assert_eq!(f.modified(), time::parse("2017-03-02-T11:10:13Z").unwrap());
            assert_eq!(f.current.as_ref().and_then(|r| r.mime.as_deref()), Some("application/octet-stream"));
        }
        "FileCorrupt.xml" => {
            let f = parse_file(body).unwrap();
            assert!(f.current.is_none() && !f.is_live());
            assert_eq!(f.latest.as_ref().map(|r| (r.state, r.number)), Some((RevisionState::Corrupt, 3)));
        }
        "FileIncomplete.xml" => {
            let f = parse_file(body).unwrap();
            let r = f.latest.as_ref().unwrap();
            assert_eq!((r.state, r.size), (RevisionState::Incomplete, Some(100_483_008)));
            assert!(f.current.is_none());
        }
        "FileDeleted.xml" | "FileDeletePostResponse.xml" => {
            let f = parse_file(body).unwrap();
            assert!(f.deleted.is_some() && !f.is_live());
            assert_eq!(f.current.as_ref().map(|r| r.state), Some(RevisionState::Completed));
        }
        "FileMovePostResponse.xml" => {
            let f = parse_file(body).unwrap();
            assert_eq!(f.name, "jottacloud_renamed.py");
            assert_eq!(f.uuid.as_deref(), Some("07d52b07-2cdf-4e72-9ff3-349053b58352"));
            assert!(f.is_live());
        }
        "FileEnableShare.xml" | "FileDisableShare.xml" => {
            let f = parse_file(body).unwrap();
            assert_eq!((f.name.as_str(), f.size()), ("empty.proto", 2422));
            let want = (name == "FileEnableShare.xml").then_some("c8d5d14fa0b7458a8221452e0ff60bda");
            assert_eq!(f.public_uri.as_deref(), want);
        }
        "FileWithHistory.xml" => {
            let f = parse_file(body).unwrap();
            assert_eq!(f.current.as_ref().map(|r| r.number), Some(10));
            assert_eq!(f.revisions.iter().map(|r| r.number).collect::<Vec<_>>(), [9, 8, 7, 6]);
            assert_eq!(f.public_uri.as_deref(), Some("2d7994106f034a60b3eb1542167ee783"));
            assert_eq!(f.md5(), Some("7909481653b3e89780847b08407db8be"));
        }
        n if n.starts_with("FileUploadPostResponse") => {
            let f = parse_file(body).unwrap();
            assert_eq!(f.name, "PI-10000000.txt");
            assert!(f.md5().map(lower).unwrap_or(false), "{n}: md5 lowercased");
            match n {
                "FileUploadPostResponseCorrupt.xml" => {
                    assert_eq!(f.latest.as_ref().map(|r| (r.state, r.size)), Some((RevisionState::Corrupt, None)));
                    assert_eq!(f.abspath, None);
                }
                "FileUploadPostResponseIncomplete.xml" => {
                    assert_eq!(f.latest.as_ref().map(|r| r.state), Some(RevisionState::Incomplete));
                }
                "FileUploadPostResponseUpdateSuccess.xml" => {
                    let states: Vec<_> = f.revisions.iter().map(|r| r.state).collect();
                    assert_eq!(states[2], RevisionState::Incomplete);
                    assert_eq!(f.current.as_ref().map(|r| r.number), Some(17));
                }
                _ => assert!(f.is_live() && f.latest.is_none()),
            }
        }
        "FileDirList.xml" => {
            let folders = parse_filedirlist(body).unwrap();
            let got: Vec<_> = folders.iter().map(|f| (f.name.as_str(), f.files.len())).collect();
            assert_eq!(got, [("Archive", 1), ("Test", 8), ("contrib", 3)]);
            assert_eq!(folders[2].parent.as_deref(), Some("/user01/Jotta/Archive/Test"));
            assert_eq!(file_named(&folders[2].files, "__init__.py").size(), 0);
        }
        "SearchResult.xml" | "Links.xml" => {
            let files = parse_searchresult(body).unwrap();
            if name == "Links.xml" {
                assert_eq!(files.len(), 4);
                assert!(files.iter().all(|f| f.public_uri.is_some() && f.deleted.is_some()));
                assert_eq!(files[2].abspath.as_deref(), Some("/user01/PC01/AsusWRT"));
            } else {
                assert_eq!(files.len(), 12);
                assert_eq!(files[6].abspath.as_deref(), Some("/user01/Jotta/Archive/Test/contrib"));
                assert!(files.iter().all(FileInfo::is_live));
            }
        }
        _ => return false,
    }
    true
}
