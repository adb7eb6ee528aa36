//! The `jotta` file, account, trash, revision and link commands as a user runs them: the real binary
//! against the emulator, checking what lands on the server, on disk, and in the emulator's counters.

mod common;

use common::{md5_hex, pattern, rp, wait_until, TestService};
use jottafuse::remote::Remote;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

struct Cli<'a> {
    svc: &'a TestService,
    config: PathBuf,
}

impl<'a> Cli<'a> {
    fn new(svc: &'a TestService) -> Self {
        Cli { svc, config: svc.login("cli") }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jotta"));
        c.arg("--config-dir")
            .arg(&self.config)
            .arg("--endpoint")
            .arg(self.svc.endpoint())
            .args(args)
            .env_remove("JOTTA_ENDPOINT");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run jotta")
    }

    /// Run, expect exit 0, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "jotta {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run, expect exit 0, return stdout as bytes.
    fn bytes(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(out.status.success(), "jotta {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// Run, expect exit `code` and one line on stderr; return that line.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(out.status.code(), Some(code), "jotta {args:?}: {err} / {}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
        err
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn write_with_mtime(p: &Path, data: &[u8], mtime: u64) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime)).unwrap();
}

fn mtime(p: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().mtime()
}

#[test]
fn put_r_then_get_r_gives_the_same_tree_with_mtimes_and_a_second_put_sends_nothing() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let src = svc.dir.path().join("src");
    let files = [
        ("a.txt", pattern(10, 1), 1_600_000_000),
        ("sub/b.bin", pattern(300_000, 2), 1_600_000_100),
        ("sub/deeper/c+d e.txt", pattern(5, 3), 1_600_000_200),
        ("sub/same-as-a.txt", pattern(10, 1), 1_600_000_300),
    ];
    for (rel, data, t) in &files {
        write_with_mtime(&src.join(rel), data, *t);
    }
    std::fs::create_dir_all(src.join("empty")).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    // Content the server holds already is not sent again.
    let elsewhere = svc.dir.path().join("elsewhere.txt");
    std::fs::write(&elsewhere, pattern(10, 1)).unwrap();
    cli.ok(&["put", s(&elsewhere), "Archive/"]);

    svc.reset_counters();
    let out = cli.ok(&["put", "-r", s(&src), "Archive/tree"]);
    assert!(out.contains("uploaded 2 file(s), deduplicated 2"), "{out}");
    assert_eq!(svc.bytes_received(), 300_000 + 5);

    let dst = svc.dir.path().join("dst");
    let out = cli.ok(&["get", "-r", "/Jotta/Archive/tree", s(&dst)]);
    assert!(out.contains("downloaded 4 file(s)"), "{out}");
    for (rel, data, t) in &files {
        assert_eq!(&std::fs::read(dst.join(rel)).unwrap(), data, "{rel}");
        assert_eq!(mtime(&dst.join(rel)), *t as i64, "{rel} keeps its mtime");
    }
    assert!(dst.join("empty").is_dir(), "empty folders come back too");
    assert!(!dst.join("link").exists(), "symlinks are not uploaded");

    // Nothing changed: the second put reads the server's tree and sends no byte.
    svc.reset_counters();
    let out = cli.ok(&["put", "-r", s(&src), "/Jotta/Archive/tree"]);
    assert!(out.contains("uploaded 0 file(s), deduplicated 0, unchanged 4"), "{out}");
    assert_eq!(svc.bytes_received(), 0);
    assert_eq!(svc.requests("allocate"), 0, "no upload was even started");

    // Only the time changed: a metadata call, still no byte.
    write_with_mtime(&src.join("a.txt"), &files[0].1, 1_700_000_000);
    let out = cli.ok(&["put", "-r", s(&src), "/Jotta/Archive/tree"]);
    assert!(out.contains("time set /Jotta/Archive/tree/a.txt"), "{out}");
    assert_eq!(svc.bytes_received(), 0);
    let listing = cli.ok(&["ls", "-l", "Archive/tree"]);
    assert!(listing.contains("2023-11-14 22:13:20") && listing.contains(&md5_hex(&files[0].1)), "{listing}");

    // A second get finds everything in place and fetches nothing.
    svc.reset_counters();
    let out = cli.ok(&["get", "-r", "/Jotta/Archive/tree/sub", s(&dst.join("sub"))]);
    assert!(out.contains("downloaded 0 file(s)") && out.contains("unchanged 3"), "{out}");
    assert_eq!(svc.bytes_sent(), 0);
}

