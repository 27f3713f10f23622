//! The guard's DNS client against programmable name servers on loopback:
//! breakers per server, every server tried, wrong replies ignored, TCP
//! fallback within one deadline, every exchange audited.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use haetae_findings::Timestamp;
use haetae_findings::audit::{AuditLog, Protocol, read_all};
use haetae_scanner::dns::RecordType;
use haetae_scanner::dns::breaker::{Policy, State};
use haetae_scanner::guard::{ChainEnd, GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};

use crate::fakedns::{Ask, FakeDns, Reply, zone};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

pub(crate) fn scope_text(id: &str, port: u16, timeout_ms: u64) -> String {
    format!(
        r#"
[engagement]
id = "{id}"
contact = "team@agency.test"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = ["127.0.0.1/32"]
ports = [{port}]
[limits]
max_rps = 1000
per_host_rps = 1000
timeout_ms = {timeout_ms}
"#
    )
}

pub(crate) fn scope(id: &str, port: u16, timeout_ms: u64) -> Scope {
    Scope::parse(Path::new("scope.toml"), &scope_text(id, port, timeout_ms)).unwrap()
}

fn guard(timeout_ms: u64, ns: Vec<SocketAddr>) -> (ScopeGuard, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).unwrap());
    let config = GuardConfig {
        scope: Arc::new(scope("KR-DNS", 443, timeout_ms)),
        nameservers: ns,
        audit,
        clock: Arc::new(Timestamp::now),
    };
    (ScopeGuard::new(config).unwrap(), dir)
}

fn audit(g: &ScopeGuard, dir: &tempfile::TempDir) -> Vec<haetae_findings::audit::AuditEntry> {
    g.sync_audit().unwrap();
    read_all(&dir.path().join("audit.jsonl")).unwrap().into_iter().map(|r| r.entry).collect()
}

const WWW: &[(&str, Ipv4Addr)] = &[("www.agency.test", LOCAL)];

#[tokio::test]
async fn a_silent_server_is_skipped_after_k_failures_and_tried_again_after_the_cool_down() {
    let answering = Arc::new(AtomicBool::new(false));
    let on = answering.clone();
    let fake = FakeDns::start(Arc::new(move |ask: &Ask| {
        if on.load(Ordering::SeqCst) { Reply::Send(vec![zone(ask, WWW)]) } else { Reply::Drop }
    }))
    .await;
    let (g, _dir) = guard(100, vec![fake.addr]);
    let g = g.with_dns_breaker(Policy { failures: 3, cool_down: Duration::from_secs(30) });
    for i in 0..3 {
        let q = g.query(&format!("n{i}.agency.test"), RecordType::A).await;
        assert!(q.response.is_err());
    }
    assert!(matches!(g.nameserver_health()[0].1, State::Open { .. }), "{:?}", g.nameserver_health());
    let sent = fake.asked().len();
    assert!(sent >= 3);

    // Open: the next query fails at once (nothing is sent, so there is no
    // reply to wait for).
    let q = g.query("www.agency.test", RecordType::A).await;
    let err = q.response.unwrap_err().to_string();
    assert!(err.contains("was not asked") && err.contains("skipped"), "{err}");
    assert_eq!(fake.asked().len(), sent, "an open breaker sends nothing");

    // After the cool-down (paused time, advanced), one trial goes out; it
    // succeeds and closes the breaker.
    answering.store(true, Ordering::SeqCst);
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(29)).await;
    tokio::time::resume();
    assert!(g.query("www.agency.test", RecordType::A).await.response.is_err(), "still cooling down");
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(1)).await;
    tokio::time::resume();
    let r = g.query("www.agency.test", RecordType::A).await.response.unwrap();
    assert_eq!(r.answers.len(), 1);
    assert_eq!(g.nameserver_health()[0].1, State::Closed { failures: 0 });
    assert_eq!(fake.asked().len(), sent + 1, "exactly one trial query");
}

