//! Where the protocol's hosts live (§0 "Hosts"): the JFS XML tree and the JSON API. The real service uses
//! two hosts; the emulator serves both (and OIDC) under one base URL. Also owns the rule that credentials
//! only travel over TLS, except to a loopback emulator.

use super::error::{RemoteError, RemoteResult};
use reqwest::Url;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// JFS base ending in `/jfs/`; `<user>/<device>/...` is appended.
    pub jfs: String,
    /// API base ending in `/`; `account/v1/customer`, `files/v1/allocate`, ... are appended.
    pub api: String,
}

impl Endpoints {
    /// The production hosts.
    pub fn real() -> Self {
        Endpoints { jfs: "https://jfs.jottacloud.com/jfs/".into(), api: "https://api.jottacloud.com/".into() }
    }

    /// One server for everything (the emulator): `http://127.0.0.1:PORT` gives JFS at `/jfs/`, API at `/`.
    pub fn from_base(base: &str) -> Self {
        let base = base.trim().trim_end_matches('/');
        Endpoints { jfs: format!("{base}/jfs/"), api: format!("{base}/") }
    }

    /// `from_base` when an override is given, else the real hosts.
    pub fn from_override(endpoint: Option<&str>) -> Self {
        match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Endpoints::from_base(e),
            None => Endpoints::real(),
        }
    }

    pub fn api_url(&self, rel: &str) -> String {
        format!("{}{}", self.api, rel.trim_start_matches('/'))
    }

    /// The credential-free link to a shared file's bytes (§5.12): on the real service the www host's
    /// `/opin/io/downloadPublic/<user>/<publicURI>`; an emulator serves the same path on its own base.
    pub fn public_link(&self, user: &str, uri: &str) -> String {
        let base =
            if *self == Endpoints::real() { "https://www.jottacloud.com/".to_string() } else { self.api.clone() };
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        format!("{base}opin/io/downloadPublic/{}/{}", enc(user), enc(uri))
    }

    /// Both bases must be URLs we are willing to send credentials to.
    pub fn check(&self) -> RemoteResult<()> {
        check_transport(&self.jfs)?;
        check_transport(&self.api)
    }
}

/// `https://` anywhere; plain `http://` only to a loopback address (the emulator), because every request
/// carries a bearer token or a password.
pub fn check_transport(url: &str) -> RemoteResult<()> {
    let parsed = Url::parse(url).map_err(|e| {
        let shown = url.escape_debug();
        RemoteError::Config(format!("'{shown}' is not a URL ({e}); give an endpoint like http://127.0.0.1:8080"))
    })?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(RemoteError::Config(format!(
            "refusing to send JottaCloud credentials over plain http to {url}; use https, or a loopback \
             emulator address (127.0.0.1, ::1, localhost)"
        ))),
        other => Err(RemoteError::Config(format!("unsupported URL scheme '{other}' in {url}; use https"))),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases() {
        let e = Endpoints::from_base("http://127.0.0.1:8080/");
        assert_eq!(e.jfs, "http://127.0.0.1:8080/jfs/");
        assert_eq!(e.api_url("/files/v1/allocate"), "http://127.0.0.1:8080/files/v1/allocate");
        assert_eq!(Endpoints::from_override(None), Endpoints::real());
        assert_eq!(Endpoints::real().api_url("account/v1/customer"), "https://api.jottacloud.com/account/v1/customer");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in ["https://jfs.jottacloud.com/jfs/", "http://127.0.0.1:1/", "http://[::1]:8/", "http://localhost/"] {
            assert!(check_transport(ok).is_ok(), "{ok}");
        }
        for bad in ["http://example.com/", "ftp://127.0.0.1/", "not a url", "http://10.0.0.1/"] {
            assert!(matches!(check_transport(bad), Err(RemoteError::Config(_))), "{bad}");
        }
    }
}
