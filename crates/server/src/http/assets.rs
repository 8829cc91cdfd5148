//! The browser tool (`www/`) at `/`, and the npm package's browser build at `/pkg/`, with a
//! Content-Security-Policy that keeps the page from talking to any other host.

use std::sync::Arc;

use warp::Filter;

use super::AppState;

/// Only this origin; wasm may be compiled (`wasm-unsafe-eval`), nothing is inlined.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The routes.
pub fn routes(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let pkg_src = warp::path!("pkg" / "src" / ..).and(warp::fs::dir(state.pkg_dir.join("src")));
    let pkg_gen = warp::path!("pkg" / "gen" / "web" / ..)
        .and(warp::fs::dir(state.pkg_dir.join("gen").join("web")));
    let www = warp::fs::dir(state.www_dir.clone());
    warp::get()
        .and(pkg_src.or(pkg_gen).unify().or(www).unify())
        .map(|file: warp::fs::File| {
            use warp::Reply;
            let mut response = file.into_response();
            let headers = response.headers_mut();
            headers.insert(
                "content-security-policy",
                warp::http::HeaderValue::from_static(CSP),
            );
            headers.insert(
                "x-content-type-options",
                warp::http::HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                "referrer-policy",
                warp::http::HeaderValue::from_static("no-referrer"),
            );
            response
        })
}
