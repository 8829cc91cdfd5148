//! The cdhooks reference server: webhook registration, event emission, signed delivery with
//! retries and backoff, disabling with an email — one binary with an embedded SQLite store,
//! or any number of them on one PostgreSQL database.
//!
//! # Layout
//! The direction is one-way: `http` → `app` → `domain` and the `Store` trait → `store::sqlite`;
//! `delivery` and `mail` use the store and the domain, never HTTP.
//! - [`http`]: the JSON API (warp): parses requests, renders answers, maps errors once.
//! - [`app`]: the use cases (register a webhook, emit an event, retry a delivery, …).
//! - [`domain`]: the rules — validation, SSRF address checks, the delivery lifecycle, retry
//!   timing, fair claiming, emails; pure, time is an argument.
//! - [`store`]: persistence behind one trait; [`store::sqlite`] is the embedded default,
//!   [`store::postgres`] the shared one for several instances.
//! - [`delivery`]: the engine — claim, send, record; fair and bounded.
//! - [`clock`]: the one source of time, injectable for tests.
//! - [`mail`]: the outbox sender (SMTP or `.eml` files).
//! - [`shutdown`]: the one mechanism that stops everything gracefully.
//! - [`config`]: every flag; [`cli`]: the `cdhooks-server` command.

pub mod app;
pub mod capacity;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod live;
pub mod mail;
pub mod metrics;
pub mod private_files;
pub mod retention;
pub mod shutdown;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use clock::SharedClock;
use config::ServeConfig;
use delivery::DeliveryEngine;
use shutdown::ShutdownTrigger;
use store::postgres::PgStore;
use store::sqlite::SqliteStore;
use store::Store;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data dir could not be used.
    #[error("data dir: {0}")]
    DataDir(#[from] std::io::Error),
    /// A listener could not be bound (`flag` names the address's flag).
    #[error("{flag} {addr}: {error}")]
    Listen {
        /// `--bind` or `--metrics-bind`.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// Flags that cannot be used together.
    #[error("{0}")]
    Config(String),
    /// The store failed to open (or another server holds its data dir).
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    /// The email transport is misconfigured.
    #[error("mail: {0}")]
    Mail(#[from] mail::MailError),
    /// A `--target-ca-file` cannot be used.
    #[error("--target-ca-file {0}")]
    TargetCa(String),
    /// `--secret-key-file` cannot be used.
    #[error("secret key file: {0}")]
    SecretKey(String),
}

/// The sealer `--secret-key-file` names (none: secrets are stored as given).
fn sealer(config: &ServeConfig) -> Result<domain::sealing::Sealer, StartError> {
    match &config.secret_key_file {
        None => Ok(domain::sealing::Sealer::none()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::SecretKey(format!("{}: {e}", path.display())))?;
            domain::sealing::Sealer::from_key_text(&text)
                .map_err(|e| StartError::SecretKey(format!("{}: {e}", path.display())))
        }
    }
}

/// Refuses to start when the store holds sealed secrets the configured key cannot open: a
/// missing or wrong `--secret-key-file` is the operator's mistake, and delivering with it
/// would fail every attempt, disable healthy webhooks and email their owners.
async fn can_open_secrets(
    store: &dyn Store,
    sealer: &domain::sealing::Sealer,
    config: &ServeConfig,
) -> Result<(), StartError> {
    let Some(sample) = store.secret_like(domain::sealing::SEALED_LIKE).await? else {
        return Ok(());
    };
    sealer.open(&sample).map(|_| ()).map_err(|error| {
        StartError::SecretKey(match (error, &config.secret_key_file) {
            (domain::sealing::OpenError::NoKey, _) | (_, None) => "the store holds webhook secrets encrypted with a key, but no --secret-key-file is given: start with the key file they were sealed with".to_owned(),
            (domain::sealing::OpenError::WrongKey, Some(path)) => format!(
                "{}: this key does not open the webhook secrets in the store; start with the key file they were sealed with",
                path.display()
            ),
        })
    })
}

/// A running server.
pub struct Server {
    /// The address the API listens on.
    pub addr: SocketAddr,
    /// The address of `GET /metrics`, with `--metrics-bind`.
    pub metrics_addr: Option<SocketAddr>,
    /// The store, for embedding and tests.
    pub store: Arc<dyn Store>,
    /// The delivery engine, for embedding and tests.
    pub engine: Arc<DeliveryEngine>,
    /// The mailer's signals: tests wait on its rounds.
    pub mailbox: Arc<mail::Mailbox>,
    /// Ends the tasks.
    trigger: ShutdownTrigger,
    /// The API, the claim loop and the mailer.
    tasks: Vec<JoinHandle<()>>,
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
    start_with_clock(config, Arc::new(clock::SystemClock)).await
}

/// Like [`start`], with the given clock (tests move a [`clock::ManualClock`] by hand).
pub async fn start_with_clock(
    config: ServeConfig,
    clock: SharedClock,
) -> Result<Server, StartError> {
    if config.metrics_bind == Some(config.bind) && config.bind.port() != 0 {
        return Err(StartError::Config(format!(
            "--metrics-bind {} is the API's --bind address; give metrics a port of their own (e.g. 127.0.0.1:9090)",
            config.bind
        )));
    }
    let open_files = capacity::raise_open_file_limit();
    let capacity = capacity::plan(
        config.workers,
        config.max_in_flight,
        config.max_connections,
        config.database_pool,
        open_files,
    )
    .map_err(StartError::Config)?;
    let store = open_store(&config).await?;
    let sealer = sealer(&config)?;
    can_open_secrets(&*store, &sealer, &config).await?;
    let live = live::LiveHub::new(store.live_relay());
    let metrics = Arc::new(metrics::Metrics::new());
    let roots =
        delivery::tls::endpoint_roots(&config.target_ca_file).map_err(StartError::TargetCa)?;
    let mailbox = mail::Mailbox::new();
    let engine = DeliveryEngine::new(
        store.clone(),
        &config,
        delivery::Reach { capacity, roots },
        clock.clone(),
        delivery::Listeners {
            live: live.clone(),
            mailbox: mailbox.clone(),
        },
        metrics.clone(),
        sealer.clone(),
    )?;
    let transport = mail::MailTransport::new(
        config.smtp_url.as_deref(),
        config.smtp_ca_file.as_deref(),
        config.outbox_dir(),
    )?;
    let (trigger, shutdown) = shutdown::channel();

    let app = Arc::new(app::App::new(
        store.clone(),
        Arc::new(engine.clone()),
        config.target_policy(),
        clock.clone(),
        sealer,
    ));
    let assets = http::assets::Assets {
        www_dir: config.www_dir.clone(),
        pkg_dir: config.pkg_dir.clone(),
    };
    let missing = assets.missing().await;
    if !missing.is_empty() {
        tracing::warn!(
            missing = missing.join(", "),
            "the browser tool is incomplete (build the npm package with `make pkg`, then the server)"
        );
    }
    let state = Arc::new(http::AppState {
        app,
        live,
        shutdown: shutdown.clone(),
        assets,
        credentials: Default::default(),
        metrics: metrics.clone(),
        streams: http::stream::StreamBudget::new(
            config.max_streams_per_account,
            config.max_connections / 4,
        ),
        revocations: tokio::sync::broadcast::channel(64).0,
        public_url: config.public_url.clone(),
    });
    let listener = bind("--bind", config.bind).await?;
    let addr = listener.local_addr()?;
    let limits = http::serve::Limits {
        max_connections: config.max_connections,
        header_timeout: Duration::from_millis(config.header_timeout_ms.max(1)),
        body_timeout: Duration::from_millis(config.body_timeout_ms.max(1)),
    };
    let server = http::serve::serve(listener, http::routes(state), limits, shutdown.clone());
    let metrics_listener = match config.metrics_bind {
        Some(addr) => Some(bind("--metrics-bind", addr).await?),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let mut tasks = vec![
        tokio::spawn(server),
        tokio::spawn(engine.clone().run(
            shutdown.clone(),
            Duration::from_millis(config.shutdown_grace_ms),
        )),
        tokio::spawn(mail::run(
            store.clone(),
            transport,
            config.email_from.clone(),
            clock.clone(),
            metrics.clone(),
            mailbox.clone(),
            shutdown.clone(),
        )),
    ];
    tasks.push(tokio::spawn(retention::run(
        store.clone(),
        clock.clone(),
        config.retention_days,
        shutdown.clone(),
    )));
    if let Some(listener) = metrics_listener {
        tasks.push(tokio::spawn(http::metrics::serve(
            listener,
            metrics,
            store.clone(),
            clock,
            shutdown,
        )));
    }
    if let Some(metrics_addr) = metrics_addr {
        tracing::info!(%metrics_addr, "metrics at http://{metrics_addr}/metrics");
    }
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "cdhooks server listening");
    tracing::info!(
        attempts = capacity.workers,
        max_in_flight = capacity.max_in_flight,
        per_webhook = config.per_webhook_concurrency,
        connections = config.max_connections,
        open_files = open_files.map_or_else(|| "unknown".to_owned(), |l| l.to_string()),
        "capacity: {} attempts in flight, growing to {} while endpoints keep them waiting ({} per webhook), and {} HTTP connections",
        capacity.workers,
        capacity.max_in_flight,
        config.per_webhook_concurrency,
        config.max_connections
    );
    Ok(Server {
        addr,
        metrics_addr,
        store,
        engine,
        mailbox,
        trigger,
        tasks,
    })
}

/// A listener on `addr`, or the error naming its flag.
async fn bind(flag: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| StartError::Listen { flag, addr, error })
}

