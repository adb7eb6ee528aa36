//! Checks made before anything starts: the mount point exists, is a folder, and is not already mounted.

use std::path::{Path, PathBuf};

/// Resolve and vet the mount point; the error is the one line the user sees.
/// `nonempty`: a folder that holds files is fine (`-o nonempty`).
pub fn check_mountpoint(path: &Path, nonempty: bool) -> Result<PathBuf, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(format!(
                "{} is a mount whose daemon has gone away; run `fusermount3 -u {}` first",
                path.display(),
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "mount point {} does not exist; create it with `mkdir -p {}`",
                path.display(),
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot use mount point {}: {e}", path.display())),
    };
    if !meta.is_dir() {
        return Err(format!("mount point {} is not a folder", path.display()));
    }
    let abs = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    if is_mounted(&abs) {
        return Err(format!(
            "{} is already a mount point; unmount it first (`fusermount3 -u {}`)",
            abs.display(),
            abs.display()
        ));
    }
    // The mount would hide what the folder holds until it is unmounted: refuse unless asked (rclone's rule).
    if !nonempty {
        let mut entries =
            std::fs::read_dir(&abs).map_err(|e| format!("cannot read mount point {}: {e}", abs.display()))?;
        if entries.next().is_some() {
            return Err(format!(
                "mount point {} is not empty: mounting would hide its files; use an empty folder, or -o nonempty to \
                 mount over them anyway",
                abs.display()
            ));
        }
    }
    Ok(abs)
}

/// Whether a path is the target of an existing mount, per /proc/self/mountinfo.
pub fn is_mounted(abs: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let want = abs.to_string_lossy();
    info.lines().filter_map(|l| l.split(' ').nth(4)).any(|mp| unescape(mp) == want)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/mnt/a\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn missing_and_file_mountpoints_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(check_mountpoint(&missing, false).unwrap_err().contains("does not exist"));
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(check_mountpoint(&file, false).unwrap_err().contains("not a folder"));
        let refused = check_mountpoint(dir.path(), false).unwrap_err();
        assert!(refused.contains("not empty") && refused.contains("-o nonempty"), "{refused}");
        assert!(check_mountpoint(dir.path(), true).is_ok());
        std::fs::remove_file(&file).unwrap();
        assert!(check_mountpoint(dir.path(), false).is_ok());
        assert!(check_mountpoint(Path::new("/proc"), true).unwrap_err().contains("already a mount point"));
    }
}
