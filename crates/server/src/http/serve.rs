//! The HTTP listener, with the limits a public server needs (warp's own server has none):
//!
//! - a request's header must arrive within [`Limits::header_timeout`], and a kept-alive
//!   connection idle for as long is closed (hyper's header-read timer also runs while a
//!   connection waits for its next request), so half-sent requests cannot pin connections;
//! - at most [`Limits::max_connections`] connections at once: past it the server stops
//!   accepting, and new clients wait in the kernel's backlog instead of exhausting file
//!   descriptors (an accept error such as `EMFILE` is logged at most once a minute);
//! - on shutdown, idle and half-read connections are closed at once, requests in progress get
//!   [`DRAIN`] to finish, and whatever is left is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use warp::Filter;

use crate::shutdown::Shutdown;

/// How long requests in progress may run after shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Connection limits (flags `--max-connections`, `--header-timeout-ms`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for a request's header, and for an idle kept-alive connection.
    pub header_timeout: Duration,
}

/// Serves `routes` on `listener` until `shutdown` fires, then drains.
pub async fn serve<F>(listener: TcpListener, routes: F, limits: Limits, mut shutdown: Shutdown)
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut last_accept_error: Option<Instant> = None;
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.wait() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.wait() => break,
        };
        let (stream, _peer): (_, SocketAddr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors or similar: say so now and then, wait, go on.
                if last_accept_error.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(%error, "cannot accept connections");
                    last_accept_error = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(warp::service(routes.clone()));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(error) = connection.await {
                // Timeouts, resets and malformed requests are the client's business.
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running {DRAIN:?} after shutdown began were dropped");
    }
    connections.abort_all();
}
