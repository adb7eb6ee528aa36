//! `HttpRemote`: the `Remote` trait over HTTP, for the real service and the emulator alike. Owns the
//! request machinery every call goes through — credentials on each request, one refresh-and-retry on a 401
//! with a bearer token, backoff retries for idempotent requests (see `retry.rs`) — and the translation of
//! HTTP statuses and XML/JSON error documents into `RemoteError`s whose one-line messages name the path.
//!
//! Uploads live in `upload.rs`; everything else is one request (plus a follow-up GET here and there).

use super::auth::{self, Auth, ConnectOptions, Credential, Source, TokenManager};
use super::endpoints::Endpoints;
use super::error::{RemoteError, RemoteResult};
use super::retry::{self, Failure, Idempotency, RetryPolicy};
use super::{time, tls, xml, ByteStream, Remote};
use super::{AccountInfo, DeviceListing, FileInfo, Item, Listing, PurgeCounts, RemotePath, Tree, UnixTime};
use super::{UploadOutcome, UploadRequest};
use crate::remote::ItemKind;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Same set as `RemotePath::url_encoded`: everything but RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Connections are kept open and reused: a FUSE mount issues many small requests in parallel.
const POOL_IDLE_PER_HOST: usize = 32;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// No total timeout (downloads may take hours); a stalled connection is dropped after this long silent.
pub const SILENCE: Duration = Duration::from_secs(60);