#[tokio::test]
async fn every_name_server_is_tried_before_a_query_fails() {
    let silent = FakeDns::start(Arc::new(|_: &Ask| Reply::Drop)).await;
    let good = FakeDns::start(Arc::new(|ask: &Ask| Reply::Send(vec![zone(ask, WWW)]))).await;
    let (g, dir) = guard(200, vec![silent.addr, good.addr]);
    let res = g.resolve("www.agency.test").await;
    assert_eq!(res.end, ChainEnd::Addresses, "{}", res.summary());
    assert_eq!(res.allowed, vec![IpAddr::V4(LOCAL)]);
    let records = audit(&g, &dir);
    let to = |s: SocketAddr| {
        records.iter().filter(move |e| e.address == Some(s.ip()) && e.port == Some(s.port())).collect::<Vec<_>>()
    };
    assert!(to(silent.addr).iter().any(|e| e.outcome == "timeout"), "the silent server was asked and audited");
    assert!(to(good.addr).iter().any(|e| e.outcome.starts_with("NOERROR 1 answer")), "{records:?}");
    assert_eq!(g.nameserver_health()[0].1, State::Closed { failures: 2 }, "A and AAAA timed out on the first");

    // Both silent: the name's resolution fails, with every server named.
    let silent2 = FakeDns::start(Arc::new(|_: &Ask| Reply::Drop)).await;
    let (g, _dir) = guard(100, vec![silent.addr, silent2.addr]);
    let res = g.resolve("www.agency.test").await;
    let ChainEnd::Failed(why) = &res.end else { panic!("{:?}", res.end) };
    assert!(why.contains(&silent.addr.to_string()) && why.contains(&silent2.addr.to_string()), "{why}");
}

fn a_reply(ask: &Ask, id: u16, owner: &str, ip: Ipv4Addr) -> Message {
    let mut m =
        ask.answer(vec![Record::from_rdata(Name::from_ascii(format!("{owner}.")).unwrap(), 60, RData::A(A(ip)))]);
    m.metadata.id = id;
    m
}

#[tokio::test]
async fn replies_with_another_id_or_question_are_ignored() {
    let fake = FakeDns::start(Arc::new(|ask: &Ask| {
        let id = ask.msg.metadata.id;
        if ask.qtype() != hickory_proto::rr::RecordType::A {
            return Reply::Send(vec![ask.reply()]);
        }
        let mut other_question = a_reply(ask, id, "evil.agency.test", Ipv4Addr::new(127, 0, 0, 77));
        other_question.queries[0].set_name(Name::from_ascii("evil.agency.test.").unwrap());
        let wrong_id = a_reply(ask, id.wrapping_add(1), "www.agency.test", Ipv4Addr::new(127, 0, 0, 66));
        let mut msgs = vec![wrong_id, other_question];
        if ask.name() == "www.agency.test" {
            msgs.push(a_reply(ask, id, "www.agency.test", LOCAL));
        }
        Reply::Send(msgs)
    }))
    .await;
    let (g, _dir) = guard(300, vec![fake.addr]);
    let res = g.resolve("www.agency.test").await;
    assert_eq!(res.allowed, vec![IpAddr::V4(LOCAL)], "{}", res.summary());
    assert!(res.refused.is_empty());
    // Only wrong replies: none is taken; the query times out.
    let q = g.query("mail.agency.test", RecordType::A).await;
    let err = q.response.unwrap_err().to_string();
    assert!(err.contains("timeout"), "{err}");
}

#[tokio::test]
async fn queries_carry_edns0_and_random_ids() {
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ids.clone();
    let fake = FakeDns::start(Arc::new(move |ask: &Ask| {
        let edns = ask.msg.edns.as_ref().map(|e| e.max_payload());
        seen.lock().unwrap().push((ask.msg.metadata.id, edns));
        Reply::Send(vec![zone(ask, WWW)])
    }))
    .await;
    let (g, _dir) = guard(500, vec![fake.addr]);
    for i in 0..40 {
        let _ = g.query(&format!("n{i}.agency.test"), RecordType::A).await;
    }
    let ids = ids.lock().unwrap().clone();
    assert!(ids.iter().all(|(_, e)| *e == Some(1232)), "{ids:?}");
    let steps: std::collections::HashSet<u16> = ids.windows(2).map(|w| w[1].0.wrapping_sub(w[0].0)).collect();
    assert!(steps.len() > 30, "ids are not a counter: {ids:?}");
}

