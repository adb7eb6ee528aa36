//! The scanner's local checksum cache: the md5 of a file together with the size and mtime (ns) it was
//! computed for, so an unchanged file is never read again.
//!
//! Where it lives: the xattr `user.jottafuse.md5` on the file itself (37 bytes, see `format_value`), and, for
//! trees where user xattrs cannot be written (a read-only tree, tmpfs without user xattrs), a JSON file
//! under `$XDG_CACHE_HOME/jottafuse/scan/` keyed by the scanned folder. Invariant: an entry is used only
//! when size and mtime both still match; anything else (missing, malformed, stale) is a miss.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const XATTR: &str = "user.jottafuse.md5";

/// What a cache entry is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp { size: meta.len(), mtime_sec: meta.mtime(), mtime_nsec: meta.mtime_nsec() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    md5: String,
    #[serde(flatten)]
    stamp: Stamp,
}

pub struct ChecksumCache {
    /// The JSON file standing in for xattrs in this scanned folder.
    file: PathBuf,
    /// Relative path -> entry, loaded from `file` when it exists.
    fallback: HashMap<String, FileEntry>,
    dirty: bool,
    /// Once one setxattr fails for lack of support, the rest of the tree goes to the file directly.
    xattrs_unsupported: bool,
    /// Files opened and read to compute an md5 (the proof that a warm re-scan reads nothing).
    pub hashed: u64,
}

impl ChecksumCache {
    /// The cache for scans of `root` (a canonical path), with its fallback file under `cache_base`.
    pub fn open(cache_base: &Path, root: &Path) -> ChecksumCache {
        let file = fallback_file(cache_base, root);
        let fallback = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<HashMap<String, FileEntry>>(&b).ok())
            .unwrap_or_default();
        ChecksumCache { file, fallback, dirty: false, xattrs_unsupported: false, hashed: 0 }
    }

    /// The cached md5 of `path` (relative name `rel`) if it was computed for exactly this size and mtime.
    pub fn lookup(&self, path: &Path, rel: &str, stamp: Stamp) -> Option<String> {
        self.lookup_given(read_xattr(path).as_ref(), rel, stamp)
    }

    /// `lookup` with the xattr already read (by the walk, which does it while the remote listing is on
    /// its way: a warm re-scan's cost is one `lgetxattr` per file).
    fn lookup_given(&self, xattr: Option<&XattrEntry>, rel: &str, stamp: Stamp) -> Option<String> {
        if let Some((md5, s)) = xattr {
            if *s == stamp {
                return Some(md5.clone());
            }
        }
        self.fallback.get(rel).filter(|e| e.stamp == stamp).map(|e| e.md5.clone())
    }

    /// md5 of the file: from the cache, else read (and remembered). `stamp` is what the caller's stat
    /// saw; if the file changes while it is read, the result is not cached (the next scan reads again).
    pub fn md5(&mut self, path: &Path, rel: &str, stamp: Stamp) -> std::io::Result<String> {
        let xattr = read_xattr(path);
        self.md5_given(xattr.as_ref(), path, rel, stamp)
    }

    /// `md5` with the file's xattr as read earlier (`None`: it had none, or it was not read).
    pub fn md5_given(
        &mut self,
        xattr: Option<&XattrEntry>,
        path: &Path,
        rel: &str,
        stamp: Stamp,
    ) -> std::io::Result<String> {
        if let Some(m) = self.lookup_given(xattr, rel, stamp) {
            return Ok(m);
        }
        self.hashed += 1;
        let md5 = hash_file(path, stamp.size)?;
        let after = Stamp::of(&std::fs::metadata(path)?);
        if after == stamp {
            self.remember(path, rel, stamp, &md5);
        }
        Ok(md5)
    }

    fn remember(&mut self, path: &Path, rel: &str, stamp: Stamp, md5: &str) {
        if !self.xattrs_unsupported {
            let Some(value) = format_value(md5, stamp) else { return };
            match set_xattr(path, &value) {
                Ok(()) => {
                    if self.fallback.remove(rel).is_some() {
                        self.dirty = true;
                    }
                    return;
                }
                Err(e) if xattrs_unusable(&e) => self.xattrs_unsupported = true,
                // Any other failure (the file vanished, ...) is the next scan's problem: it reads again.
                Err(_) => return,
            }
        }
        self.fallback.insert(rel.to_string(), FileEntry { md5: md5.to_string(), stamp });
        self.dirty = true;
    }

    /// Forget entries for files no longer in the tree (keeps the fallback file from growing forever).
    pub fn retain(&mut self, live: impl Fn(&str) -> bool) {
        let before = self.fallback.len();
        self.fallback.retain(|k, _| live(k));
        self.dirty |= self.fallback.len() != before;
    }

    /// Write the fallback file if it changed (atomically, 0600 in a 0700 folder).
    pub fn save(&mut self) -> Result<(), String> {
        if !self.dirty {
            return Ok(());
        }
        let say = |e: std::io::Error| format!("cannot write the checksum cache {}: {e}", self.file.display());
        if let Some(dir) = self.file.parent() {
            crate::private::create_folder(dir).map_err(say)?;
        }
        let body = serde_json::to_vec(&self.fallback).map_err(|e| say(std::io::Error::other(e)))?;
        let tmp = self.file.with_extension("tmp");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(say)?;
            f.write_all(&body).map_err(say)?;
        }
        std::fs::rename(&tmp, &self.file).map_err(say)?;
        self.dirty = false;
        Ok(())
    }

    /// True when this scan had to fall back to the cache file.
    pub fn uses_file(&self) -> bool {
        self.xattrs_unsupported || !self.fallback.is_empty()
    }
}

