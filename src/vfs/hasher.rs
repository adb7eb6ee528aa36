//! The md5 of staging files written in order, computed on a thread of its own behind the writer: a write
//! returns once its bytes are in the staging file, and the hash reads them back from the page cache in
//! parallel. This keeps the FUSE threads (and the table lock they hold) free of the hashing work, which
//! is as costly as the copy itself, so a large sequential write is paced by one of the two, not both.

use md5::{Digest, Md5};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// How much the hasher reads at a time.
const CHUNK: usize = 1 << 20;

/// The running md5 of one staging file: bytes `0..written` are in the file, `0..hashed` are hashed.
pub struct HashPipe {
    state: Mutex<PipeState>,
    progress: Condvar,
    file: Arc<File>,
}

struct PipeState {
    /// Taken by the hasher thread while it hashes a chunk.
    hasher: Option<Md5>,
    hashed: u64,
    written: u64,
    /// Waiting in (or being served by) the hasher thread's queue.
    scheduled: bool,
    /// The file stopped being written in order: nobody will ask for this hash any more.
    abandoned: bool,
}

impl std::fmt::Debug for HashPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        write!(f, "HashPipe({}/{})", s.hashed, s.written)
    }
}

fn queue() -> &'static Mutex<Sender<Arc<HashPipe>>> {
    static QUEUE: OnceLock<Mutex<Sender<Arc<HashPipe>>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Arc<HashPipe>>();
        std::thread::Builder::new()
            .name("md5".into())
            .spawn(move || {
                let mut buf = vec![0u8; CHUNK];
                while let Ok(pipe) = rx.recv() {
                    // One chunk per turn, so a file written faster than md5 cannot hold up the others.
                    if pipe.step(&mut buf) {
                        enqueue(pipe);
                    }
                }
            })
            .expect("cannot start the md5 thread");
        Mutex::new(tx)
    })
}

/// Hand a pipe to the md5 thread; should that thread be gone, the pipe is abandoned (a full pass at close
/// then computes the md5 instead).
fn enqueue(pipe: Arc<HashPipe>) {
    let sent = queue().lock().unwrap_or_else(|e| e.into_inner()).send(pipe.clone());
    if sent.is_err() {
        pipe.abandon();
    }
}

impl HashPipe {
    pub fn new(file: Arc<File>) -> Arc<Self> {
        Arc::new(HashPipe {
            state: Mutex::new(PipeState {
                hasher: Some(Md5::new()),
                hashed: 0,
                written: 0,
                scheduled: false,
                abandoned: false,
            }),
            progress: Condvar::new(),
            file,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes up to `end` are now in the file (written in order): hash them in the background.
    pub fn advance(self: &Arc<Self>, end: u64) {
        let mut s = self.lock();
        s.written = s.written.max(end);
        if !s.scheduled && !s.abandoned {
            s.scheduled = true;
            drop(s);
            enqueue(self.clone());
        }
    }

    pub fn written(&self) -> u64 {
        self.lock().written
    }

    /// The writes left the order; the hash of this pipe will not be used.
    pub fn abandon(&self) {
        self.lock().abandoned = true;
        self.progress.notify_all();
    }

    /// The md5 of bytes `0..size`, waiting for the hasher to get there; None if it cannot (abandoned,
    /// the file was read short, or more than `size` bytes were hashed already).
    pub fn md5_of(&self, size: u64) -> Option<String> {
        let mut s = self.lock();
        loop {
            if s.abandoned || s.hashed > size || s.written < size {
                return None;
            }
            if s.hashed == size {
                if let Some(h) = &s.hasher {
                    return Some(hex::encode(h.clone().finalize()));
                }
            }
            s = self.progress.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The hasher thread's part: hash the next chunk of what is written. True when more is waiting (the
    /// pipe stays scheduled and must be queued again).
    fn step(&self, buf: &mut [u8]) -> bool {
        let (mut hasher, from, to) = {
            let mut s = self.lock();
            if s.abandoned || s.hashed >= s.written {
                s.scheduled = false;
                drop(s);
                self.progress.notify_all();
                return false;
            }
            let Some(h) = s.hasher.take() else {
                s.scheduled = false;
                return false;
            };
            (h, s.hashed, s.written.min(s.hashed + CHUNK as u64))
        };
        let n = (to - from) as usize;
        let ok = self.file.read_exact_at(&mut buf[..n], from).is_ok();
        if ok {
            hasher.update(&buf[..n]);
        }
        let mut s = self.lock();
        s.hasher = Some(hasher);
        if ok {
            s.hashed = to;
        } else {
            // Read short: the file was truncated behind us, so the writes are not in order any more.
            s.abandoned = true;
        }
        let more = !s.abandoned && s.hashed < s.written;
        if !more {
            s.scheduled = false;
        }
        drop(s);
        self.progress.notify_all();
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hashes_behind_the_writer_and_answers_only_for_what_it_saw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
        let pipe = HashPipe::new(Arc::new(f.try_clone().unwrap()));
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        for part in data.chunks(100_000) {
            f.write_all(part).unwrap();
            pipe.advance(f.metadata().unwrap().len());
        }
        assert_eq!(pipe.md5_of(data.len() as u64).unwrap(), hex::encode(Md5::digest(&data)));
        // Asking for less than was hashed cannot be answered; abandoned pipes answer nothing.
        assert!(pipe.md5_of(10).is_none());
        pipe.abandon();
        assert!(pipe.md5_of(data.len() as u64).is_none());
    }
}