#[test]
fn ls_flags_mkdir_mv_cp_cat_and_exit_codes() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let local = svc.dir.path().join("note.txt");
    std::fs::write(&local, b"hello notes").unwrap();

    cli.fails(1, &["mkdir", "Archive/x/y"]);
    cli.ok(&["mkdir", "-p", "Archive/x/y"]);
    cli.ok(&["mkdir", "Archive/x/z"]);
    cli.fails(1, &["mkdir", "Archive/x/z"]);
    cli.ok(&["put", s(&local), "/Archive/x/y/"]);
    assert_eq!(cli.ok(&["cat", "Archive/x/y/note.txt"]), "hello notes");

    let rec = cli.ok(&["ls", "-R", "/Jotta/Archive/x"]);
    assert_eq!(rec.lines().collect::<Vec<_>>(), vec!["y/", "y/note.txt", "z/"], "{rec}");
    let json: serde_json::Value = serde_json::from_str(&cli.ok(&["ls", "-l", "--json", "Archive/x/y"])).unwrap();
    assert_eq!(json[0]["name"], "note.txt");
    assert_eq!(json[0]["size"], 11);
    assert_eq!(json[0]["md5"], md5_hex(b"hello notes"));

    // Server-side copy and move: no bytes travel.
    svc.reset_counters();
    cli.ok(&["cp", "Archive/x/y/note.txt", "Archive/x/z"]);
    cli.ok(&["cp", "-r", "Archive/x/y", "Archive/copy"]);
    cli.ok(&["mv", "Archive/x/z/note.txt", "Archive/x/z/renamed.txt"]);
    cli.ok(&["mv", "Archive/x/z", "Archive/moved"]);
    assert_eq!(svc.bytes_received(), 0);
    assert_eq!(cli.ok(&["cat", "Archive/copy/note.txt"]), "hello notes");
    assert_eq!(cli.ok(&["cat", "Archive/moved/renamed.txt"]), "hello notes");
    assert_eq!(cli.ok(&["ls", "Archive/x"]), "y/\n");

    // --deleted shows the folder's trashed entries.
    cli.ok(&["rm", "Archive/copy/note.txt"]);
    assert_eq!(cli.ok(&["ls", "Archive/copy"]), "");
    assert_eq!(cli.ok(&["ls", "--deleted", "Archive/copy"]), "note.txt\n");

    // Exit codes: 2 for usage errors, 1 for failures.
    assert_eq!(cli.run(&["ls", "--no-such-flag"]).status.code(), Some(2));
    assert!(cli.fails(2, &["rm", "Archive/x"]).contains("rm -r"));
    assert!(cli.fails(2, &["get", "Archive/x"]).contains("get -r"));
    assert!(cli.fails(2, &["put", s(svc.dir.path()), "Archive/"]).contains("put -r"));
    assert!(cli.fails(1, &["get", "Archive/nope", s(svc.dir.path())]).contains("not found"));
    assert!(cli.fails(1, &["rm", "Archive/nope"]).contains("not found"));
    // A download into a folder that is not there fails before a byte travels, leaving nothing behind.
    svc.reset_counters();
    for to in ["no-such-folder/", "no-such-folder/name.txt"] {
        let err = cli.fails(1, &["get", "Archive/moved/renamed.txt", s(&svc.dir.path().join(to))]);
        assert!(err.contains("no such folder; nothing was downloaded"), "{err}");
    }
    assert_eq!(svc.requests("download"), 0, "{}", svc.counters());
    assert!(!svc.dir.path().join("no-such-folder").exists());

    // A folder renamed to its own name in other letters (the service's names ignore case); a copy onto
    // itself so named is refused.
    cli.ok(&["mv", "Archive/moved", "Archive/Moved"]);
    assert!(cli.ok(&["ls", "Archive"]).lines().any(|l| l == "Moved/"));
    assert_eq!(cli.ok(&["cat", "Archive/Moved/renamed.txt"]), "hello notes");
    let err = cli.fails(2, &["cp", "Archive/Moved/renamed.txt", "Archive/Moved/RENAMED.txt"]);
    assert!(err.contains("itself"), "{err}");
}

#[test]
fn whoami_shows_the_account_and_logout_forgets_the_login() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let local = svc.dir.path().join("f");
    std::fs::write(&local, pattern(3 * 1024 * 1024, 9)).unwrap();
    cli.ok(&["put", s(&local), "Archive/f"]);
    let who = cli.ok(&["whoami"]);
    assert!(who.contains("user: "), "{who}");
    assert!(who.contains("3.0 MiB used of"), "{who}");
    assert!(who.contains("device Jotta") && who.contains("/Jotta/Archive"), "{who}");

    assert!(cli.ok(&["logout"]).contains("logged out"));
    assert!(!cli.config.join("credentials.json").exists());
    let err = cli.fails(1, &["whoami"]);
    assert!(err.contains("jotta login"), "{err}");
}

