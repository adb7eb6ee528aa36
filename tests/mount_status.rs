//! `jotta status` of a running mount while an upload crawls: how far the upload in flight has got, the
//! bytes sent in all, what is left, in the human output and in `--json`; and `--watch` ending on Ctrl-C.

mod common;

use common::{pattern, TestMount, TestService};
use std::fs;
use std::io::Read;
use std::process::{Command, Stdio};

use common::wait_until_within as wait_until;

fn status_json(base: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&common::jotta_status(base, &["--json"])).unwrap_or_default()
}

#[test]
fn status_shows_how_far_a_slow_upload_has_got_and_then_that_it_is_done() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    // Every upload connection runs at 2 MB/s: a 16 MiB file takes a while, far more than any buffer holds.
    svc.set_faults(serde_json::json!({"bandwidth": 2_000_000}));
    let base = tempfile::tempdir().unwrap();
    let m = TestMount::in_dir(&svc, "writeback_delay=0", &[], base.path());
    let size: u64 = 16 << 20;
    let data = pattern(size as usize, 7);
    fs::write(m.p("Jotta/Archive/crawl.bin"), &data).unwrap();

    let mut seen = serde_json::Value::Null;
    wait_until("the status to show the upload part way", 120, || {
        seen = status_json(base.path());
        let row = seen[0]["report"]["pending"]
            .as_array()
            .and_then(|rows| rows.iter().find(|p| p["path"] == "/Jotta/Archive/crawl.bin").cloned());
        let sent = row.as_ref().and_then(|r| r["bytes_sent"].as_u64()).unwrap_or(0);
        row.is_some_and(|r| r["in_flight"] == true) && sent > 0 && sent < size
    });
    let t = &seen[0]["report"]["transfer"];
    let sent = t["sent"].as_u64().expect("transfer.sent in --json");
    let left = t["left"].as_u64().expect("transfer.left in --json");
    assert!(sent > 0 && sent <= size, "bytes sent in all: {t}");
    assert!(left > 0 && left < size, "bytes left: {t}");
    assert!(t["rate"].is_u64(), "rate in --json: {t}");
    assert!(t.get("eta_secs").is_some(), "eta_secs in --json: {t}");

    wait_until("the human status to show the upload part way", 120, || {
        let text = common::jotta_status(base.path(), &[]);
        let row = text.lines().find(|l| l.contains("crawl.bin")).unwrap_or_default().to_string();
        let part_way =
            row.contains("uploading") && row.contains(&format!(" of {size} sent (")) && !row.contains(" 0 of ");
        part_way && text.contains("MiB sent since mount") && text.contains("MiB left")
    });

    wait_until("the upload to finish", 120, || {
        svc.server_file(&c, "/Jotta/Archive/crawl.bin").is_some_and(|f| f.size() == size)
            && status_json(base.path())[0]["report"]["pending"].as_array().is_some_and(|p| p.is_empty())
    });
    let done = status_json(base.path());
    let t = &done[0]["report"]["transfer"];
    assert!(t["sent"].as_u64().unwrap() >= size, "all of the file was sent: {t}");
    assert_eq!(t["left"].as_u64(), Some(0), "nothing left: {t}");
    assert_eq!(svc.server_bytes(&c, "/Jotta/Archive/crawl.bin").unwrap(), data);
    drop(m);
}

#[test]
fn status_watch_repeats_until_ctrl_c_and_exits_130() {
    let base = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(["status", "--watch"])
        .env("XDG_CACHE_HOME", base.path().join("cache"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("run jotta status --watch");
    let mut out = child.stdout.take().unwrap();
    // Two refreshes read (not a terminal: plain repeated output), then Ctrl-C.
    let mut text = String::new();
    let mut buf = [0u8; 256];
    while text.matches("no jottafuse mount is running").count() < 2 {
        let n = out.read(&mut buf).expect("read the output");
        assert!(n > 0, "the output ended early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C ends --watch with 130");
}
