//! A protocol-faithful emulator of the JottaCloud service: one HTTP server on loopback answering the
//! JFS (XML), API (JSON), upload and OIDC endpoints from one persistent store, with fault injection,
//! counters and test hooks. Tests, benchmarks and the demo mount all run against it.
//!
//! Layout: `store` (the model and its durability), `blobs` (content), `auth` (tokens), `docs`/`xml`
//! (documents), `routes` (HTTP areas), `server` (accept loop), `faults`, `counters`, `demo`, and
//! `in_process` (the same store as a `Remote` without sockets, for tests of the filesystem core).

mod auth;
mod blobs;
mod counters;
mod demo;
mod docs;
mod errors;
mod faults;
mod ids;
mod in_process;
mod mime;
mod paths;
mod reads;
mod routes;
mod server;
mod store;
mod timefmt;
mod tls;
mod xml;

pub use faults::{DropNext, FailNext, FaultConfig, Hang};
pub use in_process::{InProcessRemote, InProcessService};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub data_dir: PathBuf,
    /// Default 127.0.0.1:0 (any free port).
    pub listen: SocketAddr,
    /// Internal username used in JFS URLs.
    pub user: String,
    /// For legacy HTTP Basic auth (and, as a convenience, the password grant).
    pub password: String,
    /// Capacity in bytes; `None` = unlimited (`-1` in XML).
    pub quota: Option<u64>,
    pub access_token_lifetime: Duration,
    /// Initial fault injection.
    pub faults: FaultConfig,
    /// Seed a small sample tree when the data dir is new.
    pub demo_content: bool,
    /// Serve HTTPS with the data dir's own CA (`tls/ca.pem`, made on first use) instead of HTTP.
    pub tls: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            data_dir: PathBuf::from("jotta-emulator-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            user: "demo".to_string(),
            password: "demo-password".to_string(),
            quota: None,
            access_token_lifetime: Duration::from_secs(3600),
            faults: FaultConfig::default(),
            demo_content: false,
            tls: false,
        }
    }
}

/// State shared by every connection. Lock order: never hold two of these mutexes at once, except
/// `store` then nothing else; none is held across an `.await`.
pub(crate) struct Shared {
    pub user: String,
    pub quota: Option<u64>,
    /// `http(s)://127.0.0.1:PORT`, used in upload URLs and the discovery document.
    pub endpoint: String,
    /// What documents give as `host`.
    pub host: String,
    store: Mutex<store::Store>,
    auth: Mutex<auth::Auth>,
    faults: Mutex<faults::Faults>,
    /// Signalled whenever the fault configuration changes, so requests held by a `hang` rule look again.
    faults_changed: tokio::sync::Notify,
    pub counters: counters::Counters,
    /// The md5 of what each cut-off upload received so far (upload id -> bytes, running hash), so its
    /// resume goes on hashing where it stopped instead of reading everything stored again before it
    /// reads on (minutes for gigabytes, while the client waits for the connection to move). Lost on a
    /// restart: then the stored bytes are hashed while the resumed body arrives (`routes::transfer`).
    partial_md5: Mutex<std::collections::HashMap<String, (u64, md5::Md5)>>,
    /// Set when an in-process service is taken down: requests not yet served answer as if the service
    /// were gone, and those held by a `hang` rule let go.
    stopped: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// A poisoned lock only means another request panicked; the data is still consistent enough to
    /// serve (every change is applied whole), so carry on rather than fail every later request.
    pub fn store(&self) -> MutexGuard<'_, store::Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn auth(&self) -> MutexGuard<'_, auth::Auth> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn faults(&self) -> MutexGuard<'_, faults::Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_faults(&self, config: FaultConfig) {
        self.faults().set(config);
        self.faults_changed.notify_waiters();
    }

    /// Serve nothing more (an in-process service taken down); a held request lets go at once.
    pub fn stop_serving(&self) {
        self.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        self.faults_changed.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keep the running md5 of the first `received` bytes of upload `id` for its resume.
    pub fn keep_partial_md5(&self, id: &str, received: u64, md5: md5::Md5) {
        self.partial_md5.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), (received, md5));
    }

    /// The running md5 of upload `id` if it covers exactly the first `received` bytes; taken either way
    /// (a resume from another position makes it useless).
    pub fn take_partial_md5(&self, id: &str, received: u64) -> Option<md5::Md5> {
        let kept = self.partial_md5.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        kept.filter(|(at, _)| *at == received).map(|(_, md5)| md5)
    }

    /// Hold a request of `kind` while a `hang` rule covers it, at most that rule's `max_ms`.
    pub async fn hold_while_hung(&self, kind: &str) {
        self.hold_while(kind, "request", faults::Faults::hang_for).await
    }

    /// Hold the answer made for a request of `kind` while a `hold_answers` rule covers it.
    pub async fn hold_answer(&self, kind: &str) {
        self.hold_while(kind, "answer", faults::Faults::answer_held_for).await
    }

    async fn hold_while(&self, kind: &str, what: &str, rule: fn(&faults::Faults, &str) -> Option<Duration>) {
        let Some(max) = rule(&self.faults(), kind) else { return };
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let changed = self.faults_changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change between the look and the wait is not missed.
            changed.as_mut().enable();
            if rule(&self.faults(), kind).is_none() || self.is_stopped() {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                log::info!("emulator: a {kind} {what} held by a fault rule for {max:?} goes now");
                return;
            }
        }
    }
}

