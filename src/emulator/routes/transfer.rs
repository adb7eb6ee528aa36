//! File bodies in both directions: ranged downloads streamed from the blob file in 1 MiB chunks, and
//! uploads streamed to disk while hashing, for the allocate flow's upload URL and the legacy
//! `umode=nomultipart` JFS upload. Bandwidth limits and injected drops apply here, per request (one
//! request at a time per HTTP/1.1 connection, so per connection).

use super::{json_ok, xml_ok, Req};
use crate::emulator::docs;
use crate::emulator::errors::{Failure, Outcome};
use crate::emulator::store::tree::{ItemId, RevState};
use crate::emulator::store::uploads::quota_exceeded;
use crate::emulator::{timefmt, Shared};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::io::SeekFrom;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

const CHUNK: usize = 1 << 20;

/// Paces a transfer to `bandwidth` bytes/s (0 = unlimited).
struct Pacer {
    bandwidth: u64,
    started: Instant,
    done: u64,
}

impl Pacer {
    fn new(bandwidth: u64) -> Self {
        Pacer { bandwidth, started: Instant::now(), done: 0 }
    }

    /// Chunk size that keeps pacing smooth.
    fn chunk(&self) -> usize {
        if self.bandwidth == 0 {
            CHUNK
        } else {
            ((self.bandwidth / 20) as usize).clamp(4096, CHUNK)
        }
    }

    async fn account(&mut self, n: u64) {
        self.done += n;
        if self.bandwidth > 0 {
            let due = Duration::from_secs_f64(self.done as f64 / self.bandwidth as f64);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
    }
}

/// `Range: bytes=a-b` against a size: `Ok(None)` = whole file, `Err` = not satisfiable.
fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if size == 0 {
        return Ok(None);
    }
    let first = spec.split(',').next().unwrap_or("").trim();
    let Some((a, b)) = first.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() { size - 1 } else { b.parse::<u64>().map_err(|_| ())?.min(size - 1) };
        (start, end)
    };
    if start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end + 1)))
}