#[test]
fn rm_then_trash_restore_brings_files_and_folders_back() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let src = svc.dir.path().join("docs");
    write_with_mtime(&src.join("one.txt"), b"first", 1_600_000_000);
    write_with_mtime(&src.join("inner/two.txt"), b"second", 1_600_000_001);
    write_with_mtime(&src.join("inner/deep/three.txt"), b"third", 1_600_000_002);
    std::fs::create_dir_all(src.join("inner/empty")).unwrap();
    cli.ok(&["put", "-r", s(&src), "Archive/docs"]);

    cli.ok(&["rm", "Archive/docs/one.txt"]);
    assert!(cli.fails(1, &["cat", "Archive/docs/one.txt"]).contains("not found"));
    let trash = cli.ok(&["trash"]);
    assert!(trash.contains("/Jotta/Archive/docs/one.txt"), "{trash}");
    svc.reset_counters();
    cli.ok(&["trash", "restore", "Archive/docs/one.txt"]);
    assert_eq!(svc.bytes_received(), 0, "restoring sends no content");
    assert_eq!(cli.ok(&["cat", "Archive/docs/one.txt"]), "first");
    assert!(!cli.ok(&["trash"]).contains("one.txt"));
    assert!(cli.fails(1, &["trash", "restore", "Archive/docs/one.txt"]).contains("not in the trash"));

    cli.ok(&["rm", "-r", "Archive/docs/inner"]);
    assert_eq!(cli.ok(&["ls", "Archive/docs"]), "one.txt\n");
    assert!(cli.ok(&["trash"]).contains("/Jotta/Archive/docs/inner/"));
    cli.ok(&["trash", "restore", "/Jotta/Archive/docs/inner"]);
    assert_eq!(cli.ok(&["cat", "Archive/docs/inner/two.txt"]), "second");
    assert_eq!(cli.ok(&["cat", "Archive/docs/inner/deep/three.txt"]), "third");
    let rec = cli.ok(&["ls", "-R", "Archive/docs/inner"]);
    assert!(rec.contains("empty/"), "empty folders are re-created: {rec}");
    let listing = cli.ok(&["ls", "-l", "Archive/docs/inner"]);
    assert!(listing.contains("2020-09-13 12:26:41"), "times kept: {listing}");

    // Permanent delete and emptying: gone for good.
    cli.ok(&["rm", "--permanent", "Archive/docs/one.txt"]);
    assert!(!cli.ok(&["trash"]).contains("one.txt"));
    cli.ok(&["rm", "Archive/docs/inner/two.txt"]);
    assert!(cli.ok(&["trash", "empty"]).contains("emptied the trash"));
    assert_eq!(cli.ok(&["trash"]), "the trash is empty\n");
    assert!(cli.fails(1, &["trash", "restore", "Archive/docs/inner/two.txt"]).contains("not found"));
}

#[test]
fn overwrite_twice_then_revisions_lists_three_and_restore_sends_nothing() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let local = svc.dir.path().join("report.txt");
    let versions: Vec<Vec<u8>> = (0..3u64).map(|i| pattern(100_000 + i as usize, 20 + i)).collect();
    for (i, v) in versions.iter().enumerate() {
        write_with_mtime(&local, v, 1_600_000_000 + i as u64 * 60);
        cli.ok(&["put", s(&local), "Archive/report.txt"]);
    }
    let listed = cli.ok(&["revisions", "Archive/report.txt"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[0].starts_with("*   3") && lines[0].contains(&md5_hex(&versions[2])), "{listed}");
    assert!(lines[2].contains("   1 COMPLETED") && lines[2].contains(&md5_hex(&versions[0])), "{listed}");

    let old = svc.dir.path().join("old.txt");
    cli.ok(&["revisions", "get", "Archive/report.txt", "1", "-o", s(&old)]);
    assert_eq!(std::fs::read(&old).unwrap(), versions[0]);
    assert_eq!(mtime(&old), 1_600_000_000);

    svc.reset_counters();
    let out = cli.ok(&["revisions", "restore", "Archive/report.txt", "1"]);
    assert!(out.contains("revision 1 is current again (as revision 4"), "{out}");
    assert_eq!(svc.bytes_received(), 0, "no byte uploaded to restore a revision");
    assert_eq!(cli.bytes(&["cat", "Archive/report.txt"]), versions[0]);
    let listed = cli.ok(&["revisions", "Archive/report.txt"]);
    assert_eq!(listed.lines().count(), 4, "the versions in between are kept: {listed}");

    assert!(cli.fails(1, &["revisions", "get", "Archive/report.txt", "9", "-o", s(&old)]).contains("no revision 9"));
}

