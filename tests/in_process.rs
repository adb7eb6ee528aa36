//! The filesystem core in-process: `JottaFs` driven directly as a normal user — no FUSE, no root, no
//! sockets — over the emulator's own store (`InProcessService`). These are the core's behaviour tests:
//! namespace, reads, writes, the journal and recovery, errors. What only the kernel shows (its caches,
//! errnos as a program sees them, mmap, permissions, the daemon's life) stays in `tests/mount_*.rs`.

mod common;

#[path = "in_process/errors.rs"]
mod errors;
#[path = "in_process/journal.rs"]
mod journal;
#[path = "in_process/model.rs"]
mod model;
#[path = "in_process/namespace.rs"]
mod namespace;
#[path = "in_process/read_write.rs"]
mod read_write;
