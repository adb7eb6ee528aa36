//! How the daemon asks the C allocator to keep freed memory: streaming reads and writes allocate and
//! free buffers of a few hundred KiB all the time (the HTTP client's receive buffers), and each time the
//! allocator hands the freed top of a heap back to the kernel, the next buffer costs a page fault and a
//! page clearing per 4 KiB. Measured on a cold 1 GiB `dd` read: ~29,000 such faults per GiB and about a
//! quarter of the daemon's CPU; keeping 4 MiB at the top of each heap took them to ~2,500.
//!
//! What is kept for reuse is given back once the mount has been idle a minute: the buffer pools (up to
//! 32 MiB of read-ahead buffers and three buffers of the md5 thread's copies) and the heaps' free tops.

/// Keep `TOP_PAD` bytes of free memory at the top of each heap instead of returning it at once. Bounded:
/// one pad per allocator arena (a handful of threads allocate), never a growth of the live data.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    const TOP_PAD: libc::c_int = 4 << 20;
    // SAFETY: mallopt only sets a tunable of glibc's allocator; called before any other thread exists.
    let ok = unsafe { libc::mallopt(libc::M_TOP_PAD, TOP_PAD) };
    if ok != 1 {
        log::debug!("the allocator did not take M_TOP_PAD; streaming costs more page faults");
    }
}

/// Other C libraries: their own defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}

/// How long reads and writes must leave the kept buffers unused before they go back to the system.
const QUIET: std::time::Duration = std::time::Duration::from_secs(60);

/// Every few seconds, give back what an idle mount keeps for reuse (see the header).
pub fn spawn_idle_release(rt: &tokio::runtime::Runtime) {
    rt.spawn(async {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            let freed = crate::vfs::release_idle_buffers(QUIET);
            if freed > 0 {
                give_back_free_heap();
                log::debug!("idle: gave back {} MiB of buffers kept for reuse", freed >> 20);
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
