//! `jotta scan LOCALDIR /Device/MountPoint/Folder` as a user runs it: the real binary against the
//! emulator on loopback. The remote side is checked through the client (`list_tree`, `trash`, bytes).

mod common;

use common::{md5_hex, pattern, rp, wait_until, TestMount, TestService};
use jottafuse::remote::{HttpRemote, Remote};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const TARGET: &str = "/Jotta/Archive/backup";

/// A logged-in user of the emulator: its config and cache folders, and a client to look at the server.
struct User {
    svc: TestService,
    config_home: PathBuf,
    cache_home: PathBuf,
    client: HttpRemote,
}

impl User {
    fn new() -> User {
        let svc = TestService::start();
        let creds = svc.login("user");
        let config_home = creds.parent().expect("config home").to_path_buf();
        let cache_home = svc.dir.path().join("cache");
        let client = svc.client();
        User { svc, config_home, cache_home, client }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jotta"));
        c.args(args)
            .env("XDG_CONFIG_HOME", &self.config_home)
            .env("XDG_CACHE_HOME", &self.cache_home)
            .env("HOME", self.svc.dir.path())
            .env_remove("JOTTA_ENDPOINT");
        c
    }

    fn jotta(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run jotta")
    }

    /// `jotta scan --json ARGS...`, which must exit with `code`; returns the summary document.
    fn scan(&self, code: i32, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["scan", "--json"];
        all.extend_from_slice(args);
        let out = self.jotta(&all);
        assert_eq!(
            out.status.code(),
            Some(code),
            "jotta {all:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("json summary: {e}: {out:?}"))
    }

    /// Every live file below `TARGET`, relative path -> content.
    fn remote_files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let tree = match self.svc.rt.block_on(self.client.list_tree(&rp(TARGET))) {
            Err(jottafuse::remote::RemoteError::NotFound(_)) => return out,
            other => other.expect("list tree"),
        };
        for f in tree.files {
            let rel = if f.parent.is_empty() { f.name.clone() } else { format!("{}/{}", f.parent, f.name) };
            let bytes = self.svc.server_bytes(&self.client, &format!("{TARGET}/{rel}")).expect("download");
            out.insert(rel, bytes);
        }
        out
    }

    fn remote_folders(&self) -> Vec<String> {
        let mut f = self.svc.rt.block_on(self.client.list_tree(&rp(TARGET))).expect("list tree").folders;
        f.sort();
        f
    }

    fn trashed_names(&self) -> Vec<String> {
        let t = self.svc.rt.block_on(self.client.trash()).expect("trash");
        t.folders.iter().map(|f| f.name.clone()).chain(t.files.iter().map(|f| f.name.clone())).collect()
    }
}

