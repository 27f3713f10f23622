//! `dns.takeover`: an in-scope name has a CNAME into a cloud service whose
//! answer says the resource is unclaimed, so anyone can register it and serve
//! content under the agency's name. The same provider table tags the asset
//! with its cloud (`asset.cloud`).
//!
//! Evidence, strongest first:
//! - the provider's own answer: when every name of the chain and the addresses
//!   are in scope, `GET /` (plain HTTP, then HTTPS when the service speaks it)
//!   matches the provider's unclaimed fingerprint (e.g. S3's `NoSuchBucket`);
//! - DNS alone: the chain ends in NXDOMAIN at a service where that means the
//!   name is free to register (Azure, Elastic Beanstalk). The provider is never
//!   contacted for this, so an out-of-scope target still gets a finding, with
//!   lower confidence.
//!
//! - an unclaimed-resource fingerprint ([`unclaimed`]): for a chain that
//!   leaves `domains` towards a suffix no provider entry knows, when every
//!   address is in scope, the name's own answer (Host: the in-scope name)
//!   matches a service's "nobody holds this" document; confidence firm.
//!
//! Pointing into a provider is not a finding by itself.

mod providers;
mod unclaimed;

use std::net::IpAddr;

use haetae_findings::{Asset, CheckId, Confidence, Observation};

pub use providers::{
    Claim, Fingerprint, HostHeader, Pattern, Provider, ProviderError, Providers, provider_for, providers,
};
pub use unclaimed::{Unclaimed, match_answer, unclaimed};

use super::observe;
use crate::guard::{ChainEnd, Resolution, ScopeGuard};
use crate::http::{HttpClient, Method, Request};

/// Ports of the fingerprint requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Plain HTTP.
    pub http: u16,
    /// HTTPS, for services that answer over it.
    pub https: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports { http: 80, https: 443 }
    }
}

/// What the check found about one resolved name.
#[derive(Debug, Clone, Default)]
pub struct TakeoverReport {
    /// At most one `dns.takeover` observation.
    pub observations: Vec<Observation>,
    /// The cloud the chain points into (`asset.cloud`), when the table knows it.
    pub cloud: Option<&'static str>,
    /// The provider the chain points into.
    pub provider: Option<&'static Provider>,
    /// The provider's own answer proved the resource unclaimed (not DNS alone).
    pub definite: bool,
    /// Every request to the provider failed: a time-out says nothing about
    /// the resource, so the name is not covered.
    pub inconclusive: bool,
}

/// Longest evidence excerpt of a matched body.
const EXCERPT: usize = 160;
/// Addresses tried per scheme.
const MAX_ADDRESSES: usize = 2;

/// [`check_on`] with the standard ports (80, 443).
pub async fn check(guard: &ScopeGuard, http: &HttpClient, res: &Resolution, engagement: &str) -> TakeoverReport {
    check_on(guard, http, res, engagement, Ports::default()).await
}

/// Check one resolved name. Contacts the provider only through `guard`, only
/// when the whole chain and the addresses are in scope, and only on a scope port.
pub async fn check_on(
    guard: &ScopeGuard,
    http: &HttpClient,
    res: &Resolution,
    engagement: &str,
    ports: Ports,
) -> TakeoverReport {
    let table = providers();
    if let ChainEnd::Dangling { .. } = &res.end {
        return check_on_dns(res, engagement);
    }
    let Some((index, provider)) = table.locate(&res.chain) else {
        // A suffix no provider list knows: when the chain leaves `domains` and
        // every address is in scope, the name's own answer is matched against
        // the unclaimed-resource fingerprints.
        if res.outside_domains.is_none() || res.out_of_scope_target.is_some() || res.allowed.is_empty() {
            return TakeoverReport::default();
        }
        let asked = unclaimed::ask(guard, http, res, engagement, ports).await;
        let definite = asked.found.is_some();
        return TakeoverReport {
            observations: asked.found.into_iter().collect(),
            definite,
            inconclusive: !asked.definite,
            ..Default::default()
        };
    };
    let mut report =
        TakeoverReport { cloud: Some(provider.cloud.as_str()), provider: Some(provider), ..Default::default() };
    if provider.tag_only() || provider.fingerprint.is_none() || res.out_of_scope_target.is_some() {
        return report;
    }
    let target = &res.chain[index];
    let asked = ask_provider(guard, http, res, provider, target, engagement, ports).await;
    report.inconclusive = !asked.answered;
    if let Some(o) = asked.found {
        report.observations.push(o);
        report.definite = true;
    }
    report
}

/// What asking the provider gave.
struct Asked {
    found: Option<Observation>,
    /// The provider answered (or there was nothing to ask).
    answered: bool,
}

/// What DNS alone says, without a packet to the provider (the passive
/// profile's check): a chain that ends in NXDOMAIN at a provider where that
/// means anyone may claim the name.
pub fn check_on_dns(res: &Resolution, engagement: &str) -> TakeoverReport {
    let table = providers();
    let Some((_, provider)) = table.locate(&res.chain) else {
        return TakeoverReport::default();
    };
    let mut report =
        TakeoverReport { cloud: Some(provider.cloud.as_str()), provider: Some(provider), ..Default::default() };
    if let ChainEnd::Dangling { target, rcode } = &res.end {
        // Judged by the service the dangling name belongs to.
        if let Some(p) = table.for_name(target)
            && p.nxdomain
            && !p.tag_only()
            && rcode == "NXDOMAIN"
        {
            report.cloud = Some(p.cloud.as_str());
            report.provider = Some(p);
            report.observations.push(dns_only(res, p, target, engagement));
        }
    }
    report
}

