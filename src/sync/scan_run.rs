//! Running `jotta scan` as a command: guards, signals, output, exit codes, and `--watch`.
//!
//! Signals: the first SIGINT/SIGTERM sets the stop flag (the pass finishes the files in flight and ends);
//! a second one exits at once (130). Exit codes: 0 done, 1 something failed, 130 the pass was interrupted
//! (the next run finishes the job), 2 the scan could not be started as asked (usage). Under `--watch` a
//! stop signal is the normal end and exits 0 unless the last pass failed something.
//!
//! `--watch`: after the first pass, inotify events (the `notify` crate) on the tree start a new pass once
//! the tree has been quiet for a moment; a full pass also runs every `rescan` interval as a safety net
//! (inotify drops events on queue overflow, and misses changes made while we were busy). A pass over an
//! unchanged tree costs one listing and no reads (the checksum cache), so every pass is a full one.

use super::scan::{scan_once, ScanEvents, ScanOptions};
use super::scan_report::ScanReport;
use super::ProgressView;
use crate::remote::{Remote, RemoteError};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the tree must stay quiet after an event before a watch pass starts.
const SETTLE: Duration = Duration::from_millis(500);

pub struct RunOptions {
    pub scan: ScanOptions,
    pub json: bool,
    /// `Some(rescan interval)` under `--watch`.
    pub watch: Option<Duration>,
    /// No line per action (`--quiet`): notes, failures and the summary only.
    pub quiet: bool,
    /// Where the advance is drawn (a terminal's progress bar), if anywhere.
    pub progress: Option<Arc<dyn ProgressView>>,
}

/// Prints actions to stdout and notes/failures to stderr (human mode); only notes/failures under `--json`.
struct Printer {
    json: bool,
    quiet: bool,
    view: Option<Arc<dyn ProgressView>>,
}

impl Printer {
    /// Print with the progress display (if any) out of the way.
    fn print(&self, mut f: impl FnMut()) {
        match &self.view {
            Some(v) => v.suspend(&mut f),
            None => f(),
        }
    }
}

impl ScanEvents for Printer {
    fn action(&mut self, what: &str, path: &str) {
        if !self.json && !self.quiet {
            self.print(|| say(&format!("{what:<18} {}", super::printable(path))));
        }
    }
    fn skipped(&mut self, path: &str, reason: &str) {
        self.print(|| eprintln!("jotta: skipped {}: {}", super::printable(path), super::printable(reason)));
    }
    fn failed(&mut self, path: &str, reason: &str) {
        self.print(|| eprintln!("jotta: {}: {}", super::printable(path), super::printable(reason)));
    }
    fn stage(&mut self, what: &str, files: u64, bytes: u64) {
        if let Some(v) = &self.view {
            v.stage(what, files, bytes);
        }
    }
    fn compared(&mut self) {
        if let Some(v) = &self.view {
            v.compared();
        }
    }
    fn file_done(&mut self, unsent: u64) {
        if let Some(v) = &self.view {
            v.file_done(unsent);
        }
    }
}

pub async fn run<R: Remote>(remote: &R, opts: RunOptions) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = watch_signals(stop.clone()) {
        eprintln!("jotta: cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    let mut printer = Printer { json: opts.json, quiet: opts.quiet, view: opts.progress.clone() };
    let mut last = match pass(remote, &opts, &stop, &mut printer).await {
        Some(r) => r,
        None => return ExitCode::FAILURE,
    };
    if let Some(rescan) = opts.watch {
        if !stop.load(Ordering::SeqCst) {
            match watch(remote, &opts, rescan, &stop, &mut printer).await {
                Ok(r) => last = r.unwrap_or(last),
                Err(e) => {
                    eprintln!("jotta: {e}");
                    return ExitCode::FAILURE;
                }
            }
            // A stop is how a watch ends; the job is not half done.
            last.interrupted = false;
        }
    }
    if let Some(v) = &opts.progress {
        v.finish();
    }
    if last.interrupted {
        ExitCode::from(130)
    } else if last.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// One pass with its output; None when it could not run at all (already reported).
async fn pass<R: Remote>(
    remote: &R,
    opts: &RunOptions,
    stop: &Arc<AtomicBool>,
    printer: &mut Printer,
) -> Option<ScanReport> {
    match scan_once(remote, &opts.scan, stop, printer).await {
        Ok(report) => {
            if let Some(v) = &opts.progress {
                // The summary replaces the bar (a watch pass draws a new one).
                v.finish();
            }
            if opts.json {
                // One document per pass (one line each under --watch, so a reader can follow).
                let mut doc = serde_json::to_value(&report).unwrap_or_default();
                if opts.watch.is_none() {
                    say(&serde_json::to_string_pretty(&doc).unwrap_or_default());
                } else {
                    doc["watch"] = true.into();
                    say(&doc.to_string());
                }
            } else if opts.watch.is_none() || report.changed_anything() || report.failed > 0 {
                say(&report.summary());
            }
            Some(report)
        }
        Err(e) => {
            let e = match e {
                RemoteError::Config(m) => m,
                other => other.to_string(),
            };
            eprintln!("jotta: scan of {} into {}: {e}", opts.scan.local.display(), opts.scan.target);
            None
        }
    }
}

/// Passes on change and on a timer until stopped; returns the last pass's report.
async fn watch<R: Remote>(
    remote: &R,
    opts: &RunOptions,
    rescan: Duration,
    stop: &Arc<AtomicBool>,
    printer: &mut Printer,
) -> Result<Option<ScanReport>, String> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Reads (ours included, while hashing) change nothing worth a pass; errors (queue overflow) do.
        if !matches!(ev, Ok(notify::Event { kind: EventKind::Access(_), .. })) {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("cannot watch {}: {e}", opts.scan.local.display()))?;
    watcher
        .watch(&opts.scan.local, RecursiveMode::Recursive)
        .map_err(|e| format!("cannot watch {}: {e} (raise fs.inotify.max_user_watches?)", opts.scan.local.display()))?;
    if !opts.json {
        eprintln!(
            "jotta: watching {} (full rescan every {} s); Ctrl-C stops",
            opts.scan.local.display(),
            rescan.as_secs()
        );
    }
    let mut last = None;
    while !stop.load(Ordering::SeqCst) {
        // Wait for a change (then for quiet), the rescan timer, or a stop.
        let timer = tokio::time::sleep(rescan);
        tokio::pin!(timer);
        let mut changed = false;
        loop {
            let settle = tokio::time::sleep(SETTLE);
            tokio::select! {
                got = rx.recv() => {
                    if got.is_none() { return Err("the file watcher stopped".into()); }
                    changed = true;
                }
                _ = settle, if changed => break,
                _ = &mut timer => break,
                _ = stopped(stop) => return Ok(last),
            }
        }
        if let Some(r) = pass(remote, opts, stop, printer).await {
            last = Some(r);
        }
    }
    Ok(last)
}

/// A line on stdout; a reader that went away (a closed pipe) is not a reason to stop backing up.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn watch_signals(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("jotta: stopped at once");
                std::process::exit(130);
            }
            eprintln!("jotta: stopping after the files in flight (again to stop at once)");
        }
    });
    Ok(())
}
