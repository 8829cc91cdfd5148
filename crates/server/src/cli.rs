//! The `cdhooks-server` command: parses flags, starts the server, waits for a stop signal.
//!
//! It lives in the library, with `main.rs` a one-line call, so the async code it drives is
//! compiled once, here, rather than again for the binary (in release builds that halved the
//! time `make run` and `make bench` take on a fresh clone).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::ServeConfig;
use clap::{Parser, Subcommand};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The cdhooks reference webhook server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// How log lines look on stderr: `text` (coloured only when stderr is a terminal) or
    /// `json` (one object per line, for log shippers).
    #[arg(long, global = true, env = "CDHOOKS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line: timestamp, level, target, message and fields.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeConfig),
    /// Run the server for local use: loopback targets and http allowed, a local account
    /// created on first start and its API key printed.
    Dev(ServeConfig),
    /// Manage accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Manage platform keys: the provider's keys, which create accounts, emit events for any
    /// of them and open portal sessions.
    PlatformKeys {
        #[command(subcommand)]
        command: PlatformKeysCommand,
    },
}

#[derive(Subcommand)]
enum PlatformKeysCommand {
    /// Add a platform key; prints the key (shown only now) as the last line.
    Create {
        /// A name for people, e.g. `billing service`.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the platform keys: id, name, first characters, created and last used.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a platform key. Running servers stop accepting it within 5 seconds.
    Revoke {
        /// The key's id (`pk_…`, from `list`).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// What an account key may do, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ScopeArg {
    /// Read only.
    Read,
    /// Manage webhooks, keys and inboxes; send test events.
    Manage,
    /// Also emit real events.
    Full,
}

impl From<ScopeArg> for crate::domain::access::KeyScope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::Read => Self::Read,
            ScopeArg::Manage => Self::Manage,
            ScopeArg::Full => Self::Full,
        }
    }
}

