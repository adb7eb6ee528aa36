//! The emulator's store as a `Remote`, without sockets: `InProcessService` holds the same state the
//! HTTP server serves (`open_shared`), and `InProcessRemote` is a client of it. Reads answer with the
//! emulator's own XML documents (`reads.rs`, `docs.rs`) read back by the client's parser and the
//! client's interpretation of them (`remote::http::*_reply`); writes call the same store verbs the routes
//! call (`store/by_path.rs`, `store/uploads.rs`); failures become the JFS error document and go through
//! the client's one error mapping. Request kinds are counted and faulted like the server's, so the
//! emulator's `fail_next`/`hang` rules and counters work here too; `hold_answers` and `fail_after_next`
//! rules hold back or fail the answer to an upload, move, delete or cphash after the store applied it.
//! There is no second model of the server.
//!
//! What this transport does not have: HTTP (no retries inside a call, no tokens, no bandwidth pacing or
//! cut connections). A stopped service (`stop`) answers `Unreachable`, like a refused connection.
//! Store work blocks briefly on local files under the store lock, as it does behind the HTTP server.

use super::errors::{self, Failure};
use super::reads::{self, Answer};
use super::store::uploads::{AllocateRequest, Allocation};
use super::{docs, open_shared, EmulatorConfig, FaultConfig, Shared};
use crate::remote::http::{error_from_reply, listing_reply, mkdir_reply, need_depth, public_uri, stat_reply};
use crate::remote::ItemKind;
use crate::remote::{xml, ByteStream, Endpoints, Remote, RemoteError, RemoteResult};
use crate::remote::{AccountInfo, DeviceListing, FileInfo, Item, Listing, PurgeCounts, RemotePath, Tree, UnixTime};
use crate::remote::{UploadOutcome, UploadRequest};
use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::sync::{Arc, RwLock};

/// What upload URLs and public links of an in-process service start with (never dialled).
const ENDPOINT: &str = "http://in-process.invalid";

/// Download chunk size: the reader sees a stream of several chunks, as over HTTP.
const CHUNK: usize = 256 * 1024;

/// The running service, or `None` while it is stopped. Shared by the service and all its clients.
type Link = Arc<RwLock<Option<Arc<Shared>>>>;

/// An emulator account served in-process. Clients (`remote()`) stay valid across `stop`/`start_again`.
pub struct InProcessService {
    config: EmulatorConfig,
    link: Link,
}

impl InProcessService {
    /// Load (or create) the account in `config.data_dir`. `config.listen` is ignored.
    pub fn open(config: EmulatorConfig) -> std::io::Result<Self> {
        let shared = open_shared(&config, ENDPOINT.to_string())?;
        Ok(InProcessService { config, link: Arc::new(RwLock::new(Some(shared))) })
    }

    /// A client of this account (any number may exist: "another client" is just another remote).
    pub fn remote(&self) -> InProcessRemote {
        InProcessRemote { link: self.link.clone() }
    }

    fn running(&self) -> Arc<Shared> {
        current(&self.link).unwrap_or_else(|| panic!("the in-process service is stopped"))
    }

    /// Take the service down: every request answers `Unreachable` until `start_again`. The state is
    /// written to a snapshot first, as the HTTP emulator's shutdown does.
    pub fn stop(&self) {
        let old = self.link.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(shared) = old {
            // Requests already being served finish first (each holds the state while it runs), as a
            // server finishes what it fully received: a change answered after the snapshot would be
            // lost at `start_again`, an upload the client saw succeed missing from the service.
            shared.stop_serving();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while Arc::strong_count(&shared) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if let Err(e) = shared.store().compact() {
                log::error!("in-process emulator: cannot write snapshot on stop: {e}");
            }
        }
    }

    /// Bring a stopped service back from its data dir (the log replayed, as after a restart).
    pub fn start_again(&self) -> std::io::Result<()> {
        let shared = open_shared(&self.config, ENDPOINT.to_string())?;
        *self.link.write().unwrap_or_else(|e| e.into_inner()) = Some(shared);
        Ok(())
    }

    /// Replace the fault rules (same document as `PUT /_emulator/faults`). Panics while stopped.
    pub fn set_faults(&self, config: FaultConfig) {
        self.running().set_faults(config);
    }

