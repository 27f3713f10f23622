//! Classification of every check: CWE, OWASP Top 10 (2021), the web item of
//! the KISA guide where one applies, and the help text reports and SARIF
//! rules carry.
//!
//! The KISA items are those of the web section of the 2021 주요정보통신기반시설
//! 기술적 취약점 분석·평가 방법 상세가이드 (28 items, codes as the guide writes
//! them). Only checks that test what an item asks for map to it; DNS, mail,
//! certificate and non-web service checks have no web item.
//!
//! | check | OWASP | KISA |
//! |---|---|---|
//! | `http.directory-listing`, `http.public-bucket-listing` | A01 | DI 디렉터리 인덱싱 |
//! | `http.version-disclosure`, `http.exposed-status-page`, `http.exposed-api-docs`, `http.secret-in-response` | A05 / A01 | IL 정보 누출 |
//! | `http.exposed-admin`, `http.exposed-actuator` | A01 / A05 | AE 관리자 페이지 노출 |
//! | `http.exposed-git`, `http.exposed-env`, `http.exposed-backup`, `http.exposed-phpinfo` | A01 / A05 | PL 위치 공개 |
//! | `http.no-https-redirect`, `http.hsts-missing` | A02 | SN 데이터 평문 전송 |
//! | `http.cookie-insecure` | A05 | CC 쿠키 변조 |
//! | `http.cors-reflect-credentials` | A05 | CF 크로스사이트 리퀘스트 변조 |
//! | `svc.docker-api`, `svc.elasticsearch-open`, `svc.kubernetes-api` | A07 | IA 불충분한 인증 |
//! | every other check | see [`classify`] | none |

use std::fmt;

use crate::check::CheckId;

/// An OWASP Top 10 (2021) category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owasp {
    /// A01:2021 Broken Access Control.
    A01,
    /// A02:2021 Cryptographic Failures.
    A02,
    /// A03:2021 Injection.
    A03,
    /// A04:2021 Insecure Design.
    A04,
    /// A05:2021 Security Misconfiguration.
    A05,
    /// A06:2021 Vulnerable and Outdated Components.
    A06,
    /// A07:2021 Identification and Authentication Failures.
    A07,
    /// A08:2021 Software and Data Integrity Failures.
    A08,
    /// A09:2021 Security Logging and Monitoring Failures.
    A09,
    /// A10:2021 Server-Side Request Forgery.
    A10,
}

impl Owasp {
    /// `A05:2021`.
    pub fn code(self) -> &'static str {
        match self {
            Owasp::A01 => "A01:2021",
            Owasp::A02 => "A02:2021",
            Owasp::A03 => "A03:2021",
            Owasp::A04 => "A04:2021",
            Owasp::A05 => "A05:2021",
            Owasp::A06 => "A06:2021",
            Owasp::A07 => "A07:2021",
            Owasp::A08 => "A08:2021",
            Owasp::A09 => "A09:2021",
            Owasp::A10 => "A10:2021",
        }
    }

    /// The category's name.
    pub fn name(self) -> &'static str {
        match self {
            Owasp::A01 => "Broken Access Control",
            Owasp::A02 => "Cryptographic Failures",
            Owasp::A03 => "Injection",
            Owasp::A04 => "Insecure Design",
            Owasp::A05 => "Security Misconfiguration",
            Owasp::A06 => "Vulnerable and Outdated Components",
            Owasp::A07 => "Identification and Authentication Failures",
            Owasp::A08 => "Software and Data Integrity Failures",
            Owasp::A09 => "Security Logging and Monitoring Failures",
            Owasp::A10 => "Server-Side Request Forgery",
        }
    }
}

impl fmt::Display for Owasp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

macro_rules! kisa {
    ($( $variant:ident => $n:literal, $ko:literal, $en:literal; )+) => {
        /// A web item of the 2021 KISA critical-infrastructure assessment guide,
        /// by the guide's two-letter code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kisa {
            $( #[doc = $en] $variant, )+
        }

        impl Kisa {
            /// Every item, in the guide's order.
            pub const ALL: &'static [Kisa] = &[ $( Kisa::$variant, )+ ];

            /// The two-letter code (`DI`).
            pub fn code(self) -> &'static str {
                match self { $( Kisa::$variant => stringify!($variant), )+ }
            }

            /// The item's number in the guide's web section.
            pub fn number(self) -> u8 {
                match self { $( Kisa::$variant => $n, )+ }
            }

            /// The item's name as the guide writes it.
            pub fn name_ko(self) -> &'static str {
                match self { $( Kisa::$variant => $ko, )+ }
            }

            /// The item's name in English.
            pub fn name_en(self) -> &'static str {
                match self { $( Kisa::$variant => $en, )+ }
            }
        }
    };
}

