//! Uploads through the allocate API (§5.2): allocate with size and md5 first (known content costs no
//! bytes), then stream the file from the resume position the server reports. A broken connection, a
//! 5xx/429 or a 420 "incomplete" during the byte transfer is answered by allocating again — the server then
//! says how far it got — and continuing from there, a bounded number of times. Bytes are never re-sent
//! blindly from the start, and the allocate and byte POSTs themselves are not repeated on their own.
//!
//! What the outcome says of the file comes from the replies themselves (§5.2): the byte POST's JSON
//! answer carries the stored size, md5 and modification time, and a COMPLETED allocate means the file now
//! has exactly the size, md5 and times that were allocated. So a new file costs two requests and known
//! content one; the file document (uuid, revision number) is fetched only when the byte POST's answer
//! is not the JSON it should be.

use super::auth::Auth;
use super::endpoints::check_transport;
use super::error::{RemoteError, RemoteResult};
use super::http::{error_from_reply, one_line, HttpRemote};
use super::retry::Idempotency;
use super::upload_body::{Activity, Source};
use super::{time, FileInfo, RemotePath, RevisionInfo, RevisionState, UnixTime, UploadOutcome, UploadRequest};
use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RANGE};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Deserialize)]
struct Allocation {
    #[serde(default)]
    state: String,
    #[serde(default)]
    upload_url: Option<String>,
    #[serde(default)]
    resume_pos: u64,
}

/// The byte POST's answer once the file is complete (§5.2): `modified` in Unix milliseconds.
#[derive(Debug, Deserialize)]
struct Completion {
    bytes: u64,
    md5: String,
    #[serde(default)]
    modified: Option<i64>,
}

/// The file as a reply described it: one completed current revision (its number and the file's uuid are
/// not in the replies; `None`/0 say so).
fn described(path: &RemotePath, size: u64, md5: &str, created: UnixTime, modified: UnixTime) -> FileInfo {
    FileInfo {
        name: path.to_string().rsplit('/').next().unwrap_or_default().to_string(),
        uuid: None,
        deleted: None,
        abspath: None,
        current: Some(RevisionInfo {
            number: 0,
            state: RevisionState::Completed,
            created: Some(created),
            modified: Some(modified),
            updated: None,
            mime: None,
            size: Some(size),
            md5: Some(md5.to_string()),
        }),
        latest: None,
        revisions: Vec::new(),
        public_uri: None,
    }
}

