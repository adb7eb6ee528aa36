//! The `jotta` file, account, trash, revision and link commands as a user runs them: the real binary
//! against the emulator, checking what lands on the server, on disk, and in the emulator's counters.

mod common;

use common::{md5_hex, pattern, TestService};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Cli<'a> {
    svc: &'a TestService,
    config: PathBuf,
}

impl<'a> Cli<'a> {
    fn new(svc: &'a TestService) -> Self {
        Cli { svc, config: svc.login("cli") }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_jotta"))
            .arg("--config-dir")
            .arg(&self.config)
            .arg("--endpoint")
            .arg(self.svc.endpoint())
            .args(args)
            .env_remove("JOTTA_ENDPOINT")
            .output()
            .expect("run jotta")
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
