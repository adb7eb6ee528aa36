//! `Core`: the filesystem core (`JottaFs`) driven directly, without FUSE, root or sockets, over the
//! emulator's store served in-process (`InProcessService`). A "daemon life" is a runtime of its own plus
//! one `JottaFs` on a cache dir: `crash` ends it the way kill -9 does (tasks gone, memory gone, disk
//! kept), `restart` starts the next one on the same journal. `other` is a second client of the same
//! account, for changes made elsewhere.

use jottafuse::emulator::{EmulatorConfig, FaultConfig, Hang, InProcessRemote, InProcessService};
use jottafuse::remote::{Item, Remote, RemoteError, RemotePath, UploadRequest};
use jottafuse::vfs::OpenMode;
use jottafuse::vfs::{Attr, FsError, FsResult, InodeKind, JottaFs, VfsConfig, ROOT_INO};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// The longest a test waits for uploads to drain; only a hang reaches it.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

pub struct Core {
    /// For the test's own calls on `other`.
    pub rt: tokio::runtime::Runtime,
    pub service: InProcessService,
    /// Another client of the same account.
    pub other: InProcessRemote,
    pub fs: Arc<JottaFs<InProcessRemote>>,
    daemon_rt: Option<tokio::runtime::Runtime>,
    cfg: VfsConfig,
    pub dir: TempDir,
    _watchdog: super::watchdog::Watchdog,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

impl Core {
    /// The core on `/Jotta/Archive` with uploads starting as soon as a file is closed.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut VfsConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let emu = EmulatorConfig { data_dir: dir.path().join("service"), ..EmulatorConfig::default() };
        let service = InProcessService::open(emu).expect("in-process service");
        let mut cfg = VfsConfig {
            root: RemotePath::parse("/Jotta/Archive").expect("root"),
            cache_root: Some(dir.path().join("cache")),
            writeback_delay: Duration::ZERO,
            ..VfsConfig::default()
        };
        tweak(&mut cfg);
        let (daemon_rt, fs) = Self::start_daemon(&service, &cfg);
        Core {
            rt: runtime(),
            other: service.remote(),
            service,
            fs,
            daemon_rt: Some(daemon_rt),
            cfg,
            dir,
            _watchdog: super::watchdog::Watchdog::arm(),
        }
    }

    fn start_daemon(
        service: &InProcessService,
        cfg: &VfsConfig,
    ) -> (tokio::runtime::Runtime, Arc<JottaFs<InProcessRemote>>) {
        let rt = runtime();
        let fs = JottaFs::new(Arc::new(service.remote()), rt.handle().clone(), cfg.clone()).expect("core starts");
        let fs = Arc::new(fs);
        fs.check_root().expect("root is a folder");
        fs.start_uploads();
        (rt, fs)
    }

    /// End this daemon life like kill -9: its tasks stop where they are and nothing is drained.
    pub fn crash(&mut self) {
        if let Some(rt) = self.daemon_rt.take() {
            // Tasks stop at their next await, as a killed process stops at once. What a worker thread
            // is doing between two awaits (the in-process service applying a request it received) is
            // let finish first, as a real server finishes a request it fully received before the client
            // died: left running in the background it could land in the next life, which no real crash
            // can do.
            rt.shutdown_timeout(Duration::from_secs(10));
        }
    }

    /// Start the next daemon life on the same cache dir (after `crash`, or instead of an unmount).
    pub fn restart(&mut self) {
        self.crash();
        let (rt, fs) = Self::start_daemon(&self.service, &self.cfg);
        self.fs = fs;
        self.daemon_rt = Some(rt);
    }

    /// What an unmount does: close what is open, record and upload everything. Returns the uploads left.
    pub fn drain(&self) -> usize {
        self.fs.release_all();
        self.fs.drain(DRAIN_LIMIT, &AtomicBool::new(false))
    }

    /// The inode of a path below the root (`a/b.txt`), looked up name by name as the kernel does.
    pub fn ino(&self, rel: &str) -> FsResult<u64> {
        let mut ino = ROOT_INO;
        for name in rel.split('/').filter(|s| !s.is_empty()) {
            ino = self.fs.lookup(ino, name)?.ino;
        }
        Ok(ino)
    }

    pub fn attr(&self, rel: &str) -> FsResult<Attr> {
        self.fs.getattr(self.ino(rel)?)
    }

