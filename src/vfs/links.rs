//! Symbolic links under `-o links`, in rclone's `--links` convention: a link `NAME` -> `TARGET` is stored
//! on JottaCloud as a regular file `NAME.rclonelink` whose content is exactly the target's bytes. The
//! table keeps the service's names; this file translates between them and what the kernel sees.
//!
//! A file `NAME.rclonelink` shows as the link `NAME` unless a sibling named `NAME` exists (letter case
//! ignored, as the service compares names): then the real entry keeps `NAME` and the link file shows as
//! the regular file it is, under its stored name, so neither hides the other. Without `-o links` nothing
//! here applies: `.rclonelink` files are ordinary files and `symlink()` is refused (`EPERM`).
//!
//! A new link goes through the same durable path as any written file (staging file, journal record,
//! upload), so it is kept once `symlink()` returns. Targets read once are kept in memory per content
//! generation (`ls -l` asks for every link's target).

use super::error::{FsError, FsResult};
use super::node::{Inode, InodeTable};
use super::reader::ReadReply;
use super::{lock, Attr, InodeKind, JottaFs};
use crate::remote::rclonelink::{link_file_name, link_stem, LINK_SUFFIX, MAX_TARGET};
use crate::remote::Remote;
use std::sync::Arc;

impl<R: Remote> JottaFs<R> {
    /// Whether `n` shows as a symbolic link: a file named `NAME.rclonelink`, under `-o links`, with no
    /// sibling `NAME` in any letter case.
    pub(super) fn shows_as_link(&self, table: &InodeTable, n: &Inode) -> bool {
        if !self.cfg.links || n.kind != InodeKind::File {
            return false;
        }
        link_stem(&n.name).is_some_and(|stem| table.child(n.parent, stem).is_none())
    }

