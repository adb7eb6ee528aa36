//! The md5 of staging files written in order, computed on a thread of its own behind the writer: a write
//! returns once its bytes are in the staging file, and the hash follows in parallel. This keeps the FUSE
//! threads (and the table lock they hold) free of the hashing work, which is as costly as the copy
//! itself, so a large sequential write is paced by one of the two, not both.
//!
//! The hasher gets the bytes from the write itself: a copy taken while they are still in the CPU's cache
//! costs a fraction of reading them back from the page cache later (that read was an eighth of the
//! daemon's CPU in a sampled 1 GiB write). The copies wait in a queue bounded for all files together
//! (`CARRY_MAX`); a write that finds it full is hashed the old way, read back from the staging file.
//! Copies of large writes are aligned (`direct_io.rs`), so the same copy is what the staging file takes
//! without the page cache.

use super::buffers::BufferPool;
use crate::direct_io::AlignedBuf;
use md5::{Digest, Md5};
use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// How much the hasher reads at a time.
const CHUNK: usize = 1 << 20;

/// Bytes of writes copied for the hasher and not hashed yet, over all files: two of the largest writes,
/// so the hasher has the next one ready while the writer copies a third. Writes are paced by md5 anyway
/// (`wait_for_room`), so more only holds memory: measured, 32, 8 and 2 MiB gave the same write speed
/// and CPU, while four files written at once took the daemon to 46-47 MiB at 32.
const CARRY_MAX: usize = 2 << 20;
static CARRIED: AtomicUsize = AtomicUsize::new(0);

/// The running md5 of one staging file: bytes `0..written` are in the file, `0..hashed` are hashed.
pub struct HashPipe {
    state: Mutex<PipeState>,
    progress: Condvar,
    file: Arc<File>,
    /// The file without the page cache, for reading back bytes written that way (which the cache does
    /// not hold): opened at the first such read back.
    direct: OnceLock<Option<File>>,
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
    /// Some writes skipped the page cache: reading back goes around it too.
    uncached: bool,
    /// Copies of writes (offset, bytes) in order, at or after `hashed`: hashed from here, not read back.
    carried: VecDeque<(u64, Copied)>,
}

impl PipeState {
    /// Give back the carried copies (and their share of `CARRY_MAX`).
    fn drop_carried(&mut self) {
        let mut n = 0;
        for (_, b) in self.carried.drain(..) {
            n += b.bytes().len();
            b.recycle();
        }
        give_back_carry(n);
    }
}

impl Drop for HashPipe {
    fn drop(&mut self) {
        self.lock().drop_carried();
    }
}

/// Copies of large writes reuse buffers (`buffers.rs`; measured: ~27,000-35,000 page faults per GiB
/// written came from fresh ones), each made long enough for any write (a FUSE write is at most 1 MiB),
/// of pages mapped for it (`pages.rs`: aligned, and outside the allocator's heaps). Small writes (small
/// files) copy into plain allocations. Three are kept: the two `CARRY_MAX` allows, and one being written
/// (parallel writers take more, given back beyond three).
pub(super) static SPARE: BufferPool<AlignedBuf> = BufferPool::new(3, CHUNK);
pub(super) const SPARE_FROM: usize = 64 << 10;

/// A write's bytes, copied: aligned (from the pool) when large.
pub(super) enum Copied {
    Small(Vec<u8>),
    Large(AlignedBuf),
}

impl Copied {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Copied::Small(v) => v,
            Copied::Large(b) => b.as_slice(),
        }
    }

    /// Done with it: a large copy's buffer goes back to the pool.
    pub(super) fn recycle(self) {
        if let Copied::Large(b) = self {
            SPARE.give_back(b);
        }
    }
}

/// A copy of a write (at most `CHUNK` bytes): see `SPARE`.
pub(super) fn copy_of(data: &[u8]) -> Copied {
    if data.len() < SPARE_FROM || data.len() > CHUNK {
        return Copied::Small(data.to_vec());
    }
    let mut copy = SPARE.take(CHUNK, CHUNK);
    copy.extend(data);
    Copied::Large(copy)
}

