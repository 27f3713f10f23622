//! The decisions: names, addresses, ports, paths, URL targets, the window.

use std::net::IpAddr;

use haetae_findings::Timestamp;

use super::{parse, spec};
use crate::scope::{Decision, TOP_100, Target, parse_target};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[track_caller]
fn allowed(d: &Decision) {
    assert!(d.allowed, "{}", d.reason);
    assert!(d.reason.starts_with("in scope: "), "{}", d.reason);
}

#[track_caller]
fn refused(d: &Decision) {
    assert!(!d.allowed, "{}", d.reason);
    assert!(d.reason.starts_with("out of scope: "), "{}", d.reason);
}

/// The SPEC example with `cidrs = []` (any address a scoped name resolves to).
fn open_cidrs() -> crate::scope::Scope {
    // The example's legacy address is loopback, which cidrs must list: drop the migration.
    let text = super::SPEC_EXAMPLE.replace(r#"cidrs = ["127.77.0.0/20"]"#, "cidrs = []");
    let text = text.split("[[migration]]").next().unwrap();
    parse(text)
}

#[test]
fn names_match_at_label_boundaries() {
    let s = spec();
    assert_eq!(s.check_name("www.agency.test").reason, "in scope: under domain agency.test");
    for name in ["agency.test", "AGENCY.test.", "a.b.c.agency.test", "_dmarc.agency.test", "x-1.agency.test"] {
        allowed(&s.check_name(name));
    }
    for name in ["evilagency.test", "gency.test", "test", "agency.test.evil.test", "agency.testx", "www.agency.tes"] {
        let d = s.check_name(name);
        refused(&d);
        assert!(d.reason.contains("is not under any domains entry (agency.test)"), "{}", d.reason);
    }
    assert_eq!(
        s.check_name("evilagency.test").reason,
        "out of scope: evilagency.test is not under any domains entry (agency.test)"
    );
}

#[test]
fn exclusions_win_over_inclusions() {
    let s = spec();
    assert_eq!(
        s.check_name("payments.agency.test"),
        Decision {
            allowed: false,
            reason: "out of scope: payments.agency.test is excluded by exclude_domains payments.agency.test".into()
        }
    );
    refused(&s.check_name("API.Payments.Agency.Test."));
    allowed(&s.check_name("paymentsx.agency.test"));
    allowed(&s.check_name("xpayments.agency.test"));

    let s = parse(&super::SPEC_EXAMPLE.replace("exclude_cidrs = []", r#"exclude_cidrs = ["127.77.4.0/24"]"#));
    assert_eq!(
        s.check_addr(ip("127.77.4.5")).reason,
        "out of scope: 127.77.4.5 is excluded by exclude_cidrs 127.77.4.0/24"
    );
    allowed(&s.check_addr(ip("127.77.2.5")));
}

#[test]
fn garbage_names_are_out_with_a_reason() {
    let s = spec();
    let long_label = format!("{}.agency.test", "a".repeat(64));
    let long_name = format!("{}agency.test", "abcdefghi.".repeat(25));
    assert!(long_name.len() > 253);
    let cases: [(&str, &str); 15] = [
        ("[agency.test]", "character `[` is not allowed"),
        ("agency.test/x", "character `/` is not allowed"),
        ("", "the name is empty"),
        (".", "the name is empty"),
        ("www..agency.test", "empty label"),
        (".agency.test", "empty label"),
        ("agency.test..", "empty label"),
        ("www agency.test", "spaces"),
        (" agency.test", "spaces"),
        (&long_label, "more than 63"),
        (&long_name, "more than 253"),
        ("ag*ency.test", "`*` is not allowed"),
        ("한국.agency.test", "character `한` is not allowed"),
        ("-x.agency.test", "starts or ends with `-`"),
        ("agency.test:8080", "character `:` is not allowed"),
    ];
    for (name, why) in cases {
        let d = s.check_name(name);
        refused(&d);
        assert!(d.reason.contains("is not a valid host name") && d.reason.contains(why), "{name}: {}", d.reason);
    }
    // Names a resolver would read as addresses.
    for name in ["127.1", "2130706433", "1.0x7f", "0x7f000001"] {
        let d = s.check_name(name);
        refused(&d);
        assert!(d.reason.contains("numeric"), "{name}: {}", d.reason);
    }
    let exactly_63 = format!("{}.agency.test", "a".repeat(63));
    allowed(&s.check_name(&exactly_63));
}

#[test]
fn ip_literals_given_as_names_are_addresses() {
    let s = spec();
    assert_eq!(s.check_name("127.77.1.21").reason, "in scope: 127.77.1.21 is in cidrs 127.77.0.0/20");
    assert_eq!(s.check_name("10.0.0.1").reason, "out of scope: 10.0.0.1 is outside cidrs 127.77.0.0/20");
    allowed(&s.check_name("[::ffff:127.77.1.21]"));
    // With cidrs empty, an address given directly was not reached through a name.
    let open = open_cidrs();
    let d = open.check_name("203.0.113.5");
    refused(&d);
    assert!(d.reason.contains("cidrs is empty"), "{}", d.reason);
}

#[test]
fn addresses() {
    let s = spec();
    assert_eq!(s.check_addr(ip("10.0.0.1")).reason, "out of scope: 10.0.0.1 is outside cidrs 127.77.0.0/20");
    assert_eq!(s.check_addr(ip("127.77.15.255")).reason, "in scope: 127.77.15.255 is in cidrs 127.77.0.0/20");
    refused(&s.check_addr(ip("127.77.16.0")));
    refused(&s.check_addr(ip("2001:db8::1")));

    let open = open_cidrs();
    let d = open.check_addr(ip("203.0.113.5"));
    assert_eq!(
        d.reason,
        "in scope: cidrs is empty, so any address an in-scope name resolves to may be contacted (203.0.113.5)"
    );
    allowed(&open.check_addr(ip("2001:db8::5")));
    for special in ["127.0.0.1", "::1", "169.254.169.254", "fe80::1", "::ffff:169.254.169.254"] {
        let d = open.check_addr(ip(special));
        refused(&d);
        assert!(d.reason.contains("contacted only when cidrs lists it"), "{special}: {}", d.reason);
    }
    // Loopback is fine when listed (the lab lives there).
    allowed(&s.check_addr(ip("127.77.0.1")));
    // Never: the unspecified address reaches the scanning host itself.
    let wide = parse(&super::SPEC_EXAMPLE.replace(
        r#"cidrs = ["127.77.0.0/20"]"#,
        r#"broad = true
cidrs = ["0.0.0.0/0", "::/0"]"#,
    ));
    for never in ["0.0.0.0", "::", "255.255.255.255", "224.0.0.1", "ff02::1", "::ffff:0.0.0.0"] {
        let d = wide.check_addr(ip(never));
        refused(&d);
        assert!(d.reason.contains("never contacted"), "{never}: {}", d.reason);
    }
}

#[test]
fn ipv4_mapped_ipv6_is_judged_as_ipv4() {
    let s = spec();
    assert_eq!(
        s.check_addr(ip("::ffff:127.77.1.21")).reason,
        "in scope: ::ffff:127.77.1.21 (IPv4 127.77.1.21) is in cidrs 127.77.0.0/20"
    );
    assert_eq!(
        s.check_addr(ip("::ffff:10.0.0.1")).reason,
        "out of scope: ::ffff:10.0.0.1 (IPv4 10.0.0.1) is outside cidrs 127.77.0.0/20"
    );
    // Exclusions apply whichever way either side is written.
    let s = parse(
        &super::SPEC_EXAMPLE
            .replace("exclude_cidrs = []", r#"exclude_cidrs = ["127.77.4.0/24", "::ffff:127.77.2.0/120"]"#),
    );
    refused(&s.check_addr(ip("::ffff:127.77.4.9")));
    refused(&s.check_addr(ip("127.77.2.9")));
    refused(&s.check_addr(ip("::ffff:127.77.2.9")));
    allowed(&s.check_addr(ip("::ffff:127.77.3.9")));
    // A hand-built scope with a mapped network is judged the same way.
    let mut hand = spec();
    hand.cidrs = vec!["::ffff:127.77.0.0/116".parse().unwrap()];
    allowed(&hand.check_addr(ip("127.77.1.1")));
    hand.exclude_cidrs = vec!["::ffff:127.77.1.0/120".parse().unwrap()];
    refused(&hand.check_addr(ip("127.77.1.1")));
    // An IPv6 exclusion of everything also excludes mapped addresses.
    hand.exclude_cidrs = vec!["::/0".parse().unwrap()];
    refused(&hand.check_addr(ip("::ffff:127.77.1.1")));
    allowed(&hand.check_addr(ip("127.77.1.1")));
}

#[test]
fn ports() {
    let s = spec();
    assert_eq!(s.check_port(443).reason, "in scope: port 443 is in scope ports");
    assert_eq!(s.check_port(25).reason, "out of scope: port 25 is not in scope ports");
    refused(&s.check_port(0));
    let top = parse(
        &super::SPEC_EXAMPLE.replace("ports = [22, 80, 443, 2375, 6379, 8080, 8443, 9200]", r#"ports = "top-100""#),
    );
    for p in TOP_100 {
        allowed(&top.check_port(p));
    }
    refused(&top.check_port(6379));
    refused(&top.check_port(1));
}

#[test]
fn top_100_is_nmaps_set() {
    let mut sorted = TOP_100.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let expected: [u16; 100] = [
        7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113, 119, 135, 139, 143, 144, 179, 199,
        389, 427, 443, 444, 445, 465, 513, 514, 515, 543, 544, 548, 554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026,
        1027, 1028, 1029, 1110, 1433, 1720, 1723, 1755, 1900, 2000, 2001, 2049, 2121, 2717, 3000, 3128, 3306, 3389,
        3986, 4899, 5000, 5009, 5051, 5060, 5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001, 6646, 7070,
        8000, 8008, 8009, 8080, 8081, 8443, 8888, 9100, 9999, 10000, 32768, 49152, 49153, 49154, 49155, 49156, 49157,
    ];
    assert_eq!(sorted, expected);
    assert_eq!(TOP_100[..3], [80, 23, 443], "most frequent first");
}

#[test]
fn paths() {
    let s = spec();
    assert_eq!(s.check_path("/logout").reason, "out of scope: path /logout is excluded by exclude_paths /logout");
    for out in [
        "/logout",
        "/logout/",
        "/logout/x",
        "/logout?a",
        "/logout?next=/home",
        "/logout#top",
        "/a/../logout",
        "/a/b/../../logout/x",
        "/./logout",
        "//logout",
        "/LOGOUT",
        "/%6cogout",
        "/%256cogout",
        "/a%2f..%2flogout",
        "/logout;jsessionid=1",
        "/x/..;/logout",
        "\\logout",
        "/a\\..\\logout",
        "logout",
        "https://www.agency.test/a/../logout?x",
        "/logout?next=https://evil.test/",
    ] {
        let d = s.check_path(out);
        refused(&d);
        assert!(d.reason.ends_with("is excluded by exclude_paths /logout"), "{out}: {}", d.reason);
    }
    for ok in [
        "/",
        "",
        "/logouts",
        "/log",
        "/home/logout",
        "/logout.html",
        "/?next=/logout",
        "/a/logout/../b",
        "/login?next=https://haetae-redirect-probe.invalid/",
    ] {
        allowed(&s.check_path(ok));
    }
    assert_eq!(s.check_path("/home").reason, "in scope: path /home is under no exclude_paths entry");

    let s = parse(&super::SPEC_EXAMPLE.replace(r#"exclude_paths = ["/logout"]"#, r#"exclude_paths = ["/admin/"]"#));
    refused(&s.check_path("/admin"));
    refused(&s.check_path("/admin/users"));
    allowed(&s.check_path("/administrator"));
    let s = parse(&super::SPEC_EXAMPLE.replace(r#"exclude_paths = ["/logout"]"#, r#"exclude_paths = ["/"]"#));
    refused(&s.check_path("/anything"));
}

#[test]
fn targets_are_classified() {
    assert_eq!(parse_target(" WWW.Agency.Test. "), Some(Target::Name("www.agency.test".into())));
    assert_eq!(parse_target("127.77.1.21"), Some(Target::Addr(ip("127.77.1.21"))));
    assert_eq!(parse_target("[::1]"), Some(Target::Addr(ip("::1"))));
    assert_eq!(
        parse_target("HTTPS://www.Agency.test/a/./b?x=1#frag"),
        Some(Target::Url { host: "www.agency.test".into(), port: 443, path: "/a/b?x=1".into() })
    );
    assert_eq!(
        parse_target("http://[::ffff:127.77.1.21]:8080"),
        Some(Target::Url { host: "::ffff:127.77.1.21".into(), port: 8080, path: "/".into() })
    );
    for none in [
        "",
        "  ",
        "bad name",
        "gopher://x/",
        "http://h:99999/",
        "http:///x",
        "http://evil.test\\@www.agency.test/",
        "http://www.agency.test /",
    ] {
        assert_eq!(parse_target(none), None, "{none}");
    }
    let t = parse_target("http://[2001:db8::1]:8080/x").unwrap();
    assert_eq!(t.to_string(), "[2001:db8::1]:8080/x");
}

#[test]
fn url_targets_check_host_then_port_then_path() {
    let s = spec();
    let (t, d) = s.check_target("https://www.agency.test/home");
    assert_eq!(t, Target::Url { host: "www.agency.test".into(), port: 443, path: "/home".into() });
    assert_eq!(
        d.reason,
        "in scope: under domain agency.test; port 443 is in scope ports; path /home is under no exclude_paths entry"
    );
    assert_eq!(s.check_target("http://www.agency.test:25/").1.reason, "out of scope: port 25 is not in scope ports");
    assert!(s.check_target("https://payments.agency.test/").1.reason.contains("exclude_domains payments.agency.test"));
    assert!(s.check_target("https://payments.agency.test:25/logout").1.reason.contains("exclude_domains"));
    assert_eq!(
        s.check_target("http://www.agency.test/a/../logout?x").1.reason,
        "out of scope: path /logout?x is excluded by exclude_paths /logout"
    );
    // Userinfo is not the host.
    assert!(s.check_target("http://www.agency.test@evil.test/").1.reason.contains("evil.test is not under"));
    refused(&s.check_target("http://evil.test\\@www.agency.test/").1);
    allowed(&s.check_target("http://127.77.1.21:8080/").1);
    refused(&s.check_target("http://10.0.0.1/").1);
    allowed(&s.check_target("http://[::ffff:127.77.1.21]/").1);
    refused(&open_cidrs().check_target("http://203.0.113.5/").1);
    let (t, d) = s.check_target("gopher://www.agency.test/");
    assert_eq!(t, Target::Name("gopher://www.agency.test/".into()));
    assert!(d.reason.contains("not a URL haetae can read"), "{}", d.reason);
}

#[test]
fn name_and_address_targets() {
    let s = spec();
    let (t, d) = s.check_target("Portal.Agency.Test");
    assert_eq!(t, Target::Name("portal.agency.test".into()));
    allowed(&d);
    let (t, d) = s.check_target("10.0.0.1");
    assert_eq!(t, Target::Addr(ip("10.0.0.1")));
    assert_eq!(d.reason, "out of scope: 10.0.0.1 is outside cidrs 127.77.0.0/20");
    let (t, d) = s.check_target("bad name");
    assert_eq!(t, Target::Name("bad name".into()));
    assert!(d.reason.contains("`bad name` is not a valid host name: it contains spaces"), "{}", d.reason);
}

#[test]
fn window_before_inside_after() {
    let s = spec();
    let at = |t: &str| s.window(t.parse::<Timestamp>().unwrap());
    assert_eq!(
        at("2026-10-31T23:59:59Z").reason,
        "out of scope: before the authorization window opens at 2026-11-01T00:00:00Z"
    );
    allowed(&at("2026-11-01T00:00:00Z"));
    assert_eq!(
        at("2026-12-01T00:00:00Z").reason,
        "in scope: inside the authorization window 2026-11-01T00:00:00Z to 2026-12-31T23:59:59Z"
    );
    allowed(&at("2026-12-31T23:59:59Z"));
    assert_eq!(
        at("2027-01-01T00:00:00Z").reason,
        "out of scope: after the authorization window closed at 2026-12-31T23:59:59Z"
    );
    // Offsets are honored: 09:00 in Seoul on Nov 1 is midnight UTC.
    allowed(&at("2026-11-01T09:00:00+09:00"));
    refused(&at("2026-11-01T08:59:59+09:00"));
}
