//! The lab's DNS zones, written as data, and their conversion to wire records.
//!
//! Eight zones are served authoritatively:
//!
//! * `agency.test`: the weak target (permissive SPF, weak DMARC, no CAA,
//!   open zone transfer, a dangling CNAME, names pointing out of scope, and
//!   the weak TLS endpoints);
//! * `hardened.test`: the same shape done right (nothing to find), with a
//!   sound TLS endpoint;
//! * `oldmail.test`: a forgotten domain with no SPF and no DMARC record;
//! * `agency-cdn.test`: SOA and NS only, so `gone.agency-cdn.test` does not exist;
//! * `othercorp.test`: another organisation, out of scope;
//! * `unknown-cloud.test`: a cloud outside the scope's domains, on addresses
//!   inside its cidrs (`cloud.rs`);
//! * `kr.object.gov-ncloudstorage.com`: the lab's stand-in for Naver Cloud's
//!   public-sector object store (in the lab's scope);
//! * `azurewebsites.net`: SOA and NS only, so an app that is gone is NXDOMAIN.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::ProtoError;
use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, MX, NS, NULL, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The lab's object store (`provider.rs`).
pub(crate) const OBJECT_STORE_ADDR: Ipv4Addr = Ipv4Addr::new(127, 77, 3, 10);

/// TTL of every lab record (and the SOA negative-caching minimum).
pub(crate) const TTL: u32 = 300;

/// Serial of every lab zone.
pub(crate) const SERIAL: u32 = 2026112901;

/// The name server address the zones' `ns1` names point at.
pub(crate) const NS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 53);

