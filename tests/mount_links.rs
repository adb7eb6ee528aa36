//! Symbolic links through real FUSE mounts against the emulator, in rclone's `--links` convention: with
//! `-o links`, files `NAME.rclonelink` that another client stored show as links `NAME`, and links made
//! on the mount land on the server as such files (journaled like any file); without it, `symlink()` is
//! `EPERM` and `.rclonelink` files are ordinary files.

mod common;

use common::{wait_until, TestMount, TestService};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn rclonelink_files_from_another_client_show_as_symlinks_with_links_and_as_files_without() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/l/target.txt", b"hello");
    svc.put(&c, "/Jotta/Archive/l/to-file.rclonelink", b"target.txt");
    svc.put(&c, "/Jotta/Archive/l/far.rclonelink", b"/nowhere/at all");
    // A real file beside a link file of the same name: the real one keeps the name.
    svc.put(&c, "/Jotta/Archive/l/clash", b"real");
    svc.put(&c, "/Jotta/Archive/l/clash.rclonelink", b"target.txt");

    let m = TestMount::new(&svc, "links");
    let dir = m.p("Jotta/Archive/l");
    assert_eq!(names(&dir), ["clash", "clash.rclonelink", "far", "target.txt", "to-file"]);
    let link = dir.join("to-file");
    let meta = fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "{meta:?}");
    assert_eq!(meta.len(), "target.txt".len() as u64);
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("target.txt"));
    assert_eq!(fs::read(&link).unwrap(), b"hello", "the link is followed");
    assert_eq!(fs::read_link(dir.join("far")).unwrap(), PathBuf::from("/nowhere/at all"));
    let kinds: BTreeMap<String, bool> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().into_string().unwrap(), e.file_type().unwrap().is_symlink()))
        .collect();
    assert!(kinds["to-file"], "{kinds:?}");
    assert!(!kinds["clash"] && !kinds["clash.rclonelink"], "{kinds:?}");
    assert_eq!(fs::read(dir.join("clash")).unwrap(), b"real");
    assert_eq!(fs::read(dir.join("clash.rclonelink")).unwrap(), b"target.txt");
    assert!(fs::symlink_metadata(dir.join("to-file.rclonelink")).is_err(), "a link is not shown twice");
    drop(m);

    let m = TestMount::new(&svc, "");
    let dir = m.p("Jotta/Archive/l");
    assert_eq!(names(&dir), ["clash", "clash.rclonelink", "far.rclonelink", "target.txt", "to-file.rclonelink"]);
    let meta = fs::symlink_metadata(dir.join("to-file.rclonelink")).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(fs::read(dir.join("to-file.rclonelink")).unwrap(), b"target.txt");
}

#[test]
fn symlinks_made_on_the_mount_land_on_the_server_as_rclonelink_files() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/s/keep.txt", b"x");
    let m = TestMount::new(&svc, "links,writeback_delay=0");
    let dir = m.p("Jotta/Archive/s");
    symlink("../other/place", dir.join("lnk")).unwrap();
    assert_eq!(fs::read_link(dir.join("lnk")).unwrap(), PathBuf::from("../other/place"));
    assert!(fs::symlink_metadata(dir.join("lnk")).unwrap().file_type().is_symlink());
    wait_until("lnk.rclonelink on the server", || {
        svc.server_bytes(&c, "/Jotta/Archive/s/lnk.rclonelink").as_deref() == Some(b"../other/place".as_slice())
    });
    assert!(svc.server_file(&c, "/Jotta/Archive/s/lnk").is_none());

    // A name taken by a link or a file cannot take a second link.
    let again = symlink("elsewhere", dir.join("lnk")).unwrap_err();
    assert_eq!(again.raw_os_error(), Some(libc::EEXIST));
    assert_eq!(symlink("elsewhere", dir.join("keep.txt")).unwrap_err().raw_os_error(), Some(libc::EEXIST));
    // A regular file may not take a name that would make it a link on the server.
    let refused = fs::write(dir.join("fake.rclonelink"), b"x").unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EINVAL));

    fs::rename(dir.join("lnk"), dir.join("moved")).unwrap();
    assert_eq!(fs::read_link(dir.join("moved")).unwrap(), PathBuf::from("../other/place"));
    wait_until("the link file renamed on the server", || {
        svc.server_file(&c, "/Jotta/Archive/s/lnk.rclonelink").is_none()
            && svc.server_bytes(&c, "/Jotta/Archive/s/moved.rclonelink").as_deref()
                == Some(b"../other/place".as_slice())
    });
    // A link renamed over a file replaces it, although their stored names differ.
    fs::rename(dir.join("moved"), dir.join("keep.txt")).unwrap();
    assert_eq!(fs::read_link(dir.join("keep.txt")).unwrap(), PathBuf::from("../other/place"));
    assert_eq!(names(&dir), ["keep.txt"]);
    wait_until("keep.txt replaced by the link", || {
        svc.server_file(&c, "/Jotta/Archive/s/keep.txt").is_none()
            && svc.server_file(&c, "/Jotta/Archive/s/keep.txt.rclonelink").is_some()
    });
    // The link's own time is the file's, and `touch -h` sets it.
    let touched = Command::new("touch").args(["-h", "-d", "@1600000000"]).arg(dir.join("keep.txt")).status().unwrap();
    assert!(touched.success());
    assert_eq!(fs::symlink_metadata(dir.join("keep.txt")).unwrap().mtime(), 1_600_000_000);
    assert_eq!(fs::symlink_metadata(dir.join("keep.txt")).unwrap().mode() & 0o777, 0o777);
    wait_until("the link file's time on the server", || {
        svc.server_file(&c, "/Jotta/Archive/s/keep.txt.rclonelink").and_then(|f| f.modified()) == Some(1_600_000_000)
    });
    // A file renamed over a link replaces it.
    fs::write(dir.join("plain"), b"plain").unwrap();
    fs::rename(dir.join("plain"), dir.join("keep.txt")).unwrap();
    assert!(fs::symlink_metadata(dir.join("keep.txt")).unwrap().file_type().is_file());
    wait_until("the link file replaced by the file", || {
        svc.server_file(&c, "/Jotta/Archive/s/keep.txt.rclonelink").is_none()
            && svc.server_bytes(&c, "/Jotta/Archive/s/keep.txt").as_deref() == Some(b"plain".as_slice())
    });
    symlink("keep.txt", dir.join("gone")).unwrap();
    fs::remove_file(dir.join("gone")).unwrap();
    assert_eq!(names(&dir), ["keep.txt"]);
    // An upload of the link still in flight at the unlink lands and is then removed: wait for that.
    wait_until("the unlinked link gone from the server", || {
        svc.server_file(&c, "/Jotta/Archive/s/gone.rclonelink").is_none()
    });
}

