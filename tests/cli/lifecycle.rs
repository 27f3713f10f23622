//! The daemon against a lab that changes while it runs (issue 16, item 11):
//! a weakness removed is fixed by the next scheduled run and comes back as
//! a regression; a swapped certificate is a `change` event on the stream
//! and in `haetae changes`; a server that falls silent closes nothing.
//! Every wait is on the daemon's log or its event stream, with a deadline.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use haetae_findings::store::ChangeKind;
use haetae_lab::Switch;
use haetae_service::client::{ApiClient, Streamed};
use haetae_service::events::Event;

use crate::daemon::{spawn_daemon, wait_for, wait_for_long};
use crate::scan::lab_workspace;
use crate::support::{code, haetae, stderr, stdout};

/// A whole scan of the lab in a debug build on a loaded machine.
const SCAN: Duration = Duration::from_secs(180);

/// Every event of the daemon's stream, with when it arrived, from a thread
/// of its own. Subscribed when this returns.
fn listen(store: &Path) -> mpsc::Receiver<(Instant, Event)> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let store = store.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let client = ApiClient::find(&store).await.unwrap().expect("a daemon serves the store");
            let mut stream = client.events().await.unwrap();
            ready_tx.send(()).unwrap();
            while let Ok(Some(got)) = stream.next().await {
                match got {
                    Streamed::Event(e) => {
                        if tx.send((Instant::now(), *e)).is_err() {
                            return;
                        }
                    }
                    Streamed::Lagged => panic!("the listener fell behind the stream"),
                }
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).expect("subscribed to the event stream");
    rx
}

/// Events until one for which `hit` says yes (deadline `within`).
fn wait_event(
    rx: &mpsc::Receiver<(Instant, Event)>,
    within: Duration,
    what: &str,
    hit: impl Fn(&Event) -> bool,
) -> (Instant, Event) {
    wait_event_at(rx, within, what, |_, e| hit(e))
}

/// As [`wait_event`], `hit` also given when the event arrived.
fn wait_event_at(
    rx: &mpsc::Receiver<(Instant, Event)>,
    within: Duration,
    what: &str,
    hit: impl Fn(Instant, &Event) -> bool,
) -> (Instant, Event) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((at, e)) if hit(at, &e) => return (at, e),
            Ok((_, e)) => seen.push(e.name()),
            Err(_) => panic!("no {what} within {} s; seen: {seen:?}", within.as_secs()),
        }
    }
}

/// `POST /v1/scans {"schedule": name}`: the daemon's request number.
fn ask_run(store: &Path, name: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = ApiClient::find(store).await.unwrap().unwrap();
        let r: serde_json::Value = client.post("/v1/scans", &serde_json::json!({ "schedule": name })).await.unwrap();
        r["request"].as_u64().unwrap()
    })
}

/// The scan runs, through the API.
fn scans(store: &Path) -> Vec<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { ApiClient::find(store).await.unwrap().unwrap().get("/v1/scans").await.unwrap() })
}

