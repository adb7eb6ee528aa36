//! Namespace edits: mkdir -p, revisions from known content, soft and permanent delete, move, copy,
//! restore, sharing and trash purging. Paths are account-relative segments `[device, mount point, ...]`.

use super::ops::Op;
use super::tree::{FileData, ItemId, Kind, RevState, Revision};
use super::Store;
use crate::emulator::errors::{Failure, Outcome};
use crate::emulator::{ids, mime, timefmt};

impl Store {
    fn display(&self, segs: &[String]) -> String {
        format!("/{}/{}", self.user(), segs.join("/"))
    }

    /// mkdir -p for `[device, mount point, folders...]`; a missing mount point is created too.
    pub fn mkdir_p(&mut self, segs: &[String]) -> Outcome<ItemId> {
        let Some(device) = segs.first() else {
            return Err(Failure::bad_request("path too short"));
        };
        let dev = self.device(device)?;
        let Some(mp_name) = segs.get(1) else {
            return Ok(dev);
        };
        let (mut cur, _) = self.create_mount_point(dev, mp_name)?;
        for name in &segs[2..] {
            cur = match self.state.tree.child_live(cur, name) {
                Some(id) if self.state.tree.get(id).map(|n| n.is_file()).unwrap_or(false) => {
                    return Err(Failure::conflict(format!("{} is a file", self.display(segs))));
                }
                Some(id) => id,
                None => {
                    let id = self.alloc_id();
                    self.commit(Op::Create { id, parent: cur, name: name.clone(), kind: Kind::Folder })?;
                    id
                }
            };
        }
        Ok(cur)
    }

    /// A live file node at `parent/name`, created without revisions if absent.
    pub fn file_at(&mut self, parent: ItemId, name: &str) -> Outcome<ItemId> {
        match self.state.tree.child_live(parent, name) {
            Some(id) => match self.state.tree.get(id) {
                Some(n) if n.is_file() => Ok(id),
                _ => Err(Failure::conflict(format!("{name} is a folder"))),
            },
            None => {
                let id = self.alloc_id();
                let kind = Kind::File(FileData { uuid: ids::uuid(), revisions: Vec::new(), public_uri: None });
                self.commit(Op::Create { id, parent, name: name.to_string(), kind })?;
                Ok(id)
            }
        }
    }

    /// Add the next revision of a file with a state; the content must be in the blob store when
    /// `state` is COMPLETED.
    pub fn add_revision(
        &mut self,
        node: ItemId,
        state: RevState,
        md5: &str,
        size: u64,
        created: i64,
        modified: i64,
    ) -> Outcome<u32> {
        let n = self.state.tree.get(node).ok_or_else(|| Failure::not_found("file vanished"))?;
        let number = n.file().map(|f| f.next_number()).unwrap_or(1);
        let rev = Revision {
            number,
            state,
            created,
            modified,
            updated: timefmt::now(),
            md5: md5.to_string(),
            size,
            mime: mime::for_name(&n.name).to_string(),
        };
        self.commit(Op::PutRevision { node, rev })?;
        Ok(number)
    }

    /// Make `parent/name` hold known content as a new completed revision (new file if absent).
    pub fn put_content(
        &mut self,
        parent: ItemId,
        name: &str,
        md5: &str,
        size: u64,
        created: i64,
        modified: i64,
    ) -> Outcome<ItemId> {
        let node = self.file_at(parent, name)?;
        self.add_revision(node, RevState::Completed, md5, size, created, modified)?;
        Ok(node)
    }

    /// Change the times of the current revision in place (cphash on identical content): no new
    /// revision, because no content changed.
    pub fn set_times(&mut self, node: ItemId, created: i64, modified: i64) -> Outcome<()> {
        let rev = self
            .state
            .tree
            .get(node)
            .and_then(|n| n.file())
            .and_then(|f| f.current())
            .cloned()
            .ok_or_else(|| Failure::not_found("no completed revision"))?;
        let rev = Revision { created, modified, updated: timefmt::now(), ..rev };
        self.commit(Op::PutRevision { node, rev })
    }

    /// Soft delete (to trash); deleting something already deleted changes nothing.
    pub fn soft_delete(&mut self, node: ItemId) -> Outcome<()> {
        match self.state.tree.get(node) {
            Some(n) if n.deleted.is_none() => self.commit(Op::Delete { node }),
            _ => Ok(()),
        }
    }

    pub fn remove(&mut self, node: ItemId) -> Outcome<()> {
        self.commit(Op::Remove { node })
    }