/// Where an account lives: the server's data dir, or its PostgreSQL database.
#[derive(clap::Args)]
struct StoreArgs {
    /// The server's data dir.
    #[arg(long, env = "CDHOOKS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// The server's PostgreSQL database, when it uses one.
    #[arg(long, env = "CDHOOKS_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a named key to an account; prints the key (shown only now) as the last line.
    Create {
        /// The account (`acct_…`).
        #[arg(long)]
        account: String,
        /// A name for people, e.g. `ci deploys`.
        #[arg(long)]
        name: String,
        /// What the key may do.
        #[arg(long, value_enum, default_value_t = ScopeArg::Manage)]
        scope: ScopeArg,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List an account's keys: id, name, first characters, created and last used.
    List {
        /// The account (`acct_…`).
        #[arg(long)]
        account: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key (an account keeps at least one). Running servers stop accepting it
    /// within 5 seconds.
    Revoke {
        /// The account (`acct_…`).
        #[arg(long)]
        account: String,
        /// The key's id (`key_…`, from `list`).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Manage an account's API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create an account; prints its API key as the last line. The key may emit events
    /// itself (`full`), as a server run by one party for itself needs; a provider creates
    /// its customers' accounts with `POST /v1/accounts` instead.
    Create {
        /// Where emails about this account's webhooks go.
        #[arg(long)]
        email: String,
        /// The server's data dir.
        #[arg(long, env = "CDHOOKS_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The server's PostgreSQL database, when it uses one.
        #[arg(long, env = "CDHOOKS_DATABASE_URL")]
        database_url: Option<String>,
    },
}

/// File in the data dir keeping the `dev` account's key, so later starts can print it again.
const DEV_KEY_FILE: &str = "local-api-key";
/// File in the data dir keeping the `dev` account's inbox token.
const DEV_INBOX_FILE: &str = "local-inbox";

/// glibc gives each thread that allocates its own malloc arena; with tokio's workers and
/// SQLite's connection threads that multiplies resident memory (measured by `make bench`:
/// ~45 MiB → ~33 MiB peak with two arenas) for no speed gain here.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What to log: `RUST_LOG` (`target=level,…` directives, e.g. `cdhooks_server=debug,warn`),
/// or by default the server's own messages from `info` up and others' from `warn` up.
fn log_filter() -> Targets {
    let default = Targets::new()
        .with_target("cdhooks_server", Level::INFO)
        .with_default(Level::WARN);
    match std::env::var("RUST_LOG") {
        Ok(directives) => directives.parse().unwrap_or_else(|e| {
            eprintln!(
                "warning: RUST_LOG={directives:?} is not understood ({e}); using the default"
            );
            default
        }),
        Err(_) => default,
    }
}

/// Logs to stderr in the chosen format; colours only when stderr is a terminal, so a log
/// file never fills with escape codes.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.with_ansi(std::io::stderr().is_terminal()))
            .with(log_filter())
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().flatten_event(true).with_current_span(false))
            .with(log_filter())
            .init(),
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve(config) => serve(config, None).await,
        Command::Dev(mut config) => match dev_setup(&mut config).await {
            Ok(key) => serve(config, Some(key)).await,
            Err(e) => Err(e),
        },
        Command::Accounts {
            command:
                AccountsCommand::Create {
                    email,
                    data_dir,
                    database_url,
                },
        } => create_account(&data_dir, database_url.as_deref(), &email).await,
        Command::Accounts {
            command: AccountsCommand::Keys { command },
        } => manage_keys(command).await,
        Command::PlatformKeys { command } => manage_platform_keys(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn create_account(
    data_dir: &Path,
    database_url: Option<&str>,
    email: &str,
) -> Result<(), String> {
    email
        .parse::<lettre::Address>()
        .map_err(|e| format!("--email {email:?} is not an email address: {e}"))?;
    let (account, key) = crate::create_account_in(data_dir, database_url, email)
        .await
        .map_err(|e| e.to_string())?;
    println!("account {} ({})", account.id, account.email);
    println!("{key}");
    Ok(())
}

/// The use cases over a store the command line opened beside a running server: what they
/// write, the server delivers.
fn use_cases(store: &std::sync::Arc<dyn crate::store::Store>) -> crate::app::App {
    crate::app::App::new(
        store.clone(),
        std::sync::Arc::new(crate::app::StoreOnly(store.clone())),
        crate::domain::target::TargetPolicy::default(),
        std::sync::Arc::new(crate::clock::SystemClock),
        crate::domain::sealing::Sealer::none(),
    )
}

async fn manage_keys(command: KeysCommand) -> Result<(), String> {
    let (KeysCommand::Create { account, store, .. }
    | KeysCommand::List { account, store }
    | KeysCommand::Revoke { account, store, .. }) = &command;
    let opened = crate::open_store_at(&store.data_dir, store.database_url.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let account = opened.account(account).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => format!("no account {account}"),
        other => other.to_string(),
    })?;
    match command {
        KeysCommand::Create { name, scope, .. } => {
            let (record, key) = use_cases(&opened)
                .create_api_key(&account, &name, scope.into())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "key {} ({}, scope {}) for {}",
                record.id,
                record.name,
                record.scope.as_str(),
                account.id
            );
            println!("{key}");
        }
        KeysCommand::List { .. } => {
            for key in opened
                .list_api_keys(&account)
                .await
                .map_err(|e| e.to_string())?
            {
                let used = key.last_used_at.map_or("never used".to_owned(), |at| {
                    format!("last used {}", crate::http::json::time_ms(at))
                });
                println!(
                    "{}  {:<24}  {:<6}  {}…  created {}  {used}",
                    key.id,
                    key.name,
                    key.scope.as_str(),
                    key.prefix,
                    crate::http::json::time_ms(key.created_at)
                );
            }
        }
        KeysCommand::Revoke { id, .. } => {
            use_cases(&opened)
                .revoke_api_key(&account, &id, None)
                .await
                .map_err(|e| match e {
                    crate::app::AppError::Store(crate::store::StoreError::NotFound) => {
                        format!("no key {id} in {}", account.id)
                    }
                    other => other.to_string(),
                })?;
            println!("revoked {id}");
        }
    }
    opened.close().await;
    Ok(())
}

async fn manage_platform_keys(command: PlatformKeysCommand) -> Result<(), String> {
    let (PlatformKeysCommand::Create { store, .. }
    | PlatformKeysCommand::List { store }
    | PlatformKeysCommand::Revoke { store, .. }) = &command;
    let opened = crate::open_store_at(&store.data_dir, store.database_url.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let app = use_cases(&opened);
    match command {
        PlatformKeysCommand::Create { name, .. } => {
            let (record, key) = app
                .create_platform_key(&name)
                .await
                .map_err(|e| e.to_string())?;
            println!("platform key {} ({})", record.id, record.name);
            println!("{key}");
        }
        PlatformKeysCommand::List { .. } => {
            for key in app.platform_keys().await.map_err(|e| e.to_string())? {
                let used = key.last_used_at.map_or("never used".to_owned(), |at| {
                    format!("last used {}", crate::http::json::time_ms(at))
                });
                println!(
                    "{}  {:<24}  {}…  created {}  {used}",
                    key.id,
                    key.name,
                    key.prefix,
                    crate::http::json::time_ms(key.created_at)
                );
            }
        }
        PlatformKeysCommand::Revoke { id, .. } => {
            app.revoke_platform_key(&id, None)
                .await
                .map_err(|e| match e {
                    crate::app::AppError::Store(crate::store::StoreError::NotFound) => {
                        format!("no platform key {id}")
                    }
                    other => other.to_string(),
                })?;
            println!("revoked {id}");
        }
    }
    opened.close().await;
    Ok(())
}

/// Opens local use: loopback and http allowed; the local account's key, created once.
async fn dev_setup(config: &mut ServeConfig) -> Result<String, String> {
    config.allow_http = true;
    for net in ["127.0.0.0/8", "::1/128"] {
        config
            .allow_targets
            .push(net.parse().map_err(|e| format!("{e}"))?);
    }
    let key_file = config.data_dir.join(DEV_KEY_FILE);
    if let Ok(key) = std::fs::read_to_string(&key_file) {
        return Ok(key.trim().to_owned());
    }
    let (_, key) = crate::create_account_in(
        &config.data_dir,
        config.database_url.as_deref(),
        "owner@localhost",
    )
    .await
    .map_err(|e| e.to_string())?;
    crate::private_files::write(&key_file, format!("{key}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    Ok(key)
}

async fn serve(config: ServeConfig, dev_key: Option<String>) -> Result<(), String> {
    let server = crate::start(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let base = format!("http://{}", server.addr);
    if let Some(key) = dev_key {
        let inbox = dev_inbox(&server, &key, &config.data_dir).await?;
        print_dev_banner(&base, &key, &inbox, &config);
    }
    wait_for_signal().await;
    tracing::info!("stopping: finishing in-flight deliveries");
    server.stop().await;
    Ok(())
}

/// The `dev` account's inbox (created on first start, then kept), so the docs' flow has a
/// receiver without a second program.
async fn dev_inbox(server: &crate::Server, key: &str, data_dir: &Path) -> Result<String, String> {
    let file = data_dir.join(DEV_INBOX_FILE);
    if let Ok(token) = std::fs::read_to_string(&file) {
        return Ok(token.trim().to_owned());
    }
    let account = server
        .store
        .account_by_key_hash(&crate::domain::api_key::hash(key))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the key in {DEV_KEY_FILE} belongs to no account"))?;
    let now_ms = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
    let token = server
        .store
        .create_inbox(&account, now_ms, crate::domain::inbox::MAX_INBOXES)
        .await
        .map_err(|e| e.to_string())?;
    crate::private_files::write(&file, format!("{token}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(token)
}

fn print_dev_banner(base: &str, key: &str, inbox: &str, config: &ServeConfig) {
    let outbox = config.outbox_dir();
    let inbox_url = format!("{base}/inbox/{inbox}");
    println!(
        "\ncdhooks is running at {base}  (data: {data}, emails: {mail})\n\n\
         Open the browser tool, already signed in (the key stays in the page, never in a request URL):\n  \
         {base}/#key={key}\n\n\
         Local API key (also in {data}/{DEV_KEY_FILE}): {key}\n\
         An inbox that records every request it receives: {inbox_url}\n\n\
         Try the docs' flow in another terminal, with that inbox as the receiver:\n\n\
         curl -s {base}/v1/webhooks -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n  \
         -d '{{\"url\":\"{inbox_url}\",\"events\":[\"server.started\",\"server.stopped\",\"server.error\"],\"secret\":\"your_webhook_secret\"}}'\n\n\
         curl -s {base}/v1/events -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n  \
         -d '{{\"type\":\"server.started\",\"data\":{{\"server_id\":\"srv_abc123\",\"name\":\"production-web-01\",\"status\":\"running\",\"ip\":\"192.168.1.100\"}}}}'\n\n\
         then see the delivery arrive, verified with that secret:\n  \
         {base}/#inbox={inbox}&secret=your_webhook_secret&key={key}\n",
        data = config.data_dir.display(),
        mail = config.smtp_url.clone().unwrap_or_else(|| outbox.display().to_string()),
    );
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
