//! Account commands: `login`, `logout`, `whoami`, and `status` of the running mounts.

use super::present::{human, when};
use super::{CmdResult, Ctx, Failure};
use crate::mount::status::MountStatus;
use crate::remote::{ConnectOptions, Remote, RemotePath};
use std::fmt::Write as _;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

pub(super) async fn login(token: Option<&str>, endpoint: Option<&str>, opts: &ConnectOptions) -> CmdResult {
    let token = match token {
        Some(t) => t.trim().to_string(),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::Failed(format!("cannot read the token from stdin: {e}")))?;
            s.trim().to_string()
        }
    };
    if token.is_empty() {
        return Err(Failure::Usage("no login token given (pass it as an argument or on stdin)".into()));
    }
    // A token that cannot be used as given (malformed, or for another service than --endpoint) is a usage error.
    let account = crate::remote::auth::login(&token, endpoint, &opts.config_dir, opts.ca_cert.as_deref())
        .await
        .map_err(|e| match e {
            crate::remote::RemoteError::Config(_) => Failure::Usage(e.to_string()),
            e => Failure::from(e),
        })?;
    say!("logged in as {} ({} devices)", account.username, account.devices.len());
    Ok(())
}

pub(super) fn logout(opts: &ConnectOptions) -> CmdResult {
    let file = crate::remote::credentials::path(&opts.config_dir);
    if !file.exists() {
        say!("not logged in (no saved login in {})", opts.config_dir.display());
        return Ok(());
    }
    crate::remote::credentials::remove(&opts.config_dir)?;
    say!("logged out: removed {}", file.display());
    Ok(())
}

pub(super) async fn whoami(ctx: &Ctx, json: bool) -> CmdResult {
    let account = ctx.remote.account().await?;
    if json {
        let mut devices = Vec::new();
        for d in &account.devices {
            let listing = ctx.remote.device(&RemotePath::root().join(&d.name)?).await?;
            let mount_points: Vec<_> = listing
                .mount_points
                .iter()
                .filter(|m| m.deleted.is_none())
                .map(|mp| serde_json::json!({"name": mp.name, "size": mp.size, "modified": mp.modified}))
                .collect();
            devices.push(serde_json::json!({
                "name": d.name, "type": d.device_type, "size": d.size, "mount_points": mount_points,
            }));
        }
        let doc = serde_json::json!({
            "user": account.username,
            "account_type": account.account_type,
            "used": account.usage,
            "capacity": account.capacity,
            "devices": devices,
        });
        say!("{doc:#}");
        return Ok(());
    }
    say!("user: {}", account.username);
    let total = account.capacity.map(human).unwrap_or_else(|| "unlimited".into());
    say!("storage: {} used of {total} ({})", human(account.usage), account.account_type);
    for d in &account.devices {
        say!("device {} ({}, {})", d.name, d.device_type, human(d.size));
        let path = RemotePath::root().join(&d.name)?;
        let listing = ctx.remote.device(&path).await?;
        for mp in listing.mount_points.iter().filter(|m| m.deleted.is_none()) {
            say!("  /{}/{}  {}  {}", d.name, mp.name, human(mp.size), when(mp.modified));
        }
    }
    Ok(())
}

pub(super) fn status(json: bool, watch: bool) -> ExitCode {
    if !watch {
        // A closed pipe (`jotta status | head`) is not an error worth a panic.
        let _ = std::io::stdout().write_all(status_text(json).as_bytes());
        return ExitCode::SUCCESS;
    }
    // Refreshed once a second until Ctrl-C/SIGTERM; on a terminal each refresh replaces the last.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jotta: cannot start the refresh timer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let terminal = std::io::stdout().is_terminal();
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            let text = status_text(json);
            // Cursor home and clear the screen on a terminal: the new figures stand where the old ones
            // stood. A reader that went away (`--watch | head`) ends the watch.
            let shown = if terminal { format!("\x1b[H\x1b[2J{text}") } else { format!("{text}\n") };
            let mut out = std::io::stdout();
            if out.write_all(shown.as_bytes()).and_then(|_| out.flush()).is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tokio::signal::ctrl_c() => break,
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => break,
            }
        }
    });
    ExitCode::from(130)
}

/// One look at the running mounts, as `jotta status` prints it.
fn status_text(json: bool) -> String {
    render_status(&crate::mount::status::read_all(&crate::dirs::cache_dir()), json)
}

/// The status documents of the running mounts as `jotta status` prints them (`json`: as they are).
pub(crate) fn render_status(mounts: &[MountStatus], json: bool) -> String {
    let mut out = String::new();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&mounts).unwrap_or_else(|_| "[]".into()));
        return out;
    }
    if mounts.is_empty() {
        let _ = writeln!(out, "no jottafuse mount is running (for this user's cache dir)");
        return out;
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    for m in mounts {
        let r = &m.report;
        let _ = writeln!(out, "{} ({}, pid {})", m.mountpoint, m.root, m.pid);
        let _ = writeln!(
            out,
            "  pending: {} file(s), {:.1} MiB; uploaded: {}; dedupe hits: {}; sent: {:.1} MiB; failed attempts: {}",
            r.pending.len(),
            mib(r.pending_bytes),
            r.stats.uploaded,
            r.stats.deduplicated,
            mib(r.stats.bytes_sent),
            r.stats.failures,
        );
        let t = &r.transfer;
        let eta = match t.eta_secs {
            Some(secs) => format!("about {}", duration(secs)),
            None if t.left > 0 => "unknown (no bytes moving)".to_string(),
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "  transfer: {:.1} MiB sent since mount, {:.2} MiB/s, {:.1} MiB left, time left: {eta}",
            mib(t.sent),
            mib(t.rate),
            mib(t.left),
        );
        let _ = writeln!(out, "  names cached in memory: {}", r.cached_entries);
        if !r.service.reachable {
            let _ = writeln!(
                out,
                "  JottaCloud unreachable for {} s ({}): the uploads wait for the service and go out when it \
                 answers again",
                r.service.unreachable_for.unwrap_or(0),
                r.service.last_error.as_deref().unwrap_or("no connection"),
            );
        }
        if r.stats.folders_created > 0 {
            let _ = writeln!(out, "  folders made offline and created since: {}", r.stats.folders_created);
        }
        for p in &r.pending {
            let state = match (p.in_flight, p.removal) {
                (_, true) => "removing",
                (true, false) => "uploading",
                (false, false) => "waiting",
            };
            // An upload in flight shows how far it has got: "sent of size (percent)".
            let progress = if state == "uploading" && !p.folder {
                let (sent, size) = (p.bytes_sent, p.size);
                // In u128: the figures are the status file's, which may hold any number.
                let percent = (u128::from(sent) * 100).checked_div(u128::from(size)).unwrap_or(100).min(100);
                format!(" {sent} of {size} sent ({percent}%)")
            } else {
                String::new()
            };
            let err = p.last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default();
            // A folder to create shows as the folder it is: its path with a trailing slash.
            let slash = if p.folder { "/" } else { "" };
            let _ = writeln!(out, "    {state:9} {:>12} {}{slash}{progress}{err}", p.size, p.path);
        }
    }
    out
}

/// "42 s", "3 min 5 s", "2 h 10 min".
fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
