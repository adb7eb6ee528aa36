//! The JFS XML documents, shaped like the captured responses: user, device, mount point and folder
//! listings, single files with revisions, the Trash/Links/Latest pseudo mount points, `mode=list`
//! (filedirlist) and the compact `mode=liststream`. Every root carries `time` and `host`.

use super::store::tree::{ItemId, Kind, RevState, Revision, StoredItem, Tree};
use super::store::{Store, JOTTA};
use super::timefmt::{jfs, now, rfc3339_ms};
use super::xml::XmlWriter;

fn opt_time(t: Option<i64>) -> String {
    t.map(jfs).unwrap_or_default()
}

fn revision(w: &mut XmlWriter, tag: &str, rev: &Revision, size: Option<u64>) {
    w.open(tag, &[]);
    w.leaf("number", &rev.number.to_string());
    w.leaf("state", rev.state.as_str());
    w.leaf("created", &jfs(rev.created));
    w.leaf("modified", &jfs(rev.modified));
    w.leaf("mime", &rev.mime);
    w.leaf("mstyle", &rev.mime);
    if let Some(size) = size {
        w.leaf("size", &size.to_string());
    }
    w.leaf("md5", &rev.md5);
    w.leaf("updated", &jfs(rev.updated));
    w.close(tag);
}

/// Bytes received so far for an INCOMPLETE revision (single-file GET shows them as `size`).
fn received(store: &Store, node: ItemId, number: u32) -> u64 {
    store.state.uploads.values().find(|p| p.node == node && p.number == number).map(|p| p.received).unwrap_or(0)
}

#[derive(Clone, Copy, Default)]
struct EntryStyle {
    /// Listed from the Trash mount point: `contextType="TRASH"`.
    trash: bool,
    /// Search results (Links, Latest) carry `path`/`abspath` and `publicURI`.
    with_path: bool,
}

/// A `<file>` inside a listing.
fn file_entry(w: &mut XmlWriter, tree: &Tree, n: &StoredItem, style: EntryStyle) {
    let Some(f) = n.file() else { return };
    let deleted = n.deleted.map(jfs);
    let mut attrs: Vec<(&str, &str)> = vec![("name", &n.name), ("uuid", &f.uuid)];
    if let Some(d) = &deleted {
        attrs.push(("deleted", d));
    }
    if style.trash {
        attrs.push(("contextType", "TRASH"));
    }
    w.open("file", &attrs);
    let parent = tree.parent_path(n.id);
    if style.with_path {
        w.preserve("path", &parent);
        w.preserve("abspath", &parent);
        if let Some(uri) = &f.public_uri {
            w.leaf("publicURI", uri);
        }
    } else if n.deleted.is_some() {
        w.preserve("abspath", &parent);
    }
    if let Some(cur) = f.current() {
        revision(w, "currentRevision", cur, Some(cur.size));
    }
    if let Some(latest) = f.latest_failed() {
        revision(w, "latestRevision", latest, None);
    }
    w.close("file");
}

fn folder_entry(w: &mut XmlWriter, tree: &Tree, n: &StoredItem, trash: bool) {
    let deleted = n.deleted.map(jfs);
    let mut attrs: Vec<(&str, &str)> = vec![("name", &n.name)];
    if let Some(d) = &deleted {
        attrs.push(("deleted", d));
    }
    if trash {
        attrs.push(("contextType", "TRASH"));
    }
    if n.deleted.is_none() {
        w.empty("folder", &attrs);
    } else {
        w.open("folder", &attrs);
        w.preserve("abspath", &tree.parent_path(n.id));
        w.close("folder");
    }
}

