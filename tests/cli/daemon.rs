//! `haetae daemon` runs the schedules of haetae.toml against the lab and
//! stops cleanly on SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use haetae_lab::PLANTED;

use crate::scan::lab_workspace;
use crate::support::{code, haetae, open, stderr};

#[test]
fn daemon_runs_a_due_schedule_and_stops_on_sigterm_with_exit_0() {
    let w = lab_workspace();
    let dir = w.dir.path();
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    // Never ran, repeats by period: due at once.
    std::fs::write(dir.join("haetae.toml"), format!("{toml}\n[[schedule]]\nname = \"lab\"\nevery = \"6h\"\n")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(dir)
        .args(["daemon", "--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel::<serde_json::Value>();
    let reader = std::thread::spawn(move || {
        let mut raw = Vec::new();
        for line in err.lines().map_while(Result::ok) {
            raw.push(line.clone());
            // Every line is one JSON object.
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let _ = tx.send(v);
        }
        raw
    });
    // Wait for the run to finish, with a deadline (no fixed sleep).
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let mut finished = None;
    let mut seen = Vec::new();
    while finished.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(v) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no finished run within the deadline; log so far: {seen:#?}");
        };
        let msg = v["fields"]["message"].as_str().unwrap_or_default().to_owned();
        if msg.starts_with("scan 1 ") && v["fields"]["complete"].is_boolean() {
            finished = Some(v.clone());
        }
        seen.push(v);
    }
    let done = finished.unwrap();
    assert_eq!(done["fields"]["schedule"], "lab", "{done}");
    assert_eq!(done["fields"]["complete"], true, "{done}");
    assert_eq!(done["fields"]["new"], PLANTED.len(), "{done}");
    assert_eq!(done["level"], "INFO");
    assert!(
        seen.iter().any(|v| v["fields"]["window_closes"].is_string()),
        "the log says when the authorization window closes: {seen:#?}"
    );

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx.recv_timeout(Duration::from_secs(30)).expect("the daemon did not stop on SIGTERM").unwrap();
    let raw = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{raw:#?}");
    assert!(raw.last().is_some_and(|l| l.contains("daemon stopped")), "{raw:#?}");
    assert!(raw.iter().any(|l| l.contains("\"message\":\"next run\"")), "the next run is announced: {raw:#?}");

    // The store is free again and holds the run and what it found.
    let store = open(dir);
    let runs = store.scans().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].schedule.as_deref(), Some("lab"));
    assert!(runs[0].complete);
    let found = store.list(&haetae_findings::Selection::States(haetae_findings::State::ALL.to_vec())).unwrap();
    for p in PLANTED {
        assert!(
            found.findings.iter().any(|f| f.check.as_str() == p.check && f.host == p.host),
            "{} {} not stored",
            p.check,
            p.host
        );
    }
    drop(store);

    // Restarted right away, the schedule is not due again (its last run is
    // in the store): the daemon waits, and stops at once on SIGINT.
    let (o, status) = {
        let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
            .current_dir(dir)
            .arg("daemon")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let id = child.id().to_string();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut lines = String::new();
        let mut line = String::new();
        while err.read_line(&mut line).unwrap() > 0 {
            lines.push_str(&line);
            let scheduled = line.contains("scheduled");
            line.clear();
            if scheduled {
                break;
            }
        }
        assert!(lines.contains("schedule=\"lab\""), "{lines}");
        assert!(!lines.contains("missed") && !lines.contains("running it now"), "{lines}");
        assert!(Command::new("kill").args(["-INT", &id]).status().unwrap().success());
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        (lines + &rest, child.wait().unwrap())
    };
    assert_eq!(status.code(), Some(0), "{o}");
    assert!(o.contains("daemon stopped"), "{o}");
    assert_eq!(open(dir).scans().unwrap().len(), 1, "no second run");
}

#[test]
fn daemon_without_schedules_or_with_a_bad_one_says_so() {
    let d = tempfile::tempdir().unwrap();
    let o = haetae(d.path(), &["daemon"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("no [[schedule]]"), "{}", stderr(&o));
    assert!(!d.path().join(".haetae").exists(), "no store is created for nothing");
    std::fs::write(
        d.path().join("haetae.toml"),
        "[[schedule]]\nname = \"n\"\ncron = \"0 3 * * *\"\ntimezone = \"Asia/Sejong\"\n",
    )
    .unwrap();
    let o = haetae(d.path(), &["daemon"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("haetae.toml:4:12:") && stderr(&o).contains("Asia/Sejong"), "{}", stderr(&o));
    std::fs::write(d.path().join("haetae.toml"), "[[schedule]]\nname = \"n\"\ncron = \"0 3 * *\"\n").unwrap();
    let o = haetae(d.path(), &["daemon"]);
    assert!(stderr(&o).contains("haetae.toml:3:8:") && stderr(&o).contains("cron"), "{}", stderr(&o));
    std::fs::write(d.path().join("haetae.toml"), "[[schedule]]\nname = \"n\"\n").unwrap();
    let o = haetae(d.path(), &["daemon"]);
    assert!(stderr(&o).contains("expected `every"), "{}", stderr(&o));
}

/// Spawn `haetae daemon` in `dir`, its stderr lines sent to the receiver.
pub(crate) fn spawn_daemon(dir: &std::path::Path) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(dir)
        .arg("daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Lines until one contains `what` (deadline 30 s).
pub(crate) fn wait_for(rx: &mpsc::Receiver<String>, what: &str) -> Vec<String> {
    wait_within(rx, what, Duration::from_secs(30))
}

/// Lines until one contains `what` (deadline 180 s: a whole scan of the lab
/// in a debug build on a loaded machine).
pub(crate) fn wait_for_long(rx: &mpsc::Receiver<String>, what: &str) -> Vec<String> {
    wait_within(rx, what, Duration::from_secs(180))
}

pub(crate) fn wait_within(rx: &mpsc::Receiver<String>, what: &str, within: Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + within;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(what);
                lines.push(l);
                if hit {
                    return lines;
                }
            }
            Err(_) => panic!("no line with {what:?} within {} s: {lines:#?}", within.as_secs()),
        }
    }
}

/// Waits for the daemon to exit (deadline 25 s) and returns its exit code.
fn exit_code(mut child: std::process::Child) -> Option<i32> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    rx.recv_timeout(Duration::from_secs(25)).expect("the daemon did not stop within its grace period").unwrap().code()
}

