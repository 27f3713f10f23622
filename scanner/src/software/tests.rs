use std::net::IpAddr;

use haetae_findings::{CheckId, Confidence};
use proptest::prelude::*;

use super::data::{Origin, SoftwareData, parse_eol, parse_kev};
use super::parse::{self, Reading, Version};
use super::{Endpoint, observations};

fn v(s: &str) -> Version {
    Version::lenient(s).unwrap()
}

/// An SSH banner and the (product, version, distribution marker) it gives.
type SshCase<'a> = (&'a str, Option<(&'a str, &'a str, Option<&'a str>)>);
/// A header value, the (product, version) pairs it gives, and its marker.
type HeaderCase<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);

#[test]
fn banners_parse_with_and_without_distribution_markers() {
    let ssh: &[SshCase<'_>] = &[
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", Some(("OpenSSH", "9.2", Some("Debian")))),
        ("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10", Some(("OpenSSH", "8.9", Some("Ubuntu")))),
        ("SSH-2.0-OpenSSH_7.4", Some(("OpenSSH", "7.4", None))),
        ("SSH-2.0-OpenSSH_8.0 el8", Some(("OpenSSH", "8.0", Some("el8")))),
        ("SSH-1.99-Cisco-1.25", None),
        ("SSH-2.0-OpenSSH_", None),
        ("SSH-2.0-", None),
        ("220 mail ESMTP", None),
    ];
    for (banner, want) in ssh {
        let got = parse::from_ssh(banner).map(|r| (r.name, r.version.to_string(), r.distro));
        let want = want.map(|(n, ver, d)| (n.to_owned(), ver.to_owned(), d.map(str::to_owned)));
        assert_eq!(got, want, "{banner}");
    }
    let headers: &[HeaderCase<'_>] = &[
        ("nginx/1.22.1", &[("nginx", "1.22.1")], None),
        ("Apache/2.4.57 (Debian)", &[("Apache", "2.4.57")], Some("Debian")),
        ("Apache/2.4.49 (Unix)", &[("Apache", "2.4.49")], None),
        ("Microsoft-IIS/8.5", &[("Microsoft-IIS", "8.5")], None),
        ("PHP/7.4.33", &[("PHP", "7.4.33")], None),
        ("PHP/8.1.2-1ubuntu2.14", &[("PHP", "8.1.2")], Some("ubuntu")),
        ("PHP/7.4.33-1+deb11u5", &[("PHP", "7.4.33")], Some("deb11u5")),
        (
            "Apache/2.4.58 (Win64) OpenSSL/3.1.3 PHP/8.2.12",
            &[("Apache", "2.4.58"), ("OpenSSL", "3.1.3"), ("PHP", "8.2.12")],
            None,
        ),
        ("Apache/2.4.37 (centos) OpenSSL/1.1.1k", &[("Apache", "2.4.37"), ("OpenSSL", "1.1.1")], Some("centos")),
        ("nginx", &[], None),
        ("cloudflare", &[], None),
        ("Apache", &[], None),
        ("nginx/", &[], None),
        ("/1.2", &[], None),
        ("lab-object-store", &[], None),
    ];
    for (value, want, distro) in headers {
        let got = parse::from_header("Server", value);
        let pairs: Vec<(String, String)> = got.iter().map(|r| (r.name.clone(), r.version.to_string())).collect();
        let want: Vec<(String, String)> = want.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        assert_eq!(pairs, want, "{value}");
        for r in &got {
            assert_eq!(r.distro.as_deref(), *distro, "{value}");
        }
    }
    assert!(parse::from_header("Server", "Apache/2.4.58 (Win64) PHP/8.2.12").iter().all(|r| r.windows));
    assert!(parse::from_header("Server", "Microsoft-IIS/10.0")[0].windows);
    assert!(!parse::from_header("Server", "nginx/1.22.1")[0].windows);
}

