//! The identity provider's endpoints: OIDC discovery, the token endpoint (password and refresh
//! grants) and userinfo. Token errors use the OAuth JSON shape.

use super::{json_ok, Req};
use crate::emulator::errors::oauth_error;
use crate::emulator::Shared;
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use base64::Engine;

const REALM: &str = "/auth/realms/jottacloud";

pub async fn handle(shared: &Shared, req: Req) -> Response {
    let base = format!("{}{REALM}", shared.endpoint);
    let oidc = format!("{base}/protocol/openid-connect");
    match req.path.strip_prefix(REALM) {
        Some("/.well-known/openid-configuration") => json_ok(StatusCode::OK, &discovery(&base, &oidc)),
        Some("/protocol/openid-connect/token") if req.method == Method::POST => token(shared, &req),
        Some("/protocol/openid-connect/userinfo") => {
            let bearer = req.header("Authorization").and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
            match shared.auth().check_bearer(bearer.trim()) {
                Ok(()) => json_ok(StatusCode::OK, &shared.auth().userinfo()),
                Err(_) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "Token verification failed"),
            }
        }
        _ => oauth_error(StatusCode::NOT_FOUND, "invalid_request", "Unknown endpoint"),
    }
}

fn discovery(base: &str, oidc: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{oidc}/auth"),
        "token_endpoint": format!("{oidc}/token"),
        "token_introspection_endpoint": format!("{oidc}/token/introspect"),
        "introspection_endpoint": format!("{oidc}/token/introspect"),
        "userinfo_endpoint": format!("{oidc}/userinfo"),
        "end_session_endpoint": format!("{oidc}/logout"),
        "jwks_uri": format!("{oidc}/certs"),
        "check_session_iframe": format!("{oidc}/login-status-iframe.html"),
        "registration_endpoint": format!("{base}/clients-registrations/openid-connect"),
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password", "client_credentials"],
        "response_types_supported": ["code", "none", "id_token", "token", "id_token token", "code id_token", "code token", "code id_token token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["RS256"],
        "request_object_signing_alg_values_supported": ["none", "RS256"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post", "client_secret_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "auth_time", "name", "given_name", "family_name", "preferred_username", "email"],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": false,
        "scopes_supported": ["openid", "offline_access", "profile", "email"],
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "code_challenge_methods_supported": ["plain", "S256"],
        "tls_client_certificate_bound_access_tokens": true,
    })
}

/// Client id from the body, else from HTTP Basic (`jottacli:` with an empty secret).
fn client_id(req: &Req) -> String {
    if let Some(id) = req.param("client_id").filter(|s| !s.is_empty()) {
        return id.to_string();
    }
    req.headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(id, _)| id.to_string()))
        .unwrap_or_default()
}

fn token(shared: &Shared, req: &Req) -> Response {
    let client = client_id(req);
    let result = match req.param("grant_type").unwrap_or("") {
        "password" => shared.auth().password_grant(
            &client,
            req.param("username").unwrap_or(""),
            req.param("password").unwrap_or(""),
        ),
        "refresh_token" => shared.auth().refresh_grant(&client, req.param("refresh_token").unwrap_or("")),
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Unsupported grant_type {other}"),
            )
        }
    };
    match result {
        Ok(body) => json_ok(StatusCode::OK, &body),
        Err(e) => {
            oauth_error(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST), e.error, &e.description)
        }
    }
}
