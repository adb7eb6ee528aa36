//! `RemotePath`: a path inside one account, `/Device/MountPoint/folder/file`, as validated segments.
//! Owns the naming rules the service enforces (so we refuse early with `InvalidName`) and the
//! percent-encoding of segments for JFS URLs (`+` must travel as `%2B`, the server reads `+` as a space).

use super::error::{RemoteError, RemoteResult};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt;

/// Encode everything except RFC 3986 unreserved characters: covers `+ ; # ? %` and spaces.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Longest name the service accepts, in bytes of UTF-8 (the kernel's NAME_MAX is the same).
pub const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RemotePath {
    segments: Vec<String>,
}

/// Check one name against the service's rules; the error names the rule that was broken.
/// Mount points the service lists but that are not folders (search results, not trees; §4.9).
pub const PSEUDO_MOUNT_POINTS: [&str; 3] = ["Latest", "Links", "Trash"];

/// Whether a mount point name is one of `PSEUDO_MOUNT_POINTS` (names compare case-insensitively).
pub fn is_pseudo_mount_point(name: &str) -> bool {
    PSEUDO_MOUNT_POINTS.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// One path component that stays in its folder: not empty, not `.` or `..`, no `/` or NUL.
pub fn usable_name(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']))
}

/// A relative path every part of which is a `usable_name`; "" is the folder itself.
pub fn usable_rel(rel: &str) -> bool {
    rel.is_empty() || rel.split('/').all(usable_name)
}

pub fn validate_name(name: &str) -> RemoteResult<()> {
    if name.is_empty() {
        return Err(RemoteError::InvalidName("empty name".into()));
    }
    if name == "." || name == ".." {
        return Err(RemoteError::InvalidName(format!("'{name}' is reserved")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(RemoteError::InvalidName(format!(
            "'{}...' is longer than {MAX_NAME_LEN} bytes",
            name.chars().take(40).collect::<String>()
        )));
    }
    if name.contains('/') {
        return Err(RemoteError::InvalidName(format!("'{name}' contains '/'")));
    }
    // XML 1.0 cannot carry most control characters, so the service cannot store them.
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(RemoteError::InvalidName(format!(
            "'{}' contains control character U+{:04X}, which JottaCloud cannot store",
            name.escape_default(),
            c as u32
        )));
    }
    Ok(())
}

impl RemotePath {
    pub fn root() -> Self {
        RemotePath { segments: Vec::new() }
    }

    /// Parse `/Device/MountPoint/a/b` (leading and repeated slashes tolerated); every segment validated.
    pub fn parse(s: &str) -> RemoteResult<Self> {
        let mut segments = Vec::new();
        for seg in s.split('/').filter(|s| !s.is_empty()) {
            validate_name(seg)?;
            segments.push(seg.to_string());
        }
        Ok(RemotePath { segments })
    }

    pub fn from_segments(segments: Vec<String>) -> RemoteResult<Self> {
        for s in &segments {
            validate_name(s)?;
        }
        Ok(RemotePath { segments })
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// 0 = account root, 1 = device, 2 = mount point, 3+ = inside a mount point.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    pub fn name(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    pub fn parent(&self) -> Option<RemotePath> {
        if self.segments.is_empty() {
            None
        } else {
            Some(RemotePath { segments: self.segments[..self.segments.len() - 1].to_vec() })
        }
    }

    pub fn join(&self, name: &str) -> RemoteResult<RemotePath> {
        validate_name(name)?;
        let mut segments = self.segments.clone();
        segments.push(name.to_string());
        Ok(RemotePath { segments })
    }

    /// Device name, if the path reaches that deep.
    pub fn device(&self) -> Option<&str> {
        self.segments.first().map(String::as_str)
    }

    pub fn mount_point(&self) -> Option<&str> {
        self.segments.get(1).map(String::as_str)
    }

    /// Whether the path is, or lies under, one of the mount points the service lists that are search
    /// results rather than folders (`Latest`, `Links`, `Trash`): nothing lists or opens them as folders.
    pub fn in_pseudo_mount_point(&self) -> bool {
        self.mount_point().is_some_and(is_pseudo_mount_point)
    }

    /// Percent-encoded path for a JFS URL, without a leading slash: `Jotta/Archive/a%20b`.
    pub fn url_encoded(&self) -> String {
        self.segments.iter().map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect::<Vec<_>>().join("/")
    }

    /// True when `self` is `other` or lies below it, comparing names case-insensitively like the service.
    pub fn starts_with(&self, other: &RemotePath) -> bool {
        other.segments.len() <= self.segments.len()
            && other.segments.iter().zip(&self.segments).all(|(a, b)| a.to_lowercase() == b.to_lowercase())
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segments {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for (input, shown) in
            [("/Jotta/Archive/a b", "/Jotta/Archive/a b"), ("Jotta//Archive/", "/Jotta/Archive"), ("/", "/")]
        {
            assert_eq!(RemotePath::parse(input).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn encoding_escapes_plus_and_reserved() {
        let p = RemotePath::parse("/Jotta/Archive/a+b;c#d?e%f g/æ").unwrap();
        assert_eq!(p.url_encoded(), "Jotta/Archive/a%2Bb%3Bc%23d%3Fe%25f%20g/%C3%A6");
    }

    #[test]
    fn forbidden_names_are_refused_with_the_rule() {
        for bad in ["..", ".", "a\u{1}b"] {
            let e = validate_name(bad).unwrap_err();
            assert!(matches!(e, RemoteError::InvalidName(_)), "{bad}: {e}");
        }
        let long = "x".repeat(256);
        assert!(validate_name(&long).unwrap_err().to_string().contains("255"));
        assert!(validate_name(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn starts_with_ignores_case() {
        let a = RemotePath::parse("/Jotta/Archive/Docs/x").unwrap();
        assert!(a.starts_with(&RemotePath::parse("/jotta/archive/docs").unwrap()));
        assert!(!a.starts_with(&RemotePath::parse("/jotta/archive/doc").unwrap()));
    }
}
