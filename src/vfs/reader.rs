//! Streaming reads of one open file: HTTP byte ranges with an adaptive read-ahead window.
//!
//! The first read of a handle fetches a small range; while reads stay sequential the window doubles up
//! to `max_window`, cut into chunks (buffers) of at most `max_chunk`. Requests are not chunks: one range
//! request (a `Stream`) feeds a run of consecutive chunks, and each new request of a sequential run is
//! twice as long as the one before, up to `max_request`, so a long sequential read costs a few dozen
//! requests instead of one per chunk, while the first stays small for programs that only sniff a header.
//! A request runs ahead only as far as the window has chunks for it: it waits (the socket's flow control
//! holds the server back) until the reader makes room, so memory per handle stays bounded by `max_window`
//! plus up to three chunks behind the reader (the two kept for late requests and the one being read), however
//! long the request. Handles streaming at the same time share one budget (`shared_window`), so several files
//! read at once do not each hold a full window. A read outside the scheduled region is a seek: pending chunks
//! and the request feeding them are dropped and a new small window and request start there.
//!
//! One request at a time is enough when one connection is faster than the reader. Where it is not (a link
//! that limits each connection, as many do over a long distance), the bytes must come over several
//! connections at once, and a long request far ahead would hold its bytes in memory until the reader got
//! there. So each request measures the rate its connection delivers; when even the best seen on the
//! handle is below `slow_link`, requests stay at `slow_request` and the window may reach `slow_window`,
//! which keeps several of them streaming side by side.
//!
//! No FUSE worker waits here. A read whose bytes are in memory is answered at once, on the worker,
//! straight from the chunk's buffer. A read that lacks bytes of one chunk (after whole earlier ones) is
//! parked on that chunk, and the chunk's download task answers it the moment the bytes are in (no
//! thread is woken for it). Anything else (a read lacking bytes of several chunks, one behind the plan,
//! one whose range a seek cancelled) becomes a `WaitingRead`, finished by a task on the runtime that
//! awaits the chunks' `Notify` or fetches a range of its own. Whatever ends a chunk (done, failed,
//! cancelled, its task gone) answers what is parked on it and wakes its waiters, so every read is
//! answered; a reply dropped unanswered is answered EIO by the FUSE adapter's reply object.
//!
//! Locking: the reader's own mutex is held only to plan. A chunk's buffer lock is held while a reply is
//! handed the chunk's bytes (on the worker or in the download task), and never while taking another
//! lock or awaiting. Download tasks never take the reader's lock.

use super::buffers::BufferPool;
use super::error::{FsError, FsResult};
use crate::remote::{Remote, RemotePath};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::Notify;

/// Where a read's outcome goes: called exactly once, with bytes valid only during the call.
pub trait ReadReply: for<'a> FnOnce(FsResult<&'a [u8]>) + Send + 'static {}
impl<F: for<'a> FnOnce(FsResult<&'a [u8]>) + Send + 'static> ReadReply for F {}

#[derive(Debug, Clone, Copy)]
pub struct ReadAheadConfig {
    /// Size of the first request after open or a seek.
    pub first_window: u64,
    /// Largest amount scheduled ahead of the reader.
    pub max_window: u64,
    /// Largest buffer of read-ahead bytes (a chunk): the unit in which memory is taken and given back.
    pub max_chunk: u64,
    /// Largest single range request, reached by doubling while the reads stay sequential.
    pub max_request: u64,
    /// Attempts per chunk before the reader gets EIO (the client already retries each request).
    pub attempts: u32,
    /// A connection that delivers fewer bytes per second than this is too slow to feed a reader alone:
    /// the window is then spread over parallel requests of at most `slow_request`, up to `slow_window`.
    pub slow_link: u64,
    pub slow_request: u64,
    pub slow_window: u64,
    /// What the windows of all streaming handles add up to at most: each gets an equal share of it, but
    /// never less than `min_share`. One file read alone keeps its whole window; four read at once hold
    /// 8 MiB each. A handle on a slow link divides `slow_window` instead: it needs more bytes under way.
    pub shared_window: u64,
    pub min_share: u64,
}