/// The shared reqwest client: rustls with certificate verification against the roots `tls.rs` describes
/// (plus the CA in `ca_cert`), keep-alive pool, `TCP_NODELAY` for small request latency.
///
/// `silence`, when given, bounds the wait for the answer's headers *counted from the start of the
/// request* and then each read of its body (that is what reqwest's `read_timeout` does: its first
/// deadline is not moved by the request body going out). Right for every request with a small body; an
/// upload's body may take hours, so the byte POSTs get a client without it (`None`) and watch for
/// silence themselves, from the last byte the connection took (`upload.rs`): with it, a 12 GiB file
/// stopped at about 8.5 GiB, each resume getting less far.
pub(crate) fn build_client(ca_cert: Option<&std::path::Path>, silence: Option<Duration>) -> RemoteResult<Client> {
    let mut builder = Client::builder();
    if let Some(path) = ca_cert {
        for cert in tls::load_ca_cert(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder = builder
        .user_agent(concat!("jottafuse/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // A pooled connection that a NAT or firewall dropped quietly would only show when a request on it
        // met `silence`. Probes on idle connections keep such mappings alive, and find a dead connection
        // (after 20 s idle, then every 10 s, given up after 4 unanswered: at 60 s) before the pool's 90 s
        // would let a request take it.
        .tcp_keepalive(Duration::from_secs(20))
        .tcp_keepalive_interval(Duration::from_secs(10))
        .tcp_keepalive_retries(4)
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(silence) = silence {
        builder = builder.read_timeout(silence);
    }
    builder.build().map_err(|e| RemoteError::Config(format!("cannot set up the HTTPS client: {}", one_line(&e))))
}

/// An error and its causes on one line (reqwest nests the interesting part: "connection refused").
pub(crate) fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s.replace(['\n', '\r'], " ")
}

fn failure_of(e: &reqwest::Error) -> Failure {
    match (e.is_connect(), e.is_timeout()) {
        (true, true) => Failure::ConnectTimedOut,
        (true, false) => Failure::Connect,
        (false, true) => Failure::Silent,
        (false, false) => Failure::Broken,
    }
}

/// The error a transport failure ends in once it is not retried: a connection that never opened means
/// the service cannot be reached at all, which callers treat apart from a busy or broken one; a server
/// certificate we do not trust is a matter of configuration (which CA to trust), not of the network.
pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> RemoteError {
    if let Some(refused) = tls::refused_certificate(e) {
        return RemoteError::Config(refused);
    }
    match failure_of(e) {
        Failure::Connect | Failure::ConnectTimedOut => RemoteError::Unreachable(format!("{what}: {}", one_line(e))),
        _ => RemoteError::Transient(format!("{what}: {}", one_line(e))),
    }
}

/// Send a request without our credentials (OIDC discovery, token endpoint) or with credentials the caller
/// put on it, retrying per the policy. Returns whatever status came back last.
pub(crate) async fn send_plain<F>(
    policy: &RetryPolicy,
    idem: Idempotency,
    what: &str,
    build: F,
) -> RemoteResult<Response>
where
    F: Fn() -> RequestBuilder,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match judge(policy, idem, attempt, what, build().send().await)? {
            Verdict::Done(resp) => return Ok(resp),
            Verdict::Retry(f) => f,
        };
        log::debug!("{what}: retrying after {failure:?} (attempt {attempt})");
        tokio::time::sleep(policy.backoff(attempt)).await;
    }
}

/// What one attempt's outcome means for a retried request.
enum Verdict {
    Done(Response),
    Retry(Failure),
}

/// The retry rule shared by every request loop: a status or transport failure is retried while the
/// policy allows and the request is safe to repeat; a transport failure past that is `Unreachable` when
/// no connection could be opened, else `Transient`.
fn judge(
    policy: &RetryPolicy,
    idem: Idempotency,
    attempt: u32,
    what: &str,
    outcome: Result<Response, reqwest::Error>,
) -> RemoteResult<Verdict> {
    match outcome {
        Ok(resp) => {
            let status = resp.status().as_u16();
            if attempt < policy.max_attempts && retry::should_retry(idem, Failure::Status(status)) {
                Ok(Verdict::Retry(Failure::Status(status)))
            } else {
                Ok(Verdict::Done(resp))
            }
        }
        Err(e) => {
            let refused = tls::refused_certificate(&e).is_some();
            let limit = match failure_of(&e) {
                Failure::Silent => policy.max_attempts.min(retry::SILENT_ATTEMPTS),
                _ => policy.max_attempts,
            };
            if refused || attempt >= limit || !retry::should_retry(idem, failure_of(&e)) {
                return Err(transport_error(what, &e));
            }
            Ok(Verdict::Retry(failure_of(&e)))
        }
    }
}

/// Cut a server message to one readable line.
fn clip(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// Turn a non-2xx reply into the error it means. `what` names the operation and path. JFS sends XML
/// `<error>` documents whose `<code>` wins over the HTTP status (§6.1); the API and upload hosts send JSON
/// (§6.2); anything else is judged by the status alone.
pub(crate) fn error_from_reply(status: u16, body: &[u8], what: &str) -> RemoteError {
    let (code, message, error_id) = if let Some(doc) = xml::parse_error(body) {
        let msg = if doc.reason.is_empty() { doc.message } else { format!("{} ({})", doc.message, doc.reason) };
        (doc.code.unwrap_or(status), msg, String::new())
    } else if let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice::<serde_json::Value>(body) {
        let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let mut msg = text("message");
        for k in ["error_description", "error", "cause"] {
            if msg.is_empty() {
                msg = text(k);
            }
        }
        (status, msg, text("error_id"))
    } else {
        let text = String::from_utf8_lossy(body);
        // HTML error pages and the like: their text is noise, the status says enough.
        let msg = if text.trim_start().starts_with('<') { String::new() } else { text.into_owned() };
        (status, msg, String::new())
    };
    let message = clip(&message);
    let has = |needle: &str| message.contains(needle) || error_id.contains(needle);
    // The service's own words (Java exception names, its internal paths) go to the debug log; the user
    // sees the operation and path, and the cause in plain words.
    log::debug!("{what}: HTTP {status}, code {code}, service says: {message} {error_id}");
    let plain = plain_words(&message);
    let detail = if plain.is_empty() { what.to_string() } else { format!("{what}: {plain}") };
    // For a missing or already existing item, the path says it all: `not found: /Jotta/Archive/x`.
    let path_only = || match what.split_once(' ') {
        Some((_, path)) if path.starts_with('/') && !path.contains(' ') => path.to_string(),
        _ => what.to_string(),
    };
    let gone = || RemoteError::NotFound(path_only());

    if has("CorruptUpload") {
        return RemoteError::Corrupt(detail);
    }
    if has("IncompleteUpload") {
        return RemoteError::Incomplete(detail);
    }
    if has("UniqueFileException") {
        return RemoteError::AlreadyExists(path_only());
    }
    match code {
        401 => RemoteError::Unauthorized(detail),
        403 => RemoteError::Forbidden(detail),
        404 => gone(),
        409 => RemoteError::AlreadyExists(path_only()),
        416 => RemoteError::RangeNotSatisfiable(detail),
        420 => RemoteError::Incomplete(detail),
        460 => RemoteError::QuotaExceeded(detail),
        429 | 500..=599 => RemoteError::Transient(format!("{detail} (HTTP {code})")),
        400 if has("UsernameNotFound") => RemoteError::Unauthorized(detail),
        400 if has("IllegalArgumentException") || has("validate") || has("nvalid name") || has("nvalid path") => {
            RemoteError::InvalidName(detail)
        }
        _ if has("NoSuchFile") || has("NoSuchPath") || has("NoSuchMountPoint") => gone(),
        _ if has("BadCredentials") => RemoteError::Unauthorized(detail),
        _ => RemoteError::Protocol(format!("{detail} (HTTP {code})")),
    }
}

/// A service message without its exception class names (`no.jotta.backup.errors.NoSuchPathException:`,
/// `java.lang.IllegalArgumentException:`) and the HTTP reason in brackets that repeats the status.
fn plain_words(message: &str) -> String {
    let words: Vec<&str> = message
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_end_matches(':');
            !(w.ends_with("Exception") || w.ends_with("Error") && w.contains('.'))
        })
        .collect();
    let text = words.join(" ");
    let text = text.trim().trim_start_matches(':').trim();
    match text.rfind(" (") {
        Some(i)
            if text.ends_with(')') && text[i + 2..text.len() - 1].chars().all(|c| c.is_alphabetic() || c == ' ') =>
        {
            text[..i].trim().to_string()
        }
        _ => text.to_string(),
    }
}

