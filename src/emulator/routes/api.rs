//! The JSON API: `GET /account/v1/customer`, `POST /files/v1/allocate`, `POST /files/v1/upload/<id>`
//! (the upload URL allocate hands out) and `POST /files/v1/purge_trash`.

use super::{json_ok, transfer, Req};
use crate::emulator::errors::{Failure, Outcome};
use crate::emulator::paths::split_decoded;
use crate::emulator::store::uploads::{AllocateRequest, Allocation};
use crate::emulator::store::JOTTA;
use crate::emulator::{timefmt, Shared};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

pub async fn handle(shared: &Arc<Shared>, req: Req) -> Outcome<Response> {
    let path = req.path.clone();
    match (req.method.clone(), path.as_str()) {
        (Method::GET, "/account/v1/customer") => Ok(customer(shared)),
        (Method::POST, "/files/v1/allocate") => allocate(shared, req).await,
        (Method::POST, "/files/v1/purge_trash") => {
            let (folders, files) = shared.store().purge_trash()?;
            Ok(json_ok(StatusCode::OK, &serde_json::json!({"folders": folders, "files": files})))
        }
        (Method::POST, p) if p.starts_with("/files/v1/upload/") => {
            let id = p.trim_start_matches("/files/v1/upload/").trim_matches('/').to_string();
            transfer::upload(shared, req, &id).await
        }
        _ => Err(Failure::new(StatusCode::NOT_FOUND, "javax.ws.rs.NotFoundException", format!("No endpoint {path}"))),
    }
}

/// Every key rclone type-checks, with the JSON type it expects.
fn customer(shared: &Shared) -> Response {
    let usage = shared.store().sizes().usage;
    let quota: i64 = shared.quota.map(|q| q as i64).unwrap_or(-1);
    let body = serde_json::json!({
        "username": shared.user,
        "email": format!("{}@example.invalid", shared.user),
        "name": "Demo User",
        "country_code": "NO",
        "language_code": "en",
        "customer_group_code": "EMULATOR",
        "brand_code": "JOTTACLOUD",
        "account_type": if shared.quota.is_some() { "free" } else { "unlimited" },
        "subscription_type": "EMULATOR",
        "usage": usage,
        "quota": quota,
        "business_usage": 0,
        "business_quota": 0,
        "write_locked": false,
        "read_locked": false,
        "locked_cause": null,
        "web_hash": "",
        "android_hash": "",
        "ios_hash": "",
    });
    json_ok(StatusCode::OK, &body)
}

/// `created`/`modified`: RFC 3339 strings (rclone) or Unix milliseconds (other clients).
fn time_value(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => timefmt::parse_any(s),
        Value::Number(n) => n.as_i64().map(|ms| ms.div_euclid(1000)),
        _ => None,
    }
}

/// `/jfs/<device>/<mp>/...` or `<mp>/...` (on the built-in device) into `[device, mp, ...]`.
fn allocate_path(path: &str) -> Outcome<Vec<String>> {
    let segs = split_decoded(path).map_err(|e| Failure::illegal_argument(e.0))?;
    let segs = match segs.split_first() {
        Some((first, rest)) if first == "jfs" => rest.to_vec(),
        _ => std::iter::once(JOTTA.to_string()).chain(segs).collect(),
    };
    if segs.len() < 3 {
        return Err(Failure::bad_request(format!("Invalid path {path}")));
    }
    Ok(segs)
}

async fn allocate(shared: &Arc<Shared>, req: Req) -> Outcome<Response> {
    let bytes =
        axum::body::to_bytes(req.body, 1 << 20).await.map_err(|_| Failure::bad_request("Unreadable request body"))?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| Failure::bad_request(format!("Invalid JSON: {e}")))?;
    let path = json.get("path").and_then(Value::as_str).ok_or_else(|| Failure::bad_request("Missing path"))?;
    let size = json.get("bytes").and_then(Value::as_u64).ok_or_else(|| Failure::bad_request("Missing bytes"))?;
    let md5 = json
        .get("md5")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|m| m.len() == 32 && m.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| Failure::bad_request("Missing or invalid md5"))?;
    let now = timefmt::now();
    let modified = time_value(json.get("modified")).unwrap_or(now);
    let created = time_value(json.get("created")).unwrap_or(modified);
    let reject_conflicts = json.get("conflict_handler").and_then(Value::as_str) == Some("REJECT_CONFLICTS");
    let segs = allocate_path(path)?;
    let request = AllocateRequest { segs, md5, size, created, modified, reject_conflicts };
    let mut store = shared.store();
    let (node, allocation) = store.allocate(&request, shared.quota)?;
    let names = store.state.tree.names(node);
    let echo = format!("/jfs/{}", names.get(1..).map(|s| s.join("/")).unwrap_or_default());
    let name = names.last().map(|s| s.to_string()).unwrap_or_default();
    let (state, upload_id, resume_pos) = match allocation {
        Allocation::Completed => ("COMPLETED", crate::emulator::ids::hex32(), size),
        Allocation::Upload(p) => ("INCOMPLETE", p.id, p.received),
    };
    let body = serde_json::json!({
        "name": name,
        "path": echo,
        "state": state,
        "upload_id": upload_id,
        "upload_url": format!("{}/files/v1/upload/{upload_id}", shared.endpoint),
        "bytes": size,
        "resume_pos": resume_pos,
    });
    Ok(json_ok(StatusCode::OK, &body))
}
