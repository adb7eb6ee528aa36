//! The mount while the service hangs (accepts requests and never answers), through a real FUSE mount of
//! the real binary: reads that wait for downloads and fsyncs that wait for uploads must not take the FUSE
//! workers, so everything that needs no network keeps answering; and once the service answers again,
//! every waiting reader and fsync gets its bytes and its result.

mod common;

use common::{pattern, TestMount, TestService};
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const READERS: usize = 64;
const FSYNCS: usize = 16;
/// Uploads in flight at once (`-o uploads=`): the ones an outage holds mid-request.
const UPLOADS: usize = 4;
/// Generous: the machine is shared; only a hang (the failure this file is about) should ever reach it.
const DEADLINE: Duration = Duration::from_secs(60);

/// An operation running on a thread of its own. An operation stuck in the kernel cannot be interrupted,
/// so a hang is reported instead of hanging the test (the thread finishes once the service answers).
struct Pending<T> {
    what: String,
    rx: mpsc::Receiver<std::thread::Result<T>>,
}

fn start<T: Send + 'static>(
    what: &str,
    op: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Pending<Result<T, String>> {
    Pending::of(std::thread::spawn(op)).named(what)
}

impl<T: Send + 'static> Pending<T> {
    fn of(thread: std::thread::JoinHandle<T>) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(thread.join());
        });
        Pending { what: String::new(), rx }
    }

    fn named(mut self, what: &str) -> Self {
        self.what = what.to_string();
        self
    }

    /// Its result, or an error naming it if it has not finished by `deadline`.
    fn outcome(self, deadline: Instant) -> Result<T, String> {
        match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(format!("{}: the thread panicked", self.what)),
            Err(_) => Err(format!("{}: no answer within {DEADLINE:?}", self.what)),
        }
    }
}

impl<T: Send + 'static> Pending<Result<T, String>> {
    fn result(self, deadline: Instant) -> Result<T, String> {
        let what = self.what.clone();
        self.outcome(deadline)?.map_err(|e| format!("{what}: {e}"))
    }
}

/// stat() that always asks the filesystem (AT_STATX_FORCE_SYNC), never the kernel's attribute cache.
fn stat_from_daemon(p: &Path) -> std::io::Result<u64> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: a valid C string and an out-buffer of the right type.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::statx(libc::AT_FDCWD, c.as_ptr(), libc::AT_STATX_FORCE_SYNC, libc::STATX_BASIC_STATS, &mut buf)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(buf.stx_size)
}

fn gettid() -> i64 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Whether thread `tid` of this process is blocked inside system call `nr`.
fn in_syscall(tid: i64, nr: i64) -> bool {
    let s = fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).unwrap_or_default();
    s.split_whitespace().next().and_then(|n| n.parse::<i64>().ok()) == Some(nr)
}

fn wait_for(deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// A mount for outage tests: listings stay trusted throughout, and nothing written is uploaded before
/// an fsync asks for it.
fn mount(svc: &TestService) -> TestMount {
    TestMount::new(svc, &format!("dir_cache=3600,attr_cache=3600,writeback_delay=3600,uploads={UPLOADS}"))
}

/// FSYNCS new files in `dir` with fresh content, still open for writing.
fn fresh_files(m: &TestMount, dir: &str) -> (Vec<Vec<u8>>, Vec<fs::File>) {
    fs::create_dir(m.p(dir)).unwrap();
    let data: Vec<Vec<u8>> = (0..FSYNCS).map(|i| pattern(150_000 + i, 700 + i as u64)).collect();
    let files = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut f = fs::File::create(m.p(&format!("{dir}/n{i:02}.bin"))).unwrap();
            f.write_all(d).unwrap();
            f
        })
        .collect();
    (data, files)
}

type Fsync = std::thread::JoinHandle<(fs::File, std::io::Result<()>)>;

/// One thread per file calling fsync; each sends its thread id first (see `in_syscall`).
fn fsync_each(files: Vec<fs::File>, tids: &mpsc::Sender<(i64, i64)>) -> Vec<Fsync> {
    files
        .into_iter()
        .map(|f| {
            let tx = tids.clone();
            std::thread::spawn(move || {
                let _ = tx.send((gettid(), libc::SYS_fsync));
                let res = f.sync_all();
                (f, res)
            })
        })
        .collect()
}

