//! `http.security-txt-missing`: no valid RFC 9116 `/.well-known/security.txt`
//! on the apex web site of a scope domain.
//!
//! The apex web site of a `domains` entry is that name itself (not its
//! subdomains), on one port: over HTTPS when it serves HTTPS (port 443 when
//! it does there, else the lowest scope port where it does), else over plain
//! HTTP (port 80 first, else the lowest). Redirects are followed through the
//! scope guard (RFC 9116 section 3 allows them).
//!
//! Valid means: status 200, `Content-Type: text/plain` (any charset), a body
//! whose fields (RFC 9116 section 2.4; a PGP cleartext signature around them
//! is taken off) hold at least one `Contact:` and exactly one `Expires:` with
//! an RFC 3339 date in the future. An HTML page served with 200 (a soft 404)
//! is missing. A 429/503, another 5xx, a body over the cap or a redirect that
//! could not be followed is no definite answer.

use std::net::IpAddr;

use haetae_findings::{Asset, CheckId, Observation};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::observe;
use crate::http::HttpResponse;

/// The path asked.
pub(crate) const PATH: &str = "/.well-known/security.txt";

/// What one answer for the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A valid file.
    Valid,
    /// No valid file, and what was wrong.
    Missing(String),
    /// No definite answer, and why.
    Unknown(String),
}

/// The lines of the signed text of a PGP cleartext-signed message (RFC 4880
/// section 7): the armor headers and the signature are dropped, dash-escaping
/// undone. Text that is not signed is returned as is.
fn strip_signature(text: &str) -> Vec<&str> {
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let signed = text.trim_start().starts_with("-----BEGIN PGP SIGNED MESSAGE-----");
    if !signed {
        return lines.collect();
    }
    // Skip the armor line and its headers (`Hash: ...`), up to a blank line.
    let mut begun = false;
    for l in lines.by_ref() {
        if l.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
            begun = true;
        } else if begun && l.trim().is_empty() {
            break;
        }
    }
    let mut out = Vec::new();
    for l in lines {
        if l.starts_with("-----BEGIN PGP SIGNATURE-----") {
            break;
        }
        out.push(l.strip_prefix("- ").unwrap_or(l));
    }
    out
}

/// The fields of a security.txt body: (lower-case name, value). Comments
/// (`#`), blank lines and lines that are not `name: value` are skipped
/// (RFC 9116 section 2.4: unknown content is ignored).
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in strip_signature(text) {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match l.split_once(':') {
            Some((name, value)) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                out.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
            _ => {}
        }
    }
    out
}

/// Shorten text shown in evidence to at most 80 characters.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// Judge the answer for [`PATH`] at `now`. `url` is where it came from.
pub(crate) fn judge(resp: &HttpResponse, url: &str, now: OffsetDateTime) -> Verdict {
    let status = resp.status;
    if status == 429 || (500..600).contains(&status) {
        return Verdict::Unknown(format!("{url}: HTTP {status}"));
    }
    if resp.truncated {
        return Verdict::Unknown(format!("{url}: body over the {} KiB cap", crate::http::BODY_CAP / 1024));
    }
    if status != 200 {
        return Verdict::Missing(format!("{url} answers HTTP {status}"));
    }
    let ctype = resp.header("content-type").unwrap_or("").trim();
    let media = ctype.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let body = String::from_utf8_lossy(&resp.body);
    let looks_html = {
        let head = body.trim_start().chars().take(64).collect::<String>().to_ascii_lowercase();
        head.starts_with("<!doctype") || head.starts_with("<html") || head.starts_with("<head")
    };
    if media == "text/html" || media == "application/xhtml+xml" || (looks_html && media != "text/plain") {
        return Verdict::Missing(format!("{url} answers 200 with an HTML page (a soft 404), not a security.txt file"));
    }
    if media != "text/plain" {
        let what = if ctype.is_empty() { "no Content-Type".to_owned() } else { format!("`{}`", shown(ctype)) };
        return Verdict::Missing(format!("{url} answers 200 with {what}; RFC 9116 requires text/plain"));
    }
    let Ok(text) = std::str::from_utf8(&resp.body) else {
        return Verdict::Missing(format!("{url} answers 200 with a body that is not UTF-8 text"));
    };
    let fields = fields(text);
    let mut problems = Vec::new();
    if !fields.iter().any(|(n, v)| n == "contact" && !v.is_empty()) {
        problems.push("no Contact: field".to_owned());
    }
    let expires: Vec<&str> = fields.iter().filter(|(n, _)| n == "expires").map(|(_, v)| v.as_str()).collect();
    match expires.as_slice() {
        [] => problems.push("no Expires: field".to_owned()),
        [one] => match OffsetDateTime::parse(one, &Rfc3339) {
            Ok(at) if at > now => {}
            Ok(_) => problems.push(format!("it expired on {one}")),
            Err(_) => problems.push(format!("Expires `{}` is not an RFC 3339 date-time", shown(one))),
        },
        many => problems.push(format!("{} Expires: fields (exactly one is allowed)", many.len())),
    }
    if problems.is_empty() {
        Verdict::Valid
    } else {
        let signed =
            if text.trim_start().starts_with("-----BEGIN PGP SIGNED MESSAGE-----") { " (PGP-signed)" } else { "" };
        Verdict::Missing(format!(
            "{url} serves a text/plain file{signed} that is not a valid security.txt: {}",
            problems.join("; ")
        ))
    }
}

