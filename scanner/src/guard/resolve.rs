//! Resolving a name once, following its CNAME chain, and deciding which of
//! its addresses may be contacted.

use std::net::IpAddr;

use haetae_findings::audit::Protocol;

use crate::dns::{RData, Rcode, RecordType, Response};
use crate::scope::{ChainName, Scope};

use super::{Attempt, ScopeGuard};

/// Longest CNAME chain followed.
const MAX_CHAIN: usize = 8;

/// How a name's resolution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEnd {
    /// The name is outside the scope; it was not even queried.
    NameOutOfScope(String),
    /// The (final) name has addresses.
    Addresses,
    /// The name does not exist (no CNAME involved).
    NxDomain,
    /// The name exists but has no A/AAAA (no CNAME involved).
    NoData,
    /// A CNAME chain ends at a name that does not exist or has no address.
    Dangling {
        /// The last name of the chain.
        target: String,
        /// NXDOMAIN or NODATA.
        rcode: String,
    },
    /// The chain is longer than eight names, or loops.
    TooLong,
    /// The name servers failed (timeout, SERVFAIL, REFUSED ...).
    Failed(String),
}

/// What the guard learned about a name, fixed for the rest of the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The name (normalized).
    pub name: String,
    /// CNAME targets, in order.
    pub chain: Vec<String>,
    /// How it ended.
    pub end: ChainEnd,
    /// Addresses that may be contacted on behalf of this name.
    pub allowed: Vec<IpAddr>,
    /// Addresses that may not, with the reason (a chain name or the address is out of scope).
    pub refused: Vec<(IpAddr, String)>,
    /// Why nothing reached through the chain may be contacted: the first
    /// chain name that is excluded (or invalid), or, for a chain that leaves
    /// `domains`, its first name outside them when an address of the chain is
    /// out of scope. Set only when the chain refuses every address.
    pub out_of_scope_target: Option<(String, String)>,
    /// The first chain name outside `domains`. When every address of the chain
    /// is in scope (and `out_of_scope_target` is `None`), the name is probed as
    /// itself at those addresses; this chain name is never a target of its own.
    pub outside_domains: Option<String>,
    /// Audit records of the queries.
    pub audit: Vec<u64>,
}

impl Resolution {
    /// One line for messages.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for c in &self.chain {
            s.push_str(&format!("CNAME {c}; "));
        }
        match &self.end {
            ChainEnd::Addresses => {
                let all: Vec<String> = self
                    .allowed
                    .iter()
                    .map(|a| a.to_string())
                    .chain(self.refused.iter().map(|(a, _)| format!("{a} (out of scope)")))
                    .collect();
                s.push_str(&all.join(", "));
            }
            other => s.push_str(&format!("{other:?}")),
        }
        s
    }

    /// Whether the name exists (has any record).
    pub fn exists(&self) -> bool {
        !matches!(self.end, ChainEnd::NxDomain | ChainEnd::NameOutOfScope(_) | ChainEnd::Failed(_))
    }
}

/// Follow `current` through the CNAMEs in `r`; returns the final name and the hops.
fn follow(r: &Response, start: &str) -> (String, Vec<String>) {
    let mut current = start.to_owned();
    let mut hops = Vec::new();
    while hops.len() <= MAX_CHAIN {
        let next = r.answers.iter().find_map(|rec| match &rec.data {
            RData::Cname(t) if rec.name == current => Some(t.clone()),
            _ => None,
        });
        match next {
            Some(t) => {
                hops.push(t.clone());
                current = t;
            }
            None => break,
        }
    }
    (current, hops)
}

fn addrs_of(r: &Response, name: &str) -> Vec<IpAddr> {
    r.answers
        .iter()
        .filter(|rec| rec.name == name)
        .filter_map(|rec| match rec.data {
            RData::A(a) => Some(IpAddr::V4(a)),
            RData::Aaaa(a) => Some(IpAddr::V6(a)),
            _ => None,
        })
        .collect()
}

