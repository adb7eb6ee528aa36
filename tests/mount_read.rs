//! The read side of the mount, through a real FUSE mount of the real binary against the emulator:
//! browsing, stat, byte-exact reads, read-ahead economy, concurrency, faults, and clean unmounts.

mod common;

use common::{md5_hex, pattern, TestMount, TestService};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};

#[test]
fn browse_the_account_tree_like_jottalib() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/docs/hello.txt", b"hello world\n");
    svc.put(&c, "/Jotta/Archive/top.bin", &pattern(1000, 1));
    let m = TestMount::new(&svc, "");

    let mut root: Vec<String> =
        fs::read_dir(&m.path).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    root.sort();
    assert_eq!(root, vec!["Jotta"]);
    let mut mps: Vec<String> =
        fs::read_dir(m.p("Jotta")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    mps.sort();
    assert!(mps.contains(&"Archive".to_string()) && mps.contains(&"Sync".to_string()), "{mps:?}");
    assert!(!mps.iter().any(|n| n == "Latest" || n == "Trash" || n == "Links"), "pseudo mount points hidden: {mps:?}");

    let meta = fs::metadata(m.p("Jotta/Archive/docs/hello.txt")).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.len(), 12);
    assert_eq!(meta.mtime(), 1_700_000_000, "mtime comes from the revision's modified time");
    assert_eq!(fs::read(m.p("Jotta/Archive/docs/hello.txt")).unwrap(), b"hello world\n");
    assert!(fs::metadata(m.p("Jotta/Archive/docs")).unwrap().is_dir());
    // Names are case-preserving; another spelling is not the same name to the kernel (creating it is
    // refused with EEXIST, see mount_write.rs).
    assert!(fs::metadata(m.p("Jotta/Archive/docs/HELLO.txt")).is_err());
    assert_eq!(fs::metadata(m.p("Jotta/Archive/missing")).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    // Devices are read-only; inside a mount point, 0666/0777 minus the default umask 022.
    assert_eq!(fs::metadata(m.p("Jotta")).unwrap().mode() & 0o222, 0);
    assert_eq!(meta.mode() & 0o777, 0o644);
    assert_eq!(fs::metadata(m.p("Jotta/Archive/docs")).unwrap().mode() & 0o777, 0o755);
}

#[test]
fn reads_are_byte_identical_whole_and_at_random_offsets() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(20 * 1024 * 1024 + 123, 7);
    svc.put(&c, "/Jotta/Archive/big.bin", &data);
    let m = TestMount::new(&svc, "");

    let read = fs::read(m.p("Jotta/Archive/big.bin")).unwrap();
    assert_eq!(read.len(), data.len());
    assert_eq!(md5_hex(&read), md5_hex(&data));

    let f = fs::File::open(m.p("Jotta/Archive/big.bin")).unwrap();
    let mut x = 12345u64;
    for _ in 0..200 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let off = (x >> 11) % data.len() as u64;
        let len = ((x >> 40) % 70_000) as usize + 1;
        let mut buf = vec![0u8; len];
        let n = f.read_at(&mut buf, off).unwrap();
        let end = (off as usize + len).min(data.len());
        assert_eq!(&buf[..n], &data[off as usize..end], "offset {off} len {len}");
    }
    // Reading at and past the end.
    let mut f2 = fs::File::open(m.p("Jotta/Archive/big.bin")).unwrap();
    f2.seek(SeekFrom::Start(data.len() as u64 - 3)).unwrap();
    let mut tail = Vec::new();
    f2.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &data[data.len() - 3..]);
}

#[test]
fn sniffing_headers_of_many_large_files_does_not_download_them() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let n = 40;
    let size = 8 * 1024 * 1024;
    for i in 0..n {
        svc.put(&c, &format!("/Jotta/Archive/media/f{i:03}.bin"), &pattern(size, i as u64 + 1));
    }
    let m = TestMount::new(&svc, "");
    svc.reset_counters();
    for i in 0..n {
        let mut f = fs::File::open(m.p(&format!("Jotta/Archive/media/f{i:03}.bin"))).unwrap();
        let mut head = vec![0u8; 64 * 1024];
        f.read_exact(&mut head).unwrap();
        assert_eq!(head, pattern(size, i as u64 + 1)[..64 * 1024]);
    }
    let sent = svc.bytes_sent();
    let whole = (n * size) as u64;
    assert!(sent < whole / 8, "header sniffing fetched {sent} bytes of {whole}");
}