pub(crate) fn need_depth(path: &RemotePath, min: usize, op: &str) -> RemoteResult<()> {
    if path.depth() >= min {
        return Ok(());
    }
    let wanted = match min {
        1 => "a device (/Device)",
        2 => "a mount point or deeper (/Device/MountPoint/...)",
        _ => "a path inside a mount point (/Device/MountPoint/name)",
    };
    Err(RemoteError::InvalidName(format!("{op} {path}: needs {wanted}")))
}

// What the client makes of JFS documents, for every `Remote` that reads them (this one and the emulator's
// in-process one), so the two cannot drift apart.

/// `list`: a folder or mount point document; a file is `NotADirectory`, a trashed folder `NotFound`.
pub(crate) fn listing_reply(path: &RemotePath, body: &[u8]) -> RemoteResult<Listing> {
    match xml::parse_item(body)? {
        Item::File(_) => Err(RemoteError::NotADirectory(path.to_string())),
        Item::Folder(l) if l.deleted.is_some() => Err(RemoteError::NotFound(format!("{path} (in the trash)"))),
        Item::Folder(l) => Ok(l),
    }
}

/// `stat`: whatever lives at the path, except what is only in the trash (`NotFound`).
pub(crate) fn stat_reply(path: &RemotePath, body: &[u8]) -> RemoteResult<Item> {
    match xml::parse_item(body)? {
        Item::File(f) if f.deleted.is_some() => Err(RemoteError::NotFound(format!("{path} (in the trash)"))),
        Item::Folder(l) if l.deleted.is_some() => Err(RemoteError::NotFound(format!("{path} (in the trash)"))),
        item => Ok(item),
    }
}

/// `mkdir`: a file already using the name answers with its own document instead of a folder.
pub(crate) fn mkdir_reply(path: &RemotePath, body: &[u8]) -> RemoteResult<()> {
    match xml::root_name(body) {
        Ok(root) if root == "file" => Err(RemoteError::AlreadyExists(format!("{path} is a file"))),
        _ => Ok(()),
    }
}

/// `share`/`unshare`: the public link a share answer carries, or `None` when it carries none.
pub(crate) fn public_uri(file: &FileInfo) -> Option<&str> {
    file.public_uri.as_deref().map(str::trim).filter(|u| !u.is_empty())
}

// ---------------------------------------------------------------------------------------------------------

pub(crate) struct Inner {
    pub(crate) client: Client,
    /// For the upload byte POSTs only: no read timeout (see `build_client`).
    pub(crate) upload_client: Client,
    /// How long a connection may stay silent (see `build_client`).
    pub(crate) silence: Duration,
    pub(crate) endpoints: Endpoints,
    pub(crate) username: String,
    /// `<jfs>/<username>`, username percent-encoded.
    user_url: String,
    pub(crate) auth: Auth,
    pub(crate) retry: RetryPolicy,
    /// The chunk buffers its uploads hold together (see `upload_body::ChunkBudget`).
    pub(crate) upload_chunks: super::upload_body::ChunkBudget,
}

/// The HTTP client of the JottaCloud protocol. Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct HttpRemote {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRemote")
            .field("username", &self.inner.username)
            .field("endpoints", &self.inner.endpoints)
            .finish_non_exhaustive()
    }
}

