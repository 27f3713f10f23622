//! probe() against loopback servers: canned ones, and OpenSSL's s_server when installed.

use super::*;

// ---------------------------------------------------------------------------
// probe() against loopback servers

/// A one-connection server on 127.0.0.1 that reads the ClientHello record,
/// writes `reply`, then closes (`close`) or waits for the client to go.
/// The task returns the ClientHello it read.
async fn canned_server(reply: Vec<u8>, close: bool) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut header = [0u8; 5];
        sock.read_exact(&mut header).await.unwrap();
        let mut hello = header.to_vec();
        hello.resize(5 + usize::from(u16::from_be_bytes([header[3], header[4]])), 0);
        sock.read_exact(&mut hello[5..]).await.unwrap();
        sock.write_all(&reply).await.unwrap();
        if !close {
            let mut sink = Vec::new();
            let _ = sock.read_to_end(&mut sink).await;
        }
        hello
    });
    (addr, task)
}

async fn probe_canned(reply: Vec<u8>, close: bool, timeout: Duration) -> Reply {
    let (addr, server) = canned_server(reply, close).await;
    let hello = client_hello(Version::Tls12, &broad_suites(), Some("localhost"));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let answer = probe(&mut stream, &hello, timeout).await;
    drop(stream);
    assert_eq!(server.await.unwrap(), hello, "the server read the hello as written");
    answer
}

const PROBE_WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn probe_reads_a_canned_flight() {
    let reply = in_records(&rsa_stream(), 7);
    assert_eq!(probe_canned(reply, false, PROBE_WAIT).await, Reply::Hello(rsa_hello()));
}

#[tokio::test]
async fn probe_reads_an_alert() {
    let reply = record(21, &[2, 40]);
    assert_eq!(probe_canned(reply, false, PROBE_WAIT).await, Reply::Alert { level: 2, description: 40 });
}

#[tokio::test]
async fn probe_sees_a_close() {
    assert_eq!(probe_canned(Vec::new(), true, PROBE_WAIT).await, Reply::Closed);
}

#[tokio::test]
async fn probe_keeps_a_hello_when_the_server_closes_after_it() {
    let reply = record(22, &[server_hello_msg(0x0302, 0x0035), certificate_msg(&[CERT_A])].concat());
    let expected = ServerHello { version: 0x0302, cipher: 0x0035, dh_bits: None, certificates: vec![CERT_A.to_vec()] };
    assert_eq!(probe_canned(reply, true, PROBE_WAIT).await, Reply::Hello(expected));
}

#[tokio::test]
async fn probe_reports_garbage() {
    let reply = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec();
    assert!(matches!(probe_canned(reply, false, PROBE_WAIT).await, Reply::NotTls(_)));
}

#[tokio::test]
async fn probe_times_out_on_a_silent_server() {
    let started = std::time::Instant::now();
    assert_eq!(probe_canned(Vec::new(), false, Duration::from_millis(200)).await, Reply::Timeout);
    assert!(started.elapsed() < PROBE_WAIT);
}

// ---------------------------------------------------------------------------
// probe() against OpenSSL's s_server, when installed

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this OpenSSL build has the cipher (some ship without 3DES).
fn openssl_has_cipher(cipher: &str) -> bool {
    Command::new("openssl")
        .args(["ciphers", &format!("{cipher}:@SECLEVEL=0")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `openssl s_server` on a free loopback port with a throwaway RSA-2048
/// certificate; killed on drop.
struct SServer {
    child: Child,
    port: u16,
    cert_der: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl SServer {
    fn start(args: &[&str]) -> SServer {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("k"), dir.path().join("c"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "2"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "openssl req failed");
        let der = Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert).output().unwrap();
        assert!(der.status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
            .args(args)
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Ready when it says ACCEPT (it prints nothing under -quiet, hence no -quiet).
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let ready = loop {
            line.clear();
            match out.read_line(&mut line) {
                Ok(0) | Err(_) => break false,
                Ok(_) if line.contains("ACCEPT") => break true,
                Ok(_) => {}
            }
        };
        if !ready {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            let _ = child.kill();
            let _ = child.wait();
            panic!("s_server {args:?} did not start: {err}");
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        SServer { child, port, cert_der: der.stdout, _dir: dir }
    }

    async fn probe(&self, version: Version, suites: &[u16]) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        probe(&mut stream, &client_hello(version, suites, Some("localhost")), PROBE_WAIT).await
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn openssl_tls10_server() {
    if !openssl_available() {
        println!("openssl not on PATH: skipped");
        return;
    }
    let server = SServer::start(&["-tls1", "-cipher", "ALL:@SECLEVEL=0"]);
    let Reply::Hello(hello) = server.probe(Version::Tls10, &broad_suites()).await else {
        panic!("no ServerHello from a TLS 1.0 server");
    };
    println!("TLS 1.0 server picked {:#06x} {:?}", hello.cipher, suite(hello.cipher).map(|s| s.name));
    assert_eq!(hello.version, 0x0301);
    assert!(broad_suites().contains(&hello.cipher), "{:#06x}", hello.cipher);
    assert_eq!(hello.certificates, vec![server.cert_der.clone()]);
    // TLS 1.2 offered: the server settles on TLS 1.0.
    let Reply::Hello(hello) = server.probe(Version::Tls12, &broad_suites()).await else { panic!() };
    assert_eq!(hello.version, 0x0301);
    // SSLv3 offered: refused with protocol_version, or by closing the connection.
    let reply = server.probe(Version::Ssl3, &broad_suites()).await;
    println!("SSLv3 hello to a TLS 1.0 server: {reply:?}");
    assert!(matches!(reply, Reply::Alert { description: 70 | 40, .. } | Reply::Closed), "{reply:?}");
}

#[tokio::test]
async fn openssl_weak_suite_server() {
    if !openssl_available() {
        println!("openssl not on PATH: skipped");
        return;
    }
    // 3DES when this OpenSSL has it; otherwise static RSA AES-128-CBC, also a weak suite.
    let (cipher, id) = if openssl_has_cipher("DES-CBC3-SHA") {
        ("DES-CBC3-SHA", 0x000A)
    } else {
        println!("this openssl has no DES-CBC3-SHA: using AES128-SHA");
        ("AES128-SHA", 0x002F)
    };
    let server = SServer::start(&["-tls1_2", "-cipher", &format!("{cipher}:@SECLEVEL=0")]);
    let Reply::Hello(hello) = server.probe(Version::Tls12, &weak_suites()).await else {
        panic!("no ServerHello for a weak suite");
    };
    assert_eq!((hello.version, hello.cipher), (0x0303, id));
    assert_eq!(hello.dh_bits, None);
    // Only modern suites offered: refused.
    let reply = server.probe(Version::Tls12, &[0xC02F, 0xC030, 0xCCA8]).await;
    assert_eq!(reply, Reply::Alert { level: 2, description: 40 });
}

#[tokio::test]
async fn openssl_dhe_group_size() {
    if !openssl_available() {
        println!("openssl not on PATH: skipped");
        return;
    }
    let server = SServer::start(&["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"]);
    let Reply::Hello(hello) = server.probe(Version::Tls12, &dhe_suites()).await else {
        panic!("no ServerHello for DHE");
    };
    assert_eq!(hello.cipher, 0x009E);
    // OpenSSL's automatic DH group matches the RSA-2048 key: ffdhe2048.
    assert_eq!(hello.dh_bits, Some(2048));
}