#[test]
fn a_sequential_read_grows_its_range_requests_after_a_small_first_one() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let size = 160 * 1024 * 1024;
    let data = pattern(size, 21);
    svc.put(&c, "/Jotta/Archive/long.bin", &data);
    let m = TestMount::new(&svc, "");

    // A program that only looks at the header costs one small request.
    svc.reset_counters();
    let mut f = fs::File::open(m.p("Jotta/Archive/long.bin")).unwrap();
    let mut head = vec![0u8; 4096];
    f.read_exact(&mut head).unwrap();
    assert_eq!(head, data[..4096]);
    drop(f);
    let first = svc.requests("download");
    assert!((1..=2).contains(&first), "a header read took {first} requests");
    assert!(svc.bytes_sent() <= 512 * 1024, "a header read fetched {} bytes", svc.bytes_sent());

    // Reading on from there: each request is twice the one before (up to 64 MiB), so 160 MiB take about
    // eleven (one per 4 MiB chunk would be forty).
    let mut f = fs::File::open(m.p("Jotta/Archive/long.bin")).unwrap();
    let mut read = Vec::with_capacity(size);
    f.read_to_end(&mut read).unwrap();
    assert!(read == data, "the sequential read returned other bytes");
    let requests = svc.requests("download");
    assert!(requests <= 16, "a sequential read of 160 MiB took {requests} download requests");
}

#[test]
fn concurrent_readers_get_their_own_bytes() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let files: Vec<Vec<u8>> = (0..4).map(|i| pattern(6 * 1024 * 1024 + i * 1000, 100 + i as u64)).collect();
    for (i, d) in files.iter().enumerate() {
        svc.put(&c, &format!("/Jotta/Archive/c{i}.bin"), d);
    }
    let m = TestMount::new(&svc, "");
    std::thread::scope(|s| {
        for (i, d) in files.iter().enumerate() {
            let p = m.p(&format!("Jotta/Archive/c{i}.bin"));
            s.spawn(move || {
                for _ in 0..2 {
                    assert_eq!(md5_hex(&fs::read(&p).unwrap()), md5_hex(d), "reader {i}");
                }
            });
        }
    });
}

#[test]
fn one_slow_download_does_not_stall_other_operations() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/slow.bin", &pattern(8 * 1024 * 1024, 3));
    svc.put(&c, "/Jotta/Archive/small.txt", b"small");
    let m = TestMount::new(&svc, "");
    fs::metadata(m.p("Jotta/Archive/small.txt")).unwrap();
    // 1 MiB/s per connection: the big read takes seconds.
    svc.set_faults(serde_json::json!({"bandwidth": 1024 * 1024}));
    let big = m.p("Jotta/Archive/slow.bin");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let reader = std::thread::spawn(move || {
        let data = fs::read(big).unwrap();
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        data.len()
    });
    common::wait_until("the big read to reach the server", || svc.requests("download") >= 1);
    // While the big read is still streaming, the rest of the mount answers.
    assert!(fs::read_dir(m.p("Jotta/Archive")).unwrap().count() >= 2);
    assert_eq!(fs::read(m.p("Jotta/Archive/small.txt")).unwrap(), b"small");
    assert!(!done.load(std::sync::atomic::Ordering::SeqCst), "the slow read should still be running");
    svc.set_faults(serde_json::json!({}));
    assert_eq!(reader.join().unwrap(), 8 * 1024 * 1024);
}

