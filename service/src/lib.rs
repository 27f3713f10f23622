//! haetae's service layer: one scan from request to store ([`run_scan`]),
//! shared by `haetae scan`, `haetae tui --scan`, `haetae demo` and the daemon,
//! and the schedules that start scans ([`schedule`], [`daemon`]).
//!
//! It never parses command lines, prints, or installs signal handlers: the
//! caller passes a [`CancellationToken`](tokio_util::sync::CancellationToken)
//! and a [`Sink`] for progress.

mod scan;

pub use scan::{
    AUDIT_FILE, BadRequest, Refused, ScanOptions, ScanOutcome, ScanSetup, Sink, Update, authorize, run_scan,
};
