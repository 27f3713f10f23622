//! Encoding queries and decoding responses.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData as HRData, RecordType as HType};

/// A record type haetae asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Alias.
    Cname,
    /// Mail exchanger.
    Mx,
    /// Name server.
    Ns,
    /// Text (SPF, DMARC).
    Txt,
    /// Certification authority authorization.
    Caa,
    /// Start of authority.
    Soa,
    /// DNSSEC public key (asked with the DO bit).
    Dnskey,
    /// Delegation signer, served by the parent (asked with the DO bit).
    Ds,
}

impl RecordType {
    fn to_hickory(self) -> HType {
        match self {
            RecordType::A => HType::A,
            RecordType::Aaaa => HType::AAAA,
            RecordType::Cname => HType::CNAME,
            RecordType::Mx => HType::MX,
            RecordType::Ns => HType::NS,
            RecordType::Txt => HType::TXT,
            RecordType::Caa => HType::CAA,
            RecordType::Soa => HType::SOA,
            RecordType::Dnskey => HType::DNSKEY,
            RecordType::Ds => HType::DS,
        }
    }

    /// Upper-case mnemonic (`AAAA`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Ns => "NS",
            RecordType::Txt => "TXT",
            RecordType::Caa => "CAA",
            RecordType::Soa => "SOA",
            RecordType::Dnskey => "DNSKEY",
            RecordType::Ds => "DS",
        }
    }

    /// Whether a query for this type sets the DNSSEC OK bit (RFC 3225), so
    /// the answer carries its RRSIGs: SOA and DNSKEY are the RRsets whose
    /// signatures the DNSSEC checks read; DS for the delegation. Other
    /// queries stay without it (smaller answers, fewer TCP retries).
    pub fn dnssec_ok(self) -> bool {
        matches!(self, RecordType::Soa | RecordType::Dnskey | RecordType::Ds)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Record data haetae reads; names are lowercase without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Alias target.
    Cname(String),
    /// Mail exchanger.
    Mx {
        /// Preference.
        preference: u16,
        /// Exchange host.
        exchange: String,
    },
    /// Name server host.
    Ns(String),
    /// The character-strings of a TXT record, concatenated (RFC 7208 section 3.3).
    Txt(String),
    /// CAA property.
    Caa {
        /// Issuer-critical flag.
        critical: bool,
        /// Tag (`issue`, `issuewild`, `iodef`).
        tag: String,
        /// Value as text.
        value: String,
    },
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: String,
        /// Responsible mailbox.
        rname: String,
        /// Serial.
        serial: u32,
    },
    /// A signature's fixed fields (RFC 4034 section 3.1); the signature
    /// itself is not kept (haetae reads dates, it does not validate).
    Rrsig(Rrsig),
    /// A DNSSEC public key's fixed fields (RFC 4034 section 2.1).
    Dnskey {
        /// Flags (256: zone key; 257: zone key with SEP, a KSK).
        flags: u16,
        /// Algorithm number.
        algorithm: u8,
    },
    /// A delegation signer (RFC 4034 section 5.1).
    Ds {
        /// Key tag of the DNSKEY it names.
        key_tag: u16,
        /// Algorithm number.
        algorithm: u8,
    },
    /// Anything else, by type number.
    Other(u16),
}

/// The fixed fields of an RRSIG (RFC 4034 section 3.1). Times are the wire's
/// 32-bit seconds, compared with serial number arithmetic (section 3.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrsig {
    /// The type number of the RRset it signs.
    pub type_covered: u16,
    /// Algorithm number.
    pub algorithm: u8,
    /// Labels of the owner name.
    pub labels: u8,
    /// TTL of the signed RRset at the signer.
    pub original_ttl: u32,
    /// Signature expiration (seconds since 1970, modulo 2^32).
    pub expiration: u32,
    /// Signature inception (seconds since 1970, modulo 2^32).
    pub inception: u32,
    /// Key tag of the signing key.
    pub key_tag: u16,
    /// Signer's name, lowercase without the trailing dot (empty when it does not parse).
    pub signer: String,
}

