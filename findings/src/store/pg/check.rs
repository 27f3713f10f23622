//! `store check` on PostgreSQL: every row decodes, every finding's index
//! columns (state, priority, host) are the ones its record derives (the
//! indexes themselves are PostgreSQL's), every coverage entry names a known
//! check and an existing run, every asset, change event and outbox message reads.

use std::collections::BTreeSet;

use super::PgStore;
use super::schema::PG_SCHEMA_VERSION;
use crate::check::CheckId;
use crate::error::StoreError;
use crate::model::Finding;
use crate::store::CheckReport;
use crate::store::check::CheckSpaces;
use crate::store::keys::{decode, priority_byte, show_key, state_byte};
use crate::store::scan::{EVERY_PORT_CHECK, ScanRun};
use crate::store::write::split_pair;

impl PgStore {
    pub(crate) fn check(&self) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport {
            dir: self.dir().to_owned(),
            schema_version: None,
            findings: 0,
            scans: 0,
            coverage: 0,
            assets: 0,
            changes: 0,
            problems: Vec::new(),
        };
        let version: Option<String> = self.read(|c| {
            c.query_opt("SELECT value FROM haetae_meta WHERE key = 'schema_version'", &[])?
                .map(|r| r.try_get(0))
                .transpose()
        })?;
        match version.as_deref().map(str::parse::<u32>) {
            None => report.problems.push("haetae_meta has no schema version".to_owned()),
            Some(Err(_)) => report.problems.push(format!("haetae_meta schema version {version:?} is not a number")),
            Some(Ok(v)) => {
                report.schema_version = Some(v);
                if v > PG_SCHEMA_VERSION {
                    report.problems.push(format!(
                        "schema version {v} is newer than this haetae understands ({PG_SCHEMA_VERSION})"
                    ));
                }
            }
        }
        report.findings = self.len();
        report.problems.extend(self.check_integrity()?);
        let scans: Vec<(i64, Vec<u8>)> = self.read(|c| {
            c.query("SELECT id, record FROM scans ORDER BY id", &[])?
                .into_iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })?;
        let mut runs = BTreeSet::new();
        for (id, bytes) in scans {
            report.scans += 1;
            match decode::<ScanRun>(&bytes) {
                Err(why) => report.problems.push(format!("scan run {id} is unreadable: {why}")),
                Ok(run) if i64::try_from(run.id).ok() != Some(id) => {
                    report.problems.push(format!("scan run record {id} holds scan run {}", run.id));
                }
                Ok(_) => {
                    runs.insert(id);
                }
            }
        }
        let coverage: Vec<(i64, Vec<u8>)> = self.read(|c| {
            c.query("SELECT scan, pair FROM coverage ORDER BY scan, pair", &[])?
                .into_iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })?;
        for (scan, pair) in coverage {
            report.coverage += 1;
            match split_pair(&pair) {
                Some((check, _, _)) => {
                    if !runs.contains(&scan) {
                        report.problems.push(format!(
                            "coverage entry {} of scan {scan} names a scan run with no readable record",
                            show_key(&pair)
                        ));
                    }
                    if check != EVERY_PORT_CHECK && check.parse::<CheckId>().is_err() {
                        report
                            .problems
                            .push(format!("coverage entry {} names unknown check `{check}`", show_key(&pair)));
                    }
                }
                None => report.problems.push(format!("coverage entry {} is not check, host and port", show_key(&pair))),
            }
        }
        self.check_spaces(&mut report)?;
        Ok(report)
    }

    /// Every finding row: its record decodes, names its own id, and derives
    /// the row's state, priority and host.
    pub(crate) fn check_integrity(&self) -> Result<Vec<String>, StoreError> {
        type Row = (String, i16, i16, String, Vec<u8>);
        let rows: Vec<Row> = self.read(|c| {
            c.query("SELECT id, state, priority, host, record FROM findings ORDER BY id", &[])?
                .into_iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
                .collect()
        })?;
        let mut problems = Vec::new();
        for (id, state, priority, host, bytes) in rows {
            match decode::<Finding>(&bytes) {
                Err(r) => problems.push(format!("record {} is corrupt: {r}", show_key(id.as_bytes()))),
                Ok(f) => {
                    if f.id != id {
                        problems.push(format!("record {} holds finding {}", show_key(id.as_bytes()), f.id));
                    }
                    let derived =
                        (i16::from(state_byte(f.state)), i16::from(priority_byte(f.priority)), f.host.as_str());
                    if derived != (state, priority, host.as_str()) {
                        problems.push(format!(
                            "finding {id}: its row is indexed as state {state}, priority {priority}, host {host:?}, but its record says {derived:?}"
                        ));
                    }
                }
            }
        }
        Ok(problems)
    }
}
