//! The durable upload journal: one small JSON record per file waiting to reach JottaCloud, beside the
//! staging file that holds its bytes. A record is written (temp file, fsync, rename, fsync of the folder)
//! before `close()` returns, and removed only after the server confirmed the upload, so a `kill -9` or a
//! reboot in between loses nothing: the next mount of the same account finds the records and uploads them.
//!
//! Layout under the account's cache folder: `staging/<id>` (content) and `journal/<id>.json` (record).

use crate::remote::UnixTime;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: u64,
    /// Where the file must end up, as `/Device/MountPoint/...`.
    pub path: String,
    pub size: u64,
    pub md5: String,
    pub mtime: UnixTime,
    /// Why the last attempt failed, for `jotta status` (kept across restarts).
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Journal {
    root: PathBuf,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Open (creating if needed) the journal for one account under `root`.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(root.join("staging"))?;
        fs::create_dir_all(root.join("journal"))?;
        Ok(Journal { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn staging_path(&self, id: u64) -> PathBuf {
        self.root.join("staging").join(format!("{id:016x}"))
    }

    fn record_path(&self, id: u64) -> PathBuf {
        self.root.join("journal").join(format!("{id:016x}.json"))
    }

    /// A fresh id that no staging file or record uses yet.
    pub fn new_id(&self) -> u64 {
        loop {
            let id = rand::random::<u64>() >> 1;
            if !self.staging_path(id).exists() && !self.record_path(id).exists() {
                return id;
            }
        }
    }

    /// Durably record (or replace) an entry. When this returns Ok the record survives a crash.
    pub fn write(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let dir = self.root.join("journal");
        let tmp = dir.join(format!(".{:016x}.tmp", entry.id));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.record_path(entry.id))?;
        sync_dir(&dir)
    }

    /// Forget only the record (the staging file is still the file's local copy).
    pub fn remove_record(&self, id: u64) {
        let _ = fs::remove_file(self.record_path(id));
        let _ = sync_dir(&self.root.join("journal"));
    }

    /// Forget an entry and its staging file (after the server confirmed it, or when the file was deleted).
    pub fn remove(&self, id: u64) {
        let _ = fs::remove_file(self.record_path(id));
        let _ = fs::remove_file(self.staging_path(id));
        let _ = sync_dir(&self.root.join("journal"));
    }

    /// Every record left by an earlier run, oldest first; unreadable records are reported and kept aside.
    pub fn pending(&self) -> Vec<JournalEntry> {
        let mut out = Vec::new();
        let Ok(dir) = fs::read_dir(self.root.join("journal")) else { return out };
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match fs::read(&p).ok().and_then(|b| serde_json::from_slice::<JournalEntry>(&b).ok()) {
                Some(entry) if self.staging_path(entry.id).exists() => out.push(entry),
                Some(entry) => log::error!(
                    "journal record {} for {} has lost its staging file; the content cannot be recovered",
                    p.display(),
                    entry.path
                ),
                None => {
                    let aside = p.with_extension("broken");
                    log::error!("unreadable journal record {} moved to {}", p.display(), aside.display());
                    let _ = fs::rename(&p, aside);
                }
            }
        }
        out.sort_by_key(|e| (e.mtime, e.id));
        out
    }

    /// Staging files with no record: left by writers that never closed before a crash. Removed (only at
    /// mount time, before any staging file is in use).
    pub fn sweep_orphans(&self) {
        let records: std::collections::HashSet<String> = fs::read_dir(self.root.join("journal"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.path().file_stem().and_then(|s| s.to_str()).map(str::to_string))
            .collect();
        for e in fs::read_dir(self.root.join("staging")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !records.contains(&name) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_broken_ones_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let id = j.new_id();
        fs::write(j.staging_path(id), b"data").unwrap();
        let e =
            JournalEntry { id, path: "/Jotta/Archive/a".into(), size: 4, md5: "x".into(), mtime: 5, last_error: None };
        j.write(&e).unwrap();
        fs::write(dir.path().join("journal/bad.json"), b"{not json").unwrap();
        let orphan = j.new_id();
        fs::write(j.staging_path(orphan), b"orphan").unwrap();
        let j2 = Journal::open(dir.path()).unwrap();
        assert_eq!(j2.pending(), vec![e]);
        assert!(dir.path().join("journal/bad.broken").exists());
        j2.sweep_orphans();
        assert!(!j2.staging_path(orphan).exists());
        assert!(j2.staging_path(id).exists());
        j2.remove(id);
        assert!(j2.pending().is_empty());
    }
}
