//! Checks on a zone apex: SPF, DMARC, CAA, open zone transfer; and the names
//! a zone transfer reveals.

use std::collections::BTreeSet;
use std::net::IpAddr;

use haetae_findings::{Asset, CheckId, Observation};

use super::mail::{Dmarc, Spf, analyze_dmarc, analyze_spf};
use super::observe;
use crate::dns::{RData, Rcode, RecordType, Response};
use crate::guard::{GuardError, ScopeGuard};

/// Most records read from one zone transfer.
const MAX_AXFR_RECORDS: usize = 20_000;
/// Most messages read from one zone transfer.
const MAX_AXFR_MESSAGES: usize = 2_000;

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

pub(crate) async fn check_zone(
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
        Ok(r) => r.rcode == Rcode::NoError,
        Err(_) => return rep,
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
        let owner = format!("_dmarc.{apex}");
        let q = guard.query(&owner, RecordType::Txt).await;
        note_window(&mut rep, &q.response);
        if ok_or_nx(&q.response) {
            let records = q.response.as_ref().map(|r| txts(r, &owner)).unwrap_or_default();
            let loc = "_dmarc TXT";
            match analyze_dmarc(&records) {
                Dmarc::Missing => rep.observations.push(observe(
                    CheckId::DnsDmarcMissing,
                    &eng,
                    asset(),
                    loc,
                    format!("{owner} has no v=DMARC1 record"),
                    &q.audit,
                )),
                Dmarc::Multiple(n) => rep.observations.push(observe(
                    CheckId::DnsDmarcMissing,
                    &eng,
                    asset(),
                    loc,
                    format!("{owner} has {n} DMARC records; receivers ignore them all"),
                    &q.audit,
                )),
                Dmarc::Monitor(r) => rep.observations.push(observe(
                    CheckId::DnsDmarcWeak,
                    &eng,
                    asset(),
                    loc,
                    format!("\"{r}\": policy none, spoofed mail is delivered"),
                    &q.audit,
                )),
                Dmarc::Enforced(_) => {}
            }
            rep.covered.extend([CheckId::DnsDmarcMissing, CheckId::DnsDmarcWeak]);
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

async fn axfr(guard: &ScopeGuard, apex: &str, servers: &[String], eng: &str, rep: &mut ZoneReport) {
    let mut attempted_all = true;
    let mut open: Vec<(String, IpAddr, usize, Vec<u64>)> = Vec::new();
    let mut zone_names = BTreeSet::new();
    for ns in servers {
        let res = guard.resolve(ns).await;
        if res.allowed.is_empty() {
            // Out of scope or unresolvable: not ours to test.
            continue;
        }
        for &addr in &res.allowed {
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
            let mut audit = vec![conn.audit];
            let id = (conn.audit % 65_536) as u16;
            let Ok(query) = crate::dns::encode_axfr(id, apex) else { return };
            if guard.dns_over(&mut conn, &query).await.is_err() {
                attempted_all = false;
                continue;
            }
            let mut records = 0usize;
            let mut soa_seen = 0;
            let mut transferred = false;
            for _ in 0..MAX_AXFR_MESSAGES {
                let Ok(bytes) = guard.dns_read(&mut conn).await else { break };
                let Ok(r) = crate::dns::decode_response(&bytes) else { break };
                if r.rcode != Rcode::NoError || r.answers.is_empty() {
                    break;
                }
                for rec in &r.answers {
                    if matches!(rec.data, RData::Soa { .. }) {
                        soa_seen += 1;
                    }
                    if guard.scope().check_name(&rec.name).allowed {
                        zone_names.insert(rec.name.clone());
                    }
                }
                records += r.answers.len();
                transferred = soa_seen >= 1;
                if soa_seen >= 2 || records >= MAX_AXFR_RECORDS {
                    break;
                }
            }
            audit.shrink_to_fit();
            if transferred {
                open.push((ns.clone(), addr, records, audit));
            }
        }
    }
    if !open.is_empty() {
        let servers: Vec<String> = open.iter().map(|(n, a, c, _)| format!("{n} ({a}) sent {c} records")).collect();
        let audit: Vec<u64> = open.iter().flat_map(|(_, _, _, a)| a.clone()).collect();
        let sample: Vec<&String> = zone_names.iter().take(8).collect();
        rep.observations.push(observe(
            CheckId::DnsAxfrOpen,
            eng,
            Asset { host: apex.to_owned(), ip: None, port: None },
            "AXFR",
            format!(
                "zone transfer of {apex} allowed: {}; names include {}",
                servers.join(", "),
                sample.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            &audit,
        ));
        rep.names.extend(zone_names);
    }
    if attempted_all {
        rep.covered.push(CheckId::DnsAxfrOpen);
    }
}
