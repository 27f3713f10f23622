//! scope.toml parsing: the examples we ship parse, and every validation error
//! names the rule and points at the line and column of the value at fault.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use haetae_findings::Timestamp;

use super::{SPEC_EXAMPLE, parse, spec};
use crate::scope::{Limits, Migration, Scope, TOP_100};

/// A scope whose lines the error tests replace one at a time (line numbers matter).
const BASE: &str = r#"[engagement]
id = "KR-2026-0142"
agency = "Ministry of Example"
contact = "whitehat@example.org"
not_before = 2026-11-01T00:00:00Z
not_after = 2026-12-31T23:59:59Z

[scope]
domains = ["agency.test"]
cidrs = ["127.77.0.0/20"]
ports = [22, 80, 443, 8080, 8443]
exclude_domains = ["payments.agency.test"]
exclude_cidrs = []
exclude_paths = ["/logout"]
seeds = ["agency.test", "www.agency.test"]

[limits]
max_rps = 100
per_host_rps = 20
concurrency = 128
timeout_ms = 5000

[[migration]]
host = "portal.agency.test"
legacy_addresses = ["127.77.1.21"]
"#;

/// BASE with `old` replaced by `new`, parsed.
fn with(old: &str, new: &str) -> Result<Scope, haetae_findings::SourceError> {
    assert!(BASE.contains(old), "BASE has no `{old}`");
    Scope::parse(Path::new("scope.toml"), &BASE.replacen(old, new, 1))
}

