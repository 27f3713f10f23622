//! Product and version from what the scanner already reads: SSH banners,
//! HTTP `Server` / `X-Powered-By` headers, generator tags, jQuery script
//! names, Tomcat error pages, the MySQL/MariaDB greeting, Redis `INFO`, and
//! the Docker, Kubernetes and Elasticsearch version answers.
//!
//! Every parser is bounded and takes any bytes: no panic, no slicing on what
//! a server sent. A reading carries the distribution marker it showed
//! (`Debian`, `deb12u3`, `el8`, `+dfsg` ...): such a build may have its
//! fixes backported, and is judged at confidence tentative only.

use std::sync::LazyLock;

use regex::Regex;

/// Most numeric parts of a version kept.
const MAX_PARTS: usize = 6;
/// Longest raw text kept in a reading (for evidence).
const MAX_RAW: usize = 120;
/// Most bytes of a body searched for versions.
const BODY_SCAN: usize = 256 * 1024;
/// Largest JSON body parsed for a version.
const JSON_CAP: usize = 64 * 1024;

/// A version as numeric parts (`2.4.49` is `[2, 4, 49]`); compared part by part,
/// a missing part counting as 0.
#[derive(Debug, Clone, Eq)]
pub struct Version(Vec<u64>);

impl Version {
    /// The numeric prefix of `s` (`9.2p1` → 9.2, `1.22.1-1~bookworm` → 1.22.1,
    /// `v1.28.3+k3s1` → 1.28.3); `None` without a leading number.
    pub fn lenient(s: &str) -> Option<Version> {
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let mut parts = Vec::new();
        for p in s.split('.') {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() || digits.len() > 10 {
                break;
            }
            parts.push(digits.parse::<u64>().ok()?);
            if parts.len() == MAX_PARTS || digits.len() != p.len() {
                break;
            }
        }
        (!parts.is_empty()).then_some(Version(parts))
    }

    /// Only digits and dots (`1.18`, `2.4.49`): the form of the data files.
    pub fn strict(s: &str) -> Option<Version> {
        let ok = !s.is_empty()
            && s.split('.').all(|p| !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()))
            && s.split('.').count() <= MAX_PARTS;
        if ok { Version::lenient(s) } else { None }
    }

    /// The numeric parts.
    pub fn parts(&self) -> &[u64] {
        &self.0
    }

    /// Whether this version is in release line `line` (its first parts equal).
    pub fn starts_with(&self, line: &Version) -> bool {
        line.0.len() <= self.0.len() && self.0.iter().zip(&line.0).all(|(a, b)| a == b)
    }

    fn part(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let n = self.0.len().max(other.0.len());
        (0..n).map(|i| self.part(i).cmp(&other.part(i))).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// One product and version read from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The product's name as the server gave it (`nginx`, `OpenSSH`, `Microsoft-IIS`).
    pub name: String,
    /// The version read.
    pub version: Version,
    /// What was read, printable and bounded (`Apache/2.4.57 (Debian)`).
    pub raw: String,
    /// Where (`Server header`, `SSH banner`, `MySQL greeting` ...).
    pub origin: String,
    /// The distribution marker the banner carries, if any.
    pub distro: Option<String>,
    /// Whether the banner names Windows.
    pub windows: bool,
}

/// Printable, bounded text.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_RAW).collect::<String>().trim().to_owned()
}

static DISTRO: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(\+?deb[0-9]+u[0-9]+|debian|ubuntu|raspbian|\+deb[0-9]*|~deb[0-9]+|~bpo|bookworm|bullseye|buster|trixie|jammy|focal|noble|centos|red ?hat|rhel|fedora|\.fc[0-9]{2}|(?:^|[^a-z0-9])el[5-9](?:_[0-9]+)?(?:[^0-9]|$)|suse|sles|amzn|amazon linux|freebsd|almalinux|rocky|alpine|\+dfsg|-eks-|-gke\.|\+k3s|\+rke2|openshift)",
    )
    .ok()
});

