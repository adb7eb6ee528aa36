//! An upload's request body: the local file from the resume position, read in large chunks, through the
//! page cache or, for a staging file the mount wrote around it, without (`direct_io.rs`); and the
//! record of when the connection last took a chunk, which tells a slow upload from a stalled one.

use crate::direct_io::AlignedBuf;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Read size for the request body: large enough that syscalls and chunk framing cost nothing (512 KiB and
/// 1 MiB did no better), small enough that parallel uploads hold little (`ChunkBudget`): measured, four
/// parallel 1 GiB uploads peaked about 1 MiB lower than with 512 KiB.
const CHUNK: usize = 256 << 10;

/// Aligned chunk buffers held by a client's uploads together: being read into, lent to a connection, or
/// idle in a body for its next chunk. A body always gets a buffer for the chunk its connection asks for;
/// the connection asks for the next one while it still sends the last part of the one before, so a body
/// sending steadily holds two. A third, new buffer to read the chunk after that is made only while the
/// uploads hold fewer than `AHEAD_BELOW` (a spare the body holds anyway may always read ahead). One upload
/// alone thus reads ahead (its `O_DIRECT` reads get no read-ahead from the kernel), and several at once,
/// which keep the disk busy between them anyway, hold two each: measured, four parallel 1 GiB uploads
/// otherwise held 8-12 MiB of chunks, the largest part of the daemon's peak memory while four files were
/// written and sent.
#[derive(Clone, Default)]
pub(crate) struct ChunkBudget(Arc<AtomicUsize>);
const AHEAD_BELOW: usize = 3;

impl ChunkBudget {
    /// Buffers held now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn count(&self) -> HeldCount {
        self.0.fetch_add(1, Ordering::SeqCst);
        HeldCount(self.clone())
    }

    fn count_if_few(&self) -> Option<HeldCount> {
        let few = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| (h < AHEAD_BELOW).then_some(h + 1));
        few.ok().map(|_| HeldCount(self.clone()))
    }
}

/// A chunk buffer and its place in the budget, given back when it is dropped.
pub(super) struct Held {
    buf: Option<AlignedBuf>,
    count: HeldCount,
}

pub(super) struct HeldCount(ChunkBudget);

impl Drop for HeldCount {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A body's spare buffer, kept between one chunk and the next.
type Idle = Arc<Mutex<Option<Held>>>;

impl Held {
    /// For the chunk the connection waits for: the body's spare, else a new one (always granted).
    fn for_next(idle: &Idle, budget: &ChunkBudget) -> Held {
        Self::spare(idle).unwrap_or_else(|| Held { buf: None, count: budget.count() })
    }

    /// For a chunk read ahead: the body's spare (held anyway), else a new one while the uploads hold few.
    fn for_ahead(idle: &Idle, budget: &ChunkBudget) -> Option<Held> {
        Self::spare(idle).or_else(|| budget.count_if_few().map(|count| Held { buf: None, count }))
    }

    fn spare(idle: &Idle) -> Option<Held> {
        idle.lock().ok().and_then(|mut i| i.take())
    }
}

/// Where the body's bytes come from.
pub(super) enum Source {
    /// Through the page cache: one buffer for the whole stream; once the network has taken a chunk and
    /// dropped it, the next `reserve` takes the same memory back (no fresh megabyte, and its page
    /// faults, per chunk).
    Cached { file: tokio::fs::File, buf: BytesMut },
    /// Without it: each chunk is read into an aligned buffer, handed to the connection as it is (no
    /// copy), and taken back for a later chunk once the connection drops it. Such reads get no
    /// read-ahead from the kernel, so the next chunk is read while this one is sent (`ahead`).
    Uncached { file: Arc<std::fs::File>, at: u64, idle: Idle, ahead: Option<Ahead>, budget: ChunkBudget },
}

/// A chunk being read ahead: where, how long, and the read.
pub(super) struct Ahead {
    at: u64,
    want: usize,
    read: tokio::task::JoinHandle<(AlignedBuf, HeldCount, std::io::Result<usize>)>,
}

/// Read `want` bytes at `at` into `into`, on a blocking thread.
fn read_ahead(file: &Arc<std::fs::File>, into: Held, at: u64, want: usize) -> Ahead {
    let file = file.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut buf = AlignedBuf::reuse(into.buf, CHUNK);
        let n = buf.read_at(&file, at, want);
        (buf, into.count, n)
    });
    Ahead { at, want, read }
}

