//! The file index: what a tree held at one moment (path, kind, size, mtime, md5 when known), and its
//! on-disk format. Invariants: entries are sorted by path (byte order) with no duplicates, paths are
//! relative to the indexed root, `/`-separated, with no empty, `.` or `..` component. A file is trusted
//! only whole: the checksum covers the header and the body, so a truncated or damaged index is refused
//! before any entry is believed.
//!
//! Format version 1 (all integers little-endian; README "Index file format" is the user-facing copy):
//!
//! ```text
//! 0   8  magic "JOTTAIDX"
//! 8   2  format version (1)
//! 10  2  flags (0; readers refuse unknown bits)
//! 12  8  number of entries
//! 20  8  length of the compressed body in bytes
//! 28 16  md5 of bytes 0..28 followed by the compressed body
//! 44  .. body: zlib stream of
//!        source (varint length + UTF-8), taken (zigzag varint, Unix seconds), then per entry:
//!        shared prefix with the previous path (varint), suffix length (varint), suffix bytes,
//!        flags (u8: 1 folder, 2 has mtime, 4 has md5), size (varint, files only),
//!        mtime (zigzag varint, if flagged), md5 (16 raw bytes, if flagged)
//! ```
//!
//! Sorted paths share long prefixes (`drawings/2010/0042/...`), so the prefix coding plus zlib make an
//! index of 200,000 files a few megabytes, most of it the md5s (which do not compress).

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"JOTTAIDX";
pub const VERSION: u16 = 1;
const HEADER_LEN: usize = 44;

const F_FOLDER: u8 = 1;
const F_MTIME: u8 = 2;
const F_MD5: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// 0 for folders.
    pub size: u64,
    /// Whole Unix seconds (the service keeps 1 s precision, so local times are cut to match).
    pub mtime: Option<i64>,
    pub md5: Option<[u8; 16]>,
}

impl Entry {
    pub fn md5_hex(&self) -> Option<String> {
        self.md5.map(hex::encode)
    }

    pub fn is_folder(&self) -> bool {
        self.kind == Kind::Folder
    }
}

/// A whole index: where it was taken, when, and its entries (sorted, see the module invariants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// `local:/abs/path` or `jotta:/Device/MountPoint/path`: shown to users, never used to find files.
    pub source: String,
    pub taken: i64,
    pub entries: Vec<Entry>,
}

/// Why an index file was refused; the `Display` is one line naming the file's problem and the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexError {
    NotAnIndex,
    NewerVersion(u16),
    UnknownFlags(u16),
    Truncated { have: u64, want: u64 },
    ChecksumMismatch,
    Malformed(String),
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexError::NotAnIndex => write!(f, "not a jotta index file (create one with `jotta index create`)"),
            IndexError::NewerVersion(v) => {
                write!(f, "index format version {v} is newer than this jotta reads (version {VERSION}); upgrade jotta")
            }
            IndexError::UnknownFlags(x) => {
                write!(f, "index uses features this jotta does not know (flags {x:#06x}); upgrade jotta")
            }
            IndexError::Truncated { have, want } => {
                write!(f, "index is truncated ({have} of {want} body bytes); copy it again or create a new one")
            }
            IndexError::ChecksumMismatch => {
                write!(f, "index is damaged (checksum mismatch); copy it again or create a new one")
            }
            IndexError::Malformed(m) => write!(f, "index is damaged ({m}); copy it again or create a new one"),
        }
    }
}

impl Index {
    /// Sort and check the entries (the builders call this; decoding checks instead of sorting).
    pub fn new(source: String, taken: i64, mut entries: Vec<Entry>) -> Index {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries.dedup_by(|a, b| a.path == b.path);
        Index { source, taken, entries }
    }