pub(super) async fn resolve(guard: &ScopeGuard, name: &str) -> Resolution {
    let mut res = Resolution {
        name: name.to_owned(),
        chain: Vec::new(),
        end: ChainEnd::Addresses,
        allowed: Vec::new(),
        refused: Vec::new(),
        out_of_scope_target: None,
        outside_domains: None,
        audit: Vec::new(),
    };
    let d = guard.scope().check_name(name);
    if !d.allowed {
        res.end = ChainEnd::NameOutOfScope(d.reason);
        return res;
    }
    // Follow the chain with A queries (the resolver may return the whole chain
    // at once, or an authoritative server one CNAME at a time).
    let mut current = name.to_owned();
    let mut addrs: Vec<IpAddr> = Vec::new();
    let final_rcode = loop {
        let q = guard.query(&current, RecordType::A).await;
        res.audit.extend(&q.audit);
        let r = match q.response {
            Ok(r) => r,
            Err(e) => {
                res.end = ChainEnd::Failed(e.to_string());
                return res;
            }
        };
        if !matches!(r.rcode, Rcode::NoError | Rcode::NxDomain) {
            res.end = ChainEnd::Failed(format!("{current}: {}", r.rcode));
            return res;
        }
        let (last, hops) = follow(&r, &current);
        for h in &hops {
            if res.chain.contains(h) || res.chain.len() >= MAX_CHAIN || *h == name {
                res.end = ChainEnd::TooLong;
                return res;
            }
            res.chain.push(h.clone());
        }
        addrs.extend(addrs_of(&r, &last));
        let done = hops.is_empty() || !addrs.is_empty() || r.rcode == Rcode::NxDomain;
        current = last;
        if done {
            break r.rcode;
        }
        // The server returned only the CNAME: ask for its target.
    };
    if final_rcode != Rcode::NxDomain {
        let q = guard.query(&current, RecordType::Aaaa).await;
        res.audit.extend(&q.audit);
        if let Ok(r) = q.response {
            addrs.extend(addrs_of(&r, &current));
        }
    }
    addrs.sort();
    addrs.dedup();
    res.end = match (addrs.is_empty(), res.chain.is_empty(), final_rcode) {
        (false, _, _) => ChainEnd::Addresses,
        (true, true, Rcode::NxDomain) => ChainEnd::NxDomain,
        (true, true, _) => ChainEnd::NoData,
        (true, false, rc) => ChainEnd::Dangling {
            target: current.clone(),
            rcode: if rc == Rcode::NxDomain { "NXDOMAIN".into() } else { "no address (NODATA)".into() },
        },
    };
    decide(guard.scope(), &mut res, addrs);
    // Record each refusal: the audit shows what was deliberately not contacted.
    if res.refused.is_empty()
        && let Some((n, why)) = &res.out_of_scope_target
    {
        let e = super::GuardError::OutOfScope(format!("CNAME target {n} is out of scope: {why}"));
        let a = Attempt { target: name, address: None, port: None, protocol: Protocol::Tcp, probe: "resolve" };
        let _ = guard.refuse(a, e);
    }
    for (a, why) in &res.refused {
        let attempt =
            Attempt { target: name, address: Some(*a), port: None, protocol: Protocol::Tcp, probe: "resolve" };
        let _ = guard.refuse(attempt, super::GuardError::OutOfScope(why.clone()));
    }
    res
}

/// Which addresses of `res` may be contacted (SPEC.md, scope rules):
/// - a chain name that is excluded (or invalid) refuses every address;
/// - a chain that stays inside `domains`: each address on its own merits;
/// - a chain that leaves `domains`: every address, or none. The name is probed
///   as itself only when every address the chain resolves to is in scope; one
///   out-of-scope address (a mixed answer) refuses them all, since the chain
///   is then not shown to end inside the authorization.
fn decide(scope: &Scope, res: &mut Resolution, addrs: Vec<IpAddr>) {
    for c in &res.chain {
        match scope.check_chain_name(c) {
            ChainName::InScope => {}
            ChainName::Outside(_) => {
                if res.outside_domains.is_none() {
                    res.outside_domains = Some(c.clone());
                }
            }
            ChainName::Refused(why) => {
                res.out_of_scope_target = Some((c.clone(), format!("out of scope: {why}")));
                break;
            }
        }
    }
    if let Some((n, why)) = &res.out_of_scope_target {
        for a in addrs {
            res.refused.push((a, format!("reached through CNAME {n}, which is out of scope: {why}")));
        }
        return;
    }
    let decisions: Vec<(IpAddr, crate::scope::Decision)> =
        addrs.into_iter().map(|a| (a, scope.check_addr(a))).collect();
    let outside = res.outside_domains.clone();
    match outside {
        Some(n) if decisions.iter().any(|(_, d)| !d.allowed) => {
            let out: Vec<String> =
                decisions.iter().filter(|(_, d)| !d.allowed).map(|(_, d)| d.why().to_owned()).collect();
            let why = format!(
                "{n} is outside domains, so {} is probed only when every address its CNAME chain resolves to is in \
                 scope, and {}",
                res.name,
                out.join("; ")
            );
            for (a, d) in decisions {
                let r = if d.allowed {
                    format!("{a} is in scope, but the CNAME chain through {n} also resolves to an out-of-scope address")
                } else {
                    d.reason
                };
                res.refused.push((a, r));
            }
            res.out_of_scope_target = Some((n, format!("out of scope: {why}")));
        }
        _ => {
            for (a, d) in decisions {
                if d.allowed { res.allowed.push(a) } else { res.refused.push((a, d.reason)) }
            }
        }
    }
}
