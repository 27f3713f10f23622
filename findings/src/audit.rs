//! The audit log: append-only, hash-chained proof of every connection attempt
//! and DNS query haetae made or refused.
//!
//! # Format
//!
//! The log is a JSON Lines file, one [`AuditRecord`] per line, `seq` starting
//! at 1 and increasing by 1. Every record's `prev` is the lowercase hex SHA-256
//! of the exact bytes of the previous line (without its newline); the first
//! record's `prev` is 64 zeros. A line is only a record once its newline is
//! written.
//!
//! A chain cannot see records cut off its end, so a small sidecar file
//! `<log>.head` (`{"seq":N,"hash":"<sha256 of line N>"}`) seals the last
//! record at every [`AuditLog::sync`]; it is replaced atomically (temporary
//! file, fsync, rename, fsync of the directory).
//!
//! # What is detected
//!
//! [`verify`] reports the first [`ChainProblem`]: a line that is not a record,
//! deleted, reordered, repeated or edited records, records deleted from the
//! start or the end, a missing or unreadable head file, and the two harmless
//! leftovers of a crash or of a writer still running (an incomplete last line,
//! records written after the last sync; see [`ChainProblem::recoverable`]).
//!
//! The chain is a plain SHA-256 chain, not a signature: it proves that nothing
//! was changed by accident or by someone who did not rewrite every following
//! record and the head file. Keep copies (or a signed hash of the head file)
//! elsewhere to prove more.
//!
//! # Writing
//!
//! [`AuditLog`] is shared (`Arc`) by every task that probes. [`AuditLog::append`]
//! only serializes, hashes and buffers; [`AuditLog::sync`] makes everything
//! appended so far durable and reseals the head. [`AuditLog::open`] continues an
//! existing log only if it verifies (apart from crash leftovers, which it
//! repairs): it never starts a new chain over, or extends, a damaged log, and
//! never reseals a head over evidence of deletion. One process at a time may
//! write a given log.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// The longest line (without its newline) a record may take, in bytes.
/// [`AuditLog::append`] refuses longer records, and readers treat longer lines
/// as damage instead of reading them into memory.
pub const MAX_LINE: usize = 1 << 20;

/// `prev` of the first record: 64 zeros.
const ZERO_HASH: [u8; 32] = [0; 32];

/// Size of the append buffer.
const WRITE_BUFFER: usize = 64 * 1024;

/// Size of the read buffer when scanning a log.
const READ_BUFFER: usize = 256 * 1024;

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
    #[error("audit log {path}: cannot {action}: {source}")]
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

/// The first thing wrong with an audit log, as found by [`verify`].
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
    /// writer is still running. [`AuditLog::open`] removes it.
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
    /// [`AuditLog::open`] repairs or accepts; false for evidence of loss or tampering.
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
            ChainProblem::NoHead { records } => write!(
                f,
                "the head file is missing: the log ends at line {records} (seq {records}) and nothing shows whether records after it were deleted"
            ),
            ChainProblem::BadHead { reason } => write!(f, "the head file is unreadable: {reason}"),
        }
    }
}

impl std::error::Error for ChainProblem {}

/// What [`verify`] found.
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

/// The head file: the last record sealed by [`AuditLog::sync`].
#[derive(Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The head file as found on disk.
enum HeadState {
    Missing,
    Bad(String),
    Present { seq: u64, hash: [u8; 32] },
}

/// The writer's state, behind one mutex.
struct Writer {
    out: BufWriter<File>,
    /// Seq of the next record.
    next_seq: u64,
    /// SHA-256 of the last line written (zeros before the first).
    last_hash: [u8; 32],
    /// Reused encoding buffer.
    line: Vec<u8>,
    /// A write or fsync failed: refuse everything.
    broken: bool,
}

/// Serializes syncs; owns a second handle on the log for fsync without blocking appends.
struct Seal {
    file: File,
    /// Last seq written to the head file.
    sealed_seq: u64,
}

/// An open audit log, appended to by many threads.
///
/// Share it behind an `Arc`. Dropping it syncs (ignoring errors); call
/// [`AuditLog::sync`] yourself to learn whether the records reached the disk.
pub struct AuditLog {
    path: PathBuf,
    head_path: PathBuf,
    writer: Mutex<Writer>,
    seal: Mutex<Seal>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.path).field("last_seq", &self.last_seq()).finish()
    }
}

