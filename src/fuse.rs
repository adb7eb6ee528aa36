//! The thin `fuser::Filesystem` adapter: decode the kernel request, call the vfs core, send the reply
//! or the errno. No logic lives here beyond unit conversions; fuser types stay in this file.

use crate::remote::{Remote, UnixTime};
use crate::vfs::{Attr, FsError, InodeKind, JottaFs, OpenMode};
use fuser::{
    BsdFileFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, IoctlFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BLOCK: u64 = 4096;

pub struct FuseAdapter<R: Remote> {
    fs: Arc<JottaFs<R>>,
}

impl<R: Remote> FuseAdapter<R> {
    pub fn new(fs: Arc<JottaFs<R>>) -> Self {
        FuseAdapter { fs }
    }

    fn file_attr(&self, a: &Attr) -> FileAttr {
        let cfg = self.fs.config();
        let t = to_system_time(a.mtime);
        FileAttr {
            ino: INodeNo(a.ino),
            size: a.size,
            blocks: a.size.div_ceil(512),
            atime: t,
            mtime: t,
            ctime: to_system_time(a.ctime),
            crtime: t,
            kind: file_type(a),
            perm: a.perm,
            nlink: a.nlink,
            uid: cfg.uid,
            gid: cfg.gid,
            rdev: 0,
            blksize: BLOCK as u32,
            flags: 0,
        }
    }

    fn ttl(&self) -> Duration {
        self.fs.config().attr_ttl
    }

    fn entry_ttl(&self) -> Duration {
        self.fs.config().dir_ttl
    }

    /// Which handles skip the kernel's page cache: all of them with `-o direct_io`; otherwise those that
    /// can only write. For a write-only handle the bytes go from the writer's buffer straight into the
    /// request instead of being copied into cached pages first, which nearly halves the cost of a large
    /// copy onto the mount; nothing can read through it, and every write bumps the file's generation, so
    /// later opens drop pages cached before it.
    fn direct(&self, flags: i32) -> FopenFlags {
        if self.fs.config().direct_io || flags & libc::O_ACCMODE == libc::O_WRONLY {
            FopenFlags::FOPEN_DIRECT_IO
        } else {
            FopenFlags::empty()
        }
    }
}

fn to_system_time(t: UnixTime) -> SystemTime {
    if t >= 0 {
        UNIX_EPOCH + Duration::from_secs(t as u64)
    } else {
        UNIX_EPOCH
    }
}

fn file_type(a: &Attr) -> FileType {
    match a.kind {
        _ if a.symlink => FileType::Symlink,
        InodeKind::File => FileType::RegularFile,
        _ => FileType::Directory,
    }
}

fn errno(e: &FsError) -> Errno {
    Errno::from_i32(e.errno())
}

/// Log what went wrong where the errno alone would not tell the user why.
fn report(op: &str, e: &FsError) -> Errno {
    match e {
        FsError::NotFound | FsError::Exists | FsError::NotADirectory | FsError::IsADirectory | FsError::NotEmpty => {}
        other => log::warn!("{op}: {other}"),
    }
    errno(e)
}

/// A refused change of extended attributes, told once per mount: `cp -a`, `rsync -X` and backup tools
/// try one per file (ACLs, SELinux labels), and take the refusal in their stride.
fn refuse_xattr_change(op: &str, e: &FsError) -> Errno {
    static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TOLD.swap(true, std::sync::atomic::Ordering::Relaxed) {
        log::debug!("{op}: {e}");
    } else {
        log::warn!("{op}: {e} (told once; later refusals are logged at debug level)");
    }
    errno(e)
}

fn name_str(name: &OsStr) -> Result<&str, FsError> {
    std::str::from_utf8(name.as_bytes())
        .map_err(|_| FsError::InvalidName("JottaCloud names must be valid UTF-8".into()))
}

impl<R: Remote> Filesystem for FuseAdapter<R> {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Ask for what makes a network filesystem fast; the kernel may refuse some, that is fine.
        for flag in [
            InitFlags::FUSE_ASYNC_READ,
            // mmap (an executable, a database file) keeps working on a `-o direct_io` mount.
            InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP,
            InitFlags::FUSE_PARALLEL_DIROPS,
            // Always readdirplus (not "auto"): the directory the kernel caches is filled by one pass that
            // also creates every entry with its attributes, so `ls -l` then needs no lookups.
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_MAX_PAGES,
            InitFlags::FUSE_BIG_WRITES,
            // O_TRUNC arrives with the open: rewriting a file whole then never downloads its old content
            // first (without it the kernel opens plainly and truncates after, so the open must fetch).
            InitFlags::FUSE_ATOMIC_O_TRUNC,
        ] {
            if config.add_capabilities(flag).is_err() {
                log::debug!("kernel does not offer {flag:?}");
                if flag == InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP && self.fs.config().direct_io {
                    log::warn!(
                        "direct_io: this kernel (older than Linux 6.6) refuses shared mmap of files on a \
                         direct_io mount (ENODEV); mount without direct_io if a program needs it"
                    );
                }
            }
        }
        let _ = config.set_max_readahead(4 << 20);
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        let _ = config.set_time_granularity(Duration::from_secs(1));
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    // (batch_forget: fuser's default hands each one to forget.)
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        // No name that is not UTF-8 exists on the service: such a lookup is a plain "not there".
        let result = name_str(name).map_err(|_| FsError::NotFound).and_then(|n| self.fs.lookup(parent.0, n));
        match result {
            Ok(a) => reply.entry(&self.entry_ttl(), &self.file_attr(&a), Generation(0)),
            Err(FsError::NotFound) => {
                // A negative entry (node id 0) that the kernel caches for the listing's lifetime: tools
                // probing for names that do not exist (.git, desktop.ini, ...) cost nothing the second time.
                let none = Attr {
                    ino: 0,
                    kind: InodeKind::File,
                    size: 0,
                    mtime: 0,
                    ctime: 0,
                    perm: 0,
                    nlink: 0,
                    symlink: false,
                };
                reply.entry(&self.entry_ttl(), &self.file_attr(&none), Generation(0))
            }
            // A probe for a name too long to exist answers as a local disk does, without a warning.
            Err(FsError::NameTooLong) => reply.error(errno(&FsError::NameTooLong)),
            Err(e) => reply.error(report("lookup", &e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.fs.getattr(ino.0) {
            Ok(a) => reply.attr(&self.ttl(), &self.file_attr(&a)),
            Err(e) => reply.error(report("getattr", &e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mode = if flags.0 & libc::O_ACCMODE == libc::O_RDONLY {
            OpenMode::Read
        } else if flags.0 & libc::O_TRUNC != 0 {
            OpenMode::WriteTruncated
        } else {
            OpenMode::Write
        };
        match self.fs.open(ino.0, mode) {
            Ok(opened) => {
                let f = if opened.keep_cache { FopenFlags::FOPEN_KEEP_CACHE } else { FopenFlags::empty() };
                reply.opened(FileHandle(opened.fh), f | self.direct(flags.0))
            }
            Err(e) => reply.error(report("open", &e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        // Answered here when the bytes are at hand (straight from the read-ahead buffer), otherwise where
        // they arrive (by the download itself, or a task waiting for it): no worker waits on the network.
        self.fs.read_to(fh.0, offset, size, move |result: Result<&[u8], FsError>| match result {
            Ok(data) => reply.data(data),
            Err(e) => reply.error(report("read", &e)),
        });
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        match self.fs.flush(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("flush", &e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        match self.fs.release(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("release", &e)),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        if mode & libc::S_IFMT != 0 && mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        match name_str(name).and_then(|n| self.fs.create(parent.0, n)) {
            Ok((a, fh)) => {
                reply.created(&self.entry_ttl(), &self.file_attr(&a), Generation(0), FileHandle(fh), self.direct(flags))
            }
            Err(e) => reply.error(report("create", &e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.fs.write(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(report("write", &e)),
        }
    }

    fn fsync(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        // Answered once the upload is done, by the task that waits for it (not this worker).
        self.fs.fsync(fh.0, move |result| match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("fsync", &e)),
        });
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        match self.fs.fsyncdir(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("fsyncdir", &e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mtime = mtime.map(|t| match t {
            TimeOrNow::SpecificTime(t) => t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as UnixTime).unwrap_or(0),
            TimeOrNow::Now => chrono::Utc::now().timestamp(),
        });
        let times = atime.is_some() || mtime.is_some();
        match self.fs.change_attr(ino.0, size, mtime, times) {
            Ok(a) => reply.attr(&self.ttl(), &self.file_attr(&a)),
            Err(e) => reply.error(report("setattr", &e)),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        match name_str(name).and_then(|n| self.fs.mknod(parent.0, n, mode)) {
            Ok(a) => reply.entry(&self.entry_ttl(), &self.file_attr(&a), Generation(0)),
            Err(e) => reply.error(report("mknod", &e)),
        }
    }

    fn mkdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, _mode: u32, _umask: u32, reply: ReplyEntry) {
        match name_str(name).and_then(|n| self.fs.mkdir(parent.0, n)) {
            Ok(a) => reply.entry(&self.entry_ttl(), &self.file_attr(&a), Generation(0)),
            Err(e) => reply.error(report("mkdir", &e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match name_str(name).and_then(|n| self.fs.unlink(parent.0, n)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("unlink", &e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match name_str(name).and_then(|n| self.fs.rmdir(parent.0, n)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("rmdir", &e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let no_replace = flags.bits() & libc::RENAME_NOREPLACE != 0;
        if flags.bits() & !libc::RENAME_NOREPLACE != 0 {
            // RENAME_EXCHANGE (and RENAME_WHITEOUT): not expressible with the service's move.
            return reply.error(Errno::EINVAL);
        }
        if no_replace {
            // The kernel refuses a name it knows is taken, holding both folders' locks meanwhile; this
            // catches one it had cached as free while the listing here (the service's word) has it.
            match name_str(newname).and_then(|nn| self.fs.name_taken(newparent.0, nn)) {
                Ok(false) => {}
                Ok(true) => return reply.error(Errno::EEXIST),
                Err(e) => return reply.error(report("rename", &e)),
            }
        }
        let result = name_str(name)
            .and_then(|n| name_str(newname).map(|nn| (n, nn)))
            .and_then(|(n, nn)| self.fs.rename(parent.0, n, newparent.0, nn));
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("rename", &e)),
        }
    }

    fn symlink(&self, _req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        match name_str(link_name).and_then(|n| self.fs.symlink(parent.0, n, target.as_os_str().as_bytes())) {
            Ok(a) => reply.entry(&self.entry_ttl(), &self.file_attr(&a), Generation(0)),
            Err(FsError::NotPermitted(m)) => {
                log::info!("{m}");
                reply.error(Errno::EPERM)
            }
            Err(e) => reply.error(report("symlink", &e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        // Answered where the target arrives (from memory, the local copy or a download).
        self.fs.readlink_to(ino.0, move |result: Result<&[u8], FsError>| match result {
            Ok(target) => reply.data(target),
            Err(e) => reply.error(report("readlink", &e)),
        });
    }

    fn link(&self, _req: &Request, _ino: INodeNo, _newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        log::info!("hard link {newname:?} refused: JottaCloud has no hard links");
        reply.error(Errno::EPERM);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        match self.fs.copy_range(fh_in.0, offset_in, fh_out.0, offset_out, len) {
            Ok(n) => reply.written(n.min(u32::MAX as u64) as u32),
            Err(e) => reply.error(report("copy_file_range", &e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        match self.fs.fallocate(fh.0, offset, length, mode) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(report("fallocate", &e)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // Permission checks follow the attributes (use -o default_permissions for the kernel's own).
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // The kernel may cache the directory itself (warm `find`/`ls -R` then cost no round trip), and keeps
        // that copy only while our listing is the one it was filled from.
        match self.fs.opendir(ino.0) {
            Ok(keep) => {
                let keep = if keep { FopenFlags::FOPEN_KEEP_CACHE } else { FopenFlags::empty() };
                reply.opened(FileHandle(0), FopenFlags::FOPEN_CACHE_DIR | keep)
            }
            Err(e) => reply.error(report("opendir", &e)),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let entries = match self.fs.readdir(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(report("readdir", &e)),
        };
        // The kernel fills in ".." itself; its inode number here is not used.
        let dots = [(ino.0, "."), (ino.0, "..")];
        let all = dots
            .iter()
            .map(|(i, n)| (*i, FileType::Directory, *n))
            .chain(entries.iter().map(|e| (e.attr.ino, file_type(&e.attr), e.name.as_str())));
        for (i, (ino, kind, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectoryPlus) {
        // The folder's own attributes first: that may fetch its parent's listing (slow), and nothing may
        // come between the snapshot of the entries and counting the ones handed to the kernel.
        let me = match self.fs.getattr(ino.0) {
            Ok(a) => a,
            Err(e) => return reply.error(report("readdirplus", &e)),
        };
        let entries = match self.fs.readdir(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(report("readdirplus", &e)),
        };
        let ttl = self.entry_ttl();
        let dots = [(".", me.clone()), ("..", me)];
        let all = dots.iter().map(|(n, a)| (*n, a)).chain(entries.iter().map(|e| (e.name.as_str(), &e.attr)));
        let mut handed = Vec::new();
        for (i, (name, attr)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(attr.ino), (i + 1) as u64, name, &ttl, &self.file_attr(attr), Generation(0)) {
                break;
            }
            // The kernel takes a reference to every entry in the reply, except "." and "..".
            if i >= 2 {
                handed.push(attr.ino);
            }
        }
        self.fs.remember(&handed);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.fs.statfs() {
            Ok(s) => {
                let blocks = s.total / BLOCK;
                let free = s.free / BLOCK;
                // JottaCloud has no inode limit: `df -i` shows the names this mount knows as used, out of a
                // large made-up total, rather than a figure that looks half full.
                let files: u64 = 1 << 32;
                let ffree = files.saturating_sub(self.fs.entries_known() as u64);
                reply.statfs(blocks, free, free, files, ffree, BLOCK as u32, 255, BLOCK as u32)
            }
            Err(e) => reply.error(report("statfs", &e)),
        }
    }

    /// No ioctl is supported (Python's `open` asks whether a file is a terminal, with TCGETS): `ENOTTY`,
    /// the answer of a plain file, without a log line.
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::from_i32(libc::ENOTTY));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        match self.fs.xattrs(ino.0) {
            Ok(list) => {
                let mut buf = Vec::new();
                for (name, _) in list {
                    buf.extend_from_slice(name.as_bytes());
                    buf.push(0);
                }
                xattr_reply(reply, size, &buf)
            }
            Err(e) => reply.error(report("listxattr", &e)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        // Only the user namespace exists here. Saying so for security.* and system.posix_acl_* (rather
        // than "no such attribute") lets `ls -l` remember it per device instead of asking two FUSE round
        // trips per entry; ENOSYS would instead switch off user.jotta.* for the whole mount.
        if !name.as_bytes().starts_with(b"user.") {
            return reply.error(Errno::EOPNOTSUPP);
        }
        match self.fs.xattrs(ino.0) {
            Ok(list) => match list.into_iter().find(|(n, _)| n.as_bytes() == name.as_bytes()) {
                Some((_, value)) => xattr_reply(reply, size, &value),
                None => reply.error(Errno::NO_XATTR),
            },
            Err(e) => reply.error(report("getxattr", &e)),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(refuse_xattr_change("setxattr", &self.fs.xattr_change_refused()));
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(refuse_xattr_change("removexattr", &self.fs.xattr_change_refused()));
    }
}

/// The xattr protocol: size 0 asks how big the value is; too small a buffer is ERANGE.
fn xattr_reply(reply: ReplyXattr, size: u32, value: &[u8]) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if (size as usize) < value.len() {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(value);
    }
}
