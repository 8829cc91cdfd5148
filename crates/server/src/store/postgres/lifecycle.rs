//! The delivery lifecycle on PostgreSQL: the shared statements (`store::lifecycle`) on its
//! transactions.

pub(super) use super::super::lifecycle::Deliveries;

super::super::lifecycle::lifecycle_statements!(super::engine::Tx<'_>);
