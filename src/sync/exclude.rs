//! `--exclude PATTERN`: gitignore rules (the `ignore` crate's matcher) applied to paths relative to the
//! scanned folder. `*.tmp` matches at any depth, `/build` only at the top, `cache/` only folders, `!keep`
//! re-includes. An excluded path is neither uploaded nor, on the server, trashed: it is outside the mirror.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::path::Path;

pub struct Excludes {
    rules: Gitignore,
}

impl Excludes {
    /// Rules rooted at `root`; a malformed pattern is an error naming it.
    pub fn new(root: &Path, patterns: &[String]) -> Result<Excludes, String> {
        let mut b = GitignoreBuilder::new(root);
        for p in patterns {
            b.add_line(None, p).map_err(|e| format!("bad --exclude pattern '{p}': {e}"))?;
        }
        let rules = b.build().map_err(|e| format!("bad --exclude patterns: {e}"))?;
        Ok(Excludes { rules })
    }

    /// Whether the relative path `rel` (`a/b.txt`) is excluded (a folder's contents are never asked:
    /// the walk does not enter an excluded folder, and remote entries are checked with their parents).
    pub fn excluded(&self, rel: &str, is_dir: bool) -> bool {
        !rel.is_empty() && self.rules.matched_path_or_any_parents(rel, is_dir).is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_rules_apply_to_relative_paths() {
        let pats: Vec<String> = ["*.tmp", "/build", "cache/", "logs/**/*.log", "!keep.tmp"].map(String::from).to_vec();
        let e = Excludes::new(Path::new("/src"), &pats).unwrap();
        let cases = [
            ("a.tmp", false, true),
            ("deep/er/a.tmp", false, true),
            ("keep.tmp", false, false),
            ("build", true, true),
            ("sub/build", true, false),
            ("cache", true, true),
            ("cache", false, false),
            ("x/cache/y.txt", false, true),
            ("logs/a/b.log", false, true),
            ("logs/a/b.txt", false, false),
            ("plain.txt", false, false),
        ];
        for (rel, dir, want) in cases {
            assert_eq!(e.excluded(rel, dir), want, "{rel} dir={dir}");
        }
        assert!(Excludes::new(Path::new("/src"), &["{a,b".into()]).is_err());
    }
}
