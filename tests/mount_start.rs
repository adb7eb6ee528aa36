//! Starting and stopping the daemon as a user does: the demo account, going to the background, and the
//! clear errors given before anything starts.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

fn jottafuse(home: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jottafuse"));
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("JOTTA_ENDPOINT")
        .env_remove("JOTTACLOUD_USERNAME")
        .env_remove("JOTTACLOUD_PASSWORD");
    c
}

fn wait_for(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn demo_mount_goes_to_the_background_and_serves_the_sample_account() {
    common::fuse_available();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    // Without -f the command returns once the mount is ready, with status 0.
    let status = jottafuse(dir.path()).arg("--demo").arg(&mnt).status().unwrap();
    assert!(status.success());
    assert!(common::is_mounted(&mnt), "mounted when the command returned");
    let readme = std::fs::read_to_string(mnt.join("Jotta/Archive/README.txt")).unwrap();
    assert!(readme.to_lowercase().contains("demo"), "{readme}");
    // cp out of it works, and the listing shows a backup device too.
    let copy = dir.path().join("copy.txt");
    assert!(Command::new("cp").arg(mnt.join("Jotta/Archive/README.txt")).arg(&copy).status().unwrap().success());
    assert_eq!(std::fs::read_to_string(copy).unwrap(), readme);
    let devices: Vec<_> = std::fs::read_dir(&mnt).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(devices.len() >= 2, "{devices:?}");
    assert!(Command::new("fusermount3").arg("-u").arg(&mnt).status().unwrap().success());
    assert!(wait_for(|| !common::is_mounted(&mnt)));
}

#[test]
fn missing_credentials_say_to_log_in_or_use_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = jottafuse(dir.path()).arg(&mnt).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jotta login") && err.contains("--demo"), "{err}");
    assert!(!common::is_mounted(&mnt));
}

#[test]
fn bad_mount_points_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = jottafuse(dir.path()).arg("--demo").arg(&missing).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = jottafuse(dir.path()).arg("--demo").arg(&file).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a folder"));
    let out = jottafuse(dir.path()).arg("--demo").arg("/proc").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already a mount point"));
    assert!(!dir.path().join("data/jottafuse/demo").exists(), "nothing started for a bad mount point");
}

#[test]
fn unknown_mount_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = jottafuse(dir.path()).arg(&mnt).arg("-o").arg("ro,frobnicate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}