impl AuditLog {
    /// Opens the log at `path` for appending, creating it (and its parent
    /// directories and head file) if missing.
    ///
    /// An existing log is read to the end to find its last record; it is
    /// continued only if it verifies. An incomplete last line (a crash during a
    /// write) is cut off, and records written after the last sync are accepted;
    /// any other [`ChainProblem`] (including a head file that shows records were
    /// deleted, or a missing head file next to a non-empty log) is returned as
    /// [`AuditError::Damaged`] and the files are left untouched.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let head_path = head_path(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err(dir, "create the directory"))?;
        }
        let head = read_head(&head_path)?;
        let file = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The head file outliving its log means the log was deleted.
                let problem = match &head {
                    HeadState::Present { seq, .. } if *seq > 0 => {
                        Some(ChainProblem::Truncated { records: 0, head_seq: *seq })
                    }
                    HeadState::Bad(reason) => Some(ChainProblem::BadHead { reason: reason.clone() }),
                    _ => None,
                };
                if let Some(problem) = problem {
                    return Err(AuditError::Damaged { path: path.to_owned(), problem });
                }
                OpenOptions::new().read(true).append(true).create(true).open(path).map_err(io_err(path, "create"))?
            }
            Err(e) => return Err(AuditError::Io { path: path.to_owned(), action: "open for appending", source: e }),
        };
        let scan = scan(&file, &head).map_err(io_err(path, "read"))?;
        if let Some(problem) = scan.chain {
            return Err(AuditError::Damaged { path: path.to_owned(), problem });
        }
        match scan.head {
            None | Some(ChainProblem::Unsealed { .. }) => {}
            Some(problem) => return Err(AuditError::Damaged { path: path.to_owned(), problem }),
        }
        if scan.torn.is_some() {
            file.set_len(scan.good_end).map_err(io_err(path, "cut off the incomplete last line"))?;
            file.sync_all().map_err(io_err(path, "fsync"))?;
        }
        let (sealed_seq, need_head) = match head {
            HeadState::Present { seq, .. } => (seq, false),
            HeadState::Missing | HeadState::Bad(_) => (0, true),
        };
        let seal_file = file.try_clone().map_err(io_err(path, "duplicate the file handle"))?;
        let log = AuditLog {
            path: path.to_owned(),
            head_path,
            writer: Mutex::new(Writer {
                out: BufWriter::with_capacity(WRITE_BUFFER, file),
                next_seq: scan.records + 1,
                last_hash: scan.last_hash,
                line: Vec::with_capacity(1024),
                broken: false,
            }),
            seal: Mutex::new(Seal { file: seal_file, sealed_seq }),
        };
        if need_head {
            // A new (or empty) log gets its head at once, so that from now on a
            // non-empty log without a head file is evidence, not a crash.
            write_head(&log.path, &log.head_path, 0, &ZERO_HASH)?;
        }
        Ok(log)
    }

    /// Appends one record and returns its seq.
    ///
    /// The record is only buffered: call [`AuditLog::sync`] to make it durable.
    /// After a failed write every later call returns [`AuditError::Broken`].
    pub fn append(&self, entry: AuditEntry) -> Result<u64, AuditError> {
        let mut guard = self.lock_writer()?;
        let w = &mut *guard;
        if w.broken {
            return Err(self.broken());
        }
        let seq = w.next_seq;
        let record = AuditRecord { seq, time: Timestamp::now(), entry, prev: hex(&w.last_hash) };
        w.line.clear();
        serde_json::to_writer(&mut w.line, &record)
            .map_err(|e| AuditError::Encode { path: self.path.clone(), message: e.to_string() })?;
        if w.line.len() > MAX_LINE {
            return Err(AuditError::TooLong { path: self.path.clone(), len: w.line.len() });
        }
        let hash: [u8; 32] = Sha256::digest(&w.line).into();
        w.line.push(b'\n');
        if let Err(e) = w.out.write_all(&w.line) {
            w.broken = true;
            return Err(AuditError::Io { path: self.path.clone(), action: "write", source: e });
        }
        w.next_seq += 1;
        w.last_hash = hash;
        Ok(seq)
    }

    /// Writes out everything appended so far, fsyncs it, and reseals the head
    /// file with the last record (atomically: temporary file, fsync, rename,
    /// fsync of the directory).
    ///
    /// Appends from other threads wait only while the buffer is handed to the
    /// system, not during the fsyncs.
    pub fn sync(&self) -> Result<(), AuditError> {
        let mut seal = self.seal.lock().map_err(|_| self.broken())?;
        let (seq, hash) = {
            let mut w = self.lock_writer()?;
            if w.broken {
                return Err(self.broken());
            }
            if let Err(e) = w.out.flush() {
                w.broken = true;
                return Err(AuditError::Io { path: self.path.clone(), action: "write", source: e });
            }
            (w.next_seq - 1, w.last_hash)
        };
        if let Err(e) = seal.file.sync_data() {
            // After a failed fsync the kernel may have dropped the data; a later
            // fsync could succeed without it ever reaching the disk.
            if let Ok(mut w) = self.writer.lock() {
                w.broken = true;
            }
            return Err(AuditError::Io { path: self.path.clone(), action: "fsync", source: e });
        }
        if seq != seal.sealed_seq {
            write_head(&self.path, &self.head_path, seq, &hash)?;
            seal.sealed_seq = seq;
        }
        Ok(())
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq of the last record appended (buffered or written), `None` while the log is empty.
    pub fn last_seq(&self) -> Option<u64> {
        let w = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        w.next_seq.checked_sub(1).filter(|&s| s > 0)
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>, AuditError> {
        self.writer.lock().map_err(|_| self.broken())
    }

    fn broken(&self) -> AuditError {
        AuditError::Broken { path: self.path.clone() }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Best effort: whoever needs to know calls `sync` first.
        let _ = self.sync();
    }
}

/// Checks the whole log at `path` and its head file, and reports the first problem.
///
/// Reads the file once, sequentially, holding one line at a time. When several
/// problems concern the end of the log, evidence of deletion or editing
/// (head file mismatch, missing head file) is reported before an incomplete
/// last line, which is reported before unsealed records.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let head = read_head(&head_path(path))?;
    let file = File::open(path).map_err(io_err(path, "open"))?;
    let scan = scan(&file, &head).map_err(io_err(path, "read"))?;
    let problem = scan.chain.or_else(|| match scan.head {
        Some(p @ ChainProblem::Unsealed { .. }) => scan.torn.map(|line| ChainProblem::Torn { line }).or(Some(p)),
        Some(p) => Some(p),
        None => scan.torn.map(|line| ChainProblem::Torn { line }),
    });
    Ok(VerifyReport { records: scan.records, problem })
}

