//! PostgreSQL for the tests: a fresh database per test on the cluster `make test` starts
//! (`scripts/with-postgres`), named by `CDHOOKS_TEST_DATABASE_URL`.

use sqlx::Connection;

/// The admin URL of the test cluster, or `None` (the caller skips) when there is none. Under
/// `CI=true` a missing cluster is an error: CI runs every PostgreSQL test.
pub fn cluster() -> Option<String> {
    match std::env::var("CDHOOKS_TEST_DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the PostgreSQL tests: run them through scripts/with-postgres (make test does)"
            );
            eprintln!(
                "skipped: no PostgreSQL (CDHOOKS_TEST_DATABASE_URL is unset; `make test` starts a throwaway cluster)"
            );
            None
        }
    }
}

/// A new, empty database on the test cluster, as a URL; `None` when there is no cluster.
pub async fn fresh_database() -> Option<String> {
    let admin = cluster()?;
    let name = format!("cdhooks_{:016x}", rand_u64());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    hasher.finish()
}

/// Runs the cluster's `pg_ctl` (as the right user) with `args`, e.g. `restart -m fast`.
#[allow(dead_code)]
pub fn pg_ctl(args: &[&str]) {
    let pg_ctl = std::env::var("CDHOOKS_TEST_PG_CTL")
        .expect("CDHOOKS_TEST_PG_CTL is set by scripts/with-postgres");
    let status = std::process::Command::new(pg_ctl)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {args:?}");
}