impl Source {
    /// The file at `from`. `uncached` asks to skip the page cache; it is honoured where the offset is
    /// aligned and the filesystem allows it, with chunk buffers counted against `budget`.
    pub(super) async fn open(path: &Path, from: u64, uncached: bool, budget: &ChunkBudget) -> std::io::Result<Source> {
        if uncached && from % crate::direct_io::ALIGN as u64 == 0 {
            let p = path.to_path_buf();
            let file = tokio::task::spawn_blocking(move || crate::direct_io::open_for_reading(&p))
                .await
                .map_err(std::io::Error::other)?;
            if let Some(file) = file {
                let (file, budget) = (Arc::new(file), budget.clone());
                return Ok(Source::Uncached { file, at: from, idle: Arc::default(), ahead: None, budget });
            }
        }
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(SeekFrom::Start(from)).await?;
        Ok(Source::Cached { file, buf: BytesMut::new() })
    }

    /// The next up to `want` bytes; empty at the end of the file. `then`: how many the read after this
    /// one will want (read ahead where that helps).
    async fn read(&mut self, want: usize, then: usize) -> std::io::Result<Bytes> {
        match self {
            Source::Cached { file, buf } => {
                buf.clear();
                buf.reserve(want);
                buf.resize(want, 0);
                let n = file.read(&mut buf[..]).await?;
                Ok(buf.split_to(n).freeze())
            }
            Source::Uncached { file, at, idle, ahead, budget } => {
                let this = match ahead.take() {
                    Some(a) if a.at == *at && a.want == want => a,
                    stale => {
                        if let Some(a) = stale {
                            a.read.abort();
                        }
                        read_ahead(file, Held::for_next(idle, budget), *at, want)
                    }
                };
                let (buf, count, n) = this.read.await.map_err(std::io::Error::other)?;
                let n = n?;
                *at += n as u64;
                if n == want && then > 0 {
                    *ahead = Held::for_ahead(idle, budget).map(|into| read_ahead(file, into, *at, then));
                }
                Ok(Bytes::from_owner(Lent { buf: Some((buf, count)), idle: idle.clone() }))
            }
        }
    }

    /// `len` bytes from here as a body stream; counts bytes handed to the network and records local read
    /// failures so they are reported as local, not as network trouble.
    pub(super) fn stream(
        self,
        len: u64,
        sent: Arc<AtomicU64>,
        local_error: Arc<Mutex<Option<String>>>,
        tally: Option<super::progress::Tally>,
        activity: Arc<Activity>,
    ) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        futures_util::stream::unfold(
            (self, len, sent, local_error),
            move |(mut source, remaining, sent, local_error)| {
                // Asked for the next chunk (or the end): the connection has taken the previous one.
                activity.touch();
                async move {
                    if remaining == 0 {
                        return None;
                    }
                    let want = remaining.min(CHUNK as u64) as usize;
                    let fail = |msg: String, local_error: &Arc<Mutex<Option<String>>>| {
                        if let Ok(mut slot) = local_error.lock() {
                            *slot = Some(msg.clone());
                        }
                        std::io::Error::other(msg)
                    };
                    let then = (remaining - want as u64).min(CHUNK as u64) as usize;
                    match source.read(want, then).await {
                        Ok(chunk) if chunk.is_empty() => {
                            let e = fail(
                                format!("the local file ended {remaining} bytes early; it changed while uploading"),
                                &local_error,
                            );
                            Some((Err(e), (source, 0, sent, local_error)))
                        }
                        Ok(chunk) => {
                            let n = chunk.len() as u64;
                            sent.fetch_add(n, Ordering::Relaxed);
                            Some((Ok(chunk), (source, remaining - n, sent, local_error)))
                        }
                        Err(e) => {
                            let e = fail(format!("reading the local file failed ({e})"), &local_error);
                            Some((Err(e), (source, 0, sent, local_error)))
                        }
                    }
                }
            },
        )
        .inspect(move |chunk| {
            if let (Ok(b), Some(tally)) = (chunk, &tally) {
                tally(b.len() as u64);
            }
        })
    }
}

/// An aligned buffer lent to the connection as a chunk; it becomes its body's spare when the connection
/// is done with it.
struct Lent {
    buf: Option<(AlignedBuf, HeldCount)>,
    idle: Idle,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        self.buf.as_ref().map(|(b, _)| b.as_slice()).unwrap_or_default()
    }
}

impl Drop for Lent {
    /// The body's spare, unless it has one (then the buffer and its place in the budget are given back).
    fn drop(&mut self) {
        if let (Some((buf, count)), Ok(mut idle)) = (self.buf.take(), self.idle.lock()) {
            if idle.is_none() {
                *idle = Some(Held { buf: Some(buf), count });
            }
        }
    }
}

