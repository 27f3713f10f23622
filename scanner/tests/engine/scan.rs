use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use haetae_findings::audit::{self, Verdict};
use haetae_findings::{CheckId, Timestamp};
use haetae_lab::{Lab, PLANTED};
use haetae_scanner::engine::{Profile, ScanRequest, Stop};

use crate::support::{lab_scope, now, scan, seeds_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_every_planted_weakness_and_nothing_on_the_hardened_zone() {
    let lab = Lab::start().await.unwrap();
    let scope = lab_scope(&lab, |s| s);
    let req = seeds_request(&scope);
    let run = scan(scope, vec![lab.dns_addr()], now(), req).await;
    assert!(run.outcome.complete, "{:?}", run.outcome);
    for p in PLANTED {
        assert!(
            run.found.iter().any(|o| o.check.as_str() == p.check && o.asset.host == p.host),
            "planted {} on {} not found; found: {:#?}",
            p.check,
            p.host,
            run.found.iter().map(|o| (o.check.as_str(), o.asset.host.as_str())).collect::<Vec<_>>()
        );
    }
    let extra: Vec<_> = run
        .found
        .iter()
        .filter(|o| !PLANTED.iter().any(|p| p.check == o.check.as_str() && p.host == o.asset.host))
        .map(|o| (o.check.as_str(), o.asset.host.clone(), o.evidence.clone()))
        .collect();
    assert!(extra.is_empty(), "findings that were not planted (false positives): {extra:#?}");
    // The hardened zone was covered by every DNS check, so its silence is meaningful.
    for c in [
        CheckId::DnsSpfMissing,
        CheckId::DnsSpfPermissive,
        CheckId::DnsDmarcWeak,
        CheckId::DnsCaaMissing,
        CheckId::DnsAxfrOpen,
    ] {
        assert!(
            run.covered.iter().any(|x| x.check == c && x.host == "hardened.test"),
            "{c} not covered on hardened.test"
        );
    }
    // The hardened TLS endpoint was examined by every TLS check, and passed.
    for c in [CheckId::TlsCertUntrusted, CheckId::TlsWeakCipher, CheckId::TlsLegacyProtocol, CheckId::TlsWeakDh] {
        assert!(
            run.covered.iter().any(|x| x.check == c && x.host == "tls.hardened.test"),
            "{c} not covered on tls.hardened.test"
        );
    }
    // The hardened web sites were examined by the content checks, and the
    // hardened host's decommissioned legacy origin was compared, and all passed.
    let web_checks =
        ["http.hsts-missing", "http.cookie-insecure", "http.cors-reflect-credentials", "http.open-redirect"];
    for c in web_checks.iter().chain(&["svc.docker-api", "svc.kubernetes-api", "http.secret-in-response"]) {
        assert!(
            run.covered.iter().any(|x| x.check.as_str() == *c && x.host == "tls.hardened.test"),
            "{c} not covered on tls.hardened.test"
        );
    }
    for c in ["http.cors-reflect-credentials", "http.open-redirect", "migration.legacy-origin-live"] {
        assert!(
            run.covered.iter().any(|x| x.check.as_str() == c && x.host == "app.hardened.test"),
            "{c} not covered on app.hardened.test"
        );
    }
    // The hardened sites refused TRACE, and the hardened apex's security.txt was read and is valid.
    for host in ["app.hardened.test", "tls.hardened.test", "hardened.test"] {
        assert!(run.covered.iter().any(|x| x.check == CheckId::HttpTraceEnabled && x.host == host), "{host}");
    }
    assert!(run.covered.iter().any(|x| x.check == CheckId::HttpSecurityTxtMissing && x.host == "hardened.test"));
    // The bucket that exists was asked for, and is not a takeover; findings on
    // a host in an object store carry its cloud.
    assert!(run.covered.iter().any(|x| x.check == CheckId::DnsTakeover && x.host == "static.hardened.test"));
    let takeover = run.found.iter().find(|o| o.check == CheckId::DnsTakeover && o.asset.host == "files.agency.test");
    let takeover = takeover.unwrap();
    assert!(takeover.evidence.contains("NoSuchBucket"), "{}", takeover.evidence);
    assert!(takeover.tags.contains(&"cloud:naver-cloud".to_owned()), "{:?}", takeover.tags);
    // The Redis that asks for a password was identified as nothing to report.
    assert!(
        run.covered.iter().any(|x| x.check == CheckId::SvcRedisNoauth && x.host == "db.hardened.test"),
        "svc.redis-noauth not covered on db.hardened.test"
    );
    // An in-scope CNAME target nobody would guess is scanned as a host of its own.
    assert!(
        run.covered.iter().any(|c| c.check == CheckId::DnsDanglingCname && c.host == "sso-backend-7.hardened.test")
    );
    // Every finding names the audit records behind it.
    assert!(run.found.iter().all(|o| !o.audit.is_empty()));
    // Software: the portal's Apache 2.4.49 is in CVE-2021-41773's range, read
    // from its Server header; versions were read (covered) on the weak hosts,
    // none on the hardened ones (not covered, and silent).
    let kev = run.found.iter().find(|o| o.check == CheckId::SoftwareKnownExploited).unwrap();
    assert!(kev.evidence.contains("CVE-2021-41773") && kev.evidence.contains("Server header"), "{}", kev.evidence);
    assert!(run.covered.iter().any(|c| c.check == CheckId::SoftwareEol && c.host == "redis.agency.test"));
    assert!(
        !run.covered.iter().any(|c| c.check.as_str().starts_with("software.") && c.host.ends_with("hardened.test"))
    );
    // Scope held.
    assert_eq!(lab.out_of_scope_connections(), 0);
    assert_eq!(lab.excluded_connections(), 0);
    let report = audit::verify(&run.audit_path).unwrap();
    assert!(report.problem.is_none(), "{:?}", report.problem);
    let records = audit::read_all(&run.audit_path).unwrap();
    for ip in ["127.99.0.1", "127.99.0.2"] {
        assert!(
            records
                .iter()
                .any(|r| r.entry.verdict == Verdict::Refused && r.entry.address.is_some_and(|a| a.to_string() == ip)),
            "the audit log shows the refusal of {ip}"
        );
        assert!(
            !records
                .iter()
                .any(|r| r.entry.verdict == Verdict::Allowed && r.entry.address.is_some_and(|a| a.to_string() == ip))
        );
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_nothing_is_sent() {
    let lab = Lab::start().await.unwrap();
    let scope = lab_scope(&lab, |s| s);
    let req = seeds_request(&scope);
    let late = scope.engagement.not_after.plus_days(1);
    let run = scan(scope, vec![lab.dns_addr()], Arc::new(move || late), req).await;
    assert!(!run.outcome.complete);
    assert!(matches!(run.outcome.stop, Some(Stop::Window(_))), "{:?}", run.outcome.stop);
    assert!(run.found.is_empty());
    assert_eq!(lab.dns_queries(), 0, "not even a DNS query");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_stops_when_the_window_closes() {
    let lab = Lab::start().await.unwrap();
    let scope = lab_scope(&lab, |s| s);
    let req = seeds_request(&scope);
    let closes = scope.engagement.not_after;
    // The clock passes not_after after 30 readings.
    let calls = Arc::new(AtomicU64::new(0));
    let clock = {
        let calls = calls.clone();
        Arc::new(move || if calls.fetch_add(1, Ordering::SeqCst) < 30 { Timestamp::now() } else { closes.plus_days(1) })
    };
    let run = scan(scope, vec![lab.dns_addr()], clock, req).await;
    assert!(!run.outcome.complete);
    assert!(matches!(run.outcome.stop, Some(Stop::Window(_))), "{:?}", run.outcome.stop);
    let records = haetae_findings::audit::read_all(&run.audit_path).unwrap();
    assert!(records.iter().any(|r| r.entry.verdict == Verdict::Refused && r.entry.reason.contains("window")));
    // Every allowed attempt read the clock (and saw the window open) before it
    // was sent, so no more than 30 can have been sent.
    let allowed = records.iter().filter(|r| r.entry.verdict == Verdict::Allowed).count();
    assert!(allowed <= 30, "{allowed} attempts were allowed with only 30 open-window clock readings");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_server_that_never_answers_does_not_hang_the_scan() {
    let lab = Lab::start().await.unwrap();
    let scope = lab_scope(&lab, |s| s.replace("timeout_ms = 2000", "timeout_ms = 150"));
    let req = seeds_request(&scope);
    let started = std::time::Instant::now();
    let run = scan(scope, vec![lab.silent_dns_addr()], now(), req).await;
    // Every name failed: each is a failed unit that covers nothing; DNS
    // being silent does not stop the scan.
    assert_eq!(run.outcome.stop, None);
    assert!(run.failed.iter().any(|u| u.checks == "dns.names"), "{:?}", run.failed);
    assert!(!run.covered.iter().any(|c| c.check.as_str().starts_with("dns.")), "{:?}", run.covered);
    assert!(run.found.is_empty());
    println!("silent resolver: gave up after {:?}", started.elapsed());
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_skips_covered_units_and_passive_sends_no_tcp() {
    let lab = Lab::start().await.unwrap();
    let scope = lab_scope(&lab, |s| s);
    let first = scan(scope.clone(), vec![lab.dns_addr()], now(), seeds_request(&scope)).await;
    assert!(first.outcome.complete);
    let skip = first.covered.iter().map(|c| (c.check.clone(), c.host.clone(), c.port)).collect();
    let req = ScanRequest {
        targets: scope.seeds.clone(),
        profile: Profile::Standard,
        skip,
        tls: crate::support::lab_tls(),
        templates: None,
        software: None,
        earlier_addresses: Default::default(),
        checks: Default::default(),
    };
    let resumed = scan(scope.clone(), vec![lab.dns_addr()], now(), req.clone()).await;
    assert!(resumed.found.is_empty(), "everything was covered: {:?}", resumed.found);

    // Interrupted after the port scan but before the legacy-origin and
    // takeover checks: the ports are done, yet those checks still need to
    // know where the web servers are, and find what they must.
    let mut late = req;
    late.skip.retain(|(c, _, _)| *c != CheckId::MigrationLegacyOriginLive && *c != CheckId::DnsTakeover);
    let again = scan(scope.clone(), vec![lab.dns_addr()], now(), late).await;
    let mut checks: Vec<(&str, &str)> = again.found.iter().map(|o| (o.check.as_str(), o.asset.host.as_str())).collect();
    checks.sort_unstable();
    assert_eq!(
        checks,
        [
            ("dns.takeover", "files.agency.test"),
            ("dns.takeover", "oldapp.agency.test"),
            ("migration.legacy-origin-live", "portal.agency.test"),
        ]
    );

    let passive = ScanRequest {
        targets: scope.seeds.clone(),
        profile: Profile::Passive,
        tls: crate::support::lab_tls(),
        ..Default::default()
    };
    let p = scan(scope, vec![lab.dns_addr()], now(), passive).await;
    assert_eq!(p.guard.stats.connects.load(Ordering::Relaxed), 0);
    assert!(p.found.iter().any(|o| o.check == CheckId::DnsSpfPermissive));
    assert!(!p.found.iter().any(|o| o.check == CheckId::DnsAxfrOpen || o.check == CheckId::SvcSshExposed));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_a_host_used_to_resolve_to_is_checked_like_a_migration_legacy_address() {
    let lab = Lab::start().await.unwrap();
    // No [[migration]] at all: the only knowledge is what an earlier scan saw.
    let scope = lab_scope(&lab, |s| s.split("[[migration]]").next().unwrap().to_owned());
    assert!(scope.migrations.is_empty());
    let mut req = seeds_request(&scope);
    req.targets = vec!["portal.agency.test".into(), "app.hardened.test".into()];
    req.earlier_addresses.insert("portal.agency.test".into(), vec!["127.77.1.21".parse().unwrap()]);
    req.earlier_addresses.insert("app.hardened.test".into(), vec!["127.77.2.21".parse().unwrap()]);
    let run = scan(scope, vec![lab.dns_addr()], now(), req).await;
    let legacy: Vec<_> = run.found.iter().filter(|o| o.check == CheckId::MigrationLegacyOriginLive).collect::<Vec<_>>();
    assert_eq!(legacy.len(), 1, "{legacy:#?}");
    assert_eq!(legacy[0].asset.host, "portal.agency.test");
    assert_eq!(legacy[0].asset.ip, Some("127.77.1.21".parse().unwrap()));
    assert!(legacy[0].evidence.contains("same title \"Agency portal\""), "{}", legacy[0].evidence);
    assert!(legacy[0].audit.len() >= 2, "both origins' connections are named");
    assert!(
        run.covered.iter().any(|c| c.check == CheckId::MigrationLegacyOriginLive && c.host == "app.hardened.test"),
        "the decommissioned origin was compared and passed"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greeting_that_comes_late_is_still_heard() {
    use tokio::io::AsyncWriteExt;
    // An SSH server that takes its time: the banner comes after the engine has
    // started probing the port as a silent one.
    let l = tokio::net::TcpListener::bind(("127.77.9.40", 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(700)).await;
                let _ = s.write_all(b"SSH-2.0-OpenSSH_8.9p1 slow\r\n").await;
                let _ = s.shutdown().await;
            });
        }
    });
    let scope = crate::support::net_scope("KR-SLOW", "127.77.9.0/24", port);
    let req = ScanRequest { targets: vec!["127.77.9.40".into()], ..Default::default() };
    let run = scan(scope, vec!["127.0.0.1:9".parse().unwrap()], now(), req).await;
    assert!(run.outcome.complete, "{:?}", run.outcome);
    let ssh: Vec<_> = run.found.iter().filter(|o| o.check == CheckId::SvcSshExposed).collect();
    assert_eq!(ssh.len(), 1, "{:#?}", run.found);
    assert!(ssh[0].evidence.contains("OpenSSH_8.9p1 slow"), "{}", ssh[0].evidence);
    assert_eq!(run.found.len(), 1, "nothing else: {:#?}", run.found);
}
