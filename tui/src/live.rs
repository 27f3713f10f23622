//! What a running scan tells the TUI. The binary turns engine events into
//! these (today from a scan in the same process; later from the daemon).

/// Counters of a running scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Hosts resolved.
    pub hosts_done: u64,
    /// Hosts to resolve.
    pub hosts: u64,
    /// Ports tried.
    pub ports_done: u64,
    /// Ports to try.
    pub ports_total: u64,
    /// Open ports.
    pub open_ports: u64,
    /// Requests sent.
    pub requests: u64,
    /// Observations so far.
    pub findings: u64,
    /// Milliseconds since the scan started.
    pub elapsed_ms: u64,
}

/// One live update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// A scan started.
    Started {
        /// Scan id.
        id: u64,
        /// How many targets it was given.
        targets: usize,
    },
    /// Counters.
    Progress(Progress),
    /// These findings were written (new or changed): reload them.
    Changed(Vec<String>),
    /// Assets (addresses, certificates, ports) were recorded.
    Assets,
    /// Anything may have changed (events were missed, every finding was
    /// re-scored): reload everything.
    Reload,
    /// The scan ended; reload everything (it may have closed findings).
    Finished {
        /// Scan id.
        id: u64,
        /// One line: how it ended and what it found.
        summary: String,
    },
}