/// Reads every record of the log at `path`, in file order, for export.
///
/// Does not check the chain (that is [`verify`]'s job), but fails on a line
/// that is not a record, naming it. An incomplete last line is not a record
/// (a write in progress or cut by a crash) and is left out.
pub fn read_all(path: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    let file = File::open(path).map_err(io_err(path, "open"))?;
    let mut lines = Lines::new(&file);
    let mut out = Vec::new();
    let mut line = 0u64;
    loop {
        let kind = lines.next().map_err(io_err(path, "read"))?;
        let bytes = match kind {
            LineKind::Eof | LineKind::Torn | LineKind::TooLong { complete: false } => return Ok(out),
            LineKind::TooLong { complete: true } => {
                line += 1;
                let reason = format!("the line is longer than {MAX_LINE} bytes");
                return Err(AuditError::Damaged {
                    path: path.to_owned(),
                    problem: ChainProblem::Malformed { line, reason },
                });
            }
            LineKind::Complete => lines.line(),
        };
        line += 1;
        match serde_json::from_slice::<AuditRecord>(bytes) {
            Ok(r) => out.push(r),
            Err(e) => {
                let problem = ChainProblem::Malformed { line, reason: e.to_string() };
                return Err(AuditError::Damaged { path: path.to_owned(), problem });
            }
        }
    }
}

/// What one pass over a log found.
struct Scan {
    /// Complete lines that parsed and chained before the first problem.
    records: u64,
    /// SHA-256 of the last of them.
    last_hash: [u8; 32],
    /// Byte offset just after the last of them.
    good_end: u64,
    /// The first problem among complete lines.
    chain: Option<ChainProblem>,
    /// Line number of an incomplete last line (only when `chain` is `None`).
    torn: Option<u64>,
    /// What the head file says about the end (only when `chain` is `None`).
    head: Option<ChainProblem>,
}

