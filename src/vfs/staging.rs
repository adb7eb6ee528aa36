//! A file's local copy while it is being written or waits for upload: the staging file in the cache
//! dir, its size and mtime as the mount shows them, and the md5 computed alongside while writes arrive
//! in order (so the common case, a sequential copy, needs no second pass over the bytes). Large aligned
//! writes past a file's first MiB skip the page cache (`direct_io.rs`); the first MiB stays in it, since a
//! small file's sealed record is made from it at close.

use super::hasher::{self, HashPipe};
use super::lifecycle::{Record, Stage};
use crate::remote::UnixTime;
use md5::{Digest, Md5};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The md5 of the bytes written so far, while they came strictly in order.
#[derive(Clone, Debug)]
pub enum HashState {
    /// Every write so far continued the last one; the pipe hashes them in the background.
    Sequential(Arc<HashPipe>),
    /// Writes came out of order: hash the staging file once the writers are done.
    Unknown,
}

impl HashState {
    fn fresh(file: &Arc<File>) -> Self {
        HashState::Sequential(HashPipe::new(file.clone()))
    }

    /// Leave the in-order state (the pipe's work is dropped).
    fn give_up(&mut self) {
        if let HashState::Sequential(pipe) = self {
            pipe.abandon();
        }
        *self = HashState::Unknown;
    }
}

#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Journal and staging id.
    pub id: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// The same file without the page cache, opened at the first write that may use it.
    direct: Option<Arc<File>>,
    pub size: u64,
    pub mtime: UnixTime,
    /// Open handles that may write.
    pub writers: u32,
    /// Where this copy stands in its life (`lifecycle.rs` has the table of stages and transitions).
    pub stage: Stage,
    /// Bumped on every change, so a commit can tell whether what it recorded is still current.
    pub version: u64,
    /// The last durable journal record of this id, while one exists.
    pub record: Option<Record>,
    /// The id of the earlier local copy whose durable record still stands for this file until this one
    /// is recorded (a pending file changed in place is changed in a copy, so a crash keeps what the
    /// earlier close() acknowledged).
    pub supersedes: Option<u64>,
    pub hash: HashState,
}

impl LocalFile {
    /// A new, empty staging file.
    pub fn create(id: u64, path: &Path, mtime: UnixTime) -> std::io::Result<Self> {
        let file = Arc::new(std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?);
        Ok(LocalFile {
            id,
            path: path.to_path_buf(),
            hash: HashState::fresh(&file),
            file,
            direct: None,
            size: 0,
            mtime,
            writers: 0,
            stage: Stage::Changed,
            version: 0,
            record: None,
            supersedes: None,
        })
    }

    /// Reopen the staging file of a journal record left by an earlier run.
    pub fn reopen(id: u64, path: &Path, size: u64, mtime: UnixTime, record: Record) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        Ok(LocalFile {
            id,
            path: path.to_path_buf(),
            file: Arc::new(file),
            direct: None,
            size,
            mtime,
            writers: 0,
            stage: Stage::Recorded { flushed: true },
            version: 0,
            record: Some(record),
            supersedes: None,
            hash: HashState::Unknown,
        })
    }

    /// A copy of `size` bytes of `source` in a new staging file, changed since any record. Read through
    /// the open descriptor: the source's name may already be gone (its upload finished and removed it).
    pub fn copy_of(source: &File, size: u64, id: u64, path: &Path, mtime: UnixTime) -> std::io::Result<Self> {
        let mut copy = LocalFile::create(id, path, mtime)?;
        copy.hash.give_up();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        while at < size {
            let n = source.read_at(&mut buf[..(size - at).min(1 << 20) as usize], at)?;
            if n == 0 {
                break;
            }
            copy.file.write_all_at(&buf[..n], at)?;
            at += n as u64;
        }
        copy.file.set_len(size)?;
        copy.size = size;
        Ok(copy)
    }

    /// Write at an offset; keeps the running md5 while writes stay in order.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let end = offset + data.len() as u64;
        let in_order = matches!(&self.hash, HashState::Sequential(p) if offset == self.size && p.written() == offset);
        if !in_order {
            // Before the bytes land, so the hasher never mixes old and new content into a hash in use.
            self.hash.give_up();
        }
        match self.direct_for(offset, data.len()) {
            Some(direct) => {
                // One copy serves both: the disk takes the bytes from it, and the hasher hashes it.
                let copy = hasher::copy_of(data);
                match &copy {
                    hasher::Copied::Large(aligned) => {
                        crate::direct_io::write_all_at(&direct, &self.file, aligned, offset)?
                    }
                    hasher::Copied::Small(bytes) => self.file.write_all_at(bytes, offset)?,
                }
                match &self.hash {
                    HashState::Sequential(pipe) => pipe.wrote_copied(offset, copy),
                    HashState::Unknown => copy.recycle(),
                }
            }
            None => {
                self.file.write_all_at(data, offset)?;
                if let HashState::Sequential(pipe) = &self.hash {
                    pipe.wrote(offset, data);
                }
            }
        }
        self.size = self.size.max(end);
        self.content_changed();
        Ok(())
    }

    /// The descriptor without the page cache, when a write of `len` bytes at `offset` may use it.
    fn direct_for(&mut self, offset: u64, len: usize) -> Option<Arc<File>> {
        if offset < DIRECT_FROM || len < hasher::SPARE_FROM || !crate::direct_io::eligible(offset, len) {
            return None;
        }
        if self.direct.is_none() {
            self.direct = crate::direct_io::reopen(&self.file).map(Arc::new);
        }
        self.direct.clone()
    }

    pub fn read_at(&self, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        let n = (len as u64).min(self.size - offset) as usize;
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    pub fn truncate(&mut self, size: u64) -> std::io::Result<()> {
        let unchanged = matches!(&self.hash, HashState::Sequential(p) if size == self.size && p.written() == size);
        if !unchanged {
            self.hash.give_up();
        }
        self.file.set_len(size)?;
        if size == 0 {
            self.hash = HashState::fresh(&self.file);
        }
        self.size = size;
        self.content_changed();
        Ok(())
    }

    /// fallocate: disk space for `[offset, offset + len)` is reserved in the staging file (a full cache
    /// disk is `ENOSPC` now, not at a later write), and the file grows to cover it unless `keep_size`.
    /// A staging filesystem without fallocate reserves nothing; the size still grows.
    pub fn allocate(&mut self, offset: u64, len: u64, keep_size: bool) -> std::io::Result<()> {
        let (Ok(start), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
        };
        let mode = if keep_size { libc::FALLOC_FL_KEEP_SIZE } else { 0 };
        // SAFETY: a valid descriptor this file owns; the call reads no memory of ours.
        if unsafe { libc::fallocate(std::os::fd::AsRawFd::as_raw_fd(&self.file), mode, start, n) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                // A failed allocation may have grown the file part of the way: back to the size the
                // content has, or the md5 pass would count the extra zeros in.
                if !keep_size {
                    self.file.set_len(self.size)?;
                }
                return Err(e);
            }
        }
        let end = offset.saturating_add(len);
        if !keep_size && end > self.size {
            self.truncate(end)?;
        }
        Ok(())
    }

    /// The md5 of the content: from the running hash when complete, else one pass over the file.
    pub fn md5(&self) -> std::io::Result<String> {
        if let HashState::Sequential(pipe) = &self.hash {
            if let Some(md5) = pipe.md5_of(self.size) {
                return Ok(md5);
            }
        }
        hash_file(&self.path)
    }
}

