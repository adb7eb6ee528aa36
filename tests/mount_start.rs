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
    if common::skip_without_mount() {
        return;
    }
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
    // The daemon checks that it can use /dev/fuse before it looks for credentials.
    if common::skip_without_mount() {
        return;
    }
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

/// Puts /dev/fuse back as it was when dropped.
struct DevFuseMode(u32);

impl Drop for DevFuseMode {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions("/dev/fuse", std::fs::Permissions::from_mode(self.0));
    }
}

/// The daemon of a test, killed (and its mount detached) if the test ends early.
struct Daemon(std::process::Child, std::path::PathBuf);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = Command::new("umount").arg("-l").arg(&self.1).status();
        }
    }
}

/// Run a command as the unprivileged user `nobody` (65534).
fn as_nobody(program: &std::path::Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(program);
    c
}

#[test]
fn a_normal_user_mounts_through_fusermount3() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if common::skip_without_mount() {
        return;
    }
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test switches to the user nobody, so it must start as root");
    // Distributions open /dev/fuse to everyone (0666) and leave the mounting to the setuid fusermount3;
    // a sandbox may keep it root's alone, so give it the usual mode for the length of the test.
    let mode = std::fs::metadata("/dev/fuse").unwrap().mode() & 0o7777;
    let _restore = DevFuseMode(mode);
    std::fs::set_permissions("/dev/fuse", std::fs::Permissions::from_mode(0o666)).unwrap();

    let svc = common::TestService::start();
    let base = tempfile::tempdir().unwrap();
    let home = base.path();
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let creds = home.join("config/jottafuse");
    std::fs::create_dir_all(&creds).unwrap();
    svc.rt
        .block_on(jottafuse::remote::auth::login(&svc.emu().login_token(), Some(&svc.endpoint()), &creds, None))
        .unwrap();
    // The daemon runs from a copy nobody can reach (the build tree may sit under a private home).
    let bin = home.join("jottafuse");
    std::fs::copy(env!("CARGO_BIN_EXE_jottafuse"), &bin).unwrap();
    let mnt = home.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    assert!(Command::new("chown").args(["-R", "65534:65534"]).arg(home).status().unwrap().success());

    let mut daemon = Daemon(
        as_nobody(std::path::Path::new("env"))
            .arg(format!("HOME={}", home.display()))
            .arg(format!("XDG_CONFIG_HOME={}", home.join("config").display()))
            .arg(format!("XDG_CACHE_HOME={}", home.join("cache").display()))
            .arg(&bin)
            .arg("-f")
            .arg(&mnt)
            .spawn()
            .unwrap(),
        mnt.clone(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !common::is_mounted(&mnt) {
        assert!(Instant::now() < deadline, "the mount as nobody did not come up");
        assert!(daemon.0.try_wait().unwrap().is_none(), "jottafuse as nobody exited before mounting");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let line = mounts.lines().find(|l| l.contains(mnt.to_str().unwrap())).unwrap().to_string();
    assert!(line.contains("user_id=65534"), "mounted for the user: {line}");
    // fusermount3 mounts it as type fuse.jottafuse, with the account as the source (for findmnt, df -T).
    assert!(line.starts_with("jotta:/ ") && line.contains(" fuse.jottafuse "), "type and source: {line}");

    let file = mnt.join("Jotta/Archive/from-a-user.txt");
    let write = as_nobody(std::path::Path::new("sh"))
        .arg("-c")
        .arg(format!("printf 'written by nobody' > '{}' && cat '{}'", file.display(), file.display()))
        .output()
        .unwrap();
    assert!(write.status.success(), "{}", String::from_utf8_lossy(&write.stderr));
    assert_eq!(write.stdout, b"written by nobody");
    // Only the mounting user may look inside (not even root, without allow_root): ask as nobody.
    let owner = as_nobody(std::path::Path::new("stat")).args(["-c", "%u"]).arg(&file).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), "65534", "files belong to the mounting user");

    let unmount = as_nobody(std::path::Path::new("fusermount3")).arg("-u").arg(&mnt).status().unwrap();
    assert!(unmount.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the daemon did not end after fusermount3 -u");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let c = svc.client();
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/from-a-user.txt").unwrap(), b"written by nobody");
}
