//! Mail domains below the apex (SPF, DMARC with the organizational domain's
//! fallback) and DNSSEC, through whole scans: the lab, and a programmable
//! name server for the answers the lab does not give (SERVFAIL, `sp=`).

use std::net::Ipv4Addr;
use std::sync::Arc;

use haetae_findings::CheckId;
use haetae_lab::Lab;
use haetae_scanner::engine::{Profile, ScanRequest};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{MX, TXT};
use hickory_proto::rr::{RData, Record, RecordType};

use crate::fakedns::{Ask, FakeDns, Reply, name, ns, soa};
use crate::support::{Run, lab_scope, lab_tls, now, scan, seeds_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_mail_subdomain_and_dnssec_plants_are_found_with_their_reasons() {
    let lab = Lab::start().await.unwrap();
    let scope = lab_scope(&lab, |s| s);
    let req = seeds_request(&scope);
    let run = scan(scope, vec![lab.dns_addr()], now(), req).await;
    assert!(run.outcome.complete, "{:?}", run.outcome);
    let evidence = |check: CheckId, host: &str| {
        let hits: Vec<&str> = run
            .found
            .iter()
            .filter(|o| o.check == check && o.asset.host == host)
            .map(|o| o.evidence.as_str())
            .collect();
        assert_eq!(hits.len(), 1, "{check} on {host}: {hits:?}");
        hits[0].to_owned()
    };
    let weak = evidence(CheckId::DnsDmarcWeak, "newsletter.agency.test");
    assert_eq!(
        weak,
        "no record at _dmarc.newsletter.agency.test; organizational domain agency.test: \
         v=DMARC1; p=none; rua=mailto:dmarc@agency.test → no sp= tag, so p=none applies; \
         spoofed mail from newsletter.agency.test is delivered"
    );
    assert_eq!(
        evidence(CheckId::DnsSpfMissing, "newsletter.agency.test"),
        "newsletter.agency.test publishes no v=spf1 TXT record"
    );
    let missing = evidence(CheckId::DnsDnssecMissing, "agency.test");
    assert_eq!(
        missing,
        "agency.test has no DNSKEY record: the zone is not signed (and the name servers report no DS record for it)"
    );
    let expired = evidence(CheckId::DnsDnssecExpired, "oldmail.test");
    assert!(expired.contains("RRSIG SOA (algorithm 13, key tag 4711, signer oldmail.test) expired"), "{expired}");
    assert!(expired.contains("(3 days ago)") && !expired.contains("RRSIG DNSKEY"), "{expired}");
    // The MX host with its own SPF and no DMARC record sits under hardened.test's
    // p=reject: judged, and silent. The signed hardened zone: judged, and silent.
    let covered = |check: CheckId, host: &str| run.covered.iter().any(|c| c.check == check && c.host == host);
    for c in [CheckId::DnsSpfMissing, CheckId::DnsSpfPermissive, CheckId::DnsDmarcMissing, CheckId::DnsDmarcWeak] {
        assert!(covered(c.clone(), "mail.hardened.test"), "{c} not covered on mail.hardened.test");
    }
    for c in [CheckId::DnsDnssecMissing, CheckId::DnsDnssecExpired] {
        assert!(covered(c.clone(), "hardened.test"), "{c} not covered on hardened.test");
        assert!(covered(c.clone(), "oldmail.test"), "{c} not covered on oldmail.test");
    }
    assert!(!run.found.iter().any(|o| o.asset.host.ends_with("hardened.test")));
    // A name that is not a mail domain is covered (nothing to judge), never reported.
    assert!(covered(CheckId::DnsDmarcMissing, "www.agency.test"));
    assert!(!run.found.iter().any(|o| o.asset.host == "www.agency.test" && o.check.as_str().starts_with("dns.")));
    // One finding per (check, name), however many ways the name was found.
    let mut seen = std::collections::HashSet::new();
    for o in &run.found {
        assert!(seen.insert((o.check.clone(), o.asset.host.clone(), o.location.clone())), "twice: {o:?}");
    }
    lab.shutdown().await;
}

/// How the programmable server answers `_dmarc.agency.test` TXT and `agency.test` DNSKEY.
#[derive(Clone, Copy)]
enum Org {
    /// This DMARC record; no DNSKEY.
    Record(&'static str),
    /// SERVFAIL for both.
    ServFail,
}

fn txt(owner: &str, text: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::TXT(TXT::new(vec![text.to_owned()])))
}

/// `agency.test` with a mail host `mail.agency.test` (MX for itself, SPF
/// `-all`, no DMARC record of its own) and the organizational record `org`.
async fn mail_zone(org: Org) -> FakeDns {
    FakeDns::start(Arc::new(move |ask: &Ask| {
        let (n, t) = (ask.name(), ask.qtype());
        let m = match (n.as_str(), t) {
            ("agency.test", RecordType::SOA) => ask.answer(vec![soa("agency.test")]),
            ("agency.test", RecordType::NS) => ask.answer(vec![ns("agency.test", "ns1.agency.test")]),
            ("agency.test", RecordType::TXT) => ask.answer(vec![txt("agency.test", "v=spf1 mx -all")]),
            ("agency.test", RecordType::AXFR) => ask.rcode(ResponseCode::Refused),
            ("agency.test" | "_dmarc.agency.test", RecordType::DNSKEY | RecordType::TXT) => match org {
                Org::ServFail => ask.rcode(ResponseCode::ServFail),
                Org::Record(r) if t == RecordType::TXT => ask.answer(vec![txt("_dmarc.agency.test", r)]),
                Org::Record(_) => ask.reply(),
            },
            ("agency.test" | "ns1.agency.test", _) => ask.reply(),
            ("mail.agency.test", RecordType::MX) => ask.answer(vec![Record::from_rdata(
                name("mail.agency.test"),
                60,
                RData::MX(MX::new(10, name("mail.agency.test"))),
            )]),
            ("mail.agency.test", RecordType::TXT) => ask.answer(vec![txt("mail.agency.test", "v=spf1 a -all")]),
            ("mail.agency.test", RecordType::A) => {
                ask.answer(vec![crate::fakedns::a("mail.agency.test", Ipv4Addr::LOCALHOST)])
            }
            ("mail.agency.test", _) => ask.reply(),
            _ => ask.rcode(ResponseCode::NXDomain),
        };
        Reply::Send(vec![m])
    }))
    .await
}

async fn scan_mail_zone(org: Org) -> Run {
    let fake = mail_zone(org).await;
    let scope = crate::dns::scope("KR-MAILSUB", 9, 500);
    let req = ScanRequest {
        targets: vec!["agency.test".into(), "mail.agency.test".into()],
        profile: Profile::Passive,
        tls: lab_tls(),
        ..seeds_request(&scope)
    };
    scan(scope, vec![fake.addr], now(), req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subdomain_gets_the_organizational_sp_and_the_evidence_says_why() {
    let run = scan_mail_zone(Org::Record("v=DMARC1; p=reject; sp=none")).await;
    let weak: Vec<&str> = run
        .found
        .iter()
        .filter(|o| o.check == CheckId::DnsDmarcWeak)
        .map(|o| (o.asset.host.as_str(), o.evidence.as_str()))
        .map(|(h, e)| {
            assert_eq!(h, "mail.agency.test", "the apex's own p=reject is enforcing");
            e
        })
        .collect();
    assert_eq!(
        weak,
        vec![
            "no record at _dmarc.mail.agency.test; organizational domain agency.test: v=DMARC1; p=reject; sp=none \
             → sp=none applies; spoofed mail from mail.agency.test is delivered"
        ]
    );
    assert!(run.covered.iter().any(|c| c.check == CheckId::DnsDmarcWeak && c.host == "mail.agency.test"));
    // The unsigned apex.
    assert!(run.found.iter().any(|o| o.check == CheckId::DnsDnssecMissing && o.asset.host == "agency.test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subdomain_under_p_reject_without_sp_is_silent() {
    let run = scan_mail_zone(Org::Record("v=DMARC1; p=reject")).await;
    let dmarc: Vec<_> = run.found.iter().filter(|o| o.check.as_str().starts_with("dns.dmarc")).collect();
    assert!(dmarc.is_empty(), "{dmarc:?}");
    for c in [CheckId::DnsDmarcMissing, CheckId::DnsDmarcWeak, CheckId::DnsSpfMissing, CheckId::DnsSpfPermissive] {
        assert!(run.covered.iter().any(|x| x.check == c && x.host == "mail.agency.test"), "{c}");
    }
    assert!(run.failed.is_empty(), "{:?}", run.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servfail_for_the_organizational_record_or_the_dnskey_covers_nothing() {
    let run = scan_mail_zone(Org::ServFail).await;
    let judged = |c: &CheckId| {
        matches!(
            c,
            CheckId::DnsDmarcMissing | CheckId::DnsDmarcWeak | CheckId::DnsDnssecMissing | CheckId::DnsDnssecExpired
        )
    };
    assert!(!run.found.iter().any(|o| judged(&o.check)), "{:?}", run.found);
    // (ns1.agency.test owns neither MX nor SPF: not a mail domain, covered as such.)
    let mail_names = |h: &str| h == "agency.test" || h == "mail.agency.test";
    assert!(!run.covered.iter().any(|c| judged(&c.check) && mail_names(&c.host)), "{:?}", run.covered);
    let failed: Vec<(&str, &str)> = run.failed.iter().map(|f| (f.checks.as_str(), f.host.as_str())).collect();
    for unit in [("dns.dmarc-*", "mail.agency.test"), ("dns.dmarc-*", "agency.test"), ("dns.dnssec-*", "agency.test")] {
        assert!(failed.contains(&unit), "{unit:?} not failed: {failed:?}");
    }
    // The SPF of the subdomain had its answer: covered.
    assert!(run.covered.iter().any(|c| c.check == CheckId::DnsSpfMissing && c.host == "mail.agency.test"));
}

/// Under a seeded share of faulty DNS exchanges (SERVFAIL, silence), the mail
/// and DNSSEC checks report nothing that is not planted: a failed query is a
/// failed unit, never a missing record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_faults_never_invent_a_mail_or_dnssec_finding() {
    use haetae_lab::{Faults, LabOptions, PLANTED};
    let ours = |c: &str| c.starts_with("dns.spf") || c.starts_with("dns.dmarc") || c.starts_with("dns.dnssec");
    let mut failed = 0;
    for seed in [7, 1013, 42] {
        let opts = LabOptions { faults: Some(Faults { seed, percent: 30 }), timeout_ms: 400 };
        let lab = Lab::start_with(opts).await.unwrap();
        let scope = lab_scope(&lab, |s| s);
        let req = seeds_request(&scope);
        let run = scan(scope, vec![lab.dns_addr()], now(), req).await;
        let extra: Vec<_> = run
            .found
            .iter()
            .filter(|o| ours(o.check.as_str()))
            .filter(|o| !PLANTED.iter().any(|p| p.check == o.check.as_str() && p.host == o.asset.host))
            .map(|o| (o.check.as_str(), o.asset.host.clone(), o.evidence.clone()))
            .collect();
        let all_extra: Vec<_> = run
            .found
            .iter()
            .filter(|o| !PLANTED.iter().any(|p| p.check == o.check.as_str() && p.host == o.asset.host))
            .map(|o| (o.check.as_str(), o.asset.host.clone(), o.evidence.clone()))
            .collect();
        println!("seed {seed}: extra findings of any check: {all_extra:?}");
        assert!(extra.is_empty(), "seed {seed}: {extra:#?}");
        failed += run.failed.iter().filter(|f| ours(&f.checks)).count();
        lab.shutdown().await;
    }
    assert!(failed > 0, "faults were injected but no mail or DNSSEC unit failed");
}
