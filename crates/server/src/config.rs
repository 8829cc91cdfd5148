//! All configuration in one place: the `serve` flags, each also read from `CDHOOKS_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::domain::target::TargetPolicy;

/// How the server runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "CDHOOKS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Directory of the embedded database and the email outbox.
    #[arg(long, env = "CDHOOKS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL instead of the embedded store, e.g.
    /// postgres://user:pass@host:5432/cdhooks; any number of servers may share it.
    #[arg(long, env = "CDHOOKS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Connections to PostgreSQL this server keeps at most.
    #[arg(long, env = "CDHOOKS_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: u32,
    /// SMTP server for emails: `smtp://host:port` (plain, for local sinks),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS required) or
    /// `smtps://user:pass@host:465` (TLS from the first byte). Without it emails are written
    /// as .eml files into `<data-dir>/outbox/`.
    #[arg(long, env = "CDHOOKS_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender address of emails.
    #[arg(
        long,
        env = "CDHOOKS_EMAIL_FROM",
        default_value = "cdhooks <noreply@cdhooks.localhost>"
    )]
    pub email_from: String,
    /// Delivery targets inside this range are allowed although private or loopback (repeatable).
    #[arg(
        long = "allow-target",
        env = "CDHOOKS_ALLOW_TARGET",
        value_delimiter = ','
    )]
    pub allow_targets: Vec<IpNet>,
    /// Accept http:// webhook URLs (default: https only).
    #[arg(long, env = "CDHOOKS_ALLOW_HTTP")]
    pub allow_http: bool,
    /// Delay after a first failed attempt; attempt n+1 follows after base × 4^(n-1).
    #[arg(long, env = "CDHOOKS_RETRY_BASE_MS", default_value_t = 60_000)]
    pub retry_base_ms: u64,
    /// Failed attempts after which a delivery fails and its webhook is disabled.
    #[arg(long, env = "CDHOOKS_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Time one attempt may take, response included.
    #[arg(long, env = "CDHOOKS_ATTEMPT_TIMEOUT_MS", default_value_t = 10_000)]
    pub attempt_timeout_ms: u64,
    /// Attempts in flight at once to begin with, over all webhooks, and the fewest the
    /// engine keeps: enough to keep the CPU busy with endpoints that answer at once. While
    /// due deliveries wait for room and the process is not busy (its endpoints keep the
    /// attempts waiting), the room grows, up to `--max-in-flight`.
    #[arg(long, env = "CDHOOKS_WORKERS", default_value_t = 64)]
    pub workers: usize,
    /// The most attempts in flight at once while endpoints are slow (each takes an open file
    /// and 40 KiB over http, up to 115 KiB over TLS, while it waits). By default 4096, or fewer when the open-file limit
    /// cannot hold them (the start-up `capacity:` line says how many); a value the limit
    /// cannot hold is a start-up error.
    #[arg(long, env = "CDHOOKS_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Attempts in flight at once to one webhook, so a slow endpoint cannot starve the others.
    #[arg(long, env = "CDHOOKS_PER_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub per_webhook_concurrency: usize,
    /// Caps the embedded database's size (MiB): past it, writes fail with `storage_full`
    /// (507) instead of filling the disk. Unlimited by default.
    #[arg(long, env = "CDHOOKS_MAX_DATABASE_MB")]
    pub max_database_mb: Option<u64>,
    /// Days finished events, deliveries, attempts, inbox captures and sent emails are kept;
    /// older ones are removed in small batches in the background (0 keeps everything).
    /// Pending and paused deliveries are kept whatever their age.
    #[arg(long, env = "CDHOOKS_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// Store webhook signing secrets encrypted (XChaCha20-Poly1305) under the key in this
    /// file: 32 random bytes, base64 (`head -c 32 /dev/urandom | base64 > key`). Without it
    /// secrets are stored as given. Keep the file: without it sealed secrets cannot sign.
    #[arg(long, env = "CDHOOKS_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// A certificate authority (PEM) to trust for the SMTP server's TLS certificate, besides
    /// the public roots (for a private mail relay).
    #[arg(long, env = "CDHOOKS_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Certificate authorities (PEM files, repeatable; comma-separated in the environment) to
    /// trust for webhook endpoints' TLS certificates, besides the public roots: for endpoints
    /// in a network with a private CA.
    #[arg(long, env = "CDHOOKS_TARGET_CA_FILE", value_delimiter = ',')]
    pub target_ca_file: Vec<PathBuf>,
    /// Serve Prometheus/OpenMetrics metrics at `GET /metrics` on this address (off unless
    /// given; keep it off the public port, e.g. `127.0.0.1:9090`).
    #[arg(long, env = "CDHOOKS_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// HTTP connections served at once; past it new clients wait to be accepted (keep it
    /// below the process's open-file limit).
    #[arg(long, env = "CDHOOKS_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
    /// Time a client has to send a request's header, and that an idle kept-alive connection
    /// stays open (ms).
    #[arg(long, env = "CDHOOKS_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Time a client has to send a request's whole body once its header is in (ms); a body
    /// still arriving then is answered `408` and its connection closed.
    #[arg(long, env = "CDHOOKS_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,
    /// Live streams (`GET /v1/stream`) one account may hold open at once; all accounts
    /// together hold at most a quarter of `--max-connections`, so streams never take the
    /// connections ordinary requests need.
    #[arg(long, env = "CDHOOKS_MAX_STREAMS_PER_ACCOUNT", default_value_t = 4)]
    pub max_streams_per_account: usize,
    /// On SIGTERM, how long attempts in flight may run on (ms); nothing new starts. What is
    /// still in flight then is cut off and given back to the queue at once.
    #[arg(long, env = "CDHOOKS_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// Serve the browser tool (`/`) from this directory instead of the copy built into the
    /// binary (for working on the tool).
    #[arg(long, env = "CDHOOKS_WWW_DIR")]
    pub www_dir: Option<PathBuf>,
    /// Serve the npm package's browser build (`/pkg/`) from this package directory instead
    /// of the copy built into the binary.
    #[arg(long, env = "CDHOOKS_PKG_DIR")]
    pub pkg_dir: Option<PathBuf>,
    /// The address customers reach this server's dashboard at (`https://hooks.example.com`),
    /// for the links of portal sessions; by default the `Host` the request came to, over http.
    #[arg(long, env = "CDHOOKS_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
}

