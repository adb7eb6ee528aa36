//! The daemon behaves as FUSE, sshfs and rclone users expect: it finds its login where `jotta` does
//! (`--config-dir`, `JOTTA_CONFIG_DIR`), `-d` stays in the foreground, a folder that holds files is not
//! mounted over unless asked, and the mount shows a `jotta:` source.

mod common;

use common::{is_mounted, wait_until, TestService};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `jottafuse ARGS` with its default config (XDG) in `home/config`, logged in to nothing unless a test
/// logs in there.
fn jottafuse(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jottafuse"));
    c.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("RUST_LOG", "info")
        .env_remove("JOTTA_ENDPOINT")
        .env_remove("JOTTA_CONFIG_DIR")
        .env_remove("JOTTACLOUD_USERNAME")
        .env_remove("JOTTACLOUD_PASSWORD")
        .stdout(Stdio::null());
    c
}

/// A foreground daemon, unmounted with SIGTERM (which drains its uploads) when dropped.
struct Daemon {
    child: Child,
    mnt: std::path::PathBuf,
}

impl Daemon {
    fn start(mut cmd: Command, mnt: &Path) -> Daemon {
        let child = cmd.spawn().expect("spawn jottafuse");
        let mut d = Daemon { child, mnt: mnt.to_path_buf() };
        wait_until("the mount", || {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("jottafuse exited before mounting: {status}");
            }
            is_mounted(mnt)
        });
        d
    }

    fn stop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait jottafuse");
        assert!(status.success(), "daemon exit: {status}");
        assert!(!is_mounted(&self.mnt));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Write a file through the mount and return once it is on the server (fsync waits for the upload).
fn write_through(mnt: &Path, rel: &str, data: &[u8]) {
    let mut f = std::fs::File::create(mnt.join(rel)).expect("create in the mount");
    f.write_all(data).unwrap();
    f.sync_all().expect("fsync: the upload is done");
}

#[test]
fn the_daemon_uses_the_config_dir_it_is_given_like_jotta() {
    common::fuse_available();
    let usual = TestService::start_with(|c| c.user = "usual".into());
    let other = TestService::start_with(|c| c.user = "other".into());
    let home = tempfile::tempdir().unwrap();
    // The default config dir holds the usual account; another folder holds the other one.
    let default_cfg = home.path().join("config/jottafuse");
    std::fs::create_dir_all(&default_cfg).unwrap();
    usual.rt.block_on(jottafuse::remote::login(&usual.emu().login_token(), None, &default_cfg, None)).expect("login");
    let other_cfg = home.path().join("other-account");
    let out = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(["login", &other.emu().login_token(), "--config-dir"])
        .arg(&other_cfg)
        .env_remove("JOTTA_ENDPOINT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mnt = home.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let usual_client = usual.client();
    let other_client = other.client();

    // --config-dir, then JOTTA_CONFIG_DIR: each mount's file lands in the other account only.
    for (how, name) in [("option", "by-option.txt"), ("env", "by-env.txt")] {
        let mut cmd = jottafuse(home.path(), &["-f", mnt.to_str().unwrap()]);
        match how {
            "option" => cmd.arg("--config-dir").arg(&other_cfg),
            _ => cmd.env("JOTTA_CONFIG_DIR", &other_cfg),
        };
        let mut daemon = Daemon::start(cmd, &mnt);
        write_through(&mnt, &format!("Jotta/Archive/{name}"), name.as_bytes());
        daemon.stop();
        let path = format!("/Jotta/Archive/{name}");
        assert_eq!(other.server_bytes(&other_client, &path).as_deref(), Some(name.as_bytes()), "{how}");
        assert!(usual.server_bytes(&usual_client, &path).is_none(), "{how}: not in the usual account");
    }
    // Without either, the usual account is mounted.
    let mut daemon = Daemon::start(jottafuse(home.path(), &["-f", mnt.to_str().unwrap()]), &mnt);
    write_through(&mnt, "Jotta/Archive/default.txt", b"d");
    daemon.stop();
    assert!(usual.server_bytes(&usual_client, "/Jotta/Archive/default.txt").is_some());
    assert!(other.server_bytes(&other_client, "/Jotta/Archive/default.txt").is_none());
}

#[test]
fn a_folder_with_files_is_not_mounted_over_unless_asked() {
    common::fuse_available();
    let home = tempfile::tempdir().unwrap();
    let mnt = home.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(mnt.join("mine.txt"), b"the user's file").unwrap();
    let out = jottafuse(home.path(), &["--demo", mnt.to_str().unwrap()]).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not empty") && err.contains("-o nonempty") && err.contains(mnt.to_str().unwrap()), "{err}");
    assert!(!is_mounted(&mnt));

    let mut daemon =
        Daemon::start(jottafuse(home.path(), &["-f", "-o", "nonempty", "--demo", mnt.to_str().unwrap()]), &mnt);
    assert!(mnt.join("Jotta/Archive").is_dir(), "mounted over it");
    daemon.stop();
    assert_eq!(std::fs::read(mnt.join("mine.txt")).unwrap(), b"the user's file", "still there after");
}

#[test]
fn debug_stays_in_the_foreground_and_the_mount_shows_its_type_and_source() {
    common::fuse_available();
    let home = tempfile::tempdir().unwrap();
    let mnt = home.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    // -d alone: the process that was started is the one serving (it did not fork away and exit).
    let log = std::fs::File::create(home.path().join("debug.log")).unwrap();
    let mut cmd = jottafuse(home.path(), &["-d", "demo", mnt.to_str().unwrap()]);
    cmd.env_remove("RUST_LOG").stderr(log);
    let mut daemon = Daemon::start(cmd, &mnt);
    assert!(matches!(daemon.child.try_wait(), Ok(None)), "-d stays in the foreground");
    let logged = std::fs::read_to_string(home.path().join("debug.log")).unwrap();
    assert!(logged.contains("DEBUG"), "debug lines on stderr: {logged}");
    let out = Command::new("findmnt").args(["-n", "-o", "FSTYPE,SOURCE"]).arg(&mnt).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = shown.split_whitespace().collect();
    // The type tells it apart from other FUSE mounts and the source names the account, also when root
    // mounts (mount(2) directly, not through fusermount3).
    assert_eq!(fields.get(1), Some(&"jotta:demo"), "{shown}");
    assert_eq!(fields.first(), Some(&"fuse.jottafuse"), "{shown}");
    daemon.stop();
}

#[test]
fn inode_figures_look_unlimited_and_ioctls_answer_enotty_quietly() {
    common::fuse_available();
    let home = tempfile::tempdir().unwrap();
    let mnt = home.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let log = std::fs::File::create(home.path().join("daemon.log")).unwrap();
    let mut cmd = jottafuse(home.path(), &["-f", "demo", mnt.to_str().unwrap()]);
    cmd.stderr(log);
    let mut daemon = Daemon::start(cmd, &mnt);
    let readme = mnt.join("Jotta/Archive/README.txt");
    assert!(readme.is_file());

    // df -i: the names known so far are used, out of a total that is nowhere near full.
    let c = std::ffi::CString::new(mnt.to_str().unwrap()).unwrap();
    // SAFETY: a valid path and a zeroed statvfs to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    let used = st.f_files - st.f_ffree;
    assert!((3..10_000).contains(&used), "inodes used: {used} of {}", st.f_files);

    // An ioctl the mount does not support (a terminal's, as Python's open() asks) answers ENOTTY, and
    // nothing is logged for it.
    let file = std::fs::File::open(&readme).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: TCGETS writes a termios into the buffer given, which is large enough.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TCGETS, &mut termios) };
    assert_eq!(rc, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENOTTY));
    let py = Command::new("python3").arg("-c").arg(format!("open({:?}).read()", readme)).status();
    if let Ok(status) = py {
        assert!(status.success());
    }
    drop(file);
    daemon.stop();
    let logged = std::fs::read_to_string(home.path().join("daemon.log")).unwrap();
    assert!(logged.contains("mounted"), "the log is the daemon's: {logged}");
    assert!(!logged.to_lowercase().contains("ioctl"), "ioctl logged: {logged}");
}

