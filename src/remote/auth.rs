//! Authentication (§2): the personal-login-token flow (`login`), the saved bearer session with rotating
//! refresh tokens, and the legacy HTTP Basic fall-back (environment or `~/.netrc`).
//!
//! Invariant: at most one token refresh is in flight per `HttpRemote` — `TokenManager::state` is held across
//! the refresh request, so concurrent requests wait for the new token instead of spending the refresh token
//! twice (the second use would trip the server's reuse detection and log the user out).

use super::credentials::{self, SavedCredentials};
use super::endpoints::{check_transport, Endpoints};
use super::error::{RemoteError, RemoteResult};
use super::http::{self, HttpRemote};
use super::netrc;
use super::retry::{Idempotency, RetryPolicy};
use super::time;
use super::types::AccountInfo;
use super::Remote;
use base64::Engine;
use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The OAuth client id of the official CLI; the token endpoint knows it and it needs no secret (§2.1).
pub const CLIENT_ID: &str = "jottacli";
/// Refresh when less than this many seconds of the access token remain.
pub const REFRESH_MARGIN_SECS: i64 = 60;
/// Environment variables of the legacy Basic login.
pub const ENV_USERNAME: &str = "JOTTACLOUD_USERNAME";
pub const ENV_PASSWORD: &str = "JOTTACLOUD_PASSWORD";
/// Environment override of the server base URL (the emulator).
pub const ENV_ENDPOINT: &str = "JOTTA_ENDPOINT";
/// The `.netrc` machine name for the legacy login.
pub const NETRC_MACHINE: &str = "jottacloud";

/// How `HttpRemote::connect` finds its server and credentials.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub config_dir: PathBuf,
    /// `--endpoint` / `JOTTA_ENDPOINT`: one base URL for every host (the emulator). `None` = what the saved
    /// login remembers, else the real service.
    pub endpoint: Option<String>,
    /// `--ca-cert` / `JOTTA_CA_CERT`: a PEM file with one more CA to trust (see `tls.rs`).
    pub ca_cert: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// How long a connection may stay silent before it counts as lost (`http::SILENCE`; tests shorten it).
    pub silence: std::time::Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            config_dir: crate::dirs::config_dir(),
            endpoint: std::env::var(ENV_ENDPOINT).ok().filter(|e| !e.trim().is_empty()),
            ca_cert: std::env::var_os(super::tls::ENV_CA_CERT).filter(|p| !p.is_empty()).map(PathBuf::from),
            retry: RetryPolicy::default(),
            silence: http::SILENCE,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Personal login token

/// The decoded personal login token (§2.1).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct LoginToken {
    pub username: String,
    #[serde(default)]
    pub realm: String,
    pub well_known_link: String,
    pub auth_token: String,
}

impl std::fmt::Debug for LoginToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginToken")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("well_known_link", &self.well_known_link)
            .finish_non_exhaustive()
    }
}

/// Decode a login token: base64url of a JSON object. Real tokens are unpadded; padded ones, the standard
/// alphabet and stray whitespace from copy-paste are accepted too.
pub fn decode_login_token(token: &str) -> RemoteResult<LoginToken> {
    const WAY_OUT: &str = "copy the whole token from https://www.jottacloud.com/web/secure (Personal login token)";
    let cleaned: String = token
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim_end_matches('=');
    if cleaned.is_empty() {
        return Err(RemoteError::Config(format!("the login token is empty; {WAY_OUT}")));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cleaned)
        .map_err(|e| RemoteError::Config(format!("the login token is not base64url ({e}); {WAY_OUT}")))?;
    let parsed: LoginToken = serde_json::from_slice(&bytes).map_err(|e| {
        RemoteError::Config(format!("the login token does not hold the expected JSON ({e}); {WAY_OUT}"))
    })?;
    if parsed.username.is_empty() || parsed.auth_token.is_empty() || parsed.well_known_link.is_empty() {
        return Err(RemoteError::Config(format!(
            "the login token lacks username, auth_token or well_known_link; {WAY_OUT}"
        )));
    }
    Ok(parsed)
}