/// `check` on `host`, as `haetae findings show --json` tells it (through the
/// daemon's API: the daemon holds the store).
fn finding(dir: &Path, check: &str, host: &str) -> serde_json::Value {
    let o = haetae(dir, &["findings", "--json", "--state", "all"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    let f = list
        .iter()
        .find(|f| f["check"] == check && f["host"] == host)
        .unwrap_or_else(|| panic!("no {check} on {host}"));
    let id = f["id"].as_str().unwrap();
    let o = haetae(dir, &["findings", "show", id, "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// The daemon, killed if the test fails before [`Daemon::stop`].
struct Daemon(Option<std::process::Child>);

impl Daemon {
    /// SIGTERM, then exit 0 within 30 s.
    fn stop(mut self) {
        let mut child = self.0.take().unwrap();
        assert!(
            std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success()
        );
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx.recv_timeout(Duration::from_secs(30)).expect("the daemon stops on SIGTERM").unwrap();
        assert_eq!(status.code(), Some(0));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn with_schedule(dir: &Path, every: &str) {
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    std::fs::write(dir.join("haetae.toml"), format!("{toml}\n[[schedule]]\nname = \"lab\"\nevery = \"{every}\"\n"))
        .unwrap();
}

/// The first `scan-started` that arrived after `switched`, then its
/// `scan-finished`: a run already going at the switch is passed over.
fn next_run(rx: &mpsc::Receiver<(Instant, Event)>, switched: Instant, within: Duration) -> (u64, Instant, Instant) {
    let (started_at, e) =
        wait_event_at(rx, within, "scan-started", |at, e| at > switched && matches!(e, Event::ScanStarted { .. }));
    let Event::ScanStarted { id, .. } = e else { unreachable!() };
    let (ended_at, e) =
        wait_event(rx, SCAN, "scan-finished", |e| matches!(e, Event::ScanFinished { id: i, .. } if *i == id));
    let Event::ScanFinished { complete, .. } = e else { unreachable!() };
    assert!(complete, "scan {id} ran to the end");
    (id, started_at, ended_at)
}

#[test]
fn a_removed_weakness_is_fixed_by_the_next_scheduled_run_and_reopens_as_a_regression() {
    // The shortest `every` the configuration takes (1m; jitter up to 6 s).
    let w = lab_workspace();
    let dir = w.dir.path();
    let store = dir.join(".haetae");
    with_schedule(dir, "1m");
    let (child, log) = spawn_daemon(dir);
    let child = Daemon(Some(child));
    wait_for(&log, "local API listening");
    let events = listen(&store);
    wait_for_long(&log, "scan 1 complete");
    let f = finding(dir, "svc.redis-noauth", "redis.agency.test");
    assert_eq!(f["state"], "open", "{f}");
    let id = f["id"].as_str().unwrap().to_owned();

    // Removed: the next scheduled run (not one asked for) covers the port,
    // hears a password asked for, and closes the finding.
    let switched = Instant::now();
    w.lab.switch(Switch::RedisAuth, true);
    let interval = Duration::from_secs(66);
    let (run, started, ended) = next_run(&events, switched, interval + SCAN);
    assert!(started - switched <= interval, "the run after the switch starts within one interval");
    let f = finding(dir, "svc.redis-noauth", "redis.agency.test");
    assert_eq!(f["state"], "fixed", "{f}");
    let last = f["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "scanner", "{last}");
    assert_eq!(last["to"], "fixed", "{last}");
    println!(
        "LIFECYCLE fixed: switch -> run {run} start {:.1} s, -> its end {:.1} s (scan {:.1} s)",
        (started - switched).as_secs_f64(),
        (ended - switched).as_secs_f64(),
        (ended - started).as_secs_f64()
    );
    // Only the redis finding (and the version INFO showed) went.
    let o = haetae(dir, &["findings", "--json", "--state", "fixed"]);
    let fixed: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(fixed.iter().all(|f| f["host"] == "redis.agency.test"), "{fixed:#?}");

    // Restored: the next scheduled run sees it again, a regression.
    let switched = Instant::now();
    w.lab.switch(Switch::RedisAuth, false);
    let (run, started, ended) = next_run(&events, switched, interval + SCAN);
    assert!(started - switched <= interval);
    let f = finding(dir, "svc.redis-noauth", "redis.agency.test");
    assert_eq!(f["id"], id.as_str(), "the same finding, not a new one");
    assert_eq!(f["state"], "open", "{f}");
    assert_eq!(f["baseline"], "reopened", "{f}");
    assert!(f["tags"].as_array().unwrap().iter().any(|t| t == "regression"), "{f}");
    let last = f["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["actor"], &last["from"], &last["to"]),
        (&"scanner".into(), &"fixed".into(), &"open".into()),
        "{last}"
    );
    assert!(last["note"].as_str().unwrap().contains("regression"), "{last}");
    println!(
        "LIFECYCLE reopened: switch -> run {run} start {:.1} s, -> its end {:.1} s",
        (started - switched).as_secs_f64(),
        (ended - switched).as_secs_f64()
    );
    child.stop();
}

#[test]
fn a_swapped_certificate_is_a_change_event_and_a_silent_server_closes_nothing() {
    let w = lab_workspace();
    let dir = w.dir.path();
    let store = dir.join(".haetae");
    // Due at once, then not for hours: the second run is asked for.
    with_schedule(dir, "6h");
    let (child, log) = spawn_daemon(dir);
    let child = Daemon(Some(child));
    wait_for(&log, "local API listening");
    wait_for_long(&log, "scan 1 complete");
    let before = finding(dir, "svc.redis-noauth", "redis.agency.test");
    assert_eq!(before["state"], "open");
    let events = listen(&store);

    let (host, addr) = w.lab.tls_endpoints().into_iter().find(|(n, _)| *n == "secure.agency.test").unwrap();
    let switched = Instant::now();
    w.lab.swap_certificate(host).unwrap();
    w.lab.switch(Switch::RedisSilent, true);
    let request = ask_run(&store, "lab");
    let (started, _) = wait_event(
        &events,
        SCAN,
        "scan-started",
        |e| matches!(e, Event::ScanStarted { request: Some(r), .. } if *r == request),
    );
    let (changed, e) = wait_event(
        &events,
        SCAN,
        "certificate change",
        |e| matches!(e, Event::Change { change } if change.kind == ChangeKind::Certificate && change.host == host),
    );
    let Event::Change { change } = e else { unreachable!() };
    assert_eq!(change.port, Some(addr.port()));
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(hex(&change.before) && hex(&change.after) && change.before != change.after, "{change:?}");
    let (ended, e) = wait_event(
        &events,
        SCAN,
        "scan-finished",
        |e| matches!(e, Event::ScanFinished { request: Some(r), .. } if *r == request),
    );
    let Event::ScanFinished { id, .. } = e else { unreachable!() };
    println!(
        "LIFECYCLE certificate: swap -> change event {:.1} s (run asked at once; scan {:.1} s; the event {:.1} s into it)",
        (changed - switched).as_secs_f64(),
        (ended - started).as_secs_f64(),
        (changed - started).as_secs_f64()
    );

    // Listed by `haetae changes --json`, through the API.
    let o = haetae(dir, &["changes", "--json", "--host", host]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let listed: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        listed.iter().any(|c| c["kind"] == "certificate"
            && c["port"] == addr.port()
            && c["before"] == change.before.as_str()
            && c["after"] == change.after.as_str()),
        "{listed:#?}"
    );

    // The silent Redis: a failed unit on the run (its port, no answer within
    // the deadline), the finding still open and its history untouched.
    let run = scans(&store).into_iter().find(|s| s["id"] == id).unwrap();
    let failed = run["failed"].as_array().unwrap();
    assert!(
        failed.iter().any(|u| u["host"] == "redis.agency.test"
            && u["port"] == before["port"]
            && u["reason"].as_str().unwrap().contains("within")),
        "{run:#}"
    );
    let after = finding(dir, "svc.redis-noauth", "redis.agency.test");
    assert_eq!(after["state"], "open", "a timeout closes nothing: {after}");
    assert_eq!(after["history"], before["history"], "{after}");
    child.stop();
}
