//! The TLS checks against a real OpenSSL server (`openssl s_server`), not only
//! against our own lab. Runs where openssl is installed (`.ci/run` installs it).

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use haetae_findings::CheckId;
use haetae_scanner::engine::{Profile, ScanRequest};
use haetae_scanner::scope::Scope;
use haetae_scanner::tls::handshake::TlsOptions;

use crate::support::{now, scan};

const ADDR: &str = "127.77.8.10";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
}

/// Start `openssl s_server` with `args`; returns once it prints ACCEPT.
fn s_server(dir: &Path, args: &[&str]) -> (Server, u16) {
    let (key, cert) = (dir.join("k.pem"), dir.join("c.pem"));
    if !cert.exists() {
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=legacy.lab",
                "-days",
                "30",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let port = TcpListener::bind((ADDR, 0)).unwrap().local_addr().unwrap().port();
    let mut child = Command::new("openssl")
        .args(["s_server", "-accept", &format!("{ADDR}:{port}"), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("ACCEPT") {
            break;
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), port)
}

fn scope(port: u16) -> Scope {
    crate::support::net_scope("KR-OPENSSL", "127.77.8.0/24", port)
}

async fn scan_addr(port: u16) -> Vec<(CheckId, String)> {
    let req = ScanRequest {
        targets: vec![ADDR.to_owned()],
        profile: Profile::Standard,
        skip: Default::default(),
        tls: TlsOptions::default(),
        templates: None,
        software: None,
        earlier_addresses: Default::default(),
        checks: Default::default(),
    };
    let ns: IpAddr = "127.0.0.1".parse().unwrap();
    let run = scan(scope(port), vec![(ns, 53).into()], now(), req).await;
    run.found.into_iter().map(|o| (o.check, o.evidence)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_with_tls_1_0_and_3des_is_reported() {
    if !have_openssl() {
        println!("openssl not installed: skipped (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = s_server(dir.path(), &["-tls1", "-cipher", "DES-CBC3-SHA:AES128-SHA:@SECLEVEL=0"]);
    let found = scan_addr(port).await;
    let has = |c: CheckId| found.iter().any(|(k, _)| *k == c);
    assert!(has(CheckId::TlsLegacyProtocol), "{found:#?}");
    let legacy = found.iter().find(|(k, _)| *k == CheckId::TlsLegacyProtocol).unwrap();
    assert!(legacy.1.contains("TLS 1.0 accepted"), "{legacy:?}");
    assert!(has(CheckId::TlsWeakCipher), "{found:#?}");
    assert!(has(CheckId::TlsCertUntrusted), "a self-signed certificate: {found:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_with_modern_settings_has_no_protocol_or_cipher_finding() {
    if !have_openssl() {
        println!("openssl not installed: skipped (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = s_server(
        dir.path(),
        &["-no_tls1", "-no_tls1_1", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"],
    );
    let found = scan_addr(port).await;
    for c in [
        CheckId::TlsLegacyProtocol,
        CheckId::TlsWeakCipher,
        CheckId::TlsWeakDh,
        CheckId::TlsWeakKey,
        CheckId::TlsWeakSignature,
    ] {
        assert!(!found.iter().any(|(k, _)| *k == c), "{c} on a modern OpenSSL: {found:#?}");
    }
}
