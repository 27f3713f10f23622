//! Stable finding ids: a fingerprint of (check, asset, location).
//!
//! The inputs are normalized first so that the same weakness seen twice never
//! becomes two findings: host names are lowercased and lose a trailing dot,
//! addresses take their canonical text form, URLs lose default ports, fragments
//! and dot segments, and their percent-escapes are made canonical.
//!
//! The algorithm is versioned ([`FINGERPRINT_VERSION`], stored in every finding)
//! so that a future change can migrate ids instead of producing false "new" findings.

use std::fmt::Write as _;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::check::CheckId;
use crate::model::Asset;

/// Version of the fingerprint algorithm implemented by [`fingerprint`].
pub const FINGERPRINT_VERSION: u8 = 1;

/// The normalized inputs of a fingerprint, also what a finding stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Lowercased host without trailing dot (or canonical address text).
    pub host: String,
    /// Port, from the asset or the URL (default ports included, so that
    /// `https://h/` and port 443 agree).
    pub port: Option<u16>,
    /// Normalized location.
    pub location: String,
    /// The location as a normalized URL, when it is one.
    pub url: Option<String>,
}

/// Normalize an asset and location the way fingerprints see them.
pub fn normalize(asset: &Asset, location: &str) -> Normalized {
    let mut host = normalize_host(&asset.host);
    let mut port = asset.port;
    let location = location.trim();
    if let Some(u) = normalize_url(location) {
        if host.is_empty() {
            host = u.host.clone();
        }
        if port.is_none() {
            port = Some(u.port);
        }
        let text = u.to_string();
        return Normalized { host, port, location: text.clone(), url: Some(text) };
    }
    Normalized { host, port, location: location.to_owned(), url: None }
}

/// The stable id of a finding: 16 hex digits of SHA-256 over the normalized inputs.
pub fn fingerprint(check: &CheckId, asset: &Asset, location: &str) -> String {
    fingerprint_normalized(check, &normalize(asset, location))
}

/// [`fingerprint`] of inputs already passed through [`normalize`].
pub fn fingerprint_normalized(check: &CheckId, n: &Normalized) -> String {
    let mut h = Sha256::new();
    h.update(b"haetae-fp-v1\n");
    h.update(check.as_str().as_bytes());
    h.update(b"\n");
    h.update(n.host.as_bytes());
    h.update(b"\n");
    match n.port {
        Some(p) => h.update(p.to_string().as_bytes()),
        None => h.update(b"-"),
    }
    h.update(b"\n");
    h.update(n.location.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Lowercase, strip surrounding brackets and trailing dots; canonical form for addresses.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(h);
    if let Ok(ip) = h.parse::<IpAddr>() {
        return ip.to_string();
    }
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// A URL split into the parts fingerprints care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalUrl {
    /// `http` or `https` (any scheme, lowercased).
    pub scheme: String,
    /// Normalized host.
    pub host: String,
    /// Port, explicit or the scheme's default.
    pub port: u16,
    /// Path with dot segments removed and canonical escapes; at least `/`.
    pub path: String,
    /// Query string without the `?`, unchanged but for escape case.
    pub query: Option<String>,
}

impl std::fmt::Display for NormalUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "{}://{}", self.scheme, host)?;
        if default_port(&self.scheme) != Some(self.port) {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(&self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

/// Parse and normalize an absolute `scheme://host[:port]/path?query#frag` URL.
/// Returns `None` for anything that is not such a URL (the location is then used as is).
pub fn normalize_url(s: &str) -> Option<NormalUrl> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.split('#').next().unwrap_or("");
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    // Drop userinfo: credentials are never part of an identity (nor stored).
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        Some(p) => p,
        None => default_port(&scheme)?,
    };
    let host = normalize_host(host);
    if host.is_empty() {
        return None;
    }
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(canonical_escapes(q, false))),
        None => (tail, None),
    };
    let path = remove_dot_segments(&canonical_escapes(path, true));
    Some(NormalUrl { scheme, host, port, path, query })
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((h, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((h, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            if p.is_empty() {
                Some((h, None))
            } else {
                Some((h, Some(p.parse().ok()?)))
            }
        }
        Some(_) => None,
        None => Some((authority, None)),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Uppercase percent-escape hex digits; in paths also decode escaped unreserved
/// characters (RFC 3986 section 6.2.2), which never changes what a server sees.
fn canonical_escapes(s: &str, decode_unreserved: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = &s[i + 1..i + 3];
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                if decode_unreserved && is_unreserved(v) {
                    out.push(char::from(v));
                } else {
                    out.push('%');
                    out.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// RFC 3986 section 5.2.4, with an empty path becoming `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut p = String::from("/");
    p.push_str(&out.join("/"));
    if trailing && !out.is_empty() {
        p.push('/');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(host: &str, port: Option<u16>) -> Asset {
        Asset { host: host.into(), ip: None, port }
    }

    #[test]
    fn host_case_and_trailing_dot_do_not_matter() {
        let c = CheckId::DnsSpfMissing;
        let a = fingerprint(&c, &asset("Agency.Test.", None), "TXT");
        let b = fingerprint(&c, &asset("agency.test", None), "TXT");
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
        assert_ne!(a, fingerprint(&c, &asset("www.agency.test", None), "TXT"));
        assert_ne!(a, fingerprint(&CheckId::DnsDmarcMissing, &asset("agency.test", None), "TXT"));
    }

    #[test]
    fn default_ports_and_paths_are_normalized() {
        let c = CheckId::HttpExposedGit;
        let base = fingerprint(&c, &asset("www.agency.test", Some(443)), "https://www.agency.test/.git/HEAD");
        for same in [
            "HTTPS://WWW.Agency.Test:443/.git/HEAD",
            "https://www.agency.test./a/../.git/./HEAD",
            "https://www.agency.test//.git/HEAD",
            "https://www.agency.test/%2Egit/HEAD#frag",
            "https://user:pw@www.agency.test/.git/HEAD",
        ] {
            assert_eq!(fingerprint(&c, &asset("www.agency.test", Some(443)), same), base, "{same}");
        }
        // Port comes from the URL when the asset has none.
        assert_eq!(fingerprint(&c, &asset("www.agency.test", None), "https://www.agency.test/.git/HEAD"), base);
        assert_ne!(
            fingerprint(&c, &asset("www.agency.test", Some(8443)), "https://www.agency.test:8443/.git/HEAD"),
            base
        );
        assert_ne!(fingerprint(&c, &asset("www.agency.test", Some(443)), "https://www.agency.test/.git/config"), base);
    }

    #[test]
    fn addresses_and_escapes_are_canonical() {
        assert_eq!(normalize_host("[::0001]"), "::1");
        assert_eq!(normalize_host("127.0.0.1"), "127.0.0.1");
        let u = normalize_url("http://[::1]:8080/a%2fb/%7e?q=%2f").unwrap();
        assert_eq!(u.to_string(), "http://[::1]:8080/a%2Fb/~?q=%2F");
        assert_eq!(normalize_url("https://h").unwrap().to_string(), "https://h/");
        assert!(normalize_url("not a url").is_none());
        assert!(normalize_url("https://h:99999/").is_none());
        assert_eq!(normalize_url("https://h/%zz%4").unwrap().path, "/%zz%4");
        assert_eq!(normalize_url("https://h/é%41").unwrap().path, "/éA");
    }

    #[test]
    fn version_is_one() {
        assert_eq!(FINGERPRINT_VERSION, 1);
    }
}
