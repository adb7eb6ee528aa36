//! Durability: an append-only JSON-lines mutation log (`log.jsonl`), written before a response is
//! sent (not fsynced: survives `kill -9`, not power loss), and a snapshot (`snapshot.json`) that
//! compacts it on start and shutdown. Log lines carry sequence numbers and the snapshot records the
//! last one it contains, so a crash between writing the snapshot and truncating the log never applies
//! a change twice. A torn last line (killed mid-write) is ignored.

use super::ops::{Entry, Pending, State};
use super::tree::{StoredItem, Tree};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
struct Snapshot {
    seq: u64,
    next_id: u64,
    nodes: Vec<StoredItem>,
    uploads: Vec<Pending>,
}

pub struct Log {
    path: PathBuf,
    file: File,
}

fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join("snapshot.json")
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("log.jsonl")
}

/// Load snapshot + log. Returns the state, the last sequence number, and whether the directory held
/// no state at all (a new account).
pub fn load(dir: &Path, user: &str) -> io::Result<(State, u64, bool)> {
    let snap = snapshot_path(dir);
    let logp = log_path(dir);
    let fresh = !snap.exists() && !logp.exists();
    let mut state = State::new(user);
    let mut seq = 0;
    if snap.exists() {
        let reader = BufReader::new(File::open(&snap)?);
        let s: Snapshot = serde_json::from_reader(reader)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", snap.display())))?;
        seq = s.seq;
        state.tree = Tree::from_nodes(user, s.nodes);
        state.next_id = s.next_id;
        state.uploads = s.uploads.into_iter().map(|p| (p.id.clone(), p)).collect();
    }
    if logp.exists() {
        let lines: Vec<String> = BufReader::new(File::open(&logp)?).lines().collect::<io::Result<_>>()?;
        let last = lines.len().saturating_sub(1);
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(line) {
                Ok(e) if e.seq > seq => {
                    state.apply(e.t, &e.op);
                    seq = e.seq;
                }
                Ok(_) => {}
                Err(e) if i == last => log::warn!("emulator: ignoring torn last log line: {e}"),
                Err(e) => log::warn!("emulator: skipping unreadable log line {}: {e}", i + 1),
            }
        }
    }
    Ok((state, seq, fresh))
}

/// Write a snapshot atomically, then start an empty log.
pub fn compact(dir: &Path, state: &State, seq: u64) -> io::Result<Log> {
    let snap = snapshot_path(dir);
    let tmp = dir.join("snapshot.json.tmp");
    {
        let mut w = BufWriter::new(File::create(&tmp)?);
        let mut nodes: Vec<&StoredItem> = state.tree.nodes.values().collect();
        nodes.sort_by_key(|n| n.id);
        let s = SnapshotRef { seq, next_id: state.next_id, nodes, uploads: state.uploads.values().collect() };
        serde_json::to_writer(&mut w, &s).map_err(io::Error::other)?;
        w.flush()?;
    }
    std::fs::rename(&tmp, &snap)?;
    let path = log_path(dir);
    let file = File::create(&path)?;
    Ok(Log { path, file })
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    seq: u64,
    next_id: u64,
    nodes: Vec<&'a StoredItem>,
    uploads: Vec<&'a Pending>,
}

impl Log {
    /// One line per change, in a single write so a crash tears at most the last line.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
