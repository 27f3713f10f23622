//! The scan engine: seeds → DNS → discovery → TCP connect on the scope's
//! ports → probes of each open service.
//!
//! The engine only talks to the network through the [`ScopeGuard`] and only
//! reports through a bounded channel of [`ScanEvent`]s; it never opens the
//! store. Work is bounded by the scope's `concurrency` (a semaphore permit is
//! taken before each task is spawned), every await has a timeout (the guard's),
//! and cancellation (Ctrl-C, the window closing) stops new work at once.

mod banners;
mod labels;
mod mailnames;
mod port_faults;
mod ports;
mod select;
mod service_probes;
mod soft;
mod web_policy;

pub use select::{CheckSelection, SelectError};

use ports::port_scan;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt as _;
use haetae_findings::{CheckId, Coverage, FailedUnit, Observation};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checks;
use crate::guard::{ChainEnd, GuardError, ScopeGuard};
use crate::http::HttpClient;
use crate::scope::{Target, parse_target};
use crate::software::SoftwareData;
use crate::templates::TemplateSet;
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
    /// End-of-life and known-exploited data (`None`: the built-in files).
    pub software: Option<Arc<SoftwareData>>,
    /// Which checks run (`--checks`, `--skip-checks`); only they report and cover.
    pub checks: CheckSelection,
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
    /// Units that got no definite answer.
    pub failed: u64,
}

/// What the engine reports while it runs.
#[derive(Debug, Clone)]
pub enum ScanEvent {
    /// A weakness seen.
    Found(Box<Observation>),
    /// A (check, asset) unit ran to completion without error.
    Covered(Coverage),
    /// A port refused the connection: nothing listens, so every check its
    /// own probes run (services, TLS, content checks) is covered for `host`
    /// there, as one entry rather than one per check.
    PortClosed {
        /// Host name (or address text).
        host: String,
        /// Port.
        port: u16,
    },
    /// A unit ran but got no definite answer (timeout, reset, oversize or
    /// truncated reply, 429/503, a panic in its probe ...): it covers nothing.
    Failed(FailedUnit),
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
        /// When the leaf certificate expires.
        not_after: Option<haetae_findings::Timestamp>,
    },
    /// The in-scope addresses a host resolved to (for change tracking and
    /// the next scan's legacy-origin check). Empty only for a definite
    /// answer without any address: NXDOMAIN or no A/AAAA record.
    Resolved {
        /// Host name.
        host: String,
        /// Its in-scope addresses, sorted.
        addrs: Vec<IpAddr>,
    },
    /// What the service of an endpoint announced about itself (product and
    /// version readings of its banner, `Server` header ...), for change
    /// tracking; only endpoints where something was read.
    Banner {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
        /// The readings, sorted, `; `-separated, bounded.
        banner: String,
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
    /// The audit log could not be written, so nothing more may be sent.
    Audit(String),
}

/// How the scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every planned unit ran to an end: covered (a definite answer) or
    /// failed (reported as [`ScanEvent::Failed`]). Only a complete scan may
    /// close unseen findings, and only on the units it covered.
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
    software: Arc<SoftwareData>,
    http: Option<HttpClient>,
    events: mpsc::Sender<ScanEvent>,
    cancel: CancellationToken,
    skip: HashSet<Unit>,
    select: CheckSelection,
    stop: std::sync::Mutex<Option<Stop>>,
    hosts: AtomicU64,
    hosts_done: AtomicU64,
    ports_total: AtomicU64,
    ports_done: AtomicU64,
    open_ports: AtomicU64,
    findings: AtomicU64,
    failed: AtomicU64,
    /// Open ports that waited for the client to speak: (address, port, speaks TLS).
    web: std::sync::Mutex<Vec<(IpAddr, u16, bool)>>,
    /// The cloud each host's CNAME chain points into (`cloud:<id>` tag).
    cloud: std::sync::Mutex<HashMap<String, &'static str>>,
    /// Names whose web ports the legacy-origin or takeover check needs to know.
    web_needed: std::sync::Mutex<HashSet<String>>,
    /// Software versions read during the port scan, judged after it.
    soft: std::sync::Mutex<Vec<soft::Pending>>,
}

impl Ctx {
    /// Whether a unit is not to run: a check not selected, or one an
    /// interrupted run of this scan already covered.
    fn skipped(&self, check: &CheckId, host: &str, port: Option<u16>) -> bool {
        !self.select.selects(check) || self.skip.contains(&(check.clone(), host.to_owned(), port))
    }

    /// On resume, whether a port whose own checks all ran must still be
    /// probed: the legacy-origin or takeover check of a name on it has not run,
    /// and needs to know whether (and how) the port serves the web.
    fn needs_web(&self, name: &str, port: u16) -> bool {
        let needed = self.web_needed.lock().unwrap_or_else(|p| p.into_inner()).contains(name);
        let apex = || {
            self.guard.scope().domains.iter().any(|d| d == name)
                && !self.skipped(&CheckId::HttpSecurityTxtMissing, name, None)
        };
        (needed
            && !(self.skipped(&CheckId::MigrationLegacyOriginLive, name, Some(port))
                && self.skipped(&CheckId::DnsTakeover, name, None)))
            || apex()
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
            failed: self.failed.load(Ordering::Relaxed),
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
            if self.select.selects(&o.check) {
                self.send(ScanEvent::Found(Box::new(o))).await;
            }
        }
    }

    async fn covered(&self, check: CheckId, host: &str, port: Option<u16>) {
        if self.select.selects(&check) {
            self.send(ScanEvent::Covered(Coverage { check, host: host.to_owned(), port })).await;
        }
    }

    /// A unit got no definite answer: it covers nothing. Reported, counted
    /// and written to the audit log with the reason.
    async fn failed(&self, checks: &str, host: &str, addr: Option<IpAddr>, port: Option<u16>, reason: &str) {
        if self.cancel.is_cancelled() && self.stop.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            // Stopped (window, audit): what was cut short is not a probe failure.
            return;
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.guard.record_failure(checks, host, addr, port, reason) {
            self.note_error(&e);
        }
        let unit = FailedUnit { checks: checks.to_owned(), host: host.to_owned(), port, reason: reason.to_owned() };
        self.send(ScanEvent::Failed(unit)).await;
    }

    async fn tick(&self) {
        let p = self.progress();
        // Progress is best effort: never wait for room in the channel for it.
        let _ = self.events.try_send(ScanEvent::Progress(p));
    }
}

