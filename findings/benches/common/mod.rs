//! What the store benchmarks share: the prioritizer and the synthetic findings.

use haetae_findings::{Asset, CheckId, Confidence, Finding, Observation, Prioritizer, Priority, Timestamp};

/// Scores without rules: the band from the severity.
pub(crate) struct Flat;

impl Prioritizer for Flat {
    fn prioritize(&self, f: &mut Finding, _now: Timestamp) {
        f.priority = if f.severity >= haetae_findings::Severity::High { Priority::P2 } else { Priority::P4 };
        f.score = 1.0;
    }
}

/// The `i`th synthetic observation: every check in turn, 40 per host.
pub(crate) fn observation(i: usize) -> Observation {
    let check = CheckId::BUILTIN[i % CheckId::BUILTIN.len()].clone();
    let host = format!("h{}.bench.agency.test", i / 40);
    let mut o =
        Observation::new(check, Asset { host, ip: None, port: Some(443) }, format!("https://x/{i}"), "KR-BENCH");
    o.confidence = Confidence::Firm;
    o.evidence = format!("synthetic evidence number {i} with a little text to be realistic");
    o
}
