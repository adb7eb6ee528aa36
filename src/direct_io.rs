//! Large staging writes and their upload reads without the page cache (`O_DIRECT`), and the aligned
//! buffers that needs.
//!
//! Why: a file written through the mount is staged, hashed, uploaded and deleted; its bytes are read once
//! more at most. Staged through the page cache, every byte is copied into a fresh page and out again,
//! and a 20 GiB copy fills 20 GiB of the machine's cache with data nobody will read, pushing out what
//! the user's programs had cached. And where the machine is a virtual machine that hands idle memory
//! back to its host (README: *Small files, requests per file, CPU per GiB written*), the first touch of
//! each fresh page is several times the cost of the copy itself. With `O_DIRECT` the disk takes the
//! bytes from the daemon's own (reused) buffer, and the upload reads them back into another.
//!
//! Only whole, aligned blocks go this way (`eligible`); anything else (small files, the ragged end of a
//! file, writes at odd offsets) keeps the page cache, and the kernel keeps both views of a file
//! coherent. A filesystem that refuses `O_DIRECT` (open or write says `EINVAL`) is remembered, and
//! everything then goes through the page cache as before.

use crate::pages::Pages;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::atomic::{AtomicBool, Ordering};

/// Alignment of memory, offsets and lengths for `O_DIRECT` (a page: enough for any block size in use).
pub const ALIGN: usize = 4096;

/// Set once the filesystem of the cache dir refused `O_DIRECT`.
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Whether a write of `len` bytes at `offset` may skip the page cache.
pub fn eligible(offset: u64, len: usize) -> bool {
    offset % ALIGN as u64 == 0 && len % ALIGN == 0 && len > 0 && !REFUSED.load(Ordering::Relaxed)
}

/// A second descriptor of an open file that skips the page cache, opened through `/proc/self/fd` so it
/// works whatever became of the file's name. None when the filesystem (or `/proc`) refuses.
pub fn reopen(file: &File) -> Option<File> {
    if REFUSED.load(Ordering::Relaxed) {
        return None;
    }
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let opened = std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_DIRECT).open(path);
    match opened {
        Ok(f) => Some(f),
        Err(e) => {
            refused(&e);
            None
        }
    }
}

/// Open `path` for reading without the page cache; None when refused.
pub fn open_for_reading(path: &std::path::Path) -> Option<File> {
    if REFUSED.load(Ordering::Relaxed) {
        return None;
    }
    match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            refused(&e);
            None
        }
    }
}

/// `EINVAL` from an open or a transfer means this filesystem does not do `O_DIRECT` (or not with these
/// alignments): stop trying.
fn refused(e: &std::io::Error) {
    if e.raw_os_error() == Some(libc::EINVAL) && !REFUSED.swap(true, Ordering::Relaxed) {
        log::info!("the cache dir's filesystem refuses O_DIRECT; staging goes through the page cache");
    }
}

/// Write all of `buf` at `offset` through `direct`, or through `buffered` where `direct` fails with
/// `EINVAL` or stops short (the rest would be misaligned).
pub fn write_all_at(direct: &File, buffered: &File, buf: &AlignedBuf, offset: u64) -> std::io::Result<()> {
    let data = buf.as_slice();
    let done = match direct.write_at(data, offset) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            refused(&e);
            0
        }
        Err(e) => return Err(e),
    };
    if done < data.len() {
        buffered.write_all_at(&data[done..], offset + done as u64)?;
    }
    Ok(())
}

/// A byte buffer that starts at an `ALIGN`ed address: pages mapped for it alone (`pages.rs`), filled
/// from the start; its length is what was put in.
pub struct AlignedBuf {
    pages: Pages,
    len: usize,
}

impl AlignedBuf {
    /// Room for at least `cap` bytes, empty.
    pub fn new(cap: usize) -> Self {
        AlignedBuf { pages: Pages::new(cap), len: 0 }
    }