/// When the connection last took part of a request body (or the request started): what tells a slow
/// upload from a stalled one.
pub(super) struct Activity {
    started: std::time::Instant,
    /// Milliseconds after `started`.
    last: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Activity { started: std::time::Instant::now(), last: AtomicU64::new(0) }
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    /// Resolves once nothing happened for `silence`; never while bytes keep going out.
    pub(super) async fn silent_for(&self, silence: std::time::Duration) {
        loop {
            let last = std::time::Duration::from_millis(self.last.load(Ordering::Relaxed));
            let idle = self.started.elapsed().saturating_sub(last);
            if idle >= silence {
                return;
            }
            tokio::time::sleep(silence - idle).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(path: &Path, from: u64, len: u64, uncached: bool) -> (bool, Vec<u8>) {
        let source = Source::open(path, from, uncached, &ChunkBudget::default()).await.unwrap();
        let went_around = matches!(source, Source::Uncached { .. });
        let sent = Arc::new(AtomicU64::new(0));
        let stream = source.stream(len, sent.clone(), Arc::default(), None, Arc::new(Activity::new()));
        let chunks: Vec<_> = stream.collect().await;
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&c.unwrap());
        }
        assert_eq!(sent.load(Ordering::Relaxed), out.len() as u64);
        (went_around, out)
    }

    #[tokio::test]
    async fn a_body_reads_the_same_bytes_around_the_page_cache_as_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..3 * CHUNK + 100).map(|i| (i * 13 % 241) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let direct = crate::direct_io::open_for_reading(&path).is_some();
        let n = content.len() as u64;
        for (from, uncached) in [(0, true), (0, false), (8192, true), (8191, true)] {
            let (around, got) = body(&path, from, n - from, uncached).await;
            assert!(got == content[from as usize..], "bytes from {from} (uncached: {uncached})");
            // Around the cache only when asked, at an aligned offset, where the filesystem allows it.
            assert_eq!(around, uncached && from % 4096 == 0 && direct, "from {from}");
        }
        if !direct {
            eprintln!("SKIPPED (the O_DIRECT part): this filesystem refuses O_DIRECT");
        }
        // A file shorter than promised is a local error, whichever way it is read.
        std::fs::write(&path, &content[..CHUNK + 10]).unwrap();
        for uncached in [true, false] {
            let source = Source::open(&path, 0, uncached, &ChunkBudget::default()).await.unwrap();
            let local_error = Arc::default();
            let stream = source.stream(n, Arc::default(), Arc::clone(&local_error), None, Arc::new(Activity::new()));
            let chunks: Vec<_> = stream.collect().await;
            assert!(chunks.last().unwrap().is_err());
            assert!(local_error.lock().unwrap().as_ref().unwrap().contains("ended"), "uncached: {uncached}");
        }
    }

    #[tokio::test]
    async fn parallel_bodies_share_a_budget_of_chunk_buffers_and_a_lone_one_reads_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..4 * CHUNK + 7).map(|i| (i * 31 % 251) as u8).collect();
        let paths: Vec<_> = (0..4).map(|i| dir.path().join(format!("f{i}"))).collect();
        for p in &paths {
            std::fs::write(p, &content).unwrap();
        }
        if crate::direct_io::open_for_reading(&paths[0]).is_none() {
            eprintln!("SKIPPED: this filesystem refuses O_DIRECT, so no body uses chunk buffers");
            return;
        }
        let n = content.len() as u64;
        let budget = ChunkBudget::default();
        let body = |path: std::path::PathBuf, budget: ChunkBudget| async move {
            let source = Source::open(&path, 0, true, &budget).await.unwrap();
            Box::pin(source.stream(n, Arc::default(), Arc::default(), None, Arc::new(Activity::new())))
        };

        // Alone: the chunk being sent and the next one read ahead, the same two buffers all along.
        let mut alone = body(paths[0].clone(), budget.clone()).await;
        let mut got = Vec::new();
        while let Some(chunk) = alone.next().await {
            assert_eq!(budget.held(), 2, "at {}", got.len());
            got.extend_from_slice(&chunk.unwrap());
        }
        assert!(got == content);
        drop(alone);
        assert_eq!(budget.held(), 0, "an ended body gives its buffers back");

        // Four at once, each chunk held until the next has been asked for, as the HTTP client does: two
        // buffers each, and at most `AHEAD_BELOW - 1` more for reading ahead (not a third each).
        let mut bodies = Vec::new();
        for p in &paths {
            bodies.push(body(p.clone(), budget.clone()).await);
        }
        let mut got = vec![Vec::new(); 4];
        let mut sending = Vec::new();
        loop {
            let mut lent = Vec::new();
            for (b, out) in bodies.iter_mut().zip(&mut got) {
                if let Some(chunk) = b.next().await {
                    let chunk = chunk.unwrap();
                    out.extend_from_slice(&chunk);
                    lent.push(chunk);
                }
            }
            assert!(budget.held() < 2 * 4 + AHEAD_BELOW, "{} buffers held", budget.held());
            if lent.is_empty() {
                break;
            }
            sending = lent;
        }
        drop(sending);
        assert!(got.iter().all(|g| *g == content));
        drop(bodies);
        assert_eq!(budget.held(), 0);
    }
}
