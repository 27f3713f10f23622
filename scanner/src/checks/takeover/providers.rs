//! The provider table (`scanner/takeover/providers.toml`, compiled in): which
//! CNAME targets belong to which cloud service, and what that service answers
//! for a resource nobody has claimed.

use std::sync::LazyLock;

use regex::bytes::Regex as BytesRegex;
use serde::Deserialize;

/// The built-in table's text.
const BUILTIN: &str = include_str!("../../../takeover/providers.toml");

/// The built-in table, parsed and validated once.
pub fn providers() -> &'static Providers {
    static TABLE: LazyLock<Providers> = LazyLock::new(|| {
        #[expect(clippy::expect_used, reason = "compiled-in data; the unit tests prove it parses")]
        Providers::parse(BUILTIN).expect("the built-in provider table is valid")
    });
    &TABLE
}

/// What is wrong with a provider table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Not TOML, or not the expected shape.
    #[error("provider table: {0}")]
    Toml(String),
    /// One entry is invalid.
    #[error("provider {index} ({name}): {reason}")]
    Invalid {
        /// Position in the table, from 1.
        index: usize,
        /// The entry's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Whether an unclaimed resource of a provider can be registered by anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Claim {
    /// Yes (can-i-take-over-xyz "Vulnerable").
    Vulnerable,
    /// Under conditions the scanner cannot see (can-i-take-over-xyz "Edge case").
    EdgeCase,
}

/// Which Host the fingerprint request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostHeader {
    /// The scanned name, as visitors send it: the service routes by it.
    #[default]
    Scanned,
    /// The CNAME target: the service names the resource in the target (a bucket).
    Target,
}

/// The response that says a resource is unclaimed: every given part holds.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    /// Accepted status codes (empty: any).
    pub status: Vec<u16>,
    /// A regex the body matches.
    pub body: Option<BytesRegex>,
}

impl Fingerprint {
    /// The matched text when `status` and `body` fit the fingerprint.
    pub fn matches(&self, status: u16, body: &[u8]) -> Option<String> {
        if !self.status.is_empty() && !self.status.contains(&status) {
            return None;
        }
        match &self.body {
            Some(re) => re.find(body).map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned()),
            None => Some(format!("status {status}")),
        }
    }
}

/// A CNAME pattern: labels compared from the right; `*` alone is any one label,
/// `*` inside a label a glob within that label. Matches names equal to it or under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    /// Labels, rightmost first.
    labels: Vec<String>,
}

impl Pattern {
    /// Parse and validate a pattern (lowercase, no empty label, at most one `*`
    /// per label, the last two labels literal).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let t = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<String> = t.split('.').rev().map(str::to_owned).collect();
        if labels.len() < 2 {
            return Err(format!("`{text}` needs at least two labels"));
        }
        for l in &labels {
            if l.is_empty() {
                return Err(format!("`{text}` has an empty label"));
            }
            if l.matches('*').count() > 1 {
                return Err(format!("`{text}`: at most one `*` per label"));
            }
            if !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '_') {
                return Err(format!("`{text}`: label `{l}` is not a DNS label"));
            }
        }
        if labels.iter().take(2).any(|l| l.contains('*')) {
            return Err(format!("`{text}`: the last two labels must be literal"));
        }
        Ok(Pattern { text: t, labels })
    }

    /// The pattern as written (normalized).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` (any case, trailing dot or not) is this pattern or under it.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.');
        let mut got = name.rsplit('.');
        self.labels.iter().all(|p| got.next().is_some_and(|l| !l.is_empty() && label_matches(p, l)))
    }

    /// How specific the pattern is: labels, then literal characters.
    fn specificity(&self) -> (usize, usize) {
        (self.labels.len(), self.labels.iter().map(|l| l.len() - usize::from(l.contains('*'))).sum())
    }
}