/// Writes before this offset keep the page cache (see the header); a file no longer than this was
/// written through it alone.
pub(super) const DIRECT_FROM: u64 = super::journal::SEALED_MAX;

pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_md5_matches_and_falls_back_for_random_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = LocalFile::create(1, &dir.path().join("a"), 0).unwrap();
        f.write_at(0, b"hello ").unwrap();
        f.write_at(6, b"world").unwrap();
        assert!(matches!(&f.hash, HashState::Sequential(p) if p.written() == 11));
        assert_eq!(f.md5().unwrap(), hex::encode(Md5::digest(b"hello world")));
        f.write_at(0, b"J").unwrap();
        assert!(matches!(f.hash, HashState::Unknown));
        assert_eq!(f.md5().unwrap(), hex::encode(Md5::digest(b"Jello world")));
        f.truncate(5).unwrap();
        assert_eq!(f.read_at(0, 100).unwrap(), b"Jello");
        assert_eq!(f.md5().unwrap(), hex::encode(Md5::digest(b"Jello")));
    }

    /// Pages of `file` in the page cache (mincore over a mapping of it).
    fn cached_pages(file: &File, len: usize) -> usize {
        use std::os::fd::AsRawFd;
        let page = 4096;
        let pages = len.div_ceil(page);
        let mut resident = vec![0u8; pages];
        // SAFETY: a read-only shared mapping of `len` bytes of an open file, only passed to mincore (its
        // bytes are never read) and unmapped before returning.
        unsafe {
            let at = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0);
            assert_ne!(at, libc::MAP_FAILED);
            assert_eq!(libc::mincore(at, len, resident.as_mut_ptr()), 0);
            libc::munmap(at, len);
        }
        resident.iter().filter(|&&r| r & 1 == 1).count()
    }

    #[test]
    fn large_writes_past_the_first_mib_skip_the_page_cache_and_read_and_hash_right() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = LocalFile::create(2, &dir.path().join("big"), 0).unwrap();
        let content: Vec<u8> = (0..(8 << 20) + 5000).map(|i| (i * 7 % 253) as u8).collect();
        // As the kernel sends a sequential copy: 1 MiB writes, then the ragged end.
        for (i, part) in content.chunks(1 << 20).enumerate() {
            f.write_at((i << 20) as u64, part).unwrap();
        }
        f.file.sync_data().unwrap();
        assert_eq!(f.md5().unwrap(), hex::encode(Md5::digest(&content)));
        let direct = crate::direct_io::reopen(&f.file).is_some();
        let cached = cached_pages(&f.file, content.len());
        if direct {
            // The first MiB (256 pages) and the last, ragged page went through the cache; the rest not.
            assert!(cached <= 257 + 16, "{cached} pages cached after an 8 MiB write");
        } else {
            eprintln!("SKIPPED (the page cache part): this filesystem refuses O_DIRECT; {cached} pages cached");
        }
        // Read back through the cache, in pieces that straddle what went either way.
        let mut back = Vec::new();
        let mut at = 0u64;
        while at < content.len() as u64 {
            let piece = f.read_at(at, 300_000).unwrap();
            at += piece.len() as u64;
            back.extend_from_slice(&piece);
        }
        assert!(back == content, "the file reads back as written");
        // Rewritten out of order: the hash is recomputed from the file, which holds the new bytes.
        f.write_at(2 << 20, &[9u8; 1 << 20]).unwrap();
        let mut changed = content.clone();
        changed[2 << 20..3 << 20].fill(9);
        assert_eq!(f.md5().unwrap(), hex::encode(Md5::digest(&changed)));
    }
}
