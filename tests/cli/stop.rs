//! Ctrl-C and SIGTERM stop a scan within its grace period, whatever the
//! targets do, and what was found is committed.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{code, haetae, stderr};

/// A workspace for one silent port on 127.0.0.1 (it accepts and never
/// speaks), with a 20-second `timeout_ms`: left alone, its probes take minutes.
pub(crate) fn silent_workspace() -> (tempfile::TempDir, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
            let _ = tx.send(());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scope.toml"),
        format!(
            r#"[engagement]
id = "KR-STOP"
contact = "team@agency.test"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = ["127.0.0.1/32"]
ports = [{port}]
seeds = ["127.0.0.1"]
[limits]
timeout_ms = 20000
"#
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("haetae.toml"), "[resolver]\nnameservers = [\"127.0.0.1:9\"]\n").unwrap();
    (dir, rx)
}

fn stops_within_grace(signal: &str) {
    let (dir, accepted) = silent_workspace();
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(dir.path())
        .arg("scan")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("scan 1 started"), "{line}");
    // The port scan is under way: the silent port holds a connection.
    accepted.recv_timeout(Duration::from_secs(30)).unwrap();
    let stopped = Instant::now();
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = child.wait_with_output();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        let _ = tx.send((out, rest));
    });
    let (out, rest) = rx.recv_timeout(Duration::from_secs(25)).expect("the scan did not stop within its grace period");
    let out = out.unwrap();
    let took = stopped.elapsed();
    // Well inside one `timeout_ms`: every phase yields to the stop.
    assert!(took < Duration::from_secs(10), "{signal}: stopped after {took:?}");
    assert_eq!(out.status.code(), Some(1), "{rest}");
    assert!(rest.contains("interrupted") && rest.contains("--resume"), "{rest}");
    let o = haetae(dir.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn sigterm_stops_a_scan_of_a_silent_port_within_the_grace_period() {
    stops_within_grace("-TERM");
}

#[test]
fn ctrl_c_stops_a_scan_of_a_silent_port_within_the_grace_period() {
    stops_within_grace("-INT");
}
