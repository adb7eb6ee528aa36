//! Shared test fixtures: an emulator on loopback in a temp dir (`TestService`), a logged-in client, and
//! `TestMount`, the real `jottafuse` binary mounted on a temp dir and unmounted on drop.
#![allow(dead_code)]

use futures_util::StreamExt;
use jottafuse::emulator::{self, EmulatorConfig, RunningEmulator};
use jottafuse::remote::{ConnectOptions, HttpRemote, RetryPolicy};
use jottafuse::remote::{Remote, RemotePath, RemoteResult, UploadOutcome, UploadRequest};
use md5::{Digest, Md5};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub mod in_process;
pub mod model;
pub mod trees;
mod watchdog;

pub struct TestService {
    pub rt: tokio::runtime::Runtime,
    pub emulator: Option<RunningEmulator>,
    pub dir: TempDir,
    pub config: EmulatorConfig,
    _watchdog: watchdog::Watchdog,
}

impl TestService {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut EmulatorConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let mut config = EmulatorConfig { data_dir: dir.path().join("service"), ..EmulatorConfig::default() };
        tweak(&mut config);
        let emulator = rt.block_on(emulator::start(config.clone())).expect("emulator starts");
        TestService { rt, emulator: Some(emulator), dir, config, _watchdog: watchdog::Watchdog::arm() }
    }

    pub fn emu(&self) -> &RunningEmulator {
        self.emulator.as_ref().expect("emulator running")
    }

    pub fn endpoint(&self) -> String {
        self.emu().endpoint()
    }

    /// The CA a client must trust to reach an emulator started with `tls`.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.emu().ca_cert().map(Path::to_path_buf)
    }

    /// A plain reqwest client for the test hooks, trusting the emulator's CA when it serves TLS.
    pub fn http(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder();
        if let Some(ca) = self.ca_cert() {
            let pem = std::fs::read(ca).expect("read the emulator's CA");
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA is PEM"));
        }
        b.build().expect("hook client")
    }

    /// Stop and start the emulator on the same data dir (and the same port, so saved endpoints stay true).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Take the service down: its port refuses connections until `start_again`; the data stays.
    pub fn stop(&mut self) {
        let old = self.emulator.take().expect("running");
        self.config.listen = old.local_addr();
        self.rt.block_on(old.shutdown());
    }

    /// Bring a stopped service back on the same port and data, with `self.config` as it is now.
    pub fn start_again(&mut self) {
        assert!(self.emulator.is_none(), "the emulator is running already");
        self.emulator = Some(self.rt.block_on(emulator::start(self.config.clone())).expect("emulator restarts"));
    }

    /// A credentials folder logged in to this emulator.
    pub fn login(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join(name).join("jottafuse");
        std::fs::create_dir_all(&dir).expect("config dir");
        self.rt
            .block_on(jottafuse::remote::auth::login(
                &self.emu().login_token(),
                Some(&self.endpoint()),
                &dir,
                self.ca_cert().as_deref(),
            ))
            .expect("login");
        dir
    }

    pub fn client(&self) -> HttpRemote {
        let dir = self.login(&format!("client-{}", rand_suffix()));
        let opts = ConnectOptions {
            config_dir: dir,
            endpoint: Some(self.endpoint()),
            ca_cert: self.ca_cert(),
            ..ConnectOptions::default()
        };
        self.rt.block_on(HttpRemote::connect(opts)).expect("connect")
    }

    /// A client with its own fresh login and the given retry policy.
    pub fn client_with(&self, retry: RetryPolicy) -> HttpRemote {
        let dir = self.login(&format!("client-{}", rand_suffix()));
        self.connect(&dir, retry)
    }

    /// A client on an existing config dir (a saved login, or none for the legacy Basic fall-backs).
    pub fn connect(&self, config_dir: &Path, retry: RetryPolicy) -> HttpRemote {
        self.rt.block_on(HttpRemote::connect(self.options(config_dir, retry))).expect("connect")
    }

    pub fn options(&self, config_dir: &Path, retry: RetryPolicy) -> ConnectOptions {
        ConnectOptions {
            config_dir: config_dir.to_path_buf(),
            endpoint: Some(self.endpoint()),
            ca_cert: self.ca_cert(),
            retry,
            silence: jottafuse::remote::http::SILENCE,
        }
    }

    /// Upload bytes with explicit times, returning what the client reports.
    pub fn upload(&self, client: &HttpRemote, path: &str, data: &[u8]) -> RemoteResult<UploadOutcome> {
        self.rt.block_on(upload_bytes(client, self.dir.path(), path, data, 1_700_000_000))
    }

    /// Download (a range of) a file whole into memory.
    pub fn download(&self, client: &HttpRemote, path: &str, range: Option<Range<u64>>) -> RemoteResult<Vec<u8>> {
        self.rt.block_on(download_bytes(client, path, range))
    }

    /// Requests of one kind counted by the emulator since the last reset.
    pub fn requests(&self, kind: &str) -> u64 {
        self.counters()["requests"][kind].as_u64().unwrap_or(0)
    }

    /// All requests (test hooks excluded) counted since the last reset.
    pub fn total_requests(&self) -> u64 {
        self.counters()["requests"].as_object().map(|m| m.values().filter_map(|v| v.as_u64()).sum()).unwrap_or(0)
    }

    /// POST a test hook such as `expire-tokens`.
    pub fn hook(&self, name: &str) {
        let url = format!("{}/_emulator/{name}", self.endpoint());
        let resp = self.rt.block_on(self.http().post(url).send()).expect("hook");
        assert!(resp.status().is_success(), "hook {name}: {}", resp.status());
    }

    /// Upload bytes through the client (the way a change "from elsewhere" reaches the account).
    pub fn put(&self, client: &HttpRemote, path: &str, data: &[u8]) {
        let local = self.dir.path().join(format!("upload-{}", rand_suffix()));
        std::fs::write(&local, data).expect("write temp");
        let req = UploadRequest {
            source: local.clone(),
            size: data.len() as u64,
            md5: md5_hex(data),
            created: Some(1_700_000_000),
            modified: Some(1_700_000_000),
            uncached: false,
        };
        let p = RemotePath::parse(path).expect("path");
        self.rt.block_on(client.upload(&p, &req)).expect("upload");
        let _ = std::fs::remove_file(local);
    }

    pub fn counters(&self) -> serde_json::Value {
        let url = format!("{}/_emulator/counters", self.endpoint());
        self.rt
            .block_on(async { self.http().get(url).send().await?.json::<serde_json::Value>().await })
            .expect("counters")
    }

    pub fn reset_counters(&self) {
        let url = format!("{}/_emulator/counters/reset", self.endpoint());
        self.rt.block_on(self.http().post(url).send()).expect("reset counters");
    }

    pub fn bytes_sent(&self) -> u64 {
        self.counters()["bytes_sent"].as_u64().unwrap_or(0)
    }

    pub fn bytes_received(&self) -> u64 {
        self.counters()["bytes_received"].as_u64().unwrap_or(0)
    }

    /// Content of a file on the server, through the client (None if it is not there).
    pub fn server_bytes(&self, client: &HttpRemote, path: &str) -> Option<Vec<u8>> {
        use futures_util::StreamExt;
        let p = RemotePath::parse(path).expect("path");
        self.rt.block_on(async {
            let mut s = client.download(&p, None).await.ok()?;
            let mut out = Vec::new();
            while let Some(piece) = s.next().await {
                out.extend_from_slice(&piece.ok()?);
            }
            Some(out)
        })
    }

    pub fn server_file(&self, client: &HttpRemote, path: &str) -> Option<jottafuse::remote::FileInfo> {
        let p = RemotePath::parse(path).expect("path");
        match self.rt.block_on(client.stat(&p)) {
            Ok(jottafuse::remote::Item::File(f)) if f.is_live() => Some(f),
            _ => None,
        }
    }

    pub fn set_faults(&self, faults: serde_json::Value) {
        let url = format!("{}/_emulator/faults", self.endpoint());
        let resp = self.rt.block_on(self.http().put(url).json(&faults).send()).expect("set faults");
        assert!(resp.status().is_success(), "set faults: {}", resp.status());
    }
}

