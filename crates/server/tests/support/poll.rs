//! Waiting for a condition the test cannot be told about directly (a counter scraped over
//! HTTP, a row another task writes): one polling loop for every suite, so each wait has a
//! deadline and its failure says what was seen last, instead of a fixed sleep sized to
//! "long enough".

use std::future::Future;
use std::time::Duration;

/// How often a condition is checked again.
const EVERY: Duration = Duration::from_millis(20);

/// Checks `check` until it answers `Ok`, and returns that; panics after `timeout` with the
/// last `Err` (what was seen instead).
pub async fn until<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {timeout:?}: {seen}"
            ),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Waits until `check` holds; panics after `timeout` with `what`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    until(timeout, || {
        let held = check();
        async move { held.then_some(()).ok_or_else(|| what.to_string()) }
    })
    .await
}

/// Waits until the async `check` holds; panics after `timeout` with `what`.
pub async fn eventually_async<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(timeout, || {
        let held = check();
        async move { held.await.then_some(()).ok_or_else(|| what.to_string()) }
    })
    .await
}
