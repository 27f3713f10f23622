//! Scan runs, their coverage journal and their closing on PostgreSQL.
//! Same rules as sled's (`write.rs`): only a complete run closes findings,
//! and only those on a (check, asset) it journaled as covered.

use std::collections::BTreeMap;

use super::findings::{lock_scan, put_findings, put_scan};
use super::{Fail, PgStore};
use crate::error::StoreError;
use crate::fingerprint::normalize_host;
use crate::model::{Baseline, Finding, State};
use crate::store::closing::Closing;
use crate::store::keys::{asset_prefix, decode, encode};
use crate::store::scan::{Coverage, EVERY_PORT_CHECK, FailedUnit, MAX_FAILED_KEPT, ScanCounts, ScanRun, port_owned};
use crate::store::write::add_counts;
use crate::store::write::{scanner_move, split_pair};
use crate::time::Timestamp;

fn key(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// The journal key of a covered pair (sled's coverage key without the scan).
fn pair_key(c: &Coverage) -> Vec<u8> {
    asset_prefix(c.check.as_str(), &normalize_host(&c.host), c.port)
}

impl PgStore {
    pub(crate) fn begin_scan_scheduled(
        &self,
        targets: Vec<String>,
        checks: &[String],
        skip_checks: &[String],
        schedule: Option<&str>,
    ) -> Result<ScanRun, StoreError> {
        let (checks, skip_checks, schedule) = (checks.to_vec(), skip_checks.to_vec(), schedule.map(str::to_owned));
        self.pool.transact(move |tx| {
            let last: i64 = tx.query_one("SELECT coalesce(max(id), 0) FROM scans", &[])?.try_get(0)?;
            let run = ScanRun {
                id: u64::try_from(last).unwrap_or(0) + 1,
                started: Timestamp::now(),
                ended: None,
                targets: targets.clone(),
                complete: false,
                counts: ScanCounts::default(),
                failed: Vec::new(),
                failed_total: 0,
                checks: checks.clone(),
                skip_checks: skip_checks.clone(),
                schedule: schedule.clone(),
            };
            // A plain INSERT: two processes taking the same id collide on
            // the key and the later one runs again with the next id.
            tx.execute("INSERT INTO scans (id, record) VALUES ($1, $2)", &[&key(run.id), &encode(&run)])?;
            Ok(run)
        })
    }

    pub(crate) fn scan(&self, id: u64) -> Result<ScanRun, StoreError> {
        let label = self.label.clone();
        self.pool.transact(move |tx| {
            let Some(row) = tx.query_opt("SELECT record FROM scans WHERE id = $1", &[&key(id)])? else {
                return Err(Fail::Store(StoreError::NoScan { dir: label.clone(), id }));
            };
            let bytes: Vec<u8> = row.try_get(0)?;
            decode(&bytes).map_err(|reason| {
                Fail::Store(StoreError::Corrupt {
                    dir: label.clone(),
                    tree: "scans",
                    key: crate::store::keys::show_key(&id.to_be_bytes()),
                    reason,
                })
            })
        })
    }

    pub(crate) fn scans(&self) -> Result<Vec<ScanRun>, StoreError> {
        let rows: Vec<Vec<u8>> = self.pool.transact(|tx| {
            Ok(tx
                .query("SELECT record FROM scans ORDER BY id", &[])?
                .into_iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?)
        })?;
        Ok(rows.iter().filter_map(|b| decode(b).ok()).collect())
    }

    pub(crate) fn cover(&self, scan: u64, pairs: &[Coverage]) -> Result<(), StoreError> {
        let keys: Vec<Vec<u8>> = pairs.iter().map(pair_key).collect();
        self.journal(scan, keys)
    }

    pub(crate) fn cover_closed_ports(&self, scan: u64, ports: &[(String, u16)]) -> Result<(), StoreError> {
        let keys: Vec<Vec<u8>> = ports
            .iter()
            .map(|(host, port)| asset_prefix(EVERY_PORT_CHECK, &normalize_host(host), Some(*port)))
            .collect();
        self.journal(scan, keys)
    }

    fn journal(&self, scan: u64, keys: Vec<Vec<u8>>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.pool.transact(move |tx| {
            tx.execute(
                "INSERT INTO coverage (scan, pair) SELECT $1, p FROM UNNEST($2::bytea[]) AS p ON CONFLICT DO NOTHING",
                &[&key(scan), &keys],
            )?;
            Ok(())
        })
    }

    pub(crate) fn record_failed(&self, scan: u64, units: &[FailedUnit]) -> Result<(), StoreError> {
        if units.is_empty() {
            return Ok(());
        }
        let units = units.to_vec();
        let label = self.label.clone();
        self.pool.transact(move |tx| {
            let mut run = lock_scan(tx, &label, scan)?;
            for u in &units {
                if run.failed.len() < MAX_FAILED_KEPT && !run.failed.contains(u) {
                    run.failed.push(u.clone());
                }
            }
            run.failed_total += units.len() as u64;
            put_scan(tx, &run)?;
            Ok(())
        })
    }

    /// The pairs `scan` journaled, in key order.
    fn pairs(&self, scan: u64) -> Result<Vec<(String, String, Option<u16>)>, StoreError> {
        let rows: Vec<Vec<u8>> = self.pool.transact(move |tx| {
            Ok(tx
                .query("SELECT pair FROM coverage WHERE scan = $1 ORDER BY pair", &[&key(scan)])?
                .into_iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?)
        })?;
        Ok(rows.iter().filter_map(|k| split_pair(k)).collect())
    }

    pub(crate) fn covered(&self, scan: u64) -> Result<Vec<Coverage>, StoreError> {
        Ok(self
            .pairs(scan)?
            .into_iter()
            .filter_map(|(check, host, port)| check.parse().ok().map(|check| Coverage { check, host, port }))
            .collect())
    }

    pub(crate) fn unfinished_scan(&self) -> Result<Option<ScanRun>, StoreError> {
        Ok(self.scans()?.pop().filter(|r| !r.complete))
    }

    pub(crate) fn is_covered(&self, scan: u64, c: &Coverage) -> Result<bool, StoreError> {
        let pair = pair_key(c);
        self.pool.transact(move |tx| {
            Ok(tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM coverage WHERE scan = $1 AND pair = $2)",
                    &[&key(scan), &pair],
                )?
                .try_get(0)?)
        })
    }

    /// End a run; when complete, close what it covered and did not see,
    /// one transaction per host (its rows locked), then the assets it decided.
    pub(crate) fn finish_scan(&self, scan: u64, complete: bool) -> Result<ScanRun, StoreError> {
        self.scan(scan)?;
        let now = Timestamp::now();
        let mut fixed = 0u64;
        if complete {
            let mut by_host: BTreeMap<String, Vec<(String, Option<u16>)>> = BTreeMap::new();
            for (check, host, port) in self.pairs(scan)? {
                by_host.entry(host).or_default().push((check, port));
            }
            for (host, pairs) in by_host {
                let prioritizer = self.prioritizer();
                fixed += self.pool.transact(move |tx| {
                    let rows =
                        tx.query("SELECT record FROM findings WHERE host = $1 ORDER BY id FOR UPDATE", &[&host])?;
                    let mut n = 0u64;
                    let mut rewrite: Vec<Finding> = Vec::new();
                    for row in rows {
                        let bytes: Vec<u8> = row.try_get(0)?;
                        let Ok(old) = decode::<Finding>(&bytes) else { continue };
                        let covered = pairs.iter().any(|(check, port)| {
                            let same_check = if check == EVERY_PORT_CHECK {
                                port.is_some() && port_owned(old.check.as_str())
                            } else {
                                old.check.as_str() == check
                            };
                            same_check && old.port == *port
                        });
                        if !covered || old.last_scan == Some(scan) {
                            continue;
                        }
                        let mut f = old.clone();
                        f.baseline = Baseline::Absent;
                        if matches!(f.state, State::Open | State::Confirmed | State::AcceptedRisk) {
                            scanner_move(&mut f, State::Fixed, format!("not seen by complete scan {scan}"), now)?;
                            n += 1;
                        }
                        if f != old {
                            prioritizer.prioritize(&mut f, now);
                            rewrite.push(f);
                        }
                    }
                    put_findings(tx, &rewrite.iter().collect::<Vec<_>>())?;
                    Ok(n)
                })?;
            }
            // Ports closed and hosts gone: only a complete run decides them.
            self.close_assets(scan)?;
        }
        self.expire_acceptances(now)?;
        let label = self.label.clone();
        self.pool.transact(move |tx| {
            let mut run = lock_scan(tx, &label, scan)?;
            add_counts(&mut run.counts, &ScanCounts { fixed, ..ScanCounts::default() });
            run.ended = Some(now);
            run.complete = complete;
            put_scan(tx, &run)?;
            Ok(run)
        })
    }
}
