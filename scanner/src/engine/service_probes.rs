//! The service probes of a port whose server waits for the client (Redis,
//! PostgreSQL, MongoDB, RDP), and what their answers cover.

use std::net::IpAddr;

use haetae_findings::CheckId;

use super::Ctx;
use super::port_faults::PortFaults;
use crate::checks::services;

/// The service probes of a silent port. Returns whether a service was
/// identified (`None`: the scan was stopped).
pub(super) async fn service_probes(
    ctx: &Ctx,
    host: &str,
    addr: IpAddr,
    port: u16,
    faults: &mut PortFaults,
) -> Option<bool> {
    if services::CHECKS.iter().all(|c| ctx.skipped(c, host, Some(port))) {
        return Some(false);
    }
    if let Some(why) = faults.tripped() {
        faults.failed.push(("svc.*", host.to_owned(), why));
        return Some(false);
    }
    let rep = tokio::select! {
        r = services::probe_silent(&ctx.guard, host, addr, port) => r,
        _ = ctx.cancel.cancelled() => return None,
    };
    for e in &rep.errors {
        ctx.note_error(e);
    }
    let eng = ctx.guard.scope().engagement.id.clone();
    let found = !rep.found.is_empty();
    ctx.found(rep.found.iter().map(|i| i.observation(&eng, host, addr, port)).collect()).await;
    for i in &rep.found {
        if let Some(r) = &i.software {
            ctx.software(host, addr, port, std::slice::from_ref(r), &i.audit).await;
        }
    }
    if rep.definite {
        faults.ok();
        if found {
            for c in services::CHECKS {
                ctx.covered(c, host, Some(port)).await;
            }
        } else {
            // Each probe's answer rules its own protocol out; the greeting
            // services (MySQL, VNC) share the other checks and are decided by
            // the first connection's greeting, or by the port proving to be
            // TLS or HTTP (see `silent_port`).
            ctx.covered(CheckId::SvcRedisNoauth, host, Some(port)).await;
        }
    } else {
        // Redis answered for itself (a password-protected Redis says
        // -NOAUTH and stays silent on the other probes): its check is decided.
        if rep.redis_definite {
            ctx.covered(CheckId::SvcRedisNoauth, host, Some(port)).await;
        }
        let why = match rep.errors.first() {
            Some(e) => e.to_string(),
            None if rep.redis_definite => {
                "no definite answer to the PostgreSQL, MongoDB or RDP probe (silence, reset or timeout)".to_owned()
            }
            None => "no definite answer to the Redis, PostgreSQL, MongoDB or RDP probe (silence, reset or timeout)"
                .to_owned(),
        };
        faults.fail("svc.*", host, why);
    }
    Some(found)
}
