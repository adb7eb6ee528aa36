//! The HTTP/1.1 accept loop. It is ours rather than `axum::serve` for two reasons: a request handler
//! must be able to cut its own connection without answering (fault injection: a dropped upload), and
//! shutdown must drain connections before the state is flushed. Each connection gets a `ConnCtx` with
//! the peer address (test hooks are loopback-only) and its kill switch.

use super::routes;
use super::Shared;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

#[derive(Clone)]
pub struct ConnCtx {
    pub peer: SocketAddr,
    kill: Arc<Notify>,
}

impl ConnCtx {
    /// Close the connection now, without a response; the caller should then never complete.
    pub fn kill(&self) {
        self.kill.notify_one();
    }
}

pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection(stream, peer, shared.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Usually EMFILE; back off instead of spinning.
                    log::warn!("emulator: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(3), drain).await.is_err() {
        conns.abort_all();
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let kill = Arc::new(Notify::new());
    let ctx = ConnCtx { peer, kill: kill.clone() };
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(routes::handle(shared, ctx, req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                log::debug!("emulator: connection from {peer}: {e}");
            }
        }
        // Dropping the connection future closes the socket without a response.
        _ = kill.notified() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(3), conn).await;
        }
    }
}