/// Reads the log from the start and checks the chain and the head file.
/// After a seq jump it reads on, to tell records moved later from records deleted.
fn scan(file: &File, head: &HeadState) -> io::Result<Scan> {
    let mut lines = Lines::new(file);
    let mut s = Scan { records: 0, last_hash: ZERO_HASH, good_end: 0, chain: None, torn: None, head: None };
    let head_seq = match head {
        HeadState::Present { seq, .. } => Some(*seq),
        _ => None,
    };
    // SHA-256 of the line the head file names, once read.
    let mut hash_at_head: Option<[u8; 32]> = None;
    let mut line = 0u64;
    loop {
        match lines.next()? {
            LineKind::Eof => break,
            LineKind::Torn | LineKind::TooLong { complete: false } => {
                s.torn = Some(line + 1);
                break;
            }
            LineKind::TooLong { complete: true } => {
                let reason = format!("the line is longer than {MAX_LINE} bytes");
                s.chain = Some(ChainProblem::Malformed { line: line + 1, reason });
                return Ok(s);
            }
            LineKind::Complete => {}
        }
        line += 1;
        let expected = s.records + 1;
        let bytes = lines.line();
        let record: AuditRecord = match serde_json::from_slice(bytes) {
            Ok(r) => r,
            Err(e) => {
                let reason = if bytes.is_empty() { "the line is empty".to_owned() } else { e.to_string() };
                s.chain = Some(ChainProblem::Malformed { line, reason });
                return Ok(s);
            }
        };
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let prev_ok = record.prev == hex(&s.last_hash);
        if record.seq == expected {
            if !prev_ok {
                // The previous record changed (or this one's `prev`); at line 1 this record changed.
                let (line, seq) = if line == 1 { (1, 1) } else { (line - 1, expected - 1) };
                s.chain = Some(ChainProblem::Edited { line, seq });
                return Ok(s);
            }
        } else if record.seq > expected {
            let found = record.seq;
            s.chain = Some(if prev_ok {
                // Chained to the right predecessor: only its own seq was changed.
                ChainProblem::Edited { line, seq: expected }
            } else if appears_later(&mut lines, expected, found)? {
                ChainProblem::Reordered { line, expected, found }
            } else {
                ChainProblem::Deleted { line, expected, found }
            });
            return Ok(s);
        } else {
            s.chain = Some(ChainProblem::Reordered { line, expected, found: record.seq });
            return Ok(s);
        }
        if head_seq == Some(record.seq) {
            hash_at_head = Some(hash);
        }
        s.records = expected;
        s.last_hash = hash;
        s.good_end += bytes.len() as u64 + 1;
    }
    s.head = match head {
        HeadState::Missing => (s.records > 0).then_some(ChainProblem::NoHead { records: s.records }),
        HeadState::Bad(reason) => Some(ChainProblem::BadHead { reason: reason.clone() }),
        HeadState::Present { seq, hash } => {
            let sealed = if *seq == 0 { Some(ZERO_HASH) } else { hash_at_head };
            if *seq > s.records {
                Some(ChainProblem::Truncated { records: s.records, head_seq: *seq })
            } else if sealed != Some(*hash) {
                if *seq == 0 {
                    Some(ChainProblem::BadHead { reason: "seq 0 with a hash other than 64 zeros".to_owned() })
                } else {
                    Some(ChainProblem::TailEdited { line: *seq, seq: *seq })
                }
            } else if *seq < s.records {
                Some(ChainProblem::Unsealed { head_seq: *seq, last_seq: s.records })
            } else {
                None
            }
        }
    };
    Ok(s)
}

/// Whether any later complete line holds a seq in `from..to`.
fn appears_later(lines: &mut Lines<'_>, from: u64, to: u64) -> io::Result<bool> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    loop {
        match lines.next()? {
            LineKind::Eof | LineKind::Torn | LineKind::TooLong { complete: false } => return Ok(false),
            LineKind::TooLong { complete: true } => {}
            LineKind::Complete => {
                if let Ok(r) = serde_json::from_slice::<SeqOnly>(lines.line())
                    && (from..to).contains(&r.seq)
                {
                    return Ok(true);
                }
            }
        }
    }
}

/// What [`Lines::next`] read.
enum LineKind {
    /// End of file.
    Eof,
    /// A line with its newline; its bytes (without the newline) are in [`Lines::line`].
    Complete,
    /// Bytes at the end of the file without a newline.
    Torn,
    /// A line longer than [`MAX_LINE`], skipped; `complete` if a newline ended it.
    TooLong { complete: bool },
}

/// Newline-separated lines of bounded length.
struct Lines<'a> {
    reader: BufReader<&'a File>,
    buf: Vec<u8>,
}

impl<'a> Lines<'a> {
    fn new(file: &'a File) -> Self {
        Lines { reader: BufReader::with_capacity(READ_BUFFER, file), buf: Vec::with_capacity(1024) }
    }

    fn next(&mut self) -> io::Result<LineKind> {
        self.buf.clear();
        let limit = MAX_LINE as u64 + 1;
        let n = self.reader.by_ref().take(limit).read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(LineKind::Eof);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            return Ok(LineKind::Complete);
        }
        if n <= MAX_LINE {
            return Ok(LineKind::Torn);
        }
        self.buf.clear();
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(LineKind::TooLong { complete: false });
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.reader.consume(i + 1);
                    return Ok(LineKind::TooLong { complete: true });
                }
                None => {
                    let len = available.len();
                    self.reader.consume(len);
                }
            }
        }
    }

    fn line(&self) -> &[u8] {
        &self.buf
    }
}

/// `<log>.head`.
fn head_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".head");
    PathBuf::from(s)
}

