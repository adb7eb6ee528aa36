//! Mutations of the store, as logged records. Every change goes through `apply`, live and at replay,
//! and every record carries all the values it needs (ids, uuids, times), so replaying the log after a
//! crash rebuilds exactly the state clients saw.

use super::tree::{FileData, ItemId, Kind, RevState, Revision, StoredItem, Tree};
use crate::emulator::ids;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An upload allocated but not finished; its bytes so far are in `uploads/<id>.part`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    pub node: ItemId,
    /// The INCOMPLETE revision this upload will complete.
    pub number: u32,
    pub md5: String,
    pub size: u64,
    pub received: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        id: ItemId,
        parent: ItemId,
        name: String,
        kind: Kind,
    },
    /// Insert a revision, or replace the one with the same number.
    PutRevision {
        node: ItemId,
        rev: Revision,
    },
    Delete {
        node: ItemId,
    },
    Restore {
        node: ItemId,
        parent: ItemId,
        name: String,
    },
    Move {
        node: ItemId,
        parent: ItemId,
        name: String,
    },
    Remove {
        node: ItemId,
    },
    Share {
        node: ItemId,
        uri: Option<String>,
    },
    UploadOpen {
        upload: Pending,
    },
    UploadProgress {
        id: String,
        received: u64,
    },
    UploadClose {
        id: String,
    },
    /// A synthetic tree: `dirs` folders of `files_per_dir` files sharing one blob.
    Seed {
        parent: ItemId,
        first_id: ItemId,
        dirs: u64,
        files_per_dir: u64,
        md5: String,
        size: u64,
        uuid_seed: u64,
    },
}

/// One log line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// Server time of the change.
    pub t: i64,
    pub op: Op,
}

pub struct State {
    pub tree: Tree,
    pub uploads: HashMap<String, Pending>,
    pub next_id: ItemId,
}

impl State {
    pub fn new(user: &str) -> Self {
        State { tree: Tree::new(user), uploads: HashMap::new(), next_id: 1 }
    }

    /// Mount points and devices record their last change.
    fn touch(&mut self, node: ItemId, t: i64) {
        for depth in [1, 2] {
            if let Some(id) = self.tree.ancestor_at(node, depth) {
                if let Some(n) = self.tree.get_mut(id) {
                    n.modified = Some(t);
                }
            }
        }
    }

    pub fn apply(&mut self, t: i64, op: &Op) {
        match op {
            Op::Create { id, parent, name, kind } => {
                self.tree.insert(StoredItem {
                    id: *id,
                    parent: Some(*parent),
                    name: name.clone(),
                    kind: kind.clone(),
                    deleted: None,
                    modified: None,
                    children: Default::default(),
                });
                self.next_id = self.next_id.max(id + 1);
                self.touch(*id, t);
            }
            Op::PutRevision { node, rev } => {
                if let Some(f) = self.tree.get_mut(*node).and_then(|n| n.file_mut()) {
                    match f.revisions.iter_mut().find(|r| r.number == rev.number) {
                        Some(r) => *r = rev.clone(),
                        None => {
                            f.revisions.push(rev.clone());
                            f.revisions.sort_by_key(|r| r.number);
                        }
                    }
                }
                self.touch(*node, t);
            }
            Op::Delete { node } => {
                self.tree.delete_subtree(*node, t);
                self.touch(*node, t);
            }
            Op::Restore { node, parent, name } => {
                self.tree.undelete(*node, *parent, name);
                self.touch(*node, t);
            }
            Op::Move { node, parent, name } => {
                self.touch(*node, t);
                self.tree.move_node(*node, *parent, name);
                self.touch(*node, t);
            }
            Op::Remove { node } => {
                self.touch(*node, t);
                for id in self.tree.subtree(*node) {
                    self.uploads.retain(|_, p| p.node != id);
                }
                self.tree.remove_subtree(*node);
            }
            Op::Share { node, uri } => {
                if let Some(f) = self.tree.get_mut(*node).and_then(|n| n.file_mut()) {
                    f.public_uri = uri.clone();
                }
            }
            Op::UploadOpen { upload } => {
                self.uploads.insert(upload.id.clone(), upload.clone());
            }
            Op::UploadProgress { id, received } => {
                if let Some(p) = self.uploads.get_mut(id) {
                    p.received = *received;
                }
            }
            Op::UploadClose { id } => {
                self.uploads.remove(id);
            }
            Op::Seed { parent, first_id, dirs, files_per_dir, md5, size, uuid_seed } => {
                self.seed(t, *parent, *first_id, *dirs, *files_per_dir, md5, *size, *uuid_seed);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seed(
        &mut self,
        t: i64,
        parent: ItemId,
        first_id: ItemId,
        dirs: u64,
        files_per_dir: u64,
        md5: &str,
        size: u64,
        uuid_seed: u64,
    ) {
        let mut id = first_id;
        for d in 0..dirs {
            let dir_id = id;
            id += 1;
            self.tree.insert(StoredItem {
                id: dir_id,
                parent: Some(parent),
                name: format!("dir-{d:05}"),
                kind: Kind::Folder,
                deleted: None,
                modified: None,
                children: Default::default(),
            });
            for f in 0..files_per_dir {
                let name = format!("file-{f:05}.bin");
                let rev = Revision {
                    number: 1,
                    state: RevState::Completed,
                    created: t,
                    modified: t,
                    updated: t,
                    md5: md5.to_string(),
                    size,
                    mime: "application/octet-stream".to_string(),
                };
                self.tree.insert(StoredItem {
                    id,
                    parent: Some(dir_id),
                    name,
                    kind: Kind::File(FileData {
                        uuid: ids::uuid_from(uuid_seed, id),
                        revisions: vec![rev],
                        public_uri: None,
                    }),
                    deleted: None,
                    modified: None,
                    children: Default::default(),
                });
                id += 1;
            }
        }
        self.next_id = self.next_id.max(id);
        self.touch(parent, t);
    }
}
