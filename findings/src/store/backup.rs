//! [`Store::backup`](crate::Store::backup) and [`Store::restore`](crate::Store::restore): the whole store in one file.
//!
//! # Format (version 1)
//!
//! JSON Lines. The first line is a header
//! (`{"format":"haetae-store-backup","version":1,"schema_version":1,"created":"..."}`);
//! then one line per record, `{"record":{"tree":"findings","key":"<hex>","value":"<hex>"}}`,
//! for every keyspace including the indexes, so a restore is byte for byte
//! the store that was saved; then the audit log files beside the store, in
//! chunks, `{"file":{"name":"audit.jsonl","data":"<hex>"}}`; and last
//! `{"end":{"records":N,"chunks":M,"sha256":"<hex>"}}`, the SHA-256 of every
//! byte before that line. A file without its end line, with anything after
//! it, or whose checksum differs is refused whole.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Keep, SCHEMA_KEY, SCHEMA_VERSION, SledStore, shield};
use crate::error::StoreError;
use crate::time::Timestamp;

/// Version of the backup file format this build writes and the newest it reads.
pub const BACKUP_VERSION: u32 = 1;

const FORMAT: &str = "haetae-store-backup";

/// Every keyspace of the store, in the order a backup holds them (the
/// notification outbox and the SLA breaches already told included: a
/// restored store must not drop a queued notification nor tell one twice).
const TREES: [&str; 10] =
    ["meta", "findings", "by_status", "by_host", "scans", "coverage", "assets", "changes", "outbox", "notified"];

/// The files kept beside the engine's in a store directory and saved with it:
/// the audit log the binary writes there and its head seal.
const FILES: [&str; 2] = ["audit.jsonl", "audit.jsonl.head"];

/// The directory inside a store directory that holds its backups: the
/// daemon's daily ones and the one written before a schema migration.
pub const BACKUP_DIR: &str = "backups";

/// `t` as it appears in a backup's file name (`20261204T150700Z`): names
/// that start with it sort by time.
pub fn backup_stamp(t: Timestamp) -> String {
    t.to_string().chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// Bytes of a file per chunk line.
const CHUNK: usize = 48 * 1024;

/// The longest line a backup may hold; longer ones are damage.
const MAX_LINE: u64 = 64 << 20;

/// What [`Store::backup`](crate::Store::backup) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The backup file.
    pub path: PathBuf,
    /// Records saved, over every keyspace.
    pub records: u64,
    /// Of those, findings.
    pub findings: u64,
    /// Files saved with the records (the audit log and its head), by name.
    pub files: Vec<String>,
    /// Size of the backup file in bytes.
    pub bytes: u64,
}

/// What [`Store::restore`](crate::Store::restore) put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// The store directory restored into.
    pub dir: PathBuf,
    /// When the backup was made.
    pub created: Timestamp,
    /// Records restored, over every keyspace.
    pub records: u64,
    /// Of those, findings.
    pub findings: u64,
    /// Files restored beside the store, by name.
    pub files: Vec<String>,
    /// [`Store::check`](crate::Store::check) of the restored store (a backup of an inconsistent
    /// store restores its inconsistencies too).
    pub check: super::CheckReport,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    schema_version: u32,
    created: Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Line {
    Record { tree: String, key: String, value: String },
    File { name: String, data: String },
    End { records: u64, chunks: u64, sha256: String },
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { path: path.to_owned(), action, source }
}

/// Writes lines and hashes every byte written.
struct HashingWriter<W: Write> {
    out: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn line<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        let mut buf = serde_json::to_vec(value).map_err(io::Error::other)?;
        buf.push(b'\n');
        self.hash.update(&buf);
        self.bytes += buf.len() as u64;
        self.out.write_all(&buf)
    }
}

