//! The `jottafuse` command line: `jottafuse [SOURCE] MOUNTPOINT [-o OPTIONS] [-f]`, in the shape the
//! `mount.fuse3` helper uses (so fstab and `mount -t fuse.jottafuse` work), turned into a `MountRequest`.

use crate::mount::option_table;
use crate::mount::options::MountSettings;
use crate::mount::MountRequest;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "jottafuse",
    version,
    override_usage = "jottafuse [OPTIONS] [SOURCE] MOUNTPOINT",
    about = "Mount your JottaCloud account as a folder"
)]
pub struct JottafuseArgs {
    /// `jotta:` (the saved login; the default), `jotta:/Device/MountPoint[/path]` (a subtree) or `demo`,
    /// then the folder to mount on.
    #[arg(num_args = 1..=2, required = true, value_name = "[SOURCE] MOUNTPOINT")]
    positional: Vec<String>,
    /// Mount options, comma separated (repeatable).
    #[arg(short = 'o', value_name = "OPTIONS")]
    options: Vec<String>,
    /// Stay in the foreground (logs go to stderr).
    #[arg(short = 'f', long)]
    foreground: bool,
    /// Debug logging, in the foreground (implies -f, as in libfuse and sshfs).
    #[arg(short = 'd', long)]
    debug: bool,
    /// Mount only this subtree, e.g. /Jotta/Archive.
    #[arg(long)]
    root: Option<String>,
    /// Mount the embedded demo account (no JottaCloud account or network needed).
    #[arg(long)]
    demo: bool,
    /// Service base URL (an emulator); default: what `jotta login` saved, else the real service.
    #[arg(long, env = "JOTTA_ENDPOINT")]
    endpoint: Option<String>,
    /// Folder holding the saved login, as for `jotta` (default: $XDG_CONFIG_HOME/jottafuse).
    #[arg(long, env = "JOTTA_CONFIG_DIR", value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// One more CA to trust (PEM), as for `jotta`: a TLS-inspecting proxy's, or `jotta emulator --tls`'s.
    #[arg(long, env = "JOTTA_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
}

/// What `--help` says after the flags: the sources, then the `-o` options as `option_table` lists them
/// (built at run time because the table's defaults are constants, not text).
fn after_help() -> String {
    let source = "SOURCE: `jotta:` (the account saved by `jotta login`), `jotta:/Device/MountPoint[/path]` \
                  (a subtree), or `demo` (the embedded demo account).";
    format!("{source}\n{}", option_table::help_text())
}

/// The command line with its full help, for parsing and for the man page and completions.
pub fn command() -> clap::Command {
    JottafuseArgs::command().after_help(after_help())
}

/// Turn the command line into a request; errors are the one line the user sees.
pub fn parse_request(args: JottafuseArgs) -> Result<MountRequest, String> {
    let mut settings = MountSettings::default();
    let (source, mountpoint) = match args.positional.as_slice() {
        [m] => (None, m.clone()),
        [s, m] => (Some(s.clone()), m.clone()),
        _ => return Err("expected [SOURCE] MOUNTPOINT".into()),
    };
    if let Some(src) = source {
        if src == "demo" || src == "jotta:demo" {
            settings.demo = true;
        } else if let Some(rest) = src.strip_prefix("jotta:") {
            if !rest.is_empty() && rest != "/" {
                settings.root = Some(rest.to_string());
            }
        } else if src != "jotta" && src != "jottafuse" {
            return Err(format!("unknown source '{src}': use `jotta:`, `jotta:/Device/MountPoint/path` or `demo`"));
        }
    }
    for o in &args.options {
        settings.apply(o)?;
    }
    if args.demo {
        settings.demo = true;
    }
    if args.root.is_some() {
        settings.root = args.root.clone();
    }
    if args.endpoint.is_some() && settings.endpoint.is_none() {
        settings.endpoint = args.endpoint.clone();
    }
    if let (Some(dir), None) = (&args.config_dir, &settings.config_dir) {
        settings.config_dir = Some(dir.to_string_lossy().into_owned());
    }
    if let (Some(file), None) = (&args.ca_cert, &settings.ca_cert) {
        settings.ca_cert = Some(file.to_string_lossy().into_owned());
    }
    settings.ca_cert = settings.ca_cert.filter(|f| !f.is_empty());
    // -d stays in the foreground, as libfuse and sshfs do: debug output is for a terminal.
    let foreground = args.foreground || args.debug;
    Ok(MountRequest { mountpoint: PathBuf::from(mountpoint), settings, foreground, debug: args.debug })
}

pub fn main() -> ExitCode {
    let args = match JottafuseArgs::from_arg_matches(&command().get_matches()) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    match parse_request(args) {
        Ok(req) => ExitCode::from(crate::mount::run(req) as u8),
        Err(e) => {
            eprintln!("jottafuse: {e}");
            ExitCode::FAILURE
        }
    }
}
