//! `GET /v1/stream`: the account's live events as Server-Sent Events (delivery attempts,
//! inbox captures).
//!
//! A stream is long-lived, so it is bounded the way a request is not:
//! - it ends when the server stops, so shutdown is never held up;
//! - it ends when the key it was opened with is revoked: at once when revoked through this
//!   instance, within [`auth::CACHE_TTL`] when revoked elsewhere (the store is asked again
//!   that often);
//! - an account holds at most `--max-streams-per-account` at once, and all accounts together
//!   at most a quarter of `--max-connections` ([`StreamBudget`]): streams cannot take the
//!   connections ordinary requests need. Past either, `429 too_many_streams`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use warp::http::StatusCode;
use warp::Filter;

use super::auth::{self, Caller};
use super::error::ApiError;
use super::AppState;
use crate::domain::access::{Action, Role};

/// How many live streams may be open, per account and in all.
pub struct StreamBudget {
    /// Streams one account may hold.
    per_account: usize,
    /// Streams all accounts together may hold.
    total: usize,
    /// Open streams by account id.
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream, given back when dropped (the client went away or the stream ended).
pub struct StreamSlot {
    budget: Arc<StreamBudget>,
    account_id: String,
}

impl StreamBudget {
    /// A budget of `per_account` streams per account and `total` in all.
    pub fn new(per_account: usize, total: usize) -> Arc<Self> {
        Arc::new(StreamBudget {
            per_account: per_account.max(1),
            total: total.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new stream of `account_id`, if the budget has room.
    pub fn take(self: &Arc<Self>, account_id: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(account_id).copied().unwrap_or(0);
        if total >= self.total || mine >= self.per_account {
            return None;
        }
        open.insert(account_id.to_owned(), mine + 1);
        Some(StreamSlot {
            budget: self.clone(),
            account_id: account_id.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.budget.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.account_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.account_id);
            }
        }
    }
}

/// What ends a stream, besides its client leaving.
enum End {
    /// The server stops.
    Shutdown,
    /// The key the stream was opened with no longer works.
    Revoked,
}

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let for_stream = state.clone();
    warp::path!("v1" / "stream")
        .and(super::get())
        .and(auth::caller(state, Action::Read, auth::Freshness::Cached))
        .and_then(move |caller: Caller| {
            let state = for_stream.clone();
            async move { open(caller, state) }
        })
}

fn open(caller: Caller, state: Arc<AppState>) -> Result<warp::reply::Response, warp::Rejection> {
    use warp::Reply;
    let slot = state.streams.take(&caller.account.id).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            "too many live streams are open for this account (or this server); close one",
        )
    })?;
    let receiver = state.live.subscribe();
    let revocations = state.revocations.subscribe();
    let mut recheck = tokio::time::interval_at(
        tokio::time::Instant::now() + auth::CACHE_TTL,
        auth::CACHE_TTL,
    );
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let context = Live {
        receiver,
        revocations,
        recheck,
        state,
        caller,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(context, |mut live| async move {
        loop {
            let Live {
                receiver,
                revocations,
                recheck,
                state,
                caller,
                ..
            } = &mut live;
            let next = tokio::select! {
                end = ended(revocations, recheck, state, caller) => {
                    if let End::Revoked = end {
                        tracing::debug!(account = %caller.account.id, "a live stream ended: its key was revoked");
                    }
                    return None;
                }
                next = receiver.recv() => next,
            };
            match next {
                Ok(event) if event.account_id == live.caller.account.id => {
                    let sse = warp::sse::Event::default()
                        .event(event.kind)
                        .data(event.data.to_string());
                    return Some((Ok::<_, Infallible>(sse), live));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    let sse = warp::sse::Event::default().event("lagged").data("{}");
                    return Some((Ok(sse), live));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(warp::sse::reply(
        warp::sse::keep_alive()
            .interval(Duration::from_secs(15))
            .stream(SyncStream(Mutex::new(Box::pin(events)))),
    )
    .into_response())
}

/// A stream that is `Sync` as warp wants it, though the store's futures it awaits are only
/// `Send`: it is only ever polled through `&mut`, so the mutex is never locked.
struct SyncStream<S>(Mutex<std::pin::Pin<Box<S>>>);

impl<S: futures_util::Stream> futures_util::Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        inner.as_mut().poll_next(cx)
    }
}

/// One open stream's state.
struct Live {
    receiver: tokio::sync::broadcast::Receiver<crate::live::LiveEvent>,
    /// Hashes of keys revoked through this instance.
    revocations: tokio::sync::broadcast::Receiver<String>,
    /// When to ask the store again whether the key still works.
    recheck: tokio::time::Interval,
    state: Arc<AppState>,
    caller: Caller,
    /// The stream's place in the budget, given back when it ends.
    _slot: StreamSlot,
}

/// Resolves when a stream opened by `caller` must end.
async fn ended(
    revocations: &mut tokio::sync::broadcast::Receiver<String>,
    recheck: &mut tokio::time::Interval,
    state: &AppState,
    caller: &Caller,
) -> End {
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            () = shutdown.wait() => return End::Shutdown,
            revoked = revocations.recv() => match revoked {
                Ok(hash) if hash == caller.key_hash => return End::Revoked,
                Ok(_) => {}
                // Missed some: the store says whether this key was among them.
                Err(RecvError::Lagged(_)) => {
                    if !key_works(state, caller).await {
                        return End::Revoked;
                    }
                }
                Err(RecvError::Closed) => return End::Shutdown,
            },
            _ = recheck.tick() => {
                if !key_works(state, caller).await {
                    return End::Revoked;
                }
            }
        }
    }
}

/// Whether the caller's credential still holds in the store (a failure to ask keeps the
/// stream: the store being away is not a revocation).
async fn key_works(state: &AppState, caller: &Caller) -> bool {
    let still = match caller.role {
        Role::Platform => state.app.platform_key_valid(&caller.key_hash).await,
        Role::Account(_) => state
            .app
            .account_key(&caller.key_hash)
            .await
            .map(|found| found.is_some_and(|(a, _)| a.id == caller.account.id)),
        Role::Portal { .. } => state
            .app
            .portal_session(&caller.key_hash)
            .await
            .map(|found| found.is_some()),
    };
    still.unwrap_or(true)
}
