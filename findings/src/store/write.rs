//! Everything that changes findings: upserts, triage, closing and reopening.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::closing::Closing;
use super::keys::{IndexKeys, decode, encode, host_prefix, status_key};
use super::scan::{Coverage, EVERY_PORT_CHECK, FailedUnit, ScanCounts, ScanRun, coverage_key, port_owned, scan_key};
use super::{Selection, SledStore};
use crate::error::StoreError;
use crate::fingerprint::{FINGERPRINT_VERSION, Normalized, fingerprint_normalized, normalize};
use crate::lifecycle::{self, SCANNER, Transition};
use crate::model::{Baseline, Finding, HistoryEntry, Observation, Priority, State};
use crate::time::Timestamp;

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// A new finding was created.
    New,
    /// An existing finding was seen again with the same evidence.
    Unchanged,
    /// An existing finding was seen again with different evidence.
    Updated,
    /// A fixed finding was seen again and reopened as a regression.
    Reopened,
}

type Abort = ConflictableTransactionError<StoreError>;

/// The transactional view of the finding keyspaces.
struct Tx<'a> {
    findings: &'a TransactionalTree,
    by_status: &'a TransactionalTree,
    by_host: &'a TransactionalTree,
}

impl Tx<'_> {
    fn load(&self, id: &str) -> Result<Option<Finding>, Abort> {
        match self.findings.get(id.as_bytes())? {
            None => Ok(None),
            Some(v) => match decode::<Finding>(&v) {
                Ok(f) => Ok(Some(f)),
                Err(_) => {
                    // Unreadable record: its index entries can only differ from the
                    // replacement's in the state and priority bytes; drop them all.
                    for s in State::ALL {
                        for p in Priority::ALL {
                            self.by_status.remove(status_key(*s, *p, id))?;
                        }
                    }
                    Ok(None)
                }
            },
        }
    }

    /// Write `new`, replacing `old`'s index entries where they differ.
    fn put(&self, old: Option<&Finding>, new: &Finding) -> Result<(), Abort> {
        self.put_keyed(old.map(IndexKeys::of), new)
    }

    /// Write `new`; `old` are the index entries of the record it replaces.
    fn put_keyed(&self, old: Option<IndexKeys>, new: &Finding) -> Result<(), Abort> {
        let nk = IndexKeys::of(new);
        let (mut status_changed, mut host_changed) = (true, true);
        if let Some(ok) = old {
            status_changed = ok.status != nk.status;
            host_changed = ok.host != nk.host;
            if status_changed {
                self.by_status.remove(ok.status)?;
            }
            if host_changed {
                self.by_host.remove(ok.host)?;
            }
        }
        self.findings.insert(new.id.as_bytes(), encode(new))?;
        if status_changed {
            self.by_status.insert(nk.status, &[])?;
        }
        if host_changed {
            self.by_host.insert(nk.host, &[])?;
        }
        Ok(())
    }
}

fn unwrap_tx<T>(store: &SledStore, r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    match r {
        Ok(v) => Ok(v),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(store.engine(e)),
    }
}

/// The fingerprint of each observation of a batch with its index, in
/// fingerprint order (both backends visit the records in key order).
pub(super) fn upsert_order(batch: &[Observation]) -> Vec<(String, usize)> {
    let mut order: Vec<(String, usize)> = batch
        .iter()
        .enumerate()
        .map(|(i, obs)| (fingerprint_normalized(&obs.check, &normalize(&obs.asset, &obs.location)), i))
        .collect();
    order.sort();
    order
}

/// Count one upsert's outcome into a run's counts.
pub(super) fn count_outcome(counts: &mut ScanCounts, outcome: UpsertOutcome) {
    match outcome {
        UpsertOutcome::New => counts.new += 1,
        UpsertOutcome::Unchanged => counts.seen += 1,
        UpsertOutcome::Updated => {
            counts.seen += 1;
            counts.updated += 1;
        }
        UpsertOutcome::Reopened => {
            counts.seen += 1;
            counts.reopened += 1;
        }
    }
}

