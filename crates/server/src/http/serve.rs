//! The HTTP listener, with the limits a public server needs (warp's own server has none):
//!
//! - a request's header must arrive within [`Limits::header_timeout`], and a kept-alive
//!   connection idle for as long is closed (hyper's header-read timer also runs while a
//!   connection waits for its next request), so half-sent requests cannot pin connections;
//! - a request's body must arrive whole within [`Limits::body_timeout`] of its header (at the
//!   largest body, 256 KiB in 10 s, a floor of about 26 KB/s): a body that stalls or trickles
//!   is answered `408 request_timeout` and its connection closed;
//! - at most [`Limits::max_connections`] connections at once: past it the server stops
//!   accepting, and new clients wait in the kernel's backlog instead of exhausting file
//!   descriptors (an accept error such as `EMFILE` is logged at most once a minute);
//! - on shutdown, connections with no request in progress — idle, or with a header still
//!   arriving — close at once; requests in progress get [`DRAIN`] to finish, and whatever is
//!   left is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use warp::Filter;

use crate::shutdown::Shutdown;

/// How long requests in progress may run after shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Connection limits (flags `--max-connections`, `--header-timeout-ms`, `--body-timeout-ms`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for a request's header, and for an idle kept-alive connection.
    pub header_timeout: Duration,
    /// Time allowed for a request's whole body, from when its header was read.
    pub body_timeout: Duration,
}

/// Serves `routes` on `listener` until `shutdown` fires, then drains.
pub async fn serve<F>(listener: TcpListener, routes: F, limits: Limits, mut shutdown: Shutdown)
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
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
        let service = Tracked {
            inner: warp::service(routes.clone()),
            in_progress: Arc::new(AtomicUsize::new(0)),
            body_timeout: limits.body_timeout,
        };
        let in_progress = service.in_progress.clone();
        let mut stop = shutdown.clone();
        let header_timeout = limits.header_timeout;
        connections.spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                () = stop.wait() => None,
            };
            let ended = match ended {
                Some(ended) => ended,
                // Nothing in progress: idle, or a header still arriving. Dropped: closed now.
                None if in_progress.load(Ordering::Acquire) == 0 => return drop(permit),
                None => {
                    connection.as_mut().graceful_shutdown();
                    match tokio::time::timeout(DRAIN, connection).await {
                        Ok(ended) => ended,
                        Err(_) => {
                            tracing::warn!(
                                "a request still running {DRAIN:?} after shutdown began was dropped"
                            );
                            return drop(permit);
                        }
                    }
                }
            };
            if let Err(error) = ended {
                // Timeouts, resets and malformed requests are the client's business.
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Every connection bounds its own drain; this only waits for them.
    while connections.join_next().await.is_some() {}
}

/// The routes as hyper calls them: each request's body under its deadline, and a count of
/// the connection's requests in progress (what a shutdown lets finish).
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    in_progress: Arc<AtomicUsize>,
    body_timeout: Duration,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for Tracked<S>
where
    S: tower_service::Service<
            hyper::Request<DeadlineBody>,
            Response = warp::reply::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = warp::reply::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        let request = request.map(|body| DeadlineBody {
            inner: body,
            deadline,
            limit: self.body_timeout,
            timer: None,
        });
        let mut inner = self.inner.clone();
        let guard = InProgress::enter(&self.in_progress);
        Box::pin(async move {
            let response = inner.call(request).await;
            drop(guard);
            response
        })
    }
}

/// One request in progress on a connection, counted until dropped.
struct InProgress(Arc<AtomicUsize>);

impl InProgress {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        InProgress(count.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a request body ended early: it had not arrived whole by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// A request body that fails with [`BodyTimeout`] once its deadline passes.
pub struct DeadlineBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    limit: Duration,
    /// Made on the first wait only: most bodies are whole (or empty) when first read.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
