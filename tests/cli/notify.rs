//! `haetae notify status` and `haetae notify test`, against listeners on loopback.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::thread::JoinHandle;

use haetae_findings::Timestamp;

use crate::support::{code, haetae, open, stderr, stdout};

/// A listener answering one request with `status`; returns the raw request.
fn serve_once(status: u16) -> (String, JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(i) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if got.len() >= i + 4 + len {
                    break;
                }
            }
        }
        write!(s, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
        String::from_utf8(got).unwrap()
    });
    (url, h)
}

fn workspace(notify: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("hook.secret"), "team-secret\n").unwrap();
    std::fs::write(d.path().join("haetae.toml"), format!("[notify]\n{notify}")).unwrap();
    d
}

fn queue_three(dir: &Path) {
    let s = open(dir);
    let failed = s.outbox_enqueue("webhook", "http://127.0.0.1:9/…", "{}").unwrap();
    let delivered = s.outbox_enqueue("slack", "http://127.0.0.1:9/…", "{}").unwrap();
    s.outbox_enqueue("webhook", "http://127.0.0.1:9/…", "{}").unwrap();
    let now = Timestamp::now();
    s.outbox_record(failed, Err("HTTP 500".into()), now, Timestamp::from_unix(now.unix() + 30)).unwrap();
    s.outbox_record(delivered, Ok(()), now, now).unwrap();
}

