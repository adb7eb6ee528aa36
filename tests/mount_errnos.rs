//! The answers at the edges of what JottaCloud can hold, through a real mount and the calls programs
//! make (Python's `os` module, coreutils): mknod, special files, link counts of folders, times on the
//! read-only levels, extended attributes, truncates the cache disk cannot hold, and which times are kept.

mod common;

use common::{TestMount, TestService};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

/// Run a Python statement on `path` (bound to `p`); prints the errno's name if it raised, else OK.
fn py(path: &Path, statement: &str) -> String {
    let script = format!(
        "import errno, os, socket, stat, sys\np = sys.argv[1]\ntry:\n    {statement}\nexcept OSError as e:\n    \
         print(errno.errorcode[e.errno]); sys.exit(0)\nprint('OK')"
    );
    let out = Command::new("python3").arg("-c").arg(script).arg(path).output().expect("python3");
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn mknod_makes_an_empty_file_and_special_files_are_refused_with_eperm() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let mut m = TestMount::new(&svc, "writeback_delay=0.1");
    assert_eq!(py(&m.p("Jotta/Archive/made.txt"), "os.mknod(p)"), "OK");
    let meta = fs::metadata(m.p("Jotta/Archive/made.txt")).unwrap();
    assert!(meta.is_file() && meta.len() == 0, "{meta:?}");
    assert_eq!(py(&m.p("Jotta/Archive/regular"), "os.mknod(p, stat.S_IFREG | 0o644)"), "OK");
    assert_eq!(py(&m.p("Jotta/Archive/fifo"), "os.mkfifo(p)"), "EPERM");
    assert_eq!(py(&m.p("Jotta/Archive/null"), "os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 3))"), "EPERM");
    assert_eq!(py(&m.p("Jotta/Archive/sock"), "socket.socket(socket.AF_UNIX).bind(p)"), "EPERM");
    assert!(!m.p("Jotta/Archive/fifo").exists());
    assert_eq!(m.terminate(), Some(0));
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/made.txt").expect("an empty file on the server"), b"");
    assert!(svc.server_file(&c, "/Jotta/Archive/regular").is_some());
    assert!(svc.server_file(&c, "/Jotta/Archive/fifo").is_none());
}

#[test]
fn a_folders_link_count_is_two_plus_its_subfolders() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/top/sub1/a.txt", b"a");
    svc.put(&c, "/Jotta/Archive/top/sub2/b.txt", b"b");
    svc.put(&c, "/Jotta/Archive/top/file.txt", b"c");
    // Without listings fetched ahead: a subfolder's listing is known only once it is read.
    let m = TestMount::new(&svc, "prefetch=0");
    let top = m.p("Jotta/Archive/top");
    assert_eq!(fs::read_dir(&top).unwrap().count(), 3);
    assert_eq!(fs::metadata(&top).unwrap().nlink(), 4, "2 + sub1 + sub2; the file does not count");
    assert_eq!(fs::metadata(top.join("sub1")).unwrap().nlink(), 1, "not counted before its listing is known");
    assert_eq!(fs::read_dir(top.join("sub1")).unwrap().count(), 1);
    assert_eq!(fs::metadata(top.join("sub1")).unwrap().nlink(), 2, "listed: no subfolders");
    fs::create_dir(top.join("sub3")).unwrap();
    assert_eq!(fs::metadata(&top).unwrap().nlink(), 5);
    assert_eq!(fs::metadata(top.join("sub3")).unwrap().nlink(), 2, "a new empty folder");
    fs::remove_dir(top.join("sub3")).unwrap();
    assert_eq!(fs::metadata(&top).unwrap().nlink(), 4);
    let mount_points = fs::read_dir(m.p("Jotta")).unwrap().count() as u64;
    assert!(mount_points >= 1, "Archive at least");
    assert_eq!(fs::metadata(m.p("Jotta")).unwrap().nlink(), 2 + mount_points, "a device counts its mount points");
}

#[test]
fn setting_times_on_the_root_or_a_device_is_erofs_and_on_a_mount_point_is_accepted() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let m = TestMount::new(&svc, "");
    assert_eq!(py(&m.path, "os.utime(p, (1600000000, 1600000000))"), "EROFS");
    assert_eq!(py(&m.p("Jotta"), "os.utime(p)"), "EROFS");
    let touch = Command::new("touch").arg("-c").arg(m.p("Jotta")).output().unwrap();
    assert!(!touch.status.success(), "touch on a device fails");
    assert_eq!(py(&m.p("Jotta/Archive"), "os.utime(p)"), "OK", "folders take a time (not kept)");
    // Owners and modes are accepted and ignored everywhere, as before.
    assert_eq!(py(&m.path, "os.chmod(p, 0o755)"), "OK");
}

