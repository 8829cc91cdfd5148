//! The schema migrations, compiled into the binary so that it runs with no files beside it.
//!
//! The SQL lives in `crates/server/migrations/`; sqlx's migrator applies what a database lacks
//! and checks the checksums of what it has. Listing the files here (rather than with
//! `sqlx::migrate!`) keeps sqlx's compile-time macros, and a second build of SQLite for
//! them, out of the build.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// Version, description and SQL of every migration, oldest first.
const MIGRATIONS: [(i64, &str, &str); 3] = [
    (1, "init", include_str!("../../../migrations/0001_init.sql")),
    (
        2,
        "inboxes",
        include_str!("../../../migrations/0002_inboxes.sql"),
    ),
    (
        3,
        "fair_delivery",
        include_str!("../../../migrations/0003_fair_delivery.sql"),
    ),
];

/// The migrations above, as a source for sqlx's migrator.
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async {
            Ok(MIGRATIONS
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

/// The migrator for the embedded store.
pub(super) async fn migrator() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded).await
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn every_file_in_the_migrations_folder_is_listed_with_its_sql() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "{files:?}");
        for (path, (version, description, sql)) in files.iter().zip(MIGRATIONS) {
            let name = path.file_stem().unwrap().to_str().unwrap();
            assert_eq!(name, format!("{version:04}_{description}"));
            assert_eq!(std::fs::read_to_string(path).unwrap(), sql);
        }
    }
}