/// `<folders>`, `<files>` (each omitted when empty) and `<metadata>` for a container's children.
fn children_listing(w: &mut XmlWriter, tree: &Tree, container: &StoredItem) {
    let kids: Vec<&StoredItem> = container.children.order.iter().filter_map(|(_, id)| tree.get(*id)).collect();
    let folders: Vec<&&StoredItem> = kids.iter().filter(|n| n.is_container()).collect();
    let files: Vec<&&StoredItem> = kids.iter().filter(|n| n.is_file()).collect();
    if !folders.is_empty() {
        w.open("folders", &[]);
        for n in &folders {
            folder_entry(w, tree, n, false);
        }
        w.close("folders");
    }
    if !files.is_empty() {
        w.open("files", &[]);
        for n in &files {
            file_entry(w, tree, n, EntryStyle::default());
        }
        w.close("files");
    }
    let (nf, nfi) = (folders.len().to_string(), files.len().to_string());
    let total = (folders.len() + files.len()).to_string();
    w.empty("metadata", &[("first", ""), ("max", ""), ("total", &total), ("num_folders", &nf), ("num_files", &nfi)]);
}

pub fn user_doc(store: &Store, host: &str, capacity: Option<u64>) -> String {
    let tree = &store.state.tree;
    let sizes = &store.sizes().per_mount_point;
    let t = jfs(now());
    let mut w = XmlWriter::document(true);
    w.open("user", &[("time", &t), ("host", host)]);
    w.leaf("username", store.user());
    w.leaf("account-type", if capacity.is_some() { "free" } else { "unlimited" });
    w.leaf("locked", "false");
    w.leaf("capacity", &capacity.map(|c| c.to_string()).unwrap_or_else(|| "-1".into()));
    w.leaf("max-devices", "-1");
    w.leaf("max-mobile-devices", "-1");
    w.leaf("usage", &store.sizes().usage.to_string());
    w.leaf("read-locked", "false");
    w.leaf("write-locked", "false");
    w.leaf("quota-write-locked", "false");
    w.leaf("enable-sync", "true");
    w.leaf("enable-foldershare", "true");
    w.open("devices", &[]);
    if let Some(root) = tree.get(super::store::tree::ROOT) {
        for (_, id) in &root.children.order {
            if let Some(dev) = tree.get(*id).filter(|d| d.deleted.is_none()) {
                w.open("device", &[]);
                device_fields(&mut w, dev, sizes);
                w.close("device");
            }
        }
    }
    w.close("devices");
    w.close("user");
    w.finish()
}

fn device_size(dev: &StoredItem, sizes: &std::collections::HashMap<ItemId, u64>) -> u64 {
    dev.children.order.iter().map(|(_, id)| sizes.get(id).copied().unwrap_or(0)).sum()
}

fn device_fields(w: &mut XmlWriter, dev: &StoredItem, sizes: &std::collections::HashMap<ItemId, u64>) {
    let (dtype, sid) = match &dev.kind {
        Kind::Device { dtype, sid } => (dtype.as_str(), sid.as_str()),
        _ => ("WORKSTATION", ""),
    };
    w.preserve("name", &dev.name);
    w.preserve("display_name", &dev.name);
    w.leaf("type", dtype);
    w.leaf("sid", sid);
    w.leaf("size", &device_size(dev, sizes).to_string());
    w.leaf("modified", &opt_time(dev.modified));
}

/// `GET /jfs/<user>/<device>`; `with_mounts: false` gives the short form answered by mount point
/// permanent deletion.
pub fn device_doc(store: &Store, host: &str, dev: ItemId, with_mounts: bool) -> String {
    let tree = &store.state.tree;
    let sizes = &store.sizes().per_mount_point;
    let t = jfs(now());
    let mut w = XmlWriter::document(true);
    w.open("device", &[("time", &t), ("host", host)]);
    if let Some(d) = tree.get(dev) {
        device_fields(&mut w, d, sizes);
        w.leaf("user", store.user());
        if with_mounts {
            let mps: Vec<&StoredItem> = d.children.order.iter().filter_map(|(_, id)| tree.get(*id)).collect();
            if !mps.is_empty() {
                w.open("mountPoints", &[]);
            }
            for mp in &mps {
                w.open("mountPoint", &[]);
                w.preserve("name", &mp.name);
                if let Some(del) = mp.deleted {
                    w.leaf("deleted", &jfs(del));
                    w.preserve("abspath", &tree.abs_path(dev));
                }
                w.leaf("size", &sizes.get(&mp.id).copied().unwrap_or(0).to_string());
                w.leaf("modified", &opt_time(mp.modified));
                w.close("mountPoint");
            }
            if !mps.is_empty() {
                w.close("mountPoints");
            }
            let n = mps.len().to_string();
            w.empty("metadata", &[("first", ""), ("max", ""), ("total", &n), ("num_mountpoints", &n)]);
        }
    }
    w.close("device");
    w.finish()
}