impl Default for ReadAheadConfig {
    fn default() -> Self {
        ReadAheadConfig {
            first_window: 128 << 10,
            max_window: 24 << 20,
            max_chunk: 4 << 20,
            max_request: 64 << 20,
            attempts: 3,
            slow_link: 100 << 20,
            slow_request: 8 << 20,
            // Eight 8 MiB requests under way: six (48 MiB) held a link of 50 MiB/s per connection, 20 ms
            // away, near 250 MiB/s (README, *Sequential reads*).
            slow_window: 64 << 20,
            shared_window: 32 << 20,
            min_share: 8 << 20,
        }
    }
}

#[derive(Default)]
struct ChunkBuf {
    data: Vec<u8>,
    done: bool,
    error: Option<FsError>,
    /// How far each waiting task needs the data to reach: the download wakes them only when one of
    /// them can go on, not at every piece the socket hands over.
    waiting: Vec<u64>,
    /// Reads the download answers itself as soon as their bytes are in.
    parked: Vec<Parked>,
}

/// A read parked on the chunk holding its last bytes.
struct Parked {
    /// The bytes it wants, as offsets in the chunk.
    from: usize,
    to: usize,
    /// What it got from the chunks before this one.
    prefix: Vec<u8>,
    reply: BoxedReply,
}

type BoxedReply = Box<dyn for<'a> FnOnce(FsResult<&'a [u8]>) + Send>;

impl Parked {
    /// Answer with the prefix and the chunk's bytes `[from, to)`, or as many of them as `data` holds.
    fn answer(mut self, data: &[u8]) {
        // Fewer bytes than `from` (the file shrank): none of them.
        let got = &data[self.from.min(data.len())..self.to.min(data.len())];
        if self.prefix.is_empty() {
            (self.reply)(Ok(got))
        } else {
            self.prefix.extend_from_slice(got);
            (self.reply)(Ok(&self.prefix))
        }
    }
}

/// Answer the parked reads whose bytes are all in.
fn answer_parked(buf: &mut ChunkBuf) {
    let have = buf.data.len();
    let mut i = 0;
    while i < buf.parked.len() {
        if buf.parked[i].to <= have {
            let p = buf.parked.swap_remove(i);
            p.answer(&buf.data);
        } else {
            i += 1;
        }
    }
}

/// Chunk buffers are reused (`buffers.rs`): each is made a full chunk long, so an idle one fits any chunk
/// (buffers of the odd lengths chunks are cut to would fill the pool with sizes a full chunk cannot use).
pub(super) static POOL: BufferPool<Vec<u8>> = BufferPool::new(8, 1 << 20);

impl Drop for ChunkBuf {
    fn drop(&mut self) {
        POOL.give_back(std::mem::take(&mut self.data));
    }
}

struct ChunkState {
    /// Bytes this chunk will hold when complete.
    len: u64,
    buf: Mutex<ChunkBuf>,
    ready: Notify,
    cancelled: AtomicBool,
    /// The download failed for good: the next read drops this chunk (and those after it) from the plan.
    failed: AtomicBool,
}

impl ChunkState {
    fn new(len: u64, buf: ChunkBuf) -> Self {
        ChunkState {
            len,
            buf: Mutex::new(buf),
            ready: Notify::new(),
            cancelled: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        }
    }

    /// Wait until the chunk holds its first `to` bytes, or has ended (done, failed or cancelled).
    async fn reached(&self, to: u64) {
        loop {
            let woken = self.ready.notified();
            tokio::pin!(woken);
            // Registered before looking, so a wake between the look and the wait is not lost.
            woken.as_mut().enable();
            {
                let Ok(mut buf) = self.buf.lock() else { return };
                let ended = buf.done || buf.error.is_some() || self.cancelled.load(Ordering::Relaxed);
                if buf.data.len() as u64 >= to || ended {
                    return;
                }
                buf.waiting.push(to);
            }
            let _waiting = Waiting { state: self, to };
            woken.await;
        }
    }
}

/// One entry of `ChunkBuf::waiting`, removed however the wait ends (woken, or the task dropped).
struct Waiting<'a> {
    state: &'a ChunkState,
    to: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut buf) = self.state.buf.lock() {
            if let Some(i) = buf.waiting.iter().position(|&t| t == self.to) {
                buf.waiting.swap_remove(i);
            }
        }
    }
}

type Needed = Vec<(u64, Arc<ChunkState>)>;

