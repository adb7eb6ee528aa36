//! Errors the core gives the kernel: each failure its own `FsError` (one errno each), a failing service
//! never reported as success.

use crate::common::in_process::Core;
use jottafuse::emulator::{FailNext, FaultConfig};
use jottafuse::remote::ItemKind;
use jottafuse::remote::Remote;
use jottafuse::vfs::FsError;
use jottafuse::vfs::OpenMode;
use std::time::Duration;

#[test]
fn wrong_names_and_kinds_get_their_own_errors() {
    let c = Core::new();
    c.mkdir("dir").unwrap();
    c.write_new("file", b"x").unwrap();
    assert_eq!(c.ino("missing").unwrap_err().errno(), libc::ENOENT);
    assert_eq!(c.rmdir("file").unwrap_err(), FsError::NotADirectory);
    assert_eq!(c.unlink("dir").unwrap_err(), FsError::IsADirectory);
    assert_eq!(c.mkdir("dir").unwrap_err().errno(), libc::EEXIST);
    assert_eq!(c.ino("file/below").unwrap_err(), FsError::NotADirectory);
    assert_eq!(c.unlink("missing").unwrap_err(), FsError::NotFound);
    assert_eq!(c.fs.read(9999, 0, 10).unwrap_err(), FsError::BadHandle);
}

#[test]
fn a_listing_the_service_fails_is_an_error_not_an_empty_folder() {
    let c = Core::with(|cfg| cfg.dir_ttl = Duration::ZERO);
    c.put_elsewhere("sub/x.txt", b"data");
    c.service.set_faults(FaultConfig {
        fail_next: vec![FailNext { kind: "list".into(), status: 500, count: 1 }],
        ..FaultConfig::default()
    });
    let e = c.names("sub").unwrap_err();
    assert_eq!(e.errno(), libc::EIO, "{e}");
    // The fault was for one request: the next listing works.
    assert_eq!(c.names("sub").unwrap(), ["x.txt"]);
}

#[test]
fn a_download_the_service_fails_is_eio() {
    let c = Core::with(|cfg| cfg.dir_ttl = Duration::ZERO);
    c.put_elsewhere("r.bin", &crate::common::pattern(10_000, 7));
    let ino = c.ino("r.bin").unwrap();
    c.service.set_faults(FaultConfig {
        fail_next: vec![FailNext { kind: "download".into(), status: 500, count: 100 }],
        ..FaultConfig::default()
    });
    let fh = c.fs.open(ino, OpenMode::Read).unwrap().fh;
    let e = c.fs.read(fh, 0, 4096).unwrap_err();
    assert_eq!(e.errno(), libc::EIO, "{e}");
    c.fs.release(fh).unwrap();
}

#[test]
fn a_download_of_a_file_deleted_elsewhere_is_enoent_not_eio() {
    let c = Core::with(|cfg| cfg.dir_ttl = Duration::ZERO);
    c.put_elsewhere("gone.bin", &crate::common::pattern(10_000, 3));
    let ino = c.ino("gone.bin").unwrap();
    let fh = c.fs.open(ino, OpenMode::Read).unwrap().fh;
    // Another client deletes it for good while it is open here: the read learns it from the download.
    c.rt.block_on(c.other.delete_permanently(&c.remote_path("gone.bin"), ItemKind::File)).expect("delete elsewhere");
    let before = c.requests("download");
    let e = c.fs.read(fh, 0, 4096).unwrap_err();
    assert_eq!(e, FsError::NotFound, "{e}");
    // Gone is not a failure worth retrying.
    assert_eq!(c.requests("download") - before, 1);
    c.fs.release(fh).unwrap();
}
