//! Request dispatch for all hosts on one server: `/jfs/...` (XML), `/account`, `/files` (JSON API and
//! upload URLs), `/auth/...` (OIDC) and `/_emulator/...` (test hooks). Every request is classified into
//! a stable kind first; the kind drives the counters and fault injection, which happen before any
//! work, so a faulted request never changes state. Test hooks are neither counted nor faulted.

mod api;
mod hooks;
mod jfs;
mod jfs_write;
mod oauth;
mod transfer;

use super::errors::{self, Failure, Outcome};
use super::server::ConnCtx;
use super::Shared;
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::Response;
use base64::Engine;
use hyper::body::Incoming;
use std::collections::HashMap;
use std::sync::Arc;

/// Which host's conventions a request follows (and how its errors look).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Jfs,
    Api,
    Auth,
    Other,
}

impl Area {
    fn of(path: &str) -> Area {
        if path == "/jfs" || path.starts_with("/jfs/") {
            Area::Jfs
        } else if path.starts_with("/account/") || path.starts_with("/files/") {
            Area::Api
        } else if path.starts_with("/auth/") {
            Area::Auth
        } else {
            Area::Other
        }
    }

    fn error(self, shared: &Shared, f: &Failure) -> Response {
        match self {
            Area::Jfs => errors::to_xml(f, &shared.host),
            Area::Auth => errors::oauth_error(f.status, "invalid_request", &f.message),
            Area::Api | Area::Other => errors::to_json(f),
        }
    }
}

/// A request after parameter merging.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// Query and urlencoded-body parameters, merged (the body wins).
    pub params: HashMap<String, String>,
    pub body: Body,
    pub ctx: ConnCtx,
}

impl Req {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(|s| s.as_str())
    }

    /// `mkDir=true` style flags.
    pub fn flag(&self, key: &str) -> bool {
        self.param(key).map(|v| v.eq_ignore_ascii_case("true")).unwrap_or(false)
    }

    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }
}

fn parse_form(s: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(s.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(false)
}

pub async fn handle(shared: Arc<Shared>, ctx: ConnCtx, req: Request<Incoming>) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let mut params: HashMap<String, String> = parse_form(parts.uri.query().unwrap_or("")).collect();
    let mut body = Body::new(body);
    if path.starts_with("/_emulator") {
        let req = Req { method: parts.method, path, headers: parts.headers, params, body, ctx };
        return hooks::handle(&shared, req).await;
    }
    let area = Area::of(&path);
    // Servlet semantics: parameters may also come as an urlencoded body (jottalib, token requests).
    if parts.method == Method::POST && is_form(&parts.headers) && matches!(area, Area::Jfs | Area::Auth) {
        match axum::body::to_bytes(body, 1 << 20).await {
            Ok(bytes) => params.extend(parse_form(&String::from_utf8_lossy(&bytes))),
            Err(_) => return area.error(&shared, &Failure::bad_request("Unreadable request body")),
        }
        body = Body::empty();
    }
    let req = Req { method: parts.method, path, headers: parts.headers, params, body, ctx };
    let kind = classify(&shared, area, &req);
    shared.counters.count(kind);
    shared.hold_while_hung(kind).await;
    let (latency, failure) = {
        let mut faults = shared.faults();
        (faults.latency_ms(), faults.failure_for(kind))
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let f = if status == StatusCode::TOO_MANY_REQUESTS {
            Failure::new(status, "no.jotta.backup.errors.TooManyRequestsException", "Rate limit exceeded")
        } else {
            Failure::new(status, "java.lang.RuntimeException", "Injected fault")
        };
        return area.error(&shared, &f);
    }
    let result = match area {
        Area::Jfs => match authorize(&shared, &req.headers) {
            Ok(()) => jfs::handle(&shared, req, kind).await,
            Err(f) => Err(f),
        },
        Area::Api => match authorize(&shared, &req.headers) {
            Ok(()) => api::handle(&shared, req).await,
            Err(f) => Err(f),
        },
        Area::Auth => Ok(oauth::handle(&shared, req).await),
        Area::Other => match req.path.strip_prefix("/opin/io/downloadPublic/") {
            Some(rest) => {
                let range = req.header("Range").map(str::to_string);
                public_download(&shared, range, rest).await
            }
            None => Err(Failure::new(StatusCode::NOT_FOUND, "javax.ws.rs.NotFoundException", "No such endpoint")),
        },
    };
    let answer = result.unwrap_or_else(|f| area.error(&shared, &f));
    shared.hold_answer(kind).await;
    let lost = shared.faults().failure_after(kind);
    match lost {
        Some(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::GATEWAY_TIMEOUT);
            area.error(&shared, &Failure::new(status, "java.lang.RuntimeException", "Injected fault after serving"))
        }
        None => answer,
    }
}