/// Every regular file below `root`, relative path -> content.
fn local_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            let ft = std::fs::symlink_metadata(&p).expect("lstat").file_type();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let rel = p.strip_prefix(root).expect("below root").to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// The raw checksum-cache xattr of a file (binary: version, md5, size, mtime).
fn xattr_bytes(p: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let cp = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the stated size.
    let n = unsafe { libc::getxattr(cp.as_ptr(), c"user.jottafuse.md5".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

fn tree(user: &User) -> PathBuf {
    let root = user.svc.dir.path().join("photos");
    write(&root, "a.txt", b"first version of a");
    write(&root, "sub/b.bin", &pattern(300_000, 1));
    write(&root, "sub/gone.txt", b"deleted locally later");
    write(&root, "sub/deeper/c.txt", b"in a folder deleted later");
    std::fs::create_dir_all(root.join("empty")).expect("mkdir");
    root
}

fn n(doc: &serde_json::Value, key: &str) -> u64 {
    doc[key].as_u64().unwrap_or_else(|| panic!("{key} in {doc}"))
}

#[test]
fn scan_mirrors_new_changed_and_deleted_files_and_folders() {
    let user = User::new();
    let root = tree(&user);
    let local = root.to_str().unwrap();

    let first = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&first, "uploaded"), 4, "{first}");
    assert_eq!(n(&first, "failed"), 0, "{first}");
    assert_eq!(user.remote_files(), local_files(&root));
    assert_eq!(user.remote_folders(), ["empty", "sub", "sub/deeper"]);

    // Change, add, delete a file and a folder; make a new empty folder.
    write(&root, "a.txt", b"second version, longer than the first");
    write(&root, "sub/new.txt", b"added");
    std::fs::remove_file(root.join("sub/gone.txt")).unwrap();
    std::fs::remove_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(root.join("later/inner")).unwrap();
    let second = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&second, "uploaded"), 2, "{second}");
    assert_eq!(n(&second, "trashed"), 2, "one file and one folder: {second}");
    assert_eq!(n(&second, "unchanged"), 1, "{second}");
    assert_eq!(user.remote_files(), local_files(&root));
    assert_eq!(user.remote_folders(), ["empty", "later", "later/inner", "sub"]);

    // What was deleted locally is in the trash, and can be brought back from there.
    let trashed = user.trashed_names();
    assert!(trashed.contains(&"gone.txt".to_string()) && trashed.contains(&"deeper".to_string()), "{trashed:?}");
    let data = b"deleted locally later";
    let restored = user.svc.rt.block_on(user.client.set_times(
        &rp(&format!("{TARGET}/sub/gone.txt")),
        data.len() as u64,
        &md5_hex(data),
        1_700_000_000,
        1_700_000_000,
    ));
    assert!(restored.is_ok(), "{restored:?}");
    assert_eq!(user.svc.server_bytes(&user.client, &format!("{TARGET}/sub/gone.txt")).unwrap(), data);

    // --no-delete keeps what vanished locally.
    std::fs::remove_file(root.join("sub/new.txt")).unwrap();
    let kept = user.scan(0, &["--no-delete", local, TARGET]);
    assert_eq!(n(&kept, "trashed"), 0, "{kept}");
    assert!(user.remote_files().contains_key("sub/new.txt"));
}

#[test]
fn rescan_of_an_unchanged_tree_reads_no_file_and_uploads_nothing() {
    let user = User::new();
    let root = tree(&user);
    let local = root.to_str().unwrap();
    let first = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&first, "hashed"), 4, "each file read once to learn its md5: {first}");
    let cached = xattr_bytes(&root.join("sub/b.bin")).expect("checksum kept in the xattr");
    assert_eq!(hex::encode(&cached[1..17]), md5_hex(&pattern(300_000, 1)), "{cached:?}");

    user.svc.reset_counters();
    let again = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&again, "hashed"), 0, "no file opened for a checksum: {again}");
    assert_eq!(n(&again, "unchanged"), 4, "{again}");
    assert_eq!(n(&again, "uploaded") + n(&again, "deduped") + n(&again, "trashed"), 0, "{again}");
    assert_eq!(user.svc.bytes_received(), 0, "no content bytes reached the server");
    assert_eq!(user.svc.requests("allocate") + user.svc.requests("upload"), 0, "{}", user.svc.counters());
    assert_eq!(user.svc.requests("liststream"), 1, "the whole remote tree in one listing: {}", user.svc.counters());

    // A changed file is read again (and only that one).
    std::fs::write(root.join("a.txt"), b"same length as before!").unwrap();
    let changed = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&changed, "hashed"), 1, "{changed}");
    assert_eq!(n(&changed, "uploaded"), 1, "{changed}");
}

#[test]
fn dry_run_says_what_it_would_do_and_changes_nothing() {
    let user = User::new();
    let root = tree(&user);
    let local = root.to_str().unwrap();
    user.svc.reset_counters();
    let out = user.jotta(&["scan", "--dry-run", local, TARGET]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("upload (new)") && text.contains("sub/b.bin"), "{text}");
    assert!(text.contains("dry run, would have: 4 uploaded"), "{text}");
    assert_eq!(user.svc.requests("allocate") + user.svc.requests("mkdir"), 0, "{}", user.svc.counters());
    let listed = user.svc.rt.block_on(user.client.list_tree(&rp(TARGET)));
    assert!(listed.is_err(), "the target was not even created: {listed:?}");

    // After a real scan, a dry run of a deletion leaves the remote file where it is.
    user.scan(0, &[local, TARGET]);
    std::fs::remove_file(root.join("a.txt")).unwrap();
    let doc = user.scan(0, &["--dry-run", local, TARGET]);
    assert_eq!(n(&doc, "trashed"), 1, "{doc}");
    assert!(doc["dry_run"].as_bool().unwrap());
    assert!(user.remote_files().contains_key("a.txt"));
}

