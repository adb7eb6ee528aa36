//! Account commands: `login`, `logout`, `whoami`, and `status` of the running mounts.

use super::present::{human, when};
use super::{CmdResult, Ctx, Failure};
use crate::remote::{ConnectOptions, Remote, RemotePath};
use std::io::Read;
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
    println!("logged in as {} ({} devices)", account.username, account.devices.len());
    Ok(())
}

pub(super) fn logout(opts: &ConnectOptions) -> CmdResult {
    let file = crate::remote::credentials::path(&opts.config_dir);
    if !file.exists() {
        println!("not logged in (no saved login in {})", opts.config_dir.display());
        return Ok(());
    }
    crate::remote::credentials::remove(&opts.config_dir)?;
    println!("logged out: removed {}", file.display());
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
        println!("{doc:#}");
        return Ok(());
    }
    println!("user: {}", account.username);
    let total = account.capacity.map(human).unwrap_or_else(|| "unlimited".into());
    println!("storage: {} used of {total} ({})", human(account.usage), account.account_type);
    for d in &account.devices {
        println!("device {} ({}, {})", d.name, d.device_type, human(d.size));
        let path = RemotePath::root().join(&d.name)?;
        let listing = ctx.remote.device(&path).await?;
        for mp in listing.mount_points.iter().filter(|m| m.deleted.is_none()) {
            println!("  /{}/{}  {}  {}", d.name, mp.name, human(mp.size), when(mp.modified));
        }
    }
    Ok(())
}

pub(super) fn status(json: bool) -> ExitCode {
    let mounts = crate::mount::status::read_all(&crate::dirs::cache_dir());
    if json {
        println!("{}", serde_json::to_string_pretty(&mounts).unwrap_or_else(|_| "[]".into()));
        return ExitCode::SUCCESS;
    }
    if mounts.is_empty() {
        println!("no jottafuse mount is running (for this user's cache dir)");
        return ExitCode::SUCCESS;
    }
    for m in mounts {
        let r = &m.report;
        let n = |k: &str| r["stats"][k].as_u64().unwrap_or(0);
        let pending = r["pending"].as_array().cloned().unwrap_or_default();
        println!("{} ({}, pid {})", m.mountpoint, m.root, m.pid);
        println!(
            "  pending: {} file(s), {:.1} MiB; uploaded: {}; dedupe hits: {}; sent: {:.1} MiB; failed attempts: {}",
            pending.len(),
            r["pending_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
            n("uploaded"),
            n("deduplicated"),
            n("bytes_sent") as f64 / 1048576.0,
            n("failures"),
        );
        println!("  names cached in memory: {}", r["cached_entries"].as_u64().unwrap_or(0));
        let service = &r["service"];
        if service["reachable"].as_bool() == Some(false) {
            println!(
                "  JottaCloud unreachable for {} s ({}): the uploads wait for the service and go out when it \
                 answers again",
                service["unreachable_for"].as_u64().unwrap_or(0),
                service["last_error"].as_str().unwrap_or("no connection"),
            );
        }
        if n("folders_created") > 0 {
            println!("  folders made offline and created since: {}", n("folders_created"));
        }
        for p in pending {
            let state = match (p["in_flight"].as_bool().unwrap_or(false), p["removal"].as_bool().unwrap_or(false)) {
                (_, true) => "removing",
                (true, false) => "uploading",
                (false, false) => "waiting",
            };
            let err = p["last_error"].as_str().map(|e| format!(" (last error: {e})")).unwrap_or_default();
            // A folder to create shows as the folder it is: its path with a trailing slash.
            let slash = if p["folder"].as_bool().unwrap_or(false) { "/" } else { "" };
            println!(
                "    {state:9} {:>12} {}{slash}{err}",
                p["size"].as_u64().unwrap_or(0),
                p["path"].as_str().unwrap_or("?")
            );
        }
    }
    ExitCode::SUCCESS
}