/// A state change by the scanner (both backends).
pub(super) fn scanner_move(f: &mut Finding, to: State, note: String, now: Timestamp) -> Result<(), StoreError> {
    let t = Transition::new(to, SCANNER).note(note);
    lifecycle::apply(f, &t, now).map_err(StoreError::from)
}

impl SledStore {
    /// Run `body` in one transaction over the finding keyspaces and the scan runs.
    fn transact<T>(&self, body: impl Fn(&Tx<'_>, &TransactionalTree) -> Result<T, Abort>) -> Result<T, StoreError> {
        let trees = (&self.findings, &self.by_status, &self.by_host, &self.scans);
        self.guard(|| {
            let r = trees.transaction(|(findings, by_status, by_host, scans)| {
                let tx = Tx { findings, by_status, by_host };
                body(&tx, scans)
            });
            unwrap_tx(self, r)
        })
    }

    /// Merge a batch of observations, atomically and durably: when this returns
    /// `Ok`, every observation is on disk; on error none is.
    ///
    /// A new weakness becomes an open finding; one seen again updates
    /// `last_seen`, `seen_count` and evidence; a fixed one is reopened and tagged
    /// `regression`; a false positive whose evidence changed is reopened.
    pub(crate) fn upsert_batch(
        &self,
        scan: Option<u64>,
        batch: &[Observation],
    ) -> Result<Vec<(String, UpsertOutcome)>, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = Timestamp::now();
        let prioritizer = self.prioritizer();
        // Fingerprint outside the transaction (it may be retried) and visit the
        // records in key order: neighbouring keys share tree nodes, which made
        // batched upserts of new findings about a third faster.
        let order = upsert_order(batch);
        let out = self.transact(|tx, scans| {
            let mut results = vec![(String::new(), UpsertOutcome::New); batch.len()];
            let mut counts = ScanCounts::default();
            for (id, i) in &order {
                let obs = &batch[*i];
                let norm = normalize(&obs.asset, &obs.location);
                let id = id.clone();
                let old = tx.load(&id)?;
                let old_keys = old.as_ref().map(IndexKeys::of);
                let (mut new, outcome) = match old {
                    None => (create(id.clone(), norm, obs, scan), UpsertOutcome::New),
                    Some(f) => merge(f, norm, obs, scan, now).map_err(Abort::Abort)?,
                };
                prioritizer.prioritize(&mut new, now);
                tx.put_keyed(old_keys, &new)?;
                count_outcome(&mut counts, outcome);
                results[*i] = (id, outcome);
            }
            if let Some(scan) = scan {
                let key = scan_key(scan);
                let mut run: ScanRun = match scans.get(key)? {
                    Some(v) => decode(&v).map_err(|reason| Abort::Abort(self.corrupt("scans", &key, reason)))?,
                    None => return Err(Abort::Abort(StoreError::NoScan { dir: self.dir.clone(), id: scan })),
                };
                add_counts(&mut run.counts, &counts);
                scans.insert(&key, encode(&run))?;
            }
            Ok(results)
        })?;
        self.flush()?;
        Ok(out)
    }
}

/// A new finding from its first observation (both backends).
pub(super) fn create(id: String, n: Normalized, o: &Observation, scan: Option<u64>) -> Finding {
    let mut tags = Vec::new();
    for t in &o.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Finding {
        id,
        fingerprint_version: FINGERPRINT_VERSION,
        check: o.check.clone(),
        title: o.title.clone(),
        severity: o.severity,
        confidence: o.confidence,
        priority: Priority::P4,
        score: 0.0,
        state: State::Open,
        host: n.host,
        ip: o.asset.ip,
        port: n.port,
        url: n.url,
        location: n.location,
        evidence: o.evidence.clone(),
        cwe: o.cwe,
        references: o.references.clone(),
        remediation: o.remediation.clone(),
        first_seen: o.seen_at,
        last_seen: o.seen_at,
        seen_count: 1,
        engagement: o.engagement.clone(),
        tags,
        rules: Vec::new(),
        history: vec![HistoryEntry {
            at: o.seen_at,
            actor: SCANNER.into(),
            from: None,
            to: State::Open,
            note: Some(match scan {
                Some(s) => format!("first seen by scan {s}"),
                None => "first seen".into(),
            }),
        }],
        baseline: crate::model::Baseline::New,
        assignee: None,
        accepted_until: None,
        last_scan: scan,
        audit: o.audit.clone(),
        suppressed: false,
        due: None,
        rule_tags: Vec::new(),
    }
}

