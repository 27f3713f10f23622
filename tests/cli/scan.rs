//! `haetae scan`, `scope check`, `audit verify` and `demo` against the lab.

use std::path::Path;

use haetae_lab::{Lab, PLANTED};

use crate::support::{code, haetae, stderr, stdout};

/// One lab at a time in this test binary, counting the labs of `haetae demo`
/// children: labs in different processes cannot see each other's port
/// claims, and a scan of one lab's ports on the shared lab addresses would
/// reach the other lab's services.
static ONE_LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn one_lab() -> std::sync::MutexGuard<'static, ()> {
    ONE_LAB.lock().unwrap_or_else(|p| p.into_inner())
}

/// A workspace for the lab in a temp dir; the lab runs on a runtime owned by the test.
pub(crate) struct LabWorkspace {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) lab: Lab,
    rt: tokio::runtime::Runtime,
    /// Dropped last, after the lab.
    _one: std::sync::MutexGuard<'static, ()>,
}

pub(crate) fn lab_workspace() -> LabWorkspace {
    let one = one_lab();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lab = rt.block_on(Lab::start()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scope.toml"), lab.scope_toml()).unwrap();
    std::fs::write(dir.path().join("haetae.toml"), lab.haetae_toml()).unwrap();
    std::fs::write(dir.path().join(haetae_lab::CA_FILE), lab.ca_pem()).unwrap();
    LabWorkspace { dir, lab, rt, _one: one }
}

impl LabWorkspace {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LabWorkspace {
    fn drop(&mut self) {
        assert_eq!(self.lab.out_of_scope_connections(), 0, "out-of-scope listener was contacted");
        assert_eq!(self.lab.excluded_connections(), 0, "excluded host was contacted");
        let _ = &self.rt;
    }
}

#[test]
fn scan_commits_findings_and_a_verifiable_audit_log() {
    let w = lab_workspace();
    let o = haetae(w.path(), &["scan"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("{} new", PLANTED.len())), "{out}");
    assert!(out.contains("complete"), "{out}");

    let o = haetae(w.path(), &["findings", "--json", "--state", "all"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let found: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["check"].as_str().unwrap().to_owned(), f["host"].as_str().unwrap().to_owned()))
        .collect();
    for p in PLANTED {
        assert!(
            found.contains(&(p.check.to_owned(), p.host.to_owned())),
            "{} {} missing from {found:?}",
            p.check,
            p.host
        );
    }
    assert!(!found.iter().any(|(_, h)| h.ends_with("hardened.test")));

    // A second scan sees the same weaknesses again: nothing new, nothing fixed.
    let o = haetae(w.path(), &["scan"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("0 new, {} still open, 0 fixed, 0 reopened", PLANTED.len())),
        "{}",
        stdout(&o)
    );

    let o = haetae(w.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("hash chain intact"));

    // Edit one record: verify names it and fails.
    let log = w.path().join(".haetae/audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let tampered = text.replacen("\"outcome\":\"connected\"", "\"outcome\":\"timeout\"", 1);
    assert_ne!(text, tampered);
    std::fs::write(&log, tampered).unwrap();
    let o = haetae(w.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("line"), "{}", stderr(&o));
}

#[test]
fn fail_on_exits_4_and_out_of_scope_targets_exit_3() {
    let w = lab_workspace();
    let o = haetae(w.path(), &["scan", "--fail-on", "P4", "agency.test"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let o = haetae(w.path(), &["scan", "payments.agency.test"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("payments.agency.test"), "{}", stderr(&o));
    let o = haetae(w.path(), &["scan", "example.org"]);
    assert_eq!(code(&o), 3);
}

#[test]
fn scope_check_says_why() {
    let w = lab_workspace();
    let o = haetae(w.path(), &["scope", "check", "www.agency.test", "https://agency.test/logout", "127.99.0.1"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("IN   www.agency.test"), "{out}");
    assert!(out.contains("OUT  https://agency.test/logout"), "{out}");
    assert!(out.contains("OUT  127.99.0.1"), "{out}");
    let o = haetae(w.path(), &["scope", "check", "www.agency.test", "--json"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["targets"][0]["in_scope"], true);
}

#[test]
fn scope_check_resolve_explains_cname_chains() {
    let w = lab_workspace();
    let o = haetae(w.path(), &["scope", "check", "--resolve", "docs.agency.test", "www.agency.test"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "IN   docs.agency.test (name): in scope via CNAME agency-docs.unknown-cloud.test → 127.77.3.20 \
             (127.77.3.20 is in cidrs 127.77.0.0/20); probed as docs.agency.test (Host and SNI), never under a \
             chain name (agency-docs.unknown-cloud.test is outside domains)"
        ),
        "{out}"
    );
    assert!(out.contains("IN   www.agency.test (name): in scope via 127.77.1.20 (127.77.1.20 is in cidrs"), "{out}");
    // A chain to an out-of-scope address: out, with the reason; no packet (the lab counts).
    let o = haetae(w.path(), &["scope", "check", "--resolve", "cdn.agency.test", "--json"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["targets"][0]["in_scope"], false);
    let why = v["targets"][0]["reason"].as_str().unwrap();
    assert!(why.contains("resolves via CNAME edge.othercorp.test → 127.99.0.2; not probed"), "{why}");
    assert!(why.contains("127.99.0.2 is outside cidrs 127.77.0.0/20"), "{why}");
    // The queries were audited.
    let o = haetae(w.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn a_scan_outside_the_window_is_refused_with_exit_3() {
    let w = lab_workspace();
    let scope = std::fs::read_to_string(w.path().join("scope.toml")).unwrap();
    let mut lines: Vec<String> = scope.lines().map(str::to_owned).collect();
    for l in &mut lines {
        if l.starts_with("not_before") {
            *l = "not_before = 2020-01-01T00:00:00Z".into();
        }
        if l.starts_with("not_after") {
            *l = "not_after = 2020-12-31T00:00:00Z".into();
        }
    }
    std::fs::write(w.path().join("scope.toml"), lines.join("\n")).unwrap();
    let o = haetae(w.path(), &["scan"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("window"), "{}", stderr(&o));
    assert_eq!(w.lab.dns_queries(), 0);
}

#[test]
fn demo_scans_the_lab_and_keeps_the_workspace() {
    let _one = one_lab();
    let d = tempfile::tempdir().unwrap();
    let o = haetae(d.path(), &["demo", "--keep", "ws"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("0 connection(s) to out-of-scope addresses, 0 to excluded hosts"), "{out}");
    assert!(out.contains(&format!("{} new", PLANTED.len())), "{out}");
    let o = haetae(&d.path().join("ws"), &["findings"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("svc.ssh-exposed"));
}

#[test]
fn ctrl_c_commits_what_was_found_and_resume_finishes_the_scan() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let w = lab_workspace();
    // A slow scan (40 requests/s) so the interrupt lands mid-way.
    let scope = std::fs::read_to_string(w.path().join("scope.toml")).unwrap();
    std::fs::write(
        w.path().join("scope.toml"),
        scope.replace("max_rps = 2000", "max_rps = 40").replace("per_host_rps = 500", "per_host_rps = 40"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(w.path())
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
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(1), "{rest}");
    assert!(rest.contains("interrupted") && rest.contains("--resume"), "{rest}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("incomplete (nothing was closed)"));

    let o = haetae(w.path(), &["scan", "--resume"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("scan 1 resumed"), "{}", stderr(&o));
    assert!(stdout(&o).contains("scan 1 complete"), "{}", stdout(&o));
    let o = haetae(w.path(), &["findings", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), PLANTED.len());
    let o = haetae(w.path(), &["scan", "--resume"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nothing to resume"), "{}", stderr(&o));
    let o = haetae(w.path(), &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn a_partial_scan_runs_reports_and_closes_only_its_checks() {
    let w = lab_workspace();
    let o = haetae(w.path(), &["scan"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("{} new", PLANTED.len())), "{}", stdout(&o));
    // Only the TLS checks run: they see their findings again and close nothing
    // of the checks that did not run.
    let o = haetae(w.path(), &["scan", "--checks", "tls.*", "--skip-checks", "tls.weak-dh"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("0 new") && out.contains(" 0 fixed"), "{out}");
    let seen: Vec<&str> = out.lines().filter(|l| l.contains("  P")).collect();
    assert!(!seen.is_empty() && seen.iter().all(|l| l.contains(" tls.") && !l.contains("tls.weak-dh")), "{out}");
    let o = haetae(w.path(), &["findings", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), PLANTED.len(), "nothing was closed");
    // A glob that selects nothing is a usage error, before any packet.
    let o = haetae(w.path(), &["scan", "--checks", "tsl.*"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("`tsl.*` matches no check"), "{}", stderr(&o));
}
