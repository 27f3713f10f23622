//! The daemon's upkeep: accepted risks expire with actor `daemon`, the rules
//! file is watched, daily backups rotate, and a broken audit chain stops the
//! start. Waits are on conditions with deadlines, never fixed sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use haetae_findings::{Asset, CheckId, Confidence, Observation, Priority, State, Store, Timestamp, Transition};
use haetae_rules::RuleSet;
use haetae_service::backups::{Backups, DAY, KEEP};
use haetae_service::rules_watch::{Reload, RulesWatch};
use haetae_service::upkeep;
use tokio_util::sync::CancellationToken;

fn obs(host: &str) -> Observation {
    let mut o =
        Observation::new(CheckId::SvcSshExposed, Asset { host: host.into(), ip: None, port: Some(22) }, "", "KR-TEST");
    o.confidence = Confidence::Certain;
    o
}

/// Every log line of this test binary (one global subscriber: the tasks run
/// on the runtime's threads).
fn logs() -> String {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buf = LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt().with_ansi(false).with_writer(move || Capture(sink.clone())).try_init();
        buf
    });
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Poll `cond` every 20 ms until it holds (deadline 15 s).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "not within 15 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn expired_acceptances_return_to_open_by_the_daemon() {
    logs();
    let store = Store::temporary(Arc::new(RuleSet::empty())).unwrap();
    let (id, _) = store.upsert(&obs("a.agency.test")).unwrap();
    let (kept, _) = store.upsert(&obs("b.agency.test")).unwrap();
    let now = Timestamp::now();
    store.triage(&[&id], &Transition::new(State::AcceptedRisk, "kim").until(now.plus_days(1))).unwrap();
    store.triage(&[&kept], &Transition::new(State::AcceptedRisk, "kim").until(now.plus_days(30))).unwrap();
    assert!(upkeep::expire_due(&store, now).unwrap().is_empty());
    assert_eq!(upkeep::expire_due(&store, now.plus_days(2)).unwrap(), vec![id.clone()]);
    let f = store.get(&id).unwrap().unwrap();
    assert_eq!(f.state, State::Open);
    assert_eq!(f.history.last().unwrap().actor, "daemon");
    assert_eq!(store.get(&kept).unwrap().unwrap().state, State::AcceptedRisk, "not due yet");
    let log = logs();
    assert!(log.lines().any(|l| l.contains("risk acceptance expired") && l.contains(&format!("ids={id}"))), "{log}");
    assert!(!log.contains(&kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_loop_returns_a_risk_to_open_once_its_date_passes() {
    let store = Arc::new(Store::temporary(Arc::new(RuleSet::empty())).unwrap());
    let (id, _) = store.upsert(&obs("a.agency.test")).unwrap();
    let until_t = Timestamp::from_unix(Timestamp::now().unix() + 1);
    store.triage(&[&id], &Transition::new(State::AcceptedRisk, "kim").until(until_t)).unwrap();
    let stop = CancellationToken::new();
    let events = haetae_service::events::Events::default();
    let mut heard = events.subscribe();
    let task = tokio::spawn(upkeep::expiry_loop(store.clone(), Duration::from_millis(50), Some(events), stop.clone()));
    until("the acceptance expires", || store.get(&id).unwrap().unwrap().state == State::Open).await;
    assert!(Timestamp::now() >= until_t, "not before its date");
    assert_eq!(store.get(&id).unwrap().unwrap().history.last().unwrap().actor, "daemon");
    // The stream tells listeners (the TUI reloads that finding).
    let ev = tokio::time::timeout(Duration::from_secs(5), heard.recv()).await.unwrap().unwrap();
    assert_eq!(ev, haetae_service::events::Event::FindingsChanged { ids: vec![id.clone()] });
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

const RULES_V1: &str = "[[rule]]\nname = \"ssh\"\nwhen = 'finding.check == \"svc.ssh-exposed\"'\npriority = \"P4\"\n";
const RULES_V2: &str =
    "[[rule]]\nname = \"ssh is urgent\"\nwhen = 'finding.check == \"svc.ssh-exposed\"'\npriority = \"P1\"\n";
/// An unknown field at line 3, column 1, and a condition that does not compile.
const RULES_BROKEN: &str = "[[rule]]\nname = \"ssh\"\nwhen = 'finding.nonexistent == 1'\npriority = \"P2\"\n";

fn rules_store(dir: &Path, text: &str) -> (Arc<Store>, std::path::PathBuf) {
    let path = dir.join("rules.toml");
    std::fs::write(&path, text).unwrap();
    let rules = RuleSet::load(&path).unwrap();
    (Arc::new(Store::temporary(Arc::new(rules)).unwrap()), path)
}

#[test]
fn a_good_rules_change_rescores_every_finding() {
    let d = tempfile::tempdir().unwrap();
    let (store, path) = rules_store(d.path(), RULES_V1);
    let (a, _) = store.upsert(&obs("a.agency.test")).unwrap();
    let (b, _) = store.upsert(&obs("b.agency.test")).unwrap();
    assert_eq!(store.get(&a).unwrap().unwrap().priority, Priority::P4);
    let mut w = RulesWatch::new(store.clone(), path.clone());
    assert_eq!(w.poll(), Reload::Unchanged);
    std::fs::write(&path, RULES_V2).unwrap();
    assert_eq!(w.poll(), Reload::Applied { changed: 2 });
    for id in [&a, &b] {
        let f = store.get(id).unwrap().unwrap();
        assert_eq!(f.priority, Priority::P1, "{f:?}");
        assert!(f.rules.iter().any(|r| r.name == "ssh is urgent"), "{:?}", f.rules);
    }
    // New findings are scored by the new rules too.
    let (c, _) = store.upsert(&obs("c.agency.test")).unwrap();
    assert_eq!(store.get(&c).unwrap().unwrap().priority, Priority::P1);
    assert_eq!(w.poll(), Reload::Unchanged);
}

#[test]
fn a_broken_rules_change_is_reported_with_file_line_column_and_the_old_rules_stay() {
    logs();
    let d = tempfile::tempdir().unwrap();
    let (store, path) = rules_store(d.path(), RULES_V1);
    let (a, _) = store.upsert(&obs("a.agency.test")).unwrap();
    let mut w = RulesWatch::new(store.clone(), path.clone());
    std::fs::write(&path, RULES_BROKEN).unwrap();
    let r = w.poll();
    haetae_service::rules_watch::log(&path, &r);
    let Reload::Broken(errors) = r else { panic!("a broken file must be reported") };
    let at = format!("{}:3:", path.display());
    let log = logs();
    assert!(
        log.lines().any(|l| l.contains("ERROR") && l.contains("the rules in force stay") && l.contains(&at)),
        "{log}"
    );
    assert!(errors.iter().any(|e| e.starts_with(&at)), "{errors:?}");
    assert!(errors.iter().all(|e| e.starts_with(&format!("{}:", path.display()))), "{errors:?}");
    assert_eq!(store.get(&a).unwrap().unwrap().priority, Priority::P4, "the rules in force stay");
    let (b, _) = store.upsert(&obs("b.agency.test")).unwrap();
    assert_eq!(store.get(&b).unwrap().unwrap().priority, Priority::P4);
    assert_eq!(w.poll(), Reload::Unchanged, "reported once, not at every look");
    // TOML broken at a known place.
    std::fs::write(&path, "[[rule]]\nname = \"x\"\nwhen = \n").unwrap();
    let Reload::Broken(errors) = w.poll() else { panic!("a broken file must be reported") };
    assert!(errors[0].starts_with(&format!("{}:3:", path.display())), "{errors:?}");
    // Removed: the rules in force stay.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(w.poll(), Reload::Gone);
    assert_eq!(store.get(&a).unwrap().unwrap().priority, Priority::P4);
    // Fixed: applied.
    std::fs::write(&path, RULES_V2).unwrap();
    assert_eq!(w.poll(), Reload::Applied { changed: 2 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_watch_task_applies_a_change_on_its_own() {
    let d = tempfile::tempdir().unwrap();
    let (store, path) = rules_store(d.path(), RULES_V1);
    let (a, _) = store.upsert(&obs("a.agency.test")).unwrap();
    let stop = CancellationToken::new();
    let w = RulesWatch::new(store.clone(), path.clone());
    let task = tokio::spawn(haetae_service::rules_watch::watch(w, Duration::from_millis(30), stop.clone()));
    std::fs::write(&path, RULES_V2).unwrap();
    until("re-scored", || store.get(&a).unwrap().unwrap().priority == Priority::P1).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

fn disk_store(dir: &Path) -> Arc<Store> {
    let store = Store::open(&dir.join("store"), Arc::new(RuleSet::empty())).unwrap();
    for i in 0..50 {
        store.upsert(&obs(&format!("h{i}.agency.test"))).unwrap();
    }
    Arc::new(store)
}

#[test]
fn backups_rotate_to_seven_newest_kept_and_each_verified() {
    let d = tempfile::tempdir().unwrap();
    let store = disk_store(d.path());
    let b = Backups::in_store(store.dir());
    let start = Timestamp::now().unix() - 20 * DAY;
    let mut written = Vec::new();
    for day in 0..10 {
        let w = b.write_at(&store, Timestamp::from_unix(start + day * DAY)).unwrap();
        assert_eq!(w.summary.findings, 50);
        assert!(w.summary.bytes > 0);
        written.push(w.summary.path.clone());
        assert_eq!(w.removed.len(), usize::from(day >= 7), "day {day}: {:?}", w.removed);
    }
    let kept: Vec<_> = b.list().unwrap().into_iter().map(|(p, _)| p).collect();
    assert_eq!(kept.len(), KEEP);
    assert_eq!(kept, written[3..], "the newest seven, oldest first");
    for p in &kept {
        Store::verify_backup(p).unwrap();
    }
    assert!(!written[0].exists() && !written[2].exists());
    // Only .jsonl files of the daily kind in the directory, no temporary left.
    let names: Vec<String> =
        std::fs::read_dir(b.dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| n.starts_with("store-") && n.ends_with(".jsonl")), "{names:?}");
}

#[test]
fn a_backup_is_due_only_when_the_newest_is_a_day_old() {
    let d = tempfile::tempdir().unwrap();
    let store = disk_store(d.path());
    let b = Backups::in_store(store.dir());
    let now = Timestamp::now().unix();
    assert!(b.due(now).unwrap(), "none yet");
    b.write_at(&store, Timestamp::from_unix(now - 3600)).unwrap();
    assert!(!b.due(now).unwrap(), "an hour old: fresh");
    assert!(!b.due(now - 3600 + DAY - 1).unwrap());
    assert!(b.due(now - 3600 + DAY).unwrap(), "a day old: due");
}

#[test]
fn a_failed_backup_removes_nothing_and_leaves_no_partial_file() {
    let d = tempfile::tempdir().unwrap();
    let store = disk_store(d.path());
    let b = Backups::in_store(store.dir());
    let start = Timestamp::now().unix() - 20 * DAY;
    for day in 0..7 {
        b.write_at(&store, Timestamp::from_unix(start + day * DAY)).unwrap();
    }
    let before = b.list().unwrap();
    // The next backup's name is taken by a directory that is not empty: the
    // rename at its end fails.
    let next = Timestamp::from_unix(start + 7 * DAY);
    let blocker = b.dir().join(format!("store-{}.jsonl", haetae_findings::store::backup_stamp(next)));
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("x"), b"x").unwrap();
    assert!(b.write_at(&store, next).is_err());
    std::fs::remove_dir_all(&blocker).unwrap();
    assert_eq!(b.list().unwrap(), before, "no old backup removed after a failure");
    let names: Vec<String> =
        std::fs::read_dir(b.dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_task_survives_a_failure_and_writes_once_it_can() {
    let d = tempfile::tempdir().unwrap();
    let store = disk_store(d.path());
    let b = Backups::in_store(store.dir());
    // `backups` is a file: every try fails until it is moved away.
    std::fs::write(b.dir(), b"in the way").unwrap();
    logs();
    let failed =
        |log: &str| log.lines().any(|l| l.contains("backup failed") && l.contains(&b.dir().display().to_string()));
    let stop = CancellationToken::new();
    let task = tokio::spawn(haetae_service::backups::run_loop(
        store.clone(),
        b.clone(),
        Duration::from_millis(20),
        Duration::ZERO,
        stop.clone(),
    ));
    // It tried, failed and logged it; the task goes on.
    until("a failed try", || failed(&logs())).await;
    assert!(!task.is_finished());
    std::fs::remove_file(b.dir()).unwrap();
    until("a backup", || b.list().map(|l| l.len() == 1).unwrap_or(false)).await;
    assert!(!task.is_finished());
    // Fresh now: no second one.
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    assert_eq!(b.list().unwrap().len(), 1);
}

#[test]
fn a_broken_audit_chain_refuses_the_start_naming_the_line() {
    let d = tempfile::tempdir().unwrap();
    let store = disk_store(d.path());
    upkeep::recover(&store).unwrap();
    let log = store.dir().join(haetae_service::AUDIT_FILE);
    let audit = haetae_findings::AuditLog::open(&log).unwrap();
    for i in 0..3u8 {
        audit
            .append(haetae_findings::AuditEntry {
                engagement: "KR-TEST".into(),
                target: format!("h{i}.agency.test"),
                address: None,
                port: Some(22),
                protocol: haetae_findings::Protocol::Tcp,
                probe: "tcp.connect".into(),
                verdict: haetae_findings::Verdict::Allowed,
                reason: "in scope".into(),
                outcome: "connected".into(),
            })
            .unwrap();
    }
    audit.sync().unwrap();
    drop(audit);
    upkeep::recover(&store).unwrap();
    // Line 2 edited.
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("h1.agency.test", "h9.agency.test", 1)).unwrap();
    let err = upkeep::recover(&store).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("broken audit chain"), "{err}");
}