#[test]
fn a_change_made_elsewhere_shows_after_the_cache_ttl() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/a.txt", b"first");
    svc.put(&c, "/Jotta/Archive/gone.txt", b"to be deleted elsewhere");
    let base = tempfile::tempdir().unwrap();
    let clock = base.path().join("clock");
    let clock_env = clock.to_string_lossy().into_owned();
    let m = TestMount::start(
        &svc,
        "dir_cache=1,attr_cache=1",
        &[],
        base.path(),
        &[("JOTTAFUSE_TEST_CLOCK", &clock_env)],
        None,
    );
    let names = |m: &TestMount| {
        let mut v: Vec<String> = fs::read_dir(m.p("Jotta/Archive"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    // Listed twice, so the kernel holds the folder in its own directory cache.
    assert_eq!(names(&m), ["a.txt", "gone.txt"]);
    assert_eq!(names(&m), ["a.txt", "gone.txt"]);
    assert_eq!(fs::read(m.p("Jotta/Archive/a.txt")).unwrap(), b"first");
    assert!(fs::metadata(m.p("Jotta/Archive/b.txt")).is_err());
    svc.put(&c, "/Jotta/Archive/b.txt", b"second file");
    svc.put(&c, "/Jotta/Archive/a.txt", b"first, changed");
    let gone = jottafuse::remote::RemotePath::parse("/Jotta/Archive/gone.txt").unwrap();
    svc.rt.block_on(jottafuse::remote::Remote::delete(&c, &gone, jottafuse::remote::ItemKind::File)).unwrap();
    // The daemon's lifetimes pass by its test clock. The kernel's own (1 s, for names and attributes)
    // pass by the system's, which no test can move: those are waited for, by asking until they did.
    common::set_clock_skew(&clock, 2.0);
    common::wait_until_within("the kernel's 1 s entry lifetime to pass", 10, || {
        fs::metadata(m.p("Jotta/Archive/a.txt")).map(|md| md.len()).ok() == Some(14)
    });
    assert_eq!(names(&m), ["a.txt", "b.txt"], "the kernel's cached directory must be dropped with our listing");
    assert_eq!(fs::read(m.p("Jotta/Archive/b.txt")).unwrap(), b"second file");
    assert_eq!(fs::read(m.p("Jotta/Archive/a.txt")).unwrap(), b"first, changed");
}

#[test]
fn ls_l_of_a_folder_costs_one_listing() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    for i in 0..50 {
        svc.put(&c, &format!("/Jotta/Archive/many/f{i}.txt"), format!("file {i}").as_bytes());
    }
    let m = TestMount::new(&svc, "");
    fs::metadata(m.p("Jotta/Archive/many")).unwrap();
    svc.reset_counters();
    let out = std::process::Command::new("ls").arg("-l").arg(m.p("Jotta/Archive/many")).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 51);
    let counters = svc.counters();
    let total: u64 = counters["requests"].as_object().unwrap().values().filter_map(|v| v.as_u64()).sum();
    assert_eq!(total, 1, "ls -l should cost exactly one listing request: {counters}");
}

#[test]
fn deleted_and_incomplete_files_are_hidden() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/keep.txt", b"keep");
    svc.put(&c, "/Jotta/Archive/gone.txt", b"gone");
    svc.rt
        .block_on(jottafuse::remote::Remote::delete(
            &c,
            &jottafuse::remote::RemotePath::parse("/Jotta/Archive/gone.txt").unwrap(),
            jottafuse::remote::ItemKind::File,
        ))
        .unwrap();
    let m = TestMount::new(&svc, "");
    let names: Vec<String> =
        fs::read_dir(m.p("Jotta/Archive")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.contains(&"keep.txt".to_string()));
    assert!(!names.contains(&"gone.txt".to_string()), "{names:?}");
}

#[test]
fn xattrs_expose_md5_revision_and_uuid() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/x.txt", b"v1");
    svc.put(&c, "/Jotta/Archive/x.txt", b"version 2");
    let m = TestMount::new(&svc, "");
    let p = m.p("Jotta/Archive/x.txt");
    assert_eq!(getxattr(&p, "user.jotta.md5").unwrap(), md5_hex(b"version 2"));
    assert_eq!(getxattr(&p, "user.jotta.revision").unwrap(), "2");
    assert_eq!(getxattr(&p, "user.jotta.uuid").unwrap().len(), 36);
    assert!(getxattr(&p, "user.other").is_none());
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENODATA));
    // Other namespaces do not exist here: EOPNOTSUPP (which `ls -l` remembers per device, instead of
    // asking for a security label and ACLs of every entry).
    for name in ["security.selinux", "system.posix_acl_access"] {
        assert!(getxattr(&p, name).is_none());
        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EOPNOTSUPP), "{name}");
    }
}

fn getxattr(p: &std::path::Path, name: &str) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let cp = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the stated size.
    let n = unsafe { libc::getxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(String::from_utf8(buf).unwrap())
}