/// `ls -l DIR` lists `n` files ending in `.bin`.
fn ls_lists(dir: std::path::PathBuf, n: usize) -> impl FnOnce() -> Result<(), String> + Send + 'static {
    move || {
        let out = Command::new("ls").arg("-l").arg(&dir).output().map_err(|e| e.to_string())?;
        let listed = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.ends_with(".bin")).count();
        match (out.status.success(), listed) {
            (true, l) if l == n => Ok(()),
            _ => Err(format!("{} and {listed} files", out.status)),
        }
    }
}

#[test]
fn with_the_service_hanging_stat_ls_and_cached_reads_still_answer() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let cold: Vec<Vec<u8>> = (0..READERS).map(|i| pattern(200_000 + i * 1000, 900 + i as u64)).collect();
    for (i, d) in cold.iter().enumerate() {
        svc.put(&c, &format!("/Jotta/Archive/cold/f{i:02}.bin"), d);
    }
    let warm = pattern(300_000, 42);
    svc.put(&c, "/Jotta/Archive/warm.bin", &warm);
    let m = mount(&svc);

    // Before the outage: the folder is listed, one file has been read (its pages are cached), one file
    // was written here and not uploaded, and FSYNCS files are open with fresh content.
    assert_eq!(fs::read_dir(m.p("Jotta/Archive/cold")).unwrap().count(), READERS);
    assert_eq!(fs::read(m.p("Jotta/Archive/warm.bin")).unwrap(), warm);
    let local = pattern(100_000, 43);
    fs::write(m.p("Jotta/Archive/local.bin"), &local).unwrap();
    let (fresh, open) = fresh_files(&m, "Jotta/Archive/new");

    svc.reset_counters();
    svc.set_faults(serde_json::json!({"hang": {"max_ms": 600_000}}));

    // READERS readers of files not read before (each waits for a download) and FSYNCS fsync callers
    // (each waits for an upload), all more than the mount's 8 FUSE worker threads.
    let (tid_tx, tid_rx) = mpsc::channel();
    let mut readers = Vec::new();
    for i in 0..READERS {
        let p = m.p(&format!("Jotta/Archive/cold/f{i:02}.bin"));
        let tx = tid_tx.clone();
        readers.push(std::thread::spawn(move || {
            let _ = tx.send((gettid(), libc::SYS_read));
            fs::read(p)
        }));
    }
    let fsyncs = fsync_each(open, &tid_tx);
    let tids: Vec<(i64, i64)> = tid_rx.iter().take(READERS + FSYNCS).collect();
    let setup_deadline = Instant::now() + Duration::from_secs(30);
    let all_blocked = wait_for(setup_deadline, || tids.iter().all(|&(t, nr)| in_syscall(t, nr)));
    let downloads_held = wait_for(setup_deadline, || svc.requests("download") >= READERS as u64);
    let uploads_held = wait_for(setup_deadline, || svc.requests("allocate") >= UPLOADS as u64);
    let held = svc.requests("download");

    // What needs no network answers meanwhile (all asked at once, each given until the same deadline).
    let (p_stat, p_warm, p_local) =
        (m.p("Jotta/Archive/cold/f00.bin"), m.p("Jotta/Archive/warm.bin"), m.p("Jotta/Archive/local.bin"));
    let (want_warm, want_local) = (warm.clone(), local.clone());
    let probes = [
        start("stat of a listed file", move || stat_from_daemon(&p_stat).map(|_| ()).map_err(|e| e.to_string())),
        start("ls -l of a listed folder", ls_lists(m.p("Jotta/Archive/cold"), READERS)),
        start("read of a file read before", move || check_read(&p_warm, &want_warm)),
        start("read of a file written here, not uploaded", move || check_read(&p_local, &want_local)),
    ];
    let probe_deadline = Instant::now() + DEADLINE;
    let failed: Vec<String> = probes.into_iter().filter_map(|p| p.result(probe_deadline).err()).collect();

    svc.set_faults(serde_json::json!({}));
    assert!(failed.is_empty(), "while the service hung: {failed:?}");
    assert!(all_blocked, "every reader and fsync caller was waiting inside its call");
    assert!(downloads_held, "all {READERS} readers reached the service (only {held} did)");
    assert!(uploads_held, "{UPLOADS} uploads were in flight when the service hung");

    // The service answers again: every waiting reader gets its bytes, every fsync succeeds, and then
    // its file is on the server.
    let after = Instant::now() + DEADLINE;
    for (i, r) in readers.into_iter().enumerate() {
        let got = Pending::of(r).outcome(after).unwrap_or_else(|e| panic!("reader {i}: {e}"));
        assert_eq!(got.expect("read"), cold[i], "reader {i}");
    }
    for (i, f) in fsyncs.into_iter().enumerate() {
        let (_, res) = Pending::of(f).outcome(after).unwrap_or_else(|e| panic!("fsync {i}: {e}"));
        res.unwrap_or_else(|e| panic!("fsync {i}: {e}"));
    }
    for (i, d) in fresh.iter().enumerate() {
        let on_server = svc.server_bytes(&c, &format!("/Jotta/Archive/new/n{i:02}.bin"));
        assert_eq!(on_server.as_ref(), Some(d), "file {i} is on the server once its fsync returned");
    }
}