    /// Requests by kind and bytes moved, as `GET /_emulator/counters` reports them. Panics while stopped.
    pub fn counters(&self) -> serde_json::Value {
        self.running().counters.to_json()
    }

    pub fn reset_counters(&self) {
        self.running().counters.reset();
    }
}

fn current(link: &Link) -> Option<Arc<Shared>> {
    link.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A client of an `InProcessService`. Cheap to clone.
#[derive(Clone)]
pub struct InProcessRemote {
    link: Link,
}

impl std::fmt::Debug for InProcessRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessRemote").finish_non_exhaustive()
    }
}

/// The store failure as the client sees it: the JFS error document through the client's mapping.
fn failed(shared: &Shared, f: &Failure, what: &str) -> RemoteError {
    error_from_reply(f.status.as_u16(), errors::xml_body(f, &shared.host).as_bytes(), what)
}

fn segments(path: &RemotePath) -> Vec<String> {
    path.segments().to_vec()
}

impl InProcessRemote {
    /// The service for one request of `kind`: counted, held while a `hang` rule covers it, and failed
    /// if a fault rule says so, before any work (as the HTTP routes do).
    async fn begin(&self, kind: &'static str, what: &str) -> RemoteResult<Arc<Shared>> {
        let shared = current(&self.link)
            .ok_or_else(|| RemoteError::Unreachable(format!("{what}: the in-process service is stopped")))?;
        shared.counters.count(kind);
        shared.hold_while_hung(kind).await;
        if shared.is_stopped() {
            return Err(RemoteError::Unreachable(format!("{what}: the in-process service is stopped")));
        }
        let injected = shared.faults().failure_for(kind);
        if let Some(status) = injected {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(failed(&shared, &Failure::new(status, "java.lang.RuntimeException", "Injected fault"), what));
        }
        Ok(shared)
    }

