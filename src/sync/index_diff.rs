//! Comparing two indexes: what was added, changed and removed going from OLD to NEW. One merge walk over
//! the two sorted entry lists, so 200,000 entries cost a fraction of a second. Folders appear in the lists
//! with a trailing `/` (an empty folder is part of a tree too); a path that turned from file into folder
//! or back is removed and added.

use super::index::{Entry, Index, Kind};
use serde::Serialize;
use std::cmp::Ordering;

/// When two files of the same path count as changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The sizes differ (the seed's default: cheap, and it misses a same-size edit).
    Size,
    /// The sizes or the modification times differ (the seed's `useTime2Compare`).
    Time,
    /// The md5s differ; both indexes must carry them.
    Hash,
}

impl Compare {
    pub fn name(&self) -> &'static str {
        match self {
            Compare::Size => "size",
            Compare::Time => "time",
            Compare::Hash => "hash",
        }
    }

    pub fn parse(s: &str) -> Option<Compare> {
        match s {
            "size" => Some(Compare::Size),
            "time" => Some(Compare::Time),
            "hash" => Some(Compare::Hash),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// How a path is listed: folders with a trailing `/`.
pub fn shown(e: &Entry) -> String {
    match e.kind {
        Kind::Folder => format!("{}/", e.path),
        Kind::File => e.path.clone(),
    }
}

/// The one-line error when `--by-hash` meets an index without md5s.
fn missing_md5(which: &str, idx: &Index, path: &str) -> String {
    format!(
        "--by-hash: the {which} index ({}) has no md5 for '{path}'; create it with `jotta index create --md5`, \
         or compare by size or --by-time",
        idx.source
    )
}

pub fn diff(old: &Index, new: &Index, by: Compare) -> Result<Diff, String> {
    let mut d = Diff::default();
    let (mut i, mut j) = (0, 0);
    let (a, b) = (&old.entries, &new.entries);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.path.cmp(&y.path),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                d.removed.push(shown(&a[i]));
                i += 1;
            }
            Ordering::Greater => {
                d.added.push(shown(&b[j]));
                j += 1;
            }
            Ordering::Equal => {
                let (x, y) = (&a[i], &b[j]);
                if x.kind != y.kind {
                    d.removed.push(shown(x));
                    d.added.push(shown(y));
                } else if x.kind == Kind::File && differs(x, y, by, old, new)? {
                    d.changed.push(x.path.clone());
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(d)
}

pub(crate) fn differs(x: &Entry, y: &Entry, by: Compare, old: &Index, new: &Index) -> Result<bool, String> {
    Ok(match by {
        Compare::Size => x.size != y.size,
        Compare::Time => x.size != y.size || x.mtime != y.mtime,
        Compare::Hash => {
            let l = x.md5.ok_or_else(|| missing_md5("old", old, &x.path))?;
            let r = y.md5.ok_or_else(|| missing_md5("new", new, &y.path))?;
            l != r
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str, size: u64, mtime: i64, md5: u8) -> Entry {
        Entry { path: p.into(), kind: Kind::File, size, mtime: Some(mtime), md5: Some([md5; 16]) }
    }

    fn folder(p: &str) -> Entry {
        Entry { path: p.into(), kind: Kind::Folder, size: 0, mtime: None, md5: None }
    }

    #[test]
    fn each_comparison_sees_its_own_kind_of_change() {
        let old = Index::new(
            "old".into(),
            0,
            vec![file("same", 1, 1, 1), file("grew", 1, 1, 1), file("touched", 1, 1, 1), file("edited", 1, 1, 1)],
        );
        let mut new_entries =
            vec![file("same", 1, 1, 1), file("grew", 2, 1, 2), file("touched", 1, 9, 1), file("edited", 1, 1, 3)];
        new_entries.push(folder("d"));
        new_entries.push(file("d/new", 0, 0, 0));
        let new = Index::new("new".into(), 0, new_entries);
        let by = |c| diff(&old, &new, c).unwrap().changed;
        assert_eq!(by(Compare::Size), vec!["grew"]);
        assert_eq!(by(Compare::Time), vec!["grew", "touched"]);
        assert_eq!(by(Compare::Hash), vec!["edited", "grew"]);
        let d = diff(&old, &new, Compare::Size).unwrap();
        assert_eq!(d.added, vec!["d/", "d/new"]);
        assert!(d.removed.is_empty());
        let back = diff(&new, &old, Compare::Size).unwrap();
        assert_eq!(back.removed, vec!["d/", "d/new"]);
    }

    #[test]
    fn a_file_that_became_a_folder_is_removed_and_added() {
        let old = Index::new("old".into(), 0, vec![file("x", 1, 1, 1)]);
        let new = Index::new("new".into(), 0, vec![folder("x")]);
        let d = diff(&old, &new, Compare::Size).unwrap();
        assert_eq!((d.added, d.removed), (vec!["x/".to_string()], vec!["x".to_string()]));
    }

    #[test]
    fn by_hash_needs_md5s_on_both_sides() {
        let old = Index::new("old".into(), 0, vec![file("x", 1, 1, 1)]);
        let mut e = file("x", 1, 1, 1);
        e.md5 = None;
        let new = Index::new("local:/n".into(), 0, vec![e]);
        let err = diff(&old, &new, Compare::Hash).unwrap_err();
        assert!(err.contains("new index (local:/n) has no md5 for 'x'"), "{err}");
    }
}
