//! Entry points for the fuzz targets under `fuzz/` (cargo-fuzz builds the crate with `--cfg fuzzing`) and
//! for the property tests in `tests.rs`: each hands bytes, as they could come from the network or the
//! disk, to one reader the way the program does, and panics when a promise breaks: the reader panicked,
//! a refusal is not one line, or what a writer wrote does not read back as it was. Targets and tests call
//! the same functions, so both hold the readers to the same promises.
//!
//! Readers that take a file rather than bytes are given one in `dir`, a scratch folder of the caller's
//! that is emptied on each call.

use crate::remote::error::{RemoteError, RemoteResult};
use crate::remote::{auth, credentials, http, netrc, rclonelink, time, xml, RemotePath};
use crate::sync::archive::{self, Manifest};
use crate::sync::archive_apply::read_head;
use crate::sync::checksum_cache::{self, ChecksumCache, Stamp};
use crate::sync::index::{valid_rel, Index, Kind};
use crate::vfs::journal::{Journal, JournalEntry};
use std::io::Write;
use std::path::Path;

#[cfg(test)]
mod tests;

/// What a user is shown of a refusal: one line that says something.
fn one_line(what: &str, e: &dyn std::fmt::Display) {
    let text = e.to_string();
    assert!(!text.trim().is_empty(), "{what}: an empty error message");
    assert!(!text.contains(['\n', '\r']), "{what}: an error message of more than one line: {text:?}");
}

/// A reply that cannot be understood is a `Protocol` error, never another kind (which would be taken
/// for what the service meant: a missing file, a full account).
fn protocol_only<T>(what: &str, r: RemoteResult<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            assert!(matches!(e, RemoteError::Protocol(_)), "{what}: refused as {e:?}, not as a Protocol error");
            one_line(what, &e);
            None
        }
    }
}

/// The part before the first 0xFF byte and the rest (0xFF cannot occur in UTF-8, so text formats keep
/// their whole alphabet on both sides).
fn split(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    }
}

/// Empty the scratch folder (and make it).
fn reset(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("the scratch folder can be made");
}

// ---------------------------------------------------------------------------------------------------------
// The network

/// Every reader of a JFS XML document (account, device, listings, file, item, filedirlist, search
/// result, error) and the interpretation of an error reply, on the same bytes.
pub fn xml_replies(data: &[u8]) {
    protocol_only("account", xml::parse_account(data));
    protocol_only("device", xml::parse_device(data));
    protocol_only("listing", xml::parse_listing(data));
    if let Some(f) = protocol_only("file", xml::parse_file(data)) {
        let md5s = f.current.iter().chain(&f.latest).chain(&f.revisions).filter_map(|r| r.md5.as_deref());
        for m in md5s {
            assert!(!m.bytes().any(|b| b.is_ascii_uppercase()), "md5 {m:?} is not lowercased");
        }
    }
    protocol_only("item", xml::parse_item(data));
    protocol_only("root name", xml::root_name(data));
    protocol_only("filedirlist", xml::parse_filedirlist(data));
    protocol_only("search result", xml::parse_searchresult(data));
    let _ = xml::parse_error(data);
    for status in [400, 404, 409, 420, 500] {
        one_line("error reply", &http::error_from_reply(status, data, "list /Jotta/Archive/a"));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = time::parse(text) {
            one_line("time", &e);
        }
    }
}

/// `mode=liststream`, listed at the three depths the tools ask for.
pub fn xml_liststream(data: &[u8]) {
    for listed in ["/Archive", "/Archive/docs/", "/"] {
        let Some(tree) = protocol_only("liststream", xml::parse_liststream(data, listed)) else { continue };
        let folders: std::collections::HashSet<String> = tree.folders.iter().map(|f| f.to_lowercase()).collect();
        for f in &tree.folders {
            assert!(valid_rel(f), "folder {f:?} is not a clean path relative to {listed}");
        }
        for f in &tree.files {
            let usable = !f.name.is_empty() && f.name != "." && f.name != ".." && !f.name.contains(['/', '\0']);
            assert!(usable, "file name {:?} would step out of its folder", f.name);
            let parent = f.parent.to_lowercase();
            assert!(parent.is_empty() || folders.contains(&parent), "the folder of {f:?} is not in the tree");
        }
    }
}

/// The JSON replies: the token endpoint's (success and OAuth error), the login token a user pastes, the
/// error replies of the API and upload hosts.
pub fn json_replies(data: &[u8]) {
    use auth::{token_reply, TokenUse, MAX_EXPIRES_IN};
    use base64::Engine as _;
    for status in [200, 400, 401, 503] {
        for purpose in [TokenUse::Login, TokenUse::Refresh] {
            match token_reply(status, data, "https://id.example/token", purpose) {
                Ok(t) => {
                    assert_eq!(status, 200, "a token taken from an error reply");
                    assert!(!t.access_token.is_empty());
                    assert!((1..=MAX_EXPIRES_IN).contains(&t.expires_in), "lifetime {}", t.expires_in);
                }
                Err(e) => one_line("token reply", &e),
            }
        }
    }
    let pasted = String::from_utf8_lossy(data);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
    for token in [pasted.as_ref(), encoded.as_str()] {
        match auth::decode_login_token(token) {
            Ok(t) => {
                assert!(!t.username.is_empty() && !t.auth_token.is_empty() && !t.well_known_link.is_empty());
                if let Err(e) = auth::token_service(&t.well_known_link) {
                    one_line("token service", &e);
                }
            }
            Err(e) => {
                assert!(matches!(e, RemoteError::Config(_)), "login token refused as {e:?}");
                one_line("login token", &e);
            }
        }
    }
    for status in [400, 404, 500] {
        one_line("JSON error reply", &http::error_from_reply(status, data, "upload /Jotta/Archive/a"));
    }
}