/// A stored finding seen again (both backends): reopened when it was fixed,
/// or a false positive whose evidence changed; evidence and counts updated.
pub(super) fn merge(
    mut f: Finding,
    n: Normalized,
    o: &Observation,
    scan: Option<u64>,
    now: Timestamp,
) -> Result<(Finding, UpsertOutcome), StoreError> {
    let evidence_changed = f.evidence != o.evidence;
    let same_scan = scan.is_some() && f.last_scan == scan;
    let scan_text = scan.map(|s| format!("scan {s}")).unwrap_or_else(|| "a probe".into());
    let mut outcome = if evidence_changed { UpsertOutcome::Updated } else { UpsertOutcome::Unchanged };
    match f.state {
        State::Fixed => {
            scanner_move(&mut f, State::Open, format!("seen again by {scan_text}: regression"), now)?;
            f.add_tag("regression");
            outcome = UpsertOutcome::Reopened;
        }
        State::FalsePositive if evidence_changed => {
            scanner_move(
                &mut f,
                State::Open,
                format!("evidence changed ({scan_text}); was marked false positive"),
                now,
            )?;
        }
        State::AcceptedRisk if f.accepted_until.is_some_and(|u| u <= now) => {
            scanner_move(&mut f, State::Open, "risk acceptance expired".into(), now)?;
        }
        _ => {}
    }
    if o.seen_at > f.last_seen {
        f.last_seen = o.seen_at;
    }
    f.seen_count = f.seen_count.saturating_add(1);
    f.title = o.title.clone();
    f.severity = o.severity;
    f.confidence = o.confidence;
    f.evidence = o.evidence.clone();
    f.cwe = o.cwe;
    f.references = o.references.clone();
    f.remediation = o.remediation.clone();
    f.engagement = o.engagement.clone();
    if o.asset.ip.is_some() {
        f.ip = o.asset.ip;
    }
    f.url = n.url.or(f.url);
    if !o.audit.is_empty() {
        f.audit = o.audit.clone();
    }
    for t in &o.tags {
        f.add_tag(t);
    }
    if !same_scan || outcome == UpsertOutcome::Reopened {
        f.baseline = match outcome {
            UpsertOutcome::Reopened => Baseline::Reopened,
            UpsertOutcome::Updated => Baseline::Updated,
            _ if same_scan => f.baseline,
            _ => Baseline::Unchanged,
        };
    } else if outcome == UpsertOutcome::Updated && f.baseline == Baseline::Unchanged {
        f.baseline = Baseline::Updated;
    }
    if scan.is_some() {
        f.last_scan = scan;
    }
    Ok((f, outcome))
}