impl HttpRemote {
    /// Find credentials (saved login, then `JOTTACLOUD_USERNAME`/`JOTTACLOUD_PASSWORD`, then `~/.netrc`)
    /// and get ready to talk to the service. Only the Basic flavour makes a request here (the username
    /// lookup); a saved login is used as is and refreshed on first use when due.
    pub async fn connect(opts: ConnectOptions) -> RemoteResult<HttpRemote> {
        let client = build_client(opts.ca_cert.as_deref(), Some(opts.silence))?;
        let upload_client = build_client(opts.ca_cert.as_deref(), None)?;
        let over = opts.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty());
        let (endpoints, username, auth) = match auth::find_credentials(&opts.config_dir)? {
            Source::Saved(saved) => {
                // A saved token goes only to the service it came from: an endpoint given now (a stray
                // JOTTA_ENDPOINT, a mistyped --endpoint) must not receive it.
                if let Some(o) = over.filter(|o| Endpoints::from_base(o) != saved.endpoints) {
                    return Err(RemoteError::Config(format!(
                        "the saved login is for {}, not {o}; a saved token is only sent to its own service \
                         (to use {o}, run `jotta login TOKEN --endpoint {o}`, or drop the endpoint)",
                        saved.endpoints.api.trim_end_matches('/')
                    )));
                }
                let endpoints = saved.endpoints.clone();
                if saved.username.is_empty() {
                    return Err(RemoteError::Config(
                        "the saved login has no username; run `jotta login TOKEN` again".into(),
                    ));
                }
                let username = saved.username.clone();
                let tm = TokenManager::new(opts.config_dir.clone(), client.clone(), opts.retry, *saved);
                (endpoints, username, Auth::Bearer(tm))
            }
            Source::Basic { username, password, origin } => {
                let endpoints = Endpoints::from_override(over);
                endpoints.check()?;
                let cred = Credential::Basic(&username, &password);
                // The JFS URL needs the internal name, which may differ from the login name (§2.4).
                let internal = match auth::customer_username(&client, &opts.retry, &endpoints, &cred).await {
                    Ok(found) => found,
                    Err(e @ RemoteError::Transient(_)) => return Err(e),
                    Err(e) => {
                        log::debug!("customer lookup with the login from {origin} failed ({e}); using the login name");
                        None
                    }
                };
                let internal = internal.unwrap_or_else(|| username.clone());
                (endpoints, internal, Auth::Basic { username, password })
            }
        };
        endpoints.check()?;
        let user_url = format!("{}{}", endpoints.jfs, utf8_percent_encode(&username, SEGMENT));
        let silence = opts.silence;
        let inner = Inner {
            client,
            upload_client,
            silence,
            endpoints,
            username,
            user_url,
            auth,
            retry: opts.retry,
            upload_chunks: Default::default(),
        };
        Ok(HttpRemote { inner: Arc::new(inner) })
    }

    /// The internal account name used in JFS URLs.
    pub fn username(&self) -> &str {
        &self.inner.username
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    pub(crate) fn url(&self, path: &RemotePath) -> String {
        if path.is_root() {
            self.inner.user_url.clone()
        } else {
            format!("{}/{}", self.inner.user_url, path.url_encoded())
        }
    }

    /// The absolute JFS path used as the value of `mv=` / `cp=`: `/<user>/<device>/<mp>/<path>` (raw; the
    /// query encoder form-encodes it).
    fn absolute(&self, path: &RemotePath) -> String {
        format!("/{}{}", self.inner.username, path)
    }

    /// Send with credentials and retries; returns the reply whatever its status. A 401 on a bearer token
    /// refreshes once and tries again (the request was refused, so repeating it is safe for any verb).
    pub(crate) async fn execute<F>(&self, what: &str, idem: Idempotency, build: F) -> RemoteResult<Response>
    where
        F: Fn() -> RequestBuilder,
    {
        let policy = &self.inner.retry;
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let (rb, token) = self.inner.auth.apply(build()).await?;
            let outcome = rb.send().await;
            if let Ok(resp) = &outcome {
                if resp.status().as_u16() == 401 && !refreshed {
                    if let (Auth::Bearer(tm), Some(token)) = (&self.inner.auth, token) {
                        refreshed = true;
                        tm.refresh_after_rejection(&token).await?;
                        attempt -= 1;
                        continue;
                    }
                }
            }
            let failure = match judge(policy, idem, attempt, what, outcome)? {
                Verdict::Done(resp) => return Ok(resp),
                Verdict::Retry(f) => f,
            };
            log::debug!("{what}: retrying after {failure:?} (attempt {attempt})");
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
    }

    /// `execute`, then the whole body of a 2xx reply; other statuses become errors. A body cut off midway
    /// is retried like a dropped connection when the request is idempotent.
    pub(crate) async fn fetch<F>(&self, what: &str, idem: Idempotency, build: F) -> RemoteResult<Bytes>
    where
        F: Fn() -> RequestBuilder,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self.execute(what, idem, &build).await?;
            let status = resp.status();
            match resp.bytes().await {
                Ok(body) if status.is_success() => return Ok(body),
                Ok(body) => return Err(error_from_reply(status.as_u16(), &body, what)),
                Err(e) if idem == Idempotency::Idempotent && attempt < self.inner.retry.max_attempts => {
                    log::debug!("{what}: reply cut off ({}), retrying", one_line(&e));
                    tokio::time::sleep(self.inner.retry.backoff(attempt)).await;
                }
                Err(e) => return Err(RemoteError::Transient(format!("{what}: reply cut off ({})", one_line(&e)))),
            }
        }
    }

    async fn get_xml(&self, what: &str, url: &str) -> RemoteResult<Bytes> {
        self.fetch(what, Idempotency::Idempotent, || self.inner.client.get(url)).await
    }

    /// POST a JFS verb (`?mkDir=true`, `?mv=...`) to a path.
    async fn post_verb(
        &self,
        what: &str,
        path: &RemotePath,
        query: &[(&str, &str)],
        idem: Idempotency,
    ) -> RemoteResult<Bytes> {
        let url = self.url(path);
        self.fetch(what, idem, || self.inner.client.post(&url).query(query)).await
    }

    /// `GET ...?mode=bin` of the current revision, or of revision `revision` (`&revision=N`, §4.6 and the
    /// README's protocol notes), trimmed to `range`.
    async fn download_bin(
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
        let revision = revision.map(|n| n.to_string());
        if let Some(r) = &range {
            if r.start >= r.end {
                return Ok(futures_util::stream::empty().boxed());
            }
        }
        let url = self.url(path);
        let resp = self
            .execute(&what, Idempotency::Idempotent, || {
                let mut rb = self.inner.client.get(&url).query(&[("mode", "bin")]);
                if let Some(n) = &revision {
                    rb = rb.query(&[("revision", n.as_str())]);
                }
                match &range {
                    // HTTP ranges are inclusive at the end; ours are half-open.
                    Some(r) => rb.header(reqwest::header::RANGE, format!("bytes={}-{}", r.start, r.end - 1)),
                    None => rb,
                }
            })
            .await?;
        let status = resp.status();
        let length = resp.content_length();
        match (status, &range) {
            (StatusCode::PARTIAL_CONTENT, Some(r)) => {
                // The server may clip the end to the file size; Content-Range/-Length say what will come.
                let want = r.end - r.start;
                let announced = content_range_len(&resp).or(length);
                let limit = Some(announced.map_or(want, |l| l.min(want)));
                Ok(body_stream(resp.bytes_stream(), what, 0, limit, announced.is_some()))
            }
            (s, Some(r)) if s.is_success() => {
                // Range ignored: the whole file follows. Cut our slice out of it.
                if let Some(total) = length {
                    if r.start >= total {
                        return Err(RemoteError::RangeNotSatisfiable(format!(
                            "{path}: offset {} is beyond the end ({total} bytes)",
                            r.start
                        )));
                    }
                }
                let want = r.end - r.start;
                let limit = Some(length.map_or(want, |l| (l - r.start).min(want)));
                Ok(body_stream(resp.bytes_stream(), what, r.start, limit, length.is_some()))
            }
            (s, None) if s.is_success() => Ok(body_stream(resp.bytes_stream(), what, 0, length, length.is_some())),
            (s, _) => {
                let body = resp.bytes().await.unwrap_or_default();
                Err(error_from_reply(s.as_u16(), &body, &what))
            }
        }
    }

    /// `?mode=enableShare` / `disableShare` (§5.12): GET on the file's URL, answered with its document.
    async fn share_mode(&self, path: &RemotePath, mode: &str) -> RemoteResult<FileInfo> {
        need_depth(path, 3, "share")?;
        let url = self.url(path);
        let what = format!("{} {path}", if mode == "enableShare" { "share" } else { "unshare" });
        let body =
            self.fetch(&what, Idempotency::Idempotent, || self.inner.client.get(&url).query(&[("mode", mode)])).await?;
        xml::parse_file(&body)
    }

    /// The file document at `path` (deleted or not).
    pub(crate) async fn file_doc(&self, path: &RemotePath) -> RemoteResult<FileInfo> {
        let what = format!("stat {path}");
        let body = self.get_xml(&what, &self.url(path)).await?;
        match xml::parse_item(&body)? {
            Item::File(f) => Ok(f),
            Item::Folder(_) => Err(RemoteError::IsADirectory(path.to_string())),
        }
    }
}

