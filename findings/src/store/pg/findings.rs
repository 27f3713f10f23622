//! Findings on PostgreSQL: reads through the table's indexes, and every
//! change (upsert, triage, re-scoring, expiry) as one serializable
//! transaction that locks the rows it rewrites (`SELECT ... FOR UPDATE`) and
//! writes them back in one statement (`INSERT ... SELECT FROM UNNEST ... ON
//! CONFLICT (id) DO UPDATE`). The merge itself is the same code as sled's
//! (`write::create`, `write::merge`).

use std::collections::HashMap;

use postgres::GenericClient;
use serde::de::DeserializeOwned;

use super::{Fail, PgStore};
use crate::error::StoreError;
use crate::fingerprint::{normalize, normalize_host};
use crate::lifecycle::{self, SCANNER, Transition};
use crate::model::{Finding, Observation, Priority, State};
use crate::store::keys::{decode, encode, priority_byte, show_key, state_byte};
use crate::store::scan::{ScanCounts, ScanRun};
use crate::store::write::{UpsertOutcome, add_counts, count_outcome, create, merge, upsert_order};
use crate::store::{CorruptRecord, Listing, Selection};
use crate::time::Timestamp;

/// Rows of (id, record) as read, decoded by the caller.
type Rows = Vec<(String, Vec<u8>)>;

/// Findings rewritten per transaction by [`PgStore::reprioritize`].
const CHUNK: usize = 512;

/// Write `findings` (their index columns derived from each), replacing
/// the rows of the same ids.
pub(super) fn put_findings(tx: &mut impl GenericClient, findings: &[&Finding]) -> Result<(), postgres::Error> {
    if findings.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let states: Vec<i16> = findings.iter().map(|f| i16::from(state_byte(f.state))).collect();
    let priorities: Vec<i16> = findings.iter().map(|f| i16::from(priority_byte(f.priority))).collect();
    let hosts: Vec<&str> = findings.iter().map(|f| f.host.as_str()).collect();
    let records: Vec<Vec<u8>> = findings.iter().map(|f| encode(*f)).collect();
    tx.execute(
        "INSERT INTO findings (id, state, priority, host, record) \
         SELECT * FROM UNNEST($1::text[], $2::int2[], $3::int2[], $4::text[], $5::bytea[]) \
         ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, priority = EXCLUDED.priority, \
         host = EXCLUDED.host, record = EXCLUDED.record",
        &[&ids, &states, &priorities, &hosts, &records],
    )?;
    Ok(())
}

/// Lock and read the findings with these ids; an unreadable record reads
/// as absent (it is replaced, as sled does).
fn lock_findings(tx: &mut impl GenericClient, ids: &[String]) -> Result<HashMap<String, Finding>, postgres::Error> {
    let rows = tx.query("SELECT id, record FROM findings WHERE id = ANY($1) FOR UPDATE", &[&ids])?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        let bytes: Vec<u8> = row.try_get(1)?;
        if let Ok(f) = decode::<Finding>(&bytes) {
            out.insert(id, f);
        }
    }
    Ok(out)
}

/// Lock and read scan run `id`.
pub(super) fn lock_scan(tx: &mut impl GenericClient, label: &std::path::Path, id: u64) -> Result<ScanRun, Fail> {
    let key = i64::try_from(id).unwrap_or(i64::MAX);
    match tx.query_opt("SELECT record FROM scans WHERE id = $1 FOR UPDATE", &[&key])? {
        None => Err(Fail::Store(StoreError::NoScan { dir: label.to_owned(), id })),
        Some(row) => {
            let bytes: Vec<u8> = row.try_get(0)?;
            decode(&bytes).map_err(|reason| {
                Fail::Store(StoreError::Corrupt {
                    dir: label.to_owned(),
                    tree: "scans",
                    key: show_key(&id.to_be_bytes()),
                    reason,
                })
            })
        }
    }
}

/// Write scan run `run` (it exists).
pub(super) fn put_scan(tx: &mut impl GenericClient, run: &ScanRun) -> Result<(), postgres::Error> {
    let key = i64::try_from(run.id).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO scans (id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
        &[&key, &encode(run)],
    )?;
    Ok(())
}

impl PgStore {
    /// Run one read on a connection (no transaction of its own).
    pub(crate) fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, StoreError> {
        let label = self.label.clone();
        self.pool.run(move |c| f(c).map_err(|e| super::engine(&label, &e)))
    }

