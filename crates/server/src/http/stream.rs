//! `GET /v1/stream`: the account's live events as Server-Sent Events (delivery attempts,
//! inbox captures). The stream ends when the server stops, so shutdown is never held up.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use warp::Filter;

use super::{auth, AppState};
use crate::store::Account;

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let for_stream = state.clone();
    warp::path!("v1" / "stream")
        .and(super::get())
        .and(auth::account(state))
        .map(move |account: Account| {
            use warp::Reply;
            let receiver = for_stream.live.subscribe();
            let shutdown = for_stream.shutdown.clone();
            let events = futures_util::stream::unfold(
                (receiver, shutdown, account.id),
                |(mut rx, mut shutdown, account_id)| async move {
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.wait() => return None,
                            next = rx.recv() => next,
                        };
                        match next {
                            Ok(event) if event.account_id == account_id => {
                                let sse = warp::sse::Event::default()
                                    .event(event.kind)
                                    .data(event.data.to_string());
                                return Some((
                                    Ok::<_, Infallible>(sse),
                                    (rx, shutdown, account_id),
                                ));
                            }
                            Ok(_) => continue,
                            Err(RecvError::Lagged(_)) => {
                                let sse = warp::sse::Event::default().event("lagged").data("{}");
                                return Some((Ok(sse), (rx, shutdown, account_id)));
                            }
                            Err(RecvError::Closed) => return None,
                        }
                    }
                },
            );
            warp::sse::reply(
                warp::sse::keep_alive()
                    .interval(Duration::from_secs(15))
                    .stream(events),
            )
            .into_response()
        })
}
