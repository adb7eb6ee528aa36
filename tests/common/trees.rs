//! Trees as the index, archive and sync tests see them: a user of the real `jotta` binary with an
//! emulator behind it (`User`), files written with chosen mtimes, local and remote trees read back as
//! path -> md5 of the bytes, and the names inside an archive.

use super::{md5_hex, pattern, rp, TestService};
use jottafuse::remote::{HttpRemote, Remote, RemoteError};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct User {
    pub svc: TestService,
    pub config_home: PathBuf,
    pub cache_home: PathBuf,
    pub client: HttpRemote,
    pub work: PathBuf,
}

impl User {
    pub fn new() -> User {
        let svc = TestService::start();
        let creds = svc.login("user");
        let config_home = creds.parent().expect("config home").to_path_buf();
        let cache_home = svc.dir.path().join("cache");
        let work = svc.dir.path().join("work");
        std::fs::create_dir_all(&work).expect("work dir");
        let client = svc.client();
        User { svc, config_home, cache_home, client, work }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    pub fn jotta(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_jotta"))
            .args(args)
            .current_dir(&self.work)
            .env("XDG_CONFIG_HOME", &self.config_home)
            .env("XDG_CACHE_HOME", &self.cache_home)
            .env("HOME", self.svc.dir.path())
            .env_remove("JOTTA_ENDPOINT")
            .output()
            .expect("run jotta")
    }

    /// Run and require exit code `code`; returns (stdout, stderr).
    pub fn run(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.jotta(args);
        let (o, e) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert_eq!(out.status.code(), Some(code), "jotta {args:?}:\nstdout {o}\nstderr {e}");
        (o, e)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.run(0, args).0
    }

    /// Every live file below a remote folder: relative path -> md5 of the bytes downloaded.
    pub fn remote_tree(&self, folder: &str) -> BTreeMap<String, String> {
        let tree = match self.svc.rt.block_on(self.client.list_tree(&rp(folder))) {
            Err(RemoteError::NotFound(_)) => return BTreeMap::new(),
            other => other.expect("list tree"),
        };
        tree.files
            .iter()
            .map(|f| {
                let rel = if f.parent.is_empty() { f.name.clone() } else { format!("{}/{}", f.parent, f.name) };
                let bytes = self.svc.server_bytes(&self.client, &format!("{folder}/{rel}")).expect("download");
                (rel, md5_hex(&bytes))
            })
            .collect()
    }

    pub fn remote_folders(&self, folder: &str) -> BTreeSet<String> {
        let tree = self.svc.rt.block_on(self.client.list_tree(&rp(folder))).expect("list tree");
        tree.folders.into_iter().map(|f| f.trim_matches('/').to_string()).collect()
    }
}

/// Write a file with a chosen mtime (whole seconds: indexes and the service keep seconds).
pub fn write(root: &Path, rel: &str, data: &[u8], mtime: u64) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, data).expect("write");
    let f = std::fs::File::options().write(true).open(&p).expect("open");
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime)).expect("set mtime");
}

/// Every regular file below `root`: relative path -> md5 of its bytes.
pub fn local_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir") {
            let e = e.expect("entry");
            let t = e.file_type().expect("type");
            if t.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
                out.insert(rel, md5_hex(&std::fs::read(e.path()).expect("read")));
            }
        }
    }
    out
}

pub fn local_folders(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                out.insert(e.path().strip_prefix(root).expect("prefix").to_string_lossy().into_owned());
                stack.push(e.path());
            }
        }
    }
    out
}

/// A library of drawings: `n` files in nested folders, plus one empty folder.
pub fn library(root: &Path, n: usize) {
    for i in 0..n {
        let rel = format!("district-{}/street-{}/sketch-{i:05}.dwg", i % 3, i % 7);
        write(root, &rel, &pattern(100 + i * 13, i as u64 + 1), 1_600_000_000 + i as u64);
    }
    std::fs::create_dir_all(root.join("empty/inside")).expect("empty folder");
}

/// The files in an archive (gzipped or not) below `files/`.
pub fn archived_files(archive: &Path) -> BTreeSet<String> {
    let bytes = std::fs::read(archive).expect("read archive");
    let reader: Box<dyn Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(&bytes[..]))
    } else {
        Box::new(&bytes[..])
    };
    let mut tar = tar::Archive::new(reader);
    let mut names = BTreeSet::new();
    for e in tar.entries().expect("entries") {
        let name = e.expect("entry").path().expect("path").to_string_lossy().into_owned();
        if let Some(rel) = name.strip_prefix("files/") {
            names.insert(rel.to_string());
        }
    }
    names
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("json: {e}: {s}"))
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
}
