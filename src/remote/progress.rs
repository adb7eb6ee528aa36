//! Bytes on the move, told to whoever is watching (the terminal tools' progress bars, the mount's upload
//! figures in `jotta status`). A caller wraps the future doing transfers in `counting`; uploads and
//! downloads made while that future runs call the tally with each chunk they hand to or take from the
//! network. A task-local rather than a field of `UploadRequest` or a `Remote` argument: callers that do not
//! count stay untouched, and transfers outside a `counting` scope pay one failed lookup per request.

use std::future::Future;
use std::sync::Arc;

/// Called with the size of each chunk sent or received.
pub type Tally = Arc<dyn Fn(u64) + Send + Sync>;

tokio::task_local! {
    static TALLY: Tally;
}

/// Run `fut` with `tally` counting the bytes of its transfers.
pub async fn counting<F: Future>(tally: Tally, fut: F) -> F::Output {
    TALLY.scope(tally, fut).await
}

/// The tally of the running transfer, if anyone is counting. Fetch it in the task that started the
/// transfer (request bodies are polled by the connection's own task, which has no scope).
pub fn current() -> Option<Tally> {
    TALLY.try_with(Arc::clone).ok()
}
