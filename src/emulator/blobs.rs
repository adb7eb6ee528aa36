//! Content store: every distinct content is kept once, under `blobs/<md5>-<size>`, and only ever
//! appears there complete (written to a temp file or an upload's part file, then renamed), so a blob's
//! existence means "the server has these bytes" — the basis of dedupe. Partial uploads live in
//! `uploads/<id>.part` until they complete.

use md5::{Digest, Md5};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

pub struct Blobs {
    blob_dir: PathBuf,
    upload_dir: PathBuf,
    tmp_dir: PathBuf,
    known: HashSet<(String, u64)>,
}

impl Blobs {
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let blob_dir = data_dir.join("blobs");
        let upload_dir = data_dir.join("uploads");
        let tmp_dir = data_dir.join("tmp");
        for d in [&blob_dir, &upload_dir, &tmp_dir] {
            std::fs::create_dir_all(d)?;
        }
        // Leftovers of writes interrupted by a crash; never referenced.
        for entry in std::fs::read_dir(&tmp_dir)?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let mut known = HashSet::new();
        for entry in std::fs::read_dir(&blob_dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((md5, size)) = name.split_once('-') {
                if let Ok(size) = size.parse::<u64>() {
                    known.insert((md5.to_string(), size));
                }
            }
        }
        let mut blobs = Blobs { blob_dir, upload_dir, tmp_dir, known };
        // Empty content is always "known": a zero-byte file never needs an upload.
        if !blobs.has(EMPTY_MD5, 0) {
            blobs.put_bytes(b"")?;
        }
        Ok(blobs)
    }

    pub fn path(&self, md5: &str, size: u64) -> PathBuf {
        self.blob_dir.join(format!("{md5}-{size}"))
    }

    pub fn part_path(&self, upload_id: &str) -> PathBuf {
        self.upload_dir.join(format!("{upload_id}.part"))
    }

    pub fn temp_path(&self) -> PathBuf {
        self.tmp_dir.join(super::ids::hex32())
    }

    pub fn has(&self, md5: &str, size: u64) -> bool {
        self.known.contains(&(md5.to_string(), size))
    }

    /// Store bytes (small contents: demo files, seeds); returns (md5, size).
    pub fn put_bytes(&mut self, data: &[u8]) -> io::Result<(String, u64)> {
        let md5 = hex::encode(Md5::digest(data));
        let size = data.len() as u64;
        if !self.has(&md5, size) {
            let tmp = self.temp_path();
            std::fs::write(&tmp, data)?;
            std::fs::rename(&tmp, self.path(&md5, size))?;
            self.known.insert((md5.clone(), size));
        }
        Ok((md5, size))
    }

    /// Make a finished file (an upload's part file) the blob for (md5, size).
    pub fn adopt(&mut self, file: &Path, md5: &str, size: u64) -> io::Result<()> {
        if self.has(md5, size) {
            std::fs::remove_file(file)?;
        } else {
            std::fs::rename(file, self.path(md5, size))?;
            self.known.insert((md5.to_string(), size));
        }
        Ok(())
    }
}