impl Rrsig {
    /// Parse an RRSIG's rdata; `None` when shorter than its fixed fields.
    /// Never panics, whatever the bytes.
    pub fn parse(rdata: &[u8]) -> Option<Rrsig> {
        let u16_at = |i: usize| rdata.get(i..i + 2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes);
        let u32_at = |i: usize| rdata.get(i..i + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
        Some(Rrsig {
            type_covered: u16_at(0)?,
            algorithm: *rdata.get(2)?,
            labels: *rdata.get(3)?,
            original_ttl: u32_at(4)?,
            expiration: u32_at(8)?,
            inception: u32_at(12)?,
            key_tag: u16_at(16)?,
            signer: rdata.get(18..).and_then(wire_name).unwrap_or_default(),
        })
    }
}

/// An uncompressed wire-format name at the start of `bytes` (RFC 4034 3.1.7:
/// the signer's name is never compressed), as lowercase text without the
/// trailing dot; `None` on a pointer, a cut label or a name past 255 bytes.
fn wire_name(bytes: &[u8]) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    let mut i = 0usize;
    loop {
        let len = usize::from(*bytes.get(i)?);
        if len == 0 {
            break;
        }
        if len > 63 || i + 1 + len > 255 {
            return None;
        }
        let label = bytes.get(i + 1..i + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += 1 + len;
    }
    Some(labels.join("."))
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Owner name.
    pub name: String,
    /// TTL.
    pub ttl: u32,
    /// Data.
    pub data: RData,
}

/// Response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// Success.
    NoError,
    /// Format error.
    FormErr,
    /// Server failure.
    ServFail,
    /// The name does not exist.
    NxDomain,
    /// Not implemented.
    NotImp,
    /// Refused.
    Refused,
    /// Not authoritative (also used to refuse AXFR).
    NotAuth,
    /// Any other code.
    Other(u16),
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rcode::NoError => f.write_str("NOERROR"),
            Rcode::FormErr => f.write_str("FORMERR"),
            Rcode::ServFail => f.write_str("SERVFAIL"),
            Rcode::NxDomain => f.write_str("NXDOMAIN"),
            Rcode::NotImp => f.write_str("NOTIMP"),
            Rcode::Refused => f.write_str("REFUSED"),
            Rcode::NotAuth => f.write_str("NOTAUTH"),
            Rcode::Other(c) => write!(f, "RCODE{c}"),
        }
    }
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Message id.
    pub id: u16,
    /// Response code.
    pub rcode: Rcode,
    /// Authoritative answer flag.
    pub authoritative: bool,
    /// Truncated flag (retry over TCP).
    pub truncated: bool,
    /// The question's name, as echoed by the server.
    pub question: Option<String>,
    /// The question's type number, as echoed by the server.
    pub question_type: Option<u16>,
    /// Answer section.
    pub answers: Vec<Rec>,
    /// Authority section.
    pub authority: Vec<Rec>,
}

impl Response {
    /// Whether this response answers the question `name`/`rtype` (names
    /// compared without case and trailing dot): a reply to another question
    /// is not an answer, whatever its id.
    pub fn answers_question(&self, name: &str, rtype: RecordType) -> bool {
        let name = name.trim_end_matches('.');
        self.question.as_deref().is_some_and(|q| q.eq_ignore_ascii_case(name))
            && self.question_type == Some(u16::from(rtype.to_hickory()))
    }
}

/// Bytes that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name is not a valid DNS name.
    #[error("invalid DNS name `{name}`: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A reply that is not a DNS response.
    #[error("malformed DNS response: {0}")]
    Malformed(String),
}

fn fqdn(name: &str) -> Result<Name, DnsError> {
    let bad = |reason: String| DnsError::BadName { name: name.to_owned(), reason };
    let mut n = Name::from_ascii(name).map_err(|e| bad(e.to_string()))?;
    n.set_fqdn(true);
    Ok(n)
}

/// The UDP payload size advertised in the EDNS0 OPT record of every query:
/// 1232 bytes fits in one IPv6 packet without fragmentation (DNS flag day 2020).
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

fn encode(id: u16, name: &str, rtype: HType, recursion: bool, dnssec_ok: bool) -> Result<Vec<u8>, DnsError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = recursion;
    m.add_query(Query::query(fqdn(name)?, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_UDP_PAYLOAD);
    edns.set_dnssec_ok(dnssec_ok);
    m.set_edns(edns);
    m.to_vec().map_err(|e| DnsError::BadName { name: name.to_owned(), reason: e.to_string() })
}

/// Encode a standard query (recursion desired when asking a resolver), with
/// an EDNS0 OPT record advertising [`EDNS_UDP_PAYLOAD`], its DO bit set for
/// the types of [`RecordType::dnssec_ok`].
pub fn encode_query(id: u16, name: &str, rtype: RecordType, recursion: bool) -> Result<Vec<u8>, DnsError> {
    encode(id, name, rtype.to_hickory(), recursion, rtype.dnssec_ok())
}