    pub fn files(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.kind == Kind::File)
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.binary_search_by(|e| e.path.as_str().cmp(path)).ok().map(|i| &self.entries[i])
    }

    /// Whether every file carries an md5 (needed to compare by hash).
    pub fn has_all_md5(&self) -> bool {
        self.files().all(|e| e.md5.is_some())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.entries.len() * 40);
        put_str(&mut body, &self.source);
        put_varint(&mut body, zigzag(self.taken));
        let mut prev: &str = "";
        for e in &self.entries {
            let shared = common_prefix(prev, &e.path);
            put_varint(&mut body, shared as u64);
            put_str(&mut body, &e.path[shared..]);
            let mut flags = 0;
            if e.kind == Kind::Folder {
                flags |= F_FOLDER;
            }
            if e.mtime.is_some() {
                flags |= F_MTIME;
            }
            if e.md5.is_some() {
                flags |= F_MD5;
            }
            body.push(flags);
            if e.kind == Kind::File {
                put_varint(&mut body, e.size);
            }
            if let Some(t) = e.mtime {
                put_varint(&mut body, zigzag(t));
            }
            if let Some(m) = &e.md5 {
                body.extend_from_slice(m);
            }
            prev = &e.path;
        }
        // Level 1: most of a big index is md5s, which no level shrinks; the paths compress well even so.
        let mut z = ZlibEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = z.write_all(&body);
        let compressed = z.finish().unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + compressed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        out.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
        let sum = checksum(&out[..28], &compressed);
        out.extend_from_slice(&sum);
        out.extend_from_slice(&compressed);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Index, IndexError> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(IndexError::NotAnIndex);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version > VERSION {
            return Err(IndexError::NewerVersion(version));
        }
        if version == 0 {
            return Err(IndexError::Malformed("version 0".into()));
        }
        if bytes.len() < HEADER_LEN {
            return Err(IndexError::Truncated { have: 0, want: 1 });
        }
        let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
        let count = u64::from_le_bytes(bytes[12..20].try_into().map_err(|_| IndexError::NotAnIndex)?);
        let body_len = u64::from_le_bytes(bytes[20..28].try_into().map_err(|_| IndexError::NotAnIndex)?);
        let body = &bytes[HEADER_LEN..];
        if (body.len() as u64) < body_len {
            return Err(IndexError::Truncated { have: body.len() as u64, want: body_len });
        }
        if body.len() as u64 > body_len {
            return Err(IndexError::Malformed(format!("{} bytes after the end", body.len() as u64 - body_len)));
        }
        if checksum(&bytes[..28], body) != bytes[28..44] {
            return Err(IndexError::ChecksumMismatch);
        }
        // Checked after the checksum: a damaged flags field is reported as damage, not as a newer feature.
        if flags != 0 {
            return Err(IndexError::UnknownFlags(flags));
        }
        let mut raw = Vec::new();
        ZlibDecoder::new(body).read_to_end(&mut raw).map_err(|e| IndexError::Malformed(format!("body: {e}")))?;
        decode_body(&raw, count)
    }

    /// The identity of an index's content: the checksum its file carries (an archive names the index it
    /// was made against by this).
    pub fn fingerprint(&self) -> String {
        let bytes = self.encode();
        hex::encode(&bytes[28..44])
    }

    /// Write atomically: a reader never sees half an index.
    pub fn save(&self, path: &Path) -> std::io::Result<u64> {
        let bytes = self.encode();
        let tmp = crate::sync::staging::beside(path, "jotta-tmp");
        let mut f = std::fs::File::create(&tmp)?;
        let written = f.write_all(&bytes).and_then(|_| f.sync_all());
        if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(bytes.len() as u64)
    }

    /// Read and check an index file; the error names the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Index, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read the index: {e}", path.display()))?;
        Index::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn checksum(header: &[u8], body: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(header);
    h.update(body);
    h.finalize().into()
}

