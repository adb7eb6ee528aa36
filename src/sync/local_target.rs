//! Where the tools write under a local folder the user named (`sync`, `get -r`, `archive apply`): at
//! `root/rel`, never through a symbolic link met on the way. A link inside the target that names a
//! folder elsewhere would carry the writes out of the folder the user named, and since indexes leave
//! links out, nothing else would notice. A link in the last place of a file's path is not followed: the
//! new file replaces the link itself (a rename over it).

use super::{SyncError, SyncResult};
use std::path::{Path, PathBuf};

/// `root/rel` (a path of `/`-separated names), refused when a folder on the way below `root` is a
/// symbolic link; for a folder (`is_folder`), its own place too.
pub fn under(root: &Path, rel: &str, is_folder: bool) -> SyncResult<PathBuf> {
    let names: Vec<&str> = rel.split('/').filter(|n| !n.is_empty()).collect();
    let mut path = root.to_path_buf();
    for (i, name) in names.iter().enumerate() {
        path.push(name);
        if i + 1 == names.len() && !is_folder {
            break;
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(SyncError::local(
                path,
                "is a symbolic link inside the target; nothing is written through one (move it away, or make it \
                 a real folder)",
            ));
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_on_the_way_is_refused_and_a_link_in_a_files_place_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("sub")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("real/f")).unwrap();
        assert_eq!(under(&root, "real/x.txt", false).unwrap(), root.join("real/x.txt"));
        assert_eq!(under(&root, "new/deeper/x", false).unwrap(), root.join("new/deeper/x"), "not there yet");
        let e = under(&root, "sub/x.txt", false).unwrap_err().to_string();
        assert!(e.contains("sub: is a symbolic link") && !e.contains('\n'), "{e}");
        assert!(under(&root, "sub", true).is_err(), "a folder's own place");
        assert!(under(&root, "sub/a/b", true).is_err());
        assert_eq!(under(&root, "real/f", false).unwrap(), root.join("real/f"), "replaced, not followed");
    }
}
