//! A reference model: random sequences of operations applied to the filesystem under test (a `Side`: the
//! in-process core, or a real mount) and to a plain local folder, compared after every step (the tree,
//! every file's bytes, explicitly set mtimes, and each operation's errno), then compared once more with
//! what another client of the account sees after the uploads drained. Besides the file operations the
//! sequences hold changes made by another client, service outages (with writes during them) and daemon
//! crashes (kill -9) with a restart on the same journal.
//!
//! proptest shrinks a failing sequence to a minimal one and keeps its seed in
//! `tests/in_process/model.proptest-regressions`, replayed first on every run by both sides.
//! `JOTTA_MODEL_CASES` sets the number of new sequences.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File names the operations use; few, so that they collide often.
pub const FILES: [&str; 5] = ["a", "b", "d/a", "d/b", "e/c"];
/// Folder names.
pub const DIRS: [&str; 2] = ["d", "e"];
/// Everything a rename may move or overwrite.
pub const NAMES: [&str; 7] = ["a", "b", "d", "e", "d/a", "d/b", "e/c"];

/// Where failing sequences are kept; both the in-process and the mounted model replay them.
const REGRESSIONS: &str = "tests/in_process/model.proptest-regressions";

#[derive(Debug, Clone)]
pub enum Op {
    /// Create or overwrite a whole file.
    Write {
        file: usize,
        seed: u8,
        len: u16,
    },
    Truncate {
        file: usize,
        len: u16,
    },
    Rename {
        from: usize,
        to: usize,
    },
    Unlink {
        file: usize,
    },
    Mkdir {
        dir: usize,
    },
    Rmdir {
        dir: usize,
    },
    Utimens {
        file: usize,
        secs: u32,
    },
    Fsync {
        file: usize,
    },
    /// Another client uploads a new file at the top.
    Elsewhere {
        n: u8,
        seed: u8,
        len: u16,
    },
    /// The service goes away, these writes happen, the service comes back.
    Outage {
        writes: Vec<(usize, u8, u16)>,
    },
    /// kill -9 of the daemon and a new one on the same journal.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let file = 0..FILES.len();
    let len = 0u16..3000;
    prop_oneof![
        4 => (file.clone(), any::<u8>(), len.clone()).prop_map(|(file, seed, len)| Op::Write { file, seed, len }),
        1 => (file.clone(), len.clone()).prop_map(|(file, len)| Op::Truncate { file, len }),
        2 => (0..NAMES.len(), 0..NAMES.len()).prop_map(|(from, to)| Op::Rename { from, to }),
        2 => file.clone().prop_map(|file| Op::Unlink { file }),
        2 => (0..DIRS.len()).prop_map(|dir| Op::Mkdir { dir }),
        1 => (0..DIRS.len()).prop_map(|dir| Op::Rmdir { dir }),
        1 => (file.clone(), 1_500_000_000u32..1_700_000_000).prop_map(|(file, secs)| Op::Utimens { file, secs }),
        1 => file.clone().prop_map(|file| Op::Fsync { file }),
        1 => (any::<u8>(), any::<u8>(), len.clone()).prop_map(|(n, seed, len)| Op::Elsewhere { n, seed, len }),
        1 => proptest::collection::vec((file, any::<u8>(), len), 0..3).prop_map(|writes| Op::Outage { writes }),
        1 => Just(Op::Crash),
    ]
}

pub fn bytes(seed: u8, len: u16) -> Vec<u8> {
    (0..len as usize).map(|i| seed.wrapping_add((i % 251) as u8)).collect()
}

/// What a tree holds: folders (`None`) and files with their bytes, by path.
pub type Snapshot = BTreeMap<String, Option<Vec<u8>>>;

/// The outcome of a local operation as an errno, `0` for success.
pub fn errno_of(r: std::io::Result<()>) -> i32 {
    r.err().map(|e| e.raw_os_error().unwrap_or(-1)).unwrap_or(0)
}

