//! [`export`]: the audit log for the agency, as JSON Lines or CSV, with the
//! chain hashes.
//!
//! - jsonl is the log's own complete lines, byte for byte: each keeps its
//!   `prev` hash, so the copy is checked by [`super::verify`] like the
//!   original. [`seal_export`] writes the copy's `.head` seal.
//! - csv is one row per record (UTF-8 with a BOM, RFC 4180 quoting) with
//!   `prev` and `hash`, the SHA-256 of the record's line, so a reader can
//!   follow the chain in a spreadsheet.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::export::push_csv_field;

use super::{AuditError, AuditRecord, ChainProblem, LineKind, Lines, hex, io_err, write_head};

/// An audit export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    /// The log's lines, verifiable.
    Jsonl,
    /// One row per record with its hash.
    Csv,
}

/// What an export wrote: how many records, and the last one's seq and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Records written.
    pub records: u64,
    /// Seq of the last record (0 when none).
    pub last_seq: u64,
    /// SHA-256 of the last record's line (zeros when none).
    pub last_hash: [u8; 32],
}

const CSV_HEADER: &str = "seq,time,engagement,target,address,port,protocol,probe,verdict,reason,outcome,prev,hash\r\n";

/// Writes every complete record of the log at `path` to `out`. An incomplete
/// last line (a write in progress) is left out; a line that is not a record
/// is an error naming it. The chain is not checked here (see [`super::verify`]).
pub fn export(path: &Path, format: AuditFormat, out: &mut dyn Write) -> Result<Exported, AuditError> {
    let file = File::open(path).map_err(io_err(path, "open"))?;
    let mut lines = Lines::new(&file);
    let mut done = Exported { records: 0, last_seq: 0, last_hash: [0; 32] };
    let write_err = |e: io::Error| AuditError::Io { path: path.to_owned(), action: "write the export of", source: e };
    if format == AuditFormat::Csv {
        out.write_all("\u{feff}".as_bytes()).and_then(|()| out.write_all(CSV_HEADER.as_bytes())).map_err(write_err)?;
    }
    let mut row = String::new();
    loop {
        match lines.next().map_err(io_err(path, "read"))? {
            LineKind::Eof | LineKind::Torn | LineKind::TooLong { complete: false } => return Ok(done),
            LineKind::TooLong { complete: true } => {
                let reason = format!("the line is longer than {} bytes", super::MAX_LINE);
                let problem = ChainProblem::Malformed { line: done.records + 1, reason };
                return Err(AuditError::Damaged { path: path.to_owned(), problem });
            }
            LineKind::Complete => {}
        }
        let bytes = lines.line();
        let record: AuditRecord = serde_json::from_slice(bytes).map_err(|e| AuditError::Damaged {
            path: path.to_owned(),
            problem: ChainProblem::Malformed { line: done.records + 1, reason: e.to_string() },
        })?;
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        match format {
            AuditFormat::Jsonl => out.write_all(bytes).and_then(|()| out.write_all(b"\n")).map_err(write_err)?,
            AuditFormat::Csv => {
                row.clear();
                csv_row(&mut row, &record, &hex(&hash));
                out.write_all(row.as_bytes()).map_err(write_err)?;
            }
        }
        done = Exported { records: done.records + 1, last_seq: record.seq, last_hash: hash };
    }
}

/// Writes the `.head` seal of a jsonl export at `copy`, so that
/// `haetae audit verify COPY` also detects records cut from its end.
pub fn seal_export(copy: &Path, exported: &Exported) -> Result<(), AuditError> {
    write_head(copy, &super::head_path(copy), exported.last_seq, &exported.last_hash)
}

fn csv_row(row: &mut String, r: &AuditRecord, hash: &str) {
    let e = &r.entry;
    let cells = [
        r.seq.to_string(),
        r.time.to_string(),
        e.engagement.clone(),
        e.target.clone(),
        e.address.map(|a| a.to_string()).unwrap_or_default(),
        e.port.map(|p| p.to_string()).unwrap_or_default(),
        serde_name(&e.protocol),
        e.probe.clone(),
        serde_name(&e.verdict),
        e.reason.clone(),
        e.outcome.clone(),
        r.prev.clone(),
        hash.to_owned(),
    ];
    for (i, cell) in cells.iter().enumerate() {
        push_csv_field(row, i, cell, true);
    }
    row.push_str("\r\n");
}

/// The serde name of a unit enum value (`"dns-tcp"`).
fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