/// `GET` of a mount point (`listing: false` for the create/mkDir answers, which carry no children).
pub fn mount_point_doc(store: &Store, host: &str, mp: ItemId, listing: bool) -> String {
    let tree = &store.state.tree;
    let t = jfs(now());
    let mut w = XmlWriter::document(true);
    let Some(node) = tree.get(mp) else {
        return w.finish();
    };
    let size: u64 = store.sizes().per_mount_point.get(&mp).copied().unwrap_or(0);
    let dev_name = tree.names(mp).get(1).map(|s| s.to_string()).unwrap_or_default();
    let parent = tree.parent_path(mp);
    let deleted = node.deleted.map(jfs);
    let mut attrs: Vec<(&str, &str)> = vec![("time", &t), ("host", host)];
    if let Some(d) = &deleted {
        attrs.insert(0, ("deleted", d));
    }
    w.open("mountPoint", &attrs);
    w.preserve("name", &node.name);
    w.preserve("path", &parent);
    w.preserve("abspath", &parent);
    w.leaf("size", &size.to_string());
    w.leaf("modified", &opt_time(node.modified));
    w.leaf("device", &dev_name);
    w.leaf("user", store.user());
    if listing {
        children_listing(&mut w, tree, node);
    }
    w.close("mountPoint");
    w.finish()
}

/// `GET` of a folder; a deleted folder is answered with `deleted` on the root.
pub fn folder_doc(store: &Store, host: &str, id: ItemId, listing: bool) -> String {
    let tree = &store.state.tree;
    let t = jfs(now());
    let mut w = XmlWriter::document(true);
    let Some(node) = tree.get(id) else {
        return w.finish();
    };
    let deleted = node.deleted.map(jfs);
    let mut attrs: Vec<(&str, &str)> = vec![("name", &node.name)];
    if let Some(d) = &deleted {
        attrs.push(("deleted", d));
    }
    attrs.push(("time", &t));
    attrs.push(("host", host));
    w.open("folder", &attrs);
    let parent = tree.parent_path(id);
    w.preserve("path", &parent);
    w.preserve("abspath", &parent);
    if listing {
        children_listing(&mut w, tree, node);
    }
    w.close("folder");
    w.finish()
}

/// Whatever container the node is, as its own document.
pub fn container_doc(store: &Store, host: &str, id: ItemId, listing: bool) -> String {
    match store.state.tree.get(id).map(|n| &n.kind) {
        Some(Kind::MountPoint) => mount_point_doc(store, host, id, listing),
        Some(Kind::Device { .. }) => device_doc(store, host, id, listing),
        Some(Kind::Root) => user_doc(store, host, None),
        _ => folder_doc(store, host, id, listing),
    }
}

