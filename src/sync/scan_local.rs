//! Walking the local side of a scan: every regular file (size, mtime) and folder below the scanned
//! folder, by relative `/`-joined name. Excluded paths are not entered; symlinks, sockets, devices, fifos,
//! names JottaCloud cannot store and names that differ only in case from one already seen are skipped
//! with a note. Nothing here reads file content (only, when asked, the checksum xattr). With `links`, a
//! symlink `NAME` is a file `NAME.rclonelink` (its target its content), unless a real entry of that
//! name is beside it: the real one is backed up, the link skipped with a note.

use super::checksum_cache::{read_xattr, Stamp, XattrEntry};
use super::exclude::Excludes;
use crate::remote::rclonelink::{link_file_name, link_stem};
use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct LocalFile {
    pub rel: String,
    pub path: PathBuf,
    pub stamp: Stamp,
    /// The checksum xattr as read during the walk (when asked for), valid or not.
    pub xattr: Option<XattrEntry>,
    /// A symbolic link at `path`, backed up as the file `rel` (`NAME.rclonelink`); `stamp` is its lstat.
    pub link: bool,
}

#[derive(Debug, Default)]
pub struct LocalTree {
    /// Keyed by the lowercase relative name: JottaCloud names are case-insensitive.
    pub files: BTreeMap<String, LocalFile>,
    pub folders: BTreeMap<String, String>,
    /// Skipped entries and why (a note each, not a failure).
    pub skipped: Vec<(String, String)>,
    /// Entries that could not be read (a failure each: the scan goes on, the exit code says 1).
    pub failed: Vec<(String, String)>,
}

/// Walk `root`. With `read_checksums`, each file's checksum xattr is read here too: the walk runs while
/// the remote listing is on its way, so that syscall per file costs no extra time in a scan.
pub fn walk(root: &Path, excludes: &Excludes, read_checksums: bool, links: bool) -> LocalTree {
    let mut tree = LocalTree::default();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tree.failed.push((shown(&rel_dir), format!("cannot list: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    tree.failed.push((shown(&rel_dir), format!("cannot list: {e}")));
                    continue;
                }
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                let rel = join(&rel_dir, &name.to_string_lossy());
                tree.skipped.push((rel, "name is not UTF-8; JottaCloud names are text".into()));
                continue;
            };
            let mut rel = join(&rel_dir, name);
            let path = entry.path();
            // lstat, relative to the open folder (no path lookup from the root per file): a symlink is
            // seen as a link, never followed.
            let meta = match entry.metadata() {
                Ok(m) => m,
                // Gone between readdir and stat: nothing to back up, and the remote copy goes with it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tree.failed.push((rel, format!("cannot stat: {e}")));
                    continue;
                }
            };
            let ft = meta.file_type();
            let is_dir = ft.is_dir();
            if excludes.excluded(&rel, is_dir) {
                continue;
            }
            let link = links && ft.is_symlink();
            let kind = if link {
                None
            } else if ft.is_symlink() {
                Some("symbolic link")
            } else if ft.is_socket() {
                Some("socket")
            } else if ft.is_block_device() || ft.is_char_device() {
                Some("device")
            } else if ft.is_fifo() {
                Some("fifo")
            } else {
                None
            };
            if let Some(kind) = kind {
                tree.skipped.push((rel, format!("{kind}, not backed up")));
                continue;
            }
            let stored = if link { link_file_name(name) } else { name.to_string() };
            if let Err(e) = crate::remote::path::validate_name(&stored) {
                tree.skipped.push((rel, e.to_string()));
                continue;
            }
            if link {
                rel = join(&rel_dir, &stored);
            }
            let key = rel.to_lowercase();
            let clash = |l: &str| format!("symbolic link: its stored name {l} is taken by a real entry beside it");
            match tree.files.get(&key) {
                Some(seen) if seen.link && !link => {
                    // The real entry wins over a link met earlier in the folder's order.
                    let seen = tree.files.remove(&key).map(|f| f.rel).unwrap_or_default();
                    tree.skipped.push((join(&rel_dir, link_stem(name).unwrap_or(name)), clash(&seen)));
                }
                _ if link && (tree.files.contains_key(&key) || tree.folders.contains_key(&key)) => {
                    tree.skipped.push((join(&rel_dir, name), clash(&rel)));
                    continue;
                }
                _ => {}
            }
            if tree.files.contains_key(&key) || tree.folders.contains_key(&key) {
                tree.skipped.push((rel, "differs only in case from another name; JottaCloud cannot keep both".into()));
                continue;
            }
            if is_dir {
                tree.folders.insert(key, rel.clone());
                stack.push((path, rel));
            } else {
                let xattr = if read_checksums && !link { read_xattr(&path) } else { None };
                tree.files.insert(key, LocalFile { rel, path, stamp: Stamp::of(&meta), xattr, link });
            }
        }
    }
    tree
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn shown(rel: &str) -> String {
    if rel.is_empty() {
        ".".into()
    } else {
        rel.to_string()
    }
}