/// One record's data, as written in the zone table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Data {
    A(Ipv4Addr),
    #[allow(dead_code, reason = "the lab has no AAAA today; kept so a zone can grow one")]
    Aaaa(Ipv6Addr),
    Cname(&'static str),
    Mx(u16, &'static str),
    Ns(&'static str),
    Txt(&'static str),
    /// `CAA 0 issue "<issuer>"`
    CaaIssue(&'static str),
    /// A DNSKEY (flags 257, algorithm 13) whose key bytes are filler: the lab
    /// serves DNSSEC records for their presence and dates, not to validate.
    Dnskey,
    /// An RRSIG over the owner's RRset of the given type, signed by the zone,
    /// valid from `inception_days` to `expiration_days` relative to the lab's
    /// start (negative: in the past); the signature bytes are filler.
    Rrsig {
        covered: RecordType,
        inception_days: i64,
        expiration_days: i64,
    },
}

/// One record: owner relative to the zone origin (`"@"` is the apex).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rr {
    pub(crate) owner: &'static str,
    pub(crate) data: Data,
}

const fn rr(owner: &'static str, data: Data) -> Rr {
    Rr { owner, data }
}

/// One zone as data. The SOA is derived from `mname`/`rname`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZoneSpec {
    pub(crate) origin: &'static str,
    pub(crate) mname: &'static str,
    pub(crate) rname: &'static str,
    /// Whether AXFR is answered (to anyone) or REFUSED.
    pub(crate) allow_axfr: bool,
    pub(crate) records: &'static [Rr],
}

/// The lab's zones.
pub(crate) const ZONES: &[ZoneSpec] = &[
    ZoneSpec {
        origin: "agency.test.",
        mname: "ns1.agency.test.",
        rname: "hostmaster.agency.test.",
        allow_axfr: true, // dns.axfr-open
        records: &[
            rr("@", Data::Ns("ns1.agency.test.")),
            rr("ns1", Data::A(NS_ADDR)),
            // The apex web site, HTTPS (tls/mod.rs): http.security-txt-missing.
            rr("@", Data::A(Ipv4Addr::new(127, 77, 1, 10))),
            rr("@", Data::Mx(10, "mail.agency.test.")),
            rr("mail", Data::A(Ipv4Addr::new(127, 77, 1, 25))),
            // A mail domain below the apex (MX, no SPF, no DMARC of its own):
            // dns.spf-missing, and dns.dmarc-weak from agency.test's p=none
            // (no sp=), RFC 7489 section 6.6.3.
            rr("newsletter", Data::Mx(10, "mail.agency.test.")),
            // dns.dnssec-missing: no DNSKEY anywhere in the zone.
            // dns.spf-permissive
            rr("@", Data::Txt("v=spf1 ip4:127.77.1.25 +all")),
            // dns.dmarc-weak
            rr("_dmarc", Data::Txt("v=DMARC1; p=none; rua=mailto:dmarc@agency.test")),
            // dns.caa-missing: no CAA anywhere in the zone.
            // svc.ssh-exposed: the SSH-like banner listens on this address.
            rr("www", Data::A(Ipv4Addr::new(127, 77, 1, 20))),
            // The weak web server (http.* content checks).
            rr("portal", Data::A(Ipv4Addr::new(127, 77, 1, 50))),
            // dns.dangling-cname: agency-cdn.test is served and has no `gone`.
            rr("old", Data::Cname("gone.agency-cdn.test.")),
            // dns.points-out-of-scope: 127.99.0.0 is outside 127.77.0.0/20.
            rr("legacy", Data::A(Ipv4Addr::new(127, 99, 0, 1))),
            // dns.points-out-of-scope: edge.othercorp.test is 127.99.0.2.
            rr("cdn", Data::Cname("edge.othercorp.test.")),
            // dns.takeover: a bucket nobody owns any more, in an in-scope object store.
            rr("files", Data::Cname("agency-files.kr.object.gov-ncloudstorage.com.")),
            // dns.takeover (DNS evidence only): an out-of-scope app service that is gone.
            rr("oldapp", Data::Cname("agency-legacy-app.azurewebsites.net.")),
            // CNAMEd out of domains to in-scope addresses (cloud.rs): probed as
            // themselves. http.no-https-redirect under docs; dns.takeover by
            // fingerprint (NoSuchBucket) under assets.
            rr("docs", Data::Cname("agency-docs.unknown-cloud.test.")),
            rr("assets", Data::Cname("agency-assets.unknown-cloud.test.")),
            // Excluded in the scope: must never be contacted.
            rr("payments", Data::A(Ipv4Addr::new(127, 77, 1, 30))),
            // TLS endpoints (tls/mod.rs), one weakness each:
            // tls.cert-expired
            rr("expired", Data::A(Ipv4Addr::new(127, 77, 1, 41))),
            // tls.cert-expiring
            rr("expiring", Data::A(Ipv4Addr::new(127, 77, 1, 42))),
            // tls.cert-untrusted
            rr("selfsigned", Data::A(Ipv4Addr::new(127, 77, 1, 43))),
            // tls.cert-hostname-mismatch
            rr("wronghost", Data::A(Ipv4Addr::new(127, 77, 1, 44))),
            // tls.weak-key
            rr("weakkey", Data::A(Ipv4Addr::new(127, 77, 1, 45))),
            // tls.weak-signature
            rr("weaksig", Data::A(Ipv4Addr::new(127, 77, 1, 46))),
            // tls.legacy-protocol, tls.weak-cipher, tls.weak-dh
            rr("tls10", Data::A(Ipv4Addr::new(127, 77, 1, 47))),
            // HTTPS sites (web.rs): http.hsts-missing, http.cookie-insecure
            rr("secure", Data::A(Ipv4Addr::new(127, 77, 1, 48))),
            // svc.docker-api
            rr("docker", Data::A(Ipv4Addr::new(127, 77, 1, 51))),
            // svc.elasticsearch-open
            rr("search", Data::A(Ipv4Addr::new(127, 77, 1, 52))),
            // svc.kubernetes-api
            rr("k8s", Data::A(Ipv4Addr::new(127, 77, 1, 53))),
            // http.public-bucket-listing
            rr("bucket", Data::A(Ipv4Addr::new(127, 77, 1, 54))),
            // Services (services.rs): svc.redis-noauth, svc.database-exposed,
            // svc.remote-desktop-exposed
            rr("redis", Data::A(Ipv4Addr::new(127, 77, 1, 60))),
            rr("mysql", Data::A(Ipv4Addr::new(127, 77, 1, 61))),
            rr("postgres", Data::A(Ipv4Addr::new(127, 77, 1, 62))),
            rr("mongo", Data::A(Ipv4Addr::new(127, 77, 1, 63))),
            rr("remote", Data::A(Ipv4Addr::new(127, 77, 1, 64))),
            rr("vnc", Data::A(Ipv4Addr::new(127, 77, 1, 65))),
        ],
    },
    ZoneSpec {
        origin: "hardened.test.",
        mname: "ns1.hardened.test.",
        rname: "hostmaster.hardened.test.",
        allow_axfr: false,
        records: &[
            rr("@", Data::Ns("ns1.hardened.test.")),
            rr("ns1", Data::A(NS_ADDR)),
            // The apex web site, HTTPS, with a valid security.txt.
            rr("@", Data::A(Ipv4Addr::new(127, 77, 2, 10))),
            rr("@", Data::Mx(10, "mail.hardened.test.")),
            rr("mail", Data::A(Ipv4Addr::new(127, 77, 2, 25))),
            rr("@", Data::Txt("v=spf1 mx -all")),
            rr("_dmarc", Data::Txt("v=DMARC1; p=reject; rua=mailto:dmarc@hardened.test")),
            // The mail host sends as itself (SPF for its HELO name) with no
            // DMARC record of its own: hardened.test's p=reject (no sp=) applies.
            rr("mail", Data::Txt("v=spf1 a -all")),
            // Signed (presence and dates; the bytes do not validate), well before expiry.
            rr("@", Data::Dnskey),
            rr("@", Data::Rrsig { covered: RecordType::SOA, inception_days: -1, expiration_days: 30 }),
            rr("@", Data::Rrsig { covered: RecordType::DNSKEY, inception_days: -1, expiration_days: 30 }),
            rr("@", Data::CaaIssue("letsencrypt.org")),
            rr("www", Data::A(Ipv4Addr::new(127, 77, 2, 20))),
            // The hardened web server.
            rr("app", Data::A(Ipv4Addr::new(127, 77, 2, 50))),
            // A bucket that exists (private): no takeover.
            rr("static", Data::Cname("hardened-assets.kr.object.gov-ncloudstorage.com.")),
            // The same, at a cloud the scope does not name (cloud.rs).
            rr("files", Data::Cname("hardened-files.unknown-cloud.test.")),
            // A Redis that asks for a password.
            rr("db", Data::A(Ipv4Addr::new(127, 77, 2, 60))),
            // An alias to a name no word list guesses: found through the CNAME.
            rr("secure", Data::Cname("tls.hardened.test.")),
            rr("login", Data::Cname("sso-backend-7.hardened.test.")),
            rr("sso-backend-7", Data::A(Ipv4Addr::new(127, 77, 2, 30))),
            // A TLS endpoint done right (tls/mod.rs).
            rr("tls", Data::A(Ipv4Addr::new(127, 77, 2, 40))),
        ],
    },
    ZoneSpec {
        origin: "oldmail.test.",
        mname: "ns1.agency.test.",
        rname: "hostmaster.oldmail.test.",
        allow_axfr: false,
        records: &[
            rr("@", Data::Ns("ns1.agency.test.")),
            // Parked: nothing listens there (no apex web site to judge).
            rr("@", Data::A(Ipv4Addr::new(127, 77, 3, 11))),
            // dns.spf-missing: a TXT record, but not an SPF one.
            rr("@", Data::Txt("google-site-verification=lab-0001")),
            // dns.dmarc-missing: no _dmarc name at all.
            rr("@", Data::CaaIssue("letsencrypt.org")),
            // dns.dnssec-expired: the signer stopped; the SOA's signature
            // expired three days ago (the DNSKEY's is still current).
            rr("@", Data::Dnskey),
            rr("@", Data::Rrsig { covered: RecordType::SOA, inception_days: -33, expiration_days: -3 }),
            rr("@", Data::Rrsig { covered: RecordType::DNSKEY, inception_days: -1, expiration_days: 30 }),
        ],
    },
    ZoneSpec {
        origin: "agency-cdn.test.",
        mname: "ns1.agency.test.",
        rname: "hostmaster.agency.test.",
        allow_axfr: false,
        records: &[rr("@", Data::Ns("ns1.agency.test."))],
    },
    // A Korean public-sector object store, in the lab's scope: its endpoint
    // may be asked whether a bucket exists.
    ZoneSpec {
        origin: "kr.object.gov-ncloudstorage.com.",
        mname: "ns1.agency.test.",
        rname: "hostmaster.agency.test.",
        allow_axfr: false,
        records: &[
            rr("@", Data::Ns("ns1.agency.test.")),
            rr("agency-files", Data::A(OBJECT_STORE_ADDR)),
            rr("hardened-assets", Data::A(OBJECT_STORE_ADDR)),
        ],
    },
    // An app service provider outside the scope where the old app is gone.
    ZoneSpec {
        origin: "azurewebsites.net.",
        mname: "ns1.agency.test.",
        rname: "hostmaster.agency.test.",
        allow_axfr: false,
        records: &[rr("@", Data::Ns("ns1.agency.test."))],
    },
    // A cloud outside the scope's domains whose addresses are in its cidrs (cloud.rs).
    ZoneSpec {
        origin: "unknown-cloud.test.",
        mname: "ns1.agency.test.",
        rname: "hostmaster.agency.test.",
        allow_axfr: false,
        records: &[
            rr("@", Data::Ns("ns1.agency.test.")),
            rr("agency-docs", Data::A(crate::cloud::DOCS_IP)),
            rr("agency-assets", Data::A(crate::cloud::GONE_BUCKET_IP)),
            rr("hardened-files", Data::A(crate::cloud::LIVE_BUCKET_IP)),
        ],
    },
    ZoneSpec {
        origin: "othercorp.test.",
        mname: "ns1.othercorp.test.",
        rname: "hostmaster.othercorp.test.",
        allow_axfr: false,
        records: &[rr("@", Data::Ns("ns1.othercorp.test.")), rr("edge", Data::A(Ipv4Addr::new(127, 99, 0, 2)))],
    },
];

/// A zone ready to answer from.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) origin: Name,
    pub(crate) allow_axfr: bool,
    pub(crate) soa: Record,
    /// Every record of the zone, the SOA first.
    pub(crate) records: Vec<Record>,
}

impl Zone {
    /// The records owned by `name` (case-insensitive).
    pub(crate) fn at<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| &r.name == name)
    }

    /// Whether `name` exists in the zone: it owns records, or is an empty
    /// non-terminal above a name that does.
    pub(crate) fn exists(&self, name: &Name) -> bool {
        self.records.iter().any(|r| name.zone_of(&r.name))
    }

    /// The records of a full zone transfer: SOA, every other record, SOA.
    pub(crate) fn transfer(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.records.len() + 1);
        out.push(self.soa.clone());
        out.extend(self.records.iter().filter(|r| r.record_type() != RecordType::SOA).cloned());
        out.push(self.soa.clone());
        out
    }
}

