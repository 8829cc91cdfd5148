//! The delivery lifecycle on PostgreSQL: the shared statements (`store::lifecycle`) on its
//! transactions.

super::super::lifecycle::lifecycle_statements!(super::engine::Tx<'_>);
