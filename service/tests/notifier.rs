//! Notifications end to end on loopback: queued after a run, delivered by
//! the delivery loop or `deliver_due`, signed, retried with backoff, kept
//! across a restart, audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::audit::{read_all, verify};
use haetae_findings::{
    Asset, Baseline, ChangeEvent, ChangeKind, CheckId, Finding, Observation, OutboxCounts, Prioritizer, Priority,
    Store, Timestamp,
};
use haetae_notify::{NotifyConfig, Sender, Trigger, Webhook};
use haetae_service::notifier::{deliver_due, enqueue_after_run, run_deliveries_with};
use hmac::Mac as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"correct horse battery staple";

/// Scores every finding P1; with `overdue`, every finding was due a day ago.
struct Fixed {
    overdue: bool,
}

impl Prioritizer for Fixed {
    fn prioritize(&self, f: &mut Finding, now: Timestamp) {
        f.priority = Priority::P1;
        if self.overdue {
            f.due = Some(Timestamp::from_unix(now.unix() - 86_400));
        }
    }
}

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir, Arc::new(Fixed { overdue: false })).unwrap()
}

/// A request as the listener got it.
struct Got {
    head: String,
    body: Vec<u8>,
    at: Instant,
}

/// An HTTP listener on loopback answering its connections with `statuses`
/// in turn (the last one repeated); each request goes to the channel.
async fn listener(statuses: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Got>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            let (head, body) = loop {
                let k = s.read(&mut buf).await.unwrap();
                assert!(k > 0);
                got.extend_from_slice(&buf[..k]);
                let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let head = String::from_utf8(got[..i].to_vec()).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                    .unwrap()
                    .parse()
                    .unwrap();
                if got.len() >= i + 4 + len {
                    break (head, got[i + 4..i + 4 + len].to_vec());
                }
            };
            let status = statuses.get(n).or(statuses.last()).copied().unwrap();
            n += 1;
            let _ = tx.send(Got { head, body, at: Instant::now() });
            let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            s.write_all(resp.as_bytes()).await.unwrap();
        }
    });
    (url, rx)
}

fn config(url: &str) -> NotifyConfig {
    NotifyConfig {
        on: vec![Trigger::New(1), Trigger::Regression, Trigger::Change("port"), Trigger::ScanFailed],
        webhook: Some(Webhook { url: url.to_owned(), secret: SECRET.to_vec() }),
        ..NotifyConfig::default()
    }
}

fn sender(cfg: NotifyConfig) -> Sender {
    Sender::new(cfg).unwrap()
}

/// Verify `X-Haetae-Signature` with the secret, independently of haetae's code.
fn assert_signed(g: &Got) {
    let header = g.head.lines().find_map(|l| l.strip_prefix("x-haetae-signature: ")).expect("signature header");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(&g.body);
    let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(header, format!("sha256={want}"));
}

/// A run's outcome: one new P1, one regression, one new P3, one port opened.
fn outcome(store: &Store) -> haetae_service::ScanOutcome {
    let run = store.begin_scan(vec!["agency.test".into()]).unwrap();
    let run = store.finish_scan(run.id, true).unwrap();
    let mut new = Finding::example();
    new.priority = Priority::P1;
    let mut regression = Finding::example();
    regression.id = "regressed".into();
    regression.check = CheckId::SvcRedisNoauth;
    regression.baseline = Baseline::Reopened;
    let mut p3 = Finding::example();
    p3.priority = Priority::P3;
    p3.check = CheckId::DnsCaaMissing;
    let change = ChangeEvent {
        at: Timestamp::now(),
        kind: ChangeKind::PortOpened,
        host: "www.agency.test".into(),
        port: Some(8080),
        addr: None,
        before: String::new(),
        after: "open".into(),
        scan: Some(run.id),
    };
    haetae_service::ScanOutcome {
        run,
        outcome: haetae_scanner::engine::Outcome { complete: true, stop: None, progress: Default::default() },
        seen: vec![new, regression, p3],
        open_ports: vec![],
        changes: vec![change],
        failed: vec![],
    }
}

