//! Memory of whole pages mapped for one large buffer, outside the C allocator's heaps, and unmapped when
//! the buffer is dropped.
//!
//! Why not a `Vec`: glibc serves a large request from free room at the top of a heap before it maps
//! fresh memory, and the daemon asks it to keep 2 MiB free at each top (`mount/allocator.rs`, for the
//! read path's receive buffers). The daemon's own large buffers (the md5's copies of writes, the upload
//! chunks) then landed in those pads, and each heap kept what they had touched after they were freed:
//! four 1 GiB files written at once held 6-8 MiB more that way than the buffers in use. Mapped for
//! themselves, they never share a heap; their pools (`vfs/buffers.rs`, the upload bodies' spares) keep
//! the few worth reusing. A mapping also starts at a page, which is the alignment `O_DIRECT` needs.

use std::ptr::NonNull;

/// The page size assumed for rounding (the kernel maps whole pages; a larger real page only rounds more).
const PAGE: usize = 4096;

/// Zero-filled, readable and writable pages, owned alone.
pub struct Pages {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone (no alias escapes but through borrows of it), like a
// `Box<[u8]>`.
unsafe impl Send for Pages {}
// SAFETY: shared access only reads.
unsafe impl Sync for Pages {}

impl Pages {
    /// At least `len` bytes (whole pages, at least one), zeroed. Out of memory ends the process the way
    /// a failed allocation does.
    pub fn new(len: usize) -> Pages {
        let len = len.max(1).div_ceil(PAGE) * PAGE;
        // SAFETY: a new private anonymous mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        match NonNull::new(p.cast::<u8>()) {
            Some(ptr) if p != libc::MAP_FAILED => Pages { ptr, len },
            _ => std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<u8>(len).unwrap_or(std::alloc::Layout::new::<u8>()),
            ),
        }
    }

    /// Bytes mapped.
    pub fn capacity(&self) -> usize {
        self.len
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` bytes mapped readable for the life of `self`, initialised (the kernel zero-fills
        // anonymous pages; writes go through `as_mut_slice`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of this length, unmapped once; no borrow outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_whole_zeroed_aligned_and_keep_what_is_written() {
        let mut p = Pages::new(PAGE + 1);
        assert_eq!(p.capacity(), 2 * PAGE);
        assert_eq!(p.as_slice().as_ptr() as usize % PAGE, 0);
        assert!(p.as_slice().iter().all(|&b| b == 0));
        p.as_mut_slice()[PAGE] = 7;
        assert_eq!(p.as_slice()[PAGE], 7);
        assert_eq!(Pages::new(0).capacity(), PAGE, "at least a page");
    }
}
