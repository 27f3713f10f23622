//! The local API in process: a store in a temporary directory, served on its
//! socket, spoken to by the client the CLI uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use haetae_findings::audit::AuditLog;
use haetae_findings::{Asset, CheckId, Confidence, Finding, Observation, Store};
use haetae_service::Hub;
use haetae_service::api::{ApiPaths, SOCKET_FILE, TOKEN_FILE, serve};
use haetae_service::client::{ApiClient, Method, Streamed};
use haetae_service::events::Event;
use haetae_service::{BadRequest, Refused};

fn obs(check: CheckId, host: &str, port: u16) -> Observation {
    let mut o = Observation::new(check, Asset { host: host.into(), ip: None, port: Some(port) }, "/", "KR-API");
    o.confidence = Confidence::Certain;
    o.evidence = "seen".into();
    o
}

struct Served {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    hub: Arc<Hub>,
    api: ApiClient,
    server: haetae_service::api::ApiServer,
}

async fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Arc::new(Store::open(&store_dir, Arc::new(haetae_rules::DefaultScorer)).unwrap());
    store.upsert(&obs(CheckId::SvcRedisNoauth, "redis.agency.test", 6379)).unwrap();
    store.upsert(&obs(CheckId::TlsCertExpired, "www.agency.test", 443)).unwrap();
    let hub = Hub::new("daemon");
    let audit = AuditLog::shared(&store_dir.join("audit.jsonl")).unwrap();
    let paths = ApiPaths { scope: dir.path().join("scope.toml"), rules: dir.path().join("rules.toml") };
    let server = serve(store.clone(), hub.clone(), audit, paths, "KR-API".into()).await.unwrap();
    let api = ApiClient::find(&store_dir).await.unwrap().expect("the API is found beside the store");
    Served { _dir: dir, store, hub, api, server }
}

#[tokio::test]
async fn filters_errors_and_triage_through_the_client() {
    let s = served().await;
    let all: Vec<Finding> = s.api.get("/v1/findings").await.unwrap();
    assert_eq!(all.len(), 2);
    let redis: Vec<Finding> = s.api.get("/v1/findings?check=svc.*&host=*.agency.test").await.unwrap();
    assert_eq!(redis.len(), 1);
    assert_eq!(redis[0].check, CheckId::SvcRedisNoauth);

    // A bad filter is a BadRequest (the CLI exits 2) naming the flag.
    let e = s.api.get::<Vec<Finding>>("/v1/findings?state=opne").await.unwrap_err();
    assert!(e.downcast_ref::<BadRequest>().is_some(), "{e}");
    assert!(e.to_string().contains("--state"), "{e}");
    let e = s.api.get::<Vec<Finding>>("/v1/findings?colour=red").await.unwrap_err();
    assert!(e.downcast_ref::<BadRequest>().is_some(), "unknown parameters are refused: {e}");
    let e = s.api.get::<Finding>("/v1/findings/ffffffffffff").await.unwrap_err();
    assert!(e.to_string().contains("no finding with id"), "{e}");

    // Triage: a listener hears it; the store has it with the actor.
    let mut events = s.api.events().await.unwrap();
    let body = serde_json::json!({ "ids": [&redis[0].id[..8]], "state": "accepted-risk", "actor": "kim", "note": "isolated", "until": "2999-01-01" });
    let changed: Vec<Finding> = s.api.post("/v1/triage", &body).await.unwrap();
    assert_eq!(changed.len(), 1);
    let ev = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap().unwrap().unwrap();
    match ev {
        Streamed::Event(e) => assert_eq!(*e, Event::FindingsChanged { ids: vec![redis[0].id.clone()] }),
        Streamed::Lagged => panic!("lagged"),
    }
    let stored = s.store.get(&redis[0].id).unwrap().unwrap();
    assert_eq!(stored.state, haetae_findings::State::AcceptedRisk);
    assert_eq!(stored.history.last().unwrap().actor, "kim");
    // An accepted risk needs its until date: the store's rule, as a 400.
    let body = serde_json::json!({ "ids": [&all[1].id], "state": "accepted-risk", "actor": "kim", "note": "x" });
    let e = s.api.post::<_, Vec<Finding>>("/v1/triage", &body).await.unwrap_err();
    assert!(e.downcast_ref::<BadRequest>().is_some(), "{e}");

    // Exports in every format.
    for (format, marker) in
        [("json", "\"findings\""), ("csv", "redis.agency.test"), ("sarif", "\"runs\""), ("md", "#"), ("html", "<html")]
    {
        let (headers, body) =
            s.api.call(Method::GET, &format!("/v1/export?format={format}&state=all"), None).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(marker), "{format}: {text}");
        assert!(headers.get("x-haetae-warning").is_some(), "no scope file: the export says so");
    }
    // Scan-now in a process that takes none: 409 with the reason.
    let e = s.api.post::<_, serde_json::Value>("/v1/scans", &serde_json::json!({})).await.unwrap_err();
    assert!(e.to_string().contains("takes no other scan"), "{e}");
    s.server.stop().await;
}