/// Log in with a personal login token: discover the token endpoint, exchange the one-time secret for an
/// access and refresh token, look up the internal username, save everything (endpoint included) under
/// `config_dir`, and return the account document. `endpoint` `None` means the real service; `ca_cert`
/// is one more CA to trust (`--ca-cert`; not saved: later commands name it again, or use the env).
///
/// The token names its own service (`well_known_link`): without `endpoint` that service is used; an
/// `endpoint` that names another one is refused before the single-use token is spent, and so is a
/// service that cannot be reached (the token is only sent once its service has answered).
pub async fn login(
    token: &str,
    endpoint: Option<&str>,
    config_dir: &Path,
    ca_cert: Option<&Path>,
) -> RemoteResult<AccountInfo> {
    let lt = decode_login_token(token)?;
    check_transport(&lt.well_known_link)?;
    let token_service = token_service(&lt.well_known_link)?;
    let given = endpoint.map(str::trim).filter(|e| !e.is_empty());
    if let Some(given) = given {
        check_transport(given)?;
        if !same_service(given, token_service.as_deref()) {
            let theirs = token_service.as_deref().unwrap_or("the real JottaCloud service");
            let way_out = match &token_service {
                Some(s) => format!("use --endpoint {s}, or leave --endpoint out"),
                None => "leave --endpoint (and JOTTA_ENDPOINT) out".to_string(),
            };
            return Err(RemoteError::Config(format!(
                "this login token is for {theirs}, not {given}; {way_out} (the token was not used)"
            )));
        }
    }
    let endpoint = token_service.as_deref();
    let endpoints = Endpoints::from_override(endpoint);
    endpoints.check()?;
    let client = http::build_client(ca_cert, Some(http::SILENCE))?;
    let policy = RetryPolicy::default();
    // The service must answer before the token is spent: a session saved for a host that cannot be reached
    // would be a wasted token. Any HTTP answer will do; only a connection that fails counts.
    let probe = endpoints.api_url("");
    if let Err(e) = client.get(&probe).send().await {
        if let Some(refused) = super::tls::refused_certificate(&e) {
            return Err(RemoteError::Config(format!("{refused} (the login token was not used)")));
        }
        return Err(RemoteError::Unreachable(format!(
            "cannot reach {probe} ({}); the login token was not used: try again when the service answers",
            http::one_line(&e)
        )));
    }

    let discovery =
        http::send_plain(&policy, Idempotency::Idempotent, "OIDC discovery", || client.get(&lt.well_known_link))
            .await?;
    let discovery: serde_json::Value = json_reply(discovery, "OIDC discovery").await?;
    let token_endpoint = discovery
        .get("token_endpoint")
        .and_then(|v| v.as_str())
        .ok_or_else(|| RemoteError::Protocol(format!("{} names no token_endpoint", lt.well_known_link)))?
        .to_string();
    check_transport(&token_endpoint)?;

    let form = [
        ("grant_type", "password"),
        ("client_id", CLIENT_ID),
        ("username", lt.username.as_str()),
        ("password", lt.auth_token.as_str()),
        ("scope", "openid offline_access"),
    ];
    // Not retried once sent: the login token is single-use.
    let reply = token_request(&client, &policy, &token_endpoint, &form, TokenUse::Login).await?;
    // The login token is spent now, so anything short of a refused token still saves the session, with the
    // token's username as the best guess, rather than making the user generate another one.
    let bearer = Credential::Bearer(&reply.access_token);
    let username = match customer_username(&client, &policy, &endpoints, &bearer).await {
        Ok(found) => found,
        Err(e @ RemoteError::Unauthorized(_)) => return Err(e),
        Err(e) => {
            log::warn!("account lookup after login failed ({e}); using the login token's username");
            None
        }
    }
    .unwrap_or_else(|| lt.username.clone());
    let saved = SavedCredentials {
        endpoints,
        endpoint: endpoint.map(String::from),
        token_endpoint,
        client_id: CLIENT_ID.into(),
        username,
        access_token: reply.access_token,
        access_expiry: time::now() + reply.expires_in,
        access_lifetime: reply.expires_in,
        refresh_token: reply.refresh_token.unwrap_or_default(),
    };
    if saved.refresh_token.is_empty() {
        return Err(RemoteError::Protocol("the token endpoint issued no refresh token (scope offline_access)".into()));
    }
    credentials::save(config_dir, &saved)?;
    let remote = HttpRemote::connect(ConnectOptions {
        config_dir: config_dir.to_path_buf(),
        endpoint: None,
        ca_cert: ca_cert.map(Path::to_path_buf),
        retry: policy,
        silence: http::SILENCE,
    })
    .await?;
    remote.account().await
}

