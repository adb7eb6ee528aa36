//! Tolerant readers for the JFS XML documents (§4, §6.1): user, device, mount point / folder listings, file,
//! filedirlist, liststream, searchresult and error. Every element is optional (the service has dropped and
//! added fields over the years), a `deleted` attribute is a presence flag, md5s are lowercased and empty
//! times are `None`. Only documents that are not XML at all, or are cut short, are errors (`Protocol`).
//!
//! Small documents are read into an element tree first (`xml/dom.rs`: simple, order-independent lookups);
//! liststream, which can describe a whole account, is read as a flat event stream instead.

use super::error::{RemoteError, RemoteResult};
use super::path::{usable_name, usable_rel};
use super::time;
use super::types::*;
use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::HashSet;

use self::dom::Element;

/// Typed readings of an element's children and attributes, as the documents below need them.
impl<'d> Element<'d> {
    /// Trimmed, non-empty text of a child.
    fn value(&self, name: &str) -> Option<String> {
        self.text(name).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
    }

    fn number(&self, name: &str) -> Option<u64> {
        self.text(name).and_then(|s| s.trim().parse().ok())
    }

    fn signed(&self, name: &str) -> Option<i64> {
        self.text(name).and_then(|s| s.trim().parse().ok())
    }

    fn flag(&self, name: &str) -> bool {
        self.text(name).map(|s| s.trim().eq_ignore_ascii_case("true")).unwrap_or(false)
    }

    fn time(&self, name: &str) -> Option<UnixTime> {
        self.text(name).and_then(lenient_time)
    }

    /// `deleted` as attribute (listings) or child element (device's mount points); presence is what counts,
    /// so an unreadable value still marks the item deleted (at the epoch).
    fn deleted(&self) -> Option<UnixTime> {
        let raw = self.attr("deleted").or_else(|| self.text("deleted"))?;
        Some(lenient_time(raw).unwrap_or(0))
    }

    /// Name from the `name` attribute (listings) or child element (device / mount point documents).
    fn name(&self) -> String {
        self.attr("name").or_else(|| self.text("name")).unwrap_or_default().to_string()
    }
}

/// A malformed time in one entry should not hide a whole folder: log it and treat it as unknown.
fn lenient_time(raw: &str) -> Option<UnixTime> {
    match time::parse(raw) {
        Ok(t) => t,
        Err(e) => {
            log::warn!("ignoring unreadable time in server reply: {e}");
            None
        }
    }
}

fn protocol(what: &str, detail: impl std::fmt::Display) -> RemoteError {
    RemoteError::Protocol(format!("{what}: {detail}"))
}

/// quick-xml's message, which may quote the document (a mismatched end tag and what follows it), as one
/// line of readable length.
fn quoted(e: &dyn std::fmt::Display) -> String {
    let text: String = e.to_string().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// The next event of a document, or the protocol error that says where the XML broke.
fn next_event<'a>(reader: &mut Reader<&'a [u8]>, what: &str) -> RemoteResult<Event<'a>> {
    reader
        .read_event()
        .map_err(|e| protocol(what, format!("malformed XML at byte {} ({})", reader.buffer_position(), quoted(&e))))
}

fn snippet(s: &str) -> String {
    s.trim().chars().take(40).filter(|c| !c.is_control()).collect()
}