/// The error for BASE with `old` replaced by `new`: at `pos` (`line:column`),
/// with a message containing each of `says`.
#[track_caller]
fn assert_error(old: &str, new: &str, pos: &str, says: &[&str]) {
    let e = match with(old, new) {
        Ok(_) => panic!("accepted `{new}`"),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(text.starts_with(&format!("scope.toml:{pos}: ")), "`{new}`: wrong position: {text}");
    for s in says {
        assert!(text.contains(s), "`{new}`: message lacks `{s}`: {text}");
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn the_spec_example_parses() {
    let s = spec();
    assert_eq!(s.engagement.id, "KR-2026-0142");
    assert_eq!(s.engagement.agency, "Ministry of Example");
    assert_eq!(s.engagement.contact, "whitehat@example.org");
    assert_eq!(s.engagement.not_before, ts("2026-11-01T00:00:00Z"));
    assert_eq!(s.engagement.not_after, ts("2026-12-31T23:59:59Z"));
    assert_eq!(s.domains, ["agency.test"]);
    assert_eq!(s.cidrs, ["127.77.0.0/20".parse().unwrap()]);
    assert_eq!(s.ports, [22, 80, 443, 2375, 6379, 8080, 8443, 9200]);
    assert_eq!(s.exclude_domains, ["payments.agency.test"]);
    assert!(s.exclude_cidrs.is_empty());
    assert_eq!(s.exclude_paths, ["/logout"]);
    assert_eq!(s.seeds, ["agency.test", "www.agency.test"]);
    assert_eq!(s.limits, Limits::default());
    assert_eq!(
        s.limits,
        Limits { max_rps: 100, per_host_rps: 20, concurrency: 128, timeout: Duration::from_millis(5000) }
    );
    let legacy: IpAddr = "127.77.1.21".parse().unwrap();
    assert_eq!(s.migrations, [Migration { host: "portal.agency.test".into(), legacy_addresses: vec![legacy] }]);
    assert_eq!(parse(BASE).ports, [22, 80, 443, 8080, 8443]);
}

#[test]
fn the_starter_written_by_init_parses() {
    let starter = include_str!("../../../../src/commands/starters/scope.toml");
    let s = parse(starter);
    assert_eq!(s.engagement.id, "KR-2026-0142");
    assert_eq!(s.seeds, ["agency.test", "www.agency.test"]);
}

#[test]
fn load_reads_the_file_and_names_it_when_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scope.toml");
    std::fs::write(&path, SPEC_EXAMPLE).unwrap();
    assert_eq!(Scope::load(&path).unwrap(), spec());

    let missing = dir.path().join("nope.toml");
    let e = Scope::load(&missing).unwrap_err();
    assert_eq!(e.path, missing);
    assert_eq!((e.line, e.column), (0, 0));
    assert!(e.to_string().starts_with(&format!("{}: cannot read the scope file", missing.display())), "{e}");
}

#[test]
fn minimal_scope_takes_defaults() {
    let s = parse(
        "[engagement]\nid = \"X\"\nnot_before = \"2026-11-01T09:00:00+09:00\"\nnot_after = 2026-11-02T00:00:00Z\n\
         [scope]\ndomains = [\"Agency.Test.\"]\nports = \"top-100\"\n",
    );
    assert_eq!(s.engagement.agency, "");
    assert_eq!(s.engagement.contact, "");
    assert_eq!(s.engagement.not_before, ts("2026-11-01T00:00:00Z"));
    assert_eq!(s.domains, ["agency.test"]);
    assert_eq!(s.seeds, ["agency.test"]);
    assert!(s.cidrs.is_empty() && s.exclude_domains.is_empty() && s.exclude_paths.is_empty());
    assert_eq!(s.ports, TOP_100);
    assert_eq!(s.limits, Limits::default());
    assert!(s.migrations.is_empty());
}

#[test]
fn engagement_errors() {
    assert_error(r#"id = "KR-2026-0142""#, r#"id = "  ""#, "2:6", &["[engagement] id: must not be empty"]);
    assert_error(r#"id = "KR-2026-0142""#, "", "1:1", &["missing field `id`"]);
    assert_error(
        r#"contact = "whitehat@example.org""#,
        r#"contact = "a\r\nX-Evil: 1""#,
        "4:11",
        &["[engagement] contact: must not contain control characters"],
    );
    assert_error(
        "not_before = 2026-11-01T00:00:00Z",
        "not_before = 2026-11-01T00:00:00",
        "5:14",
        &["[engagement] not_before:", "local date-time without a timezone offset", "`Z`"],
    );
    assert_error(
        "not_before = 2026-11-01T00:00:00Z",
        r#"not_before = "2026-11-01T00:00:00""#,
        "5:14",
        &["local date-time without a timezone offset"],
    );
    assert_error(
        "not_before = 2026-11-01T00:00:00Z",
        "not_before = 2026-11-01",
        "5:14",
        &["date without a time and timezone offset"],
    );
    assert_error("not_before = 2026-11-01T00:00:00Z", "not_before = 09:00:00", "5:14", &["time of day without a date"]);
    assert_error(
        "not_before = 2026-11-01T00:00:00Z",
        r#"not_before = "next week""#,
        "5:14",
        &["`next week` is not a date-time"],
    );
    assert_error("not_before = 2026-11-01T00:00:00Z", "not_before = 5", "5:14", &["expected a date-time", "integer"]);
    assert_error(
        "not_after = 2026-12-31T23:59:59Z",
        "not_after = 2026-11-01T09:00:00+09:00",
        "6:13",
        &["[engagement] not_after: 2026-11-01T00:00:00Z must be later than not_before 2026-11-01T00:00:00Z"],
    );
    assert_error("not_after = 2026-12-31T23:59:59Z", "not_after = 2026-10-01T00:00:00Z", "6:13", &["must be later"]);
}

#[test]
fn unknown_keys_are_named() {
    assert_error("exclude_cidrs = []", "exclude_cidr = []", "13:1", &["unknown field `exclude_cidr`"]);
    assert_error("agency = ", "agencyy = ", "3:1", &["unknown field `agencyy`"]);
    assert_error("timeout_ms = 5000", "timeout = 5000", "21:1", &["unknown field `timeout`"]);
    assert_error("host = ", "hots = ", "24:1", &["unknown field `hots`"]);
    assert_error("[limits]", "[limit]", "17:2", &["unknown field `limit`"]);
}

#[test]
fn domain_errors() {
    assert_error(r#"domains = ["agency.test"]"#, "domains = []", "9:11", &["[scope] domains: must list at least one"]);
    assert_error(
        r#"domains = ["agency.test"]"#,
        r#"domains = ["agency..test"]"#,
        "9:12",
        &["[scope] domains: `agency..test` is not a valid host name: it has an empty label"],
    );
    assert_error(
        r#"domains = ["agency.test"]"#,
        r#"domains = ["agency.test", "*.other.test"]"#,
        "9:27",
        &["`*` is not allowed (a domains entry already covers every subdomain)"],
    );
    assert_error(
        r#"domains = ["agency.test"]"#,
        r#"domains = ["127.77.0.1"]"#,
        "9:12",
        &["`127.77.0.1` is an address; list addresses in cidrs"],
    );
    assert_error(r#"domains = ["agency.test"]"#, r#"domains = ["test"]"#, "9:12", &["`test` is a top-level domain"]);
    assert_error(
        r#"exclude_domains = ["payments.agency.test"]"#,
        r#"exclude_domains = ["payments agency.test"]"#,
        "12:20",
        &["[scope] exclude_domains:", "spaces"],
    );
}

#[test]
fn cidr_errors() {
    assert_error(
        r#"cidrs = ["127.77.0.0/20"]"#,
        r#"cidrs = ["127.77.0.0/33"]"#,
        "10:10",
        &["[scope] cidrs: `127.77.0.0/33` is not an address or network"],
    );
    assert_error(
        r#"cidrs = ["127.77.0.0/20"]"#,
        r#"cidrs = ["127.77.0.0/20", "127.77.1.21/8"]"#,
        "10:27",
        &[
            "`127.77.1.21/8` has bits set after the prefix: write the network 127.0.0.0/8 or the single address 127.77.1.21/32",
        ],
    );
    assert_error("exclude_cidrs = []", r#"exclude_cidrs = ["nope"]"#, "13:18", &["[scope] exclude_cidrs: `nope`"]);
}

#[test]
fn networks_wider_than_a_slash_8_or_32_need_broad() {
    let cidrs = r#"cidrs = ["127.77.0.0/20"]"#;
    assert_error(
        cidrs,
        r#"cidrs = ["127.77.0.0/20", "0.0.0.0/0"]"#,
        "10:27",
        &["[scope] cidrs: `0.0.0.0/0` covers every IPv4 address", "add `broad = true` to [scope]", "really"],
    );
    assert_error(cidrs, r#"cidrs = ["10.0.0.0/7"]"#, "10:10", &["`10.0.0.0/7` covers 33554432 addresses", "/8"]);
    assert_error(cidrs, r#"cidrs = ["::/0"]"#, "10:10", &["`::/0` covers every IPv6 address", "broad = true"]);
    assert_error(cidrs, r#"cidrs = ["2001:db8::/31"]"#, "10:10", &["covers 2^97 addresses", "IPv6 /32"]);
    // An IPv4-mapped network is judged as the IPv4 network it is.
    assert_error(cidrs, r#"cidrs = ["::ffff:0.0.0.0/96"]"#, "10:10", &["every IPv4 address"]);
    // Up to /8 and /32 are fine without it.
    let s = with(cidrs, r#"cidrs = ["127.0.0.0/8", "2001:db8::/32"]"#).unwrap();
    assert_eq!(s.cidrs.len(), 2);
    // With `broad = true` the scope is taken as written.
    let s = with(cidrs, "broad = true\ncidrs = [\"0.0.0.0/0\", \"::/0\"]").unwrap();
    assert_eq!(s.cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(), ["0.0.0.0/0", "::/0"]);
    // Exclusions may be as wide as they like: they only take away.
    assert!(with("exclude_cidrs = []", r#"exclude_cidrs = ["128.0.0.0/1"]"#).is_ok());
    assert_error("exclude_cidrs = []", "broad = 1", "13:9", &["invalid type"]);
}

#[test]
fn cidrs_accept_bare_addresses_and_mapped_networks() {
    let s = with(
        r#"cidrs = ["127.77.0.0/20"]"#,
        r#"cidrs = ["127.77.0.0/20", "2001:db8::1", "[2001:db8::2]", "::ffff:10.1.0.0/112"]"#,
    )
    .unwrap();
    let nets: Vec<String> = s.cidrs.iter().map(ToString::to_string).collect();
    assert_eq!(nets, ["127.77.0.0/20", "2001:db8::1/128", "2001:db8::2/128", "10.1.0.0/16"]);
    let s = with("exclude_cidrs = []", r#"exclude_cidrs = ["127.77.4.9/24", "127.77.2.1"]"#).unwrap();
    let nets: Vec<String> = s.exclude_cidrs.iter().map(ToString::to_string).collect();
    assert_eq!(nets, ["127.77.4.0/24", "127.77.2.1/32"]);
}

#[test]
fn port_errors_and_sets() {
    let ports = "ports = [22, 80, 443, 8080, 8443]";
    assert_error(
        ports,
        r#"ports = "top-50""#,
        "11:9",
        &["[scope] ports: unknown port set `top-50`; expected a list of port numbers 1-65535 or \"top-100\""],
    );
    assert_error(ports, "ports = []", "11:9", &["[scope] ports: must list at least one port"]);
    assert_error(ports, "ports = [22, 0]", "11:14", &["[scope] ports: 0 is not a port number (1-65535)"]);
    assert_error(ports, "ports = [70000]", "11:10", &["70000 is not a port number"]);
    assert_error(ports, "ports = [-1]", "11:10", &["-1 is not a port number"]);
    assert_error(ports, r#"ports = [22, "80"]"#, "11:14", &["invalid type"]);
    assert_error(ports, "ports = 80", "11:9", &["a list of port numbers or \"top-100\""]);
    assert_error(ports, "", "8:1", &["missing field `ports`"]);
    assert_eq!(with(ports, "ports = [443, 80, 443]").unwrap().ports, [443, 80]);
    assert_eq!(with(ports, r#"ports = "top-100""#).unwrap().ports, TOP_100);
}

#[test]
fn path_errors() {
    let line = r#"exclude_paths = ["/logout"]"#;
    assert_error(line, r#"exclude_paths = ["logout"]"#, "14:18", &["`logout` must be a path starting with `/`"]);
    assert_error(line, r#"exclude_paths = ["/a?x=1"]"#, "14:18", &["has a query or fragment"]);
    assert_error(line, r#"exclude_paths = ["/admin/*"]"#, "14:18", &["has `*`"]);
    let s = with(line, r#"exclude_paths = ["/Admin/", "/a/./b/../c", "/"]"#).unwrap();
    assert_eq!(s.exclude_paths, ["/admin", "/a/c", "/"]);
}

#[test]
fn seed_errors() {
    let line = r#"seeds = ["agency.test", "www.agency.test"]"#;
    assert_error(
        line,
        r#"seeds = ["agency.test", "payments.agency.test"]"#,
        "15:25",
        &[
            "[scope] seeds: `payments.agency.test` is out of scope: payments.agency.test is excluded by exclude_domains payments.agency.test",
        ],
    );
    assert_error(
        line,
        r#"seeds = ["other.test"]"#,
        "15:10",
        &["`other.test` is out of scope", "not under any domains"],
    );
    assert_error(line, r#"seeds = ["10.0.0.1"]"#, "15:10", &["outside cidrs 127.77.0.0/20"]);
    assert_error(line, r#"seeds = ["https://www.agency.test:25/"]"#, "15:10", &["port 25 is not in scope ports"]);
    assert_error(
        line,
        r#"seeds = ["https://www.agency.test/logout"]"#,
        "15:10",
        &["excluded by exclude_paths /logout"],
    );
    assert_error(line, "seeds = []", "15:9", &["[scope] seeds: must list at least one seed"]);
    // Seeds default to the domains, which are checked like any seed.
    assert_error(
        r#"exclude_domains = ["payments.agency.test"]"#,
        r#"exclude_domains = ["agency.test"]"#,
        "15:10",
        &["`agency.test` is out of scope: agency.test is excluded"],
    );
    let s = with(line, "").unwrap();
    assert_eq!(s.seeds, ["agency.test"]);
    let s = with(line, r#"seeds = ["WWW.Agency.Test.", "127.77.1.2", "https://www.agency.test/start"]"#).unwrap();
    assert_eq!(s.seeds, ["www.agency.test", "127.77.1.2", "https://www.agency.test/start"]);
}

#[test]
fn limit_errors() {
    assert_error("max_rps = 100", "max_rps = 0", "18:11", &["[limits] max_rps: 0 is out of range (1 to 100000)"]);
    assert_error("max_rps = 100", "max_rps = 100001", "18:11", &["out of range"]);
    assert_error("max_rps = 100", "max_rps = 1.5", "18:11", &["invalid type"]);
    assert_error("per_host_rps = 20", "per_host_rps = -3", "19:16", &["[limits] per_host_rps: -3 is out of range"]);
    assert_error(
        "per_host_rps = 20",
        "per_host_rps = 200",
        "19:16",
        &["[limits] per_host_rps: 200 is more than max_rps 100"],
    );
    assert_error("concurrency = 128", "concurrency = 10001", "20:15", &["(1 to 10000)"]);
    assert_error(
        "timeout_ms = 5000",
        "timeout_ms = 600001",
        "21:14",
        &["[limits] timeout_ms: 600001 is out of range (1 to 600000)"],
    );
    assert_error("timeout_ms = 5000", "timeout_ms = 0", "21:14", &["out of range"]);

    let s = with("max_rps = 100\nper_host_rps = 20", "max_rps = 5").unwrap();
    assert_eq!((s.limits.max_rps, s.limits.per_host_rps), (5, 5), "the per-host default never exceeds max_rps");
    let s = with("timeout_ms = 5000", "timeout_ms = 600000").unwrap();
    assert_eq!(s.limits.timeout, Duration::from_secs(600));
}

#[test]
fn migration_errors() {
    assert_error(
        r#"host = "portal.agency.test""#,
        r#"host = "portal.elsewhere.test""#,
        "24:8",
        &[
            "[[migration]] host: `portal.elsewhere.test` is out of scope: portal.elsewhere.test is not under any domains entry",
        ],
    );
    assert_error(r#"host = "portal.agency.test""#, r#"host = "10.0.0.1""#, "24:8", &["is an address"]);
    let line = r#"legacy_addresses = ["127.77.1.21"]"#;
    assert_error(line, r#"legacy_addresses = ["127.77.1.21", "old-host"]"#, "25:36", &["`old-host` is not an address"]);
    assert_error(
        line,
        r#"legacy_addresses = ["10.9.9.9"]"#,
        "25:21",
        &["[[migration]] legacy_addresses: 10.9.9.9 is out of scope: 10.9.9.9 is outside cidrs 127.77.0.0/20"],
    );
    assert_error(line, "legacy_addresses = []", "25:20", &["must list at least one address"]);
    let s = with(line, r#"legacy_addresses = ["::ffff:127.77.1.21", "127.77.1.22"]"#).unwrap();
    assert_eq!(s.migrations[0].legacy_addresses.len(), 2);
}
