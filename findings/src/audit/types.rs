//! The records, errors and verification results of the audit log.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::MAX_LINE;
use crate::time::Timestamp;

/// What kind of traffic a probe sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// DNS over UDP (`"dns"`).
    Dns,
    /// DNS over TCP, including zone transfers (`"dns-tcp"`).
    DnsTcp,
    /// A plain TCP connection (`"tcp"`).
    Tcp,
    /// A TLS handshake (`"tls"`).
    Tls,
    /// An HTTP request (`"http"`).
    Http,
    /// An SMTP session (`"smtp"`): notification e-mail, not scan traffic.
    Smtp,
    /// A request to haetae's own local API (`"api"`), e.g. one refused for
    /// want of the token; nothing is sent to a target.
    Api,
}

/// Whether the scope check let a probe go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Inside the authorized scope: the probe was sent (`"allowed"`).
    Allowed,
    /// Outside the scope: nothing was sent (`"refused"`).
    Refused,
}

/// What the caller knows about one connection attempt or DNS query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The engagement (authorization) the probe ran under.
    pub engagement: String,
    /// The name (or address text) the probe asked for.
    pub target: String,
    /// The address contacted or refused, when one was resolved.
    pub address: Option<IpAddr>,
    /// The port contacted or refused, when the protocol has one.
    pub port: Option<u16>,
    /// The kind of traffic.
    pub protocol: Protocol,
    /// What the probe does, e.g. `"dns.query A"`, `"tcp.connect"`, `"dns.axfr"`.
    pub probe: String,
    /// Allowed or refused by the scope check.
    pub verdict: Verdict,
    /// Why it was allowed or refused, e.g. `"127.99.0.1 is outside cidrs 127.77.0.0/20"`.
    pub reason: String,
    /// What happened, e.g. `"connected"`, `"timeout"`, `"NXDOMAIN"`, `"not attempted"`.
    pub outcome: String,
}

/// One line of the audit log: an [`AuditEntry`] with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log: 1 for the first record, then +1 per record.
    pub seq: u64,
    /// When the record was appended (UTC, second precision).
    pub time: Timestamp,
    /// What was attempted and what happened.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Lowercase hex SHA-256 of the previous line's bytes; 64 zeros for seq 1.
    pub prev: String,
}

/// Anything reading or writing an audit log can fail with. Every variant names the log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file system refused an operation.
    #[error("{}", io_sentence(path, action, source))]
    Io {
        /// The file the operation was on (the log, its head file or its directory).
        path: PathBuf,
        /// What was being done, e.g. `"open"`, `"read"`, `"fsync"`.
        action: &'static str,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The log (or its head file) fails verification; it was left untouched.
    #[error(
        "audit log {path} is damaged: {problem}. haetae leaves it as it is and will not write to it: keep it as evidence and use a new log"
    )]
    Damaged {
        /// The log.
        path: PathBuf,
        /// The first problem found.
        problem: ChainProblem,
    },
    /// A record would be longer than [`MAX_LINE`]; nothing was written.
    #[error(
        "audit log {path}: a record of {len} bytes is longer than the limit of {MAX_LINE} bytes; nothing was written"
    )]
    TooLong {
        /// The log.
        path: PathBuf,
        /// The record's length in bytes.
        len: usize,
    },
    /// A record could not be encoded as JSON; nothing was written.
    #[error("audit log {path}: cannot encode a record: {message}")]
    Encode {
        /// The log.
        path: PathBuf,
        /// What the encoder said.
        message: String,
    },
    /// An earlier write or fsync failed (or a writer panicked), so what reached
    /// the disk is unknown; the log refuses further records.
    #[error(
        "audit log {path} stopped taking records after a failed write; open it again to continue the chain from what reached the disk"
    )]
    Broken {
        /// The log.
        path: PathBuf,
    },
}

/// The first thing wrong with an audit log, as found by [`verify`](super::verify).
///
/// Line numbers are 1-based. In a sound log line N holds seq N.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// A line is not a valid record (bad JSON, a missing or mistyped field, an empty or overlong line).
    Malformed {
        /// The line.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Records are missing: `line` holds seq `found` where seq `expected` belonged,
    /// and seq `expected..found` appear nowhere later. At line 1 the start of the log was removed.
    Deleted {
        /// The first line after the gap.
        line: u64,
        /// The seq that should be there.
        expected: u64,
        /// The seq that is there.
        found: u64,
    },
    /// Records are out of order or repeated: `line` holds seq `found` where seq
    /// `expected` belonged, and either `found < expected` or seq `expected` appears later.
    Reordered {
        /// The line.
        line: u64,
        /// The seq that should be there.
        expected: u64,
        /// The seq that is there.
        found: u64,
    },
    /// A record was changed after it was written: its SHA-256 no longer matches
    /// the `prev` of the next line (or the record's own `seq`/`prev` contradicts its place).
    Edited {
        /// The line of the changed record.
        line: u64,
        /// Its seq (the one it must have at that line).
        seq: u64,
    },
    /// The log ends in an incomplete line (no newline): a crash cut a write, or a
    /// writer is still running. [`AuditLog::open`](super::AuditLog::open) removes it.
    Torn {
        /// The incomplete line.
        line: u64,
    },
    /// Records were deleted from the end: the log has `records` records but the
    /// head file says seq `head_seq` was written.
    Truncated {
        /// Records in the log (the last is at line `records`, seq `records`).
        records: u64,
        /// The last seq the head file sealed.
        head_seq: u64,
    },
    /// The record the head file sealed was changed after the last sync.
    TailEdited {
        /// Its line.
        line: u64,
        /// Its seq.
        seq: u64,
    },
    /// Records after seq `head_seq` up to `last_seq` are not sealed by the head file:
    /// they were written after the last sync (a crash, or a writer still running).
    /// They chain correctly, but the removal of some of the last of them would not show.
    Unsealed {
        /// The last seq the head file sealed.
        head_seq: u64,
        /// The last seq in the log.
        last_seq: u64,
    },
    /// The log file is gone but its head file is there and seals `head_seq`
    /// records: the whole log was deleted or moved.
    Missing {
        /// The last seq the head file sealed.
        head_seq: u64,
    },
    /// The log has records but no head file, so records deleted from its end would not show.
    NoHead {
        /// Records in the log.
        records: u64,
    },
    /// The head file cannot be read as `{"seq":N,"hash":"<64 hex>"}`.
    BadHead {
        /// What is wrong with it.
        reason: String,
    },
}

