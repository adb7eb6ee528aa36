//! The reference model (`tests/common/model.rs`) on the in-process core: fast, so it runs many sequences
//! by default. `tests/mount_model.rs` runs the same model through a real mount with fewer.

use crate::common::in_process::Core;
use crate::common::model::{self, Side, Snapshot};
use jottafuse::remote::{Remote, RemotePath};
use jottafuse::vfs::OpenMode;
use jottafuse::vfs::{FsError, FsResult};
use std::time::Duration;

fn errno(r: FsResult<()>) -> i32 {
    r.err().map(|e| e.errno()).unwrap_or(0)
}

impl Side for Core {
    fn write(&mut self, p: &str, data: &[u8]) -> i32 {
        errno(match self.ino(p) {
            Ok(_) => self.overwrite(p, data),
            Err(FsError::NotFound) => self.write_new(p, data),
            Err(e) => Err(e),
        })
    }

    fn truncate(&mut self, p: &str, len: u64) -> i32 {
        errno(self.ino(p).and_then(|ino| self.fs.setattr(ino, Some(len), None)).map(|_| ()))
    }

    fn rename(&mut self, from: &str, to: &str) -> i32 {
        errno(Core::rename(self, from, to))
    }

    fn unlink(&mut self, p: &str) -> i32 {
        errno(Core::unlink(self, p))
    }

    fn mkdir(&mut self, p: &str) -> i32 {
        errno(Core::mkdir(self, p).map(|_| ()))
    }

    fn rmdir(&mut self, p: &str) -> i32 {
        errno(Core::rmdir(self, p))
    }

    fn set_mtime(&mut self, p: &str, secs: i64) -> i32 {
        errno(self.ino(p).and_then(|ino| self.fs.setattr(ino, None, Some(secs))).map(|_| ()))
    }

    fn fsync(&mut self, p: &str) -> i32 {
        errno(self.ino(p).and_then(|ino| {
            let fh = self.fs.open(ino, OpenMode::Write)?.fh;
            let synced = Core::fsync(self, fh);
            self.fs.release(fh)?;
            synced
        }))
    }

    fn put_elsewhere(&mut self, p: &str, data: &[u8]) {
        Core::put_elsewhere(self, p, data)
    }

    fn stop_service(&mut self) {
        self.service.stop();
    }

    fn start_service(&mut self) -> Result<(), String> {
        self.service.start_again().map_err(|e| e.to_string())?;
        crate::common::wait_until("the core to find the service back", || self.fs.status().service.reachable);
        Ok(())
    }

    fn crash(&mut self) {
        self.restart();
    }

    fn snapshot(&mut self) -> Result<Snapshot, String> {
        fn walk(c: &Core, dir: &str, out: &mut Snapshot) -> FsResult<()> {
            for name in c.names(dir)? {
                let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
                if c.is_dir(&rel) {
                    out.insert(rel.clone(), None);
                    walk(c, &rel, out)?;
                } else {
                    out.insert(rel.clone(), Some(c.read_all(&rel)?));
                }
            }
            Ok(())
        }
        let mut out = Snapshot::new();
        walk(self, "", &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn mtime(&mut self, p: &str) -> Result<i64, String> {
        self.attr(p).map(|a| a.mtime).map_err(|e| e.to_string())
    }

    fn drained_service_snapshot(&mut self) -> Result<Snapshot, String> {
        let left = self.drain();
        if left != 0 {
            return Err(format!("{left} upload(s) left after draining"));
        }
        let root = RemotePath::parse("/Jotta/Archive").expect("root");
        let tree = self.rt.block_on(self.other.list_tree(&root)).map_err(|e| e.to_string())?;
        let mut got = Snapshot::new();
        for f in tree.folders {
            got.insert(f, None);
        }
        for f in tree.files {
            let rel = if f.parent.is_empty() { f.name } else { format!("{}/{}", f.parent, f.name) };
            let data = self.server_bytes(&rel).ok_or_else(|| format!("{rel} listed but not downloadable"))?;
            got.insert(rel, Some(data));
        }
        Ok(got)
    }
}

#[test]
fn random_operations_agree_with_a_local_folder() {
    model::run(16, 25, || Core::with(|cfg| cfg.dir_ttl = Duration::ZERO));
}