/// A download body, trimmed to what was asked for and checked for early ends. `skip` drops leading bytes
/// (a server that ignored `Range` and sent the whole file); `limit` caps the length; with `exact`, ending
/// before `limit` bytes is an error (the length was announced, so a short body is a dropped connection).
fn body_stream(
    inner: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    what: String,
    skip: u64,
    limit: Option<u64>,
    exact: bool,
) -> ByteStream {
    struct State<S> {
        inner: S,
        what: String,
        skip: u64,
        remaining: Option<u64>,
        exact: bool,
        done: bool,
    }
    let state = State { inner: Box::pin(inner), what, skip, remaining: limit, exact, done: false };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                None => {
                    st.done = true;
                    return match st.remaining {
                        Some(r) if r > 0 && st.exact => {
                            let msg = format!("{}: connection ended {r} bytes early", st.what);
                            Some((Err(RemoteError::Transient(msg)), st))
                        }
                        _ => None,
                    };
                }
                Some(Err(e)) => {
                    st.done = true;
                    let msg = format!("{}: download interrupted ({})", st.what, one_line(&e));
                    return Some((Err(RemoteError::Transient(msg)), st));
                }
                Some(Ok(mut chunk)) => {
                    if st.skip > 0 {
                        let n = st.skip.min(chunk.len() as u64);
                        chunk = chunk.slice(n as usize..);
                        st.skip -= n;
                    }
                    if let Some(r) = st.remaining.as_mut() {
                        if (chunk.len() as u64) > *r {
                            chunk.truncate(*r as usize);
                        }
                        *r -= chunk.len() as u64;
                        if *r == 0 {
                            st.done = true;
                        }
                    }
                    if chunk.is_empty() {
                        if st.done {
                            return None;
                        }
                        continue;
                    }
                    return Some((Ok(chunk), st));
                }
            }
        }
    })
    .boxed()
}