#[test]
fn excluded_paths_are_neither_uploaded_nor_trashed() {
    let user = User::new();
    let root = tree(&user);
    write(&root, "x.tmp", b"scratch");
    write(&root, "sub/y.tmp", b"scratch");
    write(&root, "build/out.o", b"object");
    write(&root, "sub/build/kept.txt", b"only the top build/ is excluded");
    let local = root.to_str().unwrap();
    let doc = user.scan(0, &["--exclude", "*.tmp", "--exclude", "/build", local, TARGET]);
    assert_eq!(n(&doc, "uploaded"), 5, "{doc}");
    let remote = user.remote_files();
    assert!(remote.contains_key("sub/build/kept.txt"), "{:?}", remote.keys());
    assert!(!remote.keys().any(|k| k.ends_with(".tmp") || k.starts_with("build")), "{:?}", remote.keys());

    // A remote file that matches a pattern is outside the mirror: a scan does not trash it.
    user.svc.put(&user.client, &format!("{TARGET}/remote-only.tmp"), b"put there by hand");
    let doc = user.scan(0, &["--exclude", "*.tmp", "--exclude", "/build", local, TARGET]);
    assert_eq!(n(&doc, "trashed"), 0, "{doc}");
    assert!(user.remote_files().contains_key("remote-only.tmp"));
    // Without the pattern it is not part of the local tree, so it goes to the trash (and the rest is uploaded).
    let doc = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&doc, "trashed"), 1, "{doc}");
    assert_eq!(user.remote_files(), local_files(&root));

    let bad = user.jotta(&["scan", "--exclude", "{a,b", local, TARGET]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad --exclude pattern '{a,b'"), "{bad:?}");
}

#[test]
fn no_checksum_trusts_size_and_mtime_and_misses_a_same_size_edit() {
    let user = User::new();
    let root = tree(&user);
    let local = root.to_str().unwrap();
    user.scan(0, &["--no-checksum", local, TARGET]);
    let again = user.scan(0, &["--no-checksum", local, TARGET]);
    assert_eq!(n(&again, "unchanged"), 4, "size and mtime match the server's: {again}");
    assert_eq!(n(&again, "hashed"), 0, "{again}");

    // Same size, mtime put back to the same second: --no-checksum cannot see the edit (the risk README
    // states; the server keeps whole seconds) ...
    let a = root.join("a.txt");
    let before = std::fs::metadata(&a).unwrap().modified().unwrap();
    let second = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(before.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    assert_ne!(second, before, "the file system keeps sub-second times");
    std::fs::write(&a, b"FIRST VERSION OF A").unwrap();
    std::fs::File::options().write(true).open(&a).unwrap().set_modified(second).unwrap();
    let blind = user.scan(0, &["--no-checksum", local, TARGET]);
    assert_eq!(n(&blind, "uploaded"), 0, "{blind}");
    assert_eq!(user.remote_files()["a.txt"], b"first version of a");
    // ... the default md5 comparison does.
    let seen = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&seen, "uploaded"), 1, "{seen}");
    assert_eq!(user.remote_files()["a.txt"], b"FIRST VERSION OF A");

    // A new mtime alone is a change for --no-checksum; the content is known, so nothing is sent.
    let b = root.join("sub/b.bin");
    std::fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000))
        .unwrap();
    user.svc.reset_counters();
    let touched = user.scan(0, &["--no-checksum", local, TARGET]);
    assert_eq!(n(&touched, "deduped") + n(&touched, "uploaded"), 1, "{touched}");
    assert_eq!(user.svc.bytes_received(), 0);
    let settled = user.scan(0, &["--no-checksum", local, TARGET]);
    assert_eq!(n(&settled, "unchanged"), 4, "the server now has the new mtime: {settled}");
}

