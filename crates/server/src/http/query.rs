//! Query strings of the list routes, checked strictly: an unknown, repeated or malformed
//! parameter is `400 invalid_query` naming it, never ignored (a typo in `limit` would
//! otherwise silently give the default page) and never another route's error.

use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;
use super::{DEFAULT_PAGE, MAX_PAGE};

/// The raw query string, empty when there is none.
pub fn raw() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// The filters a list was given: (name, value), each name at most once.
pub type Filters = Vec<(&'static str, String)>;

/// `limit` and the `after` cursor of a list.
#[derive(Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// Page size, 1 to [`MAX_PAGE`] (default [`DEFAULT_PAGE`]).
    pub limit: u32,
    /// The last id of the previous page.
    pub after: Option<String>,
}

fn invalid(field: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message).with_field(field)
}

impl PageQuery {
    /// Parses `limit` and `after`; `after` must be an id with `cursor_prefix` (`wh_`, `dlv_`).
    pub fn parse(raw: &str, cursor_prefix: &str) -> Result<Self, ApiError> {
        Ok(Self::parse_filtered(raw, cursor_prefix, &[])?.0)
    }

    /// Parses `limit`, `after` and the list's own `filters` (each at most once, non-empty);
    /// returns the page and the filters given, by name.
    pub fn parse_filtered(
        raw: &str,
        cursor_prefix: &str,
        filters: &[&'static str],
    ) -> Result<(Self, Filters), ApiError> {
        let mut limit = None;
        let mut after = None;
        let mut given: Filters = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            match name.as_ref() {
                "limit" if limit.is_none() => {
                    let n = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE).contains(n))
                        .ok_or_else(|| {
                            invalid(
                                "limit",
                                format!("limit must be a whole number from 1 to {MAX_PAGE}; got {value:?}"),
                            )
                        })?;
                    limit = Some(n);
                }
                "after" if after.is_none() => {
                    if !is_id(&value, cursor_prefix) {
                        return Err(invalid(
                            "after",
                            format!("after must be an id from a previous page ({cursor_prefix}…); got {value:?}"),
                        ));
                    }
                    after = Some(value.into_owned());
                }
                "limit" | "after" => {
                    let field = if name == "limit" { "limit" } else { "after" };
                    return Err(invalid(field, format!("{field} is given more than once")));
                }
                other => {
                    let Some(&filter) = filters.iter().find(|f| **f == other) else {
                        let takes = ["limit", "after"]
                            .iter()
                            .chain(filters)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ");
                        return Err(invalid(
                            "query",
                            format!("unknown query parameter {other:?}; this list takes {takes}"),
                        ));
                    };
                    if given.iter().any(|(f, _)| *f == filter) || value.is_empty() {
                        return Err(invalid(
                            filter,
                            format!("{filter} must be given once, not empty"),
                        ));
                    }
                    given.push((filter, value.into_owned()));
                }
            }
        }
        Ok((
            PageQuery {
                limit: limit.unwrap_or(DEFAULT_PAGE),
                after,
            },
            given,
        ))
    }
}

/// Whether `text` is `prefix` followed by 32 lowercase hex digits, as ids are made.
pub fn is_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_queries() {
        let id = format!("wh_{}", "a".repeat(32));
        assert_eq!(
            PageQuery::parse("", "wh_").unwrap(),
            PageQuery {
                limit: DEFAULT_PAGE,
                after: None
            }
        );
        assert_eq!(
            PageQuery::parse(&format!("limit=200&after={id}"), "wh_").unwrap(),
            PageQuery {
                limit: 200,
                after: Some(id)
            }
        );
    }

    #[test]
    fn bad_queries_name_their_parameter() {
        for (query, field) in [
            ("limit=-1", "limit"),
            ("limit=0", "limit"),
            ("limit=1e9", "limit"),
            ("limit=4294967296", "limit"),
            ("limit=abc", "limit"),
            ("limit=201", "limit"),
            ("limit=1&limit=2", "limit"),
            ("after=garbage", "after"),
            ("after=dlv_00000000000000000000000000000000", "after"),
            ("colour=blue", "query"),
        ] {
            let error = PageQuery::parse(query, "wh_").unwrap_err();
            assert_eq!(
                (error.code, error.field.as_deref()),
                ("invalid_query", Some(field)),
                "{query}"
            );
        }
    }
}
