//! The work queue of a shared store: a run split into units (one host and
//! the run's checks), claimed by `haetae worker`s.
//!
//! The pattern (no queue service beside PostgreSQL):
//! - a unit is claimed by `UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
//!   LOCKED LIMIT 1)`: two workers never take the same row, and neither waits
//!   for the other;
//! - the claim is a lease (`lease_until`), renewed while the unit runs; a
//!   worker killed mid-unit stops renewing, its lease runs out and the next
//!   claim takes the unit again (`attempts` counts the tries; past the limit
//!   the unit fails instead);
//! - finishing is conditional on still holding the lease (`worker = me AND
//!   state = 'running'`): a worker that lost its unit cannot overwrite the
//!   result of the one that took it over;
//! - one unit per host and run, so one worker holds a host at a time: the
//!   per-host politeness of the engine holds across workers.
//!
//! The engagement's scope is stored with its SHA-256; a unit carries the hash
//! it was planned under, and a worker runs it only when the scope it holds
//! has that hash.
//!
//! Politeness across workers is a shared budget: the daemon says how many
//! workers the programme runs (`workers`, one slot each in `worker_slots`);
//! a worker scans only while it holds a slot (a lease, like a unit's), and
//! with `1/workers` of the scope's `max_rps` and `per_host_rps`. However the
//! units' hosts share addresses, the workers together never send a host
//! more than the scope allows.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::audit::AuditSegment;
use super::{Fail, PgStore};
use crate::error::StoreError;
use crate::time::Timestamp;

/// A unit of a run, as claimed by a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Queue id.
    pub id: u64,
    /// The scan run it belongs to.
    pub scan: u64,
    /// The target it scans.
    pub host: String,
    /// The run's check globs (empty: every check).
    pub checks: Vec<String>,
    /// The run's skipped check globs.
    pub skip_checks: Vec<String>,
    /// `passive`, `standard` or `deep`.
    pub profile: String,
    /// SHA-256 (hex) of the scope file the run was planned under.
    pub scope_sha256: String,
    /// How many claims it had, this one included.
    pub attempts: u32,
}

/// The engagement as the daemon stored it for the workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    /// The scope file's text.
    pub scope: String,
    /// Its SHA-256 (hex).
    pub scope_sha256: String,
    /// How many workers share the scope's rate budget (each gets `1/workers`).
    pub workers: u32,
}

/// Where the units of a run stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitCounts {
    /// Not claimed yet (or given back by an expired lease).
    pub queued: u64,
    /// Claimed, lease held.
    pub running: u64,
    /// Ran to the end.
    pub done: u64,
    /// Of `done`, those whose engine run was incomplete (failed units in it).
    pub incomplete: u64,
    /// Gave up: an error, or too many lost leases.
    pub failed: u64,
}

impl UnitCounts {
    /// Whether every unit is done or failed.
    pub fn settled(&self) -> bool {
        self.queued == 0 && self.running == 0
    }

    /// Whether the run they make up covered everything it planned.
    pub fn complete(&self) -> bool {
        self.settled() && self.failed == 0 && self.incomplete == 0
    }
}

/// The hex SHA-256 of a scope file's text, as stored with the engagement.
pub fn scope_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Write the audit segment `worker` made while it ran unit `id` (if any);
/// `recorded`: whether the unit's result was taken.
fn segment_of_unit(
    tx: &mut postgres::Transaction<'_>,
    worker: &str,
    id: u64,
    audit: Option<&AuditSegment>,
    recorded: bool,
) -> Result<(), postgres::Error> {
    let Some(segment) = audit else { return Ok(()) };
    let scan: Option<i64> =
        tx.query_opt("SELECT scan FROM units WHERE id = $1", &[&id64(id)])?.map(|r| r.try_get(0)).transpose()?;
    let scan = scan.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
    super::audit::put_segment(tx, worker, id, scan, segment, recorded)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(1.0)
}

