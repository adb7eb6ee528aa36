//! Whether JottaCloud can be reached, and the account figures last seen. Once a request finds no
//! connection at all (`RemoteError::Unreachable`), the mount stops trying in the foreground: listings it
//! holds keep answering however old they are, what needs the service fails at once with `EIO`, the upload
//! workers wait, and the free-space check of `write` goes on with the last figures. A watcher task probes
//! in the background (2 s after the failure, then backing off to every 30 s, and within a second when a
//! foreground operation found the service missing) and lets the uploads go as soon as it answers.
//!
//! | state       | event                                        | next        |
//! |-------------|----------------------------------------------|-------------|
//! | Reachable   | a request finds no connection                | Unreachable |
//! | Unreachable | a probe finds no connection (backs off)      | Unreachable |
//! | Unreachable | a probe gets any answer (even an error page) | Reachable   |
//!
//! The free-space check never waits for the network: it uses figures at most `FIGURES_TTL` old and asks
//! the watcher to refresh older ones (only before the first figures are known does it fetch them itself).
//!
//! Lock order: the state's own lock is a leaf; nothing else is locked while it is held.

use super::error::{FsError, FsResult};
use super::{lock, JottaFs, StatFs};
use crate::remote::{AccountInfo, Remote, RemoteError, RemoteResult};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long account figures are trusted before they are fetched again.
pub const FIGURES_TTL: Duration = Duration::from_secs(30);
/// The first probe after the service went missing; each failed probe doubles the wait up to `LAST_PROBE`.
const FIRST_PROBE: Duration = Duration::from_secs(2);
const LAST_PROBE: Duration = Duration::from_secs(30);
/// Probes asked for by foreground operations are at least this far apart.
const PROBE_GAP: Duration = Duration::from_secs(1);
/// An unlimited plan shows 1 PiB free beyond what is used, so tools that check space proceed.
const UNLIMITED_FREE: u64 = 1 << 50;

#[derive(Debug, Clone)]
enum Reach {
    Reachable,
    Unreachable { since: Instant, error: String, next_probe: Instant, interval: Duration },
}

#[derive(Debug)]
struct Inner {
    reach: Reach,
    figures: Option<(Instant, StatFs)>,
    /// Someone wants fresher figures (the watcher fetches them while the service is reachable).
    refresh: bool,
    last_probe: Option<Instant>,
}

/// What the watcher does next.
enum Step {
    Fetch,
    Wait(Duration),
}

/// The service's side of `jotta status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceReport {
    pub reachable: bool,
    /// Seconds since the service was found unreachable.
    pub unreachable_for: Option<u64>,
    pub last_error: Option<String>,
}

#[derive(Debug)]
pub struct ServiceState {
    inner: Mutex<Inner>,
    /// Wakes the watcher: a probe or fresher figures are wanted.
    wake: tokio::sync::Notify,
}

impl Default for ServiceState {
    fn default() -> Self {
        ServiceState {
            inner: Mutex::new(Inner { reach: Reach::Reachable, figures: None, refresh: false, last_probe: None }),
            wake: tokio::sync::Notify::new(),
        }
    }
}

impl ServiceState {
    pub fn is_unreachable(&self) -> bool {
        matches!(lock(&self.inner).reach, Reach::Unreachable { .. })
    }

    /// A request found no connection. True when that is news (the service was taken for reachable).
    pub fn mark_unreachable(&self, error: &str) -> bool {
        let mut inner = lock(&self.inner);
        match &mut inner.reach {
            Reach::Unreachable { error: e, .. } => {
                *e = error.to_string();
                false
            }
            Reach::Reachable => {
                let now = Instant::now();
                inner.reach = Reach::Unreachable {
                    since: now,
                    error: error.to_string(),
                    next_probe: now + FIRST_PROBE,
                    interval: FIRST_PROBE,
                };
                drop(inner);
                self.wake.notify_one();
                true
            }
        }
    }