#[test]
fn share_gives_a_link_that_works_without_credentials_and_unshare_makes_it_404() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let data = pattern(70_000, 5);
    let local = svc.dir.path().join("photo.jpg");
    std::fs::write(&local, &data).unwrap();
    cli.ok(&["put", s(&local), "Archive/pics/"]);

    let link = cli.ok(&["share", "Archive/pics/photo.jpg"]).trim().to_string();
    assert!(link.starts_with(&svc.endpoint()), "{link}");
    let fetch = |url: &str| {
        svc.rt.block_on(async {
            let resp = reqwest::Client::new().get(url).send().await.expect("GET link");
            let status = resp.status().as_u16();
            (status, resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
        })
    };
    let (status, body) = fetch(&link);
    assert_eq!(status, 200);
    assert_eq!(body, data, "the link serves the bytes with no credentials at all");
    assert_eq!(cli.ok(&["share", "Archive/pics/photo.jpg"]).trim(), link, "sharing twice keeps the link");

    cli.ok(&["unshare", "Archive/pics/photo.jpg"]);
    assert_eq!(fetch(&link).0, 404);
    assert!(cli.fails(2, &["share", "Archive/pics"]).contains("folder"));
}

#[test]
fn get_interrupted_continues_where_it_stopped() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let size = 8 * 1024 * 1024;
    let data = pattern(size, 77);
    let local = svc.dir.path().join("big.bin");
    std::fs::write(&local, &data).unwrap();
    cli.ok(&["put", s(&local), "Archive/big.bin"]);
    let target = svc.dir.path().join("fetched.bin");
    let part = svc.dir.path().join(".fetched.bin.jotta-part");

    // Every connection of the first run is cut after 1 MiB: it resumes twice, then gives up.
    svc.reset_counters();
    let mib = 1024 * 1024;
    svc.set_faults(serde_json::json!({"drop_next": [{"kind": "download", "after_bytes": mib, "count": 3}]}));
    let err = cli.fails(1, &["get", "Archive/big.bin", s(&target)]);
    assert!(err.contains("again") || err.contains("interrupted"), "{err}");
    assert!(!target.exists(), "no half file under the final name");
    let kept = std::fs::metadata(&part).expect("the partial download is kept").len();
    assert!(kept > mib as u64, "the run resumed after the first cut: {kept} bytes kept");

    // The next run fetches only the rest.
    svc.set_faults(serde_json::json!({}));
    cli.ok(&["get", "Archive/big.bin", s(&target)]);
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert!(!part.exists());
    let sent = svc.bytes_sent();
    assert!(sent < (size + mib) as u64, "{sent} bytes sent for a {size}-byte file: the cut parts were fetched again");
}

/// Every live file below `dir` on the server (relative path -> content), through the library client.
fn server_tree(svc: &TestService, dir: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let client = svc.client();
    let mut out = std::collections::BTreeMap::new();
    let tree = match svc.rt.block_on(client.list_tree(&rp(dir))) {
        Err(jottafuse::remote::RemoteError::NotFound(_)) => return out,
        other => other.expect("list tree"),
    };
    for f in tree.files {
        let rel = if f.parent.is_empty() { f.name.clone() } else { format!("{}/{}", f.parent, f.name) };
        out.insert(rel.clone(), svc.server_bytes(&client, &format!("{dir}/{rel}")).expect("download"));
    }
    out
}

/// Files of a throttled upload: `n` distinct 256 KiB files under `root` (`seed` odd: `pattern` ignores
/// the lowest bit, and each tree gets content of its own).
fn slow_tree(root: &Path, n: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> =
        (0..n).map(|i| (format!("f{i:02}.bin"), pattern(256 * 1024, seed + 2 * i as u64))).collect();
    for (name, data) in &files {
        write_with_mtime(&root.join(name), data, 1_600_000_000 + 1);
    }
    files
}