#[test]
fn setting_an_extended_attribute_is_eopnotsupp_and_the_log_says_why() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/f.txt", b"content");
    let m = TestMount::logged(&svc, "");
    let f = m.p("Jotta/Archive/f.txt");
    // On Linux EOPNOTSUPP and ENOTSUP are one number (95); Python names it ENOTSUP.
    assert_eq!(libc::EOPNOTSUPP, libc::ENOTSUP);
    assert_eq!(py(&f, "os.setxattr(p, 'user.color', b'red')"), "ENOTSUP");
    assert_eq!(py(&f, "os.setxattr(p, 'user.jotta.md5', b'0' * 32)"), "ENOTSUP");
    assert_eq!(py(&f, "os.removexattr(p, 'user.jotta.md5')"), "ENOTSUP");
    assert_eq!(
        py(&f, "print(os.getxattr(p, 'user.jotta.md5').decode())"),
        format!("{}\nOK", common::md5_hex(b"content"))
    );
    // `cp -a` and `rsync -X` try attributes on every file: the refusal is told once, not once per file.
    for i in 0..5 {
        assert_eq!(py(&f, &format!("os.setxattr(p, 'user.copied{i}', b'{i}')")), "ENOTSUP");
    }
    let log = m.log();
    let told = log.matches("JottaCloud keeps no extended attributes").count();
    assert_eq!(told, 1, "the log says why, once: {log}");
}

#[test]
fn fallocate_grows_a_file_or_reserves_space_and_other_modes_are_eopnotsupp() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let mut m = TestMount::new(&svc, "writeback_delay=0.1");
    let f = m.p("Jotta/Archive/pre.bin");
    // What download managers and `rsync --preallocate` do: allocate, then write into the range.
    let script = "fd = os.open(p, os.O_CREAT | os.O_WRONLY); os.posix_fallocate(fd, 0, 3 << 20); \
                  os.pwrite(fd, b'head', 0); os.close(fd)";
    assert_eq!(py(&f, script), "OK");
    assert_eq!(fs::metadata(&f).unwrap().len(), 3 << 20);
    // FALLOC_FL_KEEP_SIZE reserves without growing; punching a hole is refused.
    let fallocate = |args: &[&str]| Command::new("fallocate").args(args).arg(&f).output().expect("fallocate");
    let kept = fallocate(&["--keep-size", "--length", "8MiB"]);
    assert!(kept.status.success(), "{}", String::from_utf8_lossy(&kept.stderr));
    assert_eq!(fs::metadata(&f).unwrap().len(), 3 << 20);
    let punched = fallocate(&["--punch-hole", "--offset", "0", "--length", "4096"]);
    let said = String::from_utf8_lossy(&punched.stderr);
    assert!(!punched.status.success() && said.contains("supported"), "refused as unsupported: {said}");
    let mut want = vec![0u8; 3 << 20];
    want[..4].copy_from_slice(b"head");
    assert!(fs::read(&f).unwrap() == want);
    assert_eq!(m.terminate(), Some(0));
    assert!(svc.server_bytes(&c, "/Jotta/Archive/pre.bin").unwrap() == want, "uploaded as written");
}

#[test]
fn a_lookup_of_a_name_that_cannot_exist_answers_as_a_local_disk_does() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let m = TestMount::logged(&svc, "");
    let dir = m.p("Jotta/Archive");
    let not_utf8 = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    assert_eq!(fs::metadata(&not_utf8).unwrap_err().raw_os_error(), Some(libc::ENOENT));
    let long = dir.join("n".repeat(300));
    assert_eq!(fs::metadata(&long).unwrap_err().raw_os_error(), Some(libc::ENAMETOOLONG));
    let log = m.log();
    assert!(!log.contains("WARN"), "probing names is not worth a warning: {log}");
}

#[test]
fn truncate_to_a_size_the_cache_disk_cannot_hold_is_efbig() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let mut m = TestMount::new(&svc, "writeback_delay=0.1");
    let f = m.p("Jotta/Archive/grow.bin");
    fs::write(&f, b"kept as it was").unwrap();
    assert_eq!(py(&f, "os.truncate(p, 1 << 60)"), "EFBIG");
    assert_eq!(py(&f, "fd = os.open(p, os.O_WRONLY); os.ftruncate(fd, 1 << 60)"), "EFBIG");
    let t = Command::new("truncate").args(["-s", "1E"]).arg(&f).output().unwrap();
    assert!(String::from_utf8_lossy(&t.stderr).contains("too large"), "{}", String::from_utf8_lossy(&t.stderr));
    assert_eq!(fs::read(&f).unwrap(), b"kept as it was");
    assert_eq!(py(&f, "os.truncate(p, 4)"), "OK", "a size that fits is fine");
    assert_eq!(m.terminate(), Some(0));
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/grow.bin").unwrap(), b"kept");
}

