//! Recovery after a SIGKILL of `haetae daemon` in the middle of a lab scan:
//! the next start opens the store, verifies the audit chain, resumes the
//! cut-off run to its end, and the findings are those of an uninterrupted
//! run, none doubled. Waits are on log lines and files, with deadlines.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use haetae_findings::{Selection, State};

use crate::scan::lab_workspace;
use crate::support::{code, haetae, open, stderr};

use crate::daemon::spawn_daemon;

/// Lines until one contains `what` (deadline 120 s).
fn wait_for(rx: &mpsc::Receiver<String>, what: &str) -> Vec<String> {
    crate::daemon::wait_within(rx, what, Duration::from_secs(120))
}

/// A finding as compared: check, host, port, state.
type Seen = (String, String, Option<u16>, State);

/// Every finding as compared, and how many there are.
fn findings(dir: &Path) -> (BTreeSet<Seen>, usize) {
    let all = open(dir).list(&Selection::All).unwrap().findings;
    let n = all.len();
    (all.into_iter().map(|f| (f.check.as_str().to_owned(), f.host, f.port, f.state)).collect(), n)
}

#[test]
fn after_sigkill_mid_lab_scan_the_daemon_resumes_the_run_to_the_same_findings() {
    let w = lab_workspace();
    let toml = std::fs::read_to_string(w.dir.path().join("haetae.toml")).unwrap();
    // Never ran, repeats by period: due at once.
    let with_schedule = format!("{toml}\n[[schedule]]\nname = \"lab\"\nevery = \"6h\"\n");

    // The uninterrupted run, in a workspace of its own on the same lab.
    let base = tempfile::tempdir().unwrap();
    for f in ["scope.toml", "haetae.toml", haetae_lab::CA_FILE] {
        std::fs::copy(w.dir.path().join(f), base.path().join(f)).unwrap();
    }
    let o = haetae(base.path(), &["scan"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (want, want_n) = findings(base.path());
    assert!(want_n >= haetae_lab::PLANTED.len());

    let dir = w.dir.path();
    std::fs::write(dir.join("haetae.toml"), &with_schedule).unwrap();
    let (mut child, lines) = spawn_daemon(dir);
    wait_for(&lines, "scan 1 started");
    // Mid-scan: probes are being audited (the lab scan writes ~650 KB of audit).
    let audit = dir.join(".haetae").join("audit.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&audit).map(|m| m.len()).unwrap_or(0) < 64 * 1024 {
        assert!(Instant::now() < deadline, "the scan wrote no audit records");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = open(dir).scans().unwrap();
    assert_eq!(runs.len(), 1);
    assert!(!runs[0].complete && runs[0].ended.is_none(), "killed mid-scan: {runs:?}");
    let (partial, _) = findings(dir);
    assert!(partial.len() < want.len(), "killed before the end: {} of {}", partial.len(), want.len());

    // The next start: store opens, chain verifies, run 1 resumes and ends.
    let restarted = Instant::now();
    let (child, lines) = spawn_daemon(dir);
    let log = wait_for(&lines, "scan 1 started");
    let to_resume = restarted.elapsed();
    eprintln!("SIGKILL restart to resumed scan: {} ms", to_resume.as_millis());
    assert!(log.iter().any(|l| l.contains("scan 1 was cut off; resuming it now")), "{log:#?}");
    assert!(log.iter().any(|l| l.contains("audit log")), "the audit chain is checked at start: {log:#?}");
    assert!(log.last().is_some_and(|l| l.contains("resumed=true")), "{log:#?}");
    let log = wait_for(&lines, "scan 1 complete");
    assert!(log.last().is_some_and(|l| l.contains("complete=true")), "{log:#?}");
    let stopping = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let (tx, rx) = mpsc::channel();
    let mut child = child;
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx.recv_timeout(Duration::from_secs(25)).expect("no exit on SIGTERM").unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(10));

    let runs = open(dir).scans().unwrap();
    assert_eq!(runs.len(), 1, "resumed, not a second run: {runs:?}");
    assert!(runs[0].complete);
    let (got, got_n) = findings(dir);
    assert_eq!(got_n, want_n, "no finding doubled or lost");
    assert_eq!(got, want);
    let o = haetae(dir, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The first start wrote a daily backup, verified, into the store directory.
    let backups: Vec<_> = std::fs::read_dir(dir.join(".haetae").join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(backups.len(), 1, "fresh at the second start: no second backup: {backups:?}");
    assert!(backups[0].starts_with("store-") && backups[0].ends_with(".jsonl"), "{backups:?}");
}

#[test]
fn the_daemon_refuses_to_start_on_a_broken_audit_chain_naming_the_line() {
    let w = lab_workspace();
    let dir = w.dir.path();
    let o = haetae(dir, &["scan"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let audit = dir.join(".haetae").join("audit.jsonl");
    let text = std::fs::read_to_string(&audit).unwrap();
    let second = text.lines().nth(1).unwrap();
    // Line 2's outcome changed: its hash no longer chains.
    let edited = second.replacen("\"outcome\":\"", "\"outcome\":\"x", 1);
    assert_ne!(edited, second);
    std::fs::write(&audit, text.replacen(second, &edited, 1)).unwrap();
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    std::fs::write(dir.join("haetae.toml"), format!("{toml}\n[[schedule]]\nname = \"lab\"\nevery = \"6h\"\n")).unwrap();
    let verify = haetae(dir, &["audit", "verify"]);
    assert_eq!(code(&verify), 1);
    let o = haetae(dir, &["daemon"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("line 2") && err.contains("broken audit chain"), "{err}");
    assert!(!err.contains("scan 2 started"), "{err}");
    assert_eq!(open(dir).scans().unwrap().len(), 1, "no run on a broken chain");
}