#[test]
fn services_and_api_answers_parse() {
    let m = parse::from_mysql("5.5.5-10.11.6-MariaDB-0+deb12u1").unwrap();
    assert_eq!(
        (m.name.as_str(), m.version.to_string(), m.distro.as_deref()),
        ("MariaDB", "10.11.6".into(), Some("deb12u1"))
    );
    let m = parse::from_mysql("8.0.36-0ubuntu0.22.04.1").unwrap();
    assert_eq!(
        (m.name.as_str(), m.version.to_string(), m.distro.as_deref()),
        ("MySQL", "8.0.36".into(), Some("ubuntu"))
    );
    let m = parse::from_mysql("5.7.44-log").unwrap();
    assert_eq!((m.version.to_string(), m.distro), ("5.7.44".into(), None));
    assert!(parse::from_mysql("garbage").is_none());
    let r = parse::from_redis("6.0.16").unwrap();
    assert_eq!((r.name.as_str(), r.version.to_string()), ("Redis", "6.0.16".into()));

    let docker = br#"{"Platform":{"Name":"Docker Engine - Community"},"Version":"24.0.7","ApiVersion":"1.43","GoVersion":"go1.20.10"}"#;
    let d = parse::from_json(docker).unwrap();
    assert_eq!((d.name.as_str(), d.version.to_string(), d.distro), ("Docker", "24.0.7".into(), None));
    let debian = br#"{"Version":"20.10.24+dfsg1","ApiVersion":"1.41"}"#;
    assert_eq!(parse::from_json(debian).unwrap().distro.as_deref(), Some("dfsg"));
    let k8s = br#"{"major":"1","minor":"28","gitVersion":"v1.28.3","goVersion":"go1.20.10","platform":"linux/amd64"}"#;
    let k = parse::from_json(k8s).unwrap();
    assert_eq!((k.name.as_str(), k.version.to_string(), k.distro), ("Kubernetes", "1.28.3".into(), None));
    let eks = br#"{"gitVersion":"v1.27.4-eks-2d98532","goVersion":"go1.20.6"}"#;
    assert_eq!(parse::from_json(eks).unwrap().distro.as_deref(), Some("eks"));
    let es = br#"{"name":"es01","version":{"number":"7.17.14"},"tagline":"You Know, for Search"}"#;
    assert_eq!(parse::from_json(es).unwrap().version.to_string(), "7.17.14");
    let opensearch = br#"{"version":{"distribution":"opensearch","number":"2.11.0"},"tagline":"You Know, for Search"}"#;
    assert!(parse::from_json(opensearch).is_none(), "OpenSearch is not Elasticsearch");
    assert!(parse::from_json(br#"{"status":"ok"}"#).is_none());
    assert!(parse::from_json(b"<html>").is_none());
    // The API answers count only where the APIs give them.
    let headers = vec![("Server".to_owned(), "nginx".to_owned())];
    assert_eq!(parse::from_http("/version", &headers, Some(docker)).len(), 1);
    assert!(parse::from_http("/api/status", &headers, Some(docker)).is_empty());
    assert!(parse::from_http("/version", &headers, None).is_empty(), "a cut body is not read");

    let page = br#"<html><head><meta name="generator" content="WordPress 6.4.2">
        <script src="/static/js/jquery-1.12.4.min.js"></script>
        <script type="text/javascript" src="https://cdn.example/ajax/libs/jquery/3.5.1/jquery.min.js"></script>
        <script src="/app.js"></script></head><body><h3>Apache Tomcat/9.0.31</h3></body></html>"#;
    let got: Vec<(String, String, String)> =
        parse::from_body(page).into_iter().map(|r| (r.name, r.version.to_string(), r.origin)).collect();
    assert_eq!(
        got,
        [
            ("WordPress".into(), "6.4.2".into(), "generator tag".into()),
            ("jQuery".into(), "1.12.4".into(), "script src".into()),
            ("jQuery".into(), "3.5.1".into(), "script src".into()),
            ("Apache Tomcat".into(), "9.0.31".into(), "error page".into()),
        ]
    );
    assert!(parse::from_body(b"<script src=\"/jquery.min.js\"></script>").is_empty(), "no version, no reading");
}

#[test]
fn versions_compare_by_numeric_parts() {
    assert!(v("2.4.49") < v("2.4.50"));
    assert!(v("1.10") > v("1.9"));
    assert_eq!(v("9.0.0.M1"), v("9.0.0"));
    assert_eq!(v("1.18"), v("1.18.0"));
    assert!(v("9.2p1").starts_with(&v("9.2")));
    assert!(!v("8.10.1").starts_with(&v("8.1")));
    assert!(Version::strict("1.18").is_some());
    assert!(Version::strict("1.18a").is_none());
    assert!(Version::strict("").is_none());
    assert!(Version::lenient("99999999999999999999999").is_none());
}

proptest! {
    #[test]
    fn no_bytes_make_a_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse::from_ssh(&text);
        let _ = parse::from_header("Server", &text);
        let _ = parse::from_body(&bytes);
        let _ = parse::from_json(&bytes);
        let _ = parse::from_mysql(&text);
        let _ = parse::from_redis(&text);
        let _ = parse::distro_marker(&text);
        let _ = Version::lenient(&text);
    }
}

#[test]
fn hostile_banners_do_not_panic_or_overflow() {
    let long = "nginx/".to_owned() + &"9.".repeat(10_000);
    let r = parse::from_header("Server", &long);
    assert_eq!(r.len(), 1);
    assert!(r[0].raw.chars().count() <= 120);
    assert!(parse::from_header("Server", "a/\u{0}\u{7f}1.2 é/1.2.3 \u{202e}x/1").len() <= 3);
    assert!(parse::from_ssh("SSH-2.0-\u{1b}[31m_1.2").is_some_and(|r| !r.raw.contains('\u{1b}')));
    let body = vec![b'<'; 2 * 1024 * 1024];
    assert!(parse::from_body(&body).is_empty());
}

fn endpoint<'a>(today: &'a str) -> Endpoint<'a> {
    Endpoint { host: "a.test", addr: IpAddr::from([127, 0, 0, 1]), port: 80, engagement: "KR", today }
}