#[tokio::test]
async fn a_run_becomes_one_signed_digest_delivered_and_audited() {
    let d = tempfile::tempdir().unwrap();
    let s = store(d.path());
    let (url, mut rx) = listener(vec![204]).await;
    let cfg = config(&url);
    let o = outcome(&s);
    assert_eq!(enqueue_after_run(&s, &cfg, Ok(&o)).unwrap(), 1, "one digest for the run");
    let start = Instant::now();
    let done = deliver_due(&s, &sender(cfg), Timestamp::now(), false, &CancellationToken::new()).await.unwrap();
    let got = rx.recv().await.unwrap();
    eprintln!("latency: queued digest -> in-process webhook got it: {:?}", got.at - start);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].1.result, Ok("HTTP 204".to_owned()));
    assert!(got.head.starts_with("POST /hook HTTP/1.1"), "{}", got.head);
    assert_signed(&got);
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        (body["new_findings"].as_u64(), body["regressions"].as_u64(), body["changes"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(body["run"], o.run.id.to_string());
    // The P3 finding is not asked for.
    assert!(!String::from_utf8_lossy(&got.body).contains("dns.caa-missing"));
    assert_eq!(s.outbox_counts().unwrap(), OutboxCounts { queued: 0, failed: 0, delivered: 1 });
    // Audited: one record, not scan traffic, and the chain verifies.
    let audit = d.path().join(haetae_service::AUDIT_FILE);
    let records = read_all(&audit).unwrap();
    let r = records.last().unwrap();
    assert!(r.entry.probe.starts_with("notify.webhook message"), "{r:?}");
    assert_eq!((r.entry.target.as_str(), r.entry.outcome.as_str()), ("127.0.0.1", "delivered: HTTP 204"));
    assert!(r.entry.reason.contains("not a scan"), "{r:?}");
    assert!(verify(&audit).unwrap().is_ok());
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_backoff_then_delivered() {
    let d = tempfile::tempdir().unwrap();
    let s = store(d.path());
    let (url, mut rx) = listener(vec![500, 200]).await;
    let cfg = config(&url);
    let send = sender(cfg.clone());
    enqueue_after_run(&s, &cfg, Err(&anyhow::anyhow!("engine stopped"))).unwrap();
    let t0 = Timestamp::now();
    let never = CancellationToken::new();
    let first = deliver_due(&s, &send, t0, false, &never).await.unwrap();
    assert_eq!(first[0].1.result, Err("HTTP 500".to_owned()));
    assert!(rx.recv().await.is_some());
    let item = &s.outbox().unwrap()[0];
    assert!(item.is_failed());
    assert_eq!((item.attempts, item.last_error.as_deref()), (1, Some("HTTP 500")));
    assert_eq!(item.next_attempt.unix(), t0.unix() + 30, "first retry after 30 s");
    assert_eq!(s.outbox_counts().unwrap(), OutboxCounts { queued: 0, failed: 1, delivered: 0 });
    // Ten seconds later (the injected clock): not due yet, nothing is sent.
    let early = deliver_due(&s, &send, Timestamp::from_unix(t0.unix() + 10), false, &never).await.unwrap();
    assert!(early.is_empty());
    // Thirty seconds later: retried and delivered.
    let retry = deliver_due(&s, &send, Timestamp::from_unix(t0.unix() + 30), false, &never).await.unwrap();
    assert_eq!(retry[0].1.result, Ok("HTTP 200".to_owned()));
    let got = rx.recv().await.unwrap();
    assert_signed(&got);
    assert!(String::from_utf8_lossy(&got.body).contains("engine stopped"));
    let item = &s.outbox().unwrap()[0];
    assert_eq!((item.attempts, item.delivered.map(|t| t.unix())), (2, Some(t0.unix() + 30)));
    let outcomes: Vec<String> =
        read_all(&d.path().join(haetae_service::AUDIT_FILE)).unwrap().into_iter().map(|r| r.entry.outcome).collect();
    assert_eq!(outcomes, ["failed: HTTP 500; stays queued", "delivered: HTTP 200"]);
}

#[tokio::test]
async fn what_a_process_left_undelivered_is_retried_after_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let (url, mut rx) = listener(vec![503, 204]).await;
    let cfg = config(&url);
    {
        let s = store(d.path());
        enqueue_after_run(&s, &cfg, Err(&anyhow::anyhow!("boom"))).unwrap();
        let r = deliver_due(&s, &sender(cfg.clone()), Timestamp::now(), false, &CancellationToken::new()).await;
        assert_eq!(r.unwrap()[0].1.result, Err("HTTP 503".to_owned()));
        assert!(rx.recv().await.is_some());
    }
    // A new process: the store reopened, the delivery loop started. The
    // message's backoff (30 s) has not passed; a start retries it anyway.
    let s = Arc::new(store(d.path()));
    let mut changes = haetae_service::notifier::outbox_changes();
    assert_eq!(s.outbox_counts().unwrap(), OutboxCounts { queued: 0, failed: 1, delivered: 0 });
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_deliveries_with(
        s.clone(),
        Arc::new(sender(cfg.clone())),
        shutdown.clone(),
        Arc::new(Timestamp::now),
    ));
    let got = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.unwrap().unwrap();
    assert_signed(&got);
    // The loop waits; a message queued now wakes it.
    let start = Instant::now();
    enqueue_after_run(&s, &cfg, Err(&anyhow::anyhow!("second"))).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.unwrap().unwrap();
    eprintln!("latency: queued -> delivered by the running delivery loop: {:?}", got.at - start);
    assert!(String::from_utf8_lossy(&got.body).contains("second"));
    // Wait for the loop to record that delivery, then stop it.
    while s.outbox_counts().unwrap().delivered < 2 {
        tokio::time::timeout(Duration::from_secs(20), changes.changed()).await.unwrap().unwrap();
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("the loop yields to shutdown").unwrap();
    assert_eq!(s.outbox_counts().unwrap(), OutboxCounts { queued: 0, failed: 0, delivered: 2 });
}

#[tokio::test]
async fn an_sla_breach_is_told_once_per_finding() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path(), Arc::new(Fixed { overdue: true })).unwrap();
    let obs = Observation::new(
        CheckId::HttpExposedEnv,
        Asset { host: "www.agency.test".into(), ip: None, port: Some(443) },
        "https://www.agency.test/.env",
        "KR-1",
    );
    s.upsert(&obs).unwrap();
    let cfg = NotifyConfig { on: vec![Trigger::SlaBreach], ..config("http://127.0.0.1:9/hook") };
    let failed = anyhow::anyhow!("x");
    assert_eq!(enqueue_after_run(&s, &cfg, Err(&failed)).unwrap(), 1);
    let payload = s.outbox().unwrap()[0].payload.clone();
    let body: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!((body["sla_breaches"].as_u64(), body["scan_failures"].as_u64()), (Some(1), Some(0)));
    assert_eq!(enqueue_after_run(&s, &cfg, Err(&failed)).unwrap(), 0, "told once");
}

#[tokio::test]
async fn without_digest_each_event_is_its_own_message_and_a_shutdown_stops_the_loop_at_once() {
    // On disk: the delivery loop opens the store's audit log beside it.
    let d = tempfile::tempdir().unwrap();
    let s = Arc::new(Store::open(d.path(), Arc::new(Fixed { overdue: false })).unwrap());
    let cfg = NotifyConfig { digest: false, ..config("http://127.0.0.1:9/hook") };
    let o = outcome(&s);
    assert_eq!(enqueue_after_run(&s, &cfg, Ok(&o)).unwrap(), 3, "new P1, regression, port opened");
    let none = NotifyConfig { webhook: None, ..cfg.clone() };
    assert_eq!(enqueue_after_run(&s, &none, Ok(&o)).unwrap(), 0, "no channel, nothing queued");
    // Cancelled before it starts: the loop returns without waiting.
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    tokio::time::timeout(
        Duration::from_secs(5),
        run_deliveries_with(s.clone(), Arc::new(sender(cfg)), shutdown, Arc::new(Timestamp::now)),
    )
    .await
    .unwrap();
}
