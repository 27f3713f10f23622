//! The PostgreSQL backend of [`crate::Store`]: one database shared by a
//! daemon, its workers and every CLI on any machine.
//!
//! Tables (schema in `schema.rs`, versioned like sled's `meta`):
//! - `findings`: id → state, priority, host (the indexes: `(state, priority, id)`
//!   and `(host, id)`, kept by PostgreSQL in the same transaction as the row)
//!   and the record, encoded exactly as sled stores it (version byte + JSON);
//! - `scans`: scan id → run record; `coverage`: (scan, pair) journal;
//! - `kv`: (space, key) → value for the low-volume keyspaces sled keeps in
//!   trees of their own (assets, changes, outbox, notified), same keys and
//!   values as sled's.
//!
//! Every write is one SERIALIZABLE transaction, retried from the start when
//! PostgreSQL reports a serialization failure, a deadlock or a unique-key race
//! (two processes creating the same finding): what commits is what a serial
//! order of the same writes would give, so a triage and a scan on the same
//! finding never lose either change, and a client killed mid-transaction
//! leaves nothing half-written (PostgreSQL rolls it back).
//!
//! The store's interface is synchronous (sled's is), and callers sit in
//! tokio tasks as well as plain threads; the synchronous `postgres` client
//! must not block inside a runtime, so each connection lives in a thread of
//! its own ([`Pool`]) and a call sends it a job and waits for the answer
//! with a deadline.

mod audit;
mod check;
mod findings;
mod pool;
mod queue;
mod scans;
mod schema;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::StoreError;
use crate::prioritize::Prioritizer;

pub use audit::{AuditSegment, SegmentsReport};
use pool::Pool;
pub use queue::{Engagement, Unit, UnitCounts, scope_hash};

/// How many connections one store opens.
const CONNECTIONS: usize = 4;

/// A store in a PostgreSQL database.
pub(crate) struct PgStore {
    /// The URL without its password, for messages (`dir` of every error).
    label: PathBuf,
    pool: Pool,
    prioritizer: RwLock<Arc<dyn Prioritizer>>,
    /// Serializes this process's read-modify-writes of asset records.
    pub(crate) write_lock: std::sync::Mutex<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("label", &self.label).finish_non_exhaustive()
    }
}

/// Where a PostgreSQL store is and how to log in.
#[derive(Clone)]
pub(crate) struct PgTarget {
    pub(crate) config: postgres::Config,
    pub(crate) label: PathBuf,
    pub(crate) tls: bool,
    /// CAs trusted beside the web PKI roots: the URL's `sslrootcert`, else
    /// `PGSSLROOTCERT` (libpq's names).
    pub(crate) roots: Option<PathBuf>,
}

impl PgTarget {
    /// Parse `url` (`postgres://user@host:port/db?sslmode=require`);
    /// `password`, when given, wins over one in the URL.
    pub(crate) fn parse(url: &str, password: Option<&str>) -> Result<PgTarget, StoreError> {
        let label = PathBuf::from(redact_url(url));
        // libpq's `sslrootcert` is ours to read (the driver does not know it).
        let (url, rootcert) = take_param(url, "sslrootcert");
        let url = url.as_str();
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| StoreError::Engine {
            dir: label.clone(),
            message: format!("not a PostgreSQL URL (expected postgres://user@host:port/database): {e}"),
        })?;
        if let Some(p) = password {
            config.password(p);
        }
        // Every wait on the server has a deadline.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        config.keepalives(true).keepalives_idle(std::time::Duration::from_secs(30));
        config.application_name("haetae");
        // `sslmode=require` (or stricter) asks for TLS; the default
        // (`prefer`) and `disable` connect in the clear.
        let tls =
            !matches!(config.get_ssl_mode(), postgres::config::SslMode::Disable | postgres::config::SslMode::Prefer);
        let roots = rootcert.map(PathBuf::from).or_else(|| std::env::var_os("PGSSLROOTCERT").map(PathBuf::from));
        Ok(PgTarget { config, label, tls, roots })
    }
}

/// `url` without its query parameter `name`, and that parameter's value.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_owned(), None) };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.split_once('=') {
            Some((k, v)) if k == name => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, value)
}

/// `url` with any password replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (auth, host) = match rest.split_once('@') {
        Some((a, h)) => (a, h),
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl PgStore {
    /// Connect, bring the schema to this build's version (refusing a newer
    /// one) and return the store.
    pub(crate) fn open(target: PgTarget, prioritizer: Arc<dyn Prioritizer>) -> Result<PgStore, StoreError> {
        let label = target.label.clone();
        let pool = Pool::connect(&target, CONNECTIONS)?;
        let store =
            PgStore { label, pool, prioritizer: RwLock::new(prioritizer), write_lock: std::sync::Mutex::new(()) };
        schema::migrate(&store)?;
        Ok(store)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.label
    }

    fn prioritizer(&self) -> Arc<dyn Prioritizer> {
        self.prioritizer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_prioritizer(&self, prioritizer: Arc<dyn Prioritizer>) {
        *self.prioritizer.write().unwrap_or_else(|p| p.into_inner()) = prioritizer;
    }

    /// Every write is durable when its transaction commits.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A failure inside a transaction body: the database's (maybe worth a
/// retry) or the store's own (final).
pub(crate) enum Fail {
    Db(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// Whether PostgreSQL asks for the transaction to be run again: a
/// serialization failure, a deadlock, or a unique key another transaction
/// took first (two processes creating the same row).
pub(crate) fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

pub(crate) fn engine(label: &Path, e: &postgres::Error) -> StoreError {
    let message = match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
        None => {
            // The cause (a refused connection, the certificate rustls
            // rejected ...) is in the source chain.
            let mut text = format!("PostgreSQL: {e}");
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                let more = cause.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                source = cause.source();
            }
            text
        }
    };
    StoreError::Engine { dir: label.to_owned(), message }
}
