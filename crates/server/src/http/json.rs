//! Request bodies in, JSON out: strict parsing with clear errors, and time formatting.

use bytes::Bytes;
use cdhooks_core::timestamp::Timestamp;
use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: u64 = 256 * 1024;

/// The raw body, at most [`MAX_BODY_BYTES`], within the listener's body deadline (`408`).
pub fn body() -> impl Filter<Extract = (Bytes,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(MAX_BODY_BYTES)
        .and(warp::body::stream())
        .and_then(collect_limited)
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
    while let Some(mut chunk) = stream.try_next().await.map_err(unreadable)? {
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

/// The answer to a body that could not be read: too slow (`408`), or broken off.
fn unreadable(error: warp::Error) -> warp::Rejection {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = cause {
        if let Some(timeout) = current.downcast_ref::<super::serve::BodyTimeout>() {
            return warp::reject::custom(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("{timeout}; send the whole body at once"),
            ));
        }
        cause = current.source();
    }
    warp::reject::custom(ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("the request body could not be read: {error}"),
    ))
}

/// Parses an optional JSON body: none, only whitespace, or `null` is `T::default()`.
pub fn parse_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if serde_json::from_slice::<()>(body).is_ok() {
        return Ok(T::default()); // `null`
    }
    parse(body)
}

/// The deepest nesting of arrays and objects a body may have. Deeper documents are refused:
/// receivers' JSON parsers fail on them (Python's raises RecursionError near 1,000 levels), so
/// accepting one would accept an event no one can read.
pub const MAX_JSON_DEPTH: usize = 64;

/// Parses a JSON body into `T`, telling syntax errors from shape errors, and naming the
/// field at fault in plain words.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Every request body of the API is an object (serde would also take a struct as an array).
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be a JSON object",
            )
            .with_field("body"))
        }
        _ => {}
    }
    if json_depth(body) > MAX_JSON_DEPTH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body nests arrays or objects deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    let syntax = |e: &serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        use serde_json::error::Category;
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => syntax(&inner),
            Category::Data => shape_error(&path, &inner),
        }
    })?;
    deserializer.end().map_err(|e| syntax(&e))?;
    Ok(value)
}

/// A body of the wrong shape, said in plain words with the field it is about.
fn shape_error(path: &str, error: &serde_json::Error) -> ApiError {
    let text = error.to_string();
    // serde's messages end with the position, which means nothing to people reading them.
    let text = text.split(" at line ").next().unwrap_or(&text);
    let quoted = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let within = |name: &str| match path {
        "." | "" => name.to_owned(),
        parent => format!("{parent}.{name}"),
    };
    let (field, message) = if let Some(name) = quoted("missing field `") {
        let field = within(&name);
        (field.clone(), format!("`{field}` is required"))
    } else if let Some(name) = quoted("unknown field `") {
        // The path already ends at the unknown field.
        let field = if path.is_empty() || path == "." {
            name
        } else {
            path.to_owned()
        };
        let expected = text
            .split_once(", expected ")
            .map(|(_, e)| format!("; expected {e}"))
            .unwrap_or_default();
        (
            field.clone(),
            format!("`{field}` is not a field of this request{expected}"),
        )
    } else if path == "." || path.is_empty() {
        (
            "body".to_owned(),
            format!("the body has the wrong shape: {text}"),
        )
    } else {
        (
            path.to_owned(),
            format!("`{path}` has the wrong type or value: {text}"),
        )
    };
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).with_field(field)
}

/// The deepest nesting of `[` and `{` outside strings (the body need not be valid JSON).
fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// RFC 3339 UTC at second precision, from Unix ms (the event envelope's format).
fn time(ms: i64) -> String {
    Timestamp::from_unix(ms.div_euclid(1000))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// RFC 3339 UTC at millisecond precision, from Unix ms: every time the API shows
/// (`2025-01-15T10:30:00.042Z`), except the event envelope's `created_at`, which receivers
/// already parse in whole seconds.
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
    fn depth_counts_only_structure_outside_strings() {
        assert_eq!(json_depth(br#"{"a":[1,{"b":"[[[{{"}]}"#), 3);
        assert_eq!(json_depth(br#"{"a":"\"[[["}"#), 1);
        let nested = |levels: usize| r#"{"a":"#.repeat(levels) + "1" + &"}".repeat(levels);
        assert_eq!(
            parse::<serde_json::Value>(nested(65).as_bytes())
                .unwrap_err()
                .code,
            "invalid_json"
        );
        assert!(parse::<serde_json::Value>(nested(64).as_bytes()).is_ok());
        // Bodies are objects: an array is refused, also where a struct would take it.
        assert_eq!(
            parse::<serde_json::Value>(b"[1]").unwrap_err().code,
            "invalid_request"
        );
    }

    #[test]
    fn shape_errors_name_the_field_in_plain_words() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            data: u32,
            events: Vec<String>,
        }
        let error = parse::<Body>(br#"{"events":[]}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("data"));
        assert_eq!(error.message, "`data` is required");
        let error = parse::<Body>(br#"{"data":1,"events":["a",2]}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("events[1]"));
        assert!(!error.message.contains("line"), "{}", error.message);
        let error = parse::<Body>(br#"{"data":1,"events":[],"colour":1}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("colour"));
    }

    #[test]
    fn times() {
        assert_eq!(time(1_736_937_000_999), "2025-01-15T10:30:00Z");
        assert_eq!(time_ms(1_736_937_000_042), "2025-01-15T10:30:00.042Z");
    }
}
