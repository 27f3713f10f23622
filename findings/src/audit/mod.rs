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
//! start or the end, a missing log whose head file is still there, a missing
//! or unreadable head file, and the two harmless
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

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

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

mod export;
mod types;

pub use export::{AuditFormat, Exported, export, seal_export};
pub use types::{AuditEntry, AuditError, AuditRecord, ChainProblem, Protocol, Verdict, VerifyReport};

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
                    HeadState::Present { seq, .. } if *seq > 0 => Some(ChainProblem::Missing { head_seq: *seq }),
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

    /// The one open log at `path` in this process, opened (as [`AuditLog::open`])
    /// when nobody holds it yet. Everything that audits in one process (a
    /// scan's guard, the daemon's API, notification deliveries) must share one
    /// `AuditLog`: two handles on one file would each continue the chain from
    /// their own last record and fork it.
    pub fn shared(path: &Path) -> Result<Arc<AuditLog>, AuditError> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<AuditLog>>>> = OnceLock::new();
        let key = match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => {
                fs::canonicalize(dir).map_or_else(|_| path.to_owned(), |d| d.join(name))
            }
            _ => path.to_owned(),
        };
        let mut open = OPEN.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, log| log.strong_count() > 0);
        if let Some(log) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(log);
        }
        let log = Arc::new(AuditLog::open(path)?);
        open.insert(key, Arc::downgrade(&log));
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
    let file = match File::open(path) {
        Ok(f) => f,
        // A head file that outlives its log says the log held records: report
        // the loss, not a missing file.
        Err(e) if e.kind() == io::ErrorKind::NotFound => match head {
            HeadState::Present { seq, .. } if seq > 0 => {
                return Ok(VerifyReport { records: 0, problem: Some(ChainProblem::Missing { head_seq: seq }) });
            }
            _ => return Err(AuditError::Io { path: path.to_owned(), action: "open", source: e }),
        },
        Err(e) => return Err(AuditError::Io { path: path.to_owned(), action: "open", source: e }),
    };
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

/// The exact text of records `first..=last` of the log at `path` (a record's
/// line number is its `seq`), for a worker to copy the records of one unit
/// of work into a shared store. Fails when the log holds fewer records.
pub fn read_lines(path: &Path, first: u64, last: u64) -> Result<Vec<String>, AuditError> {
    let file = File::open(path).map_err(io_err(path, "open"))?;
    let mut lines = Lines::new(&file);
    let mut out = Vec::new();
    let mut line = 0u64;
    while line < last {
        match lines.next().map_err(io_err(path, "read"))? {
            LineKind::Complete => {
                line += 1;
                if line >= first {
                    let text = String::from_utf8(lines.line().to_vec()).map_err(|_| AuditError::Damaged {
                        path: path.to_owned(),
                        problem: ChainProblem::Malformed { line, reason: "not UTF-8".into() },
                    })?;
                    out.push(text);
                }
            }
            LineKind::TooLong { complete: true } => {
                line += 1;
                let reason = format!("the line is longer than {MAX_LINE} bytes");
                return Err(AuditError::Damaged {
                    path: path.to_owned(),
                    problem: ChainProblem::Malformed { line, reason },
                });
            }
            LineKind::Eof | LineKind::Torn | LineKind::TooLong { complete: false } => break,
        }
    }
    if line < last {
        return Err(AuditError::Damaged {
            path: path.to_owned(),
            problem: ChainProblem::Malformed {
                line: line + 1,
                reason: format!("record {last} was asked for, the log ends at {line}"),
            },
        });
    }
    Ok(out)
}

/// Lowercase hex SHA-256 of one record's line: the next record's `prev`.
pub fn line_hash(line: &str) -> String {
    hex(&Sha256::digest(line.as_bytes()).into())
}

/// Check a run of consecutive records (`first_seq` onwards) copied out of a
/// log: each parses, has the expected `seq`, and chains to the one before
/// (the first to `first_prev`). Returns the hash of the last line, or the
/// first problem as a sentence.
pub fn check_segment(first_seq: u64, first_prev: &str, lines: &[String]) -> Result<String, String> {
    let mut prev = first_prev.to_owned();
    for (i, line) in lines.iter().enumerate() {
        let seq = first_seq + i as u64;
        let r: AuditRecord = serde_json::from_str(line).map_err(|e| format!("record {seq} is not a record: {e}"))?;
        if r.seq != seq {
            return Err(format!("record {seq} carries seq {}: a record is missing or out of order", r.seq));
        }
        if r.prev != prev {
            return Err(format!("record {seq} does not chain to the record before it (edited, or one is missing)"));
        }
        prev = line_hash(line);
    }
    Ok(prev)
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
mod tests;
