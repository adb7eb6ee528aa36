//! The read-ahead budget shared by a mount's streaming handles, through real reads of files on an
//! in-process emulator account.

use super::*;
use crate::emulator::{EmulatorConfig, InProcessRemote, InProcessService};
use crate::remote::UploadRequest;
use md5::{Digest, Md5};

const MIB: u64 = 1 << 20;

struct Account {
    rt: tokio::runtime::Runtime,
    _service: InProcessService,
    remote: Arc<InProcessRemote>,
    _dir: tempfile::TempDir,
}

/// An account holding `files` files of `size` bytes, each with its own bytes (`content`).
fn account(files: usize, size: u64) -> Account {
    let dir = tempfile::tempdir().expect("temp dir");
    let emu = EmulatorConfig { data_dir: dir.path().join("service"), ..EmulatorConfig::default() };
    let service = InProcessService::open(emu).expect("in-process service");
    let remote = Arc::new(service.remote());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for i in 0..files {
        let data = content(i, size);
        let source = dir.path().join(format!("f{i}"));
        std::fs::write(&source, &data).expect("write source");
        let req = UploadRequest {
            source,
            size,
            md5: hex::encode(Md5::digest(&data)),
            created: None,
            modified: None,
            uncached: false,
        };
        rt.block_on(remote.upload(&path(i), &req)).expect("upload");
    }
    Account { rt, _service: service, remote, _dir: dir }
}

fn path(i: usize) -> RemotePath {
    RemotePath::parse(&format!("/Jotta/Archive/f{i}")).expect("path")
}

fn content(i: usize, size: u64) -> Vec<u8> {
    (0..size).map(|n| (n / 4096 + n % 251 + i as u64 * 7) as u8).collect()
}

impl Account {
    fn reader(&self, i: usize, size: u64, streaming: &Streaming) -> FileReader<InProcessRemote> {
        let handle = self.rt.handle().clone();
        FileReader::new(self.remote.clone(), handle, path(i), size, config(), streaming.clone())
    }

    /// One read through the reader's own interface, waited for as the FUSE adapter would.
    fn read(&self, reader: &FileReader<InProcessRemote>, offset: u64, len: u32) -> Vec<u8> {
        let (tx, rx) = std::sync::mpsc::channel();
        let reply = move |r: FsResult<&[u8]>| {
            let _ = tx.send(r.map(<[u8]>::to_vec));
        };
        if let Some(waiting) = reader.read_now(offset, len, reply) {
            self.rt.block_on(waiting.finish(reader));
        }
        rx.recv_timeout(Duration::from_secs(60)).expect("a reply").expect("read")
    }
}

/// The defaults, with the link never judged slow: a loaded machine must not change the windows tested.
fn config() -> ReadAheadConfig {
    ReadAheadConfig { slow_link: 0, ..ReadAheadConfig::default() }
}

fn window(reader: &FileReader<InProcessRemote>) -> u64 {
    reader.plan.lock().expect("plan").window
}

#[test]
fn handles_streaming_at_once_share_the_window_and_a_lone_one_keeps_it_whole() {
    let size = 40 * MIB;
    let account = account(4, size);
    let cfg = config();

    // One file read alone grows its window to the whole `max_window`.
    let streaming = Streaming::default();
    let lone = account.reader(0, size, &streaming);
    let file0 = content(0, size);
    for at in (0..24 * MIB).step_by(MIB as usize) {
        assert_eq!(account.read(&lone, at, MIB as u32), file0[at as usize..(at + MIB) as usize]);
    }
    assert_eq!(window(&lone), cfg.max_window);
    drop(lone);
    assert_eq!(streaming.load(Ordering::Relaxed), 0, "a closed handle no longer counts");

    // Four read side by side: each holds an equal share of `shared_window`, and every byte is right.
    let readers: Vec<_> = (0..4).map(|i| account.reader(i, size, &streaming)).collect();
    let files: Vec<_> = (0..4).map(|i| content(i, size)).collect();
    for at in (0..24 * MIB).step_by(MIB as usize) {
        for (i, r) in readers.iter().enumerate() {
            assert_eq!(account.read(r, at, MIB as u32), files[i][at as usize..(at + MIB) as usize], "file {i} at {at}");
            let share = (cfg.shared_window / streaming.load(Ordering::Relaxed).max(1) as u64).max(cfg.min_share);
            assert!(window(r) <= share.max(cfg.first_window), "file {i}: window {} > share {share}", window(r));
        }
    }
    assert_eq!(streaming.load(Ordering::Relaxed), 4);
    assert!(readers.iter().all(|r| window(r) == cfg.shared_window / 4), "windows of a quarter each");
    assert!(cfg.shared_window / 4 < cfg.max_window);

    // A seek ends a handle's run: it no longer takes a share, and the others grow into it.
    assert_eq!(account.read(&readers[3], 0, 4096), files[3][..4096]);
    assert_eq!(streaming.load(Ordering::Relaxed), 3);
    for at in (24 * MIB..32 * MIB).step_by(MIB as usize) {
        assert_eq!(account.read(&readers[0], at, MIB as u32), files[0][at as usize..(at + MIB) as usize]);
    }
    assert_eq!(window(&readers[0]), cfg.shared_window / 3);
    // A handle whose whole file is scheduled needs no window: it gives its share back.
    for at in (24 * MIB..size).step_by(MIB as usize) {
        assert_eq!(account.read(&readers[1], at, MIB as u32), files[1][at as usize..(at + MIB) as usize]);
    }
    assert_eq!(streaming.load(Ordering::Relaxed), 2, "the file read to its end no longer counts");
    drop(readers);
    assert_eq!(streaming.load(Ordering::Relaxed), 0);
}
