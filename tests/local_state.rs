//! Local state is as private as the mount: staging files, journal, status, logs and the demo data are
//! readable by the user alone whatever the umask; places other users can write to are refused; and
//! fsyncdir makes a folder's changes durable in the journal. Real mounts against the emulator.

mod common;

use common::{is_mounted, wait_until, TestMount, TestService};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file and folder under `root` that someone other than its owner could read, write or enter.
fn open_to_others(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else { continue };
        if m.mode() & 0o077 != 0 {
            out.push((p.clone(), m.mode() & 0o777));
        }
        if m.is_dir() {
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

/// The processes whose command line names `arg` (a path unique to one test).
fn processes_naming(arg: &Path) -> Vec<i32> {
    let want = arg.as_os_str().as_encoded_bytes();
    fs::read_dir("/proc")
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok())).collect())
        .unwrap_or_else(|_| Vec::new())
        .into_iter()
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.split(|b| *b == 0).any(|part| part.windows(want.len()).any(|w| w == want))
        })
        .collect()
}

/// Kills what a test started in the background and left running (it failed half way), so no daemon
/// outlives its test and its temporary folders.
struct EndDaemons(PathBuf);

impl Drop for EndDaemons {
    fn drop(&mut self) {
        for pid in processes_naming(&self.0) {
            // SAFETY: a plain kill(2) of a process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn with_umask_022() {
    // SAFETY: sets this test process's creation mask (what a default login shell has).
    unsafe { libc::umask(0o022) };
}

#[test]
fn a_write_leaves_nothing_in_the_cache_readable_by_other_users() {
    if common::skip_without_mount() {
        return;
    }
    with_umask_022();
    let svc = TestService::start();
    let base = tempfile::tempdir().unwrap();
    // What an earlier version left: readable folders and files.
    let old = base.path().join("cache/jottafuse/accounts/earlier-version/staging");
    fs::create_dir_all(&old).unwrap();
    fs::write(old.join("0000000000000001"), b"pending bytes").unwrap();
    for p in [base.path().join("cache/jottafuse"), old.clone(), old.join("0000000000000001")] {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    let m = TestMount::in_dir(&svc, "writeback_delay=600", &[], base.path());
    fs::write(m.p("Jotta/Archive/private.txt"), b"nobody else may read this").unwrap();
    fs::rename(m.p("Jotta/Archive/private.txt"), m.p("Jotta/Archive/still-private.txt")).unwrap();
    wait_until("the status file", || common::jotta_status(base.path(), &[]).contains("still-private.txt"));
    let cache = base.path().join("cache/jottafuse");
    let loose = open_to_others(&cache);
    assert!(loose.is_empty(), "readable by others: {loose:?}");
    // The walk saw the journal, its overlay and the staging file, not an empty folder.
    let account = fs::read_dir(cache.join("accounts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.ends_with("earlier-version"))
        .expect("the account's folder");
    assert!(fs::read_dir(account.join("staging")).unwrap().count() >= 1);
    assert!(fs::read_dir(account.join("journal")).unwrap().count() >= 2, "record and overlay");
}

#[test]
fn the_demo_data_and_the_log_are_readable_by_the_user_alone() {
    if common::skip_without_mount() {
        return;
    }
    with_umask_022();
    let base = tempfile::tempdir().unwrap();
    let mnt = base.path().join("demo");
    let logs = base.path().join("logs");
    fs::create_dir_all(&mnt).unwrap();
    fs::create_dir_all(&logs).unwrap();
    let log = logs.join("jottafuse.log");
    let _end = EndDaemons(log.clone());
    let status = Command::new(env!("CARGO_BIN_EXE_jottafuse"))
        .arg("--demo")
        .arg("-o")
        .arg(format!("log_file={}", log.display()))
        .arg(&mnt)
        .env("XDG_DATA_HOME", base.path().join("data"))
        .env("XDG_CACHE_HOME", base.path().join("cache"))
        .env("XDG_CONFIG_HOME", base.path().join("config"))
        .status()
        .unwrap();
    assert!(status.success(), "the demo mounts in the background");
    fs::write(mnt.join("Jotta/Archive/demo-note.txt"), b"mine").unwrap();
    assert!(Command::new("fusermount3").arg("-u").arg(&mnt).status().unwrap().success());
    wait_until("the daemon to finish", || fs::read_to_string(&log).unwrap_or_default().contains("unmounted"));
    assert!(!is_mounted(&mnt));
    // It uploads the note, then exits: only then do its folders go with the test's.
    wait_until("the daemon to exit after its drain", || processes_naming(&log).is_empty());
    for root in [base.path().join("data"), base.path().join("cache"), log.clone()] {
        let loose = open_to_others(&root);
        assert!(loose.is_empty(), "readable by others under {}: {loose:?}", root.display());
    }
    assert!(fs::read_dir(base.path().join("data/jottafuse/demo")).unwrap().count() > 0, "the demo data was seen");
}

#[test]
fn a_cache_dir_or_log_file_other_users_can_write_to_is_refused() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let base = tempfile::tempdir().unwrap();
    let shared = base.path().join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let mnt = base.path().join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let config = base.path().join("config");
    let creds = config.join("jottafuse");
    fs::create_dir_all(&creds).unwrap();
    svc.rt
        .block_on(jottafuse::remote::auth::login(&svc.emu().login_token(), Some(&svc.endpoint()), &creds, None))
        .unwrap();
    for option in [format!("cache_dir={}/cache", shared.display()), format!("log_file={}/jf.log", shared.display())] {
        let out = Command::new(env!("CARGO_BIN_EXE_jottafuse"))
            .arg("-f")
            .arg("-o")
            .arg(&option)
            .arg(&mnt)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_CACHE_HOME", base.path().join("cache"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{option}: refused");
        assert!(err.contains("other users") && err.lines().count() == 1, "{option}: one clear line: {err}");
        assert!(!is_mounted(&mnt));
    }
}

#[test]
fn fsyncdir_after_a_pending_rename_returns_0_and_the_rename_survives_kill_9() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "writeback_delay=600", &[], base.path());
    fs::create_dir(m.p("Jotta/Archive/repo")).unwrap();
    fs::write(m.p("Jotta/Archive/repo/.index.lock"), b"index content").unwrap();
    fs::rename(m.p("Jotta/Archive/repo/.index.lock"), m.p("Jotta/Archive/repo/index")).unwrap();
    // What git and sqlite do after a rename: fsync the folder.
    fs::File::open(m.p("Jotta/Archive/repo")).unwrap().sync_all().expect("fsyncdir returns 0");
    m.crash();
    drop(m);
    let _m = TestMount::in_dir(&svc, "", &[], base.path());
    wait_until("the upload under the new name", || svc.server_file(&c, "/Jotta/Archive/repo/index").is_some());
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/repo/index").unwrap(), b"index content");
    assert!(svc.server_file(&c, "/Jotta/Archive/repo/.index.lock").is_none());
}
