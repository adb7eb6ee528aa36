//! The daemon's life after the mount, as a user meets it: a lazy unmount while a file is still being
//! written, SIGTERM on a busy mount, a second SIGTERM during a drain, and a second daemon for an account
//! (or a demo) that another daemon still owns.

mod common;

use common::{pattern, TestMount, TestService};
use std::fs;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wait_until_within as wait_until;

/// Wait for a daemon to exit; its exit code.
fn exit_code(child: &mut Child, what: &str) -> Option<i32> {
    let mut status = None;
    wait_until(what, 120, || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    status.and_then(|s| s.code())
}

fn sigterm(pid: u32) {
    // SAFETY: signalling a daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
}

/// Journal records (one per file waiting for upload: ordinary, or sealed with a small file's content) in
/// the account folder of the mounts under `base`.
fn journal_records(base: &Path) -> usize {
    let record = |p: PathBuf| matches!(p.extension().and_then(|x| x.to_str()), Some("json" | "sealed"));
    fs::read_dir(common::account_dir(base).join("journal"))
        .map(|d| d.filter(|e| record(e.as_ref().unwrap().path())).count())
        .unwrap_or(0)
}

/// A second `jottafuse -f` on the same account as the `TestMount`s under `base`, mounting on `mnt`,
/// its stderr kept in a file; killed (and its mount detached) on drop.
struct Second {
    child: Child,
    mnt: PathBuf,
    stderr: PathBuf,
}

impl Second {
    fn start(base: &Path, name: &str, options: &str) -> Self {
        let mnt = base.join(name);
        fs::create_dir_all(&mnt).unwrap();
        let stderr = base.join(format!("{name}.stderr"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jottafuse"));
        cmd.arg("-f")
            .arg(&mnt)
            .env("XDG_CONFIG_HOME", base.join("config"))
            .env("XDG_CACHE_HOME", base.join("cache"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).unwrap());
        if !options.is_empty() {
            cmd.arg("-o").arg(options);
        }
        Second { child: cmd.spawn().unwrap(), mnt, stderr }
    }

    fn said(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Second {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            sigterm(self.child.id());
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if common::is_mounted(&self.mnt) {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}

/// A process sitting in a folder of the mount (a shell cd'ed into it), killed on drop.
struct Sitter(Child);

impl Sitter {
    fn in_folder(dir: &Path) -> Self {
        Sitter(Command::new("sleep").arg("600").current_dir(dir).spawn().unwrap())
    }
}

impl Drop for Sitter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lazy_unmount_with_a_writer_open_uploads_the_file_once_closed_and_the_daemon_exits() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "writeback_delay=0.2", &[], base.path());
    let first = pattern(300_000, 1);
    let rest = pattern(200_000, 2);
    let mut f = fs::File::create(m.p("Jotta/Archive/open.bin")).unwrap();
    f.write_all(&first).unwrap();
    let busy = Command::new("fusermount3").arg("-u").arg(&m.path).output().unwrap();
    assert!(!busy.status.success(), "fusermount3 -u refuses a mount with a file open");
    assert!(Command::new("umount").arg("-l").arg(&m.path).status().unwrap().success());
    assert!(!common::is_mounted(&m.path), "detached");
    // The writer goes on and closes; close() must say whether the file was kept.
    f.write_all(&rest).unwrap();
    // SAFETY: the descriptor is ours, taken out of the File so that close()'s result can be seen.
    assert_eq!(unsafe { libc::close(f.into_raw_fd()) }, 0, "close() acknowledges the file");

    let mut child = m.child.take().unwrap();
    assert_eq!(exit_code(&mut child, "the daemon to exit after the last close"), Some(0));
    let want: Vec<u8> = first.iter().chain(&rest).copied().collect();
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/open.bin").expect("uploaded before exit"), want);
    assert_eq!(journal_records(base.path()), 0, "nothing left in the journal");
}

#[test]
fn sigterm_ends_a_busy_mount_after_draining_its_uploads() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let mut m = TestMount::new(&svc, "writeback_delay=600");
    let data = pattern(2 << 20, 3);
    fs::write(m.p("Jotta/Archive/slow.bin"), &data).unwrap();
    // The drain takes a while: every upload connection runs at 1 MB/s.
    svc.set_faults(serde_json::json!({"bandwidth": 1_000_000}));
    let _shell = Sitter::in_folder(&m.p("Jotta/Archive"));
    assert_eq!(m.terminate(), Some(0), "the daemon ends although a process sits in the mount");
    assert!(!common::is_mounted(&m.path));
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/slow.bin").expect("drained before the exit"), data);
}

#[test]
fn a_second_sigterm_ends_the_drain_at_once_and_the_next_mount_uploads_the_file() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "writeback_delay=600", &[], base.path());
    let data = pattern(500_000, 4);
    fs::write(m.p("Jotta/Archive/later.bin"), &data).unwrap();
    // The service keeps failing: the drain would go on for as long as drain_timeout.
    svc.set_faults(serde_json::json!({"fail_next": [{"kind": "allocate", "status": 500, "count": 100000}]}));
    sigterm(m.pid());
    wait_until("the first SIGTERM to unmount", 60, || !common::is_mounted(&m.path));
    let mut child = m.child.take().unwrap();
    assert!(child.try_wait().unwrap().is_none(), "the first SIGTERM waits for the drain");
    sigterm(child.id());
    assert_eq!(exit_code(&mut child, "the daemon to exit at the second SIGTERM"), Some(0));
    assert!(svc.server_file(&c, "/Jotta/Archive/later.bin").is_none(), "not uploaded");
    assert_eq!(journal_records(base.path()), 1, "the journal still holds the file");

    svc.set_faults(serde_json::json!({}));
    let m = TestMount::in_dir(&svc, "", &[], base.path());
    wait_until("the next mount to upload the file", 120, || svc.server_file(&c, "/Jotta/Archive/later.bin").is_some());
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/later.bin").unwrap(), data);
    drop(m);
}

#[test]
fn a_second_mount_of_an_account_being_served_is_refused_naming_the_pid() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let base = tempfile::tempdir().unwrap();
    let m = TestMount::in_dir(&svc, "", &[], base.path());
    let mut second = Second::start(base.path(), "mnt2", "");
    let mut status = None;
    wait_until("the second daemon to refuse", 60, || {
        assert!(!common::is_mounted(&second.mnt), "the second daemon mounted the same account");
        status = second.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(!status.unwrap().success());
    let said = second.said();
    let line = said.lines().find(|l| l.starts_with("jottafuse:")).unwrap_or_default();
    assert!(line.contains(&format!("pid {}", m.pid())), "names the pid: {said}");
    assert!(line.contains(&m.path.display().to_string()), "names the mount point: {said}");
    fs::write(m.p("Jotta/Archive/still-served.txt"), b"yes").unwrap();
}

#[test]
fn a_second_mount_while_the_first_drains_waits_for_it_and_then_serves() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let base = tempfile::tempdir().unwrap();
    let mut m = TestMount::in_dir(&svc, "writeback_delay=600", &[], base.path());
    let data = pattern(400_000, 5);
    fs::write(m.p("Jotta/Archive/drained.bin"), &data).unwrap();
    // Uploads fail until the second daemon has said that it waits.
    svc.set_faults(serde_json::json!({"fail_next": [{"kind": "allocate", "status": 500, "count": 100000}]}));
    assert!(Command::new("fusermount3").arg("-u").arg(&m.path).status().unwrap().success());
    wait_until("the first mount to go", 60, || !common::is_mounted(&m.path));
    let mut first = m.child.take().unwrap();

    let second = Second::start(base.path(), "mnt2", "writeback_delay=0.2");
    let waiting = format!("waiting for jottafuse pid {}", first.id());
    wait_until("the second daemon to say that it waits", 60, || second.said().contains(&waiting));
    assert!(!common::is_mounted(&second.mnt), "it does not mount while the first drains");
    svc.set_faults(serde_json::json!({}));
    assert_eq!(exit_code(&mut first, "the first daemon to finish its drain"), Some(0));
    wait_until("the second daemon to mount", 120, || common::is_mounted(&second.mnt));
    assert_eq!(second.said().matches(&waiting).count(), 1, "said once: {}", second.said());
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/drained.bin").unwrap(), data);
    assert_eq!(fs::read(second.mnt.join("Jotta/Archive/drained.bin")).unwrap(), data);
    // The second mount works, and ends: nothing of the first's journal is left to it.
    fs::write(second.mnt.join("Jotta/Archive/second.txt"), b"from the second mount").unwrap();
    let mut second = second;
    sigterm(second.child.id());
    assert_eq!(exit_code(&mut second.child, "the second daemon to exit"), Some(0));
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/second.txt").unwrap(), b"from the second mount");
    assert_eq!(journal_records(base.path()), 0);
}

#[test]
fn two_demo_mounts_at_once_the_second_is_refused() {
    if common::skip_without_mount() {
        return;
    }
    common::fuse_available();
    let home = tempfile::tempdir().unwrap();
    let demo = |mnt: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jottafuse"));
        c.arg("--demo")
            .arg(mnt)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env_remove("JOTTA_ENDPOINT");
        c
    };
    let (one, two) = (home.path().join("one"), home.path().join("two"));
    fs::create_dir_all(&one).unwrap();
    fs::create_dir_all(&two).unwrap();
    assert!(demo(&one).status().unwrap().success(), "the first demo mounts");
    let out = demo(&two).output().unwrap();
    let unmount_two = common::is_mounted(&two);
    if unmount_two {
        let _ = Command::new("fusermount3").arg("-u").arg(&two).status();
    }
    assert!(!unmount_two && !out.status.success(), "the second demo must not mount");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("demo account is already mounted by jottafuse pid"), "{err}");
    assert!(err.contains(&one.display().to_string()), "names the first mount point: {err}");
    assert!(Command::new("fusermount3").arg("-u").arg(&one).status().unwrap().success());
    wait_until("the first demo to unmount", 60, || !common::is_mounted(&one));
}