fn read_head(head_path: &Path) -> Result<HeadState, AuditError> {
    let file = match File::open(head_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HeadState::Missing),
        Err(e) => return Err(AuditError::Io { path: head_path.to_owned(), action: "open", source: e }),
    };
    let mut bytes = Vec::new();
    file.take(4096).read_to_end(&mut bytes).map_err(io_err(head_path, "read"))?;
    let head: Head = match serde_json::from_slice(&bytes) {
        Ok(h) => h,
        Err(e) => return Ok(HeadState::Bad(e.to_string())),
    };
    match unhex(&head.hash) {
        Some(hash) => Ok(HeadState::Present { seq: head.seq, hash }),
        None => Ok(HeadState::Bad(format!("`hash` is not 64 lowercase hex digits: `{}`", head.hash))),
    }
}

fn write_head(log: &Path, head_path: &Path, seq: u64, hash: &[u8; 32]) -> Result<(), AuditError> {
    let mut tmp = head_path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut body = serde_json::to_vec(&Head { seq, hash: hex(hash) })
        .map_err(|e| AuditError::Encode { path: head_path.to_owned(), message: e.to_string() })?;
    body.push(b'\n');
    let mut f = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
    f.write_all(&body).map_err(io_err(&tmp, "write"))?;
    f.sync_all().map_err(io_err(&tmp, "fsync"))?;
    drop(f);
    fs::rename(&tmp, head_path).map_err(io_err(head_path, "replace"))?;
    sync_dir(log)
}

/// Makes a rename in the log's directory durable.
#[cfg(unix)]
fn sync_dir(log: &Path) -> Result<(), AuditError> {
    let dir = match log.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir, "fsync the directory"))
}

/// Directories cannot be opened for fsync here; renames are durable enough.
#[cfg(not(unix))]
fn sync_dir(_log: &Path) -> Result<(), AuditError> {
    Ok(())
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> AuditError + 'a {
    move |source| AuditError::Io { path: path.to_owned(), action, source }
}

