//! The JottaCloud protocol layer: the `Remote` trait (the contract the vfs and the tools are written
//! against), its data types and errors, and `HttpRemote`, the HTTP client for the real service and the
//! emulator alike.
//!
//! Paths are account-relative `RemotePath`s (`/Device/MountPoint/...`); the username is the client's
//! business. All methods are async and `Send`, so callers may run many at once on one runtime.

pub mod auth;
pub mod credentials;
pub mod endpoints;
pub mod error;
pub mod http;
pub mod netrc;
pub mod path;
pub mod progress;
pub mod rclonelink;
pub mod retry;
pub mod time;
pub mod tls;
pub mod types;
mod upload;
mod upload_body;
pub mod xml;

pub use auth::{login, ConnectOptions};
pub use endpoints::Endpoints;
pub use error::{RemoteError, RemoteResult};
pub use http::HttpRemote;
pub use path::RemotePath;
pub use retry::RetryPolicy;

pub use types::*;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::future::Future;
use std::ops::Range;

/// A download body, streamed chunk by chunk (never buffered whole).
pub type ByteStream = BoxStream<'static, RemoteResult<Bytes>>;

/// Everything the filesystem core and the tools need from the service.
///
/// Error conventions, common to all methods: `NotFound` when the path (or a parent) does not exist or is
/// only in the trash; `Unauthorized` when credentials are gone for good; `Transient` after retries ran out;
/// `Protocol` for replies that cannot be understood; `InvalidName` before any request for names the service
/// refuses. Idempotent requests are retried with backoff; uploads resume instead of being blindly retried.
pub trait Remote: Send + Sync + 'static {
    /// Account document: capacity, usage, devices.
    fn account(&self) -> impl Future<Output = RemoteResult<AccountInfo>> + Send;

    /// A device and its mount points (deleted mount points flagged). `path` has depth 1.
    fn device(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<DeviceListing>> + Send;

    /// Children of a mount point or folder (depth >= 2), deleted children included and flagged.
    /// `NotADirectory` if the path is a file.
    fn list(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<Listing>> + Send;

    /// Whatever lives at the path (depth >= 2): a file with its revisions, or a folder listing.
    fn stat(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<Item>> + Send;

    /// Bytes of the current revision; `range` is half-open. `RangeNotSatisfiable` beyond the end.
    fn download(
        &self,
        path: &RemotePath,
        range: Option<Range<u64>>,
    ) -> impl Future<Output = RemoteResult<ByteStream>> + Send;

    /// Bytes of revision `number` (any completed one, current or older); `NotFound` if there is no such
    /// completed revision. `range` as for `download`.
    fn download_revision(
        &self,
        path: &RemotePath,
        number: u32,
        range: Option<Range<u64>>,
    ) -> impl Future<Output = RemoteResult<ByteStream>> + Send;

    /// Like `stat`, but an item in the trash is returned (flagged `deleted`) instead of `NotFound`; a live
    /// item of that name wins over a trashed one.
    fn stat_including_trash(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<Item>> + Send;

    /// Make a file public; returns the link that fetches its bytes without credentials. Sharing a shared
    /// file returns the same link. `NotFound` for a missing file (folders cannot be shared).
    fn share(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<String>> + Send;

    /// Revoke a file's public link (the link then answers 404). Succeeds if it was not shared.
    fn unshare(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<()>> + Send;

    /// Allocate with md5 first (identical content costs no bytes), then send from the resume position.
    /// Parents are created implicitly. `QuotaExceeded` when the account is full; `Corrupt` if the
    /// server's md5 disagrees (the caller's file changed under it). The outcome's `file` is what the
    /// replies say: size, md5 and times of the current revision; its number and the file's uuid may be
    /// unknown there (0 and `None`: a `stat` tells them).
    fn upload(
        &self,
        path: &RemotePath,
        req: &UploadRequest,
    ) -> impl Future<Output = RemoteResult<UploadOutcome>> + Send;

    /// mkdir -p; succeeds if the folder already exists. `AlreadyExists` if a live file has the name.
    fn mkdir(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<()>> + Send;

    /// Move a file or folder to the trash. A missing path succeeds (the service's rule).
    fn delete(&self, path: &RemotePath, kind: ItemKind) -> impl Future<Output = RemoteResult<()>> + Send;

    /// Delete for good, skipping the trash. `NotFound` if missing.
    fn delete_permanently(&self, path: &RemotePath, kind: ItemKind) -> impl Future<Output = RemoteResult<()>> + Send;

    /// Move/rename a file or folder to `to` (a full path, parents created). The file keeps its uuid.
    fn rename(
        &self,
        from: &RemotePath,
        to: &RemotePath,
        kind: ItemKind,
    ) -> impl Future<Output = RemoteResult<()>> + Send;

    /// Server-side copy of a file; no bytes travel.
    fn copy(&self, from: &RemotePath, to: &RemotePath) -> impl Future<Output = RemoteResult<FileInfo>> + Send;

    /// Make the file at `path` have this content and these times without sending bytes (cphash):
    /// updates the mtime of an existing identical file, restores an identical trashed one, or creates it
    /// from content the server already has. `NotFound` when the bytes would have to be uploaded.
    fn set_times(
        &self,
        path: &RemotePath,
        size: u64,
        md5: &str,
        created: UnixTime,
        modified: UnixTime,
    ) -> impl Future<Output = RemoteResult<FileInfo>> + Send;

    /// Top-level trashed items of the whole account.
    fn trash(&self) -> impl Future<Output = RemoteResult<Listing>> + Send;

    /// Purge everything in the trash.
    fn empty_trash(&self) -> impl Future<Output = RemoteResult<PurgeCounts>> + Send;

    /// Every live folder and file below `path`, in one request (`mode=liststream`).
    fn list_tree(&self, path: &RemotePath) -> impl Future<Output = RemoteResult<Tree>> + Send;

    /// `list_tree`, given up (`None`) as soon as the reply passes `max_bytes`: for callers that must
    /// bound what one reply may cost them (the mount's listings fetched ahead).
    fn list_tree_within(
        &self,
        path: &RemotePath,
        max_bytes: usize,
    ) -> impl Future<Output = RemoteResult<Option<Tree>>> + Send;
}

/// Server quirk (§5.8): copying onto a trashed file leaves the copy in the trash; cphash brings it back.
/// Every client's `copy` ends here with what the server answered.
pub(crate) async fn copy_out_of_trash<R: Remote + ?Sized>(
    remote: &R,
    to: &RemotePath,
    file: FileInfo,
) -> RemoteResult<FileInfo> {
    if file.deleted.is_some() {
        if let (Some(md5), Some(rev)) = (file.md5(), file.current.as_ref()) {
            let modified = rev.modified.unwrap_or_else(time::now);
            let created = rev.created.unwrap_or(modified);
            return remote.set_times(to, file.size(), md5, created, modified).await;
        }
    }
    Ok(file)
}
