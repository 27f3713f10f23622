//! The scan engine: seeds → DNS → discovery → TCP connect on the scope's
//! ports → probes of each open service.
//!
//! The engine only talks to the network through the [`ScopeGuard`] and only
//! reports through a bounded channel of [`ScanEvent`]s; it never opens the
//! store. Work is bounded by the scope's `concurrency` (a semaphore permit is
//! taken before each task is spawned), every await has a timeout (the guard's),
//! and cancellation (Ctrl-C, the window closing) stops new work at once.

mod labels;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use haetae_findings::{Asset, CheckId, Coverage, Observation};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checks::{self, observe, services, ssh};
use crate::guard::{ChainEnd, GuardError, ScopeGuard};
use crate::http::{FetchError, HttpClient, Method as HttpMethod, Request as HttpRequest};
use crate::scope::{Target, parse_target};
use crate::templates::{self, RequestKey, TemplateSet};
use crate::tls::handshake::TlsOptions;

/// How far a scan goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// DNS only: no zone transfer, no port scan.
    Passive,
    /// DNS, zone transfer, common subdomains, every scope port.
    #[default]
    Standard,
    /// Standard plus a longer subdomain list.
    Deep,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "passive" => Ok(Profile::Passive),
            "standard" => Ok(Profile::Standard),
            "deep" => Ok(Profile::Deep),
            other => Err(format!("unknown profile `{other}`: expected passive, standard or deep")),
        }
    }
}

/// A unit of work already done (for `--resume`): (check, host, port).
pub type Unit = (CheckId, String, Option<u16>);

/// What to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Names, addresses or URLs (already checked against the scope by the caller).
    pub targets: Vec<String>,
    /// Depth.
    pub profile: Profile,
    /// Units covered by an interrupted run of the same scan.
    pub skip: HashSet<Unit>,
    /// Trust roots and expiry threshold for the TLS checks.
    pub tls: TlsOptions,
    /// Content checks to run on web servers (`None`: the built-in ones).
    pub templates: Option<Arc<TemplateSet>>,
    /// Addresses each host resolved to in earlier scans (from the store's
    /// [`ScanEvent::Resolved`] history): checked, with the scope's
    /// `[[migration]]` addresses, by `migration.legacy-origin-live`.
    pub earlier_addresses: BTreeMap<String, Vec<IpAddr>>,
}

/// Progress counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Names known.
    pub hosts: u64,
    /// Names resolved.
    pub hosts_done: u64,
    /// Ports to try.
    pub ports_total: u64,
    /// Ports tried.
    pub ports_done: u64,
    /// Open ports.
    pub open_ports: u64,
    /// DNS queries plus connection attempts.
    pub requests: u64,
    /// Observations reported.
    pub findings: u64,
}

/// What the engine reports while it runs.
#[derive(Debug, Clone)]
pub enum ScanEvent {
    /// A weakness seen.
    Found(Box<Observation>),
    /// A (check, asset) unit ran to completion without error.
    Covered(Coverage),
    /// Counters.
    Progress(Progress),
    /// The leaf certificate an endpoint presented (for change tracking).
    Certificate {
        /// Host name (SNI).
        host: String,
        /// Port.
        port: u16,
        /// SHA-256 of the leaf certificate.
        sha256: String,
    },
    /// The in-scope addresses a host resolved to (for change tracking and
    /// the next scan's legacy-origin check).
    Resolved {
        /// Host name.
        host: String,
        /// Its in-scope addresses, sorted.
        addrs: Vec<IpAddr>,
    },
    /// A TCP port answered.
    OpenPort {
        /// Host name.
        host: String,
        /// Address.
        addr: IpAddr,
        /// Port.
        port: u16,
    },
}

/// Why a scan ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Cancelled (Ctrl-C).
    Cancelled,
    /// The authorization window closed.
    Window(String),
    /// No configured name server answered.
    ResolverSilent(String),
    /// The audit log could not be written, so nothing more may be sent.
    Audit(String),
}

/// How the scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every planned unit ran (only then may the store close unseen findings).
    pub complete: bool,
    /// Why it stopped early.
    pub stop: Option<Stop>,
    /// Final counters.
    pub progress: Progress,
}

struct Ctx {
    guard: Arc<ScopeGuard>,
    tls: TlsOptions,
    templates: Arc<TemplateSet>,
    http: Option<HttpClient>,
    events: mpsc::Sender<ScanEvent>,
    cancel: CancellationToken,
    skip: HashSet<Unit>,
    stop: std::sync::Mutex<Option<Stop>>,
    hosts: AtomicU64,
    hosts_done: AtomicU64,
    ports_total: AtomicU64,
    ports_done: AtomicU64,
    open_ports: AtomicU64,
    findings: AtomicU64,
    /// Open ports that waited for the client to speak: (address, port, speaks TLS).
    web: std::sync::Mutex<Vec<(IpAddr, u16, bool)>>,
    /// The cloud each host's CNAME chain points into (`cloud:<id>` tag).
    cloud: std::sync::Mutex<HashMap<String, &'static str>>,
    /// Names whose web ports the legacy-origin or takeover check needs to know.
    web_needed: std::sync::Mutex<HashSet<String>>,
}