kisa! {
    BO => 1, "버퍼 오버플로우", "Buffer overflow";
    FS => 2, "포맷스트링", "Format string";
    LI => 3, "LDAP 인젝션", "LDAP injection";
    OC => 4, "운영체제 명령 실행", "OS command execution";
    SI => 5, "SQL 인젝션", "SQL injection";
    SS => 6, "SSI 인젝션", "SSI injection";
    XI => 7, "XPath 인젝션", "XPath injection";
    DI => 8, "디렉터리 인덱싱", "Directory indexing";
    IL => 9, "정보 누출", "Information leakage";
    CS => 10, "악성 콘텐츠", "Malicious content";
    XS => 11, "크로스사이트 스크립팅", "Cross-site scripting";
    BF => 12, "약한 문자열 강도", "Weak password strength";
    IA => 13, "불충분한 인증", "Insufficient authentication";
    PR => 14, "취약한 패스워드 복구", "Weak password recovery";
    CF => 15, "크로스사이트 리퀘스트 변조(CSRF)", "Cross-site request forgery";
    SP => 16, "세션 예측", "Session prediction";
    IN => 17, "불충분한 인가", "Insufficient authorization";
    SC => 18, "불충분한 세션 만료", "Insufficient session expiration";
    SF => 19, "세션 고정", "Session fixation";
    AU => 20, "자동화 공격", "Automated attacks";
    PV => 21, "프로세스 검증 누락", "Missing process validation";
    FU => 22, "파일 업로드", "File upload";
    FD => 23, "파일 다운로드", "File download";
    AE => 24, "관리자 페이지 노출", "Administration page exposure";
    PT => 25, "경로 추적", "Path traversal";
    PL => 26, "위치 공개", "Predictable resource location";
    SN => 27, "데이터 평문 전송", "Plain-text data transfer";
    CC => 28, "쿠키 변조", "Cookie tampering";
}

impl fmt::Display for Kisa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name_ko())
    }
}

/// How a check is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// CWE number (the catalogue's).
    pub cwe: Option<u32>,
    /// OWASP Top 10 (2021) category.
    pub owasp: Option<Owasp>,
    /// KISA web item, where one applies.
    pub kisa: Option<Kisa>,
    /// What the check tests and why it matters, for reports and SARIF help.
    pub help: &'static str,
}