/// Bytes of the file's current revision, or of revision `revision` when given (`?mode=bin&revision=N`,
/// as a community client of the JFS API documents it); only COMPLETED revisions have bytes to serve.
pub async fn download(
    shared: &Arc<Shared>,
    range: Option<&str>,
    id: ItemId,
    revision: Option<u32>,
) -> Outcome<Response> {
    let (path, size, mime) = crate::emulator::reads::revision_blob(shared, id, revision)?;
    let (start, end, partial) = match parse_range(range, size) {
        Ok(Some((s, e))) => (s, e, true),
        Ok(None) => (0, size, false),
        Err(()) => {
            let f = Failure::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "no.jotta.backup.errors.RequestedRangeNotSatisfiedException",
                format!("Range not satisfiable for size {size}"),
            );
            let mut resp = crate::emulator::errors::to_xml(&f, &shared.host);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    let len = end - start;
    let mut file = tokio::fs::File::open(&path).await.map_err(Failure::from_io)?;
    file.seek(SeekFrom::Start(start)).await.map_err(Failure::from_io)?;
    let (bandwidth, drop_at) = {
        let mut faults = shared.faults();
        (faults.bandwidth(), faults.drop_point("download", len))
    };
    let state = (file, len, 0u64, Pacer::new(bandwidth), shared.clone());
    let stream = futures_util::stream::unfold(Some(state), move |state| async move {
        let (mut file, remaining, sent, mut pacer, shared) = state?;
        if remaining == 0 {
            return None;
        }
        let mut want = (pacer.chunk() as u64).min(remaining);
        if let Some(cut) = drop_at {
            if sent >= cut {
                let err = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected drop");
                return Some((Err(err), None));
            }
            want = want.min(cut - sent);
        }
        let mut buf = vec![0u8; want as usize];
        if let Err(e) = file.read_exact(&mut buf).await {
            return Some((Err(e), None));
        }
        shared.counters.sent(want);
        pacer.account(want).await;
        Some((
            Ok::<Bytes, std::io::Error>(Bytes::from(buf)),
            Some((file, remaining - want, sent + want, pacer, shared)),
        ))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = if partial { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if partial {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// How a request body ended.
#[derive(Debug, PartialEq, Eq)]
enum BodyEnd {
    /// The client sent everything it meant to.
    Complete,
    /// The client went away mid-body.
    Disconnected,
    /// An injected drop: the connection must be cut now.
    Cut,
    /// More bytes than declared arrived.
    Overflow,
}

/// How the bytes of a body are hashed.
enum Hashing<'a> {
    /// As they arrive.
    Inline(&'a mut Md5),
    /// By a `Follower` reading the file behind the writer: `mark` gets the end of what is in the file,
    /// the body being written from `base` on.
    Follow { mark: &'a AtomicU64, base: u64 },
}

/// Stream a request body into `file`, hashing it as `hashing` says, at most `limit` bytes.
async fn receive(
    shared: &Shared,
    body: Body,
    file: tokio::fs::File,
    mut hashing: Hashing<'_>,
    limit: u64,
) -> Result<(u64, BodyEnd), Failure> {
    let (bandwidth, drop_at) = {
        let mut faults = shared.faults();
        (faults.bandwidth(), faults.drop_point("upload", limit))
    };
    let mut pacer = Pacer::new(bandwidth);
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let mut stream = body.into_data_stream();
    let mut got = 0u64;
    let mut end = BodyEnd::Complete;
    while let Some(chunk) = stream.next().await {
        let mut chunk = match chunk {
            Ok(c) => c,
            Err(_) => {
                end = BodyEnd::Disconnected;
                break;
            }
        };
        if let Some(cut) = drop_at {
            if got + chunk.len() as u64 >= cut {
                chunk.truncate((cut - got) as usize);
                end = BodyEnd::Cut;
            }
        }
        if got + chunk.len() as u64 > limit {
            end = BodyEnd::Overflow;
            break;
        }
        out.write_all(&chunk).await.map_err(Failure::from_io)?;
        got += chunk.len() as u64;
        match &mut hashing {
            Hashing::Inline(hasher) => hasher.update(&chunk),
            Hashing::Follow { mark, base } => mark.store(*base + got - out.buffer().len() as u64, Ordering::Release),
        }
        shared.counters.received(chunk.len() as u64);
        if end == BodyEnd::Cut {
            break;
        }
        pacer.account(chunk.len() as u64).await;
    }
    out.flush().await.map_err(Failure::from_io)?;
    if let Hashing::Follow { mark, base } = hashing {
        mark.store(base + got, Ordering::Release);
    }
    Ok((got, end))
}

/// Hashes a part file from its start while a resumed body is appended to it: the resume of an upload
/// whose running md5 is gone (the emulator restarted) reads the body at once, instead of reading all
/// that is stored first (minutes for gigabytes: the client would take the silence for a dead server).
struct Follower {
    mark: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<std::io::Result<Md5>>>,
}

impl Follower {
    /// Start hashing `path`, of which the first `stored` bytes are there already.
    fn start(path: std::path::PathBuf, stored: u64) -> Self {
        let mark = Arc::new(AtomicU64::new(stored));
        let done = Arc::new(AtomicBool::new(false));
        let (m, d) = (mark.clone(), done.clone());
        let task = tokio::task::spawn_blocking(move || -> std::io::Result<Md5> {
            use std::os::unix::fs::FileExt;
            let file = std::fs::File::open(&path)?;
            let mut hasher = Md5::new();
            let mut buf = vec![0u8; CHUNK];
            let mut pos = 0u64;
            loop {
                // `done` first: once it is seen set, the mark read after it is the final one.
                let finished = d.load(Ordering::Acquire);
                let end = m.load(Ordering::Acquire);
                if pos < end {
                    let want = (end - pos).min(CHUNK as u64) as usize;
                    let n = file.read_at(&mut buf[..want], pos)?;
                    if n == 0 {
                        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "part file shrank"));
                    }
                    hasher.update(&buf[..n]);
                    pos += n as u64;
                } else if finished {
                    return Ok(hasher);
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Follower { mark, done, task: Some(task) }
    }

    /// The md5 of everything up to the last mark.
    async fn finish(mut self) -> Result<Md5, Failure> {
        self.done.store(true, Ordering::Release);
        let task = self.task.take().ok_or_else(|| Failure::internal("hash follower finished twice"))?;
        task.await.map_err(|e| Failure::internal(e.to_string()))?.map_err(Failure::from_io)
    }
}

impl Drop for Follower {
    /// A request dropped mid-body (its connection closed) must not leave the thread waiting forever.
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
    }
}

fn api_error(status: u16, exception: &'static str, message: String) -> Failure {
    Failure::new(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), exception, message)
}

/// `POST <upload_url>`: bytes from the resume position (an optional `Range: bytes=a-b` names it; its
/// end is not trusted, the body length is). Partial => 420 and the bytes are kept for a later resume;
/// complete with a wrong md5 => CORRUPT revision and 400 `CorruptUploadOpenApiException` (the status is
/// unrecorded for the real service; 400 tells clients the request itself was bad, not the server).
pub async fn upload(shared: &Arc<Shared>, req: Req, upload_id: &str) -> Outcome<Response> {
    let (pending, part) = {
        let store = shared.store();
        let p = store.pending(upload_id).ok_or_else(|| Failure::not_found(format!("Upload {upload_id} not found")))?;
        (p, store.blobs.part_path(upload_id))
    };
    let start = req
        .header("Range")
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if start > pending.received {
        return Err(Failure::bad_request(format!(
            "Range starts at {start} but only {} bytes were received",
            pending.received
        )));
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&part)
        .await
        .map_err(Failure::from_io)?;
    file.set_len(start).await.map_err(Failure::from_io)?;
    file.seek(SeekFrom::Start(start)).await.map_err(Failure::from_io)?;
    let limit = pending.size - start;
    let kept = if start > 0 { shared.take_partial_md5(upload_id, start) } else { Some(Md5::new()) };
    let (got, end, hasher) = match kept {
        Some(mut hasher) => {
            let (got, end) = receive(shared, req.body, file, Hashing::Inline(&mut hasher), limit).await?;
            (got, end, hasher)
        }
        None => {
            let follower = Follower::start(part.clone(), start);
            let received =
                receive(shared, req.body, file, Hashing::Follow { mark: &follower.mark, base: start }, limit);
            let received = received.await;
            let hasher = follower.finish().await?;
            let (got, end) = received?;
            (got, end, hasher)
        }
    };
    let received = start + got;
    match end {
        BodyEnd::Cut | BodyEnd::Disconnected => {
            shared.store().upload_progress(upload_id, received)?;
            shared.keep_partial_md5(upload_id, received, hasher);
            if end == BodyEnd::Cut {
                req.ctx.kill();
                std::future::pending::<()>().await;
            }
            return Err(Failure::bad_request("Client disconnected"));
        }
        BodyEnd::Overflow => {
            shared.store().finish_upload(upload_id, "")?;
            return Err(api_error(
                400,
                "no.jotta.openapi.CorruptUploadOpenApiException",
                format!("More than {} bytes sent", pending.size),
            ));
        }
        BodyEnd::Complete => {}
    }
    if received < pending.size {
        shared.store().upload_progress(upload_id, received)?;
        shared.keep_partial_md5(upload_id, received, hasher);
        return Err(api_error(
            420,
            "no.jotta.openapi.IncompleteUploadOpenApiException",
            format!("Received {received} of {} bytes", pending.size),
        ));
    }
    let md5 = hex::encode(hasher.finalize());
    let mut store = shared.store();
    if !store.finish_upload(upload_id, &md5)? {
        return Err(api_error(
            400,
            "no.jotta.openapi.CorruptUploadOpenApiException",
            format!("Checksum mismatch: declared {}, received {md5}", pending.md5),
        ));
    }
    let tree = &store.state.tree;
    let modified =
        tree.get(pending.node).and_then(|n| n.file()).and_then(|f| f.current()).map(|r| r.modified).unwrap_or(0);
    let path = format!("/jfs/{}", tree.names(pending.node).get(1..).map(|s| s.join("/")).unwrap_or_default());
    let body = serde_json::json!({
        "path": path,
        "content_id": format!("{md5}-{}", pending.size),
        "bytes": pending.size,
        "md5": md5,
        "modified": modified * 1000,
    });
    Ok(json_ok(StatusCode::CREATED, &body))
}

/// Legacy `POST /jfs/<user>/<path>?umode=nomultipart` with `JSize` (required), `JMd5`, `JCreated`,
/// `JModified`: always 201 with the `<file>` document; short => INCOMPLETE, md5 mismatch => CORRUPT.
pub async fn legacy_upload(shared: &Arc<Shared>, req: Req, rest: Vec<String>) -> Outcome<Response> {
    let size: u64 = req
        .header("JSize")
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Failure::bad_request("Missing or invalid JSize header"))?;
    let declared = req.header("JMd5").map(|s| s.trim().to_ascii_lowercase());
    let now = timefmt::now();
    let modified = req.header("JModified").and_then(timefmt::parse_any).unwrap_or(now);
    let created = req.header("JCreated").and_then(timefmt::parse_any).unwrap_or(modified);
    if rest.len() < 3 {
        return Err(Failure::bad_request("Uploads need a file path below a mount point"));
    }
    let (parent, tmp) = {
        let mut store = shared.store();
        if let Some(cap) = shared.quota {
            let free = cap.saturating_sub(store.sizes().usage);
            if size > free {
                return Err(quota_exceeded(format!("Not enough space: {size} bytes needed, {free} free")));
            }
        }
        (store.mkdir_p(&rest[..rest.len() - 1])?, store.blobs.temp_path())
    };
    let file = tokio::fs::File::create(&tmp).await.map_err(Failure::from_io)?;
    let mut hasher = Md5::new();
    let (got, end) = receive(shared, req.body, file, Hashing::Inline(&mut hasher), size).await?;
    if end == BodyEnd::Cut {
        let _ = tokio::fs::remove_file(&tmp).await;
        req.ctx.kill();
        std::future::pending::<()>().await;
    }
    let md5 = hex::encode(hasher.finalize());
    let name = &rest[rest.len() - 1];
    let mut store = shared.store();
    let node = store.file_at(parent, name)?;
    let state = if got < size || end != BodyEnd::Complete {
        RevState::Incomplete
    } else if declared.as_deref().is_some_and(|d| d != md5) {
        RevState::Corrupt
    } else {
        RevState::Completed
    };
    if state == RevState::Completed {
        store.blobs.adopt(&tmp, &md5, size).map_err(Failure::from_io)?;
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
    let rev_md5 = declared.unwrap_or(md5);
    store.add_revision(node, state, &rev_md5, size, created, modified)?;
    Ok(xml_ok(StatusCode::CREATED, docs::file_doc(&store, &shared.host, node, true)))
}
