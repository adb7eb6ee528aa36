//! The saved login: `<config_dir>/credentials.json`, mode 0600. Refresh tokens rotate on every use and the
//! old one stops working at once, so the file is replaced atomically (temp file in the same directory,
//! fsync, rename, fsync of the directory): a crash leaves either the old or the new token, never neither.

use super::endpoints::Endpoints;
use super::error::{RemoteError, RemoteResult};
use super::types::UnixTime;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "credentials.json";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCredentials {
    pub endpoints: Endpoints,
    /// The `--endpoint` given at login, remembered so later commands talk to the same server.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub token_endpoint: String,
    pub client_id: String,
    /// Internal account name used in JFS URLs.
    pub username: String,
    pub access_token: String,
    /// Unix seconds at which the access token stops working.
    pub access_expiry: UnixTime,
    /// Seconds the access token was issued for (`expires_in`); 0 when unknown (older files).
    #[serde(default)]
    pub access_lifetime: i64,
    pub refresh_token: String,
}

impl std::fmt::Debug for SavedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedCredentials")
            .field("endpoints", &self.endpoints)
            .field("endpoint", &self.endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("access_expiry", &self.access_expiry)
            .finish_non_exhaustive()
    }
}

pub fn path(config_dir: &Path) -> PathBuf {
    config_dir.join(FILE_NAME)
}

/// The saved login, or `None` when nobody has logged in. A damaged file is a `Config` error naming the way
/// out rather than a silent fall-back to other credentials.
pub fn load(config_dir: &Path) -> RemoteResult<Option<SavedCredentials>> {
    let file = path(config_dir);
    let text = match std::fs::read(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RemoteError::Config(format!("cannot read {}: {e}", file.display()))),
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        RemoteError::Config(format!("{} is damaged ({e}); run `jotta login TOKEN` to replace it", file.display()))
    })
}

/// Replace the saved login atomically, readable only by the owner.
pub fn save(config_dir: &Path, creds: &SavedCredentials) -> RemoteResult<()> {
    let fail =
        |what: &str, e: std::io::Error| RemoteError::Config(format!("cannot {what} in {}: {e}", config_dir.display()));
    create_private_dir(config_dir).map_err(|e| fail("create the config folder", e))?;
    let body =
        serde_json::to_vec_pretty(creds).map_err(|e| RemoteError::Config(format!("cannot encode credentials: {e}")))?;
    let tmp = config_dir.join(format!(".{FILE_NAME}.{}.{:08x}.tmp", std::process::id(), rand::random::<u32>()));
    let written = (|| {
        let mut f = open_private(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path(config_dir))?;
        // The rename itself must reach the disk, or a crash could bring back the spent refresh token.
        std::fs::File::open(config_dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("save credentials", e));
    }
    Ok(())
}

/// Held while a client refreshes the tokens, so that clients sharing the config dir (in this process or
/// another) rotate one at a time; released on drop.
pub struct RefreshLock {
    _file: std::fs::File,
}

/// Take the exclusive refresh lock of `config_dir` (`credentials.lock`), waiting for another holder.
pub async fn lock(config_dir: &Path) -> RemoteResult<RefreshLock> {
    let dir = config_dir.to_path_buf();
    let fail = |e: std::io::Error| RemoteError::Config(format!("cannot lock {}: {e}", dir.join(LOCK_NAME).display()));
    let file = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || -> std::io::Result<std::fs::File> {
            create_private_dir(&dir)?;
            let file = open_lock(&dir.join(LOCK_NAME))?;
            lock_exclusive(&file)?;
            Ok(file)
        }
    })
    .await
    .map_err(|e| fail(std::io::Error::other(e)))?
    .map_err(fail)?;
    Ok(RefreshLock { _file: file })
}

pub const LOCK_NAME: &str = "credentials.lock";

#[cfg(unix)]
fn open_lock(p: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(p)
}

#[cfg(not(unix))]
fn open_lock(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(p)
}

#[cfg(unix)]
fn lock_exclusive(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: flock on a descriptor we own; the lock goes with the descriptor when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// Forget the saved login (`jotta logout`). Missing is fine.
pub fn remove(config_dir: &Path) -> RemoteResult<()> {
    match std::fs::remove_file(path(config_dir)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RemoteError::Config(format!("cannot remove {}: {e}", path(config_dir).display()))),
    }
}

#[cfg(unix)]
fn open_private(p: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(p)
}

#[cfg(not(unix))]
fn open_private(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(p)
}

#[cfg(unix)]
fn create_private_dir(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(p)
}

#[cfg(not(unix))]
fn create_private_dir(p: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(refresh: &str) -> SavedCredentials {
        SavedCredentials {
            endpoints: Endpoints::from_base("http://127.0.0.1:9"),
            endpoint: Some("http://127.0.0.1:9".into()),
            token_endpoint: "http://127.0.0.1:9/auth/realms/jottacloud/protocol/openid-connect/token".into(),
            client_id: "jottacli".into(),
            username: "user01".into(),
            access_token: "at".into(),
            access_expiry: 1_700_000_000,
            access_lifetime: 3600,
            refresh_token: refresh.into(),
        }
    }

    #[test]
    fn save_is_atomic_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("nested/jottafuse");
        assert_eq!(load(&cfg).unwrap(), None);
        save(&cfg, &sample("rt1")).unwrap();
        save(&cfg, &sample("rt2")).unwrap();
        assert_eq!(load(&cfg).unwrap(), Some(sample("rt2")));
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(&cfg).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from(FILE_NAME)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(&cfg)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Debug output never shows tokens.
        let shown = format!("{:?}", sample("secret-refresh"));
        assert!(!shown.contains("secret-refresh") && !shown.contains("\"at\""), "{shown}");
        remove(&cfg).unwrap();
        remove(&cfg).unwrap();
        assert_eq!(load(&cfg).unwrap(), None);
    }

    #[test]
    fn damaged_file_says_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{\"endpoints\": tru").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, RemoteError::Config(_)));
        assert!(err.to_string().contains("jotta login"), "{err}");
    }
}
