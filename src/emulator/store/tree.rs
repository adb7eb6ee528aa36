//! The account's namespace as one tree of nodes: root (the user) -> devices -> mount points -> folders
//! and files. Names are case-insensitive and case-preserving: every container indexes its children by
//! lowercase name twice, an ordered set (stable, alphabetical listings) and a map of the *live* child
//! per name (O(1) lookups at 100,000 entries). Deleted nodes stay in the order set, flagged, so listings
//! keep showing them; at most one live node per name, any number of deleted ones.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

pub type ItemId = u64;

/// The root node's id; the root is implicit (never logged) and named after the user.
pub const ROOT: ItemId = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevState {
    Completed,
    Incomplete,
    Corrupt,
}

impl RevState {
    pub fn as_str(self) -> &'static str {
        match self {
            RevState::Completed => "COMPLETED",
            RevState::Incomplete => "INCOMPLETE",
            RevState::Corrupt => "CORRUPT",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revision {
    pub number: u32,
    pub state: RevState,
    pub created: i64,
    pub modified: i64,
    /// Server time the revision was stored.
    pub updated: i64,
    /// Lowercase hex; for CORRUPT the declared (mismatching) hash.
    pub md5: String,
    /// Declared size; the content blob is keyed by (md5, size) once COMPLETED.
    pub size: u64,
    pub mime: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileData {
    pub uuid: String,
    /// Ascending by number; every upload attempt adds one.
    pub revisions: Vec<Revision>,
    pub public_uri: Option<String>,
}

impl FileData {
    /// Newest completed revision: what downloads serve.
    pub fn current(&self) -> Option<&Revision> {
        self.revisions.iter().rev().find(|r| r.state == RevState::Completed)
    }

    /// The newest revision when it is a failed or in-progress attempt.
    pub fn latest_failed(&self) -> Option<&Revision> {
        self.revisions.last().filter(|r| r.state != RevState::Completed)
    }

    pub fn next_number(&self) -> u32 {
        self.revisions.last().map(|r| r.number + 1).unwrap_or(1)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Kind {
    Root,
    Device { dtype: String, sid: String },
    MountPoint,
    Folder,
    File(FileData),
}

#[derive(Debug, Clone, Default)]
pub struct Children {
    pub order: BTreeSet<(String, ItemId)>,
    pub live: HashMap<String, ItemId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredItem {
    pub id: ItemId,
    pub parent: Option<ItemId>,
    pub name: String,
    pub kind: Kind,
    pub deleted: Option<i64>,
    /// Last change below a mount point/device; folders carry none on the service.
    pub modified: Option<i64>,
    #[serde(skip)]
    pub children: Children,
}

impl StoredItem {
    pub fn is_file(&self) -> bool {
        matches!(self.kind, Kind::File(_))
    }
    pub fn is_container(&self) -> bool {
        !self.is_file()
    }
    pub fn file(&self) -> Option<&FileData> {
        match &self.kind {
            Kind::File(f) => Some(f),
            _ => None,
        }
    }
    pub fn file_mut(&mut self) -> Option<&mut FileData> {
        match &mut self.kind {
            Kind::File(f) => Some(f),
            _ => None,
        }
    }
}

pub fn key(name: &str) -> String {
    name.to_lowercase()
}

#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: HashMap<ItemId, StoredItem>,
}

impl Tree {
    pub fn new(user: &str) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            StoredItem {
                id: ROOT,
                parent: None,
                name: user.to_string(),
                kind: Kind::Root,
                deleted: None,
                modified: None,
                children: Children::default(),
            },
        );
        Tree { nodes }
    }

    /// Rebuild from a snapshot's flat node list (children indexes are derived, not stored).
    pub fn from_nodes(user: &str, list: Vec<StoredItem>) -> Self {
        let mut tree = Tree::new(user);
        for n in list.into_iter().filter(|n| n.id != ROOT) {
            tree.nodes.insert(n.id, n);
        }
        let links: Vec<(ItemId, ItemId, String, bool)> = tree
            .nodes
            .values()
            .filter_map(|n| n.parent.map(|p| (p, n.id, key(&n.name), n.deleted.is_none())))
            .collect();
        for (parent, id, k, live) in links {
            if let Some(p) = tree.nodes.get_mut(&parent) {
                if live {
                    p.children.live.insert(k.clone(), id);
                }
                p.children.order.insert((k, id));
            }
        }
        tree
    }

    pub fn get(&self, id: ItemId) -> Option<&StoredItem> {
        self.nodes.get(&id)
    }

    pub fn get_mut(&mut self, id: ItemId) -> Option<&mut StoredItem> {
        self.nodes.get_mut(&id)
    }

    pub fn child_live(&self, parent: ItemId, name: &str) -> Option<ItemId> {
        self.get(parent).and_then(|p| p.children.live.get(&key(name)).copied())
    }

    /// The live child of that name, else the most recently deleted one (so a trashed item is still
    /// reachable at its old path, as on the service).
    pub fn child_any(&self, parent: ItemId, name: &str) -> Option<ItemId> {
        if let Some(id) = self.child_live(parent, name) {
            return Some(id);
        }
        let p = self.get(parent)?;
        let k = key(name);
        p.children
            .order
            .range((k.clone(), 0)..=(k, ItemId::MAX))
            .filter_map(|(_, id)| self.get(*id))
            .max_by_key(|n| (n.deleted.unwrap_or(0), n.id))
            .map(|n| n.id)
    }

    pub fn resolve(&self, segs: &[String]) -> Option<ItemId> {
        segs.iter().try_fold(ROOT, |id, s| self.child_any(id, s))
    }

    /// Every node at this name path through live and trashed folders alike: once a folder was trashed
    /// and one of its files restored (re-creating a live folder of that name), the trashed siblings are
    /// still reachable at their old paths, behind the live folder.
    pub fn resolve_all(&self, segs: &[String]) -> Vec<ItemId> {
        let mut found = vec![ROOT];
        for s in segs {
            let k = key(s);
            found = found
                .iter()
                .filter_map(|p| self.get(*p))
                .flat_map(|p| p.children.order.range((k.clone(), 0)..=(k.clone(), ItemId::MAX)).map(|(_, id)| *id))
                .collect();
        }
        found
    }

    pub fn resolve_live(&self, segs: &[String]) -> Option<ItemId> {
        segs.iter().try_fold(ROOT, |id, s| self.child_live(id, s))
    }

    /// Attach a node (its `parent` set) to its parent's indexes.
    pub fn insert(&mut self, node: StoredItem) {
        let (id, parent, k, live) = (node.id, node.parent, key(&node.name), node.deleted.is_none());
        self.nodes.insert(id, node);
        if let Some(p) = parent.and_then(|p| self.nodes.get_mut(&p)) {
            if live {
                p.children.live.insert(k.clone(), id);
            }
            p.children.order.insert((k, id));
        }
    }

    fn unlink(&mut self, id: ItemId) {
        let (parent, k) = match self.get(id) {
            Some(n) => (n.parent, key(&n.name)),
            None => return,
        };
        if let Some(p) = parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.order.remove(&(k.clone(), id));
            if p.children.live.get(&k) == Some(&id) {
                p.children.live.remove(&k);
            }
        }
    }

    /// Re-parent and/or rename; the node keeps its id (and a file its uuid).
    pub fn move_node(&mut self, id: ItemId, parent: ItemId, name: &str) {
        self.unlink(id);
        let live = match self.nodes.get_mut(&id) {
            Some(n) => {
                n.parent = Some(parent);
                n.name = name.to_string();
                n.deleted.is_none()
            }
            None => return,
        };
        let k = key(name);
        if let Some(p) = self.nodes.get_mut(&parent) {
            if live {
                p.children.live.insert(k.clone(), id);
            }
            p.children.order.insert((k, id));
        }
    }

    /// Every node of the subtree, `id` first (pre-order).
    pub fn subtree(&self, id: ItemId) -> Vec<ItemId> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            out.push(n);
            if let Some(node) = self.get(n) {
                stack.extend(node.children.order.iter().rev().map(|(_, c)| *c));
            }
        }
        out
    }

