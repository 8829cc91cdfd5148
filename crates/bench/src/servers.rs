//! The servers under test: one `cdhooks-server` process on its embedded store, or several on
//! one PostgreSQL database — with what they cost (CPU and memory from `/proc`, PostgreSQL's
//! own processes included).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::receiver;

/// One server process.
struct Process {
    /// The running binary.
    child: Child,
    /// `http://127.0.0.1:port`.
    base: String,
}

/// The servers of one benchmark run.
pub struct Servers {
    /// The binary.
    bin: PathBuf,
    /// The processes, all on one store.
    processes: Vec<Process>,
    /// The shared PostgreSQL database, if not the embedded store.
    database_url: Option<String>,
    /// The postmaster of that database's cluster (its processes are counted with the
    /// servers').
    postmaster: Option<u32>,
    /// The highest reading of PostgreSQL's memory so far (MiB).
    postgres_memory: std::cell::Cell<f64>,
    /// The first account's API key.
    pub key: String,
    /// The first process's data dir (its embedded database, if any).
    data_dir: tempfile::TempDir,
    /// The other processes' data dirs.
    _other_dirs: Vec<tempfile::TempDir>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the server binary's CLI on the store (`args` then `--data-dir`, `--database-url`)
/// and returns the last line it printed (the key it made).
fn cli(bin: &Path, data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new(bin);
    command.args(args).arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let out = command
        .output()
        .expect("run the server binary (make bench builds it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

/// Creates an account with the server binary's CLI and returns its API key.
fn create_account(bin: &Path, data_dir: &Path, database_url: Option<&str>, email: &str) -> String {
    cli(
        bin,
        data_dir,
        database_url,
        &["accounts", "create", "--email", email],
    )
}

/// CPU seconds (user + system) a process used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/<pid>/…` field in kB, as MiB.
fn proc_kb(pid: u32, file: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The postmaster of the PostgreSQL cluster behind `url`: the first line of `postmaster.pid`
/// in its data directory.
fn postmaster(url: &str) -> Option<u32> {
    let data_dir = Command::new("psql")
        .args([url, "-tAc", "SHOW data_directory"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())?;
    std::fs::read_to_string(Path::new(data_dir.trim()).join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Runs one SQL statement with `psql` on `url`; panics if it fails.
fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([
            url,
            "-qtA",
            "-c",
            "SET client_min_messages = warning",
            "-c",
            sql,
        ])
        .stdout(Stdio::null())
        .status()
        .expect("psql");
    assert!(status.success(), "psql: {sql}");
}

/// The URL of the database `name` on `url`'s cluster.
fn database_on(url: &str, name: &str) -> String {
    let mut url = reqwest::Url::parse(url).expect("a PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    url.into()
}

/// Makes an empty database `name` beside `url`'s (on the same cluster); returns its URL.
pub fn fresh_database(url: &str, name: &str) -> String {
    drop_database(url, name);
    psql(url, &format!("CREATE DATABASE {name}"));
    database_on(url, name)
}

/// Removes the database `name` beside `url`'s, closing what is still connected to it.
pub fn drop_database(url: &str, name: &str) {
    psql(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// The processes of the cluster whose postmaster is `postmaster`: it and its children — not
/// those of any other cluster on this machine.
fn cluster_pids(postmaster: u32) -> Vec<u32> {
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let mut pids = vec![postmaster];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        pids.extend(
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| parent(*pid) == Some(postmaster)),
        );
    }
    pids
}

/// The proportional set size of `pids` (shared memory counted once), MiB.
fn pss_mib(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|pid| proc_kb(*pid, "smaps_rollup", "Pss:"))
        .sum()
}

impl Servers {
    /// Starts `instances` processes: on the embedded store (one), or on `database_url`.
    pub async fn start(
        bin: &Path,
        http: &reqwest::Client,
        database_url: Option<&str>,
        instances: usize,
    ) -> Servers {
        Self::start_with(bin, http, database_url, instances, &[]).await
    }

    /// [`Servers::start`] with more arguments for `serve`.
    pub async fn start_with(
        bin: &Path,
        http: &reqwest::Client,
        database_url: Option<&str>,
        instances: usize,
        extra: &[String],
    ) -> Servers {
        let data_dir = tempfile::tempdir().unwrap();
        let key = create_account(bin, data_dir.path(), database_url, "bench@example.com");
        let mut servers = Servers {
            bin: bin.to_owned(),
            processes: Vec::new(),
            database_url: database_url.map(str::to_owned),
            postmaster: database_url.map(|url| {
                postmaster(url).expect("the PostgreSQL cluster's postmaster (SHOW data_directory)")
            }),
            postgres_memory: std::cell::Cell::new(0.0),
            key,
            data_dir,
            _other_dirs: Vec::new(),
        };
        for i in 0..instances.max(1) {
            let dir = if i == 0 {
                servers.data_dir.path().to_owned()
            } else {
                let other = tempfile::tempdir().unwrap();
                let path = other.path().to_owned();
                servers._other_dirs.push(other);
                path
            };
            let port = free_port();
            let mut command = Command::new(bin);
            command
                .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .args(["--allow-target", "127.0.0.0/8", "--allow-http"])
                .args(extra)
                .arg("--data-dir")
                .arg(&dir)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            if let Some(url) = database_url {
                command.args(["--database-url", url]);
            }
            let child = command.spawn().unwrap();
            servers.processes.push(Process {
                child,
                base: format!("http://127.0.0.1:{port}"),
            });
        }
        for process in &servers.processes {
            let mut up = false;
            for _ in 0..400 {
                if http
                    .get(format!("{}/healthz", process.base))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(up, "the server at {} did not start", process.base);
        }
        servers
    }

    /// `POST /v1/events` of every process (requests go round-robin over them).
    pub fn events_urls(&self) -> Vec<String> {
        self.processes
            .iter()
            .map(|p| format!("{}/v1/events", p.base))
            .collect()
    }

    /// A new platform key (the provider's: accounts, emission for any of them).
    pub fn platform_key(&self) -> String {
        cli(
            &self.bin,
            self.data_dir.path(),
            self.database_url.as_deref(),
            &["platform-keys", "create", "--name", "bench"],
        )
    }

    /// The first process's address, `http://127.0.0.1:port`.
    pub fn base(&self) -> &str {
        &self.processes[0].base
    }

    /// The servers' resident memory now, added up (MiB).
    pub fn rss_mib(&self) -> f64 {
        self.processes
            .iter()
            .map(|p| proc_kb(p.child.id(), "status", "VmRSS:"))
            .sum()
    }

    /// A new account's API key.
    pub fn create_account(&self, email: &str) -> String {
        create_account(
            &self.bin,
            self.data_dir.path(),
            self.database_url.as_deref(),
            email,
        )
    }

    /// Registers a webhook of the first account.
    pub async fn webhook(&self, http: &reqwest::Client, url: String, event: &str) {
        self.webhook_of(http, &self.key, url, event).await
    }

    /// Registers a webhook of the account with `key`.
    pub async fn webhook_of(&self, http: &reqwest::Client, key: &str, url: String, event: &str) {
        let r = http
            .post(format!("{}/v1/webhooks", self.processes[0].base))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(json!({"url": url, "events": [event], "secret": receiver::SECRET}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    /// CPU seconds used so far by the servers and, on PostgreSQL, by the database (0 on the
    /// embedded store).
    pub fn cpu_seconds(&self) -> (f64, f64) {
        let servers: f64 = self
            .processes
            .iter()
            .map(|p| cpu_seconds(p.child.id()))
            .sum();
        let database: f64 = self.postmaster.map_or(0.0, |pid| {
            cluster_pids(pid).into_iter().map(cpu_seconds).sum()
        });
        (servers, database)
    }

    /// The servers' peak resident memory, added up (MiB).
    pub fn peak_rss_mib(&self) -> f64 {
        self.processes
            .iter()
            .map(|p| proc_kb(p.child.id(), "status", "VmHWM:"))
            .sum()
    }

    /// Reads PostgreSQL's memory now — the proportional set size of its processes, shared
    /// memory counted once — and keeps the highest reading. Read between scenarios, not during
    /// them: reading a process's `smaps_rollup` walks its page tables, and sampling during a
    /// run raised the paced p99 from about 3 ms to 11 ms.
    pub fn read_postgres_memory(&self) {
        if let Some(postmaster) = self.postmaster {
            let now = pss_mib(&cluster_pids(postmaster));
            self.postgres_memory
                .set(self.postgres_memory.get().max(now));
        }
    }

    /// The highest reading of PostgreSQL's memory (MiB), on PostgreSQL.
    pub fn postgres_peak_mib(&self) -> Option<f64> {
        self.postmaster.map(|_| self.postgres_memory.get())
    }

    /// The size of the database (MiB).
    pub fn db_mib(&self) -> f64 {
        if let Some(url) = &self.database_url {
            let out = Command::new("psql")
                .args([
                    url.as_str(),
                    "-tAc",
                    "SELECT pg_database_size(current_database())",
                ])
                .output();
            return out
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|bytes| bytes / (1024.0 * 1024.0))
                .unwrap_or(0.0);
        }
        std::fs::read_dir(self.data_dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("cdhooks.sqlite3")
            })
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum::<u64>() as f64
            / (1024.0 * 1024.0)
    }

    /// What runs: "1 instance, SQLite" or "3 instances, PostgreSQL".
    pub fn describe(&self) -> String {
        let n = self.processes.len();
        format!(
            "{n} instance{}, {}",
            if n == 1 { "" } else { "s" },
            if self.database_url.is_some() {
                "PostgreSQL"
            } else {
                "embedded SQLite"
            }
        )
    }
}
