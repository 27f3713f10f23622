//! Protocol checks (code, not templates): DNS and mail hygiene, zone
//! transfers, CNAME chains, service banners. Each check turns what the guard
//! saw into [`Observation`]s; none of them opens a socket itself.

pub(crate) mod dnssec;
pub mod mail;
pub(crate) mod maildomain;
pub(crate) mod migration;
pub(crate) mod names;
pub(crate) mod security_txt;
pub(crate) mod services;
pub(crate) mod ssh;
pub mod takeover;
pub(crate) mod tls;
pub(crate) mod trace;
pub(crate) mod web;
pub(crate) mod zone;

use haetae_findings::{Asset, CheckId, Confidence, Observation};

/// Build an observation with the catalogue defaults and our remediation text.
pub(crate) fn observe(
    check: CheckId,
    engagement: &str,
    asset: Asset,
    location: &str,
    evidence: String,
    audit: &[u64],
) -> Observation {
    let mut o = Observation::new(check.clone(), asset, location, engagement);
    o.evidence = evidence;
    o.confidence = Confidence::Certain;
    o.audit = audit.to_vec();
    let (remediation, references) = guidance(&check);
    o.remediation = remediation.to_owned();
    o.references = references.iter().map(|r| (*r).to_owned()).collect();
    o
}

