use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use haetae_findings::audit::AuditLog;
use haetae_findings::{Observation, Timestamp};
use haetae_lab::Lab;
use haetae_scanner::engine::{self, Outcome, Profile, ScanEvent, ScanRequest};
use haetae_scanner::guard::{Clock, GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use haetae_scanner::tls::handshake::TlsOptions;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) fn lab_scope(lab: &Lab, edit: impl Fn(String) -> String) -> Scope {
    Scope::parse(Path::new("scope.toml"), &edit(lab.scope_toml())).unwrap()
}

pub(crate) struct Run {
    pub(crate) outcome: Outcome,
    pub(crate) found: Vec<Observation>,
    pub(crate) covered: Vec<haetae_findings::Coverage>,
    pub(crate) failed: Vec<haetae_findings::FailedUnit>,
    pub(crate) audit_path: std::path::PathBuf,
    pub(crate) guard: Arc<ScopeGuard>,
    _dir: tempfile::TempDir,
}

pub(crate) fn guard(scope: Scope, ns: Vec<std::net::SocketAddr>, clock: Clock) -> (Arc<ScopeGuard>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).unwrap());
    let g = ScopeGuard::new(GuardConfig { scope: Arc::new(scope), nameservers: ns, audit, clock }).unwrap();
    (Arc::new(g), dir)
}

pub(crate) fn now() -> Clock {
    Arc::new(Timestamp::now)
}

/// Run a whole scan and collect what it reports. A generous bound turns a hang into a failure.
pub(crate) async fn scan(scope: Scope, ns: Vec<std::net::SocketAddr>, clock: Clock, req: ScanRequest) -> Run {
    let (guard, dir) = guard(scope, ns, clock);
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(engine::run(guard.clone(), req, tx, cancel));
    let mut found = Vec::new();
    let mut covered = Vec::new();
    let mut failed = Vec::new();
    let collect = async {
        while let Some(ev) = rx.recv().await {
            match ev {
                ScanEvent::Found(o) => found.push(*o),
                ScanEvent::Covered(c) => covered.push(c),
                ScanEvent::Failed(u) => failed.push(u),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect).await.expect("scan did not finish");
    let outcome = task.await.unwrap();
    guard.sync_audit().unwrap();
    Run { outcome, found, covered, failed, audit_path: dir.path().join("audit.jsonl"), guard, _dir: dir }
}

pub(crate) fn seeds_request(scope: &Scope) -> ScanRequest {
    ScanRequest {
        targets: scope.seeds.clone(),
        profile: Profile::Standard,
        skip: Default::default(),
        tls: lab_tls(),
        templates: None,
        software: None,
        earlier_addresses: Default::default(),
        checks: Default::default(),
    }
}

/// Trust the lab's CA only.
pub(crate) fn lab_tls() -> TlsOptions {
    TlsOptions::from_pem(haetae_lab::CA_PEM, 30).unwrap()
}

/// A scope with one network and one port, fast limits, and an always-open window.
pub(crate) fn net_scope(id: &str, cidr: &str, port: u16) -> Scope {
    let text = format!(
        r#"
[engagement]
id = "{id}"
contact = "team@agency.test"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = ["{cidr}"]
ports = [{port}]
exclude_paths = ["/logout"]
[limits]
max_rps = 1000
per_host_rps = 1000
timeout_ms = 2000
"#
    );
    Scope::parse(Path::new("scope.toml"), &text).unwrap()
}

/// A TLS acceptor with a fresh self-signed certificate for `self.agency.test`
/// (the process's crypto provider installed first).
pub(crate) fn self_signed_acceptor() -> tokio_rustls::TlsAcceptor {
    haetae_scanner::tls::handshake::install_crypto_provider();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["self.agency.test".to_owned()]).unwrap().self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
