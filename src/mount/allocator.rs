//! How the daemon asks the C allocator to keep freed memory: streaming reads and writes allocate and
//! free buffers of a few hundred KiB all the time (the HTTP client's receive buffers), and each time the
//! allocator hands the freed top of a heap back to the kernel, the next buffer costs a page fault and a
//! page clearing per 4 KiB. Measured on a cold 1 GiB `dd` read: ~29,000 such faults per GiB and about a
//! quarter of the daemon's CPU; keeping 4 MiB at the top of each heap took them to ~2,500. 2 MiB keeps
//! them as low (a cold 1 GiB read twice: 12,000-13,000 and 3,700-4,100 faults with 2 MiB, 14,100-14,500
//! and 3,200-4,400 with 4 MiB; 1 MiB let 11,000-27,000 through), and each heap keeps what it was given
//! back up to the pad, whoever used it: four 1 GiB files written at once peaked 2-3 MiB higher with 4.
//! The daemon's own large buffers stay out of the heaps for that reason (`pages.rs`).
//!
//! What is kept for reuse is given back once it has been left unused a while: the read-ahead buffers (up
//! to 32 MiB) after a minute; the md5 thread's three copy buffers after two seconds, for they serve a
//! stream of writes, which is over by then (a new one takes three fresh buffers, a few hundred page
//! faults); and with either, the heaps' free tops. Four 1 GiB files written at once are uploaded for
//! several seconds after the last `close()`: without the early release, the copy buffers stayed through
//! all of it.

/// Keep `TOP_PAD` bytes of free memory at the top of each heap instead of returning it at once. Bounded:
/// one pad per allocator arena (a handful of threads allocate), never a growth of the live data.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    const TOP_PAD: libc::c_int = 2 << 20;
    // SAFETY: mallopt only sets a tunable of glibc's allocator; called before any other thread exists.
    let ok = unsafe { libc::mallopt(libc::M_TOP_PAD, TOP_PAD) };
    if ok != 1 {
        log::debug!("the allocator did not take M_TOP_PAD; streaming costs more page faults");
    }
}

/// Other C libraries: their own defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}

/// How long reads must leave their kept buffers unused before they go back to the system.
const READS_QUIET: std::time::Duration = std::time::Duration::from_secs(60);
/// The same for the md5's copies of writes (see the header).
const WRITES_QUIET: std::time::Duration = std::time::Duration::from_secs(2);

/// Every second, give back what the mount keeps for reuse and has left unused (see the header).
pub fn spawn_idle_release(rt: &tokio::runtime::Runtime) {
    rt.spawn(async {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let freed = crate::vfs::release_idle_buffers(READS_QUIET, WRITES_QUIET);
            if freed > 0 {
                give_back_free_heap();
                log::debug!("idle: gave back {} KiB of buffers kept for reuse", freed >> 10);
            }
        }
    });
}

/// Return the free memory at the top of each heap (and free pages inside them) to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_free_heap() {
    // SAFETY: malloc_trim only releases memory the allocator holds free; it is thread-safe.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_free_heap() {}
