//! What a new user meets around the commands: a login token that cannot be wasted, errors in plain
//! words, help that explains every argument and shows only options that mean something, and the man
//! pages and completions shipped in contrib/ matching the programs' real command lines.

mod common;

use clap::CommandFactory;
use common::TestService;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `jotta ARGS` with its config in `config` (JOTTA_CONFIG_DIR) and no endpoint from the environment.
fn jotta(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(args)
        .env("JOTTA_CONFIG_DIR", config)
        .env("HOME", config)
        .env_remove("JOTTA_ENDPOINT")
        .env_remove("JOTTACLOUD_USERNAME")
        .env_remove("JOTTACLOUD_PASSWORD")
        .output()
        .expect("run jotta")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "jotta failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one stderr line of a failure with exit `code`.
fn fails(out: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one clear line expected, got: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn config(svc: &TestService, name: &str) -> PathBuf {
    svc.dir.path().join(name)
}

#[test]
fn login_takes_the_service_from_the_token() {
    let svc = TestService::start();
    let cfg = config(&svc, "cfg");
    let out = ok(&jotta(&cfg, &["login", &svc.emu().login_token()]));
    assert!(out.contains("logged in as"), "{out}");
    // The service was remembered: later commands need no --endpoint either.
    let who = ok(&jotta(&cfg, &["whoami"]));
    assert!(who.contains(&format!("user: {}", svc.config.user)), "{who}");
    let saved = std::fs::read_to_string(cfg.join("credentials.json")).unwrap();
    assert!(saved.contains(&svc.endpoint()), "the token's service is saved: {saved}");
}

#[test]
fn an_endpoint_that_disagrees_with_the_token_is_refused_before_the_token_is_spent() {
    let svc = TestService::start();
    let cfg = config(&svc, "cfg");
    let token = svc.emu().login_token();
    for other in ["http://127.0.0.1:9", "https://jottacloud.example"] {
        let err = fails(&jotta(&cfg, &["login", &token, "--endpoint", other]), 2);
        assert!(err.contains(other) && err.contains(&svc.endpoint()), "names both services: {err}");
        assert!(err.contains("not used"), "says the token is still good: {err}");
        assert!(!cfg.join("credentials.json").exists(), "nothing saved");
    }
    // The same single-use token still works, with the endpoint it names or with none.
    ok(&jotta(&cfg, &["login", &token, "--endpoint", &svc.endpoint()]));
    ok(&jotta(&cfg, &["whoami"]));
}

#[test]
fn a_saved_token_is_never_sent_to_another_endpoint() {
    let svc = TestService::start();
    let cfg = config(&svc, "cfg");
    ok(&jotta(&cfg, &["login", &svc.emu().login_token()]));
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    stranger.set_nonblocking(true).unwrap();
    let other = format!("http://{}", stranger.local_addr().unwrap());
    let err = fails(&jotta(&cfg, &["--endpoint", &other, "ls", "Archive"]), 1);
    assert!(err.contains("saved login is for") && err.contains(&other), "{err}");
    let asked = stranger.accept();
    assert!(asked.is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock), "nothing connected to {other}");
    // The login's own service, named again, is fine.
    ok(&jotta(&cfg, &["--endpoint", &svc.endpoint(), "ls", "Archive"]));
}

#[test]
fn a_service_that_cannot_be_reached_does_not_spend_the_token() {
    let mut svc = TestService::start();
    let cfg = config(&svc, "cfg");
    let token = svc.emu().login_token();
    svc.stop();
    let err = fails(&jotta(&cfg, &["login", &token]), 1);
    assert!(err.contains("not used") || err.contains("unreachable"), "{err}");
    assert!(!cfg.join("credentials.json").exists(), "nothing saved");
    // Back on the same port and data: the token was never sent, so it logs in now.
    svc.start_again();
    ok(&jotta(&cfg, &["login", &token]));
    ok(&jotta(&cfg, &["ls", "/Jotta/Archive"]));
}

#[test]
fn errors_name_the_path_and_the_cause_without_service_internals() {
    let svc = TestService::start();
    let cfg = config(&svc, "cfg");
    ok(&jotta(&cfg, &["login", &svc.emu().login_token()]));
    for args in [
        &["cat", "/Jotta/Archive/nope.txt"][..],
        &["get", "/Jotta/Archive/nope.txt", svc.dir.path().to_str().unwrap()],
        &["rm", "/Jotta/Archive/nope.txt"],
        &["ls", "/Jotta/Archive/nope.txt"],
        &["mv", "/Jotta/Archive/nope.txt", "/Jotta/Archive/b.txt"],
    ] {
        let err = fails(&jotta(&cfg, args), 1);
        assert_eq!(err, "jotta: not found: /Jotta/Archive/nope.txt", "{args:?}");
    }
}

/// `jotta ARGS` whose stdout is a pipe closed before it prints (as `| head -1` does once it has its line).
fn jotta_into_a_closed_pipe(config: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(args)
        .current_dir(cwd)
        .env("JOTTA_CONFIG_DIR", config)
        .env_remove("JOTTA_ENDPOINT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run jotta");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for jotta")
}

#[test]
fn a_closed_stdout_neither_panics_nor_cuts_a_transfer_short() {
    let svc = TestService::start();
    let cfg = config(&svc, "cfg");
    ok(&jotta(&cfg, &["login", &svc.emu().login_token()]));
    let tree = svc.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..30 {
        std::fs::write(tree.join(format!("f{i:02}")), format!("file {i}")).unwrap();
    }
    let cwd = svc.dir.path();
    for args in [&["put", "-r", "tree", "Archive/piped"][..], &["whoami"], &["trash"], &["ls", "Archive/piped"]] {
        let out = jotta_into_a_closed_pipe(&cfg, cwd, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked") && out.status.code() != Some(101), "jotta {args:?}: {err}");
    }
    let listed = ok(&jotta(&cfg, &["ls", "Archive/piped"]));
    assert_eq!(listed.lines().count(), 30, "every file went up: {listed}");
}

#[test]
fn ls_of_a_device_lists_only_what_can_be_opened() {
    let svc = TestService::start();
    let cfg = config(&svc, "cfg");
    ok(&jotta(&cfg, &["login", &svc.emu().login_token()]));
    let listed = ok(&jotta(&cfg, &["ls", "/Jotta"]));
    let names: Vec<&str> = listed.lines().map(|l| l.trim_end_matches('/')).collect();
    assert!(names.contains(&"Archive") && names.contains(&"Sync"), "{listed}");
    // Every name listed opens.
    for name in &names {
        ok(&jotta(&cfg, &["ls", &format!("/Jotta/{name}")]));
    }
    for pseudo in ["Latest", "Links", "Trash"] {
        assert!(!names.contains(&pseudo), "{pseudo} listed: {listed}");
        let err = fails(&jotta(&cfg, &["ls", &format!("/Jotta/{pseudo}")]), 2);
        assert!(err.contains(&format!("/Jotta/{pseudo}")) && err.contains("not folders"), "{err}");
    }
}

/// Every subcommand at every depth, with its path of names.
fn all_commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
    out.push((path.clone(), cmd.clone()));
    for sub in cmd.get_subcommands() {
        all_commands(sub, format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_positional_argument_has_help() {
    let mut commands = Vec::new();
    all_commands(&jottafuse::cli::jotta::JottaArgs::command(), "jotta".into(), &mut commands);
    all_commands(&jottafuse::cli::jottafuse::JottafuseArgs::command(), "jottafuse".into(), &mut commands);
    assert!(commands.len() > 20, "{}", commands.len());
    for (path, cmd) in &commands {
        for arg in cmd.get_positionals() {
            assert!(arg.get_help().is_some(), "`{path}` argument {} has no help text", arg.get_id());
        }
    }
}

#[test]
fn commands_that_use_no_account_do_not_offer_account_options() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["emulator", "status", "completions"] {
        let help = ok(&jotta(dir.path(), &[sub, "--help"]));
        let account_option = ["--endpoint", "--config-dir", "--ca-cert"].into_iter().find(|o| help.contains(o));
        assert!(account_option.is_none(), "jotta {sub} --help: {help}");
    }
    let help = ok(&jotta(dir.path(), &["ls", "--help"]));
    assert!(help.contains("--endpoint") && help.contains("--config-dir") && help.contains("--ca-cert"), "{help}");
    let out = jotta(dir.path(), &["emulator", "--data", "x", "--endpoint", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().next().unwrap_or_default().contains("--endpoint means nothing"), "{err}");
    // With JOTTA_CONFIG_DIR set (as it is here), the commands still run; so with JOTTA_CA_CERT.
    ok(&jotta(dir.path(), &["status"]));
    let out = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .arg("status")
        .env("JOTTA_CA_CERT", dir.path().join("ca.pem"))
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The daemon's usage line reads as the mount.fuse3 convention does.
    let out = Command::new(env!("CARGO_BIN_EXE_jottafuse")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: jottafuse [OPTIONS] [SOURCE] MOUNTPOINT\n"), "{help}");
}

/// All files under `dir`, relative, with their content.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["man", "completions"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub)).expect(sub).map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for n in names {
            let rel = Path::new(sub).join(n);
            out.push((rel.clone(), std::fs::read(dir.join(&rel)).unwrap()));
        }
    }
    out
}

#[test]
fn shipped_man_pages_and_completions_match_the_command_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = jotta(dir.path(), &["generate-docs", dir.path().join("gen").to_str().unwrap()]);
    ok(&out);
    let fresh = files(&dir.path().join("gen"));
    let shipped = files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib"));
    let names = |v: &[(PathBuf, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    let stale = "contrib/man or contrib/completions is stale: run `cargo run --release --bin jotta -- generate-docs \
                 contrib` and commit the result";
    assert_eq!(names(&shipped), names(&fresh), "{stale}");
    for ((path, a), (_, b)) in shipped.iter().zip(&fresh) {
        assert!(a == b, "{} differs. {stale}", path.display());
    }
    for page in ["man/jotta.1", "man/jottafuse.1", "man/jotta-login.1", "completions/_jotta"] {
        assert!(names(&fresh).contains(&PathBuf::from(page)), "{page} generated");
    }
    // The completion script printed for a shell is the one shipped.
    let bash = ok(&jotta(dir.path(), &["completions", "bash"]));
    assert_eq!(bash.as_bytes(), &std::fs::read(dir.path().join("gen/completions/jotta.bash")).unwrap()[..]);
}

/// `jotta emulator --data DATA` in the background: the child and the endpoint and token it printed.
fn emulator(data: &Path) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_jotta"))
        .args(["emulator", "--data"])
        .arg(data)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn jotta emulator");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut endpoint, mut token) = (String::new(), String::new());
    while endpoint.is_empty() || token.is_empty() {
        let line = lines.next().expect("the emulator printed its endpoint and token").expect("line");
        if let Some(v) = line.strip_prefix("endpoint=") {
            endpoint = v.to_string();
        } else if let Some(v) = line.strip_prefix("login_token=") {
            token = v.to_string();
        }
    }
    (child, endpoint, token)
}

fn stop(mut child: std::process::Child) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_emulator_comes_back_on_its_last_port_so_a_saved_login_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cfg) = (dir.path().join("emu"), dir.path().join("cfg"));
    let (child, endpoint, token) = emulator(&data);
    ok(&jotta(&cfg, &["login", &token]));
    stop(child);
    let (child, again, _) = emulator(&data);
    assert_eq!(again, endpoint, "same data folder, same port");
    let who = ok(&jotta(&cfg, &["whoami"]));
    assert!(who.contains("user: "), "{who}");
    stop(child);
}

/// The `-o` options `jottafuse --help` lists, by name (`uid=N` is `uid`): the first word of each line
/// between the MOUNT OPTIONS heading and the line of ignored words.
fn mount_option_names() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_jottafuse")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let list = help.split_once("MOUNT OPTIONS").map(|(_, l)| l).unwrap_or_default();
    list.lines()
        .skip(2) // the rest of the heading line and the column titles
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|w| w.split('=').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn every_mount_option_of_the_help_is_documented_in_the_readme() {
    let names = mount_option_names();
    let table: Vec<String> = jottafuse::mount::option_table::OPTIONS.iter().map(|o| o.name.to_string()).collect();
    assert_eq!(names, table, "jottafuse --help lists the option table");
    assert!(names.len() > 20 && names.contains(&"links".to_string()), "{names:?}");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for name in names {
        assert!(
            readme.contains(&format!("`{name}`")) || readme.contains(&format!("`{name}=")),
            "README does not list the mount option {name}"
        );
    }
}
