//! The schema migrations of both stores, compiled into the binary so that it runs with no
//! files beside it.
//!
//! The SQL lives in `crates/server/migrations/` (SQLite) and `migrations/postgres/`; sqlx's
//! migrator applies what a database lacks and checks the checksums of what it has (on
//! PostgreSQL under an advisory lock, so several instances starting at once migrate once).
//! Listing the files here (rather than with `sqlx::migrate!`) keeps sqlx's compile-time
//! macros, and a second build of SQLite for them, out of the build.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// Version, description and SQL of a migration.
type Listed = (i64, &'static str, &'static str);

/// The embedded store's migrations, oldest first.
pub(crate) const SQLITE: &[Listed] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (
        2,
        "inboxes",
        include_str!("../../migrations/0002_inboxes.sql"),
    ),
    (
        3,
        "fair_delivery",
        include_str!("../../migrations/0003_fair_delivery.sql"),
    ),
    (
        4,
        "api_keys",
        include_str!("../../migrations/0004_api_keys.sql"),
    ),
    (
        5,
        "secret_grace",
        include_str!("../../migrations/0005_secret_grace.sql"),
    ),
    (
        6,
        "retention",
        include_str!("../../migrations/0006_retention.sql"),
    ),
    (
        7,
        "attempt_url",
        include_str!("../../migrations/0007_attempt_url.sql"),
    ),
    (
        8,
        "previous_secrets",
        include_str!("../../migrations/0008_previous_secrets.sql"),
    ),
    (
        9,
        "platform",
        include_str!("../../migrations/0009_platform.sql"),
    ),
    (
        10,
        "signing_keys",
        include_str!("../../migrations/0010_signing_keys.sql"),
    ),
    (
        11,
        "previous_signing_keys",
        include_str!("../../migrations/0011_previous_signing_keys.sql"),
    ),
    (
        12,
        "webhook_health",
        include_str!("../../migrations/0012_webhook_health.sql"),
    ),
    (
        13,
        "event_types",
        include_str!("../../migrations/0013_event_types.sql"),
    ),
    (
        14,
        "webhook_filter",
        include_str!("../../migrations/0014_webhook_filter.sql"),
    ),
    (
        15,
        "due_index_leases",
        include_str!("../../migrations/0015_due_index_leases.sql"),
    ),
];

/// The PostgreSQL store's migrations, oldest first.
pub(crate) const POSTGRES: &[Listed] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "api_keys",
        include_str!("../../migrations/postgres/0002_api_keys.sql"),
    ),
    (
        3,
        "secret_grace",
        include_str!("../../migrations/postgres/0003_secret_grace.sql"),
    ),
    (
        4,
        "retention",
        include_str!("../../migrations/postgres/0004_retention.sql"),
    ),
    (
        5,
        "leases",
        include_str!("../../migrations/postgres/0005_leases.sql"),
    ),
    (
        6,
        "instances",
        include_str!("../../migrations/postgres/0006_instances.sql"),
    ),
    (
        7,
        "attempt_url",
        include_str!("../../migrations/postgres/0007_attempt_url.sql"),
    ),
    (
        8,
        "previous_secrets",
        include_str!("../../migrations/postgres/0008_previous_secrets.sql"),
    ),
    (
        9,
        "platform",
        include_str!("../../migrations/postgres/0009_platform.sql"),
    ),
    (
        10,
        "signing_keys",
        include_str!("../../migrations/postgres/0010_signing_keys.sql"),
    ),
    (
        11,
        "previous_signing_keys",
        include_str!("../../migrations/postgres/0011_previous_signing_keys.sql"),
    ),
    (
        12,
        "webhook_health",
        include_str!("../../migrations/postgres/0012_webhook_health.sql"),
    ),
    (
        13,
        "event_types",
        include_str!("../../migrations/postgres/0013_event_types.sql"),
    ),
    (
        14,
        "webhook_filter",
        include_str!("../../migrations/postgres/0014_webhook_filter.sql"),
    ),
    (
        15,
        "due_webhooks",
        include_str!("../../migrations/postgres/0015_due_webhooks.sql"),
    ),
    (
        16,
        "no_global_due_index",
        include_str!("../../migrations/postgres/0016_no_global_due_index.sql"),
    ),
    (
        17,
        "no_vacuum_truncate",
        include_str!("../../migrations/postgres/0017_no_vacuum_truncate.sql"),
    ),
    (
        18,
        "fewer_statistics",
        include_str!("../../migrations/postgres/0018_fewer_statistics.sql"),
    ),
];

/// A list above, as a source for sqlx's migrator.
#[derive(Debug)]
struct Embedded(&'static [Listed]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator of one store's list.
pub(crate) async fn migrator(
    list: &'static [Listed],
) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(list)).await
}

#[cfg(test)]
mod tests {
    use super::{Listed, POSTGRES, SQLITE};

    fn check(folder: &str, list: &[Listed]) {
        let dir = format!("{}/migrations{folder}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        assert_eq!(files.len(), list.len(), "{files:?}");
        for (path, &(version, description, sql)) in files.iter().zip(list) {
            let name = path.file_stem().unwrap().to_str().unwrap();
            assert_eq!(name, format!("{version:04}_{description}"));
            assert_eq!(std::fs::read_to_string(path).unwrap(), sql);
        }
    }

    #[test]
    fn every_file_in_the_migrations_folders_is_listed_with_its_sql() {
        check("", SQLITE);
        check("/postgres", POSTGRES);
    }
}