impl SledStore {
    /// Save every record of every keyspace, and the audit log and its head
    /// seal kept in the store directory, to `path`: a consistent snapshot
    /// (writes that take the store's write lock wait while it runs, and no
    /// other process can open the store, so from a process that is not
    /// scanning, as `haetae store backup`, it is exact), written to a
    /// temporary file beside `path`, synced and renamed over it, so `path` is
    /// either the old file or the whole backup.
    pub(crate) fn backup(&self, path: &Path) -> Result<BackupSummary, StoreError> {
        let _writers = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "backup".into());
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = parent.join(tmp_name);
        let result = self.write_backup(&tmp);
        let (mut summary, file) = match result {
            Ok(done) => done,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        drop(file);
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Io { path: path.to_owned(), action: "replace", source: e });
        }
        sync_dir(&parent)?;
        summary.path = path.to_owned();
        Ok(summary)
    }

    /// Read and verify the whole backup at `path` (format, versions, every
    /// line, the checksum) without restoring it.
    pub(crate) fn verify_backup(path: &Path) -> Result<BackupSummary, StoreError> {
        let v = read_backup(path, None)?;
        let bytes = fs::metadata(path).map_err(io_err(path, "read"))?.len();
        Ok(BackupSummary { path: path.to_owned(), records: v.records, findings: v.findings, files: v.files, bytes })
    }

    /// Write the whole backup to `tmp` and fsync it.
    fn write_backup(&self, tmp: &Path) -> Result<(BackupSummary, File), StoreError> {
        let file = File::create(tmp).map_err(io_err(tmp, "create"))?;
        let mut w = HashingWriter { out: BufWriter::new(file), hash: Sha256::new(), bytes: 0 };
        let header = Header {
            format: FORMAT.to_owned(),
            version: BACKUP_VERSION,
            schema_version: SCHEMA_VERSION,
            created: Timestamp::now(),
        };
        w.line(&header).map_err(io_err(tmp, "write"))?;
        let (mut records, mut findings, mut chunks) = (0u64, 0u64, 0u64);
        self.guard(|| {
            for name in TREES {
                let tree = self.db.open_tree(name).map_err(|e| self.engine(e))?;
                for item in tree.iter() {
                    let (k, v) = item.map_err(|e| self.engine(e))?;
                    let line = Line::Record { tree: name.to_owned(), key: hex(&k), value: hex(&v) };
                    w.line(&line).map_err(io_err(tmp, "write"))?;
                    records += 1;
                    if name == "findings" {
                        findings += 1;
                    }
                }
            }
            Ok(())
        })?;
        let mut files = Vec::new();
        for name in FILES {
            let src = self.dir.join(name);
            let mut f = match File::open(&src) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::Io { path: src, action: "open", source: e }),
            };
            let mut buf = vec![0u8; CHUNK];
            let mut first = true;
            loop {
                let n = read_full(&mut f, &mut buf).map_err(io_err(&src, "read"))?;
                let data = buf.get(..n).unwrap_or_default();
                // An empty file still gets one (empty) chunk, so it is restored.
                if data.is_empty() && !first {
                    break;
                }
                w.line(&Line::File { name: name.to_owned(), data: hex(data) }).map_err(io_err(tmp, "write"))?;
                chunks += 1;
                first = false;
                if data.is_empty() {
                    break;
                }
            }
            files.push(name.to_owned());
        }
        let sha256 = hex(&w.hash.clone().finalize());
        w.line(&Line::End { records, chunks, sha256 }).map_err(io_err(tmp, "write"))?;
        let file = w.out.into_inner().map_err(|e| StoreError::Io {
            path: tmp.to_owned(),
            action: "write",
            source: io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        file.sync_all().map_err(io_err(tmp, "fsync"))?;
        let summary = BackupSummary { path: tmp.to_owned(), records, findings, files, bytes: w.bytes };
        Ok((summary, file))
    }

    /// Restore the backup at `backup` into `dir`, which must be absent or an
    /// empty directory ([`StoreError::NotEmpty`] otherwise: nothing is ever
    /// restored over a store). The whole file is verified first (format,
    /// versions, every line, the checksum); then the store is built in a new
    /// directory beside `dir`, checked with [`Store::check`](crate::Store::check), and renamed
    /// into place.
    pub(crate) fn restore(backup: &Path, dir: &Path) -> Result<RestoreSummary, StoreError> {
        ensure_empty(dir)?;
        let verified = read_backup(backup, None)?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_err(&parent, "create the directory"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(dir.file_name().unwrap_or_else(|| std::ffi::OsStr::new("store")));
        tmp_name.push(format!(".restoring-{}", std::process::id()));
        let tmp = parent.join(tmp_name);
        fs::create_dir(&tmp).map_err(io_err(&tmp, "create the directory"))?;
        let built = build(backup, &tmp, &verified);
        let check = match built {
            Ok(check) => check,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        // rename(2) replaces an empty directory; `dir` was checked empty above.
        if let Err(e) = fs::rename(&tmp, dir) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(StoreError::Io { path: dir.to_owned(), action: "move the restored store to", source: e });
        }
        sync_dir(&parent)?;
        let mut check = check;
        check.dir = dir.to_owned();
        Ok(RestoreSummary {
            dir: dir.to_owned(),
            created: verified.created,
            records: verified.records,
            findings: verified.findings,
            files: verified.files,
            check,
        })
    }
}

/// Refuse a `dir` that exists and is not an empty directory.
fn ensure_empty(dir: &Path) -> Result<(), StoreError> {
    if dir.exists() && !dir.is_dir() {
        return Err(StoreError::NotEmpty { dir: dir.to_owned(), entry: "a file, not a directory".to_owned() });
    }
    match fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(entry) => {
                let entry = entry.map_err(io_err(dir, "list"))?;
                Err(StoreError::NotEmpty {
                    dir: dir.to_owned(),
                    entry: entry.file_name().to_string_lossy().into_owned(),
                })
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io { path: dir.to_owned(), action: "list", source: e }),
    }
}

