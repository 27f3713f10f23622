//! Property tests of the invariants the guard relies on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use haetae_findings::Timestamp;
use ipnet::IpNet;
use proptest::prelude::*;

use crate::scope::norm::{canonical_ip, canonical_net};
use crate::scope::{Engagement, Limits, Scope};

fn scope(domains: &[&str], exclude_domains: &[&str], cidrs: Vec<IpNet>, exclude_cidrs: Vec<IpNet>) -> Scope {
    Scope {
        engagement: Engagement {
            id: "T".into(),
            agency: String::new(),
            contact: String::new(),
            not_before: Timestamp::from_unix(0),
            not_after: Timestamp::from_unix(1),
        },
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        cidrs,
        ports: vec![443],
        exclude_domains: exclude_domains.iter().map(|d| (*d).to_owned()).collect(),
        exclude_cidrs,
        exclude_paths: Vec::new(),
        seeds: Vec::new(),
        limits: Limits::default(),
        migrations: Vec::new(),
    }
}

/// Labels, including ones that are not valid (the check must refuse those too).
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_][a-z0-9_-]{0,8}[a-z0-9_]",
        2 => "[a-zA-Z0-9]{1,3}",
        1 => Just("agency".to_owned()),
        1 => Just("payments".to_owned()),
        1 => Just("test".to_owned()),
        1 => "[ -~]{0,4}",
    ]
}

fn labels(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(label(), 0..max)
}

/// Random casing and an optional trailing dot: the same name to a resolver.
fn spell(name: &str, upper: &[bool], dot: bool) -> String {
    let mut s: String =
        name.chars().zip(upper.iter().cycle()).map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c }).collect();
    if dot {
        s.push('.');
    }
    s
}

/// The test's own label-boundary rule (independent of the code under test).
fn is_under(name: &str, domain: &str) -> bool {
    name == domain || name.ends_with(&format!(".{domain}"))
}

const DOMAINS: [&str; 2] = ["agency.test", "other.example"];
const EXCLUDED: [&str; 2] = ["payments.agency.test", "x.other.example"];

/// Addresses, often near the networks under test so that containment is exercised.
fn addr_near(nets: Vec<IpNet>) -> impl Strategy<Value = IpAddr> {
    let random = prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ];
    let near =
        (0..nets.len().max(1), any::<u128>(), any::<bool>()).prop_map(move |(i, bits, mapped)| match nets.get(i) {
            Some(IpNet::V4(n)) => {
                let host = u32::try_from(bits & u128::from(u32::MAX)).unwrap_or(0) & !u32::from(n.netmask());
                let v4 = Ipv4Addr::from(u32::from(n.network()) | host);
                if mapped { IpAddr::V6(v4.to_ipv6_mapped()) } else { IpAddr::V4(v4) }
            }
            Some(IpNet::V6(n)) => {
                IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | (bits & !u128::from(n.netmask()))))
            }
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        });
    prop_oneof![1 => random, 3 => near]
}

fn net() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 8u8..=32).prop_map(|(a, p)| IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), p).unwrap().trunc()),
        (any::<u128>(), 16u8..=128).prop_map(|(a, p)| IpNet::new(IpAddr::V6(Ipv6Addr::from(a)), p).unwrap().trunc()),
        // IPv4 networks written as IPv4-mapped IPv6.
        (any::<u32>(), 104u8..=128)
            .prop_map(|(a, p)| { IpNet::new(IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped()), p).unwrap().trunc() }),
    ]
}

fn nets_and_addr() -> impl Strategy<Value = (Vec<IpNet>, Vec<IpNet>, IpAddr)> {
    (prop::collection::vec(net(), 0..4), prop::collection::vec(net(), 0..4)).prop_flat_map(|(cidrs, excl)| {
        let all: Vec<IpNet> = cidrs.iter().chain(excl.iter()).copied().collect();
        (Just(cidrs), Just(excl), addr_near(all))
    })
}

proptest! {
    /// (1) Nothing under an exclude_domains entry is ever in scope, however spelled.
    #[test]
    fn nothing_excluded_is_in_scope(
        prefix in labels(5),
        which in 0..EXCLUDED.len(),
        upper in prop::collection::vec(any::<bool>(), 1..8),
        dot in any::<bool>(),
    ) {
        let s = scope(&DOMAINS, &EXCLUDED, Vec::new(), Vec::new());
        let mut parts = prefix;
        parts.push(EXCLUDED[which].to_owned());
        let name = spell(&parts.join("."), &upper, dot);
        let d = s.check_name(&name);
        prop_assert!(!d.allowed, "{name}: {}", d.reason);
        // As a URL host, only when the name has no URL delimiters (with them the
        // URL's real host is a different, shorter name).
        if !name.contains(['/', '?', '#', '@', ':', '\\', '[', ']', '%', ' ']) {
            let (_, d) = s.check_target(&format!("https://{name}/"));
            prop_assert!(!d.allowed, "{name}: {}", d.reason);
        }
    }

    /// (2) No address inside an exclude_cidrs net, or outside every cidr, is in scope
    /// (each judged in its canonical form), and an IPv4 address and its IPv4-mapped
    /// IPv6 form always get the same answer.
    #[test]
    fn no_excluded_or_outside_address_is_in_scope((cidrs, excl, ip) in nets_and_addr()) {
        let s = scope(&DOMAINS, &[], cidrs.clone(), excl.clone());
        let d = s.check_addr(ip);
        prop_assert_eq!(s.addr_allowed(ip), d.allowed, "the fast path agrees with check_addr for {}", ip);
        let c = canonical_ip(ip);
        let excluded = excl.iter().any(|n| n.contains(&ip) || canonical_net(*n).contains(&c));
        let inside = cidrs.is_empty() || cidrs.iter().any(|n| canonical_net(*n).contains(&c));
        if excluded || !inside {
            prop_assert!(!d.allowed, "{ip}: {}", d.reason);
            prop_assert!(!s.check_target(&ip.to_string()).1.allowed);
        }
        if let IpAddr::V4(v4) = c {
            let mapped = s.check_addr(IpAddr::V6(v4.to_ipv6_mapped())).allowed;
            prop_assert_eq!(s.check_addr(c).allowed, mapped, "{}", c);
        }
    }

    /// (3) A name not under some domains entry is out; an allowed name is under one.
    #[test]
    fn names_outside_domains_are_out(
        parts in labels(5),
        tail in prop_oneof![
            Just(""), Just("agency.test"), Just("evilagency.test"), Just("agency.test.evil"),
            Just("test"), Just("gency.test"), Just("other.example"), Just("example"),
        ],
        upper in prop::collection::vec(any::<bool>(), 1..8),
        dot in any::<bool>(),
    ) {
        let s = scope(&DOMAINS, &EXCLUDED, Vec::new(), Vec::new());
        let mut all = parts;
        if !tail.is_empty() {
            all.push(tail.to_owned());
        }
        let raw = all.join(".");
        let name = spell(&raw, &upper, dot);
        let d = s.check_name(&name);
        let lower = raw.to_ascii_lowercase();
        let in_domain = DOMAINS.iter().any(|dom| is_under(&lower, dom));
        if !in_domain {
            prop_assert!(!d.allowed, "{name}: {}", d.reason);
        }
        if d.allowed {
            prop_assert!(in_domain && !EXCLUDED.iter().any(|e| is_under(&lower, e)), "{name}: {}", d.reason);
        }
    }
}
