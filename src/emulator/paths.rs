//! Decoding of JFS URL paths and of the absolute paths carried in `mv`/`mvDir`/`cp` values.
//! The service percent-decodes once and turns a literal `+` in the *path* into a space, so `%2B` is
//! the only way to send a plus; query values are ordinary form encoding (handled by the caller).

use percent_encoding::percent_decode_str;

/// Why a path was refused; answered as `400 IllegalArgumentException`.
#[derive(Debug)]
pub struct BadPath(pub String);

/// Split a raw (still encoded) URL path into decoded segments. Empty segments (double or trailing
/// slashes, which rclone's `mvDir` sends) are dropped.
pub fn decode_url_path(raw: &str) -> Result<Vec<String>, BadPath> {
    let mut out = Vec::new();
    for seg in raw.split('/') {
        if seg.is_empty() {
            continue;
        }
        let spaced = seg.replace('+', " ");
        let decoded = percent_decode_str(&spaced)
            .decode_utf8()
            .map_err(|_| BadPath(format!("Unable to validate decoded path: {raw}")))?;
        out.push(check_name(decoded.into_owned(), raw)?);
    }
    Ok(out)
}

/// Split an already-decoded absolute path (`/<user>/<device>/...`) into segments.
pub fn split_decoded(path: &str) -> Result<Vec<String>, BadPath> {
    path.split('/').filter(|s| !s.is_empty()).map(|s| check_name(s.to_string(), path)).collect()
}

fn check_name(name: String, whole: &str) -> Result<String, BadPath> {
    // XML cannot carry control characters and "."/".." would make paths ambiguous.
    if name == "." || name == ".." || name.chars().any(|c| c.is_control()) || name.chars().count() > 255 {
        return Err(BadPath(format!("Unable to validate decoded path: {whole}")));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_space_and_escaped_plus_is_plus() {
        let segs = decode_url_path("/jfs/u/Jotta/Archive/a+b%2Bc%20d/").unwrap_or_default();
        assert_eq!(segs, vec!["jfs", "u", "Jotta", "Archive", "a b+c d"]);
        assert!(decode_url_path("/x/%FF").is_err());
        assert!(decode_url_path("/x/../y").is_err());
    }
}
