//! Shared test harness: the real server on `127.0.0.1:0` over a real SQLite file, real HTTP
//! receivers on loopback, and a real SMTP sink over TCP.
#![allow(dead_code)]

pub mod data;
pub mod pg;
pub mod poll;
pub mod receiver;
pub mod smtp;

pub use data::valid_data;
#[allow(unused_imports)] // Not every suite uses both.
pub use poll::{eventually, eventually_async};

use std::time::Duration;

use cdhooks_server::config::ServeConfig;
use cdhooks_server::Server;
use serde_json::Value;

/// A started server with one account.
pub struct TestServer {
    pub server: Option<Server>,
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// What the server was started with (a restart reuses it: same data dir or database).
    pub config: Option<ServeConfig>,
}

/// Config for tests: loopback targets and http allowed, fast retries.
pub fn test_config(dir: &std::path::Path) -> ServeConfig {
    let mut config = ServeConfig::new(dir);
    config.allow_targets = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    config.allow_http = true;
    config.retry_base_ms = 20;
    config.attempt_timeout_ms = 2_000;
    config
}

/// Whether this run's server tests use PostgreSQL (`CDHOOKS_TEST_BACKEND=postgres`, set by
/// `make test` for its second pass over the API, delivery and fairness suites).
pub fn on_postgres() -> bool {
    std::env::var("CDHOOKS_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// [`test_config`] on this run's backend: a fresh PostgreSQL database, or the data dir's
/// embedded store.
pub async fn backend_config(dir: &std::path::Path) -> ServeConfig {
    let mut config = test_config(dir);
    if on_postgres() {
        config.database_url = Some(
            pg::fresh_database()
                .await
                .expect("CDHOOKS_TEST_BACKEND=postgres needs a cluster (scripts/with-postgres)"),
        );
    }
    config
}

impl TestServer {
    /// Starts a server with the test config on this run's backend, adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> TestServer {
        Self::start_on(tweak, None).await
    }

    /// Starts a server whose time is `clock`'s.
    pub async fn start_with_clock(
        clock: std::sync::Arc<cdhooks_server::clock::ManualClock>,
    ) -> TestServer {
        Self::start_on(|_| {}, Some(clock)).await
    }

    /// Starts a server with the test config adjusted by `tweak`, whose time is `clock`'s if
    /// one is given.
    pub async fn start_on(
        tweak: impl FnOnce(&mut ServeConfig),
        clock: Option<std::sync::Arc<cdhooks_server::clock::ManualClock>>,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = backend_config(dir.path()).await;
        tweak(&mut config);
        let (_, key) = cdhooks_server::create_account_in(
            dir.path(),
            config.database_url.as_deref(),
            "owner@example.com",
        )
        .await
        .unwrap();
        let server = match clock {
            Some(clock) => cdhooks_server::start_with_clock(config.clone(), clock)
                .await
                .unwrap(),
            None => cdhooks_server::start(config.clone()).await.unwrap(),
        };
        TestServer {
            base: format!("http://{}", server.addr),
            server: Some(server),
            key,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            dir,
            config: Some(config),
        }
    }

    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the account's key.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.key)
    }

    /// Sends and returns the status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.req(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Registers a webhook and returns its JSON.
    pub async fn webhook(&self, url: &str, events: &[&str], secret: &str) -> Value {
        let (status, body) = self
            .post(
                "/v1/webhooks",
                serde_json::json!({"url": url, "events": events, "secret": secret}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Emits an event and returns its JSON answer: `data` is the type's example with the
    /// given fields over it ([`valid_data`]).
    pub async fn emit(&self, event_type: &str, data: Value) -> Value {
        let (status, body) = self
            .post(
                "/v1/events",
                serde_json::json!({"type": event_type, "data": valid_data(event_type, data)}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body
    }

    /// A platform key made in the server's store, as `cdhooks-server platform-keys create`
    /// does.
    pub async fn platform_key(&self, name: &str) -> String {
        use cdhooks_server::domain::api_key;
        let key = api_key::generate_with(cdhooks_server::domain::access::PLATFORM_KEY_PREFIX);
        self.server
            .as_ref()
            .unwrap()
            .store
            .create_platform_key(
                name,
                &api_key::digest(&key),
                cdhooks_server::clock::now_ms(),
            )
            .await
            .unwrap();
        key
    }

    /// Creates a second account (through the store, as the CLI does) and returns its key.
    pub async fn other_account(&self) -> String {
        let key = cdhooks_server::domain::api_key::generate();
        let store = &self.server.as_ref().unwrap().store;
        store
            .create_account(
                "other@example.com",
                &cdhooks_server::domain::api_key::digest(&key),
                cdhooks_server::clock::now_ms(),
            )
            .await
            .unwrap();
        key
    }

    /// Polls `GET path` until `done` holds for the body, or panics after `timeout`.
    pub async fn wait_for(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        poll::until(timeout, || async {
            let (_, body) = self.get(path).await;
            if done(&body) {
                Ok(body)
            } else {
                Err(format!("{path}: {body}"))
            }
        })
        .await
    }

    /// Waits until the store has nothing left to do ([`settled`]).
    pub async fn settled(&self, timeout: Duration) {
        settled(&self.server.as_ref().expect("running").store, timeout).await;
    }

    /// Stops the server (gracefully) and starts it again with the same configuration.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        let config = self.config.clone().expect("started with a known config");
        let server = cdhooks_server::start(config).await.unwrap();
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Waits until `store` has nothing left to do — no delivery pending (due, scheduled for a
/// retry, or in flight) and no email unsent. After it nothing goes out that has not gone out
/// already, so a test may count requests and emails exactly, instead of sleeping "long
/// enough" for a duplicate to show.
pub async fn settled(store: &std::sync::Arc<dyn cdhooks_server::store::Store>, timeout: Duration) {
    poll::until(timeout, || async {
        let stats = store
            .queue_stats(cdhooks_server::clock::now_ms())
            .await
            .unwrap();
        if stats.pending == 0 && stats.outbox == 0 {
            Ok(())
        } else {
            Err(format!(
                "not settled: {} deliveries pending, {} emails unsent",
                stats.pending, stats.outbox
            ))
        }
    })
    .await
}

/// Waits until the server at `base` answers `GET /healthz` with 200 (a process just spawned,
/// or restarted after a crash); panics after 10 s.
pub async fn wait_healthy(http: &reqwest::Client, base: &str) {
    eventually_async(
        &format!("the server at {base} to come up"),
        Duration::from_secs(10),
        || async {
            let answer = http.get(format!("{base}/healthz")).send().await;
            answer.is_ok_and(|r| r.status() == 200)
        },
    )
    .await
}