    /// The name the kernel sees for `n`.
    pub(super) fn shown_name<'a>(&self, table: &InodeTable, n: &'a Inode) -> &'a str {
        match link_stem(&n.name) {
            Some(stem) if self.shows_as_link(table, n) => stem,
            _ => &n.name,
        }
    }

    /// The node the kernel means by `name` in `parent` (whose listing the caller holds): the entry of
    /// exactly that name, or the link file shown under it. A link file is never found by its stored
    /// name while it shows as a link, nor is an entry found by another spelling of its name.
    pub(super) fn resolve(&self, table: &InodeTable, parent: u64, name: &str) -> Option<u64> {
        if let Some(ino) = table.child(parent, name) {
            let n = table.get(ino)?;
            return (n.name == name && !self.shows_as_link(table, n)).then_some(ino);
        }
        if !self.cfg.links {
            return None;
        }
        let ino = table.child(parent, &link_file_name(name))?;
        let n = table.get(ino)?;
        (n.name == link_file_name(name) && self.shows_as_link(table, n)).then_some(ino)
    }

    /// The stored name of what the kernel calls `name` in `parent` (`NotFound` when nothing shows there).
    pub(super) fn stored_name(&self, parent: u64, name: &str) -> FsResult<String> {
        if !self.cfg.links {
            return Ok(name.to_string());
        }
        let table = self.listed(parent)?;
        let ino = self.resolve(&table, parent, name).ok_or(FsError::NotFound)?;
        Ok(table.get(ino).ok_or(FsError::NotFound)?.name.clone())
    }

    /// Under `-o links` a regular file may not be given a name ending in `.rclonelink`: on the service it
    /// would be taken for a link.
    pub(super) fn refuse_link_file_name(&self, name: &str) -> FsResult<()> {
        if self.cfg.links && link_stem(name).is_some() {
            log::warn!(
                "refusing file name '{name}': under -o links, names ending in {LINK_SUFFIX} hold symbolic links"
            );
            return Err(FsError::InvalidName(format!(
                "'{name}': under -o links, names ending in {LINK_SUFFIX} hold symbolic links"
            )));
        }
        Ok(())
    }

    /// `symlink()`: store `NAME.rclonelink` holding `target`, recorded in the journal like any closed file.
    pub fn symlink(&self, parent: u64, name: &str, target: &[u8]) -> FsResult<Attr> {
        if !self.cfg.links {
            return Err(FsError::NotPermitted(format!(
                "symlink '{name}': JottaCloud has no symbolic links (mount with -o links to keep them as \
                 {name}{LINK_SUFFIX} files)"
            )));
        }
        if target.is_empty() || target.len() > MAX_TARGET {
            return Err(FsError::InvalidName(format!("symlink '{name}': a target of {} bytes", target.len())));
        }
        let stored = link_file_name(name);
        if stored.len() > 255 {
            // The stored name is what the service limits.
            return Err(FsError::NameTooLong);
        }
        self.check_new_name(parent, name)?;
        let (attr, fh) = self.create_stored(parent, &stored)?;
        let written = self.write(fh, 0, target).and_then(|_| self.flush(fh));
        let closed = self.release(fh);
        written?;
        closed?;
        let table = lock(&self.table);
        let node = table.get(attr.ino).ok_or(FsError::NotFound)?;
        lock(&self.link_targets).insert(attr.ino, (node.generation, target.to_vec()));
        Ok(self.attr_in(&table, attr.ino, node))
    }

    /// `readlink()`: the content of the link file, from memory, the local copy or the service. Answered
    /// where the bytes arrive, so no FUSE worker waits on the network.
    pub fn readlink_to(self: &Arc<Self>, ino: u64, reply: impl ReadReply) {
        let found = {
            let table = lock(&self.table);
            table.get(ino).map(|n| (self.shows_as_link(&table, n), n.generation, self.attr_of(ino, n).size))
        };
        let (generation, size) = match found {
            Some((true, generation, size)) => (generation, size),
            Some((false, ..)) => return reply(Err(FsError::InvalidName("not a symbolic link".into()))),
            None => return reply(Err(FsError::NotFound)),
        };
        if let Some((_, target)) = lock(&self.link_targets).get(&ino).filter(|(g, _)| *g == generation) {
            return reply(Ok(target));
        }
        let fh = match self.open(ino, super::OpenMode::Read).map(|o| o.fh) {
            Ok(fh) => fh,
            Err(e) => return reply(Err(e)),
        };
        let fs = self.clone();
        let want = size.clamp(1, MAX_TARGET as u64) as u32;
        self.read_to(fh, 0, want, move |result: FsResult<&[u8]>| {
            if let Ok(target) = result {
                lock(&fs.link_targets).insert(ino, (generation, target.to_vec()));
            }
            if let Err(e) = fs.release(fh) {
                log::debug!("readlink of inode {ino}: closing its read handle: {e}");
            }
            reply(result)
        });
    }

    /// `rename()` in the kernel's names: a link moves as its file (the new name gets the suffix), and
    /// whatever the kernel sees at the new name is replaced, even when its stored name differs (a link
    /// renamed over a file, a file over a link).
    pub fn rename(&self, parent: u64, name: &str, new_parent: u64, new_name: &str) -> FsResult<()> {
        if !self.cfg.links {
            return self.rename_stored(parent, name, new_parent, new_name);
        }
        let (ino, stored, is_link) = {
            let table = self.listed(parent)?;
            let ino = self.resolve(&table, parent, name).ok_or(FsError::NotFound)?;
            let n = table.get(ino).ok_or(FsError::NotFound)?;
            (ino, n.name.clone(), self.shows_as_link(&table, n))
        };
        let new_stored = if is_link {
            link_file_name(new_name)
        } else {
            if link_stem(&stored).is_none() && lock(&self.table).get(ino).is_some_and(|n| n.kind == InodeKind::File) {
                self.refuse_link_file_name(new_name)?;
            }
            new_name.to_string()
        };
        if new_stored.len() > 255 {
            return Err(FsError::NameTooLong);
        }
        let shadowed = {
            let table = self.listed(new_parent)?;
            self.resolve(&table, new_parent, new_name)
                .filter(|t| *t != ino)
                .and_then(|t| table.get(t).map(|n| (t, n.name.to_lowercase())))
                .filter(|(_, n)| *n != new_stored.to_lowercase())
        };
        if let Some((target, _)) = shadowed {
            // What the kernel replaces lives under another stored name: take it away first (to the
            // trash), as the rename would have if the names matched.
            self.writable_folder(new_parent)?;
            let kind = lock(&self.table).get(ino).map(|n| n.kind).ok_or(FsError::NotFound)?;
            self.clear_rename_target(kind, target, true)?;
        }
        self.rename_stored(parent, &stored, new_parent, &new_stored)
    }
}
