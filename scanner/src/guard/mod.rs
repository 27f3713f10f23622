//! [`ScopeGuard`]: the only road from the scanner to the network.
//!
//! Every DNS query and every connection goes through here. The guard
//! - refuses anything outside the authorization window;
//! - resolves each name once ([`Resolution`], cached), follows CNAME chains
//!   itself, and marks which addresses may be contacted: only addresses of an
//!   in-scope name whose whole chain is in scope and that are themselves in scope;
//! - connects only to such an address (no second lookup, so DNS rebinding
//!   cannot move a probe out of scope), on a scope port;
//! - waits on the global, per-host and per-address token buckets;
//! - writes one audit record per query and per connection attempt, allowed or
//!   refused, with the reason and the outcome.

mod failure;
mod limits;
mod net;
mod query;
mod resolve;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haetae_findings::Timestamp;
use haetae_findings::audit::{AuditEntry, AuditLog, Protocol, Verdict};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use crate::dns::breaker::{self, Breaker};
use crate::dns::{QueryIds, Response};
use crate::scope::Scope;

pub use resolve::{ChainEnd, Resolution};

use limits::Limiters;
pub(crate) use net::NetError;

/// Who is contacted, how and why: the first half of an audit entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    pub(crate) target: &'a str,
    pub(crate) address: Option<IpAddr>,
    pub(crate) port: Option<u16>,
    pub(crate) protocol: Protocol,
    pub(crate) probe: &'a str,
}

/// A clock, replaceable in tests of the authorization window.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// What the guard needs.
pub struct GuardConfig {
    /// The authorization.
    pub scope: Arc<Scope>,
    /// Name servers to query (the team's resolvers).
    pub nameservers: Vec<SocketAddr>,
    /// Where every attempt is recorded.
    pub audit: Arc<AuditLog>,
    /// Current time (the window is checked on every attempt).
    pub clock: Clock,
}

/// Why the guard did not let something through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Outside scope (name, address, port) — nothing was sent.
    #[error("refused: {0}")]
    OutOfScope(String),
    /// Outside the authorization window — nothing was sent.
    #[error("refused: {0}")]
    Window(String),
    /// Allowed, attempted, and failed.
    #[error("{0}")]
    Failed(String),
    /// The audit log could not be written: nothing may be sent unrecorded.
    #[error("audit log: {0}")]
    Audit(String),
}

impl GuardError {
    /// Whether the failure was the authorization window closing.
    pub fn is_window(&self) -> bool {
        matches!(self, GuardError::Window(_))
    }
}

/// A DNS answer and the audit record of the exchange that produced it.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The response, or why there is none.
    pub response: Result<Response, GuardError>,
    /// Audit record ids of the attempts.
    pub audit: Vec<u64>,
}

/// An allowed, established TCP connection.
#[derive(Debug)]
pub struct Connected {
    /// The stream.
    pub stream: TcpStream,
    /// Audit record id of the attempt.
    pub audit: u64,
    /// When the attempt began (after the rate limits let it go): the start
    /// of the exchange's deadline (`timeout_ms` covers connect to last byte).
    pub started: tokio::time::Instant,
}

/// Counters for progress displays and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    /// DNS queries sent.
    pub queries: AtomicU64,
    /// TCP connection attempts sent.
    pub connects: AtomicU64,
    /// Attempts refused by scope or window (nothing sent).
    pub refused: AtomicU64,
}

/// The scope guard. Share it behind an `Arc`.
pub struct ScopeGuard {
    scope: Arc<Scope>,
    nameservers: Vec<SocketAddr>,
    audit: Arc<AuditLog>,
    clock: Clock,
    limits: Limiters,
    timeout: Duration,
    resolutions: Mutex<HashMap<String, Arc<OnceCell<Arc<Resolution>>>>>,
    /// (host, address) pairs where a host used to live: contactable on behalf
    /// of that host although its current resolution does not list them.
    origins: Mutex<HashSet<(String, IpAddr)>>,
    ids: QueryIds,
    /// One per configured name server, in the same order.
    breakers: Vec<Breaker>,
    udp: net::UdpPool,
    /// Counters.
    pub stats: Stats,
}

impl ScopeGuard {
    /// A guard for `config`. Fails if no name server is configured.
    pub fn new(config: GuardConfig) -> Result<ScopeGuard, GuardError> {
        if config.nameservers.is_empty() {
            return Err(GuardError::Failed("no name server configured".into()));
        }
        let limits = &config.scope.limits;
        let policy = breaker::Policy::for_timeout(limits.timeout);
        Ok(ScopeGuard {
            breakers: config.nameservers.iter().map(|_| Breaker::new(policy)).collect(),
            limits: Limiters::new(limits.max_rps, limits.per_host_rps),
            timeout: limits.timeout,
            scope: config.scope,
            nameservers: config.nameservers,
            audit: config.audit,
            clock: config.clock,
            resolutions: Mutex::new(HashMap::new()),
            origins: Mutex::new(HashSet::new()),
            ids: QueryIds::new(),
            udp: net::UdpPool::default(),
            stats: Stats::default(),
        })
    }

