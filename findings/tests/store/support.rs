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