fn owner_name(origin: &Name, owner: &str) -> Result<Name, ProtoError> {
    if owner == "@" { Ok(origin.clone()) } else { Name::from_ascii(owner)?.append_domain(origin) }
}

/// `unix` as the 32-bit time of an RRSIG (RFC 4034 section 3.1.5: modulo 2^32).
fn rrsig_time(unix: i64) -> [u8; 4] {
    u32::try_from(unix.rem_euclid(1 << 32)).unwrap_or(0).to_be_bytes()
}

/// The rdata of a lab RRSIG (RFC 4034 section 3.1) by `origin` over `owner`'s
/// `covered` RRset, with filler for the signature.
fn rrsig(origin: &Name, owner: &Name, covered: RecordType, inception_days: i64, expiration_days: i64) -> Vec<u8> {
    let now = crate::clock::now_unix();
    let mut b = Vec::with_capacity(128);
    b.extend(u16::from(covered).to_be_bytes());
    b.push(13); // ECDSA P-256 with SHA-256
    b.push(owner.num_labels());
    b.extend(TTL.to_be_bytes());
    b.extend(rrsig_time(now + expiration_days * crate::clock::DAY));
    b.extend(rrsig_time(now + inception_days * crate::clock::DAY));
    b.extend(LAB_KEY_TAG.to_be_bytes());
    for label in origin.iter() {
        b.push(u8::try_from(label.len()).unwrap_or(0));
        b.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    b.push(0);
    b.extend([0x5A; 64]);
    b
}

/// The key tag the lab's RRSIGs name.
const LAB_KEY_TAG: u16 = 4711;

fn rdata_at(origin: &Name, owner: &Name, data: Data) -> Result<RData, ProtoError> {
    Ok(match data {
        Data::Dnskey => {
            let mut key = vec![1, 1, 3, 13]; // flags 257 (zone key, SEP), protocol 3, algorithm 13
            key.extend([0xA5; 64]);
            RData::Unknown { code: RecordType::DNSKEY, rdata: NULL::with(key) }
        }
        Data::Rrsig { covered, inception_days, expiration_days } => RData::Unknown {
            code: RecordType::RRSIG,
            rdata: NULL::with(rrsig(origin, owner, covered, inception_days, expiration_days)),
        },
        other => rdata(other)?,
    })
}

fn rdata(data: Data) -> Result<RData, ProtoError> {
    Ok(match data {
        Data::A(ip) => RData::A(A(ip)),
        Data::Aaaa(ip) => RData::AAAA(AAAA(ip)),
        Data::Cname(target) => RData::CNAME(CNAME(Name::from_ascii(target)?)),
        Data::Mx(pref, exchange) => RData::MX(MX::new(pref, Name::from_ascii(exchange)?)),
        Data::Ns(host) => RData::NS(NS(Name::from_ascii(host)?)),
        Data::Txt(text) => RData::TXT(TXT::new(vec![text.to_owned()])),
        Data::CaaIssue(issuer) => RData::CAA(CAA::new_issue(false, Some(Name::from_ascii(issuer)?), Vec::new())),
        Data::Dnskey | Data::Rrsig { .. } => return Err(ProtoError::from("DNSSEC records need their owner")),
    })
}

/// Builds one zone from its spec.
pub(crate) fn build(spec: &ZoneSpec) -> Result<Zone, ProtoError> {
    let origin = Name::from_ascii(spec.origin)?;
    let soa = Record::from_rdata(
        origin.clone(),
        TTL,
        RData::SOA(SOA::new(
            Name::from_ascii(spec.mname)?,
            Name::from_ascii(spec.rname)?,
            SERIAL,
            3600,
            600,
            604_800,
            TTL,
        )),
    );
    let mut records = vec![soa.clone()];
    for r in spec.records {
        let owner = owner_name(&origin, r.owner)?;
        let data = rdata_at(&origin, &owner, r.data)?;
        records.push(Record::from_rdata(owner, TTL, data));
    }
    Ok(Zone { origin, allow_axfr: spec.allow_axfr, soa, records })
}

/// Whether `record` is an RRSIG over the RRset of type `qtype`.
pub(crate) fn covers(record: &Record, qtype: RecordType) -> bool {
    match &record.data {
        RData::Unknown { code: RecordType::RRSIG, rdata } => {
            rdata.anything.get(..2).is_some_and(|b| b == u16::from(qtype).to_be_bytes())
        }
        _ => false,
    }
}

/// Builds every lab zone.
pub(crate) fn build_all() -> Result<Vec<Zone>, ProtoError> {
    ZONES.iter().map(build).collect()
}

/// The most specific served zone containing `name`, if any.
pub(crate) fn find<'a>(zones: &'a [Zone], name: &Name) -> Option<&'a Zone> {
    zones.iter().filter(|z| z.origin.zone_of(name)).max_by_key(|z| z.origin.num_labels())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn zones_build_and_are_fqdn() {
        let zones = build_all().unwrap();
        assert_eq!(zones.len(), 8);
        for z in &zones {
            assert!(z.origin.is_fqdn());
            assert_eq!(z.records[0].record_type(), RecordType::SOA);
            for r in &z.records {
                assert!(r.name.is_fqdn(), "{}", r.name);
                assert!(z.origin.zone_of(&r.name), "{} outside {}", r.name, z.origin);
                assert_eq!(r.ttl, TTL);
            }
        }
    }

    #[test]
    fn find_picks_the_right_zone() {
        let zones = build_all().unwrap();
        assert_eq!(find(&zones, &name("www.agency.test.")).unwrap().origin, name("agency.test."));
        assert_eq!(find(&zones, &name("WWW.Agency.Test.")).unwrap().origin, name("agency.test."));
        assert_eq!(find(&zones, &name("gone.agency-cdn.test.")).unwrap().origin, name("agency-cdn.test."));
        assert!(find(&zones, &name("example.com.")).is_none());
        assert!(find(&zones, &name("test.")).is_none());
    }

    #[test]
    fn agency_has_no_caa_and_hardened_has_one() {
        let zones = build_all().unwrap();
        let has_caa = |z: &Zone| z.records.iter().any(|r| r.record_type() == RecordType::CAA);
        assert!(!has_caa(find(&zones, &name("agency.test.")).unwrap()));
        let hardened = find(&zones, &name("hardened.test.")).unwrap();
        assert!(has_caa(hardened));
        let caa = hardened.records.iter().find_map(|r| match &r.data {
            RData::CAA(c) => Some(c.clone()),
            _ => None,
        });
        let caa = caa.unwrap();
        assert_eq!(caa.tag, "issue");
        assert_eq!(caa.value, b"letsencrypt.org");
    }

    #[test]
    fn every_tls_endpoint_resolves_to_its_address() {
        let zones = build_all().unwrap();
        for spec in crate::tls::ENDPOINTS {
            let n = name(&format!("{}.", spec.name));
            let z = find(&zones, &n).unwrap();
            let ips: Vec<Ipv4Addr> = z
                .at(&n)
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            assert_eq!(ips, vec![spec.ip], "{}", spec.name);
        }
    }

    #[test]
    fn hardened_and_oldmail_carry_signatures_and_agency_none() {
        let zones = build_all().unwrap();
        let sigs = |z: &Zone, t: RecordType| z.records.iter().filter(|r| covers(r, t)).count();
        let keys = |z: &Zone| z.records.iter().filter(|r| r.record_type() == RecordType::DNSKEY).count();
        let agency = find(&zones, &name("agency.test.")).unwrap();
        assert_eq!((keys(agency), sigs(agency, RecordType::SOA)), (0, 0));
        for zone in ["hardened.test.", "oldmail.test."] {
            let z = find(&zones, &name(zone)).unwrap();
            assert_eq!((keys(z), sigs(z, RecordType::SOA), sigs(z, RecordType::DNSKEY)), (1, 1, 1), "{zone}");
        }
        // The oldmail SOA signature's expiration is in the past, hardened's ahead.
        let expiration = |z: &Zone| {
            z.records.iter().find(|r| covers(r, RecordType::SOA)).and_then(|r| match &r.data {
                RData::Unknown { rdata, .. } => {
                    rdata.anything.get(8..12).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                }
                _ => None,
            })
        };
        let now = u32::try_from(crate::clock::now_unix()).unwrap();
        assert!(expiration(find(&zones, &name("oldmail.test.")).unwrap()).unwrap() < now);
        assert!(expiration(find(&zones, &name("hardened.test.")).unwrap()).unwrap() > now + 20 * 86_400);
    }

    #[test]
    fn transfer_starts_and_ends_with_soa() {
        let zones = build_all().unwrap();
        let z = find(&zones, &name("agency.test.")).unwrap();
        let t = z.transfer();
        assert_eq!(t.first().unwrap().record_type(), RecordType::SOA);
        assert_eq!(t.last().unwrap().record_type(), RecordType::SOA);
        assert_eq!(t.len(), z.records.len() + 1);
    }

    #[test]
    fn existence_includes_empty_non_terminals_only_inside_the_zone() {
        let zones = build_all().unwrap();
        let z = find(&zones, &name("agency.test.")).unwrap();
        assert!(z.exists(&name("www.agency.test.")));
        assert!(!z.exists(&name("nope.agency.test.")));
        assert!(!z.exists(&name("x.www.agency.test.")));
    }
}
