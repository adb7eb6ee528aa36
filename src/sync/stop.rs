//! Ctrl-C and SIGTERM during `put -r` and `get -r`: the first signal asks the tree transfer to start no
//! new file (the files in flight finish, so nothing is left half-visible as a current version and the
//! next run picks up where this one stopped); a second one ends the process at once (exit 130). One flag
//! per process: a command runs one tree transfer, and the flag is only ever set by a signal.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Handle SIGINT and SIGTERM from now on (inside a Tokio runtime). `say` prints a one-line notice.
pub fn on_signals(say: fn(&str)) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if STOP.swap(true, Ordering::SeqCst) {
                say("stopped at once");
                std::process::exit(130);
            }
            say("stopping after the files in flight (again to stop at once)");
        }
    });
    Ok(())
}