    /// A probe found no connection either: wait longer before the next one.
    fn probe_failed(&self, error: &str) {
        if self.mark_unreachable(error) {
            return;
        }
        let mut inner = lock(&self.inner);
        if let Reach::Unreachable { next_probe, interval, .. } = &mut inner.reach {
            *interval = (*interval * 2).min(LAST_PROBE);
            *next_probe = Instant::now() + *interval;
        }
    }

    /// The service answered. True when it had been unreachable.
    fn mark_reachable(&self) -> bool {
        let mut inner = lock(&self.inner);
        let was = matches!(inner.reach, Reach::Unreachable { .. });
        inner.reach = Reach::Reachable;
        was
    }

    /// A foreground operation needed the service while it was unreachable: probe soon.
    pub fn want_probe(&self) {
        let mut inner = lock(&self.inner);
        let soonest = inner.last_probe.map(|p| p + PROBE_GAP).unwrap_or_else(Instant::now);
        if let Reach::Unreachable { next_probe, .. } = &mut inner.reach {
            if soonest < *next_probe {
                *next_probe = soonest;
                drop(inner);
                self.wake.notify_one();
            }
        }
    }

    pub fn want_figures(&self) {
        lock(&self.inner).refresh = true;
        self.wake.notify_one();
    }

    pub fn figures(&self) -> Option<(Instant, StatFs)> {
        lock(&self.inner).figures
    }

    /// Figures asked for at `asked` (an upload finished after that may not be in them).
    pub fn set_figures(&self, asked: Instant, s: StatFs) {
        let mut inner = lock(&self.inner);
        inner.figures = Some((asked, s));
        inner.refresh = false;
    }

    /// Whether a probe (or a refresh of the figures) finished after `t`.
    pub fn probed_since(&self, t: Instant) -> bool {
        lock(&self.inner).last_probe.is_some_and(|p| p >= t)
    }

    fn next_step(&self) -> Step {
        let inner = lock(&self.inner);
        match &inner.reach {
            Reach::Unreachable { next_probe, .. } => match next_probe.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => Step::Wait(wait),
                _ => Step::Fetch,
            },
            Reach::Reachable if inner.refresh => Step::Fetch,
            Reach::Reachable => Step::Wait(Duration::from_secs(3600)),
        }
    }

    fn fetched(&self) {
        let mut inner = lock(&self.inner);
        inner.last_probe = Some(Instant::now());
        inner.refresh = false;
    }

    /// Why foreground operations that need the service fail now.
    fn reason(&self) -> String {
        match &lock(&self.inner).reach {
            Reach::Unreachable { since, error, .. } => {
                format!("no connection for {} s (last: {error}); retried in the background", since.elapsed().as_secs())
            }
            Reach::Reachable => "no connection".into(),
        }
    }

    pub fn report(&self) -> ServiceReport {
        match &lock(&self.inner).reach {
            Reach::Reachable => ServiceReport { reachable: true, unreachable_for: None, last_error: None },
            Reach::Unreachable { since, error, .. } => ServiceReport {
                reachable: false,
                unreachable_for: Some(since.elapsed().as_secs()),
                last_error: Some(error.clone()),
            },
        }
    }
}

/// What `df` shows for an account document.
pub fn figures_of(account: &AccountInfo) -> StatFs {
    match account.capacity {
        Some(cap) => {
            StatFs { total: cap, used: account.usage, free: cap.saturating_sub(account.usage), unlimited: false }
        }
        None => {
            StatFs { total: account.usage + UNLIMITED_FREE, used: account.usage, free: UNLIMITED_FREE, unlimited: true }
        }
    }
}

impl<R: Remote> JottaFs<R> {
    /// Run a request for a foreground operation, unless the service is known to be unreachable: then fail
    /// at once (and have the watcher look again soon). A request that finds no connection marks it so.
    pub(super) fn online<T>(&self, request: impl Future<Output = RemoteResult<T>>) -> FsResult<T> {
        if self.service.is_unreachable() {
            self.service.want_probe();
            return Err(FsError::Unreachable(self.service.reason()));
        }
        let result = self.rt.block_on(request);
        if let Err(e) = &result {
            self.note_failure(e);
        }
        result.map_err(FsError::from)
    }