// ---------------------------------------------------------------------------------------------------------
// The disk

/// The saved login (`credentials.json`) and `~/.netrc`.
pub fn login_files(dir: &Path, data: &[u8]) {
    reset(dir);
    std::fs::write(credentials::path(dir), data).expect("scratch write");
    if let Err(e) = credentials::load(dir) {
        assert!(matches!(e, RemoteError::Config(_)), "credentials refused as {e:?}");
        one_line("credentials", &e);
    }
    if let Some(e) = netrc::parse(&String::from_utf8_lossy(data), "jottacloud") {
        assert!(!e.login.is_empty(), "a netrc entry without a login");
    }
}

/// A journal record (the bytes before the first 0xFF) and its metadata overlay (after it), as a mount
/// finds them at start. A record with a line break is a sealed one (the entry, a line break, the
/// content), with no staging file beside it. What it recovers must read back the same on a second look,
/// must take a later overlay, and must be gone once removed: a record that outlives its removal is
/// uploaded again at every start. A sealed record is taken only whole: its content, put back into the
/// staging file, has the size and md5 the entry names.
pub fn journal_records(dir: &Path, data: &[u8]) {
    const STEM: &str = "0000000000000001";
    let (record, overlay) = split(data);
    reset(dir);
    let journal = Journal::open(dir).expect("scratch journal");
    // The journal deletes removed files on a thread of its own: every deletion of this run is done
    // before the next run resets the folder, or one could take the next run's files.
    struct Flushed(Journal);
    impl Drop for Flushed {
        fn drop(&mut self) {
            self.0.flush_deletions();
        }
    }
    let journal = Flushed(journal);
    let journal = &journal.0;
    let sealed = record.contains(&b'\n');
    if sealed {
        std::fs::write(dir.join("journal").join(format!("{STEM}.sealed")), record).expect("scratch write");
    } else {
        std::fs::write(dir.join("staging").join(STEM), b"content").expect("scratch write");
        std::fs::write(dir.join("journal").join(format!("{STEM}.json")), record).expect("scratch write");
    }
    if let Some(o) = overlay {
        std::fs::write(dir.join("journal").join(format!("{STEM}.meta")), o).expect("scratch write");
    }
    let pending = journal.pending();
    assert!(pending.len() <= 1, "one record file read as {} records", pending.len());
    assert_eq!(journal.pending(), pending, "a second look at the journal reads something else");
    let Some(entry) = pending.into_iter().next() else { return };
    if sealed {
        use md5::{Digest, Md5};
        let content = std::fs::read(journal.staging_path(entry.id)).expect("the staging file put back");
        assert_eq!(content.len() as u64, entry.size, "a sealed record's content put back at another size");
        assert!(entry.md5.eq_ignore_ascii_case(&hex::encode(Md5::digest(&content))), "a torn seal was taken");
    }
    // Recovery places the entry by its path.
    let path = RemotePath::parse(&entry.path).ok();
    let _ = path.as_ref().and_then(|p| p.parent().map(|p| p.to_string()));
    let _ = path.as_ref().and_then(|p| p.name().map(str::to_string));
    // A rename recorded in the overlay is what the next start sees.
    let renamed = JournalEntry {
        path: format!("{}.renamed", entry.path),
        mtime: entry.mtime.wrapping_add(1),
        last_error: Some("the service was unreachable".into()),
        ..entry.clone()
    };
    journal.write_metadata(&renamed).expect("scratch write");
    assert_eq!(journal.pending(), vec![renamed], "the overlay did not read back");
    journal.remove(entry.id);
    assert_eq!(journal.pending(), Vec::new(), "a removed record came back");
}

/// A file index as read from disk, and the same bytes as the body of a well-formed index file (so the
/// entries are read, not only refused at the checksum).
pub fn index_file(data: &[u8]) {
    check_index(Index::decode(data));
    let (count, body) = match data.split_first() {
        Some((c, rest)) => (u64::from(*c), rest),
        None => (0, data),
    };
    check_index(Index::decode(&wrap_index_body(count, body)));
}

