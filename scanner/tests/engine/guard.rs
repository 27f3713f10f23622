use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;

use haetae_lab::Lab;
use haetae_scanner::guard::GuardError;
use proptest::prelude::*;

use crate::support::{guard, lab_scope, now};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolve_once_and_only_checked_addresses_are_connected() {
    let lab = Lab::start().await.unwrap();
    let (g, _dir) = guard(lab_scope(&lab, |s| s), vec![lab.dns_addr()], now());
    let www = g.resolve("www.agency.test").await;
    assert_eq!(www.allowed, vec!["127.77.1.20".parse::<IpAddr>().unwrap()]);
    let queries = lab.dns_queries();
    let again = g.resolve("WWW.agency.test.").await;
    assert_eq!(again, www);
    assert_eq!(lab.dns_queries(), queries, "no second lookup: rebinding cannot move the probe");

    let legacy = g.resolve("legacy.agency.test").await;
    assert!(legacy.allowed.is_empty());
    let port = lab.ports()[0];
    let out = g.connect("legacy.agency.test", "127.99.0.1".parse().unwrap(), port, "tcp.connect").await;
    assert!(matches!(out, Err(GuardError::OutOfScope(_))), "{out:?}");
    // An in-scope address, but not one this name resolved to.
    let other = g.connect("www.agency.test", "127.77.2.20".parse().unwrap(), port, "tcp.connect").await;
    assert!(matches!(other, Err(GuardError::OutOfScope(_))), "{other:?}");
    // Excluded names are refused before any query.
    let pay = g.resolve("payments.agency.test").await;
    assert!(pay.allowed.is_empty());
    assert_eq!(g.stats.connects.load(Ordering::Relaxed), 0);
    assert_eq!(lab.out_of_scope_connections() + lab.excluded_connections(), 0);
    lab.shutdown().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// No address outside `cidrs` (or inside `exclude_cidrs`) is ever permitted.
    #[test]
    fn no_address_outside_cidrs_is_ever_permitted(a in any::<u32>(), port in any::<u16>()) {
        let toml = r#"
[engagement]
id = "KR-P"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = ["127.77.0.0/20", "10.9.0.0/16"]
exclude_cidrs = ["127.77.1.0/24"]
ports = [22, 443]
"#;
        let scope = haetae_scanner::scope::Scope::parse(std::path::Path::new("scope.toml"), toml).unwrap();
        let (g, _dir) = guard(scope, vec!["127.0.0.1:53".parse().unwrap()], now());
        let ip = IpAddr::V4(Ipv4Addr::from(a));
        let inside = |net: &str| net.parse::<ipnet::IpNet>().unwrap().contains(&ip);
        let allowed = (inside("127.77.0.0/20") || inside("10.9.0.0/16")) && !inside("127.77.1.0/24") && (port == 22 || port == 443);
        let permitted = g.permit(&ip.to_string(), ip, port).is_ok();
        prop_assert_eq!(permitted, allowed, "{} port {}", ip, port);
        // A name never resolved through the guard gets nothing, whatever the address.
        prop_assert!(g.permit("www.agency.test", ip, port).is_err());
    }
}

#[test]
fn with_empty_cidrs_only_addresses_of_in_scope_names_are_permitted() {
    let toml = r#"
[engagement]
id = "KR-E"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
ports = [22]
"#;
    let scope = haetae_scanner::scope::Scope::parse(std::path::Path::new("scope.toml"), toml).unwrap();
    let (g, _dir) = guard(scope, vec!["127.0.0.1:53".parse().unwrap()], now());
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    let e = g.permit("203.0.113.7", ip, 22).unwrap_err();
    assert!(e.to_string().contains("cidrs is empty"), "{e}");
    assert!(g.permit("www.agency.test", ip, 22).is_err(), "not resolved through the guard");
}

#[test]
fn legacy_origins_are_allowed_only_when_the_scope_vouches_for_them() {
    // cidrs given: an in-cidr legacy address of an in-scope name may be contacted.
    let text = r#"
[engagement]
id = "KR-E"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
cidrs = ["127.77.0.0/20"]
exclude_cidrs = ["127.77.3.0/24"]
exclude_domains = ["payments.agency.test"]
ports = [80]
"#;
    let scope = haetae_scanner::scope::Scope::parse(std::path::Path::new("scope.toml"), text).unwrap();
    let (g, _dir) = guard(scope, vec!["127.0.0.1:53".parse().unwrap()], now());
    let old: IpAddr = "127.77.1.21".parse().unwrap();
    assert!(g.permit("portal.agency.test", old, 80).is_err(), "not before it is allowed");
    g.allow_origin("portal.agency.test", old).unwrap();
    g.permit("PORTAL.agency.test.", old, 80).unwrap();
    assert!(g.permit("www.agency.test", old, 80).is_err(), "only on behalf of that host");
    assert!(g.permit("portal.agency.test", old, 81).is_err(), "ports still apply");
    for (host, ip) in [
        ("portal.agency.test", "127.99.0.1"),
        ("portal.agency.test", "127.77.3.9"),
        ("payments.agency.test", "127.77.1.30"),
        ("portal.othercorp.test", "127.77.1.21"),
    ] {
        assert!(matches!(g.allow_origin(host, ip.parse().unwrap()), Err(GuardError::OutOfScope(_))), "{host} {ip}");
    }

    // cidrs empty: only the addresses [[migration]] lists for the host.
    let text = r#"
[engagement]
id = "KR-E"
not_before = 2000-01-01T00:00:00Z
not_after = 2999-01-01T00:00:00Z
[scope]
domains = ["agency.test"]
ports = [80]
[[migration]]
host = "portal.agency.test"
legacy_addresses = ["198.51.100.21"]
"#;
    let scope = haetae_scanner::scope::Scope::parse(std::path::Path::new("scope.toml"), text).unwrap();
    let (g, _dir) = guard(scope, vec!["127.0.0.1:53".parse().unwrap()], now());
    g.allow_origin("portal.agency.test", "198.51.100.21".parse().unwrap()).unwrap();
    let e = g.allow_origin("portal.agency.test", "198.51.100.22".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("cidrs is empty"), "{e}");
    assert!(g.allow_origin("www.agency.test", "198.51.100.21".parse().unwrap()).is_err());
}
