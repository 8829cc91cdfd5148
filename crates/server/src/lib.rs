//! The cdhooks reference server: webhook registration, event emission, signed delivery with
//! retries and backoff, disabling with an email — one binary with an embedded SQLite store.
//!
//! # Layout
//! - [`http`]: the JSON API (warp), one file per resource, errors mapped to HTTP once.
//! - [`domain`]: the rules — validation, SSRF address checks, retry schedule, emails.
//! - [`store`]: persistence behind one trait; [`store::sqlite`] is the embedded default.
//! - [`delivery`]: the engine — claim, send, schedule, disable.
//! - [`mail`]: the outbox sender (SMTP or `.eml` files).
//! - [`shutdown`]: the one mechanism that stops everything gracefully.
//! - [`config`]: every flag; [`cli`]: the `cdhooks-server` command.

pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod live;
pub mod mail;
pub mod shutdown;
pub mod store;

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use config::ServeConfig;
use delivery::DeliveryEngine;
use shutdown::{Shutdown, ShutdownTrigger};
use store::sqlite::SqliteStore;
use store::Store;

/// How long in-flight attempts may run on after a stop was requested.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data dir or its lock could not be used.
    #[error("data dir: {0}")]
    DataDir(#[from] std::io::Error),
    /// Another server runs on this data dir.
    #[error("another cdhooks server is using {0}")]
    Locked(String),
    /// The store failed to open.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    /// The email transport is misconfigured.
    #[error("mail: {0}")]
    Mail(#[from] mail::MailError),
}

/// A running server.
pub struct Server {
    /// The address the API listens on.
    pub addr: SocketAddr,
    /// The store, for embedding and tests.
    pub store: Arc<SqliteStore>,
    /// The delivery engine, for embedding and tests.
    pub engine: Arc<DeliveryEngine>,
    trigger: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
    _lock: File,
}

impl Server {
    /// Stops claiming and accepting, lets in-flight attempts finish (bounded), and returns.
    pub async fn stop(self) {
        self.trigger.trigger();
        for task in self.tasks {
            let _ = task.await;
        }
        self.store.close().await;
    }
}

/// Opens the store and starts the API, the delivery engine and the mailer.
pub async fn start(config: ServeConfig) -> Result<Server, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let lock = File::create(config.data_dir.join("server.lock"))?;
    if lock.try_lock().is_err() {
        return Err(StartError::Locked(config.data_dir.display().to_string()));
    }
    let sqlite = Arc::new(SqliteStore::open(&config.data_dir).await?);
    let store: Arc<dyn Store> = sqlite.clone();
    let released = store.release_stale_claims(clock::now_ms()).await?;
    if released > 0 {
        tracing::info!(released, "re-queued deliveries claimed by a previous run");
    }
    let live = live::LiveHub::default();
    let engine = DeliveryEngine::new(store.clone(), &config, live.clone())?;
    let transport = mail::MailTransport::new(config.smtp_url.as_deref(), config.outbox_dir())?;
    let (trigger, shutdown) = shutdown::channel();

    let state = Arc::new(http::AppState {
        store: store.clone(),
        engine: engine.clone(),
        policy: config.target_policy(),
        live,
        shutdown: shutdown.clone(),
        www_dir: config.www_dir.clone(),
        pkg_dir: config.pkg_dir.clone(),
        accounts: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let mut http_shutdown: Shutdown = shutdown.clone();
    let server = warp::serve(http::routes(state))
        .incoming(listener)
        .graceful(async move { http_shutdown.wait().await });
    let tasks = vec![
        tokio::spawn(server.run()),
        tokio::spawn(engine.clone().run(shutdown.clone(), DRAIN)),
        tokio::spawn(mail::run(
            store,
            transport,
            config.email_from.clone(),
            shutdown,
        )),
    ];
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "cdhooks server listening");
    Ok(Server {
        addr,
        store: sqlite,
        engine,
        trigger,
        tasks,
        _lock: lock,
    })
}

/// Creates an account on the store in `data_dir` and returns its id and API key. Works while
/// a server runs on the same data dir.
pub async fn create_account(
    data_dir: &std::path::Path,
    email: &str,
) -> Result<(store::Account, String), StartError> {
    std::fs::create_dir_all(data_dir)?;
    let store = SqliteStore::open(data_dir).await?;
    let key = domain::api_key::generate();
    let account = store
        .create_account(email, &domain::api_key::hash(&key))
        .await?;
    store.close().await;
    Ok((account, key))
}
