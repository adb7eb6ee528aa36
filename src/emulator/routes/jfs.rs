//! JFS reads: `GET /jfs/<user>[/<device>[/<mount point>[/...]]]` with the user, device, listing and
//! file documents, the Trash/Links/Latest pseudo mount points, `mode=list`, `mode=liststream` and
//! `mode=bin` downloads (of the current revision, or of an older one with `revision=N`). Writes (POST) are in `jfs_write`.

use super::{jfs_write, transfer, xml_ok, Req};
use crate::emulator::docs;
use crate::emulator::errors::{Failure, Outcome};
use crate::emulator::paths::decode_url_path;
use crate::emulator::store::JOTTA;
use crate::emulator::Shared;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use std::sync::Arc;

/// The account-relative segments `[device, mount point, ...]` of a JFS URL, after checking the user.
pub fn account_segments(shared: &Shared, raw_path: &str) -> Outcome<Vec<String>> {
    let segs = decode_url_path(raw_path).map_err(|e| Failure::illegal_argument(e.0))?;
    let Some(user) = segs.get(1) else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "org.springframework.security.core.userdetails.UsernameNotFoundException",
            "Username not found in url!",
        ));
    };
    if *user != shared.user {
        return Err(Failure::unauthorized(format!("Access denied for user {user}")));
    }
    Ok(segs[2..].to_vec())
}

/// Is this `[device, mp]` one of the read-only pseudo mount points of the built-in device?
pub fn pseudo_mount_point(rest: &[String]) -> Option<&'static str> {
    if rest.len() < 2 || !rest[0].eq_ignore_ascii_case(JOTTA) {
        return None;
    }
    ["Trash", "Links", "Latest"].into_iter().find(|p| rest[1].eq_ignore_ascii_case(p))
}

pub async fn handle(shared: &Arc<Shared>, req: Req, kind: &'static str) -> Outcome<Response> {
    let rest = account_segments(shared, &req.path)?;
    let mode = req.param("mode").unwrap_or("").to_string();
    if mode == "enableShare" || mode == "disableShare" {
        return jfs_write::share(shared, &rest, mode == "enableShare");
    }
    match req.method {
        Method::GET => {}
        Method::POST => return jfs_write::handle(shared, req, rest).await,
        _ => {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "java.lang.UnsupportedOperationException",
                "Method not allowed",
            ))
        }
    }
    let host = shared.host.as_str();
    if rest.is_empty() {
        return Ok(xml_ok(StatusCode::OK, docs::user_doc(&shared.store(), host, shared.quota)));
    }
    if let Some(pseudo) = pseudo_mount_point(&rest).filter(|_| rest.len() == 2) {
        let store = shared.store();
        let body = match pseudo {
            "Trash" => docs::trash_doc(&store, host),
            "Links" => docs::search_doc(&store, host, true, 0),
            _ => docs::search_doc(&store, host, false, req.param("max").and_then(|m| m.parse().ok()).unwrap_or(10)),
        };
        return Ok(xml_ok(StatusCode::OK, body));
    }
    let range = req.header("Range").map(str::to_string);
    let download = {
        let store = shared.store();
        if rest.len() == 1 {
            let dev = store.device(&rest[0])?;
            return Ok(xml_ok(StatusCode::OK, docs::device_doc(&store, host, dev, true)));
        }
        let shown = format!("/{}/{}", shared.user, rest.join("/"));
        let Some(id) = store.state.tree.resolve(&rest) else {
            return Err(if rest.len() == 2 {
                Failure::no_such_mount_point(shown)
            } else {
                Failure::no_such_path(shown)
            });
        };
        let is_file = store.state.tree.get(id).map(|n| n.is_file()).unwrap_or(false);
        let body = match (kind, is_file) {
            ("download", true) => None,
            ("download", false) => return Err(Failure::not_found(format!("{shown} is not a file"))),
            ("list_recursive", false) => Some(docs::filedirlist_doc(&store, host, id)),
            ("liststream", false) => Some(docs::liststream_doc(&store, host, id)),
            ("list_recursive" | "liststream", true) => return Err(Failure::bad_request(format!("{shown} is a file"))),
            (_, true) => Some(docs::file_doc(&store, host, id, true)),
            (_, false) => Some(docs::container_doc(&store, host, id, true)),
        };
        match body {
            Some(body) => return Ok(xml_ok(StatusCode::OK, body)),
            None => id,
        }
    };
    let revision = match req.param("revision") {
        None => None,
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| Failure::bad_request(format!("Invalid revision {v}")))?),
    };
    transfer::download(shared, range.as_deref(), download, revision).await
}
