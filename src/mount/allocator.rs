//! How the daemon asks the C allocator to keep freed memory: streaming reads and writes allocate and
//! free buffers of a few hundred KiB all the time (the HTTP client's receive buffers), and each time the
//! allocator hands the freed top of a heap back to the kernel, the next buffer costs a page fault and a
//! page clearing per 4 KiB. Measured on a cold 1 GiB `dd` read: ~29,000 such faults per GiB and about a
//! quarter of the daemon's CPU; keeping 4 MiB at the top of each heap took them to ~2,500.

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