#[test]
fn symlinks_sockets_and_fifos_are_skipped_with_a_note() {
    let user = User::new();
    let root = tree(&user);
    std::os::unix::fs::symlink(root.join("a.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let fifo = std::ffi::CString::new(root.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let out = user.jotta(&["scan", root.to_str().unwrap(), TARGET]);
    assert_eq!(out.status.code(), Some(0), "skipping is not failing: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    for (name, kind) in
        [("link.txt", "symbolic link"), ("etc-link", "symbolic link"), ("sock", "socket"), ("fifo", "fifo")]
    {
        assert!(err.contains(&format!("skipped {name}: {kind}, not backed up")), "{name}: {err}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 skipped"), "{out:?}");
    assert_eq!(user.remote_files(), local_files(&root));
}

#[test]
fn usage_mistakes_exit_2_with_one_line() {
    let user = User::new();
    let root = tree(&user);
    let local = root.to_str().unwrap();
    let file = root.join("a.txt");
    for (args, says) in [
        (vec!["scan", local, "/Jotta/Archive"], "folder inside a mount point"),
        (vec!["scan", file.to_str().unwrap(), TARGET], "is not a folder"),
        (vec!["scan", "/no/such/dir", TARGET], "cannot scan /no/such/dir"),
        (vec!["scan", "--rescan", "0", local, TARGET], "rescan"),
    ] {
        let out = user.jotta(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        if !says.contains("rescan") {
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    }
}

/// A read-only bind mount of a folder, undone on drop.
struct ReadOnlyView(PathBuf);

impl ReadOnlyView {
    fn of(src: &Path, at: &Path) -> ReadOnlyView {
        std::fs::create_dir_all(at).unwrap();
        let ok = |c: &mut Command| assert!(c.status().expect("mount").success(), "{c:?}");
        ok(Command::new("mount").arg("--bind").arg(src).arg(at));
        let view = ReadOnlyView(at.to_path_buf());
        ok(Command::new("mount").args(["-o", "remount,bind,ro"]).arg(at));
        view
    }
}

impl Drop for ReadOnlyView {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn read_only_tree_keeps_its_checksums_in_the_cache_file() {
    // A read-only bind mount: only root may make one.
    if common::skip_without_mount() {
        return;
    }
    let user = User::new();
    let root = tree(&user);
    let view = ReadOnlyView::of(&root, &user.svc.dir.path().join("ro-view"));
    let local = view.0.to_str().unwrap();
    let first = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&first, "hashed"), 4, "{first}");
    assert!(xattr_bytes(&root.join("a.txt")).is_none(), "the tree could not be written");
    let cache_dir = user.cache_home.join("jottafuse/scan");
    let files: Vec<_> = std::fs::read_dir(&cache_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with(".checksums.json")), "{files:?}");

    user.svc.reset_counters();
    let again = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&again, "hashed"), 0, "{again}");
    assert_eq!(n(&again, "unchanged"), 4, "{again}");
    assert_eq!(user.svc.bytes_received(), 0);
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// Wait (generously) for a child to exit; its exit code.
fn exit_code(child: &mut Child) -> Option<i32> {
    let mut code = None;
    wait_until("jotta to exit", || match child.try_wait() {
        Ok(Some(status)) => {
            code = status.code();
            true
        }
        _ => false,
    });
    code
}

#[test]
fn watch_backs_up_a_new_file_and_a_deletion_and_sigterm_ends_it() {
    let user = User::new();
    let root = tree(&user);
    let local = root.to_str().unwrap();
    let mut child = user
        .command(&["scan", "--watch", "--json", local, TARGET])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn jotta scan --watch");
    // Passes print one JSON line each; the first is the initial scan.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(n(&first, "uploaded"), 4, "{first}");
    std::thread::spawn(move || for _ in lines.by_ref() {});

    // A second scan of the same target is refused while this one runs.
    let second = user.jotta(&["scan", local, TARGET]);
    assert_eq!(second.status.code(), Some(2), "{second:?}");
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another `jotta scan` into /Jotta/Archive/backup is running")
    );

    write(&root, "sub/arrived.txt", b"written while watched");
    wait_until("the new file on the server", || user.remote_files().contains_key("sub/arrived.txt"));
    std::fs::remove_file(root.join("a.txt")).unwrap();
    wait_until("the deleted file in the trash", || {
        !user.remote_files().contains_key("a.txt") && user.trashed_names().contains(&"a.txt".to_string())
    });
    assert_eq!(user.remote_files(), local_files(&root));

    signal(&child, libc::SIGTERM);
    assert_eq!(exit_code(&mut child), Some(0), "SIGTERM is how a watch ends");
    // The lock went with the process.
    user.scan(0, &[local, TARGET]);
}

#[test]
fn interrupted_scan_leaves_no_partial_file_and_the_next_run_finishes() {
    let user = User::new();
    let root = user.svc.dir.path().join("big");
    for i in 0..12 {
        write(&root, &format!("f{i:02}.bin"), &pattern(256 * 1024, 2 * i + 10));
    }
    // 512 KiB/s per connection: each file takes about half a second to send.
    user.svc.set_faults(serde_json::json!({ "bandwidth": 512 * 1024 }));
    let local = root.to_str().unwrap();
    let mut child = user
        .command(&["scan", "--json", local, TARGET])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn jotta scan");
    // Names only: a download would crawl at the capped rate too.
    wait_until("a first file on the server", || {
        user.svc.rt.block_on(user.client.list_tree(&rp(TARGET))).map(|t| !t.files.is_empty()).unwrap_or(false)
    });
    signal(&child, libc::SIGINT);
    assert_eq!(exit_code(&mut child), Some(130), "Ctrl-C: stopped before the job was done");
    let doc: serde_json::Value = serde_json::from_reader(child.stdout.take().unwrap()).expect("summary");
    assert!(doc["interrupted"].as_bool().unwrap(), "{doc}");
    // Whatever is visible is whole.
    user.svc.set_faults(serde_json::json!({}));
    let local_now = local_files(&root);
    let partial = user.remote_files();
    assert!(partial.len() < 12, "stopped before the end: {} files", partial.len());
    for (name, bytes) in &partial {
        assert_eq!(bytes, &local_now[name], "{name} is complete on the server");
    }
    let rest = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&rest, "uploaded") as usize, 12 - partial.len(), "{rest}");
    assert_eq!(user.remote_files(), local_now);
}

