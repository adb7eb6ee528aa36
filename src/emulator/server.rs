//! The HTTP/1.1 accept loop, plain or over TLS (`--tls`). It is ours rather than `axum::serve` for two
//! reasons: a request handler must be able to cut its own connection without answering (fault injection:
//! a dropped upload), and shutdown must drain connections before the state is flushed. Each connection
//! gets a `ConnCtx` with the peer address (test hooks are loopback-only) and its kill switch; both work
//! the same over TLS, where the handshake runs in the connection's own task, never in the accept loop.

use super::routes;
use super::Shared;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// A client that opens a connection and never finishes the handshake does not hold a task for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serve until `shutdown` turns true; with `tls`, every connection is HTTPS.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection(stream, peer, tls.clone(), shared.clone(), shutdown.clone()));
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

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(acceptor) = tls else { return http(stream, peer, shared, shutdown).await };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => http(stream, peer, shared, shutdown).await,
        // Typically a client that does not trust our CA and hung up: its own error says so.
        Ok(Err(e)) => log::debug!("emulator: TLS handshake with {peer} failed: {e}"),
        Err(_) => log::debug!("emulator: TLS handshake with {peer} timed out"),
    }
}

async fn http<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