fn judge(readings: &[Reading]) -> super::Report {
    let data = SoftwareData::builtin().unwrap();
    observations(&data, readings, &endpoint("2026-12-04"), &[7])
}

#[test]
fn builtin_data_loads_with_dates() {
    let data = SoftwareData::builtin().unwrap();
    assert_eq!(data.eol.date, "2026-08-22");
    assert_eq!(data.kev.date, "2025-08-25");
    assert_eq!(data.eol_origin, Some(Origin::BuiltIn));
    for id in [
        "nginx",
        "apache-httpd",
        "openssh",
        "php",
        "tomcat",
        "iis",
        "mysql",
        "mariadb",
        "postgresql",
        "redis",
        "elasticsearch",
        "docker",
        "kubernetes",
        "jquery",
    ] {
        assert!(data.product(id).is_some(), "{id}");
    }
}

#[test]
fn eol_fires_on_an_ended_line_and_not_on_a_supported_one() {
    let nginx118 = parse::from_header("Server", "nginx/1.18.0");
    let rep = judge(&nginx118);
    assert!(rep.covered);
    assert_eq!(rep.observations.len(), 1, "{:?}", rep.observations);
    let o = &rep.observations[0];
    assert_eq!(o.check, CheckId::SoftwareEol);
    assert_eq!(o.confidence, Confidence::Firm);
    for part in
        ["nginx 1.18.0", "Server header", "port 80", "release line 1.18", "2021-04-20", "2026-08-22", "built-in"]
    {
        assert!(o.evidence.contains(part), "{part} missing: {}", o.evidence);
    }
    // A supported line: covered, silent.
    let rep = judge(&parse::from_header("Server", "nginx/1.30.4"));
    assert!(rep.covered);
    assert!(rep.observations.is_empty(), "{:?}", rep.observations);
    // The same line on the day before its end: silent; on the day: ended.
    let data = SoftwareData::builtin().unwrap();
    let r = parse::from_header("Server", "nginx/1.28.3");
    assert!(observations(&data, &r, &endpoint("2026-04-13"), &[]).observations.is_empty());
    assert_eq!(observations(&data, &r, &endpoint("2026-04-14"), &[]).observations.len(), 1);
    // A product the data does not know: no finding and no coverage.
    let rep = judge(&parse::from_header("Server", "Jetty/9.4.44"));
    assert!(!rep.covered && rep.observations.is_empty());
}