#[test]
fn statfs_reports_capacity_and_usage() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start_with(|c| c.quota = Some(1 << 30));
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/used.bin", &pattern(1 << 20, 9));
    let m = TestMount::new(&svc, "");
    let cp = std::ffi::CString::new(m.path.to_str().unwrap()).unwrap();
    // SAFETY: statvfs fills the struct we pass.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(cp.as_ptr(), &mut st) }, 0);
    let total = st.f_blocks * st.f_frsize;
    let free = st.f_bavail * st.f_frsize;
    assert_eq!(total, 1 << 30);
    assert!(((1 << 30) - (2 << 20)..=(1 << 30) - (1 << 20)).contains(&free), "free {free}");
}

#[test]
fn read_errors_are_retried_then_reported_to_that_reader_only() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(300_000, 5);
    svc.put(&c, "/Jotta/Archive/flaky.bin", &data);
    svc.put(&c, "/Jotta/Archive/fine.txt", b"fine");
    svc.put(&c, "/Jotta/Archive/broken.bin", &pattern(200_000, 6));
    let m = TestMount::new(&svc, "");
    fs::metadata(m.p("Jotta/Archive/flaky.bin")).unwrap();
    // Two failures are absorbed by retries.
    svc.set_faults(serde_json::json!({"fail_next": [{"kind": "download", "status": 500, "count": 2}]}));
    assert_eq!(fs::read(m.p("Jotta/Archive/flaky.bin")).unwrap(), data);
    // A persistent failure reaches the reader as EIO; the mount stays up for everyone else.
    svc.set_faults(serde_json::json!({"fail_next": [{"kind": "download", "status": 500, "count": 1000}]}));
    let err = match fs::read(m.p("Jotta/Archive/broken.bin")) {
        Ok(d) => panic!("read {} bytes despite persistent failures", d.len()),
        Err(e) => e,
    };
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    svc.set_faults(serde_json::json!({}));
    assert!(fs::read_dir(m.p("Jotta/Archive")).unwrap().count() >= 2);
}

#[test]
fn root_option_mounts_a_subtree_read_only_with_ro() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    svc.put(&c, "/Jotta/Archive/sub/inner.txt", b"inner");
    let m = TestMount::new(&svc, "ro,root=/Jotta/Archive/sub");
    assert_eq!(fs::read(m.p("inner.txt")).unwrap(), b"inner");
    let err = fs::OpenOptions::new().write(true).open(m.p("inner.txt")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
}

#[test]
fn sigterm_unmounts_cleanly() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let mut m = TestMount::new(&svc, "");
    assert!(common::is_mounted(&m.path));
    assert_eq!(m.terminate(), Some(0));
    assert!(!common::is_mounted(&m.path));
}

#[test]
fn fusermount_u_ends_the_daemon() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let mut m = TestMount::new(&svc, "");
    let st = std::process::Command::new("fusermount3").arg("-u").arg(&m.path).status().unwrap();
    assert!(st.success());
    let mut child = m.child.take().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_gib_file_streams_with_bounded_memory() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let size: u64 = 1 << 30;
    // Write the source in pieces so the test itself stays small in memory.
    let local = svc.dir.path().join("gib.bin");
    {
        use std::io::Write;
        let mut f = fs::File::create(&local).unwrap();
        let block = pattern(1 << 20, 11);
        for _ in 0..1024 {
            f.write_all(&block).unwrap();
        }
    }
    let (len, md5) = jottafuse::cli::jotta::hash_file(&local).unwrap();
    assert_eq!(len, size);
    let req = jottafuse::remote::UploadRequest {
        source: local.clone(),
        size,
        md5: md5.clone(),
        created: None,
        modified: None,
        uncached: false,
    };
    svc.rt
        .block_on(jottafuse::remote::Remote::upload(
            &c,
            &jottafuse::remote::RemotePath::parse("/Jotta/Archive/gib.bin").unwrap(),
            &req,
        ))
        .unwrap();
    fs::remove_file(&local).unwrap();
    let m = TestMount::new(&svc, "");
    let (got_len, got_md5) = jottafuse::cli::jotta::hash_file(&m.p("Jotta/Archive/gib.bin")).unwrap();
    assert_eq!((got_len, got_md5), (size, md5));
    let rss = m.peak_rss();
    assert!(rss > 0 && rss < 200 << 20, "peak RSS {} MiB", rss >> 20);
}

