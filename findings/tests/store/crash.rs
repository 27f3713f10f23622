//! Crash safety: a child process upserting 10k findings is killed with SIGKILL
//! mid-way; every batch it acknowledged before the kill must be intact.
//!
//! The child is this same test binary, re-run on `child_process_upserts` with
//! `HAETAE_CRASH_CHILD` naming the store directory.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use haetae_findings::{CheckId, Selection, State, Store, fingerprint};

use crate::support::{obs, scorer};

const CHILD_ENV: &str = "HAETAE_CRASH_CHILD";
const TOTAL: usize = 10_000;
const BATCH: usize = 50;

fn observation(i: usize) -> haetae_findings::Observation {
    let mut o = obs(CheckId::SvcSshExposed, &format!("h{i}.crash.test"), Some(22), "");
    o.evidence = format!("SSH-2.0-OpenSSH_{i}");
    o
}

/// Runs only as the child: writes batches and prints `ACK n` after each durable batch.
#[test]
fn child_process_upserts() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let store = Store::open(std::path::Path::new(&dir), scorer()).unwrap();
    let stdout = std::io::stdout();
    for start in (0..TOTAL).step_by(BATCH) {
        let batch: Vec<_> = (start..start + BATCH).map(observation).collect();
        store.upsert_batch(None, &batch).unwrap();
        let mut out = stdout.lock();
        writeln!(out, "ACK {}", start + BATCH).unwrap();
        out.flush().unwrap();
    }
    writeln!(stdout.lock(), "DONE").unwrap();
}

#[test]
fn sigkill_mid_way_loses_no_acknowledged_upsert() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "crash::child_process_upserts", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = 0usize;
    let kill_after = TOTAL / 3;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            acked = n.trim().parse().unwrap();
            if acked >= kill_after {
                child.kill().unwrap(); // SIGKILL on Unix
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "child must have been killed, not finished");
    assert!(acked >= kill_after, "child acknowledged only {acked}");

    let store = Store::open(dir.path(), scorer()).unwrap();
    for i in 0..acked {
        let o = observation(i);
        let id = fingerprint(&o.check, &o.asset, &o.location);
        let f = store.get(&id).unwrap().unwrap_or_else(|| panic!("acknowledged finding {i} lost"));
        assert_eq!(f.evidence, o.evidence);
        assert_eq!(f.state, State::Open);
    }
    let listing = store.list(&Selection::All).unwrap();
    assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
    assert!(listing.findings.len() >= acked && listing.findings.len() <= TOTAL);
    assert!(store.check_integrity().unwrap().is_empty(), "indexes agree after the crash");
    println!("acknowledged {acked}, recovered {}", listing.findings.len());
}