#[test]
fn a_distribution_build_is_tentative() {
    let rep = judge(&parse::from_header("Server", "Apache/2.2.22 (Debian)"));
    let o = rep.observations.iter().find(|o| o.check == CheckId::SoftwareEol).unwrap();
    assert_eq!(o.confidence, Confidence::Tentative);
    assert!(o.evidence.contains("distribution build (`Debian`)"), "{}", o.evidence);
    let rep = judge(&parse::from_mysql("5.5.5-10.3.39-MariaDB-0+deb10u2").into_iter().collect::<Vec<_>>());
    assert_eq!(rep.observations[0].confidence, Confidence::Tentative);
}

#[test]
fn known_exploited_fires_inside_a_range_and_not_just_outside() {
    let rep = judge(&parse::from_header("Server", "Apache/2.4.49 (Unix)"));
    assert_eq!(rep.observations.len(), 1, "2.4 is a supported line: {:?}", rep.observations);
    let o = &rep.observations[0];
    assert_eq!(o.check, CheckId::SoftwareKnownExploited);
    assert_eq!(o.confidence, Confidence::Firm);
    for part in ["CVE-2021-41773", "CVE-2021-42013", "CVE-2024-38475", "CISA KEV", "2025-08-25"] {
        assert!(o.evidence.contains(part), "{part} missing: {}", o.evidence);
    }
    // 2.4.50: only 42013 and the older ranges; 2.4.51 is past them.
    let o = &judge(&parse::from_header("Server", "Apache/2.4.50")).observations[0];
    assert!(o.evidence.contains("CVE-2021-42013") && !o.evidence.contains("CVE-2021-41773"), "{}", o.evidence);
    let rep = judge(&parse::from_header("Server", "Apache/2.4.60"));
    assert!(rep.covered && rep.observations.is_empty(), "{:?}", rep.observations);
    // PHP 7.2.24 is the first fixed release of CVE-2019-11043 (below 7.2.24):
    // outside the range, but its line is past its end of life.
    let rep = judge(&parse::from_header("X-Powered-By", "PHP/7.2.24"));
    assert!(rep.observations.iter().all(|o| o.check == CheckId::SoftwareEol), "{:?}", rep.observations);
    let rep = judge(&parse::from_header("X-Powered-By", "PHP/7.2.23"));
    assert!(rep.observations.iter().any(|o| o.check == CheckId::SoftwareKnownExploited));
    // Windows-only entries need a Windows banner.
    let linux = judge(&parse::from_header("Server", "Apache/2.4.62 (Unix) PHP/8.1.28"));
    assert!(!linux.observations.iter().any(|o| o.evidence.contains("CVE-2024-4577")));
    let windows = judge(&parse::from_header("Server", "Apache/2.4.62 (Win64) PHP/8.1.28"));
    assert!(windows.observations.iter().any(|o| o.evidence.contains("CVE-2024-4577")));
}