/// The filesystem under test. Paths are relative to its root (`d/a`); results are errnos (`0`: success).
pub trait Side {
    /// Create or overwrite a whole file, as `open(O_CREAT|O_TRUNC)` + write + close does.
    fn write(&mut self, p: &str, data: &[u8]) -> i32;
    fn truncate(&mut self, p: &str, len: u64) -> i32;
    fn rename(&mut self, from: &str, to: &str) -> i32;
    fn unlink(&mut self, p: &str) -> i32;
    fn mkdir(&mut self, p: &str) -> i32;
    fn rmdir(&mut self, p: &str) -> i32;
    fn set_mtime(&mut self, p: &str, secs: i64) -> i32;
    fn fsync(&mut self, p: &str) -> i32;
    /// Another client of the account uploads a file.
    fn put_elsewhere(&mut self, p: &str, data: &[u8]);
    fn stop_service(&mut self);
    /// Start the service again and wait until the filesystem has found it back.
    fn start_service(&mut self) -> Result<(), String>;
    /// kill -9 and a new daemon on the same cache dir.
    fn crash(&mut self);
    fn snapshot(&mut self) -> Result<Snapshot, String>;
    fn mtime(&mut self, p: &str) -> Result<i64, String>;
    /// Let every upload finish (as an unmount does), then the tree another client sees.
    fn drained_service_snapshot(&mut self) -> Result<Snapshot, String>;
}

pub struct Model<S: Side> {
    side: S,
    _dir: tempfile::TempDir,
    /// The reference: a plain local folder.
    local: PathBuf,
    /// mtimes set explicitly (compared; others are "now" on both sides and differ by moments).
    mtimes: BTreeMap<String, i64>,
}

impl<S: Side> Model<S> {
    pub fn new(side: S) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let local = dir.path().join("reference");
        std::fs::create_dir_all(&local).expect("reference folder");
        Model { side, _dir: dir, local, mtimes: BTreeMap::new() }
    }

    fn l(&self, rel: &str) -> PathBuf {
        self.local.join(rel)
    }

    /// Apply one operation to both sides; `Err` when they disagree about its outcome.
    pub fn apply(&mut self, op: &Op) -> Result<(), String> {
        let (local, side) = match op {
            Op::Write { file, seed, len } => self.write(FILES[*file], &bytes(*seed, *len)),
            Op::Truncate { file, len } => {
                let p = FILES[*file];
                let local =
                    std::fs::OpenOptions::new().write(true).open(self.l(p)).and_then(|f| f.set_len(*len as u64));
                self.mtimes.remove(p);
                (errno_of(local), self.side.truncate(p, *len as u64))
            }
            Op::Rename { from, to } => {
                let (from, to) = (NAMES[*from], NAMES[*to]);
                let local = std::fs::rename(self.l(from), self.l(to));
                let side = self.side.rename(from, to);
                if local.is_ok() && from != to {
                    let moved: Vec<(String, i64)> = self
                        .mtimes
                        .iter()
                        .filter(|(k, _)| *k == from || k.starts_with(&format!("{from}/")))
                        .map(|(k, v)| (format!("{to}{}", &k[from.len()..]), *v))
                        .collect();
                    self.mtimes.retain(|k, _| !(k == from || k.starts_with(&format!("{from}/")) || k == to));
                    self.mtimes.extend(moved);
                }
                (errno_of(local), side)
            }
            Op::Unlink { file } => {
                let p = FILES[*file];
                self.mtimes.remove(p);
                (errno_of(std::fs::remove_file(self.l(p))), self.side.unlink(p))
            }
            Op::Mkdir { dir } => {
                let p = DIRS[*dir];
                (errno_of(std::fs::create_dir(self.l(p))), self.side.mkdir(p))
            }
            Op::Rmdir { dir } => {
                let p = DIRS[*dir];
                (errno_of(std::fs::remove_dir(self.l(p))), self.side.rmdir(p))
            }
            Op::Utimens { file, secs } => {
                let p = FILES[*file];
                let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(*secs as u64);
                // Opened read-only, as utimensat(2) needs no write access: a folder's times can be set too.
                let local = std::fs::File::open(self.l(p)).and_then(|f| f.set_modified(when));
                let side = self.side.set_mtime(p, *secs as i64);
                // A folder's mtime is not kept by the service (folders carry none): only files' are compared.
                if local.is_ok() && self.l(p).is_file() {
                    self.mtimes.insert(p.to_string(), *secs as i64);
                }
                (errno_of(local), side)
            }
            Op::Fsync { file } => {
                let p = FILES[*file];
                let local = std::fs::File::options().write(true).open(self.l(p)).and_then(|f| f.sync_all());
                (errno_of(local), self.side.fsync(p))
            }
            Op::Elsewhere { n, seed, len } => {
                let name = format!("r{n}");
                if self.l(&name).exists() {
                    return Ok(());
                }
                let data = bytes(*seed, *len);
                std::fs::write(self.l(&name), &data).map_err(|e| e.to_string())?;
                self.side.put_elsewhere(&name, &data);
                (0, 0)
            }
            Op::Outage { writes } => {
                self.side.stop_service();
                for (file, seed, len) in writes {
                    let (local, side) = self.write(FILES[*file], &bytes(*seed, *len));
                    if local != side {
                        self.side.start_service()?;
                        return Err(format!(
                            "write {} during the outage: errno {local} locally, {side} under test",
                            FILES[*file]
                        ));
                    }
                }
                // Until it finds the service back, the filesystem answers from its cache however old
                // (vfs/offline.rs): changes made elsewhere show once it is reachable again.
                self.side.start_service()?;
                (0, 0)
            }
            Op::Crash => {
                self.side.crash();
                (0, 0)
            }
        };
        if local != side {
            return Err(format!("{op:?}: errno {local} locally, {side} under test"));
        }
        self.compare()
    }

    fn write(&mut self, p: &str, data: &[u8]) -> (i32, i32) {
        let local = std::fs::write(self.l(p), data);
        self.mtimes.remove(p);
        (errno_of(local), self.side.write(p, data))
    }

    fn local_snapshot(&self) -> Snapshot {
        walk_local(&self.local).expect("read the reference folder")
    }

    fn compare(&mut self) -> Result<(), String> {
        let want = self.local_snapshot();
        let got = self.side.snapshot().map_err(|e| format!("walking the tree under test: {e}"))?;
        if want != got {
            return Err(format!("trees differ:\n  local       {}\n  under test  {}", shown(&want), shown(&got)));
        }
        for (p, secs) in self.mtimes.clone() {
            let mtime = self.side.mtime(&p).map_err(|e| format!("stat {p}: {e}"))?;
            if mtime != secs {
                return Err(format!("{p}: mtime {mtime} under test, {secs} set"));
            }
        }
        Ok(())
    }

    /// After the uploads drained, another client sees exactly the reference.
    pub fn compare_service(&mut self) -> Result<(), String> {
        let got = self.side.drained_service_snapshot()?;
        let want = self.local_snapshot();
        if want != got {
            return Err(format!("the service differs:\n  local   {}\n  service {}", shown(&want), shown(&got)));
        }
        Ok(())
    }
}