/// The observation of an apex web site without a valid file. The asset is
/// the apex name, without a port: the apex web site is one per domain,
/// wherever it is served.
pub(crate) fn observation(evidence: String, apex: &str, addr: IpAddr, engagement: &str, audit: &[u64]) -> Observation {
    let asset = Asset { host: apex.to_owned(), ip: Some(addr), port: None };
    let mut o = observe(CheckId::HttpSecurityTxtMissing, engagement, asset, PATH, evidence, audit);
    o.severity = haetae_findings::Severity::Info;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-12-04T12:00:00Z", &Rfc3339).unwrap()
    }

    fn resp(status: u16, ctype: &str, body: &str) -> HttpResponse {
        let headers = if ctype.is_empty() { vec![] } else { vec![("Content-Type".into(), ctype.into())] };
        HttpResponse { status, headers, body: body.as_bytes().to_vec(), truncated: false, audit: 1 }
    }

    fn judge_txt(ctype: &str, body: &str) -> Verdict {
        judge(&resp(200, ctype, body), "https://a.test/.well-known/security.txt", now())
    }

    const VALID: &str = "# Our policy\nContact: mailto:security@a.test\nContact: https://a.test/report\nExpires: 2027-06-01T00:00:00.000Z\nPreferred-Languages: ko, en\n";

    #[test]
    fn a_valid_file_plain_or_signed_is_valid() {
        assert_eq!(judge_txt("text/plain; charset=utf-8", VALID), Verdict::Valid);
        assert_eq!(judge_txt("TEXT/PLAIN", &VALID.replace('\n', "\r\n")), Verdict::Valid);
        assert_eq!(
            judge_txt(
                "text/plain",
                &VALID.replace("Expires: 2027-06-01T00:00:00.000Z", "expires: 2027-06-01T09:00:00+09:00")
            ),
            Verdict::Valid
        );
        let signed = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{VALID}- # dash-escaped comment\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n"
        );
        assert_eq!(judge_txt("text/plain", &signed), Verdict::Valid);
    }

    #[test]
    fn what_is_wrong_is_said() {
        let missing = |v: Verdict| match v {
            Verdict::Missing(why) => why,
            other => panic!("{other:?}"),
        };
        let url = "https://a.test/.well-known/security.txt";
        assert!(missing(judge(&resp(404, "text/html", "<h1>404</h1>"), url, now())).contains("HTTP 404"));
        assert!(
            missing(judge_txt("text/html; charset=utf-8", "<!DOCTYPE html><html>Welcome</html>")).contains("soft 404")
        );
        assert!(missing(judge_txt("", "<html><body>Home</body></html>")).contains("soft 404"));
        assert!(missing(judge_txt("application/octet-stream", VALID)).contains("requires text/plain"));
        assert!(missing(judge_txt("text/plain", "Expires: 2027-06-01T00:00:00Z\n")).contains("no Contact"));
        assert!(missing(judge_txt("text/plain", "Contact: mailto:s@a.test\n")).contains("no Expires"));
        assert!(
            missing(judge_txt("text/plain", "Contact: mailto:s@a.test\nExpires: 2025-01-01T00:00:00Z\n"))
                .contains("expired on 2025-01-01")
        );
        let two = format!("{VALID}Expires: 2028-01-01T00:00:00Z\n");
        assert!(missing(judge_txt("text/plain", &two)).contains("2 Expires"));
        assert!(missing(judge_txt("text/plain", "Contact: x\nExpires: next year\n")).contains("not an RFC 3339"));
        assert!(missing(judge_txt("text/plain", "Contact:\nExpires: 2027-06-01T00:00:00Z\n")).contains("no Contact"));
        let signed_bad = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nContact: mailto:s@a.test\n-----BEGIN PGP SIGNATURE-----\nExpires: 2027-06-01T00:00:00Z\n-----END PGP SIGNATURE-----\n";
        let why = missing(judge_txt("text/plain", signed_bad));
        assert!(
            why.contains("PGP-signed") && why.contains("no Expires"),
            "fields after the signature do not count: {why}"
        );
        assert!(missing(judge_txt("text/plain", "\u{0}\u{1}garbage")).contains("no Contact"));
        let not_utf8 = HttpResponse { body: vec![0xff, 0xfe, b'C'], ..resp(200, "text/plain", "") };
        assert!(missing(judge(&not_utf8, url, now())).contains("not UTF-8"));
    }

    #[test]
    fn busy_broken_or_cut_answers_are_unknown() {
        let url = "http://a.test/.well-known/security.txt";
        for status in [429, 500, 502, 503] {
            assert!(matches!(judge(&resp(status, "text/plain", ""), url, now()), Verdict::Unknown(_)), "{status}");
        }
        let cut = HttpResponse { truncated: true, ..resp(200, "text/plain", VALID) };
        assert!(matches!(judge(&cut, url, now()), Verdict::Unknown(_)));
    }
}