#[test]
fn fsyncs_held_by_a_hanging_service_get_eio_when_it_then_fails_and_succeed_when_called_again() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let m = mount(&svc);
    let (fresh, open) = fresh_files(&m, "Jotta/Archive/new");
    svc.reset_counters();
    svc.set_faults(serde_json::json!({"hang": {"max_ms": 600_000}}));

    let (tid_tx, tid_rx) = mpsc::channel();
    let fsyncs = fsync_each(open, &tid_tx);
    let tids: Vec<(i64, i64)> = tid_rx.iter().take(FSYNCS).collect();
    let setup_deadline = Instant::now() + Duration::from_secs(30);
    let all_blocked = wait_for(setup_deadline, || tids.iter().all(|&(t, nr)| in_syscall(t, nr)));
    let uploads_held = wait_for(setup_deadline, || svc.requests("allocate") >= UPLOADS as u64);
    // More fsyncs wait than the mount has FUSE workers; the folder still lists.
    let listed =
        start("ls -l of the folder", ls_lists(m.p("Jotta/Archive/new"), FSYNCS)).result(Instant::now() + DEADLINE);

    // The service answers, with errors only: every allocation fails, past the client's retries.
    svc.set_faults(serde_json::json!({"fail_next": [{"kind": "allocate", "status": 500, "count": 1_000_000}]}));
    assert_eq!(listed, Ok(()), "while the service hung");
    assert!(all_blocked, "every fsync caller was waiting inside fsync");
    assert!(uploads_held, "{UPLOADS} uploads were in flight when the service hung");

    let after = Instant::now() + DEADLINE;
    let files: Vec<fs::File> = fsyncs
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let (f, res) = Pending::of(f).outcome(after).unwrap_or_else(|e| panic!("fsync {i}: {e}"));
            let err = res.expect_err("an fsync whose upload failed must not succeed");
            assert_eq!(err.raw_os_error(), Some(libc::EIO), "fsync {i}: {err}");
            f
        })
        .collect();

    // The files were kept: once the service works, fsync again succeeds and they are on the server.
    svc.set_faults(serde_json::json!({}));
    for (i, f) in files.iter().enumerate() {
        f.sync_all().unwrap_or_else(|e| panic!("fsync {i} again: {e}"));
        let on_server = svc.server_bytes(&c, &format!("/Jotta/Archive/new/n{i:02}.bin"));
        assert_eq!(on_server.as_ref(), Some(&fresh[i]), "file {i} is on the server once its fsync succeeded");
    }
}

fn check_read(p: &Path, want: &[u8]) -> Result<(), String> {
    match fs::read(p) {
        Ok(got) if got == want => Ok(()),
        Ok(got) => Err(format!("{}: {} bytes, not the {} written", p.display(), got.len(), want.len())),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}
