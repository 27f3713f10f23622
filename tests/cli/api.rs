//! The local API of a running daemon: the CLI goes through it while the
//! daemon holds the store; the token is required (401, audited); the event
//! stream follows a scan asked for with `haetae scan`; `/metrics` counts.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use haetae_lab::PLANTED;

use crate::scan::lab_workspace;
use crate::support::{code, haetae, stderr, stdout};

/// One raw HTTP/1.1 exchange on the socket: (status, body).
fn raw(socket: &Path, request: &str) -> (u16, String) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn get(socket: &Path, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    raw(socket, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"))
}

#[test]
fn while_the_daemon_holds_the_store_the_cli_goes_through_its_api() {
    let w = lab_workspace();
    let dir = w.dir.path();
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    std::fs::write(dir.join("haetae.toml"), format!("{toml}\n[[schedule]]\nname = \"lab\"\nevery = \"6h\"\n")).unwrap();
    let (mut child, rx) = crate::daemon::spawn_daemon(dir);
    crate::daemon::wait_for(&rx, "local API listening");
    let store = dir.join(".haetae");
    let socket = store.join("api.sock");
    let token_file = store.join("api.token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token is readable by its owner only");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(token.len(), 64, "32 random bytes as hex");

    // Without the token, or with a wrong one: 401, and nothing else.
    let (status, body) = get(&socket, "/v1/findings", None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("no bearer token"), "{body}");
    let (status, _) = get(&socket, "/metrics", Some("0000"));
    assert_eq!(status, 401);

    // The first run (due at once) ends; wait for it through the log.
    crate::daemon::wait_for_long(&rx, "scan 1 complete");

    // The CLI, while the daemon holds the store, lists through the API.
    let o = haetae(dir, &["findings", "--json", "--state", "all"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(list.len(), PLANTED.len(), "every planted weakness, through the API");
    let id = list[0]["id"].as_str().unwrap().to_owned();

    // A `haetae scan` is run by the daemon; its events reach a listener.
    let events = std::thread::spawn({
        let socket = socket.clone();
        let token = token.clone();
        move || {
            let mut s = UnixStream::connect(&socket).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
            write!(s, "GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n").unwrap();
            let mut seen = String::new();
            let mut buf = [0u8; 4096];
            while !seen.contains("event: scan-finished") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the stream ended: {seen}");
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            seen
        }
    });
    // The listener is subscribed once /metrics counts it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !get(&socket, "/metrics", Some(&token)).1.contains("haetae_event_listeners 1") {
        assert!(std::time::Instant::now() < deadline, "the event listener never subscribed");
        std::thread::yield_now();
    }
    let scan = std::thread::spawn({
        let dir = dir.to_owned();
        move || haetae(&dir, &["scan"])
    });
    // Triage and export while the daemon runs that scan.
    let o = haetae(dir, &["triage", &id, "--state", "confirmed", "--note", "seen on the portal", "--actor", "kim"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("-> confirmed"), "{}", stdout(&o));
    let o = haetae(dir, &["export", "--format", "csv", "--state", "all"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let csv = stdout(&o);
    for f in &list {
        assert!(csv.contains(f["id"].as_str().unwrap()), "{} missing from the export", f["id"]);
    }
    let o = haetae(dir, &["findings", "show", &id, "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["state"], "confirmed");
    assert_eq!(shown["history"].as_array().unwrap().last().unwrap()["actor"], "kim");

    let o = scan.join().unwrap();
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("scan 2 complete"), "{}", stdout(&o));
    assert!(stderr(&o).contains("a daemon holds this store"), "{}", stderr(&o));
    let streamed = events.join().unwrap();
    for name in ["event: scan-started", "event: scan-progress", "event: findings-changed", "event: scan-finished"] {
        assert!(streamed.contains(name), "{name} missing from the stream: {streamed}");
    }
    assert!(streamed.contains("\"request\":1"), "the scan carries its request: {streamed}");

    // Metrics: scans and findings by state and priority.
    let (status, metrics) = get(&socket, "/metrics", Some(&token));
    assert_eq!(status, 200);
    assert!(metrics.contains("haetae_scans_total{result=\"complete\"} 2"), "{metrics}");
    assert!(metrics.contains("# TYPE haetae_findings gauge"), "{metrics}");
    let confirmed: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("haetae_findings{state=\"confirmed\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(confirmed, 1, "{metrics}");
    assert!(metrics.contains("haetae_api_unauthorized_total 2"), "{metrics}");
    let (status, schedules) = get(&socket, "/v1/schedules", Some(&token));
    assert_eq!(status, 200);
    assert!(schedules.contains("\"name\":\"lab\"") && schedules.contains("\"next\":\""), "{schedules}");

    // Store upkeep goes through the daemon too; a restore is refused.
    let o = haetae(dir, &["store", "check"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = haetae(dir, &["store", "backup", "during.jsonl"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("through the daemon"), "{}", stdout(&o));
    assert!(std::fs::metadata(dir.join("during.jsonl")).unwrap().len() > 0);
    let o = haetae(dir, &["store", "restore", "during.jsonl"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("stop it first"), "{}", stderr(&o));
    let o = haetae(dir, &["scope", "check", "--resolve", "www.agency.test"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("audit log"), "{}", stderr(&o));

    // Stopped, the daemon removes its socket and token; the two refusals are
    // in the audit chain, which verifies.
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!socket.exists() && !token_file.exists());
    let audit = std::fs::read_to_string(store.join("audit.jsonl")).unwrap();
    let refused: Vec<&str> = audit.lines().filter(|l| l.contains("\"protocol\":\"api\"")).collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(refused.iter().all(|l| l.contains("\"outcome\":\"401\"") && l.contains("\"verdict\":\"refused\"")));
    let o = haetae(dir, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // Without a daemon the CLI opens the store itself again.
    let o = haetae(dir, &["findings", "--json", "--state", "confirmed"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(&id));
}

#[test]
fn a_plain_scan_serves_the_api_while_it_runs() {
    // A workspace whose scan lasts: ports that accept and never answer.
    let (dir, _accepted) = crate::stop::silent_workspace();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(dir.path())
        .arg("scan")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let socket = dir.path().join(".haetae/api.sock");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while UnixStream::connect(&socket).is_err() {
        assert!(std::time::Instant::now() < deadline, "the scan never served its API");
        std::thread::yield_now();
    }
    // Another terminal: the listing works during the scan.
    let o = haetae(dir.path(), &["findings", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&o)).is_ok(), "{}", stdout(&o));
    // A second scan is refused with a reason, not a lock error.
    let o = haetae(dir.path(), &["scan"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("held by a running `haetae scan`"), "{}", stderr(&o));
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_ne!(status.code(), Some(0), "an interrupted scan says so");
    assert!(!socket.exists(), "the socket is removed when the scan ends");
}
