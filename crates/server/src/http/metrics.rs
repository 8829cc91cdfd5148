//! `GET /metrics` on its own listener (`--metrics-bind`), kept off the public port. The
//! counters live in [`crate::metrics`], a leaf every layer may use; serving them is HTTP's.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::store::Store;

/// Serves `GET /metrics` on `listener` until shutdown.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
    clock: crate::clock::SharedClock,
    shutdown: crate::shutdown::Shutdown,
) {
    use warp::Filter;
    let route = warp::path!("metrics").and(super::get()).then(move || {
        let (metrics, store, clock) = (metrics.clone(), store.clone(), clock.clone());
        async move {
            let body = metrics.render(&*store, clock.now_ms()).await;
            warp::reply::with_header(
                body,
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        }
    });
    let limits = super::serve::Limits {
        max_connections: 16,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
    };
    super::serve::serve(listener, route, limits, shutdown).await;
}
