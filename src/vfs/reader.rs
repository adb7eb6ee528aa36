//! Streaming reads of one open file: HTTP byte ranges with an adaptive read-ahead window.
//!
//! The first read of a handle fetches a small range; while reads stay sequential the window doubles up
//! to `max_window`, cut into chunks of at most `max_chunk` so that several range requests are in flight
//! at once on pooled connections. A read outside the scheduled region is a seek: pending chunks are
//! dropped and a new small window starts there. Memory per handle is bounded by `max_window` plus up
//! to three chunks behind the reader (the two kept for late requests and the one being read).
//!
//! Locking: the reader's own mutex is held only to plan; waiting for bytes happens on the chunk's
//! condvar, which its download task signals. Download tasks never take the reader's lock.

use super::error::{FsError, FsResult};
use crate::remote::{Remote, RemotePath};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;

#[derive(Debug, Clone, Copy)]
pub struct ReadAheadConfig {
    /// Size of the first request after open or a seek.
    pub first_window: u64,
    /// Largest amount scheduled ahead of the reader.
    pub max_window: u64,
    /// Largest single range request.
    pub max_chunk: u64,
    /// Attempts per chunk before the reader gets EIO (the client already retries each request).
    pub attempts: u32,
}

impl Default for ReadAheadConfig {
    fn default() -> Self {
        ReadAheadConfig { first_window: 128 << 10, max_window: 24 << 20, max_chunk: 4 << 20, attempts: 3 }
    }
}

#[derive(Default)]
struct ChunkBuf {
    data: Vec<u8>,
    done: bool,
    error: Option<String>,
    /// How far each waiting reader needs the data to reach: the download wakes them only when one of
    /// them can go on, not at every piece the socket hands over.
    waiting: Vec<u64>,
}

/// Chunk buffers are reused: a fresh multi-MiB buffer costs a page fault per 4 KiB on first touch, which
/// at streaming speed is a large share of the CPU. At most `POOL_MAX` idle buffers are kept.
static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const POOL_MAX: usize = 8;

fn pooled_buffer(len: usize) -> Vec<u8> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    match pool.iter().position(|b| b.capacity() >= len) {
        Some(i) => pool.swap_remove(i),
        None => Vec::with_capacity(len),
    }
}

impl Drop for ChunkBuf {
    fn drop(&mut self) {
        if self.data.capacity() >= 1 << 20 {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < POOL_MAX {
                let mut b = std::mem::take(&mut self.data);
                b.clear();
                pool.push(b);
            }
        }
    }
}

struct ChunkState {
    /// Bytes this chunk will hold when complete.
    len: u64,
    buf: Mutex<ChunkBuf>,
    ready: Condvar,
    cancelled: AtomicBool,
}

struct Chunk {
    start: u64,
    end: u64,
    state: Arc<ChunkState>,
}

impl Chunk {
    /// Stop the download: a seek must not keep old ranges streaming. A reader still waiting on this
    /// chunk then fetches what it lacks directly.
    fn cancel(&self) {
        self.state.cancelled.store(true, Ordering::Relaxed);
    }
}

struct Plan {
    chunks: VecDeque<Chunk>,
    /// Everything in [base, scheduled) is fetched or being fetched.
    base: u64,
    scheduled: u64,
    window: u64,
}

pub struct FileReader<R: Remote> {
    remote: Arc<R>,
    rt: Handle,
    path: RemotePath,
    size: u64,
    cfg: ReadAheadConfig,
    plan: Mutex<Plan>,
}

impl<R: Remote> FileReader<R> {
    pub fn new(remote: Arc<R>, rt: Handle, path: RemotePath, size: u64, cfg: ReadAheadConfig) -> Self {
        FileReader {
            remote,
            rt,
            path,
            size,
            cfg,
            plan: Mutex::new(Plan { chunks: VecDeque::new(), base: 0, scheduled: 0, window: cfg.first_window }),
        }
    }