fn id64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Store the engagement's scope (the text of its scope file) and how
    /// many workers share its budget (their slots); returns the scope's hash.
    pub(crate) fn set_engagement(&self, scope: &str, workers: u32) -> Result<String, StoreError> {
        let (scope, hash) = (scope.to_owned(), scope_hash(scope));
        let h = hash.clone();
        let n = i32::try_from(workers.max(1)).unwrap_or(i32::MAX);
        self.pool.transact(move |tx| {
            tx.execute(
                "INSERT INTO engagement (id, scope, scope_sha256, updated, workers) VALUES (1, $1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET scope = EXCLUDED.scope, scope_sha256 = EXCLUDED.scope_sha256, \
                 updated = EXCLUDED.updated, workers = EXCLUDED.workers",
                &[&scope, &h, &Timestamp::now().unix(), &n],
            )?;
            tx.execute("INSERT INTO worker_slots (slot) SELECT generate_series(1, $1) ON CONFLICT DO NOTHING", &[&n])?;
            // Slots past the count go once free (a held one runs out with its lease).
            tx.execute("DELETE FROM worker_slots WHERE slot > $1 AND (worker IS NULL OR lease_until < now())", &[&n])?;
            Ok(())
        })?;
        Ok(hash)
    }

    /// The engagement: its scope text, the scope's hash, and how many
    /// workers share its budget; `None` before a daemon stored one.
    pub(crate) fn engagement(&self) -> Result<Option<Engagement>, StoreError> {
        self.pool.transact(|tx| {
            Ok(match tx.query_opt("SELECT scope, scope_sha256, workers FROM engagement WHERE id = 1", &[])? {
                Some(r) => Some(Engagement {
                    scope: r.try_get(0)?,
                    scope_sha256: r.try_get(1)?,
                    workers: u32::try_from(r.try_get::<_, i32>(2)?).unwrap_or(1).max(1),
                }),
                None => None,
            })
        })
    }

    /// Take (or keep) a worker slot for `worker`, leased for `lease`; its
    /// number, or `None` when every slot is held by another worker.
    pub(crate) fn hold_slot(&self, worker: &str, lease: Duration) -> Result<Option<u32>, StoreError> {
        let worker = worker.to_owned();
        let label = self.label.clone();
        self.pool.run(move |c| {
            let row = c
                .query_opt(
                    "UPDATE worker_slots SET worker = $1, lease_until = now() + make_interval(secs => $2) \
                     WHERE slot = (SELECT slot FROM worker_slots \
                                   WHERE worker = $1 OR worker IS NULL OR lease_until < now() \
                                   ORDER BY (worker IS NOT DISTINCT FROM $1) DESC, slot LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING slot",
                    &[&worker, &secs(lease)],
                )
                .map_err(|e| super::engine(&label, &e))?;
            Ok(row.and_then(|r| r.try_get::<_, i32>(0).ok()).and_then(|s| u32::try_from(s).ok()))
        })
    }

    /// Give `worker`'s slot up (it stops).
    pub(crate) fn leave_slot(&self, worker: &str) -> Result<(), StoreError> {
        let worker = worker.to_owned();
        self.pool.transact(move |tx| {
            tx.execute("UPDATE worker_slots SET worker = NULL, lease_until = NULL WHERE worker = $1", &[&worker])?;
            Ok(())
        })
    }

    /// Queue one unit per host of run `scan`.
    pub(crate) fn enqueue_units(
        &self,
        scan: u64,
        hosts: &[String],
        checks: &[String],
        skip_checks: &[String],
        profile: &str,
        scope_sha256: &str,
    ) -> Result<usize, StoreError> {
        let hosts = hosts.to_vec();
        let checks = serde_json::to_string(checks).unwrap_or_else(|_| "[]".into());
        let skip = serde_json::to_string(skip_checks).unwrap_or_else(|_| "[]".into());
        let (profile, hash) = (profile.to_owned(), scope_sha256.to_owned());
        self.pool.transact(move |tx| {
            let n = tx.execute(
                "INSERT INTO units (scan, host, checks, skip_checks, profile, scope_sha256) \
                 SELECT $1, h, $3, $4, $5, $6 FROM UNNEST($2::text[]) AS h",
                &[&id64(scan), &hosts, &checks, &skip, &profile, &hash],
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    /// Claim the oldest unit that is queued, or whose lease ran out (tried
    /// fewer than `max_attempts` times), for `worker`, leased for `lease`.
    pub(crate) fn claim_unit(
        &self,
        worker: &str,
        lease: Duration,
        max_attempts: u32,
    ) -> Result<Option<Unit>, StoreError> {
        let worker = worker.to_owned();
        let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let label = self.label.clone();
        self.pool.run(move |c| {
            let row = c
                .query_opt(
                    "UPDATE units SET state = 'running', worker = $1, lease_until = now() + make_interval(secs => $2), \
                     attempts = attempts + 1, claimed = $4 \
                     WHERE id = (SELECT id FROM units WHERE (state = 'queued' OR (state = 'running' AND lease_until < now())) \
                                 AND attempts < $3 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, scan, host, checks, skip_checks, profile, scope_sha256, attempts",
                    &[&worker, &secs(lease), &max, &Timestamp::now().unix()],
                )
                .map_err(|e| super::engine(&label, &e))?;
            let Some(r) = row else { return Ok(None) };
            let get = |e: postgres::Error| super::engine(&label, &e);
            let checks: String = r.try_get(3).map_err(get)?;
            let skip: String = r.try_get(4).map_err(get)?;
            let corrupt = |what: &str, e: serde_json::Error| StoreError::Corrupt {
                dir: label.clone(),
                tree: "units",
                key: what.to_owned(),
                reason: e.to_string(),
            };
            Ok(Some(Unit {
                id: u64::try_from(r.try_get::<_, i64>(0).map_err(get)?).unwrap_or(0),
                scan: u64::try_from(r.try_get::<_, i64>(1).map_err(get)?).unwrap_or(0),
                host: r.try_get(2).map_err(get)?,
                checks: serde_json::from_str(&checks).map_err(|e| corrupt("checks", e))?,
                skip_checks: serde_json::from_str(&skip).map_err(|e| corrupt("skip_checks", e))?,
                profile: r.try_get(5).map_err(get)?,
                scope_sha256: r.try_get(6).map_err(get)?,
                attempts: u32::try_from(r.try_get::<_, i32>(7).map_err(get)?).unwrap_or(0),
            }))
        })
    }

    /// Extend `worker`'s lease on unit `id`; `false` when it no longer holds it.
    pub(crate) fn renew_unit(&self, id: u64, worker: &str, lease: Duration) -> Result<bool, StoreError> {
        let worker = worker.to_owned();
        self.pool.transact(move |tx| {
            Ok(tx.execute(
                "UPDATE units SET lease_until = now() + make_interval(secs => $3) \
                 WHERE id = $1 AND worker = $2 AND state = 'running'",
                &[&id64(id), &worker, &secs(lease)],
            )? == 1)
        })
    }

    /// Record how unit `id` ended: done (`Ok(complete)`) or failed
    /// (`Err(why)`); `false` when `worker` no longer held it (its result is
    /// not recorded: the worker that took the unit over decides).
    pub(crate) fn finish_unit(
        &self,
        id: u64,
        worker: &str,
        result: Result<bool, String>,
        audit: Option<AuditSegment>,
    ) -> Result<bool, StoreError> {
        let worker = worker.to_owned();
        let (state, complete, error) = match &result {
            Ok(complete) => ("done", Some(*complete), None),
            Err(why) => ("failed", None, Some(why.clone())),
        };
        self.pool.transact(move |tx| {
            let held = tx.execute(
                "UPDATE units SET state = $3, complete = $4, error = $5, finished = $6, lease_until = NULL \
                 WHERE id = $1 AND worker = $2 AND state = 'running'",
                &[&id64(id), &worker, &state, &complete, &error, &Timestamp::now().unix()],
            )? == 1;
            // The traffic happened whether or not the result is taken: its
            // records go in either way.
            segment_of_unit(tx, &worker, id, audit.as_ref(), held)?;
            Ok(held)
        })
    }

    /// Give unit `id` back to the queue (the worker stops before it ended),
    /// with the audit records of what it did meanwhile; `false` when
    /// `worker` no longer held it. A unit given back does not count as an
    /// attempt (one whose lease ran out does).
    pub(crate) fn release_unit(&self, id: u64, worker: &str, audit: Option<AuditSegment>) -> Result<bool, StoreError> {
        let worker = worker.to_owned();
        self.pool.transact(move |tx| {
            let held = tx.execute(
                "UPDATE units SET state = 'queued', worker = NULL, lease_until = NULL, attempts = greatest(attempts - 1, 0) \
                 WHERE id = $1 AND worker = $2 AND state = 'running'",
                &[&id64(id), &worker],
            )? == 1;
            segment_of_unit(tx, &worker, id, audit.as_ref(), false)?;
            Ok(held)
        })
    }

    /// Fail the units of `scan` whose lease ran out after `max_attempts`
    /// claims (no worker will take them again); returns how many.
    pub(crate) fn fail_abandoned_units(&self, scan: u64, max_attempts: u32) -> Result<u64, StoreError> {
        let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        self.pool.transact(move |tx| {
            Ok(tx.execute(
                "UPDATE units SET state = 'failed', lease_until = NULL, \
                 error = 'abandoned: its lease ran out ' || attempts || ' times (the workers holding it stopped)' \
                 WHERE scan = $1 AND state IN ('running', 'queued') AND attempts >= $2 \
                 AND (lease_until IS NULL OR lease_until < now())",
                &[&id64(scan), &max],
            )?)
        })
    }

    /// Withdraw the units of `scan` no worker has claimed (the run stopped); how many.
    pub(crate) fn cancel_units(&self, scan: u64) -> Result<u64, StoreError> {
        self.pool.transact(move |tx| {
            Ok(tx.execute(
                "UPDATE units SET state = 'failed', error = 'withdrawn: the run was stopped' WHERE scan = $1 AND state = 'queued'",
                &[&id64(scan)],
            )?)
        })
    }

    /// Where the units of run `scan` stand.
    pub(crate) fn unit_counts(&self, scan: u64) -> Result<UnitCounts, StoreError> {
        self.pool.transact(move |tx| {
            let mut c = UnitCounts::default();
            for r in tx.query(
                "SELECT state, count(*), count(*) FILTER (WHERE complete IS FALSE) FROM units WHERE scan = $1 GROUP BY state",
                &[&id64(scan)],
            )? {
                let state: String = r.try_get(0)?;
                let n = u64::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0);
                let incomplete = u64::try_from(r.try_get::<_, i64>(2)?).unwrap_or(0);
                match state.as_str() {
                    "queued" => c.queued = n,
                    "running" => c.running = n,
                    "done" => {
                        c.done = n;
                        c.incomplete = incomplete;
                    }
                    _ => c.failed = n,
                }
            }
            Ok::<_, Fail>(c)
        })
    }
}
