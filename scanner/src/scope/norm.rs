//! Normal forms the scope compares: host names, addresses, networks and paths.
//!
//! Every function here errs towards "out of scope": a name that a resolver might
//! read differently than we do is refused, an address is judged in the form the
//! kernel connects to, and a path is reduced the way lenient servers reduce it.

use std::net::IpAddr;

use haetae_findings::fingerprint::{normalize_host, normalize_url};
use ipnet::{IpNet, Ipv4Net};

/// Longest host name, without the trailing dot (RFC 1035 section 2.3.4).
const MAX_NAME: usize = 253;
/// Longest label (RFC 1035 section 2.3.4).
const MAX_LABEL: usize = 63;

/// An address written where a host name is expected: `127.0.0.1`, `::1`, `[::1]`.
pub(crate) fn ip_literal(s: &str) -> Option<IpAddr> {
    let t = s.trim();
    let t = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(t);
    t.parse().ok()
}

/// The normalized form of a host name (lowercase, no trailing dot), or why `raw`
/// is not a host name haetae will contact.
pub(crate) fn normalize_name(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("the name is empty".into());
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces or control characters".into());
    }
    if raw.ends_with("..") {
        return Err("it has an empty label".into());
    }
    if raw.contains('*') {
        return Err("`*` is not allowed (a domains entry already covers every subdomain)".into());
    }
    // Checked on the text as given: `normalize_host` would also strip `[...]`.
    if let Some(c) = raw.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!(
            "character `{c}` is not allowed (letters, digits, `-`, `_` and `.`; write internationalized names in punycode, xn--...)"
        ));
    }
    let name = normalize_host(raw);
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!("it is {} characters long, more than {MAX_NAME}", name.len()));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label".into());
        }
        if label.len() > MAX_LABEL {
            return Err(format!("label `{label}` is {} characters long, more than {MAX_LABEL}", label.len()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with `-`"));
        }
    }
    let last = name.rsplit('.').next().unwrap_or(&name);
    if last.chars().all(|c| c.is_ascii_digit()) || last.starts_with("0x") {
        // `127.1`, `2130706433` or `1.0x7f`: inet_aton reads these as addresses.
        return Err(format!("its last label `{last}` is numeric, so a resolver may read it as an address"));
    }
    Ok(name)
}

/// Is `name` equal to `domain` or under it, at a label boundary? Both normalized.
pub(crate) fn under(name: &str, domain: &str) -> bool {
    match name.strip_suffix(domain) {
        Some("") => true,
        Some(prefix) => prefix.ends_with('.') && !domain.is_empty(),
        None => false,
    }
}

/// The address the kernel actually connects to: an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) is the IPv4 address `a.b.c.d`.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A network inside `::ffff:0:0/96` written as IPv6 is the IPv4 network it maps.
pub(crate) fn canonical_net(net: IpNet) -> IpNet {
    // `to_ipv4_mapped` is `Some` exactly for addresses in ::ffff:0:0/96.
    if let IpNet::V6(n) = net
        && n.prefix_len() >= 96
        && let Some(v4) = n.network().to_ipv4_mapped()
        && let Ok(v4net) = Ipv4Net::new(v4, n.prefix_len() - 96)
    {
        return IpNet::V4(v4net.trunc());
    }
    net
}

/// Does `net` contain `ip`, both taken in their canonical (IPv4-mapped = IPv4) form?
pub(crate) fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    canonical_net(*net).contains(&canonical_ip(ip))
}

/// Does an exclusion `net` cover `ip`, in either its written or its canonical form?
/// (Exclusions are read both ways: when in doubt, out.)
pub(crate) fn excludes(net: &IpNet, ip: IpAddr) -> bool {
    net_contains(net, ip) || net.contains(&ip)
}

/// An address or network as written in scope.toml: a bare address is a /32 or /128.
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    if let Some(ip) = ip_literal(t) {
        return Ok(IpNet::from(ip));
    }
    t.parse::<IpNet>().map_err(|_| {
        format!("`{s}` is not an address or network (write e.g. 127.77.0.0/20, 127.77.1.21 or 2001:db8::/48)")
    })
}

/// How many rounds of percent-decoding a path gets: `%252e` is `%2e` is `.`.
const DECODE_ROUNDS: usize = 4;

/// A request path the way a lenient server may read it, for comparing with
/// `exclude_paths`: query and fragment dropped, percent-escapes decoded
/// (repeatedly), `\` read as `/`, `;parameters` dropped from each segment, dot
/// segments removed, lowercased. `None` if it cannot be reduced.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    let path = path.trim();
    // An absolute URL: its path. (A URL in the query, as a redirect
    // parameter carries, does not make the path a URL.)
    if path.split(['?', '#']).next().is_some_and(|p| p.contains("://")) {
        let url = normalize_url(path)?;
        return normalize_path(&url.path);
    }
    let mut p = path.split(['?', '#']).next().unwrap_or("").to_owned();
    for _ in 0..DECODE_ROUNDS {
        let decoded = percent_decode(&p);
        if decoded == p {
            break;
        }
        p = decoded;
    }
    let p = p.replace('\\', "/");
    let p = p.split(['?', '#']).next().unwrap_or("");
    let stripped: Vec<&str> = p.split('/').map(|seg| seg.split(';').next().unwrap_or("")).collect();
    let joined = stripped.join("/");
    let rooted = if joined.starts_with('/') { joined } else { format!("/{joined}") };
    let url = normalize_url(&format!("http://scope.invalid{rooted}"))?;
    Some(url.path.to_lowercase())
}

/// An `exclude_paths` entry in the form [`normalize_path`] produces, without a
/// trailing slash (so `/admin/` also excludes `/admin`).
pub(crate) fn normalize_exclusion(entry: &str) -> Option<String> {
    let p = normalize_path(entry)?;
    let trimmed = p.trim_end_matches('/');
    Some(if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() })
}

/// Is normalized `path` equal to or under normalized exclusion `excl`, at a segment boundary?
pub(crate) fn path_under(path: &str, excl: &str) -> bool {
    if excl == "/" {
        return true;
    }
    match path.strip_prefix(excl) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Decode every `%XX` escape (invalid UTF-8 becomes U+FFFD, which matches no exclusion
/// but also no real path segment that could be one).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]));
            if let (Some(h), Some(l)) = hex {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}