    /// Read up to `len` bytes at `offset`; short only at end of file.
    /// Read up to `len` bytes at `offset` (short only at end of file) and hand them to `reply`. A read
    /// that lies within one chunk is handed over straight from the chunk's buffer, without a copy.
    pub fn read_with<T>(&self, offset: u64, len: u32, reply: impl FnOnce(&[u8]) -> T) -> FsResult<T> {
        if offset >= self.size || len == 0 {
            return Ok(reply(&[]));
        }
        let end = (offset + len as u64).min(self.size);
        let Some(needed) = self.plan_for(offset, end)? else {
            return Ok(reply(&self.fetch_direct(offset, end)?));
        };
        let mut out = Vec::new();
        let single = needed.len() == 1;
        for (start, state) in needed {
            let from = offset.max(start) - start;
            let to = end.min(start + state.len) - start;
            let mut buf = state.buf.lock().map_err(|_| FsError::Io("reader lock poisoned".into()))?;
            while (buf.data.len() as u64) < to && !buf.done && buf.error.is_none() {
                buf.waiting.push(to);
                buf = state.ready.wait(buf).map_err(|_| FsError::Io("reader lock poisoned".into()))?;
                if let Some(i) = buf.waiting.iter().position(|&t| t == to) {
                    buf.waiting.swap_remove(i);
                }
            }
            if let Some(e) = &buf.error {
                let msg = format!("{}: {e}", self.path);
                drop(buf);
                self.forget_failed(start);
                log::warn!("read failed: {msg}");
                return Err(FsError::Io(msg));
            }
            let have = (buf.data.len() as u64).min(to);
            if single && have == to {
                return Ok(reply(&buf.data[from as usize..to as usize]));
            }
            if have > from {
                out.extend_from_slice(&buf.data[from as usize..have as usize]);
            }
            if have < to {
                let cancelled = state.cancelled.load(Ordering::Relaxed);
                drop(buf);
                if cancelled {
                    // A seek elsewhere cancelled this range while we waited: fetch the rest directly.
                    let rest = self.fetch_direct(offset + out.len() as u64, end)?;
                    out.extend_from_slice(&rest);
                }
                // Otherwise the server sent less than asked for: the file shrank under us.
                break;
            }
        }
        Ok(reply(&out))
    }

    /// `read_with` into an owned buffer.
    pub fn read(&self, offset: u64, len: u32) -> FsResult<Vec<u8>> {
        self.read_with(offset, len, |d| d.to_vec())
    }

    /// One plain range request, outside the read-ahead plan.
    fn fetch_direct(&self, from: u64, end: u64) -> FsResult<Vec<u8>> {
        let state = ChunkState {
            len: end - from,
            buf: Mutex::new(ChunkBuf::default()),
            ready: Condvar::new(),
            cancelled: AtomicBool::new(false),
        };
        self.rt
            .block_on(fetch_into(&*self.remote, &self.path, from, end, &state))
            .map_err(|e| FsError::Io(format!("{}: {e}", self.path)))?;
        let buf = state.buf.into_inner().map_err(|_| FsError::Io("reader lock poisoned".into()))?;
        let mut buf = buf;
        Ok(std::mem::take(&mut buf.data))
    }

    /// Schedule what this read needs (and the read-ahead behind it); return the chunks covering it.
    /// `None` means a straggler: a read just behind what the plan still holds, served directly.
    ///
    /// The kernel issues read-ahead requests in parallel, so reads arrive a little out of order: a read
    /// within `slack` of the planned region, ahead or behind, is still sequential and must not reset it.
    #[allow(clippy::type_complexity)]
    fn plan_for(&self, offset: u64, end: u64) -> FsResult<Option<Vec<(u64, Arc<ChunkState>)>>> {
        let mut plan = self.plan.lock().map_err(|_| FsError::Io("reader lock poisoned".into()))?;
        let slack = self.cfg.max_chunk * 2;
        let seek = plan.chunks.is_empty() || offset > plan.scheduled + slack || offset + slack < plan.base;
        // What stays behind the reader, for the kernel's late requests: its read-ahead requests are served
        // by several threads, so one can arrive a few MiB behind the newest. Two chunks keep such a
        // straggler from costing a separate range request (measured: 8-23 per GiB with one chunk, 0-3
        // with two).
        let keep_behind = self.cfg.max_chunk * 2;
        if seek {
            for c in plan.chunks.drain(..) {
                c.cancel();
            }
            plan.base = offset;
            plan.scheduled = offset;
            plan.window = self.cfg.first_window;
            let target = end.max(offset + plan.window).min(self.size);
            self.schedule(&mut plan, target);
        } else if offset < plan.base {
            return Ok(None);
        } else if plan.scheduled < self.size && (plan.scheduled < end || plan.scheduled - end < plan.window / 2) {
            plan.window = (plan.window * 2).min(self.cfg.max_window);
            let target = end.max(offset + plan.window).min(self.size);
            self.schedule(&mut plan, target);
        }
        // Chunks well behind the reader are done with: the kernel has their bytes in its page cache or,
        // with direct I/O, has handed them to the reader.
        while plan.chunks.front().map(|c| c.end + keep_behind <= offset).unwrap_or(false) {
            plan.chunks.pop_front();
        }
        if let Some(front) = plan.chunks.front() {
            plan.base = front.start;
        }
        Ok(Some(
            plan.chunks
                .iter()
                .filter(|c| c.start < end && c.end > offset)
                .map(|c| (c.start, c.state.clone()))
                .collect(),
        ))
    }