    /// The authorization.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The configured name servers.
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.nameservers
    }

    /// Replace the name servers' breaker policy (every breaker starts closed
    /// again); the default is [`breaker::Policy::for_timeout`].
    pub fn with_dns_breaker(mut self, policy: breaker::Policy) -> ScopeGuard {
        self.breakers = self.nameservers.iter().map(|_| Breaker::new(policy)).collect();
        self
    }

    /// Each configured name server with the state of its breaker.
    pub fn nameserver_health(&self) -> Vec<(SocketAddr, breaker::State)> {
        self.nameservers.iter().copied().zip(self.breakers.iter().map(Breaker::state)).collect()
    }

    /// Per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Now, by the guard's clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Whether the authorization window is open now.
    pub fn window(&self) -> Result<(), GuardError> {
        let now = self.now();
        if self.scope.window_open(now) {
            return Ok(());
        }
        Err(GuardError::Window(self.scope.window(now).reason))
    }

    fn record(&self, entry: AuditEntry) -> Result<u64, GuardError> {
        self.audit.append(entry).map_err(|e| GuardError::Audit(e.to_string()))
    }

    fn entry(&self, a: Attempt<'_>, verdict: Verdict, reason: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            engagement: self.scope.engagement.id.clone(),
            target: a.target.to_owned(),
            address: a.address,
            port: a.port,
            protocol: a.protocol,
            probe: a.probe.to_owned(),
            verdict,
            reason: reason.to_owned(),
            outcome: outcome.to_owned(),
        }
    }

    /// Record a refusal (nothing sent) and return the error.
    fn refuse(&self, a: Attempt<'_>, err: GuardError) -> GuardError {
        let reason = match &err {
            GuardError::OutOfScope(r) | GuardError::Window(r) | GuardError::Failed(r) | GuardError::Audit(r) => r,
        };
        match self.record_refusal(a, reason) {
            Ok(_) => err,
            Err(audit) => audit,
        }
    }

    /// Record an attempt refused for `reason` before anything was sent (such
    /// as a redirect hop the scope does not allow) and return its audit seq.
    pub(crate) fn record_refusal(&self, a: Attempt<'_>, reason: &str) -> Result<u64, GuardError> {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        self.record(self.entry(a, Verdict::Refused, reason, "not attempted"))
    }

    /// Resolve `name` once: later calls return the same [`Resolution`], so
    /// every probe of a name uses the addresses checked the first time. A
    /// resolution that failed ([`ChainEnd::Failed`]: no name server answered)
    /// is not kept: a later call asks again.
    pub async fn resolve(&self, name: &str) -> Arc<Resolution> {
        let key = haetae_findings::fingerprint::normalize_host(name);
        let cell = {
            let mut map = self.resolutions.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let res = cell.get_or_init(|| async { Arc::new(resolve::resolve(self, &key).await) }).await.clone();
        if matches!(res.end, ChainEnd::Failed(_)) {
            let mut map = self.resolutions.lock().unwrap_or_else(|p| p.into_inner());
            if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                map.remove(&key);
            }
        }
        res
    }

    /// The cached resolution of a name, if it was resolved.
    pub fn resolved(&self, name: &str) -> Option<Arc<Resolution>> {
        let key = haetae_findings::fingerprint::normalize_host(name);
        let map = self.resolutions.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key).and_then(|c| c.get().cloned())
    }

    /// Allow `addr` to be contacted on behalf of `host` as one of the host's
    /// earlier origins (a `[[migration]]` legacy address, or an address the
    /// host resolved to in an earlier scan), although its current resolution
    /// does not list it. The name and the address must both be in scope now;
    /// when `cidrs` is empty, only the addresses `[[migration]]` lists for the
    /// host qualify (the authorization names them), since nothing else vouches
    /// for an address that no in-scope name resolves to today.
    pub fn allow_origin(&self, host: &str, addr: IpAddr) -> Result<(), GuardError> {
        let host = haetae_findings::fingerprint::normalize_host(host);
        let name = self.scope.check_name(&host);
        if !name.allowed {
            return Err(GuardError::OutOfScope(name.reason));
        }
        if !self.scope.addr_allowed(addr) {
            return Err(GuardError::OutOfScope(self.scope.check_addr(addr).reason));
        }
        let listed = self.scope.migrations.iter().any(|m| m.host == host && m.legacy_addresses.contains(&addr));
        if self.scope.cidrs.is_empty() && !listed {
            return Err(GuardError::OutOfScope(format!(
                "{addr} is no current address of {host}, [[migration]] does not list it, and cidrs is empty"
            )));
        }
        self.origins.lock().unwrap_or_else(|p| p.into_inner()).insert((host, addr));
        Ok(())
    }

    /// Decide whether `host` → `addr`:`port` may be contacted, without contacting it.
    pub fn permit(&self, host: &str, addr: IpAddr, port: u16) -> Result<(), GuardError> {
        self.permit_inner(host, addr, port, false)
    }

    fn permit_inner(&self, host: &str, addr: IpAddr, port: u16, dns: bool) -> Result<(), GuardError> {
        self.window()?;
        // A zone's name servers are part of the authorized DNS zone: they may be
        // asked on their DNS port even when that port is not a scope port.
        let dns_port = dns && (port == 53 || self.nameservers.iter().any(|s| s.ip() == addr && s.port() == port));
        // Fast checks first; the reasons are built only for a refusal.
        if !self.scope.port_allowed(port) && !dns_port {
            return Err(GuardError::OutOfScope(self.scope.check_port(port).reason));
        }
        if !self.scope.addr_allowed(addr) {
            return Err(GuardError::OutOfScope(self.scope.check_addr(addr).reason));
        }
        let host_norm = haetae_findings::fingerprint::normalize_host(host);
        if host_norm.parse::<IpAddr>().is_ok_and(|ip| ip == addr) {
            // An address reached by no name is in scope only when `cidrs` lists it.
            if self.scope.cidrs.is_empty() {
                return Err(GuardError::OutOfScope(format!(
                    "{addr} was given directly, and cidrs is empty: only addresses of in-scope names may be contacted"
                )));
            }
            return Ok(());
        }
        match self.resolved(&host_norm) {
            Some(r) if r.allowed.contains(&addr) => Ok(()),
            _ if self.origins.lock().unwrap_or_else(|p| p.into_inner()).contains(&(host_norm.clone(), addr)) => Ok(()),
            Some(r) => Err(GuardError::OutOfScope(format!(
                "{addr} is not an in-scope address of {host_norm} ({})",
                r.summary()
            ))),
            None => Err(GuardError::OutOfScope(format!("{host_norm} has not been resolved through the guard"))),
        }
    }

    /// Open a TCP connection to `addr`:`port` on behalf of `host` for `probe`,
    /// if the scope allows it; every attempt is audited.
    pub async fn connect(&self, host: &str, addr: IpAddr, port: u16, probe: &str) -> Result<Connected, GuardError> {
        self.connect_inner(host, addr, port, probe, false).await
    }

    /// Like [`Self::connect`], to a zone's name server on its DNS port
    /// (53, or the port of a configured name server at that address).
    pub async fn connect_dns(&self, host: &str, addr: IpAddr, port: u16, probe: &str) -> Result<Connected, GuardError> {
        self.connect_inner(host, addr, port, probe, true).await
    }

    async fn connect_inner(
        &self,
        host: &str,
        addr: IpAddr,
        port: u16,
        probe: &str,
        dns: bool,
    ) -> Result<Connected, GuardError> {
        let protocol = if dns { Protocol::DnsTcp } else { Protocol::Tcp };
        let attempt = Attempt { target: host, address: Some(addr), port: Some(port), protocol, probe };
        if let Err(e) = self.permit_inner(host, addr, port, dns) {
            return Err(self.refuse(attempt, e));
        }
        self.limits.acquire(Some(host), addr).await;
        // The window may have closed while waiting for a token.
        if let Err(e) = self.window() {
            return Err(self.refuse(attempt, e));
        }
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        let started = tokio::time::Instant::now();
        let result = net::tcp_connect(SocketAddr::new(addr, port), self.timeout).await;
        let outcome = match &result {
            Ok(_) => "connected".to_owned(),
            Err(e) => e.to_string(),
        };
        let seq = self.record(self.entry(attempt, Verdict::Allowed, "in scope", &outcome))?;
        match result {
            Ok(stream) => Ok(Connected { stream, audit: seq, started }),
            Err(NetError::Refused) => Err(GuardError::Failed("closed".into())),
            Err(e) => Err(GuardError::Failed(e.to_string())),
        }
    }

    /// Wait for the rate limits (whole scan, `host`, `addr`) before a request
    /// on a connection [`Self::connect`] opened earlier: every request, on a
    /// new connection or a kept one, draws one token from the same buckets.
    pub async fn pace(&self, host: &str, addr: IpAddr) {
        self.limits.acquire(Some(host), addr).await;
    }

    /// Send a DNS message on a connection opened by [`Self::connect`] and read replies.
    pub async fn dns_over(&self, conn: &mut Connected, msg: &[u8]) -> Result<(), GuardError> {
        net::tcp_send_dns(&mut conn.stream, msg).await.map_err(|e| GuardError::Failed(e.to_string()))
    }

    /// Read one DNS message from a connection opened by [`Self::connect`].
    pub async fn dns_read(&self, conn: &mut Connected) -> Result<Vec<u8>, GuardError> {
        net::tcp_recv_dns(&mut conn.stream, self.timeout).await.map_err(|e| GuardError::Failed(e.to_string()))
    }

    /// Read one DNS message from a connection opened by [`Self::connect`],
    /// waiting at most `wait` (a caller with its own deadline passes it).
    pub async fn dns_read_within(&self, conn: &mut Connected, wait: Duration) -> Result<Vec<u8>, GuardError> {
        net::tcp_recv_dns(&mut conn.stream, wait).await.map_err(|e| GuardError::Failed(e.to_string()))
    }

    /// Flush the audit log to disk.
    pub fn sync_audit(&self) -> Result<(), GuardError> {
        self.audit.sync().map_err(|e| GuardError::Audit(e.to_string()))
    }
}