#[test]
fn scanning_a_folder_of_the_mount_into_itself_is_refused() {
    if common::skip_without_mount() {
        return;
    }
    let user = User::new();
    user.svc.put(&user.client, &format!("{TARGET}/x.txt"), b"x");
    let mount = TestMount::new(&user.svc, "");
    let base = mount.path.parent().unwrap().to_path_buf();
    let inside = mount.p("Jotta/Archive/backup");
    let out = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(["scan", inside.to_str().unwrap(), "/Jotta/Archive/backup/mirror"])
        .env("XDG_CONFIG_HOME", &user.config_home)
        .env("XDG_CACHE_HOME", base.join("cache"))
        .output()
        .expect("run jotta");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("overlaps the target /Jotta/Archive/backup/mirror"), "{err}");
    assert_eq!(user.remote_files().len(), 1, "nothing was uploaded");
}

/// Run `jotta ARGS` as the unprivileged user `nobody` (65534), so that mode 000 means unreadable (the
/// tests run as root, who reads everything). Its config and cache homes are handed over to it.
fn as_nobody(user: &User, args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    let base = user.svc.dir.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(&user.cache_home).unwrap();
    for dir in [&user.config_home, &user.cache_home] {
        let ok = Command::new("chown").args(["-R", "65534:65534"]).arg(dir).status().unwrap();
        assert!(ok.success(), "chown {}", dir.display());
    }
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_jotta"))
        .args(args)
        .env("XDG_CONFIG_HOME", &user.config_home)
        .env("XDG_CACHE_HOME", &user.cache_home)
        .env("HOME", base)
        .env_remove("JOTTA_ENDPOINT")
        .output()
        .expect("run jotta as nobody")
}