/// Remediation and references of the checks implemented in code.
pub(crate) fn guidance(check: &CheckId) -> (&'static str, &'static [&'static str]) {
    match check {
        CheckId::DnsDanglingCname => (
            "Remove the CNAME record, or re-create the resource it points to. A dangling alias can be claimed by anyone who registers the target.",
            &[
                "https://www.rfc-editor.org/rfc/rfc1034",
                "https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/02-Configuration_and_Deployment_Management_Testing/10-Test_for_Subdomain_Takeover",
            ],
        ),
        CheckId::DnsAxfrOpen => (
            "Restrict zone transfers to the secondary name servers (allow-transfer / acl with TSIG keys).",
            &["https://www.rfc-editor.org/rfc/rfc5936", "https://cwe.mitre.org/data/definitions/200.html"],
        ),
        CheckId::DnsSpfMissing => (
            "Publish one SPF TXT record at the domain apex that lists the real senders and ends in -all (\"v=spf1 -all\" for a domain that sends no mail).",
            &["https://www.rfc-editor.org/rfc/rfc7208"],
        ),
        CheckId::DnsSpfPermissive => (
            "End the SPF record with -all (or ~all while migrating); +all and ?all let any host send mail as the domain.",
            &["https://www.rfc-editor.org/rfc/rfc7208#section-5.1"],
        ),
        CheckId::DnsDmarcMissing => (
            "Publish a DMARC record at _dmarc.<domain>, starting with p=none plus rua reporting, then move to quarantine or reject.",
            &["https://www.rfc-editor.org/rfc/rfc7489"],
        ),
        CheckId::DnsDmarcWeak => (
            "Move the DMARC policy from p=none to p=quarantine or p=reject once reports show legitimate mail aligns.",
            &["https://www.rfc-editor.org/rfc/rfc7489#section-6.3"],
        ),
        CheckId::DnsCaaMissing => (
            "Publish CAA records naming the certificate authorities the agency uses (e.g. 0 issue \"letsencrypt.org\").",
            &["https://www.rfc-editor.org/rfc/rfc8659"],
        ),
        CheckId::DnsPointsOutOfScope => (
            "Confirm whether the target is the agency's; if it is, add it to the authorization; if not, remove the record.",
            &[],
        ),
        CheckId::TlsCertExpired => (
            "Renew the certificate and automate renewal (ACME); monitor expiry.",
            &["https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5"],
        ),
        CheckId::TlsCertExpiring => (
            "Renew the certificate before it expires and automate renewal (ACME).",
            &["https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5"],
        ),
        CheckId::TlsCertUntrusted => (
            "Serve a certificate from a trusted CA (public, or the agency PKI listed in extra_roots) with its full intermediate chain.",
            &["https://www.rfc-editor.org/rfc/rfc5280#section-6"],
        ),
        CheckId::TlsCertHostnameMismatch => (
            "Issue a certificate whose subjectAltName lists this host name.",
            &["https://www.rfc-editor.org/rfc/rfc6125#section-6.4"],
        ),
        CheckId::TlsWeakKey => (
            "Re-key with RSA 2048 bits or more, or ECDSA P-256 or stronger, and re-issue the certificate.",
            &["https://wiki.mozilla.org/Security/Server_Side_TLS"],
        ),
        CheckId::TlsWeakSignature => (
            "Re-issue the certificate (and intermediates) signed with SHA-256 or stronger.",
            &["https://www.rfc-editor.org/rfc/rfc9155"],
        ),
        CheckId::TlsWeakCipher => (
            "Offer only the cipher suites of Mozilla's intermediate profile (ECDHE/DHE with AES-GCM or ChaCha20).",
            &["https://wiki.mozilla.org/Security/Server_Side_TLS", "https://ssl-config.mozilla.org/"],
        ),
        CheckId::TlsWeakDh => (
            "Use a DHE group of at least 2048 bits (ffdhe2048, RFC 7919) or disable DHE in favour of ECDHE.",
            &["https://www.rfc-editor.org/rfc/rfc7919", "https://weakdh.org/"],
        ),
        CheckId::TlsLegacyProtocol => (
            "Disable SSLv3, TLS 1.0 and TLS 1.1; allow TLS 1.2 and 1.3 only.",
            &["https://www.rfc-editor.org/rfc/rfc8996"],
        ),
        CheckId::HttpNoHttpsRedirect => (
            "Redirect every plain-HTTP request to HTTPS (301 to https://same-host/same-path) and enable HSTS.",
            &[
                "https://cheatsheetseries.owasp.org/cheatsheets/Transport_Layer_Security_Cheat_Sheet.html",
                "https://cwe.mitre.org/data/definitions/319.html",
            ],
        ),
        CheckId::MigrationLegacyOriginLive => (
            "Decommission the legacy origin (stop the service, release or firewall the address) once traffic has moved; until then, keep it patched, or have it redirect to the new origin instead of serving the site.",
            &[
                "https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/02-Configuration_and_Deployment_Management_Testing/",
            ],
        ),
        CheckId::SvcSshExposed => (
            "Limit SSH to management networks or a bastion, keep OpenSSH current, and allow key-based authentication only.",
            &["https://www.rfc-editor.org/rfc/rfc4253#section-4.2", "https://cwe.mitre.org/data/definitions/668.html"],
        ),
        CheckId::DnsDnssecMissing => (
            "Sign the zone (e.g. knot's `dnssec-signing: on` or BIND's `dnssec-policy default`) and publish the DS record at the parent.",
            &["https://www.rfc-editor.org/rfc/rfc4033", "https://www.rfc-editor.org/rfc/rfc9364"],
        ),
        CheckId::DnsDnssecExpired => (
            "Re-sign the zone now and make signing automatic (knot or BIND with a dnssec-policy re-sign well before expiry); check that the signer is running.",
            &["https://www.rfc-editor.org/rfc/rfc4034#section-3.1.5", "https://www.rfc-editor.org/rfc/rfc6781"],
        ),
        CheckId::HttpTraceEnabled => (
            "Disable the TRACE method (Apache: `TraceEnable off`; nginx answers 405 by default; IIS: request filtering).",
            &[
                "https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/02-Configuration_and_Deployment_Management_Testing/06-Test_HTTP_Methods",
                "https://cwe.mitre.org/data/definitions/693.html",
            ],
        ),
        CheckId::HttpSecurityTxtMissing => (
            "Publish /.well-known/security.txt with at least Contact: and Expires: fields (RFC 9116), served over HTTPS as text/plain.",
            &["https://www.rfc-editor.org/rfc/rfc9116"],
        ),
        CheckId::SoftwareEol => (
            "Upgrade to a supported release line, or confirm in writing that the distribution still ships security fixes for this package.",
            &["https://endoflife.date/", "https://cwe.mitre.org/data/definitions/1104.html"],
        ),
        CheckId::SoftwareKnownExploited => (
            "Upgrade now to a version outside the vulnerable range (see the CVE ids in the evidence); if the banner is a distribution's, check its security tracker.",
            &[
                "https://www.cisa.gov/known-exploited-vulnerabilities-catalog",
                "https://cwe.mitre.org/data/definitions/1395.html",
            ],
        ),
        _ => ("", &[]),
    }
}
