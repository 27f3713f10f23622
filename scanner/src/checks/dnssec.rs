//! DNSSEC on a zone apex: `dns.dnssec-missing` (no DNSKEY at the apex) and
//! `dns.dnssec-expired` (an RRSIG over the SOA or DNSKEY RRset past its
//! expiration, expiring within [`EXPIRY_WARNING_DAYS`], or not valid yet).
//!
//! haetae reads the signatures' dates and the keys' presence; it does not
//! verify signatures (no validation, no chain of trust). The DS record lives
//! in the parent zone, which may be outside the scope: it is asked of the
//! configured name servers under the apex's own name (an in-scope name) and
//! only reported in the evidence; the verdict is the DNSKEY's.

use haetae_findings::{Asset, CheckId, Observation, Timestamp};

use super::maildomain::{definite, window_closed};
use super::observe;
use crate::dns::{RData, RecordType, Response, Rrsig};
use crate::guard::ScopeGuard;

/// A signature expiring within this many days is reported.
pub(crate) const EXPIRY_WARNING_DAYS: i64 = 7;
/// A signature whose inception is more than this many seconds ahead of our
/// clock is reported as not valid yet (signers back-date inception by an
/// hour or more; this leaves room for clock skew).
pub(crate) const INCEPTION_SKEW_SECS: i64 = 3600;

/// Type numbers of the RRsets whose signatures are judged.
const SOA_TYPE: u16 = 6;
const DNSKEY_TYPE: u16 = 48;

/// Seconds from `now` (Unix seconds) to the 32-bit RRSIG time `t`, by serial
/// number arithmetic (RFC 4034 section 3.1.5, RFC 1982): `t` is the instant
/// within 2^31 seconds of `now` whose value modulo 2^32 is `t`, so the times
/// keep their meaning after 2106.
pub(crate) fn secs_from_now(t: u32, now: i64) -> i64 {
    let now32 = u32::try_from(now.rem_euclid(1 << 32)).unwrap_or(0);
    i64::from(i32::from_be_bytes(t.wrapping_sub(now32).to_be_bytes()))
}

fn type_name(t: u16) -> String {
    match t {
        SOA_TYPE => "SOA".to_owned(),
        DNSKEY_TYPE => "DNSKEY".to_owned(),
        other => format!("TYPE{other}"),
    }
}

fn span(secs: i64) -> String {
    let s = secs.abs();
    if s >= 2 * 86_400 {
        match s % 86_400 / 3600 {
            0 => format!("{} days", s / 86_400),
            h => format!("{} days {h} h", s / 86_400),
        }
    } else if s >= 3600 {
        format!("{} h", s / 3600)
    } else {
        format!("{} min", s / 60)
    }
}

/// What is wrong with one signature at `now`, if anything.
pub(crate) fn signature_problem(sig: &Rrsig, now: i64) -> Option<String> {
    let exp = secs_from_now(sig.expiration, now);
    let inc = secs_from_now(sig.inception, now);
    let at = |d: i64| Timestamp::from_unix(now.saturating_add(d));
    let signer = if sig.signer.is_empty() { String::new() } else { format!(", signer {}", sig.signer) };
    let what =
        format!("RRSIG {} (algorithm {}, key tag {}{signer})", type_name(sig.type_covered), sig.algorithm, sig.key_tag);
    let mut problems = Vec::new();
    if exp <= 0 {
        problems.push(format!("expired {} ({} ago)", at(exp), span(exp)));
    } else if exp <= EXPIRY_WARNING_DAYS * 86_400 {
        problems.push(format!("expires {} (in {})", at(exp), span(exp)));
    }
    if inc > INCEPTION_SKEW_SECS {
        problems.push(format!("is not valid until its inception {} (in {})", at(inc), span(inc)));
    }
    if problems.is_empty() { None } else { Some(format!("{what} {}", problems.join(" and "))) }
}

