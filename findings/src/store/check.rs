//! [`Store::check`](crate::Store::check): is every record readable and every index consistent?

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use super::changes::{asset_problem, event_problem};
use super::keys::{IndexKeys, decode, show_key};
use super::outbox::outbox_problem;
use super::scan::ScanRun;
use super::spaces::{Space, Spaces};
use super::write::split_pair;
use super::{SCHEMA_KEY, SCHEMA_VERSION, SledStore};
use crate::check::CheckId;
use crate::error::StoreError;
use crate::model::Finding;

/// What [`Store::check`](crate::Store::check) found: how much the store holds, and every problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The store directory.
    pub dir: PathBuf,
    /// The schema version recorded in the store, when it is readable.
    pub schema_version: Option<u32>,
    /// Finding records.
    pub findings: usize,
    /// Scan run records.
    pub scans: usize,
    /// Coverage entries (check, asset pairs a scan completed).
    pub coverage: usize,
    /// Asset records (addresses, certificates, open ports).
    pub assets: usize,
    /// Change events.
    pub changes: usize,
    /// One sentence per problem, naming the keyspace and key; empty when healthy.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schema = self.schema_version.map_or_else(|| "unreadable".to_owned(), |v| v.to_string());
        writeln!(
            f,
            "store {}: schema version {schema}; {} finding(s), {} scan run(s), {} coverage entries, {} asset record(s), {} change event(s)",
            self.dir.display(),
            self.findings,
            self.scans,
            self.coverage,
            self.assets,
            self.changes
        )?;
        if self.problems.is_empty() {
            return write!(f, "healthy: every record decodes and every index entry matches its record");
        }
        write!(f, "{} problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl SledStore {
    /// Check the whole store: the schema version; every finding, scan run,
    /// asset record and change event decodes (a finding under its own id);
    /// every `by_status` and `by_host` entry is derived by the record it
    /// names and every record has its entries; every coverage entry names a
    /// known check and a scan run that exists. Reads only.
    pub(crate) fn check(&self) -> Result<CheckReport, StoreError> {
        self.guard(|| {
            let mut report = CheckReport {
                dir: self.dir.clone(),
                schema_version: None,
                findings: 0,
                scans: 0,
                coverage: 0,
                assets: 0,
                changes: 0,
                problems: Vec::new(),
            };
            self.check_schema(&mut report)?;
            report.problems.extend(self.check_integrity()?);
            for item in self.findings.iter().keys() {
                item.map_err(|e| self.engine(e))?;
                report.findings += 1;
            }
            self.check_scans(&mut report)?;
            self.check_spaces(&mut report)?;
            Ok(report)
        })
    }

    fn check_schema(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        let meta = self.db.open_tree("meta").map_err(|e| self.engine(e))?;
        match meta.get(SCHEMA_KEY).map_err(|e| self.engine(e))? {
            None => report.problems.push("meta has no schema version".to_owned()),
            Some(v) => match <[u8; 4]>::try_from(v.as_ref()).map(u32::from_be_bytes) {
                Ok(found) => {
                    report.schema_version = Some(found);
                    if found > SCHEMA_VERSION {
                        report.problems.push(format!(
                            "schema version {found} is newer than this haetae understands ({SCHEMA_VERSION})"
                        ));
                    }
                }
                Err(_) => report.problems.push(format!("meta schema version is {} bytes, not 4", v.len())),
            },
        }
        Ok(())
    }

    fn check_scans(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        let mut runs = BTreeSet::new();
        for item in self.scans.iter() {
            let (k, v) = item.map_err(|e| self.engine(e))?;
            report.scans += 1;
            let id = <[u8; 8]>::try_from(k.as_ref()).map(u64::from_be_bytes).ok();
            match (id, decode::<ScanRun>(&v)) {
                (None, _) => report.problems.push(format!("scan run key {} is not 8 bytes", show_key(&k))),
                (Some(id), Err(why)) => report.problems.push(format!("scan run {id} is unreadable: {why}")),
                (Some(id), Ok(run)) if run.id != id => {
                    report.problems.push(format!("scan run record {id} holds scan run {}", run.id));
                }
                (Some(id), Ok(_)) => {
                    runs.insert(id);
                }
            }
        }
        for item in self.coverage.iter().keys() {
            let k = item.map_err(|e| self.engine(e))?;
            report.coverage += 1;
            let scan = k.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes);
            let pair = k.get(8..).and_then(split_pair);
            match (scan, pair) {
                (Some(scan), Some((check, _, _))) => {
                    if !runs.contains(&scan) {
                        report.problems.push(format!(
                            "coverage entry {} names scan run {scan}, which has no readable record",
                            show_key(&k)
                        ));
                    }
                    // A refused port's one entry stands for every check its probes run.
                    if check != super::scan::EVERY_PORT_CHECK && check.parse::<CheckId>().is_err() {
                        report.problems.push(format!("coverage entry {} names unknown check `{check}`", show_key(&k)));
                    }
                }
                _ => report
                    .problems
                    .push(format!("coverage entry {} is not scan id, check, host and port", show_key(&k))),
            }
        }
        Ok(())
    }

    /// Compare every index with the primary records; returns one line per problem
    /// (empty when consistent). [`Store::check`](crate::Store::check) does this and more.
    pub(crate) fn check_integrity(&self) -> Result<Vec<String>, StoreError> {
        self.guard(|| {
            let mut problems = Vec::new();
            let mut expected: [BTreeSet<Vec<u8>>; 2] = Default::default();
            for item in self.findings.iter() {
                let (k, v) = item.map_err(|e| self.engine(e))?;
                match decode::<Finding>(&v) {
                    Ok(f) => {
                        if f.id.as_bytes() != k.as_ref() {
                            problems.push(format!("record {} holds finding {}", show_key(&k), f.id));
                        }
                        let keys = IndexKeys::of(&f);
                        expected[0].insert(keys.status);
                        expected[1].insert(keys.host);
                    }
                    Err(r) => problems.push(format!("record {} is corrupt: {r}", show_key(&k))),
                }
            }
            let trees = [("by_status", &self.by_status), ("by_host", &self.by_host)];
            for ((name, tree), want) in trees.into_iter().zip(expected) {
                let mut have = BTreeSet::new();
                for item in tree.iter().keys() {
                    have.insert(item.map_err(|e| self.engine(e))?.to_vec());
                }
                for k in have.difference(&want) {
                    problems.push(format!("{name} has stale entry {}", show_key(k)));
                }
                for k in want.difference(&have) {
                    problems.push(format!("{name} lacks entry {}", show_key(k)));
                }
            }
            Ok(problems)
        })
    }
}

/// The keyspaces' part of `store check`, on either backend: every asset
/// record, change event and outbox message reads.
pub(crate) trait CheckSpaces: Spaces {
    fn check_spaces(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        for (k, v) in self.kv_range(Space::Assets, &[], None)? {
            report.assets += 1;
            if let Some(why) = asset_problem(&k, &v) {
                report.problems.push(format!("asset record {} is unreadable: {why}", show_key(&k)));
            }
        }
        for (k, v) in self.kv_range(Space::Changes, &[], None)? {
            report.changes += 1;
            if let Some(why) = event_problem(&k, &v) {
                report.problems.push(format!("change event {}: {why}", show_key(&k)));
            }
        }
        for (k, v) in self.kv_range(Space::Outbox, &[], None)? {
            if let Some(why) = outbox_problem(&k, &v) {
                report.problems.push(format!("outbox message {}: {why}", show_key(&k)));
            }
        }
        Ok(())
    }
}

impl<T: Spaces> CheckSpaces for T {}
