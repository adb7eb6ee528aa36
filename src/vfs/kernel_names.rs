//! Asking the kernel to let go of names. Every name handed to the kernel (a lookup, a readdirplus entry)
//! is referenced by it until it forgets it, and a referenced name cannot be dropped from the inode table.
//! The kernel forgets only under memory pressure, so after a walk over more names than `cache_entries`
//! the table would hold them all. When the table is past its bound and a listing it would drop is held
//! only by the kernel's references to its files, the kernel is asked to drop those names from its cache
//! (FUSE's entry invalidation); they are forgotten, and the listing goes at the next eviction. Names of
//! folders and open files are never asked back: the kernel drops an entry even while it is in use, and a
//! process whose working folder lost its name could no longer `getcwd`.
//!
//! The requests go out on a thread of their own: the kernel handles one under the folder's lock, which a
//! FUSE request being answered may hold, so it must never be sent from a request handler.

use super::{lock, JottaFs};
use crate::remote::Remote;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Mutex;

/// Sends one entry invalidation to the kernel: the folder's inode number and the child's name.
pub type LetGo = Box<dyn Fn(u64, &str) -> std::io::Result<()> + Send>;

/// Batches of (folder, names) waiting for the thread; a full queue drops a batch (asked again later).
const QUEUED_BATCHES: usize = 64;

/// Per folder (its inode number), the names of its children to let go of.
type Batch = Vec<(u64, Vec<String>)>;

/// The way to the thread that asks the kernel, once the mount has set one up.
#[derive(Default)]
pub struct KernelNames {
    tx: Mutex<Option<SyncSender<Batch>>>,
}

impl KernelNames {
    /// Hand names to the thread; false when there is none or it is behind.
    pub fn ask(&self, batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let Some(tx) = lock(&self.tx).clone() else { return false };
        match tx.try_send(batch) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

impl<R: Remote> JottaFs<R> {
    /// Start the thread that asks the kernel to let go of names through `let_go`.
    pub fn let_kernel_forget_with(&self, let_go: LetGo) -> std::io::Result<()> {
        let (tx, rx) = sync_channel::<Batch>(QUEUED_BATCHES);
        std::thread::Builder::new().name("kernel-names".into()).spawn(move || {
            for batch in rx {
                let mut asked = 0usize;
                for (folder, names) in batch {
                    for name in names {
                        // ENOENT: the kernel no longer has the folder or the name; nothing to drop.
                        match let_go(folder, &name) {
                            Ok(()) => asked += 1,
                            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                            Err(e) => {
                                log::debug!("the kernel did not take an entry invalidation: {e}");
                                return;
                            }
                        }
                    }
                }
                log::debug!("asked the kernel to let go of {asked} names");
            }
        })?;
        *lock(&self.kernel_names.tx) = Some(tx);
        Ok(())
    }
}