/// A path that must parse.
pub fn rp(path: &str) -> RemotePath {
    RemotePath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Retries that keep the suite fast: same attempt count as the default, millisecond backoff.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy { max_attempts: 6, base_delay: Duration::from_millis(5), max_delay: Duration::from_millis(50) }
}

/// Write `data` to a temp file under `dir` and upload it with the given times.
pub async fn upload_bytes(
    client: &HttpRemote,
    dir: &Path,
    path: &str,
    data: &[u8],
    modified: i64,
) -> RemoteResult<UploadOutcome> {
    let local = dir.join(format!("upload-{}", rand_suffix()));
    std::fs::write(&local, data).expect("write temp");
    let req = UploadRequest {
        source: local.clone(),
        size: data.len() as u64,
        md5: md5_hex(data),
        created: Some(modified),
        modified: Some(modified),
        uncached: false,
    };
    let out = client.upload(&rp(path), &req).await;
    let _ = std::fs::remove_file(local);
    out
}

/// A download collected into memory; a mid-stream error is returned as the error.
pub async fn download_bytes(client: &HttpRemote, path: &str, range: Option<Range<u64>>) -> RemoteResult<Vec<u8>> {
    let mut stream = client.download(&rp(path), range).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

pub fn rand_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    // Odd and distinct for every seed (xorshift needs a non-zero start): `seed | 1` gave seeds 2n and
    // 2n+1 the same bytes, which made dedupe counts depend on upload order.
    let mut x = (seed << 1) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Why this process cannot run a real mount, or `None` when it can. The mount tests need `/dev/fuse`
/// and root: they mount with options only root may use and switch users to check what others see.
pub fn mount_unavailable() -> Option<&'static str> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse is missing");
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root");
    }
    None
}