impl Ctx {
    fn skipped(&self, check: &CheckId, host: &str, port: Option<u16>) -> bool {
        self.skip.contains(&(check.clone(), host.to_owned(), port))
    }

    /// On resume, whether a port whose own checks all ran must still be
    /// probed: the legacy-origin or takeover check of a name on it has not run,
    /// and needs to know whether (and how) the port serves the web.
    fn needs_web(&self, name: &str, port: u16) -> bool {
        let needed = self.web_needed.lock().unwrap_or_else(|p| p.into_inner()).contains(name);
        needed
            && !(self.skipped(&CheckId::MigrationLegacyOriginLive, name, Some(port))
                && self.skipped(&CheckId::DnsTakeover, name, None))
    }

    fn halt(&self, stop: Stop) {
        let mut s = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            *s = Some(stop);
        }
        self.cancel.cancel();
    }

    fn note_error(&self, e: &GuardError) {
        match e {
            GuardError::Window(r) => self.halt(Stop::Window(r.clone())),
            GuardError::Audit(r) => self.halt(Stop::Audit(r.clone())),
            GuardError::Failed(r) if r.contains("no configured name server is answering") => {
                self.halt(Stop::ResolverSilent(r.clone()))
            }
            _ => {}
        }
    }

    fn progress(&self) -> Progress {
        let s = &self.guard.stats;
        Progress {
            hosts: self.hosts.load(Ordering::Relaxed),
            hosts_done: self.hosts_done.load(Ordering::Relaxed),
            ports_total: self.ports_total.load(Ordering::Relaxed),
            ports_done: self.ports_done.load(Ordering::Relaxed),
            open_ports: self.open_ports.load(Ordering::Relaxed),
            requests: s.queries.load(Ordering::Relaxed) + s.connects.load(Ordering::Relaxed),
            findings: self.findings.load(Ordering::Relaxed),
        }
    }

    async fn send(&self, mut e: ScanEvent) {
        if let ScanEvent::Found(o) = &mut e {
            self.findings.fetch_add(1, Ordering::Relaxed);
            // Every finding on a host says which cloud it lives in, when known.
            if let Some(cloud) = self.cloud.lock().unwrap_or_else(|p| p.into_inner()).get(&o.asset.host) {
                let tag = format!("cloud:{cloud}");
                if !o.tags.contains(&tag) {
                    o.tags.push(tag);
                }
            }
        }
        // The receiver only goes away when the caller gave up; then so do we.
        if self.events.send(e).await.is_err() {
            self.cancel.cancel();
        }
    }

    async fn found(&self, obs: Vec<Observation>) {
        for o in obs {
            self.send(ScanEvent::Found(Box::new(o))).await;
        }
    }

    async fn covered(&self, check: CheckId, host: &str, port: Option<u16>) {
        self.send(ScanEvent::Covered(Coverage { check, host: host.to_owned(), port })).await;
    }

    async fn tick(&self) {
        let p = self.progress();
        // Progress is best effort: never wait for room in the channel for it.
        let _ = self.events.try_send(ScanEvent::Progress(p));
    }
}

/// The scope domain entries at or above `name`: the zones whose apex checks apply.
fn apexes_for(domains: &[String], name: &str) -> Vec<String> {
    domains.iter().filter(|d| name == d.as_str() || name.ends_with(&format!(".{d}"))).cloned().collect()
}

/// Run one scan. Returns when every unit ran, or when stopped.
pub async fn run(
    guard: Arc<ScopeGuard>,
    req: ScanRequest,
    events: mpsc::Sender<ScanEvent>,
    cancel: CancellationToken,
) -> Outcome {
    let templates = match &req.templates {
        Some(t) => t.clone(),
        None => Arc::new(TemplateSet::builtin().unwrap_or_default()),
    };
    let engagement = &guard.scope().engagement;
    let http = HttpClient::new(&engagement.id, &engagement.contact).ok();
    let ctx = Arc::new(Ctx {
        guard: guard.clone(),
        tls: req.tls.clone(),
        templates,
        http,
        events,
        cancel: cancel.child_token(),
        skip: req.skip.clone(),
        stop: std::sync::Mutex::new(None),
        hosts: AtomicU64::new(0),
        hosts_done: AtomicU64::new(0),
        ports_total: AtomicU64::new(0),
        ports_done: AtomicU64::new(0),
        open_ports: AtomicU64::new(0),
        findings: AtomicU64::new(0),
        web: std::sync::Mutex::new(Vec::new()),
        cloud: std::sync::Mutex::new(HashMap::new()),
        web_needed: std::sync::Mutex::new(HashSet::new()),
    });
    if let Err(e) = guard.window() {
        ctx.note_error(&e);
    }
    let complete = if ctx.cancel.is_cancelled() { false } else { scan(&ctx, &req).await };
    if cancel.is_cancelled() {
        ctx.halt(Stop::Cancelled);
    }
    let stop = ctx.stop.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let progress = ctx.progress();
    let _ = ctx.events.send(ScanEvent::Progress(progress)).await;
    Outcome { complete: complete && stop.is_none(), stop, progress }
}