/// The service a token's `well_known_link` names: `None` for the real JottaCloud (its OIDC host is
/// `id.jottacloud.com`, its files are on the real hosts), else the base URL in front of the link's
/// `/auth/realms/...` path (an emulator serves everything under one base).
pub fn token_service(well_known_link: &str) -> RemoteResult<Option<String>> {
    let url = reqwest::Url::parse(well_known_link).map_err(|e| {
        // Escaped: the link comes from a pasted token and may hold line breaks (the message stays one line).
        let link = well_known_link.escape_debug();
        RemoteError::Config(format!("the login token's service link '{link}' is not a URL ({e})"))
    })?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host == "jottacloud.com" || host.ends_with(".jottacloud.com") {
        return Ok(None);
    }
    let path = url.path();
    let prefix = path.find("/auth/").map(|i| &path[..i]).unwrap_or("");
    let mut base = url.origin().ascii_serialization();
    base.push_str(prefix.trim_end_matches('/'));
    Ok(Some(base))
}

/// Whether an `--endpoint` names the service a token is for (`None`: the real one).
fn same_service(given: &str, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    let norm = |u: &str| match reqwest::Url::parse(u.trim()) {
        Ok(p) => format!("{}{}", p.origin().ascii_serialization(), p.path().trim_end_matches('/')),
        Err(_) => u.trim().trim_end_matches('/').to_string(),
    };
    norm(given) == norm(token)
}

// ---------------------------------------------------------------------------------------------------------
// Token endpoint

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenUse {
    Login,
    Refresh,
}

#[derive(Debug)]
pub(crate) struct TokenReply {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Seconds, between 1 and `MAX_EXPIRES_IN` whatever the server sent.
    pub expires_in: i64,
}

/// The lifetime assumed when a token reply gives none, or one that cannot be right.
const DEFAULT_EXPIRES_IN: i64 = 300;

/// The longest lifetime believed (a year): the expiry is `now + expires_in`, which must stay a real time.
pub(crate) const MAX_EXPIRES_IN: i64 = 365 * 24 * 3600;

#[derive(Deserialize)]
struct TokenJson {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

async fn token_request(
    client: &Client,
    policy: &RetryPolicy,
    token_endpoint: &str,
    form: &[(&str, &str)],
    purpose: TokenUse,
) -> RemoteResult<TokenReply> {
    // A token request that reached the server may have consumed the login token or rotated the refresh
    // token, so only a connection that never opened is tried again.
    let resp = http::send_plain(policy, Idempotency::NotIdempotent, "token request", || {
        client.post(token_endpoint).form(form)
    })
    .await?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| RemoteError::Transient(format!("token reply cut off: {e}")))?;
    token_reply(status, &body, token_endpoint, purpose)
}