fn chain_text(res: &Resolution) -> String {
    let mut s = res.name.clone();
    for c in &res.chain {
        s.push_str(" -> ");
        s.push_str(c);
    }
    s
}

fn provider_label(p: &Provider) -> String {
    if p.korean { format!("{} ({}, Korean cloud)", p.name, p.cloud) } else { format!("{} ({})", p.name, p.cloud) }
}

fn finding(res: &Resolution, p: &Provider, evidence: String, audit: &[u64], engagement: &str) -> Observation {
    let mut o = finding_with(res, &p.name, evidence, audit, engagement);
    let mut refs = p.references.clone();
    refs.append(&mut o.references);
    o.references = refs;
    o.tags.push(format!("cloud:{}", p.cloud));
    o
}

/// A `dns.takeover` observation about `res.name`, the resource being at `provider`.
fn finding_with(res: &Resolution, provider: &str, evidence: String, audit: &[u64], engagement: &str) -> Observation {
    let asset = Asset { host: res.name.clone(), ip: None, port: None };
    let mut o = observe(CheckId::DnsTakeover, engagement, asset, "CNAME", evidence, audit);
    o.remediation = format!(
        "Remove the CNAME record of {} (or point it at a resource the agency holds), or re-create the resource at {} \
         under the agency's account before anyone else does. Review every record that points into a cloud service \
         when a resource is deleted.",
        res.name, provider
    );
    o.references.push("https://github.com/EdOverflow/can-i-take-over-xyz".into());
    o.references.push(
        "https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/02-Configuration_and_Deployment_Management_Testing/10-Test_for_Subdomain_Takeover".into(),
    );
    o
}

/// The chain ends in NXDOMAIN at a service that hands the name to whoever registers it.
fn dns_only(res: &Resolution, p: &Provider, target: &str, engagement: &str) -> Observation {
    let scope = match (&res.out_of_scope_target, &res.outside_domains) {
        (Some((name, _)), _) | (None, Some(name)) => format!("{name} is out of scope, so it was not contacted"),
        (None, None) => "no address to contact".to_owned(),
    };
    let evidence = format!(
        "{}: {target} answers NXDOMAIN at {}, where a deleted resource's name is free to register; \
         DNS evidence only ({scope})",
        chain_text(res),
        provider_label(p)
    );
    let mut o = finding(res, p, evidence, &res.audit, engagement);
    o.confidence = Confidence::Firm;
    o
}

/// Ask the provider about the resource (plain HTTP, then HTTPS) and match its fingerprint.
async fn ask_provider(
    guard: &ScopeGuard,
    http: &HttpClient,
    res: &Resolution,
    p: &'static Provider,
    target: &str,
    engagement: &str,
    ports: Ports,
) -> Asked {
    let Some(fp) = p.fingerprint.as_ref() else { return Asked { found: None, answered: true } };
    let mut audit = res.audit.clone();
    // The Host the request carries, and the addresses the guard checked for that name.
    let (host, addrs): (&str, Vec<IpAddr>) = match p.host {
        HostHeader::Scanned => (&res.name, res.allowed.clone()),
        HostHeader::Target => {
            // A target outside `domains` is never a target of its own (no
            // Host or SNI of a chain name): only DNS evidence applies.
            if !guard.scope().check_name(target).allowed {
                return Asked { found: None, answered: true };
            }
            let r = guard.resolve(target).await;
            audit.extend(&r.audit);
            if r.out_of_scope_target.is_some() {
                return Asked { found: None, answered: true };
            }
            (target, r.allowed.clone())
        }
    };
    if addrs.is_empty() {
        return Asked { found: None, answered: true };
    }
    // Whether any request got an HTTP answer (else nothing is known).
    let mut answered = false;
    let mut schemes = vec![(false, ports.http)];
    if p.https {
        schemes.push((true, ports.https));
    }
    for (https, port) in schemes {
        // Only scope ports: nothing is attempted that the guard would refuse.
        for &addr in addrs.iter().filter(|a| guard.permit(host, **a, port).is_ok()).take(MAX_ADDRESSES) {
            let req = Request { https, host, addr, port, method: Method::Get, path: "/", headers: &[] };
            let Ok(resp) = http.fetch(guard, &req).await else { continue };
            answered = true;
            audit.push(resp.audit);
            let Some(matched) = fp.matches(resp.status, &resp.body) else { break };
            let scheme = if https { "https" } else { "http" };
            let via = if host == res.name { String::new() } else { format!(" (Host: {host})") };
            let bucket = bucket_name(&resp.body).map(|b| format!(" (bucket `{b}`)")).unwrap_or_default();
            let evidence = format!(
                "{}: GET {scheme}://{host}:{port}/{via} at {addr} answered {} with `{}`{bucket}: the resource is unclaimed at {}",
                chain_text(res),
                resp.status,
                excerpt(&matched),
                provider_label(p)
            );
            let mut o = finding(res, p, evidence, &audit, engagement);
            o.confidence = match p.claim {
                Some(Claim::Vulnerable) => Confidence::Certain,
                _ => Confidence::Firm,
            };
            return Asked { found: Some(o), answered: true };
        }
    }
    Asked { found: None, answered }
}

/// The bucket an S3 error document names (`<BucketName>`), when it looks like one.
fn bucket_name(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body.get(..body.len().min(4096))?);
    let (_, rest) = text.split_once("<BucketName>")?;
    let (name, _) = rest.split_once("</BucketName>")?;
    let ok = (1..=255).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    ok.then(|| name.to_owned())
}

fn excerpt(s: &str) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match flat.char_indices().nth(EXCERPT) {
        Some((i, _)) => format!("{}...", &flat[..i]),
        None => flat,
    }
}

#[cfg(test)]
mod tests;
