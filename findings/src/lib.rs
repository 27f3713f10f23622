//! haetae-findings: what haetae knows, and where it keeps it.
//!
//! - [`Finding`]: one weakness (check, asset, location) with its whole life:
//!   typed [`Severity`], [`Confidence`], [`Priority`], [`State`], evidence, history.
//! - [`CheckId`]: the stable ids of every check (`dns.axfr-open`, ...), with a
//!   catalogue of titles, default severities and CWEs.
//! - [`fingerprint()`]: the stable id of a finding, from normalized inputs.
//! - [`lifecycle::apply`]: the one function that changes a finding's state.
//! - [`Store`]: the findings database behind our own interface, embedded
//!   (sled) or shared (PostgreSQL), with indexes by state, priority, host and
//!   asset, scan runs, and the lifecycle across scans (close what a complete
//!   scan did not see, reopen regressions); on PostgreSQL also the work queue
//!   of `haetae worker`s and their audit segments.
//! - [`export`]: the agency exports (JSON, JSON Lines, CSV, SARIF, Markdown,
//!   HTML), every text redacted again on the way out ([`redact()`]).
//! - [`AuditLog`]: the append-only, SHA-256-chained log of every connection
//!   attempt and DNS query, allowed or refused, with [`audit::verify`].
//!
//! This crate never connects to a target (its only network client is the
//! PostgreSQL one, to the configured database) and depends on no other
//! haetae crate.
//!
//! ```
//! use std::sync::Arc;
//! use haetae_findings::{Asset, CheckId, Finding, Observation, Priority, Prioritizer, Store, Timestamp, UpsertOutcome};
//!
//! struct Flat;
//! impl Prioritizer for Flat {
//!     fn prioritize(&self, f: &mut Finding, _now: Timestamp) { f.priority = Priority::P3; }
//! }
//!
//! let store = Store::temporary(Arc::new(Flat))?;
//! let asset = Asset { host: "Agency.Test.".into(), ip: None, port: None };
//! let obs = Observation::new(CheckId::DnsSpfMissing, asset, "TXT", "KR-2026-0142");
//! let (id, outcome) = store.upsert(&obs)?;
//! assert_eq!(outcome, UpsertOutcome::New);
//! let (again, outcome) = store.upsert(&obs)?;
//! assert_eq!((again.as_str(), outcome), (id.as_str(), UpsertOutcome::Unchanged));
//! let f = store.get(&id)?.unwrap();
//! assert_eq!((f.host.as_str(), f.seen_count, f.priority), ("agency.test", 2, Priority::P3));
//! # Ok::<(), haetae_findings::StoreError>(())
//! ```

/// Serialize a type as its `Display` string and deserialize it with `FromStr`.
macro_rules! serde_as_string {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_as_string;

pub mod audit;
pub mod check;
pub mod error;
pub mod export;
pub mod fingerprint;
pub mod lifecycle;
pub mod model;
pub mod prioritize;
pub mod redact;
pub mod source;
pub mod store;
pub mod time;

pub use audit::{AuditEntry, AuditError, AuditLog, AuditRecord, ChainProblem, Protocol, Verdict, VerifyReport};
pub use check::{CheckId, CheckMeta, UnknownCheck};
pub use error::StoreError;
pub use fingerprint::{FINGERPRINT_VERSION, fingerprint};
pub use lifecycle::{SCANNER, Transition, TransitionError};
pub use model::{
    Asset, Baseline, Confidence, Finding, HistoryEntry, Observation, ParseEnumError, Priority, RuleHit, Severity, State,
};
pub use prioritize::Prioritizer;
pub use redact::redact;
pub use source::SourceError;
pub use store::{
    AssetRecord, AuditSegment, ChangeEvent, ChangeKind, CorruptRecord, Coverage, EVERY_PORT_CHECK, Engagement,
    FailedUnit, Listing, MAX_FAILED_KEPT, OutboxCounts, OutboxItem, OutboxState, ScanCounts, ScanRun, SegmentsReport,
    Selection, Store, Unit, UnitCounts, UpsertOutcome, scope_hash,
};
pub use time::{ParseTimeError, Timestamp};