/// Length of a 206 body from `Content-Range: bytes a-b/total`.
fn content_range_len(resp: &Response) -> Option<u64> {
    let v = resp.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let span = v.trim().strip_prefix("bytes")?.trim().split('/').next()?;
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    b.checked_sub(a).map(|d| d + 1)
}

impl Remote for HttpRemote {
    async fn account(&self) -> RemoteResult<AccountInfo> {
        let body = self.get_xml("account", &self.inner.user_url).await?;
        let mut info = xml::parse_account(&body)?;
        if info.username.is_empty() {
            info.username = self.inner.username.clone();
        }
        Ok(info)
    }

    async fn device(&self, path: &RemotePath) -> RemoteResult<DeviceListing> {
        if path.depth() != 1 {
            return Err(RemoteError::InvalidName(format!("device {path}: needs a device path (/Device)")));
        }
        let body = self.get_xml(&format!("device {path}"), &self.url(path)).await?;
        xml::parse_device(&body)
    }

    async fn list(&self, path: &RemotePath) -> RemoteResult<Listing> {
        need_depth(path, 2, "list")?;
        let body = self.get_xml(&format!("list {path}"), &self.url(path)).await?;
        listing_reply(path, &body)
    }

    async fn stat(&self, path: &RemotePath) -> RemoteResult<Item> {
        need_depth(path, 2, "stat")?;
        let body = self.get_xml(&format!("stat {path}"), &self.url(path)).await?;
        stat_reply(path, &body)
    }

    async fn download(&self, path: &RemotePath, range: Option<Range<u64>>) -> RemoteResult<ByteStream> {
        self.download_bin(path, range, None).await
    }

    async fn download_revision(
        &self,
        path: &RemotePath,
        number: u32,
        range: Option<Range<u64>>,
    ) -> RemoteResult<ByteStream> {
        self.download_bin(path, range, Some(number)).await
    }

    async fn stat_including_trash(&self, path: &RemotePath) -> RemoteResult<Item> {
        need_depth(path, 2, "stat")?;
        let body = self.get_xml(&format!("stat {path}"), &self.url(path)).await?;
        xml::parse_item(&body)
    }

    async fn share(&self, path: &RemotePath) -> RemoteResult<String> {
        let file = self.share_mode(path, "enableShare").await?;
        let uri = public_uri(&file)
            .ok_or_else(|| RemoteError::Protocol(format!("share {path}: the reply carries no public link")))?;
        Ok(self.inner.endpoints.public_link(&self.inner.username, uri))
    }

    async fn unshare(&self, path: &RemotePath) -> RemoteResult<()> {
        let file = self.share_mode(path, "disableShare").await?;
        match public_uri(&file) {
            Some(_) => Err(RemoteError::Protocol(format!("unshare {path}: the server still reports a public link"))),
            None => Ok(()),
        }
    }
    async fn upload(&self, path: &RemotePath, req: &UploadRequest) -> RemoteResult<UploadOutcome> {
        need_depth(path, 3, "upload")?;
        super::upload::upload(self, path, req).await
    }

    async fn mkdir(&self, path: &RemotePath) -> RemoteResult<()> {
        need_depth(path, 2, "mkdir")?;
        let what = format!("mkdir {path}");
        let body = self.post_verb(&what, path, &[("mkDir", "true")], Idempotency::Idempotent).await?;
        mkdir_reply(path, &body)
    }

