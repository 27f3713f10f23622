//! haetae's service layer: one scan from request to store ([`run_scan`]),
//! shared by `haetae scan`, `haetae tui --scan`, `haetae demo` and the daemon,
//! and the schedules that start scans ([`schedule`] decides when,
//! [`run_daemon`] runs them).
//!
//! It never parses command lines, prints to the terminal, or installs signal
//! handlers: the caller passes a
//! [`CancellationToken`](tokio_util::sync::CancellationToken) and a [`Sink`]
//! for progress; the daemon logs through `tracing`.

pub mod api;
pub mod backups;
pub mod client;
mod daemon;
pub mod events;
pub mod hub;
pub mod notifier;
pub mod query;
mod queue;
pub mod report;
pub mod rescore;
pub mod rules_watch;
mod scan;
pub mod schedule;
pub mod upkeep;
pub mod worker;

pub use daemon::{ScheduleSpec, SetupFn, run_daemon};
pub use hub::Hub;
pub use scan::{
    AUDIT_FILE, BadRequest, Refused, ScanOptions, ScanOutcome, ScanSetup, Sink, Update, authorize, run_scan,
};
pub use upkeep::{Upkeep, recover, run_upkeep};
