//! The JFS write verbs addressed by account path (`[device, mount point, ...]`): trash, permanent
//! delete, move, copy, share and cphash. Their rules (what a missing path means, what the built-in mount
//! points refuse, which trashed file cphash restores) live here, once, for both front ends of the store:
//! the HTTP routes and the in-process remote.

use super::tree::ItemId;
use super::{Store, BUILTIN_MOUNT_POINTS, JOTTA};
use crate::emulator::errors::{Failure, Outcome};

/// Is `rest` one of the built-in device's own mount points (which cannot be deleted)?
pub fn is_builtin_mount_point(rest: &[String]) -> bool {
    rest.len() == 2
        && rest[0].eq_ignore_ascii_case(JOTTA)
        && BUILTIN_MOUNT_POINTS.iter().any(|m| m.eq_ignore_ascii_case(&rest[1]))
}

impl Store {
    /// `/<user>/<device>/...` for messages, the way the service shows paths.
    pub fn shown(&self, rest: &[String]) -> String {
        format!("/{}/{}", self.user(), rest.join("/"))
    }

    fn is_file(&self, id: ItemId) -> bool {
        self.state.tree.get(id).map(|n| n.is_file()).unwrap_or(false)
    }

    /// `dl`/`dlDir`: move to the trash. `None` when nothing lives there, which the service answers
    /// with success.
    pub fn trash_path(&mut self, rest: &[String]) -> Outcome<Option<ItemId>> {
        if is_builtin_mount_point(rest) {
            return Err(Failure::bad_request(format!("Cannot delete built-in mount point {}", self.shown(rest))));
        }
        let Some(id) = self.state.tree.resolve(rest) else { return Ok(None) };
        self.soft_delete(id)?;
        Ok(Some(id))
    }

    /// `rm`/`rmDir`: delete for good. Returns the parent of what was removed.
    pub fn remove_path(&mut self, rest: &[String]) -> Outcome<ItemId> {
        if is_builtin_mount_point(rest) {
            return Err(Failure::bad_request(format!("Cannot delete built-in mount point {}", self.shown(rest))));
        }
        let id = self
            .state
            .tree
            .resolve(rest)
            .ok_or_else(|| Failure::not_found(format!("{} does not exist", self.shown(rest))))?;
        let parent = self.state.tree.get(id).and_then(|n| n.parent).unwrap_or(0);
        self.remove(id)?;
        Ok(parent)
    }

    /// `mv`/`mvDir`: a live file or folder to `dest` (`[device, mp, ...]`). Returns the moved node.
    pub fn move_path(&mut self, rest: &[String], dest: &[String]) -> Outcome<ItemId> {
        let src = self
            .state
            .tree
            .resolve_live(rest)
            .ok_or_else(|| Failure::not_found(format!("Source file {} does not exist", self.shown(rest))))?;
        if self.is_file(src) {
            self.move_file(src, dest)
        } else if rest.len() >= 3 {
            self.move_folder(src, dest)
        } else {
            Err(Failure::bad_request("Mount points cannot be moved"))
        }
    }

    /// `cp`: server-side copy of a live file. Returns the copy.
    pub fn copy_path(&mut self, rest: &[String], dest: &[String]) -> Outcome<ItemId> {
        let src = self
            .state
            .tree
            .resolve_live(rest)
            .filter(|id| self.is_file(*id))
            .ok_or_else(|| Failure::not_found(format!("Source file {} does not exist", self.shown(rest))))?;
        self.copy_file(src, dest)
    }

    /// `mode=enableShare` / `disableShare` on a file (trashed ones included, as the service does).
    pub fn share_path(&mut self, rest: &[String], on: bool) -> Outcome<ItemId> {
        let id = self
            .state
            .tree
            .resolve(rest)
            .filter(|id| self.is_file(*id))
            .ok_or_else(|| Failure::not_found(format!("{} does not exist", self.shown(rest))))?;
        self.share(id, on)?;
        Ok(id)
    }

    /// `cphash`: make the path hold content (`size`, `md5` lowercase) with these times without a
    /// transfer — touch an identical live file, restore an identical trashed one, or create/update from
    /// known content. `NoSuchFile` (404) when the bytes would have to be uploaded.
    pub fn cphash(&mut self, rest: &[String], size: u64, md5: &str, created: i64, modified: i64) -> Outcome<ItemId> {
        let shown = self.shown(rest);
        if rest.len() < 3 {
            return Err(Failure::bad_request(format!("{shown} is not a file path")));
        }
        let tree = &self.state.tree;
        let same = |id: ItemId| {
            tree.get(id).and_then(|n| n.file()).and_then(|f| f.current()).map(|r| r.md5 == md5 && r.size == size)
                == Some(true)
        };
        let live = tree.resolve_live(rest);
        // The most recently trashed identical file at this path, also behind a folder re-created since.
        let trashed = if live.is_none() {
            tree.resolve_all(rest)
                .into_iter()
                .filter(|id| same(*id))
                .filter_map(|id| tree.get(id).and_then(|n| n.deleted.map(|d| (d, id))))
                .max()
                .map(|(_, id)| id)
        } else {
            None
        };
        let live_same = live.map(&same).unwrap_or(false);
        let live_is_folder = live.and_then(|id| tree.get(id)).map(|n| !n.is_file()).unwrap_or(false);
        if live_is_folder {
            return Err(Failure::conflict(format!("{shown} is a folder")));
        }
        if let (Some(id), true) = (live, live_same) {
            self.set_times(id, created, modified)?;
            return Ok(id);
        }
        if let Some(id) = trashed {
            self.restore_file(id)?;
            self.set_times(id, created, modified)?;
            return Ok(id);
        }
        if self.blobs.has(md5, size) {
            let parent = self.mkdir_p(&rest[..rest.len() - 1])?;
            return self.put_content(parent, &rest[rest.len() - 1], md5, size, created, modified);
        }
        Err(Failure::not_found(format!("{shown}: content not known, upload needed")))
    }
}