/// The store the configuration names: PostgreSQL with `--database-url`, else the embedded
/// SQLite file in the data dir (locked for this server).
async fn open_store(config: &ServeConfig) -> Result<Arc<dyn Store>, StartError> {
    private_files::create_dir(&config.data_dir)?;
    Ok(match &config.database_url {
        Some(url) => Arc::new(PgStore::connect(url, config.database_pool).await?),
        None => Arc::new(
            SqliteStore::open_for_server(
                &config.data_dir,
                config.max_database_mb.map(|mb| mb * 1024 * 1024),
            )
            .await?,
        ),
    })
}

/// Creates an account on the embedded store in `data_dir` and returns its id and API key.
/// Works while a server runs on the same data dir.
pub async fn create_account(
    data_dir: &std::path::Path,
    email: &str,
) -> Result<(store::Account, String), StartError> {
    create_account_in(data_dir, None, email).await
}

/// Opens the store a command-line tool works on beside a running server: PostgreSQL at
/// `database_url` if given, else the embedded store in `data_dir`.
pub async fn open_store_at(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> Result<Arc<dyn Store>, StartError> {
    Ok(match database_url {
        Some(url) => Arc::new(PgStore::connect(url, 2).await?),
        None => {
            private_files::create_dir(data_dir)?;
            Arc::new(SqliteStore::open(data_dir).await?)
        }
    })
}

/// Creates an account on PostgreSQL at `database_url` if given, else on the embedded store
/// in `data_dir`, and returns its id and API key.
pub async fn create_account_in(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    email: &str,
) -> Result<(store::Account, String), StartError> {
    let store = open_store_at(data_dir, database_url).await?;
    let key = domain::api_key::generate();
    let account = store
        .create_account(email, &domain::api_key::digest(&key), clock::now_ms())
        .await?;
    store.close().await;
    Ok((account, key))
}
