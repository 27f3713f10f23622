//! Checks on a zone apex: SPF, DMARC, DNSSEC, CAA, open zone transfer; and the names
//! a zone transfer reveals.

use std::collections::BTreeSet;
use std::net::IpAddr;

use haetae_findings::{Asset, CheckId, Observation};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::mail::{Spf, analyze_spf};
use super::observe;
use crate::dns::{RData, Rcode, RecordType, Response};
use crate::guard::{Connected, GuardError, ScopeGuard};

/// Most records read from one zone transfer (one server address); the
/// transfer is cut there and the evidence says so.
pub(crate) const MAX_AXFR_RECORDS: usize = 10_000;
/// Most names a zone's transfers add to the scan (the first, in name order).
pub(crate) const MAX_AXFR_NAMES: usize = 1_000;
/// One zone transfer, from the request to its last message, gets this many
/// `timeout_ms` in all (and each message one `timeout_ms`); past it the
/// transfer is cut and the evidence says so.
pub(crate) const AXFR_DEADLINE_TIMEOUTS: u32 = 4;
/// Most name server addresses asked for a transfer of one zone; past it the
/// check is not complete.
const MAX_AXFR_SERVERS: usize = 16;

/// What the zone checks found.
#[derive(Debug, Default)]
pub(crate) struct ZoneReport {
    pub(crate) observations: Vec<Observation>,
    /// Checks that ran to completion on the apex.
    pub(crate) covered: Vec<CheckId>,
    /// In-scope names seen in the zone (AXFR, MX, NS).
    pub(crate) names: BTreeSet<String>,
    /// The authorization window closed while checking.
    pub(crate) window_closed: Option<String>,
}