#[test]
fn iis_jquery_and_tomcat_are_judged() {
    let rep = judge(&parse::from_header("Server", "Microsoft-IIS/8.5"));
    assert_eq!(rep.observations.len(), 1);
    assert!(rep.observations[0].evidence.contains("release line 8.5 reached end of life on 2023-10-10"));
    let rep = judge(&parse::from_header("Server", "Microsoft-IIS/10.0"));
    assert!(rep.covered && rep.observations.is_empty());
    let rep = judge(&parse::from_header("Server", "Microsoft-IIS/6.0"));
    assert!(rep.observations.iter().any(|o| o.evidence.contains("CVE-2017-7269")));
    // jQuery 1.x: an ended line, and before 3.5.0 (CVE-2020-11023); 3.5.1: neither.
    let old = parse::from_body(br#"<script src="/js/jquery-1.12.4.min.js"></script>"#);
    let checks: Vec<CheckId> = judge(&old).observations.into_iter().map(|o| o.check).collect();
    assert_eq!(checks, [CheckId::SoftwareEol, CheckId::SoftwareKnownExploited]);
    let new = parse::from_body(br#"<script src="/js/jquery-3.5.1.min.js"></script>"#);
    assert!(judge(&new).observations.is_empty());
    // Tomcat 9.0.31 is the fix of CVE-2020-1938; 9.0.30 is not.
    let page = |v: &str| parse::from_body(format!("<h3>Apache Tomcat/{v}</h3>").as_bytes());
    assert!(judge(&page("9.0.30")).observations.iter().any(|o| o.evidence.contains("CVE-2020-1938")));
    assert!(!judge(&page("9.0.31")).observations.iter().any(|o| o.evidence.contains("CVE-2020-1938")));
}

#[test]
fn no_version_no_finding_no_coverage() {
    let rep = judge(&parse::from_header("Server", "nginx"));
    assert!(!rep.covered && rep.observations.is_empty());
    let rep = judge(&[]);
    assert!(!rep.covered && rep.observations.is_empty());
}

#[test]
fn data_errors_name_file_line_and_column() {
    let path = std::path::Path::new("data/software-eol.toml");
    let text = "date = 2026-01-01\n[[product]]\nid = \"x\"\nname = \"X\"\nnames = [\"X\"]\nsource = \"s\"\nlines = [{ line = \"1.x\", eol = false }, { line = \"2\", eol = \"soon\" }]\n";
    let errs = parse_eol(path, text).unwrap_err();
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|e| e.starts_with("data/software-eol.toml:7:19: `line` `1.x` is not a version")),
        "{shown:?}"
    );
    assert!(shown.iter().any(|e| e.starts_with("data/software-eol.toml:7:61: `eol` must be a date")), "{shown:?}");
    let errs = parse_eol(path, "date = \"yesterday\"\n").unwrap_err();
    assert!(errs[0].to_string().starts_with("data/software-eol.toml:1:8:"), "{}", errs[0]);
    let errs = parse_eol(path, "date = 2026-01-01\ncolour = 1\n").unwrap_err();
    assert!(errs[0].to_string().starts_with("data/software-eol.toml:2:1:"), "{}", errs[0]);

    let kev = std::path::Path::new("data/known-exploited.toml");
    let text = "date = 2026-01-01\n[[cve]]\nid = \"CVE-2021-1\"\nproduct = \"nginz\"\naffected = [{ from = \"2\", to = \"1\" }]\nsource = \"s\"\n";
    let shown: Vec<String> = parse_kev(kev, text, &["nginx"]).unwrap_err().iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|e| e.starts_with("data/known-exploited.toml:3:6: `CVE-2021-1` is not a CVE id")),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|e| e.starts_with("data/known-exploited.toml:4:11: unknown product `nginz`")),
        "{shown:?}"
    );
    assert!(shown.iter().any(|e| e.starts_with("data/known-exploited.toml:5:13: this range is empty")), "{shown:?}");
}

#[test]
fn a_workspace_file_overrides_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("software-eol.toml"),
        "date = 2027-01-01\n[[product]]\nid = \"nginx\"\nname = \"nginx\"\nnames = [\"nginx\"]\nsource = \"ours\"\nlines = [{ line = \"1.30\", eol = 2026-12-01 }]\n",
    )
    .unwrap();
    // The built-in KEV file names products this file lacks: refused, with the position.
    let errs = SoftwareData::load(Some(dir.path())).unwrap_err();
    assert!(errs.iter().any(|e| e.to_string().contains("unknown product `apache-httpd`")), "{errs:?}");
    std::fs::write(dir.path().join("known-exploited.toml"), "date = 2027-01-01\n").unwrap();
    let data = SoftwareData::load(Some(dir.path())).unwrap();
    assert_eq!(data.eol.date, "2027-01-01");
    assert!(matches!(&data.eol_origin, Some(Origin::Workspace(p)) if p.ends_with("software-eol.toml")));
    let rep = observations(&data, &parse::from_header("Server", "nginx/1.30.4"), &endpoint("2026-12-04"), &[]);
    assert_eq!(rep.observations.len(), 1);
    assert!(rep.observations[0].evidence.contains("2027-01-01"), "{}", rep.observations[0].evidence);
    // No data folder: the built-in files.
    let none = SoftwareData::load(Some(&dir.path().join("missing"))).unwrap();
    assert_eq!(none.eol_origin, Some(Origin::BuiltIn));
}