/// The classification of `check`; a team's `x.` check has none but its CWE.
pub fn classify(check: &CheckId) -> Classification {
    use CheckId as C;
    use Kisa::*;
    use Owasp::*;
    let (owasp, kisa, help): (Owasp, Option<Kisa>, &'static str) = match check {
        C::DnsDanglingCname => (
            A05,
            None,
            "A CNAME points at a name that no longer resolves. Whoever registers that name serves content under the agency's host.",
        ),
        C::DnsTakeover => (
            A05,
            None,
            "The name points at a cloud resource its provider says is unclaimed: anyone can claim it and serve content, cookies and phishing pages under the agency's host.",
        ),
        C::DnsAxfrOpen => (
            A05,
            None,
            "The name server hands its whole zone to anyone who asks, listing every internal and forgotten host.",
        ),
        C::DnsSpfMissing => (
            A05,
            None,
            "Without SPF, receiving mail servers cannot tell mail from the agency's servers from forged mail.",
        ),
        C::DnsSpfPermissive => {
            (A05, None, "An SPF record ending in +all or ?all lets any server send mail as the domain.")
        }
        C::DnsDmarcMissing => (
            A05,
            None,
            "Without DMARC, receivers are told nothing about what to do with mail that fails SPF and DKIM, and the agency gets no reports.",
        ),
        C::DnsDmarcWeak => (A05, None, "A DMARC policy of p=none only monitors: forged mail is still delivered."),
        C::DnsCaaMissing => {
            (A05, None, "Without CAA records any certificate authority may issue certificates for the domain.")
        }
        C::DnsPointsOutOfScope => (
            A05,
            None,
            "An in-scope name points at an address or name outside the authorization; it was not probed. Check that the target is still the agency's.",
        ),
        C::DnsDnssecMissing => (
            A08,
            None,
            "The zone is not signed: resolvers cannot tell the agency's answers from forged ones (cache poisoning, spoofed mail and web addresses).",
        ),
        C::DnsDnssecExpired => (
            A08,
            None,
            "A DNSSEC signature of the zone has expired or is about to: validating resolvers will then refuse every name in the zone.",
        ),
        C::TlsCertExpired => (
            A02,
            None,
            "Browsers refuse an expired or not-yet-valid certificate, and users learn to click through warnings.",
        ),
        C::TlsCertExpiring => (A02, None, "The certificate expires soon; renew it before the service breaks."),
        C::TlsCertUntrusted => (
            A07,
            None,
            "The certificate is self-signed or from an unknown issuer, so clients cannot tell the server from an impostor.",
        ),
        C::TlsCertHostnameMismatch => {
            (A07, None, "The certificate does not name the host it is served for, so clients cannot verify the server.")
        }
        C::TlsWeakKey => (A02, None, "The certificate's key is too small to resist factoring or discrete-log attacks."),
        C::TlsWeakSignature => {
            (A02, None, "The certificate is signed with SHA-1 or MD5, for which collisions can be made.")
        }
        C::TlsWeakCipher => (
            A02,
            None,
            "The server accepts a cipher suite outside Mozilla's intermediate profile (RC4, 3DES, NULL, EXPORT, anonymous or static RSA).",
        ),
        C::TlsWeakDh => (
            A02,
            None,
            "The server's DHE group is smaller than 2048 bits and can be broken by a well-funded attacker (Logjam).",
        ),
        C::TlsLegacyProtocol => (
            A02,
            None,
            "The server accepts SSLv3, TLS 1.0 or TLS 1.1, which have known attacks and are deprecated (RFC 8996).",
        ),
        C::HttpNoHttpsRedirect => (
            A02,
            Some(SN),
            "Plain HTTP serves the site instead of redirecting to HTTPS, so logins and data can travel in clear text.",
        ),
        C::HttpHstsMissing => (
            A02,
            Some(SN),
            "Without a long Strict-Transport-Security header, a network attacker can strip HTTPS on a user's first visit.",
        ),
        C::HttpCspMissing => {
            (A05, None, "Without a Content-Security-Policy, an injected script runs with the page's full rights.")
        }
        C::HttpXctoMissing => (
            A05,
            None,
            "Without X-Content-Type-Options: nosniff, browsers may guess content types and run uploads as scripts.",
        ),
        C::HttpClickjacking => (
            A05,
            None,
            "The page can be framed by any site (no frame-ancestors or X-Frame-Options), so users can be tricked into clicks.",
        ),
        C::HttpVersionDisclosure => (
            A05,
            Some(IL),
            "Response headers or pages name the server software and version, which tells attackers which exploits to try.",
        ),
        C::HttpCookieInsecure => (
            A05,
            Some(CC),
            "A cookie lacks Secure, HttpOnly or SameSite, so it can leak over HTTP, to scripts or to cross-site requests.",
        ),
        C::HttpCorsReflectCredentials => (
            A05,
            Some(CF),
            "The server reflects any Origin with credentials allowed, so any site can read authenticated responses.",
        ),
        C::HttpOpenRedirect => {
            (A01, None, "A parameter redirects to any foreign site, lending the agency's name to phishing links.")
        }
        C::HttpDirectoryListing => {
            (A01, Some(DI), "The server lists directory contents, exposing files never meant to be linked.")
        }
        C::HttpExposedGit => (
            A01,
            Some(PL),
            "The .git directory is served: the source code, its history and any secrets in it can be downloaded.",
        ),
        C::HttpExposedEnv => {
            (A01, Some(PL), "An environment file (.env) is served; such files hold database passwords and API keys.")
        }
        C::HttpExposedBackup => (
            A01,
            Some(PL),
            "A backup or archive file is served from a predictable location, often with source code or data.",
        ),
        C::HttpExposedStatusPage => {
            (A05, Some(IL), "A server status page shows internal addresses, requests and configuration.")
        }
        C::HttpExposedActuator => (
            A05,
            Some(AE),
            "Spring Boot actuator endpoints expose configuration, environment and sometimes heap dumps without authentication.",
        ),
        C::HttpExposedPhpinfo => {
            (A05, Some(PL), "A phpinfo() page shows the full PHP configuration, paths and environment variables.")
        }
        C::HttpExposedAdmin => (
            A01,
            Some(AE),
            "An administration interface is reachable from the internet, inviting password guessing and exploits.",
        ),
        C::HttpExposedApiDocs => {
            (A05, Some(IL), "API documentation (Swagger/OpenAPI) is public and maps every endpoint for an attacker.")
        }
        C::HttpPublicBucketListing => {
            (A01, Some(DI), "A storage bucket lists its objects to anyone; private files may be among them.")
        }
        C::HttpSecretInResponse => (
            A01,
            Some(IL),
            "A response contains a secret (key, token or password); treat it as compromised and rotate it.",
        ),
        C::SvcRedisNoauth => (
            A07,
            None,
            "Redis answers commands without a password; anyone can read, change or delete its data, and often run code.",
        ),
        C::SvcDockerApi => {
            (A07, Some(IA), "The Docker Engine API answers without authentication, which gives root on the host.")
        }
        C::SvcElasticsearchOpen => {
            (A07, Some(IA), "Elasticsearch answers without authentication; its indexes can be read and deleted.")
        }
        C::SvcKubernetesApi => (
            A07,
            Some(IA),
            "The Kubernetes API server is reachable; anonymous access or a leaked token gives control of the cluster.",
        ),
        C::SvcDatabaseExposed => (
            A05,
            None,
            "A database service is reachable from outside; it should only be reachable from the application servers.",
        ),
        C::SvcSshExposed => {
            (A05, None, "SSH is reachable; make sure only keys are accepted and that it needs to be public.")
        }
        C::SvcRemoteDesktopExposed => (
            A05,
            None,
            "A remote desktop service (RDP, VNC) is reachable, a common target of password guessing and exploits.",
        ),
        C::MigrationLegacyOriginLive => (
            A05,
            None,
            "The host's legacy (pre-migration) origin still serves it, usually unpatched and outside the new protections.",
        ),
        C::HttpTraceEnabled => (
            A05,
            None,
            "The server answers TRACE by echoing the request, which helps cross-site tracing and leaks headers added by proxies.",
        ),
        C::HttpSecurityTxtMissing => (
            A05,
            None,
            "No valid /.well-known/security.txt (RFC 9116): people who find a weakness have no published way to report it.",
        ),
        C::SoftwareEol => (
            A06,
            None,
            "The software's release line is past its end of life: its vendor no longer fixes vulnerabilities in it.",
        ),
        C::SoftwareKnownExploited => (
            A06,
            None,
            "The software version falls in a range of CISA's Known Exploited Vulnerabilities catalogue: attackers are using it.",
        ),
        C::Custom(_) => return Classification { cwe: None, owasp: None, kisa: None, help: "" },
    };
    Classification { cwe: check.meta().and_then(|m| m.cwe), owasp: Some(owasp), kisa, help }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_check_is_classified_with_help() {
        for check in CheckId::BUILTIN {
            let c = classify(check);
            assert!(c.owasp.is_some(), "{check}");
            assert!(c.help.len() > 20 && c.help.ends_with('.'), "{check}");
            assert_eq!(c.cwe, check.meta().and_then(|m| m.cwe), "{check}");
        }
        assert_eq!(classify(&CheckId::HttpDirectoryListing).kisa, Some(Kisa::DI));
        assert_eq!(classify(&CheckId::HttpExposedAdmin).kisa.map(Kisa::code), Some("AE"));
        assert_eq!(classify(&CheckId::Custom("x.team".into())).owasp, None);
    }

    #[test]
    fn kisa_items_are_numbered_in_order() {
        for (i, k) in Kisa::ALL.iter().enumerate() {
            assert_eq!(usize::from(k.number()), i + 1, "{k}");
        }
        assert_eq!(Kisa::SN.to_string(), "SN 데이터 평문 전송");
    }
}