/// A single file: `path`, `abspath`, `publicURI`, current and latest revision and (with `history`)
/// the other revisions, newest first.
pub fn file_doc(store: &Store, host: &str, id: ItemId, history: bool) -> String {
    let tree = &store.state.tree;
    let t = jfs(now());
    let mut w = XmlWriter::document(true);
    let Some(node) = tree.get(id) else {
        return w.finish();
    };
    let Some(f) = node.file() else {
        return w.finish();
    };
    let deleted = node.deleted.map(jfs);
    let mut attrs: Vec<(&str, &str)> = vec![("name", &node.name), ("uuid", &f.uuid)];
    if let Some(d) = &deleted {
        attrs.push(("deleted", d));
    }
    attrs.push(("time", &t));
    attrs.push(("host", host));
    w.open("file", &attrs);
    let parent = tree.parent_path(id);
    w.preserve("path", &parent);
    w.preserve("abspath", &parent);
    if let Some(uri) = &f.public_uri {
        w.leaf("publicURI", uri);
    }
    let current = f.current();
    let latest = f.latest_failed();
    if let Some(cur) = current {
        revision(&mut w, "currentRevision", cur, Some(cur.size));
    }
    if let Some(l) = latest {
        let size = (l.state == RevState::Incomplete).then(|| received(store, id, l.number));
        revision(&mut w, "latestRevision", l, size);
    }
    if history {
        let shown = [current.map(|r| r.number), latest.map(|r| r.number)];
        let older: Vec<&Revision> = f.revisions.iter().rev().filter(|r| !shown.contains(&Some(r.number))).collect();
        if !older.is_empty() {
            w.open("revisions", &[]);
            for r in older {
                let size = (r.state == RevState::Completed).then_some(r.size);
                revision(&mut w, "revision", r, size);
            }
            w.close("revisions");
        }
    }
    w.close("file");
    w.finish()
}

/// `GET /jfs/<user>/Jotta/Trash`: top-level deleted items of the whole account.
pub fn trash_doc(store: &Store, host: &str) -> String {
    let tree = &store.state.tree;
    let user = store.user();
    let t = jfs(now());
    let mut tops: Vec<&StoredItem> = tree
        .nodes
        .values()
        .filter(|n| n.deleted.is_some())
        .filter(|n| n.parent.and_then(|p| tree.get(p)).map(|p| p.deleted.is_none()).unwrap_or(false))
        .collect();
    tops.sort_by_key(|a| (super::store::tree::key(&a.name), a.id));
    let device_path = format!("/{user}/{JOTTA}");
    let mut w = XmlWriter::document(true);
    w.open("mountPoint", &[("time", &t), ("host", host)]);
    w.preserve("name", "Trash");
    w.preserve("path", &device_path);
    w.preserve("abspath", &device_path);
    w.leaf("size", "");
    w.leaf("modified", "");
    w.leaf("device", JOTTA);
    w.leaf("user", user);
    let folders: Vec<&&StoredItem> = tops.iter().filter(|n| n.is_container()).collect();
    let files: Vec<&&StoredItem> = tops.iter().filter(|n| n.is_file()).collect();
    if !folders.is_empty() {
        w.open("folders", &[]);
        for n in &folders {
            folder_entry(&mut w, tree, n, true);
        }
        w.close("folders");
    }
    if !files.is_empty() {
        w.open("files", &[]);
        for n in &files {
            file_entry(&mut w, tree, n, EntryStyle { trash: true, with_path: false });
        }
        w.close("files");
    }
    let (nf, nfi, total) = (folders.len().to_string(), files.len().to_string(), tops.len().to_string());
    w.empty("metadata", &[("first", ""), ("max", ""), ("total", &total), ("num_folders", &nf), ("num_files", &nfi)]);
    w.close("mountPoint");
    w.finish()
}

/// Links (shared files, deleted ones included) or Latest (recently updated live files).
pub fn search_doc(store: &Store, host: &str, links: bool, max: usize) -> String {
    let tree = &store.state.tree;
    let t = jfs(now());
    let mut files: Vec<&StoredItem> = tree
        .nodes
        .values()
        .filter(|n| match n.file() {
            Some(f) if links => f.public_uri.is_some(),
            Some(f) => n.deleted.is_none() && f.current().is_some(),
            None => false,
        })
        .collect();
    let updated = |n: &StoredItem| n.file().and_then(|f| f.current()).map(|r| r.updated).unwrap_or(0);
    files.sort_by(|a, b| updated(b).cmp(&updated(a)).then(a.id.cmp(&b.id)));
    let total = files.len();
    if !links {
        files.truncate(max.max(10));
    }
    let mut w = XmlWriter::document(true);
    w.open("searchresult", &[("time", &t), ("host", host)]);
    if !files.is_empty() {
        w.open("files", &[]);
        for n in &files {
            file_entry(&mut w, tree, n, EntryStyle { trash: false, with_path: true });
        }
        w.close("files");
    }
    let (n, total) = (files.len().to_string(), total.to_string());
    if links {
        w.empty("metadata", &[("first", "0"), ("max", &n), ("total", &total), ("num_folders", &n)]);
    } else {
        w.empty("metadata", &[("first", ""), ("max", ""), ("total", &total), ("num_files", &total)]);
    }
    w.close("searchresult");
    w.finish()
}