    async fn delete(&self, path: &RemotePath, kind: ItemKind) -> RemoteResult<()> {
        need_depth(path, 2, "delete")?;
        let verb = match kind {
            ItemKind::Folder => "dlDir",
            ItemKind::File => "dl",
        };
        // Idempotent: a retry after a lost reply finds the item already gone, which is fine.
        match self.post_verb(&format!("delete {path}"), path, &[(verb, "true")], Idempotency::Idempotent).await {
            Ok(_) | Err(RemoteError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete_permanently(&self, path: &RemotePath, kind: ItemKind) -> RemoteResult<()> {
        need_depth(path, 2, "delete")?;
        let verb = match kind {
            ItemKind::Folder => "rmDir",
            ItemKind::File => "rm",
        };
        let what = format!("delete permanently {path}");
        self.post_verb(&what, path, &[(verb, "true")], Idempotency::NotIdempotent).await.map(|_| ())
    }

    async fn rename(&self, from: &RemotePath, to: &RemotePath, kind: ItemKind) -> RemoteResult<()> {
        need_depth(from, 3, "rename")?;
        need_depth(to, 3, "rename to")?;
        let verb = match kind {
            ItemKind::Folder => "mvDir",
            ItemKind::File => "mv",
        };
        let dest = self.absolute(to);
        let what = format!("rename {from} to {to}");
        self.post_verb(&what, from, &[(verb, dest.as_str())], Idempotency::NotIdempotent).await.map(|_| ())
    }

    async fn copy(&self, from: &RemotePath, to: &RemotePath) -> RemoteResult<FileInfo> {
        need_depth(from, 3, "copy")?;
        need_depth(to, 3, "copy to")?;
        let dest = self.absolute(to);
        let what = format!("copy {from} to {to}");
        let body = self.post_verb(&what, from, &[("cp", dest.as_str())], Idempotency::NotIdempotent).await?;
        let file = xml::parse_file(&body)?;
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
        let url = self.url(path);
        let (size, md5) = (size.to_string(), md5.to_ascii_lowercase());
        let (jcreated, jmodified) = (time::format_jfs(created), time::format_jfs(modified));
        let reply = self
            .fetch(&what, Idempotency::Idempotent, || {
                self.inner
                    .client
                    .post(&url)
                    .query(&[("cphash", "true")])
                    .header("JSize", &size)
                    .header("JMd5", &md5)
                    .header("JCreated", &jcreated)
                    .header("JModified", &jmodified)
            })
            .await;
        match reply {
            Ok(body) => match xml::parse_file(&body) {
                Ok(f) => Ok(f),
                // The answer is only a courtesy; read the file if it was not a file document.
                Err(_) => self.file_doc(path).await,
            },
            Err(RemoteError::NotFound(_)) => Err(RemoteError::NotFound(format!(
                "{path}: the server has no content of size {size} and md5 {md5}; upload it instead"
            ))),
            Err(e) => Err(e),
        }
    }

    async fn trash(&self) -> RemoteResult<Listing> {
        let url = format!("{}/Jotta/Trash", self.inner.user_url);
        let body = self.get_xml("list the trash", &url).await?;
        xml::parse_listing(&body)
    }

    async fn empty_trash(&self) -> RemoteResult<PurgeCounts> {
        #[derive(serde::Deserialize)]
        struct Counts {
            #[serde(default)]
            folders: u64,
            #[serde(default)]
            files: u64,
        }
        let url = self.inner.endpoints.api_url("files/v1/purge_trash");
        let what = "empty the trash";
        let body = self.fetch(what, Idempotency::NotIdempotent, || self.inner.client.post(&url)).await?;
        let c: Counts = serde_json::from_slice(&body)
            .map_err(|e| RemoteError::Protocol(format!("{what}: reply is not the expected JSON ({e})")))?;
        Ok(PurgeCounts { folders: c.folders, files: c.files })
    }

    async fn list_tree(&self, path: &RemotePath) -> RemoteResult<Tree> {
        need_depth(path, 2, "list tree")?;
        let url = self.url(path);
        let what = format!("list tree {path}");
        let body = self
            .fetch(&what, Idempotency::Idempotent, || self.inner.client.get(&url).query(&[("mode", "liststream")]))
            .await?;
        parse_tree(&what, path, &body)
    }

    async fn list_tree_within(&self, path: &RemotePath, max_bytes: usize) -> RemoteResult<Option<Tree>> {
        need_depth(path, 2, "list tree")?;
        let url = self.url(path);
        let what = format!("list tree {path}");
        let mut resp = self
            .execute(&what, Idempotency::Idempotent, || self.inner.client.get(&url).query(&[("mode", "liststream")]))
            .await?;
        let status = resp.status();
        // An error's reply is short; only its first 64 KiB are read.
        let limit = if status.is_success() { max_bytes } else { 64 << 10 };
        let mut body = Vec::new();
        // Read piece by piece so that a reply past the bound is dropped (its connection closed) at the
        // bound, not after it has all been taken in.
        while let Some(piece) = resp
            .chunk()
            .await
            .map_err(|e| RemoteError::Transient(format!("{what}: reply cut off ({})", one_line(&e))))?
        {
            if body.len() + piece.len() > limit {
                if !status.is_success() {
                    break;
                }
                log::debug!("{what}: the reply passed {max_bytes} bytes, given up");
                return Ok(None);
            }
            body.extend_from_slice(&piece);
        }
        if !status.is_success() {
            return Err(error_from_reply(status.as_u16(), &body, &what));
        }
        parse_tree(&what, path, &body).map(Some)
    }
}

/// A liststream reply of `path`, whose paths are mount-point-rooted: /<mp>/<folders>.
fn parse_tree(what: &str, path: &RemotePath, body: &[u8]) -> RemoteResult<Tree> {
    let listed = format!("/{}", path.segments()[1..].join("/"));
    let parsing = std::time::Instant::now();
    let tree = xml::parse_liststream(body, &listed);
    log::debug!("{what}: {} bytes parsed in {:?}", body.len(), parsing.elapsed());
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_map_to_typed_errors() {
        let xml_err = |code: u16, msg: &str| {
            format!(
                "<?xml version=\"1.0\"?><error><code>{code}</code><message>{msg}</message><reason>R</reason></error>"
            )
        };
        type Check = fn(&RemoteError) -> bool;
        let cases: Vec<(u16, String, Check)> = vec![
            (404, xml_err(404, "no.jotta.backup.errors.NoSuchFileException: x"), |e| {
                matches!(e, RemoteError::NotFound(_))
            }),
            // The <code> wins over the HTTP status.
            (200, xml_err(404, "NoSuchPathException"), |e| matches!(e, RemoteError::NotFound(_))),
            (401, xml_err(401, "BadCredentialsException: Bad credentials"), |e| {
                matches!(e, RemoteError::Unauthorized(_))
            }),
            (403, xml_err(403, "no"), |e| matches!(e, RemoteError::Forbidden(_))),
            (409, r#"{"code":409,"error_id":"UniqueFileException"}"#.into(), |e| {
                matches!(e, RemoteError::AlreadyExists(_))
            }),
            (400, r#"{"error_id":"UniqueFileException"}"#.into(), |e| matches!(e, RemoteError::AlreadyExists(_))),
            (416, xml_err(416, "RequestedRangeNotSatisfiedException"), |e| {
                matches!(e, RemoteError::RangeNotSatisfiable(_))
            }),
            (420, r#"{"code":420,"error_id":"IncompleteUploadOpenApiException"}"#.into(), |e| {
                matches!(e, RemoteError::Incomplete(_))
            }),
            (400, r#"{"error_id":"CorruptUploadOpenApiException","message":"md5"}"#.into(), |e| {
                matches!(e, RemoteError::Corrupt(_))
            }),
            (460, String::new(), |e| matches!(e, RemoteError::QuotaExceeded(_))),
            (429, String::new(), |e| matches!(e, RemoteError::Transient(_))),
            (503, "<html><body>Service Unavailable</body></html>".into(), |e| matches!(e, RemoteError::Transient(_))),
            (400, xml_err(400, "java.lang.IllegalArgumentException: Unable to validate decoded path: /a+b"), |e| {
                matches!(e, RemoteError::InvalidName(_))
            }),
            (400, xml_err(400, "UsernameNotFoundException: Username not found in url!"), |e| {
                matches!(e, RemoteError::Unauthorized(_))
            }),
            (400, "400 Bad request".into(), |e| matches!(e, RemoteError::Protocol(_))),
            (418, "garbage\nover\nlines".into(), |e| matches!(e, RemoteError::Protocol(_))),
        ];
        for (status, body, check) in cases {
            let e = error_from_reply(status, body.as_bytes(), "op /Jotta/Archive/x");
            assert!(check(&e), "{status} {body}: got {e:?}");
            let shown = e.to_string();
            assert!(shown.contains("/Jotta/Archive/x"), "names the path: {shown}");
            assert!(!shown.contains('\n'), "one line: {shown}");
            assert!(!shown.contains("Exception"), "no service exception names: {shown}");
        }
        let e = error_from_reply(
            404,
            xml_err(404, "no.jotta.backup.errors.NoSuchPathException: /u/x").as_bytes(),
            "stat /Jotta/Archive/nope.txt",
        );
        assert_eq!(e.to_string(), "not found: /Jotta/Archive/nope.txt");
    }

    #[tokio::test]
    async fn ranged_body_is_trimmed_and_early_end_detected() {
        let chunks = |parts: &[&'static str]| {
            futures_util::stream::iter(
                parts.iter().map(|p| Ok::<_, reqwest::Error>(Bytes::from_static(p.as_bytes()))).collect::<Vec<_>>(),
            )
        };
        let collect = |s: ByteStream| async move { s.collect::<Vec<_>>().await };

        // Server ignored Range: skip 3, take 4 out of "abcdefghij".
        let got = collect(body_stream(chunks(&["abcd", "efghij"]), "d".into(), 3, Some(4), true)).await;
        let bytes: Vec<u8> = got.into_iter().flat_map(|r| r.unwrap().to_vec()).collect();
        assert_eq!(bytes, b"defg");

        // Fewer bytes than announced: the stream ends in a Transient error.
        let got = collect(body_stream(chunks(&["ab"]), "d /x".into(), 0, Some(5), true)).await;
        assert!(matches!(got.last(), Some(Err(RemoteError::Transient(_)))), "{got:?}");

        // Unannounced length: a short body is not an error (the server clipped the range at the end).
        let got = collect(body_stream(chunks(&["ab"]), "d".into(), 0, Some(5), false)).await;
        assert_eq!(got.len(), 1);
        assert!(got[0].is_ok());

        // Unknown length: everything passes through.
        let got = collect(body_stream(chunks(&["ab", "", "c"]), "d".into(), 0, None, false)).await;
        assert_eq!(got.len(), 2);
    }
}