/// What a verified backup holds.
struct Verified {
    created: Timestamp,
    records: u64,
    findings: u64,
    files: Vec<String>,
    sha256: String,
}

/// Build the store in the empty directory `tmp` from the backup, reading it a
/// second time (its checksum must still be the verified one), and check it.
fn build(backup: &Path, tmp: &Path, verified: &Verified) -> Result<super::CheckReport, StoreError> {
    let config = sled::Config::new().path(tmp).mode(sled::Mode::HighThroughput).flush_every_ms(None);
    let db = match shield::shielded(|| config.open()) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(super::engine(tmp, e)),
        Err(panic) => {
            return Err(super::damaged(tmp, format!("the storage engine stopped while creating it ({panic})")));
        }
    };
    let mut trees = Vec::new();
    for name in TREES {
        trees.push((name, db.open_tree(name).map_err(|e| super::engine(tmp, e))?));
    }
    let mut files: Vec<(&str, BufWriter<File>)> = Vec::new();
    let mut apply = |line: Line| -> Result<(), StoreError> {
        match line {
            Line::Record { tree, key, value } => {
                let t = trees.iter().find(|(n, _)| *n == tree).map(|(_, t)| t);
                let (Some(t), Some(k), Some(v)) = (t, unhex(&key), unhex(&value)) else {
                    return Err(StoreError::BadBackup {
                        path: backup.to_owned(),
                        reason: "it changed while it was being restored".to_owned(),
                    });
                };
                t.insert(k, v).map_err(|e| super::engine(tmp, e))?;
            }
            Line::File { name, data } => {
                let (Some(name), Some(data)) = (FILES.iter().find(|f| **f == name), unhex(&data)) else {
                    return Err(StoreError::BadBackup {
                        path: backup.to_owned(),
                        reason: "it changed while it was being restored".to_owned(),
                    });
                };
                let path = tmp.join(name);
                if !files.iter().any(|(n, _)| n == name) {
                    let f = File::create(&path).map_err(io_err(&path, "create"))?;
                    files.push((name, BufWriter::new(f)));
                }
                if let Some((_, w)) = files.iter_mut().find(|(n, _)| n == name) {
                    w.write_all(&data).map_err(io_err(&path, "write"))?;
                }
            }
            Line::End { .. } => {}
        }
        Ok(())
    };
    let again = read_backup(backup, Some(&mut apply))?;
    if again.sha256 != verified.sha256 {
        return Err(StoreError::BadBackup {
            path: backup.to_owned(),
            reason: "it changed while it was being restored".to_owned(),
        });
    }
    for (name, w) in files {
        let path = tmp.join(name);
        let f = w.into_inner().map_err(|e| StoreError::Io {
            path: path.clone(),
            action: "write",
            source: io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        f.sync_all().map_err(io_err(&path, "fsync"))?;
    }
    db.flush().map_err(|e| super::engine(tmp, e))?;
    drop(trees);
    drop(db);
    let store = SledStore::open(tmp, Arc::new(Keep))?;
    store.check()
}

/// Read and verify a whole backup; with `apply`, hand it every line after the
/// header as it is read.
fn read_backup(
    path: &Path,
    mut apply: Option<&mut dyn FnMut(Line) -> Result<(), StoreError>>,
) -> Result<Verified, StoreError> {
    let bad = |reason: String| StoreError::BadBackup { path: path.to_owned(), reason };
    let file = File::open(path).map_err(io_err(path, "open"))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut hash = Sha256::new();
    let mut buf = Vec::new();
    let mut number = 1u64;
    if !next_line(path, &mut reader, &mut buf)? {
        return Err(bad("it is empty".to_owned()));
    }
    hash.update(&buf);
    let header: Header = serde_json::from_slice(&buf)
        .map_err(|_| bad("its first line is not a haetae store backup header".to_owned()))?;
    if header.format != FORMAT {
        return Err(bad(format!("its format is `{}`, not `{FORMAT}`", header.format)));
    }
    if header.version > BACKUP_VERSION {
        return Err(bad(format!(
            "it has backup format version {}, but this haetae reads up to {BACKUP_VERSION}; upgrade haetae",
            header.version
        )));
    }
    if header.schema_version > SCHEMA_VERSION {
        return Err(bad(format!(
            "it holds a store of schema version {}, but this haetae understands up to {SCHEMA_VERSION}; upgrade haetae",
            header.schema_version
        )));
    }
    let (mut records, mut findings, mut chunks) = (0u64, 0u64, 0u64);
    let mut files: Vec<String> = Vec::new();
    let mut schema_seen = false;
    loop {
        number += 1;
        if !next_line(path, &mut reader, &mut buf)? {
            return Err(bad("it is cut short: its end line is missing".to_owned()));
        }
        let line: Line =
            serde_json::from_slice(&buf).map_err(|_| bad(format!("line {number} is not a backup line")))?;
        let end = match &line {
            Line::Record { tree, key, value } => {
                if !TREES.contains(&tree.as_str()) {
                    return Err(bad(format!("line {number} names unknown keyspace `{tree}`")));
                }
                let (Some(k), Some(_)) = (unhex(key), unhex(value)) else {
                    return Err(bad(format!("line {number} has a key or value that is not hex")));
                };
                records += 1;
                findings += u64::from(tree == "findings");
                schema_seen |= tree == "meta" && k == SCHEMA_KEY;
                None
            }
            Line::File { name, data } => {
                if !FILES.contains(&name.as_str()) {
                    return Err(bad(format!("line {number} names unknown file `{name}`")));
                }
                if unhex(data).is_none() {
                    return Err(bad(format!("line {number} has data that is not hex")));
                }
                if files.last() != Some(name) {
                    if files.contains(name) {
                        return Err(bad(format!("line {number}: the chunks of {name} are not together")));
                    }
                    files.push(name.clone());
                }
                chunks += 1;
                None
            }
            Line::End { records: r, chunks: c, sha256 } => Some((*r, *c, sha256.clone())),
        };
        let Some((want_records, want_chunks, want_sha)) = end else {
            hash.update(&buf);
            if let Some(apply) = apply.as_deref_mut() {
                apply(line)?;
            }
            continue;
        };
        let sha256 = hex(&hash.finalize());
        if want_sha != sha256 {
            return Err(bad("its checksum does not match its contents (it was changed or damaged)".to_owned()));
        }
        if (want_records, want_chunks) != (records, chunks) {
            return Err(bad(format!(
                "its end line counts {want_records} records and {want_chunks} chunks, but it holds {records} and {chunks}"
            )));
        }
        if next_line(path, &mut reader, &mut buf)? {
            return Err(bad(format!("it has data after its end line (line {})", number + 1)));
        }
        if !schema_seen {
            return Err(bad("it holds no schema version".to_owned()));
        }
        return Ok(Verified { created: header.created, records, findings, files, sha256 });
    }
}

/// [`read_line`], with its errors as [`StoreError`]s: a damaged line is a bad backup.
fn next_line(path: &Path, reader: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<bool, StoreError> {
    read_line(reader, buf).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => StoreError::BadBackup { path: path.to_owned(), reason: e.to_string() },
        _ => StoreError::Io { path: path.to_owned(), action: "read", source: e },
    })
}