impl ServeConfig {
    /// The defaults, with the given data dir; for tests and embedding.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            database_url: None,
            database_pool: 16,
            smtp_url: None,
            email_from: "cdhooks <noreply@cdhooks.localhost>".to_owned(),
            allow_targets: Vec::new(),
            allow_http: false,
            retry_base_ms: 60_000,
            max_attempts: 5,
            attempt_timeout_ms: 10_000,
            workers: 64,
            max_in_flight: None,
            per_webhook_concurrency: 16,
            max_database_mb: None,
            metrics_bind: None,
            smtp_ca_file: None,
            target_ca_file: Vec::new(),
            retention_days: 30,
            secret_key_file: None,
            max_connections: 512,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            max_streams_per_account: 4,
            shutdown_grace_ms: 10_000,
            www_dir: None,
            pkg_dir: None,
            public_url: None,
        }
    }

    /// The target policy these flags describe.
    pub fn target_policy(&self) -> TargetPolicy {
        TargetPolicy {
            allowed: self.allow_targets.clone(),
            allow_http: self.allow_http,
        }
    }

    /// The retry base as a duration.
    pub fn retry_base(&self) -> Duration {
        Duration::from_millis(self.retry_base_ms)
    }

    /// The attempt timeout as a duration.
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms.max(1))
    }

    /// Where `.eml` files go when no SMTP server is configured.
    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}