#[test]
fn an_unchanged_file_is_read_from_the_page_cache_the_second_time() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(3 << 20, 21);
    svc.put(&c, "/Jotta/Archive/cached.bin", &data);
    let m = TestMount::new(&svc, "");
    assert_eq!(fs::read(m.p("Jotta/Archive/cached.bin")).unwrap(), data);
    svc.reset_counters();
    assert_eq!(fs::read(m.p("Jotta/Archive/cached.bin")).unwrap(), data);
    assert_eq!(svc.bytes_sent(), 0, "the second open kept the kernel's cached pages");
}

#[test]
fn the_name_cache_is_bounded_and_refills_on_demand() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let url = format!("{}/_emulator/seed", svc.endpoint());
    let body = serde_json::json!({"path": "/Jotta/Archive/tree", "dirs": 20, "files_per_dir": 30, "file_size": 0});
    let resp = svc.rt.block_on(reqwest::Client::new().post(url).json(&body).send()).unwrap();
    assert!(resp.status().is_success());
    let base = tempfile::tempdir().unwrap();
    let clock = base.path().join("clock");
    let clock_env = clock.to_string_lossy().into_owned();
    let env = [("JOTTAFUSE_TEST_CLOCK", clock_env.as_str())];
    let m = TestMount::start(&svc, "cache_entries=200,dir_cache=600,attr_cache=600", &[], base.path(), &env, None);
    // What the status file says once it was written after the step before.
    let cached = || {
        let v = common::status_after(base.path(), std::time::SystemTime::now());
        v[0]["report"]["cached_entries"].as_u64().unwrap()
    };
    let tree = m.p("Jotta/Archive/tree");
    let walk = |m: &TestMount| {
        let mut n = 0;
        let mut sizes = 0;
        for d in fs::read_dir(m.p("Jotta/Archive/tree")).unwrap() {
            for f in fs::read_dir(d.unwrap().path()).unwrap() {
                sizes += f.unwrap().metadata().unwrap().len();
                n += 1;
            }
        }
        (n, sizes)
    };
    assert_eq!(walk(&m), (600, 0));
    // A file kept open, and a folder kept as a working folder: names in use that must stay.
    let kept = fs::File::open(tree.join("dir-00003/file-00007.bin")).unwrap();
    let cwd = fs::File::open(tree.join("dir-00011")).unwrap();
    // Recent listings stay, whatever the bound.
    // (A name never asked before reaches the mount, whatever the kernel caches, and makes it tidy up.)
    assert!(fs::metadata(tree.join("not-there-1")).is_err());
    let held = cached();
    assert!(held > 600, "recent listings stay: {held}");
    // The kernel holds every name it was handed and forgets only under memory pressure, of which there
    // is none here. Once the listings are no longer recent, the mount asks the kernel to let go of the
    // names it holds in them: the names not in use are forgotten and the table comes back under its
    // bound. (The daemon's clock is moved on instead of waiting: listings count as recent for 5 s.)
    common::set_clock_skew(&clock, 6.0);
    // The kernel's forgets reach the daemon as queued messages: ask about new names until they are in
    // and the tidy-up has run.
    let (mut held, mut asked) = (0, 0);
    common::wait_until("the name table back under its bound", || {
        asked += 1;
        assert!(fs::metadata(tree.join(format!("not-there-2-{asked}"))).is_err());
        held = cached();
        held <= 260
    });
    // What was in use still works and resolves.
    assert_eq!(kept.metadata().unwrap().len(), 0);
    assert!(cwd.metadata().unwrap().is_dir());
    assert!(tree.join("dir-00003/file-00007.bin").exists());
    assert!(held <= 260, "bounded by cache_entries=200 (plus what is in use): {held}");
    // Everything dropped is fetched again on demand, complete and correct, one listing per folder.
    svc.reset_counters();
    assert_eq!(walk(&m), (600, 0));
    let counters = svc.counters();
    let total: u64 = counters["requests"].as_object().unwrap().values().filter_map(|v| v.as_u64()).sum();
    assert!(total <= 21, "at most one listing per folder: {counters}");
}