/// Read one line (with its newline) into `buf`; `false` at the end of the file.
/// A line longer than [`MAX_LINE`] or without its newline is an error.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    let n = reader.by_ref().take(MAX_LINE + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() != Some(&b'\n') {
        let what = if n as u64 > MAX_LINE {
            "it has a line longer than 64 MiB"
        } else {
            "it is cut short: its last line is incomplete"
        };
        return Err(io::Error::new(io::ErrorKind::InvalidData, what));
    }
    Ok(true)
}

/// Fill `buf` as far as the file allows; returns how many bytes were read.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match f.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Make a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir, "fsync the directory"))
}

/// Directories cannot be opened for fsync here; renames are durable enough.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|p| Some(digit(*p.first()?)? << 4 | digit(*p.get(1)?)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_non_hex() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&all)), Some(all));
        assert_eq!(unhex(""), Some(Vec::new()));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("AB"), None);
    }

    #[test]
    fn lines_are_capped_and_must_end_in_a_newline() {
        let mut buf = Vec::new();
        let mut r = io::Cursor::new(b"one\ntwo".to_vec());
        assert!(read_line(&mut r, &mut buf).unwrap());
        assert_eq!(buf, b"one\n");
        assert!(read_line(&mut r, &mut buf).is_err());
        let mut empty = io::Cursor::new(Vec::new());
        assert!(!read_line(&mut empty, &mut buf).unwrap());
    }
}