#[tokio::test]
async fn a_truncated_reply_is_retried_over_tcp_and_both_exchanges_are_audited() {
    let fake = FakeDns::start(Arc::new(|ask: &Ask| {
        let full = zone(ask, WWW);
        if ask.tcp {
            return Reply::Send(vec![full]);
        }
        let mut tc = ask.reply();
        tc.metadata.truncation = true;
        Reply::Send(vec![tc])
    }))
    .await;
    let (g, dir) = guard(1000, vec![fake.addr]);
    let r = g.query("www.agency.test", RecordType::A).await;
    let r = r.response.unwrap();
    assert_eq!(r.answers.len(), 1);
    assert!(!r.truncated);
    let records = audit(&g, &dir);
    assert!(records.iter().any(|e| e.protocol == Protocol::Dns && e.outcome.contains("truncated (TC)")), "{records:?}");
    assert!(
        records.iter().any(|e| e.protocol == Protocol::DnsTcp && e.outcome == "NOERROR 1 answer(s)"),
        "{records:?}"
    );
}

#[tokio::test]
async fn udp_and_the_tcp_retry_share_one_deadline() {
    // The truncated UDP reply comes after 800 ms of a 1000 ms deadline; TCP
    // never answers. The query must end at the deadline, not 1000 ms later.
    let fake = FakeDns::start(Arc::new(|ask: &Ask| {
        if ask.tcp {
            return Reply::Drop;
        }
        let mut tc = ask.reply();
        tc.metadata.truncation = true;
        Reply::After(Duration::from_millis(800), vec![tc])
    }))
    .await;
    let (g, dir) = guard(1000, vec![fake.addr]);
    let started = Instant::now();
    let q = g.query("www.agency.test", RecordType::A).await;
    let took = started.elapsed();
    let err = q.response.unwrap_err().to_string();
    assert!(err.contains("over TCP after a truncated reply: timeout"), "{err}");
    assert!(took >= Duration::from_millis(800) && took < Duration::from_millis(1500), "took {took:?}");
    let records = audit(&g, &dir);
    assert!(records.iter().any(|e| e.protocol == Protocol::DnsTcp && e.outcome == "timeout"), "{records:?}");
    assert!(fake.asked().iter().any(|(_, _, tcp)| *tcp), "the TCP retry was sent");
}

#[tokio::test]
async fn a_failed_resolution_is_asked_again_and_a_good_one_is_kept() {
    let answering = Arc::new(AtomicBool::new(false));
    let on = answering.clone();
    let fake = FakeDns::start(Arc::new(move |ask: &Ask| {
        if on.load(Ordering::SeqCst) { Reply::Send(vec![zone(ask, WWW)]) } else { Reply::Drop }
    }))
    .await;
    let (g, _dir) = guard(100, vec![fake.addr]);
    let first = g.resolve("www.agency.test").await;
    assert!(matches!(first.end, ChainEnd::Failed(_)), "{:?}", first.end);
    assert!(g.resolved("www.agency.test").is_none(), "a failure is not kept");
    answering.store(true, Ordering::SeqCst);
    let second = g.resolve("www.agency.test").await;
    assert_eq!(second.allowed, vec![IpAddr::V4(LOCAL)], "{}", second.summary());
    let asked = fake.asked().len();
    let third = g.resolve("www.agency.test").await;
    assert!(Arc::ptr_eq(&second, &third), "an answer is kept for the scan");
    assert_eq!(fake.asked().len(), asked, "and not asked again");
}

#[tokio::test]
async fn a_query_dropped_mid_exchange_is_still_audited() {
    let fake = FakeDns::start(Arc::new(|_: &Ask| Reply::Drop)).await;
    let (g, dir) = guard(5000, vec![fake.addr]);
    let mut query = Box::pin(g.query("www.agency.test", RecordType::A));
    // Poll the query until the server has seen it, then drop it (a cancelled scan).
    while fake.asked().is_empty() {
        tokio::select! {
            _ = &mut query => panic!("the silent server cannot have answered"),
            () = tokio::task::yield_now() => {}
        }
    }
    drop(query);
    let records = audit(&g, &dir);
    let sent: Vec<_> = records.iter().filter(|e| e.address == Some(fake.addr.ip())).collect();
    assert_eq!(sent.len(), 1, "{records:?}");
    assert!(sent[0].outcome.contains("abandoned"), "{:?}", sent[0]);
}