/// The message of a panic caught from a task ([`tokio::task::JoinError::into_panic`]).
pub fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic_text(&*panic)
}

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_owned()
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
    let software = match &req.software {
        Some(s) => s.clone(),
        None => Arc::new(SoftwareData::builtin().unwrap_or_default()),
    };
    let engagement = &guard.scope().engagement;
    let http = HttpClient::new(&engagement.id, &engagement.contact).ok();
    let ctx = Arc::new(Ctx {
        guard: guard.clone(),
        tls: req.tls.clone(),
        templates,
        software,
        http,
        events,
        cancel: cancel.child_token(),
        skip: req.skip.clone(),
        select: req.checks.clone(),
        stop: std::sync::Mutex::new(None),
        hosts: AtomicU64::new(0),
        hosts_done: AtomicU64::new(0),
        ports_total: AtomicU64::new(0),
        ports_done: AtomicU64::new(0),
        open_ports: AtomicU64::new(0),
        findings: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        web: std::sync::Mutex::new(Vec::new()),
        cloud: std::sync::Mutex::new(HashMap::new()),
        web_needed: std::sync::Mutex::new(HashSet::new()),
        soft: std::sync::Mutex::new(Vec::new()),
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
        let zone = std::panic::AssertUnwindSafe(checks::zone::check_zone(&ctx.guard, apex, active, &skip, &ctx.cancel));
        let rep = tokio::select! {
            r = zone.catch_unwind() => r,
            _ = ctx.cancel.cancelled() => return false,
        };
        let rep = match rep {
            Ok(rep) => rep,
            Err(panic) => {
                let why = format!("the zone checks panicked: {}", panic_text(&*panic));
                ctx.failed("dns.zone", apex, None, None, &why).await;
                continue;
            }
        };
        if let Some(w) = rep.window_closed {
            ctx.halt(Stop::Window(w));
            return false;
        }
        ctx.found(rep.observations).await;
        for c in &rep.covered {
            ctx.covered(c.clone(), apex, None).await;
        }
        if !ctx.cancel.is_cancelled() {
            // A zone check that did not run to an answer is a failed unit.
            let families: [(&str, &[CheckId]); 5] = [
                ("dns.spf-*", &[CheckId::DnsSpfMissing, CheckId::DnsSpfPermissive]),
                ("dns.dmarc-*", &[CheckId::DnsDmarcMissing, CheckId::DnsDmarcWeak]),
                ("dns.dnssec-*", &[CheckId::DnsDnssecMissing, CheckId::DnsDnssecExpired]),
                ("dns.caa-missing", &[CheckId::DnsCaaMissing]),
                ("dns.axfr-open", if active { &[CheckId::DnsAxfrOpen] } else { &[] }),
            ];
            for (group, checks) in families {
                if checks.iter().any(|c| !rep.covered.contains(c) && !skip(c)) {
                    let why = "the name servers gave no definite answer (timeout, SERVFAIL or a transfer that stalled)";
                    ctx.failed(group, apex, None, None, why).await;
                }
            }
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
    // SPF and DMARC of the mail domains below the apexes (mailnames.rs).
    let known: BTreeSet<String> = names.union(&targets).cloned().collect();
    if !mailnames::mail_names(ctx, &known, &apexes).await {
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
            if let ChainEnd::Failed(why) = &r.end {
                ctx.failed("dns.names", &r.name, None, None, why).await;
            } else if r.end == ChainEnd::TooLong {
                // A loop or a chain past eight names: where it ends is unknown.
                let why = format!("the CNAME chain loops or is longer than eight names ({})", r.chain.join(" -> "));
                ctx.failed("dns.names", &r.name, None, None, &why).await;
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
        if !r.allowed.is_empty() || banners::no_address(r) {
            // No address at all is a definite answer too (the host is gone).
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
    ctx.flush_software().await;
    takeovers(ctx, &resolutions, active).await;
    if active && !web_policy::security_txt(ctx, &resolutions).await {
        complete = false;
    }
    if active && !legacy_origins(ctx, req, &resolutions).await {
        complete = false;
    }
    // Units without a definite answer were reported as failed and cover
    // nothing; the scan is complete when every unit came to an end.
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
        } else if !ctx.cancel.is_cancelled() {
            let why = "the provider's endpoint gave no definite answer";
            ctx.failed(CheckId::DnsTakeover.as_str(), &r.name, None, None, why).await;
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
            } else if !ctx.cancel.is_cancelled() {
                let why = "a page at the current or a legacy address got no definite answer";
                ctx.failed(check.as_str(), &r.name, Some(current.addr), Some(port), why).await;
            }
        }
    }
    !ctx.cancel.is_cancelled()
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
            ctx.hosts_done.fetch_add(1, Ordering::Relaxed);
            ctx.tick().await;
            r
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(r) => out.push(r),
            Err(e) if e.is_panic() => {
                let why = format!("resolving panicked: {}", panic_message(e.into_panic()));
                ctx.failed("dns.names", "(a name)", None, None, &why).await;
            }
            Err(_) => {}
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
