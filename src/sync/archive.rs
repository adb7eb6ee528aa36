//! The offline-sync archive and how it is made: a tar (gzipped when asked) holding, in this order,
//! `jotta-archive.json` (the manifest: every file it carries with size, md5 and mtime, the folders to
//! create, the paths to delete, and which index it was made against), `jotta-archive.idx` (that index
//! itself, so `apply` can check the target without being handed it again), then each new or changed file
//! as `files/<path>`. Invariants: the manifest's md5 of a file is the md5 of the bytes stored for it (the
//! file is hashed while it is written into the tar; a file that changes meanwhile fails the archive), and
//! an archive appears under its name only once complete.

use super::checksum_cache::ChecksumCache;
use super::index::{Index, Kind};
use super::index_build::{index_local, LocalHashing};
use super::index_diff::{diff, Compare, Diff};
use super::staging::describe;
use super::{SyncError, SyncResult};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const MANIFEST_NAME: &str = "jotta-archive.json";
pub const AGAINST_NAME: &str = "jotta-archive.idx";
pub const FILES_DIR: &str = "files/";
pub const FORMAT: &str = "jotta-archive";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
    pub md5: String,
    pub mtime: Option<i64>,
}

/// Which index an archive was made against (or from): enough to recognise it and to say which it was.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexRef {
    pub fingerprint: String,
    pub source: String,
    pub taken: i64,
    pub entries: u64,
}

impl IndexRef {
    pub fn of(idx: &Index) -> IndexRef {
        IndexRef {
            fingerprint: idx.fingerprint(),
            source: idx.source.clone(),
            taken: idx.taken,
            entries: idx.entries.len() as u64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub created: i64,
    /// Where the files were read from.
    pub source: String,
    pub compare: String,
    pub against: IndexRef,
    /// The later index of a timeline archive (`--from`); the files were checked to still match it.
    pub from: Option<IndexRef>,
    pub files: Vec<ManifestFile>,
    pub folders: Vec<String>,
    /// Paths to delete; folders end with `/`.
    pub delete: Vec<String>,
}

pub struct CreateOptions {
    pub source: PathBuf,
    pub against: Index,
    pub from: Option<Index>,
    pub compare: Compare,
    pub gzip: bool,
    pub output: PathBuf,
    pub cache_base: PathBuf,
    /// What the manifest names as the source when `source` is a stand-in (the files of a remote source,
    /// fetched to a local folder first).
    pub source_label: Option<String>,
}

/// What went into an archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Created {
    pub files: u64,
    pub bytes: u64,
    pub folders: u64,
    pub deletions: u64,
    pub archive_size: u64,
    pub diff: Diff,
}

pub fn create(opts: &CreateOptions) -> SyncResult<Created> {
    let root = std::fs::canonicalize(&opts.source).map_err(|e| SyncError::local(&opts.source, e))?;
    if !root.is_dir() {
        return Err(SyncError::Usage(format!("{}: the archive source must be a folder", root.display())));
    }
    let newer = match &opts.from {
        Some(from) => from.clone(),
        None => {
            let hashing = if opts.compare == Compare::Hash { LocalHashing::All } else { LocalHashing::CachedOnly };
            let taken = index_local(&root, hashing, &opts.cache_base)?;
            if let Some((p, why)) = taken.failed.first() {
                return Err(SyncError::local(root.join(p), why));
            }
            taken.index
        }
    };
    let d = diff(&opts.against, &newer, opts.compare).map_err(SyncError::Usage)?;
    let mut cache = ChecksumCache::open(&opts.cache_base, &root);
    let mut files = Vec::new();
    for p in d.added.iter().chain(&d.changed).filter(|p| !p.ends_with('/')) {
        let Some(e) = newer.get(p) else { continue };
        let path = root.join(p);
        let meta = std::fs::metadata(&path).map_err(|err| gone(&path, &err, opts.from.is_some()))?;
        let stamp = super::checksum_cache::Stamp::of(&meta);
        if opts.from.is_some() && (stamp.size != e.size || e.mtime.is_some_and(|t| t != stamp.mtime_sec)) {
            return Err(SyncError::local(
                &path,
                "changed since the --from index was taken; take a new index of the source and use that",
            ));
        }
        let md5 = cache.md5(&path, p, stamp).map_err(|err| SyncError::local(&path, err))?;
        files.push(ManifestFile { path: p.clone(), size: stamp.size, md5, mtime: Some(stamp.mtime_sec) });
    }
    let _ = cache.save();
    let folders: Vec<String> = d.added.iter().filter_map(|p| p.strip_suffix('/')).map(str::to_string).collect();
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        created: crate::remote::time::now(),
        source: opts.source_label.clone().unwrap_or_else(|| format!("local:{}", root.display())),
        compare: opts.compare.name().into(),
        against: IndexRef::of(&opts.against),
        from: opts.from.as_ref().map(IndexRef::of),
        files,
        folders,
        delete: d.removed.clone(),
    };
    let archive_size = write_archive(&root, &manifest, &opts.against, &opts.output, opts.gzip)?;
    Ok(Created {
        files: manifest.files.len() as u64,
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        folders: manifest.folders.len() as u64,
        deletions: manifest.delete.len() as u64,
        archive_size,
        diff: d,
    })
}