    fn schedule(&self, plan: &mut Plan, target: u64) {
        while plan.scheduled < target {
            let start = plan.scheduled;
            let len = (target - start).min(self.cfg.max_chunk);
            let end = (start + len).min(self.size);
            let state = Arc::new(ChunkState {
                len: end - start,
                buf: Mutex::new(ChunkBuf {
                    data: pooled_buffer((end - start) as usize),
                    done: false,
                    error: None,
                    waiting: Vec::new(),
                }),
                ready: Condvar::new(),
                cancelled: AtomicBool::new(false),
            });
            self.spawn_fetch(start, end, state.clone());
            plan.chunks.push_back(Chunk { start, end, state });
            plan.scheduled = end;
        }
    }

    fn forget_failed(&self, start: u64) {
        if let Ok(mut plan) = self.plan.lock() {
            // Drop the failed chunk and everything after it, so the next read starts afresh.
            while plan.chunks.back().map(|c| c.start >= start).unwrap_or(false) {
                if let Some(c) = plan.chunks.pop_back() {
                    c.cancel();
                }
            }
            plan.scheduled = plan.chunks.back().map(|c| c.end).unwrap_or(start);
            if plan.chunks.is_empty() {
                plan.base = start;
            }
        }
    }

    fn spawn_fetch(&self, start: u64, end: u64, state: Arc<ChunkState>) {
        let remote = self.remote.clone();
        let path = self.path.clone();
        let attempts = self.cfg.attempts.max(1);
        self.rt.spawn(async move {
            // Whatever happens to this task (even a panic), waiting readers must be released.
            let _guard = FinishOnDrop(state.clone());
            let mut last_err = String::new();
            for attempt in 0..attempts {
                if state.cancelled.load(Ordering::Relaxed) {
                    return;
                }
                let have = state.buf.lock().map(|b| b.data.len() as u64).unwrap_or(0);
                match fetch_into(&*remote, &path, start + have, end, &state).await {
                    Ok(()) => {
                        finish(&state, None);
                        return;
                    }
                    Err(e) => {
                        last_err = e;
                        if attempt + 1 < attempts {
                            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                        }
                    }
                }
            }
            finish(&state, Some(last_err));
        });
    }
}

async fn fetch_into<R: Remote>(
    remote: &R,
    path: &RemotePath,
    from: u64,
    end: u64,
    state: &ChunkState,
) -> Result<(), String> {
    if from >= end {
        return Ok(());
    }
    let mut stream = remote.download(path, Some(from..end)).await.map_err(|e| e.to_string())?;
    while let Some(piece) = stream.next().await {
        if state.cancelled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let piece = piece.map_err(|e| e.to_string())?;
        let mut buf = state.buf.lock().map_err(|_| "lock poisoned".to_string())?;
        let room = (state.len as usize).saturating_sub(buf.data.len());
        let take = piece.len().min(room);
        buf.data.extend_from_slice(&piece[..take]);
        let have = buf.data.len() as u64;
        let wake = buf.waiting.iter().any(|&t| t <= have);
        drop(buf);
        if wake {
            state.ready.notify_all();
        }
    }
    Ok(())
}

struct FinishOnDrop(Arc<ChunkState>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let unfinished = self.0.buf.lock().map(|b| !b.done).unwrap_or(true);
        if unfinished {
            // Cancelled: done with what arrived (waiters fetch the rest). Otherwise the task died.
            let cancelled = self.0.cancelled.load(Ordering::Relaxed);
            finish(&self.0, (!cancelled).then(|| "download task ended unexpectedly".to_string()));
        }
    }
}

fn finish(state: &ChunkState, error: Option<String>) {
    if let Ok(mut buf) = state.buf.lock() {
        buf.done = true;
        buf.error = error;
    }
    state.ready.notify_all();
}