/// Wait (the watchdog bounds it) for a child to exit; its exit code.
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
fn ctrl_c_during_put_r_stops_cleanly_with_130_and_the_next_run_finishes() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let src = svc.dir.path().join("slow");
    let files = slow_tree(&src, 12, 41);
    // 512 KiB/s per connection: each file takes about half a second, so the stop lands mid-tree.
    svc.set_faults(serde_json::json!({ "bandwidth": 512 * 1024 }));
    let mut child = cli
        .command(&["put", "-r", s(&src), "Archive/slow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jotta put -r");
    let client = svc.client();
    wait_until("a first file on the server", || {
        svc.rt.block_on(client.list_tree(&rp("/Jotta/Archive/slow"))).map(|t| !t.files.is_empty()).unwrap_or(false)
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(exit_code(&mut child), Some(130), "Ctrl-C ends a tree transfer with 130");
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("stopping after the files in flight"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.contains("uploaded "), "the summary is printed: {out}");

    svc.set_faults(serde_json::json!({}));
    let partial = server_tree(&svc, "/Jotta/Archive/slow");
    assert!(partial.len() < files.len(), "stopped before the end: {} files", partial.len());
    let local: std::collections::BTreeMap<String, Vec<u8>> = files.into_iter().collect();
    for (name, bytes) in &partial {
        assert_eq!(bytes, &local[name], "{name}: what is visible as the current version is whole");
    }
    let out = cli.ok(&["put", "-r", s(&src), "Archive/slow"]);
    assert!(out.contains(&format!("unchanged {}", partial.len())), "{out}");
    assert_eq!(server_tree(&svc, "/Jotta/Archive/slow"), local, "the second run finished the job");
}

#[test]
fn a_file_vanishing_during_put_r_is_reported_and_the_rest_goes_on() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let src = svc.dir.path().join("going");
    let files = slow_tree(&src, 5, 101);
    svc.set_faults(serde_json::json!({ "bandwidth": 512 * 1024 }));
    // One file at a time: f04 is walked now, and deleted before its turn comes.
    let child = cli
        .command(&["put", "-r", "--jobs", "1", s(&src), "Archive/going"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jotta put -r");
    let client = svc.client();
    wait_until("a first file on the server", || {
        svc.rt.block_on(client.list_tree(&rp("/Jotta/Archive/going"))).map(|t| !t.files.is_empty()).unwrap_or(false)
    });
    std::fs::remove_file(src.join("f04.bin")).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a partial transfer: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line for the one failure: {err}");
    assert!(lines[0].contains("f04.bin") && lines[0].contains("No such file"), "names the path and the cause: {err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("uploaded 4 file(s)") && stdout.contains("failed 1"), "{stdout}");
    svc.set_faults(serde_json::json!({}));
    let on_server = server_tree(&svc, "/Jotta/Archive/going");
    let want: std::collections::BTreeMap<String, Vec<u8>> = files.into_iter().filter(|(n, _)| n != "f04.bin").collect();
    assert_eq!(on_server, want);
}

#[test]
fn missing_remote_paths_are_created_by_put_and_a_clear_error_for_the_rest() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let src = svc.dir.path().join("t");
    write_with_mtime(&src.join("x/y.txt"), b"why", 1_600_000_000);
    let one = svc.dir.path().join("one.txt");
    std::fs::write(&one, b"single").unwrap();

    cli.ok(&["put", "-r", s(&src), "Archive/new/deeper/t"]);
    assert_eq!(cli.ok(&["cat", "Archive/new/deeper/t/x/y.txt"]), "why");
    cli.ok(&["put", s(&one), "Archive/other/folders/one.txt"]);
    assert_eq!(cli.ok(&["cat", "Archive/other/folders/one.txt"]), "single");

    for args in [
        &["ls", "Archive/nowhere"][..],
        &["ls", "-l", "Archive/nowhere/deeper"],
        &["get", "-r", "Archive/nowhere", s(&svc.dir.path().join("dl"))],
        &["rm", "-r", "Archive/nowhere"],
        &["cat", "Archive/nowhere/file"],
    ] {
        let err = cli.fails(1, args);
        assert!(err.contains("nowhere") && err.contains("not found"), "jotta {args:?}: {err}");
    }
    assert!(!svc.dir.path().join("dl").exists(), "a failed get leaves nothing behind");

    // A mistyped device (`/NoSuchDevice/...` is `/Jotta/NoSuchDevice/...`) would make a mount point the
    // web app never shows and `rm` cannot remove: every writing command refuses it before any change.
    let tree = svc.dir.path().join("t");
    for args in [
        &["put", s(&one), "/NoSuchDevice/x/"][..],
        &["put", "-r", s(&tree), "/NoSuchDevice/t"],
        &["mkdir", "-p", "/NoSuchDevice/q"],
        &["cp", "Archive/other/folders/one.txt", "/NoSuchDevice/one.txt"],
        &["mv", "Archive/other/folders/one.txt", "/Jotta/NoSuchDevice"],
        &["sync", s(&tree), "jotta:/NoSuchDevice/t"],
        &["scan", s(&tree), "/NoSuchDevice/t"],
    ] {
        let err = cli.fails(2, args);
        assert!(
            err.contains("is not a mount point of Jotta") && err.contains("/Archive/NoSuchDevice"),
            "{args:?}: {err}"
        );
    }
    let mount_points = cli.ok(&["ls", "/Jotta"]);
    assert!(!mount_points.contains("NoSuchDevice"), "{mount_points}");
    assert_eq!(cli.ok(&["cat", "Archive/other/folders/one.txt"]), "single", "the refused mv moved nothing");

    // Below a file: the error names the file, not the path being made ("already exists").
    let inside = "Archive/other/folders/one.txt";
    for args in [
        &["put", s(&one), &format!("{inside}/inside.txt")][..],
        &["mkdir", "-p", &format!("{inside}/sub/deeper")],
        &["put", "-r", s(&tree), &format!("{inside}/t")],
    ] {
        let err = cli.fails(1, args);
        assert!(err.contains("one.txt is a file, not a folder"), "{args:?}: {err}");
    }

    // `ls -R` of the account or a device goes all the way down.
    let all = cli.ok(&["ls", "-R", "/"]);
    assert!(all.lines().any(|l| l == "Jotta/Archive/new/deeper/t/x/y.txt"), "{all}");
    let device = cli.ok(&["ls", "-R", "/Jotta"]);
    assert!(device.lines().any(|l| l == "Archive/other/folders/one.txt"), "{device}");
}

#[test]
fn json_output_for_scripts() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let src = svc.dir.path().join("j");
    write_with_mtime(&src.join("a.txt"), b"alpha", 1_600_000_000);
    write_with_mtime(&src.join("b/c.txt"), b"gamma", 1_600_000_000);
    let doc = |out: String| -> serde_json::Value {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    };

    let put = doc(cli.ok(&["put", "-r", "--json", s(&src), "Archive/j"]));
    assert_eq!(
        (put["action"].as_str(), put["transferred"].as_u64(), put["bytes"].as_u64()),
        (Some("uploaded"), Some(2), Some(10))
    );
    assert_eq!(put["failed"], 0);
    let again = doc(cli.ok(&["put", "-r", "--json", s(&src), "Archive/j"]));
    assert_eq!((again["transferred"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(2)), "{again}");
    let get = doc(cli.ok(&["get", "-r", "--json", "Archive/j", s(&svc.dir.path().join("back"))]));
    assert_eq!((get["action"].as_str(), get["transferred"].as_u64()), (Some("downloaded"), Some(2)), "{get}");
    let one = doc(cli.ok(&["get", "--json", "Archive/j/a.txt", s(&svc.dir.path().join("a-copy.txt"))]));
    assert_eq!((one["transferred"].as_u64(), one["bytes"].as_u64()), (Some(1), Some(5)), "{one}");

    let who = doc(cli.ok(&["whoami", "--json"]));
    assert_eq!(who["used"], 10, "{who}");
    assert!(
        who["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "Jotta"
                && d["mount_points"].as_array().unwrap().iter().any(|m| m["name"] == "Archive")),
        "{who}"
    );

    write_with_mtime(&src.join("a.txt"), b"alpha 2", 1_600_000_100);
    cli.ok(&["put", s(&src.join("a.txt")), "Archive/j/a.txt"]);
    let revs = doc(cli.ok(&["revisions", "--json", "Archive/j/a.txt"]));
    let revs = revs.as_array().unwrap();
    assert_eq!(revs.len(), 2);
    assert_eq!(
        (revs[0]["number"].as_u64(), revs[0]["current"].as_bool(), revs[0]["size"].as_u64()),
        (Some(2), Some(true), Some(7))
    );
    assert_eq!(revs[1]["md5"], md5_hex(b"alpha"));

    cli.ok(&["rm", "-r", "Archive/j/b"]);
    let trash = doc(cli.ok(&["trash", "--json"]));
    assert_eq!(trash.as_array().unwrap().len(), 1, "{trash}");
    assert_eq!((trash[0]["path"].as_str(), trash[0]["type"].as_str()), (Some("/Jotta/Archive/j/b"), Some("folder")));
}

#[test]
fn progress_bars_on_a_terminal_only() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let src = svc.dir.path().join("bars");
    slow_tree(&src, 4, 201);
    svc.set_faults(serde_json::json!({ "bandwidth": 1024 * 1024 }));
    // Piped (as here): plain lines, no bar.
    let out = cli.run(&["put", "-r", s(&src), "Archive/bars"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "nothing on a piped stderr: {}", String::from_utf8_lossy(&out.stderr));

    // On a terminal (script(1) gives the command a pseudo-terminal): the bar with files done of the total.
    let on_tty = |extra: &[&str], to: &str, seed: u64| -> String {
        // New content each time: deduplicated files would finish before the bar's first frame.
        slow_tree(&src, 4, seed);
        let mut line = vec![env!("CARGO_BIN_EXE_jotta").to_string(), "--config-dir".into(), s(&cli.config).into()];
        line.extend(["--endpoint".to_string(), svc.endpoint()]);
        line.extend(extra.iter().map(|a| a.to_string()));
        line.extend([s(&src).to_string(), to.to_string()]);
        let quoted: Vec<String> = line.iter().map(|a| format!("'{a}'")).collect();
        let out = Command::new("script")
            .args(["-qec", &quoted.join(" "), "/dev/null"])
            .env_remove("JOTTA_ENDPOINT")
            .output()
            .expect("script(1) runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty(&["put", "-r"], "Archive/bars-tty", 301);
    assert!(shown.contains("/4 files"), "a bar with the files done: {shown}");
    assert!(shown.contains("MiB"), "bytes in human units: {shown}");
    let quiet = on_tty(&["--quiet", "put", "-r"], "Archive/bars-quiet", 401);
    assert!(!quiet.contains("/4 files"), "--quiet draws no bar: {quiet}");
    assert!(quiet.contains("uploaded 4 file(s)"), "{quiet}");
}

/// Every entry below `root`: relative name -> "file:<content>", "dir" or "link:<target>".
fn entries(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let t = std::fs::symlink_metadata(&p).unwrap().file_type();
            let what = if t.is_symlink() {
                format!("link:{}", std::fs::read_link(&p).unwrap().display())
            } else if t.is_dir() {
                stack.push(p.clone());
                "dir".into()
            } else {
                format!("file:{}", String::from_utf8_lossy(&std::fs::read(&p).unwrap()))
            };
            out.insert(rel, what);
        }
    }
    out
}

#[test]
fn put_and_get_with_links_keep_symlinks_as_rclonelink_files() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let c = svc.client();
    let src = svc.dir.path().join("linked");
    write_with_mtime(&src.join("a.txt"), b"alpha", 1_600_000_000);
    write_with_mtime(&src.join("sub/b.txt"), b"beta", 1_600_000_000);
    std::os::unix::fs::symlink("a.txt", src.join("rel")).unwrap();
    std::os::unix::fs::symlink("../a.txt", src.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("/no/such/place", src.join("dangling")).unwrap();
    std::os::unix::fs::symlink("sub", src.join("dirlink")).unwrap();

    let out = cli.ok(&["put", "-r", "--links", s(&src), "Archive/linked"]);
    assert!(out.contains("uploaded 6 file(s)"), "{out}");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/linked/rel.rclonelink").unwrap(), b"a.txt");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/linked/sub/up.rclonelink").unwrap(), b"../a.txt");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/linked/dangling.rclonelink").unwrap(), b"/no/such/place");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/linked/dirlink.rclonelink").unwrap(), b"sub");
    assert!(svc.server_file(&c, "/Jotta/Archive/linked/sub/b.txt").is_some(), "a link to a folder is not followed");
    assert!(svc.server_file(&c, "/Jotta/Archive/linked/dirlink/b.txt").is_none());
    let again = cli.ok(&["put", "-r", "--links", s(&src), "Archive/linked"]);
    assert!(again.contains("uploaded 0 file(s), deduplicated 0, unchanged 6"), "{again}");

    let dst = svc.dir.path().join("linked-back");
    cli.ok(&["get", "-r", "--links", "Archive/linked", s(&dst)]);
    assert_eq!(entries(&dst), entries(&src));
    // Without --links the link files are ordinary files.
    let plain = svc.dir.path().join("linked-plain");
    cli.ok(&["get", "-r", "Archive/linked", s(&plain)]);
    assert_eq!(std::fs::read(plain.join("rel.rclonelink")).unwrap(), b"a.txt");
    assert!(std::fs::symlink_metadata(plain.join("rel")).is_err());

    // One link, in and out.
    let one = svc.dir.path().join("one");
    std::os::unix::fs::symlink("target/of/one", &one).unwrap();
    cli.ok(&["put", "--links", s(&one), "Archive/"]);
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/one.rclonelink").unwrap(), b"target/of/one");
    let out_dir = svc.dir.path().join("one-back");
    std::fs::create_dir_all(&out_dir).unwrap();
    cli.ok(&["get", "--links", "Archive/one.rclonelink", s(&out_dir)]);
    assert_eq!(std::fs::read_link(out_dir.join("one")).unwrap(), PathBuf::from("target/of/one"));
    // Without --links a symbolic link is not a file to upload.
    let refused = cli.fails(2, &["put", s(&one), "Archive/other"]);
    assert!(refused.contains("--links"), "{refused}");
}