#[tokio::test]
async fn the_token_is_required_and_refusals_are_audited() {
    let s = served().await;
    let dir = s.store.dir().to_owned();
    let wrong = ApiClient::with_token(dir.join(SOCKET_FILE), "not-the-token".into());
    let e = wrong.get::<Vec<Finding>>("/v1/findings").await.unwrap_err();
    assert!(e.to_string().contains("wrong bearer token"), "{e}");
    assert!(!e.is::<Refused>());
    let metrics = String::from_utf8(s.api.call(Method::GET, "/metrics", None).await.unwrap().1).unwrap();
    assert!(metrics.contains("haetae_api_unauthorized_total 1"), "{metrics}");
    assert!(metrics.contains("haetae_notifications{state=\"failed\"} 0"), "{metrics}");
    assert!(metrics.contains("haetae_findings{state=\"open\",priority=\"P1\"}"), "{metrics}");
    let open: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("haetae_findings{state=\"open\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(open, 2, "{metrics}");
    assert_eq!(s.hub.counters.unauthorized.load(std::sync::atomic::Ordering::Relaxed), 1);
    let token = dir.join(TOKEN_FILE);
    s.server.stop().await;
    assert!(!token.exists() && !dir.join(SOCKET_FILE).exists(), "stopped: socket and token gone");
    let records = haetae_findings::audit::read_all(&dir.join("audit.jsonl")).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0].entry;
    assert_eq!(
        (r.protocol, r.verdict, r.outcome.as_str()),
        (haetae_findings::audit::Protocol::Api, haetae_findings::audit::Verdict::Refused, "401")
    );
    assert_eq!(r.probe, "api GET /v1/findings");
    assert!(haetae_findings::audit::verify(&dir.join("audit.jsonl")).is_ok());
}

#[tokio::test]
async fn a_second_server_on_a_live_socket_is_refused_and_a_stale_one_replaced() {
    let s = served().await;
    let audit = AuditLog::shared(&s.store.dir().join("audit.jsonl")).unwrap();
    let paths = ApiPaths { scope: "scope.toml".into(), rules: "rules.toml".into() };
    let e = serve(s.store.clone(), s.hub.clone(), audit.clone(), paths.clone(), String::new()).await.err().unwrap();
    assert!(e.to_string().contains("another haetae process serves the API"), "{e}");
    s.server.stop().await;
    // A socket file nobody listens on (a killed daemon's) is replaced.
    let sock = s.store.dir().join(SOCKET_FILE);
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    assert!(ApiClient::find(s.store.dir()).await.unwrap().is_none(), "a dead socket is no API");
    let again = serve(s.store.clone(), s.hub.clone(), audit, paths, String::new()).await.unwrap();
    assert!(ApiClient::find(s.store.dir()).await.unwrap().is_some());
    again.stop().await;
}
