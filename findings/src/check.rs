//! Check identifiers: one stable string per weakness haetae knows how to find.
//!
//! The string forms (`dns.axfr-open`, `tls.cert-expired`, ...) are part of the
//! contract in SPEC.md: they appear in exports, rules (`finding.check == "..."`)
//! and SARIF rule ids, so a variant's string must never change once shipped.
//! Teams can add their own content checks under the `x.` prefix; those are
//! carried as [`CheckId::Custom`].

use std::fmt;
use std::str::FromStr;

use crate::model::Severity;

macro_rules! checks {
    ($( $variant:ident => $id:literal, $sev:ident, $cwe:expr, $title:literal; )+) => {
        /// A check id with a stable string form.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckId {
            $( #[doc = $title] $variant, )+
            /// A team's own content check; the id starts with `x.`.
            Custom(String),
        }

        impl CheckId {
            /// Every built-in check, in catalogue order.
            pub const BUILTIN: &'static [CheckId] = &[ $( CheckId::$variant, )+ ];

            /// The stable string form.
            pub fn as_str(&self) -> &str {
                match self {
                    $( CheckId::$variant => $id, )+
                    CheckId::Custom(s) => s,
                }
            }

            /// The catalogue entry of a built-in check (`None` for custom ids).
            pub fn meta(&self) -> Option<CheckMeta> {
                match self {
                    $( CheckId::$variant => Some(CheckMeta {
                        title: $title,
                        default_severity: Severity::$sev,
                        cwe: $cwe,
                    }), )+
                    CheckId::Custom(_) => None,
                }
            }

            fn builtin(s: &str) -> Option<CheckId> {
                match s {
                    $( $id => Some(CheckId::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

/// What the catalogue says about a built-in check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckMeta {
    /// One-line title used in listings and reports.
    pub title: &'static str,
    /// The severity a probe reports unless it has a reason to say otherwise.
    pub default_severity: Severity,
    /// The CWE the weakness maps to, when one does.
    pub cwe: Option<u32>,
}

checks! {
    DnsDanglingCname => "dns.dangling-cname", High, Some(672), "CNAME chain ends in NXDOMAIN or no answer";
    DnsTakeover => "dns.takeover", Critical, Some(284), "Subdomain can be taken over at its provider";
    DnsAxfrOpen => "dns.axfr-open", Medium, Some(200), "Zone transfer (AXFR) allowed to anyone";
    DnsSpfMissing => "dns.spf-missing", Low, Some(290), "No SPF record";
    DnsSpfPermissive => "dns.spf-permissive", Medium, Some(290), "SPF record allows any sender (+all or ?all)";
    DnsDmarcMissing => "dns.dmarc-missing", Low, Some(290), "No DMARC record";
    DnsDmarcWeak => "dns.dmarc-weak", Low, Some(290), "DMARC policy is p=none";
    DnsCaaMissing => "dns.caa-missing", Info, None, "No CAA record restricts certificate issuance";
    DnsPointsOutOfScope => "dns.points-out-of-scope", Info, None, "In-scope name points outside the authorized scope";
    DnsDnssecMissing => "dns.dnssec-missing", Low, Some(345), "Zone is not signed with DNSSEC";
    DnsDnssecExpired => "dns.dnssec-expired", High, Some(324), "DNSSEC signature expired or expires within 7 days";
    TlsCertExpired => "tls.cert-expired", High, Some(298), "Certificate expired or not yet valid";
    TlsCertExpiring => "tls.cert-expiring", Medium, Some(298), "Certificate expires soon";
    TlsCertUntrusted => "tls.cert-untrusted", High, Some(295), "Certificate not trusted (self-signed or unknown issuer)";
    TlsCertHostnameMismatch => "tls.cert-hostname-mismatch", High, Some(297), "Certificate does not match the host name";
    TlsWeakKey => "tls.weak-key", Medium, Some(326), "Certificate key too small";
    TlsWeakSignature => "tls.weak-signature", Medium, Some(327), "Certificate signed with a weak hash (SHA-1, MD5)";
    TlsWeakCipher => "tls.weak-cipher", Medium, Some(327), "Server accepts a cipher suite outside Mozilla intermediate";
    TlsWeakDh => "tls.weak-dh", Medium, Some(326), "DHE group smaller than 2048 bits";
    TlsLegacyProtocol => "tls.legacy-protocol", Medium, Some(327), "Server accepts SSLv3, TLS 1.0 or TLS 1.1";
    HttpNoHttpsRedirect => "http.no-https-redirect", Medium, Some(319), "Plain HTTP does not redirect to HTTPS";
    HttpHstsMissing => "http.hsts-missing", Low, Some(319), "Strict-Transport-Security missing or too short";
    HttpCspMissing => "http.csp-missing", Low, Some(693), "Content-Security-Policy missing";
    HttpXctoMissing => "http.xcto-missing", Info, Some(693), "X-Content-Type-Options: nosniff missing";
    HttpClickjacking => "http.clickjacking", Low, Some(1021), "Page can be framed by other sites";
    HttpVersionDisclosure => "http.version-disclosure", Low, Some(200), "Server discloses software versions";
    HttpCookieInsecure => "http.cookie-insecure", Medium, Some(614), "Cookie without Secure, HttpOnly or SameSite";
    HttpCorsReflectCredentials => "http.cors-reflect-credentials", High, Some(942), "CORS reflects any origin with credentials";
    HttpOpenRedirect => "http.open-redirect", Medium, Some(601), "Open redirect to a foreign site";
    HttpDirectoryListing => "http.directory-listing", Medium, Some(548), "Directory listing enabled";
    HttpExposedGit => "http.exposed-git", High, Some(538), "Git repository exposed over HTTP";
    HttpExposedEnv => "http.exposed-env", Critical, Some(538), "Environment file (.env) exposed";
    HttpExposedBackup => "http.exposed-backup", High, Some(530), "Backup or archive file exposed";
    HttpExposedStatusPage => "http.exposed-status-page", Medium, Some(200), "Server status page exposed";
    HttpExposedActuator => "http.exposed-actuator", High, Some(215), "Spring Boot actuator endpoints exposed";
    HttpExposedPhpinfo => "http.exposed-phpinfo", Medium, Some(200), "phpinfo() page exposed";
    HttpExposedAdmin => "http.exposed-admin", Medium, Some(425), "Administration interface exposed";
    HttpExposedApiDocs => "http.exposed-api-docs", Low, Some(200), "API documentation exposed";
    HttpPublicBucketListing => "http.public-bucket-listing", High, Some(284), "Storage bucket lists its contents publicly";
    HttpSecretInResponse => "http.secret-in-response", Critical, Some(200), "Secret (key, token, password) in a response";
    HttpTraceEnabled => "http.trace-enabled", Low, Some(693), "HTTP TRACE method echoes requests";
    HttpSecurityTxtMissing => "http.security-txt-missing", Info, None, "No valid security.txt (RFC 9116) on the web site";
    SoftwareEol => "software.eol", Medium, Some(1104), "Software release line past its end of life";
    SoftwareKnownExploited => "software.known-exploited", Critical, Some(1395), "Software version with a known exploited vulnerability (CISA KEV)";
    SvcRedisNoauth => "svc.redis-noauth", Critical, Some(306), "Redis answers without authentication";
    SvcDockerApi => "svc.docker-api", Critical, Some(306), "Docker Engine API reachable without authentication";
    SvcElasticsearchOpen => "svc.elasticsearch-open", High, Some(306), "Elasticsearch reachable without authentication";
    SvcKubernetesApi => "svc.kubernetes-api", High, Some(306), "Kubernetes API reachable";
    SvcDatabaseExposed => "svc.database-exposed", High, Some(668), "Database service exposed";
    SvcSshExposed => "svc.ssh-exposed", Info, Some(668), "SSH service exposed";
    SvcRemoteDesktopExposed => "svc.remote-desktop-exposed", High, Some(668), "Remote desktop service exposed";
    MigrationLegacyOriginLive => "migration.legacy-origin-live", High, Some(1059), "Legacy origin still serves the migrated host";
}

/// A string that is neither a built-in check id nor a valid `x.` custom id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown check id `{0}`: expected a built-in id such as `dns.axfr-open` or a custom id `x.<name>` (lowercase letters, digits, `.`, `-`, `_`)"
)]
pub struct UnknownCheck(pub String);

impl FromStr for CheckId {
    type Err = UnknownCheck;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(id) = CheckId::builtin(s) {
            return Ok(id);
        }
        let valid_custom = s.len() > 2
            && s.len() <= 128
            && s.starts_with("x.")
            && s[2..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
        if valid_custom { Ok(CheckId::Custom(s.to_owned())) } else { Err(UnknownCheck(s.to_owned())) }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::serde_as_string!(CheckId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for id in CheckId::BUILTIN {
            assert!(seen.insert(id.as_str()), "duplicate id {id}");
            assert_eq!(&id.as_str().parse::<CheckId>().unwrap(), id);
            assert!(id.meta().is_some());
        }
        assert_eq!(CheckId::BUILTIN.len(), 52);
    }

    #[test]
    fn custom_ids_need_the_x_prefix() {
        assert_eq!("x.team-check".parse::<CheckId>().unwrap(), CheckId::Custom("x.team-check".into()));
        assert!("dns.nope".parse::<CheckId>().is_err());
        assert!("x.".parse::<CheckId>().is_err());
        assert!("x.Upper".parse::<CheckId>().is_err());
    }
}
