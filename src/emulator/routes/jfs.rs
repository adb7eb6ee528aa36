//! JFS reads: `GET /jfs/<user>[/<device>[/<mount point>[/...]]]` with the user, device, listing and
//! file documents, the Trash/Links/Latest pseudo mount points, `mode=list`, `mode=liststream` and
//! `mode=bin` downloads (of the current revision, or of an older one with `revision=N`). Writes (POST) are in `jfs_write`.

use super::{jfs_write, transfer, xml_ok, Req};
use crate::emulator::errors::{Failure, Outcome};
use crate::emulator::paths::decode_url_path;
use crate::emulator::reads::{self, Answer};
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

pub use crate::emulator::reads::pseudo_mount_point;

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
    let range = req.header("Range").map(str::to_string);
    let max = req.param("max").and_then(|m| m.parse().ok()).unwrap_or(10);
    let download = match reads::answer(shared, &rest, kind, max)? {
        Answer::Document(body) => return Ok(xml_ok(StatusCode::OK, body)),
        Answer::Bytes(id) => id,
    };
    let revision = match req.param("revision") {
        None => None,
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| Failure::bad_request(format!("Invalid revision {v}")))?),
    };
    transfer::download(shared, range.as_deref(), download, revision).await
}