/// The distribution marker in `text`, if any (`Debian`, `deb12u3`, `el8`).
pub fn distro_marker(text: &str) -> Option<String> {
    let m = DISTRO.as_ref()?.find(text)?;
    Some(m.as_str().trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned())
}

fn names_windows(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("win32") || t.contains("win64") || t.contains("windows")
}

fn reading(name: &str, version: Version, raw: &str, origin: &str, context: &str) -> Reading {
    Reading {
        name: clean(name),
        version,
        raw: clean(raw),
        origin: origin.to_owned(),
        distro: distro_marker(context),
        windows: names_windows(context) || name.eq_ignore_ascii_case("Microsoft-IIS"),
    }
}

/// The software of an SSH identification line (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`).
pub fn from_ssh(banner: &str) -> Option<Reading> {
    let rest = banner.strip_prefix("SSH-2.0-").or_else(|| banner.strip_prefix("SSH-1.99-"))?;
    let software = rest.split(' ').next()?;
    let (name, version) = software.split_once('_')?;
    let v = Version::lenient(version)?;
    Some(reading(name, v, rest, "SSH banner", rest))
}

/// Every `product/version` token of a `Server` or `X-Powered-By` value
/// (`Apache/2.4.58 (Win64) OpenSSL/3.1.3 PHP/8.2.12`). A distribution or
/// Windows marker anywhere in the value applies to all its products.
pub fn from_header(header: &str, value: &str) -> Vec<Reading> {
    let value: String = value.chars().take(512).collect();
    let origin = format!("{header} header");
    let mut out = Vec::new();
    for token in value.split_whitespace().filter(|t| !t.starts_with('(')).take(16) {
        let Some((name, version)) = token.split_once('/') else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            continue;
        }
        let Some(v) = Version::lenient(version) else { continue };
        out.push(reading(name, v, &value, &origin, &value));
    }
    out
}

static GENERATOR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"(?is)<meta\s[^>]{0,200}?(?:name\s*=\s*["']generator["'][^>]{0,200}?content\s*=\s*["']([^"'<>]{1,100})["']|content\s*=\s*["']([^"'<>]{1,100})["'][^>]{0,200}?name\s*=\s*["']generator["'])"#,
    )
    .ok()
});
static SCRIPT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?is)<script\s[^>]{0,200}?src\s*=\s*["']([^"'<>]{1,300})["']"#).ok());
static JQUERY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|/)jquery(?:[-.]|/)v?([0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,3})?)(?:[./-]|$)").ok()
});
static TOMCAT: LazyLock<Option<regex::bytes::Regex>> = LazyLock::new(|| {
    regex::bytes::Regex::new(r"Apache Tomcat/([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,4}(?:\.M[0-9]+)?)").ok()
});

/// Versions in an HTML or error page: the generator tag, jQuery script
/// names, a Tomcat error page's footer.
pub fn from_body(body: &[u8]) -> Vec<Reading> {
    let body = body.get(..BODY_SCAN).unwrap_or(body);
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    if let Some(re) = GENERATOR.as_ref() {
        for c in re.captures_iter(&text).take(4) {
            let Some(content) = c.get(1).or_else(|| c.get(2)).map(|m| m.as_str()) else { continue };
            // "WordPress 6.4.2", "Drupal 10 (https://www.drupal.org)".
            let mut words = content.split_whitespace();
            let Some(name) = words.next() else { continue };
            let Some(v) = words.next().and_then(Version::lenient) else { continue };
            out.push(reading(name, v, content, "generator tag", content));
        }
    }
    if let (Some(script), Some(jq)) = (SCRIPT.as_ref(), JQUERY.as_ref()) {
        for c in script.captures_iter(&text).take(64) {
            let Some(src) = c.get(1).map(|m| m.as_str()) else { continue };
            let Some(v) = jq.captures(src).and_then(|m| m.get(1)).and_then(|m| Version::lenient(m.as_str())) else {
                continue;
            };
            out.push(reading("jQuery", v, src, "script src", ""));
        }
    }
    out.extend(tomcat(body));
    out
}