/// For a test that needs to mount (a FUSE mount, or a bind mount): `true` when this process cannot mount, after saying so on the
/// terminal (straight to stderr: the harness hides what passing tests print), so the test returns at
/// once and the run shows it was skipped rather than passed.
pub fn skip_without_mount() -> bool {
    let Some(reason) = mount_unavailable() else { return false };
    let test = std::thread::current().name().unwrap_or("a mount test").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs to mount ({reason}); run `cargo test` as root with /dev/fuse"
    );
    true
}

pub fn fuse_available() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: the mount tests need FUSE (run as root on a machine with the fuse module)"
    );
}

/// The real `jottafuse` binary mounted in the foreground on a temp dir; unmounted on drop.
pub struct TestMount {
    pub path: PathBuf,
    pub child: Option<Child>,
    pub config_home: PathBuf,
    _dir: Option<TempDir>,
}

impl TestMount {
    /// Mount the account of `svc` with extra `-o` options (e.g. "dir_cache=1").
    pub fn new(svc: &TestService, options: &str) -> Self {
        Self::with_args(svc, options, &[])
    }

    pub fn with_args(svc: &TestService, options: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().to_path_buf();
        let mut m = Self::in_dir(svc, options, extra, &base);
        m._dir = Some(dir);
        m
    }

    /// Mount with config, cache and mount point under `base`; a second mount on the same `base` finds
    /// the same credentials and the same upload journal (what a remount after a crash sees).
    pub fn in_dir(svc: &TestService, options: &str, extra: &[&str], base: &Path) -> Self {
        Self::spawn(svc, options, extra, base, &[], Stdio::inherit())
    }

    /// `in_dir` with extra environment for the daemon (test hooks) and, if `log` is given, its log
    /// written there instead of to the test's stderr (for tests that read it).
    pub fn start(
        svc: &TestService,
        options: &str,
        extra: &[&str],
        base: &Path,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Self {
        let stderr = match log {
            Some(log) => {
                Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(log).expect("daemon log file"))
            }
            None => Stdio::inherit(),
        };
        Self::spawn(svc, options, extra, base, env, stderr)
    }

    /// Like `new`, with the daemon's log (its stderr) kept for `log()`.
    pub fn logged(svc: &TestService, options: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let mut m = Self::spawn(svc, options, &[], dir.path(), &[], Stdio::from(log));
        m._dir = Some(dir);
        m
    }

    /// What the daemon logged so far (mounts made with `logged`).
    pub fn log(&self) -> String {
        let base = self.path.parent().unwrap_or(&self.path);
        std::fs::read_to_string(base.join("daemon.log")).unwrap_or_default()
    }

    fn spawn(
        svc: &TestService,
        options: &str,
        extra: &[&str],
        base: &Path,
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Self {
        fuse_available();
        let config_home = base.join("config");
        let creds = config_home.join("jottafuse");
        if !creds.join("credentials.json").exists() {
            std::fs::create_dir_all(&creds).expect("config");
            svc.rt
                .block_on(jottafuse::remote::auth::login(
                    &svc.emu().login_token(),
                    Some(&svc.endpoint()),
                    &creds,
                    svc.ca_cert().as_deref(),
                ))
                .expect("login");
        }
        let path = base.join("mnt");
        std::fs::create_dir_all(&path).expect("mountpoint");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jottafuse"));
        cmd.arg("-f").arg(&path).env("XDG_CONFIG_HOME", &config_home).env("XDG_CACHE_HOME", base.join("cache"));
        if !options.is_empty() {
            cmd.arg("-o").arg(options);
        }
        cmd.args(extra)
            .env("RUST_LOG", std::env::var("JOTTA_TEST_DAEMON_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::null())
            .stderr(stderr);
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().expect("spawn jottafuse");
        let mut m = TestMount { path, child: Some(child), config_home, _dir: None };
        m.wait_mounted();
        m
    }

    fn wait_mounted(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if is_mounted(&self.path) {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("jottafuse exited before mounting: {status}");
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("jottafuse did not mount within 30 s");
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.path.join(rel.trim_start_matches('/'))
    }

    /// Peak resident memory of the daemon so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    }

    /// kill -9 the daemon (a crash): nothing is drained; the dead mount is detached.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(&self.path).status();
    }

    /// SIGTERM and wait for the daemon to unmount and exit; returns its exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        self.terminate();
        if is_mounted(&self.path) {
            let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(&self.path).status();
        }
    }
}

/// A user.* extended attribute of a file, as text (None when it is missing).
/// Copy `len` bytes from `src` to `dst` with copy_file_range(2), from and to the files' own positions,
/// as `cp` does inside one filesystem; panics if a call copies nothing.
pub fn copy_file_range_all(src: &std::fs::File, dst: &std::fs::File, len: usize) {
    use std::os::fd::AsRawFd;
    let mut copied = 0usize;
    while copied < len {
        // SAFETY: valid descriptors and null offsets (the files' own positions are used).
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                len - copied,
                0,
            )
        };
        assert!(n > 0, "copy_file_range: {}", std::io::Error::last_os_error());
        copied += n as usize;
    }
}