/// What a token endpoint's reply means: the tokens, or the error it names.
pub(crate) fn token_reply(
    status: u16,
    body: &[u8],
    token_endpoint: &str,
    purpose: TokenUse,
) -> RemoteResult<TokenReply> {
    if (200..300).contains(&status) {
        let t: TokenJson = serde_json::from_slice(body)
            .map_err(|e| RemoteError::Protocol(format!("token endpoint {token_endpoint} sent no token JSON ({e})")))?;
        if t.access_token.is_empty() {
            return Err(RemoteError::Protocol(format!("token endpoint {token_endpoint} sent no access_token")));
        }
        // Keycloak sends an integer; be lenient about strings. Unknown lifetime: assume a short one.
        let expires_in = match t.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let expires_in = expires_in.filter(|e| (1..=MAX_EXPIRES_IN).contains(e)).unwrap_or(DEFAULT_EXPIRES_IN);
        return Ok(TokenReply { access_token: t.access_token, refresh_token: t.refresh_token, expires_in });
    }
    let err: OAuthError = serde_json::from_slice(body).unwrap_or_default();
    // The server's words go into a one-line message: its escaped line breaks and other controls become spaces.
    let line = |s: &str| s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    let detail = match (err.error.is_empty(), err.error_description.is_empty()) {
        (false, false) => format!("{}: {}", line(&err.error), line(&err.error_description)),
        (false, true) => line(&err.error),
        _ => format!("HTTP {status}"),
    };
    if status == 429 || status >= 500 {
        return Err(RemoteError::Transient(format!("token endpoint busy ({detail})")));
    }
    Err(RemoteError::Unauthorized(match purpose {
        TokenUse::Login => {
            format!("login token rejected ({detail}); it is single-use, generate a new one")
        }
        TokenUse::Refresh => format!("saved session no longer accepted ({detail})"),
    }))
}

async fn json_reply<T: serde::de::DeserializeOwned>(resp: reqwest::Response, what: &str) -> RemoteResult<T> {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| RemoteError::Transient(format!("{what}: reply cut off ({e})")))?;
    if !(200..300).contains(&status) {
        return Err(http::error_from_reply(status, &body, what));
    }
    serde_json::from_slice(&body)
        .map_err(|e| RemoteError::Protocol(format!("{what}: reply is not the expected JSON ({e})")))
}

/// A credential to put on one request.
pub(crate) enum Credential<'a> {
    Bearer(&'a str),
    Basic(&'a str, &'a str),
}

impl Credential<'_> {
    pub(crate) fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Bearer(t) => rb.bearer_auth(t),
            Credential::Basic(u, p) => rb.basic_auth(u, Some(p)),
        }
    }
}

/// `GET api account/v1/customer` → the internal username (§2.4); `None` if the reply has none.
pub(crate) async fn customer_username(
    client: &Client,
    policy: &RetryPolicy,
    endpoints: &Endpoints,
    cred: &Credential<'_>,
) -> RemoteResult<Option<String>> {
    #[derive(Deserialize)]
    struct Customer {
        #[serde(default)]
        username: Option<String>,
    }
    let url = endpoints.api_url("account/v1/customer");
    let resp =
        http::send_plain(policy, Idempotency::Idempotent, "account lookup", || cred.apply(client.get(&url))).await?;
    let c: Customer = json_reply(resp, "account lookup (account/v1/customer)").await?;
    Ok(c.username.filter(|u| !u.trim().is_empty()))
}

// ---------------------------------------------------------------------------------------------------------
// Credentials in use

/// The bearer session: the saved credentials, refreshed in place and written back on every rotation.
pub(crate) struct TokenManager {
    config_dir: PathBuf,
    client: Client,
    retry: RetryPolicy,
    state: tokio::sync::Mutex<SavedCredentials>,
}

impl TokenManager {
    pub(crate) fn new(config_dir: PathBuf, client: Client, retry: RetryPolicy, saved: SavedCredentials) -> Self {
        TokenManager { config_dir, client, retry, state: tokio::sync::Mutex::new(saved) }
    }

    /// A token good for at least `REFRESH_MARGIN_SECS` (half its lifetime for short-lived tokens, which
    /// would otherwise be refreshed before every request), refreshing first if needed.
    pub(crate) async fn access_token(&self) -> RemoteResult<String> {
        let mut state = self.state.lock().await;
        // Saturating: the expiry comes from a file on disk, which may hold any number.
        if state.access_expiry.saturating_sub(time::now()) < refresh_margin(state.access_lifetime) {
            self.refresh(&mut state, None).await?;
        }
        Ok(state.access_token.clone())
    }