impl ChainProblem {
    /// True for what a crash or a still-running writer leaves behind
    /// ([`ChainProblem::Torn`], [`ChainProblem::Unsealed`]), which
    /// [`AuditLog::open`](super::AuditLog::open) repairs or accepts; false for evidence of loss or tampering.
    pub fn recoverable(&self) -> bool {
        matches!(self, ChainProblem::Torn { .. } | ChainProblem::Unsealed { .. })
    }
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::Malformed { line, reason } => {
                write!(f, "line {line} (where seq {line} belongs) is not a valid audit record: {reason}")
            }
            ChainProblem::Deleted { line, expected, found } => {
                let last = found.saturating_sub(1);
                let what = if last == *expected {
                    format!("the record with seq {expected} was")
                } else {
                    format!("the records with seq {expected} to {last} were")
                };
                if *line == 1 {
                    write!(
                        f,
                        "line 1 has seq {found} but a log starts at seq 1: {what} deleted from the start of the log"
                    )
                } else {
                    write!(f, "line {line} has seq {found} where seq {expected} belongs: {what} deleted")
                }
            }
            ChainProblem::Reordered { line, expected, found } => {
                if found > expected {
                    write!(
                        f,
                        "line {line} has seq {found} where seq {expected} belongs, and seq {expected} comes later: records were moved out of order"
                    )
                } else {
                    write!(
                        f,
                        "line {line} has seq {found} where seq {expected} belongs: records were moved out of order or repeated"
                    )
                }
            }
            ChainProblem::Edited { line, seq } => write!(
                f,
                "line {line} (seq {seq}) was changed after it was written: the SHA-256 chain breaks there (at that record or the `prev` of the next one)"
            ),
            ChainProblem::Torn { line } => write!(
                f,
                "line {line} (seq {line}) is incomplete, without its newline: a crash cut the write or a writer is still running; opening the log for writing removes it"
            ),
            ChainProblem::Truncated { records, head_seq } => {
                let gone = head_seq.saturating_sub(*records);
                write!(
                    f,
                    "the log ends at line {records} (seq {records}) but its head file sealed seq {head_seq}: the last {gone} record(s) (seq {} to {head_seq}) were deleted",
                    records.saturating_add(1)
                )
            }
            ChainProblem::TailEdited { line, seq } => write!(
                f,
                "line {line} (seq {seq}) was changed after it was written: its SHA-256 differs from the one the head file sealed"
            ),
            ChainProblem::Unsealed { head_seq, last_seq } => write!(
                f,
                "lines {} to {last_seq} (seq {} to {last_seq}) were written after the last sync sealed seq {head_seq}: a crash, or a writer still running; they chain correctly and the next sync seals them",
                head_seq.saturating_add(1),
                head_seq.saturating_add(1)
            ),
            ChainProblem::Missing { head_seq } => write!(
                f,
                "the log file is missing, but its head file seals {head_seq} record(s) (seq 1 to {head_seq}): the log was deleted or moved; put it back (or a copy from `haetae audit export`) and keep the head file as evidence"
            ),
            ChainProblem::NoHead { records } => write!(
                f,
                "the head file is missing: the log ends at line {records} (seq {records}) and nothing shows whether records after it were deleted"
            ),
            ChainProblem::BadHead { reason } => write!(f, "the head file is unreadable: {reason}"),
        }
    }
}

impl std::error::Error for ChainProblem {}

/// [`AuditError::Io`] in words: a full disk said as such, other errors
/// without Rust's `(os error N)`.
fn io_sentence(path: &std::path::Path, action: &str, source: &io::Error) -> String {
    if crate::error::is_no_space(source) {
        return format!(
            "cannot write to the audit log {}: no space left on device; free space on that disk and run the command again",
            path.display()
        );
    }
    format!("audit log {}: cannot {action}: {}", path.display(), crate::error::io_reason(source))
}

/// What [`verify`](super::verify) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read and found chained correctly before the first problem (all of them when there is none).
    pub records: u64,
    /// The first problem, if any.
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    /// True when the log verified with no problem at all.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}