    /// Split `[device, mp, ..., name]` into the (created) live parent and the name.
    fn dest_parent(&mut self, dest: &[String]) -> Outcome<(ItemId, String)> {
        if dest.len() < 3 {
            return Err(Failure::bad_request(format!("Invalid destination {}", self.display(dest))));
        }
        let parent = self.mkdir_p(&dest[..dest.len() - 1])?;
        Ok((parent, dest[dest.len() - 1].clone()))
    }

    /// Move/rename a file, keeping its uuid. A live file already at the destination is replaced and
    /// goes to the trash (so nothing is lost, and clients that `dl` the target first see the same
    /// result); a folder there is a conflict.
    pub fn move_file(&mut self, src: ItemId, dest: &[String]) -> Outcome<ItemId> {
        let (parent, name) = self.dest_parent(dest)?;
        match self.state.tree.child_live(parent, &name) {
            Some(id) if id == src => {}
            Some(id) => match self.state.tree.get(id) {
                Some(n) if n.is_file() => self.soft_delete(id)?,
                _ => return Err(Failure::conflict(format!("{} is a folder", self.display(dest)))),
            },
            None => {}
        }
        self.commit(Op::Move { node: src, parent, name })?;
        Ok(src)
    }

    /// Move/rename a folder with its subtree. An existing live destination is a conflict.
    pub fn move_folder(&mut self, src: ItemId, dest: &[String]) -> Outcome<ItemId> {
        let (parent, name) = self.dest_parent(dest)?;
        if self.state.tree.subtree(src).contains(&parent) {
            return Err(Failure::bad_request("Cannot move a folder into itself"));
        }
        if let Some(id) = self.state.tree.child_live(parent, &name) {
            if id != src {
                return Err(Failure::conflict(format!("Folder {} already exists", self.display(dest))));
            }
        }
        self.commit(Op::Move { node: src, parent, name })?;
        Ok(src)
    }

    /// Server-side copy: the destination gets the source's current content (no bytes move); a new
    /// file (new uuid) or, over an existing live file, a new revision of it.
    pub fn copy_file(&mut self, src: ItemId, dest: &[String]) -> Outcome<ItemId> {
        let rev = self
            .state
            .tree
            .get(src)
            .and_then(|n| n.file())
            .and_then(|f| f.current())
            .cloned()
            .ok_or_else(|| Failure::not_found("Source file has no completed revision"))?;
        let (parent, name) = self.dest_parent(dest)?;
        self.put_content(parent, &name, &rev.md5, rev.size, rev.created, rev.modified)
    }

    /// Bring a trashed file back to its original path (parents re-created as needed).
    pub fn restore_file(&mut self, node: ItemId) -> Outcome<()> {
        let (parent_segs, name) = {
            let tree = &self.state.tree;
            let n = tree.get(node).ok_or_else(|| Failure::not_found("file vanished"))?;
            let parent = n.parent.ok_or_else(|| Failure::bad_request("not a file"))?;
            let segs: Vec<String> = tree.names(parent).iter().skip(1).map(|s| s.to_string()).collect();
            (segs, n.name.clone())
        };
        let parent = self.mkdir_p(&parent_segs)?;
        if self.state.tree.child_live(parent, &name).is_some() {
            return Err(Failure::conflict(format!("{name} already exists")));
        }
        self.commit(Op::Restore { node, parent, name })
    }

    /// Empty the trash: every deleted item whose parent is not deleted goes, with its subtree.
    pub fn purge_trash(&mut self) -> Outcome<(u64, u64)> {
        let tree = &self.state.tree;
        let tops: Vec<ItemId> = tree
            .nodes
            .values()
            .filter(|n| n.deleted.is_some())
            .filter(|n| n.parent.and_then(|p| tree.get(p)).map(|p| p.deleted.is_none()).unwrap_or(true))
            .map(|n| n.id)
            .collect();
        let (mut folders, mut files) = (0, 0);
        for id in tops {
            for n in self.state.tree.subtree(id) {
                match self.state.tree.get(n) {
                    Some(node) if node.is_file() => files += 1,
                    Some(_) => folders += 1,
                    None => {}
                }
            }
            self.remove(id)?;
        }
        Ok((folders, files))
    }

    /// Give a file a stable public URI, or take it away.
    pub fn share(&mut self, node: ItemId, on: bool) -> Outcome<()> {
        let existing = self.state.tree.get(node).and_then(|n| n.file()).and_then(|f| f.public_uri.clone());
        let uri = match (on, existing) {
            (true, Some(_)) | (false, None) => return Ok(()),
            (true, None) => Some(ids::hex32()),
            (false, Some(_)) => None,
        };
        self.commit(Op::Share { node, uri })
    }
}