fn label_matches(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(label),
        Some((pre, suf)) => {
            label.len() >= pre.len() + suf.len()
                && label.get(..pre.len()).is_some_and(|p| p.eq_ignore_ascii_case(pre))
                && label.get(label.len() - suf.len()..).is_some_and(|s| s.eq_ignore_ascii_case(suf))
        }
    }
}

/// One service of a cloud.
#[derive(Debug, Clone)]
pub struct Provider {
    /// What the service is called.
    pub name: String,
    /// The cloud's stable id (`asset.cloud`), e.g. `naver-cloud`.
    pub cloud: String,
    /// A Korean cloud (Naver, NHN, Kakao).
    pub korean: bool,
    /// Where CNAMEs into the service point.
    pub cnames: Vec<Pattern>,
    /// Whether an unclaimed resource can be taken; `None`: tag only.
    pub claim: Option<Claim>,
    /// NXDOMAIN of the CNAME target alone proves the name is free to register.
    pub nxdomain: bool,
    /// The Host of the fingerprint request.
    pub host: HostHeader,
    /// The service also answers over HTTPS.
    pub https: bool,
    /// The unclaimed response.
    pub fingerprint: Option<Fingerprint>,
    /// Sources.
    pub references: Vec<String>,
}

impl Provider {
    /// Only names the cloud: no takeover check.
    pub fn tag_only(&self) -> bool {
        self.claim.is_none()
    }

    /// The most specific of this provider's patterns that `name` matches.
    fn best_match(&self, name: &str) -> Option<&Pattern> {
        self.cnames.iter().filter(|p| p.matches(name)).max_by_key(|p| p.specificity())
    }
}

/// The provider table.
#[derive(Debug, Clone)]
pub struct Providers {
    list: Vec<Provider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    provider: Vec<RawProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    cloud: String,
    #[serde(default)]
    korean: bool,
    cnames: Vec<String>,
    status: Option<Claim>,
    #[serde(default)]
    nxdomain: bool,
    #[serde(default)]
    host: HostHeader,
    #[serde(default)]
    https: bool,
    fingerprint: Option<RawFingerprint>,
    #[serde(default)]
    references: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFingerprint {
    #[serde(default)]
    status: Vec<u16>,
    body: Option<String>,
}

/// Body regexes are bounded: a table entry cannot make matching expensive.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Providers {
    /// Parse and validate a table in the format of `scanner/takeover/providers.toml`.
    pub fn parse(text: &str) -> Result<Providers, ProviderError> {
        let raw: RawTable = toml::from_str(text).map_err(|e| ProviderError::Toml(e.to_string()))?;
        let list = raw
            .provider
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let name = p.name.clone();
                Self::validate(p).map_err(|reason| ProviderError::Invalid { index: i + 1, name, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Providers { list })
    }

    fn validate(p: RawProvider) -> Result<Provider, String> {
        if p.name.trim().is_empty() {
            return Err("empty name".into());
        }
        let id_ok = !p.cloud.is_empty()
            && p.cloud
                .split('-')
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        if !id_ok {
            return Err(format!("cloud `{}` is not a short id (lowercase letters, digits, '-')", p.cloud));
        }
        if p.cnames.is_empty() {
            return Err("no cnames".into());
        }
        let cnames = p.cnames.iter().map(|c| Pattern::parse(c)).collect::<Result<Vec<_>, _>>()?;
        let fingerprint = match p.fingerprint {
            None => None,
            Some(f) => {
                let body = match f.body {
                    None => None,
                    Some(b) => Some(
                        regex::bytes::RegexBuilder::new(&b)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .map_err(|e| format!("fingerprint body: {e}"))?,
                    ),
                };
                if f.status.iter().any(|s| !(100..=599).contains(s)) {
                    return Err("fingerprint status codes must be 100-599".into());
                }
                if f.status.is_empty() && body.is_none() {
                    return Err("an empty fingerprint matches everything".into());
                }
                Some(Fingerprint { status: f.status, body })
            }
        };
        match p.status {
            None if fingerprint.is_some() || p.nxdomain => {
                return Err("a fingerprint or nxdomain needs a status (vulnerable or edge-case)".into());
            }
            Some(_) if fingerprint.is_none() && !p.nxdomain => {
                return Err("a status needs a fingerprint or nxdomain = true".into());
            }
            _ => {}
        }
        Ok(Provider {
            name: p.name,
            cloud: p.cloud,
            korean: p.korean,
            cnames,
            claim: p.status,
            nxdomain: p.nxdomain,
            host: p.host,
            https: p.https,
            fingerprint,
            references: p.references,
        })
    }

    /// Every provider, in table order.
    pub fn all(&self) -> &[Provider] {
        &self.list
    }

    /// The provider `name` points into: the one with the most specific matching
    /// pattern (then the first in the table).
    pub fn for_name(&self, name: &str) -> Option<&Provider> {
        let mut best: Option<(&Provider, (usize, usize))> = None;
        for p in &self.list {
            if let Some(pat) = p.best_match(name) {
                let s = pat.specificity();
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((p, s));
                }
            }
        }
        best.map(|(p, _)| p)
    }

