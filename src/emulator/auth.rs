//! The identity side: single-use personal login tokens, the OAuth password and refresh grants with
//! refresh-token rotation and reuse detection (a reused refresh token kills its whole family, access
//! tokens included), bearer checks and legacy Basic credentials. State lives in `auth.json`, rewritten
//! atomically on every change, so clients stay logged in across emulator restarts.

use super::errors::Failure;
use super::ids;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessEntry {
    family: String,
    expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshEntry {
    family: String,
    used: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Family {
    client_id: String,
    alive: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct AuthData {
    account_uuid: String,
    login_secrets: HashSet<String>,
    used_login_secrets: HashSet<String>,
    access: HashMap<String, AccessEntry>,
    refresh: HashMap<String, RefreshEntry>,
    families: HashMap<String, Family>,
}

/// An OAuth error answer: status, `error`, `error_description`.
#[derive(Debug)]
pub struct GrantError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

fn grant_error(status: u16, error: &'static str, description: &str) -> GrantError {
    GrantError { status, error, description: description.to_string() }
}

pub struct Auth {
    data: AuthData,
    path: PathBuf,
    user: String,
    password: String,
    lifetime_secs: i64,
    endpoint: String,
}

impl Auth {
    pub fn load(path: PathBuf, user: &str, password: &str, lifetime_secs: i64, endpoint: &str) -> Self {
        let mut data: AuthData =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        if data.account_uuid.is_empty() {
            data.account_uuid = ids::uuid();
        }
        let auth = Auth {
            data,
            path,
            user: user.to_string(),
            password: password.to_string(),
            lifetime_secs: lifetime_secs.max(1),
            endpoint: endpoint.to_string(),
        };
        auth.save();
        auth
    }

    /// Write the state atomically; failures are logged, not fatal (tokens still work in memory).
    fn save(&self) {
        let tmp = self.path.with_extension("json.tmp");
        let result = serde_json::to_vec(&self.data)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|_| std::fs::rename(&tmp, &self.path));
        if let Err(e) = result {
            log::warn!("emulator: cannot save auth state to {}: {e}", self.path.display());
        }
    }

    pub fn well_known_link(&self) -> String {
        format!("{}/auth/realms/jottacloud/.well-known/openid-configuration", self.endpoint)
    }

    /// A fresh single-use personal login token (unpadded base64url JSON, as rclone requires).
    pub fn mint_login_token(&mut self) -> String {
        let secret = ids::hex32();
        self.data.login_secrets.insert(secret.clone());
        self.save();
        let json = serde_json::json!({
            "username": self.user,
            "realm": "jottacloud",
            "well_known_link": self.well_known_link(),
            "auth_token": secret,
        });
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    fn jwt(&self, typ: &str, family: &str, client_id: &str, exp: i64) -> String {
        let now = super::timefmt::now();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "emulator"});
        let payload = serde_json::json!({
            "exp": exp,
            "iat": now,
            "jti": ids::uuid(),
            "iss": format!("{}/auth/realms/jottacloud", self.endpoint),
            "sub": format!("f:{}:{}", self.data.account_uuid, self.user),
            "typ": typ,
            "azp": client_id,
            "session_state": family,
            "scope": "openid offline_access",
            "preferred_username": self.user,
        });
        let sig: [u8; 32] = rand::random();
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// Issue an access/refresh pair in `family` and answer with Keycloak's token JSON.
    fn issue(&mut self, family: &str, client_id: &str) -> serde_json::Value {
        let now = super::timefmt::now();
        let expires_at = now + self.lifetime_secs;
        let access = self.jwt("Bearer", family, client_id, expires_at);
        let refresh = self.jwt("Offline", family, client_id, 0);
        let id_token = self.jwt("ID", family, client_id, expires_at);
        // Expired access tokens are useless; dropping them keeps auth.json small.
        self.data.access.retain(|_, a| a.expires_at > now);
        self.data.access.insert(access.clone(), AccessEntry { family: family.to_string(), expires_at });
        self.data.refresh.insert(refresh.clone(), RefreshEntry { family: family.to_string(), used: false });
        self.save();
        serde_json::json!({
            "access_token": access,
            "expires_in": self.lifetime_secs,
            "refresh_expires_in": 0,
            "refresh_token": refresh,
            "token_type": "bearer",
            "id_token": id_token,
            "not-before-policy": 0,
            "session_state": family,
            "scope": "openid offline_access email profile",
        })
    }

    /// `grant_type=password`: the password is the login token's `auth_token` (single use), or, as a
    /// test convenience, the account password.
    pub fn password_grant(
        &mut self,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<serde_json::Value, GrantError> {
        if username != self.user {
            return Err(grant_error(401, "invalid_grant", "Invalid user credentials"));
        }
        if self.data.login_secrets.remove(password) {
            self.data.used_login_secrets.insert(password.to_string());
        } else if password != self.password || self.password.is_empty() {
            return Err(grant_error(401, "invalid_grant", "Invalid user credentials"));
        }
        let family = ids::uuid();
        let client = if client_id.is_empty() { "jottacli" } else { client_id };
        self.data.families.insert(family.clone(), Family { client_id: client.to_string(), alive: true });
        Ok(self.issue(&family, client))
    }

    /// `grant_type=refresh_token` with rotation: the presented token is spent; presenting a spent
    /// token again kills the family.
    pub fn refresh_grant(&mut self, client_id: &str, token: &str) -> Result<serde_json::Value, GrantError> {
        if client_id.is_empty() {
            return Err(grant_error(400, "invalid_client", "Missing client id"));
        }
        let entry = match self.data.refresh.get(token) {
            Some(e) => e.clone(),
            None => return Err(grant_error(400, "invalid_grant", "Invalid refresh token")),
        };
        let alive = self.data.families.get(&entry.family).map(|f| f.alive).unwrap_or(false);
        if entry.used || !alive {
            self.kill_family(&entry.family);
            return Err(grant_error(400, "invalid_grant", "Session doesn't have required client"));
        }
        if let Some(e) = self.data.refresh.get_mut(token) {
            e.used = true;
        }
        Ok(self.issue(&entry.family, client_id))
    }

    fn kill_family(&mut self, family: &str) {
        if let Some(f) = self.data.families.get_mut(family) {
            f.alive = false;
        }
        self.data.access.retain(|_, a| a.family != family);
        self.save();
    }

    /// Is this bearer token a live access token?
    pub fn check_bearer(&self, token: &str) -> Result<(), Failure> {
        let entry = self.data.access.get(token).ok_or_else(|| Failure::unauthorized("Invalid access token"))?;
        if entry.expires_at <= super::timefmt::now() {
            return Err(Failure::unauthorized("Access token expired"));
        }
        let alive = self.data.families.get(&entry.family).map(|f| f.alive).unwrap_or(false);
        if !alive {
            return Err(Failure::unauthorized("Session not active"));
        }
        Ok(())
    }

    pub fn check_basic(&self, user: &str, password: &str) -> bool {
        !self.password.is_empty() && user == self.user && password == self.password
    }

    /// Test hook: every current access token expires now (refresh tokens stay valid).
    pub fn expire_all(&mut self) {
        let past = super::timefmt::now() - 1;
        for a in self.data.access.values_mut() {
            a.expires_at = past;
        }
        self.save();
    }

    pub fn userinfo(&self) -> serde_json::Value {
        serde_json::json!({
            "sub": format!("f:{}:{}", self.data.account_uuid, self.user),
            "email_verified": true,
            "name": "Demo User",
            "realm": "jottacloud",
            "preferred_username": self.user,
            "given_name": "Demo",
            "family_name": "User",
            "email": format!("{}@example.invalid", self.user),
            "username": self.user,
        })
    }
}
