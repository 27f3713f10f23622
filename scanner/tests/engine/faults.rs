//! A timeout never closes a finding: a weak web server found in scan 1,
//! faulty in scan 2 (silent, reset, stalled head, 503, hung or cut body),
//! still open after scan 2; really fixed in scan 3, closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use haetae_findings::{CheckId, Finding, Prioritizer, Priority, Selection, State, Store, Timestamp};
use haetae_scanner::engine::{Profile, ScanRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{lab_tls, net_scope, now, scan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// Version in `Server`, `/.git/HEAD` served.
    Weak,
    /// The same site, fixed.
    Hardened,
    /// Accepts, reads, never answers.
    Silent,
    /// Accepts, then resets every connection.
    Reset,
    /// Half a response head, then nothing.
    StalledHead,
    /// `503 Retry-After: 0` to everything.
    Busy,
    /// A whole head promising 1,000 bytes, ten of them, then nothing.
    HungBody,
    /// A whole head promising 1,000 bytes, ten of them, then a close.
    CutBody,
    /// Answers `/` (weakly) and is silent on every other path.
    RootOnly,
}

const MODES: [Mode; 9] = [
    Mode::Weak,
    Mode::Hardened,
    Mode::Silent,
    Mode::Reset,
    Mode::StalledHead,
    Mode::Busy,
    Mode::HungBody,
    Mode::CutBody,
    Mode::RootOnly,
];

/// A web server on loopback whose behaviour the test switches between scans.
struct Flaky {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
}

impl Flaky {
    async fn start() -> Flaky {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(Mode::Weak as u8));
        let m = mode.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mode = MODES[usize::from(m.load(Ordering::SeqCst))];
                tokio::spawn(serve(stream, mode));
            }
        });
        Flaky { addr, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

async fn serve(mut stream: TcpStream, mode: Mode) {
    if mode == Mode::Reset {
        // SO_LINGER 0: the close is a reset (RST), not a FIN.
        if let Ok(std) = stream.into_std() {
            let _ = socket2::SockRef::from(&std).set_linger(Some(std::time::Duration::ZERO));
            drop(std);
        }
        return;
    }
    // The client speaks first (a request, or a ClientHello).
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.first() == Some(&0x16) || req.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let hold = |mut s: TcpStream| async move {
        // Keep the connection open, silent, until the client goes.
        let mut sink = [0u8; 1024];
        while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let reply: Vec<u8> = if req.first() == Some(&0x16) {
        // A plain HTTP server answers a ClientHello with 400, as nginx does.
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    } else {
        let path = String::from_utf8_lossy(&req).split(' ').nth(1).unwrap_or("/").to_owned();
        match mode {
            Mode::Silent => return hold(stream).await,
            Mode::RootOnly if path != "/" => return hold(stream).await,
            Mode::StalledHead => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nServer: nginx/1.14.0\r\n").await;
                return hold(stream).await;
            }
            Mode::HungBody | Mode::CutBody => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789").await;
                if mode == Mode::HungBody {
                    return hold(stream).await;
                }
                return;
            }
            Mode::Busy => {
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec()
            }
            Mode::Weak | Mode::Hardened | Mode::Reset | Mode::RootOnly => {
                let weak = mode != Mode::Hardened;
                let server = if weak { "nginx/1.14.0" } else { "nginx" };
                let (status, body) = match path.as_str() {
                    "/" => ("200 OK", "<html><head><title>Portal</title></head><body>Welcome</body></html>"),
                    "/.git/HEAD" if weak => ("200 OK", "ref: refs/heads/main\n"),
                    _ => ("404 Not Found", "not found"),
                };
                format!(
                    "HTTP/1.1 {status}\r\nServer: {server}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
        }
    };
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

struct Flat;
impl Prioritizer for Flat {
    fn prioritize(&self, f: &mut Finding, _now: Timestamp) {
        f.priority = Priority::P3;
    }
}

/// One scan of the flaky server, committed as `haetae scan` commits it:
/// observations, then coverage, then failed units, then the end of the run.
async fn scan_into(store: &Store, srv: &Flaky) -> (u64, usize) {
    let mut scope = net_scope("KR-FAULTS", "127.0.0.1/32", srv.addr.port());
    scope.limits.timeout = std::time::Duration::from_millis(400);
    let req = ScanRequest {
        targets: vec!["127.0.0.1".to_owned()],
        profile: Profile::Standard,
        skip: Default::default(),
        tls: lab_tls(),
        templates: None,
        software: None,
        earlier_addresses: Default::default(),
        checks: Default::default(),
    };
    // No name is resolved: the name server is never asked.
    let run = scan(scope, vec!["127.0.0.1:9".parse().unwrap()], now(), req).await;
    let id = store.begin_scan(vec!["127.0.0.1".to_owned()]).unwrap().id;
    store.upsert_batch(Some(id), &run.found).unwrap();
    store.cover(id, &run.covered).unwrap();
    store.record_failed(id, &run.failed).unwrap();
    let finished = store.finish_scan(id, run.outcome.complete).unwrap();
    assert!(run.outcome.complete, "{:?}", run.outcome);
    assert_eq!(finished.failed_total, run.failed.len() as u64);
    (id, run.failed.len())
}

fn state_of(store: &Store, check: &CheckId) -> Option<State> {
    let all = store.list(&Selection::States(State::ALL.to_vec())).unwrap().findings;
    all.into_iter().find(|f| &f.check == check).map(|f| f.state)
}

/// A port that answers `/` and is silent on every other path is given up
/// after `BREAKER` (3) failures in a row, not after each of its 40 requests
/// has waited `timeout_ms`; the port's content checks are a failed unit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_silent_past_its_front_page_is_given_up() {
    let srv = Flaky::start().await;
    srv.set(Mode::RootOnly);
    let store = Store::temporary(Arc::new(Flat)).unwrap();
    let started = std::time::Instant::now();
    let (id, failed) = scan_into(&store, &srv).await;
    let took = started.elapsed();
    // Three timeouts of 400 ms (and the first requests' answers); 40 would be 16 s.
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert!(failed > 0);
    let run = store.scan(id).unwrap();
    assert!(run.failed.iter().any(|u| u.reason.contains("gave up on the port after 3")), "{:?}", run.failed);
    // What the front page showed is still a finding.
    let version = "http.version-disclosure".parse::<CheckId>().unwrap();
    assert_eq!(state_of(&store, &version), Some(State::Open));
}

async fn fault_never_closes(fault: Mode) {
    let srv = Flaky::start().await;
    let store = Store::temporary(Arc::new(Flat)).unwrap();
    let checks =
        ["http.exposed-git".parse::<CheckId>().unwrap(), "http.version-disclosure".parse::<CheckId>().unwrap()];

    let (_, failed) = scan_into(&store, &srv).await;
    assert_eq!(failed, 0, "scan 1 against the healthy weak server had failed units");
    for c in &checks {
        assert_eq!(state_of(&store, c), Some(State::Open), "{c} not found by scan 1");
    }

    srv.set(fault);
    let (id, failed) = scan_into(&store, &srv).await;
    assert!(failed > 0, "{fault:?}: scan 2 recorded no failed unit");
    let run = store.scan(id).unwrap();
    assert!(!run.failed.is_empty(), "{fault:?}: the scan record lists no failed unit");
    for c in &checks {
        assert_eq!(state_of(&store, c), Some(State::Open), "{fault:?} closed {c}: {:?}", run.failed);
    }
    assert_eq!(run.counts.fixed, 0, "{fault:?}");

    srv.set(Mode::Hardened);
    let (_, failed) = scan_into(&store, &srv).await;
    assert_eq!(failed, 0);
    for c in &checks {
        assert_eq!(state_of(&store, c), Some(State::Fixed), "{c} not closed once really fixed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_closes_nothing() {
    fault_never_closes(Mode::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resetting_server_closes_nothing() {
    fault_never_closes(Mode::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_head_closes_nothing() {
    fault_never_closes(Mode::StalledHead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_closes_nothing() {
    fault_never_closes(Mode::Busy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_body_closes_nothing() {
    fault_never_closes(Mode::HungBody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_body_closes_nothing() {
    fault_never_closes(Mode::CutBody).await;
}

/// Commit one run into the store as `haetae scan` does; return the run's record.
fn commit_run(store: &Store, run: &crate::support::Run) -> haetae_findings::ScanRun {
    let id = store.begin_scan(vec![]).unwrap().id;
    store.upsert_batch(Some(id), &run.found).unwrap();
    store.cover(id, &run.covered).unwrap();
    store.record_failed(id, &run.failed).unwrap();
    store.finish_scan(id, run.outcome.complete).unwrap()
}

/// The property: scan after scan of an unchanged lab whose exchanges fault
/// at random (a seeded 20%: delays past the deadline, resets, truncated
/// bodies, SERVFAIL, silence), no finding ever becomes fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_never_fix_a_finding() {
    use haetae_lab::{Faults, Lab, LabOptions};
    for seed in [7, 1013] {
        let opts = LabOptions { faults: Some(Faults { seed, percent: 20 }), timeout_ms: 500 };
        let lab = Lab::start_with(opts).await.unwrap();
        let scope = crate::support::lab_scope(&lab, |s| s);
        let store = Store::temporary(Arc::new(Flat)).unwrap();
        let mut failed = 0;
        for round in 0..3 {
            let req = crate::support::seeds_request(&scope);
            let run = scan(scope.clone(), vec![lab.dns_addr()], now(), req).await;
            failed += run.failed.len();
            let rec = commit_run(&store, &run);
            let all = store.list(&Selection::States(State::ALL.to_vec())).unwrap().findings;
            let fixed: Vec<String> =
                all.iter().filter(|f| f.state == State::Fixed).map(|f| format!("{} {}", f.check, f.host)).collect();
            assert!(fixed.is_empty(), "seed {seed}, scan {round}: fixed {fixed:?} (failed units: {:?})", run.failed);
            assert_eq!(rec.counts.fixed, 0);
            assert!(!all.is_empty(), "seed {seed}: nothing found");
        }
        assert!(lab.faults_injected() > 0, "seed {seed}: no fault was injected");
        assert!(failed > 0, "seed {seed}: faults were injected but no unit failed");
        lab.shutdown().await;
    }
}