    /// Take note of a failed request: one that found no connection marks the service unreachable.
    pub(super) fn note_failure(&self, e: &RemoteError) {
        if let RemoteError::Unreachable(m) = e {
            if self.service.mark_unreachable(m) {
                log::warn!(
                    "JottaCloud is unreachable ({m}): serving cached listings, keeping writes in the journal \
                     until it answers again"
                );
            }
        }
    }

    /// The last figures, with what they cannot know yet: the uploads still pending, and those that
    /// finished since they were asked for (the service counts them, but the figures were fetched before).
    fn with_pending(&self, mut s: StatFs) -> StatFs {
        let pending = self.queue.pending_bytes() + self.queue.landed_bytes();
        s.used += pending;
        s.free = s.free.saturating_sub(pending);
        s
    }

    /// `df`: the account's figures (plus pending uploads), fetched again when older than `FIGURES_TTL`;
    /// while the service is unreachable, the last ones known.
    pub fn statfs(&self) -> FsResult<StatFs> {
        let known = self.service.figures();
        if let Some((at, s)) = known {
            if at.elapsed() < FIGURES_TTL {
                return Ok(self.with_pending(s));
            }
        }
        let asked = Instant::now();
        match self.online(self.remote.account()) {
            Ok(account) => {
                let s = figures_of(&account);
                self.figures_fetched(asked, s);
                Ok(self.with_pending(s))
            }
            Err(FsError::Unreachable(m)) => known.map(|(_, s)| self.with_pending(s)).ok_or(FsError::Unreachable(m)),
            Err(e) => Err(e),
        }
    }

    /// Figures for the free-space check of `write`, without a round trip: the last known ones (the
    /// watcher refreshes them once they are older than `FIGURES_TTL`). None when none are known and the
    /// service cannot be asked: the write is then taken on trust.
    pub(super) fn space_for_write(&self) -> FsResult<Option<StatFs>> {
        match self.service.figures() {
            Some((at, s)) => {
                if at.elapsed() >= FIGURES_TTL {
                    self.service.want_figures();
                }
                Ok(Some(self.with_pending(s)))
            }
            None => match self.statfs() {
                Ok(s) => Ok(Some(s)),
                Err(FsError::Unreachable(_)) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// New figures, asked for at `asked`: uploads that finished before then are counted in them.
    pub(super) fn figures_fetched(&self, asked: Instant, s: StatFs) {
        self.service.set_figures(asked, s);
        self.queue.figures_asked(asked);
    }

    /// The watcher: probes while the service is unreachable, refreshes the account figures when asked.
    pub(super) fn start_service_watch(self: &Arc<Self>) {
        self.service.want_figures();
        let fs = self.clone();
        self.rt.spawn(async move { fs.watch_service().await });
    }

    async fn watch_service(self: Arc<Self>) {
        loop {
            match self.service.next_step() {
                Step::Wait(d) => {
                    tokio::select! {
                        _ = self.service.wake.notified() => {}
                        _ = tokio::time::sleep(d) => {}
                    }
                }
                Step::Fetch => {
                    let asked = Instant::now();
                    let result = self.remote.account().await;
                    self.service.fetched();
                    match result {
                        Ok(account) => {
                            self.figures_fetched(asked, figures_of(&account));
                            self.service_answered();
                        }
                        Err(RemoteError::Unreachable(m)) => {
                            if self.service.is_unreachable() {
                                log::debug!("JottaCloud still unreachable: {m}");
                                self.service.probe_failed(&m);
                            } else {
                                self.note_failure(&RemoteError::Unreachable(m));
                            }
                        }
                        Err(e) => {
                            // Any answer, even an error, means the service is there again.
                            log::warn!("cannot fetch the account figures: {e}");
                            self.service_answered();
                        }
                    }
                }
            }
        }
    }

    fn service_answered(&self) {
        if self.service.mark_reachable() {
            let (pending, _) = self.queue.report();
            log::info!("JottaCloud answers again: {} pending upload(s) go out now", pending.len());
            self.queue.wake.notify_waiters();
            self.queue.wake.notify_one();
        }
    }
}