#[test]
fn rclonelink_files_of_another_client_come_back_as_links_unless_a_real_file_has_the_name() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/other/target.txt", b"hello");
    svc.put(&c, "/Jotta/Archive/other/to-file.rclonelink", b"target.txt");
    svc.put(&c, "/Jotta/Archive/other/clash", b"real");
    svc.put(&c, "/Jotta/Archive/other/clash.rclonelink", b"target.txt");
    let dst = svc.dir.path().join("other");
    cli.ok(&["get", "-r", "--links", "Archive/other", s(&dst)]);
    let want: std::collections::BTreeMap<String, String> = [
        ("clash", "file:real"),
        ("clash.rclonelink", "file:target.txt"),
        ("target.txt", "file:hello"),
        ("to-file", "link:target.txt"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(entries(&dst), want);
    assert_eq!(std::fs::read(dst.join("to-file")).unwrap(), b"hello");

    // A local link whose stored name a real file beside it takes: the file goes, the link fails.
    let src = svc.dir.path().join("clashing");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("x.rclonelink"), b"i am a file").unwrap();
    std::os::unix::fs::symlink("somewhere", src.join("x")).unwrap();
    let out = cli.run(&["put", "-r", "--links", s(&src), "Archive/clashing"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.rclonelink is taken"), "{err}");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/clashing/x.rclonelink").unwrap(), b"i am a file");
}