/// What a read still lacks.
enum Lack {
    /// Bytes of these chunks, not downloaded yet.
    Chunks(Needed),
    /// `[from, end)` must be fetched with a request of its own (a straggler behind the plan, or the
    /// rest of a range a seek cancelled); `got` holds what came before it.
    Fetch { from: u64, got: Vec<u8> },
}

/// A read that must wait for the network; `finish` it off the FUSE worker.
pub struct WaitingRead<F: ReadReply> {
    offset: u64,
    end: u64,
    lack: Lack,
    reply: F,
}

impl<F: ReadReply> WaitingRead<F> {
    /// Wait for the bytes and send the reply (or the error: a failed download, after its retries).
    pub async fn finish<R: Remote>(self, reader: &FileReader<R>) {
        let WaitingRead { offset, end, mut lack, mut reply } = self;
        loop {
            match lack {
                Lack::Chunks(needed) => {
                    for (start, state) in &needed {
                        state.reached(end.min(start + state.len) - start).await;
                    }
                    match reader.answer(offset, end, needed, reply) {
                        None => return,
                        Some((l, r)) => (lack, reply) = (l, r),
                    }
                }
                Lack::Fetch { from, mut got } => {
                    match reader.fetch_direct(from, end).await {
                        Ok(rest) => {
                            got.extend_from_slice(&rest);
                            reply(Ok(&got))
                        }
                        Err(e) => reply(Err(e)),
                    }
                    return;
                }
            }
        }
    }
}

struct Chunk {
    start: u64,
    end: u64,
    state: Arc<ChunkState>,
}

impl Chunk {
    /// Stop the download: a seek must not keep old ranges streaming. What waits on this chunk then gets
    /// what it lacks with a request of its own.
    fn cancel(&self) {
        self.state.cancelled.store(true, Ordering::Relaxed);
        // A waiting task goes on at once. (Reads parked on the chunk are answered when its download
        // notices: at its next piece, or when its request ends.)
        self.state.ready.notify_waiters();
    }
}

struct Plan {
    chunks: VecDeque<Chunk>,
    /// Everything in [base, scheduled) is fetched or being fetched.
    base: u64,
    scheduled: u64,
    window: u64,
    /// The request new chunks at `scheduled` are handed to, while it reaches that far.
    stream: Option<Stream>,
    /// Length of the next request: doubled at each one while the reads stay sequential.
    request: u64,
    /// Counted in `streaming`: the window has grown past the first (a sequential run is under way).
    counted: bool,
    streaming: Streaming,
}

/// How many handles of a mount are streaming (`Plan::counted`): `shared_window` is divided among them.
pub type Streaming = Arc<AtomicUsize>;