pub(crate) async fn upload(remote: &HttpRemote, path: &RemotePath, req: &UploadRequest) -> RemoteResult<UploadOutcome> {
    let what = format!("upload {path}");
    let (md5, created, modified) = req.checked(&what)?;
    let request = serde_json::json!({
        "bytes": req.size,
        "md5": md5,
        "created": time::format_rfc3339(created),
        "modified": time::format_rfc3339(modified),
        // Raw names, device included, no username (§5.2; what rclone and jotta-cli send).
        "path": format!("/jfs{path}"),
    });

    let sent = Arc::new(AtomicU64::new(0));
    let max_attempts = remote.inner.retry.max_attempts.max(1);
    let mut resumed_from = 0;
    // Whether any byte POST was attempted: a COMPLETED allocate before that is dedupe.
    let mut transferred = false;
    let mut attempt = 0;
    let reply = loop {
        attempt += 1;
        // Allocating the same (path, md5, size) again converges on the same pending upload (§5.2, §7.8):
        // it is how a resume starts, so a busy or cut-off allocate is simply asked again.
        let alloc = match allocate(remote, &what, &request).await {
            Ok(a) => a,
            Err(e @ RemoteError::Transient(_)) if attempt < max_attempts => {
                log::info!("{e}; allocating again (attempt {attempt} of {max_attempts})");
                tokio::time::sleep(remote.inner.retry.backoff(attempt)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        // The latest position the server reported: where this call's bytes actually started.
        if alloc.resume_pos > 0 && !alloc.state.eq_ignore_ascii_case("COMPLETED") {
            resumed_from = alloc.resume_pos;
        }
        if alloc.state.eq_ignore_ascii_case("COMPLETED") {
            // Before any transfer this is dedupe; later it means the last transfer did finish. Either way
            // the server holds exactly what was allocated.
            let file = described(path, req.size, &md5, created, modified);
            return Ok(UploadOutcome {
                deduplicated: !transferred,
                bytes_sent: sent.load(Ordering::Relaxed),
                resumed_from,
                file,
            });
        }
        let url = alloc.upload_url.filter(|u| !u.is_empty()).ok_or_else(|| {
            RemoteError::Protocol(format!("{what}: allocate answered {} without upload_url", alloc.state))
        })?;
        check_transport(&url)?;
        if alloc.resume_pos > req.size {
            return Err(RemoteError::Protocol(format!(
                "{what}: server resumes at byte {} of a {}-byte file",
                alloc.resume_pos, req.size
            )));
        }
        transferred = true;
        match send_bytes(remote, &what, req, &url, alloc.resume_pos, &sent).await {
            Ok(reply) => break reply,
            Err(e @ (RemoteError::Transient(_) | RemoteError::Incomplete(_))) if attempt < max_attempts => {
                log::info!("{e}; allocating again to resume (attempt {attempt} of {max_attempts})");
                if matches!(e, RemoteError::Transient(_)) {
                    tokio::time::sleep(remote.inner.retry.backoff(attempt)).await;
                }
            }
            Err(e) => return Err(e),
        }
    };

    let file = match serde_json::from_slice::<Completion>(&reply) {
        Ok(done) => {
            // The server keeps mismatching bytes as a CORRUPT revision (and says so with an error, §5.2);
            // an answer naming other content than ours means the same.
            if !done.md5.eq_ignore_ascii_case(&md5) || done.bytes != req.size {
                return Err(RemoteError::Corrupt(format!(
                    "{path}: the server stored {} bytes with md5 {}, not the {} bytes with md5 {md5} sent",
                    done.bytes, done.md5, req.size
                )));
            }
            let stored = done.modified.map(|ms| ms.div_euclid(1000)).unwrap_or(modified);
            described(path, req.size, &md5, created, stored)
        }
        Err(e) => {
            log::debug!("{what}: the upload's answer is not the expected JSON ({e}); asking for the file");
            let file = remote.file_doc(path).await?;
            // The server accepted the bytes but kept them as a CORRUPT revision: our md5 did not match them.
            if let Some(latest) = &file.latest {
                if latest.state == RevisionState::Corrupt && file.md5() != Some(md5.as_str()) {
                    return Err(RemoteError::Corrupt(format!(
                        "{path}: the server's md5 of the received bytes differs from {md5}"
                    )));
                }
            }
            file
        }
    };
    Ok(UploadOutcome { deduplicated: false, bytes_sent: sent.load(Ordering::Relaxed), resumed_from, file })
}

async fn allocate(remote: &HttpRemote, what: &str, request: &serde_json::Value) -> RemoteResult<Allocation> {
    let url = remote.inner.endpoints.api_url("files/v1/allocate");
    let body = remote.fetch(what, Idempotency::NotIdempotent, || remote.inner.client.post(&url).json(request)).await?;
    serde_json::from_slice(&body)
        .map_err(|e| RemoteError::Protocol(format!("{what}: allocate reply is not the expected JSON ({e})")))
}

/// One POST of the bytes from `from` to the end; its answer on success. Transient/Incomplete errors mean
/// "allocate and resume".
async fn send_bytes(
    remote: &HttpRemote,
    what: &str,
    req: &UploadRequest,
    url: &str,
    from: u64,
    sent: &Arc<AtomicU64>,
) -> RemoteResult<Bytes> {
    let io_err = |e: std::io::Error| RemoteError::Io(format!("{what}: cannot read {}: {e}", req.source.display()));
    let source = Source::open(&req.source, from, req.uncached, &remote.inner.upload_chunks).await.map_err(io_err)?;
    let len = req.size - from;
    let local_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));

    let activity = Arc::new(Activity::new());
    let body = if len == 0 {
        reqwest::Body::from(Vec::new())
    } else {
        let tally = super::progress::current();
        let stream = source.stream(len, sent.clone(), local_error.clone(), tally, activity.clone());
        reqwest::Body::wrap_stream(stream)
    };
    // The upload client has no deadline of its own (see `http::build_client`): silence is
    // measured here from the last chunk the connection took, so a transfer may last as long as it moves.
    let silence = remote.inner.silence;
    let mut rb = remote
        .inner
        .upload_client
        .post(url)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .body(body);
    if from > 0 {
        rb = rb.header(RANGE, format!("bytes={}-{}", from, req.size - 1));
    }
    let (rb, token) = remote.inner.auth.apply(rb).await?;
    let sending = tokio::select! {
        r = rb.send() => Some(r),
        () = activity.silent_for(silence) => None,
    };
    let Some(sending) = sending else {
        // A server that stops reading (or never answers after the last byte) is a lost connection: the
        // caller allocates again and resumes from what the server kept.
        return Err(RemoteError::Transient(format!(
            "{what}: the connection took no bytes and gave no answer for {} s",
            silence.as_secs()
        )));
    };
    let resp = match sending {
        Ok(r) => r,
        Err(e) => {
            if let Some(msg) = local_error.lock().ok().and_then(|mut l| l.take()) {
                return Err(RemoteError::Io(format!("{what}: {msg}")));
            }
            if e.is_connect() {
                return Err(super::http::transport_error(what, &e));
            }
            return Err(RemoteError::Transient(format!("{what}: connection lost at upload ({})", one_line(&e))));
        }
    };
    let status = resp.status().as_u16();
    let reply = match tokio::time::timeout(silence, resp.bytes()).await {
        Ok(body) => body.unwrap_or_default(),
        Err(_) => {
            return Err(RemoteError::Transient(format!(
                "{what}: the answer stopped coming for {} s",
                silence.as_secs()
            )))
        }
    };
    if (200..300).contains(&status) {
        return Ok(reply);
    }
    if status == 401 {
        if let (Auth::Bearer(tm), Some(token)) = (&remote.inner.auth, token) {
            // Token expired during a long transfer: refresh, then allocate again and resume.
            tm.refresh_after_rejection(&token).await?;
            return Err(RemoteError::Incomplete(format!("{what}: access token expired during the transfer")));
        }
    }
    Err(error_from_reply(status, &reply, what))
}