    /// Run a query returning (id, record) rows.
    fn rows(&self, sql: &'static str, params: RowParams) -> Result<Rows, StoreError> {
        self.read(move |c| {
            let rows = match &params {
                RowParams::None => c.query(sql, &[])?,
                RowParams::Text(t) => c.query(sql, &[t])?,
                RowParams::Small(n) => c.query(sql, &[n])?,
            };
            rows.into_iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.read(|c| c.query_one("SELECT count(*) FROM findings", &[])?.try_get::<_, i64>(0))
            .map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.read(|c| c.query_one("SELECT NOT EXISTS (SELECT 1 FROM findings)", &[])?.try_get::<_, bool>(0))
            .unwrap_or(true)
    }

    pub(crate) fn get(&self, id: &str) -> Result<Option<Finding>, StoreError> {
        let key = id.to_owned();
        let row = self.read(move |c| {
            c.query_opt("SELECT record FROM findings WHERE id = $1", &[&key])?
                .map(|r| r.try_get::<_, Vec<u8>>(0))
                .transpose()
        })?;
        match row {
            None => Ok(None),
            Some(bytes) => decode(&bytes).map(Some).map_err(|reason| StoreError::Corrupt {
                dir: self.label.clone(),
                tree: "findings",
                key: show_key(id.as_bytes()),
                reason,
            }),
        }
    }

    pub(crate) fn resolve_id(&self, prefix: &str) -> Result<String, StoreError> {
        let not_found = || StoreError::NotFound { dir: self.label.clone(), id: prefix.to_owned() };
        let p = prefix.to_owned();
        let (exact, hits) = self.read(move |c| {
            let exact = c.query_opt("SELECT 1 FROM findings WHERE id = $1", &[&p])?.is_some();
            let hits: Vec<String> = if exact || p.chars().count() < 4 {
                Vec::new()
            } else {
                c.query("SELECT id FROM findings WHERE starts_with(id, $1) ORDER BY id LIMIT 4", &[&p])?
                    .into_iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?
            };
            Ok((exact, hits))
        })?;
        if exact {
            return Ok(prefix.to_owned());
        }
        if prefix.len() < 4 {
            return Err(not_found());
        }
        let mut hits = hits;
        match hits.len() {
            0 => Err(not_found()),
            1 => Ok(hits.remove(0)),
            _ => Err(StoreError::Ambiguous { prefix: prefix.to_owned(), matches: hits.join(", ") }),
        }
    }

    pub(crate) fn list(&self, selection: &Selection) -> Result<Listing, StoreError> {
        let mut out = Listing::default();
        let rows: Rows = match selection {
            Selection::All => {
                let (findings, skipped) = self.list_all_as::<Finding>()?;
                return Ok(Listing { findings, skipped });
            }
            Selection::States(states) => {
                let mut all = Vec::new();
                for &s in states {
                    all.extend(self.rows(
                        "SELECT id, record FROM findings WHERE state = $1 ORDER BY priority, id",
                        RowParams::Small(i16::from(state_byte(s))),
                    )?);
                }
                all
            }
            Selection::MinPriority(min) => self.rows(
                "SELECT id, record FROM findings WHERE priority <= $1 ORDER BY priority, state, id",
                RowParams::Small(i16::from(priority_byte(*min))),
            )?,
            Selection::Host(host) => self.rows(
                "SELECT id, record FROM findings WHERE host = $1 ORDER BY id",
                RowParams::Text(normalize_host(host)),
            )?,
        };
        let (findings, skipped) = decode_rows::<Finding>(rows);
        out.findings = findings;
        out.skipped = skipped;
        Ok(out)
    }

    pub(crate) fn list_all_as<T: DeserializeOwned + Send>(&self) -> Result<(Vec<T>, Vec<CorruptRecord>), StoreError> {
        let rows = self.rows("SELECT id, record FROM findings ORDER BY id", RowParams::None)?;
        Ok(decode_rows(rows))
    }

    pub(crate) fn upsert_batch(
        &self,
        scan: Option<u64>,
        batch: &[Observation],
    ) -> Result<Vec<(String, UpsertOutcome)>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let prioritizer = self.prioritizer();
        let order = upsert_order(batch);
        let batch = batch.to_vec();
        let label = self.label.clone();
        self.pool.transact(move |tx| {
            let ids: Vec<String> = order.iter().map(|(id, _)| id.clone()).collect();
            let mut current = lock_findings(tx, &ids)?;
            let mut results = vec![(String::new(), UpsertOutcome::New); batch.len()];
            let mut counts = ScanCounts::default();
            let mut touched: Vec<String> = Vec::with_capacity(order.len());
            for (id, i) in &order {
                let Some(obs) = batch.get(*i) else { continue };
                let norm = normalize(&obs.asset, &obs.location);
                let (mut new, outcome) = match current.remove(id) {
                    None => (create(id.clone(), norm, obs, scan), UpsertOutcome::New),
                    Some(f) => merge(f, norm, obs, scan, now)?,
                };
                prioritizer.prioritize(&mut new, now);
                count_outcome(&mut counts, outcome);
                if touched.last() != Some(id) {
                    touched.push(id.clone());
                }
                current.insert(id.clone(), new);
                if let Some(slot) = results.get_mut(*i) {
                    *slot = (id.clone(), outcome);
                }
            }
            let written: Vec<&Finding> = touched.iter().filter_map(|id| current.get(id)).collect();
            put_findings(tx, &written)?;
            if let Some(scan) = scan {
                let mut run = lock_scan(tx, &label, scan)?;
                add_counts(&mut run.counts, &counts);
                put_scan(tx, &run)?;
            }
            Ok(results)
        })
    }

    pub(crate) fn triage<S: AsRef<str>>(&self, ids: &[S], t: &Transition) -> Result<Vec<Finding>, StoreError> {
        let now = Timestamp::now();
        let prioritizer = self.prioritizer();
        let ids: Vec<String> = ids.iter().map(|i| i.as_ref().to_owned()).collect();
        let t = t.clone();
        let label = self.label.clone();
        self.pool.transact(move |tx| {
            let mut current = lock_findings(tx, &ids)?;
            let mut changed = Vec::with_capacity(ids.len());
            for id in &ids {
                let Some(mut f) = current.remove(id) else {
                    return Err(Fail::Store(StoreError::NotFound { dir: label.clone(), id: id.clone() }));
                };
                lifecycle::apply(&mut f, &t, now).map_err(StoreError::from)?;
                prioritizer.prioritize(&mut f, now);
                current.insert(id.clone(), f.clone());
                changed.push(f);
            }
            let mut last: HashMap<&str, &Finding> = HashMap::new();
            for f in &changed {
                last.insert(f.id.as_str(), f);
            }
            put_findings(tx, &last.into_values().collect::<Vec<_>>())?;
            Ok(changed)
        })
    }

    /// Re-score every finding, [`CHUNK`] rows per transaction, each chunk
    /// locked and read afresh (a triage meanwhile is never overwritten).
    pub(crate) fn reprioritize(&self) -> Result<usize, StoreError> {
        let now = Timestamp::now();
        let ids: Vec<String> = self.read(|c| {
            c.query("SELECT id FROM findings ORDER BY id", &[])?.into_iter().map(|r| r.try_get(0)).collect()
        })?;
        let mut changed = 0;
        for chunk in ids.chunks(CHUNK) {
            let chunk = chunk.to_vec();
            let prioritizer = self.prioritizer();
            changed += self.pool.transact(move |tx| {
                let current = lock_findings(tx, &chunk)?;
                let mut rewrite = Vec::new();
                for old in current.values() {
                    let mut f = old.clone();
                    prioritizer.prioritize(&mut f, now);
                    if f != *old {
                        rewrite.push(f);
                    }
                }
                put_findings(tx, &rewrite.iter().collect::<Vec<_>>())?;
                Ok(rewrite.len())
            })?;
        }
        Ok(changed)
    }

    pub(crate) fn expire_acceptances(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        self.expire_acceptances_as(now, SCANNER)
    }

    pub(crate) fn expire_acceptances_as(&self, now: Timestamp, actor: &str) -> Result<Vec<String>, StoreError> {
        let accepted = i16::from(state_byte(State::AcceptedRisk));
        // Cheap when nothing is due: one read of the accepted-risk rows, no lock.
        let (listed, _) = decode_rows::<Finding>(
            self.rows("SELECT id, record FROM findings WHERE state = $1 ORDER BY id", RowParams::Small(accepted))?,
        );
        let due: Vec<String> =
            listed.into_iter().filter(|f| f.accepted_until.is_some_and(|u| u <= now)).map(|f| f.id).collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let prioritizer = self.prioritizer();
        let actor = actor.to_owned();
        self.pool.transact(move |tx| {
            let current = lock_findings(tx, &due)?;
            let mut reopened = Vec::new();
            for id in &due {
                // Read again under the lock: someone may have triaged it since.
                let Some(old) = current.get(id) else { continue };
                if old.state != State::AcceptedRisk || old.accepted_until.is_none_or(|u| u > now) {
                    continue;
                }
                let mut f = old.clone();
                let t = Transition::new(State::Open, actor.as_str()).note("risk acceptance expired");
                lifecycle::apply(&mut f, &t, now).map_err(StoreError::from)?;
                prioritizer.prioritize(&mut f, now);
                reopened.push(f);
            }
            put_findings(tx, &reopened.iter().collect::<Vec<_>>())?;
            Ok(reopened.into_iter().map(|f| f.id).collect())
        })
    }

    pub(crate) fn put_raw_for_tests(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (tree, key, value) = (tree.to_owned(), key.to_vec(), value.to_vec());
        self.read(move |c| {
            match tree.as_str() {
                "findings" => {
                    let id = String::from_utf8_lossy(&key).into_owned();
                    // Index columns from the record when it reads, else kept
                    // (a corrupt record where a finding was).
                    let derived = decode::<Finding>(&value).ok().map(|f| {
                        (i16::from(state_byte(f.state)), i16::from(priority_byte(f.priority)), f.host)
                    });
                    let (state, priority, host) = derived.unwrap_or((
                        i16::from(state_byte(State::Open)),
                        i16::from(priority_byte(Priority::P4)),
                        String::new(),
                    ));
                    let keep = derived_is_none(&value);
                    c.execute(
                        "INSERT INTO findings (id, state, priority, host, record) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, \
                         state = CASE WHEN $6 THEN findings.state ELSE EXCLUDED.state END, \
                         priority = CASE WHEN $6 THEN findings.priority ELSE EXCLUDED.priority END, \
                         host = CASE WHEN $6 THEN findings.host ELSE EXCLUDED.host END",
                        &[&id, &state, &priority, &host, &value, &keep],
                    )?;
                }
                "scans" => {
                    let id = <[u8; 8]>::try_from(key.as_slice()).map(u64::from_be_bytes).unwrap_or(0);
                    let id = i64::try_from(id).unwrap_or(i64::MAX);
                    c.execute(
                        "INSERT INTO scans (id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                        &[&id, &value],
                    )?;
                }
                space => {
                    c.execute(
                        "INSERT INTO kv (space, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (space, key) DO UPDATE SET value = EXCLUDED.value",
                        &[&space, &key, &value],
                    )?;
                }
            }
            Ok(())
        })
    }

    pub(crate) fn remove_raw_for_tests(&self, tree: &str, key: &[u8]) -> Result<(), StoreError> {
        let (tree, key) = (tree.to_owned(), key.to_vec());
        self.read(move |c| {
            match tree.as_str() {
                "findings" => {
                    c.execute("DELETE FROM findings WHERE id = $1", &[&String::from_utf8_lossy(&key).as_ref()])?
                }
                space => c.execute("DELETE FROM kv WHERE space = $1 AND key = $2", &[&space, &key])?,
            };
            Ok(())
        })
    }

    pub(crate) fn get_raw_for_tests(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (tree, key) = (tree.to_owned(), key.to_vec());
        self.read(move |c| {
            let row = match tree.as_str() {
                "findings" => c.query_opt(
                    "SELECT record FROM findings WHERE id = $1",
                    &[&String::from_utf8_lossy(&key).as_ref()],
                )?,
                space => c.query_opt("SELECT value FROM kv WHERE space = $1 AND key = $2", &[&space, &key])?,
            };
            row.map(|r| r.try_get(0)).transpose()
        })
    }
}

fn derived_is_none(value: &[u8]) -> bool {
    decode::<Finding>(value).is_err()
}

/// Parameters of [`PgStore::rows`].
enum RowParams {
    None,
    Text(String),
    Small(i16),
}

/// Decode (id, record) rows, in order, on every core; unreadable ones are
/// reported, not returned.
fn decode_rows<T: DeserializeOwned + Send>(rows: Rows) -> (Vec<T>, Vec<CorruptRecord>) {
    type Part<T> = (Vec<T>, Vec<CorruptRecord>);
    let decode_part = |part: &[(String, Vec<u8>)]| -> Part<T> {
        let (mut ok, mut bad) = (Vec::with_capacity(part.len()), Vec::new());
        for (id, bytes) in part {
            match decode::<T>(bytes) {
                Ok(v) => ok.push(v),
                Err(reason) => bad.push(CorruptRecord { tree: "findings", key: show_key(id.as_bytes()), reason }),
            }
        }
        (ok, bad)
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 16);
    if rows.len() < 2048 || cores == 1 {
        return decode_part(&rows);
    }
    let chunk = rows.len().div_ceil(cores);
    let parts: Vec<Part<T>> = std::thread::scope(|s| {
        let handles: Vec<_> = rows.chunks(chunk).map(|c| (c, s.spawn(move || decode_part(c)))).collect();
        // A decoding thread that died has its rows decoded again here.
        handles.into_iter().map(|(c, h)| h.join().unwrap_or_else(|_| decode_part(c))).collect()
    });
    let (mut ok, mut bad) = (Vec::with_capacity(rows.len()), Vec::new());
    for (o, b) in parts {
        ok.extend(o);
        bad.extend(b);
    }
    (ok, bad)
}