    /// The server refused `rejected`: refresh unless another request already did.
    pub(crate) async fn refresh_after_rejection(&self, rejected: &str) -> RemoteResult<()> {
        let mut state = self.state.lock().await;
        if state.access_token == rejected {
            self.refresh(&mut state, Some(rejected)).await?;
        }
        Ok(())
    }

    /// Rotate the tokens. Other clients may share the config dir (a mount and the CLI, two mounts): they
    /// are serialised by a lock file, and a rotation one of them already saved is adopted instead of
    /// presenting our spent refresh token, which the server would take for theft and end the session.
    async fn refresh(&self, state: &mut SavedCredentials, rejected: Option<&str>) -> RemoteResult<()> {
        let _lock = credentials::lock(&self.config_dir).await?;
        if let Ok(Some(disk)) = credentials::load(&self.config_dir) {
            if disk.refresh_token != state.refresh_token && disk.token_endpoint == state.token_endpoint {
                log::debug!("adopting the tokens another client saved in {}", self.config_dir.display());
                state.refresh_token = disk.refresh_token;
                state.access_token = disk.access_token;
                state.access_expiry = disk.access_expiry;
                state.access_lifetime = disk.access_lifetime;
                let usable = Some(state.access_token.as_str()) != rejected && state.access_expiry > time::now();
                if usable {
                    return Ok(());
                }
            }
        }
        log::debug!("refreshing the access token at {}", state.token_endpoint);
        check_transport(&state.token_endpoint)?;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", state.refresh_token.as_str()),
            ("client_id", state.client_id.as_str()),
        ];
        let reply = token_request(&self.client, &self.retry, &state.token_endpoint, &form, TokenUse::Refresh).await?;
        state.access_token = reply.access_token;
        state.access_expiry = time::now() + reply.expires_in;
        state.access_lifetime = reply.expires_in;
        if let Some(rt) = reply.refresh_token.filter(|r| !r.is_empty()) {
            state.refresh_token = rt;
        }
        // The old refresh token is spent now: the new one must be on disk before anything else happens.
        credentials::save(&self.config_dir, state)
    }
}

/// How long before expiry to refresh an access token issued for `lifetime` seconds (0 = unknown).
fn refresh_margin(lifetime: i64) -> i64 {
    if lifetime > 0 {
        REFRESH_MARGIN_SECS.min(lifetime / 2)
    } else {
        REFRESH_MARGIN_SECS
    }
}

/// How requests are authorised.
// One per `HttpRemote`, inside its `Arc`: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Auth {
    Bearer(TokenManager),
    Basic { username: String, password: String },
}

impl Auth {
    /// Put credentials on a request; also returns the bearer token used, so a 401 can be matched to it.
    pub(crate) async fn apply(&self, rb: RequestBuilder) -> RemoteResult<(RequestBuilder, Option<String>)> {
        match self {
            Auth::Bearer(tm) => {
                let token = tm.access_token().await?;
                Ok((rb.bearer_auth(&token), Some(token)))
            }
            Auth::Basic { username, password } => Ok((rb.basic_auth(username, Some(password)), None)),
        }
    }
}

/// Where credentials were found, in precedence order: saved login, environment, `~/.netrc`.
pub(crate) enum Source {
    Saved(Box<SavedCredentials>),
    Basic { username: String, password: String, origin: String },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Saved(s) => f.debug_tuple("Saved").field(s).finish(),
            Source::Basic { username, origin, .. } => {
                f.debug_struct("Basic").field("username", username).field("origin", origin).finish_non_exhaustive()
            }
        }
    }
}

pub(crate) fn find_credentials(config_dir: &Path) -> RemoteResult<Source> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    resolve(config_dir, env(ENV_USERNAME), env(ENV_PASSWORD), &crate::dirs::home().join(".netrc"))
}

