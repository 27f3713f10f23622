//! `dns.dangling-cname` and `dns.points-out-of-scope`, from a [`Resolution`].

use haetae_findings::{Asset, CheckId, Observation};

use super::observe;
use crate::guard::{ChainEnd, Resolution};

/// Findings about where a name points.
pub(crate) fn check(r: &Resolution, engagement: &str) -> Vec<Observation> {
    let asset = || Asset { host: r.name.clone(), ip: None, port: None };
    let chain = if r.chain.is_empty() { String::new() } else { format!("{} -> {}", r.name, r.chain.join(" -> ")) };
    let mut out = Vec::new();
    if let ChainEnd::Dangling { target, rcode } = &r.end {
        out.push(observe(
            CheckId::DnsDanglingCname,
            engagement,
            asset(),
            "CNAME",
            format!("{chain}: {target} answers {rcode}"),
            &r.audit,
        ));
        return out;
    }
    if let Some((name, why)) = &r.out_of_scope_target {
        out.push(observe(
            CheckId::DnsPointsOutOfScope,
            engagement,
            asset(),
            "CNAME",
            format!("{chain}: {name} is out of scope ({why}); not probed"),
            &r.audit,
        ));
    } else if !r.refused.is_empty() {
        let list: Vec<String> = r.refused.iter().map(|(a, why)| format!("{a} ({why})")).collect();
        out.push(observe(
            CheckId::DnsPointsOutOfScope,
            engagement,
            asset(),
            "address",
            format!("{} resolves to {}; not probed", r.name, list.join(", ")),
            &r.audit,
        ));
    }
    out
}
