//! The command line's path rule: `/Device/MountPoint/path` names any device; a path whose first name is
//! not a device (`Archive/x`, `/Archive/x`) lives on the built-in device, `/Jotta/Archive/x`. `/` is the
//! account. Device names are compared case-insensitively, like every name on the service; a device wins
//! over a mount point of the same name.

use crate::remote::{Remote, RemoteError, RemotePath, RemoteResult};

/// The built-in device every account has.
pub const BUILTIN_DEVICE: &str = "Jotta";

/// Apply the rule with a known device list.
pub fn resolve(input: &str, devices: &[String]) -> RemoteResult<RemotePath> {
    let path = RemotePath::parse(input).map_err(|e| RemoteError::InvalidName(format!("{e} in path '{input}'")))?;
    match path.device() {
        None => Ok(path),
        Some(first) if devices.iter().any(|d| d.eq_ignore_ascii_case(first)) => Ok(path),
        Some(first) if first.eq_ignore_ascii_case(BUILTIN_DEVICE) => Ok(path),
        Some(_) => {
            let mut segs = vec![BUILTIN_DEVICE.to_string()];
            segs.extend(path.segments().iter().cloned());
            RemotePath::from_segments(segs)
        }
    }
}

/// Apply the rule, asking the service for its devices only when the first name is not `Jotta`.
pub async fn resolve_remote<R: Remote>(remote: &R, input: &str) -> RemoteResult<RemotePath> {
    let first = input.split('/').find(|s| !s.is_empty());
    match first {
        None => resolve(input, &[]),
        Some(f) if f.eq_ignore_ascii_case(BUILTIN_DEVICE) => resolve(input, &[]),
        Some(_) => {
            let devices: Vec<String> = remote.account().await?.devices.into_iter().map(|d| d.name).collect();
            resolve(input, &devices)
        }
    }
}

/// Why a command must not write below `path`, if it must not: writing there would create a mount point
/// on the built-in device (a mistyped `/NoSuchDevice/x` is `/Jotta/NoSuchDevice/x`). The service takes
/// such a mount point, but its web app never shows it, and nothing but the service's own tools can remove
/// it. Backup devices keep their mount points as their clients make them. One request (the device's
/// mount points), only for a path on `Jotta`.
pub async fn creates_mount_point<R: Remote>(remote: &R, path: &RemotePath) -> RemoteResult<Option<String>> {
    let (Some(device), Some(mount_point)) = (path.device(), path.mount_point()) else { return Ok(None) };
    if !device.eq_ignore_ascii_case(BUILTIN_DEVICE) {
        return Ok(None);
    }
    let device_path = RemotePath::from_segments(vec![device.to_string()])?;
    let listed = remote.device(&device_path).await?;
    let wanted = mount_point.to_lowercase();
    if listed.mount_points.iter().any(|m| m.name.to_lowercase() == wanted) {
        return Ok(None);
    }
    let shown = |m: &&crate::remote::MountPointInfo| {
        m.deleted.is_none() && !crate::remote::path::is_pseudo_mount_point(&m.name)
    };
    let names: Vec<&str> = listed.mount_points.iter().filter(shown).map(|m| m.name.as_str()).collect();
    Ok(Some(format!(
        "/{device}/{mount_point} is not a mount point of {device} ({}); write inside one, e.g. /Archive/{mount_point} \
         (a new mount point on {device} would not show in JottaCloud's web app)",
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_without_a_device_live_on_jotta() {
        let devices = vec!["Jotta".to_string(), "Laptop".to_string()];
        for (input, want) in [
            ("/", "/"),
            ("/Jotta/Archive/x", "/Jotta/Archive/x"),
            ("jotta/Sync", "/jotta/Sync"),
            ("Archive/x", "/Jotta/Archive/x"),
            ("/Archive/x", "/Jotta/Archive/x"),
            ("/Archive", "/Jotta/Archive"),
            ("/laptop/Backup/a", "/laptop/Backup/a"),
            ("Sync//a/", "/Jotta/Sync/a"),
        ] {
            assert_eq!(resolve(input, &devices).unwrap().to_string(), want, "{input}");
        }
        assert!(matches!(resolve("/Archive/a\u{1}", &devices), Err(RemoteError::InvalidName(_))));
    }
}
