//! Port discovery and what runs on each open port: the greeting, the TLS
//! checks, the service probes and the content checks (templates).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use haetae_findings::{Asset, CheckId, Observation};
use tokio::task::JoinSet;

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
pub(super) const MAX_TLS_NAMES: usize = 8;

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
        let not_after = rep.leaf_not_after;
        ctx.send(ScanEvent::Certificate { host: name.to_owned(), port, sha256, not_after }).await;
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
