//! Request bodies in, JSON out: strict parsing with clear errors, and time formatting.

use bytes::Bytes;
use cdhooks_core::timestamp::Timestamp;
use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: u64 = 256 * 1024;

/// The raw body, at most [`MAX_BODY_BYTES`].
pub fn body() -> impl Filter<Extract = (Bytes,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(MAX_BODY_BYTES).and(warp::body::bytes())
}

/// The raw body of a route where it is optional: none at all (no `Content-Length`, as
/// `curl -X POST` sends) is an empty body; at most [`MAX_BODY_BYTES`] either way.
pub fn optional_body() -> impl Filter<Extract = (Bytes,), Error = warp::Rejection> + Clone {
    warp::body::stream().and_then(collect_limited)
}

async fn collect_limited<S, B>(stream: S) -> Result<Bytes, warp::Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures_util::TryStreamExt;
    let mut body = bytes::BytesMut::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(mut chunk) = stream.try_next().await.map_err(|e| {
        warp::reject::custom(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the request body could not be read: {e}"),
        ))
    })? {
        if body.len() + chunk.remaining() > MAX_BODY_BYTES as usize {
            return Err(warp::reject::custom(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than 256 KiB",
            )));
        }
        while chunk.has_remaining() {
            let n = chunk.chunk().len();
            body.extend_from_slice(chunk.chunk());
            chunk.advance(n);
        }
    }
    Ok(body.freeze())
}

/// Parses an optional JSON body: empty (or only whitespace) is `T::default()`.
pub fn parse_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(body)
}

/// Parses a JSON body into `T`, telling syntax errors from shape errors.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            ),
            Category::Data => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
            }
        }
    })
}

/// RFC 3339 UTC at second precision, from Unix ms.
pub fn time(ms: i64) -> String {
    Timestamp::from_unix(ms.div_euclid(1000))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// RFC 3339 UTC at millisecond precision, from Unix ms.
pub fn time_ms(ms: i64) -> String {
    let seconds = time(ms);
    match seconds.strip_suffix('Z') {
        Some(base) => format!("{base}.{:03}Z", ms.rem_euclid(1000)),
        None => seconds,
    }
}

/// A reply with a status and a JSON body.
pub fn reply(status: StatusCode, value: &impl serde::Serialize) -> warp::reply::Response {
    use warp::Reply;
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time(1_736_937_000_999), "2025-01-15T10:30:00Z");
        assert_eq!(time_ms(1_736_937_000_042), "2025-01-15T10:30:00.042Z");
    }
}
