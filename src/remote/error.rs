//! The one error type of the remote layer. Every variant is a decision the caller must make: the vfs maps
//! each to exactly one errno (see `vfs::error`), the CLI prints its one-line `Display` and exits non-zero.
//! Messages name the problem and, where there is one, the way out.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// The path (or its parent) does not exist, or exists only in the trash.
    NotFound(String),
    /// Something of that name (compared case-insensitively) is already there.
    AlreadyExists(String),
    /// A folder was expected, a file was found.
    NotADirectory(String),
    /// A file was expected, a folder was found.
    IsADirectory(String),
    /// The account has no room left (HTTP 460) or is write-locked.
    QuotaExceeded(String),
    /// Credentials missing, expired beyond refresh, revoked, or wrong. Way out: `jotta login`.
    Unauthorized(String),
    /// The service refuses the operation on this item (403, read-only device, special mount point).
    Forbidden(String),
    /// The name breaks one of the service's naming rules; the message names the rule.
    InvalidName(String),
    /// A byte range outside the file (416).
    RangeNotSatisfiable(String),
    /// The upload reached the server but its md5 did not match (the revision is CORRUPT).
    Corrupt(String),
    /// The server kept only part of an upload; it can be resumed.
    Incomplete(String),
    /// Network trouble, 429 or 5xx that outlasted the retries. Worth trying again later.
    Transient(String),
    /// No connection to the service could be opened (refused, no route, name not resolved, connect timed
    /// out) after the retries: the network or the service is down. Worth trying again later.
    Unreachable(String),
    /// The server answered something we cannot understand (non-XML, truncated, missing fields).
    Protocol(String),
    /// Local configuration or credentials file problem (bad token, loose `.netrc` permissions, ...).
    Config(String),
    /// A local I/O failure (reading the file to upload, writing a download).
    Io(String),
}

pub type RemoteResult<T> = Result<T, RemoteError>;

impl RemoteError {
    /// Errors that a later retry of the same idempotent request may cure.
    pub fn is_transient(&self) -> bool {
        matches!(self, RemoteError::Transient(_) | RemoteError::Unreachable(_))
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::NotFound(m) => write!(f, "not found: {m}"),
            RemoteError::AlreadyExists(m) => write!(f, "already exists: {m}"),
            RemoteError::NotADirectory(m) => write!(f, "not a folder: {m}"),
            RemoteError::IsADirectory(m) => write!(f, "is a folder: {m}"),
            RemoteError::QuotaExceeded(m) => {
                write!(f, "out of space on JottaCloud: {m} (free space with `jotta trash empty` or upgrade the plan)")
            }
            RemoteError::Unauthorized(m) => {
                write!(f, "not authorised: {m} (run `jotta login` with a new personal login token)")
            }
            RemoteError::Forbidden(m) => write!(f, "not allowed: {m}"),
            RemoteError::InvalidName(m) => write!(f, "invalid name: {m}"),
            RemoteError::RangeNotSatisfiable(m) => write!(f, "byte range not satisfiable: {m}"),
            RemoteError::Corrupt(m) => write!(f, "upload corrupt (md5 mismatch): {m}; it will be sent again"),
            RemoteError::Incomplete(m) => write!(f, "upload incomplete: {m}; it can be resumed"),
            RemoteError::Transient(m) => {
                write!(f, "JottaCloud unreachable or busy: {m} (check the network and try again)")
            }
            RemoteError::Unreachable(m) => {
                write!(f, "JottaCloud unreachable: {m} (check the network connection)")
            }
            RemoteError::Protocol(m) => write!(f, "unexpected reply from JottaCloud: {m}"),
            RemoteError::Config(m) => write!(f, "configuration problem: {m}"),
            RemoteError::Io(m) => write!(f, "local I/O error: {m}"),
        }
    }
}

impl std::error::Error for RemoteError {}

impl From<std::io::Error> for RemoteError {
    fn from(e: std::io::Error) -> Self {
        RemoteError::Io(e.to_string())
    }
}