    /// The answer to a write the store applied: held while a `hold_answers` rule says so, and failed
    /// if a `fail_after_next` rule fires (the change stays made), as the HTTP routes answer.
    async fn answered(shared: &Shared, kind: &str, what: &str) -> RemoteResult<()> {
        shared.hold_answer(kind).await;
        let lost = shared.faults().failure_after(kind);
        match lost {
            Some(status) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::GATEWAY_TIMEOUT);
                Err(failed(
                    shared,
                    &Failure::new(status, "java.lang.RuntimeException", "Injected fault after serving"),
                    what,
                ))
            }
            None => Ok(()),
        }
    }

    /// A read's XML document.
    async fn document(&self, kind: &'static str, rest: &[String], what: &str) -> RemoteResult<String> {
        let shared = self.begin(kind, what).await?;
        match reads::answer(&shared, rest, kind, 10) {
            Ok(Answer::Document(body)) => Ok(body),
            Ok(Answer::Bytes(_)) => Err(RemoteError::Protocol(format!("{what}: bytes where a document was asked"))),
            Err(f) => Err(failed(&shared, &f, what)),
        }
    }

    /// The file document of a path, as a write's answer (`docs::file_doc`) read by the client.
    fn file_answer(shared: &Shared, id: super::store::tree::ItemId) -> RemoteResult<FileInfo> {
        let store = shared.store();
        xml::parse_file(docs::file_doc(&store, &shared.host, id, false).as_bytes())
    }

    /// Whether a GET of `rest` is counted as `stat` (a file) or `list` (anything else).
    fn read_kind(&self, rest: &[String]) -> &'static str {
        let is_file = current(&self.link).and_then(|shared| {
            let store = shared.store();
            store.state.tree.resolve(rest).and_then(|id| store.state.tree.get(id)).map(|n| n.is_file())
        });
        if is_file == Some(true) {
            "stat"
        } else {
            "list"
        }
    }

    async fn download_bytes(
        &self,
        path: &RemotePath,
        range: Option<Range<u64>>,
        revision: Option<u32>,
    ) -> RemoteResult<ByteStream> {
        need_depth(path, 3, "download")?;
        let what = match revision {
            Some(n) => format!("download revision {n} of {path}"),
            None => format!("download {path}"),
        };
        if range.as_ref().is_some_and(|r| r.start >= r.end) {
            return Ok(futures_util::stream::empty().boxed());
        }
        let shared = self.begin("download", &what).await?;
        let blob = match reads::answer(&shared, path.segments(), "download", 0) {
            Ok(Answer::Bytes(id)) => reads::revision_blob(&shared, id, revision),
            Ok(Answer::Document(_)) => Err(Failure::not_found(format!("{path} is not a file"))),
            Err(f) => Err(f),
        };
        let (blob, size, _) = blob.map_err(|f| failed(&shared, &f, &what))?;
        let (start, end) = match range {
            // An empty file has no range to refuse: the whole (empty) file, as the server answers.
            Some(r) if size > 0 => {
                if r.start >= size {
                    return Err(RemoteError::RangeNotSatisfiable(format!(
                        "{what}: offset {} is beyond the end ({size} bytes)",
                        r.start
                    )));
                }
                (r.start, r.end.min(size))
            }
            _ => (0, size),
        };
        let io = |e: std::io::Error| RemoteError::Protocol(format!("{what}: the service cannot read its blob ({e})"));
        let mut file = std::fs::File::open(&blob).map_err(io)?;
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut data = vec![0u8; (end - start) as usize];
        file.read_exact(&mut data).map_err(io)?;
        shared.counters.sent(data.len() as u64);
        let chunks: Vec<RemoteResult<Bytes>> =
            data.chunks(CHUNK).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>();
        Ok(futures_util::stream::iter(chunks).boxed())
    }

    /// The byte transfer of an upload: the source from the resume position into the pending upload's
    /// part file, hashed whole, then finished by the store (COMPLETED or CORRUPT by the md5).
    fn send_bytes(
        shared: &Shared,
        what: &str,
        req: &UploadRequest,
        upload_id: &str,
        from: u64,
    ) -> RemoteResult<(bool, u64)> {
        let local = |e: std::io::Error| RemoteError::Io(format!("{what}: cannot read {}: {e}", req.source.display()));
        let server = |e: std::io::Error| RemoteError::Transient(format!("{what}: the service cannot store it ({e})"));
        let part = shared.store().blobs.part_path(upload_id);
        let mut out =
            std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(&part).map_err(server)?;
        out.set_len(from).map_err(server)?;
        let mut hasher = Md5::new();
        if from > 0 {
            let mut kept = Vec::new();
            std::fs::File::open(&part).map_err(server)?.take(from).read_to_end(&mut kept).map_err(server)?;
            hasher.update(&kept);
        }
        let mut src = std::fs::File::open(&req.source).map_err(local)?;
        src.seek(SeekFrom::Start(from)).map_err(local)?;
        let mut rest = Vec::new();
        src.take(req.size - from).read_to_end(&mut rest).map_err(local)?;
        if (rest.len() as u64) < req.size - from {
            return Err(RemoteError::Io(format!(
                "{what}: the local file ended {} bytes early; it changed while uploading",
                req.size - from - rest.len() as u64
            )));
        }
        out.seek(SeekFrom::Start(from)).map_err(server)?;
        out.write_all(&rest).map_err(server)?;
        out.flush().map_err(server)?;
        hasher.update(&rest);
        shared.counters.received(rest.len() as u64);
        let md5 = hex::encode(hasher.finalize());
        let done = shared.store().finish_upload(upload_id, &md5).map_err(|f| failed(shared, &f, what))?;
        Ok((done, rest.len() as u64))
    }
}

impl Remote for InProcessRemote {
    async fn account(&self) -> RemoteResult<AccountInfo> {
        let body = self.document("account", &[], "account").await?;
        xml::parse_account(body.as_bytes())
    }

    async fn device(&self, path: &RemotePath) -> RemoteResult<DeviceListing> {
        if path.depth() != 1 {
            return Err(RemoteError::InvalidName(format!("device {path}: needs a device path (/Device)")));
        }
        let body = self.document("device", path.segments(), &format!("device {path}")).await?;
        xml::parse_device(body.as_bytes())
    }

    async fn list(&self, path: &RemotePath) -> RemoteResult<Listing> {
        need_depth(path, 2, "list")?;
        let kind = self.read_kind(path.segments());
        let body = self.document(kind, path.segments(), &format!("list {path}")).await?;
        listing_reply(path, body.as_bytes())
    }