/// An index file around `body` (uncompressed), as the format describes it.
pub fn wrap_index_body(count: u64, body: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(body).expect("zlib into memory");
    let compressed = z.finish().expect("zlib into memory");
    let mut out = Vec::new();
    out.extend_from_slice(crate::sync::index::MAGIC);
    out.extend_from_slice(&crate::sync::index::VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
    let mut h = Md5::new();
    h.update(&out);
    h.update(&compressed);
    out.extend_from_slice(&h.finalize());
    out.extend_from_slice(&compressed);
    out
}

fn check_index(r: Result<Index, crate::sync::index::IndexError>) {
    match r {
        Ok(idx) => {
            for pair in idx.entries.windows(2) {
                assert!(pair[0].path < pair[1].path, "entries out of order: {:?}", pair);
            }
            for e in &idx.entries {
                assert!(valid_rel(&e.path), "invalid path {:?}", e.path);
                assert!(e.kind == Kind::File || e.size == 0, "a folder with a size: {e:?}");
            }
            assert_eq!(Index::decode(&idx.encode()).as_ref(), Ok(&idx), "the index did not read back");
        }
        Err(e) => one_line("index", &e),
    }
}

/// An offline archive's head (manifest and index) and the entries after it, as `jotta archive apply`
/// reads them: the bytes as an archive file, and as the manifest and index (split at the first 0xFF) of
/// a well-formed tar. A head that reads must be written back by the archive writer the same.
pub fn archive_head(dir: &Path, data: &[u8]) {
    reset(dir);
    read_archive(dir, data);
    let (manifest, index) = split(data);
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in [(archive::MANIFEST_NAME, manifest), (archive::AGAINST_NAME, index.unwrap_or_default())] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes).expect("tar into memory");
    }
    read_archive(dir, &tar.into_inner().expect("tar into memory"));
}

fn read_archive(dir: &Path, bytes: &[u8]) {
    let name = Path::new("fuzzed.tar");
    let mut tar = archive::from_reader(Box::new(std::io::Cursor::new(bytes.to_vec()))).expect("reading memory");
    let (entries, manifest, against) = match read_head(&mut tar, name) {
        Ok(head) => head,
        Err(e) => return one_line("archive", &e),
    };
    assert_eq!(archive::check_manifest(&manifest), Ok(()));
    for e in entries {
        let Ok(mut e) = e else { break };
        let _ = e.path();
        let _ = std::io::copy(&mut e, &mut std::io::sink());
    }
    // Written back without the files' content (which needs a source folder), the head reads the same.
    let head = Manifest { files: Vec::new(), ..manifest };
    let written = dir.join("written.tar");
    archive::write_tar(dir, &head, &against, &written, bytes.len() % 2 == 0).expect("writing the head back");
    let mut tar = archive::open(&written).expect("the written archive opens");
    let (_, m, idx) = read_head(&mut tar, &written).expect("the written archive reads back");
    assert_eq!((m, idx), (head, against), "the archive head did not read back");
}

/// The checksum cache: the xattr value (binary, round-tripped) and the fallback JSON file.
pub fn checksum_cache(dir: &Path, data: &[u8]) {
    if let Some((md5, stamp)) = checksum_cache::parse_value(data) {
        assert_eq!(checksum_cache::format_value(&md5, stamp).as_deref(), Some(data), "xattr did not read back");
    }
    reset(dir);
    let root = Path::new("/scanned");
    let file = checksum_cache::fallback_file(dir, root);
    std::fs::create_dir_all(file.parent().expect("a folder")).expect("scratch folder");
    std::fs::write(&file, data).expect("scratch write");
    let cache = ChecksumCache::open(dir, root);
    let stamp = Stamp { size: 3, mtime_sec: 1_700_000_000, mtime_nsec: 5 };
    let _ = cache.lookup(&dir.join("absent"), "a", stamp);
}

/// The content of a `NAME.rclonelink` file as a link's target, and the naming convention both ways.
pub fn rclonelink(data: &[u8]) {
    match rclonelink::check_target(data) {
        Ok(()) => assert!(!data.is_empty() && data.len() <= rclonelink::MAX_TARGET && !data.contains(&0)),
        Err(e) => one_line("link target", &e),
    }
    if let Ok(name) = std::str::from_utf8(data) {
        if let Some(stem) = rclonelink::link_stem(name) {
            assert_eq!(rclonelink::link_file_name(stem), name);
        }
        if !name.is_empty() {
            assert_eq!(rclonelink::link_stem(&rclonelink::link_file_name(name)), Some(name));
        }
    }
}

/// A mount's status document as `jotta status` reads and prints it (and prints it back as JSON).
pub fn status_document(data: &[u8]) {
    use crate::cli::jotta::account::render_status;
    use crate::mount::status::{parse, MountStatus};
    let Some(status) = parse(data) else { return };
    let _ = render_status(std::slice::from_ref(&status), false);
    let json = render_status(std::slice::from_ref(&status), true);
    let back: Vec<MountStatus> = serde_json::from_str(&json).expect("jotta status --json reads back");
    let [back] = &back[..] else { panic!("one mount printed as {} documents", back.len()) };
    assert_eq!((back.pid, &back.mountpoint, &back.root), (status.pid, &status.mountpoint, &status.root));
    // The report is typed (integers, strings, flags): it reads back exactly.
    assert_eq!(serde_json::to_value(&back.report).ok(), serde_json::to_value(&status.report).ok());
}