#[test]
fn sigterm_mid_scan_commits_exits_0_and_the_next_start_resumes_the_run() {
    let (dir, accepted) = crate::stop::silent_workspace();
    let toml = std::fs::read_to_string(dir.path().join("haetae.toml")).unwrap();
    std::fs::write(dir.path().join("haetae.toml"), format!("{toml}[[schedule]]\nname = \"silent\"\nevery = \"1h\"\n"))
        .unwrap();
    let (child, lines) = spawn_daemon(dir.path());
    wait_for(&lines, "scan 1 started");
    // The port scan is under way: the silent port holds a connection.
    accepted.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(exit_code(child), Some(0));
    let log: Vec<String> = lines.try_iter().collect();
    assert!(log.iter().any(|l| l.contains("scan 1 stopped; what it found is committed")), "{log:#?}");
    let runs = open(dir.path()).scans().unwrap();
    assert_eq!(runs.len(), 1);
    assert!(!runs[0].complete, "a stopped run closes nothing");
    assert_eq!(runs[0].schedule.as_deref(), Some("silent"));

    // The next start resumes the cut-off run instead of starting another.
    let (child, lines) = spawn_daemon(dir.path());
    let log = wait_for(&lines, "scan 1 started");
    assert!(log.iter().any(|l| l.contains("was cut off; resuming it now")), "{log:#?}");
    assert!(log.last().is_some_and(|l| l.contains("resumed=true")), "{log:#?}");
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(exit_code(child), Some(0));
    assert_eq!(open(dir.path()).scans().unwrap().len(), 1, "no second run");
}

#[test]
fn a_running_scan_stops_when_the_authorization_window_closes_and_the_daemon_stays() {
    let (dir, accepted) = crate::stop::silent_workspace();
    // The window closes four seconds from now.
    let closes = haetae_findings::Timestamp::from_unix(haetae_findings::Timestamp::now().unix() + 4).to_string();
    let scope = std::fs::read_to_string(dir.path().join("scope.toml")).unwrap();
    std::fs::write(dir.path().join("scope.toml"), scope.replace("2999-01-01T00:00:00Z", &closes)).unwrap();
    let toml = std::fs::read_to_string(dir.path().join("haetae.toml")).unwrap();
    std::fs::write(dir.path().join("haetae.toml"), format!("{toml}[[schedule]]\nname = \"w\"\nevery = \"1h\"\n"))
        .unwrap();
    let (child, lines) = spawn_daemon(dir.path());
    let log = wait_for(&lines, "run starting");
    assert!(log.last().is_some_and(|l| l.contains(&format!("window_closes={closes}"))), "{log:#?}");
    accepted.recv_timeout(Duration::from_secs(30)).unwrap();
    // The silent port would hold the scan for minutes; the window ends it.
    let log = wait_for(&lines, "scan 1 stopped");
    assert!(log.iter().any(|l| l.contains("authorization window has closed")), "{log:#?}");
    // The daemon goes on (to its next due time) until it is stopped.
    wait_for(&lines, "next run");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(exit_code(child), Some(0));
    let runs = open(dir.path()).scans().unwrap();
    assert_eq!(runs.len(), 1);
    assert!(!runs[0].complete, "a run cut by the window closes nothing");
}