impl SledStore {
    /// Apply one triage transition to each of `ids`, all or nothing: if any id
    /// is unknown or any transition is illegal, nothing changes.
    pub(crate) fn triage<S: AsRef<str>>(&self, ids: &[S], t: &Transition) -> Result<Vec<Finding>, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = Timestamp::now();
        let prioritizer = self.prioritizer();
        let out = self.transact(|tx, _| {
            let mut changed = Vec::with_capacity(ids.len());
            for id in ids {
                let id = id.as_ref();
                let Some(old) = tx.load(id)? else {
                    return Err(Abort::Abort(StoreError::NotFound { dir: self.dir.clone(), id: id.to_owned() }));
                };
                let mut f = old.clone();
                lifecycle::apply(&mut f, t, now).map_err(|e| Abort::Abort(e.into()))?;
                prioritizer.prioritize(&mut f, now);
                tx.put(Some(&old), &f)?;
                changed.push(f);
            }
            Ok(changed)
        })?;
        self.flush()?;
        Ok(out)
    }

    /// Re-run the prioritizer on every stored finding (after the rules changed).
    /// Returns how many findings changed score, band or rule hits.
    ///
    /// Scoring and encoding run on every core (the prioritizer is `Sync` and
    /// pure); only the findings whose result changed are written, each with
    /// its index entries in one transaction, 512 per transaction.
    pub(crate) fn reprioritize(&self) -> Result<usize, StoreError> {
        /// A changed finding, ready to write: its id, old and new index
        /// entries, and the encoded record.
        type Ready = (String, IndexKeys, IndexKeys, Vec<u8>);
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = Timestamp::now();
        let listing = self.list(&Selection::All)?;
        let old = &listing.findings;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 16);
        let part = old.len().div_ceil(cores).max(1);
        let prioritizer = &self.prioritizer();
        let ready: Vec<Ready> = std::thread::scope(|s| {
            let handles: Vec<_> = old
                .chunks(part)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .filter_map(|o| {
                                let mut f = o.clone();
                                prioritizer.prioritize(&mut f, now);
                                (f != *o).then(|| (f.id.clone(), IndexKeys::of(o), IndexKeys::of(&f), encode(&f)))
                            })
                            .collect::<Vec<Ready>>()
                    })
                })
                .collect();
            // A scoring thread that panicked leaves its findings as they were.
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        let trees = (&self.findings, &self.by_status, &self.by_host);
        for chunk in ready.chunks(512) {
            let r = trees.transaction(|(findings, by_status, by_host)| {
                for (_, ok, nk, _) in chunk {
                    if ok.status != nk.status {
                        by_status.remove(ok.status.as_slice())?;
                        by_status.insert(nk.status.as_slice(), &[])?;
                    }
                    if ok.host != nk.host {
                        by_host.remove(ok.host.as_slice())?;
                        by_host.insert(nk.host.as_slice(), &[])?;
                    }
                }
                for (id, _, _, bytes) in chunk {
                    findings.insert(id.as_bytes(), bytes.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            });
            unwrap_tx(self, r)?;
        }
        self.flush()?;
        Ok(ready.len())
    }

    /// [`Store::begin_scan_selected`] for a run started by the `[[schedule]]`
    /// named `schedule` (kept on the run, so the daemon finds each schedule's
    /// last run after a restart).
    pub(crate) fn begin_scan_scheduled(
        &self,
        targets: Vec<String>,
        checks: &[String],
        skip_checks: &[String],
        schedule: Option<&str>,
    ) -> Result<ScanRun, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        // Scan ids count 1, 2, 3 ... (sled's generate_id jumps by a million
        // after a restart, which reads badly in reports).
        let last = self.scans.last().map_err(|e| self.engine(e))?;
        let id = last.and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok()).map_or(0, u64::from_be_bytes) + 1;
        let run = ScanRun {
            id,
            started: Timestamp::now(),
            ended: None,
            targets,
            complete: false,
            counts: ScanCounts::default(),
            failed: Vec::new(),
            failed_total: 0,
            checks: checks.to_vec(),
            skip_checks: skip_checks.to_vec(),
            schedule: schedule.map(str::to_owned),
        };
        self.scans.insert(scan_key(id), encode(&run)).map_err(|e| self.engine(e))?;
        self.flush()?;
        Ok(run)
    }

    /// A scan run by id.
    pub(crate) fn scan(&self, id: u64) -> Result<ScanRun, StoreError> {
        let key = scan_key(id);
        match self.scans.get(key).map_err(|e| self.engine(e))? {
            None => Err(StoreError::NoScan { dir: self.dir.clone(), id }),
            Some(v) => decode(&v).map_err(|r| self.corrupt("scans", &key, r)),
        }
    }

    /// Every scan run, oldest first; unreadable ones are skipped.
    pub(crate) fn scans(&self) -> Result<Vec<ScanRun>, StoreError> {
        self.guard(|| {
            let mut out = Vec::new();
            for item in self.scans.iter().values() {
                let v = item.map_err(|e| self.engine(e))?;
                if let Ok(run) = decode(&v) {
                    out.push(run);
                }
            }
            Ok(out)
        })
    }

    /// Journal (check, asset) pairs that ran to completion without error in `scan`.
    pub(crate) fn cover(&self, scan: u64, pairs: &[Coverage]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for c in pairs {
            batch.insert(coverage_key(scan, c), &[]);
        }
        self.coverage.apply_batch(batch).map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Journal ports that refused the connection in `scan`: each covers every
    /// check its own probes run (services, TLS, content checks) on that host
    /// and port, in one entry ([`EVERY_PORT_CHECK`]).
    pub(crate) fn cover_closed_ports(&self, scan: u64, ports: &[(String, u16)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (host, port) in ports {
            let host = crate::fingerprint::normalize_host(host);
            let mut k = scan_key(scan).to_vec();
            k.extend_from_slice(&super::keys::asset_prefix(EVERY_PORT_CHECK, &host, Some(*port)));
            batch.insert(k, &[]);
        }
        self.coverage.apply_batch(batch).map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Record units of `scan` that got no definite answer (kept on the run,
    /// the first [`MAX_FAILED_KEPT`](super::scan::MAX_FAILED_KEPT) of them,
    /// and counted). They cover nothing.
    pub(crate) fn record_failed(&self, scan: u64, units: &[FailedUnit]) -> Result<(), StoreError> {
        if units.is_empty() {
            return Ok(());
        }
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut run = self.scan(scan)?;
        for u in units {
            if run.failed.len() < super::scan::MAX_FAILED_KEPT && !run.failed.contains(u) {
                run.failed.push(u.clone());
            }
        }
        run.failed_total += units.len() as u64;
        self.scans.insert(scan_key(scan), encode(&run)).map_err(|e| self.engine(e))?;
        self.flush()
    }

    /// Every (check, asset) pair `scan` journaled as covered (for resuming).
    pub(crate) fn covered(&self, scan: u64) -> Result<Vec<Coverage>, StoreError> {
        let prefix = scan_key(scan);
        let mut out = Vec::new();
        for item in self.coverage.scan_prefix(prefix).keys() {
            let key = item.map_err(|e| self.engine(e))?;
            let Some((check, host, port)) = split_pair(key.get(prefix.len()..).unwrap_or_default()) else {
                continue;
            };
            if let Ok(check) = check.parse() {
                out.push(Coverage { check, host, port });
            }
        }
        Ok(out)
    }

    /// The most recent scan run, if it did not complete (interrupted, killed,
    /// or stopped early): the one `--resume` continues. An older incomplete run
    /// was superseded by the newer one.
    pub(crate) fn unfinished_scan(&self) -> Result<Option<ScanRun>, StoreError> {
        Ok(self.scans()?.pop().filter(|r| !r.complete))
    }

    /// Whether `scan` already covered this pair (for resuming).
    pub(crate) fn is_covered(&self, scan: u64, c: &Coverage) -> Result<bool, StoreError> {
        self.coverage.contains_key(coverage_key(scan, c)).map_err(|e| self.engine(e))
    }

    /// End a scan run. When `complete`, every open, confirmed or accepted-risk
    /// finding on a covered (check, asset) that this scan did not see becomes
    /// `fixed` (actor `scanner`); false positives are marked absent but keep
    /// their state. An incomplete scan closes nothing.
    pub(crate) fn finish_scan(&self, scan: u64, complete: bool) -> Result<ScanRun, StoreError> {
        let mut run = self.scan(scan)?;
        let now = Timestamp::now();
        let mut fixed = 0u64;
        let prioritizer = self.prioritizer();
        if complete {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let prefix = scan_key(scan);
            for item in self.coverage.scan_prefix(prefix).keys() {
                let key = item.map_err(|e| self.engine(e))?;
                let Some((check, host, port)) = split_pair(key.get(prefix.len()..).unwrap_or_default()) else {
                    continue;
                };
                let host_key = host_prefix(&host);
                let mut ids = Vec::new();
                for entry in self.by_host.scan_prefix(&host_key).keys() {
                    let k = entry.map_err(|e| self.engine(e))?;
                    ids.push(super::keys::id_after(&k, host_key.len()));
                }
                for chunk in ids.chunks(256) {
                    fixed += self.transact(|tx, _| {
                        let mut n = 0;
                        for id in chunk {
                            let Some(old) = tx.load(id)? else { continue };
                            let same_check = if check == EVERY_PORT_CHECK {
                                port.is_some() && port_owned(old.check.as_str())
                            } else {
                                old.check.as_str() == check
                            };
                            if old.last_scan == Some(scan) || !same_check || old.port != port {
                                continue;
                            }
                            let mut f = old.clone();
                            f.baseline = Baseline::Absent;
                            if matches!(f.state, State::Open | State::Confirmed | State::AcceptedRisk) {
                                scanner_move(&mut f, State::Fixed, format!("not seen by complete scan {scan}"), now)
                                    .map_err(Abort::Abort)?;
                                n += 1;
                            }
                            if f != old {
                                prioritizer.prioritize(&mut f, now);
                                tx.put(Some(&old), &f)?;
                            }
                        }
                        Ok(n)
                    })?;
                }
            }
        }
        if complete {
            // Ports closed and hosts gone: only a complete run decides them.
            self.close_assets(scan)?;
        }
        self.expire_acceptances(now)?;
        run.counts.fixed += fixed;
        run.ended = Some(now);
        run.complete = complete;
        self.scans.insert(scan_key(scan), encode(&run)).map_err(|e| self.engine(e))?;
        self.flush()?;
        Ok(run)
    }

    /// Return every accepted-risk finding whose `until` has passed to `open`,
    /// with a history entry by the scanner. Returns the ids reopened.
    pub(crate) fn expire_acceptances(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        self.expire_acceptances_as(now, SCANNER)
    }

    /// [`Store::expire_acceptances`] with the history entry written by
    /// `actor` (the daemon passes [`crate::lifecycle::DAEMON`]). Cheap when
    /// nothing is due: one walk of the accepted-risk index, no write.
    pub(crate) fn expire_acceptances_as(&self, now: Timestamp, actor: &str) -> Result<Vec<String>, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<Finding> = self
            .list(&Selection::States(vec![State::AcceptedRisk]))?
            .findings
            .into_iter()
            .filter(|f| f.accepted_until.is_some_and(|u| u <= now))
            .collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let prioritizer = self.prioritizer();
        let ids = self.transact(|tx, _| {
            let mut ids = Vec::new();
            for old in &due {
                let mut f = old.clone();
                let t = Transition::new(State::Open, actor).note("risk acceptance expired");
                lifecycle::apply(&mut f, &t, now).map_err(|e| Abort::Abort(e.into()))?;
                prioritizer.prioritize(&mut f, now);
                tx.put(Some(old), &f)?;
                ids.push(f.id.clone());
            }
            Ok(ids)
        })?;
        self.flush()?;
        Ok(ids)
    }
}

/// Split a journaled `check NUL host NUL port NUL` pair.
pub(super) fn split_pair(key: &[u8]) -> Option<(String, String, Option<u16>)> {
    let text = std::str::from_utf8(key).ok()?;
    let mut parts = text.split('\0');
    let check = parts.next()?.to_owned();
    let host = parts.next()?.to_owned();
    let port = match parts.next()? {
        "-" => None,
        p => Some(p.parse().ok()?),
    };
    Some((check, host, port))
}

pub(super) fn add_counts(total: &mut ScanCounts, c: &ScanCounts) {
    total.new += c.new;
    total.seen += c.seen;
    total.updated += c.updated;
    total.fixed += c.fixed;
    total.reopened += c.reopened;
}
