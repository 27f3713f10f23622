//! `http.trace-enabled` and `http.security-txt-missing` against real web
//! servers started in a temp dir on loopback: nginx (TRACE refused with 405;
//! security.txt served or not) and Apache httpd (`TraceEnable On`, its
//! default, echoes TRACE; `TraceEnable off` refuses it). Each test skips
//! loudly where the server is not installed (`.ci/run` installs both).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use haetae_findings::CheckId;
use haetae_scanner::engine::{Profile, ScanRequest};
use haetae_scanner::scope::Scope;

use crate::support::{Run, now, scan};

const NGINX_ADDR: &str = "127.77.11.40";
const APACHE_ADDR: &str = "127.77.11.30";

fn installed(bin: &str) -> bool {
    Command::new(bin).arg("-v").output().is_ok_and(|o| o.status.success())
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

/// A server process, stopped with SIGTERM (so its workers go too) on drop.
struct Running {
    pid: u32,
    child: Option<Child>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        if let Some(c) = &mut self.child {
            let _ = c.wait();
        }
    }
}

/// nginx as a daemon: the command returns once its sockets are bound.
fn nginx(dir: &Path, port: u16) -> Running {
    let conf = format!(
        "user root;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  types {{ text/plain txt; text/html html; }}\n  default_type application/octet-stream;\n\
           server {{ listen {NGINX_ADDR}:{port}; server_name _; root {d}/www; }}\n}}\n",
        d = dir.display()
    );
    std::fs::create_dir_all(dir.join("www/.well-known")).unwrap();
    std::fs::write(dir.join("www/index.html"), "<html><title>nginx</title></html>").unwrap();
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let ok = Command::new("nginx").arg("-p").arg(dir).arg("-c").arg(dir.join("nginx.conf")).status().unwrap();
    assert!(ok.success(), "nginx starts: {}", std::fs::read_to_string(dir.join("error.log")).unwrap_or_default());
    let pid = std::fs::read_to_string(dir.join("nginx.pid")).unwrap().trim().parse().unwrap();
    Running { pid, child: None }
}

/// Apache httpd in the foreground; returns once it logs that it is serving.
fn apache(dir: &Path, port: u16, trace: &str) -> Running {
    let conf = format!(
        "ServerRoot {d}\nDefaultRuntimeDir {d}\nPidFile {d}/apache.pid\n\
         LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n\
         LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
         User www-data\nGroup www-data\nServerName apache.test\nListen {APACHE_ADDR}:{port}\n\
         ErrorLog /dev/stderr\nLogLevel notice\nDocumentRoot {d}\nTraceEnable {trace}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("apache.conf"), conf).unwrap();
    let mut child = Command::new("apache2")
        .arg("-f")
        .arg(dir.join("apache.conf"))
        .args(["-D", "FOREGROUND"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.contains("resuming normal operations");
        said.push(line);
        if ready {
            break;
        }
    }
    assert!(said.iter().any(|l| l.contains("resuming normal operations")), "apache starts: {said:#?}");
    std::thread::spawn(move || for _ in lines {});
    Running { pid: child.id(), child: Some(child) }
}

fn scope(ip: &str, port: u16) -> Scope {
    let text = format!(
        "[engagement]\nid = \"KR-REAL\"\ncontact = \"team@agency.test\"\nnot_before = 2000-01-01T00:00:00Z\n\
         not_after = 2999-01-01T00:00:00Z\n[scope]\ndomains = [\"agency.test\"]\ncidrs = [\"{ip}/32\"]\nports = [{port}]\n\
         [limits]\nmax_rps = 1000\nper_host_rps = 1000\ntimeout_ms = 3000\n"
    );
    Scope::parse(Path::new("scope.toml"), &text).unwrap()
}

async fn scan_targets(ip: &str, port: u16, targets: &[&str]) -> Run {
    let dns = crate::web_policy::apex_dns(ip.parse().unwrap(), &[]).await;
    let req = ScanRequest {
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        profile: Profile::Standard,
        ..ScanRequest::default()
    };
    scan(scope(ip, port), vec![dns.addr], now(), req).await
}

fn has(run: &Run, check: &CheckId) -> bool {
    run.found.iter().any(|o| o.check == *check)
}

fn covers(run: &Run, check: &CheckId) -> bool {
    run.covered.iter().any(|c| c.check == *check)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_refuses_trace_and_its_security_txt_is_read() {
    if !installed("nginx") {
        eprintln!("SKIPPED: nginx is not installed (.ci/run installs it with apt-get)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(NGINX_ADDR);
    let _nginx = nginx(dir.path(), port);
    // Without a security.txt: TRACE answered 405 (no finding), the file missing (404).
    let run = scan_targets(NGINX_ADDR, port, &["agency.test"]).await;
    assert!(!has(&run, &CheckId::HttpTraceEnabled), "{:#?}", run.found);
    assert!(covers(&run, &CheckId::HttpTraceEnabled), "nginx's 405 is a definite answer");
    let missing = run.found.iter().find(|o| o.check == CheckId::HttpSecurityTxtMissing).expect("missing file found");
    assert!(missing.evidence.contains("HTTP 404"), "{}", missing.evidence);
    // With a valid file (nginx serves .txt as text/plain): nothing, and covered.
    let txt = "Contact: mailto:security@agency.test\nExpires: 2999-01-01T00:00:00Z\n";
    std::fs::write(dir.path().join("www/.well-known/security.txt"), txt).unwrap();
    let run = scan_targets(NGINX_ADDR, port, &["agency.test"]).await;
    assert!(!has(&run, &CheckId::HttpSecurityTxtMissing), "{:#?}", run.found);
    assert!(covers(&run, &CheckId::HttpSecurityTxtMissing));
    assert!(!run.failed.iter().any(|u| u.checks.contains("http.")), "{:?}", run.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_echoes_trace_by_default_and_not_with_trace_enable_off() {
    if !installed("apache2") {
        eprintln!("SKIPPED: apache2 is not installed (.ci/run installs it with apt-get)");
        return;
    }
    for (setting, echoes) in [("On", true), ("off", false)] {
        let dir = tempfile::tempdir().unwrap();
        // Apache's workers run as www-data: they must reach the document root.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let port = free_port(APACHE_ADDR);
        let _apache = apache(dir.path(), port, setting);
        let run = scan_targets(APACHE_ADDR, port, &[APACHE_ADDR]).await;
        assert_eq!(has(&run, &CheckId::HttpTraceEnabled), echoes, "TraceEnable {setting}: {:#?}", run.found);
        assert!(covers(&run, &CheckId::HttpTraceEnabled), "TraceEnable {setting}: {:?}", run.failed);
        if echoes {
            let o = run.found.iter().find(|o| o.check == CheckId::HttpTraceEnabled).unwrap();
            assert!(o.evidence.contains("message/http"), "{}", o.evidence);
        }
    }
}