/// The JSON file that stands in for xattrs in scans of `root`.
pub(crate) fn fallback_file(cache_base: &Path, root: &Path) -> PathBuf {
    let key = hex::encode(Md5::digest(root.as_os_str().as_bytes()));
    cache_base.join("scan").join(format!("{key}.checksums.json"))
}

/// What the xattr of a file says: an md5 and the size and mtime it was computed for.
pub type XattrEntry = (String, Stamp);

/// The file's checksum xattr, if it has a well-formed one (whether it is still valid is the caller's
/// comparison of the stamp).
pub fn read_xattr(path: &Path) -> Option<XattrEntry> {
    get_xattr(path).and_then(|v| parse_value(&v))
}

fn xattrs_unusable(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EROFS) | Some(libc::EPERM) | Some(libc::EACCES))
}

/// md5 of a file read in large blocks; `UnexpectedEof`-style errors are left to the caller's stat.
pub fn hash_file(path: &Path, size_hint: u64) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; size_hint.clamp(4096, 1 << 20) as usize];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Binary, 37 bytes: version 1, md5 (16), size (u64 LE), mtime seconds (i64 LE), nanoseconds (u32 LE).
/// Small enough to live inside an ext4 inode (a text form spills into a separate block per file, which
/// made a warm re-scan of 100,000 files markedly slower).
pub(crate) fn format_value(md5: &str, s: Stamp) -> Option<Vec<u8>> {
    let raw = hex::decode(md5).ok().filter(|r| r.len() == 16)?;
    let mut v = Vec::with_capacity(VALUE_LEN);
    v.push(1u8);
    v.extend_from_slice(&raw);
    v.extend_from_slice(&s.size.to_le_bytes());
    v.extend_from_slice(&s.mtime_sec.to_le_bytes());
    v.extend_from_slice(&(s.mtime_nsec as u32).to_le_bytes());
    Some(v)
}

const VALUE_LEN: usize = 37;

pub(crate) fn parse_value(v: &[u8]) -> Option<(String, Stamp)> {
    if v.len() != VALUE_LEN || v[0] != 1 {
        return None;
    }
    let md5 = hex::encode(&v[1..17]);
    let size = u64::from_le_bytes(v[17..25].try_into().ok()?);
    let mtime_sec = i64::from_le_bytes(v[25..33].try_into().ok()?);
    let mtime_nsec = u32::from_le_bytes(v[33..37].try_into().ok()?) as i64;
    Some((md5, Stamp { size, mtime_sec, mtime_nsec }))
}

fn cpath(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
}

fn get_xattr(path: &Path) -> Option<Vec<u8>> {
    let p = cpath(path).ok()?;
    let name = CString::new(XATTR).ok()?;
    let mut buf = [0u8; 128];
    // SAFETY: valid NUL-terminated strings and a buffer of the stated length.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n > 0).then(|| buf[..n as usize].to_vec())
}

fn set_xattr(path: &Path, value: &[u8]) -> std::io::Result<()> {
    let p = cpath(path)?;
    let name = CString::new(XATTR).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid NUL-terminated strings and a value buffer of the stated length.
    let r = unsafe { libc::lsetxattr(p.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_garbage_is_a_miss() {
        let s = Stamp { size: 12, mtime_sec: 1_700_000_000, mtime_nsec: 5 };
        let v = format_value("d41d8cd98f00b204e9800998ecf8427e", s).unwrap();
        assert_eq!(v.len(), VALUE_LEN);
        assert_eq!(parse_value(&v), Some(("d41d8cd98f00b204e9800998ecf8427e".into(), s)));
        let mut other_version = v.clone();
        other_version[0] = 2;
        for bad in [&b""[..], &v[..36], &other_version, b"v1 d41d8cd98f00b204e9800998ecf8427e 12 1.5"] {
            assert_eq!(parse_value(bad), None, "{bad:?}");
        }
        assert_eq!(format_value("not hex", s), None);
    }
}
