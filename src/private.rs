//! Local state as private as the mount: everything the programs keep on disk (staging files, journal
//! records, status documents, logs, the demo account's data, partial downloads) is readable by the user
//! alone. Folders are 0700 and files 0600 whatever the umask (the programs run with umask 077 and
//! tighten what an earlier version left looser), and a location that other users can write to is
//! refused, since they could plant a file or a symbolic link there before we write to it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// From here on, whatever this process creates is private (0600 files, 0700 folders). Files the user
/// asked for (a `jotta get` result) are given the user's own umask explicitly when they are complete.
/// Returns the umask the process had, for those.
pub fn restrict_umask() -> u32 {
    // SAFETY: umask only swaps the process's file creation mask.
    let old = unsafe { libc::umask(0o077) };
    old as u32
}

/// The process's umask, unchanged (for files made for the user, such as a completed download).
pub fn current_umask() -> u32 {
    // SAFETY: umask swaps the mask; the old one is put back at once.
    unsafe {
        let old = libc::umask(0o077);
        libc::umask(old);
        old as u32
    }
}

/// Whether users other than us (and root) can create or replace entries in `dir`: writable by others,
/// or by a group that is not our own.
fn open_to_others(meta: &std::fs::Metadata) -> bool {
    let mode = meta.mode();
    // SAFETY: getgid cannot fail.
    let our_gid = unsafe { libc::getgid() };
    mode & 0o002 != 0 || (mode & 0o020 != 0 && meta.gid() != our_gid)
}

/// Refuse a folder of our own state (`what`, e.g. "cache_dir") that other users could write to, or
/// that belongs to someone else. A folder that does not exist yet is judged by its parent.
pub fn check_own_folder(what: &str, dir: &Path) -> Result<(), String> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let (judged, meta) = match std::fs::symlink_metadata(dir) {
        Ok(m) => (dir.to_path_buf(), m),
        Err(_) => {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            match std::fs::metadata(parent) {
                Ok(m) => (parent.to_path_buf(), m),
                // Nothing to judge yet: creating it will fail with its own clear error.
                Err(_) => return Ok(()),
            }
        }
    };
    if judged == dir && meta.file_type().is_symlink() {
        return Err(format!(
            "{what} {}: is a symbolic link; give the real folder (its link could be changed by someone else)",
            dir.display()
        ));
    }
    if judged == dir && meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "{what} {}: belongs to another user (uid {}); use a folder of your own",
            dir.display(),
            meta.uid()
        ));
    }
    if open_to_others(&meta) {
        return Err(format!(
            "{what} {}: {} can be written by other users, who could read or replace what is kept there; \
             use a folder only you can write to (e.g. under your home)",
            dir.display(),
            if judged == dir { "the folder".to_string() } else { format!("its parent {}", judged.display()) }
        ));
    }
    Ok(())
}

/// Refuse a log file in a folder other users can write to, or an existing one that is a link or not ours.
pub fn check_log_file(path: &Path) -> Result<(), String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    check_own_folder("log_file's folder", parent)?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.file_type().is_symlink() || (meta.uid() != me && meta.uid() != 0) {
            return Err(format!(
                "log_file {}: is a symbolic link or belongs to another user; give a file of your own",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Make a folder for our own state, 0700, and the parents it lacks, 0700 too (whatever the umask of
/// the command that makes them: `jotta` runs with the user's).
pub fn create_folder(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Tighten everything below `root` to 0700 folders and 0600 files (what an earlier version may have
/// left readable); returns how many entries changed. Symbolic links are left alone, never followed.
pub fn tighten(root: &Path) -> usize {
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        let want = if meta.is_dir() {
            0o700
        } else if meta.is_file() {
            0o600
        } else {
            continue;
        };
        if meta.mode() & 0o777 & !want != 0 {
            let mode = meta.mode() & 0o777 & want;
            if std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).is_ok() {
                changed += 1;
            }
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()));
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_others_can_write_to_are_refused_and_loose_state_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = check_own_folder("cache_dir", &open.join("cache")).unwrap_err();
        assert!(err.contains("other users") && err.contains("its parent"), "{err}");
        assert!(check_own_folder("cache_dir", &open).is_err());
        assert!(check_log_file(&open.join("jf.log")).is_err());
        let mine = dir.path().join("mine");
        create_folder(&mine.join("a/b")).unwrap();
        assert!(check_own_folder("cache_dir", &mine).is_ok());
        assert!(check_log_file(&mine.join("jf.log")).is_ok());

        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(mine.join("a/f"), b"x").unwrap();
        std::fs::set_permissions(mine.join("a/f"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(tighten(&mine) >= 2);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&mine), 0o700);
        assert_eq!(mode(&mine.join("a/f")), 0o600);
        assert_eq!(tighten(&mine), 0, "nothing left to change");
    }
}
