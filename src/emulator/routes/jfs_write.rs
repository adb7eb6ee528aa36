//! JFS writes: `POST` to an item's own URL with a verb parameter — device and mount point creation,
//! `mkDir`, `dl`/`dlDir` (trash), `rm`/`rmDir` (permanent), `mv`/`mvDir`, `cp`, `cphash`, sharing and
//! the legacy `umode=nomultipart` upload.

use super::jfs::pseudo_mount_point;
use super::{transfer, xml_ok, Req};
use crate::emulator::docs;
use crate::emulator::errors::{Failure, Outcome};
use crate::emulator::paths::split_decoded;
use crate::emulator::store::tree::ItemId;
use crate::emulator::store::{Store, JOTTA};
use crate::emulator::{timefmt, Shared};
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// The document answering a change to `id`: files as `<file>`, containers without their listing.
fn item_doc(store: &Store, host: &str, id: ItemId) -> String {
    match store.state.tree.get(id) {
        Some(n) if n.is_file() => docs::file_doc(store, host, id, false),
        _ => docs::container_doc(store, host, id, false),
    }
}

/// `mv=`/`mvDir=`/`cp=` values: absolute `/<user>/<device>/<mp>/<path>` (already form-decoded).
fn destination(shared: &Shared, value: &str) -> Outcome<Vec<String>> {
    let segs = split_decoded(value).map_err(|e| Failure::illegal_argument(e.0))?;
    match segs.split_first() {
        Some((user, rest)) if *user == shared.user && rest.len() >= 3 => Ok(rest.to_vec()),
        _ => Err(Failure::bad_request(format!("Invalid destination path {value}"))),
    }
}

pub async fn handle(shared: &Arc<Shared>, req: Req, rest: Vec<String>) -> Outcome<Response> {
    let host = shared.host.clone();
    let host = host.as_str();
    let shown = format!("/{}/{}", shared.user, rest.join("/"));
    if rest.is_empty() {
        return Err(Failure::bad_request("No operation on the account"));
    }
    if rest.len() == 1 {
        return device_op(shared, &req, &rest[0]);
    }
    if pseudo_mount_point(&rest).is_some() {
        return Err(Failure::bad_request(format!("{shown} is read-only")));
    }
    if req.params.contains_key("umode") {
        return transfer::legacy_upload(shared, req, rest).await;
    }
    if req.flag("mkDir") {
        let mut store = shared.store();
        let id = store.mkdir_p(&rest)?;
        return Ok(xml_ok(StatusCode::OK, docs::container_doc(&store, host, id, false)));
    }
    if req.flag("dl") || req.flag("dlDir") {
        let mut store = shared.store();
        let Some(id) = store.trash_path(&rest)? else {
            // The service answers success for a missing path; say what would have been deleted.
            let name = rest.last().cloned().unwrap_or_default();
            let mut w = crate::emulator::xml::XmlWriter::document(true);
            let t = timefmt::jfs(timefmt::now());
            w.open("file", &[("name", &name), ("deleted", &t), ("time", &t), ("host", host)]);
            w.preserve("path", &shown[..shown.len() - name.len() - 1]);
            w.preserve("abspath", &shown[..shown.len() - name.len() - 1]);
            w.close("file");
            return Ok(xml_ok(StatusCode::OK, w.finish()));
        };
        return Ok(xml_ok(StatusCode::OK, item_doc(&store, host, id)));
    }
    if req.flag("rm") || req.flag("rmDir") {
        let mut store = shared.store();
        let parent = store.remove_path(&rest)?;
        let body = if rest.len() == 2 {
            docs::device_doc(&store, host, parent, false)
        } else {
            docs::container_doc(&store, host, parent, false)
        };
        return Ok(xml_ok(StatusCode::OK, body));
    }
    if let Some(dest) = req.param("mv").or(req.param("mvDir")).map(str::to_string) {
        let dest = destination(shared, &dest)?;
        let mut store = shared.store();
        let moved = store.move_path(&rest, &dest)?;
        return Ok(xml_ok(StatusCode::OK, item_doc(&store, host, moved)));
    }
    if let Some(dest) = req.param("cp").map(str::to_string) {
        let dest = destination(shared, &dest)?;
        let mut store = shared.store();
        let copy = store.copy_path(&rest, &dest)?;
        return Ok(xml_ok(StatusCode::OK, docs::file_doc(&store, host, copy, false)));
    }
    if req.params.contains_key("cphash") {
        return cphash(shared, &req, &rest);
    }
    if let Some(mode) = req.param("mode") {
        if mode == "enableShare" || mode == "disableShare" {
            return share(shared, &rest, mode == "enableShare");
        }
    }
    if rest.len() == 2 && req.params.is_empty() {
        let mut store = shared.store();
        let dev = store.device(&rest[0])?;
        let (id, created) = store.create_mount_point(dev, &rest[1])?;
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        return Ok(xml_ok(status, docs::mount_point_doc(&store, host, id, false)));
    }
    Err(Failure::bad_request(format!("Unsupported operation on {shown}")))
}

/// `POST /jfs/<user>/<device>?type=...` creates (201 even if it exists); `rm=true` removes.
fn device_op(shared: &Shared, req: &Req, name: &str) -> Outcome<Response> {
    let host = shared.host.as_str();
    let mut store = shared.store();
    if let Some(dtype) = req.param("type") {
        let (id, _) = store.create_device(name, dtype)?;
        return Ok(xml_ok(StatusCode::CREATED, docs::device_doc(&store, host, id, true)));
    }
    if req.flag("rm") {
        if name.eq_ignore_ascii_case(JOTTA) {
            return Err(Failure::bad_request("The built-in device cannot be deleted"));
        }
        let id = store.device(name)?;
        store.remove(id)?;
        return Ok(xml_ok(StatusCode::OK, docs::user_doc(&store, host, shared.quota)));
    }
    Err(Failure::bad_request(format!("Unsupported operation on device {name}")))
}

/// `mode=enableShare` / `mode=disableShare` (GET per the protocol; POST accepted too).
pub fn share(shared: &Shared, rest: &[String], on: bool) -> Outcome<Response> {
    let mut store = shared.store();
    let id = store.share_path(rest, on)?;
    Ok(xml_ok(StatusCode::OK, docs::file_doc(&store, &shared.host, id, false)))
}

/// `cphash=true` with `JSize`/`JMd5`/`JCreated`/`JModified`: make the path hold that content without a
/// transfer — touch an identical live file, restore an identical trashed one, or create/update from
/// known content. 404 when the bytes would have to be uploaded.
fn cphash(shared: &Shared, req: &Req, rest: &[String]) -> Outcome<Response> {
    let size: u64 = req
        .header("JSize")
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Failure::bad_request("Missing or invalid JSize header"))?;
    let md5 = req
        .header("JMd5")
        .or(req.param("cphash").filter(|v| *v != "true"))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| Failure::bad_request("Missing or invalid JMd5 header"))?;
    let now = timefmt::now();
    let modified = req.header("JModified").and_then(timefmt::parse_any).unwrap_or(now);
    let created = req.header("JCreated").and_then(timefmt::parse_any).unwrap_or(modified);
    let mut store = shared.store();
    let id = store.cphash(rest, size, &md5, created, modified)?;
    Ok(xml_ok(StatusCode::OK, docs::file_doc(&store, &shared.host, id, false)))
}
