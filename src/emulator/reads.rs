//! What a JFS read of an account path answers: the user, device, listing or file document, the
//! Trash/Links/Latest pseudo mount points, `mode=list`/`mode=liststream`, or the file whose bytes a
//! download serves (and which revision's blob holds them). One place for both front ends of the store:
//! the HTTP routes and the in-process remote.

use super::docs;
use super::errors::{Failure, Outcome};
use super::store::tree::{ItemId, RevState};
use super::store::JOTTA;
use super::Shared;
use std::path::PathBuf;

/// Is this `[device, mp]` one of the read-only pseudo mount points of the built-in device?
pub fn pseudo_mount_point(rest: &[String]) -> Option<&'static str> {
    if rest.len() < 2 || !rest[0].eq_ignore_ascii_case(JOTTA) {
        return None;
    }
    ["Trash", "Links", "Latest"].into_iter().find(|p| rest[1].eq_ignore_ascii_case(p))
}

/// The answer to a read.
pub enum Answer {
    /// An XML document.
    Document(String),
    /// A download of this file's bytes.
    Bytes(ItemId),
}

/// Answer a read of `rest` (`[device, mount point, ...]`, empty for the account). `kind` is the
/// request kind (`download`, `list_recursive`, `liststream`, anything else for a plain GET); `max` is
/// the Latest pseudo mount point's result count.
pub fn answer(shared: &Shared, rest: &[String], kind: &str, max: usize) -> Outcome<Answer> {
    let host = shared.host.as_str();
    let store = shared.store();
    if rest.is_empty() {
        return Ok(Answer::Document(docs::user_doc(&store, host, shared.quota)));
    }
    if let Some(pseudo) = pseudo_mount_point(rest).filter(|_| rest.len() == 2) {
        return Ok(Answer::Document(match pseudo {
            "Trash" => docs::trash_doc(&store, host),
            "Links" => docs::search_doc(&store, host, true, 0),
            _ => docs::search_doc(&store, host, false, max),
        }));
    }
    if rest.len() == 1 {
        let dev = store.device(&rest[0])?;
        return Ok(Answer::Document(docs::device_doc(&store, host, dev, true)));
    }
    let shown = store.shown(rest);
    let Some(id) = store.state.tree.resolve(rest) else {
        return Err(if rest.len() == 2 { Failure::no_such_mount_point(shown) } else { Failure::no_such_path(shown) });
    };
    let is_file = store.state.tree.get(id).map(|n| n.is_file()).unwrap_or(false);
    Ok(Answer::Document(match (kind, is_file) {
        ("download", true) => return Ok(Answer::Bytes(id)),
        ("download", false) => return Err(Failure::not_found(format!("{shown} is not a file"))),
        ("list_recursive", false) => docs::filedirlist_doc(&store, host, id),
        ("liststream", false) => docs::liststream_doc(&store, host, id),
        ("list_recursive" | "liststream", true) => return Err(Failure::bad_request(format!("{shown} is a file"))),
        (_, true) => docs::file_doc(&store, host, id, true),
        (_, false) => docs::container_doc(&store, host, id, true),
    }))
}

/// The bytes a download of `id` serves: its current revision, or revision `revision` when given; only
/// COMPLETED revisions have bytes. Returns the blob's path, its size and its MIME type.
pub fn revision_blob(shared: &Shared, id: ItemId, revision: Option<u32>) -> Outcome<(PathBuf, u64, String)> {
    let store = shared.store();
    let file = store.state.tree.get(id).and_then(|n| n.file());
    let rev = match revision {
        None => file.and_then(|f| f.current()).ok_or_else(|| Failure::not_found("File has no completed revision"))?,
        Some(n) => file
            .and_then(|f| f.revisions.iter().find(|r| r.number == n))
            .filter(|r| r.state == RevState::Completed)
            .ok_or_else(|| Failure::not_found(format!("No completed revision {n} of this file")))?,
    };
    Ok((store.blobs.path(&rev.md5, rev.size), rev.size, rev.mime.clone()))
}