    /// Soft delete a subtree: every node gets the deletion time and leaves the live indexes.
    pub fn delete_subtree(&mut self, id: ItemId, t: i64) {
        for n in self.subtree(id) {
            let (parent, k) = match self.get(n) {
                Some(node) if node.deleted.is_none() => (node.parent, key(&node.name)),
                _ => continue,
            };
            if let Some(p) = parent.and_then(|p| self.nodes.get_mut(&p)) {
                if p.children.live.get(&k) == Some(&n) {
                    p.children.live.remove(&k);
                }
            }
            if let Some(node) = self.nodes.get_mut(&n) {
                node.deleted = Some(t);
            }
        }
    }

    /// Bring one node back to life under `parent` (callers make sure the name is free there).
    pub fn undelete(&mut self, id: ItemId, parent: ItemId, name: &str) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.deleted = None;
        }
        self.move_node(id, parent, name);
    }

    /// Remove a subtree for good; returns (folders, files) removed.
    pub fn remove_subtree(&mut self, id: ItemId) -> (u64, u64) {
        let ids = self.subtree(id);
        self.unlink(id);
        let (mut folders, mut files) = (0, 0);
        for n in ids {
            if let Some(node) = self.nodes.remove(&n) {
                if node.is_file() {
                    files += 1;
                } else {
                    folders += 1;
                }
            }
        }
        (folders, files)
    }

    /// Names from the root to the node, root (user) included.
    pub fn names(&self, id: ItemId) -> Vec<&str> {
        let mut out = Vec::new();
        let mut cur = self.get(id);
        while let Some(n) = cur {
            out.push(n.name.as_str());
            cur = n.parent.and_then(|p| self.get(p));
        }
        out.reverse();
        out
    }

    /// `/<user>/<device>/...` of the node itself.
    pub fn abs_path(&self, id: ItemId) -> String {
        let mut s = String::new();
        for n in self.names(id) {
            s.push('/');
            s.push_str(n);
        }
        s
    }

    /// `/<user>/<device>/...` of the node's parent (what `path`/`abspath` elements hold).
    pub fn parent_path(&self, id: ItemId) -> String {
        match self.get(id).and_then(|n| n.parent) {
            Some(p) => self.abs_path(p),
            None => String::new(),
        }
    }

    /// The ancestor (or self) at the given depth.
    pub fn ancestor_at(&self, id: ItemId, depth: usize) -> Option<ItemId> {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            chain.push(c);
            cur = self.get(c).and_then(|n| n.parent);
        }
        chain.reverse();
        chain.get(depth).copied()
    }

    /// Bytes of current revisions of live files, per mount point id.
    pub fn live_sizes(&self) -> HashMap<ItemId, u64> {
        let mut out = HashMap::new();
        for n in self.nodes.values() {
            if n.deleted.is_some() {
                continue;
            }
            if let Some(size) = n.file().and_then(|f| f.current()).map(|r| r.size) {
                if let Some(mp) = self.ancestor_at(n.id, 2) {
                    *out.entry(mp).or_insert(0) += size;
                }
            }
        }
        out
    }

    /// Account usage: current revisions of live *and* trashed files (trash still occupies space until
    /// purged; old revisions are not counted, matching the "current bytes" figure the web UI shows).
    pub fn usage(&self) -> u64 {
        self.nodes.values().filter_map(|n| n.file().and_then(|f| f.current()).map(|r| r.size)).sum()
    }
}