fn hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Parses exactly 64 lowercase hex digits.
fn unhex(s: &str) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};

    use proptest::prelude::*;

    use super::*;

    fn entry(i: u64) -> AuditEntry {
        AuditEntry {
            engagement: "KR-2026-0142".into(),
            target: format!("h{i}.agency.test"),
            address: Some(IpAddr::from([127, 77, 0, (i % 250) as u8])),
            port: if i.is_multiple_of(3) { None } else { Some(443) },
            protocol: if i.is_multiple_of(2) { Protocol::Tcp } else { Protocol::DnsTcp },
            probe: "tcp.connect".into(),
            verdict: if i.is_multiple_of(5) { Verdict::Refused } else { Verdict::Allowed },
            reason: "127.77.0.1 is inside cidrs 127.77.0.0/20".into(),
            outcome: "connected".into(),
        }
    }

    /// A synced log of `n` records in a fresh directory (created by `open`).
    fn log_with(n: u64) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join("log.jsonl");
        let log = AuditLog::open(&path).unwrap();
        for i in 1..=n {
            assert_eq!(log.append(entry(i)).unwrap(), i);
        }
        log.sync().unwrap();
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<Vec<u8>> {
        let bytes = fs::read(path).unwrap();
        assert_eq!(bytes.last(), Some(&b'\n'));
        bytes[..bytes.len() - 1].split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
    }

    fn write_lines(path: &Path, lines: &[Vec<u8>]) {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        fs::write(path, out).unwrap();
    }

    fn replace(line: &[u8], from: &str, to: &str) -> Vec<u8> {
        let s = String::from_utf8(line.to_vec()).unwrap();
        assert!(s.contains(from), "{s} lacks {from}");
        s.replacen(from, to, 1).into_bytes()
    }

    fn problem(path: &Path) -> Option<ChainProblem> {
        verify(path).unwrap().problem
    }

    /// `open` must refuse a damaged log with that problem and leave both files as they were.
    fn open_refuses(path: &Path, expected: &ChainProblem) {
        let before = (fs::read(path).unwrap(), fs::read(head_path(path)).ok());
        match AuditLog::open(path) {
            Err(AuditError::Damaged { path: p, problem }) => {
                assert_eq!(p, path);
                assert_eq!(&problem, expected);
            }
            other => panic!("open accepted a damaged log: {other:?}"),
        }
        assert_eq!(before, (fs::read(path).unwrap(), fs::read(head_path(path)).ok()));
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<AuditLog>();
    }

    #[test]
    fn record_format_is_flat_json_with_kebab_case_names() {
        let (_dir, path) = log_with(2);
        let first = String::from_utf8(lines(&path)[0].clone()).unwrap();
        assert!(first.starts_with(r#"{"seq":1,"time":""#), "{first}");
        assert!(first.contains(r#""engagement":"KR-2026-0142","target":"h1.agency.test","address":"127.77.0.1","port":443,"protocol":"dns-tcp","probe":"tcp.connect","verdict":"allowed""#), "{first}");
        assert!(first.ends_with(&format!(r#""prev":"{}"}}"#, "0".repeat(64))), "{first}");
        let head: serde_json::Value = serde_json::from_slice(&fs::read(head_path(&path)).unwrap()).unwrap();
        let last_hash = hex(&Sha256::digest(&lines(&path)[1]).into());
        assert_eq!(head, serde_json::json!({"seq": 2, "hash": last_hash}));
    }

    #[test]
    fn append_after_reopen_continues_the_chain() {
        let (_dir, path) = log_with(3);
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.path(), path);
        assert_eq!(log.last_seq(), Some(3));
        assert_eq!(log.append(entry(4)).unwrap(), 4);
        assert_eq!(log.last_seq(), Some(4));
        log.sync().unwrap();
        drop(log);
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 4, problem: None });
        let records = read_all(&path).unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(records[3].entry, entry(4));
        assert_eq!(records[3].prev, hex(&Sha256::digest(&lines(&path)[2]).into()));
        assert_eq!(records[0].prev, "0".repeat(64));
    }

    #[test]
    fn new_and_empty_logs_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.last_seq(), None);
        drop(log);
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 0, problem: None });
        // An empty log without a head file is fine too, and gets one on open.
        fs::remove_file(head_path(&path)).unwrap();
        assert!(verify(&path).unwrap().is_ok());
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.append(entry(1)).unwrap(), 1);
        drop(log); // syncs
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 1, problem: None });
    }

    #[test]
    fn a_thousand_records_from_several_threads_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut seqs = Vec::new();
                    for i in 0..250 {
                        seqs.push(log.append(entry(t * 1000 + i)).unwrap());
                        if i % 100 == 99 {
                            log.sync().unwrap();
                        }
                    }
                    seqs
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        log.sync().unwrap();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
        assert_eq!(log.last_seq(), Some(1000));
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 1000, problem: None });
        assert_eq!(read_all(&path).unwrap().len(), 1000);
    }

    #[test]
    fn an_edited_record_is_found() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        l[4] = replace(&l[4], "connected", "connectex");
        write_lines(&path, &l);
        let report = verify(&path).unwrap();
        let expected = ChainProblem::Edited { line: 5, seq: 5 };
        assert_eq!(report, VerifyReport { records: 5, problem: Some(expected.clone()) });
        let text = expected.to_string();
        assert!(text.contains("line 5") && text.contains("seq 5") && text.contains("changed"), "{text}");
        open_refuses(&path, &expected);
    }

    #[test]
    fn an_edited_seq_is_an_edit_not_a_deletion() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        l[4] = replace(&l[4], r#""seq":5"#, r#""seq":7"#);
        write_lines(&path, &l);
        assert_eq!(problem(&path), Some(ChainProblem::Edited { line: 5, seq: 5 }));
    }

    #[test]
    fn an_edited_last_record_is_found_through_the_head() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        l[8] = replace(&l[8], "connected", "refused by host");
        write_lines(&path, &l);
        let expected = ChainProblem::TailEdited { line: 9, seq: 9 };
        assert_eq!(problem(&path), Some(expected.clone()));
        open_refuses(&path, &expected);
    }

    #[test]
    fn a_deleted_middle_record_is_found() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        l.remove(4);
        write_lines(&path, &l);
        let expected = ChainProblem::Deleted { line: 5, expected: 5, found: 6 };
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 4, problem: Some(expected.clone()) });
        let text = expected.to_string();
        assert!(text.contains("line 5") && text.contains("seq 5 was deleted"), "{text}");
        open_refuses(&path, &expected);
    }

    #[test]
    fn deleted_first_records_are_found() {
        let (_dir, path) = log_with(9);
        let l = lines(&path);
        write_lines(&path, &l[3..]);
        let expected = ChainProblem::Deleted { line: 1, expected: 1, found: 4 };
        assert_eq!(problem(&path), Some(expected.clone()));
        assert!(expected.to_string().contains("seq 1 to 3 were deleted from the start"), "{expected}");
    }

    #[test]
    fn swapped_records_are_found() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        l.swap(3, 4);
        write_lines(&path, &l);
        let expected = ChainProblem::Reordered { line: 4, expected: 4, found: 5 };
        assert_eq!(problem(&path), Some(expected.clone()));
        assert!(expected.to_string().contains("line 4 has seq 5 where seq 4 belongs"), "{expected}");
        open_refuses(&path, &expected);
    }

    #[test]
    fn a_record_moved_far_and_a_repeated_record_are_reordering() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        let moved = l.remove(2);
        l.insert(7, moved);
        write_lines(&path, &l);
        assert_eq!(problem(&path), Some(ChainProblem::Reordered { line: 3, expected: 3, found: 4 }));

        let (_dir2, path2) = log_with(9);
        let mut l = lines(&path2);
        l.insert(5, l[4].clone());
        write_lines(&path2, &l);
        assert_eq!(problem(&path2), Some(ChainProblem::Reordered { line: 6, expected: 6, found: 5 }));
    }

    #[test]
    fn a_deleted_last_record_is_found_through_the_head() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        l.pop();
        write_lines(&path, &l);
        let expected = ChainProblem::Truncated { records: 8, head_seq: 9 };
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 8, problem: Some(expected.clone()) });
        let text = expected.to_string();
        assert!(text.contains("line 8") && text.contains("seq 9 to 9") && text.contains("deleted"), "{text}");
        open_refuses(&path, &expected);
    }

    #[test]
    fn a_deleted_log_with_its_head_left_is_not_restarted() {
        let (_dir, path) = log_with(3);
        fs::remove_file(&path).unwrap();
        assert!(matches!(verify(&path), Err(AuditError::Io { .. })));
        match AuditLog::open(&path) {
            Err(AuditError::Damaged { problem, .. }) => {
                assert_eq!(problem, ChainProblem::Truncated { records: 0, head_seq: 3 });
            }
            other => panic!("{other:?}"),
        }
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_or_bad_head_is_a_problem() {
        let (_dir, path) = log_with(4);
        let head = fs::read(head_path(&path)).unwrap();
        fs::remove_file(head_path(&path)).unwrap();
        let expected = ChainProblem::NoHead { records: 4 };
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 4, problem: Some(expected.clone()) });
        open_refuses_without_head(&path, &expected);
        fs::write(head_path(&path), b"{\"seq\": 4}").unwrap();
        assert!(matches!(problem(&path), Some(ChainProblem::BadHead { .. })));
        fs::write(head_path(&path), head).unwrap();
        assert!(verify(&path).unwrap().is_ok());
    }

    fn open_refuses_without_head(path: &Path, expected: &ChainProblem) {
        let before = fs::read(path).unwrap();
        match AuditLog::open(path) {
            Err(AuditError::Damaged { problem, .. }) => assert_eq!(&problem, expected),
            other => panic!("{other:?}"),
        }
        assert_eq!(before, fs::read(path).unwrap());
        assert!(!head_path(path).exists());
    }

    #[test]
    fn a_torn_last_line_is_cut_on_open_and_the_chain_continues() {
        // A crash: seq 9 was sealed, 10 reached the disk, 11 was cut mid-write.
        let (_dir, path) = log_with(9);
        let sealed_head = fs::read(head_path(&path)).unwrap();
        {
            let log = AuditLog::open(&path).unwrap();
            log.append(entry(10)).unwrap();
            log.append(entry(11)).unwrap();
        }
        fs::write(head_path(&path), &sealed_head).unwrap();
        assert_eq!(problem(&path), Some(ChainProblem::Unsealed { head_seq: 9, last_seq: 11 }));
        let full = fs::read(&path).unwrap();
        let last_len = lines(&path)[10].len();
        fs::write(&path, &full[..full.len() - 1 - last_len / 2]).unwrap();
        let report = verify(&path).unwrap();
        assert_eq!(report, VerifyReport { records: 10, problem: Some(ChainProblem::Torn { line: 11 }) });
        assert!(report.problem.as_ref().is_some_and(ChainProblem::recoverable));

        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.last_seq(), Some(10));
        assert_eq!(log.append(entry(11)).unwrap(), 11);
        log.sync().unwrap();
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 11, problem: None });
        assert_eq!(read_all(&path).unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=11).collect::<Vec<_>>());
    }

    #[test]
    fn a_truncation_mid_line_is_not_mistaken_for_a_crash() {
        let (_dir, path) = log_with(9);
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 10]).unwrap();
        let expected = ChainProblem::Truncated { records: 8, head_seq: 9 };
        assert_eq!(problem(&path), Some(expected.clone()));
        open_refuses(&path, &expected);
    }

    #[test]
    fn a_malformed_line_is_found() {
        let (_dir, path) = log_with(9);
        let mut l = lines(&path);
        l[2] = br#"{"seq":3,"time":"2026-01-01T00:00:00Z"}"#.to_vec();
        write_lines(&path, &l);
        let report = verify(&path).unwrap();
        assert_eq!(report.records, 2);
        let Some(ChainProblem::Malformed { line: 3, reason }) = &report.problem else { panic!("{report:?}") };
        assert!(reason.contains("missing field"), "{reason}");
        let p = report.problem.clone().unwrap();
        open_refuses(&path, &p);
        let err = AuditLog::open(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains("line 3"), "{err}");
        assert!(matches!(
            read_all(&path),
            Err(AuditError::Damaged { problem: ChainProblem::Malformed { line: 3, .. }, .. })
        ));

        l[2] = b"not json at all".to_vec();
        write_lines(&path, &l);
        assert!(matches!(problem(&path), Some(ChainProblem::Malformed { line: 3, .. })));
        l[2] = Vec::new();
        write_lines(&path, &l);
        assert_eq!(problem(&path), Some(ChainProblem::Malformed { line: 3, reason: "the line is empty".into() }));
    }

    #[test]
    fn an_overlong_line_is_malformed_without_being_read_whole() {
        let (_dir, path) = log_with(3);
        let mut l = lines(&path);
        l.insert(1, vec![b'x'; MAX_LINE + 10]);
        write_lines(&path, &l);
        assert!(matches!(problem(&path), Some(ChainProblem::Malformed { line: 2, .. })));
        let log = AuditLog::open(&path);
        assert!(matches!(log, Err(AuditError::Damaged { .. })));
    }

    #[test]
    fn an_overlong_record_is_refused_and_the_log_goes_on() {
        let (_dir, path) = log_with(1);
        let log = AuditLog::open(&path).unwrap();
        let mut big = entry(2);
        big.reason = "r".repeat(MAX_LINE);
        assert!(matches!(log.append(big), Err(AuditError::TooLong { .. })));
        assert_eq!(log.append(entry(2)).unwrap(), 2);
        log.sync().unwrap();
        assert_eq!(verify(&path).unwrap(), VerifyReport { records: 2, problem: None });
    }

    /// A sound log of 9 records and its head file, built once.
    fn sample() -> &'static (Vec<u8>, Vec<u8>) {
        static SAMPLE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
        SAMPLE.get_or_init(|| {
            let (_dir, path) = log_with(9);
            (fs::read(&path).unwrap(), fs::read(head_path(&path)).unwrap())
        })
    }

    #[derive(Debug, Clone)]
    enum Damage {
        Append { line: usize, bytes: Vec<u8> },
        Replace { line: usize, bytes: Vec<u8> },
        Flip { at: usize, byte: u8 },
    }

    fn damage() -> impl Strategy<Value = Damage> {
        let bytes = || {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                "[ -~\n]{0,64}".prop_map(String::into_bytes),
                Just(b"\n".to_vec()),
            ]
        };
        prop_oneof![
            (0..9usize, bytes()).prop_map(|(line, bytes)| Damage::Append { line, bytes }),
            (0..9usize, bytes()).prop_map(|(line, bytes)| Damage::Replace { line, bytes }),
            (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Flip { at, byte }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Whatever is done to a line, verify neither panics nor fails to read,
        /// notices any change, and open refuses exactly what it cannot repair.
        #[test]
        fn any_damage_is_reported_without_panicking(d in damage()) {
            let (good, head) = sample();
            let mut l: Vec<Vec<u8>> = good[..good.len() - 1].split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let bad = match &d {
                Damage::Append { line, bytes } => {
                    l[*line].extend_from_slice(bytes);
                    l.iter().flat_map(|x| x.iter().copied().chain([b'\n'])).collect::<Vec<u8>>()
                }
                Damage::Replace { line, bytes } => {
                    l[*line].clone_from(bytes);
                    l.iter().flat_map(|x| x.iter().copied().chain([b'\n'])).collect()
                }
                Damage::Flip { at, byte } => {
                    let mut g = good.clone();
                    let at = at % g.len();
                    g[at] = *byte;
                    g
                }
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.jsonl");
            fs::write(&path, &bad).unwrap();
            fs::write(head_path(&path), head).unwrap();
            let report = verify(&path).unwrap();
            prop_assert_eq!(report.problem.is_none(), &bad == good, "{:?}", report);
            match AuditLog::open(&path) {
                Ok(log) => {
                    prop_assert!(report.problem.as_ref().is_none_or(ChainProblem::recoverable), "{:?}", report);
                    drop(log);
                    let after = verify(&path).unwrap();
                    prop_assert!(after.is_ok(), "{:?} after open of {:?}", after, report);
                }
                Err(AuditError::Damaged { problem, .. }) => {
                    prop_assert_eq!(Some(problem), report.problem);
                }
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
    }
}