/// Requests `jotta put -r` sends for a tree of `n` files of their own content (`seed`), into `dest`.
fn put_tree_requests(svc: &TestService, cli: &Cli, n: usize, seed: u64, dest: &str) -> u64 {
    let src = svc.dir.path().join(format!("tree-{n}-{seed}-{}", dest.replace('/', "_")));
    for i in 0..n {
        write_with_mtime(&src.join(format!("f{i}")), &pattern(5_000, seed * 1000 + i as u64), 1_600_000_000);
    }
    svc.reset_counters();
    cli.ok(&["put", "-r", s(&src), dest]);
    svc.total_requests()
}

#[test]
fn put_sends_two_requests_per_new_file_and_one_per_known_file() {
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    // What a command costs once (login, listing the target) is the same for 5 files and for 15: the
    // difference is what the 10 more files cost.
    let five = put_tree_requests(&svc, &cli, 5, 1, "Archive/five");
    let fifteen = put_tree_requests(&svc, &cli, 15, 2, "Archive/fifteen");
    assert_eq!(fifteen - five, 2 * 10, "allocate and the bytes per new file: {}", svc.counters());
    assert_eq!(svc.requests("allocate"), 15);
    assert_eq!(svc.requests("upload"), 15);
    // The same content again under other names: the allocate alone, per file.
    let five_again = put_tree_requests(&svc, &cli, 5, 1, "Archive/five-again");
    let fifteen_again = put_tree_requests(&svc, &cli, 15, 2, "Archive/fifteen-again");
    assert_eq!(fifteen_again - five_again, 10, "the allocate alone per known file: {}", svc.counters());
    assert_eq!(svc.requests("upload"), 0);
}

#[test]
fn files_with_the_longest_names_come_down_whole() {
    // `.NAME.jotta-part` would be longer than a name may be: the partial download takes a shortened name.
    let svc = TestService::start();
    let cli = Cli::new(&svc);
    let name = format!("{}.txt", "n".repeat(247));
    let src = svc.dir.path().join("src");
    write_with_mtime(&src.join(&name), &pattern(70_000, 9), 1_600_000_000);
    cli.ok(&["put", s(&src.join(&name)), "Archive/"]);
    let dst = svc.dir.path().join("dst");
    std::fs::create_dir_all(&dst).unwrap();
    cli.ok(&["get", &format!("Archive/{name}"), s(&dst)]);
    assert_eq!(std::fs::read(dst.join(&name)).unwrap(), pattern(70_000, 9));
    let left: Vec<_> = std::fs::read_dir(&dst).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "no partial file left: {left:?}");
}