#[test]
fn status_lists_queued_failed_and_delivered_messages() {
    let w = workspace("webhook = \"http://127.0.0.1:9/hook\"\nwebhook_secret_file = \"hook.secret\"\n");
    queue_three(w.path());
    let o = haetae(w.path(), &["notify", "status", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["counts"], serde_json::json!({"queued": 1, "failed": 1, "delivered": 1}));
    let m = v["messages"].as_array().unwrap();
    let states: Vec<&str> = m.iter().map(|m| m["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failed", "queued", "delivered"], "undelivered first");
    assert_eq!((m[0]["attempts"].as_u64(), m[0]["last_error"].as_str()), (Some(1), Some("HTTP 500")));
    assert!(m[0]["next_attempt"].is_string() && m[2]["next_attempt"].is_null() && m[2]["delivered"].is_string());
    let o = haetae(w.path(), &["notify", "status"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ID") && out.contains("HTTP 500"), "{out}");
    assert!(out.contains("1 queued, 1 failed (retried with backoff), 1 delivered recently"), "{out}");
    // A workspace never scanned: nothing queued, and no store is created.
    let empty = workspace("");
    let o = haetae(empty.path(), &["notify", "status"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("0 queued, 0 failed") && stdout(&o).contains("no channel is configured"));
    assert!(!empty.path().join(".haetae").exists());
}

#[test]
fn test_sends_to_every_channel_and_exits_1_when_one_fails() {
    let (hook, got_hook) = serve_once(204);
    let (slack, got_slack) = serve_once(500);
    let w = workspace(&format!("webhook = \"{hook}\"\nwebhook_secret_file = \"hook.secret\"\nslack = \"{slack}\"\n"));
    let o = haetae(w.path(), &["notify", "test"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("webhook") && out.contains("delivered (HTTP 204)"), "{out}");
    assert!(out.contains("slack") && out.contains("FAILED: HTTP 500"), "{out}");
    assert!(stderr(&o).contains("1 of 2 channel(s) failed the test"), "{}", stderr(&o));
    // The webhook got a signed test message.
    let raw = got_hook.join().unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let sig = head.lines().find_map(|l| l.strip_prefix("x-haetae-signature: ")).unwrap();
    assert_eq!(sig, haetae_notify::signature_header(b"team-secret", body.as_bytes()));
    assert!(body.contains("\"run\":\"test\""), "{body}");
    assert!(got_slack.join().unwrap().contains("haetae test message"));
    // Each attempt is audited; the chain verifies.
    let o = haetae(w.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let log = std::fs::read_to_string(w.path().join(".haetae/audit.jsonl")).unwrap();
    assert!(log.contains("notify.webhook test message") && log.contains("failed: HTTP 500"), "{log}");
    // Nothing was queued by a test.
    assert!(open(w.path()).outbox().unwrap().is_empty());

    let (hook, _got) = serve_once(200);
    let w = workspace(&format!("webhook = \"{hook}\"\nwebhook_secret_file = \"hook.secret\"\n"));
    let o = haetae(w.path(), &["notify", "test"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    let none = workspace("");
    let o = haetae(none.path(), &["notify", "test"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("no channel is configured in [notify]"), "{}", stderr(&o));
}

#[test]
fn a_bad_notify_table_is_refused_with_its_place() {
    let w = workspace("webhook = \"http://127.0.0.1:9/hook\"\n");
    let o = haetae(w.path(), &["notify", "status"]);
    assert_eq!(code(&o), 1);
    let e = stderr(&o);
    assert!(e.contains("haetae.toml:2:11") && e.contains("webhook_secret_file or webhook_secret_env"), "{e}");
}

/// A listener answering every request with 204; each request goes to the channel.
fn serve_all() -> (String, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            let done = loop {
                let Ok(n) = s.read(&mut buf) else { break None };
                if n == 0 {
                    break None;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if got.len() >= i + 4 + len {
                        break Some(text);
                    }
                }
            };
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if let Some(t) = done
                && tx.send(t).is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

fn verify_signed(raw: &str) -> serde_json::Value {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let sig = head.lines().find_map(|l| l.strip_prefix("x-haetae-signature: ")).unwrap();
    assert_eq!(sig, haetae_notify::signature_header(b"team-secret", body.as_bytes()));
    serde_json::from_str(body).unwrap()
}

fn add_notify(dir: &Path, notify: &str) {
    std::fs::write(dir.join("hook.secret"), "team-secret\n").unwrap();
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    std::fs::write(dir.join("haetae.toml"), format!("{toml}\n[notify]\n{notify}")).unwrap();
}

const EVERY_NEW: &str = "on = [\"new:P1\", \"new:P2\", \"new:P3\", \"new:P4\", \"scan-failed\"]\n";

#[test]
fn a_scan_of_the_lab_sends_its_digest_and_leaves_a_failed_channel_queued() {
    let w = crate::scan::lab_workspace();
    let dir = w.dir.path();
    let (hook, rx) = serve_all();
    // Slack at a port nobody listens on: refused, stays queued.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    add_notify(
        dir,
        &format!(
            "{EVERY_NEW}webhook = \"{hook}\"\nwebhook_secret_file = \"hook.secret\"\nslack = \"http://{closed}/x\"\n"
        ),
    );
    let o = haetae(dir, &["scan"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("notifications: webhook to http://127.0.0.1:") && err.contains("delivered (HTTP 204)"),
        "{err}"
    );
    assert!(err.contains("notifications: slack to") && err.contains("stays queued"), "{err}");
    let digest = verify_signed(&rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap());
    let store = open(dir);
    let new = store
        .list(&haetae_findings::Selection::All)
        .unwrap()
        .findings
        .iter()
        .filter(|f| f.baseline == haetae_findings::Baseline::New && !f.suppressed)
        .count();
    assert!(new > 0);
    assert_eq!(digest["new_findings"].as_u64(), Some(new as u64), "{digest}");
    assert_eq!(digest["run"], "1");
    assert_eq!(store.outbox_counts().unwrap(), haetae_findings::OutboxCounts { queued: 0, failed: 1, delivered: 1 });
    drop(store);
    // The notification attempts joined the scan's audit chain, which verifies.
    let o = haetae(dir, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let log = std::fs::read_to_string(dir.join(".haetae/audit.jsonl")).unwrap();
    assert!(log.contains("notify.webhook message") && log.contains("notify.slack message"), "audit lacks the attempts");
}

#[test]
fn the_daemon_delivers_each_runs_digest() {
    let w = crate::scan::lab_workspace();
    let dir = w.dir.path();
    let (hook, rx) = serve_all();
    add_notify(dir, &format!("{EVERY_NEW}webhook = \"{hook}\"\nwebhook_secret_file = \"hook.secret\"\n"));
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    std::fs::write(dir.join("haetae.toml"), format!("{toml}\n[[schedule]]\nname = \"lab\"\nevery = \"6h\"\n")).unwrap();
    let (child, lines) = crate::daemon::spawn_daemon(dir);
    let got = rx.recv_timeout(std::time::Duration::from_secs(180));
    let id = child.id().to_string();
    let kill = || assert!(std::process::Command::new("kill").args(["-TERM", &id]).status().unwrap().success());
    let Ok(got) = got else {
        kill();
        panic!("no digest: {:#?}", crate::daemon::wait_for(&lines, "daemon stopped"));
    };
    let digest = verify_signed(&got);
    assert!(digest["new_findings"].as_u64().is_some_and(|n| n > 0), "{digest}");
    crate::daemon::wait_for(&lines, "notification delivered");
    // While the daemon holds the store, `notify status` asks its API.
    let o = haetae(dir, &["notify", "status", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["counts"]["delivered"], 1, "{v}");
    // `notify test` too: the daemon sends it and audits it.
    let o = haetae(dir, &["notify", "test"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("delivered"), "{}", stdout(&o));
    let test = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the test message");
    let body = verify_signed(&test);
    assert!(body.to_string().contains("test"), "{body}");
    kill();
    crate::daemon::wait_for(&lines, "daemon stopped");
    let mut child = child;
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let o = haetae(dir, &["notify", "status", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["counts"]["delivered"], 1, "{v}");
}
