//! `~/.netrc` for the legacy HTTP Basic login (§2.6): the `machine jottacloud` entry's login and password.
//! A netrc that others can read is refused rather than used, like ftp and curl do.

use super::error::{RemoteError, RemoteResult};
use std::path::Path;

#[derive(Clone, PartialEq, Eq)]
pub struct NetrcEntry {
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for NetrcEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetrcEntry").field("login", &self.login).field("password", &"<redacted>").finish()
    }
}

/// The entry for `machine` (falling back to a `default` entry), from netrc text. Understands `machine`,
/// `default`, `login`, `password`, `account`, `macdef` (whose body runs to the next blank line), `#` comments
/// and double-quoted values.
pub fn parse(text: &str, machine: &str) -> Option<NetrcEntry> {
    let tokens = tokenize(text);
    let mut found: Option<NetrcEntry> = None;
    let mut default: Option<NetrcEntry> = None;
    // Which entry the current login/password tokens belong to: Some(true) = ours, Some(false) = other.
    let mut current: Option<(bool, bool)> = None; // (is_ours, is_default)
    let mut entry = NetrcEntry { login: String::new(), password: String::new() };
    let mut flush = |current: Option<(bool, bool)>, entry: &mut NetrcEntry, found: &mut Option<NetrcEntry>| {
        let e = std::mem::replace(entry, NetrcEntry { login: String::new(), password: String::new() });
        match current {
            Some((true, _)) if found.is_none() => *found = Some(e),
            Some((_, true)) if default.is_none() => default = Some(e),
            _ => {}
        }
    };
    let mut it = tokens.into_iter();
    while let Some(tok) = it.next() {
        match tok.as_str() {
            "machine" => {
                flush(current, &mut entry, &mut found);
                let name = it.next().unwrap_or_default();
                current = Some((name.eq_ignore_ascii_case(machine), false));
            }
            "default" => {
                flush(current, &mut entry, &mut found);
                current = Some((false, true));
            }
            "login" => entry.login = it.next().unwrap_or_default(),
            "password" => entry.password = it.next().unwrap_or_default(),
            "account" => {
                it.next();
            }
            _ => {}
        }
    }
    flush(current, &mut entry, &mut found);
    found.or(default).filter(|e| !e.login.is_empty())
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut in_macdef = false;
    for line in text.lines() {
        if in_macdef {
            // A macro body ends at the first empty line.
            if line.trim().is_empty() {
                in_macdef = false;
            }
            continue;
        }
        let mut chars = line.chars().peekable();
        let mut line_tokens: Vec<String> = Vec::new();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&c) = chars.peek() else { break };
            if c == '#' && line_tokens.last().map(String::as_str) != Some("password") {
                break; // comment to end of line
            }
            let mut tok = String::new();
            if c == '"' {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => tok.extend(chars.next()),
                        c => tok.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    tok.push(c);
                    chars.next();
                }
            }
            line_tokens.push(tok);
        }
        if let Some(pos) = line_tokens.iter().position(|t| t == "macdef") {
            line_tokens.truncate(pos);
            in_macdef = true;
        }
        tokens.extend(line_tokens);
    }
    tokens
}

/// Look up `machine` in the netrc at `path`. A missing file is `None`; an entry in a file that group or
/// others can read is a `Config` error telling how to fix the mode.
pub fn lookup(path: &Path, machine: &str) -> RemoteResult<Option<NetrcEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RemoteError::Config(format!("cannot read {}: {e}", path.display()))),
    };
    let Some(entry) = parse(&text, machine) else {
        return Ok(None);
    };
    check_private(path)?;
    Ok(Some(entry))
}

#[cfg(unix)]
fn check_private(path: &Path) -> RemoteResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| RemoteError::Config(format!("cannot stat {}: {e}", path.display())))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o044 != 0 {
        return Err(RemoteError::Config(format!(
            ".netrc is readable by others (mode {mode:04o}); run chmod 600 {}",
            tilde(path)
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> RemoteResult<()> {
    Ok(())
}

/// Show the path as the user typed it when it is the usual one.
fn tilde(path: &Path) -> String {
    let home = crate::dirs::home();
    match path.strip_prefix(&home) {
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(login: &str, password: &str) -> Option<NetrcEntry> {
        Some(NetrcEntry { login: login.into(), password: password.into() })
    }

    #[test]
    fn parsing() {
        for (text, want) in [
            ("machine jottacloud login alice password s3cret", entry("alice", "s3cret")),
            ("machine other login bob password x\nmachine jottacloud\n  login alice\n  password s3cret\n", entry("alice", "s3cret")),
            ("machine JottaCloud login alice password s3cret", entry("alice", "s3cret")),
            ("# comment\nmachine jottacloud login \"a b\" password \"p w\\\"\"", entry("a b", "p w\"")),
            ("machine jottacloud login alice password has#hash", entry("alice", "has#hash")),
            ("macdef init\nmachine jottacloud login evil password evil\n\nmachine jottacloud login alice password ok", entry("alice", "ok")),
            ("machine other login bob password x\ndefault login anon password guest", entry("anon", "guest")),
            ("machine other login bob password x", None),
            ("machine jottacloud password only", None),
            ("", None),
            ("machine", None),
            ("login", None),
        ] {
            assert_eq!(parse(text, "jottacloud"), want, "{text:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".netrc");
        std::fs::write(&path, "machine jottacloud login alice password s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = lookup(&path, "jottacloud").unwrap_err();
        assert!(matches!(err, RemoteError::Config(_)));
        assert!(err.to_string().contains(".netrc is readable by others (mode 0644); run chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&path, "jottacloud").unwrap(), entry("alice", "s3cret"));
        assert_eq!(lookup(&dir.path().join("missing"), "jottacloud").unwrap(), None);
    }
}
