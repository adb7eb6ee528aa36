//! `FsError`, the filesystem core's one error type, and the single exhaustive mapping to errno.
//! Adding a variant here (or to `RemoteError`) fails to compile until someone decides its errno.

use crate::remote::RemoteError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    Exists,
    NotADirectory,
    IsADirectory,
    NotEmpty,
    /// Devices, mount points and the account root are not writable (or the mount is `-o ro`).
    ReadOnly(String),
    NoSpace(String),
    InvalidName(String),
    /// A name longer than the service (and NAME_MAX) allows.
    NameTooLong,
    /// The service refused us (credentials gone, forbidden item).
    Access(String),
    /// Network or server trouble that outlasted the retries; the message says what happened.
    Io(String),
    /// The service cannot be reached (see `offline.rs`): what needs it fails at once, what does not is
    /// served from the cache and the journal.
    Unreachable(String),
    /// The operation does not exist on this filesystem (documented in README).
    Unsupported(&'static str),
    /// Something JottaCloud cannot hold at all (FIFOs, sockets, device nodes, links).
    NotPermitted(String),
    /// A size the staging disk cannot hold (a truncate far beyond its free space).
    TooBig(String),
    BadHandle,
}

pub type FsResult<T> = Result<T, FsError>;

impl FsError {
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::Exists => libc::EEXIST,
            FsError::NotADirectory => libc::ENOTDIR,
            FsError::IsADirectory => libc::EISDIR,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::ReadOnly(_) => libc::EROFS,
            FsError::NoSpace(_) => libc::ENOSPC,
            FsError::InvalidName(_) => libc::EINVAL,
            FsError::NameTooLong => libc::ENAMETOOLONG,
            FsError::Access(_) => libc::EACCES,
            FsError::Io(_) => libc::EIO,
            FsError::Unreachable(_) => libc::EIO,
            FsError::Unsupported(_) => libc::ENOTSUP,
            FsError::NotPermitted(_) => libc::EPERM,
            FsError::TooBig(_) => libc::EFBIG,
            FsError::BadHandle => libc::EBADF,
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("no such file or folder"),
            FsError::Exists => f.write_str("already exists (names are case-insensitive on JottaCloud)"),
            FsError::NotADirectory => f.write_str("not a folder"),
            FsError::IsADirectory => f.write_str("is a folder"),
            FsError::NotEmpty => f.write_str("folder not empty"),
            FsError::ReadOnly(m) => write!(f, "read-only: {m}"),
            FsError::NoSpace(m) => write!(f, "no space: {m}"),
            FsError::InvalidName(m) => write!(f, "invalid name: {m}"),
            FsError::NameTooLong => f.write_str("name longer than 255 bytes"),
            FsError::Access(m) => write!(f, "access refused: {m}"),
            FsError::Io(m) => write!(f, "I/O error: {m}"),
            FsError::Unreachable(m) => write!(f, "JottaCloud unreachable: {m}"),
            FsError::Unsupported(m) => write!(f, "not supported: {m}"),
            FsError::NotPermitted(m) => write!(f, "not permitted: {m}"),
            FsError::TooBig(m) => write!(f, "file too large: {m}"),
            FsError::BadHandle => f.write_str("bad file handle"),
        }
    }
}

impl From<RemoteError> for FsError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::NotFound(_) => FsError::NotFound,
            RemoteError::AlreadyExists(_) => FsError::Exists,
            RemoteError::NotADirectory(_) => FsError::NotADirectory,
            RemoteError::IsADirectory(_) => FsError::IsADirectory,
            RemoteError::QuotaExceeded(m) => FsError::NoSpace(m),
            RemoteError::Unauthorized(m) => FsError::Access(m),
            RemoteError::Forbidden(m) => FsError::Access(m),
            RemoteError::InvalidName(m) => FsError::InvalidName(m),
            RemoteError::RangeNotSatisfiable(m) => FsError::Io(m),
            RemoteError::Corrupt(m) => FsError::Io(m),
            RemoteError::Incomplete(m) => FsError::Io(m),
            RemoteError::Transient(m) => FsError::Io(m),
            RemoteError::Unreachable(m) => FsError::Unreachable(m),
            RemoteError::Protocol(m) => FsError::Io(m),
            RemoteError::Config(m) => FsError::Access(m),
            RemoteError::Io(m) => FsError::Io(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_errors_map_to_the_expected_errno() {
        let table = [
            (RemoteError::NotFound("x".into()), libc::ENOENT),
            (RemoteError::AlreadyExists("x".into()), libc::EEXIST),
            (RemoteError::QuotaExceeded("x".into()), libc::ENOSPC),
            (RemoteError::Unauthorized("x".into()), libc::EACCES),
            (RemoteError::InvalidName("x".into()), libc::EINVAL),
            (RemoteError::Transient("x".into()), libc::EIO),
            (RemoteError::Unreachable("x".into()), libc::EIO),
            (RemoteError::Protocol("x".into()), libc::EIO),
            (RemoteError::NotADirectory("x".into()), libc::ENOTDIR),
        ];
        for (remote, errno) in table {
            assert_eq!(FsError::from(remote.clone()).errno(), errno, "{remote}");
        }
    }

    #[test]
    fn refusals_of_the_core_map_to_their_errno() {
        assert_eq!(FsError::NotPermitted("fifo".into()).errno(), libc::EPERM);
        assert_eq!(FsError::TooBig("1 EiB".into()).errno(), libc::EFBIG);
        assert_eq!(FsError::Unsupported("setxattr").errno(), libc::EOPNOTSUPP);
        assert_eq!(FsError::ReadOnly("/".into()).errno(), libc::EROFS);
    }
}
