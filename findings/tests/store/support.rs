use std::sync::Arc;

use haetae_findings::{
    Asset, CheckId, Confidence, Finding, Observation, Prioritizer, Priority, Severity, Store, StoreError, Timestamp,
};

/// Severity decides the band; enough for store tests without the rules crate.
pub(crate) struct BySeverity;

impl Prioritizer for BySeverity {
    fn prioritize(&self, f: &mut Finding, _now: Timestamp) {
        f.priority = match f.severity {
            Severity::Critical => Priority::P1,
            Severity::High => Priority::P2,
            Severity::Medium => Priority::P3,
            _ => Priority::P4,
        };
        f.score = f64::from(f.severity as u8);
    }
}

pub(crate) fn scorer() -> Arc<dyn Prioritizer> {
    Arc::new(BySeverity)
}

pub(crate) fn obs(check: CheckId, host: &str, port: Option<u16>, location: &str) -> Observation {
    let mut o = Observation::new(check, Asset { host: host.into(), ip: None, port }, location, "KR-TEST");
    o.confidence = Confidence::Certain;
    o.evidence = format!("seen at {location}");
    o
}

/// A fresh PostgreSQL database for one test on this test binary's server
/// (`haetae_pgtest`), or `None`, said loudly, where PostgreSQL is not
/// installed (a failure in CI).
pub(crate) fn pg_database() -> Option<String> {
    let server = haetae_pgtest::require()?;
    Some(server.fresh_database().unwrap())
}

/// A store backend the conformance tests run on.
pub(crate) enum Backend {
    Sled,
    Postgres(&'static haetae_pgtest::PgServer),
}

impl Backend {
    /// The PostgreSQL backend, or `None` where PostgreSQL is not installed.
    pub(crate) fn postgres() -> Option<Backend> {
        haetae_pgtest::require().map(Backend::Postgres)
    }

    /// A new, empty store.
    pub(crate) fn store(&self) -> Store {
        self.store_with(scorer())
    }

    /// A new, empty store scored by `prioritizer`.
    pub(crate) fn store_with(&self, prioritizer: Arc<dyn Prioritizer>) -> Store {
        let store = match self {
            Backend::Sled => Store::temporary(prioritizer).unwrap(),
            Backend::Postgres(_) => self.place().open(prioritizer).unwrap(),
        };
        assert_eq!(store.backend_name(), self.name());
        store
    }

    /// `sled` or `postgres`, as [`Store::backend_name`] says.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A new, empty place for a store that a test opens more than once.
    pub(crate) fn place(&self) -> Place {
        match self {
            Backend::Sled => Place::Sled(tempfile::tempdir().unwrap()),
            Backend::Postgres(server) => Place::Postgres(server, server.fresh_database().unwrap()),
        }
    }
}

/// Where a store lives: a directory, or a database.
pub(crate) enum Place {
    Sled(tempfile::TempDir),
    Postgres(&'static haetae_pgtest::PgServer, String),
}

impl Place {
    /// Opens (again) the store that lives here.
    pub(crate) fn open(&self, prioritizer: Arc<dyn Prioritizer>) -> Result<Store, StoreError> {
        match self {
            Place::Sled(dir) => Store::open(dir.path(), prioritizer),
            Place::Postgres(_, url) => Store::open_postgres(url, prioritizer),
        }
    }

    /// The schema version the store records.
    pub(crate) fn schema_version(&self) -> u32 {
        match self {
            Place::Sled(dir) => {
                let v =
                    Store::open(dir.path(), scorer()).unwrap().get_raw_for_tests("meta", b"schema_version").unwrap();
                u32::from_be_bytes(v.unwrap().try_into().unwrap())
            }
            Place::Postgres(..) => {
                self.psql("SELECT value FROM haetae_meta WHERE key = 'schema_version'").parse().unwrap()
            }
        }
    }

    /// Records `version` as the store's schema version, as a newer haetae would.
    pub(crate) fn set_schema_version(&self, version: u32) {
        match self {
            Place::Sled(dir) => Store::open(dir.path(), scorer())
                .unwrap()
                .put_raw_for_tests("meta", b"schema_version", &version.to_be_bytes())
                .unwrap(),
            Place::Postgres(..) => {
                self.psql(&format!("UPDATE haetae_meta SET value = '{version}' WHERE key = 'schema_version'"));
            }
        }
    }

    fn psql(&self, sql: &str) -> String {
        let Place::Postgres(server, url) = self else { unreachable!("psql on a sled store") };
        let out = std::process::Command::new(server.tool("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// Two tests for each test body `fn name(backend: &Backend)` listed:
/// `name::sled` and `name::postgres` (which skips, said loudly, where
/// PostgreSQL is not installed, and fails in CI).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sled() {
                super::$name(&$crate::support::Backend::Sled);
            }

            #[test]
            fn postgres() {
                let Some(backend) = $crate::support::Backend::postgres() else { return };
                super::$name(&backend);
            }
        }
    )*};
}
pub(crate) use on_both_backends;
