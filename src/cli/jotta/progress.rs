//! Progress bars on stderr for tree transfers and scans (indicatif): bytes done of the total, rate,
//! ETA, and files done of the total. Drawn only when stderr is a terminal and `--quiet` is off, so pipes,
//! scripts and tests see the same plain lines as before. Bytes are counted as they travel (the transfer
//! layer's tally, `remote::progress`); files that need no transfer (unchanged, deduplicated) count their
//! size when done, so the bar reaches its end. Lines printed meanwhile go through `line`, which moves
//! the bar out of the way instead of tearing through it.

use super::present;
use crate::remote::progress::Tally;
use crate::sync::{Event, ProgressView};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BYTES: &str =
    "{spinner} {prefix} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}";
const FILES: &str = "{spinner} {prefix} [{wide_bar}] {pos}/{len} files";

/// One progress display for one command; a no-op when nothing is drawn.
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    files_done: AtomicU64,
    files_total: AtomicU64,
}

impl Bar {
    pub fn new(quiet: bool) -> Arc<Bar> {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Arc::new(Bar { bar, files_done: AtomicU64::new(0), files_total: AtomicU64::new(0) })
    }

    /// The byte counter to hand to `remote::progress::counting`.
    pub fn tally(self: &Arc<Self>) -> Tally {
        let me = Arc::clone(self);
        Arc::new(move |n| {
            if let Some(b) = &me.bar {
                b.inc(n);
            }
        })
    }

    /// Follow a tree transfer's event, then show it as `present::event` does.
    pub fn event(&self, e: &Event, quiet: bool) {
        match e {
            Event::Planned { files, bytes } => self.stage("", *files, *bytes),
            // Resumed bytes did not travel in this run; count them now.
            Event::Uploaded { size, bytes, .. } | Event::Downloaded { size, bytes, .. } => {
                self.file_done(size.saturating_sub(*bytes))
            }
            Event::Deduplicated { size, .. } | Event::Skipped { size, .. } | Event::TimeSet { size, .. } => {
                self.file_done(*size)
            }
            Event::Failed { .. } => self.file_done(0),
            Event::Created { .. } | Event::Ignored { .. } => {}
        }
        self.line(&mut || present::event(e, quiet));
    }

    /// Print (through `print`) with the bar lifted.
    pub fn line(&self, print: &mut dyn FnMut()) {
        match &self.bar {
            Some(b) => b.suspend(print),
            None => print(),
        }
    }

    fn show_files(&self, b: &ProgressBar) {
        let (done, total) = (self.files_done.load(Ordering::Relaxed), self.files_total.load(Ordering::Relaxed));
        b.set_message(format!("{done}/{total} files"));
    }
}

impl ProgressView for Bar {
    fn stage(&self, what: &str, files: u64, bytes: u64) {
        let Some(b) = &self.bar else { return };
        self.files_done.store(0, Ordering::Relaxed);
        self.files_total.store(files, Ordering::Relaxed);
        // Style, length and names first, then `reset`, which draws: no frame mixes two stages.
        let counts_files = bytes == 0 && files > 0 && what == "comparing";
        let template = if counts_files { FILES } else { BYTES };
        b.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        b.set_length(if counts_files { files } else { bytes });
        b.set_prefix(what.to_string());
        if !counts_files {
            self.show_files(b);
        }
        // A new stage starts from zero; `reset` also revives a bar finished by an earlier pass (--watch),
        // and the ticker, which ends with a finished bar, is started again.
        b.reset();
        b.enable_steady_tick(Duration::from_millis(200));
    }

    fn compared(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    fn file_done(&self, unsent: u64) {
        let Some(b) = &self.bar else { return };
        self.files_done.fetch_add(1, Ordering::Relaxed);
        b.inc(unsent);
        self.show_files(b);
    }

    fn suspend(&self, print: &mut dyn FnMut()) {
        self.line(print);
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