#[test]
fn unreadable_files_and_folders_are_reported_and_skipped_and_the_scan_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test switches to the user nobody, so it must start as root");
    let user = User::new();
    let root = tree(&user);
    write(&root, "secret.txt", b"root's alone");
    write(&root, "locked/inside.txt", b"behind a closed folder");
    let ok = Command::new("chown").args(["-R", "65534:65534"]).arg(&root).status().unwrap();
    assert!(ok.success());
    // Owned by root, mode 000: nobody can neither read the file nor list the folder.
    for p in ["secret.txt", "locked"] {
        std::os::unix::fs::chown(root.join(p), Some(0), Some(0)).unwrap();
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let local = root.to_str().unwrap();
    let out = as_nobody(&user, &["scan", "--json", local, TARGET]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "some files failed: {err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(n(&doc, "failed"), 2, "{doc}");
    assert_eq!(n(&doc, "uploaded"), 4, "the rest went on: {doc}");
    for (name, why) in [("secret.txt", "cannot read"), ("locked", "cannot list")] {
        let line = err.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} reported: {err}"));
        assert!(line.contains(why) && line.contains("Permission denied"), "path and cause on one line: {line}");
    }
    assert!(!err.contains("panicked"), "{err}");
    let on_server = user.remote_files();
    assert!(!on_server.contains_key("secret.txt") && !on_server.keys().any(|k| k.starts_with("locked")));
    assert_eq!(on_server.len(), 4, "{:?}", on_server.keys());

    // Readable again: the next scan finishes the job.
    for p in ["secret.txt", "locked"] {
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let doc = user.scan(0, &[local, TARGET]);
    assert_eq!(n(&doc, "uploaded"), 2, "{doc}");
    assert_eq!(user.remote_files(), local_files(&root));
}

#[test]
fn a_file_vanishing_during_a_scan_is_reported_and_skipped_and_the_scan_goes_on() {
    let user = User::new();
    let root = user.svc.dir.path().join("going");
    for i in 0..16 {
        write(&root, &format!("f{i:02}.bin"), &pattern(256 * 1024, 3 * i + 7));
    }
    // 256 KiB/s per connection, four at a time: the last file's turn comes some three seconds in.
    user.svc.set_faults(serde_json::json!({ "bandwidth": 256 * 1024 }));
    let local = root.to_str().unwrap();
    let child = user
        .command(&["scan", "--json", local, TARGET])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jotta scan");
    wait_until("a first file on the server", || {
        user.svc.rt.block_on(user.client.list_tree(&rp(TARGET))).map(|t| !t.files.is_empty()).unwrap_or(false)
    });
    std::fs::remove_file(root.join("f15.bin")).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!((n(&doc, "uploaded"), n(&doc, "failed")), (15, 1), "{doc}");
    let line = err.lines().find(|l| l.contains("f15.bin")).unwrap_or_else(|| panic!("f15 reported: {err}"));
    assert!(line.contains("No such file"), "{line}");
    user.svc.set_faults(serde_json::json!({}));
    assert_eq!(user.remote_files(), local_files(&root), "the server holds every file that is still there");
}

#[test]
fn a_scan_into_a_missing_deep_target_creates_it() {
    let user = User::new();
    let root = tree(&user);
    let deep = "/Jotta/Archive/not/yet/there";
    let doc = user.scan(0, &[root.to_str().unwrap(), deep]);
    assert_eq!(n(&doc, "uploaded"), 4, "{doc}");
    let listed = user.svc.rt.block_on(user.client.list_tree(&rp(deep))).expect("the target exists now");
    assert_eq!(listed.files.len(), 4);
}

#[test]
fn scan_with_links_backs_up_symlinks_as_rclonelink_files() {
    let user = User::new();
    let root = tree(&user);
    std::os::unix::fs::symlink("a.txt", root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
    // A real file holding the stored name of a link beside it wins; the link is skipped with a note.
    write(&root, "sub/both.rclonelink", b"a real file");
    std::os::unix::fs::symlink("nowhere", root.join("sub/both")).unwrap();
    let doc = user.scan(0, &["--links", root.to_str().unwrap(), TARGET]);
    let remote = user.remote_files();
    assert_eq!(remote["link.txt.rclonelink"], b"a.txt");
    assert_eq!(remote["etc-link.rclonelink"], b"/etc");
    assert_eq!(remote["sub/both.rclonelink"], b"a real file");
    assert!(!remote.keys().any(|k| k.starts_with("etc-link/")), "a link is never followed");
    assert_eq!(n(&doc, "skipped"), 1, "{doc}");

    // Unchanged links are not sent again; a changed target is; a removed link goes to the trash.
    let again = user.scan(0, &["--links", root.to_str().unwrap(), TARGET]);
    assert_eq!(n(&again, "uploaded"), 0, "{again}");
    std::fs::remove_file(root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("sub/b.bin", root.join("link.txt")).unwrap();
    std::fs::remove_file(root.join("etc-link")).unwrap();
    let changed = user.scan(0, &["--links", root.to_str().unwrap(), TARGET]);
    assert_eq!(n(&changed, "uploaded"), 1, "{changed}");
    let remote = user.remote_files();
    assert_eq!(remote["link.txt.rclonelink"], b"sub/b.bin");
    assert!(!remote.contains_key("etc-link.rclonelink"));
    assert!(user.trashed_names().contains(&"etc-link.rclonelink".to_string()));
}