#[test]
fn a_symlink_is_journaled_and_reaches_the_server_after_a_crash() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/j/a.txt", b"a");
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "links,writeback_delay=600", &[], base.path());
    symlink("a.txt", m.p("Jotta/Archive/j/crashlink")).unwrap();
    m.crash();
    assert!(svc.server_file(&c, "/Jotta/Archive/j/crashlink.rclonelink").is_none(), "not uploaded before the crash");
    let m = TestMount::in_dir(&svc, "links", &[], base.path());
    assert_eq!(fs::read_link(m.p("Jotta/Archive/j/crashlink")).unwrap(), PathBuf::from("a.txt"));
    wait_until("the journaled link uploaded", || {
        svc.server_bytes(&c, "/Jotta/Archive/j/crashlink.rclonelink").as_deref() == Some(b"a.txt".as_slice())
    });
}

#[test]
fn without_links_symlink_is_refused_with_eperm() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/n/a.txt", b"a");
    let m = TestMount::new(&svc, "");
    let e = symlink("a.txt", m.p("Jotta/Archive/n/lnk")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
    // Without the option, such a name is an ordinary file.
    fs::write(m.p("Jotta/Archive/n/plain.rclonelink"), b"data").unwrap();
    assert_eq!(names(&m.p("Jotta/Archive/n")), ["a.txt", "plain.rclonelink"]);
}

fn rsync(args: &[&str]) {
    let out = Command::new("rsync").args(args).output().expect("rsync is installed");
    assert!(out.status.success(), "rsync {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every entry below `root`: relative name -> "file:<content>", "dir" or "link:<target>".
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let t = fs::symlink_metadata(&p).unwrap().file_type();
            let what = if t.is_symlink() {
                format!("link:{}", fs::read_link(&p).unwrap().display())
            } else if t.is_dir() {
                stack.push(p.clone());
                "dir".into()
            } else {
                format!("file:{}", String::from_utf8_lossy(&fs::read(&p).unwrap()))
            };
            out.insert(rel, what);
        }
    }
    out
}

#[test]
fn rsync_a_round_trip_through_a_links_mount_keeps_symlinks() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a.txt"), b"alpha").unwrap();
    fs::write(src.join("sub/b.txt"), b"beta").unwrap();
    symlink("a.txt", src.join("rel")).unwrap();
    symlink("../a.txt", src.join("sub/up")).unwrap();
    symlink("/etc/hostname", src.join("abs")).unwrap();
    symlink("missing/nowhere", src.join("dangling")).unwrap();
    symlink("sub", src.join("dirlink")).unwrap();

    let m = TestMount::new(&svc, "links,writeback_delay=0");
    fs::create_dir(m.p("Jotta/Archive/tree")).unwrap();
    rsync(&["-a", &format!("{}/", src.display()), &format!("{}/", m.p("Jotta/Archive/tree").display())]);
    let back = work.path().join("back");
    rsync(&["-a", &format!("{}/", m.p("Jotta/Archive/tree").display()), &format!("{}/", back.display())]);
    assert_eq!(tree(&back), tree(&src));
    assert_eq!(tree(&m.p("Jotta/Archive/tree")), tree(&src));

    wait_until("the links on the server", || {
        svc.server_bytes(&c, "/Jotta/Archive/tree/sub/up.rclonelink").as_deref() == Some(b"../a.txt".as_slice())
            && svc.server_bytes(&c, "/Jotta/Archive/tree/dirlink.rclonelink").as_deref() == Some(b"sub".as_slice())
    });
    drop(m);
    // A fresh mount sees them from the server alone.
    let m = TestMount::new(&svc, "links");
    let again = work.path().join("again");
    rsync(&["-a", &format!("{}/", m.p("Jotta/Archive/tree").display()), &format!("{}/", again.display())]);
    assert_eq!(tree(&again), tree(&src));
}
