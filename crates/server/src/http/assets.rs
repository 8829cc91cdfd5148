//! The browser tool (`www/`) at `/`, and the npm package's browser build at `/pkg/`, with a
//! Content-Security-Policy that keeps the page from talking to any other host.
//!
//! Release builds carry the files inside the binary, so the server serves the tool from any
//! working directory; `--www-dir` / `--pkg-dir` serve them from disk instead while developing.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_embed::Embed;
use warp::http::{header, HeaderValue, StatusCode};
use warp::Filter;

use super::AppState;

/// Only this origin; wasm may be compiled (`wasm-unsafe-eval`), nothing is inlined.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The browser tool, as built into the binary.
#[derive(Embed)]
#[folder = "../../www"]
#[allow_missing = true]
struct EmbeddedWww;

/// The package's sources and its web build (`make pkg` writes `gen/web`), as built in.
#[derive(Embed)]
#[folder = "../../pkg"]
#[include = "src/*"]
#[include = "gen/web/*"]
#[allow_missing = true]
struct EmbeddedPkg;

/// Files the tool cannot work without — every file the page loads, and what those import (a
/// test walks the imports to keep this complete); a warning at start names any that is missing.
const REQUIRED: [&str; 16] = [
    "index.html",
    "style.css",
    "app.mjs",
    "api.mjs",
    "dashboard.mjs",
    "dom.mjs",
    "inbox.mjs",
    "verify.mjs",
    "pkg/src/browser.mjs",
    "pkg/src/api.mjs",
    "pkg/gen/web/cdhooks_wasm.js",
    "pkg/gen/web/wasm_inline.mjs",
    "pkg/gen/web/cdhooks_wasm_bg.wasm",
    "pkg/gen/web/cdhooks_full.js",
    "pkg/gen/web/full_inline.mjs",
    "pkg/gen/web/cdhooks_full_bg.wasm",
];

/// Where the tool's files come from: each tree built into the binary, or read from a
/// directory on each request (while developing the tool).
#[derive(Debug, Clone, Default)]
pub struct Assets {
    /// `www/` on disk, if not the built-in one.
    pub www_dir: Option<PathBuf>,
    /// `pkg/` on disk, if not the built-in one.
    pub pkg_dir: Option<PathBuf>,
}

/// One file to serve.
struct Asset {
    bytes: Cow<'static, [u8]>,
    content_type: String,
}

impl Assets {
    /// The required files that are missing, so that start-up can say so.
    pub async fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        for path in REQUIRED {
            if self.get(path).await.is_none() {
                missing.push(path);
            }
        }
        missing
    }

    async fn get(&self, path: &str) -> Option<Asset> {
        let path = match path {
            "" => "index.html",
            "favicon.ico" => "favicon.svg",
            other => other,
        };
        if !path.split('/').all(safe_segment) {
            return None;
        }
        let bytes = match path.strip_prefix("pkg/") {
            Some(rest) if rest.starts_with("src/") || rest.starts_with("gen/web/") => {
                match &self.pkg_dir {
                    Some(dir) => read(dir, rest).await?,
                    None => EmbeddedPkg::get(rest)?.data,
                }
            }
            Some(_) => return None,
            None => match &self.www_dir {
                Some(dir) => read(dir, path).await?,
                None => EmbeddedWww::get(path)?.data,
            },
        };
        Some(Asset {
            bytes,
            content_type: content_type(path),
        })
    }
}

/// A plain file or directory name: no `..`, no hidden files, nothing a file system reads
/// specially.
fn safe_segment(segment: &str) -> bool {
    !segment.is_empty()
        && !segment.starts_with('.')
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    match mime.type_() {
        mime_guess::mime::TEXT | mime_guess::mime::JAVASCRIPT => format!("{mime}; charset=utf-8"),
        _ => mime.to_string(),
    }
}

async fn read(dir: &Path, path: &str) -> Option<Cow<'static, [u8]>> {
    tokio::fs::read(dir.join(path)).await.ok().map(Cow::Owned)
}

/// The routes: `GET`/`HEAD` of any path outside the API. An unknown path under `/v1` is the
/// API's `404 not_found`, never a file lookup.
pub fn routes(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let assets = Arc::new(state.assets.clone());
    super::get()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(move |path: warp::path::FullPath, if_none_match| {
            let assets = assets.clone();
            async move { serve(&assets, path.as_str(), if_none_match).await }
        })
}

async fn serve(
    assets: &Assets,
    path: &str,
    if_none_match: Option<String>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let path = path.trim_start_matches('/');
    if path == "v1" || path.starts_with("v1/") {
        return Err(warp::reject::not_found());
    }
    let Some(asset) = assets.get(path).await else {
        return Err(warp::reject::not_found());
    };
    let etag = format!("\"{}\"", short_hash(&asset.bytes));
    let mut response = if if_none_match.as_deref() == Some(etag.as_str()) {
        let mut response = warp::reply::Response::new(Vec::new().into());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = warp::reply::Response::new(asset.bytes.into_owned().into());
        if let Ok(value) = HeaderValue::from_str(&asset.content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// A content hash for the `ETag` (not a security property: SHA-256 is simply at hand).
fn short_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    base16ct::lower::encode_string(&digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file a reference in `from` (a served path such as `app.mjs` or `pkg/src/api.mjs`)
    /// points to, as a served path.
    fn resolve(from: &str, reference: &str) -> String {
        if let Some(absolute) = reference.strip_prefix('/') {
            return absolute.to_owned();
        }
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for segment in reference.split('/') {
            match segment {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }

    /// The source of a served path in the repository, if it is not generated.
    fn source(path: &str) -> Option<String> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let file = match path.strip_prefix("pkg/") {
            Some(rest) if rest.starts_with("gen/") => return None,
            Some(rest) => format!("{root}/pkg/{rest}"),
            None => format!("{root}/www/{path}"),
        };
        Some(std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    /// The references in a file: `src="…"`/`href="…"` of the page, `from '…'` of modules.
    fn references(text: &str) -> Vec<String> {
        let pattern =
            regex::Regex::new(r##"(?:src|href)="(/[^"#]+\.(?:mjs|css))"|from '([^']+)'"##).unwrap();
        pattern
            .captures_iter(text)
            .filter_map(|c| c.get(1).or(c.get(2)).map(|m| m.as_str().to_owned()))
            .collect()
    }

    #[test]
    fn every_file_the_page_loads_is_required() {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec!["index.html".to_owned()];
        while let Some(path) = todo.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            if let Some(text) = source(&path) {
                todo.extend(references(&text).iter().map(|r| resolve(&path, r)));
            }
        }
        assert!(seen.len() >= 10, "{seen:?}");
        for path in &seen {
            assert!(
                REQUIRED.contains(&path.as_str()),
                "{path} is loaded by the tool but not in REQUIRED"
            );
        }
    }
}