fn decode_body(raw: &[u8], count: u64) -> Result<Index, IndexError> {
    let bad = |m: &str| IndexError::Malformed(m.to_string());
    let mut r = Reader { buf: raw, pos: 0 };
    let source = r.string()?;
    let taken = unzigzag(r.varint()?);
    // Never trust a count for an allocation beyond what the body could hold (>= 3 bytes per entry).
    let mut entries = Vec::with_capacity(count.min(raw.len() as u64 / 3) as usize);
    let mut prev = String::new();
    for _ in 0..count {
        let shared = r.varint()? as usize;
        if shared > prev.len() || !prev.is_char_boundary(shared) {
            return Err(bad("path prefix out of range"));
        }
        let suffix = r.string()?;
        let mut path = String::with_capacity(shared + suffix.len());
        path.push_str(&prev[..shared]);
        path.push_str(&suffix);
        if !valid_rel(&path) {
            return Err(IndexError::Malformed(format!("invalid path '{}'", path.escape_debug())));
        }
        if !entries.is_empty() && path <= prev {
            return Err(bad("entries out of order"));
        }
        let flags = r.byte()?;
        if flags & !(F_FOLDER | F_MTIME | F_MD5) != 0 {
            return Err(bad("unknown entry flags"));
        }
        let kind = if flags & F_FOLDER != 0 { Kind::Folder } else { Kind::File };
        let size = if kind == Kind::File { r.varint()? } else { 0 };
        let mtime = if flags & F_MTIME != 0 { Some(unzigzag(r.varint()?)) } else { None };
        let md5 = if flags & F_MD5 != 0 {
            let b = r.take(16)?;
            let mut m = [0u8; 16];
            m.copy_from_slice(b);
            Some(m)
        } else {
            None
        };
        prev.clone_from(&path);
        entries.push(Entry { path, kind, size, mtime, md5 });
    }
    if r.pos != raw.len() {
        return Err(bad("data after the last entry"));
    }
    Ok(Index { source, taken, entries })
}

/// A relative path an index may hold: no empty, `.` or `..` component, no leading `/`, no NUL.
pub fn valid_rel(path: &str) -> bool {
    !path.is_empty() && crate::remote::path::usable_rel(path)
}

fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| IndexError::Malformed("body ends inside an entry".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, IndexError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, IndexError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(IndexError::Malformed("number too long".into()))
    }

    fn string(&mut self) -> Result<String, IndexError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| IndexError::Malformed("length out of range".into()))?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| IndexError::Malformed("a path is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        let file =
            |p: &str, size, mtime, md5: Option<[u8; 16]>| Entry { path: p.into(), kind: Kind::File, size, mtime, md5 };
        Index::new(
            "local:/data/drawings".into(),
            1_700_000_000,
            vec![
                file("b/é.txt", 3, Some(-5), Some([7; 16])),
                Entry { path: "b".into(), kind: Kind::Folder, size: 0, mtime: None, md5: None },
                file("a.txt", u64::MAX, Some(1_600_000_000), None),
                file("b/éa.txt", 0, None, None),
            ],
        )
    }

    #[test]
    fn indexes_round_trip() {
        let idx = sample();
        let bytes = idx.encode();
        assert_eq!(Index::decode(&bytes), Ok(idx.clone()));
        assert_eq!(idx.get("b/é.txt").map(|e| e.size), Some(3));
        assert!(idx.get("c").is_none());
    }

    #[test]
    fn damaged_indexes_are_refused_with_the_reason() {
        let bytes = sample().encode();
        assert_eq!(Index::decode(b"hello world, not an index"), Err(IndexError::NotAnIndex));
        let mut newer = bytes.clone();
        newer[8] = 2;
        assert_eq!(Index::decode(&newer), Err(IndexError::NewerVersion(2)));
        assert!(matches!(Index::decode(&bytes[..bytes.len() - 3]), Err(IndexError::Truncated { .. })));
        assert!(matches!(Index::decode(&bytes[..20]), Err(IndexError::Truncated { .. })));
        for i in [12, 30, HEADER_LEN, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assert!(Index::decode(&flipped).is_err(), "flip at {i}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(Index::decode(&longer), Err(IndexError::Malformed(_))));
    }

    #[test]
    fn paths_that_escape_the_root_are_not_valid() {
        for bad in ["", "/a", "a//b", "a/../b", "..", "./a", "a/"] {
            assert!(!valid_rel(bad), "{bad}");
        }
        assert!(valid_rel("a/b c/d.txt"));
    }
}
