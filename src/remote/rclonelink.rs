//! rclone's `--links` convention for keeping symbolic links on a service that has none: the link `NAME`
//! -> `TARGET` is a regular file `NAME.rclonelink` whose content is exactly the target's bytes (no
//! trailing newline). Only the naming lives here; the mount (`vfs/links.rs`) and the tools
//! (`sync/links.rs`) each apply it.

/// What is appended to a link's name to store it as a file.
pub const LINK_SUFFIX: &str = ".rclonelink";

/// Longest target kept, as Linux's PATH_MAX (terminating NUL included).
pub const MAX_TARGET: usize = 4095;

/// The link name a stored file name stands for, if it follows the convention.
pub fn link_stem(stored: &str) -> Option<&str> {
    stored.strip_suffix(LINK_SUFFIX).filter(|s| !s.is_empty())
}

/// The stored name of the link `name`.
pub fn link_file_name(name: &str) -> String {
    format!("{name}{LINK_SUFFIX}")
}

/// Whether the content of a link file can be a link's target: 1 to `MAX_TARGET` bytes, no NUL (a path
/// cannot hold one). The error says what is wrong with it.
pub fn check_target(content: &[u8]) -> Result<(), String> {
    if content.is_empty() || content.len() > MAX_TARGET {
        return Err(format!("holds {} bytes: not a link target (1 to {MAX_TARGET} bytes)", content.len()));
    }
    if content.contains(&0) {
        return Err("a link target cannot hold a NUL byte".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        assert_eq!(link_stem("a.rclonelink"), Some("a"));
        assert_eq!(link_stem("a.b.rclonelink"), Some("a.b"));
        assert_eq!(link_stem(".rclonelink"), None);
        assert_eq!(link_stem("a.rclonelink.txt"), None);
        assert_eq!(link_stem("a.RCLONELINK"), None);
        assert_eq!(link_file_name("x"), "x.rclonelink");
    }
}