fn resolve(
    config_dir: &Path,
    env_user: Option<String>,
    env_pass: Option<String>,
    netrc_path: &Path,
) -> RemoteResult<Source> {
    if let Some(saved) = credentials::load(config_dir)? {
        return Ok(Source::Saved(Box::new(saved)));
    }
    if let (Some(username), Some(password)) = (env_user, env_pass) {
        return Ok(Source::Basic { username, password, origin: format!("${ENV_USERNAME}/${ENV_PASSWORD}") });
    }
    if let Some(e) = netrc::lookup(netrc_path, NETRC_MACHINE)? {
        return Ok(Source::Basic { username: e.login, password: e.password, origin: netrc_path.display().to_string() });
    }
    Err(RemoteError::Unauthorized(
        "no JottaCloud credentials: run `jotta login TOKEN`, or use `jottafuse --demo`".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

    const JSON: &str = r#"{"username":"3f9c2a7be1d04c6a9b1e2d70","realm":"jottacloud","well_known_link":"https://id.jottacloud.com/auth/realms/jottacloud/.well-known/openid-configuration","auth_token":"s3cr3t?>>"}"#;

    #[test]
    fn login_token_decoding() {
        let want = decode_login_token(&URL_SAFE_NO_PAD.encode(JSON)).unwrap();
        assert_eq!(want.username, "3f9c2a7be1d04c6a9b1e2d70");
        assert_eq!(want.auth_token, "s3cr3t?>>");
        assert!(!format!("{want:?}").contains("s3cr3t"), "Debug hides the secret");
        for variant in [URL_SAFE.encode(JSON), STANDARD.encode(JSON), format!("  {}\n", URL_SAFE_NO_PAD.encode(JSON))] {
            assert_eq!(decode_login_token(&variant).unwrap(), want, "{variant}");
        }
        for bad in [
            String::new(),
            "!!!not base64!!!".into(),
            URL_SAFE_NO_PAD.encode("not json"),
            URL_SAFE_NO_PAD.encode(r#"{"username":"u"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"username":"","realm":"r","well_known_link":"x","auth_token":"t"}"#),
            URL_SAFE_NO_PAD.encode(&JSON[..JSON.len() / 2]),
        ] {
            let err = decode_login_token(&bad).unwrap_err();
            assert!(matches!(err, RemoteError::Config(_)), "{bad}: {err}");
            assert!(err.to_string().contains("web/secure"), "says the way out: {err}");
        }
    }

    #[test]
    fn credential_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let netrc_path = dir.path().join(".netrc");
        let cfg = dir.path().join("cfg");
        let none = resolve(&cfg, None, None, &netrc_path).unwrap_err();
        assert!(none.to_string().contains("jotta login TOKEN"), "{none}");
        assert!(matches!(none, RemoteError::Unauthorized(_)));

        std::fs::write(&netrc_path, "machine jottacloud login nick password np\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&netrc_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let basic = |s: Source| match s {
            Source::Basic { username, .. } => username,
            other => panic!("{other:?}"),
        };
        assert_eq!(basic(resolve(&cfg, None, None, &netrc_path).unwrap()), "nick");
        // Environment beats netrc; half an environment login does not count.
        assert_eq!(basic(resolve(&cfg, Some("eve".into()), Some("p".into()), &netrc_path).unwrap()), "eve");
        assert_eq!(basic(resolve(&cfg, Some("eve".into()), None, &netrc_path).unwrap()), "nick");
        // A saved login beats both.
        let saved = SavedCredentials {
            endpoints: Endpoints::real(),
            endpoint: None,
            token_endpoint: "https://id.example/token".into(),
            client_id: CLIENT_ID.into(),
            username: "saved".into(),
            access_token: "a".into(),
            access_expiry: 0,
            access_lifetime: 0,
            refresh_token: "r".into(),
        };
        credentials::save(&cfg, &saved).unwrap();
        match resolve(&cfg, Some("eve".into()), Some("p".into()), &netrc_path).unwrap() {
            Source::Saved(s) => assert_eq!(s.username, "saved"),
            other => panic!("{other:?}"),
        }
    }
}