/// The RRSIGs `owner` has in `r` over the type `covered`.
fn signatures(r: &Response, owner: &str, covered: u16) -> Vec<Rrsig> {
    r.answers
        .iter()
        .filter(|rec| rec.name == owner)
        .filter_map(|rec| match &rec.data {
            RData::Rrsig(s) if s.type_covered == covered => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// The expiry finding's evidence for an apex, from its SOA and DNSKEY signatures.
pub(crate) fn expired_evidence(apex: &str, sigs: &[Rrsig], now: i64) -> Option<String> {
    let problems: Vec<String> = sigs.iter().filter_map(|s| signature_problem(s, now)).collect();
    if problems.is_empty() {
        return None;
    }
    Some(format!(
        "{apex}: {} (checked {}; dates only, signatures not verified)",
        problems.join("; "),
        Timestamp::from_unix(now)
    ))
}

/// The missing finding's evidence: `keys` the apex's DNSKEY count, `ds` what
/// the DS query said (`Some(n)`: n DS records; `None`: no definite answer).
pub(crate) fn missing_evidence(apex: &str, keys: usize, ds: Option<usize>) -> Option<String> {
    if keys > 0 {
        return None;
    }
    let ds = match ds {
        Some(0) => "and the name servers report no DS record for it".to_owned(),
        Some(n) => format!("yet {n} DS record(s) at the parent: validating resolvers will reject the zone"),
        None => "the DS query got no definite answer".to_owned(),
    };
    Some(format!("{apex} has no DNSKEY record: the zone is not signed ({ds})"))
}

/// What the DNSSEC checks found on one apex.
#[derive(Debug, Default)]
pub(crate) struct DnssecReport {
    pub(crate) observations: Vec<Observation>,
    /// Both checks ran to a definite answer.
    pub(crate) covered: bool,
    pub(crate) window_closed: Option<String>,
}

/// The DNSSEC checks of `apex`, given the (definite, DO-bit) answer to its
/// SOA query and that query's audit ids.
pub(crate) async fn check(
    guard: &ScopeGuard,
    apex: &str,
    soa: &Response,
    soa_audit: &[u64],
    eng: &str,
) -> DnssecReport {
    let mut rep = DnssecReport::default();
    let q = guard.query(apex, RecordType::Dnskey).await;
    rep.window_closed = window_closed(&q);
    let Some(r) = definite(&q) else { return rep };
    let keys = r.answers.iter().filter(|rec| rec.name == apex && matches!(rec.data, RData::Dnskey { .. })).count();
    let mut sigs = signatures(soa, apex, SOA_TYPE);
    sigs.extend(signatures(r, apex, DNSKEY_TYPE));
    let mut audit: Vec<u64> = soa_audit.to_vec();
    audit.extend(&q.audit);
    let asset = || Asset { host: apex.to_owned(), ip: None, port: None };
    let now = Timestamp::now().unix();
    if keys == 0 {
        let dq = guard.query(apex, RecordType::Ds).await;
        if rep.window_closed.is_none() {
            rep.window_closed = window_closed(&dq);
        }
        let ds = definite(&dq)
            .map(|r| r.answers.iter().filter(|rec| rec.name == apex && matches!(rec.data, RData::Ds { .. })).count());
        let mut a = audit.clone();
        a.extend(&dq.audit);
        if let Some(ev) = missing_evidence(apex, keys, ds) {
            rep.observations.push(observe(CheckId::DnsDnssecMissing, eng, asset(), "DNSKEY", ev, &a));
        }
    }
    if let Some(ev) = expired_evidence(apex, &sigs, now) {
        rep.observations.push(observe(CheckId::DnsDnssecExpired, eng, asset(), "RRSIG", ev, &audit));
    }
    rep.covered = true;
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000; // 2026-11-29
    const DAY: i64 = 86_400;

    fn t(unix: i64) -> u32 {
        u32::try_from(unix.rem_euclid(1 << 32)).unwrap()
    }

    fn sig(covered: u16, inception: i64, expiration: i64) -> Rrsig {
        Rrsig {
            type_covered: covered,
            algorithm: 13,
            labels: 2,
            original_ttl: 300,
            expiration: t(expiration),
            inception: t(inception),
            key_tag: 4711,
            signer: "oldmail.test".into(),
        }
    }

    #[test]
    fn serial_arithmetic_across_the_32_bit_wrap() {
        assert_eq!(secs_from_now(t(NOW + 100), NOW), 100);
        assert_eq!(secs_from_now(t(NOW - 100), NOW), -100);
        // In 2106 the 32-bit value wraps: a time just past the wrap is still ahead.
        let near_wrap = (1_i64 << 32) - 50;
        assert_eq!(secs_from_now(t(near_wrap + 3600), near_wrap), 3600);
        assert_eq!(secs_from_now(10, near_wrap), 60);
        assert_eq!(secs_from_now(t(near_wrap - 10), 20 + (1 << 32)), -80);
    }

    #[test]
    fn an_expired_or_expiring_signature_is_reported() {
        let expired = sig(SOA_TYPE, NOW - 30 * DAY, NOW - 3 * DAY);
        let ev = expired_evidence("oldmail.test", &[expired], NOW).unwrap();
        assert!(ev.contains("RRSIG SOA (algorithm 13, key tag 4711, signer oldmail.test) expired"), "{ev}");
        assert!(ev.contains("(3 days ago)"), "{ev}");
        assert!(ev.contains("signatures not verified"), "{ev}");
        let soon = sig(DNSKEY_TYPE, NOW - DAY, NOW + 5 * DAY);
        let ev = expired_evidence("a.test", &[soon], NOW).unwrap();
        assert!(ev.contains("RRSIG DNSKEY") && ev.contains("(in 5 days)"), "{ev}");
        let ev = expired_evidence("a.test", &[sig(SOA_TYPE, NOW - DAY, NOW + 3 * DAY - 60)], NOW).unwrap();
        assert!(ev.contains("(in 2 days 23 h)"), "{ev}");
        let future = sig(SOA_TYPE, NOW + 2 * DAY, NOW + 30 * DAY);
        let ev = expired_evidence("a.test", &[future], NOW).unwrap();
        assert!(ev.contains("not valid until its inception"), "{ev}");
    }

    #[test]
    fn a_current_signature_is_silent() {
        let good = [sig(SOA_TYPE, NOW - DAY, NOW + 14 * DAY), sig(DNSKEY_TYPE, NOW - 3600, NOW + 8 * DAY)];
        assert_eq!(expired_evidence("hardened.test", &good, NOW), None);
        // An inception a few minutes ahead is clock skew, not a finding.
        assert_eq!(expired_evidence("a.test", &[sig(SOA_TYPE, NOW + 600, NOW + 20 * DAY)], NOW), None);
        assert_eq!(expired_evidence("a.test", &[], NOW), None);
    }

    #[test]
    fn missing_keys_are_reported_with_what_the_parent_says() {
        assert_eq!(missing_evidence("hardened.test", 2, Some(1)), None);
        let ev = missing_evidence("agency.test", 0, Some(0)).unwrap();
        assert_eq!(
            ev,
            "agency.test has no DNSKEY record: the zone is not signed (and the name servers report no DS record for it)"
        );
        assert!(missing_evidence("a.test", 0, Some(1)).unwrap().contains("validating resolvers will reject"));
        assert!(missing_evidence("a.test", 0, None).unwrap().contains("no definite answer"));
    }
}
