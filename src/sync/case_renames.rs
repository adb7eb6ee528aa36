//! Names that SRC holds in other letters than a remote DST (a local folder or file renamed only in
//! case). JottaCloud's names ignore case, so the diff's "add `photos/` and delete `Photos/`" is one name
//! there: the upload lands on the old name, the deletion is withheld, and every later run finds the same
//! difference again. Such pairs become renames to SRC's letters instead, so the next run has nothing
//! to do; a file so paired whose content differs is changed as well.

use super::index::Index;
use super::index_diff::{differs, Compare, Diff};
use std::collections::HashMap;

/// A rename on DST: `from` (DST's letters) to `to` (SRC's), both relative, folders ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRename {
    pub from: String,
    pub to: String,
}

/// Take the pairs out of `d`: the renames, parents first, and `d` without them (a paired file whose
/// content differs stays, as changed under SRC's letters).
pub fn split(d: Diff, old: &Index, new: &Index, by: Compare) -> Result<(Vec<CaseRename>, Diff), String> {
    let removed: HashMap<String, &String> = d.removed.iter().map(|p| (p.to_lowercase(), p)).collect();
    let mut pairs: HashMap<String, String> = HashMap::new();
    for a in &d.added {
        if let Some(r) = removed.get(&a.to_lowercase()) {
            // The same kind: a folder's shown name ends in `/`, a file's does not.
            if r.ends_with('/') == a.ends_with('/') {
                pairs.insert((*r).clone(), a.clone());
            }
        }
    }
    if pairs.is_empty() {
        return Ok((Vec::new(), d));
    }
    let mut renames = Vec::new();
    let mut changed = d.changed;
    for (from, to) in &pairs {
        let is_file = !to.ends_with('/');
        if is_file {
            if let (Some(x), Some(y)) = (old.get(from), new.get(to)) {
                if differs(x, y, by, old, new)? {
                    changed.push(to.clone());
                }
            }
        }
        // A name whose own letters are the same moves with its renamed folder.
        if last_name(from) != last_name(to) {
            renames.push(CaseRename { from: from.clone(), to: to.clone() });
        }
    }
    renames.sort_by_key(|r| (r.from.matches('/').count() - usize::from(r.from.ends_with('/')), r.from.clone()));
    changed.sort();
    // A set, not a scan of `pairs` per name: a folder of many files renamed in case pairs every one.
    let paired: std::collections::HashSet<&String> = pairs.values().collect();
    let added = d.added.iter().filter(|a| !paired.contains(a)).cloned().collect();
    let removed = d.removed.into_iter().filter(|r| !pairs.contains_key(r)).collect();
    Ok((renames, Diff { added, changed, removed }))
}

fn last_name(p: &str) -> &str {
    let p = p.trim_end_matches('/');
    p.rsplit('/').next().unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::index::{Entry, Kind};

    fn file(path: &str, size: u64) -> Entry {
        Entry { path: path.into(), kind: Kind::File, size, mtime: None, md5: None }
    }

    fn folder(path: &str) -> Entry {
        Entry { path: path.into(), kind: Kind::Folder, size: 0, mtime: None, md5: None }
    }

    #[test]
    fn a_folder_renamed_in_case_is_one_rename_and_its_files_stay_unless_changed() {
        let old = Index::new("dst".into(), 0, vec![folder("Photos"), file("Photos/a.jpg", 3), file("Photos/b.jpg", 4)]);
        let new = Index::new("src".into(), 0, vec![folder("photos"), file("photos/a.jpg", 3), file("photos/B.jpg", 5)]);
        let d = crate::sync::index_diff::diff(&old, &new, Compare::Size).unwrap();
        let (renames, rest) = split(d, &old, &new, Compare::Size).unwrap();
        assert_eq!(
            renames,
            vec![
                CaseRename { from: "Photos/".into(), to: "photos/".into() },
                CaseRename { from: "Photos/b.jpg".into(), to: "photos/B.jpg".into() },
            ]
        );
        assert_eq!(rest, Diff { added: vec![], changed: vec!["photos/B.jpg".into()], removed: vec![] });
    }

    #[test]
    fn names_of_another_kind_or_other_names_are_left_alone() {
        let old = Index::new("dst".into(), 0, vec![file("Notes", 1), file("x", 1)]);
        let new = Index::new("src".into(), 0, vec![folder("notes"), file("y", 1)]);
        let d = crate::sync::index_diff::diff(&old, &new, Compare::Size).unwrap();
        let (renames, rest) = split(d.clone(), &old, &new, Compare::Size).unwrap();
        assert!(renames.is_empty());
        assert_eq!(rest, d);
    }
}
