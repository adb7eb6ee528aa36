//! The trash and old revisions: `trash`, `trash restore`, `trash empty`, `revisions` and its `get` and
//! `restore`.

use super::present::{self, human, when};
use super::{CmdResult, Ctx, Failure};
use crate::remote::{Remote, RevisionState};
use crate::sync::{revisions, trash, Event};
use std::path::Path;

pub(super) async fn trash_list(ctx: &Ctx, json: bool) -> CmdResult {
    let entries = trash::list(&ctx.remote).await?;
    if json {
        let docs: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "path": e.path.to_string(),
                    "type": if e.is_folder { "folder" } else { "file" },
                    "size": e.size,
                    "deleted": e.deleted,
                })
            })
            .collect();
        say!("{:#}", serde_json::Value::Array(docs));
        return Ok(());
    }
    if entries.is_empty() {
        say!("the trash is empty");
    }
    for e in entries {
        let kind = if e.is_folder { 'd' } else { '-' };
        say!("{kind} {:>14} {} {}{}", e.size, when(e.deleted), e.path, if e.is_folder { "/" } else { "" });
    }
    Ok(())
}

pub(super) async fn trash_restore(ctx: &Ctx, input: &str) -> CmdResult {
    let path = ctx.path(input).await?;
    let show = |e: &Event| present::event(e, ctx.quiet);
    let s = trash::restore(&ctx.remote, &path, &show).await?;
    if s.failed > 0 {
        say!("restored {path} partly: {} item(s) failed", s.failed);
        return Err(Failure::Partial);
    }
    say!("restored {path}");
    Ok(())
}

pub(super) async fn trash_empty(ctx: &Ctx) -> CmdResult {
    let c = ctx.remote.empty_trash().await?;
    say!("emptied the trash: {} file(s), {} folder(s) deleted for good", c.files, c.folders);
    Ok(())
}

pub(super) async fn revisions(ctx: &Ctx, input: &str, json: bool) -> CmdResult {
    let path = ctx.path(input).await?;
    let revs = revisions::list(&ctx.remote, &path).await?;
    let current = revs.iter().find(|r| r.state == RevisionState::Completed).map(|r| r.number);
    if json {
        let docs: Vec<_> = revs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "number": r.number,
                    "current": Some(r.number) == current,
                    "state": r.state.as_str(),
                    "size": r.size,
                    "modified": r.modified,
                    "md5": r.md5,
                })
            })
            .collect();
        say!("{:#}", serde_json::Value::Array(docs));
        return Ok(());
    }
    for r in revs {
        let mark = if Some(r.number) == current { '*' } else { ' ' };
        let size = r.size.map(human).unwrap_or_else(|| "-".into());
        say!(
            "{mark}{:>4} {:<10} {:>10} {} {}",
            r.number,
            r.state.as_str(),
            size,
            when(r.modified),
            r.md5.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

pub(super) async fn revision_get(ctx: &Ctx, input: &str, number: u32, output: &Path) -> CmdResult {
    let path = ctx.path(input).await?;
    let target = if output.is_dir() { output.join(path.name().unwrap_or("download")) } else { output.to_path_buf() };
    let bytes = revisions::get(&ctx.remote, &path, number, &target).await?;
    say!("{} <- {path} revision {number} ({bytes} bytes fetched)", target.display());
    Ok(())
}

pub(super) async fn revision_restore(ctx: &Ctx, input: &str, number: u32) -> CmdResult {
    let path = ctx.path(input).await?;
    let f = revisions::restore(&ctx.remote, &path, number).await?;
    let now = f.current.as_ref().map(|r| r.number).unwrap_or(number);
    say!("{path}: revision {number} is current again (as revision {now}; nothing uploaded)");
    Ok(())
}