#[test]
fn direct_io_reads_skip_the_page_cache_and_mmap_still_works() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern((5 << 20) + 77, 23);
    svc.put(&c, "/Jotta/Archive/direct.bin", &data);
    let m = TestMount::new(&svc, "direct_io");
    let path = m.p("Jotta/Archive/direct.bin");
    assert_eq!(fs::read(&path).unwrap(), data);
    svc.reset_counters();
    assert_eq!(fs::read(&path).unwrap(), data);
    assert!(svc.bytes_sent() >= data.len() as u64, "the second read came from the page cache");

    let f = fs::File::open(&path).unwrap();
    for off in [0u64, 4095, 1 << 20, (5 << 20) + 70] {
        let mut buf = vec![0u8; 100_000];
        let n = f.read_at(&mut buf, off).unwrap();
        let end = (off as usize + buf.len()).min(data.len());
        assert_eq!(&buf[..n], &data[off as usize..end], "offset {off}");
    }
    // Shared mappings of direct-I/O files need FUSE_DIRECT_IO_ALLOW_MMAP, which kernels offer from 6.6.
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut version = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    if (major, minor) < (6, 6) {
        eprintln!("kernel {release}: no shared mmap on direct_io mounts before 6.6, mmap not checked");
    } else {
        mmap_matches(&f, &data);
    }

    fs::write(m.p("Jotta/Archive/direct-written.bin"), &data[..1 << 20]).unwrap();
    assert_eq!(fs::read(m.p("Jotta/Archive/direct-written.bin")).unwrap(), &data[..1 << 20]);
}

#[test]
fn a_read_still_waiting_when_another_read_of_the_handle_seeks_away_gets_its_bytes() {
    if common::skip_without_mount() {
        return;
    }
    let svc = TestService::start();
    let c = svc.client();
    let data = pattern(40 << 20, 29);
    svc.put(&c, "/Jotta/Archive/shared.bin", &data);
    // The daemon marks the moment a read parks on its chunk (nothing outside shows it).
    let base = tempfile::tempdir().unwrap();
    let hold = base.path().join("hold");
    let hold_env = hold.to_string_lossy().into_owned();
    let m = TestMount::start(&svc, "direct_io", &[], base.path(), &[("JOTTAFUSE_TEST_HOLD", &hold_env)], None);
    let parked = jottafuse::vfs::test_hold::reached(&hold);
    let f = std::sync::Arc::new(fs::File::open(m.p("Jotta/Archive/shared.bin")).unwrap());
    // Slow enough that a read well inside the first range is still waiting when the seek comes.
    svc.set_faults(serde_json::json!({"bandwidth": 16 * 1024}));
    let mut head = vec![0u8; 4096];
    assert_eq!(f.read_at(&mut head, 0).unwrap(), 4096);
    assert!(head == data[..4096]);
    // The first read parked too: only a mark written from here on is the waiting read's.
    let _ = fs::remove_file(&parked);
    let waiting = {
        let f = f.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            let n = f.read_at(&mut buf, 64 * 1024).unwrap();
            buf.truncate(n);
            buf
        })
    };
    common::wait_until("the read at 64 KiB to park on its chunk", || {
        fs::read_to_string(&parked).is_ok_and(|p| p == "read parked")
    });
    // The handle's read-ahead moves to 30 MiB and drops the range the other read waits for.
    let mut far = vec![0u8; 4096];
    let n = f.read_at(&mut far, 30 << 20).unwrap();
    assert_eq!(&far[..n], &data[30 << 20..(30 << 20) + n]);
    svc.set_faults(serde_json::json!({}));
    let got = waiting.join().unwrap();
    assert_eq!(got.len(), 32 * 1024);
    assert!(got == data[64 * 1024..96 * 1024], "the waiting read got other bytes than the file's");
}

fn mmap_matches(f: &fs::File, data: &[u8]) {
    // SAFETY: a read-only shared mapping of a file we keep open, unmapped before the file is dropped.
    unsafe {
        use std::os::fd::AsRawFd;
        let len = data.len();
        let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0);
        assert_ne!(p, libc::MAP_FAILED, "mmap on a direct_io mount: {}", std::io::Error::last_os_error());
        let mapped = std::slice::from_raw_parts(p as *const u8, len);
        let same = mapped == data;
        libc::munmap(p, len);
        assert!(same, "mapped bytes differ from the file");
    }
}