#[test]
fn after_sigkill_the_next_start_opens_the_store_and_resumes_the_cut_off_run() {
    let (dir, accepted) = crate::stop::silent_workspace();
    let toml = std::fs::read_to_string(dir.path().join("haetae.toml")).unwrap();
    std::fs::write(dir.path().join("haetae.toml"), format!("{toml}[[schedule]]\nname = \"k\"\nevery = \"1h\"\n"))
        .unwrap();
    let (mut child, lines) = spawn_daemon(dir.path());
    wait_for(&lines, "scan 1 started");
    accepted.recv_timeout(Duration::from_secs(30)).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let (child, lines) = spawn_daemon(dir.path());
    let log = wait_for(&lines, "scan 1 started");
    assert!(log.iter().any(|l| l.contains("scan 1 was cut off; resuming it now")), "{log:#?}");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(exit_code(child), Some(0));
    let runs = open(dir.path()).scans().unwrap();
    assert_eq!(runs.len(), 1, "resumed, not doubled: {runs:?}");
    let o = haetae(dir.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn two_due_schedules_run_one_at_a_time_each_with_its_checks() {
    let w = lab_workspace();
    let dir = w.dir.path();
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    std::fs::write(
        dir.join("haetae.toml"),
        format!(
            "{toml}\n[[schedule]]\nname = \"all\"\nevery = \"6h\"\n[[schedule]]\nname = \"tls\"\nevery = \"6h\"\nchecks = [\"tls.*\"]\nprofile = \"standard\"\n"
        ),
    )
    .unwrap();
    let (child, lines) = spawn_daemon(dir);
    let mut log = wait_for(&lines, "next run");
    log.extend(wait_for(&lines, "next run"));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(exit_code(child), Some(0));
    let store = open(dir);
    let runs = store.scans().unwrap();
    assert_eq!(runs.len(), 2, "{log:#?}");
    // One at a time: the second started after the first ended.
    let first_ended = runs[0].ended.unwrap();
    assert!(runs[1].started >= first_ended, "{runs:?}");
    let starts: Vec<usize> = log.iter().enumerate().filter(|(_, l)| l.contains(" started ")).map(|(i, _)| i).collect();
    let ends: Vec<usize> = log.iter().enumerate().filter(|(_, l)| l.contains(" complete ")).map(|(i, _)| i).collect();
    assert_eq!((starts.len(), ends.len()), (2, 2), "{log:#?}");
    assert!(starts[0] < ends[0] && ends[0] < starts[1] && starts[1] < ends[1], "runs overlapped: {log:#?}");
    // Each run kept its schedule and its check selection.
    let tls = runs.iter().find(|r| r.schedule.as_deref() == Some("tls")).unwrap();
    assert_eq!(tls.checks, ["tls.*"]);
    assert!(runs.iter().any(|r| r.schedule.as_deref() == Some("all") && r.checks.is_empty()));
    let all = store.list(&haetae_findings::Selection::States(haetae_findings::State::ALL.to_vec())).unwrap().findings;
    // The tls run saw every TLS finding and nothing else.
    let tls_findings = all.iter().filter(|f| f.check.as_str().starts_with("tls.")).count() as u64;
    assert!(tls_findings > 0);
    assert_eq!(tls.counts.new + tls.counts.seen, tls_findings, "{tls:?}");
    let last_by_tls: Vec<_> = all.iter().filter(|f| f.last_scan == Some(tls.id)).collect();
    assert!(last_by_tls.iter().all(|f| f.check.as_str().starts_with("tls.")), "{last_by_tls:?}");
    for p in PLANTED {
        assert!(all.iter().any(|f| f.check.as_str() == p.check && f.host == p.host), "{} {}", p.check, p.host);
    }
}

#[test]
fn no_run_before_the_window_opens() {
    let (dir, accepted) = crate::stop::silent_workspace();
    let now = haetae_findings::Timestamp::now().unix();
    let opens = haetae_findings::Timestamp::from_unix(now + 3).to_string();
    let scope = std::fs::read_to_string(dir.path().join("scope.toml")).unwrap();
    std::fs::write(dir.path().join("scope.toml"), scope.replace("2000-01-01T00:00:00Z", &opens)).unwrap();
    let toml = std::fs::read_to_string(dir.path().join("haetae.toml")).unwrap();
    std::fs::write(dir.path().join("haetae.toml"), format!("{toml}[[schedule]]\nname = \"early\"\nevery = \"1h\"\n"))
        .unwrap();
    let (child, lines) = spawn_daemon(dir.path());
    let log = wait_for(&lines, "not open yet");
    assert!(log.last().is_some_and(|l| l.contains(&format!("opens={opens}"))), "{log:#?}");
    assert!(accepted.try_recv().is_err(), "a packet before the window opened");
    wait_for(&lines, "scan 1 started");
    assert!(haetae_findings::Timestamp::now().unix() >= now + 3, "ran before the window opened");
    accepted.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(exit_code(child), Some(0));
}
