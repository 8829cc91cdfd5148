//! The OpenAPI document against the server: `docs/openapi.json` is what the server serves
//! (`make openapi` rewrites it), every route the server defines is documented and every
//! documented operation is served, and a method a route does not take is `405` with `Allow`.

mod support;

use std::collections::BTreeSet;

use reqwest::Method;
use support::TestServer;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

fn rendered() -> String {
    let doc = cdhooks_server::http::openapi::document();
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

#[test]
fn the_committed_document_is_the_one_the_server_serves() {
    let expected = rendered();
    if std::env::var_os("CDHOOKS_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &expected).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/openapi.json is stale: run `make openapi` and commit it"
    );
}

/// The path templates of every `warp::path!(…)` in the HTTP layer's source, as `/a/{}/b`
/// (but `/metrics`, served on its own listener, `--metrics-bind`, and not part of the API).
fn served_paths() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut paths = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.ends_with("metrics.rs") {
            continue;
        }
        let source = std::fs::read_to_string(path).unwrap();
        for (_, rest) in source
            .match_indices("warp::path!(")
            .map(|(i, _)| ((), &source[i + 12..]))
        {
            let inner = &rest[..rest.find(')').unwrap()];
            let segments: Vec<String> = inner
                .split('/')
                .map(|s| s.trim())
                .filter(|s| !s.is_empty() && *s != "..")
                .map(|s| {
                    if s.starts_with('"') {
                        s.trim_matches('"').to_owned()
                    } else {
                        "{}".to_owned()
                    }
                })
                .collect();
            paths.insert(format!("/{}", segments.join("/")));
        }
    }
    paths
}

fn documented() -> Vec<(String, Vec<Method>)> {
    let doc = cdhooks_server::http::openapi::document();
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, operations)| {
            let methods = operations
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase().parse().unwrap())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// `/v1/webhooks/{id}` → `/v1/webhooks/{}`.
fn template(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_a_route() {
    let served = served_paths();
    let documented: BTreeSet<String> = documented().iter().map(|(p, _)| template(p)).collect();
    assert!(served.len() >= 15, "found only {served:?}");
    let missing: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in the document: {missing:?}"
    );
    assert!(
        unserved.is_empty(),
        "in the document but not served: {unserved:?}"
    );
}

#[tokio::test]
async fn documented_methods_are_served_and_others_are_405_with_allow() {
    let s = TestServer::start().await;
    let all = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    for (path, methods) in documented() {
        if path == "/v1/stream" {
            continue; // an endless response; its route is checked above
        }
        let concrete = path
            .replace("{id}", "wh_00000000000000000000000000000000")
            .replace("{token}", "inb_00000000000000000000000000000000");
        for method in &all {
            let response = s.req(method.clone(), &concrete).send().await.unwrap();
            let status = response.status().as_u16();
            let allow = response
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if methods.contains(method) {
                assert_ne!(status, 405, "{method} {path} is documented but refused");
                assert_ne!(
                    body["error"]["message"], "no such route",
                    "{method} {path} is documented but not routed"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {path} is not documented but answered {status}"
                );
                let allow = allow.unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"));
                for documented in &methods {
                    assert!(
                        allow.contains(documented.as_str()),
                        "{path}: Allow {allow:?} lacks {documented}"
                    );
                }
            }
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn a_path_that_is_no_route_is_404_for_every_method() {
    let s = TestServer::start().await;
    for (method, path) in [
        (Method::POST, "/v1/nope"),
        (Method::GET, "/v1/nope"),
        (Method::DELETE, "/v1/deliveries/x/y"),
        (Method::PUT, "/v1/webhooks/wh_1/nope"),
    ] {
        let response = s.req(method.clone(), path).send().await.unwrap();
        let status = response.status().as_u16();
        let allow = response.headers().get("allow").cloned();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{method} {path}");
        assert!(allow.is_none(), "{method} {path}");
    }
    s.stop().await;
}
