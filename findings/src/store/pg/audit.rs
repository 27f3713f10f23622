//! Audit across machines: each worker keeps its own hash chain (its local
//! audit log) and copies the records of every unit it ran into the database
//! as a segment (worker, first and last seq, the hash before the first and
//! of the last record), in the same transaction that records the unit's end.
//! [`PgStore::verify_segments`] checks every segment's chain, the links
//! between a worker's consecutive segments, and that every unit a worker
//! finished has its segment: no record missing between a claim and its end.

use serde::{Deserialize, Serialize};

use super::{Fail, PgStore};
use crate::audit::{check_segment, line_hash};
use crate::error::StoreError;

/// The records of one unit, copied out of a worker's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSegment {
    /// `seq` of the first record (one past the last when there is none).
    pub first_seq: u64,
    /// `prev` of the first record: the hash of the record before it.
    pub first_prev: String,
    /// The records' exact lines, in order.
    pub lines: Vec<String>,
}

impl AuditSegment {
    /// Hash of the last record (`first_prev` when there is none).
    pub fn last_hash(&self) -> String {
        self.lines.last().map_or_else(|| self.first_prev.clone(), |l| line_hash(l))
    }
}

/// What checking the segments in the database found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentsReport {
    /// Workers with segments.
    pub workers: u64,
    /// Segments checked.
    pub segments: u64,
    /// Records checked.
    pub records: u64,
    /// Every problem, a sentence each (empty: all verified).
    pub problems: Vec<String>,
}

fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Write `segment` of `worker` for `unit` of `scan` (inside the transaction
/// that records the unit's end); `recorded` says whether the unit's result
/// was taken (false: the lease was lost, but the traffic happened).
pub(super) fn put_segment(
    tx: &mut postgres::Transaction<'_>,
    worker: &str,
    unit: u64,
    scan: u64,
    segment: &AuditSegment,
    recorded: bool,
) -> Result<(), postgres::Error> {
    // One before the first when the segment is empty.
    let last_seq = (segment.first_seq + segment.lines.len() as u64).saturating_sub(1);
    tx.execute(
        "INSERT INTO audit_segments (worker, first_seq, last_seq, first_prev, last_hash, unit, scan, recorded) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (worker, first_seq) DO NOTHING",
        &[
            &worker,
            &i(segment.first_seq),
            &i(last_seq),
            &segment.first_prev,
            &segment.last_hash(),
            &i(unit),
            &i(scan),
            &recorded,
        ],
    )?;
    if !segment.lines.is_empty() {
        let seqs: Vec<i64> = (0..segment.lines.len() as u64).map(|k| i(segment.first_seq + k)).collect();
        tx.execute(
            "INSERT INTO audit_records (worker, seq, line) SELECT $1, s, l FROM UNNEST($2::int8[], $3::text[]) AS t(s, l) \
             ON CONFLICT (worker, seq) DO NOTHING",
            &[&worker, &seqs, &segment.lines],
        )?;
    }
    Ok(())
}

impl PgStore {
    /// Check every worker's segments; see the module's text.
    pub(crate) fn verify_segments(&self) -> Result<SegmentsReport, StoreError> {
        type Seg = (String, i64, i64, String, String, i64, bool);
        let (segments, missing): (Vec<Seg>, Vec<(i64, String, i64)>) = self.pool.transact(|tx| {
            let segs = tx
                .query(
                    "SELECT worker, first_seq, last_seq, first_prev, last_hash, unit, recorded FROM audit_segments \
                     ORDER BY worker, first_seq",
                    &[],
                )?
                .into_iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?)))
                .collect::<Result<Vec<Seg>, postgres::Error>>()?;
            // Units a worker finished (done or failed by it) without a segment.
            let missing = tx
                .query(
                    "SELECT u.id, u.worker, u.scan FROM units u WHERE u.state IN ('done', 'failed') AND u.finished IS NOT NULL \
                     AND u.worker IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_segments s WHERE s.worker = u.worker \
                     AND s.unit = u.id AND s.recorded) ORDER BY u.id",
                    &[],
                )?
                .into_iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Vec<_>, postgres::Error>>()?;
            Ok::<_, Fail>((segs, missing))
        })?;
        let mut report = SegmentsReport::default();
        let mut last: Option<(String, i64, String)> = None;
        for (worker, first, last_seq, first_prev, last_hash, unit, _) in segments {
            report.segments += 1;
            if last.as_ref().is_none_or(|(w, _, _)| *w != worker) {
                report.workers += 1;
            }
            let w = worker.clone();
            let lines: Vec<String> = self.pool.transact(move |tx| {
                Ok(tx
                    .query(
                        "SELECT line FROM audit_records WHERE worker = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                        &[&w, &first, &last_seq],
                    )?
                    .into_iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<Vec<String>, _>>()?)
            })?;
            let expected = usize::try_from(last_seq - first + 1).unwrap_or(0);
            report.records += lines.len() as u64;
            let name = format!("worker {worker}, unit {unit}, records {first}..{last_seq}");
            if lines.len() != expected {
                report.problems.push(format!("{name}: {} of {expected} records are in the database", lines.len()));
            } else {
                match check_segment(u64::try_from(first).unwrap_or(0), &first_prev, &lines) {
                    Ok(hash) if hash == last_hash => {}
                    Ok(_) => report.problems.push(format!("{name}: its last record is not the one the segment sealed")),
                    Err(e) => report.problems.push(format!("{name}: {e}")),
                }
            }
            if let Some((w, prev_last, prev_hash)) = &last
                && *w == worker
                && *prev_last + 1 == first
                && *prev_hash != first_prev
            {
                report.problems.push(format!("{name}: does not chain to the worker's segment before it"));
            }
            last = Some((worker, last_seq, last_hash));
        }
        for (unit, worker, scan) in missing {
            report.problems.push(format!(
                "unit {unit} of scan {scan} was finished by worker {worker}, but its audit records are not in the database"
            ));
        }
        Ok(report)
    }
}