async fn scan(ctx: &Arc<Ctx>, req: &ScanRequest) -> bool {
    let scope = ctx.guard.scope();
    let active = req.profile != Profile::Passive;
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut addr_targets: BTreeSet<IpAddr> = BTreeSet::new();
    for t in &req.targets {
        match parse_target(t) {
            Some(Target::Name(n)) | Some(Target::Url { host: n, .. }) => match n.parse::<IpAddr>() {
                Ok(ip) => {
                    addr_targets.insert(ip);
                }
                Err(_) => {
                    names.insert(haetae_findings::fingerprint::normalize_host(&n));
                }
            },
            Some(Target::Addr(ip)) => {
                addr_targets.insert(ip);
            }
            None => {}
        }
    }

    // Zone apex checks and discovery.
    let mut apexes: BTreeSet<String> = BTreeSet::new();
    for n in &names {
        apexes.extend(apexes_for(&scope.domains, n));
    }
    let mut complete = true;
    for apex in &apexes {
        if ctx.cancel.is_cancelled() {
            return false;
        }
        let skip = |c: &CheckId| ctx.skipped(c, apex, None);
        let rep = checks::zone::check_zone(&ctx.guard, apex, active, &skip).await;
        if let Some(w) = rep.window_closed {
            ctx.halt(Stop::Window(w));
            return false;
        }
        ctx.found(rep.observations).await;
        for c in &rep.covered {
            ctx.covered(c.clone(), apex, None).await;
        }
        names.insert(apex.clone());
        names.extend(rep.names);
        if active {
            let mut labels: Vec<&str> = labels::STANDARD.to_vec();
            if req.profile == Profile::Deep {
                labels.extend(labels::DEEP_EXTRA);
            }
            let found = discover(ctx, apex, &labels).await;
            names.extend(found);
        }
        ctx.tick().await;
    }

    // Resolve every name once; report where names point.
    ctx.hosts.store(names.len() as u64, Ordering::Relaxed);
    let mut resolutions = resolve_all(ctx, &names).await;
    // In-scope CNAME targets are hosts of their own (their chains were already
    // followed, so one more round finds everything).
    let targets: BTreeSet<String> = resolutions
        .iter()
        .flat_map(|r| r.chain.iter())
        .filter(|n| !names.contains(*n) && scope.check_name(n).allowed)
        .cloned()
        .collect();
    if !targets.is_empty() {
        ctx.hosts.fetch_add(targets.len() as u64, Ordering::Relaxed);
        resolutions.extend(resolve_all(ctx, &targets).await);
        resolutions.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if ctx.cancel.is_cancelled() {
        return false;
    }
    {
        let mut cloud = ctx.cloud.lock().unwrap_or_else(|p| p.into_inner());
        let mut needed = ctx.web_needed.lock().unwrap_or_else(|p| p.into_inner());
        for r in &resolutions {
            if let Some(p) = checks::takeover::provider_for(&r.chain) {
                cloud.insert(r.name.clone(), p.cloud.as_str());
            }
            let legacy =
                scope.migrations.iter().any(|m| m.host == r.name) || req.earlier_addresses.contains_key(&r.name);
            if legacy || !r.chain.is_empty() {
                needed.insert(r.name.clone());
            }
        }
    }
    let mut by_addr: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
    for r in &resolutions {
        let name_checks = [CheckId::DnsDanglingCname, CheckId::DnsPointsOutOfScope];
        if !name_checks.iter().all(|c| ctx.skipped(c, &r.name, None)) {
            if let ChainEnd::Failed(_) = r.end {
                complete = false;
            } else {
                ctx.found(checks::names::check(r, &scope.engagement.id)).await;
                for c in name_checks {
                    ctx.covered(c, &r.name, None).await;
                }
            }
        }
        for a in &r.allowed {
            // Names come sorted: the first names the address's services.
            by_addr.entry(*a).or_default().push(r.name.clone());
        }
        if !r.allowed.is_empty() {
            ctx.send(ScanEvent::Resolved { host: r.name.clone(), addrs: r.allowed.clone() }).await;
        }
    }
    for a in addr_targets {
        if scope.check_addr(a).allowed {
            by_addr.entry(a).or_insert_with(|| vec![a.to_string()]);
        }
    }

    if active && !port_scan(ctx, &by_addr).await {
        complete = false;
    }
    takeovers(ctx, &resolutions, active).await;
    if active && !legacy_origins(ctx, req, &resolutions).await {
        complete = false;
    }
    complete && !ctx.cancel.is_cancelled()
}

/// `dns.takeover` for every name with a CNAME chain. The provider's endpoint
/// is asked (active profiles only, and only when the guard allows it) on the
/// ports where the chain's addresses answered HTTP or HTTPS in the port scan,
/// else 80 and 443.
async fn takeovers(ctx: &Arc<Ctx>, resolutions: &[Arc<crate::guard::Resolution>], active: bool) {
    let web: Vec<(IpAddr, u16, bool)> = ctx.web.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let eng = ctx.guard.scope().engagement.id.clone();
    for r in resolutions {
        if r.chain.is_empty()
            || matches!(r.end, ChainEnd::Failed(_))
            || ctx.skipped(&CheckId::DnsTakeover, &r.name, None)
        {
            continue;
        }
        if ctx.cancel.is_cancelled() {
            return;
        }
        let port_of = |tls: bool| web.iter().find(|(a, _, t)| *t == tls && r.allowed.contains(a)).map(|(_, p, _)| *p);
        let ports = checks::takeover::Ports { http: port_of(false).unwrap_or(80), https: port_of(true).unwrap_or(443) };
        let rep = match (&ctx.http, active) {
            (Some(client), true) => checks::takeover::check_on(&ctx.guard, client, r, &eng, ports).await,
            // Passive: DNS evidence only (no client: the same).
            _ => checks::takeover::check_on_dns(r, &eng),
        };
        let inconclusive = rep.inconclusive;
        ctx.found(rep.observations).await;
        if !inconclusive {
            ctx.covered(CheckId::DnsTakeover, &r.name, None).await;
        }
    }
}

/// `migration.legacy-origin-live` for every scanned host with legacy
/// addresses (`[[migration]]`, or earlier resolutions): compare the front
/// page on each of its web ports today with the same page at each legacy
/// address. Returns whether every comparison was definite.
async fn legacy_origins(ctx: &Arc<Ctx>, req: &ScanRequest, resolutions: &[Arc<crate::guard::Resolution>]) -> bool {
    let Some(client) = &ctx.http else { return true };
    let scope = ctx.guard.scope();
    let web: Vec<(IpAddr, u16, bool)> = ctx.web.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let check = CheckId::MigrationLegacyOriginLive;
    let eng = scope.engagement.id.clone();
    let mut definite = true;
    for r in resolutions {
        let mut legacy: BTreeSet<IpAddr> = BTreeSet::new();
        for m in scope.migrations.iter().filter(|m| m.host == r.name) {
            legacy.extend(&m.legacy_addresses);
        }
        if let Some(earlier) = req.earlier_addresses.get(&r.name) {
            legacy.extend(earlier);
        }
        legacy.retain(|a| !r.allowed.contains(a));
        if legacy.is_empty() {
            continue;
        }
        // Today's web endpoints of the host, one per port.
        let mut endpoints: BTreeMap<u16, checks::migration::Current> = BTreeMap::new();
        for (addr, port, https) in &web {
            if r.allowed.contains(addr) {
                endpoints.entry(*port).or_insert(checks::migration::Current {
                    addr: *addr,
                    port: *port,
                    https: *https,
                });
            }
        }
        for (port, current) in endpoints {
            if ctx.skipped(&check, &r.name, Some(port)) {
                continue;
            }
            let mut unit_definite = true;
            for addr in &legacy {
                if ctx.cancel.is_cancelled() {
                    return false;
                }
                // The guard decides whether the old address may still be contacted.
                if ctx.guard.allow_origin(&r.name, *addr).is_err() {
                    continue;
                }
                let out = checks::migration::compare(&ctx.guard, client, &r.name, current, *addr, &eng).await;
                unit_definite &= out.definite;
                if let Some(o) = out.observation {
                    ctx.found(vec![o]).await;
                }
            }
            if unit_definite {
                ctx.covered(check.clone(), &r.name, Some(port)).await;
            }
            definite &= unit_definite;
        }
    }
    definite
}

/// Try the common labels under `apex`; returns the in-scope names that exist.
async fn discover(ctx: &Arc<Ctx>, apex: &str, labels: &[&str]) -> Vec<String> {
    let mut set = JoinSet::new();
    let sem = Arc::new(Semaphore::new(ctx.guard.scope().limits.concurrency.clamp(1, 64)));
    for label in labels {
        let name = format!("{label}.{apex}");
        if !ctx.guard.scope().check_name(&name).allowed {
            continue;
        }
        let Ok(permit) = sem.clone().acquire_owned().await else { break };
        let ctx = ctx.clone();
        set.spawn(async move {
            let _permit = permit;
            if ctx.cancel.is_cancelled() {
                return None;
            }
            let r = ctx.guard.resolve(&name).await;
            r.exists().then_some(name)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(Some(n)) = r {
            out.push(n);
        }
    }
    out
}

async fn resolve_all(ctx: &Arc<Ctx>, names: &BTreeSet<String>) -> Vec<Arc<crate::guard::Resolution>> {
    let mut set = JoinSet::new();
    let sem = Arc::new(Semaphore::new(ctx.guard.scope().limits.concurrency.clamp(1, 256)));
    for name in names {
        let Ok(permit) = sem.clone().acquire_owned().await else { break };
        let ctx = ctx.clone();
        let name = name.clone();
        set.spawn(async move {
            let _permit = permit;
            let r = ctx.guard.resolve(&name).await;
            if let ChainEnd::Failed(why) = &r.end {
                ctx.note_error(&GuardError::Failed(why.clone()));
            }
            ctx.hosts_done.fetch_add(1, Ordering::Relaxed);
            ctx.tick().await;
            r
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Connect to every scope port of every address; probe what answers.
/// Returns whether every port got a definite answer (open or closed).
///
/// One worker task per core, each polling a fixed window of probes (the
/// scope's `concurrency` split between them), as RustScan does: sockets and
/// memory stay flat, and there is no task spawn per port. Measured against
/// nmap on a full 65535-port sweep (`scripts/bench-discovery.sh`): a task per
/// port cost about 20% more time, a single window on one core twice as much.
async fn port_scan(ctx: &Arc<Ctx>, by_addr: &BTreeMap<IpAddr, Vec<String>>) -> bool {
    let ports: Arc<Vec<u16>> = Arc::new(ctx.guard.scope().ports.clone());
    let targets: Arc<Vec<(IpAddr, Vec<String>)>> = Arc::new(by_addr.iter().map(|(a, h)| (*a, h.clone())).collect());
    ctx.ports_total.store((ports.len() * targets.len()) as u64, Ordering::Relaxed);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 16);
    let window = (ctx.guard.scope().limits.concurrency / workers).max(1);
    let mut set = JoinSet::new();
    for w in 0..workers {
        let (ctx, ports, targets) = (ctx.clone(), ports.clone(), targets.clone());
        set.spawn(async move { port_worker(&ctx, &targets, &ports, w, workers, window).await });
    }
    let mut complete = true;
    while let Some(r) = set.join_next().await {
        complete &= r.unwrap_or(false);
    }
    complete
}

/// Probe every `workers`-th (address, port) pair starting at `w`.
async fn port_worker(
    ctx: &Ctx,
    targets: &[(IpAddr, Vec<String>)],
    ports: &[u16],
    w: usize,
    workers: usize,
    window: usize,
) -> bool {
    let mut in_flight = FuturesUnordered::new();
    let mut complete = true;
    let mut i = 0usize;
    'outer: for (addr, names) in targets {
        let Some(host) = names.first() else { continue };
        for &port in ports {
            i += 1;
            if (i - 1) % workers != w {
                continue;
            }
            if ctx.cancel.is_cancelled() {
                complete = false;
                break 'outer;
            }
            // On resume, skip a port only when every check on it already ran.
            let done = ctx.skipped(&CheckId::SvcSshExposed, host, Some(port))
                && services::CHECKS.iter().all(|c| ctx.skipped(c, host, Some(port)))
                && !names.iter().any(|n| ctx.needs_web(n, port))
                && names
                    .iter()
                    .take(MAX_TLS_NAMES)
                    .all(|n| checks::tls::CHECKS.iter().all(|c| ctx.skipped(c, n, Some(port))));
            if done {
                ctx.ports_done.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            while in_flight.len() >= window {
                match in_flight.next().await {
                    Some(ok) => complete &= ok,
                    None => break,
                }
            }
            let addr = *addr;
            in_flight.push(async move {
                let ok = probe_port(ctx, names, addr, port).await;
                ctx.ports_done.fetch_add(1, Ordering::Relaxed);
                ok
            });
        }
    }
    while let Some(ok) = in_flight.next().await {
        complete &= ok;
    }
    complete
}

/// Most names whose certificate is inspected on one address and port.
const MAX_TLS_NAMES: usize = 8;

/// Connect, then probe the service. Returns false if the port gave no definite answer.
async fn probe_port(ctx: &Ctx, names: &[String], addr: IpAddr, port: u16) -> bool {
    let Some(host) = names.first().map(String::as_str) else { return true };
    let conn = tokio::select! {
        c = ctx.guard.connect(host, addr, port, "tcp.connect") => c,
        _ = ctx.cancel.cancelled() => return false,
    };
    let mut conn = match conn {
        Ok(c) => c,
        Err(GuardError::Failed(why)) if why == "closed" => {
            // Definitely not listening: previous service findings here are fixed.
            ctx.covered(CheckId::SvcSshExposed, host, Some(port)).await;
            cover_tls_and_web(ctx, names, port).await;
            return true;
        }
        Err(e) => {
            ctx.note_error(&e);
            return false;
        }
    };
    ctx.open_ports.fetch_add(1, Ordering::Relaxed);
    let conn_audit = conn.audit;
    ctx.send(ScanEvent::OpenPort { host: host.to_owned(), addr, port }).await;
    // Servers that speak first (SSH, SMTP, MySQL, VNC ...) do so at once. After
    // a short wait the port is probed as a silent one, while this connection
    // keeps listening in case the greeting was only slow; the listening stops
    // as soon as the port proves to be TLS, HTTP or a known service.
    let wait = ctx.guard.timeout().min(GREETING_WAIT);
    let fast = wait.min(FAST_GREETING);
    let greeting = tokio::select! {
        g = ssh::read_greeting(&mut conn.stream, fast) => g,
        _ = ctx.cancel.cancelled() => return false,
    };
    let (data, definite) = match greeting {
        ssh::Greeting::Data(d) => (d, true),
        ssh::Greeting::Failed(_) => return false,
        ssh::Greeting::Silent => {
            let mut stream = conn.stream;
            let rest = wait.saturating_sub(fast);
            let late = async move { ssh::read_greeting(&mut stream, rest).await };
            tokio::pin!(late);
            let work = silent_port(ctx, names, addr, port);
            tokio::pin!(work);
            let mut heard: Option<ssh::Greeting> = None;
            let (definite, identified) = loop {
                tokio::select! {
                    r = &mut work => break r,
                    g = &mut late, if heard.is_none() => {
                        // The server spoke after all: what is still being
                        // probed cannot be TLS or HTTP; stop it.
                        let spoke = matches!(&g, ssh::Greeting::Data(d) if !d.is_empty());
                        heard = Some(g);
                        if spoke {
                            break (true, false);
                        }
                    }
                    _ = ctx.cancel.cancelled() => return false,
                }
            };
            let heard = match heard {
                Some(g) => g,
                None if identified => ssh::Greeting::Silent,
                None => tokio::select! {
                    g = &mut late => g,
                    _ = ctx.cancel.cancelled() => return false,
                },
            };
            match heard {
                // A slow greeting: handled like a prompt one.
                ssh::Greeting::Data(d) if !d.is_empty() => (d, definite),
                _ => {
                    ctx.covered(CheckId::SvcSshExposed, host, Some(port)).await;
                    return definite;
                }
            }
        }
    };
    // The server spoke first: not implicit TLS, not HTTP.
    cover_tls_and_web(ctx, names, port).await;
    let eng = ctx.guard.scope().engagement.id.clone();
    if let Some(mut id) = services::from_greeting(&data) {
        id.audit.push(conn_audit);
        ctx.found(vec![id.observation(&eng, host, addr, port)]).await;
    }
    for c in services::CHECKS {
        ctx.covered(c, host, Some(port)).await;
    }
    if let Some(banner) = ssh::ssh_banner(&data) {
        let asset = Asset { host: host.to_owned(), ip: Some(addr), port: Some(port) };
        let o = observe(
            CheckId::SvcSshExposed,
            &eng,
            asset,
            "",
            format!("{addr}:{port} answers \"{banner}\""),
            &[conn_audit],
        );
        ctx.found(vec![o]).await;
    }
    ctx.covered(CheckId::SvcSshExposed, host, Some(port)).await;
    ctx.tick().await;
    definite
}

/// How long a server that speaks first is given to do so.
const GREETING_WAIT: Duration = Duration::from_secs(3);
/// How long the engine waits for a greeting before it starts probing the
/// port as one that waits for the client (and keeps listening meanwhile).
const FAST_GREETING: Duration = Duration::from_millis(100);

/// Probe a port whose server waits for the client: TLS; then HTTP and the
/// services that wait (Redis, PostgreSQL, MongoDB, RDP), the services first
/// on their usual ports and otherwise only when HTTP got no answer. Returns
/// whether the answers were definite, and whether the port proved to be TLS,
/// HTTP or one of those services.
async fn silent_port(ctx: &Ctx, names: &[String], addr: IpAddr, port: u16) -> (bool, bool) {
    let Some(host) = names.first().map(String::as_str) else { return (true, false) };
    let mut definite = true;
    let mut is_tls = false;
    for name in names.iter().take(MAX_TLS_NAMES) {
        let (d, tls) = tls_endpoint(ctx, name, addr, port).await;
        definite &= d;
        is_tls |= tls;
    }
    if is_tls {
        ctx.web.lock().unwrap_or_else(|p| p.into_inner()).push((addr, port, true));
        let (d, _) = http_endpoint(ctx, names, addr, port, true).await;
        return (definite && d, true);
    }
    if services::is_service_port(port) {
        let (d, found) = service_probes(ctx, host, addr, port).await;
        if found {
            // Not a web server: the content checks have nothing to read here.
            cover_web(ctx, names, port).await;
            return (definite && d, true);
        }
        definite &= d;
    }
    ctx.web.lock().unwrap_or_else(|p| p.into_inner()).push((addr, port, false));
    let (d, http) = http_endpoint(ctx, names, addr, port, false).await;
    definite &= d;
    if http {
        // A web server: none of the services that wait for the client.
        for c in services::CHECKS {
            ctx.covered(c, host, Some(port)).await;
        }
        return (definite, true);
    }
    if services::is_service_port(port) {
        return (definite, false);
    }
    let (d, found) = service_probes(ctx, host, addr, port).await;
    (definite && d, found)
}

/// The service probes of a silent port. Returns whether the answers were
/// definite and whether a service was identified.
async fn service_probes(ctx: &Ctx, host: &str, addr: IpAddr, port: u16) -> (bool, bool) {
    if services::CHECKS.iter().all(|c| ctx.skipped(c, host, Some(port))) {
        return (true, false);
    }
    let rep = tokio::select! {
        r = services::probe_silent(&ctx.guard, host, addr, port) => r,
        _ = ctx.cancel.cancelled() => return (false, false),
    };
    for e in &rep.errors {
        ctx.note_error(e);
    }
    let eng = ctx.guard.scope().engagement.id.clone();
    let found = !rep.found.is_empty();
    ctx.found(rep.found.iter().map(|i| i.observation(&eng, host, addr, port)).collect()).await;
    if rep.definite {
        for c in services::CHECKS {
            ctx.covered(c, host, Some(port)).await;
        }
    }
    (rep.definite, found)
}

/// The port definitely serves neither TLS nor HTTP: every TLS and content
/// check ran (and found nothing) for each name on it.
async fn cover_tls_and_web(ctx: &Ctx, names: &[String], port: u16) {
    for name in names.iter().take(MAX_TLS_NAMES) {
        for c in checks::tls::CHECKS {
            ctx.covered(c, name, Some(port)).await;
        }
    }
    cover_web(ctx, names, port).await;
}

/// The port definitely serves no HTTP: every content check ran (and found
/// nothing) for each name on it.
async fn cover_web(ctx: &Ctx, names: &[String], port: u16) {
    for name in names.iter().take(MAX_TLS_NAMES) {
        for t in ctx.templates.templates() {
            ctx.covered(t.id.clone(), name, Some(port)).await;
        }
    }
}

/// TLS checks of one name on one endpoint. Returns whether the answers were
/// definite, and whether the endpoint speaks TLS.
async fn tls_endpoint(ctx: &Ctx, name: &str, addr: IpAddr, port: u16) -> (bool, bool) {
    if checks::tls::CHECKS.iter().all(|c| ctx.skipped(c, name, Some(port))) {
        // Resumed: reported before; only whether it is TLS is needed.
        let is_tls = tokio::select! {
            t = checks::tls::speaks_tls(&ctx.guard, name, addr, port) => t,
            _ = ctx.cancel.cancelled() => return (false, false),
        };
        return (true, is_tls);
    }
    let rep = tokio::select! {
        r = checks::tls::check_endpoint(&ctx.guard, name, addr, port, &ctx.tls) => r,
        _ = ctx.cancel.cancelled() => return (false, false),
    };
    if let Some(w) = rep.window_closed {
        ctx.halt(Stop::Window(w));
        return (false, false);
    }
    let is_tls = rep.is_tls;
    ctx.found(rep.observations).await;
    if let Some(sha256) = rep.leaf_sha256 {
        ctx.send(ScanEvent::Certificate { host: name.to_owned(), port, sha256 }).await;
    }
    if rep.definite {
        for c in checks::tls::CHECKS {
            ctx.covered(c, name, Some(port)).await;
        }
    }
    (rep.definite, is_tls)
}

/// Content checks (templates) on a web server, for each name served there.
/// Returns whether every request got a definite answer.
async fn http_endpoint(ctx: &Ctx, names: &[String], addr: IpAddr, port: u16, https: bool) -> (bool, bool) {
    let Some(client) = &ctx.http else { return (false, false) };
    let scheme = if https { "https" } else { "http" };
    let keys = ctx.templates.requests_for(scheme, port);
    // Each template is evaluated as soon as its last request is done, and a
    // response is dropped once no template still needs it (`GET /` is kept
    // for the redirect check): many names are probed at once, and holding
    // every response of each cost about 1 KiB per request in flight. Plans
    // are by index into `keys`, sorted by the request that completes them.
    let index: std::collections::HashMap<&RequestKey, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut plans: Vec<(&templates::Template, Vec<usize>, usize)> = ctx
        .templates
        .templates()
        .iter()
        .filter(|t| t.applies_to(scheme, port))
        .map(|t| {
            let mine: Vec<usize> = t.requests().iter().filter_map(|k| index.get(k).copied()).collect();
            let ready = mine.iter().copied().max().unwrap_or(0);
            (t, mine, ready)
        })
        .collect();
    plans.sort_by_key(|(_, _, ready)| *ready);
    let root = keys.iter().position(|k| k.method == templates::Method::Get && k.path == "/" && k.headers.is_empty());
    // After request `i`, drop the responses in `frees_at[i]`: no later template needs them.
    let mut last_use: Vec<usize> = (0..keys.len()).collect();
    for (_, mine, ready) in &plans {
        for &k in mine {
            last_use[k] = last_use[k].max(*ready);
        }
    }
    let mut frees_at: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
    for (k, &last) in last_use.iter().enumerate() {
        if Some(k) != root {
            frees_at[last].push(k);
        }
    }
    let eng = ctx.guard.scope().engagement.id.clone();
    let mut definite = true;
    // Whether any request got an HTTP answer: the port is a web server.
    let mut served = false;
    for name in names.iter().take(MAX_TLS_NAMES) {
        if plans.iter().all(|(t, _, _)| ctx.skipped(&t.id, name, Some(port))) {
            continue;
        }
        let mut responses: Vec<Option<(templates::Response, u64)>> = vec![None; keys.len()];
        let mut failed = vec![false; keys.len()];
        let (mut answered, mut any_failed) = (0usize, false);
        // Plans evaluated so far; responses dropped so far.
        let (mut evaluated, mut freed) = (0usize, 0usize);
        // The requests of one name share a persistent connection (reopened,
        // through the guard, whenever the server closes it).
        let mut session = crate::http::Session::new();
        for (i, key) in keys.iter().enumerate() {
            if ctx.cancel.is_cancelled() {
                return (false, served);
            }
            let req = HttpRequest {
                https,
                host: name,
                addr,
                port,
                method: match key.method {
                    templates::Method::Get => HttpMethod::Get,
                    templates::Method::Head => HttpMethod::Head,
                },
                path: &key.path,
                headers: &key.headers,
            };
            match client.fetch_in(&ctx.guard, &mut session, &req).await {
                Ok(r) => {
                    let url = format!("{scheme}://{name}:{port}{}", key.path);
                    let resp = templates::Response { status: r.status, headers: r.headers, body: r.body, url };
                    responses[i] = Some((resp, r.audit));
                    answered += 1;
                    served = true;
                }
                Err(FetchError::ExcludedPath(_)) => {}
                Err(FetchError::Guard(GuardError::Window(w))) => {
                    ctx.halt(Stop::Window(w));
                    return (false, served);
                }
                Err(_) if answered == 0 && !any_failed => {
                    // The first request (GET /) got no HTTP answer: not a web
                    // server. Nothing to check, and that is definite.
                    break;
                }
                Err(_) => {
                    failed[i] = true;
                    any_failed = true;
                }
            }
            if answered == 0 {
                continue;
            }
            while let Some((t, mine, _)) = plans.get(evaluated).filter(|(_, _, ready)| *ready <= i) {
                evaluated += 1;
                if ctx.skipped(&t.id, name, Some(port)) {
                    continue;
                }
                // In the template's own order: the first response that matches is the evidence.
                let got: Vec<&(templates::Response, u64)> =
                    mine.iter().filter_map(|&k| responses[k].as_ref()).collect();
                let refs: Vec<&templates::Response> = got.iter().map(|(r, _)| r).collect();
                if let Some(evidence) = t.evaluate(&refs) {
                    let asset = Asset { host: name.clone(), ip: Some(addr), port: Some(port) };
                    let mut o = Observation::new(t.id.clone(), asset, format!("{scheme}://{name}:{port}/"), &eng);
                    o.title = t.title.clone();
                    o.severity = t.severity;
                    o.confidence = t.confidence;
                    o.cwe = t.cwe;
                    o.references = t.references.clone();
                    o.remediation = t.remediation.clone();
                    o.evidence = evidence;
                    o.audit = got.iter().map(|(_, a)| *a).collect();
                    ctx.found(vec![o]).await;
                }
                if mine.iter().all(|&k| !failed[k]) {
                    ctx.covered(t.id.clone(), name, Some(port)).await;
                } else {
                    definite = false;
                }
            }
            while freed <= i {
                for &k in &frees_at[freed] {
                    responses[k] = None;
                }
                freed += 1;
            }
        }
        if answered == 0 {
            definite &= !any_failed;
            if !any_failed {
                for (t, _, _) in &plans {
                    ctx.covered(t.id.clone(), name, Some(port)).await;
                }
            }
            continue;
        }
        if !https && !ctx.skipped(&CheckId::HttpNoHttpsRedirect, name, Some(port)) {
            let got: Vec<(RequestKey, templates::Response, u64)> = root
                .and_then(|r| responses[r].take().map(|(resp, audit)| (keys[r].clone(), resp, audit)))
                .into_iter()
                .collect();
            if let Some(o) = checks::web::no_https_redirect(&got, name, addr, port, &eng) {
                ctx.found(vec![o]).await;
            }
            ctx.covered(CheckId::HttpNoHttpsRedirect, name, Some(port)).await;
        }
    }
    (definite, served)
}