/// Folders and files below `root` (a local folder or a mount), with the files' bytes.
pub fn walk_local(root: &Path) -> std::io::Result<Snapshot> {
    fn walk(root: &Path, dir: &Path, out: &mut Snapshot) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let rel = e.path().strip_prefix(root).expect("below root").to_string_lossy().into_owned();
            if e.file_type()?.is_dir() {
                out.insert(rel, None);
                walk(root, &e.path(), out)?;
            } else {
                out.insert(rel, Some(std::fs::read(e.path())?));
            }
        }
        Ok(())
    }
    let mut out = Snapshot::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// A snapshot in one line: folders with a `/`, files with their length.
fn shown(s: &Snapshot) -> String {
    s.iter()
        .map(|(k, v)| match v {
            None => format!("{k}/"),
            Some(d) => format!("{k}({})", d.len()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `cases` random sequences (or `JOTTA_MODEL_CASES`) of up to `max_len` operations, each on a fresh
/// side made by `make`, after replaying the kept regressions; panics with the shrunk sequence on failure.
pub fn run<S: Side>(default_cases: u32, max_len: usize, make: impl Fn() -> S) {
    let cases = std::env::var("JOTTA_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(op(), 1..max_len), |ops| {
        let mut m = Model::new(make());
        for (i, op) in ops.iter().enumerate() {
            m.apply(op).map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
        }
        m.compare_service().map_err(|e| TestCaseError::fail(format!("at the end: {e}")))?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