/// Live folders below (and including) `id`, pre-order.
fn live_folders(tree: &Tree, id: ItemId) -> Vec<ItemId> {
    let mut out = Vec::new();
    let mut stack = vec![id];
    while let Some(cur) = stack.pop() {
        out.push(cur);
        if let Some(n) = tree.get(cur) {
            let kids: Vec<ItemId> = n
                .children
                .order
                .iter()
                .rev()
                .filter_map(|(_, c)| tree.get(*c))
                .filter(|c| c.is_container() && c.deleted.is_none())
                .map(|c| c.id)
                .collect();
            stack.extend(kids);
        }
    }
    out
}

/// `mode=list`: a flat `<filedirlist>` of the folder and every live descendant folder, each with its
/// files (deleted and incomplete ones included, as the service does).
pub fn filedirlist_doc(store: &Store, host: &str, id: ItemId) -> String {
    let tree = &store.state.tree;
    let t = jfs(now());
    let mut w = XmlWriter::document(true);
    w.open("filedirlist", &[("time", &t), ("host", host)]);
    w.open("folders", &[]);
    for fid in live_folders(tree, id) {
        let Some(folder) = tree.get(fid) else {
            continue;
        };
        w.open("folder", &[("name", &folder.name)]);
        let parent = tree.parent_path(fid);
        w.preserve("path", &parent);
        w.preserve("abspath", &parent);
        let files: Vec<&StoredItem> =
            folder.children.order.iter().filter_map(|(_, c)| tree.get(*c)).filter(|c| c.is_file()).collect();
        if !files.is_empty() {
            w.open("files", &[]);
            for f in files {
                file_entry(&mut w, tree, f, EntryStyle::default());
            }
            w.close("files");
        }
        w.close("folder");
    }
    w.close("folders");
    w.close("filedirlist");
    w.finish()
}

/// `mode=liststream`: compact XML of every live folder (requested one first, each before its files)
/// and every live completed file, paths rooted at the mount point, then `<stats>` with the number of
/// `<folder>` and `<file>` elements (the counting rule rclone checks).
pub fn liststream_doc(store: &Store, host: &str, id: ItemId) -> String {
    let tree = &store.state.tree;
    let t = jfs(now());
    let mut w = XmlWriter::document(false);
    w.open("filestream", &[("time", &t), ("host", host)]);
    let (mut nfolders, mut nfiles) = (0u64, 0u64);
    for fid in live_folders(tree, id) {
        let Some(folder) = tree.get(fid) else {
            continue;
        };
        // Mount-point-rooted: drop "/<user>/<device>".
        let names = tree.names(fid);
        let path = format!("/{}", names.get(2..).map(|s| s.join("/")).unwrap_or_default());
        w.open("folder", &[]);
        w.leaf("path", &path);
        w.close("folder");
        nfolders += 1;
        for (_, c) in &folder.children.order {
            let Some(n) = tree.get(*c) else { continue };
            if n.deleted.is_some() {
                continue;
            }
            let Some(rev) = n.file().and_then(|f| f.current()) else {
                continue;
            };
            w.open("file", &[]);
            w.leaf("path", &path);
            w.leaf("filename", &n.name);
            w.leaf("md5", &rev.md5);
            w.leaf("size", &rev.size.to_string());
            w.leaf("modified", &rfc3339_ms(rev.modified));
            w.leaf("created", &rfc3339_ms(rev.created));
            w.close("file");
            nfiles += 1;
        }
    }
    w.open("stats", &[]);
    w.leaf("folders", &nfolders.to_string());
    w.leaf("files", &nfiles.to_string());
    w.close("stats");
    w.close("filestream");
    w.finish()
}