#[test]
fn truncate_past_the_free_space_of_a_small_cache_disk_is_efbig() {
    if common::skip_without_mount() {
        return;
    }
    common::fuse_available();
    let svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let cache = base.path().join("small-cache");
    fs::create_dir_all(&cache).unwrap();
    let ok =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"]).arg(&cache).status().unwrap();
    assert!(ok.success(), "mounting a tmpfs for the test");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(cache.clone());
    let opts = format!("writeback_delay=0.1,cache_dir={}", cache.display());
    let mut m = TestMount::in_dir(&svc, &opts, &[], base.path());
    let f = m.p("Jotta/Archive/sparse.bin");
    // A sparse staging file would take 8 MiB on a 4 MiB disk without complaint.
    assert_eq!(py(&f, "open(p, 'wb').close(); os.truncate(p, 8 << 20)"), "EFBIG");
    assert_eq!(fs::metadata(&f).unwrap().len(), 0);
    // The same for fallocate; a reservation the disk cannot hold is ENOSPC, and leaves the size alone.
    assert_eq!(py(&f, "fd = os.open(p, os.O_WRONLY); os.posix_fallocate(fd, 0, 8 << 20)"), "EFBIG");
    let kept = Command::new("fallocate").args(["--keep-size", "--length", "8MiB"]).arg(&f).output().unwrap();
    let said = String::from_utf8_lossy(&kept.stderr);
    assert!(!kept.status.success() && said.contains("No space left"), "{said}");
    assert_eq!(fs::metadata(&f).unwrap().len(), 0);
    assert_eq!(py(&f, "os.truncate(p, 1 << 20)"), "OK");
    assert_eq!(m.terminate(), Some(0));
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/sparse.bin").unwrap(), vec![0u8; 1 << 20]);
}

#[test]
fn times_kept_are_the_mtime_to_the_second_atime_not_and_ctime_locally() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "writeback_delay=0.1", &[], base.path());
    let f = m.p("Jotta/Archive/timed.txt");
    fs::write(&f, b"times").unwrap();
    let mtime = UNIX_EPOCH + Duration::new(1_600_000_000, 750_000_000);
    let atime = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let file = fs::File::options().write(true).open(&f).unwrap();
    file.set_times(fs::FileTimes::new().set_modified(mtime).set_accessed(atime)).unwrap();
    drop(file);
    let started = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 - 1;
    let check = |meta: fs::Metadata, when: &str, changed_here: bool| {
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_600_000_000, 0), "mtime to the second ({when})");
        assert_eq!((meta.atime(), meta.atime_nsec()), (1_600_000_000, 0), "atime shows the mtime ({when})");
        if changed_here {
            assert!(meta.ctime() >= started, "ctime is when this mount changed the file ({when})");
        } else {
            assert_eq!((meta.ctime(), meta.ctime_nsec()), (1_600_000_000, 0), "ctime shows the mtime ({when})");
        }
    };
    check(fs::metadata(&f).unwrap(), "set here", true);
    assert_eq!(fs::read(&f).unwrap(), b"times");
    check(fs::metadata(&f).unwrap(), "after a read", true);
    assert_eq!(m.terminate(), Some(0));
    let on_server = svc.server_file(&c, "/Jotta/Archive/timed.txt").unwrap();
    assert_eq!(on_server.modified(), Some(1_600_000_000), "JottaCloud keeps the second");
    let m = TestMount::in_dir(&svc, "", &[], base.path());
    check(fs::metadata(m.p("Jotta/Archive/timed.txt")).unwrap(), "next mount", false);
}

/// `rename` with `RENAME_NOREPLACE` (`mv --no-clobber` on newer coreutils, and programs that must not
/// overwrite) moves onto a free name and refuses a taken one with `EEXIST`, also one made on the service
/// after it was seen missing; `RENAME_EXCHANGE` is `EINVAL`.
#[test]
fn rename_noreplace_moves_onto_a_free_name_and_refuses_a_taken_one() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    // Listings trusted for no time: a name made on the service shows at the next look.
    let m = TestMount::new(&svc, "dir_cache=0");
    let d = m.p("Jotta/Archive");
    fs::write(d.join("a.txt"), b"a").unwrap();
    fs::write(d.join("b.txt"), b"b").unwrap();
    let rename2 = |from: &str, to: &str, flags: libc::c_uint| {
        let (f, t) = (d.join(from), d.join(to));
        let (f, t) = (
            std::ffi::CString::new(f.to_str().unwrap()).unwrap(),
            std::ffi::CString::new(t.to_str().unwrap()).unwrap(),
        );
        // SAFETY: two valid NUL-terminated paths, resolved from the current directory's descriptor.
        let rc = unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), flags) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error())
        }
    };
    assert_eq!(rename2("a.txt", "b.txt", libc::RENAME_NOREPLACE), Err(Some(libc::EEXIST)));
    assert_eq!(fs::read(d.join("b.txt")).unwrap(), b"b", "nothing replaced");
    // A name seen missing, then made on the service behind the mount's back.
    assert!(fs::metadata(d.join("c.txt")).is_err());
    svc.put(&c, "/Jotta/Archive/c.txt", b"from elsewhere");
    assert_eq!(rename2("a.txt", "c.txt", libc::RENAME_NOREPLACE), Err(Some(libc::EEXIST)));
    assert_eq!(rename2("a.txt", "d.txt", libc::RENAME_NOREPLACE), Ok(()));
    assert_eq!(fs::read(d.join("d.txt")).unwrap(), b"a");
    assert_eq!(rename2("b.txt", "d.txt", libc::RENAME_EXCHANGE), Err(Some(libc::EINVAL)));
}