pub fn getxattr(p: &Path, name: &str) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let cp = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("path");
    let cn = std::ffi::CString::new(name).expect("name");
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the stated size.
    let n = unsafe { libc::getxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    String::from_utf8(buf).ok()
}

/// Poll `cond` every 50 ms for up to a minute; panics naming `what` if it never holds.
pub fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_until_within(what, 60, cond)
}

/// `wait_until` with a bound of its own, for work that takes longer (a throttled upload, a drain).
pub fn wait_until_within(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Run `f` on a thread of its own and wait for it at most `secs` seconds: None if it did not finish
/// (a call blocked in the kernel cannot be cancelled; the thread is left behind).
pub fn finishes_within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).ok()
}

pub fn is_mounted(path: &Path) -> bool {
    let Ok(abs) = std::fs::canonicalize(path.parent().unwrap_or(path)) else { return false };
    let want = abs.join(path.file_name().unwrap_or_default());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().filter_map(|l| l.split(' ').nth(4)).any(|mp| Path::new(mp) == want)
}

/// What `jotta status ARGS` prints for the mounts whose cache lives under `base` (the layout of
/// `TestMount::in_dir`).
pub fn jotta_status(base: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .arg("status")
        .args(args)
        .env("XDG_CACHE_HOME", base.join("cache"))
        .output()
        .expect("run jotta status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one account folder (staging files and journal) of the mounts under `base`.
pub fn account_dir(base: &Path) -> PathBuf {
    let accounts: Vec<_> = std::fs::read_dir(base.join("cache/jottafuse/accounts"))
        .expect("accounts folder")
        .map(|e| e.expect("account entry").path())
        .collect();
    assert_eq!(accounts.len(), 1, "one account: {accounts:?}");
    accounts[0].clone()
}

/// The pending rows (uploads, folders, removals) `jotta status --json` reports for the mount under `base`.
pub fn pending_rows(base: &Path) -> Vec<serde_json::Value> {
    let mounts: serde_json::Value = serde_json::from_str(&jotta_status(base, &["--json"])).unwrap_or_default();
    mounts[0]["report"]["pending"].as_array().cloned().unwrap_or_default()
}

/// Wait until the mount under `base` is quiet: `marker` (a path below the account, e.g.
/// `/Jotta/Archive/m`), written through `mount_path` after what the test did, is on the server and nothing
/// is pending. What was going to be uploaded has been by then; what is still absent never will be.
pub fn wait_quiet(svc: &TestService, client: &HttpRemote, base: &Path, mount_path: &Path, marker: &str) {
    std::fs::write(mount_path, b"marker").expect("write the marker");
    wait_until("the mount to be quiet", || svc.server_file(client, marker).is_some() && pending_rows(base).is_empty());
}

/// `jotta status --json` of the mount under `base`, once its daemon has rewritten the status file after
/// `after` (it does so every second): figures that include what the test did just before.
pub fn status_after(base: &Path, after: std::time::SystemTime) -> serde_json::Value {
    let dir = base.join("cache/jottafuse/status");
    wait_until("the status file to be rewritten", || {
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t > after))
    });
    serde_json::from_str(&jotta_status(base, &["--json"])).unwrap_or_default()
}

/// Pass time for a daemon started with `JOTTAFUSE_TEST_CLOCK=<file>` (its cache lifetimes count
/// `secs` more than the system clock says).
pub fn set_clock_skew(file: &Path, secs: f64) {
    std::fs::write(file, format!("{secs}")).expect("clock skew file");
}
