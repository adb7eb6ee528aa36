//! Stop requests (SIGTERM, SIGINT) and what each one does:
//!
//! | signal | session still running                              | session over (draining)           |
//! |--------|----------------------------------------------------|-----------------------------------|
//! | first  | end the mount (`unmount.rs`); drain, then exit     | nothing more: exit after the drain |
//! | second | journal what is only in memory, exit at once       | end the drain at once, exit        |
//!
//! Whatever is not uploaded stays in the journal for the next mount of the account. The main thread
//! sets `session_over` when the FUSE session has ended and reads `now` while it drains.

use super::unmount::OwnMount;
use crate::remote::Remote;
use crate::vfs::JottaFs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Stop {
    /// The FUSE session has ended (set by the main thread before it drains).
    pub session_over: AtomicBool,
    /// A second stop request came: end the drain now.
    pub now: AtomicBool,
}

/// Listen for stop requests for the life of the runtime.
pub fn listen<R: Remote>(rt: &tokio::runtime::Runtime, mount: OwnMount, fs: Arc<JottaFs<R>>) -> Arc<Stop> {
    let stop = Arc::new(Stop::default());
    let state = stop.clone();
    rt.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            log::error!("cannot install signal handlers; unmount with fusermount3 -u");
            return;
        };
        let mut count = 0;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            count += 1;
            let over = state.session_over.load(Ordering::SeqCst);
            if count == 1 && !over {
                log::info!("signal received: unmounting; uploads are finished before the daemon exits");
                let mount = mount.clone();
                // Unmounting runs fusermount3 and waits for it: not on an async worker.
                let _ = tokio::task::spawn_blocking(move || mount.stop()).await;
            } else if count == 1 {
                log::info!("signal received: the daemon exits once the uploads are done (a second signal: at once)");
            } else {
                log::info!("second signal: ending now; what is not uploaded stays in the journal");
                state.now.store(true, Ordering::SeqCst);
                if !over {
                    // The session would not end (a process keeps the mount and the connection could not
                    // be cut): record what is only in memory, then end; the kernel ends the session.
                    let fs = fs.clone();
                    std::thread::spawn(move || {
                        fs.journal_all();
                        let left = fs.status().pending.len();
                        eprintln!("jottafuse: {left} upload(s) left in the journal; they continue at the next mount of this account");
                        std::process::exit(0);
                    });
                }
            }
        }
    });
    stop
}