/// Encode a zone transfer request (sent over TCP to an authoritative server).
pub fn encode_axfr(id: u16, zone: &str) -> Result<Vec<u8>, DnsError> {
    encode(id, zone, HType::AXFR, false, false)
}

fn name_text(n: &Name) -> String {
    n.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

fn convert(data: &HRData) -> RData {
    match data {
        HRData::A(a) => RData::A(a.0),
        HRData::AAAA(a) => RData::Aaaa(a.0),
        HRData::CNAME(c) => RData::Cname(name_text(&c.0)),
        HRData::NS(n) => RData::Ns(name_text(&n.0)),
        HRData::MX(mx) => RData::Mx { preference: mx.preference, exchange: name_text(&mx.exchange) },
        HRData::TXT(t) => {
            let mut s = String::new();
            for part in t.txt_data.iter() {
                s.push_str(&String::from_utf8_lossy(part));
            }
            RData::Txt(s)
        }
        HRData::CAA(c) => RData::Caa {
            critical: c.issuer_critical,
            tag: c.tag.to_ascii_lowercase(),
            value: String::from_utf8_lossy(&c.value).into_owned(),
        },
        HRData::SOA(s) => RData::Soa { mname: name_text(&s.mname), rname: name_text(&s.rname), serial: s.serial },
        // Without hickory's DNSSEC feature these types arrive as raw bytes.
        HRData::Unknown { code: HType::RRSIG, rdata } => match Rrsig::parse(&rdata.anything) {
            Some(sig) => RData::Rrsig(sig),
            None => RData::Other(u16::from(HType::RRSIG)),
        },
        HRData::Unknown { code: HType::DNSKEY, rdata } => match rdata.anything.get(..4) {
            Some(&[f1, f2, _protocol, algorithm]) => RData::Dnskey { flags: u16::from_be_bytes([f1, f2]), algorithm },
            _ => RData::Other(u16::from(HType::DNSKEY)),
        },
        HRData::Unknown { code: HType::DS, rdata } => match rdata.anything.get(..3) {
            Some(&[k1, k2, algorithm]) => RData::Ds { key_tag: u16::from_be_bytes([k1, k2]), algorithm },
            _ => RData::Other(u16::from(HType::DS)),
        },
        other => RData::Other(u16::from(other.record_type())),
    }
}

fn rcode(code: ResponseCode) -> Rcode {
    match code {
        ResponseCode::NoError => Rcode::NoError,
        ResponseCode::FormErr => Rcode::FormErr,
        ResponseCode::ServFail => Rcode::ServFail,
        ResponseCode::NXDomain => Rcode::NxDomain,
        ResponseCode::NotImp => Rcode::NotImp,
        ResponseCode::Refused => Rcode::Refused,
        ResponseCode::NotAuth => Rcode::NotAuth,
        other => Rcode::Other(u16::from(other)),
    }
}

/// Decode a response; rejects queries and garbage.
pub fn decode_response(bytes: &[u8]) -> Result<Response, DnsError> {
    let m = Message::from_vec(bytes).map_err(|e| DnsError::Malformed(e.to_string()))?;
    if m.metadata.message_type != MessageType::Response {
        return Err(DnsError::Malformed("message is a query, not a response".into()));
    }
    let recs = |v: &[hickory_proto::rr::Record]| -> Vec<Rec> {
        v.iter().map(|r| Rec { name: name_text(&r.name), ttl: r.ttl, data: convert(&r.data) }).collect()
    };
    Ok(Response {
        id: m.metadata.id,
        rcode: rcode(m.metadata.response_code),
        authoritative: m.metadata.authoritative,
        truncated: m.metadata.truncation,
        question: m.queries.first().map(|q| name_text(q.name())),
        question_type: m.queries.first().map(|q| u16::from(q.query_type())),
        answers: recs(&m.answers),
        authority: recs(&m.authorities),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips_through_hickory() {
        let q = encode_query(7, "www.Agency.test", RecordType::Txt, true).unwrap();
        let m = Message::from_vec(&q).unwrap();
        assert_eq!(m.metadata.id, 7);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries[0].query_type(), HType::TXT);
        assert!(decode_response(&q).is_err(), "a query is not a response");
        assert!(encode_query(1, "bad..name", RecordType::A, true).is_err());
    }

    #[test]
    fn queries_carry_edns0_with_a_1232_byte_payload() {
        let q = encode_query(9, "www.agency.test", RecordType::A, true).unwrap();
        let m = Message::from_vec(&q).unwrap();
        let edns = m.edns.expect("an OPT record");
        assert_eq!(edns.max_payload(), 1232);
        assert_eq!(edns.version(), 0);
    }

    fn reply(name: &str, rtype: HType) -> Response {
        let mut m = Message::new(3, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        decode_response(&m.to_vec().unwrap()).unwrap()
    }

    #[test]
    fn a_reply_answers_only_its_own_question() {
        let r = reply("WWW.agency.test.", HType::A);
        assert!(r.answers_question("www.agency.test", RecordType::A));
        assert!(r.answers_question("www.agency.test.", RecordType::A));
        assert!(!r.answers_question("www.agency.test", RecordType::Aaaa), "another type");
        assert!(!r.answers_question("mail.agency.test", RecordType::A), "another name");
        let mut none = r.clone();
        none.question = None;
        assert!(!none.answers_question("www.agency.test", RecordType::A), "no question at all");
    }

    #[test]
    fn soa_and_dnskey_queries_set_the_do_bit_others_do_not() {
        for (t, want) in
            [(RecordType::Soa, true), (RecordType::Dnskey, true), (RecordType::Ds, true), (RecordType::A, false)]
        {
            let m = Message::from_vec(&encode_query(1, "agency.test", t, true).unwrap()).unwrap();
            assert_eq!(m.edns.unwrap().flags().dnssec_ok, want, "{t}");
        }
    }

    fn rrsig_rdata(expiration: u32, signer: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 6, 13, 2, 0, 0, 1, 44];
        b.extend(expiration.to_be_bytes());
        b.extend(1_700_000_000u32.to_be_bytes());
        b.extend(4711u16.to_be_bytes());
        b.extend(signer);
        b.extend([0xAB; 64]); // the signature
        b
    }

    #[test]
    fn rrsig_and_dnskey_are_read_from_raw_rdata() {
        use hickory_proto::rr::Record;
        use hickory_proto::rr::rdata::NULL;
        let mut m = Message::new(3, MessageType::Response, OpCode::Query);
        let apex = Name::from_ascii("Oldmail.test.").unwrap();
        m.add_query(Query::query(apex.clone(), HType::SOA));
        let sig = rrsig_rdata(1_800_000_000, b"\x07oldmail\x04test\x00");
        let unknown = |code, bytes: Vec<u8>| HRData::Unknown { code, rdata: NULL::with(bytes) };
        m.add_answer(Record::from_rdata(apex.clone(), 300, unknown(HType::RRSIG, sig)));
        m.add_answer(Record::from_rdata(apex.clone(), 300, unknown(HType::DNSKEY, vec![1, 1, 3, 13, 9, 9])));
        m.add_answer(Record::from_rdata(apex.clone(), 300, unknown(HType::DS, vec![0x12, 0x67, 13, 2, 1])));
        let r = decode_response(&m.to_vec().unwrap()).unwrap();
        let RData::Rrsig(s) = &r.answers[0].data else { panic!("{:?}", r.answers[0]) };
        assert_eq!((s.type_covered, s.algorithm, s.labels, s.original_ttl), (6, 13, 2, 300));
        assert_eq!((s.expiration, s.inception, s.key_tag), (1_800_000_000, 1_700_000_000, 4711));
        assert_eq!(s.signer, "oldmail.test");
        assert_eq!(r.answers[1].data, RData::Dnskey { flags: 257, algorithm: 13 });
        assert_eq!(r.answers[2].data, RData::Ds { key_tag: 0x1267, algorithm: 13 });
    }

    #[test]
    fn short_or_odd_rrsig_rdata_never_panics() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 53 + 7) as u8).collect();
            let parsed = Rrsig::parse(&bytes);
            assert_eq!(parsed.is_some(), len >= 18);
        }
        // A compression pointer or an endless label in the signer's name: the name is left empty.
        let s = Rrsig::parse(&rrsig_rdata(1, &[0xC0, 0x0C])).unwrap();
        assert_eq!(s.signer, "");
        let s = Rrsig::parse(&rrsig_rdata(1, &[63])).unwrap();
        assert_eq!(s.signer, "");
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decode_response(&bytes);
        }
    }
}
