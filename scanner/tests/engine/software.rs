//! `software.eol` and `software.known-exploited` through the engine: loopback
//! servers whose banners carry versions, with and without a distribution marker.

use haetae_findings::{CheckId, Confidence};
use haetae_scanner::engine::ScanRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{net_scope, now, scan};

/// A server that sends `greeting` to every connection and closes.
async fn greeter(addr: &str, greeting: &'static [u8]) -> u16 {
    let l = tokio::net::TcpListener::bind((addr, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(greeting).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

/// A web server answering every request with `server` as its Server header.
async fn web(addr: &str, server: &'static str) -> u16 {
    let l = tokio::net::TcpListener::bind((addr, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 404 Not Found\r\nServer: {server}\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_line_behind_a_debian_ssh_banner_is_tentative() {
    let ip = "127.77.9.50";
    let ssh = greeter(ip, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n").await;
    let http = web(ip, "nginx/1.18.0").await;
    let mut scope = net_scope("KR-SOFT", "127.77.9.0/24", ssh);
    scope.ports = vec![ssh, http];
    let req = ScanRequest { targets: vec![ip.into()], ..Default::default() };
    let run = scan(scope, vec!["127.0.0.1:9".parse().unwrap()], now(), req).await;
    assert!(run.outcome.complete, "{:?}", run.outcome);
    let eol: Vec<_> = run.found.iter().filter(|o| o.check == CheckId::SoftwareEol).collect();
    assert_eq!(eol.len(), 1, "{:#?}", run.found);
    assert_eq!(eol[0].asset.port, Some(http));
    assert_eq!(eol[0].confidence, Confidence::Tentative, "nginx's banner is upstream, the address is Debian's");
    for part in ["nginx 1.18.0", "Server header", "release line 1.18", "2021-04-20", "Debian", "built-in"] {
        assert!(eol[0].evidence.contains(part), "{part}: {}", eol[0].evidence);
    }
    assert!(!run.found.iter().any(|o| o.check == CheckId::SoftwareKnownExploited), "{:#?}", run.found);
    // Both endpoints had a version read: both are covered.
    for port in [ssh, http] {
        assert!(run.covered.iter().any(|c| c.check == CheckId::SoftwareEol && c.port == Some(port)), "{port}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_current_version_is_covered_and_silent_and_no_version_covers_nothing() {
    let current = web("127.77.9.51", "nginx/1.30.4").await;
    let bare = web("127.77.9.52", "nginx").await;
    let kev = web("127.77.9.53", "Apache/2.4.49 (Unix)").await;
    for (ip, port, covered) in [("127.77.9.51", current, true), ("127.77.9.52", bare, false)] {
        let scope = net_scope("KR-SOFT", "127.77.9.0/24", port);
        let req = ScanRequest { targets: vec![ip.into()], ..Default::default() };
        let run = scan(scope, vec!["127.0.0.1:9".parse().unwrap()], now(), req).await;
        assert!(run.outcome.complete, "{:?}", run.outcome);
        assert!(!run.found.iter().any(|o| o.check.as_str().starts_with("software.")), "{ip}: {:#?}", run.found);
        let got = run.covered.iter().any(|c| c.check == CheckId::SoftwareEol && c.port == Some(port));
        assert_eq!(got, covered, "{ip}");
    }
    let scope = net_scope("KR-SOFT", "127.77.9.0/24", kev);
    let req = ScanRequest { targets: vec!["127.77.9.53".into()], ..Default::default() };
    let run = scan(scope, vec!["127.0.0.1:9".parse().unwrap()], now(), req).await;
    let found: Vec<_> = run.found.iter().filter(|o| o.check == CheckId::SoftwareKnownExploited).collect();
    assert_eq!(found.len(), 1, "{:#?}", run.found);
    assert_eq!(found[0].confidence, Confidence::Firm);
    assert!(found[0].evidence.contains("CVE-2021-41773"), "{}", found[0].evidence);
}
