//! TLS as a user meets it: the emulator serving HTTPS with its own CA (`jotta emulator --tls`), and the
//! client trusting that CA only when told to — through `--ca-cert`, `JOTTA_CA_CERT`, or the system store
//! (`SSL_CERT_FILE`) — and saying so in one line when it does not.

mod common;

use common::{finishes_within, pattern, skip_without_mount, wait_until, TestMount, TestService};
use jottafuse::remote::{Remote, RemoteError};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tls_service() -> TestService {
    TestService::start_with(|c| c.tls = true)
}

fn ca(svc: &TestService) -> PathBuf {
    svc.ca_cert().expect("a TLS emulator has a CA")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// `jotta` with the given config dir, endpoint and extra environment, and none of the trust settings of
/// the surroundings (so a test says exactly which CA, if any, is trusted).
fn jotta(config: &Path, endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jotta"))
        .arg("--config-dir")
        .arg(config)
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .env_remove("JOTTA_ENDPOINT")
        .env_remove("JOTTA_CA_CERT")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .output()
        .expect("run jotta")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "jotta failed ({:?}): {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit 1 or 2 with one line on stderr; returns that line.
fn failed(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(!out.status.success(), "expected a failure, got: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn says_untrusted(err: &str) {
    assert!(err.contains("not trusted"), "says the certificate is not trusted: {err}");
    assert!(err.contains("--ca-cert"), "names --ca-cert: {err}");
    assert!(err.contains("system certificate store"), "names the system store: {err}");
}

#[test]
fn emulator_with_tls_prints_https_endpoint_and_its_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("emu");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(["emulator", "--tls", "--data", s(&data)])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the emulator");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut got = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("read");
        let done = line.starts_with("login_token=");
        got.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let value = |key: &str| got.iter().find_map(|l| l.strip_prefix(key)).map(str::to_string);
    let endpoint = value("endpoint=").unwrap_or_else(|| panic!("endpoint line: {got:?}"));
    let ca = value("ca_cert=").unwrap_or_else(|| panic!("ca_cert line: {got:?}"));
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    assert!(got[1].starts_with("ca_cert="), "the CA is printed beside the endpoint: {got:?}");
    assert!(Path::new(&ca).is_absolute(), "{ca}");
    let pem = std::fs::read_to_string(&ca).expect("the CA file is there");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
}

#[test]
fn login_without_the_ca_is_refused_and_keeps_the_token() {
    let svc = tls_service();
    let config = svc.dir.path().join("cli");
    let token = svc.emu().login_token();
    let err = failed(&jotta(&config, &svc.endpoint(), &[], &["login", &token]));
    says_untrusted(&err);
    assert!(err.contains("the login token was not used"), "{err}");
    // The same single-use token still works once the CA is trusted.
    let out = ok(&jotta(&config, &svc.endpoint(), &[], &["--ca-cert", s(&ca(&svc)), "login", &token]));
    assert!(out.contains("logged in as demo"), "{out}");
}

#[test]
fn jotta_without_the_ca_fails_in_one_line_that_says_how_to_trust_it() {
    let svc = tls_service();
    let config = svc.login("cli");
    svc.reset_counters();
    let err = failed(&jotta(&config, &svc.endpoint(), &[], &["ls", "Archive"]));
    says_untrusted(&err);
    assert!(err.contains(&svc.endpoint()), "names the server: {err}");
    assert_eq!(svc.total_requests(), 0, "no request got through the handshake");
}

#[test]
fn jotta_with_ca_cert_or_its_env_transfers_files() {
    let svc = tls_service();
    let config = svc.login("cli");
    let ca = ca(&svc);
    let data = pattern(300_000, 5);
    let local = svc.dir.path().join("up.bin");
    std::fs::write(&local, &data).expect("write");
    ok(&jotta(&config, &svc.endpoint(), &[], &["--ca-cert", s(&ca), "put", s(&local), "Archive/up.bin"]));
    let client = svc.client();
    assert_eq!(svc.server_bytes(&client, "/Jotta/Archive/up.bin").as_deref(), Some(&data[..]));
    let back = jotta(&config, &svc.endpoint(), &[("JOTTA_CA_CERT", s(&ca))], &["cat", "Archive/up.bin"]);
    ok(&back);
    assert_eq!(back.stdout, data, "JOTTA_CA_CERT is read like --ca-cert");
}

#[test]
fn jotta_trusts_the_system_store_named_by_ssl_cert_file() {
    let svc = tls_service();
    let config = svc.login("cli");
    let ca = ca(&svc);
    let out = ok(&jotta(&config, &svc.endpoint(), &[("SSL_CERT_FILE", s(&ca))], &["ls", "/"]));
    assert!(out.contains("Jotta"), "{out}");
    // A store that does not hold the CA trusts nothing new; the message says the file cannot be read.
    let gone = svc.dir.path().join("no-such-bundle.pem");
    let err = failed(&jotta(&config, &svc.endpoint(), &[("SSL_CERT_FILE", s(&gone))], &["ls", "/"]));
    says_untrusted(&err);
    assert!(err.contains("SSL_CERT_FILE"), "{err}");
}

#[test]
fn a_ca_cert_that_cannot_be_used_is_named_with_the_problem() {
    let svc = tls_service();
    let config = svc.login("cli");
    let missing = svc.dir.path().join("missing.pem");
    let text = svc.dir.path().join("notes.txt");
    std::fs::write(&text, "not a certificate\n").expect("write");
    for (file, problem) in [(&missing, "cannot read"), (&text, "no PEM certificate")] {
        let err = failed(&jotta(&config, &svc.endpoint(), &[], &["--ca-cert", s(file), "ls"]));
        assert!(err.contains(s(file)) && err.contains(problem), "{err}");
        // jottafuse says the same before it mounts anything.
        let mnt = svc.dir.path().join("mnt");
        std::fs::create_dir_all(&mnt).expect("mount point");
        let out = Command::new(env!("CARGO_BIN_EXE_jottafuse"))
            .args(["-f", s(&mnt), "-o", &format!("ca_cert={}", s(file))])
            .env("JOTTA_CONFIG_DIR", &config)
            .output()
            .expect("run jottafuse");
        let err = failed(&out);
        assert!(err.contains(s(file)) && err.contains(problem), "{err}");
    }
}

#[test]
fn a_download_cut_over_tls_is_resumed_where_it_stopped() {
    let svc = tls_service();
    let client = svc.client();
    let data = pattern(2 << 20, 9);
    let path = "/Jotta/Archive/big.bin";
    svc.upload(&client, path, &data).expect("upload");
    svc.reset_counters();
    // The server closes the TLS connection mid-body without close_notify. Before the reply headers that
    // is retried inside the client; inside the body it surfaces as Transient, and the caller (the mount's
    // reader, `jotta get`) asks again from the first byte it lacks. Never fewer bytes passed off as all.
    svc.set_faults(serde_json::json!({"drop_next": [{"kind": "download", "after_bytes": 100_000}]}));
    let (mut got, cut) = svc.rt.block_on(async {
        use futures_util::StreamExt;
        let mut got = Vec::new();
        let mut stream = client.download(&common::rp(path), None).await.expect("reply headers");
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(b) => got.extend_from_slice(&b),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    });
    match cut {
        Some(e) => {
            assert!(matches!(e, RemoteError::Transient(_)), "{e:?}");
            assert!(got.len() < data.len() && got[..] == data[..got.len()], "{} bytes, a prefix", got.len());
            let rest = svc.download(&client, path, Some(got.len() as u64..data.len() as u64)).expect("resume");
            got.extend_from_slice(&rest);
        }
        None => assert_eq!(got.len(), data.len(), "a whole reply after a retry before the headers"),
    }
    assert!(got == data, "the resumed download is the file");
    assert_eq!(svc.requests("download"), 2, "the cut happened: {}", svc.counters());
}

#[test]
fn mount_with_ca_cert_writes_to_the_server_and_reads_back() {
    if skip_without_mount() {
        return;
    }
    let svc = tls_service();
    let ca = ca(&svc);

    // Without the CA the daemon does not mount; it says why.
    let base = tempfile::tempdir().expect("temp dir");
    let config = svc.login("mount-no-ca");
    let mnt = base.path().join("mnt");
    std::fs::create_dir_all(&mnt).expect("mount point");
    let (m, c) = (mnt.clone(), config.clone());
    let out = finishes_within(60, move || {
        Command::new(env!("CARGO_BIN_EXE_jottafuse"))
            .args(["-f", s(&m)])
            .env("JOTTA_CONFIG_DIR", &c)
            .env_remove("JOTTA_CA_CERT")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .output()
            .expect("run jottafuse")
    })
    .expect("jottafuse without the CA gives up instead of mounting");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("not trusted") && err.contains("--ca-cert"), "{err}");

    let mount = TestMount::with_args(&svc, "", &["--ca-cert", s(&ca)]);
    let data = pattern(1 << 20, 21);
    std::fs::write(mount.p("Jotta/Archive/hello.bin"), &data).expect("write through the mount");
    let client = svc.client();
    wait_until("the file is on the server", || {
        svc.server_bytes(&client, "/Jotta/Archive/hello.bin").as_deref() == Some(&data[..])
    });
    assert_eq!(std::fs::read(mount.p("Jotta/Archive/hello.bin")).expect("read back"), data);
}