/// A Tomcat error page's footer (`Apache Tomcat/9.0.82`), read from the bytes:
/// the literal prefix lets the regex skip a page without it at memchr speed,
/// with no copy of the body.
fn tomcat(body: &[u8]) -> Option<Reading> {
    let re = TOMCAT.as_ref()?;
    let m = re.find(body.get(..BODY_SCAN).unwrap_or(body))?;
    let text = std::str::from_utf8(m.as_bytes()).ok()?;
    let v = text.strip_prefix("Apache Tomcat/").and_then(Version::lenient)?;
    Some(reading("Apache Tomcat", v, text, "error page", ""))
}

/// The product of a JSON version answer: Docker's and Kubernetes' `/version`,
/// Elasticsearch's root document.
pub fn from_json(body: &[u8]) -> Option<Reading> {
    if body.len() > JSON_CAP || body.iter().find(|b| !b.is_ascii_whitespace()).is_none_or(|&b| b != b'{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    if let (Some(version), Some(_)) = (s("gitVersion"), s("goVersion")) {
        let ver = Version::lenient(version)?;
        // A vendor build (v1.27.4-eks-..., +k3s1) says so after the version.
        let suffix =
            version.trim_start_matches(['v', 'V']).trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
        let mut r = reading("Kubernetes", ver, version, "/version gitVersion", version);
        if r.distro.is_none() && !suffix.is_empty() {
            r.distro = Some(clean(suffix.trim_start_matches(['-', '+'])));
        }
        return Some(r);
    }
    if let (Some(version), Some(_)) = (s("Version"), s("ApiVersion")) {
        let ver = Version::lenient(version)?;
        return Some(reading("Docker", ver, version, "/version Version", version));
    }
    if s("tagline") == Some("You Know, for Search") {
        let version = v.get("version")?;
        if version.get("distribution").and_then(|d| d.as_str()).is_some_and(|d| d != "elasticsearch") {
            return None;
        }
        let number = version.get("number")?.as_str()?;
        let ver = Version::lenient(number)?;
        return Some(reading("Elasticsearch", ver, number, "root document version.number", number));
    }
    None
}

/// The product of a MySQL/MariaDB greeting's server version
/// (`8.0.36-0ubuntu0.22.04.1`, `5.5.5-10.11.6-MariaDB-0+deb12u1`).
pub fn from_mysql(server_version: &str) -> Option<Reading> {
    let mariadb = server_version.to_ascii_lowercase().contains("mariadb");
    // MariaDB before 11 prefixes "5.5.5-" for old clients.
    let text = if mariadb { server_version.strip_prefix("5.5.5-").unwrap_or(server_version) } else { server_version };
    let v = Version::lenient(text)?;
    let name = if mariadb { "MariaDB" } else { "MySQL" };
    Some(reading(name, v, server_version, "greeting", server_version))
}

/// Redis's `redis_version` from `INFO`.
pub fn from_redis(version: &str) -> Option<Reading> {
    let v = Version::lenient(version)?;
    Some(reading("Redis", v, version, "INFO redis_version", version))
}

/// Everything one HTTP response to `path` shows: the `Server` and
/// `X-Powered-By` headers and, when the body is whole, for `/` and
/// `/version` the version answers of the APIs, for `/` the page's generator
/// tag and script names, and for every path a Tomcat error page's footer.
/// (Reading tags and scripts of every template's answer cost a quarter of
/// the content checks' rate in `scripts/bench-http.sh`; a site's front page
/// carries them.)
pub fn from_http(path: &str, headers: &[(String, String)], body: Option<&[u8]>) -> Vec<Reading> {
    let mut out = Vec::new();
    for (n, v) in headers.iter().take(100) {
        for h in ["Server", "X-Powered-By"] {
            if n.eq_ignore_ascii_case(h) {
                out.extend(from_header(h, v));
            }
        }
    }
    if let Some(body) = body {
        if path == "/" || path == "/version" {
            out.extend(from_json(body));
        }
        if path == "/" {
            out.extend(from_body(body));
        } else {
            out.extend(tomcat(body));
        }
    }
    out
}