pub struct RunningEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_cert: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (`https://` with TLS), no trailing slash.
    pub fn endpoint(&self) -> String {
        self.shared.endpoint.clone()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// With TLS: the PEM file of the CA that signed the server certificate, for clients to trust.
    pub fn ca_cert(&self) -> Option<&std::path::Path> {
        self.ca_cert.as_deref()
    }

    /// Mint a fresh single-use personal login token.
    pub fn login_token(&self) -> String {
        self.shared.auth().mint_login_token()
    }

    pub fn user(&self) -> &str {
        &self.shared.user
    }

    /// Stop accepting, let in-flight requests finish (up to a few seconds), then write a snapshot.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Err(e) = self.shared.store().compact() {
            log::error!("emulator: cannot write snapshot on shutdown: {e}");
        }
    }
}

impl Drop for RunningEmulator {
    /// Dropped without `shutdown`: stop serving at once, like a crash (the log already holds every
    /// acknowledged change).
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Bind, load the data dir (replaying the log), and serve in a tokio task.
/// With `tls`, the certificates are loaded from the data dir (made there the first time) before it serves.
pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let endpoint = format!("{}://{addr}", if config.tls { "https" } else { "http" });
    let (shared, tls) = tokio::task::spawn_blocking(move || {
        let shared = open_shared(&config, endpoint)?;
        let tls = if config.tls { Some(tls::prepare(&config.data_dir, addr.ip())?) } else { None };
        Ok::<_, std::io::Error>((shared, tls))
    })
    .await
    .map_err(std::io::Error::other)??;
    let (ca_cert, acceptor) = match tls {
        Some(t) => (Some(t.ca_cert), Some(t.acceptor)),
        None => (None, None),
    };
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, acceptor, shared.clone(), rx));
    Ok(RunningEmulator { shared, addr, ca_cert, shutdown: tx, task: Some(task) })
}

/// Load the data dir (replaying the log) into the state every front end serves: the HTTP server above,
/// or `InProcessService` without a socket. `endpoint` is what upload URLs and public links start with.
/// Blocks on small file operations.
pub(crate) fn open_shared(config: &EmulatorConfig, endpoint: String) -> std::io::Result<Arc<Shared>> {
    if config.data_dir.exists() && !config.data_dir.is_dir() {
        return Err(std::io::Error::other(format!("{} is not a directory", config.data_dir.display())));
    }
    let (mut store, fresh) = store::Store::open(&config.data_dir, &config.user)?;
    if fresh && config.demo_content {
        demo::populate(&mut store).map_err(|f| std::io::Error::other(f.message))?;
    }
    let auth = auth::Auth::load(
        config.data_dir.join("auth.json"),
        &config.user,
        &config.password,
        config.access_token_lifetime.as_secs().max(1) as i64,
        &endpoint,
    );
    Ok(Arc::new(Shared {
        user: config.user.clone(),
        quota: config.quota,
        endpoint,
        host: "emu-001".to_string(),
        store: Mutex::new(store),
        auth: Mutex::new(auth),
        faults: Mutex::new(faults::Faults::new(config.faults.clone())),
        faults_changed: tokio::sync::Notify::new(),
        counters: counters::Counters::default(),
        partial_md5: Mutex::new(std::collections::HashMap::new()),
        stopped: std::sync::atomic::AtomicBool::new(false),
    }))
}
