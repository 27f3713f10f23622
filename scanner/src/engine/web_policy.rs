//! The web checks about methods and disclosure policy, run by the engine:
//! `http.trace-enabled` on every web endpoint (one TRACE per name and port,
//! on the name's HTTP session), and `http.security-txt-missing` once per
//! apex web site after the port scan (see `checks::security_txt` for what
//! the apex web site is). Each unit is covered only by a definite answer;
//! anything else is a failed unit.

use std::net::IpAddr;

use haetae_findings::CheckId;
use time::OffsetDateTime;

use super::{Ctx, Stop};
use crate::checks::{security_txt, trace};
use crate::guard::{GuardError, Resolution};
use crate::http::{FetchError, Method, Request, Session, fetch_following};

/// How the TRACE of one endpoint ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TraceEnd {
    /// Reported (or not run: not selected, resumed, path excluded).
    Done,
    /// No definite answer, and why (a failed unit).
    Failed(String),
    /// The scan was stopped.
    Stopped,
}

/// `http.trace-enabled` for `name` on a port that serves it HTTP: one
/// `TRACE /` with a random `X-Haetae-Trace` value, on the name's session.
pub(super) async fn trace(
    ctx: &Ctx,
    session: &mut Session,
    name: &str,
    addr: IpAddr,
    port: u16,
    https: bool,
) -> TraceEnd {
    let check = CheckId::HttpTraceEnabled;
    let Some(client) = &ctx.http else { return TraceEnd::Done };
    if ctx.skipped(&check, name, Some(port)) {
        return TraceEnd::Done;
    }
    let nonce = trace::nonce();
    let headers = [(trace::NONCE_HEADER.to_owned(), nonce.clone())];
    let req = Request { https, host: name, addr, port, method: Method::Trace, path: trace::PATH, headers: &headers };
    let got = tokio::select! {
        r = client.fetch_in(&ctx.guard, session, &req) => r,
        _ = ctx.cancel.cancelled() => return TraceEnd::Stopped,
    };
    match got {
        Ok(resp) => match trace::judge(&resp, &nonce) {
            trace::Verdict::Echoes(evidence) => {
                let eng = &ctx.guard.scope().engagement.id;
                ctx.found(vec![trace::observation(evidence, name, addr, port, https, eng, resp.audit)]).await;
                ctx.covered(check, name, Some(port)).await;
                TraceEnd::Done
            }
            trace::Verdict::Silent => {
                ctx.covered(check, name, Some(port)).await;
                TraceEnd::Done
            }
            trace::Verdict::Unknown(why) => TraceEnd::Failed(why),
        },
        // The scope forbids the path: the check does not run, and covers nothing.
        Err(FetchError::ExcludedPath(_)) => TraceEnd::Done,
        Err(FetchError::Guard(GuardError::Window(w))) => {
            ctx.halt(Stop::Window(w));
            TraceEnd::Stopped
        }
        // A complete reply that is not HTTP: whatever it is, not an echo.
        Err(e @ FetchError::NotHttp(_)) if e.is_definite() => {
            ctx.covered(check, name, Some(port)).await;
            TraceEnd::Done
        }
        Err(e) => {
            if let FetchError::Guard(g) = &e {
                ctx.note_error(g);
            }
            TraceEnd::Failed(format!("TRACE {}: {e}", trace::PATH))
        }
    }
}

/// The ports to ask for the apex web site of `r`, best first: its web
/// ports (from the port scan) on its in-scope addresses `allowed`, HTTPS before HTTP,
/// 443 (or 80) before the others, then by port number.
fn site_candidates(web: &[(IpAddr, u16, bool)], allowed: &[IpAddr]) -> Vec<(IpAddr, u16, bool)> {
    let mut out: Vec<(IpAddr, u16, bool)> = Vec::new();
    for &(addr, port, tls) in web {
        if allowed.contains(&addr) && !out.iter().any(|(_, p, t)| *p == port && *t == tls) {
            out.push((addr, port, tls));
        }
    }
    out.sort_by_key(|&(_, port, tls)| (!tls, port != if tls { 443 } else { 80 }, port));
    out
}

/// `http.security-txt-missing` for every scope domain's apex web site.
/// Returns false when the scan was stopped.
pub(super) async fn security_txt(ctx: &Ctx, resolutions: &[std::sync::Arc<Resolution>]) -> bool {
    let Some(client) = &ctx.http else { return true };
    let check = CheckId::HttpSecurityTxtMissing;
    let scope = ctx.guard.scope();
    let web: Vec<(IpAddr, u16, bool)> = ctx.web.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let eng = scope.engagement.id.clone();
    for r in resolutions.iter().filter(|r| scope.domains.contains(&r.name)) {
        let apex = r.name.as_str();
        if ctx.skipped(&check, apex, None) {
            continue;
        }
        for (addr, port, https) in site_candidates(&web, &r.allowed) {
            if ctx.cancel.is_cancelled() {
                return false;
            }
            let req =
                Request { https, host: apex, addr, port, method: Method::Get, path: security_txt::PATH, headers: &[] };
            let got = tokio::select! {
                f = fetch_following(client, &ctx.guard, &req) => f,
                _ = ctx.cancel.cancelled() => return false,
            };
            let failed = match got {
                Ok(f) if f.stopped.is_some() && (300..400).contains(&f.response.status) => {
                    let why = f.stopped.as_deref().unwrap_or_default();
                    Some(format!("{} redirects and was not followed: {why}", f.url()))
                }
                Ok(f) => match security_txt::judge(&f.response, f.url(), OffsetDateTime::now_utc()) {
                    security_txt::Verdict::Valid => {
                        ctx.covered(check.clone(), apex, None).await;
                        None
                    }
                    security_txt::Verdict::Missing(evidence) => {
                        let o = security_txt::observation(evidence, apex, addr, &eng, &f.audit);
                        ctx.found(vec![o]).await;
                        ctx.covered(check.clone(), apex, None).await;
                        None
                    }
                    security_txt::Verdict::Unknown(why) => Some(why),
                },
                // The scope forbids the path: not run, nothing covered.
                Err(FetchError::ExcludedPath(_)) => None,
                Err(FetchError::Guard(GuardError::Window(w))) => {
                    ctx.halt(Stop::Window(w));
                    return false;
                }
                // Definitely no web server for the apex on this port: the next one.
                Err(e) if e.is_definite() => continue,
                Err(e) => {
                    if let FetchError::Guard(g) = &e {
                        ctx.note_error(g);
                    }
                    Some(format!("GET {}: {e}", security_txt::PATH))
                }
            };
            if let Some(why) = failed {
                ctx.failed(check.as_str(), apex, Some(addr), Some(port), &why).await;
            }
            break;
        }
    }
    !ctx.cancel.is_cancelled()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_first_then_the_usual_port_then_the_lowest() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.9".parse().unwrap();
        let web =
            vec![(a, 80, false), (a, 8080, false), (a, 8443, true), (a, 443, true), (other, 4, true), (a, 443, true)];
        let got: Vec<(u16, bool)> = site_candidates(&web, &[a]).iter().map(|(_, p, t)| (*p, *t)).collect();
        assert_eq!(got, [(443, true), (8443, true), (80, false), (8080, false)]);
    }
}
