//! E-mail received by a real SMTP server on loopback: Debian's
//! `python3-aiosmtpd` (installed by .ci/run), started by each test on a free
//! port with a Maildir, waited on for readiness by connecting. Plain SMTP,
//! then STARTTLS offered by the server: used, with the server's certificate
//! verified (refused when untrusted).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haetae_notify::Email;
use haetae_notify::mail::send;

/// The Debian python with aiosmtpd, or `None` (the test then skips, loudly).
fn python() -> Option<PathBuf> {
    ["/usr/bin/python3", "python3"].iter().map(PathBuf::from).find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A running aiosmtpd, killed on drop.
struct Server {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, tls: Option<(&Path, &Path)>) -> Option<Server> {
    let Some(py) = python() else {
        eprintln!(
            "SKIPPED: python3 with aiosmtpd is missing (apt-get install python3-aiosmtpd); e-mail delivery not tested"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let maildir = dir.join("mail");
    let mut cmd = Command::new(py);
    cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"]);
    if let Some((cert, key)) = tls {
        cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key).arg("--no-requiretls");
    }
    cmd.arg(&maildir).stdout(Stdio::null()).stderr(Stdio::null());
    let server = Server { child: cmd.spawn().unwrap(), port, maildir };
    // Ready when it accepts a connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {port} within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

fn received(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else { return Vec::new() };
    entries.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect()
}

fn email(host: &str, port: u16) -> Email {
    Email {
        smtp: format!("smtp://{host}:{port}"),
        from: "haetae@agency.test".into(),
        to: vec!["soc@agency.test".into(), "cert@agency.test".into()],
    }
}

#[tokio::test]
async fn mail_is_received_by_a_real_smtp_server() {
    let d = tempfile::tempdir().unwrap();
    let Some(server) = start(d.path(), None) else { return };
    let r = send(
        &email("127.0.0.1", server.port),
        "haetae run 7: 1 new",
        "new P1 svc.redis-noauth",
        &[],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(r, Ok("SMTP 250".to_owned()));
    let mails = received(&server.maildir);
    assert_eq!(mails.len(), 1, "one message in the Maildir");
    let m = &mails[0];
    assert!(m.contains("Subject: haetae run 7: 1 new"), "{m}");
    assert!(m.contains("From: haetae@agency.test") && m.contains("soc@agency.test, cert@agency.test"), "{m}");
    assert!(m.contains("new P1 svc.redis-noauth"), "{m}");
}

#[tokio::test]
async fn starttls_is_used_when_offered_and_the_certificate_is_verified() {
    let d = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    // The address itself, not `localhost`: the test must not depend on
    // which of ::1 and 127.0.0.1 the name resolves to first.
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&key).unwrap();
    let (cert_file, key_file) = (d.path().join("cert.pem"), d.path().join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let (first, second) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let Some(server) = start(&first, Some((&cert_file, &key_file))) else { return };
    // Untrusted certificate: STARTTLS is attempted and refused, nothing is sent in clear.
    let r = send(&email("127.0.0.1", server.port), "s", "untrusted", &[], Duration::from_secs(15)).await;
    let refused = r.as_ref().is_err_and(|e| e.starts_with("SMTP:") && !e.contains("Connection refused"));
    assert!(refused, "the TLS handshake is what failed: {r:?}");
    assert!(received(&server.maildir).is_empty(), "nothing delivered without TLS");
    // Trusted: delivered over TLS (to a server of its own: the first one
    // saw its handshake cut and need not take another connection).
    let Some(server) = start(&second, Some((&cert_file, &key_file))) else { return };
    let to = email("127.0.0.1", server.port);
    let r = send(&to, "over tls", "secret digest", &[cert.pem().into_bytes()], Duration::from_secs(15)).await;
    assert_eq!(r, Ok("SMTP 250".to_owned()));
    let mails = received(&server.maildir);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("secret digest"));
}

#[tokio::test]
async fn a_closed_port_is_a_failure_within_the_deadline() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = Instant::now();
    let r = send(&email("127.0.0.1", port), "s", "t", &[], Duration::from_secs(5)).await;
    assert!(r.is_err(), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(6));
}
