//! The low-volume keyspaces (assets, changes, outbox, notified) on
//! PostgreSQL: one table `kv (space, key, value)`, the same keys and values
//! as sled's trees, so the code above them is shared.

/// One keyspace of the `kv` table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgKv {
    pub(crate) space: &'static str,
}
