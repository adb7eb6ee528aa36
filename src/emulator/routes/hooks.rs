//! Test hooks under `/_emulator/`, answered only to loopback peers: counters, fault configuration,
//! login-token minting, synthetic tree seeding and forced token expiry. Never counted, never faulted.

use super::{json_ok, Req};
use crate::emulator::errors::{to_json, Failure};
use crate::emulator::faults::FaultConfig;
use crate::emulator::paths::split_decoded;
use crate::emulator::store::ops::Op;
use crate::emulator::Shared;
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use md5::{Digest, Md5};
use serde::Deserialize;

#[derive(Deserialize)]
struct SeedRequest {
    path: String,
    dirs: u64,
    files_per_dir: u64,
    #[serde(default)]
    file_size: u64,
}

fn bad(message: String) -> Response {
    to_json(&Failure::bad_request(message))
}

pub async fn handle(shared: &Shared, req: Req) -> Response {
    if !req.ctx.peer.ip().is_loopback() {
        return to_json(&Failure::new(
            StatusCode::FORBIDDEN,
            "org.springframework.security.access.AccessDeniedException",
            "Test hooks are only available from loopback",
        ));
    }
    let route = req.path.trim_start_matches("/_emulator").trim_end_matches('/').to_string();
    match (req.method.clone(), route.as_str()) {
        (Method::GET, "/counters") => json_ok(StatusCode::OK, &shared.counters.to_json()),
        (Method::POST, "/counters/reset") => {
            shared.counters.reset();
            json_ok(StatusCode::OK, &shared.counters.to_json())
        }
        (Method::GET, "/faults") => match serde_json::to_value(shared.faults().config()) {
            Ok(v) => json_ok(StatusCode::OK, &v),
            Err(e) => bad(e.to_string()),
        },
        (Method::PUT, "/faults") | (Method::POST, "/faults") => {
            let bytes = match axum::body::to_bytes(req.body, 1 << 20).await {
                Ok(b) => b,
                Err(e) => return bad(e.to_string()),
            };
            match serde_json::from_slice::<FaultConfig>(&bytes) {
                Ok(cfg) => {
                    shared.set_faults(cfg);
                    match serde_json::to_value(shared.faults().config()) {
                        Ok(v) => json_ok(StatusCode::OK, &v),
                        Err(e) => bad(e.to_string()),
                    }
                }
                Err(e) => bad(format!("Invalid fault config: {e}")),
            }
        }
        (Method::POST, "/login-token") => {
            let token = shared.auth().mint_login_token();
            let mut resp = Response::new(Body::from(token));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            resp
        }
        (Method::POST, "/expire-tokens") => {
            shared.auth().expire_all();
            json_ok(StatusCode::OK, &serde_json::json!({"expired": true}))
        }
        (Method::POST, "/seed") => {
            let bytes = match axum::body::to_bytes(req.body, 1 << 20).await {
                Ok(b) => b,
                Err(e) => return bad(e.to_string()),
            };
            match serde_json::from_slice::<SeedRequest>(&bytes) {
                Ok(s) => seed(shared, s).await,
                Err(e) => bad(format!("Invalid seed request: {e}")),
            }
        }
        _ => to_json(&Failure::new(StatusCode::NOT_FOUND, "javax.ws.rs.NotFoundException", "Unknown test hook")),
    }
}

/// A zero-filled blob of `size` bytes, written once and shared by every seeded file.
fn zero_blob(shared: &Shared, size: u64) -> std::io::Result<String> {
    let tmp = shared.store().blobs.temp_path();
    // Sparse: a seeded file of many GiB takes no disk (the bench's huge section seeds one as large as
    // the file it then writes, and has room for two copies, not three). It reads as zeros.
    std::fs::File::create(&tmp)?.set_len(size)?;
    let mut hasher = Md5::new();
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        hasher.update(&zeros[..n]);
        left -= n as u64;
    }
    let md5 = hex::encode(hasher.finalize());
    shared.store().blobs.adopt(&tmp, &md5, size)?;
    Ok(md5)
}

async fn seed(shared: &Shared, s: SeedRequest) -> Response {
    let segs = match split_decoded(&s.path) {
        Ok(segs) if segs.len() >= 2 => segs,
        _ => return bad(format!("Invalid seed path {}", s.path)),
    };
    let md5 = match zero_blob(shared, s.file_size) {
        Ok(m) => m,
        Err(e) => return to_json(&Failure::from_io(e)),
    };
    let mut store = shared.store();
    let parent = match store.mkdir_p(&segs) {
        Ok(p) => p,
        Err(f) => return to_json(&f),
    };
    if store.state.tree.get(parent).map(|n| !n.children.live.is_empty()).unwrap_or(true) {
        return to_json(&Failure::conflict(format!("{} is not empty", s.path)));
    }
    let first_id = store.state.next_id;
    let op = Op::Seed {
        parent,
        first_id,
        dirs: s.dirs,
        files_per_dir: s.files_per_dir,
        md5,
        size: s.file_size,
        uuid_seed: rand::random(),
    };
    if let Err(f) = store.commit(op) {
        return to_json(&f);
    }
    json_ok(StatusCode::OK, &serde_json::json!({"folders": s.dirs, "files": s.dirs * s.files_per_dir}))
}