fn gone(path: &Path, e: &std::io::Error, timeline: bool) -> SyncError {
    if timeline && e.kind() == std::io::ErrorKind::NotFound {
        SyncError::local(path, "is in the --from index but no longer in the source; take a new index and use that")
    } else {
        SyncError::local(path, e)
    }
}

/// Write the tar beside `output` and rename it into place once complete; returns its size.
fn write_archive(root: &Path, manifest: &Manifest, against: &Index, output: &Path, gzip: bool) -> SyncResult<u64> {
    let tmp = crate::sync::staging::beside(output, "jotta-tmp");
    let result = write_tar(root, manifest, against, &tmp, gzip).and_then(|_| {
        std::fs::rename(&tmp, output).map_err(|e| SyncError::local(output, describe(&e)))?;
        Ok(std::fs::metadata(output).map(|m| m.len()).unwrap_or(0))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn write_tar(root: &Path, manifest: &Manifest, against: &Index, tmp: &Path, gzip: bool) -> SyncResult<()> {
    let io = |e: std::io::Error| SyncError::local(tmp, describe(&e));
    let file = std::fs::File::create(tmp).map_err(io)?;
    let sink: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast()))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    let mut tar = tar::Builder::new(sink);
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| SyncError::local(tmp, e))?;
    append_bytes(&mut tar, MANIFEST_NAME, &json, manifest.created).map_err(io)?;
    append_bytes(&mut tar, AGAINST_NAME, &against.encode(), manifest.created).map_err(io)?;
    for f in &manifest.files {
        // Ctrl-C or SIGTERM (`stop.rs`, installed by the command): the partial archive is removed by the
        // caller, rather than left beside the output by the signal's default.
        if crate::sync::stop::requested() {
            return Err(SyncError::local(tmp, "stopped by a signal before the archive was complete"));
        }
        let path = root.join(&f.path);
        let src = std::fs::File::open(&path).map_err(|e| SyncError::local(&path, e))?;
        let mut reader = Hashing { inner: src.take(f.size), hasher: Md5::new(), count: 0 };
        let mut h = tar::Header::new_gnu();
        h.set_size(f.size);
        h.set_mode(0o644);
        h.set_mtime(f.mtime.and_then(|t| u64::try_from(t).ok()).unwrap_or(0));
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{FILES_DIR}{}", f.path), &mut reader).map_err(io)?;
        let got = hex::encode(reader.hasher.finalize_reset());
        if reader.count != f.size || got != f.md5 {
            return Err(SyncError::local(&path, "changed while the archive was written; run the command again"));
        }
    }
    let sink = tar.into_inner().map_err(io)?;
    finish(sink).map_err(io)?;
    // Reopen to fsync: the writer chain owns the file.
    std::fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(io)
}

fn finish(mut sink: Box<dyn Write>) -> std::io::Result<()> {
    // Dropping a GzEncoder writes its trailer but swallows errors; flush first so a full disk is seen.
    sink.flush()?;
    drop(sink);
    Ok(())
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8], mtime: i64) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(u64::try_from(mtime).unwrap_or(0));
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, bytes)
}

/// Hash what tar reads, so the stored bytes are the hashed ones.
struct Hashing<R> {
    inner: R,
    hasher: Md5,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Open an archive for reading, gzipped or not (told apart by the gzip magic bytes).
pub fn open(path: &Path) -> SyncResult<tar::Archive<Box<dyn Read>>> {
    let f = std::fs::File::open(path).map_err(|e| SyncError::local(path, e))?;
    from_reader(Box::new(f)).map_err(|e| SyncError::local(path, e))
}

/// An archive read from `r` (`open` without the file).
pub(crate) fn from_reader(mut r: Box<dyn Read>) -> std::io::Result<tar::Archive<Box<dyn Read>>> {
    let mut magic = [0u8; 2];
    let n = r.read(&mut magic)?;
    let reader = std::io::BufReader::new(std::io::Cursor::new(magic[..n].to_vec()).chain(r));
    let r: Box<dyn Read> =
        if n == 2 && magic == [0x1f, 0x8b] { Box::new(flate2::read::GzDecoder::new(reader)) } else { Box::new(reader) };
    Ok(tar::Archive::new(r))
}

/// Check a manifest read from an archive: its format, its version, and that every path stays inside
/// the target.
pub fn check_manifest(m: &Manifest) -> Result<(), String> {
    if m.format != FORMAT {
        return Err("not a jotta archive (its manifest has another format)".into());
    }
    if m.version > VERSION {
        return Err(format!(
            "archive format version {} is newer than this jotta reads (version {VERSION}); upgrade jotta",
            m.version
        ));
    }
    let all = m.files.iter().map(|f| f.path.as_str()).chain(m.folders.iter().map(String::as_str));
    let dels = m.delete.iter().map(|p| p.strip_suffix('/').unwrap_or(p));
    for p in all.chain(dels) {
        if !super::index::valid_rel(p) {
            return Err(format!("the archive names the path '{p}', which would leave the target folder"));
        }
    }
    if m.files.iter().any(|f| hex::decode(&f.md5).map(|r| r.len() != 16).unwrap_or(true)) {
        return Err("the archive's manifest has a malformed md5".into());
    }
    Ok(())
}

/// Is this kind of entry a file in the sense of a manifest's `delete` list.
pub fn delete_kind(p: &str) -> Kind {
    if p.ends_with('/') {
        Kind::Folder
    } else {
        Kind::File
    }
}