#[test]
fn each_background_mount_logs_to_its_own_file_with_time_level_and_pid() {
    common::fuse_available();
    let home = tempfile::tempdir().unwrap();
    let (a, b) = (home.path().join("one"), home.path().join("two"));
    let mut pids = Vec::new();
    for (mnt, data) in [(&a, "data-a"), (&b, "data-b")] {
        std::fs::create_dir(mnt).unwrap();
        // Two demo accounts (one per data folder), each mount in the background.
        let status = jottafuse(home.path(), &["demo", mnt.to_str().unwrap()])
            .env("XDG_DATA_HOME", home.path().join(data))
            .status()
            .unwrap();
        assert!(status.success());
        assert!(is_mounted(mnt));
    }
    for mnt in [&a, &b] {
        assert!(Command::new("fusermount3").arg("-u").arg(mnt).status().unwrap().success());
    }
    let logs = home.path().join("cache/jottafuse/logs");
    for mnt in [&a, &b] {
        let name = format!("{}.log", mnt.to_str().unwrap().trim_matches('/').replace('/', "-"));
        let file = logs.join(&name);
        wait_until("the daemon's last line", || {
            std::fs::read_to_string(&file).unwrap_or_default().contains(&format!("unmounted {}", mnt.display()))
        });
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(&format!(" on {}", mnt.display())), "{text}");
        let other = if mnt == &a { &b } else { &a };
        assert!(!text.contains(other.to_str().unwrap()), "{name} holds only its own mount: {text}");
        let mut pid = None;
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            assert!(w.len() >= 5, "{line}");
            assert!(w[0].len() >= 20 && w[0].ends_with('Z') && w[0].contains('T'), "time first: {line}");
            assert!(["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&w[1]), "level: {line}");
            assert_eq!(w[2], "pid", "{line}");
            let p: u32 = w[3].parse().expect("pid");
            assert_eq!(*pid.get_or_insert(p), p, "one daemon per file: {line}");
        }
        pids.push(pid.expect("lines logged"));
    }
    assert_ne!(pids[0], pids[1]);
}
