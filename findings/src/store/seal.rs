//! The close seal: what a store held when it was last closed, so a store
//! whose files were cut short is not taken for a smaller healthy one.
//!
//! sled recovers a log cut short as if the process had crashed before the
//! lost writes, and opens without an error: half a store silently becomes
//! an older or empty one. But every write haetae acknowledges is flushed,
//! and haetae never deletes a finding, a scan run or a change event, so what
//! a store held at any clean close is a lower bound of what it holds later.
//! At close the store writes `seal.json` beside sled's files (temporary file,
//! fsync, rename): a sample of finding ids (the first id at or after each of
//! 16 points of the hex key space), the last scan id and the last change
//! event. [`verify`] at open checks them in O(log n) each; a missing or
//! unreadable seal (a crash, an older haetae) checks nothing. Anything that
//! ever deletes findings, scan runs or change events must rewrite the seal.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The seal's file name in the store directory.
pub(super) const SEAL_FILE: &str = "seal.json";

#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Seal {
    findings: Vec<String>,
    last_scan: Option<u64>,
    last_change: Option<u64>,
    /// Length of the data file `db` as the close left it.
    #[serde(default)]
    db_len: Option<u64>,
}

fn db_len(dir: &Path) -> Option<u64> {
    fs::metadata(dir.join("db")).ok().map(|m| m.len())
}

fn read(dir: &Path) -> Option<Seal> {
    serde_json::from_slice(&fs::read(dir.join(SEAL_FILE)).ok()?).ok()
}

/// Whether the data file has the length the last close left it with. Not
/// its modification time: sled's own shutdown, after the seal is written,
/// often touches the file without changing its length. `false` without a seal.
pub(super) fn closed_cleanly(dir: &Path) -> bool {
    read(dir).and_then(|s| s.db_len).is_some_and(|sealed| db_len(dir) == Some(sealed))
}

/// Points of the key space sampled: finding ids are hex fingerprints.
const SAMPLE_AT: &[u8] = b"0123456789abcdef";

fn last_id(tree: &sled::Tree) -> sled::Result<Option<u64>> {
    Ok(tree.last()?.and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok()).map(u64::from_be_bytes))
}

fn take(findings: &sled::Tree, scans: &sled::Tree, changes: &sled::Tree) -> sled::Result<Seal> {
    let mut ids = Vec::new();
    for c in SAMPLE_AT {
        if let Some((k, _)) = findings.range(vec![*c]..).next().transpose()? {
            let id = String::from_utf8_lossy(&k).into_owned();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(Seal { findings: ids, last_scan: last_id(scans)?, last_change: last_id(changes)?, db_len: None })
}

/// Write the seal of the store in `dir`. Best effort: a store without a seal
/// is only checked less at its next open.
pub(super) fn write(dir: &Path, findings: &sled::Tree, scans: &sled::Tree, changes: &sled::Tree) {
    let Ok(mut seal) = take(findings, scans, changes) else { return };
    seal.db_len = db_len(dir);
    let Ok(body) = serde_json::to_vec(&seal) else { return };
    let tmp = dir.join(format!("{SEAL_FILE}.tmp"));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(&body)?;
        f.sync_all()
    });
    if written.is_err() || fs::rename(&tmp, dir.join(SEAL_FILE)).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// What the store lost since its seal, as a clause; `None` when it holds at
/// least everything sealed (or there is no readable seal).
pub(super) fn verify(
    dir: &Path,
    findings: &sled::Tree,
    scans: &sled::Tree,
    changes: &sled::Tree,
) -> sled::Result<Option<String>> {
    let Some(seal) = read(dir) else { return Ok(None) };
    for id in &seal.findings {
        if !findings.contains_key(id.as_bytes())? {
            return Ok(Some(format!(
                "finding {id}, stored when it was last closed, is gone, so its data file db was cut short or overwritten"
            )));
        }
    }
    let lost = |sealed: Option<u64>, now: Option<u64>| sealed.is_some_and(|s| now.is_none_or(|n| n < s));
    let (scan, change) = (last_id(scans)?, last_id(changes)?);
    if lost(seal.last_scan, scan) {
        return Ok(Some(format!(
            "it held scan runs up to {} when it was last closed but now ends at {}, so its data file db was cut short or overwritten",
            seal.last_scan.unwrap_or_default(),
            scan.unwrap_or_default()
        )));
    }
    if lost(seal.last_change, change) {
        return Ok(Some(
            "change events it held when it was last closed are gone, so its data file db was cut short or overwritten"
                .to_owned(),
        ));
    }
    Ok(None)
}
