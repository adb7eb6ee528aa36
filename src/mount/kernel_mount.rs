//! The mount itself when the daemon runs as root: mount(2) with the type `fuse.jottafuse`, so that
//! `mount`, `findmnt`, `df -T` and file managers can tell this mount from other FUSE mounts. (The FUSE
//! library's own mount as root always says plain `fuse`; as a normal user it goes through fusermount3,
//! which sets the subtype, and this file is not used.)
//!
//! The options are the ones the library would pass: the kernel flags (nodev, nosuid, ro, noexec, ...), the
//! kernel options (default_permissions, allow_other, custom ones) and the descriptor of /dev/fuse. Any
//! failure here falls back to the library's mount, so a mount never fails for the sake of its type name.

use fuser::{MountOption, SessionACL};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The filesystem type the mount shows.
pub const FS_TYPE: &str = "fuse.jottafuse";

/// Mount `mountpoint` as `fuse.jottafuse` and return the /dev/fuse descriptor of the new connection, or
/// None where the library's mount must do it (not root, or an option only fusermount3 understands).
pub fn mount_as_root(mountpoint: &Path, options: &[MountOption], acl: SessionACL) -> Option<OwnedFd> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || options.contains(&MountOption::AutoUnmount) {
        return None;
    }
    match try_mount(mountpoint, options, acl) {
        Ok(fd) => Some(fd),
        Err(e) => {
            log::debug!("mounting as {FS_TYPE} failed ({e}); the FUSE library mounts it instead");
            None
        }
    }
}

fn try_mount(mountpoint: &Path, options: &[MountOption], acl: SessionACL) -> std::io::Result<OwnedFd> {
    let dev = std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse")?;
    let fd = OwnedFd::from(dev);
    let rootmode = std::fs::metadata(mountpoint)?.mode() & libc::S_IFMT;
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut data = format!("fd={},rootmode={rootmode:o},user_id={uid},group_id={gid}", fd.as_raw_fd());
    let mut flags: libc::c_ulong = 0;
    let mut source = "jottafuse".to_string();
    for o in options {
        match o {
            MountOption::FSName(name) => source = name.clone(),
            MountOption::CUSTOM(v) => data.push_str(&format!(",{v}")),
            MountOption::DefaultPermissions => data.push_str(",default_permissions"),
            MountOption::RO => flags |= libc::MS_RDONLY,
            MountOption::NoExec => flags |= libc::MS_NOEXEC,
            MountOption::NoAtime => flags |= libc::MS_NOATIME,
            MountOption::Sync => flags |= libc::MS_SYNCHRONOUS,
            MountOption::DirSync => flags |= libc::MS_DIRSYNC,
            _ => {}
        }
    }
    if !options.contains(&MountOption::Dev) {
        flags |= libc::MS_NODEV;
    }
    if !options.contains(&MountOption::Suid) {
        flags |= libc::MS_NOSUID;
    }
    if !matches!(acl, SessionACL::Owner) {
        data.push_str(",allow_other");
    }
    let c = |s: &[u8]| CString::new(s).map_err(|_| std::io::Error::other("a NUL byte in a mount argument"));
    let (source, target, fstype, data) =
        (c(source.as_bytes())?, c(mountpoint.as_os_str().as_bytes())?, c(FS_TYPE.as_bytes())?, c(data.as_bytes())?);
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), flags, data.as_ptr().cast()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}
