//! The PostgreSQL schema, versioned: [`MIGRATIONS`] index `i` brings a
//! database at version `i` to `i + 1`. Opening runs the missing steps in
//! one transaction under an advisory lock (two processes opening a fresh
//! database at once: one migrates, the other waits and finds it done); a
//! database at a newer version than this build's is refused, as sled's is.

use super::{Fail, PgStore};
use crate::error::StoreError;

/// The schema version this build writes (and the newest it reads).
pub(crate) const PG_SCHEMA_VERSION: u32 = 2;

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x6861_6574_6165_0001;

/// Each step, in order. Text columns compare byte by byte (`COLLATE "C"`), so
/// listings come out in the same order as sled's keys.
const MIGRATIONS: [&str; PG_SCHEMA_VERSION as usize] = [
    r#"
CREATE TABLE findings (
    id text COLLATE "C" PRIMARY KEY,
    state smallint NOT NULL,
    priority smallint NOT NULL,
    host text COLLATE "C" NOT NULL,
    record bytea NOT NULL
);
CREATE INDEX findings_by_status ON findings (state, priority, id);
CREATE INDEX findings_by_host ON findings (host, id);
CREATE TABLE scans (
    id bigint PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE coverage (
    scan bigint NOT NULL,
    pair bytea NOT NULL,
    PRIMARY KEY (scan, pair)
);
CREATE TABLE kv (
    space text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (space, key)
);
"#,
    r#"
CREATE TABLE engagement (
    id smallint PRIMARY KEY CHECK (id = 1),
    scope text NOT NULL,
    scope_sha256 text NOT NULL,
    updated bigint NOT NULL,
    workers integer NOT NULL DEFAULT 1
);
CREATE TABLE worker_slots (
    slot integer PRIMARY KEY,
    worker text,
    lease_until timestamptz
);
CREATE TABLE units (
    id bigserial PRIMARY KEY,
    scan bigint NOT NULL,
    host text COLLATE "C" NOT NULL,
    checks text NOT NULL,
    skip_checks text NOT NULL,
    profile text NOT NULL,
    scope_sha256 text NOT NULL,
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    worker text,
    lease_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    complete boolean,
    error text,
    claimed bigint,
    finished bigint
);
CREATE INDEX units_claim ON units (state, id);
CREATE SEQUENCE outbox_ids;
CREATE INDEX units_scan ON units (scan, state);
CREATE TABLE audit_segments (
    worker text COLLATE "C" NOT NULL,
    first_seq bigint NOT NULL,
    last_seq bigint NOT NULL,
    first_prev text NOT NULL,
    last_hash text NOT NULL,
    unit bigint NOT NULL,
    scan bigint NOT NULL,
    recorded boolean NOT NULL,
    PRIMARY KEY (worker, first_seq)
);
CREATE TABLE audit_records (
    worker text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    line text NOT NULL,
    PRIMARY KEY (worker, seq)
);
"#,
];

/// Bring the database to [`PG_SCHEMA_VERSION`] or refuse a newer one.
pub(super) fn migrate(store: &PgStore) -> Result<(), StoreError> {
    let label = store.label.clone();
    store.pool.run(move |client| {
        let mut tx = client.transaction().map_err(|e| super::engine(&label, &e))?;
        let steps = (|| -> Result<(), Fail> {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS haetae_meta (key text PRIMARY KEY, value text NOT NULL)")?;
            let found: u32 = match tx.query_opt("SELECT value FROM haetae_meta WHERE key = 'schema_version'", &[])? {
                None => 0,
                Some(row) => {
                    let v: String = row.try_get(0)?;
                    v.parse().map_err(|_| StoreError::Corrupt {
                        dir: label.clone(),
                        tree: "meta",
                        key: "schema_version".into(),
                        reason: format!("expected a number, found {v:?}"),
                    })?
                }
            };
            if found > PG_SCHEMA_VERSION {
                return Err(Fail::Store(StoreError::NewerSchema {
                    dir: label.clone(),
                    found,
                    supported: PG_SCHEMA_VERSION,
                }));
            }
            for step in MIGRATIONS.iter().skip(found as usize) {
                tx.batch_execute(step)?;
            }
            if found < PG_SCHEMA_VERSION {
                tx.execute(
                    "INSERT INTO haetae_meta (key, value) VALUES ('schema_version', $1) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&PG_SCHEMA_VERSION.to_string()],
                )?;
            }
            Ok(())
        })();
        match steps {
            Ok(()) => tx.commit().map_err(|e| super::engine(&label, &e)),
            Err(Fail::Store(e)) => Err(e),
            Err(Fail::Db(e)) => Err(super::engine(&label, &e)),
        }
    })
}