impl Plan {
    fn set_streaming(&mut self, on: bool) {
        if self.counted != on {
            self.counted = on;
            if on {
                self.streaming.fetch_add(1, Ordering::Relaxed);
            } else {
                self.streaming.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Plan {
    fn drop(&mut self) {
        self.set_streaming(false);
    }
}

/// The newest range request of a sequential run, as the plan sees it.
struct Stream {
    /// The request covers up to here.
    end: u64,
    /// Chunks to fill, in order; dropping the sender lets the request end after what it was handed.
    chunks: tokio::sync::mpsc::UnboundedSender<Arc<ChunkState>>,
}

pub struct FileReader<R: Remote> {
    remote: Arc<R>,
    rt: Handle,
    path: RemotePath,
    size: u64,
    cfg: ReadAheadConfig,
    plan: Mutex<Plan>,
    /// Best rate (bytes/s) one request of this handle has delivered a whole chunk at; 0 = none measured.
    link_rate: Arc<AtomicU64>,
}

impl<R: Remote> FileReader<R> {
    /// `streaming` is shared by the handles of one mount (see `ReadAheadConfig::shared_window`).
    pub fn new(
        remote: Arc<R>,
        rt: Handle,
        path: RemotePath,
        size: u64,
        cfg: ReadAheadConfig,
        streaming: Streaming,
    ) -> Self {
        FileReader {
            remote,
            rt,
            path,
            size,
            cfg,
            plan: Mutex::new(Plan {
                chunks: VecDeque::new(),
                base: 0,
                scheduled: 0,
                window: cfg.first_window,
                stream: None,
                request: cfg.first_window,
                counted: false,
                streaming,
            }),
            link_rate: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The path this reader fetches from.
    pub fn path(&self) -> &RemotePath {
        &self.path
    }

    /// Read up to `len` bytes at `offset` (short only at end of file). Answered here when the bytes are
    /// in memory: a read within one chunk is handed over straight from the chunk's buffer, without a
    /// copy. Otherwise the read is returned, to be finished where waiting costs no FUSE worker.
    pub fn read_now<F: ReadReply>(&self, offset: u64, len: u32, reply: F) -> Option<WaitingRead<F>> {
        if offset >= self.size || len == 0 {
            reply(Ok(&[]));
            return None;
        }
        let end = (offset + len as u64).min(self.size);
        let lack = match self.plan_for(offset, end) {
            Err(e) => {
                reply(Err(e));
                return None;
            }
            Ok(None) => Lack::Fetch { from: offset, got: Vec::new() },
            Ok(Some(needed)) => match self.answer(offset, end, needed, reply) {
                None => return None,
                Some((lack, reply)) => return Some(WaitingRead { offset, end, lack, reply }),
            },
        };
        Some(WaitingRead { offset, end, lack, reply })
    }

    /// Answer `[offset, end)` from the chunks covering it, if they hold it (or have ended), or park it on
    /// the last of them; otherwise give the reply back with what is still lacking.
    fn answer<F: ReadReply>(&self, offset: u64, end: u64, needed: Needed, reply: F) -> Option<(Lack, F)> {
        let poisoned = || FsError::Io("reader lock poisoned".into());
        let single = needed.len() == 1;
        let mut out = Vec::new();
        for i in 0..needed.len() {
            let (start, state) = (needed[i].0, &needed[i].1);
            let from = offset.max(start) - start;
            let to = end.min(start + state.len) - start;
            let Ok(mut buf) = state.buf.lock() else {
                reply(Err(poisoned()));
                return None;
            };
            if let Some(e) = &buf.error {
                let e = e.clone();
                drop(buf);
                log::warn!("read failed: {}: {e}", self.path);
                reply(Err(e));
                return None;
            }
            let have = (buf.data.len() as u64).min(to);
            // Read under the buffer lock: the download marks the chunk done under it before it answers
            // what is parked, so nothing can be parked after that.
            let cancelled = state.cancelled.load(Ordering::Relaxed);
            if have < to && !buf.done && !cancelled {
                if i + 1 < needed.len() {
                    drop(buf);
                    return Some((Lack::Chunks(needed), reply));
                }
                let (from, to) = (from as usize, to as usize);
                buf.parked.push(Parked { from, to, prefix: out, reply: Box::new(reply) });
                drop(buf);
                super::test_hold::mark("read parked");
                return None;
            }
            if single && have == to {
                reply(Ok(&buf.data[from as usize..to as usize]));
                return None;
            }
            if have > from {
                out.extend_from_slice(&buf.data[from as usize..have as usize]);
            }
            if have < to {
                drop(buf);
                if cancelled {
                    // A seek elsewhere cancelled this range: fetch the rest directly.
                    let from = offset + out.len() as u64;
                    return Some((Lack::Fetch { from, got: out }, reply));
                }
                // Otherwise the server sent less than asked for: the file shrank under us.
                break;
            }
        }
        reply(Ok(&out));
        None
    }

    /// One plain range request, outside the read-ahead plan.
    async fn fetch_direct(&self, from: u64, end: u64) -> FsResult<Vec<u8>> {
        let state = ChunkState::new(end - from, ChunkBuf::default());
        fetch_into(&*self.remote, &self.path, from, end, &state)
            .await
            .map_err(|e| FsError::Io(format!("{}: {e}", self.path)))?;
        let mut buf = state.buf.lock().map_err(|_| FsError::Io("reader lock poisoned".into()))?;
        Ok(std::mem::take(&mut buf.data))
    }

    /// Schedule what this read needs (and the read-ahead behind it); return the chunks covering it.
    /// `None` means a straggler: a read just behind what the plan still holds, served directly.
    ///
    /// The kernel issues read-ahead requests in parallel, so reads arrive a little out of order: a read
    /// within `slack` of the planned region, ahead or behind, is still sequential and must not reset it.
    fn plan_for(&self, offset: u64, end: u64) -> FsResult<Option<Needed>> {
        let mut plan = self.plan.lock().map_err(|_| FsError::Io("reader lock poisoned".into()))?;
        // A chunk that failed for good goes, with everything after it, so this read starts afresh.
        if let Some(i) = plan.chunks.iter().position(|c| c.state.failed.load(Ordering::Relaxed)) {
            let start = plan.chunks[i].start;
            for c in plan.chunks.drain(i..) {
                c.cancel();
            }
            plan.scheduled = plan.chunks.back().map(|c| c.end).unwrap_or(start);
            // Its request is broken too: what comes next goes in a new one.
            plan.stream = None;
            if plan.chunks.is_empty() {
                plan.base = start;
            }
        }
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
            plan.stream = None;
            plan.request = self.cfg.first_window;
            plan.set_streaming(false);
            let target = end.max(offset + plan.window).min(self.size);
            self.schedule(&mut plan, target);
        } else if offset < plan.base {
            return Ok(None);
        } else if plan.scheduled < self.size && (plan.scheduled < end || plan.scheduled - end < plan.window / 2) {
            plan.set_streaming(true);
            let (max_window, budget) = match self.slow_link() {
                true => (self.cfg.slow_window, self.cfg.slow_window),
                false => (self.cfg.max_window, self.cfg.shared_window),
            };
            let streaming = plan.streaming.load(Ordering::Relaxed).max(1) as u64;
            let share = (budget / streaming).max(self.cfg.min_share);
            plan.window = (plan.window * 2).min(max_window.min(share)).max(self.cfg.first_window);
            let target = end.max(offset + plan.window).min(self.size);
            self.schedule(&mut plan, target);
        }
        // Once the whole file is scheduled the handle needs no window: the others may have its share.
        // (A handle paused mid-file keeps its share until it reads on, seeks or closes.)
        if plan.scheduled >= self.size {
            plan.set_streaming(false);
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
            let reaches = plan.stream.as_ref().map(|s| s.end > start).unwrap_or(false);
            if !reaches {
                // A new request, twice as long as the one before it (the first is the small first window).
                let max_request = if self.slow_link() { self.cfg.slow_request } else { self.cfg.max_request };
                let len = plan.request.max(target - start).min(max_request.max(self.cfg.max_chunk));
                let end = (start + len).min(self.size);
                plan.request = (len * 2).min(max_request);
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                self.spawn_stream(start, end, rx);
                plan.stream = Some(Stream { end, chunks: tx });
            }
            let Some(stream) = plan.stream.as_ref() else { return };
            let end = target.min(start + self.cfg.max_chunk).min(stream.end);
            let mut buf = ChunkBuf::default();
            buf.data = POOL.take((end - start) as usize, self.cfg.max_chunk as usize);
            let state = Arc::new(ChunkState::new(end - start, buf));
            if stream.chunks.send(state.clone()).is_err() {
                // The request's task is gone (it can only have panicked): the chunk fails, and its reads
                // with it, through the guard below.
                drop(FinishOnDrop(state.clone(), self.path.clone()));
            }
            plan.chunks.push_back(Chunk { start, end, state });
            plan.scheduled = end;
        }
    }

    /// Whether this handle's connections have proved too slow to feed the reader one at a time.
    fn slow_link(&self) -> bool {
        let rate = self.link_rate.load(Ordering::Relaxed);
        rate != 0 && rate < self.cfg.slow_link
    }

    /// One range request `[start, end)` that fills the chunks handed to it, in order, as they come. It
    /// reads from the connection only while it has a chunk to fill, so the server waits for the reader.
    /// A failed piece is retried (from the first missing byte, with a new request for the rest of the
    /// range) up to `attempts` times per chunk.
    fn spawn_stream(&self, start: u64, end: u64, mut chunks: tokio::sync::mpsc::UnboundedReceiver<Arc<ChunkState>>) {
        let remote = self.remote.clone();
        let path = self.path.clone();
        let attempts = self.cfg.attempts.max(1);
        let link_rate = self.link_rate.clone();
        self.rt.spawn(async move {
            let mut body = Body { stream: None, at: start, end, rest: bytes::Bytes::new() };
            let mut chunk_start = start;
            // Bytes this request delivered and the time it spent on them (not the time it waited for a
            // chunk to fill): the connection's rate over the whole request, which a chunk alone would
            // overstate when its bytes had piled up in the socket while the previous one was handed out.
            let (mut got, mut active) = (0u64, Duration::ZERO);
            while let Some(state) = chunks.recv().await {
                // Whatever happens to this task (even a panic), what waits on the chunk must be answered.
                let _guard = FinishOnDrop(state.clone(), path.clone());
                let mut error = None;
                let began = Instant::now();
                for attempt in 0..attempts {
                    if state.cancelled.load(Ordering::Relaxed) {
                        break;
                    }
                    match body.fill(&*remote, &path, chunk_start, &state).await {
                        Ok(()) => {
                            error = None;
                            break;
                        }
                        Err(e) => {
                            body.stream = None;
                            // A file gone from the server or refused to us stays so: no retry.
                            let lasting = matches!(e, FsError::NotFound | FsError::Access(_));
                            error = Some(e);
                            if lasting {
                                break;
                            }
                            if attempt + 1 < attempts {
                                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                            }
                        }
                    }
                }
                if state.cancelled.load(Ordering::Relaxed) {
                    body.stream = None;
                    answer_cancelled(&*remote, &path, chunk_start, &state).await;
                } else {
                    // Measured once the request has brought a MiB (before that it measures the latency).
                    active += began.elapsed();
                    got += state.len;
                    if error.is_none() && got >= 1 << 20 {
                        let rate = (got as f64 / active.as_secs_f64().max(1e-6)) as u64;
                        link_rate.fetch_max(rate, Ordering::Relaxed);
                    }
                    finish(&state, error, &path);
                }
                chunk_start += state.len;
            }
        });
    }
}

/// The body of a range request as a stream task reads it: where it stands, and the bytes of the last
/// piece that belong to the next chunk.
struct Body {
    stream: Option<crate::remote::ByteStream>,
    /// File offset of the next byte the body (after `rest`) will yield.
    at: u64,
    /// The request's end.
    end: u64,
    /// Received bytes not yet in a chunk; they start at `at - rest.len()`.
    rest: bytes::Bytes,
}

impl Body {
    /// Fill the chunk starting at `chunk_start` (from its first missing byte) to its length, or until the
    /// body ends (a file that shrank). Opens a request for the rest of the range when there is none, or
    /// when the one there does not continue at that byte (after a failure).
    async fn fill<R: Remote>(
        &mut self,
        remote: &R,
        path: &RemotePath,
        chunk_start: u64,
        state: &ChunkState,
    ) -> FsResult<()> {
        let have = state.buf.lock().map(|b| b.data.len() as u64).map_err(|_| poisoned())?;
        let from = chunk_start + have;
        let chunk_end = chunk_start + state.len;
        if from >= chunk_end {
            return Ok(());
        }
        if self.stream.is_none() || self.at - self.rest.len() as u64 != from {
            self.rest = bytes::Bytes::new();
            self.stream = None;
            self.stream = Some(remote.download(path, Some(from..self.end)).await.map_err(|e| located(e, path))?);
            self.at = from;
        }
        let mut filled = from;
        while filled < chunk_end {
            if state.cancelled.load(Ordering::Relaxed) {
                return Ok(());
            }
            let piece = if !self.rest.is_empty() {
                std::mem::take(&mut self.rest)
            } else {
                let Some(stream) = self.stream.as_mut() else { return Ok(()) };
                match stream.next().await {
                    None => {
                        // The file ended early (it shrank under us): the chunk ends short.
                        self.stream = None;
                        return Ok(());
                    }
                    Some(piece) => {
                        let piece = piece.map_err(|e| located(e, path))?;
                        self.at += piece.len() as u64;
                        piece
                    }
                }
            };
            let take = (piece.len() as u64).min(chunk_end - filled) as usize;
            if take < piece.len() {
                self.rest = piece.slice(take..);
            }
            filled += take as u64;
            append(state, &piece[..take])?;
        }
        Ok(())
    }
}

/// Add bytes to a chunk; answer the parked reads they complete and wake the waiters they concern.
fn append(state: &ChunkState, bytes: &[u8]) -> FsResult<()> {
    let mut buf = state.buf.lock().map_err(|_| poisoned())?;
    let room = (state.len as usize).saturating_sub(buf.data.len());
    let take = bytes.len().min(room);
    buf.data.extend_from_slice(&bytes[..take]);
    let have = buf.data.len();
    if buf.parked.iter().any(|p| p.to <= have) {
        answer_parked(&mut buf);
    }
    let wake = buf.waiting.iter().any(|&t| t <= have as u64);
    drop(buf);
    if wake {
        state.ready.notify_waiters();
    }
    Ok(())
}

async fn fetch_into<R: Remote>(remote: &R, path: &RemotePath, from: u64, end: u64, state: &ChunkState) -> FsResult<()> {
    if from >= end {
        return Ok(());
    }
    let mut stream = remote.download(path, Some(from..end)).await.map_err(|e| located(e, path))?;
    while let Some(piece) = stream.next().await {
        if state.cancelled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let piece = piece.map_err(|e| located(e, path))?;
        append(state, &piece)?;
    }
    Ok(())
}

/// A cancelled chunk's download has stopped: answer what is parked on it, fetching directly what each
/// read still lacks.
async fn answer_cancelled<R: Remote>(remote: &R, path: &RemotePath, start: u64, state: &ChunkState) {
    let lacking: Vec<(Parked, u64)> = {
        let Ok(mut buf) = state.buf.lock() else { return };
        buf.done = true;
        answer_parked(&mut buf);
        let have = buf.data.len();
        let parked = std::mem::take(&mut buf.parked);
        parked
            .into_iter()
            .map(|mut p| {
                // What arrived of the read's range goes to its prefix; the rest is fetched from `got`.
                let got = have.clamp(p.from, p.to);
                if have > p.from {
                    p.prefix.extend_from_slice(&buf.data[p.from..got]);
                }
                p.from = got;
                (p, start + got as u64)
            })
            .collect()
    };
    state.ready.notify_waiters();
    if !lacking.is_empty() {
        log::debug!("{path}: a seek cancelled the range {} read(s) waited for; fetching what they lack", lacking.len());
    }
    for (p, from) in lacking {
        let end = start + p.to as u64;
        let rest = ChunkState::new(end - from, ChunkBuf::default());
        match fetch_into(remote, path, from, end, &rest).await {
            Ok(()) => match rest.buf.lock() {
                Ok(rest) => Parked { from: 0, to: rest.data.len(), ..p }.answer(&rest.data),
                Err(_) => (p.reply)(Err(FsError::Io("reader lock poisoned".into()))),
            },
            Err(e) => (p.reply)(Err(e)),
        }
    }
}

struct FinishOnDrop(Arc<ChunkState>, RemotePath);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let unfinished = self.0.buf.lock().map(|b| !b.done).unwrap_or(true);
        if unfinished {
            finish(&self.0, Some(FsError::Io(format!("{}: download task ended unexpectedly", self.1))), &self.1);
        }
    }
}

/// The chunk's download is over: answer what is parked on it (its bytes, however many came; or the
/// error) and wake the waiting tasks.
fn finish(state: &ChunkState, error: Option<FsError>, path: &RemotePath) {
    let failed_reads = match state.buf.lock() {
        Ok(mut buf) => {
            buf.done = true;
            buf.error = error.clone();
            match &error {
                None => {
                    // Normally all answered already; fewer bytes than asked for: the file shrank.
                    for p in std::mem::take(&mut buf.parked) {
                        p.answer(&buf.data);
                    }
                    Vec::new()
                }
                Some(_) => std::mem::take(&mut buf.parked),
            }
        }
        Err(_) => Vec::new(),
    };
    if let Some(e) = error {
        state.failed.store(true, Ordering::Relaxed);
        if !failed_reads.is_empty() {
            log::warn!("read failed: {path}: {e}");
        }
        for p in failed_reads {
            (p.reply)(Err(e.clone()));
        }
    }
    state.ready.notify_waiters();
}

fn poisoned() -> FsError {
    FsError::Io("reader lock poisoned".into())
}

/// A download's error as the read answers it: its kind kept (a file gone from the server is ENOENT, not
/// EIO), and a message naming the file where the kind carries one.
fn located(e: crate::remote::RemoteError, path: &RemotePath) -> FsError {
    match FsError::from(e) {
        FsError::Io(m) if !m.contains(&path.to_string()) => FsError::Io(format!("{path}: {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests;
