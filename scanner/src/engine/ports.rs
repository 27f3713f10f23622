//! Port discovery and what runs on each open port: the greeting, the TLS
//! checks, the service probes and the content checks (templates).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, StreamExt};
use haetae_findings::{Asset, CheckId, Observation};
use tokio::task::JoinSet;

use super::port_faults::PortFaults;
use super::service_probes::service_probes;
use super::{Ctx, ScanEvent, Stop};
use crate::checks::{self, observe, services, ssh};
use crate::guard::GuardError;
use crate::http::{FetchError, Method as HttpMethod, Request as HttpRequest};
use crate::templates::{self, RequestKey};

/// Connect to every scope port of every address; probe what answers.
/// Returns whether every port got a definite answer (open or closed).
///
/// One worker task per core, each polling a fixed window of probes (the
/// scope's `concurrency` split between them), as RustScan does: sockets and
/// memory stay flat, and there is no task spawn per port. Measured against
/// nmap on a full 65535-port sweep (`scripts/bench-discovery.sh`): a task per
/// port cost about 20% more time, a single window on one core twice as much.
pub(super) async fn port_scan(ctx: &Arc<Ctx>, by_addr: &BTreeMap<IpAddr, Vec<String>>) -> bool {
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
                && names.iter().take(MAX_TLS_NAMES).all(|n| ctx.skipped(&CheckId::HttpTraceEnabled, n, Some(port)))
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
                // A probe that panics (a bug, whatever the server sent) is a
                // failed unit; the scan goes on and commits what it found.
                let probe = std::panic::AssertUnwindSafe(probe_port(ctx, names, addr, port));
                let ok = match probe.catch_unwind().await {
                    Ok(ok) => ok,
                    Err(panic) => {
                        let why = format!("the probe panicked: {}", super::panic_text(&*panic));
                        ctx.failed("port", host, Some(addr), Some(port), &why).await;
                        true
                    }
                };
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
pub(super) const MAX_TLS_NAMES: usize = 8;

/// Connect, then probe the service. Returns false if the scan was stopped
/// meanwhile; units without a definite answer are reported as failed.
async fn probe_port(ctx: &Ctx, names: &[String], addr: IpAddr, port: u16) -> bool {
    let Some(host) = names.first().map(String::as_str) else { return true };
    let conn = tokio::select! {
        c = ctx.guard.connect(host, addr, port, "tcp.connect") => c,
        _ = ctx.cancel.cancelled() => return false,
    };
    let mut conn = match conn {
        Ok(c) => c,
        Err(GuardError::Failed(why)) if why == "closed" => {
            // Definitely not listening: previous service, TLS and content
            // findings here are fixed. One event per name, not one per
            // check: a full port sweep meets tens of thousands of these.
            if ctx.select.is_all() {
                for name in names.iter().take(MAX_TLS_NAMES) {
                    ctx.send(ScanEvent::PortClosed { host: name.clone(), port }).await;
                }
            } else {
                // A partial scan covers only the checks it runs.
                ctx.covered(CheckId::SvcSshExposed, host, Some(port)).await;
                for c in services::CHECKS {
                    ctx.covered(c, host, Some(port)).await;
                }
                cover_tls_and_web(ctx, names, port).await;
            }
            return true;
        }
        Err(e) => {
            ctx.note_error(&e);
            if !ctx.cancel.is_cancelled() {
                ctx.failed("port", host, Some(addr), Some(port), &format!("connect: {e}")).await;
            }
            return !ctx.cancel.is_cancelled();
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
    let data = match greeting {
        ssh::Greeting::Data(d) if d.is_empty() => {
            // Closed at once, without a byte: no answer about anything.
            let why = "the connection was closed without a byte";
            ctx.failed("port", host, Some(addr), Some(port), why).await;
            return true;
        }
        ssh::Greeting::Data(d) if ssh::endless(&d) => {
            // A greeting that fills the read without ending its line: no
            // whole answer (a banner that never ends).
            let why = format!("a greeting of {} bytes without a line end", d.len());
            ctx.failed("port", host, Some(addr), Some(port), &why).await;
            return true;
        }
        ssh::Greeting::Data(d) => d,
        ssh::Greeting::Failed(why) => {
            ctx.failed("port", host, Some(addr), Some(port), &format!("reading the greeting: {why}")).await;
            return true;
        }
        ssh::Greeting::Silent => {
            let mut stream = conn.stream;
            let rest = wait.saturating_sub(fast);
            let late = async move { ssh::read_greeting(&mut stream, rest).await };
            tokio::pin!(late);
            let mut faults = PortFaults::default();
            let (identified, heard) = {
                let work = silent_port(ctx, names, addr, port, &mut faults);
                tokio::pin!(work);
                let mut heard: Option<ssh::Greeting> = None;
                let identified = loop {
                    tokio::select! {
                        r = &mut work => break r,
                        g = &mut late, if heard.is_none() => {
                            // The server spoke after all: what is still being
                            // probed cannot be TLS or HTTP; stop it.
                            let spoke = matches!(&g, ssh::Greeting::Data(d) if !d.is_empty());
                            heard = Some(g);
                            if spoke {
                                break Some(false);
                            }
                        }
                        _ = ctx.cancel.cancelled() => return false,
                    }
                };
                (identified, heard)
            };
            let Some(identified) = identified else { return false };
            let heard = match heard {
                Some(g) => g,
                None if identified => ssh::Greeting::Silent,
                None => tokio::select! {
                    g = &mut late => g,
                    _ = ctx.cancel.cancelled() => return false,
                },
            };
            match heard {
                ssh::Greeting::Data(d) if ssh::endless(&d) => {
                    let why = format!("a greeting of {} bytes without a line end", d.len());
                    ctx.failed("port", host, Some(addr), Some(port), &why).await;
                    return true;
                }
                // A slow greeting: handled like a prompt one.
                ssh::Greeting::Data(d) if !d.is_empty() => d,
                _ if identified && faults.other => {
                    report_faults(ctx, host, addr, port, faults).await;
                    let why = "no greeting within the wait, and the port answers neither TLS nor HTTP nor a known service: \
                               a greeting may have come late";
                    ctx.failed(
                        "svc.ssh-exposed,svc.database-exposed,svc.remote-desktop-exposed",
                        host,
                        Some(addr),
                        Some(port),
                        why,
                    )
                    .await;
                    ctx.tick().await;
                    return true;
                }
                _ if identified => {
                    // TLS, HTTP or a service that waits: not SSH.
                    report_faults(ctx, host, addr, port, faults).await;
                    ctx.covered(CheckId::SvcSshExposed, host, Some(port)).await;
                    ctx.tick().await;
                    return true;
                }
                _ => {
                    // Open, and nothing it said was a definite answer: every
                    // check on the port is a failed unit, under one reason.
                    let why = faults.failed.first().map_or_else(
                        || "no greeting, and no reply to TLS, HTTP or the service probes".to_owned(),
                        |(g, n, w)| format!("no protocol identified ({g} on {n}: {w})"),
                    );
                    ctx.failed("port", host, Some(addr), Some(port), &why).await;
                    ctx.tick().await;
                    return true;
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
    let mut soft: Vec<crate::software::Reading> = services::greeting_software(&data).into_iter().collect();
    soft.extend(ssh::ssh_banner(&data).and_then(|b| crate::software::parse::from_ssh(&b)));
    ctx.software(host, addr, port, &soft, &[conn_audit]).await;
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
    true
}

/// Report the failed units of a port that was identified.
async fn report_faults(ctx: &Ctx, _host: &str, addr: IpAddr, port: u16, faults: PortFaults) {
    for (group, name, why) in faults.failed {
        ctx.failed(group, &name, Some(addr), Some(port), &why).await;
    }
}

fn method_name(m: templates::Method) -> &'static str {
    match m {
        templates::Method::Get => "GET",
        templates::Method::Head => "HEAD",
    }
}

/// How long a server that speaks first is given to do so.
const GREETING_WAIT: Duration = Duration::from_secs(3);
/// How long the engine waits for a greeting before it starts probing the
/// port as one that waits for the client (and keeps listening meanwhile).
const FAST_GREETING: Duration = Duration::from_millis(100);

/// What the TLS probes of one name said about a port.
enum TlsSaid {
    /// It speaks TLS.
    Yes,
    /// A complete reply that is not TLS.
    No,
    /// No definite answer, and why.
    Unknown(String),
    /// The scan was stopped.
    Stopped,
}

/// What the content checks said about a port.
#[derive(Debug, PartialEq, Eq)]
enum WebSaid {
    /// Some request got an HTTP answer.
    Served,
    /// Definitely not a web server (refused, or a complete reply that is not HTTP).
    NotWeb,
    /// No definite answer.
    Unknown,
    /// The scan was stopped.
    Stopped,
}

/// Probe a port whose server waits for the client: TLS; then HTTP and the
/// services that wait (Redis, PostgreSQL, MongoDB, RDP), the services first
/// on their usual ports and otherwise only when HTTP got no answer. Returns
/// whether the port proved to be TLS, HTTP or one of those services (`None`:
/// the scan was stopped). Units without a definite answer go to `faults`;
/// the caller reports them.
async fn silent_port(ctx: &Ctx, names: &[String], addr: IpAddr, port: u16, faults: &mut PortFaults) -> Option<bool> {
    let Some(host) = names.first().map(String::as_str) else { return Some(false) };
    let mut is_tls = false;
    let mut not_tls = false;
    // Names whose TLS probes got no definite answer.
    let mut tls_unknown: Vec<(String, String)> = Vec::new();
    for name in names.iter().take(MAX_TLS_NAMES) {
        if let Some(why) = faults.tripped() {
            tls_unknown.push((name.clone(), why));
            continue;
        }
        if !is_tls
            && !not_tls
            && let Some((_, why)) = tls_unknown.first()
        {
            // The port gave the first name's hello no answer: it will not
            // answer the next one's either (TLS is a property of the port).
            let why = why.clone();
            tls_unknown.push((name.clone(), why));
            continue;
        }
        match tls_endpoint(ctx, name, addr, port).await {
            TlsSaid::Yes => {
                is_tls = true;
                faults.ok();
            }
            TlsSaid::No => {
                not_tls = true;
                faults.ok();
            }
            TlsSaid::Unknown(why) => {
                faults.streak += 1;
                faults.last.clone_from(&why);
                tls_unknown.push((name.clone(), why));
            }
            TlsSaid::Stopped => return None,
        }
    }
    // TLS checks of a name that got no answer: failed while the port may be
    // TLS; covered once it proves to be something else.
    let settle_tls = |faults: &mut PortFaults, identified: bool, tls_unknown: Vec<(String, String)>| {
        let mut cover = Vec::new();
        for (name, why) in tls_unknown {
            if identified && !is_tls {
                cover.push(name);
            } else {
                faults.failed.push(("tls.*", name, why));
            }
        }
        cover
    };
    if is_tls {
        ctx.web.lock().unwrap_or_else(|p| p.into_inner()).push((addr, port, true));
        let web = http_endpoint(ctx, names, addr, port, true, faults).await;
        if web == WebSaid::Stopped {
            return None;
        }
        settle_tls(faults, true, tls_unknown);
        return Some(true);
    }
    if services::is_service_port(port) {
        match service_probes(ctx, host, addr, port, faults).await {
            None => return None,
            Some(true) => {
                // Not a web server: the content checks have nothing to read here.
                faults.settle("http.*");
                cover_web(ctx, names, port).await;
                for name in settle_tls(faults, true, tls_unknown) {
                    cover_tls(ctx, &name, port).await;
                }
                return Some(true);
            }
            Some(false) => {}
        }
    }
    ctx.web.lock().unwrap_or_else(|p| p.into_inner()).push((addr, port, false));
    let web = http_endpoint(ctx, names, addr, port, false, faults).await;
    match web {
        WebSaid::Stopped => return None,
        WebSaid::Served => {
            // A web server: none of the services that wait for the client, and not TLS.
            faults.settle("svc.*");
            for c in services::CHECKS {
                ctx.covered(c, host, Some(port)).await;
            }
            for name in settle_tls(faults, true, tls_unknown) {
                cover_tls(ctx, &name, port).await;
            }
            return Some(true);
        }
        WebSaid::NotWeb | WebSaid::Unknown => {}
    }
    let found = if services::is_service_port(port) {
        // Probed above, before HTTP.
        false
    } else {
        match service_probes(ctx, host, addr, port, faults).await {
            None => return None,
            Some(found) => found,
        }
    };
    // A complete reply that is neither TLS nor HTTP nor a known service is
    // still an answer: the port speaks something else.
    let identified = found || (not_tls && web == WebSaid::NotWeb);
    faults.other = !found && identified;
    if found {
        // A service: no web server, whatever HTTP got.
        faults.settle("http.*");
        cover_web(ctx, names, port).await;
    }
    for name in settle_tls(faults, identified, tls_unknown) {
        cover_tls(ctx, &name, port).await;
    }
    Some(identified)
}

/// The port definitely serves neither TLS nor HTTP: every TLS and content
/// check ran (and found nothing) for each name on it.
async fn cover_tls_and_web(ctx: &Ctx, names: &[String], port: u16) {
    for name in names.iter().take(MAX_TLS_NAMES) {
        cover_tls(ctx, name, port).await;
    }
    cover_web(ctx, names, port).await;
}

/// The port definitely does not speak TLS for `name`.
async fn cover_tls(ctx: &Ctx, name: &str, port: u16) {
    for c in checks::tls::CHECKS {
        ctx.covered(c, name, Some(port)).await;
    }
}

/// The port definitely serves no HTTP: every content check ran (and found
/// nothing) for each name on it.
async fn cover_web(ctx: &Ctx, names: &[String], port: u16) {
    for name in names.iter().take(MAX_TLS_NAMES) {
        for t in ctx.templates.templates() {
            ctx.covered(t.id.clone(), name, Some(port)).await;
        }
        ctx.covered(CheckId::HttpTraceEnabled, name, Some(port)).await;
    }
}

/// TLS checks of one name on one endpoint: what they said about the port.
/// The checks that got a definite answer are covered; the rest are failed units.
async fn tls_endpoint(ctx: &Ctx, name: &str, addr: IpAddr, port: u16) -> TlsSaid {
    if checks::tls::CHECKS.iter().all(|c| ctx.skipped(c, name, Some(port))) {
        // Resumed: reported before; only whether it is TLS is needed.
        let is_tls = tokio::select! {
            t = checks::tls::speaks_tls(&ctx.guard, name, addr, port) => t,
            _ = ctx.cancel.cancelled() => return TlsSaid::Stopped,
        };
        return match is_tls {
            Some(true) => TlsSaid::Yes,
            Some(false) => TlsSaid::No,
            None => TlsSaid::Unknown("no definite answer to a ClientHello".to_owned()),
        };
    }
    let rep = tokio::select! {
        r = checks::tls::check_endpoint(&ctx.guard, name, addr, port, &ctx.tls) => r,
        _ = ctx.cancel.cancelled() => return TlsSaid::Stopped,
    };
    if let Some(w) = rep.window_closed {
        ctx.halt(Stop::Window(w));
        return TlsSaid::Stopped;
    }
    ctx.found(rep.observations).await;
    if let Some(sha256) = rep.leaf_sha256 {
        let not_after = rep.leaf_not_after;
        ctx.send(ScanEvent::Certificate { host: name.to_owned(), port, sha256, not_after }).await;
    }
    match rep.speaks {
        Some(true) => {
            for c in rep.covered {
                ctx.covered(c, name, Some(port)).await;
            }
            for (group, why) in rep.failed {
                ctx.failed(group, name, Some(addr), Some(port), &why).await;
            }
            TlsSaid::Yes
        }
        Some(false) => {
            cover_tls(ctx, name, port).await;
            TlsSaid::No
        }
        None => TlsSaid::Unknown(rep.unknown.unwrap_or_else(|| "no definite answer to a ClientHello".to_owned())),
    }
}

/// Content checks (templates) on a web server, for each name served there.
/// A template is covered only when every response it reads was definite (a
/// whole answer, not 429/503, not cut at the cap); requests that got none
/// are failed units (`http.*` per name), and [`BREAKER`] failures in a row
/// give the port up.
async fn http_endpoint(
    ctx: &Ctx,
    names: &[String],
    addr: IpAddr,
    port: u16,
    https: bool,
    faults: &mut PortFaults,
) -> WebSaid {
    let Some(client) = &ctx.http else { return WebSaid::Unknown };
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
    // Whether any request got an HTTP answer: the port is a web server.
    let mut served = false;
    // Whether every name got a definite "not a web server".
    let mut not_web = true;
    for name in names.iter().take(MAX_TLS_NAMES) {
        if plans.iter().all(|(t, _, _)| ctx.skipped(&t.id, name, Some(port)))
            && ctx.skipped(&CheckId::HttpTraceEnabled, name, Some(port))
        {
            not_web = false;
            continue;
        }
        if let Some(why) = faults.tripped() {
            faults.failed.push(("http.*", name.clone(), why));
            not_web = false;
            continue;
        }
        // Requests of this name that got no definite answer, and the first reason.
        let (mut lost, mut first_why) = (0usize, None::<String>);
        let mut responses: Vec<Option<(templates::Response, u64)>> = vec![None; keys.len()];
        let mut failed = vec![false; keys.len()];
        let (mut answered, mut any_failed) = (0usize, false);
        // Plans evaluated so far; responses dropped so far.
        let (mut evaluated, mut freed) = (0usize, 0usize);
        // The requests of one name share a persistent connection (reopened,
        // through the guard, whenever the server closes it).
        let mut session = crate::http::Session::new();
        // Product versions the answers showed (`software.*`), and the exchanges that showed them.
        let (mut soft, mut soft_audit): (Vec<crate::software::Reading>, Vec<u64>) = (Vec::new(), Vec::new());
        for (i, key) in keys.iter().enumerate() {
            if ctx.cancel.is_cancelled() {
                return WebSaid::Stopped;
            }
            if let Some(why) = faults.tripped() {
                // The port is given up: what is left of this name is lost.
                for f in failed.iter_mut().skip(i) {
                    *f = true;
                }
                lost += keys.len() - i;
                first_why = Some(why);
                any_failed = true;
                break;
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
                    // A whole answer, but one that vouches for nothing: the
                    // server is busy (429/503), or the body was cut at the cap.
                    // Templates still read it (a match is a finding); none
                    // that needs it is covered.
                    let busy = matches!(r.status, 429 | 503);
                    if busy || r.truncated {
                        failed[i] = true;
                        any_failed = true;
                        lost += 1;
                        let why = if busy {
                            format!("{} {}: HTTP {}", method_name(key.method), key.path, r.status)
                        } else {
                            format!(
                                "{} {}: body over the {} KiB cap",
                                method_name(key.method),
                                key.path,
                                crate::http::BODY_CAP / 1024
                            )
                        };
                        faults.streak += u32::from(busy);
                        faults.last.clone_from(&why);
                        first_why.get_or_insert(why);
                    } else {
                        faults.ok();
                    }
                    let read =
                        crate::software::parse::from_http(&key.path, &r.headers, (!r.truncated).then_some(&r.body[..]));
                    let new: Vec<_> = read.into_iter().filter(|x| !soft.contains(x)).collect();
                    if !new.is_empty() {
                        soft.extend(new);
                        soft_audit.push(r.audit);
                    }
                    let url = format!("{scheme}://{name}:{port}{}", key.path);
                    let resp = templates::Response { status: r.status, headers: r.headers, body: r.body, url };
                    responses[i] = Some((resp, r.audit));
                    answered += 1;
                    served = true;
                }
                Err(FetchError::ExcludedPath(_)) => {}
                Err(FetchError::Guard(GuardError::Window(w))) => {
                    ctx.halt(Stop::Window(w));
                    return WebSaid::Stopped;
                }
                Err(e) if e.is_definite() && answered == 0 && !any_failed => {
                    // The first request (GET /) got a definite "no HTTP here"
                    // (refused, or a whole reply that is not HTTP).
                    break;
                }
                Err(e) => {
                    if let FetchError::Guard(g) = &e {
                        ctx.note_error(g);
                    }
                    let why = format!("{} {}: {e}", method_name(key.method), key.path);
                    failed[i] = true;
                    lost += 1;
                    faults.streak += 1;
                    faults.last.clone_from(&why);
                    first_why.get_or_insert(why);
                    if answered == 0 && !any_failed {
                        // The first request got no answer at all: whether
                        // this is a web server is unknown; ask no more.
                        any_failed = true;
                        break;
                    }
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
                }
            }
            while freed <= i {
                for &k in &frees_at[freed] {
                    responses[k] = None;
                }
                freed += 1;
            }
        }
        ctx.software(name, addr, port, &soft, &soft_audit).await;
        if answered == 0 {
            if any_failed {
                not_web = false;
                let why = first_why.unwrap_or_else(|| "no HTTP answer".to_owned());
                faults.failed.push(("http.*", name.clone(), why));
            } else {
                // Not a web server for this name: nothing to check, and that is definite.
                for (t, _, _) in &plans {
                    ctx.covered(t.id.clone(), name, Some(port)).await;
                }
                // TRACE would not be sent where the scope excludes its path.
                if ctx.guard.scope().check_path(checks::trace::PATH).allowed {
                    ctx.covered(CheckId::HttpTraceEnabled, name, Some(port)).await;
                }
            }
            continue;
        }
        not_web = false;
        if lost > 0 {
            let why = first_why.unwrap_or_default();
            let why = format!("{lost} of {} requests got no definite answer ({why})", keys.len());
            faults.failed.push(("http.*", name.clone(), why));
        }
        let root_ok = root.is_some_and(|r| !failed[r] && responses[r].is_some());
        if !https && root_ok && !ctx.skipped(&CheckId::HttpNoHttpsRedirect, name, Some(port)) {
            let got: Vec<(RequestKey, templates::Response, u64)> = root
                .and_then(|r| responses[r].take().map(|(resp, audit)| (keys[r].clone(), resp, audit)))
                .into_iter()
                .collect();
            if let Some(o) = checks::web::no_https_redirect(&got, name, addr, port, &eng) {
                ctx.found(vec![o]).await;
            }
            ctx.covered(CheckId::HttpNoHttpsRedirect, name, Some(port)).await;
        }
        // One TRACE, on the name's session (web_policy.rs).
        if let Some(why) = faults.tripped() {
            faults.failed.push(("http.trace-enabled", name.clone(), why));
        } else {
            match super::web_policy::trace(ctx, &mut session, name, addr, port, https).await {
                super::web_policy::TraceEnd::Done => {}
                super::web_policy::TraceEnd::Failed(why) => faults.fail("http.trace-enabled", name, why),
                super::web_policy::TraceEnd::Stopped => return WebSaid::Stopped,
            }
        }
    }
    if served {
        WebSaid::Served
    } else if not_web {
        WebSaid::NotWeb
    } else {
        WebSaid::Unknown
    }
}
