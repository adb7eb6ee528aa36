//! The allocate/upload life cycle. Allocate either satisfies the request from known content (dedupe:
//! state COMPLETED, no bytes travel), resumes an identical pending allocation (same file, md5, size),
//! or opens a new INCOMPLETE revision with a pending upload. Finishing checks the md5: a match makes the
//! revision current, a mismatch marks it CORRUPT and the previous current revision stays.

use super::ops::{Op, Pending};
use super::tree::{ItemId, RevState};
use super::Store;
use crate::emulator::errors::{Failure, Outcome};
use crate::emulator::ids;
use axum::http::StatusCode;

pub struct AllocateRequest {
    /// `[device, mount point, folders..., name]`.
    pub segs: Vec<String>,
    pub md5: String,
    pub size: u64,
    pub created: i64,
    pub modified: i64,
    pub reject_conflicts: bool,
}

pub enum Allocation {
    /// The server already had the content; the file is done.
    Completed,
    /// Bytes must be sent from `received` on.
    Upload(Pending),
}

/// HTTP 460, the service's "out of quota".
pub fn quota_exceeded(message: String) -> Failure {
    let status = StatusCode::from_u16(460).unwrap_or(StatusCode::INSUFFICIENT_STORAGE);
    Failure::new(status, "no.jotta.backup.errors.QuotaExceededException", message)
}

impl Store {
    pub fn allocate(&mut self, req: &AllocateRequest, capacity: Option<u64>) -> Outcome<(ItemId, Allocation)> {
        if let Some(cap) = capacity {
            let free = cap.saturating_sub(self.sizes().usage);
            if req.size > free {
                return Err(quota_exceeded(format!("Not enough space: {} bytes needed, {free} free", req.size)));
            }
        }
        if req.segs.len() < 3 {
            return Err(Failure::bad_request("Invalid path"));
        }
        let name = req.segs[req.segs.len() - 1].clone();
        let parent = self.mkdir_p(&req.segs[..req.segs.len() - 1])?;
        let existing = self.state.tree.child_live(parent, &name);
        if let Some(id) = existing {
            let node = self.state.tree.get(id).ok_or_else(|| Failure::internal("dangling child"))?;
            if !node.is_file() {
                return Err(Failure::conflict(format!("{name} is a folder")));
            }
            if req.reject_conflicts {
                return Err(Failure::conflict(format!("File {name} already exists")));
            }
            let same = node.file().and_then(|f| f.current()).map(|r| r.md5 == req.md5 && r.size == req.size);
            if same == Some(true) {
                self.set_times(id, req.created, req.modified)?;
                return Ok((id, Allocation::Completed));
            }
        }
        if self.blobs.has(&req.md5, req.size) {
            let id = self.put_content(parent, &name, &req.md5, req.size, req.created, req.modified)?;
            return Ok((id, Allocation::Completed));
        }
        if let Some(id) = existing {
            let resumable =
                self.state.uploads.values().find(|p| p.node == id && p.md5 == req.md5 && p.size == req.size).cloned();
            if let Some(p) = resumable {
                return Ok((id, Allocation::Upload(p)));
            }
            // A different content supersedes older unfinished attempts on this file.
            let stale: Vec<String> =
                self.state.uploads.values().filter(|p| p.node == id).map(|p| p.id.clone()).collect();
            for up in stale {
                let _ = std::fs::remove_file(self.blobs.part_path(&up));
                self.commit(Op::UploadClose { id: up })?;
            }
        }
        let node = self.file_at(parent, &name)?;
        let number = self.add_revision(node, RevState::Incomplete, &req.md5, req.size, req.created, req.modified)?;
        let upload = Pending { id: ids::hex32(), node, number, md5: req.md5.clone(), size: req.size, received: 0 };
        self.commit(Op::UploadOpen { upload: upload.clone() })?;
        Ok((node, Allocation::Upload(upload)))
    }

    pub fn pending(&self, id: &str) -> Option<Pending> {
        self.state.uploads.get(id).cloned()
    }

    pub fn upload_progress(&mut self, id: &str, received: u64) -> Outcome<()> {
        self.commit(Op::UploadProgress { id: id.to_string(), received })
    }

    /// All bytes are in the part file; `actual_md5` is what they hash to. Returns whether the upload
    /// completed (false: CORRUPT).
    pub fn finish_upload(&mut self, id: &str, actual_md5: &str) -> Outcome<bool> {
        let p = self.pending(id).ok_or_else(|| Failure::not_found("Upload not found"))?;
        let rev = self
            .state
            .tree
            .get(p.node)
            .and_then(|n| n.file())
            .and_then(|f| f.revisions.iter().find(|r| r.number == p.number))
            .cloned()
            .ok_or_else(|| Failure::not_found("Upload target vanished"))?;
        let part = self.blobs.part_path(id);
        let ok = actual_md5 == p.md5;
        let state = if ok {
            self.blobs.adopt(&part, &p.md5, p.size).map_err(Failure::from_io)?;
            RevState::Completed
        } else {
            let _ = std::fs::remove_file(&part);
            RevState::Corrupt
        };
        let rev = super::tree::Revision { state, updated: crate::emulator::timefmt::now(), ..rev };
        self.commit(Op::PutRevision { node: p.node, rev })?;
        self.commit(Op::UploadClose { id: id.to_string() })?;
        Ok(ok)
    }
}