    /// Where a CNAME chain points: the first name (closest to the scanned name)
    /// whose provider can be taken over, else the first name with a provider.
    /// Returns the chain index and the provider.
    pub fn locate(&self, chain: &[String]) -> Option<(usize, &Provider)> {
        let found: Vec<(usize, &Provider)> =
            chain.iter().enumerate().filter_map(|(i, n)| self.for_name(n).map(|p| (i, p))).collect();
        found.iter().find(|(_, p)| !p.tag_only()).or(found.first()).copied()
    }

    /// The provider a CNAME chain points into (see [`Self::locate`]).
    pub fn provider_for(&self, chain: &[String]) -> Option<&Provider> {
        self.locate(chain).map(|(_, p)| p)
    }
}

/// The built-in provider a CNAME chain ([`crate::guard::Resolution::chain`])
/// points into; its `cloud` is the asset's cloud.
pub fn provider_for(chain: &[String]) -> Option<&'static Provider> {
    providers().provider_for(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(name: &str) -> Option<&'static str> {
        providers().for_name(name).map(|p| p.cloud.as_str())
    }

    fn provider(name: &str) -> &'static str {
        providers().for_name(name).map(|p| p.name.as_str()).unwrap_or("-")
    }

    #[test]
    fn the_builtin_table_parses_and_every_regex_compiles() {
        let t = Providers::parse(BUILTIN).unwrap();
        assert!(t.all().len() >= 15, "{}", t.all().len());
        for p in t.all() {
            if let Some(f) = &p.fingerprint {
                assert!(f.body.is_some(), "{}: a status-only fingerprint is too weak", p.name);
            }
            assert!(!p.references.is_empty(), "{} has no reference", p.name);
        }
        let korean: Vec<&str> = t.all().iter().filter(|p| p.korean).map(|p| p.cloud.as_str()).collect();
        for id in ["naver-cloud", "nhn-cloud", "kakao-cloud"] {
            assert!(korean.contains(&id), "{id}");
        }
        for id in ["aws", "azure", "gcp", "github", "heroku", "fastly"] {
            assert!(t.all().iter().any(|p| p.cloud == id), "{id}");
        }
        assert_eq!(providers().all().len(), t.all().len());
    }

    #[test]
    fn suffixes_and_middle_wildcards_match_label_by_label() {
        assert_eq!(provider("agency-files.kr.object.gov-ncloudstorage.com"), "Naver Cloud Object Storage");
        assert_eq!(provider("kr.object.ncloudstorage.com"), "Naver Cloud Object Storage");
        assert_eq!(provider("x.kr.object.fin-ncloudstorage.com"), "Naver Cloud Object Storage");
        assert_eq!(provider("b.jp.object.ncpstorage.com"), "Naver Cloud Object Storage");
        assert_eq!(provider("bucket.kr.ncloudstorage.com"), "Naver Cloud Object Storage");
        assert_eq!(provider("kr.archive.ncloudstorage.com"), "Naver Cloud Platform", "archive: tag only");
        assert_eq!(provider("abc.cdn.ntruss.com"), "Naver Cloud Platform");
        assert_eq!(provider("objectstorage.kr-central-2.kakaocloud.com"), "Kakao Cloud Object Storage");
        assert_eq!(provider("b.objectstorage.kr-central-2.kakaocloud.com"), "Kakao Cloud Object Storage");
        assert_eq!(provider("lb.kr-central-2.kakaocloud.com"), "Kakao Cloud", "not object storage: tag only");
        assert_eq!(provider("objectstorage.kakaocloud.com"), "Kakao Cloud", "the middle label is required");
        assert_eq!(provider("kr1-api-object-storage.nhncloudservice.com"), "NHN Cloud Object Storage (S3 API)");
        assert_eq!(provider("b.kr1-api-object-storage.gov-nhncloudservice.com"), "NHN Cloud Object Storage (S3 API)");
        assert_eq!(provider("api-object-storage.nhncloudservice.com"), "NHN Cloud", "the glob needs its suffix");
        assert_eq!(cloud("cdn.gov-nhncloudservice.com"), Some("nhn-cloud"));
        assert_eq!(provider("files.agency.gov.s3.amazonaws.com"), "AWS S3");
        assert_eq!(provider("b.s3.ap-northeast-2.amazonaws.com"), "AWS S3");
        assert_eq!(provider("b.s3-website-ap-northeast-2.amazonaws.com"), "AWS S3");
        assert_eq!(provider("b.s3-website.ap-northeast-2.amazonaws.com"), "AWS S3");
        assert_eq!(provider("b.s3.dualstack.ap-northeast-2.amazonaws.com"), "AWS S3");
        assert_eq!(provider("d1234.cloudfront.net"), "Amazon Web Services");
        assert_eq!(provider("app.ap-northeast-2.elasticbeanstalk.com"), "AWS Elastic Beanstalk");
        assert_eq!(provider("app.elasticbeanstalk.com"), "Amazon Web Services", "legacy form: not claimable");
        assert_eq!(cloud("agency.azurewebsites.net"), Some("azure"));
        assert!(providers().for_name("agency.azurewebsites.net").is_some_and(|p| p.nxdomain));
        assert!(providers().for_name("x.azurefd.net").is_some_and(|p| p.tag_only()));
        assert_eq!(cloud("agency.github.io"), Some("github"));
        assert_eq!(cloud("x.global.ssl.fastly.net"), Some("fastly"));
    }

    #[test]
    fn case_and_trailing_dots_do_not_matter() {
        assert_eq!(provider("Agency-Files.KR.Object.Gov-NCloudStorage.COM."), "Naver Cloud Object Storage");
        assert_eq!(provider("OBJECTSTORAGE.KR-CENTRAL-2.KAKAOCLOUD.COM"), "Kakao Cloud Object Storage");
        assert_eq!(provider("B.S3-Website-AP-Northeast-2.AmazonAWS.com."), "AWS S3");
    }

    #[test]
    fn lookalike_domains_do_not_match() {
        for name in [
            "evilncloudstorage.com",
            "x.evilncloudstorage.com",
            "kr.object.evilncloudstorage.com",
            "ncloudstorage.com.evil.test",
            "kr.object.ncloudstorage.com.attacker.test",
            "objectstorage.kr-central-2.notkakaocloud.com",
            "x.nhncloudservice.com-evil.test",
            "s3.amazonaws.com.evil.test",
            "agency.azurewebsites.net.evil.test",
            "xazurewebsites.net",
            "github.io.evil.test",
            "",
            ".",
            "com",
        ] {
            assert_eq!(providers().for_name(name).map(|p| &p.name), None, "{name}");
        }
        assert!(!Pattern::parse("*.object.ncloudstorage.com").unwrap().matches("object.ncloudstorage.com"));
        assert!(!Pattern::parse("*.object.ncloudstorage.com").unwrap().matches(".object.ncloudstorage.com"));
        assert!(!Pattern::parse("s3-*.amazonaws.com").unwrap().matches("s3.amazonaws.com"));
    }

    #[test]
    fn a_chain_points_at_its_first_claimable_provider() {
        let chain = |c: &[&str]| c.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let t = providers();
        // A bucket name that resolves through the provider's own CNAMEs: the bucket decides.
        let c = chain(&["www.agency.test.s3.amazonaws.com", "s3-1-w.amazonaws.com"]);
        assert_eq!(t.locate(&c).map(|(i, p)| (i, p.name.as_str())), Some((0, "AWS S3")));
        let c = chain(&["d1.cloudfront.net"]);
        assert_eq!(provider_for(&c).map(|p| (p.cloud.as_str(), p.tag_only())), Some(("aws", true)));
        let c = chain(&["cdn.agency.test", "x.cdn.ntruss.com", "b.kr.object.ncloudstorage.com"]);
        assert_eq!(t.locate(&c).map(|(i, _)| i), Some(2));
        assert!(provider_for(&chain(&["www.othercorp.test"])).is_none());
        assert!(provider_for(&[]).is_none());
    }

    #[test]
    fn invalid_tables_are_refused_with_the_entry_named() {
        let base = |extra: &str| format!("[[provider]]\nname = \"X\"\ncloud = \"x\"\nreferences = [\"r\"]\n{extra}");
        let err = |extra: &str| Providers::parse(&base(extra)).unwrap_err().to_string();
        assert!(err("cnames = [\"com\"]").contains("at least two labels"));
        assert!(err("cnames = [\"*.com\"]").contains("last two labels"));
        assert!(err("cnames = [\"a..b.com\"]").contains("empty label"));
        assert!(err("cnames = [\"**.a.com\"]").contains("one `*`"));
        assert!(err("cnames = [\"a b.x.com\"]").contains("not a DNS label"));
        assert!(err("cnames = [\"x.com\"]\nstatus = \"vulnerable\"").contains("needs a fingerprint"));
        assert!(err("cnames = [\"x.com\"]\nnxdomain = true").contains("needs a status"));
        let e = err("cnames = [\"x.com\"]\nstatus = \"vulnerable\"\n[provider.fingerprint]\nbody = \"(\"");
        assert!(e.contains("provider 1 (X): fingerprint body"), "{e}");
        assert!(
            err("cnames = [\"x.com\"]\nstatus = \"vulnerable\"\n[provider.fingerprint]").contains("matches everything")
        );
        assert!(err("cnames = [\"x.com\"]\nstatus = \"maybe\"").contains("provider table"));
        assert!(err("cnames = [\"x.com\"]\ncolor = 1").contains("unknown field"));
        let bad_id = "[[provider]]\nname = \"X\"\ncloud = \"Naver Cloud\"\ncnames = [\"x.com\"]";
        assert!(Providers::parse(bad_id).unwrap_err().to_string().contains("short id"));
    }

    #[test]
    fn fingerprints_need_every_part() {
        let p = providers().for_name("b.kr.object.gov-ncloudstorage.com").unwrap();
        let f = p.fingerprint.as_ref().unwrap();
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><BucketName>b</BucketName></Error>";
        assert_eq!(f.matches(404, body).as_deref(), Some("<Code>NoSuchBucket</Code>"));
        assert_eq!(f.matches(200, body), None, "a page that quotes the error is not the error");
        assert_eq!(f.matches(404, b"<Error><Code>NoSuchKey</Code></Error>"), None);
        assert_eq!(f.matches(403, b"<Error><Code>AccessDenied</Code></Error>"), None);
    }
}