fn expect_root<'d>(node: Element<'d>, names: &[&str], what: &str) -> RemoteResult<Element<'d>> {
    if names.contains(&node.tag()) {
        Ok(node)
    } else {
        Err(protocol(what, format!("expected <{}>, got <{}>", names.join("> or <"), node.tag())))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Documents

/// `<user>` (§4.1).
pub fn parse_account(body: &[u8]) -> RemoteResult<AccountInfo> {
    let parsed = dom::parse(body, "account document")?;
    let doc = parsed.root();
    let user = expect_root(doc, &["user"], "account document")?;
    let devices = user.child("devices").map(|d| d.children_named("device").map(device_info).collect());
    Ok(AccountInfo {
        username: user.value("username").unwrap_or_default(),
        account_type: user.value("account-type").unwrap_or_default(),
        // -1 means unlimited; any other negative number is as meaningless as an absent one.
        capacity: user.signed("capacity").and_then(|c| u64::try_from(c).ok()),
        usage: user.number("usage").unwrap_or(0),
        write_locked: user.flag("write-locked") || user.flag("quota-write-locked"),
        read_locked: user.flag("read-locked"),
        devices: devices.unwrap_or_default(),
    })
}

fn device_info(d: Element) -> DeviceInfo {
    DeviceInfo {
        name: d.name(),
        display_name: d.text("display_name").map(String::from).filter(|s| !s.is_empty()),
        device_type: d.value("type").unwrap_or_default(),
        sid: d.value("sid"),
        size: d.number("size").unwrap_or(0),
        modified: d.time("modified"),
    }
}

/// `<device>` (§4.2). Deleted mount points carry a `<deleted>` child element.
pub fn parse_device(body: &[u8]) -> RemoteResult<DeviceListing> {
    let parsed = dom::parse(body, "device document")?;
    let doc = parsed.root();
    let dev = expect_root(doc, &["device"], "device document")?;
    let mount_points = dev
        .child("mountPoints")
        .map(|m| {
            m.children_named("mountPoint")
                .map(|mp| MountPointInfo {
                    name: mp.name(),
                    size: mp.number("size").unwrap_or(0),
                    modified: mp.time("modified"),
                    deleted: mp.deleted(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(DeviceListing { device: device_info(dev), mount_points })
}

fn revision(r: Element) -> RevisionInfo {
    RevisionInfo {
        number: r.number("number").and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        state: RevisionState::parse(r.text("state").unwrap_or_default()),
        created: r.time("created"),
        modified: r.time("modified"),
        updated: r.time("updated"),
        mime: r.value("mime"),
        size: r.number("size"),
        md5: r.text("md5").map(str::trim).filter(|m| !m.is_empty()).map(str::to_ascii_lowercase),
    }
}

/// A `<file>` element, as a root document or as a listing entry.
fn file_info(f: Element) -> FileInfo {
    let mut current = f.child("currentRevision").map(revision);
    let mut latest = f.child("latestRevision").map(revision);
    let mut revisions: Vec<RevisionInfo> =
        f.child("revisions").map(|rs| rs.children_named("revision").map(revision).collect()).unwrap_or_default();
    // One capture (FileCorrupt.xml) has a bare <revision> under <file>: file it where its state says.
    for r in f.children_named("revision").map(revision) {
        if r.state == RevisionState::Completed && current.is_none() {
            current = Some(r);
        } else if r.state != RevisionState::Completed && latest.is_none() {
            latest = Some(r);
        } else {
            revisions.push(r);
        }
    }
    FileInfo {
        name: f.name(),
        uuid: f.attr("uuid").map(String::from),
        deleted: f.deleted(),
        abspath: f.text("abspath").or_else(|| f.text("path")).map(String::from).filter(|s| !s.is_empty()),
        current,
        latest,
        revisions,
        public_uri: f.value("publicURI"),
    }
}

fn folder_entry(f: Element) -> FolderEntry {
    FolderEntry {
        name: f.name(),
        deleted: f.deleted(),
        abspath: f.text("abspath").map(String::from).filter(|s| !s.is_empty()),
        modified: f.time("modified"),
    }
}

fn listing(root: Element) -> Listing {
    Listing {
        name: root.name(),
        deleted: root.deleted(),
        is_mount_point: root.tag() == "mountPoint",
        modified: root.time("modified"),
        folders: root
            .child("folders")
            .map(|fs| fs.children_named("folder").map(folder_entry).collect())
            .unwrap_or_default(),
        files: root.child("files").map(|fs| fs.children_named("file").map(file_info).collect()).unwrap_or_default(),
    }
}

/// `<mountPoint>` or `<folder>` listing (§4.3, §4.4, the Trash §4.9).
pub fn parse_listing(body: &[u8]) -> RemoteResult<Listing> {
    let parsed = dom::parse(body, "folder listing")?;
    let doc = parsed.root();
    Ok(listing(expect_root(doc, &["mountPoint", "folder"], "folder listing")?))
}

/// `<file>` document (§4.5, and the answers to mv, cp, cphash, dl, enableShare). The 2014-era share answer
/// `<enableSharing><files><file>` is accepted too.
pub fn parse_file(body: &[u8]) -> RemoteResult<FileInfo> {
    let parsed = dom::parse(body, "file document")?;
    let doc = parsed.root();
    if doc.tag() == "enableSharing" {
        if let Some(f) = doc.child("files").and_then(|fs| fs.child("file")) {
            return Ok(file_info(f));
        }
    }
    Ok(file_info(expect_root(doc, &["file"], "file document")?))
}

/// What a plain GET of a path returned: a file, or a folder / mount point listing.
pub fn parse_item(body: &[u8]) -> RemoteResult<Item> {
    let parsed = dom::parse(body, "item document")?;
    let doc = parsed.root();
    match doc.tag() {
        "file" => Ok(Item::File(file_info(doc))),
        "folder" | "mountPoint" => Ok(Item::Folder(listing(doc))),
        other => Err(protocol("item document", format!("expected <file>, <folder> or <mountPoint>, got <{other}>"))),
    }
}

/// Root element name of a document, for callers that only need to know what kind of thing came back.
pub fn root_name(body: &[u8]) -> RemoteResult<String> {
    Ok(dom::parse(body, "reply")?.root().tag().to_string())
}

/// One folder of a `mode=list` reply: its parent path (`/<user>/<device>/...`), its name and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirListFolder {
    pub parent: Option<String>,
    pub name: String,
    pub deleted: Option<UnixTime>,
    pub files: Vec<FileInfo>,
}

/// `<filedirlist>` (§4.7): a flat list of folders, each with its own files.
pub fn parse_filedirlist(body: &[u8]) -> RemoteResult<Vec<DirListFolder>> {
    let parsed = dom::parse(body, "filedirlist")?;
    let doc = parsed.root();
    let root = expect_root(doc, &["filedirlist"], "filedirlist")?;
    Ok(root
        .child("folders")
        .map(|fs| {
            fs.children_named("folder")
                .map(|f| DirListFolder {
                    parent: f.text("abspath").or_else(|| f.text("path")).map(String::from),
                    name: f.name(),
                    deleted: f.deleted(),
                    files: f
                        .child("files")
                        .map(|x| x.children_named("file").map(file_info).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default())
}

/// `<searchresult>` (Links, Latest; §4.9): files, each with its parent in `abspath`.
pub fn parse_searchresult(body: &[u8]) -> RemoteResult<Vec<FileInfo>> {
    let parsed = dom::parse(body, "search result")?;
    let doc = parsed.root();
    let root = expect_root(doc, &["searchresult"], "search result")?;
    Ok(root.child("files").map(|fs| fs.children_named("file").map(file_info).collect()).unwrap_or_default())
}

/// The interesting part of a JFS `<error>` document (§6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDoc {
    /// The `<code>`; rclone trusts it over the HTTP status, and so do we.
    pub code: Option<u16>,
    pub message: String,
    pub reason: String,
}

/// `Some` only when the body really is an `<error>` document.
pub fn parse_error(body: &[u8]) -> Option<ErrorDoc> {
    let parsed = dom::parse(body, "error document").ok()?;
    let doc = parsed.root();
    if doc.tag() != "error" {
        return None;
    }
    Some(ErrorDoc {
        code: doc.text("code").and_then(|c| c.trim().parse().ok()).filter(|c| *c != 0),
        message: doc.value("message").unwrap_or_default(),
        reason: doc.value("reason").unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------------------------------------
// liststream

/// `mode=liststream` (§4.8). `listed` is the mount-point-rooted path of the listed folder
/// (`/Archive/docs`); every `path` in the stream starts with it (compared case-insensitively) and is made
/// relative to it. The trailing `<stats>` must agree with what was read, counted the way rclone counts
/// (every `<folder>`, plus each file parent not seen before), or the reply was cut short.
pub fn parse_liststream(body: &[u8], listed: &str) -> RemoteResult<Tree> {
    const WHAT: &str = "liststream";
    let text = std::str::from_utf8(body).map_err(|_| protocol(WHAT, "reply is not UTF-8 text"))?;
    let mut reader = Reader::from_str(text);
    let listed = listed.trim_end_matches('/');

    let mut tree = Tree::default();
    let mut seen: HashSet<String> = HashSet::new(); // lowercased relative folder paths, "" included
    let mut last_parent: Option<String> = None; // the folder of the previous file
    let mut counted_folders: u64 = 0;
    let mut stats: Option<(u64, u64)> = None;
    let mut ignored_files: u64 = 0; // counted by the stats, but not handed on
    let mut depth = 0usize;
    let mut saw_root = false;

    // The element being collected and the current leaf's text.
    #[derive(Default)]
    struct Entry {
        path: String,
        filename: String,
        md5: String,
        size: String,
        modified: String,
        created: String,
        folders: String,
        files: String,
    }
    let mut kind: Option<&'static str> = None; // "folder" | "file" | "stats"
    let mut entry = Entry::default();
    let mut leaf: Option<String> = None;
    let mut buf = String::new();

    loop {
        let event = next_event(&mut reader, WHAT)?;
        match event {
            // Names are compared as bytes: a listing of 100,000 files has over a million elements, and
            // an owned String per name was a good part of the parse.
            Event::Start(e) => {
                depth += 1;
                saw_root = true;
                let local = e.local_name();
                match (kind, local.as_ref()) {
                    (None, b"folder") => kind = Some("folder"),
                    (None, b"file") => kind = Some("file"),
                    (None, b"stats") => kind = Some("stats"),
                    (Some(_), name) => {
                        leaf = Some(String::from_utf8_lossy(name).into_owned());
                        buf.clear();
                    }
                    _ => {}
                }
            }
            // An empty element (`<folder/>`, `<md5/>`) carries no value: nothing to record.
            Event::Empty(_) => saw_root = true,
            Event::Text(t) => {
                if leaf.is_some() {
                    match t.unescape() {
                        Ok(s) => buf.push_str(&s),
                        Err(_) => buf.push_str(&String::from_utf8_lossy(&t)),
                    }
                } else if depth == 0 && !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(protocol(WHAT, "not an XML document"));
                }
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                let local = e.local_name();
                let name = local.as_ref();
                if let Some(l) = leaf.take() {
                    let value = std::mem::take(&mut buf);
                    match l.as_str() {
                        "path" => entry.path = value,
                        "filename" | "name" => entry.filename = value,
                        "md5" => entry.md5 = value,
                        "size" => entry.size = value,
                        "modified" => entry.modified = value,
                        "created" => entry.created = value,
                        "folders" => entry.folders = value,
                        "files" => entry.files = value,
                        _ => {}
                    }
                    if l.as_bytes() == name {
                        continue;
                    }
                }
                match (kind, name) {
                    (Some("folder"), b"folder") => {
                        counted_folders += 1;
                        match relative(&entry.path, listed) {
                            Some(rel) if usable_rel(&rel) => {
                                if seen.insert(rel.to_lowercase()) && !rel.is_empty() {
                                    tree.folders.push(rel);
                                }
                            }
                            Some(rel) => {
                                // Seen, though not handed on: its files must not count it a second time.
                                seen.insert(rel.to_lowercase());
                                log::warn!("liststream: ignoring folder {:?}: not a usable path", entry.path)
                            }
                            None => log::warn!("liststream: ignoring folder {} outside {listed}", entry.path),
                        }
                    }
                    (Some("file"), b"file") => match relative(&entry.path, listed) {
                        Some(parent) => {
                            // Files of one folder come together: look the folder up once per run of them.
                            let new_parent = last_parent.as_deref() != Some(parent.as_str());
                            if new_parent {
                                last_parent = Some(parent.clone());
                            }
                            let usable = usable_rel(&parent);
                            if new_parent && seen.insert(parent.to_lowercase()) {
                                counted_folders += 1;
                                if !parent.is_empty() && usable {
                                    tree.folders.push(parent.clone());
                                }
                            }
                            // A name that would step out of its folder (`..`, `a/b`) never reaches a
                            // caller: `sync` writes local files by these names.
                            if !usable || !usable_name(&entry.filename) {
                                log::warn!(
                                    "liststream: ignoring file {:?} in {:?}: not a usable name",
                                    entry.filename,
                                    entry.path
                                );
                                ignored_files += 1;
                                entry = Entry::default();
                                kind = None;
                                continue;
                            }
                            tree.files.push(TreeFile {
                                parent,
                                name: std::mem::take(&mut entry.filename),
                                size: entry.size.trim().parse().unwrap_or(0),
                                md5: entry.md5.trim().to_ascii_lowercase(),
                                modified: lenient_time(&entry.modified),
                                created: lenient_time(&entry.created),
                            });
                        }
                        None => log::warn!("liststream: ignoring file in {} outside {listed}", entry.path),
                    },
                    (Some("stats"), b"stats") => {
                        stats = Some((
                            entry.folders.trim().parse().unwrap_or(u64::MAX),
                            entry.files.trim().parse().unwrap_or(u64::MAX),
                        ));
                    }
                    _ => continue,
                }
                kind = None;
                entry = Entry::default();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(protocol(WHAT, format!("listing of {listed} cut short; try again")));
    }
    if !saw_root {
        return Err(protocol(WHAT, "empty reply where an XML document was expected"));
    }
    // A missing <stats> counts as 0/0, like rclone: a non-empty listing without it is incomplete.
    let (want_folders, want_files) = stats.unwrap_or((0, 0));
    let got_files = tree.files.len() as u64 + ignored_files;
    if want_folders != counted_folders || want_files != got_files {
        return Err(protocol(
            WHAT,
            format!(
                "listing of {listed} incomplete: stats say {want_folders} folders and {want_files} files, \
                 received {counted_folders} and {got_files}; try again"
            ),
        ));
    }
    Ok(tree)
}

/// `/Archive/docs/a/b` relative to `/Archive/docs` is `a/b`; the folder itself is "". Case-insensitive,
/// because the service is; `None` when the path is elsewhere.
fn relative(path: &str, listed: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    let head = path.get(..listed.len())?;
    if !head.eq_ignore_ascii_case(listed) && head.to_lowercase() != listed.to_lowercase() {
        return None;
    }
    let rest = &path[listed.len()..];
    if rest.is_empty() {
        Some(String::new())
    } else {
        rest.strip_prefix('/').map(String::from)
    }
}

mod dom;

#[cfg(test)]
mod captured_tests;
#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod tests;