    async fn stat(&self, path: &RemotePath) -> RemoteResult<Item> {
        need_depth(path, 2, "stat")?;
        let kind = self.read_kind(path.segments());
        let body = self.document(kind, path.segments(), &format!("stat {path}")).await?;
        stat_reply(path, body.as_bytes())
    }

    async fn download(&self, path: &RemotePath, range: Option<Range<u64>>) -> RemoteResult<ByteStream> {
        self.download_bytes(path, range, None).await
    }

    async fn download_revision(
        &self,
        path: &RemotePath,
        number: u32,
        range: Option<Range<u64>>,
    ) -> RemoteResult<ByteStream> {
        self.download_bytes(path, range, Some(number)).await
    }

    async fn stat_including_trash(&self, path: &RemotePath) -> RemoteResult<Item> {
        need_depth(path, 2, "stat")?;
        let kind = self.read_kind(path.segments());
        let body = self.document(kind, path.segments(), &format!("stat {path}")).await?;
        xml::parse_item(body.as_bytes())
    }

    async fn share(&self, path: &RemotePath) -> RemoteResult<String> {
        need_depth(path, 3, "share")?;
        let what = format!("share {path}");
        let shared = self.begin("share", &what).await?;
        let id = shared.store().share_path(path.segments(), true).map_err(|f| failed(&shared, &f, &what))?;
        let file = Self::file_answer(&shared, id)?;
        let uri = public_uri(&file)
            .ok_or_else(|| RemoteError::Protocol(format!("{what}: the reply carries no public link")))?;
        Ok(Endpoints::from_base(&shared.endpoint).public_link(&shared.user, uri))
    }

    async fn unshare(&self, path: &RemotePath) -> RemoteResult<()> {
        need_depth(path, 3, "share")?;
        let what = format!("unshare {path}");
        let shared = self.begin("share", &what).await?;
        let id = shared.store().share_path(path.segments(), false).map_err(|f| failed(&shared, &f, &what))?;
        match public_uri(&Self::file_answer(&shared, id)?) {
            Some(_) => Err(RemoteError::Protocol(format!("{what}: the server still reports a public link"))),
            None => Ok(()),
        }
    }

    async fn upload(&self, path: &RemotePath, req: &UploadRequest) -> RemoteResult<UploadOutcome> {
        need_depth(path, 3, "upload")?;
        let what = format!("upload {path}");
        let (md5, created, modified) = req.checked(&what)?;
        let shared = self.begin("allocate", &what).await?;
        let request = AllocateRequest {
            segs: segments(path),
            md5: md5.clone(),
            size: req.size,
            created,
            modified,
            reject_conflicts: false,
        };
        let (node, allocation) =
            shared.store().allocate(&request, shared.quota).map_err(|f| failed(&shared, &f, &what))?;
        let pending = match allocation {
            Allocation::Completed => {
                let file = Self::file_answer(&shared, node)?;
                return Ok(UploadOutcome { deduplicated: true, bytes_sent: 0, resumed_from: 0, file });
            }
            Allocation::Upload(p) => p,
        };
        let shared = self.begin("upload", &what).await?;
        let (done, sent) = Self::send_bytes(&shared, &what, req, &pending.id, pending.received)?;
        Self::answered(&shared, "upload", &what).await?;
        if !done {
            return Err(RemoteError::Corrupt(format!(
                "{path}: the server's md5 of the received bytes differs from {md5}"
            )));
        }
        let file = Self::file_answer(&shared, node)?;
        Ok(UploadOutcome { deduplicated: false, bytes_sent: sent, resumed_from: pending.received, file })
    }

    async fn mkdir(&self, path: &RemotePath) -> RemoteResult<()> {
        need_depth(path, 2, "mkdir")?;
        let what = format!("mkdir {path}");
        let shared = self.begin("mkdir", &what).await?;
        let mut store = shared.store();
        let id = store.mkdir_p(path.segments()).map_err(|f| failed(&shared, &f, &what))?;
        mkdir_reply(path, docs::container_doc(&store, &shared.host, id, false).as_bytes())
    }

