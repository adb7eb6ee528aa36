//! The one model of the service: an account's tree (`tree`), its mutations (`ops`), their durability
//! (`persist`), namespace edits (`edit`) and uploads (`uploads`), plus the content blobs. Everything
//! runs under one mutex held by the HTTP layer; methods never block on the network, only on small
//! local file operations (log appends, renames).

pub mod by_path;
pub mod edit;
pub mod ops;
pub mod persist;
pub mod tree;
pub mod uploads;

use super::blobs::Blobs;
use super::errors::{Failure, Outcome};
use super::timefmt;
use ops::{Entry, Op, State};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use tree::{ItemId, Kind, ROOT};

/// The built-in device and the mount points it lists.
pub const JOTTA: &str = "Jotta";
pub const BUILTIN_MOUNT_POINTS: [&str; 4] = ["Archive", "Latest", "Shared", "Sync"];

/// Byte totals derived from the tree: per-mount-point live bytes and account usage. Computing them
/// walks every node, so they are cached until the next change.
pub struct Sizes {
    pub per_mount_point: HashMap<ItemId, u64>,
    pub usage: u64,
}

pub struct Store {
    pub state: State,
    pub blobs: Blobs,
    seq: u64,
    log: persist::Log,
    dir: PathBuf,
    sizes: OnceCell<Sizes>,
}

impl Store {
    /// Load (or create) the account in `dir`. Returns the store and whether the directory was new.
    pub fn open(dir: &Path, user: &str) -> io::Result<(Store, bool)> {
        std::fs::create_dir_all(dir)?;
        let (mut state, seq, fresh) = persist::load(dir, user)?;
        let blobs = Blobs::open(dir)?;
        // The part files are the truth about partial uploads: bytes may have reached the disk after
        // the last logged progress (kill -9 mid-upload).
        for p in state.uploads.values_mut() {
            p.received = std::fs::metadata(blobs.part_path(&p.id)).map(|m| m.len()).unwrap_or(0).min(p.size);
        }
        let log = persist::compact(dir, &state, seq)?;
        let mut store = Store { state, blobs, seq, log, dir: dir.to_path_buf(), sizes: OnceCell::new() };
        store.ensure_builtins()?;
        Ok((store, fresh))
    }

    /// Apply a change and append it to the log before anyone is told about it.
    pub fn commit(&mut self, op: Op) -> Outcome<()> {
        self.seq += 1;
        let entry = Entry { seq: self.seq, t: timefmt::now(), op };
        self.state.apply(entry.t, &entry.op);
        self.sizes = OnceCell::new();
        self.log.append(&entry).map_err(|e| {
            log::error!("emulator: cannot append to {}: {e}", self.log.path().display());
            Failure::from_io(e)
        })
    }

    /// Fold the log into a fresh snapshot (start and shutdown).
    pub fn compact(&mut self) -> io::Result<()> {
        self.log = persist::compact(&self.dir, &self.state, self.seq)?;
        Ok(())
    }

    pub fn sizes(&self) -> &Sizes {
        self.sizes
            .get_or_init(|| Sizes { per_mount_point: self.state.tree.live_sizes(), usage: self.state.tree.usage() })
    }

    pub fn user(&self) -> &str {
        self.state.tree.get(ROOT).map(|n| n.name.as_str()).unwrap_or("")
    }

    pub fn alloc_id(&mut self) -> ItemId {
        let id = self.state.next_id;
        self.state.next_id += 1;
        id
    }

    fn ensure_builtins(&mut self) -> io::Result<()> {
        let to_io = |f: Failure| io::Error::other(f.message);
        let jotta = match self.state.tree.child_live(ROOT, JOTTA) {
            Some(id) => id,
            None => self.create_device(JOTTA, "JOTTA").map_err(to_io)?.0,
        };
        for mp in BUILTIN_MOUNT_POINTS {
            if self.state.tree.child_live(jotta, mp).is_none() {
                self.create_mount_point(jotta, mp).map_err(to_io)?;
            }
        }
        Ok(())
    }

    /// Create a device (type `WORKSTATION`, `LAPTOP`, ...); an existing one is returned unchanged.
    pub fn create_device(&mut self, name: &str, dtype: &str) -> Outcome<(ItemId, bool)> {
        if let Some(id) = self.state.tree.child_live(ROOT, name) {
            return Ok((id, false));
        }
        let id = self.alloc_id();
        let kind = Kind::Device { dtype: dtype.to_string(), sid: super::ids::uuid() };
        self.commit(Op::Create { id, parent: ROOT, name: name.to_string(), kind })?;
        Ok((id, true))
    }

    pub fn create_mount_point(&mut self, device: ItemId, name: &str) -> Outcome<(ItemId, bool)> {
        if let Some(id) = self.state.tree.child_live(device, name) {
            return Ok((id, false));
        }
        let id = self.alloc_id();
        self.commit(Op::Create { id, parent: device, name: name.to_string(), kind: Kind::MountPoint })?;
        Ok((id, true))
    }

    /// The live device of that name.
    pub fn device(&self, name: &str) -> Outcome<ItemId> {
        self.state
            .tree
            .child_live(ROOT, name)
            .ok_or_else(|| Failure::no_such_mount_point(format!("Device /{}/{name} does not exist", self.user())))
    }
}
