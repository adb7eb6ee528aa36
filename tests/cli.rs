//! The `jotta` command as a newcomer uses it: start `jotta emulator`, log in, put, ls, get, restart the
//! emulator (gracefully and with kill -9) and find everything still there; and the one-line errors.

mod common;

use common::{md5_hex, pattern};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

struct EmulatorProcess {
    child: Child,
    endpoint: String,
    login_token: String,
}

fn start_emulator(data: &Path, listen: &str) -> EmulatorProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(["emulator", "--data"])
        .arg(data)
        .args(["--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn jotta emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut endpoint, mut login_token) = (String::new(), String::new());
    while endpoint.is_empty() || login_token.is_empty() {
        let line = lines.next().expect("emulator printed its endpoint and token").expect("line");
        if let Some(v) = line.strip_prefix("endpoint=") {
            endpoint = v.to_string();
        } else if let Some(v) = line.strip_prefix("login_token=") {
            login_token = v.to_string();
        }
    }
    EmulatorProcess { child, endpoint, login_token }
}

fn jotta(config_home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("JOTTA_ENDPOINT")
        .env("HOME", config_home)
        .output()
        .expect("run jotta")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "jotta failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure, got: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one clear line expected, got: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn login_put_ls_get_survive_emulator_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("service");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let emu = start_emulator(&data, "127.0.0.1:0");
    let out = ok(&jotta(&home, &["login", &emu.login_token, "--endpoint", &emu.endpoint]));
    assert!(out.contains("logged in"), "{out}");
    let creds = home.join("jottafuse/credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);

    let content = pattern(3 * 1024 * 1024 + 17, 42);
    let local = dir.path().join("photo one+two.jpg");
    std::fs::write(&local, &content).unwrap();
    ok(&jotta(&home, &["put", local.to_str().unwrap(), "/Jotta/Archive/pics/"]));
    let listing = ok(&jotta(&home, &["ls", "-l", "/Jotta/Archive/pics"]));
    assert!(listing.contains("photo one+two.jpg") && listing.contains(&md5_hex(&content)), "{listing}");
    // The same content again is deduplicated: nothing sent.
    let again = ok(&jotta(&home, &["put", local.to_str().unwrap(), "/Jotta/Archive/copy.jpg"]));
    assert!(again.contains("nothing sent"), "{again}");

    let fetch = |name: &str| {
        let target = dir.path().join(name);
        ok(&jotta(&home, &["get", "/Jotta/Archive/pics/photo one+two.jpg", target.to_str().unwrap()]));
        std::fs::read(target).unwrap()
    };
    assert_eq!(fetch("a.jpg"), content);

    // Graceful restart on the same port (the saved endpoint stays true).
    let port = emu.endpoint.rsplit(':').next().unwrap().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut child = emu.child;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success(), "emulator exits 0 on SIGTERM");
    let emu2 = start_emulator(&data, &listen);
    assert_eq!(fetch("b.jpg"), content);

    // Un-graceful: kill -9, then everything is still there.
    let mut child = emu2.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let mut emu3 = start_emulator(&data, &listen);
    assert_eq!(fetch("c.jpg"), content);
    let listing = ok(&jotta(&home, &["ls", "/Jotta/Archive"]));
    assert!(listing.contains("copy.jpg") && listing.contains("pics/"), "{listing}");
    emu3.child.kill().unwrap();
    emu3.child.wait().unwrap();
}

#[test]
fn bad_tokens_and_endpoints_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let emu = start_emulator(&dir.path().join("service"), "127.0.0.1:0");

    let err = one_line_error(&jotta(&home, &["login", "not a token!", "--endpoint", &emu.endpoint]));
    assert!(err.to_lowercase().contains("token"), "{err}");
    assert!(!home.join("jottafuse/credentials.json").exists(), "nothing written half-way");

    ok(&jotta(&home, &["login", &emu.login_token, "--endpoint", &emu.endpoint]));
    let err = one_line_error(&jotta(&home, &["login", &emu.login_token, "--endpoint", &emu.endpoint]));
    assert!(err.to_lowercase().contains("token") || err.contains("login"), "reused token: {err}");
    // The earlier good login still works.
    ok(&jotta(&home, &["ls", "/"]));

    // Another service named for the saved login: refused before its token goes anywhere.
    let err = one_line_error(&jotta(&home, &["ls", "/Jotta/Archive", "--endpoint", "http://127.0.0.1:9"]));
    assert!(err.contains("saved login is for") && err.contains("http://127.0.0.1:9"), "{err}");

    let err = one_line_error(&jotta(&home, &["ls", "/Jotta/Archive/nope"]));
    assert!(err.contains("not found"), "{err}");

    let mut child = emu.child;
    child.kill().unwrap();
    child.wait().unwrap();
    // The saved login's own service gone.
    let err = one_line_error(&jotta(&home, &["ls", "/Jotta/Archive"]));
    assert!(err.contains("unreachable") || err.contains("connect"), "{err}");
}

#[test]
fn loose_netrc_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let netrc = home.join(".netrc");
    std::fs::write(&netrc, "machine jottacloud login demo password demo-password\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = one_line_error(&jotta(&home, &["ls", "/", "--endpoint", "http://127.0.0.1:9"]));
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn no_credentials_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let err = one_line_error(&jotta(dir.path(), &["ls", "/"]));
    assert!(err.contains("jotta login"), "{err}");
}