/// Take `n` bytes of the carry budget, if there is room.
fn take_carry(n: usize) -> bool {
    CARRIED.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| (c + n <= CARRY_MAX).then_some(c + n)).is_ok()
}

/// Signalled whenever carried bytes are given back (see `wait_for_room`).
static ROOM: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

fn give_back_carry(n: usize) {
    CARRIED.fetch_sub(n, Ordering::SeqCst);
    // Through the lock: a writer between its look at `CARRIED` and its wait would miss the signal.
    drop(ROOM.0.lock().unwrap_or_else(|e| e.into_inner()));
    ROOM.1.notify_all();
}

/// The longest a write waits for the carry budget (then it is hashed by reading it back).
const ROOM_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Before a large write, with no lock held: wait (bounded) until the carry budget has room for `n` bytes.
/// A writer faster than md5 is thus paced by it. Letting it run ahead saves nothing, as close and fsync
/// wait for the md5 anyway, and costs much: the hasher must then read the bytes back, and where writes
/// skip the page cache that read goes to the disk, one chunk at a time on the md5 thread (measured with
/// `dd conv=fsync` of 1 GiB: the write phase 0.3 s shorter, the fsync 0.6 s longer).
pub(super) fn wait_for_room(n: usize) {
    if n < SPARE_FROM || CARRIED.load(Ordering::SeqCst) + n <= CARRY_MAX {
        return;
    }
    let deadline = std::time::Instant::now() + ROOM_WAIT;
    let mut guard = ROOM.0.lock().unwrap_or_else(|e| e.into_inner());
    while CARRIED.load(Ordering::SeqCst) + n > CARRY_MAX {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        guard = ROOM.1.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()).0;
    }
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
                let mut buf = AlignedBuf::new(CHUNK);
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
                uncached: false,
                carried: VecDeque::new(),
            }),
            progress: Condvar::new(),
            file,
            direct: OnceLock::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `data` was just written at `offset`, continuing what was written before: hash it in the
    /// background, from a copy when the carry budget has room (else read back from the file).
    pub fn wrote(self: &Arc<Self>, offset: u64, data: &[u8]) {
        let carry = offset == self.lock().written && !data.is_empty() && take_carry(data.len());
        let copy = carry.then(|| copy_of(data));
        self.carry(offset, copy, data.len());
    }

    /// As `wrote`, for a write whose copy was taken already (it went to the staging file from there): the
    /// copy is kept for the hasher when the budget has room, else given back.
    pub(super) fn wrote_copied(self: &Arc<Self>, offset: u64, copy: Copied) {
        let len = copy.bytes().len();
        let carry = {
            let mut s = self.lock();
            s.uncached = true;
            offset == s.written
        } && len > 0
            && take_carry(len);
        if carry {
            self.carry(offset, Some(copy), len);
        } else {
            copy.recycle();
            self.advance(offset + len as u64);
        }
    }

    /// Queue a copy whose share of the budget is taken (unless the writes left the order meanwhile) and
    /// let the hasher go on to `offset + len`.
    fn carry(self: &Arc<Self>, offset: u64, copy: Option<Copied>, len: usize) {
        let mut s = self.lock();
        if let Some(copy) = copy {
            if s.abandoned || s.written != offset {
                give_back_carry(len);
                copy.recycle();
            } else {
                s.carried.push_back((offset, copy));
            }
        }
        drop(s);
        self.advance(offset + len as u64);
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
        let mut s = self.lock();
        s.abandoned = true;
        s.drop_carried();
        drop(s);
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
    fn step(&self, buf: &mut AlignedBuf) -> bool {
        let (mut hasher, from, mut to, carried, uncached) = {
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
            let from = s.hashed;
            // The next bytes from a carried copy when one holds them; else read back, stopping where the
            // next copy starts.
            let mut to = s.written.min(from + CHUNK as u64);
            let mut carried = None;
            if let Some((at, _)) = s.carried.front() {
                if *at <= from {
                    carried = s.carried.pop_front();
                } else {
                    to = to.min(*at);
                }
            }
            (h, from, to, carried, s.uncached)
        };
        let ok = match &carried {
            Some((at, copy)) => {
                let bytes = copy.bytes();
                let skip = ((from - at) as usize).min(bytes.len());
                hasher.update(&bytes[skip..]);
                to = (at + bytes.len() as u64).max(from);
                give_back_carry(bytes.len());
                true
            }
            None => {
                let n = (to - from) as usize;
                let ok = self.read_back(buf, from, n, uncached);
                if ok {
                    hasher.update(buf.as_slice());
                }
                ok
            }
        };
        if let Some((_, copy)) = carried {
            copy.recycle();
        }
        let mut s = self.lock();
        s.hasher = Some(hasher);
        if ok {
            s.hashed = to;
        } else {
            // Read short: the file was truncated behind us, so the writes are not in order any more.
            s.abandoned = true;
            s.drop_carried();
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

impl HashPipe {
    /// Read `n` bytes at `from` into `buf`: around the page cache when writes went around it and the
    /// offset allows, else through it. False when the file holds fewer (it was cut behind us).
    fn read_back(&self, buf: &mut AlignedBuf, from: u64, n: usize, uncached: bool) -> bool {
        let direct = if uncached && from % crate::direct_io::ALIGN as u64 == 0 {
            self.direct.get_or_init(|| crate::direct_io::reopen(&self.file)).as_ref()
        } else {
            None
        };
        let got = buf.read_at(direct.unwrap_or(&self.file), from, n);
        match got {
            Ok(got) => got == n,
            // Refused by the filesystem (now remembered): once more through the cache.
            Err(_) if direct.is_some() => buf.read_at(&self.file, from, n).is_ok_and(|got| got == n),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

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

    #[test]
    fn copies_of_large_writes_fit_any_write_and_hold_exactly_the_one_copied() {
        let a: Vec<u8> = (0..300_000).map(|i| (i % 249) as u8).collect();
        let first = copy_of(&a);
        assert_eq!(first.bytes(), a);
        let Copied::Large(big) = &first else { panic!("a large write is copied into a pooled buffer") };
        assert!(big.len() + big.room() >= CHUNK, "made to fit any write");
        assert_eq!(big.as_slice().as_ptr() as usize % crate::direct_io::ALIGN, 0, "at an aligned start");
        first.recycle();
        let b = vec![7u8; 70_000];
        let second = copy_of(&b);
        assert_eq!(second.bytes(), b, "a reused buffer holds the new write alone");
        assert!(matches!(&second, Copied::Large(x) if x.len() + x.room() >= CHUNK));
        assert_eq!(copy_of(b"tiny").bytes(), b"tiny");
    }

    #[test]
    fn carried_copies_and_bytes_read_back_make_one_hash_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
        let pipe = HashPipe::new(Arc::new(f.try_clone().unwrap()));
        let data: Vec<u8> = (0..5 * CHUNK + 333).map(|i| (i % 253) as u8).collect();
        let mut at = 0usize;
        // Writes of uneven sizes; every third one is not carried (as when the budget is spent), so the
        // hasher switches between copies and reading the file back.
        for (i, part) in data.chunks(700_001).enumerate() {
            f.write_all_at(part, at as u64).unwrap();
            if i % 3 == 2 {
                pipe.advance((at + part.len()) as u64);
            } else {
                pipe.wrote(at as u64, part);
            }
            at += part.len();
        }
        assert_eq!(pipe.md5_of(data.len() as u64).unwrap(), hex::encode(Md5::digest(&data)));
        assert!(pipe.lock().carried.is_empty(), "every copy was used");
        // A copy that arrives out of order is not taken.
        pipe.wrote(3, b"late");
        assert!(pipe.lock().carried.is_empty());
    }
}