    /// Parent inode and last name of a path below the root.
    pub fn parent_and_name<'a>(&self, rel: &'a str) -> FsResult<(u64, &'a str)> {
        match rel.rsplit_once('/') {
            // The kernel's path walk refuses a file on the way before any filesystem sees the call.
            Some((parent, name)) => {
                let ino = self.ino(parent)?;
                match self.fs.getattr(ino)?.kind.is_dir() {
                    true => Ok((ino, name)),
                    false => Err(FsError::NotADirectory),
                }
            }
            None => Ok((ROOT_INO, rel)),
        }
    }

    /// Sorted names of a folder's entries.
    pub fn names(&self, rel: &str) -> FsResult<Vec<String>> {
        let ino = self.ino(rel)?;
        self.fs.opendir(ino)?;
        let mut names: Vec<String> = self.fs.readdir(ino)?.into_iter().map(|e| e.name).collect();
        names.retain(|n| n != "." && n != "..");
        names.sort();
        Ok(names)
    }

    /// create + write + release, as `echo data > file` does.
    pub fn write_new(&self, rel: &str, data: &[u8]) -> FsResult<()> {
        let (parent, name) = self.parent_and_name(rel)?;
        let (_, fh) = self.fs.create(parent, name)?;
        self.write_all(fh, 0, data)?;
        self.fs.flush(fh)?;
        self.fs.release(fh)
    }

    /// Overwrite an existing file whole (open with O_TRUNC).
    pub fn overwrite(&self, rel: &str, data: &[u8]) -> FsResult<()> {
        let fh = self.fs.open(self.ino(rel)?, OpenMode::WriteTruncated)?.fh;
        self.write_all(fh, 0, data)?;
        self.fs.flush(fh)?;
        self.fs.release(fh)
    }

    pub fn write_all(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<()> {
        let mut done = 0;
        while done < data.len() {
            let end = (done + 128 * 1024).min(data.len());
            let n = self.fs.write(fh, offset + done as u64, &data[done..end])? as usize;
            assert!(n > 0, "write made no progress");
            done += n;
        }
        Ok(())
    }

    /// open + read to the end + release, in kernel-sized requests.
    pub fn read_all(&self, rel: &str) -> FsResult<Vec<u8>> {
        let fh = self.fs.open(self.ino(rel)?, OpenMode::Read)?.fh;
        let mut out = Vec::new();
        let result = loop {
            match self.fs.read(fh, out.len() as u64, 128 * 1024) {
                Ok(chunk) if chunk.is_empty() => break Ok(out),
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(e) => break Err(e),
            }
        };
        self.fs.release(fh)?;
        result
    }

    /// fsync through a handle, waiting for its answer (the upload) on this thread.
    pub fn fsync(&self, fh: u64) -> FsResult<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.fs.fsync(fh, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().map_err(|_| FsError::Io("fsync ended without an answer".into()))?
    }

    pub fn mkdir(&self, rel: &str) -> FsResult<Attr> {
        let (parent, name) = self.parent_and_name(rel)?;
        self.fs.mkdir(parent, name)
    }

    pub fn unlink(&self, rel: &str) -> FsResult<()> {
        let (parent, name) = self.parent_and_name(rel)?;
        self.fs.unlink(parent, name)
    }

    pub fn rmdir(&self, rel: &str) -> FsResult<()> {
        let (parent, name) = self.parent_and_name(rel)?;
        self.fs.rmdir(parent, name)
    }

    pub fn rename(&self, from: &str, to: &str) -> FsResult<()> {
        let (p1, n1) = self.parent_and_name(from)?;
        let (p2, n2) = self.parent_and_name(to)?;
        self.fs.rename(p1, n1, p2, n2)
    }

    pub fn is_dir(&self, rel: &str) -> bool {
        self.attr(rel).map(|a| a.kind == InodeKind::Folder).unwrap_or(false)
    }

    /// The account path of a path below the root.
    pub fn remote_path(&self, rel: &str) -> RemotePath {
        RemotePath::parse(&format!("/Jotta/Archive/{rel}")).expect("remote path")
    }

    /// The current bytes of a file as another client downloads them; `None` if it is not there (or
    /// only in the trash).
    pub fn server_bytes(&self, rel: &str) -> Option<Vec<u8>> {
        use futures_util::StreamExt;
        let path = self.remote_path(rel);
        self.rt.block_on(async {
            match self.other.stat(&path).await {
                Ok(Item::File(_)) => {}
                Ok(Item::Folder(_)) => panic!("{path} is a folder"),
                Err(RemoteError::NotFound(_)) => return None,
                Err(e) => panic!("stat {path}: {e}"),
            }
            let mut stream = match self.other.download(&path, None).await {
                Ok(s) => s,
                Err(RemoteError::NotFound(_)) => return None,
                Err(e) => panic!("download {path}: {e}"),
            };
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("download {path}: {e}")));
            }
            Some(out)
        })
    }

    /// Whether another client sees a live folder at the path.
    pub fn server_has_folder(&self, rel: &str) -> bool {
        matches!(self.rt.block_on(self.other.stat(&self.remote_path(rel))), Ok(Item::Folder(_)))
    }

    /// Upload through the other client: a change made elsewhere.
    pub fn put_elsewhere(&self, rel: &str, data: &[u8]) {
        let local = self.dir.path().join(format!("elsewhere-{}", super::rand_suffix()));
        std::fs::write(&local, data).expect("write temp");
        let req = UploadRequest {
            source: PathBuf::from(&local),
            size: data.len() as u64,
            md5: super::md5_hex(data),
            created: Some(1_700_000_000),
            modified: Some(1_700_000_000),
            uncached: false,
        };
        self.rt.block_on(self.other.upload(&self.remote_path(rel), &req)).expect("upload elsewhere");
        let _ = std::fs::remove_file(local);
    }

    /// From now on the service holds every request of `kind` (up to a minute) until the faults change.
    pub fn hang(&self, kind: &str) {
        self.service.set_faults(FaultConfig {
            hang: Some(Hang { kinds: vec![kind.into()], max_ms: 60_000 }),
            ..FaultConfig::default()
        });
    }

    /// Requests of one kind the service counted since the last reset.
    pub fn requests(&self, kind: &str) -> u64 {
        self.service.counters()["requests"][kind].as_u64().unwrap_or(0)
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.crash();
    }
}
