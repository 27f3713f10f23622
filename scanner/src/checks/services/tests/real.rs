//! Against real daemons on loopback (not run by default: they need the
//! servers installed and started by hand). Set `HAETAE_SVC_REAL` to a
//! comma-separated list of `127.0.0.1:PORT=EXPECTED`, where EXPECTED is
//! `redis-noauth`, `database`, `remote-desktop` or `none`, for probes of
//! silent servers; `greeting:127.0.0.1:PORT=EXPECTED` reads a greeting first.
//!
//! ```sh
//! HAETAE_SVC_REAL='127.0.0.1:6390=redis-noauth,127.0.0.1:6391=none,127.0.0.1:5439=database,greeting:127.0.0.1:3390=database' \
//!   cargo test -p haetae-scanner real_servers -- --ignored --nocapture
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::loopback::loopback_guard;
use super::*;

fn expected(word: &str) -> Option<CheckId> {
    match word {
        "redis-noauth" => Some(CheckId::SvcRedisNoauth),
        "database" => Some(CheckId::SvcDatabaseExposed),
        "remote-desktop" => Some(CheckId::SvcRemoteDesktopExposed),
        "none" => None,
        other => panic!("unknown expectation {other}"),
    }
}

#[tokio::test]
#[ignore = "needs real servers on loopback: set HAETAE_SVC_REAL"]
async fn real_servers() {
    let spec = std::env::var("HAETAE_SVC_REAL").unwrap_or_default();
    assert!(!spec.is_empty(), "set HAETAE_SVC_REAL");
    for item in spec.split(',') {
        let (target, want) = item.split_once('=').unwrap();
        let (greeting, target) = match target.strip_prefix("greeting:") {
            Some(t) => (true, t),
            None => (false, target),
        };
        let addr: SocketAddr = target.parse().unwrap();
        assert!(addr.ip().is_loopback(), "loopback only");
        let found: Vec<Identified> = if greeting {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut buf = vec![0u8; 257];
            let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await.unwrap().unwrap();
            eprintln!("{addr} greeting: {:02x?}", &buf[..n]);
            from_greeting(&buf[..n]).into_iter().collect()
        } else {
            let (guard, _dir) = loopback_guard(addr.port(), 2000);
            let report = probe_silent(&guard, "127.0.0.1", addr.ip(), addr.port()).await;
            assert!(report.definite, "{addr}: {report:?}");
            report.found
        };
        for f in &found {
            eprintln!("{addr}: {} {}", f.check, f.evidence);
        }
        if found.is_empty() {
            eprintln!("{addr}: nothing");
        }
        assert_eq!(
            found.iter().map(|f| f.check.clone()).collect::<Vec<_>>(),
            expected(want).into_iter().collect::<Vec<_>>(),
            "{addr}"
        );
    }
}
