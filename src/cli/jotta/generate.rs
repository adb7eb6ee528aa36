//! Man pages and shell completions of both programs, generated from their clap definitions:
//! `jotta completions SHELL` prints one script; the hidden `jotta generate-docs DIR` writes everything
//! the package ships (`DIR/man/*.1`, `DIR/completions/`). The committed copies live in `contrib/`, and
//! `tests/docs.rs` checks they match what the definitions generate now.

use super::{CmdResult, Failure, JottaArgs};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

/// The shells whose completion files the package ships, with the file name each one looks for.
const SHIPPED: [(Shell, &str); 3] = [(Shell::Bash, "{}.bash"), (Shell::Zsh, "_{}"), (Shell::Fish, "{}.fish")];

fn programs() -> [clap::Command; 2] {
    [JottaArgs::command(), crate::cli::jottafuse::command()]
}

/// The completion script of `program` for `shell`.
fn completion(shell: Shell, mut cmd: clap::Command) -> Vec<u8> {
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}

/// `jotta completions SHELL`: the script for `jotta` on stdout.
pub(super) fn completions(shell: Shell) -> CmdResult {
    use std::io::Write;
    let script = completion(shell, JottaArgs::command());
    std::io::stdout().write_all(&script).map_err(|e| Failure::Failed(format!("cannot write to stdout: {e}")))
}

/// `jotta generate-docs DIR`: man pages into `DIR/man`, completions into `DIR/completions`.
pub(super) fn generate_docs(dir: &Path) -> CmdResult {
    let fail = |what: &Path, e: std::io::Error| Failure::Failed(format!("cannot write {}: {e}", what.display()));
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| fail(d, e))?;
    }
    // Pages of subcommands that no longer exist must not linger.
    if let Ok(old) = std::fs::read_dir(&man) {
        for entry in old.flatten() {
            if entry.path().extension().is_some_and(|x| x == "1") {
                std::fs::remove_file(entry.path()).map_err(|e| fail(&entry.path(), e))?;
            }
        }
    }
    for cmd in programs() {
        let name = cmd.get_name().to_string();
        clap_mangen::generate_to(cmd.clone(), &man).map_err(|e| fail(&man, e))?;
        for (shell, pattern) in SHIPPED {
            let file = completions.join(pattern.replace("{}", &name));
            std::fs::write(&file, completion(shell, cmd.clone())).map_err(|e| fail(&file, e))?;
        }
    }
    say!("wrote man pages to {} and completions to {}", man.display(), completions.display());
    Ok(())
}

/// Run the commands of this file (they need no account, runtime or log); `None` for every other command.
pub(super) fn run(command: &super::Command) -> Option<std::process::ExitCode> {
    let done = match command {
        super::Command::Completions { shell, .. } => completions(*shell),
        super::Command::GenerateDocs { dir, .. } => generate_docs(dir),
        _ => return None,
    };
    Some(match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(Failure::Usage(m) | Failure::Failed(m)) => {
            eprintln!("jotta: {m}");
            std::process::ExitCode::FAILURE
        }
        Err(Failure::Partial) => std::process::ExitCode::FAILURE,
        Err(Failure::Interrupted) => std::process::ExitCode::from(130),
    })
}

/// Flattened into the commands that use no account (`emulator`, `status`, `completions`): the global
/// `--endpoint`, `--config-dir` and `--ca-cert` would mean nothing there, so these hidden stand-ins take
/// their place in those commands' help and refuse them with a line saying so.
#[derive(clap::Args, Debug, Default)]
pub struct LocalOnly {
    #[arg(long, hide = true, value_name = "URL", value_parser = meaningless_here::<String>("--endpoint"))]
    endpoint: Option<String>,
    #[arg(long, hide = true, value_name = "DIR", value_parser = meaningless_here::<std::path::PathBuf>("--config-dir"))]
    config_dir: Option<std::path::PathBuf>,
    #[arg(long, hide = true, value_name = "FILE", value_parser = meaningless_here::<std::path::PathBuf>("--ca-cert"))]
    ca_cert: Option<std::path::PathBuf>,
}

/// The types match the global options' (`JOTTA_ENDPOINT`/`JOTTA_CONFIG_DIR`/`JOTTA_CA_CERT` set in the environment reach
/// these ids too, and are fine: only the command line is refused).
fn meaningless_here<T: Clone + Send + Sync + 'static>(
    option: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync {
    move |_| Err(format!("{option} means nothing to this command (it uses no account): leave it out"))
}
