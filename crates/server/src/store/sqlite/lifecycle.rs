//! The delivery lifecycle on SQLite: the shared statements (`store::lifecycle`) on its
//! transactions.

super::super::lifecycle::lifecycle_statements!(sqlx::Transaction<'static, sqlx::Sqlite>);