fn txts(r: &Response, owner: &str) -> Vec<String> {
    r.answers
        .iter()
        .filter(|rec| rec.name == owner)
        .filter_map(|rec| match &rec.data {
            RData::Txt(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn ok_or_nx(r: &Result<Response, GuardError>) -> bool {
    r.as_ref().is_ok_and(|r| matches!(r.rcode, Rcode::NoError | Rcode::NxDomain))
}

/// The zone checks of `apex`. Cancel-safe: when `cancel` fires, it returns
/// at once with an empty report (nothing covered), whatever it was waiting on.
pub(crate) async fn check_zone(
    guard: &ScopeGuard,
    apex: &str,
    active: bool,
    skip: &(dyn Fn(&CheckId) -> bool + Sync),
    cancel: &CancellationToken,
) -> ZoneReport {
    tokio::select! {
        biased;
        () = cancel.cancelled() => ZoneReport::default(),
        rep = zone_checks(guard, apex, active, skip) => rep,
    }
}

async fn zone_checks(
    guard: &ScopeGuard,
    apex: &str,
    active: bool,
    skip: &(dyn Fn(&CheckId) -> bool + Sync),
) -> ZoneReport {
    let mut rep = ZoneReport::default();
    let eng = guard.scope().engagement.id.clone();
    let asset = || Asset { host: apex.to_owned(), ip: None, port: None };
    let note_window = |rep: &mut ZoneReport, r: &Result<Response, GuardError>| {
        if let Err(e) = r
            && e.is_window()
        {
            rep.window_closed = Some(e.to_string());
        }
    };

    let soa = guard.query(apex, RecordType::Soa).await;
    note_window(&mut rep, &soa.response);
    let exists = match &soa.response {
        Ok(r) if r.rcode == Rcode::NoError => true,
        Ok(r) if r.rcode == Rcode::NxDomain => false,
        // SERVFAIL, REFUSED, no answer: nothing is known about the zone, so
        // nothing is covered (a SERVFAIL is not "no such zone").
        _ => return rep,
    };
    if !exists {
        // No such zone: nothing to say about its mail or CAA policy.
        rep.covered.extend([
            CheckId::DnsSpfMissing,
            CheckId::DnsSpfPermissive,
            CheckId::DnsDmarcMissing,
            CheckId::DnsDmarcWeak,
            CheckId::DnsCaaMissing,
            CheckId::DnsAxfrOpen,
            CheckId::DnsDnssecMissing,
            CheckId::DnsDnssecExpired,
        ]);
        return rep;
    }

    if !(skip(&CheckId::DnsSpfMissing) && skip(&CheckId::DnsSpfPermissive)) {
        let q = guard.query(apex, RecordType::Txt).await;
        note_window(&mut rep, &q.response);
        if ok_or_nx(&q.response) {
            let records = q.response.as_ref().map(|r| txts(r, apex)).unwrap_or_default();
            match analyze_spf(&records) {
                Spf::Missing => rep.observations.push(observe(
                    CheckId::DnsSpfMissing,
                    &eng,
                    asset(),
                    "TXT",
                    format!("{apex} publishes no v=spf1 TXT record"),
                    &q.audit,
                )),
                Spf::Multiple(n) => rep.observations.push(observe(
                    CheckId::DnsSpfMissing,
                    &eng,
                    asset(),
                    "TXT",
                    format!("{apex} publishes {n} v=spf1 records; receivers treat that as permerror (no policy)"),
                    &q.audit,
                )),
                Spf::PassAll(r) => rep.observations.push(observe(
                    CheckId::DnsSpfPermissive,
                    &eng,
                    asset(),
                    "TXT",
                    format!("\"{r}\": any host passes"),
                    &q.audit,
                )),
                Spf::Neutral(r) => rep.observations.push(observe(
                    CheckId::DnsSpfPermissive,
                    &eng,
                    asset(),
                    "TXT",
                    format!("\"{r}\": unlisted hosts get neutral, the same as ?all"),
                    &q.audit,
                )),
                Spf::Restrictive(_) => {}
            }
            rep.covered.extend([CheckId::DnsSpfMissing, CheckId::DnsSpfPermissive]);
        }
    }

    if !(skip(&CheckId::DnsDmarcMissing) && skip(&CheckId::DnsDmarcWeak)) {
        // RFC 7489 section 6.6.3: an apex below another `domains` entry falls
        // back to that organizational domain's record (maildomain.rs).
        let domains = &guard.scope().domains;
        let org = super::maildomain::organizational_domain(domains, apex);
        let mut cache = std::collections::HashMap::new();
        let out = super::maildomain::dmarc(guard, apex, org, &mut cache, &eng).await;
        if let Some(w) = out.window_closed {
            rep.window_closed = Some(w);
        }
        rep.observations.extend(out.observation);
        if out.definite {
            rep.covered.extend([CheckId::DnsDmarcMissing, CheckId::DnsDmarcWeak]);
        }
    }

    if !(skip(&CheckId::DnsDnssecMissing) && skip(&CheckId::DnsDnssecExpired))
        && let Ok(soa_answer) = &soa.response
    {
        let out = super::dnssec::check(guard, apex, soa_answer, &soa.audit, &eng).await;
        if let Some(w) = out.window_closed {
            rep.window_closed = Some(w);
        }
        rep.observations.extend(out.observations);
        if out.covered {
            rep.covered.extend([CheckId::DnsDnssecMissing, CheckId::DnsDnssecExpired]);
        }
    }

    if !skip(&CheckId::DnsCaaMissing) {
        caa(guard, apex, &eng, &mut rep).await;
    }

    let ns = guard.query(apex, RecordType::Ns).await;
    let mx = guard.query(apex, RecordType::Mx).await;
    for r in [&ns.response, &mx.response].into_iter().flatten() {
        for rec in &r.answers {
            let host = match &rec.data {
                RData::Ns(n) => n,
                RData::Mx { exchange, .. } => exchange,
                _ => continue,
            };
            if guard.scope().check_name(host).allowed {
                rep.names.insert(host.clone());
            }
        }
    }
    // The transfer also discovers names, so it runs even when a resumed scan
    // already covered the check; only the finding is then not reported again.
    if active {
        let servers: Vec<String> = ns
            .response
            .as_ref()
            .map(|r| {
                r.answers
                    .iter()
                    .filter_map(|rec| match &rec.data {
                        RData::Ns(n) => Some(n.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let before = rep.observations.len();
        axfr(guard, apex, &servers, &eng, &mut rep).await;
        if skip(&CheckId::DnsAxfrOpen) {
            rep.observations.truncate(before);
            rep.covered.retain(|c| *c != CheckId::DnsAxfrOpen);
        }
    }
    rep
}

/// RFC 8659 section 3: the relevant CAA set is the first non-empty one found
/// climbing from the name towards the root (we stop below the top-level domain).
async fn caa(guard: &ScopeGuard, apex: &str, eng: &str, rep: &mut ZoneReport) {
    let mut name = apex.to_owned();
    let mut audit = Vec::new();
    loop {
        let q = guard.query(&name, RecordType::Caa).await;
        audit.extend(&q.audit);
        let Ok(r) = &q.response else { return };
        if !matches!(r.rcode, Rcode::NoError | Rcode::NxDomain) {
            return;
        }
        let found = r.answers.iter().any(|rec| matches!(rec.data, RData::Caa { .. }));
        if found {
            rep.covered.push(CheckId::DnsCaaMissing);
            return;
        }
        match name.split_once('.') {
            Some((_, parent)) if parent.contains('.') => name = parent.to_owned(),
            _ => break,
        }
    }
    rep.observations.push(observe(
        CheckId::DnsCaaMissing,
        eng,
        Asset { host: apex.to_owned(), ip: None, port: None },
        "CAA",
        format!("no CAA record at {apex} or its parents: any certificate authority may issue for it"),
        &audit,
    ));
    rep.covered.push(CheckId::DnsCaaMissing);
}

/// The port a name server listens on: 53, or the port of a configured name
/// server at the same address (the lab and split-horizon setups).
fn dns_port(guard: &ScopeGuard, addr: IpAddr) -> u16 {
    guard.nameservers().iter().find(|s| s.ip() == addr).map_or(53, |s| s.port())
}

/// How a zone transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The closing SOA arrived.
    Complete,
    /// [`MAX_AXFR_RECORDS`] were read.
    RecordCap,
    /// The total deadline passed.
    Deadline,
    /// No message for one `timeout_ms`.
    Silent,
    /// The server stopped, refused, or sent something else (why).
    Stopped(String),
}

/// What one transfer gave.
struct Transfer {
    /// Records read.
    records: usize,
    /// The server started a transfer (sent the opening SOA).
    started: bool,
    end: End,
}

/// `n` with thousands separators (10,000).
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Ask for the zone on `conn` and read it until the closing SOA, the record
/// cap, or `deadline`; in-scope owner names go to `names`.
async fn transfer(
    guard: &ScopeGuard,
    conn: &mut Connected,
    apex: &str,
    deadline: Instant,
    names: &mut BTreeSet<String>,
) -> Transfer {
    let mut t = Transfer { records: 0, started: false, end: End::Stopped("no reply".into()) };
    let id = guard.dns_id();
    let query = match crate::dns::encode_axfr(id, apex) {
        Ok(q) => q,
        Err(e) => {
            t.end = End::Stopped(e.to_string());
            return t;
        }
    };
    match tokio::time::timeout_at(deadline, guard.dns_over(conn, &query)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            t.end = End::Stopped(e.to_string());
            return t;
        }
        Err(_) => {
            t.end = End::Deadline;
            return t;
        }
    }
    let mut soa_seen = 0;
    let budget = deadline.saturating_duration_since(Instant::now());
    loop {
        // Each message within one timeout_ms, all of them before the deadline.
        let message_by = deadline.min(Instant::now() + guard.timeout());
        let bytes = match tokio::time::timeout_at(message_by, guard.dns_read_within(conn, budget)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                t.end = End::Stopped(e.to_string());
                return t;
            }
            Err(_) => {
                t.end = if Instant::now() >= deadline { End::Deadline } else { End::Silent };
                return t;
            }
        };
        let r = match crate::dns::decode_response(&bytes) {
            Ok(r) => r,
            Err(e) => {
                t.end = End::Stopped(e.to_string());
                return t;
            }
        };
        if r.id != id {
            // Not a reply to this request: ignored.
            continue;
        }
        if r.rcode != Rcode::NoError || r.answers.is_empty() {
            t.end = End::Stopped(format!("{} with {} record(s)", r.rcode, r.answers.len()));
            return t;
        }
        for rec in &r.answers {
            if t.records >= MAX_AXFR_RECORDS {
                t.end = End::RecordCap;
                return t;
            }
            t.records += 1;
            if matches!(rec.data, RData::Soa { .. }) {
                soa_seen += 1;
                t.started = true;
            }
            if guard.scope().check_name(&rec.name).allowed {
                names.insert(rec.name.clone());
            }
        }
        if soa_seen >= 2 {
            t.end = End::Complete;
            return t;
        }
        if t.records >= MAX_AXFR_RECORDS {
            t.end = End::RecordCap;
            return t;
        }
    }
}

async fn axfr(guard: &ScopeGuard, apex: &str, servers: &[String], eng: &str, rep: &mut ZoneReport) {
    let mut attempted_all = true;
    let mut open: Vec<(String, Vec<u64>)> = Vec::new();
    let mut zone_names = BTreeSet::new();
    let budget = guard.timeout().saturating_mul(AXFR_DEADLINE_TIMEOUTS);
    let mut asked = 0usize;
    for ns in servers {
        let res = guard.resolve(ns).await;
        if res.allowed.is_empty() {
            // Out of scope or unresolvable: not ours to test.
            continue;
        }
        for &addr in &res.allowed {
            if asked >= MAX_AXFR_SERVERS {
                attempted_all = false;
                break;
            }
            asked += 1;
            let deadline = Instant::now() + budget;
            let port = dns_port(guard, addr);
            let mut conn = match guard.connect_dns(ns, addr, port, "dns.axfr").await {
                Ok(c) => c,
                Err(e) => {
                    if e.is_window() {
                        rep.window_closed = Some(e.to_string());
                    }
                    attempted_all = false;
                    continue;
                }
            };
            let audit = vec![conn.audit];
            let t = transfer(guard, &mut conn, apex, deadline, &mut zone_names).await;
            if !t.started {
                if matches!(t.end, End::Deadline | End::Silent) {
                    // Silent before it said whether it transfers: no definite answer.
                    attempted_all = false;
                }
                continue;
            }
            let n = grouped(t.records);
            let how = match &t.end {
                End::Complete => format!("{ns} ({addr}) sent {n} records"),
                End::RecordCap => format!("{ns} ({addr}): transfer cut after {n} records"),
                End::Deadline => format!(
                    "{ns} ({addr}): transfer cut at its {:.1} s deadline ({AXFR_DEADLINE_TIMEOUTS} x timeout_ms) after {n} records",
                    budget.as_secs_f64()
                ),
                End::Silent => {
                    format!("{ns} ({addr}) sent {n} records, then nothing for timeout_ms before the closing SOA")
                }
                End::Stopped(why) => {
                    format!("{ns} ({addr}) sent {n} records, then stopped before the closing SOA ({why})")
                }
            };
            open.push((how, audit));
        }
    }
    if !open.is_empty() {
        let servers: Vec<&str> = open.iter().map(|(h, _)| h.as_str()).collect();
        let audit: Vec<u64> = open.iter().flat_map(|(_, a)| a.iter().copied()).collect();
        let sample: Vec<&str> = zone_names.iter().take(8).map(String::as_str).collect();
        let total = zone_names.len();
        let taken = if total > MAX_AXFR_NAMES {
            format!(
                "; the first {} of {} in-scope names were taken into the scan",
                grouped(MAX_AXFR_NAMES),
                grouped(total)
            )
        } else {
            String::new()
        };
        rep.observations.push(observe(
            CheckId::DnsAxfrOpen,
            eng,
            Asset { host: apex.to_owned(), ip: None, port: None },
            "AXFR",
            format!(
                "zone transfer of {apex} allowed: {}; names include {}{taken}",
                servers.join(", "),
                sample.join(", ")
            ),
            &audit,
        ));
        rep.names.extend(zone_names.into_iter().take(MAX_AXFR_NAMES));
    }
    if attempted_all {
        rep.covered.push(CheckId::DnsAxfrOpen);
    }
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(10_000), "10,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