/// `GET /opin/io/downloadPublic/<user>/<publicURI>`: a shared file's bytes, no credentials needed.
async fn public_download(shared: &Arc<Shared>, range: Option<String>, rest: &str) -> Outcome<Response> {
    let uri = rest.rsplit('/').next().unwrap_or("");
    let id = {
        let store = shared.store();
        let found = store
            .state
            .tree
            .nodes
            .values()
            .find(|n| n.deleted.is_none() && n.file().and_then(|f| f.public_uri.as_deref()) == Some(uri));
        found.map(|n| n.id).ok_or_else(|| Failure::not_found("No such public link"))?
    };
    transfer::download(shared, range.as_deref(), id, None).await
}

/// Bearer token (modern clients) or Basic user/password (the legacy path).
fn authorize(shared: &Shared, headers: &HeaderMap) -> Outcome<()> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Failure::unauthorized("Full authentication is required to access this resource"))?;
    if let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
        return shared.auth().check_bearer(token.trim());
    }
    if let Some(b64) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        if let Some((user, pass)) = decoded.split_once(':') {
            if shared.auth().check_basic(user, pass) {
                return Ok(());
            }
        }
        return Err(Failure::unauthorized("Bad credentials"));
    }
    Err(Failure::unauthorized("Bad credentials"))
}

/// The stable request kind used by counters and faults.
fn classify(shared: &Shared, area: Area, req: &Req) -> &'static str {
    let p = req.path.as_str();
    match area {
        Area::Auth if p.ends_with("/token") => "token",
        Area::Auth if p.ends_with("/userinfo") => "userinfo",
        Area::Auth if p.ends_with("/openid-configuration") => "discovery",
        Area::Api if p == "/account/v1/customer" => "customer",
        Area::Api if p == "/files/v1/allocate" => "allocate",
        Area::Api if p.starts_with("/files/v1/upload/") => "upload",
        Area::Api if p == "/files/v1/purge_trash" => "purge_trash",
        Area::Jfs => classify_jfs(shared, req),
        _ => "other",
    }
}

fn classify_jfs(shared: &Shared, req: &Req) -> &'static str {
    let Ok(segs) = super::paths::decode_url_path(&req.path) else {
        return "other";
    };
    let rest = segs.get(2..).unwrap_or(&[]);
    let mode = req.param("mode").unwrap_or("");
    if mode == "enableShare" || mode == "disableShare" {
        return "share";
    }
    if req.method == Method::GET {
        return match (rest.len(), mode) {
            (0, _) => "account",
            (1, _) => "device",
            (_, "bin") => "download",
            (_, "liststream") => "liststream",
            (_, "list") => "list_recursive",
            (2, _) => "list",
            _ => {
                let store = shared.store();
                let is_file =
                    store.state.tree.resolve(rest).and_then(|id| store.state.tree.get(id)).map(|n| n.is_file());
                if is_file == Some(true) {
                    "stat"
                } else {
                    "list"
                }
            }
        };
    }
    if req.method != Method::POST {
        return "other";
    }
    let flag = |k: &str| req.params.contains_key(k);
    if flag("mkDir") {
        "mkdir"
    } else if flag("dl") || flag("dlDir") {
        "delete"
    } else if flag("rm") || flag("rmDir") {
        "delete_permanent"
    } else if flag("mv") || flag("mvDir") {
        "move"
    } else if flag("cp") {
        "copy"
    } else if flag("cphash") {
        "cphash"
    } else if flag("umode") {
        "upload"
    } else if rest.len() == 1 && flag("type") {
        "create_device"
    } else if rest.len() == 2 {
        "create_mount_point"
    } else {
        "other"
    }
}

pub fn xml_ok(status: StatusCode, body: String) -> Response {
    errors::xml_response(status, body)
}

pub fn json_ok(status: StatusCode, value: &serde_json::Value) -> Response {
    errors::json_response(status, value)
}
