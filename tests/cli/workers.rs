//! `haetae worker`s sharing a PostgreSQL store with a daemon: three of them
//! find what one process finds, a killed one loses nothing, one holding
//! another scope refuses the engagement's units, and the workers' audit
//! segments verify and keep every lab address under its per-host rate.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use haetae_findings::{Selection, Store};
use haetae_lab::PLANTED;
use haetae_rules::DefaultScorer;

use crate::scan::lab_workspace;
use crate::support::{code, haetae, stderr, stdout};

/// A fresh database on the test server, or `None` where PostgreSQL is not
/// installed (said loudly; CI requires it).
fn database() -> Option<String> {
    let server = haetae_pgtest::require()?;
    Some(server.fresh_database().unwrap())
}

/// Point haetae.toml at `url`, with `workers` sharing the budget and `extra` at the end.
fn use_store(dir: &Path, url: &str, workers: u32, extra: &str) {
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    let toml: String = toml
        .lines()
        .take_while(|l| !l.starts_with("[[schedule]]"))
        .filter(|l| !l.starts_with("store =") && !l.starts_with("workers ="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("haetae.toml"), format!("store = \"{url}\"\nworkers = {workers}\n{toml}{extra}")).unwrap();
}

fn ids(url: &str) -> BTreeSet<String> {
    let store = Store::open_postgres(url, std::sync::Arc::new(DefaultScorer)).unwrap();
    store.list(&Selection::All).unwrap().findings.into_iter().map(|f| f.id).collect()
}

/// A `haetae` process whose JSON log lines arrive on a channel; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    name: String,
}

impl Proc {
    fn start(dir: &Path, args: &[&str], name: &str) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
            .current_dir(dir)
            .args(args)
            .args(["--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Proc { child, lines, name: name.to_owned() }
    }

    /// Wait for a log line `pred` accepts.
    fn wait(&self, within: Duration, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(_) => {}
                Err(_) => panic!("{}: the awaited log line did not come within {within:?}", self.name),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(v: &serde_json::Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or_default()
}

fn finished(v: &serde_json::Value) -> bool {
    message(v).starts_with("scan ") && v["fields"]["complete"].is_boolean()
}

/// Run haetae to its end, killed (and the test failed) after `limit`.
fn within(limit: Duration, dir: &Path, args: &[&str]) -> std::process::Output {
    let child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("haetae {args:?} did not end within {limit:?}");
        }
    }
}

const SCHEDULE: &str = "\n[[schedule]]\nname = \"lab\"\nevery = \"6h\"\n";

#[test]
fn three_workers_find_what_one_process_finds_within_each_hosts_rate() {
    let (Some(single), Some(shared)) = (database(), database()) else { return };
    let w = lab_workspace();
    let dir = w.dir.path();
    // A tight per-host budget, so that a breach would show in one second.
    let scope = std::fs::read_to_string(dir.join("scope.toml")).unwrap();
    let scope = scope.replace("per_host_rps = 500", "per_host_rps = 100");
    assert!(scope.contains("per_host_rps = 100"), "{scope}");
    std::fs::write(dir.join("scope.toml"), scope).unwrap();

    // One process.
    use_store(dir, &single, 1, "");
    let o = haetae(dir, &["scan"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let alone = ids(&single);
    assert_eq!(alone.len(), PLANTED.len(), "{}", stdout(&o));

    // A daemon and three workers on another database.
    use_store(dir, &shared, 3, SCHEDULE);
    let workers: Vec<Proc> =
        (1..=3).map(|i| Proc::start(dir, &["worker", "--id", &format!("w{i}")], &format!("worker w{i}"))).collect();
    let daemon = Proc::start(dir, &["daemon"], "daemon");
    let done = daemon.wait(Duration::from_secs(240), finished);
    assert_eq!(done["fields"]["complete"], true, "{done}");
    assert_eq!(ids(&shared), alone, "three workers found what one process found");
    drop(daemon);
    drop(workers);

    // Every worker's records are in the database and chain.
    let o = haetae(dir, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("segment(s)"), "{}", stdout(&o));

    // No lab address got more than its budget in any second, all workers
    // together: each had a third of it (the guard's bucket allows a tenth
    // of a second's burst).
    let busiest = Command::new("psql")
        .args([
            shared.as_str(),
            "-tAc",
            "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM audit_records \
             WHERE line::json->>'verdict' = 'allowed' AND line::json->>'address' IS NOT NULL \
             GROUP BY line::json->>'address', line::json->>'time') t",
        ])
        .output()
        .unwrap();
    let busiest: u64 = String::from_utf8_lossy(&busiest.stdout).trim().parse().unwrap();
    assert!(busiest > 0, "the audit segments hold the workers' traffic");
    assert!(busiest <= 110, "an address got {busiest} requests in one second (budget 100)");
}

#[test]
fn a_worker_killed_mid_unit_loses_nothing() {
    let Some(url) = database() else { return };
    let w = lab_workspace();
    let dir = w.dir.path();
    use_store(dir, &url, 2, SCHEDULE);
    let victim = Proc::start(dir, &["worker", "--id", "victim", "--lease", "3s"], "worker victim");
    let daemon = Proc::start(dir, &["daemon"], "daemon");
    // Killed as soon as it holds a unit: the unit's lease runs out and the
    // other worker takes it over.
    victim.wait(Duration::from_secs(60), |v| message(v) == "unit claimed");
    drop(victim);
    let _survivor = Proc::start(dir, &["worker", "--id", "survivor", "--lease", "3s"], "worker survivor");
    let done = daemon.wait(Duration::from_secs(240), finished);
    assert_eq!(done["fields"]["complete"], true, "{done}");
    assert_eq!(done["fields"]["new"], PLANTED.len(), "{done}");
    assert_eq!(ids(&url).len(), PLANTED.len());
    let retried = Command::new("psql")
        .args([url.as_str(), "-tAc", "SELECT count(*) FROM units WHERE attempts > 1 AND state = 'done'"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&retried.stdout).trim(), "1", "the killed worker's unit was taken over once");
    drop(daemon);
    let o = haetae(dir, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
}

#[test]
fn a_worker_holding_another_scope_refuses_the_engagements_units() {
    let Some(url) = database() else { return };
    let w = lab_workspace();
    let dir = w.dir.path();
    use_store(dir, &url, 1, "");
    // The engagement as the daemon stores it, with one queued unit.
    let scope = std::fs::read_to_string(dir.join("scope.toml")).unwrap();
    let store = Store::open_postgres(&url, std::sync::Arc::new(DefaultScorer)).unwrap();
    let hash = store.set_engagement(&scope, 1).unwrap();
    let run = store.begin_scan(vec!["agency.test".into()]).unwrap();
    store.enqueue_units(run.id, &["agency.test".into()], &[], &[], "standard", &hash).unwrap();
    // This worker's scope differs by one port.
    std::fs::write(dir.join("scope.toml"), scope.replacen("ports = [", "ports = [1, ", 1)).unwrap();
    let o = within(Duration::from_secs(60), dir, &["worker", "--id", "stray"]);
    assert_eq!(code(&o), 3, "{}\n{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("refusing"), "{}", stderr(&o));
    let counts = store.unit_counts(run.id).unwrap();
    assert_eq!((counts.queued, counts.running), (1, 0), "the unit was not taken: {counts:?}");
    assert!(w.lab.out_of_scope_connections() == 0);
}