    async fn delete(&self, path: &RemotePath, _kind: ItemKind) -> RemoteResult<()> {
        need_depth(path, 2, "delete")?;
        let what = format!("delete {path}");
        let shared = self.begin("delete", &what).await?;
        let trashed = shared.store().trash_path(path.segments());
        Self::answered(&shared, "delete", &what).await?;
        match trashed.map_err(|f| failed(&shared, &f, &what)) {
            Ok(_) | Err(RemoteError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete_permanently(&self, path: &RemotePath, _kind: ItemKind) -> RemoteResult<()> {
        need_depth(path, 2, "delete")?;
        let what = format!("delete permanently {path}");
        let shared = self.begin("delete_permanent", &what).await?;
        let removed = shared.store().remove_path(path.segments());
        removed.map(|_| ()).map_err(|f| failed(&shared, &f, &what))
    }

    async fn rename(&self, from: &RemotePath, to: &RemotePath, _kind: ItemKind) -> RemoteResult<()> {
        need_depth(from, 3, "rename")?;
        need_depth(to, 3, "rename to")?;
        let what = format!("rename {from} to {to}");
        let shared = self.begin("move", &what).await?;
        let moved = shared.store().move_path(from.segments(), to.segments());
        Self::answered(&shared, "move", &what).await?;
        moved.map(|_| ()).map_err(|f| failed(&shared, &f, &what))
    }

    async fn copy(&self, from: &RemotePath, to: &RemotePath) -> RemoteResult<FileInfo> {
        need_depth(from, 3, "copy")?;
        need_depth(to, 3, "copy to")?;
        let what = format!("copy {from} to {to}");
        let shared = self.begin("copy", &what).await?;
        let copied = shared.store().copy_path(from.segments(), to.segments());
        let file = Self::file_answer(&shared, copied.map_err(|f| failed(&shared, &f, &what))?)?;
        crate::remote::copy_out_of_trash(self, to, file).await
    }

    async fn set_times(
        &self,
        path: &RemotePath,
        size: u64,
        md5: &str,
        created: UnixTime,
        modified: UnixTime,
    ) -> RemoteResult<FileInfo> {
        need_depth(path, 3, "set times")?;
        let what = format!("set times {path}");
        let md5 = md5.to_ascii_lowercase();
        let shared = self.begin("cphash", &what).await?;
        let made = shared.store().cphash(path.segments(), size, &md5, created, modified);
        Self::answered(&shared, "cphash", &what).await?;
        match made.map_err(|f| failed(&shared, &f, &what)) {
            Ok(id) => Self::file_answer(&shared, id),
            Err(RemoteError::NotFound(_)) => Err(RemoteError::NotFound(format!(
                "{path}: the server has no content of size {size} and md5 {md5}; upload it instead"
            ))),
            Err(e) => Err(e),
        }
    }

    async fn trash(&self) -> RemoteResult<Listing> {
        let rest = ["Jotta".to_string(), "Trash".to_string()];
        let body = self.document("list", &rest, "list the trash").await?;
        xml::parse_listing(body.as_bytes())
    }

    async fn empty_trash(&self) -> RemoteResult<PurgeCounts> {
        let what = "empty the trash";
        let shared = self.begin("purge_trash", what).await?;
        let purged = shared.store().purge_trash();
        let (folders, files) = purged.map_err(|f| failed(&shared, &f, what))?;
        Ok(PurgeCounts { folders, files })
    }

    async fn list_tree(&self, path: &RemotePath) -> RemoteResult<Tree> {
        need_depth(path, 2, "list tree")?;
        let body = self.document("liststream", path.segments(), &format!("list tree {path}")).await?;
        // liststream paths are mount-point-rooted: /<mp>/<folders>.
        let listed = format!("/{}", path.segments()[1..].join("/"));
        xml::parse_liststream(body.as_bytes(), &listed)
    }

    async fn list_tree_within(&self, path: &RemotePath, max_bytes: usize) -> RemoteResult<Option<Tree>> {
        need_depth(path, 2, "list tree")?;
        let body = self.document("liststream", path.segments(), &format!("list tree {path}")).await?;
        if body.len() > max_bytes {
            return Ok(None);
        }
        let listed = format!("/{}", path.segments()[1..].join("/"));
        xml::parse_liststream(body.as_bytes(), &listed).map(Some)
    }
}
