use std::sync::Arc;

use haetae_findings::{
    Asset, CheckId, Confidence, Finding, Observation, Prioritizer, Priority, Severity, Store, Timestamp,
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

pub(crate) fn temp_store() -> Store {
    Store::temporary(scorer()).unwrap()
}

pub(crate) fn obs(check: CheckId, host: &str, port: Option<u16>, location: &str) -> Observation {
    let mut o = Observation::new(check, Asset { host: host.into(), ip: None, port }, location, "KR-TEST");
    o.confidence = Confidence::Certain;
    o.evidence = format!("seen at {location}");
    o
}

/// A fresh PostgreSQL database for one test, or `None` (said loudly) where
/// no server is available.
#[allow(clippy::print_stderr)]
pub(crate) fn pg_database() -> Option<String> {
    let Ok(base) = std::env::var("HAETAE_TEST_PG_URL") else {
        eprintln!("HAETAE_TEST_PG_URL is not set: this PostgreSQL test did NOT run");
        return None;
    };
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "t{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000
    );
    let ok = std::process::Command::new("psql")
        .args([base.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .unwrap()
        .success();
    assert!(ok, "cannot create database {name}");
    Some(format!("{}/{name}", base.rsplit_once('/').unwrap().0))
}

/// A store on a fresh PostgreSQL database, or `None` (said loudly) where
/// no server is available.
pub(crate) fn pg_store() -> Option<Store> {
    pg_database().map(|url| Store::open_postgres(&url, scorer()).unwrap())
}

/// The scenarios `fn(&Store)` of a module of this test crate as `#[test]`s on both backends:
/// `sled::name` on a temporary sled store, `postgres::name` on a fresh
/// PostgreSQL database (skipped, loudly, without a server).
macro_rules! on_both_backends {
    ($module:ident: $($name:ident),+ $(,)?) => {
        mod sled {
            $(
                #[test]
                fn $name() {
                    $crate::$module::$name(&$crate::support::temp_store());
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(store) = $crate::support::pg_store() else { return };
                    $crate::$module::$name(&store);
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;