    /// `old` emptied if it has room for `cap` bytes (a pooled buffer), else a new one.
    pub fn reuse(old: Option<AlignedBuf>, cap: usize) -> Self {
        match old {
            Some(mut b) if b.capacity() >= cap => {
                b.clear();
                b
            }
            _ => AlignedBuf::new(cap),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.pages.as_slice()[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Bytes it can hold.
    pub fn capacity(&self) -> usize {
        self.pages.capacity()
    }

    /// Bytes that still fit.
    pub fn room(&self) -> usize {
        self.capacity() - self.len
    }

    /// Append `data`; false (and nothing appended) when it does not fit.
    pub fn extend(&mut self, data: &[u8]) -> bool {
        if data.len() > self.room() {
            return false;
        }
        self.pages.as_mut_slice()[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
        true
    }

    /// Fill the buffer with `len` bytes read from `file` at `offset` (aligned; `len` is rounded up to a
    /// block for the read itself). Fewer only at the end of the file.
    pub fn read_at(&mut self, file: &File, offset: u64, len: usize) -> std::io::Result<usize> {
        let ask = len.div_ceil(ALIGN) * ALIGN;
        if ask > self.capacity() {
            return Err(std::io::Error::other("read larger than its buffer"));
        }
        self.len = 0;
        let into = &mut self.pages.as_mut_slice()[..ask];
        let mut got = 0;
        while got < ask {
            match file.read_at(&mut into[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    refused(&e);
                    return Err(e);
                }
            }
            // A short read not at a block boundary is the end of the file.
            if got % ALIGN != 0 {
                break;
            }
        }
        self.len = got.min(len);
        Ok(self.len)
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_starts_aligned_and_keeps_its_address_while_filled() {
        let mut b = AlignedBuf::new(3 * ALIGN);
        assert_eq!(b.as_slice().as_ptr() as usize % ALIGN, 0);
        let at = b.as_slice().as_ptr();
        assert!(b.extend(&[7; 2 * ALIGN]) && b.extend(&[8; ALIGN]));
        assert!(!b.extend(&[9; ALIGN + 1]), "past its room");
        assert_eq!(b.len(), 3 * ALIGN);
        assert_eq!(b.as_slice().as_ptr(), at);
        assert_eq!(&b.as_slice()[2 * ALIGN - 1..2 * ALIGN + 1], &[7, 8]);
        let again = AlignedBuf::reuse(Some(b), 3 * ALIGN);
        assert!(again.is_empty() && again.as_slice().as_ptr() == at, "reused, emptied, same address");
    }

    #[test]
    fn direct_writes_and_reads_round_trip_with_ragged_ends_and_fallbacks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let content: Vec<u8> = (0..3 * ALIGN + 100).map(|i| (i % 251) as u8).collect();
        // Aligned blocks through O_DIRECT where the filesystem allows it, the ragged end through the cache.
        let mut block = AlignedBuf::new(3 * ALIGN);
        assert!(block.extend(&content[..3 * ALIGN]));
        assert!(eligible(0, block.len()) || REFUSED.load(Ordering::Relaxed));
        assert!(!eligible(1, ALIGN) && !eligible(0, ALIGN + 1) && !eligible(0, 0));
        match reopen(&file) {
            Some(direct) => write_all_at(&direct, &file, &block, 0).unwrap(),
            None => file.write_all_at(block.as_slice(), 0).unwrap(),
        }
        file.write_all_at(&content[3 * ALIGN..], 3 * ALIGN as u64).unwrap();
        file.sync_data().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), content, "the cached view sees the direct writes");
        // Read back whole, and from a block in the middle up to the ragged end.
        let mut buf = AlignedBuf::new(4 * ALIGN);
        let reader = open_for_reading(&path).unwrap_or_else(|| File::open(&path).unwrap());
        assert_eq!(buf.read_at(&reader, 0, content.len()).unwrap(), content.len());
        assert_eq!(buf.as_slice(), &content[..]);
        assert_eq!(buf.read_at(&reader, ALIGN as u64, 4 * ALIGN).unwrap(), content.len() - ALIGN, "short at the end");
        assert_eq!(buf.as_slice(), &content[ALIGN..]);
        assert!(buf.read_at(&reader, 0, 5 * ALIGN).is_err(), "larger than the buffer");
    }
}
