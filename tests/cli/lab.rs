//! `haetae lab serve` (hidden): a lab that outlives the commands scanning it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{code, haetae, stderr, stdout};

/// Starts `haetae lab serve --dir DIR extra...`, waits for "ready", returns
/// the line; then SIGTERM, and the exit code.
fn serve_until_ready(dir: &Path, extra: &[&str], check: impl FnOnce(&str)) -> Option<i32> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(["lab", "serve", "--dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "{line}");
    check(&line);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap().code()
}

#[test]
fn lab_serve_writes_a_workspace_and_stops_on_sigterm() {
    // Its labs listen on the same addresses as the other tests' labs.
    let _one = crate::scan::one_lab();
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("lab");
    let status = serve_until_ready(&ws, &[], |line| {
        assert!(line.contains("127.77.0.53:"), "{line}");
        let scope = std::fs::read_to_string(ws.join("scope.toml")).unwrap();
        assert!(scope.contains("KR-LAB-0001"));
        assert!(std::fs::read_to_string(ws.join("haetae.toml")).unwrap().contains("127.77.0.53:"));
        assert!(ws.join("lab-ca.pem").exists() && ws.join("rules.toml").exists());
        // the lab answers while it runs: the scope file is usable
        let o = haetae(&ws, &["scope", "check", "portal.agency.test"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    });
    assert_eq!(status, Some(0));

    let status = serve_until_ready(&d.path().join("hostile"), &["--hostile"], |line| {
        assert!(line.contains("hostile lab") && line.contains("127.78.0.53:"), "{line}");
        let scope = std::fs::read_to_string(d.path().join("hostile/scope.toml")).unwrap();
        assert!(scope.contains("KR-LAB-HOSTILE"));
    });
    assert_eq!(status, Some(0));

    let status = serve_until_ready(&d.path().join("faulty"), &["--faults", "7:10"], |_| {});
    assert_eq!(status, Some(0));
}

#[test]
fn lab_serve_refuses_bad_faults_and_is_hidden() {
    let d = tempfile::tempdir().unwrap();
    for bad in ["7", "x:10", "7:101"] {
        let o = haetae(d.path(), &["lab", "serve", "--dir", "w", "--faults", bad]);
        assert_eq!(code(&o), 2, "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("SEED:PERCENT"), "{}", stderr(&o));
    }
    let o = haetae(d.path(), &["--help"]);
    assert!(!stdout(&o).contains("\n  lab "), "{}", stdout(&o));
}
